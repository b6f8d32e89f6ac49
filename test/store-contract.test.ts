import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { create, fromBinary, toBinary, type DescMessage, type Message } from "@bufbuild/protobuf";
import { MessageContentSchema } from "../src/gen/imwire/v1/content_pb.js";
import { ConversationKind, ConversationLeftSchema, ConversationOpenedSchema, HistoryVisibility, Role } from "../src/gen/imwire/v1/conversation_pb.js";
import { ReadMarkerSchema, ReadReceiptSchema } from "../src/gen/imwire/v1/delivery_pb.js";
import { ConversationEventSchema, MembershipAction } from "../src/gen/imwire/v1/message_pb.js";
import { ReceiveMode, ReceiveSettingsSchema } from "../src/gen/imwire/v1/settings_pb.js";
import { MemoryStore } from "../src/store/memory-store.js";
import { SqliteStore } from "../src/store/sqlite-store.js";
import { replayedWriteBehindStore, writeBehindStore } from "./support/write-behind-stores.js";
import { closeTestPostgresStore, openTestPostgresStore, withPostgres } from "./support/postgres.js";
import type { PostgresStore } from "../src/store/postgres/postgres-store.js";
import { deliveredMarkerKey, type NewEvent, type Store, type StoredMembership, type StoredUserEntry, type StoredUserEntryBody } from "../src/store/store.js";

/** How the contract gets a fresh, empty store, and gives it back. */
interface StoreFactory {
  readonly open: () => Store;
  readonly close?: (store: Store) => void;
}

const text = (s: string): NewEvent => ({ senderUserId: "a", senderDeviceId: "d", body: { case: "message", value: { messageId: s, content: { kind: { case: "text", value: { text: s } } } } } });

const member = (conversationId: string, userId: string, over: Partial<StoredMembership> = {}): StoredMembership => ({
  conversationId,
  userId,
  role: Role.MEMBER,
  firstVisibleSeq: 1,
  lastVisibleSeq: 0,
  ...over,
});

const BODY_SCHEMAS: Record<string, DescMessage> = {
  joined: ConversationOpenedSchema,
  left: ConversationLeftSchema,
  receiveSettings: ReceiveSettingsSchema,
  readMarker: ReadMarkerSchema,
  readReceipt: ReadReceiptSchema,
};

/** An entry in a form two stores can be compared in: non-event bodies by their encoding. */
function comparable(entry: StoredUserEntry): unknown {
  const body = entry.body;
  if (body.case === "eventRef") return { cursor: entry.cursor, ...body };
  return { cursor: entry.cursor, case: body.case, bytes: toBinary(BODY_SCHEMAS[body.case]!, body.value as Message) };
}

/**
 * The Store interface's contract, as MemoryStore defines it: every
 * implementation must pass the same expectations.
 */
