import { afterEach, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { issueToken } from "../../src/auth/hmac-token.js";
import { ConversationKind } from "../../src/gen/imwire/v1/conversation_pb.js";
import { ErrorCode } from "../../src/gen/imwire/v1/error_pb.js";
import { ScriptedConnection, Transcript } from "../../src/conformance/suite/scripted-connection.js";

/**
 * `imwire serve` as a process: it logs where it listens, stores in SQLite so
 * that acknowledged messages survive a restart (SEQ-2), and on SIGTERM says
 * go_away to its clients (CONN-7) and exits 0.
 */

const SECRET = "serve-test-secret";
const processes: ChildProcess[] = [];
let dir: string | undefined;

afterEach(() => {
  for (const p of processes.splice(0)) p.kill("SIGKILL");
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function spawnServe(args: string[]): ChildProcess {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/run.ts", "serve", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  processes.push(child);
  return child;
}

/** Start `imwire serve` and resolve with its TCP address once it says it listens (JSON log lines on stderr). */
function serve(db: string, ...extra: string[]): Promise<{ child: ChildProcess; url: string; log: string[]; stdout: string[] }> {
  const child = spawnServe(["--tcp", "127.0.0.1:0", "--ws", "off", "--db", db, "--secret", SECRET, ...extra]);
  const log: string[] = [];
  const stdout: string[] = [];
  child.stdout!.on("data", (chunk: Buffer) => void stdout.push(chunk.toString()));
  return new Promise((resolve, reject) => {
    child.stderr!.on("data", (chunk: Buffer) => {
      log.push(...chunk.toString().split("\n").filter(Boolean));
      const line = log.find((l) => l.includes("listening on tcp://"));
      // "storing in" comes last: it is said once the server listens.
      if (line && log.some((l) => l.includes("storing in"))) resolve({ child, url: /tcp:\/\/[\d.]+:\d+/.exec(line)![0], log, stdout });
    });
    child.once("exit", (code) => reject(new Error(`serve exited ${code}: ${log.join("\n")}`)));
    setTimeout(() => reject(new Error(`serve did not start: ${log.join("\n")}`)), 20_000);
  });
}

/** Run `imwire serve` expecting it to fail: its exit status and what it wrote. */
function serveFails(args: string[]): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const child = spawnServe(args);
  let stderr = "";
  let stdout = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not exit: ${stderr}`)), 20_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout });
    });
  });
}

async function login(url: string, user: string, transcript: Transcript): Promise<ScriptedConnection> {
  const c = await ScriptedConnection.open(url, user, transcript);
  await c.request({ case: "hello", value: { versions: [1], deviceId: "d" } }, 5_000);
  const answer = await c.request({ case: "authenticate", value: { token: issueToken({ userId: user, deviceId: "d", expiresAtMs: 0 }, SECRET) } }, 5_000);
  expect(answer.body.case).toBe("authenticated");
  return c;
}

describe("imwire serve", () => {
  it("SEQ-2 CONN-7: messages acknowledged before a restart are there after it; shutdown sends go_away", async () => {
    dir = mkdtempSync(join(tmpdir(), "imwire-serve-"));
    const db = join(dir, "imwire.sqlite");
    const transcript = new Transcript();

    const first = await serve(db);
    expect(first.log.some((l) => l.includes(`storing in ${db}`))).toBe(true);
    // NDJSON on stderr; stdout stays free.
    const listening = JSON.parse(first.log.find((l) => l.includes("listening on"))!) as Record<string, unknown>;
    expect(listening).toMatchObject({ level: "info", event: "listening", url: first.url, msg: `imwire server listening on ${first.url}` });
    expect(typeof listening.time).toBe("string");
    const alice = await login(first.url, "alice", transcript);
    await login(first.url, "bob", transcript);
    const opened = await alice.request({ case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: ["bob"] } }, 5_000);
    const conversationId = opened.body.case === "conversationOpened" ? opened.body.value.conversation!.conversationId : "";
    const ack = await alice.request({ case: "sendMessage", value: { conversationId, clientMessageId: "m1", content: { kind: { case: "text", value: { text: "kept" } } } } }, 5_000);
    expect(ack.body.case).toBe("sendAck");

    first.child.kill("SIGTERM");
    const goAway = await alice.next((f) => f.body.case === "goAway", 5_000);
    expect(goAway.body.case).toBe("goAway");
    const exitCode = await new Promise((resolve) => first.child.once("exit", resolve));
    expect(exitCode).toBe(0);
    expect(first.log.some((l) => l.includes("stopped"))).toBe(true);
    expect(first.stdout).toEqual([]);

    const second = await serve(db);
    const bob = await login(second.url, "bob", transcript);
    const page = await bob.request({ case: "syncConversation", value: { conversationId } }, 5_000);
    const texts = page.body.case === "conversationPage" ? page.body.value.events.flatMap((e) => (e.body.case === "message" && e.body.value.content?.kind.case === "text" ? [e.body.value.content.kind.value.text] : [])) : [];
    expect(texts).toEqual(["kept"]);
    // IDEM-2 across the restart: the retry gets the first answer.
    const alice2 = await login(second.url, "alice", transcript);
    const retry = await alice2.request({ case: "sendMessage", value: { conversationId, clientMessageId: "m1", content: { kind: { case: "text", value: { text: "kept" } } } } }, 5_000);
    expect(retry.body.value).toEqual(ack.body.value);
    for (const c of [alice, bob, alice2]) c.close();
  }, 60_000);

  it("AUTH-2: tokens from `imwire token` with the same secret are accepted; others are not", async () => {
    dir = mkdtempSync(join(tmpdir(), "imwire-serve-"));
    const { url } = await serve(join(dir, "db.sqlite"));
    const token = await new Promise<string>((resolve) => {
      const child = spawn(process.execPath, ["--import", "tsx", "src/cli/run.ts", "token", "--user", "carol", "--device", "d", "--ttl", "1h", "--secret", SECRET], { stdio: ["ignore", "pipe", "inherit"] });
      let out = "";
      child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
      child.once("exit", () => resolve(out.trim()));
    });
    const transcript = new Transcript();
    const c = await ScriptedConnection.open(url, "c", transcript);
    await c.request({ case: "hello", value: { versions: [1], deviceId: "d" } }, 5_000);
    expect((await c.request({ case: "authenticate", value: { token } }, 5_000)).body.case).toBe("authenticated");
    const other = await ScriptedConnection.open(url, "o", transcript);
    await other.request({ case: "hello", value: { versions: [1], deviceId: "d" } }, 5_000);
    const refused = await other.request({ case: "authenticate", value: { token: issueToken({ userId: "carol", deviceId: "d", expiresAtMs: 0 }, "another secret") } }, 5_000);
    expect(refused.body.case === "error" && refused.body.value.code).toBe(ErrorCode.UNAUTHENTICATED);
    c.close();
    other.close();
  }, 60_000);

  it("--log-frames --log-format text: a readable line per frame, and no token in the log", async () => {
    dir = mkdtempSync(join(tmpdir(), "imwire-serve-"));
    const { url, log } = await serve(join(dir, "db.sqlite"), "--log-frames", "--log-format", "text");
    const transcript = new Transcript();
    const token = issueToken({ userId: "dora", deviceId: "d", expiresAtMs: 0 }, SECRET);
    const c = await ScriptedConnection.open(url, "dora", transcript);
    await c.request({ case: "hello", value: { versions: [1], deviceId: "d" } }, 5_000);
    expect((await c.request({ case: "authenticate", value: { token } }, 5_000)).body.case).toBe("authenticated");
    const until = async (match: (line: string) => boolean) => {
      for (let waited = 0; !log.some(match) && waited < 5_000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
    };
    await until((l) => l.includes("authenticated as dora/d"));
    c.close();
    const address = /tcp (127\.0\.0\.1:\d+): connection opened/.exec(log.join("\n"))?.[1];
    expect(address).toBeDefined();
    const frames = log.filter((l) => / (in|out) /.test(l) && l.includes(`tcp ${address}:`));
    expect(frames.map((l) => /INFO  tcp \S+ (in|out) (\w+) (#\d+ )?\d+ B/.exec(l)?.slice(1, 3).join(" "))).toEqual(["in hello", "out welcome", "in authenticate", "out authenticated"]);
    expect(frames[2]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z INFO  tcp \S+ in authenticate #2 \d+ B event=frame connection=1 transport=tcp address=\S+ direction=in kind=authenticate requestId=2 size=\d+$/);
    expect(log.join("\n")).not.toContain(token.split(".").at(-1)!);
    expect(log.join("\n")).not.toContain(token);
  }, 60_000);

  it("a port in use, or --db in a directory that does not exist: one line on stderr, exit 2, nothing left running", async () => {
    dir = mkdtempSync(join(tmpdir(), "imwire-serve-"));
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as AddressInfo).port;
    try {
      const inUse = await serveFails(["--secret", SECRET, "--memory", "--tcp", "127.0.0.1:0", "--ws", `127.0.0.1:${port}`]);
      expect(inUse).toEqual({ code: 2, stdout: "", stderr: `imwire serve: --ws 127.0.0.1:${port}: address already in use\n` });
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
    const missing = join(dir, "no", "such", "dir");
    const noDirectory = await serveFails(["--secret", SECRET, "--tcp", "127.0.0.1:0", "--ws", "off", "--db", join(missing, "imwire.sqlite")]);
    expect(noDirectory).toEqual({ code: 2, stdout: "", stderr: `imwire serve: --db: directory does not exist: ${missing}\n` });
  }, 60_000);
});
