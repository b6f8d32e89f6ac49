import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConversationKind, Role } from "../src/gen/imwire/v1/conversation_pb.js";
import { MemoryStore } from "../src/store/memory-store.js";
import { SqliteStore } from "../src/store/sqlite-store.js";
import { replayedWriteBehindStore, writeBehindStore } from "./support/write-behind-stores.js";
import { closeTestPostgresStore, openTestPostgresStore, withPostgres } from "./support/postgres.js";
import { PostgresStore } from "../src/store/postgres/postgres-store.js";
import type { Store, StoredMembership } from "../src/store/store.js";

/** The Store contract for member counts (CONV-9) and member pages (CONV-10): both stores, the same expectations. */
const STORES: [string, () => Store][] = [
  ["MemoryStore", () => new MemoryStore()],
  ["SqliteStore", () => new SqliteStore(":memory:")],
  ["WriteBehindStore", writeBehindStore],
  ["WriteBehindStore, read back from its recorded batches", replayedWriteBehindStore],
];
// On a fresh schema per store, dropped after each test (IMWIRE_POSTGRES_URL; required on CI).
withPostgres("Store member contract: PostgresStore", () => STORES.push(["PostgresStore", () => openTestPostgresStore()]));

const member = (userId: string, over: Partial<StoredMembership> = {}): StoredMembership => ({ conversationId: "g", userId, role: Role.MEMBER, firstVisibleSeq: 1, lastVisibleSeq: 0, ...over });

// In UTF-8 byte (code point) order. UTF-16 order differs: it puts "\u{1F600}" (a surrogate pair, 0xD83D…) before "\uE000" and "ｚ".
const IDS = ["Z", "a", "ab", "z", "é", "\uE000", "ｚ", "\u{1F600}"];

for (const [name, open] of STORES) {
  describe(`Store member contract: ${name}`, () => {
    let store: Store;
    beforeEach(() => {
      store = open();
      store.createConversation({ conversationId: "g", kind: ConversationKind.GROUP, title: "", ownerUserId: "o" });
    });
    afterEach(() => {
      if (store instanceof SqliteStore) store.close();
      if (store instanceof PostgresStore) closeTestPostgresStore(store);
    });

    const page = (after: string, limit: number) => store.membersPage("g", after, limit).map((m) => m.userId);

    it("CONV-9: memberCount counts current members through joins, updates, leaves and re-joins", () => {
      const counts: number[] = [];
      const set = (m: StoredMembership) => (store.setMembership(m), counts.push(store.memberCount("g")));
      set(member("a"));
      set(member("b"));
      set(member("a", { role: Role.OWNER })); // an update, not a second member
      set(member("b", { lastVisibleSeq: 3 })); // leaves
      set(member("b", { lastVisibleSeq: 4 })); // a former member's record changes: still gone
      set(member("b", { firstVisibleSeq: 5 })); // re-joins
      set(member("c", { lastVisibleSeq: 2 })); // recorded as former from the start
      expect(counts).toEqual([1, 2, 2, 1, 1, 2, 2]);
      expect(store.memberCount("g")).toBe(store.members("g").length);
    });

    it("CONV-9 IDEM-2: a rolled-back transaction leaves the count as it was, a nested one undoing only its own", () => {
      store.setMembership(member("a"));
      store.setMembership(member("b"));
      store.setMembership(member("gone", { lastVisibleSeq: 1 }));
      expect(() =>
        store.transaction(() => {
          store.setMembership(member("c"));
          store.setMembership(member("a", { lastVisibleSeq: 2 }));
          store.setMembership(member("gone", { firstVisibleSeq: 3 }));
          throw new Error("refused");
        }),
      ).toThrow("refused");
      expect(store.memberCount("g")).toBe(2);
      expect(page("", 10)).toEqual(["a", "b"]);
      store.transaction(() => {
        store.setMembership(member("c"));
        expect(() => store.transaction(() => (store.setMembership(member("d")), store.setMembership(member("b", { lastVisibleSeq: 2 })), fail()))).toThrow();
      });
      expect([store.memberCount("g"), page("", 10)]).toEqual([3, ["a", "b", "c"]]);
    });

    it("CONV-10: membersPage lists current members in UTF-8 byte order, after afterUserId, at most limit", () => {
      for (const id of [...IDS].reverse()) store.setMembership(member(id));
      store.setMembership(member("b", { lastVisibleSeq: 1 })); // a former member is not listed
      expect(page("", 100)).toEqual(IDS);
      expect(page("", 3)).toEqual(IDS.slice(0, 3));
      expect(store.membersPage("g", "", 1)).toEqual([member("Z")]);
      // afterUserId need not be a member: the page starts after where it would sort.
      expect(page("a", 2)).toEqual(["ab", "z"]);
      expect(page("b", 100)).toEqual(IDS.slice(3));
      expect(page("z", 100)).toEqual(["é", "\uE000", "ｚ", "\u{1F600}"]);
      expect(page("\uE000", 100)).toEqual(["ｚ", "\u{1F600}"]);
      expect(page("ｚ", 100)).toEqual(["\u{1F600}"]);
      expect(page("\u{1F600}", 100)).toEqual([]);
      expect(page("", 0)).toEqual([]);
      expect(page("", Infinity)).toEqual(IDS);
    });

    it("CONV-10: paging by the last user id of each page visits every current member once, while others join and leave", () => {
      for (const id of IDS) store.setMembership(member(id));
      const seen: string[] = [];
      for (let after = ""; ; ) {
        const ids = page(after, 3);
        if (ids.length === 0) break;
        seen.push(...ids);
        after = ids.at(-1)!;
        // Behind the boundary a join is not seen and a leave is not missed; ahead of it, both show.
        if (after === "ab") store.setMembership(member("A"));
        if (after === "ab") store.setMembership(member("é", { lastVisibleSeq: 2 }));
        if (after === "ab") store.setMembership(member("ｚｚ"));
      }
      expect(seen).toEqual(["Z", "a", "ab", "z", "\uE000", "ｚ", "ｚｚ", "\u{1F600}"]);
    });

    it("CONV-10: a page of an unknown conversation is refused", () => {
      expect(() => store.membersPage("nope", "", 10)).toThrow();
      store.createConversation({ conversationId: "empty", kind: ConversationKind.GROUP, title: "", ownerUserId: "o" });
      expect(store.membersPage("empty", "", 10)).toEqual([]);
    });
  });
}

function fail(): never {
  throw new Error("fails on purpose");
}
