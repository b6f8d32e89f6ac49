import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toBinary } from "@bufbuild/protobuf";
import Database from "better-sqlite3";
import { ConversationKind, Role } from "../src/gen/imwire/v1/conversation_pb.js";
import type { Frame } from "../src/gen/imwire/v1/frame_pb.js";
import { ConversationEventSchema, type SendAck } from "../src/gen/imwire/v1/message_pb.js";
import { ReceiveMode } from "../src/gen/imwire/v1/settings_pb.js";
import { SCHEMA_VERSION, SqliteStore } from "../src/store/sqlite-store.js";
import type { NewEvent } from "../src/store/store.js";
import { ServerHarness } from "./support/server-harness.js";

let dir: string;
let path: string;
const open: SqliteStore[] = [];
const openStore = (file = path) => {
  const store = new SqliteStore(file);
  open.push(store);
  return store;
};

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "imwire-store-"));
  path = join(dir, "imwire.db");
});
afterEach(() => {
  for (const store of open.splice(0)) store.close(); // closing twice is harmless
  rmSync(dir, { recursive: true, force: true });
});

const text = (s: string) => ({ kind: { case: "text" as const, value: { text: s } } });

function ackOf(frame: Frame): SendAck {
  if (frame.body.case !== "sendAck") throw new Error(`expected send_ack, got ${frame.body.case}: ${JSON.stringify(frame.body.value)}`);
  return frame.body.value;
}

function openedId(frame: Frame): string {
  if (frame.body.case !== "conversationOpened") throw new Error(`expected conversation_opened, got ${frame.body.case}`);
  return frame.body.value.conversation!.conversationId;
}

