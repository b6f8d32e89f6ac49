import { afterEach, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
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

/** Start `imwire serve` and resolve with its TCP address once it says it listens. */
function serve(db: string): Promise<{ child: ChildProcess; url: string; log: string[] }> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/run.ts", "serve", "--tcp", "127.0.0.1:0", "--ws", "off", "--db", db, "--secret", SECRET], { stdio: ["ignore", "pipe", "pipe"] });
  processes.push(child);
  const log: string[] = [];
  return new Promise((resolve, reject) => {
    child.stderr!.on("data", (chunk: Buffer) => {
      log.push(...chunk.toString().split("\n").filter(Boolean));
      const line = log.find((l) => l.includes("listening on tcp://"));
      if (line) resolve({ child, url: /tcp:\/\/\S+/.exec(line)![0], log });
    });
    child.once("exit", (code) => reject(new Error(`serve exited ${code}: ${log.join("\n")}`)));
    setTimeout(() => reject(new Error(`serve did not start: ${log.join("\n")}`)), 20_000);
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
});
