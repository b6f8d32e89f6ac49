import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConversationKind, Role } from "../src/gen/imwire/v1/conversation_pb.js";
import { SqliteStore } from "../src/store/sqlite-store.js";

/** SqliteStore's batches (group commit): one transaction for many requests, each request still atomic on its own. */
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function fileStore(): { store: SqliteStore; path: string; opened: number[] } {
  const dir = mkdtempSync(join(tmpdir(), "imwire-batches-"));
  dirs.push(dir);
  const path = join(dir, "store.sqlite");
  const store = new SqliteStore(path);
  const opened: number[] = [];
  store.enableGroupCommit(() => opened.push(opened.length + 1));
  return { store, path, opened };
}

function withConversation(store: SqliteStore): string {
  store.transaction(() => {
    store.createConversation({ conversationId: "c1", kind: ConversationKind.GROUP, title: "t", ownerUserId: "alice" });
    store.setMembership({ conversationId: "c1", userId: "alice", role: Role.OWNER, firstVisibleSeq: 1, lastVisibleSeq: 0 });
  });
  return "c1";
}

const text = (t: string) => ({ senderUserId: "alice", senderDeviceId: "d", serverTimeMs: 0n, body: { case: "message" as const, value: { messageId: t, clientMessageId: t, content: { kind: { case: "text" as const, value: { text: t } } } } } });

describe("SqliteStore batches", () => {
  it("the first write opens one batch; requests join it, each a savepoint; nothing is durable until commitBatch", () => {
    const { store, path, opened } = fileStore();
    const id = withConversation(store);
    expect(opened).toEqual([1]);
    expect(store.batchOpen).toBe(true);
    store.transaction(() => store.appendEvent(id, text("one")));
    expect(() =>
      store.transaction(() => {
        store.appendEvent(id, text("refused"));
        throw new Error("a refused request");
      }),
    ).toThrow("a refused request");
    store.transaction(() => store.appendEvent(id, text("two")));
    // Reads inside the batch see it: the next seq follows the batch's own writes.
    expect(store.lastSeq(id)).toBe(2);
    expect(opened).toEqual([1]);
    const outside = new SqliteStore(path);
    expect(outside.conversation(id)).toBeUndefined();
    store.commitBatch();
    expect(store.batchOpen).toBe(false);
    expect(outside.lastSeq(id)).toBe(2);
    expect(outside.events(id, 0, 2, 10).map((e) => e.body.case === "message" && e.body.value.messageId)).toEqual(["one", "two"]);
    outside.close();
    store.close();
  });

  it("rollbackBatch undoes the whole batch; the next write opens a new one", () => {
    const { store, opened } = fileStore();
    const id = withConversation(store);
    store.commitBatch();
    store.transaction(() => store.appendEvent(id, text("lost")));
    store.rollbackBatch();
    expect(store.lastSeq(id)).toBe(0);
    store.transaction(() => store.appendEvent(id, text("kept")));
    expect(opened).toEqual([1, 2, 3]);
    store.commitBatch();
    expect(store.lastSeq(id)).toBe(1);
    store.close();
  });

  it("CUR-8 CUR-7 CONV-9: rollbackBatch undoes a move to read fan-out, its published events and its member count", () => {
    const { store } = fileStore();
    const id = withConversation(store);
    store.commitBatch();
    store.transaction(() => {
      store.setMembership({ conversationId: id, userId: "bob", role: Role.MEMBER, firstVisibleSeq: 1, lastVisibleSeq: 0 });
      store.startReadFanOut(id, 1);
      store.publishEvent(id, store.appendEvent(id, text("lost")));
    });
    expect([store.memberCount(id), store.userEntries("bob", 0, Infinity).length]).toEqual([2, 1]);
    store.rollbackBatch();
    expect([store.conversation(id)?.readFanOutFromSeq, store.memberCount(id), store.headCursor("alice")]).toEqual([0, 1, 0]);
    expect(store.userEntries("alice", 0, Infinity)).toEqual([]);
    const cursor = store.transaction(() => {
      store.startReadFanOut(id, 1);
      return store.publishEvent(id, store.appendEvent(id, text("kept")));
    });
    store.commitBatch();
    expect(store.userEntries("alice", 0, Infinity)).toEqual([{ cursor, body: { case: "eventRef", conversationId: id, seq: 1 } }]);
    expect(store.userEntries("bob", 0, Infinity)).toEqual([]);
    store.close();
  });
});
