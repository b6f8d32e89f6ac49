import { afterEach, describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer, type AddressInfo, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { verifyToken } from "../src/auth/hmac-token.js";
import type { CliIO } from "../src/cli/io.js";
import { runCli } from "../src/cli/main.js";
import { sqliteOpenFailure } from "../src/cli/open-store.js";
import { withoutFinalNewline } from "../src/cli/secret.js";
import { listenFailure } from "../src/cli/serve-command.js";
import { ListenError } from "../src/server/reference-server.js";

/**
 * `imwire --version`, and `imwire serve` / `imwire token` failing as a user
 * can act on: one line naming the flag and the cause, exit status 2, no
 * stack trace; and --secret-file giving the tokens --secret gives.
 */

let dir: string;
const blockers: Server[] = [];

afterEach(async () => {
  for (const server of blockers.splice(0)) await new Promise((resolve) => server.close(resolve));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  dir = mkdtempSync(join(tmpdir(), "imwire-cli-serve-"));
  return dir;
}

/** The CLI in this process, on the real file system unless `readFile` is given. */
async function run(args: string[], read: CliIO["readFile"] = async (path) => new Uint8Array(await readFile(path))) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIO = {
    writeOut: (data) => void out.push(typeof data === "string" ? data : Buffer.from(data).toString()),
    writeErr: (text) => void err.push(text),
    readStdin: async () => new Uint8Array(),
    readFile: read,
    stdinIsTTY: false,
  };
  const status = await runCli(args, io);
  return { status, out: out.join(""), err: err.join("") };
}

/** Exactly one line on stderr, starting with `imwire COMMAND:`, and exit status 2. */
function expectOneLineFailure(result: { status: number; out: string; err: string }, command: string, text: string | RegExp): void {
  expect(result.status).toBe(2);
  expect(result.out).toBe("");
  expect(result.err.split("\n").filter(Boolean)).toHaveLength(1);
  expect(result.err.startsWith(`imwire ${command}: `)).toBe(true);
  expect(result.err).toMatch(text);
  expect(result.err).not.toMatch(/\n\s+at /);
}

async function busyPort(): Promise<number> {
  const server = createServer();
  blockers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

async function portIsFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

const token = async (...secretArgs: string[]) => (await run(["token", "--user", "u", "--device", "d", "--ttl", "0", ...secretArgs])).out.trim();

describe("imwire --version", () => {
  const version = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;

  it.each(["--version", "-V"])("%s prints the package version", async (flag) => {
    expect(await run([flag])).toEqual({ status: 0, out: `imwire ${version}\n`, err: "" });
  });

  it("is in the main help", async () => {
    expect((await run(["--help"])).out).toMatch(/-V, --version\s+print the version/);
  });
});

describe("--secret-file", () => {
  it("drops one final newline: `echo s3cret > f` gives the tokens --secret s3cret gives", async () => {
    const d = tempDir();
    const files = { lf: "s3cret\n", crlf: "s3cret\r\n", bare: "s3cret", twoNewlines: "s3cret\n\n" };
    for (const [name, text] of Object.entries(files)) writeFileSync(join(d, name), text);
    const expected = await token("--secret", "s3cret");
    expect(verifyToken(expected, "s3cret", 0)).toMatchObject({ userId: "u", deviceId: "d" });
    expect(await token("--secret-file", join(d, "lf"))).toBe(expected);
    expect(await token("--secret-file", join(d, "crlf"))).toBe(expected);
    expect(await token("--secret-file", join(d, "bare"))).toBe(expected);
    // Only one: the rest is the secret's.
    expect(await token("--secret-file", join(d, "twoNewlines"))).toBe(await token("--secret", "s3cret\n"));
  });

  it("withoutFinalNewline strips exactly one \\n or \\r\\n and nothing else", () => {
    const strip = (text: string) => withoutFinalNewline(Buffer.from(text)).toString();
    expect(["a\n", "a\r\n", "a", "a\n\n", "a\r", "\n", "\r\n", " a \n", "a\n\r\n"].map(strip)).toEqual(["a", "a", "a", "a\n", "a\r", "", "", " a ", "a\n"]);
  });

  it.each(["token", "serve"])("imwire %s: a missing, unreadable or empty file is one line, exit 2", async (command) => {
    const d = tempDir();
    const base = command === "token" ? ["token", "--user", "u", "--device", "d"] : ["serve", "--memory", "--tcp", "127.0.0.1:0", "--ws", "off"];
    const missing = join(d, "no-such-secret");
    expectOneLineFailure(await run([...base, "--secret-file", missing]), command, `--secret-file: no such file or directory: ${missing}`);
    const denied = Object.assign(new Error("EACCES: permission denied"), { code: "EACCES" });
    expectOneLineFailure(await run([...base, "--secret-file", "/etc/imwire-secret"], () => Promise.reject(denied)), command, "--secret-file: permission denied: /etc/imwire-secret");
    expectOneLineFailure(await run([...base, "--secret-file", d]), command, `--secret-file: is a directory, not a file: ${d}`);
    writeFileSync(join(d, "empty"), "\n");
    expectOneLineFailure(await run([...base, "--secret-file", join(d, "empty")]), command, "--secret-file: the file is empty");
  });
});

describe("imwire token", () => {
  it("--ttl that is not a duration is a usage error naming the flag", async () => {
    const result = await run(["token", "--user", "u", "--device", "d", "--ttl", "soon", "--secret", "s"]);
    expect(result.status).toBe(2);
    expect(result.err).toMatch(/^imwire token: --ttl takes a duration such as 90s, 15m, 12h or 7d, not "soon"\n/);
  });
});

describe("imwire serve: failures before it listens", () => {
  const serve = (...args: string[]) => run(["serve", "--secret", "s", "--memory", "--tcp", "127.0.0.1:0", "--ws", "off", ...args]);

  it.each(["--heartbeat-ms", "--max-frame-size", "--receive-window", "--receive-window-bytes", "--rate-limit"])("%s takes a positive integer: a usage error names the flag", async (flag) => {
    for (const value of ["abc", "0", "-5", "1.5", ""]) {
      const result = await serve(`${flag}=${value}`);
      expect(result.status).toBe(2);
      expect(result.err).toMatch(new RegExp(`^imwire serve: ${flag} takes an integer 1 or more, not "${value.replace(".", "\\.")}"\\n`));
    }
  });

  it("a port out of range, an unknown log level or format are usage errors naming the flag", async () => {
    expect((await run(["serve", "--memory", "--tcp", "127.0.0.1:70000"])).err).toMatch(/^imwire serve: --tcp takes a port from 0 to 65535, not 70000\n/);
    expect((await serve("--log-level", "loud")).err).toMatch(/^imwire serve: --log-level takes one of debug, info, warn, error, silent, not "loud"\n/);
    expect((await serve("--log-format", "xml")).err).toMatch(/^imwire serve: --log-format takes one of json, text, not "xml"\n/);
    expect((await serve("--group-commit", "maybe")).err).toMatch(/^imwire serve: --group-commit takes one of on, off, not "maybe"\n/);
  });

  it("--tls-key / --tls-cert missing or not a key: one line", async () => {
    const d = tempDir();
    const cert = new URL("./fixtures/localhost-cert.pem", import.meta.url).pathname;
    const key = new URL("./fixtures/localhost-key.pem", import.meta.url).pathname;
    expectOneLineFailure(await serve("--tls-key", join(d, "key.pem"), "--tls-cert", cert), "serve", `--tls-key: no such file or directory: ${join(d, "key.pem")}`);
    expectOneLineFailure(await serve("--tls-key", key, "--tls-cert", join(d, "cert.pem")), "serve", `--tls-cert: no such file or directory: ${join(d, "cert.pem")}`);
    writeFileSync(join(d, "garbage.pem"), "not a key\n");
    expectOneLineFailure(await serve("--tls-key", join(d, "garbage.pem"), "--tls-cert", cert), "serve", /--tls-key\/--tls-cert: not a usable key and certificate/);
  });

  it("--db in a directory that does not exist, under a file, or naming a directory: one line", async () => {
    const d = tempDir();
    const args = (db: string) => ["serve", "--secret", "s", "--tcp", "127.0.0.1:0", "--ws", "off", "--db", db];
    expectOneLineFailure(await run(args(join(d, "missing", "imwire.sqlite"))), "serve", `--db: directory does not exist: ${join(d, "missing")}`);
    writeFileSync(join(d, "file"), "");
    expectOneLineFailure(await run(args(join(d, "file", "imwire.sqlite"))), "serve", `--db: not a directory: ${join(d, "file")}`);
    mkdirSync(join(d, "sub"));
    expectOneLineFailure(await run(args(join(d, "sub"))), "serve", `--db: is a directory, not a file: ${join(d, "sub")}`);
    writeFileSync(join(d, "text.sqlite"), "this is not an SQLite database, but long enough to have a header of one".repeat(20));
    expectOneLineFailure(await run(args(join(d, "text.sqlite"))), "serve", `--db: not an SQLite database: ${join(d, "text.sqlite")}`);
  });

  it("--journal in a directory that does not exist, naming a directory, damaged, or beside --memory or --group-commit off: one line", async () => {
    const d = tempDir();
    const args = (...more: string[]) => ["serve", "--secret", "s", "--tcp", "127.0.0.1:0", "--ws", "off", ...more];
    expectOneLineFailure(await run(args("--journal", join(d, "missing", "imwire.journal"))), "serve", `--journal: directory does not exist: ${join(d, "missing")}`);
    mkdirSync(join(d, "sub"));
    expectOneLineFailure(await run(args("--journal", join(d, "sub"))), "serve", `--journal: is a directory, not a file: ${join(d, "sub")}`);
    writeFileSync(join(d, "text.journal"), "this is no journal at all, and long enough to be read as records".repeat(5));
    expectOneLineFailure(await run(args("--journal", join(d, "text.journal"))), "serve", /--journal: cannot open .*text\.journal: not an imwire journal/);
    // Usage errors: the line, then the pointer to --help.
    for (const [more, text] of [[["--memory"], "give --memory or --journal, not both"], [["--group-commit", "off"], "--journal needs --group-commit on"]] as const) {
      const result = await run(args("--journal", join(d, "j"), ...more));
      expect(result.status).toBe(2);
      expect(result.err.split("\n").filter(Boolean)).toEqual([expect.stringContaining(`imwire serve: ${text}`), 'Run "imwire serve --help" for usage.']);
    }
  });

  it.skipIf(process.getuid?.() === 0)("--db in a directory that is not writable: permission denied", () => {
    const d = tempDir();
    mkdirSync(join(d, "locked"), { mode: 0o500 });
    expect(sqliteOpenFailure(join(d, "locked", "x.sqlite"), new TypeError("unable to open database file"))).toBe(`permission denied: ${join(d, "locked")}`);
  });
});

describe("imwire serve: a listen address it cannot have", () => {
  it("EADDRINUSE names the flag and the address; a listener already started is closed again", async () => {
    const busy = await busyPort();
    expectOneLineFailure(await run(["serve", "--secret", "s", "--memory", "--ws", "off", "--tcp", `127.0.0.1:${busy}`]), "serve", `imwire serve: --tcp 127.0.0.1:${busy}: address already in use\n`);

    // TCP starts, then WebSocket cannot: TCP must not be left listening, or the process would never exit.
    const free = await busyPort();
    await new Promise((resolve) => blockers.pop()!.close(resolve));
    const wsBusy = await busyPort();
    expectOneLineFailure(await run(["serve", "--secret", "s", "--memory", "--tcp", `127.0.0.1:${free}`, "--ws", `127.0.0.1:${wsBusy}`]), "serve", `imwire serve: --ws 127.0.0.1:${wsBusy}: address already in use\n`);
    expect(await portIsFree(free)).toBe(true);
  });

  it("other listen failures say what the system said, naming the flag", () => {
    const failure = (code: string) => listenFailure(new ListenError("tcp", { host: "0.0.0.0", port: 80 }, code, Object.assign(new Error(`listen ${code} 0.0.0.0:80`), { code })), "0.0.0.0:80");
    expect(failure("EACCES")).toBe("--tcp 0.0.0.0:80: permission denied (ports below 1024 need privileges)");
    expect(failure("EADDRNOTAVAIL")).toBe("--tcp 0.0.0.0:80: no such address on this host");
    expect(failure("EWHATEVER")).toBe("--tcp 0.0.0.0:80: listen EWHATEVER 0.0.0.0:80");
  });
});
