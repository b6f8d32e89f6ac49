import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { issueToken } from "../src/auth/hmac-token.js";
import { ClientRunner } from "../src/client/client-runner.js";
import type { PersistedClientState } from "../src/client/client-store.js";
import { FileClientStore } from "../src/client/file-client-store.js";
import { ConversationKind } from "../src/gen/imwire/v1/conversation_pb.js";
import { ClientMachine } from "../src/machines/client/client-machine.js";
import type { Transition } from "../src/machines/client/states.js";
import type { ClientEvent } from "../src/machines/client/types.js";
import { startReferenceServer, type ReferenceServer } from "../src/server/reference-server.js";
import { MemoryStore } from "../src/store/memory-store.js";

/**
 * CLI-1 to CLI-5 end to end: a Node client on a FileClientStore, killed
 * between writing a send and reading its answer, restarted on the same file.
 */

const SECRET = "test-secret";
let server: ReferenceServer | undefined;
const runners: ClientRunner[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const runner of runners.splice(0)) runner.stop();
  await server?.close();
  server = undefined;
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

interface Device {
  readonly runner: ClientRunner;
  readonly events: ClientEvent[];
  readonly transitions: Transition[];
  next(match: (e: ClientEvent) => boolean): Promise<ClientEvent>;
}

function device(url: string, userId: string, deviceId: string, store?: FileClientStore, run = 0): Device {
  const events: ClientEvent[] = [];
  const transitions: Transition[] = [];
  const waiters: { match: (e: ClientEvent) => boolean; resolve: (e: ClientEvent) => void }[] = [];
  let ids = 0;
  const machine = new ClientMachine(
    { deviceId },
    {
      token: () => issueToken({ userId, deviceId, expiresAtMs: 0 }, SECRET),
      random: Math.random,
      newId: () => `${deviceId}-run${run}-${++ids}`,
      onTransition: (t) => transitions.push(t),
    },
  );
  const runner = new ClientRunner(machine, {
    url,
    store,
    onEvent: (event) => {
      events.push(event);
      for (const waiter of waiters.splice(0)) {
        if (waiter.match(event)) waiter.resolve(event);
        else waiters.push(waiter);
      }
    },
  });
  runners.push(runner);
  const next = (match: (e: ClientEvent) => boolean) =>
    new Promise<ClientEvent>((resolve, reject) => {
      const seen = events.find(match);
      if (seen) return resolve(seen);
      waiters.push({ match, resolve });
      setTimeout(() => reject(new Error(`timed out waiting; events: ${events.map((e) => e.kind).join(", ")}`)), 5_000);
    });
  return { runner, events, transitions, next };
}

