import { afterEach, describe, expect, it } from "vitest";
import { ConversationKind, HistoryVisibility, Role } from "../src/gen/imwire/v1/conversation_pb.js";
import { ReceiveMode } from "../src/gen/imwire/v1/settings_pb.js";
import type { PostgresStore } from "../src/store/postgres/postgres-store.js";
import { SyncPostgres } from "../src/store/postgres/sync-postgres.js";
import type { NewEvent, StoredMembership } from "../src/store/store.js";
import { closeTestPostgresStore, freshSchema, openTestPostgresStore, withPostgres } from "./support/postgres.js";

/**
 * PostgresStore keeps what a transaction read for the rest of it
 * (src/store/postgres/postgres-reads.ts): every answer must still be the
 * one PostgreSQL would give — after the transaction's own writes, after a
 * savepoint rolled back, and outside any transaction, where another node
 * may write between two reads. And a snapshot page's reads (SYNC-7) must
 * cost one statement, not several per conversation.
 */

const text = (s: string): NewEvent => ({ senderUserId: "a", senderDeviceId: "d", body: { case: "message", value: { messageId: s, content: { kind: { case: "text", value: { text: s } } } } } });
const member = (conversationId: string, userId: string, over: Partial<StoredMembership> = {}): StoredMembership => ({ conversationId, userId, role: Role.MEMBER, firstVisibleSeq: 1, lastVisibleSeq: 0, ...over });

const opened: PostgresStore[] = [];
afterEach(() => {
  for (const store of opened.splice(0).reverse()) closeTestPostgresStore(store);
});

function storeWithGroup(schema = freshSchema(), conversationId = "g"): PostgresStore {
  const store = openTestPostgresStore({ schema });
  opened.push(store);
  store.createConversation({ conversationId, kind: ConversationKind.GROUP, title: "t", ownerUserId: "a" });
  store.setMembership(member(conversationId, "a", { role: Role.OWNER }));
  return store;
}

/** Every read the machine makes of one conversation's view (conversationView), as one comparable value. */
function view(store: PostgresStore, conversationId: string, userId: string) {
  return {
    conversation: store.conversation(conversationId),
    membership: store.membership(conversationId, userId),
    lastSeq: store.lastSeq(conversationId),
    memberCount: store.memberCount(conversationId),
    members: store.members(conversationId).map((m) => m.userId),
    receiveMode: store.receiveMode(userId, conversationId),
    readMarker: store.readMarker(userId, conversationId),
    history: store.historyVisibility(conversationId),
  };
}

/** How many statements `fn` sends to PostgreSQL. */
function statementsOf(fn: () => void): number {
  const query = SyncPostgres.prototype.query;
  let statements = 0;
  SyncPostgres.prototype.query = function (this: SyncPostgres, ...args: Parameters<typeof query>) {
    statements++;
    return query.apply(this, args);
  } as typeof query;
  try {
    fn();
  } finally {
    SyncPostgres.prototype.query = query;
  }
  return statements;
}

withPostgres("PostgresStore: reads kept within a transaction", () => {
  describe("PostgresStore: reads kept within a transaction", () => {
    it("every read answers the transaction's own writes made after it, through membershipsOf's read-ahead too", () => {
      for (const readAhead of [false, true]) {
        const store = storeWithGroup();
        store.transaction(() => {
          if (readAhead) store.membershipsOf("a");
          view(store, "g", "a");
          store.appendEvent("g", text("x"));
          store.setMembership(member("g", "b"));
          store.setMembership(member("g", "a", { role: Role.OWNER, lastVisibleSeq: 1 })); // a leaves after #1
          store.setReceiveMode("a", "g", ReceiveMode.MUTED);
          store.setReadMarker("a", "g", 1);
          store.setHistoryVisibility("g", { visibility: HistoryVisibility.FULL, events: 0 });
          expect(view(store, "g", "a")).toEqual({
            conversation: { conversationId: "g", kind: ConversationKind.GROUP, title: "t", ownerUserId: "a", readFanOutFromSeq: 0 },
            membership: member("g", "a", { role: Role.OWNER, lastVisibleSeq: 1 }),
            lastSeq: 1,
            memberCount: 1,
            members: ["b"],
            receiveMode: ReceiveMode.MUTED,
            readMarker: 1,
            history: { visibility: HistoryVisibility.FULL, events: 0 },
          });
        });
      }
    });

    it("a savepoint rolled back undoes what was read after its writes", () => {
      const store = storeWithGroup();
      store.transaction(() => {
        const before = view(store, "g", "a");
        expect(() =>
          store.transaction(() => {
            store.appendEvent("g", text("x"));
            store.setMembership(member("g", "b"));
            store.setReceiveMode("a", "g", ReceiveMode.MUTED);
            expect(view(store, "g", "a")).toMatchObject({ lastSeq: 1, memberCount: 2, receiveMode: ReceiveMode.MUTED });
            throw new Error("refused");
          }),
        ).toThrow("refused");
        expect(view(store, "g", "a")).toEqual(before);
      });
    });

    it("outside a transaction nothing is kept: another node's write is read at once", () => {
      const schema = freshSchema();
      const store = storeWithGroup(schema);
      const other = openTestPostgresStore({ schema });
      opened.push(other);
      expect(store.lastSeq("g")).toBe(0);
      store.membershipsOf("a");
      other.appendEvent("g", text("x"));
      other.setReceiveMode("a", "g", ReceiveMode.MUTED);
      expect(store.lastSeq("g")).toBe(1);
      expect(store.receiveMode("a", "g")).toBe(ReceiveMode.MUTED);
    });

    it("SYNC-7: within a transaction, membershipsOf and every read of each conversation's view are one statement", () => {
      const store = storeWithGroup();
      for (let i = 0; i < 20; i++) {
        store.createConversation({ conversationId: `c${i}`, kind: ConversationKind.GROUP, title: `t${i}`, ownerUserId: "a" });
        store.setMembership(member(`c${i}`, "a"));
        store.setMembership(member(`c${i}`, "b"));
      }
      store.transaction(() => {
        const statements = statementsOf(() => {
          for (const { conversationId } of store.membershipsOf("a")) view(store, conversationId, "a");
        });
        expect(statements).toBe(1);
      });
    });
  });
});