describe("SEQ-2 CUR-4: SqliteStore keeps what the server acknowledged across restarts", () => {
  it("SEQ-2 IDEM-2 IDEM-6 CUR-4 DLV-3: messages, seqs, dedup answers, memberships, settings and the epoch survive closing and reopening the file", () => {
    // The first server process.
    const first = new ServerHarness({}, undefined, openStore());
    first.now = 1_000;
    const alice = first.loginAndSync("alice", "a1");
    const bob = first.loginAndSync("bob", "b1");
    first.login("carol", "c1");
    const groupId = openedId(first.request(alice, { case: "openConversation", value: { kind: ConversationKind.GROUP, userIds: ["bob", "carol"], title: "team", clientConversationId: "create-1" } }));
    const acks = ["k1", "k2", "k3"].map((key) => ackOf(first.request(alice, { case: "sendMessage", value: { conversationId: groupId, clientMessageId: key, content: text(key) } })));
    expect(acks.map((a) => Number(a.seq))).toEqual([2, 3, 4]);
    const directId = openedId(first.request(bob, { case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: ["alice"] } }));
    first.request(bob, { case: "setReceiveSettings", value: { settings: { conversationId: groupId, mode: ReceiveMode.MUTED } } });
    first.request(bob, { case: "markRead", value: { conversationId: groupId, seq: 3n } });
    // Bob's device acknowledges part of what it was pushed; the rest must come again after the restart (DLV-3).
    const pushed = first.take(bob).flatMap((f) => (f.body.case === "deliver" ? [f.body.value.cursor] : []));
    expect(pushed.length).toBeGreaterThan(4);
    const held = pushed[2]!;
    first.send(bob, { case: "deliveryAck", value: { cursor: held } });
    const before = first.store;
    const epoch = before.epoch("bob");
    const bobHead = before.headCursor("bob");
    const events = before.events(groupId, 0, Infinity, Infinity).map((e) => toBinary(ConversationEventSchema, e));
    const members = before.members(groupId);
    expect(first.internalErrors).toEqual([]);
    (before as SqliteStore).close();

    // The process restarts: a new store on the same file, a new server machine.
    const second = new ServerHarness({}, undefined, openStore());
    second.now = 90_000;
    const store = second.store;
    expect(store.epoch("bob")).toBe(epoch);
    expect(store.epoch("alice")).toBe(epoch);
    expect(store.events(groupId, 0, Infinity, Infinity).map((e) => toBinary(ConversationEventSchema, e))).toEqual(events);
    expect(store.lastSeq(groupId)).toBe(4);
    expect(store.members(groupId)).toEqual(members);
    expect(store.membership(groupId, "alice")?.role).toBe(Role.OWNER);
    expect(store.directConversation("alice", "bob")).toBe(directId);
    expect(store.receiveMode("bob", groupId)).toBe(ReceiveMode.MUTED);
    expect(store.readMarker("bob", groupId)).toBe(3);
    expect(store.headCursor("bob")).toBe(bobHead);
    expect(["alice", "bob", "carol"].every((u) => store.hasUser(u))).toBe(true);

    // IDEM-2: a retried send gets the first answer, even from a new connection of a restarted server.
    const alice2 = second.login("alice", "a1");
    expect(ackOf(second.request(alice2, { case: "sendMessage", value: { conversationId: groupId, clientMessageId: "k2", content: text("k2 again") } }))).toEqual(acks[1]);
    expect(store.lastSeq(groupId)).toBe(4);
    // IDEM-6: so does a retried group creation.
    const again = second.request(alice2, { case: "openConversation", value: { kind: ConversationKind.GROUP, userIds: ["bob", "carol"], title: "team", clientConversationId: "create-1" } });
    expect(again.body.case === "conversationOpened" && [again.body.value.conversation!.conversationId, again.body.value.created]).toEqual([groupId, false]);
    // SEQ-2: no seq is handed out twice.
    expect(Number(ackOf(second.request(alice2, { case: "sendMessage", value: { conversationId: groupId, clientMessageId: "k4", content: text("k4") } })).seq)).toBe(5);
    // CUR-2: the cursor counter went on from the file, above every cursor bob's devices were given.
    const newHead = store.headCursor("bob");
    expect(newHead).toBeGreaterThan(bobHead);

    // CUR-4, AUTH-5: bob's device resumes with its old epoch and cursor, and is pushed what it had not acknowledged.
    const bob2 = second.open();
    second.request(bob2, { case: "hello", value: { versions: [1], deviceId: "b1" } });
    const authenticated = second.request(bob2, { case: "authenticate", value: { token: "bob|b1", resume: { epoch, cursor: held } } });
    expect(authenticated.body.case === "authenticated" && authenticated.body.value.resumed).toBe(true);
    const redelivered = second.take(bob2).flatMap((f) => (f.body.case === "deliver" ? [f.body.value] : []));
    expect(redelivered[0]?.prevCursor).toBe(held);
    expect(redelivered.map((d) => d.cursor)).toEqual([...pushed.filter((c) => c > held), BigInt(newHead)]);
    expect(second.internalErrors).toEqual([]);
  });

  it("SEQ-2: a send acknowledged by a process killed without closing the database is there after the restart", () => {
    const child = spawnSync(process.execPath, ["--import", "tsx", join(import.meta.dirname, "support", "sqlite-crash-child.ts"), path], { encoding: "utf8", timeout: 30_000 });
    expect(child.signal, child.stderr).toBe("SIGKILL");
    const acked = JSON.parse(child.stdout) as { conversationId: string; seq: number; messageId: string; serverTimeMs: number; epoch: string };
    // The commit is in the write-ahead log only: nothing checkpointed or closed it.
    expect(existsSync(`${path}-wal`)).toBe(true);

    const store = openStore();
    expect(store.epoch("alice")).toBe(acked.epoch);
    const event = store.event(acked.conversationId, acked.seq);
    expect(event?.body.case === "message" && event.body.value.clientMessageId).toBe("k1");
    expect(store.dedup({ scope: "message", userId: "alice", deviceId: "a1", key: "k1" })).toEqual({
      conversationId: acked.conversationId,
      seq: acked.seq,
      messageId: acked.messageId,
      serverTimeMs: acked.serverTimeMs,
    });
  });

  it("CUR-4: a new file is a new epoch, and a device resuming with the old one is not resumed", () => {
    const first = new ServerHarness({}, undefined, openStore());
    const bob = first.loginAndSync("bob", "b1");
    first.login("alice", "a1");
    first.request(bob, { case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: ["alice"] } });
    const epoch = first.store.epoch("bob");
    const cursor = BigInt(first.store.headCursor("bob"));
    expect(cursor).toBeGreaterThan(0n);

    const lost = new ServerHarness({}, undefined, openStore(join(dir, "other.db")));
    expect(lost.store.epoch("bob")).not.toBe(epoch);
    const connection = lost.open();
    lost.request(connection, { case: "hello", value: { versions: [1], deviceId: "b1" } });
    const answer = lost.request(connection, { case: "authenticate", value: { token: "bob|b1", resume: { epoch, cursor } } });
    expect(answer.body.case === "authenticated" && [answer.body.value.resumed, answer.body.value.epoch]).toEqual([false, lost.store.epoch("bob")]);
  });

  it("CUR-4: the epoch belongs to the file, not the process: two stores on one file agree, two new ones differ", () => {
    const a = openStore();
    const b = openStore();
    expect(b.epoch("x")).toBe(a.epoch("x"));
    expect(openStore(":memory:").epoch("x")).not.toBe(openStore(":memory:").epoch("x"));
  });
});

