// Network fuzzing of a running reference server (npm run fuzz:server -- --seed S --frames N --connections C [--sqlite] [--tcp H:P --ws H:P --secret S]).
import { parseArgs } from "node:util";
import { runFuzz } from "../src/conformance/fuzz/driver.js";

const { values } = parseArgs({
  options: {
    seed: { type: "string" },
    frames: { type: "string", default: "200000" },
    connections: { type: "string", default: "32" },
    sqlite: { type: "boolean", default: false },
    tcp: { type: "string" },
    ws: { type: "string" },
    secret: { type: "string" },
    "handshake-timeout-ms": { type: "string" },
    "honest-rate": { type: "string", default: "20" },
    "slack-ms": { type: "string" },
    // Violation kinds reported but not failed on, comma-separated (known server bugs).
    tolerate: { type: "string", default: "" },
  },
});
const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
const external = values.tcp !== undefined || values.ws !== undefined;
if (external && (values.tcp === undefined || values.ws === undefined || values.secret === undefined)) {
  console.error("fuzz:server: an external target needs --tcp host:port, --ws host:port and --secret S");
  process.exit(2);
}
console.log(`fuzz:server: seed ${seed}, ${values.frames} frames, ${values.connections} hostile connections at once${external ? `, against ${values.tcp} and ${values.ws}` : values.sqlite ? ", in-process server on sqlite" : ", in-process server on memory"}`);
const result = await runFuzz({
  seed,
  frames: Number(values.frames),
  connections: Number(values.connections),
  sqlite: values.sqlite,
  honestRate: Number(values["honest-rate"]),
  tolerate: values.tolerate.split(",").filter((k) => k !== ""),
  ...(values["slack-ms"] !== undefined ? { slackMs: Number(values["slack-ms"]) } : {}),
  ...(external
    ? { external: { tcp: values.tcp!, ws: values.ws!, secret: values.secret!, ...(values["handshake-timeout-ms"] ? { handshakeMs: Number(values["handshake-timeout-ms"]) } : {}) } }
    : {}),
  progress: (line) => console.log(line),
});
console.log(result.report);
console.log(result.ok ? "no violations" : `FAILED: ${result.stats.violationCount} violations (replay with --seed ${seed})`);
process.exit(result.ok ? 0 : 1);
