import fc from "fast-check";

/**
 * Property tests are deterministic: one seed for the whole run, printed by
 * fast-check with every counterexample. FC_SEED replays a seed, FC_RUNS
 * changes the number of runs per property.
 */
const seed = Number(process.env.FC_SEED ?? 20261127);
const numRuns = Number(process.env.FC_RUNS ?? 100);
fc.configureGlobal({ seed, numRuns });
