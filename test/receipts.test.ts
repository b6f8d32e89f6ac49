import { describe, expect, it } from "vitest";
import { Feature } from "../src/gen/imwire/v1/connection_pb.js";
import { ConversationKind } from "../src/gen/imwire/v1/conversation_pb.js";
import { ErrorCode } from "../src/gen/imwire/v1/error_pb.js";
import type { Frame } from "../src/gen/imwire/v1/frame_pb.js";
import { ServerHarness } from "./support/server-harness.js";
import { MACHINE_STORES } from "./support/write-behind-stores.js";

/** Per-member receipts on the server machine (SPEC.md §16.1, RCPT-2 to RCPT-5), on every store. */

const text = (t: string) => ({ kind: { case: "text" as const, value: { text: t } } });
const errorOf = (frame: Frame) => (frame.body.case === "error" ? [frame.body.value.code, frame.body.value.requirement] : frame.body.case);

for (const [name, newStore] of MACHINE_STORES) {
  describe(`per-member receipts (RCPT-2 to RCPT-5) on ${name}`, () => {
    function setup(kind = ConversationKind.GROUP, others = ["b", "c"], options = {}) {
      const h = new ServerHarness(options, undefined, newStore());
      h.features = [Feature.RECEIPTS];
      const conn = new Map<string, number>();
      for (const user of ["a", ...others]) conn.set(user, h.loginAndSync(user, "d"));
      const a = conn.get("a")!;
      const channel = kind === ConversationKind.CHANNEL;
      const open = h.request(a, { case: "openConversation", value: { kind, userIds: channel ? [] : others, title: "g", clientConversationId: "g" } });
      if (open.body.case !== "conversationOpened") throw new Error(JSON.stringify(open.body));
      const id = open.body.value.conversation!.conversationId;
      // A channel's subscribers join it themselves (CONV-3).
      if (channel) for (const user of others) h.request(conn.get(user)!, { case: "openConversation", value: { conversationId: id } });
      const send = (user: string, t: string) => {
        const ack = h.request(conn.get(user)!, { case: "sendMessage", value: { conversationId: id, clientMessageId: `${user}.${t}`, content: text(t) } });
        if (ack.body.case !== "sendAck") throw new Error(JSON.stringify(ack.body));
        return ack.body.value.seq;
      };
      const holds = (user: string, seq: bigint) => h.send(conn.get(user)!, { case: "deliveryAck", value: { conversations: [{ conversationId: id, seq }] } });
      const receipts = (user: string, seq: bigint) => h.request(conn.get(user)!, { case: "listReceipts", value: { conversationId: id, seq } });
      const list = (user: string, seq: bigint) => {
        const answer = receipts(user, seq);
        if (answer.body.case !== "receipts") throw new Error(JSON.stringify(answer.body));
        return answer.body.value;
      };
      const newEntries = (user: string, since: number) => h.store.userEntries(user, since, 100).map((e) => e.body);
      return { h, id, conn, send, holds, list, receipts, newEntries };
    }

    it("RCPT-2 RCPT-4: each member's delivered position and read marker, listed in UTF-8 order, with counts for the seq asked", () => {
      const { h, conn, id, send, holds, list } = setup();
      const first = send("a", "one");
      const second = send("a", "two");
      holds("b", second);
      holds("c", first);
      h.request(conn.get("c")!, { case: "markRead", value: { conversationId: id, seq: first } });
      const answer = list("a", second);
      expect(answer.membersListed).toBe(true);
      expect(answer.members.map((m) => [m.userId, Number(m.deliveredSeq), Number(m.readSeq)])).toEqual([
        ["b", Number(second), 0],
        ["c", Number(first), Number(first)],
      ]);
      expect([answer.eligibleCount, answer.deliveredCount, answer.readCount]).toEqual([2, 1, 0]);
      const earlier = list("a", first);
      expect([earlier.eligibleCount, earlier.deliveredCount, earlier.readCount]).toEqual([2, 2, 1]);
    });

    it("RCPT-2: the position never moves backward, and a read marker above it counts as delivered", () => {
      const { h, conn, id, send, holds, list } = setup();
      send("a", "one");
      const second = send("a", "two");
      holds("b", second);
      holds("b", 1n);
      expect(Number(list("a", second).members[0]!.deliveredSeq)).toBe(Number(second));
      h.request(conn.get("c")!, { case: "markRead", value: { conversationId: id, seq: second } });
      const c = list("a", second).members[1]!;
      expect([c.userId, Number(c.deliveredSeq)]).toEqual(["c", Number(second)]);
      expect(list("a", second).deliveredCount).toBe(2);
    });

    it("RCPT-3: a move tells each other sender of the messages it covers, once, and nobody else", () => {
      const { h, send, holds, newEntries } = setup();
      send("a", "from a");
      const last = send("c", "from c");
      const [aHead, bHead, cHead] = ["a", "b", "c"].map((u) => h.store.headCursor(u));
      holds("b", last);
      expect(newEntries("a", aHead!)).toEqual([{ case: "deliveryReceipt", value: expect.objectContaining({ userId: "b", seq: last }) }]);
      expect(newEntries("c", cHead!)).toEqual([{ case: "deliveryReceipt", value: expect.objectContaining({ userId: "b", seq: last }) }]);
      expect(newEntries("b", bHead!)).toEqual([]);
      // Acknowledged again: nothing moved, nobody is told.
      holds("b", last);
      expect(newEntries("a", aHead!)).toHaveLength(1);
    });

    it("RCPT-3: a member's own messages bring it no receipt of its own delivery", () => {
      const { h, send, holds, newEntries } = setup();
      const seq = send("b", "mine");
      const head = h.store.headCursor("b");
      holds("b", seq);
      expect(newEntries("b", head)).toEqual([]);
    });

    it("RCPT-4: only a member, only a seq it may read, only a known conversation", () => {
      const { h, id, send, receipts } = setup();
      const seq = send("a", "one");
      expect(errorOf(receipts("a", seq + 5n))).toEqual([ErrorCode.INVALID_ARGUMENT, "RCPT-4"]);
      const outsider = h.loginAndSync("x", "d");
      expect(errorOf(h.request(outsider, { case: "listReceipts", value: { conversationId: id, seq } }))).toEqual([ErrorCode.PERMISSION_DENIED, "RCPT-4"]);
      expect(errorOf(h.request(outsider, { case: "listReceipts", value: { conversationId: "nope", seq } }))).toEqual([ErrorCode.NOT_FOUND, "RCPT-4"]);
    });

    it("RCPT-4: the event's sender and the requester are not counted; a member added later is not eligible for what came before", () => {
      const { h, conn, id, send, holds, list } = setup();
      const seq = send("b", "from b");
      holds("c", seq);
      const d = h.loginAndSync("dave", "d");
      h.request(conn.get("a")!, { case: "openConversation", value: { conversationId: id, userIds: ["dave"] } });
      const after = list("a", seq);
      expect([after.eligibleCount, after.deliveredCount]).toEqual([1, 1]); // c only: b sent it, dave came later
      expect(after.members.map((m) => m.userId)).toEqual(["b", "c", "dave"]);
      void d;
    });

    it("RCPT-3 RCPT-5: above the bound, counts only and no receipts to senders", () => {
      const { h, send, holds, list, newEntries } = setup(ConversationKind.GROUP, ["b", "c", "e"], { readReceiptMaxMembers: 3 });
      const seq = send("a", "one");
      const head = h.store.headCursor("a");
      holds("b", seq);
      holds("c", seq);
      expect(newEntries("a", head)).toEqual([]);
      const answer = list("a", seq);
      expect([answer.membersListed, answer.members.length, answer.eligibleCount, answer.deliveredCount]).toEqual([false, 0, 3, 2]);
    });

    it("RCPT-5 READ-4: a channel lists no member to anyone and tells its owner no delivery, but counts", () => {
      const { h, send, holds, list, newEntries } = setup(ConversationKind.CHANNEL, ["b", "c"]);
      const seq = send("a", "post");
      const head = h.store.headCursor("a");
      holds("b", seq);
      expect(newEntries("a", head)).toEqual([]);
      for (const user of ["a", "b"]) {
        const answer = list(user, seq);
        expect([answer.membersListed, answer.members.length]).toEqual([false, 0]);
      }
      expect([list("a", seq).eligibleCount, list("a", seq).deliveredCount]).toEqual([2, 1]);
    });
  });
}
