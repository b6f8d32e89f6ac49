// npm run mutation: how strong the conformance runner is. StrykerJS plants one
// fault at a time in the code that decides what the reference server puts on
// the wire, and runs the runner's tests alone (mutation/, not the unit tests)
// against the server so broken; a mutant that no runner test notices survives.
// Survivors are triaged in mutation/triage.json, which mutation/triage-reporter.mjs
// reads. Two passes (mutation/run.mjs): the server on SQLite, its default store,
// with everything but the in-memory store mutated; then the in-memory store,
// with the server on it (IMWIRE_MUTATION_STORE=memory).
const store = process.env.IMWIRE_MUTATION_STORE === "memory" ? "memory" : "sqlite";

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: "vitest",
  vitest: { configFile: "vitest.mutation.config.ts" },
  plugins: ["@stryker-mutator/vitest-runner", "./mutation/triage-reporter.mjs", "./mutation/human-text-ignorer.mjs"],
  // Text for people (logs, error messages, requirement ids in errors) is not mutated: see the ignorer.
  ignorers: ["human-text"],
  coverageAnalysis: "perTest",
  mutate:
    store === "memory"
      ? ["src/store/memory-store.ts"]
      : [
          "src/machines/server/**/*.ts",
          "src/store/sqlite-store.ts",
          "src/server/server-runner.ts",
          "src/server/reference-server.ts",
          "src/server/push-webhook.ts",
          "src/transport/stream-transport.ts",
          "src/transport/websocket-transport.ts",
          "src/server/commit-gate.ts",
          "src/runtime/drive-loop.ts", "src/runtime/wakeup-timer.ts",
          "src/codec/error-frame.ts:1-36", // errorFrame; errorFrameFor below it is the client's
          "src/codec/frame-catalogue.ts:46-50",
        ],
  // The runner's tests mostly wait (timers, quiet periods): four at once on two cores measured 20.5 s a pass against 18 s alone, with no test failing spuriously.
  concurrency: 4,
  timeoutMS: 10_000,
  timeoutFactor: 2,
  reporters: ["clear-text", "progress", "html", "json", "triage"],
  htmlReporter: { fileName: `reports/mutation/${store}/mutation.html` },
  jsonReporter: { fileName: `reports/mutation/${store}/mutation.json` },
  clearTextReporter: { allowColor: false, logTests: false, maxTestsToLog: 0, reportMutants: false, reportScoreTable: true },
  tempDirName: ".stryker-tmp",
  cleanTempDir: "always",
};