describe("CUR-2 CUR-7: SqliteStore's server-wide cursor counter across restarts", () => {
  const event: NewEvent = { senderUserId: "o", body: { case: "message", value: { messageId: "m", content: text("x") } } };
  const ref = (seq: number) => ({ case: "eventRef" as const, conversationId: "small", seq });

  /** Cursors handed out by one process, ending with `last` (the one the counter must be recovered from). */
  function handOut(store: SqliteStore, last: "entry" | "published"): number[] {
    store.createConversation({ conversationId: "big", kind: ConversationKind.CHANNEL, title: "", ownerUserId: "o", readFanOutFromSeq: 1 });
    store.setMembership({ conversationId: "big", userId: "u", role: Role.SUBSCRIBER, firstVisibleSeq: 1, lastVisibleSeq: 0 });
    const cursors = [store.appendUserEntry("u", ref(1)), store.publishEvent("big", store.appendEvent("big", event)), store.appendUserEntry("v", ref(2))];
    // Before the last cursor: a membership's start is a position too, and would hide a counter recovered from it alone.
    store.setMembership({ conversationId: "big", userId: "late", role: Role.SUBSCRIBER, firstVisibleSeq: 2, lastVisibleSeq: 0 });
    cursors.push(last === "entry" ? store.appendUserEntry("w", ref(3)) : store.publishEvent("big", store.appendEvent("big", event)));
    return cursors;
  }

  for (const last of ["entry", "published"] as const) {
    it(`every cursor after a reopen is above every cursor handed out before, the newest being a ${last === "entry" ? "stored entry" : "published event"}`, () => {
      const first = openStore();
      const before = handOut(first, last);
      const headOfU = first.headCursor("u");
      first.close();
      const store = openStore();
      const highest = Math.max(...before);
      expect(store.headCursor("u")).toBe(headOfU);
      const after = [store.appendUserEntry("fresh", ref(4)), store.publishEvent("big", store.appendEvent("big", event)), store.appendUserEntry("u", ref(5))];
      expect(Math.min(...after)).toBeGreaterThan(highest);
      const streamOfU = store.userEntries("u", 0, Infinity).map((e) => e.cursor);
      expect(streamOfU).toEqual([...streamOfU].sort((a, b) => a - b));
      expect(new Set(streamOfU).size).toBe(streamOfU.length);
      // The subscriber who joined last sees only what was published after it joined, on either side of the restart.
      expect(store.userEntries("late", 0, Infinity).map((e) => e.cursor)).toEqual(last === "published" ? [before[3], after[1]] : [after[1]]);
    });
  }
});

