import type { ServerMachineFactory } from "../../src/machines/server/server-machine.js";
import { Simulation } from "../../src/sim/simulation.js";

/**
 * Property 6 (HB-3, HB-4) for one case: a connection goes silent (black
 * hole) after `quietFor` ms; the server must close it with TIMEOUT and the
 * client abandon it within 1.5 heartbeat intervals, and nothing may close
 * before. Returns what went wrong.
 */
export function silentPeerProblems(interval: number, quietFor: number, seed: number, serverMachine?: ServerMachineFactory): string[] {
  const problems: string[] = [];
  const sim = new Simulation({ seed, users: 1, devicesPerUser: 1, server: { heartbeatIntervalMs: interval }, serverMachine });
  const [device] = sim.devices;
  sim.run(1_000);
  if (device!.client.status !== "ready") problems.push(`the device is ${device!.client.status}, not ready`);
  sim.run(sim.now + quietFor);
  const blackholedAt = sim.now;
  sim.blackhole(device!);
  sim.run(blackholedAt + 3 * interval);
  const bound = blackholedAt + 1.5 * interval;
  const serverClose = sim.closes.find((c) => c.by === "server" && c.at >= blackholedAt);
  const clientClose = sim.closes.find((c) => c.by === "client" && c.at >= blackholedAt);
  if (serverClose?.reason !== "TIMEOUT" || serverClose.at > bound) problems.push(`HB-3: the server closed ${serverClose ? `at ${serverClose.at} for ${serverClose.reason}` : "never"}; due by ${bound}`);
  if (!clientClose || clientClose.at > bound) problems.push(`HB-4: the client abandoned ${clientClose ? `at ${clientClose.at}` : "never"}; due by ${bound}`);
  const early = sim.closes.filter((c) => c.at < blackholedAt);
  if (early.length > 0) problems.push(`a healthy connection closed: ${JSON.stringify(early)}`);
  return problems;
}
