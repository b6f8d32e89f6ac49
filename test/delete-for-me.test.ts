import { describe, expect, it } from "vitest";
import { Feature } from "../src/gen/imwire/v1/connection_pb.js";
import { ConversationKind } from "../src/gen/imwire/v1/conversation_pb.js";
import { ErrorCode } from "../src/gen/imwire/v1/error_pb.js";
import type { Frame } from "../src/gen/imwire/v1/frame_pb.js";
import { ServerHarness } from "./support/server-harness.js";
import { MACHINE_STORES } from "./support/write-behind-stores.js";

/** Delete for me on the server machine (SPEC.md §8.3, HID-1 to HID-3), on every store. */

const text = (t: string) => ({ kind: { case: "text" as const, value: { text: t } } });
const errorOf = (frame: Frame) => (frame.body.case === "error" ? [frame.body.value.code, frame.body.value.requirement] : frame.body.case);

for (const [name, newStore] of MACHINE_STORES) {
  describe(`delete for me (HID-1 to HID-3) on ${name}`, () => {
    function setup() {
      const h = new ServerHarness({}, undefined, newStore());
      h.features = [Feature.DELETE_FOR_ME];
      const a = h.loginAndSync("a", "d");
      const b = h.loginAndSync("b", "d");
      const open = h.request(a, { case: "openConversation", value: { kind: ConversationKind.GROUP, userIds: ["b"], title: "g", clientConversationId: "g" } });
      if (open.body.case !== "conversationOpened") throw new Error(JSON.stringify(open.body));
      const id = open.body.value.conversation!.conversationId;
      for (let i = 0; i < 3; i++) h.request(a, { case: "sendMessage", value: { conversationId: id, clientMessageId: `m${i}`, content: text(`m${i}`) } });
      const hide = (conn: number, seq: bigint) => h.request(conn, { case: "hideMessage", value: { conversationId: id, seq } });
      const page = (conn: number) => {
        const answer = h.request(conn, { case: "syncConversation", value: { conversationId: id } });
        if (answer.body.case !== "conversationPage") throw new Error(JSON.stringify(answer.body));
        return answer.body.value;
      };
      return { h, a, b, id, hide, page };
    }

    it("HID-1 HID-3: a hidden event stays in the sequence for everyone; the hider's pages list it, others' do not", () => {
      const { h, a, b, id, hide, page } = setup();
      const last = h.store.lastSeq(id);
      expect(hide(a, 2n).body).toEqual({ case: "messageHidden", value: expect.objectContaining({ conversationId: id, seq: 2n }) });
      expect(h.store.lastSeq(id)).toBe(last);
      expect(page(a).hiddenSeqs).toEqual([2n]);
      expect(page(b).hiddenSeqs).toEqual([]);
      expect(page(b).events.map((e) => Number(e.seq))).toEqual(page(a).events.map((e) => Number(e.seq)));
    });

    it("HID-2: a newly hidden event is one `hidden` entry of the user's stream; hiding it again appends nothing", () => {
      const { h, a, hide } = setup();
      const head = h.store.headCursor("a");
      hide(a, 3n);
      hide(a, 3n);
      const entries = h.store.userEntries("a", head, 10);
      expect(entries.map((e) => e.body.case)).toEqual(["hidden"]);
      expect(h.store.userEntries("b", h.store.headCursor("b"), 10)).toEqual([]);
    });

    it("HID-1: only seqs the user may read; strangers and unknown conversations refused", () => {
      const { h, a, id, hide } = setup();
      expect(errorOf(hide(a, 99n))).toEqual([ErrorCode.INVALID_ARGUMENT, "HID-1"]);
      const c = h.loginAndSync("c", "d");
      expect(errorOf(hide(c, 1n))).toEqual([ErrorCode.PERMISSION_DENIED, "HID-1"]);
      expect(errorOf(h.request(a, { case: "hideMessage", value: { conversationId: "nope", seq: 1n } }))).toEqual([ErrorCode.NOT_FOUND, "HID-1"]);
      void id;
    });
  });
}