describe("SqliteStore schema", () => {
  it("creates a WAL-mode file at the current schema version", () => {
    openStore().close();
    const db = new Database(path, { readonly: true });
    try {
      expect(db.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
      expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
      expect(db.prepare("SELECT count(*) FROM meta WHERE key = 'epoch'").pluck().get()).toBe(1);
    } finally {
      db.close();
    }
  });

  it("refuses a file written by a newer schema version, and leaves it alone", () => {
    const db = new Database(path);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expect(() => new SqliteStore(path)).toThrow(/newer/);
    const check = new Database(path, { readonly: true });
    expect(check.prepare("SELECT count(*) FROM sqlite_schema").pluck().get()).toBe(0);
    expect(check.pragma("journal_mode", { simple: true })).toBe("delete");
    check.close();
  });
});

describe("IDEM-2: SqliteStore transactions are atomic", () => {
  const event: NewEvent = { senderUserId: "a", body: { case: "message", value: { messageId: "m", content: text("x") } } };

  it("a transaction that throws halfway leaves nothing behind", () => {
    const store = openStore(":memory:");
    expect(() =>
      store.transaction(() => {
        store.addUser("a");
        store.createConversation({ conversationId: "g1", kind: ConversationKind.GROUP, title: "", ownerUserId: "a" });
        store.setMembership({ conversationId: "g1", userId: "a", role: Role.OWNER, firstVisibleSeq: 1, lastVisibleSeq: 0 });
        const seq = store.appendEvent("g1", event);
        store.appendUserEntry("a", { case: "eventRef", conversationId: "g1", seq });
        store.recordDedup({ scope: "message", userId: "a", deviceId: "d", key: "k" }, { conversationId: "g1", seq, messageId: "m", serverTimeMs: 1 });
        store.setReceiveMode("a", "", ReceiveMode.MUTED);
        store.setReadMarker("a", "g1", seq);
        throw new Error("halfway");
      }),
    ).toThrow("halfway");
    expect(store.hasUser("a")).toBe(false);
    expect(store.conversation("g1")).toBeUndefined();
    expect(store.lastSeq("g1")).toBe(0);
    expect(store.event("g1", 1)).toBeUndefined();
    expect(store.membershipsOf("a")).toEqual([]);
    expect(store.headCursor("a")).toBe(0);
    expect(store.userEntries("a", 0, Infinity)).toEqual([]);
    expect(store.dedup({ scope: "message", userId: "a", deviceId: "d", key: "k" })).toBeUndefined();
    expect(store.receiveMode("a", "")).toBe(ReceiveMode.UNSPECIFIED);
    expect(store.readMarker("a", "g1")).toBe(0);
    // Seqs start again where the committed state left them (SEQ-1); a cursor need only lie above the committed ones (CUR-2).
    store.createConversation({ conversationId: "g1", kind: ConversationKind.GROUP, title: "", ownerUserId: "a" });
    expect(store.appendEvent("g1", event)).toBe(1);
    const cursor = store.appendUserEntry("a", { case: "eventRef", conversationId: "g1", seq: 1 });
    expect(store.userEntries("a", 0, Infinity)).toEqual([{ cursor, body: { case: "eventRef", conversationId: "g1", seq: 1 } }]);
    expect(store.headCursor("a")).toBe(cursor);
  });

  it("a nested transaction that throws is undone alone when the outer one catches it", () => {
    const store = openStore(":memory:");
    store.createConversation({ conversationId: "g1", kind: ConversationKind.GROUP, title: "", ownerUserId: "a" });
    store.transaction(() => {
      store.appendEvent("g1", event);
      expect(() =>
        store.transaction(() => {
          store.appendEvent("g1", event);
          store.appendUserEntry("a", { case: "eventRef", conversationId: "g1", seq: 2 });
          throw new Error("inner");
        }),
      ).toThrow("inner");
      expect(store.lastSeq("g1")).toBe(1);
      store.appendEvent("g1", event);
    });
    expect(store.events("g1", 0, Infinity, Infinity).map((e) => Number(e.seq))).toEqual([1, 2]);
    expect(store.headCursor("a")).toBe(0);
  });

  it("a transaction that throws after a file store committed nothing leaves the file as it was", () => {
    const store = openStore();
    store.createConversation({ conversationId: "g1", kind: ConversationKind.GROUP, title: "", ownerUserId: "a" });
    expect(() =>
      store.transaction(() => {
        store.appendEvent("g1", event);
        throw new Error("halfway");
      }),
    ).toThrow();
    store.close();
    expect(openStore().lastSeq("g1")).toBe(0);
  });
});
