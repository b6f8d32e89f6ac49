import { fileURLToPath } from "node:url";
import { runCli } from "../../src/cli/main.js";
import type { CliIO } from "../../src/cli/io.js";

/** Commands that start testees from the TypeScript sources, for `imwire vectors run --testee`. */
const entry = (file: string) => JSON.stringify(fileURLToPath(new URL(file, import.meta.url)));
export const typescriptTesteeCommand = `node --import tsx ${entry("./imwire-cli.ts")} vectors testee`;
export const brokenTesteeCommand = (bug: string, ...args: string[]) => `node --import tsx ${entry("./broken-testee.ts")} ${bug} ${args.join(" ")}`.trim();

/** Run the imwire CLI in this process (the harness), capturing what it prints. */
export async function imwire(args: string[]): Promise<{ status: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIO = {
    writeOut: (data) => void out.push(typeof data === "string" ? data : Buffer.from(data).toString("utf8")),
    writeErr: (text) => void err.push(text),
    readStdin: async () => new Uint8Array(0),
    readFile: async () => {
      throw new Error("not used");
    },
    stdinIsTTY: true,
  };
  const status = await runCli(args, io);
  return { status, out: out.join(""), err: err.join("") };
}
