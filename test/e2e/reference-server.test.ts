import { afterEach, describe, expect, it } from "vitest";
import { issueToken } from "../../src/auth/hmac-token.js";
import { ClientRunner } from "../../src/client/client-runner.js";
import { ConversationKind } from "../../src/gen/imwire/v1/conversation_pb.js";
import { ClientMachine } from "../../src/machines/client/client-machine.js";
import type { ClientEvent } from "../../src/machines/client/types.js";
import { startReferenceServer, type ReferenceServer } from "../../src/server/reference-server.js";
import { MemoryStore } from "../../src/store/memory-store.js";

const SECRET = "test-secret";
let server: ReferenceServer | undefined;
const runners: ClientRunner[] = [];

afterEach(async () => {
  for (const runner of runners.splice(0)) runner.stop();
  await server?.close();
  server = undefined;
});

function device(url: string, userId: string, deviceId: string): { runner: ClientRunner; events: ClientEvent[]; next: (match: (e: ClientEvent) => boolean) => Promise<ClientEvent> } {
  const events: ClientEvent[] = [];
  const waiters: { match: (e: ClientEvent) => boolean; resolve: (e: ClientEvent) => void }[] = [];
  let ids = 0;
  const machine = new ClientMachine(
    { deviceId },
    { token: () => issueToken({ userId, deviceId, expiresAtMs: 0 }, SECRET), random: Math.random, newId: () => `${deviceId}-${++ids}` },
  );
  const runner = new ClientRunner(machine, {
    url,
    onEvent: (event) => {
      events.push(event);
      for (const waiter of waiters.splice(0)) {
        if (waiter.match(event)) waiter.resolve(event);
        else waiters.push(waiter);
      }
    },
  });
  runners.push(runner);
  runner.start();
  const next = (match: (e: ClientEvent) => boolean) =>
    new Promise<ClientEvent>((resolve, reject) => {
      const seen = events.find(match);
      if (seen) return resolve(seen);
      waiters.push({ match, resolve });
      setTimeout(() => reject(new Error(`timed out waiting; events: ${events.map((e) => e.kind).join(", ")}`)), 5_000);
    });
  return { runner, events, next };
}

describe("the reference server and client over real sockets", () => {
  it.each(["tcp", "ws"] as const)("WS-1 WS-2 FRM-1: two users exchange messages over %s, on several devices", async (transport) => {
    server = await startReferenceServer({ tcp: { port: 0 }, ws: { port: 0 }, store: new MemoryStore(), secret: SECRET });
    const url = server.urls[transport]!;
    const alice = device(url, "alice", "phone");
    const bob = device(url, "bob", "laptop");
    const bob2 = device(server.urls[transport === "tcp" ? "ws" : "tcp"]!, "bob", "phone");
    for (const d of [alice, bob, bob2]) await d.next((e) => e.kind === "status" && e.status === "ready");
    const opened = alice.runner.act((m, now) => m.open({ kind: ConversationKind.DIRECT, userIds: ["bob"] }, now));
    const done = await alice.next((e) => e.kind === "done" && e.operationId === opened);
    const conversationId = done.kind === "done" && done.answer.case === "conversationOpened" ? done.answer.value.conversation!.conversationId : "";
    alice.runner.act((m, now) => m.send(conversationId, { kind: { case: "text", value: { text: "hello bob" } } }, now));
    for (const d of [bob, bob2, alice]) {
      const got = await d.next((e) => e.kind === "event" && e.event.body.case === "message");
      expect(got.kind === "event" && got.event.body.case === "message" && got.event.body.value.content?.kind.value).toMatchObject({ text: "hello bob" });
    }
  });
});

describe("SYNC-7 over real sockets", () => {
  it("a fresh device of a user in 100 groups with 1 KiB titles syncs a snapshot in pages under a 64 KiB frame limit", async () => {
    server = await startReferenceServer({ ws: { port: 0 }, store: new MemoryStore(), secret: SECRET, protocol: { maxFrameSize: 65_536 } });
    const url = server.urls.ws!;
    const phone = device(url, "alice", "phone");
    await phone.next((e) => e.kind === "status" && e.status === "ready");
    const title = "t".repeat(1_024);
    for (let i = 0; i < 100; i++) {
      const op = phone.runner.act((m, now) => m.open({ kind: ConversationKind.GROUP, title, userIds: [] }, now));
      await phone.next((e) => e.kind === "done" && e.operationId === op);
    }
    const laptop = device(url, "alice", "laptop");
    await laptop.next((e) => e.kind === "status" && e.status === "ready");
    expect(laptop.events.filter((e) => e.kind === "resynced")).toHaveLength(1);
    const held = [...laptop.runner.machine.conversations().values()];
    expect(held).toHaveLength(100);
    expect(new Set(held.map((c) => c.title))).toEqual(new Set([title]));
    expect(new Set(held.map((c) => c.conversationId))).toEqual(new Set(phone.runner.machine.conversations().keys()));
  }, 20_000);
});

describe("TLS (SEC-1)", () => {
  it("the reference server serves tls:// and wss://, and the conformance handshake tests pass over both", async () => {
    const { readFileSync } = await import("node:fs");
    const fixtures = new URL("../fixtures/", import.meta.url);
    const tls = { key: readFileSync(new URL("localhost-key.pem", fixtures)), cert: readFileSync(new URL("localhost-cert.pem", fixtures)) };
    server = await startReferenceServer({ tcp: { port: 0 }, ws: { port: 0 }, tls, store: new MemoryStore(), secret: SECRET });
    expect(server.urls.tcp).toMatch(/^tls:\/\//);
    expect(server.urls.ws).toMatch(/^wss:\/\//);
    const { conformanceCommand } = await import("../../src/cli/conformance-command.js");
    const out: string[] = [];
    const io = { writeOut: (d: string | Uint8Array) => void out.push(String(d)), writeErr: (d: string) => void out.push(d), readStdin: async () => new Uint8Array(), readFile: async () => new Uint8Array(), stdinIsTTY: true };
    const status = await conformanceCommand(["--target", server.urls.tcp!, "--target", server.urls.ws!, "--secret", SECRET, "--insecure", "--only", "handshake,auth,messaging", "--seed", "3"], io);
    expect(out.join("")).toMatch(/CONFORMS/);
    expect(status).toBe(0);
  }, 30_000);
});
