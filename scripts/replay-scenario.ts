// Replays one simulation scenario exactly and explains it (npm run sim:replay -- '<scenario JSON>' [device id]).
import { readFileSync } from "node:fs";
import { runScenario, type Scenario } from "../src/sim/scenario.js";

const [input, deviceId] = process.argv.slice(2);
if (!input) {
  console.error("usage: npm run sim:replay -- '<scenario JSON>' | <file.json> [device id]");
  process.exit(2);
}
const scenario = JSON.parse(input.trim().startsWith("{") ? input : readFileSync(input, "utf8")) as Scenario;
const lines: string[] = [];
const report = runScenario(scenario, {
  checkEquivalence: true,
  onTrace: (line) => {
    if (deviceId === undefined || line.includes(` ${deviceId} `)) lines.push(line);
  },
});
console.log(lines.join("\n"));
console.log(`\n${report.frames} frames, ${report.events} events handed out, ${report.sends} sends, ${report.virtualMs} virtual ms`);
for (const device of report.sim.devices) {
  console.log(`${device.deviceId}: ${device.client.status}, cursor ${device.client.cursor}, ${device.client.pendingOperations} pending, delivered ${[...device.delivered].map(([c, e]) => `${c.slice(0, 6)}:${e.map((x) => x.seq).join(",")}`).join(" ")}`);
}
console.log(report.violations.length === 0 ? "\nno violations" : `\n${report.violations.length} violations:\n${report.violations.join("\n")}`);
process.exit(report.violations.length === 0 ? 0 : 1);
