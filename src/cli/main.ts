import { decodeCommand, decodeHelp } from "./decode-command.js";
import { encodeCommand, encodeHelp } from "./encode-command.js";
import { vectorsCommand, vectorsHelp } from "./vectors-command.js";
import { serveCommand, serveHelp } from "./serve-command.js";
import { tokenCommand, tokenHelp } from "./token-command.js";
import { conformanceCommand, conformanceHelp } from "./conformance-command.js";
import { chatCommand, chatHelp } from "./chat-command.js";
import { sendCommand, sendHelp } from "./send-command.js";
import { tailCommand, tailHelp } from "./tail-command.js";
import { CliError, processIO, UsageError, type CliIO } from "./io.js";
import { packageVersion } from "./version.js";

interface Command {
  readonly summary: string;
  readonly help: string;
  readonly run: (args: string[], io: CliIO) => Promise<number>;
}

const commands: Record<string, Command> = {
  decode: { summary: "decode frames (hex, base64 or bytes) into readable JSON", help: decodeHelp, run: decodeCommand },
  encode: { summary: "encode frames written as JSON into wire bytes", help: encodeHelp, run: encodeCommand },
  conformance: { summary: "check a server against SPEC.md (without --target: the reference server, in this process)", help: conformanceHelp, run: (args, io) => conformanceCommand(args, io) },
  serve: { summary: "run the reference server (TCP and WebSocket, SQLite storage)", help: serveHelp, run: serveCommand },
  token: { summary: "issue a bearer token the reference server accepts", help: tokenHelp, run: (args, io) => tokenCommand(args, io) },
  vectors: { summary: "verify the golden vectors, or run the codec harness against an implementation", help: vectorsHelp, run: vectorsCommand },
  chat: { summary: "chat from the terminal (interactive)", help: chatHelp, run: chatCommand },
  send: { summary: "send messages and wait for each to be stored; prints NDJSON", help: sendHelp, run: sendCommand },
  tail: { summary: "print a user's conversation events as NDJSON as they arrive", help: tailHelp, run: tailCommand },
};

function mainHelp(): string {
  const width = Math.max(...Object.keys(commands).map((name) => name.length));
  const lines = Object.entries(commands).map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`);
  return `Usage: imwire <command> [options]

Tools for the imwire messaging protocol (see SPEC.md).

Commands:
${lines.join("\n")}

Options:
  -V, --version  print the version
  -h, --help     show this help

Run "imwire <command> --help" for a command's options.
`;
}

/** Run the CLI; resolves to the exit status. */
export async function runCli(argv: string[], io: CliIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "-h" || name === "--help" || name === "help") {
    io.writeOut(mainHelp());
    return name === undefined ? 2 : 0;
  }
  if (name === "-V" || name === "--version") {
    io.writeOut(`imwire ${packageVersion()}\n`);
    return 0;
  }
  const command = commands[name];
  if (command === undefined) {
    io.writeErr(`imwire: unknown command "${name}"\n\n${mainHelp()}`);
    return 2;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      io.writeErr(`imwire ${name}: ${(error as Error).message}\nRun "imwire ${name} --help" for usage.\n`);
      return 2;
    }
    if (error instanceof CliError) {
      io.writeErr(`imwire ${name}: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}

export async function main(argv: string[]): Promise<number> {
  return runCli(argv, processIO());
}
