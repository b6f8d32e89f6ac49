import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { ConversationKind, ConversationLeftSchema, ConversationOpenedSchema, Role } from "../src/gen/imwire/v1/conversation_pb.js";
import { ReadMarkerSchema } from "../src/gen/imwire/v1/delivery_pb.js";
import { MemoryStore } from "../src/store/memory-store.js";
import { SqliteStore } from "../src/store/sqlite-store.js";
import { replayedWriteBehindStore, writeBehindStore } from "./support/write-behind-stores.js";
import { closeTestPostgresStore, openTestPostgresStore, withPostgres } from "./support/postgres.js";
import { PostgresStore } from "../src/store/postgres/postgres-store.js";
import type { NewEvent, Store, StoredMembership, StoredUserEntry, StoredUserEntryBody } from "../src/store/store.js";

/**
 * The Store contract for read fan-out (CUR-7, CUR-8, SYNC-8): a conversation's
 * published events are entries of its members' streams, merged with what is
 * stored for each user, in one server-wide cursor order. Both stores, the
 * same expectations.
 */
const STORES: [string, () => Store][] = [
  ["MemoryStore", () => new MemoryStore()],
  ["SqliteStore", () => new SqliteStore(":memory:")],
  ["WriteBehindStore", writeBehindStore],
  ["WriteBehindStore, read back from its recorded batches", replayedWriteBehindStore],
];
// On a fresh schema per store, dropped after each test (IMWIRE_POSTGRES_URL; required on CI).
withPostgres("Store read fan-out contract: PostgresStore", () => STORES.push(["PostgresStore", () => openTestPostgresStore()]));

const text = (s: string): NewEvent => ({ senderUserId: "o", senderDeviceId: "d", body: { case: "message", value: { messageId: s, content: { kind: { case: "text", value: { text: s } } } } } });
const member = (conversationId: string, userId: string, over: Partial<StoredMembership> = {}): StoredMembership => ({ conversationId, userId, role: Role.MEMBER, firstVisibleSeq: 1, lastVisibleSeq: 0, ...over });
const marker = (seq: number): StoredUserEntryBody => ({ case: "readMarker", value: create(ReadMarkerSchema, { conversationId: "small", seq: BigInt(seq) }) });
const joined = (conversationId: string): StoredUserEntryBody => ({ case: "joined", value: create(ConversationOpenedSchema, { conversation: { conversationId } }) });
const left = (conversationId: string, seq: number): StoredUserEntryBody => ({ case: "left", value: create(ConversationLeftSchema, { conversationId, lastVisibleSeq: BigInt(seq) }) });

/** An entry as a short comparable form: `conversation#seq` for events (`~` marks a summary), the body case otherwise. */
function shown(entry: StoredUserEntry): [number, string] {
  const body = entry.body;
  return [entry.cursor, body.case === "eventRef" ? `${body.conversationId}#${body.seq}${entry.summary ? "~" : ""}` : body.case];
}

