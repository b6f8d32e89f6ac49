// Which SPEC.md requirements the tests name (npm run spec:coverage [-- --missing]): test files and
// vector definitions that mention an id, and the conformance runner's tests, which npm test runs
// against the reference server over TCP and WebSocket.
import { allTests } from "../src/conformance/suite/catalogue.js";
import { idsMentionedIn, requirements } from "../test/support/spec.js";

const named = idsMentionedIn(["test", "conformance"]);
for (const test of allTests) {
  for (const id of test.requirements) named.set(id, [...(named.get(id) ?? []), `runner ${test.id}`]);
}
const reqs = requirements();
const onlyMissing = process.argv.includes("--missing");
let covered = 0;
for (const r of reqs) {
  const files = named.get(r.id);
  if (files) covered++;
  if (onlyMissing && files) continue;
  console.log(`${files ? "✓" : "·"} ${r.id.padEnd(8)} ${r.level.padEnd(6)} ${files ? [...new Set(files)].join(", ") : "not named by any test"}`);
}
const musts = reqs.filter((r) => r.level === "MUST");
const mustCovered = musts.filter((r) => named.has(r.id)).length;
console.log(`\n${covered}/${reqs.length} requirements named by tests; MUST: ${mustCovered}/${musts.length}.`);
