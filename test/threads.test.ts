import { describe, expect, it } from "vitest";
import { Feature } from "../src/gen/imwire/v1/connection_pb.js";
import { ConversationKind } from "../src/gen/imwire/v1/conversation_pb.js";
import { ErrorCode } from "../src/gen/imwire/v1/error_pb.js";
import type { Frame } from "../src/gen/imwire/v1/frame_pb.js";
import { ServerHarness } from "./support/server-harness.js";
import { MACHINE_STORES } from "./support/write-behind-stores.js";

/** Threads on the server machine (SPEC.md §8.2, THR-1 to THR-4), on every store. */

const text = (t: string) => ({ kind: { case: "text" as const, value: { text: t } } });
const STORES = MACHINE_STORES;
const errorOf = (frame: Frame) => (frame.body.case === "error" ? [frame.body.value.code, frame.body.value.requirement] : frame.body.case);

for (const [name, newStore] of STORES) {
  describe(`threads (THR-1 to THR-4) on ${name}`, () => {
    function setup() {
      const h = new ServerHarness({}, undefined, newStore());
      h.features = [Feature.THREADS, Feature.MESSAGE_ACTIONS];
      const a = h.loginAndSync("a", "d");
      const b = h.loginAndSync("b", "d");
      const open = h.request(a, { case: "openConversation", value: { kind: ConversationKind.GROUP, userIds: ["b"], title: "g", clientConversationId: "g" } });
      if (open.body.case !== "conversationOpened") throw new Error(JSON.stringify(open.body));
      const id = open.body.value.conversation!.conversationId;
      const send = (c: number, key: string, threadRootSeq = 0n) => h.request(c, { case: "sendMessage", value: { conversationId: id, clientMessageId: key, content: text(key), threadRootSeq } });
      const seqOf = (f: Frame) => (f.body.case === "sendAck" ? f.body.value.seq : (() => { throw new Error(JSON.stringify(f.body)); })());
      const thread = (c: number, root: bigint, afterSeq = 0n, limit = 0) => {
        const page = h.request(c, { case: "syncConversation", value: { conversationId: id, threadRootSeq: root, afterSeq, limit } });
        if (page.body.case !== "conversationPage") return page;
        return page.body.value;
      };
      return { h, a, b, id, send, seqOf, thread };
    }

    it("THR-1 THR-2: replies carry their root; a thread page holds the root and its replies only, in seq order, paged", () => {
      const { a, b, send, seqOf, thread } = setup();
      const root = seqOf(send(a, "root"));
      const other = seqOf(send(b, "other"));
      const r1 = seqOf(send(b, "r1", root));
      seqOf(send(a, "unrelated"));
      const r2 = seqOf(send(a, "r2", root));
      const page = thread(b, root) as { events: { seq: bigint; body: { value: { threadRootSeq?: bigint } } }[]; hasMore: boolean };
      expect(page.events.map((e) => e.seq)).toEqual([root, r1, r2]);
      expect(page.events[1]!.body.value.threadRootSeq).toBe(root);
      expect(page.hasMore).toBe(false);
      const first = thread(b, root, 0n, 2) as { events: { seq: bigint }[]; hasMore: boolean };
      expect([first.events.map((e) => e.seq), first.hasMore]).toEqual([[root, r1], true]);
      const rest = thread(b, root, r1, 2) as { events: { seq: bigint }[]; hasMore: boolean };
      expect([rest.events.map((e) => e.seq), rest.hasMore]).toEqual([[r2], false]);
      expect(other).toBe(root + 1n);
    });

    it("THR-1: the root must be a readable message that is not itself a reply", () => {
      const { a, send, seqOf } = setup();
      const root = seqOf(send(a, "root"));
      const reply = seqOf(send(a, "reply", root));
      expect(errorOf(send(a, "x1", reply))).toEqual([ErrorCode.INVALID_ARGUMENT, "THR-1"]);
      expect(errorOf(send(a, "x2", 1n))).toEqual([ErrorCode.INVALID_ARGUMENT, "THR-1"]); // the membership event
      expect(errorOf(send(a, "x3", 99n))).toEqual([ErrorCode.INVALID_ARGUMENT, "THR-1"]);
    });

    it("THR-3: a thread's marker is its own, moves forward only, reaches the user's stream, and leaves the conversation's alone", () => {
      const { h, a, b, id, send, seqOf } = setup();
      const root = seqOf(send(a, "root"));
      const r1 = seqOf(send(b, "r1", root));
      const r2 = seqOf(send(b, "r2", root));
      const mark = (seq: bigint) => h.request(a, { case: "markRead", value: { conversationId: id, seq, threadRootSeq: root } });
      const head = h.store.headCursor("a");
      expect(mark(r2).body).toEqual({ case: "readMarker", value: expect.objectContaining({ seq: r2, threadRootSeq: root }) });
      expect(mark(r1).body).toEqual({ case: "readMarker", value: expect.objectContaining({ seq: r2, threadRootSeq: root }) });
      const entries = h.store.userEntries("a", head, 10);
      expect(entries.map((e) => e.body.case)).toEqual(["readMarker"]);
      expect(h.store.readMarker("a", id)).toBe(0); // the conversation's marker did not move
      const conversationMarker = h.request(a, { case: "markRead", value: { conversationId: id, seq: root } });
      expect(conversationMarker.body).toEqual({ case: "readMarker", value: expect.objectContaining({ seq: root, threadRootSeq: 0n }) });
      expect(errorOf(h.request(a, { case: "markRead", value: { conversationId: id, seq: r2, threadRootSeq: r1 } }))).toEqual([ErrorCode.INVALID_ARGUMENT, "THR-3"]);
    });

    it("THR-4: a redacted reply stays in its thread as a tombstone; a redacted root keeps its thread", () => {
      const { h, a, b, id, send, seqOf, thread } = setup();
      const root = seqOf(send(a, "root"));
      const r1 = seqOf(send(b, "r1", root));
      h.request(b, { case: "actOnMessage", value: { conversationId: id, clientMessageId: "d1", targetSeq: r1, action: { case: "redact", value: {} } } });
      h.request(a, { case: "actOnMessage", value: { conversationId: id, clientMessageId: "d2", targetSeq: root, action: { case: "redact", value: {} } } });
      const r2 = seqOf(send(b, "r2", root));
      const page = thread(a, root) as { events: { seq: bigint; body: { case: string } }[] };
      expect(page.events.map((e) => [e.seq, e.body.case])).toEqual([[root, "redacted"], [r1, "redacted"], [r2, "message"]]);
    });
  });
}