function storeContract(name: string, factory: StoreFactory): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    beforeEach(() => {
      store = factory.open();
    });
    afterEach(() => {
      factory.close?.(store);
    });

    const group = (conversationId = "g1", kind = ConversationKind.GROUP) =>
      store.createConversation({ conversationId, kind, title: `t-${conversationId}`, ownerUserId: "a" });

    describe("conversations and SEQ-1 sequence numbers", () => {
      it("stores conversations and refuses a second with the same id", () => {
        group("g1");
        expect(store.conversation("g1")).toEqual({ conversationId: "g1", kind: ConversationKind.GROUP, title: "t-g1", ownerUserId: "a", readFanOutFromSeq: 0 });
        expect(store.conversation("nope")).toBeUndefined();
        expect(() => group("g1")).toThrow();
      });

      it("CUR-8: a conversation is under write fan-out unless created under read fan-out, and moves once, never back", () => {
        group("g1");
        store.createConversation({ conversationId: "c1", kind: ConversationKind.CHANNEL, title: "", ownerUserId: "a", readFanOutFromSeq: 1 });
        expect(store.conversation("c1")?.readFanOutFromSeq).toBe(1);
        store.startReadFanOut("g1", 4);
        store.startReadFanOut("g1", 9); // a second move would renumber which events have stored entries
        store.startReadFanOut("c1", 5);
        expect([store.conversation("g1")?.readFanOutFromSeq, store.conversation("c1")?.readFanOutFromSeq]).toEqual([4, 1]);
      });

      it("SEQ-1: numbers each conversation's events 1, 2, 3… on its own", () => {
        group("g1");
        group("g2");
        expect([store.appendEvent("g1", text("x")), store.appendEvent("g1", text("y")), store.appendEvent("g2", text("z")), store.appendEvent("g1", text("w"))]).toEqual([1, 2, 1, 3]);
        expect(store.lastSeq("g1")).toBe(3);
        expect(store.lastSeq("g2")).toBe(1);
        expect(store.lastSeq("nope")).toBe(0);
        const event = store.event("g1", 2)!;
        expect(event.seq).toBe(2n);
        expect(event.body.case === "message" && event.body.value.messageId).toBe("y");
      });

      it("refuses events for a conversation that does not exist", () => {
        expect(() => store.appendEvent("nope", text("x"))).toThrow();
        expect(() => store.events("nope", 0, 10, 10)).toThrow();
        expect(store.event("nope", 1)).toBeUndefined();
      });

      it("events(after, until, limit) is after < seq <= until, oldest first, at most limit; Infinity means no bound", () => {
        group("g1");
        for (let i = 1; i <= 6; i++) store.appendEvent("g1", text(`m${i}`));
        const seqs = (after: number, until: number, limit: number) => store.events("g1", after, until, limit).map((e) => Number(e.seq));
        expect(seqs(0, Infinity, Infinity)).toEqual([1, 2, 3, 4, 5, 6]);
        expect(seqs(1, 3, 10)).toEqual([2, 3]);
        expect(seqs(2, Infinity, 2)).toEqual([3, 4]);
        expect(seqs(4, 100, Infinity)).toEqual([5, 6]);
        expect(seqs(3, 3, 10)).toEqual([]);
        expect(seqs(5, 2, 10)).toEqual([]);
        expect(seqs(0, 6, 0)).toEqual([]);
        expect(seqs(6, Infinity, Infinity)).toEqual([]);
        expect(store.event("g1", 0)).toBeUndefined();
        expect(store.event("g1", 7)).toBeUndefined();
      });

      it("MSG-7: an event comes back byte for byte, unknown fields included", () => {
        group("g1");
        const known = toBinary(MessageContentSchema, create(MessageContentSchema, { kind: { case: "text", value: { text: "hi" } } }));
        const withUnknown = new Uint8Array([...known, 0xf8, 0x3e, 0x2a]); // field 999, varint 42
        const content = fromBinary(MessageContentSchema, withUnknown);
        const event: NewEvent = { conversationId: "g1", senderUserId: "a", senderDeviceId: "d", serverTimeMs: 123n, body: { case: "message", value: { messageId: "g1.1", clientMessageId: "k", content, replyToSeq: 0n } } };
        const seq = store.appendEvent("g1", event);
        const stored = store.event("g1", seq)!;
        expect(stored.body.case === "message" && toBinary(MessageContentSchema, stored.body.value.content!)).toEqual(withUnknown);
        const expected = toBinary(ConversationEventSchema, create(ConversationEventSchema, { ...event, seq: BigInt(seq) }));
        expect(toBinary(ConversationEventSchema, stored)).toEqual(expected);
        expect(toBinary(ConversationEventSchema, store.events("g1", 0, Infinity, Infinity)[0]!)).toEqual(expected);
      });
    });

    describe("memberships and CONV-8 visibility intervals", () => {
      it("keeps the current record per conversation and user, members in join order", () => {
        group("g1");
        for (const u of ["c", "a", "b"]) store.setMembership(member("g1", u));
        store.setMembership(member("g1", "a", { lastVisibleSeq: 4 })); // a leaves
        store.setMembership(member("g1", "d", { firstVisibleSeq: 5 }));
        expect(store.members("g1").map((m) => m.userId)).toEqual(["c", "b", "d"]);
        expect(store.memberCount("g1")).toBe(3);
        store.setMembership(member("g1", "a", { firstVisibleSeq: 6, role: Role.OWNER })); // a is added back: its place is kept
        expect(store.members("g1")).toEqual([member("g1", "c"), member("g1", "a", { firstVisibleSeq: 6, role: Role.OWNER }), member("g1", "b"), member("g1", "d", { firstVisibleSeq: 5 })]);
        expect(store.membership("g1", "a")).toEqual(member("g1", "a", { firstVisibleSeq: 6, role: Role.OWNER }));
        expect(store.membership("g1", "zz")).toBeUndefined();
        expect(store.membership("nope", "a")).toBeUndefined();
        expect(store.memberCount("g1")).toBe(4);
      });

      it("lists every membership of a user, former ones included, and brings members into existence as users", () => {
        group("g1");
        group("g2");
        group("g3");
        store.setMembership(member("g2", "u"));
        store.setMembership(member("g1", "u", { lastVisibleSeq: 3 }));
        store.setMembership(member("g3", "v"));
        expect(store.membershipsOf("u")).toEqual([member("g2", "u"), member("g1", "u", { lastVisibleSeq: 3 })]);
        expect(store.membershipsOf("nobody")).toEqual([]);
        expect(store.hasUser("u")).toBe(true);
      });

      it("refuses memberships of a conversation that does not exist", () => {
        expect(() => store.setMembership(member("nope", "a"))).toThrow();
        expect(() => store.members("nope")).toThrow();
        expect(() => store.memberCount("nope")).toThrow();
        group("empty");
        expect(store.members("empty")).toEqual([]);
        expect(store.memberCount("empty")).toBe(0);
      });

      it("CONV-2: finds a DIRECT conversation by its pair, in either order", () => {
        group("d1", ConversationKind.DIRECT);
        store.setMembership(member("d1", "bob"));
        expect(store.directConversation("alice", "bob")).toBeUndefined();
        store.setMembership(member("d1", "alice"));
        expect(store.directConversation("alice", "bob")).toBe("d1");
        expect(store.directConversation("bob", "alice")).toBe("d1");
        expect(store.directConversation("alice", "carol")).toBeUndefined();
        group("g1");
        store.setMembership(member("g1", "alice"));
        store.setMembership(member("g1", "carol"));
        expect(store.directConversation("carol", "alice")).toBeUndefined(); // a group of two is not a pair's conversation
      });
    });

    describe("users, CUR-2 streams and CUR-4 epochs", () => {
      it("knows the users it was told of", () => {
        expect(store.hasUser("a")).toBe(false);
        store.addUser("a");
        store.addUser("a");
        expect(store.hasUser("a")).toBe(true);
        expect(store.hasUser("b")).toBe(false);
      });

      it("brings a user into existence on the same calls as MemoryStore, and never on reads", () => {
        store.receiveMode("r1", "");
        store.readMarker("r2", "g1");
        store.headCursor("r3");
        store.userEntries("r4", 0, 10);
        store.membershipsOf("r5");
        store.dedup({ scope: "message", userId: "r6", deviceId: "d", key: "k" });
        expect(["r1", "r2", "r3", "r4", "r5", "r6"].filter((u) => store.hasUser(u))).toEqual([]);
        store.epoch("w1");
        store.setReceiveMode("w2", "", ReceiveMode.MUTED);
        store.setReadMarker("w3", "g1", 1);
        store.appendUserEntry("w4", { case: "eventRef", conversationId: "g1", seq: 1 });
        expect(["w1", "w2", "w3", "w4"].filter((u) => store.hasUser(u))).toEqual(["w1", "w2", "w3", "w4"]);
      });

      it("CUR-2: a user's cursors strictly increase, and are paged by cursor", () => {
        expect(store.headCursor("a")).toBe(0);
        expect(store.userEntries("a", 0, 10)).toEqual([]);
        const cursors = [1, 2, 3, 4, 5].map((seq) => store.appendUserEntry("a", { case: "eventRef", conversationId: "g1", seq }));
        expect(cursors.every((c, i) => c > (cursors[i - 1] ?? 0))).toBe(true);
        expect(store.hasUser("a")).toBe(true);
        expect(store.headCursor("a")).toBe(cursors[4]);
        const [c1, c2, c3, c4, c5] = cursors as [number, number, number, number, number];
        expect(store.userEntries("a", c1, 2)).toEqual([
          { cursor: c2, body: { case: "eventRef", conversationId: "g1", seq: 2 } },
          { cursor: c3, body: { case: "eventRef", conversationId: "g1", seq: 3 } },
        ]);
        expect(store.userEntries("a", c3, Infinity).map((e) => e.cursor)).toEqual([c4, c5]);
        expect(store.userEntries("a", c5, 10)).toEqual([]);
        expect(store.userEntries("a", 0, 0)).toEqual([]);
      });

      it("CUR-2 CUR-7: interleaved users share one order: each one's cursors increase, and none is handed out twice", () => {
        const given: [string, number][] = [];
        for (const [i, user] of ["a", "b", "a", "c", "b", "a"].entries()) given.push([user, store.appendUserEntry(user, { case: "eventRef", conversationId: "g1", seq: i + 1 })]);
        const all = given.map(([, cursor]) => cursor);
        expect([...all].sort((x, y) => x - y)).toEqual(all);
        expect(new Set(all).size).toBe(all.length);
        for (const user of ["a", "b", "c"]) {
          const mine = given.filter(([u]) => u === user).map(([, cursor]) => cursor);
          expect(store.userEntries(user, 0, Infinity).map((e) => e.cursor)).toEqual(mine);
          expect(store.headCursor(user)).toBe(mine.at(-1));
          // The gaps between one user's cursors are other users' entries: paging steps over them.
          expect(store.userEntries(user, mine[0]!, 1).map((e) => e.cursor)).toEqual(mine.slice(1, 2));
        }
      });

      it("keeps every kind of entry body as it was appended", () => {
        const opened = create(ConversationOpenedSchema, { created: true, conversation: { conversationId: "g1", kind: ConversationKind.GROUP, title: "t", memberUserIds: ["a", "b"], lastSeq: 3n } });
        const bodies: StoredUserEntryBody[] = [
          { case: "eventRef", conversationId: "g1", seq: 7 },
          { case: "joined", value: opened },
          { case: "left", value: create(ConversationLeftSchema, { conversationId: "g1", lastVisibleSeq: 9n }) },
          { case: "receiveSettings", value: create(ReceiveSettingsSchema, { conversationId: "g1", mode: ReceiveMode.MUTED }) },
          { case: "readMarker", value: create(ReadMarkerSchema, { conversationId: "g1", seq: 4n }) },
          // As the server builds it: a plain object, not made with create().
          { case: "readReceipt", value: { $typeName: "imwire.v1.ReadReceipt", conversationId: "g1", userId: "b", seq: 5n } },
        ];
        const cursors = bodies.map((body) => store.appendUserEntry("a", body));
        const entries = store.userEntries("a", 0, Infinity);
        expect(entries.map(comparable)).toEqual(bodies.map((body, i) => comparable({ cursor: cursors[i]!, body })));
        expect(entries.map((e) => e.body.case)).toEqual(bodies.map((b) => b.case));
      });

      it("CUR-4: has one non-empty epoch of at most 128 bytes for every user, stable across calls", () => {
        const epoch = store.epoch("a");
        expect(Buffer.byteLength(epoch)).toBeGreaterThan(0);
        expect(Buffer.byteLength(epoch)).toBeLessThanOrEqual(128);
        expect(store.epoch("b")).toBe(epoch);
        store.appendUserEntry("a", { case: "eventRef", conversationId: "g1", seq: 1 });
        expect(store.epoch("a")).toBe(epoch);
      });
    });

    describe("IDEM-2 IDEM-6 deduplication keys", () => {
      it("remembers the first answer per scope, user, device and key", () => {
        const key = { scope: "message", userId: "a", deviceId: "d1", key: "k" } as const;
        expect(store.dedup(key)).toBeUndefined();
        const record = { conversationId: "g1", seq: 3, messageId: "g1.3", serverTimeMs: 1_700_000_000_123 };
        store.recordDedup(key, record);
        expect(store.dedup(key)).toEqual(record);
        expect(store.dedup({ ...key, scope: "conversation" })).toBeUndefined();
        expect(store.dedup({ ...key, deviceId: "d2" })).toBeUndefined();
        expect(store.dedup({ ...key, userId: "b" })).toBeUndefined();
        expect(store.dedup({ ...key, key: "k2" })).toBeUndefined();
        const conversationKey = { ...key, scope: "conversation" } as const;
        store.recordDedup(conversationKey, { conversationId: "g9", seq: 1, messageId: "", serverTimeMs: 5 });
        expect(store.dedup(conversationKey)).toEqual({ conversationId: "g9", seq: 1, messageId: "", serverTimeMs: 5 });
        expect(store.dedup(key)).toEqual(record);
        // The server never records a key twice (it answers from the first record), but the store replaces, as a map would.
        store.recordDedup(key, { ...record, seq: 4 });
        expect(store.dedup(key)).toEqual({ ...record, seq: 4 });
      });

      it("IDEM-4: forgets keys first attempted before a time, oldest first, at most `limit` at a time", () => {
        const keyAt = (n: number) => ({ scope: "message", userId: "a", deviceId: "d1", key: `k${n}` }) as const;
        for (let n = 0; n < 10; n++) store.recordDedup(keyAt(n), { conversationId: "g1", seq: n + 1, messageId: `m${n}`, serverTimeMs: 1_000 + n * 100 });
        const kept = () => Array.from({ length: 10 }, (_, n) => n).filter((n) => store.dedup(keyAt(n)) !== undefined);
        expect(store.forgetDedupBefore(1_000, 100)).toBe(0);
        expect(store.forgetDedupBefore(1_450, 2)).toBe(2);
        expect(kept()).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
        expect(store.forgetDedupBefore(1_450, 100)).toBe(3);
        expect(kept()).toEqual([5, 6, 7, 8, 9]);
        expect(store.forgetDedupBefore(1_500, 100)).toBe(0); // a key recorded exactly at the time stays
        expect(store.forgetDedupBefore(Infinity, 100)).toBe(5);
        expect(kept()).toEqual([]);
      });
    });

    describe("RECV-1 receive modes and READ-1 read markers", () => {
      it("RECV-1: keeps the account default and per-conversation overrides; UNSPECIFIED clears", () => {
        expect(store.receiveMode("a", "")).toBe(ReceiveMode.UNSPECIFIED);
        store.setReceiveMode("a", "", ReceiveMode.NOTIFY_ONLY);
        store.setReceiveMode("a", "g1", ReceiveMode.MUTED);
        store.setReceiveMode("b", "g1", ReceiveMode.FULL);
        expect([store.receiveMode("a", ""), store.receiveMode("a", "g1"), store.receiveMode("a", "g2"), store.receiveMode("b", "g1")]).toEqual([
          ReceiveMode.NOTIFY_ONLY,
          ReceiveMode.MUTED,
          ReceiveMode.UNSPECIFIED,
          ReceiveMode.FULL,
        ]);
        store.setReceiveMode("a", "g1", ReceiveMode.FULL);
        expect(store.receiveMode("a", "g1")).toBe(ReceiveMode.FULL);
        store.setReceiveMode("a", "g1", ReceiveMode.UNSPECIFIED);
        store.setReceiveMode("a", "", ReceiveMode.UNSPECIFIED);
        expect([store.receiveMode("a", "g1"), store.receiveMode("a", "")]).toEqual([ReceiveMode.UNSPECIFIED, ReceiveMode.UNSPECIFIED]);
        expect(store.receiveMode("b", "g1")).toBe(ReceiveMode.FULL);
      });

      it("READ-1: keeps each user's marker per conversation, as last set", () => {
        expect(store.readMarker("a", "g1")).toBe(0);
        store.setReadMarker("a", "g1", 5);
        store.setReadMarker("a", "g2", 2);
        expect([store.readMarker("a", "g1"), store.readMarker("a", "g2"), store.readMarker("b", "g1")]).toEqual([5, 2, 0]);
        store.setReadMarker("a", "g1", 7);
        expect(store.readMarker("a", "g1")).toBe(7);
      });
    });

    describe("version 1.1: ACT-4 redactions and EPH-5 presence sharing", () => {
      const edit = (targetSeq: number, t: string): NewEvent => ({ senderUserId: "a", senderDeviceId: "d", body: { case: "action", value: { messageId: `edit-of-${targetSeq}-${t.length}`, targetSeq: BigInt(targetSeq), action: { case: "edit", value: { kind: { case: "text", value: { text: t } } } } } } });
      const react = (targetSeq: number): NewEvent => ({ senderUserId: "b", senderDeviceId: "d", body: { case: "action", value: { messageId: "r", targetSeq: BigInt(targetSeq), action: { case: "react", value: { emoji: "👍" } } } } });
      const caseAt = (seq: number) => store.event("g1", seq)?.body.case;

      it("ACT-4: redact turns the message and every edit of it into tombstones naming the redaction; other events stay whole", () => {
        group();
        const m = store.appendEvent("g1", { senderUserId: "a", senderDeviceId: "d", body: { case: "message", value: { messageId: "m1", content: { kind: { case: "text", value: { text: "secret" } } } } } });
        const other = store.appendEvent("g1", text("other"));
        const e1 = store.appendEvent("g1", edit(m, "secret 2"));
        const r = store.appendEvent("g1", react(m));
        const e2 = store.appendEvent("g1", edit(other, "other 2"));
        const e3 = store.appendEvent("g1", edit(m, "secret 3"));
        store.redact("g1", m, 99);
        expect([m, other, e1, r, e2, e3].map(caseAt)).toEqual(["redacted", "message", "redacted", "action", "action", "redacted"]);
        const tomb = store.event("g1", e1)!;
        expect(tomb.body.case === "redacted" && [tomb.body.value.messageId, tomb.body.value.redactionSeq, tomb.body.value.editOf]).toEqual([`edit-of-${m}-8`, 99n, BigInt(m)]);
        expect([tomb.seq, tomb.senderUserId]).toEqual([BigInt(e1), "a"]);
        expect(store.lastSeq("g1")).toBe(e3);
        expect(JSON.stringify(store.events("g1", 0, 100, 100), (_k, v) => (typeof v === "bigint" ? String(v) : v))).not.toMatch(/secret/);
      });

      it("ACT-4: a redaction inside a transaction that throws leaves everything whole", () => {
        group();
        const m = store.appendEvent("g1", text("kept"));
        const e = store.appendEvent("g1", edit(m, "kept 2"));
        expect(() =>
          store.transaction(() => {
            store.redact("g1", m, 3);
            fail();
          }),
        ).toThrow();
        expect([caseAt(m), caseAt(e)]).toEqual(["message", "action"]);
      });

      it("HIS-1: a conversation's history visibility is FROM_JOIN until set, kept per conversation, undone by a throwing transaction", () => {
        group();
        group("g2");
        expect(store.historyVisibility("g1")).toEqual({ visibility: HistoryVisibility.UNSPECIFIED, events: 0 });
        store.setHistoryVisibility("g1", { visibility: HistoryVisibility.LAST_EVENTS, events: 7 });
        expect([store.historyVisibility("g1"), store.historyVisibility("g2")]).toEqual([{ visibility: HistoryVisibility.LAST_EVENTS, events: 7 }, { visibility: HistoryVisibility.UNSPECIFIED, events: 0 }]);
        expect(() =>
          store.transaction(() => {
            store.setHistoryVisibility("g1", { visibility: HistoryVisibility.FULL, events: 0 });
            fail();
          }),
        ).toThrow();
        expect(store.historyVisibility("g1")).toEqual({ visibility: HistoryVisibility.LAST_EVENTS, events: 7 });
      });

      it("RCPT-4: receipt counts over current members who may read the seq, without the excluded; delivered by position or read marker", () => {
        group();
        const member = (userId: string, firstVisibleSeq: number, lastVisibleSeq = 0) =>
          store.setMembership({ conversationId: "g1", userId, role: Role.MEMBER, firstVisibleSeq, lastVisibleSeq });
        member("a", 1);
        member("b", 1);
        member("c", 1);
        member("late", 6);
        member("gone", 1, 4);
        store.setReadMarker("b", deliveredMarkerKey("g1"), 5);
        store.setReadMarker("c", "g1", 5);
        store.setReadMarker("gone", "g1", 9);
        store.setReadMarker("a", deliveredMarkerKey("g2"), 9); // another conversation's position counts for nothing here
        expect(store.receiptCounts("g1", 5, ["a"], false)).toEqual({ eligible: 2, delivered: 2, read: 1 });
        expect(store.receiptCounts("g1", 5, ["a", "b"], false)).toEqual({ eligible: 1, delivered: 1, read: 1 });
        expect(store.receiptCounts("g1", 6, [], false)).toEqual({ eligible: 4, delivered: 0, read: 0 });
        expect(store.receiptCounts("g1", 3, ["c"], true)).toEqual({ eligible: 3, delivered: 1, read: 0 });
        expect(store.receiptCounts("none", 1, [], false)).toEqual({ eligible: 0, delivered: 0, read: 0 });
      });

      it("HID-1: hidden seqs per user and conversation, ascending, within bounds, once each; undone by a throwing transaction", () => {
        group();
        store.hide("a", "g1", 5);
        store.hide("a", "g1", 2);
        store.hide("a", "g1", 5);
        store.hide("b", "g1", 3);
        expect([store.hiddenSeqs("a", "g1", 0, 100), store.hiddenSeqs("a", "g1", 2, 100), store.hiddenSeqs("a", "g1", 0, 4), store.hiddenSeqs("b", "g1", 0, 100), store.hiddenSeqs("a", "g2", 0, 100)]).toEqual([[2, 5], [5], [2], [3], []]);
        expect(() =>
          store.transaction(() => {
            store.hide("a", "g1", 9);
            fail();
          }),
        ).toThrow();
        expect(store.hiddenSeqs("a", "g1", 0, 100)).toEqual([2, 5]);
      });

      it("EPH-5: presence is shared until hidden, per user; a throwing transaction undoes the change", () => {
        store.addUser("a");
        expect(store.presenceHidden("a")).toBe(false);
        store.setPresenceHidden("a", true);
        expect([store.presenceHidden("a"), store.presenceHidden("b")]).toEqual([true, false]);
        expect(() =>
          store.transaction(() => {
            store.setPresenceHidden("a", false);
            fail();
          }),
        ).toThrow();
        expect(store.presenceHidden("a")).toBe(true);
        store.setPresenceHidden("a", false);
        expect(store.presenceHidden("a")).toBe(false);
      });
    });

    describe("transactions", () => {
      it("returns what the function returns, nested calls included, and keeps their writes", () => {
        group("g1");
        const seqs = store.transaction(() => [store.appendEvent("g1", text("a")), store.transaction(() => store.appendEvent("g1", text("b")))]);
        expect(seqs).toEqual([1, 2]);
        expect(store.lastSeq("g1")).toBe(2);
      });

      it("IDEM-2: a transaction that throws leaves none of its writes; a nested one that throws undoes only its own", () => {
        group("g1");
        store.setMembership(member("g1", "a"));
        store.setReceiveMode("a", "g1", ReceiveMode.MUTED);
        const key = { scope: "message", userId: "a", deviceId: "d", key: "k" } as const;
        const before = () => [store.lastSeq("g1"), store.headCursor("a"), store.hasUser("z"), store.conversation("g2"), store.dedup(key), store.receiveMode("a", "g1"), store.readMarker("a", "g1"), store.members("g1").length];
        const snapshot = before();
        expect(() =>
          store.transaction(() => {
            const seq = store.appendEvent("g1", text("lost"));
            store.appendUserEntry("a", { case: "eventRef", conversationId: "g1", seq });
            store.recordDedup(key, { conversationId: "g1", seq, messageId: "m", serverTimeMs: 1 });
            store.setReceiveMode("a", "g1", ReceiveMode.UNSPECIFIED);
            store.setReadMarker("a", "g1", seq);
            store.createConversation({ conversationId: "g2", kind: ConversationKind.GROUP, title: "", ownerUserId: "z" });
            store.setMembership(member("g2", "z"));
            store.setMembership({ ...member("g1", "a"), lastVisibleSeq: seq });
            throw new Error("the handler failed halfway");
          }),
        ).toThrow(/halfway/);
        expect(before()).toEqual(snapshot);

        const kept = store.transaction(() => {
          const first = store.appendEvent("g1", text("kept"));
          expect(() => store.transaction(() => (store.appendEvent("g1", text("undone")), store.setReadMarker("a", "g1", 9), fail()))).toThrow();
          return first;
        });
        expect([kept, store.lastSeq("g1"), store.readMarker("a", "g1")]).toEqual([1, 1, 0]);
      });

      it("writes made through a transaction read back inside it", () => {
        const cursor = store.transaction(() => {
          group("g1");
          store.setMembership(member("g1", "a"));
          const seq = store.appendEvent("g1", { ...text("x"), body: { case: "membership", value: { action: MembershipAction.CREATED, userIds: ["a"] } } });
          const cursor = store.appendUserEntry("a", { case: "eventRef", conversationId: "g1", seq });
          expect(store.members("g1").map((m) => m.userId)).toEqual(["a"]);
          expect(store.userEntries("a", 0, 10).map((e) => e.cursor)).toEqual([cursor]);
          return cursor;
        });
        expect(store.headCursor("a")).toBe(cursor);
      });
    });
  });
}

// MemoryStore defines the semantics; SqliteStore must copy them. The read fan-out and member contracts are in store-*.test.ts.
storeContract("MemoryStore", { open: () => new MemoryStore() });
storeContract("SqliteStore", { open: () => new SqliteStore(":memory:"), close: (store) => (store as SqliteStore).close() });
storeContract("WriteBehindStore", { open: writeBehindStore });
storeContract("WriteBehindStore, read back from its recorded batches", { open: replayedWriteBehindStore });
// Each store on a fresh schema of its own, dropped when the test ends (IMWIRE_POSTGRES_URL; required on CI).
withPostgres("Store contract: PostgresStore", () =>
  storeContract("PostgresStore", { open: () => openTestPostgresStore(), close: (store) => closeTestPostgresStore(store as PostgresStore) }),
);

function fail(): never {
  throw new Error("fails on purpose");
}
