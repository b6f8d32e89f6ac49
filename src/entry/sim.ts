/**
 * imwire/sim and @imwire/protocol/sim: the deterministic network simulator
 * (both machines over seeded lossy, duplicating, reordering links on a
 * virtual clock), scenarios, and the checks of the protocol's promises.
 */
export { Simulation, SimDevice, perfectLink, simClientOptions, simServerOptions, type CloseRecord, type LinkFaults, type SimulationConfig } from "../sim/simulation.js";
export { runScenario, DEFAULT_SETTLE_MS, type Action, type Scenario, type ScenarioOptions, type ScenarioReport, type Step } from "../sim/scenario.js";
export { checkIdempotentSends, checkLiveness, checkNoLoss, checkOrderAndDuplicates, checkStateEquivalence } from "../sim/checks.js";
export { Random } from "../sim/random.js";