async function until(condition: () => boolean, what: string, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A file store that, once armed, kills the client right after the save that holds a send_message: the frame goes, the answer is never read. */
class CrashAfterSendSaved extends FileClientStore {
  armed: ClientRunner | undefined;
  saved: PersistedClientState | undefined;

  override async save(state: PersistedClientState): Promise<void> {
    await super.save(state);
    this.saved = state;
    const runner = this.armed;
    if (runner && state.outbox.some((o) => o.body.case === "sendMessage")) {
      this.armed = undefined;
      // After the driver, released by this save, has written the frame; before the server's answer can be read.
      setImmediate(() => runner.kill());
    }
  }
}

const messagesWithKey = (store: MemoryStore, conversationId: string, key: string) =>
  store.events(conversationId, 0, Infinity, Infinity).filter((e) => e.body.case === "message" && e.body.value.clientMessageId === key);

describe("CLI-1 to CLI-5: a client killed mid-send and restarted on its file store", () => {
  it("resends with the same client_message_id (stored once, delivered once) and resumes from its saved cursor", async () => {
    const serverStore = new MemoryStore();
    server = await startReferenceServer({ tcp: { port: 0 }, store: serverStore, secret: SECRET });
    const url = server.urls.tcp!;
    const dir = mkdtempSync(join(tmpdir(), "imwire-client-store-"));
    dirs.push(dir);
    const path = join(dir, "alice-phone.json");

    const bob = device(url, "bob", "laptop");
    const store = new CrashAfterSendSaved(path);
    const alice = device(url, "alice", "phone", store);
    await Promise.all([bob.runner.start(), alice.runner.start()]);
    await Promise.all([alice.next((e) => e.kind === "status" && e.status === "ready"), bob.next((e) => e.kind === "status" && e.status === "ready")]);

    const opened = alice.runner.act((m, now) => m.open({ kind: ConversationKind.DIRECT, userIds: ["bob"] }, now));
    const done = await alice.next((e) => e.kind === "done" && e.operationId === opened);
    const conversationId = done.kind === "done" && done.answer.case === "conversationOpened" ? done.answer.value.conversation!.conversationId : "";
    expect(conversationId).not.toBe("");
    bob.runner.act((m, now) => m.send(conversationId, { kind: { case: "text", value: { text: "hi alice" } } }, now));
    await alice.next((e) => e.kind === "event" && e.event.body.case === "message");
    // Settled, and what it holds is saved.
    await until(() => alice.runner.machine.settled && store.saved?.stream?.cursor === alice.runner.machine.cursor && store.saved.outbox.length === 0, "alice to settle");
    const cursorBefore = alice.runner.machine.cursor;
    const epoch = alice.runner.machine.epoch;

    store.armed = alice.runner;
    const key = alice.runner.act((m, now) => m.send(conversationId, { kind: { case: "text", value: { text: "hello bob" } } }, now));
    // The frame went before the process died: the server stores the message, and nobody reads its answer.
    await until(() => messagesWithKey(serverStore, conversationId, key).length === 1, "the server to store the send");
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(alice.events.some((e) => e.kind === "sent")).toBe(false);
    const saved = await new FileClientStore(path).load();
    expect(saved?.outbox.map((o) => o.id)).toEqual([key]);
    expect(saved?.outbox[0]!.body).toMatchObject({ case: "sendMessage", value: { clientMessageId: key } });
    expect(saved?.stream).toMatchObject({ epoch, cursor: cursorBefore });

    // The restarted process: a new machine and runner on the same file.
    const again = device(url, "alice", "phone", new FileClientStore(path), 1);
    await again.runner.start();
    // Restored before connecting: the stream position, the conversations, the outbox.
    expect(again.runner.machine.cursor).toBe(cursorBefore);
    expect(again.runner.machine.epoch).toBe(epoch);
    expect(again.runner.machine.conversations()).toEqual(alice.runner.machine.conversations());
    expect(again.runner.machine.pendingOperations).toBe(1);
    const sent = await again.next((e) => e.kind === "sent" && e.clientMessageId === key);
    const stored = messagesWithKey(serverStore, conversationId, key);
    expect(stored).toHaveLength(1);
    expect(sent.kind === "sent" && sent.ack.seq).toBe(stored[0]!.seq);
    // AUTH-5: resumed from the saved cursor, no resync.
    expect(again.transitions.some((t) => t.input === "authenticated_resumed")).toBe(true);
    expect(again.transitions.some((t) => t.input === "authenticated_not_resumed")).toBe(false);
    expect(again.events.some((e) => e.kind === "resynced")).toBe(false);
    // Nothing alice's first run handed out is handed out again.
    await again.next((e) => e.kind === "event" && e.event.body.case === "message" && e.event.body.value.clientMessageId === key);
    const seqs = (d: Device) => d.events.flatMap((e) => (e.kind === "event" && e.conversationId === conversationId ? [e.event.seq] : []));
    expect(seqs(again).filter((seq) => seqs(alice).includes(seq))).toEqual([]);
    expect([...seqs(alice), ...seqs(again)].sort((a, b) => (a < b ? -1 : 1))).toEqual(Array.from({ length: Number(stored[0]!.seq) }, (_, i) => BigInt(i + 1)));
    // Bob got it once.
    await bob.next((e) => e.kind === "event" && e.event.body.case === "message" && e.event.body.value.clientMessageId === key);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(bob.events.filter((e) => e.kind === "event" && e.event.body.case === "message" && e.event.body.value.clientMessageId === key)).toHaveLength(1);
    // And the file now has nothing outstanding.
    await until(() => again.runner.machine.settled, "the restarted client to settle");
    let final: PersistedClientState | undefined;
    for (let i = 0; i < 100 && final?.outbox.length !== 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      final = await new FileClientStore(path).load();
    }
    expect(final?.outbox).toEqual([]);
  }, 20_000);
});
