// node mutation/rank-tests.mjs: order the runner's tests for the next npm run mutation by how many
// mutants each killed in the last run (reports/mutation/*/mutation.json), most first. Stryker stops a
// mutant at its first failing test, so tests that kill much, run early, spare the rest: on the run this
// order was first made from, the killed mutants' tests run fell by about half. The order is a hint
// only; tests it does not name run after those it does (mutation/conformance.mutation.test.ts).
import { existsSync, readFileSync, writeFileSync } from "node:fs";

const kills = new Map();
for (const pass of ["sqlite", "memory"]) {
  const path = `reports/mutation/${pass}/mutation.json`;
  if (!existsSync(path)) continue;
  const report = JSON.parse(readFileSync(path, "utf8"));
  const names = new Map(Object.values(report.testFiles).flatMap((file) => file.tests.map((test) => [test.id, test.name.replace(/^.* on (sqlite|memory) /, "")])));
  for (const file of Object.values(report.files)) {
    for (const mutant of file.mutants) {
      for (const id of mutant.status === "Killed" ? (mutant.killedBy ?? []) : []) kills.set(names.get(id), (kills.get(names.get(id)) ?? 0) + 1);
    }
  }
}
const order = [...kills.entries()].sort((a, b) => b[1] - a[1]).map(([name]) => name);
writeFileSync("mutation/test-order.json", `${JSON.stringify({ $comment: "written by mutation/rank-tests.mjs: the runner's tests by mutants killed in the last run, most first", order }, null, 2)}\n`);
console.log(`mutation/test-order.json: ${order.length} tests ranked`);