for (const [name, open] of STORES) {
  describe(`Store read fan-out contract: ${name}`, () => {
    let store: Store;
    beforeEach(() => {
      store = open();
    });
    afterEach(() => {
      if (store instanceof SqliteStore) store.close();
      if (store instanceof PostgresStore) closeTestPostgresStore(store);
    });

    const stream = (user: string, after = 0, limit = Infinity, summarize = false) => store.userEntries(user, after, limit, summarize).map(shown);
    /** A read-fan-out conversation's next event, published: [cursor, label]. */
    const publish = (conversationId: string, event = text("x")): [number, string] => {
      const seq = store.appendEvent(conversationId, event);
      return [store.publishEvent(conversationId, seq), `${conversationId}#${seq}`];
    };
    const stored = (user: string, body: StoredUserEntryBody): [number, string] => [store.appendUserEntry(user, body), body.case === "eventRef" ? `${body.conversationId}#${body.seq}` : body.case];
    const bigGroup = (conversationId = "big", readFanOutFromSeq = 1) =>
      store.createConversation({ conversationId, kind: ConversationKind.GROUP, title: "", ownerUserId: "o", readFanOutFromSeq });

    it("CUR-7 CUR-2: published events and stored entries make one stream, in the order their cursors were handed out", () => {
      bigGroup();
      store.setMembership(member("big", "u"));
      store.setMembership(member("big", "v"));
      const u = [publish("big"), stored("u", marker(1)), publish("big"), publish("big"), stored("u", marker(2)), publish("big")];
      expect(stream("u")).toEqual(u);
      // Paging (SYNC-3) from any cursor of the merged stream, whichever kind it is.
      expect(stream("u", u[1]![0], 2)).toEqual(u.slice(2, 4));
      expect(stream("u", u[3]![0], Infinity)).toEqual(u.slice(4));
      expect(stream("u", u[5]![0])).toEqual([]);
      // The other member reads the same events, and none of u's own entries.
      expect(stream("v")).toEqual(u.filter(([, label]) => label !== "readMarker"));
      expect(stream("nobody")).toEqual([]);
    });

    it("CUR-7: two read-fan-out conversations and a write-fan-out one interleave by cursor", () => {
      bigGroup("b1");
      bigGroup("b2");
      store.createConversation({ conversationId: "small", kind: ConversationKind.GROUP, title: "", ownerUserId: "o" });
      for (const c of ["b1", "b2", "small"]) store.setMembership(member(c, "u"));
      const seq = () => store.appendEvent("small", text("s"));
      const entries = [publish("b2"), publish("b1"), stored("u", { case: "eventRef", conversationId: "small", seq: seq() }), publish("b2"), publish("b1"), publish("b1")];
      expect(stream("u")).toEqual(entries);
      expect(stream("u", 0, 3)).toEqual(entries.slice(0, 3));
    });

    it("CUR-7 CONV-8 CONV-7: a membership that begins after some events sees only the events published after it began", () => {
      bigGroup();
      store.setMembership(member("big", "u"));
      publish("big");
      publish("big");
      // The ADDED event: appended, then the member and its joined entry, then the event is published (CONV-7).
      const seq = store.appendEvent("big", text("added late"));
      store.setMembership(member("big", "late", { firstVisibleSeq: seq }));
      const late = [stored("late", joined("big")), [store.publishEvent("big", seq), `big#${seq}`] as [number, string], publish("big")];
      expect(stream("late")).toEqual(late);
      expect(store.headCursor("late")).toBe(late[2]![0]);
      expect(stream("u").map(([, label]) => label)).toEqual(["big#1", "big#2", "big#3", "big#4"]);
    });

    it("CUR-7 CONV-8: a leave bounds what the former member sees, and keeps what it saw before", () => {
      bigGroup();
      store.setMembership(member("big", "u"));
      const before = [publish("big")];
      // A role change updates the same interval: nothing it saw goes away.
      store.setMembership(member("big", "u", { role: Role.OWNER }));
      before.push(publish("big"));
      const seq = store.appendEvent("big", text("removed"));
      store.setMembership(member("big", "u", { role: Role.OWNER, lastVisibleSeq: seq }));
      before.push([store.publishEvent("big", seq), `big#${seq}`], stored("u", left("big", seq)));
      publish("big");
      publish("big");
      expect(stream("u")).toEqual(before);
      expect(store.headCursor("u")).toBe(before[3]![0]);
    });

    it("CONV-8 CUR-7: a re-join starts a new interval: events published while away are not in the stream, those after it are", () => {
      bigGroup();
      store.setMembership(member("big", "u"));
      publish("big");
      const leave = store.appendEvent("big", text("removed"));
      store.setMembership(member("big", "u", { lastVisibleSeq: leave }));
      store.publishEvent("big", leave);
      const leftAt = stored("u", left("big", leave));
      publish("big"); // while away
      const again = store.appendEvent("big", text("added again"));
      store.setMembership(member("big", "u", { firstVisibleSeq: again }));
      const after = [stored("u", joined("big")), [store.publishEvent("big", again), `big#${again}`] as [number, string], publish("big")];
      expect(stream("u", leftAt[0])).toEqual(after);
      expect(store.headCursor("u")).toBe(after[2]![0]);
    });

    it("CUR-7 CONV-8: after a re-join, the earlier interval's published events leave the stream with it; its stored left and joined entries stay", () => {
      bigGroup();
      store.setMembership(member("big", "u"));
      const first = [publish("big"), publish("big")];
      const leave = store.appendEvent("big", text("removed"));
      store.setMembership(member("big", "u", { lastVisibleSeq: leave }));
      first.push([store.publishEvent("big", leave), `big#${leave}`], stored("u", left("big", leave)));
      expect(stream("u")).toEqual(first);
      const again = store.appendEvent("big", text("added again"));
      store.setMembership(member("big", "u", { firstVisibleSeq: again }));
      const rejoined = [stored("u", joined("big")), [store.publishEvent("big", again), `big#${again}`] as [number, string]];
      // A device offline since before the leave pages from 0: the earlier interval is no longer served (CONV-8), so
      // its events are not in the stream; the device learns it left and joined again from the stored entries.
      expect(stream("u")).toEqual([first[3]!, ...rejoined]);
    });

    it("CUR-8: moved mid-conversation, each event is in the stream exactly once, stored before the move and published after", () => {
      store.createConversation({ conversationId: "g", kind: ConversationKind.GROUP, title: "", ownerUserId: "o" });
      for (const u of ["u", "v"]) store.setMembership(member("g", u));
      for (let i = 0; i < 3; i++) {
        const seq = store.appendEvent("g", text(`w${i}`));
        for (const u of ["u", "v"]) store.appendUserEntry(u, { case: "eventRef", conversationId: "g", seq });
      }
      // The ADDED event that takes the group over the threshold is the first published one (CUR-8).
      const added = store.appendEvent("g", text("added"));
      store.setMembership(member("g", "w", { firstVisibleSeq: added }));
      store.appendUserEntry("w", joined("g"));
      store.startReadFanOut("g", added);
      store.publishEvent("g", added);
      publish("g");
      publish("g");
      for (const u of ["u", "v"]) {
        const entries = stream(u);
        expect(entries.map(([, label]) => label)).toEqual(["g#1", "g#2", "g#3", "g#4", "g#5", "g#6"]);
        expect(entries.every(([cursor], i) => i === 0 || cursor > entries[i - 1]![0])).toBe(true);
      }
      expect(stream("w").map(([, label]) => label)).toEqual(["joined", "g#4", "g#5", "g#6"]);
    });

    it("SYNC-8: with summarize, several events of a conversation give one summary at the newest; one event gives a plain entry", () => {
      bigGroup("many");
      bigGroup("one");
      for (const c of ["many", "one"]) store.setMembership(member(c, "u"));
      publish("many");
      const s1 = stored("u", marker(1));
      const o1 = publish("one");
      publish("many");
      const s2 = stored("u", marker(2));
      const m3 = publish("many");
      expect(store.userEntries("u", 0, Infinity, true).map(shown)).toEqual([s1, o1, s2, [m3[0], "many#3~"]]);
      expect(store.userEntries("u", 0, Infinity, true).filter((e) => e.summary !== undefined)).toHaveLength(1);
      // Only the events after the position asked from count: one left is a plain entry.
      expect(stream("u", s2[0], Infinity, true)).toEqual([m3]);
      expect(stream("u", o1[0], Infinity, true)).toEqual([s2, [m3[0], "many#3~"]]);
      // The limit applies to the merged, summarised stream.
      expect(stream("u", 0, 2, true)).toEqual([s1, o1]);
      expect(stream("u", o1[0], 1, true)).toEqual([s2]);
      // Without summarize, every event.
      expect(stream("u").map(([, label]) => label)).toEqual(["many#1", "readMarker", "one#1", "many#2", "readMarker", "many#3"]);
    });

    it("SYNC-8 CONV-8: a former member's summary stands for its last visible event, not the conversation's newest", () => {
      bigGroup();
      store.setMembership(member("big", "u"));
      publish("big");
      const leave = store.appendEvent("big", text("removed"));
      store.setMembership(member("big", "u", { lastVisibleSeq: leave }));
      const last = store.publishEvent("big", leave);
      publish("big");
      expect(stream("u", 0, Infinity, true)).toEqual([[last, `big#${leave}~`]]);
    });

    it("CUR-6 CUR-7: headCursor is the newest of the stored entries and the published events the user may see", () => {
      bigGroup();
      expect(store.headCursor("u")).toBe(0);
      const early = publish("big");
      store.setMembership(member("big", "u"));
      expect(store.headCursor("u")).toBe(0); // published before the membership began
      const p = publish("big");
      expect(store.headCursor("u")).toBe(p[0]);
      const s = stored("u", marker(1));
      expect(store.headCursor("u")).toBe(s[0]);
      const q = publish("big");
      expect(store.headCursor("u")).toBe(q[0]);
      expect(store.headCursor("u")).toBe(stream("u").at(-1)![0]);
      expect(early[0]).toBeLessThan(p[0]);
    });

    it("CUR-5: storedEntriesAfter counts the stored entries only, after a cursor, no further than the cap", () => {
      bigGroup();
      store.setMembership(member("big", "u"));
      const s1 = stored("u", marker(1));
      const p1 = publish("big");
      stored("u", marker(2));
      publish("big");
      stored("u", marker(3));
      expect(store.storedEntriesAfter("u", 0, 100)).toBe(3);
      expect(store.storedEntriesAfter("u", 0, 2)).toBe(2);
      expect(store.storedEntriesAfter("u", s1[0], 100)).toBe(2);
      expect(store.storedEntriesAfter("u", p1[0], 100)).toBe(2);
      expect(store.storedEntriesAfter("u", store.headCursor("u"), 100)).toBe(0);
      expect(store.storedEntriesAfter("nobody", 0, 100)).toBe(0);
    });

    describe("IDEM-2: a transaction that throws leaves no trace of its read fan-out writes", () => {
      const throwing = (fn: () => void) => expect(() => store.transaction(() => (fn(), fail()))).toThrow(/on purpose/);

      it("a rolled-back publish is not in any stream, and the event published later appears once", () => {
        bigGroup();
        store.setMembership(member("big", "u"));
        const p = publish("big");
        const seq = store.appendEvent("big", text("x"));
        throwing(() => store.publishEvent("big", seq));
        throwing(() => publish("big"));
        expect([stream("u"), store.headCursor("u"), store.lastSeq("big")]).toEqual([[p], p[0], seq]);
        const q = store.publishEvent("big", seq);
        expect(stream("u")).toEqual([p, [q, `big#${seq}`]]);
        expect(stream("u", 0, Infinity, true)).toEqual([[q, `big#${seq}~`]]);
      });

      it("a rolled-back startReadFanOut leaves the conversation under write fan-out, free to move later", () => {
        store.createConversation({ conversationId: "g", kind: ConversationKind.GROUP, title: "", ownerUserId: "o" });
        store.setMembership(member("g", "u"));
        throwing(() => {
          store.startReadFanOut("g", 1);
          publish("g");
        });
        expect([store.conversation("g")?.readFanOutFromSeq, stream("u"), store.headCursor("u")]).toEqual([0, [], 0]);
        store.startReadFanOut("g", 1);
        expect(store.conversation("g")?.readFanOutFromSeq).toBe(1);
        const p = publish("g");
        expect(stream("u")).toEqual([p]);
      });

      it("rolled-back joins, leaves and re-joins leave every interval as it was", () => {
        bigGroup();
        store.setMembership(member("big", "u"));
        store.setMembership(member("big", "gone"));
        const e1 = publish("big");
        store.setMembership(member("big", "gone", { lastVisibleSeq: 1 }));
        throwing(() => store.setMembership(member("big", "joiner")));
        throwing(() => store.setMembership(member("big", "u", { lastVisibleSeq: 1 })));
        throwing(() => store.setMembership(member("big", "gone", { firstVisibleSeq: 2 })));
        const p = publish("big");
        expect([stream("u"), stream("joiner"), stream("gone")]).toEqual([[e1, p], [], [e1]]);
        expect([store.membership("big", "joiner"), store.membership("big", "u"), store.membership("big", "gone")]).toEqual([undefined, member("big", "u"), member("big", "gone", { lastVisibleSeq: 1 })]);
        expect(store.hasUser("joiner")).toBe(false);
      });

      it("a nested transaction's rollback undoes only its own publish", () => {
        bigGroup();
        store.setMembership(member("big", "u"));
        const kept = store.transaction(() => {
          const first = publish("big");
          expect(() => store.transaction(() => (publish("big"), fail()))).toThrow();
          return first;
        });
        expect(stream("u")).toEqual([kept]);
        expect(store.headCursor("u")).toBe(kept[0]);
      });
    });
  });
}

function fail(): never {
  throw new Error("fails on purpose");
}
