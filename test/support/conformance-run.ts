import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { conformanceCommand } from "../../src/cli/conformance-command.js";
import type { CliIO } from "../../src/cli/io.js";
import type { ServerMachineFactory } from "../../src/machines/server/server-machine.js";

/** One result of a conformance run's JSON report. */
export interface RunResult {
  readonly id: string;
  readonly target: string;
  readonly outcome: { readonly status: string; readonly message?: string; readonly reason?: string };
}

/** `imwire conformance` against the embedded server (on `machine`, when given), with `args`; its exit status, output and results. */
export async function runConformance(args: readonly string[], machine?: ServerMachineFactory): Promise<{ status: number; output: string; results: RunResult[] }> {
  const dir = mkdtempSync(join(tmpdir(), "imwire-conformance-"));
  const chunks: string[] = [];
  const io: CliIO = {
    writeOut: (d) => void chunks.push(String(d)),
    writeErr: (d) => void chunks.push(d),
    readStdin: async () => new Uint8Array(),
    readFile: async () => new Uint8Array(),
    stdinIsTTY: true,
  };
  try {
    const status = await conformanceCommand(["--seed", "7", "--json", join(dir, "r.json"), "--concurrency", "10", ...args], io, machine ? { embeddedMachine: machine } : {});
    const results = JSON.parse(readFileSync(join(dir, "r.json"), "utf8")).results as RunResult[];
    return { status, output: chunks.join(""), results };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** "tcp ACT-1/…" for each result with this status. */
export const ofStatus = (results: readonly RunResult[], status: string): string[] => results.filter((r) => r.outcome.status === status).map((r) => `${r.target.split(":")[0]} ${r.id}`);
