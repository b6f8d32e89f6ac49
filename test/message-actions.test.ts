import { describe, expect, it } from "vitest";
import { Feature } from "../src/gen/imwire/v1/connection_pb.js";
import { ConversationKind } from "../src/gen/imwire/v1/conversation_pb.js";
import { ErrorCode } from "../src/gen/imwire/v1/error_pb.js";
import type { Frame } from "../src/gen/imwire/v1/frame_pb.js";
import type { ActOnMessageSchema, ConversationEvent } from "../src/gen/imwire/v1/message_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { MessageView } from "../src/view/message-view.js";
import { ServerHarness } from "./support/server-harness.js";
import { MACHINE_STORES } from "./support/write-behind-stores.js";

/** Version 1.1 message actions on the server machine (ACT-1 to ACT-7), driven frame by frame, on every store. */

const text = (t: string) => ({ kind: { case: "text" as const, value: { text: t } } });
type Action = NonNullable<MessageInitShape<typeof ActOnMessageSchema>["action"]>;

const STORES = MACHINE_STORES;

for (const [name, newStore] of STORES) {
  describe(`message actions (ACT-1 to ACT-7) on ${name}`, () => {
    function setup(options = {}) {
      const h = new ServerHarness(options, undefined, newStore());
      h.features = [Feature.MESSAGE_ACTIONS];
      const a = h.loginAndSync("a", "d");
      const b = h.loginAndSync("b", "d");
      const open = h.request(a, { case: "openConversation", value: { kind: ConversationKind.GROUP, userIds: ["b"], title: "g", clientConversationId: "g" } });
      if (open.body.case !== "conversationOpened") throw new Error(JSON.stringify(open.body));
      const id = open.body.value.conversation!.conversationId;
      const send = (c: number, key: string) => {
        const ack = h.request(c, { case: "sendMessage", value: { conversationId: id, clientMessageId: key, content: text(key) } });
        if (ack.body.case !== "sendAck") throw new Error(JSON.stringify(ack.body));
        return ack.body.value.seq;
      };
      const act = (c: number, key: string, targetSeq: bigint, action: Action) => h.request(c, { case: "actOnMessage", value: { conversationId: id, clientMessageId: key, targetSeq, action } });
      const events = (c: number): ConversationEvent[] => {
        const page = h.request(c, { case: "syncConversation", value: { conversationId: id, limit: 1000 } });
        if (page.body.case !== "conversationPage") throw new Error(JSON.stringify(page.body));
        return page.body.value.events;
      };
      return { h, a, b, id, send, act, events };
    }
    const errorOf = (frame: Frame) => (frame.body.case === "error" ? [frame.body.value.code, frame.body.value.requirement] : frame.body.case);

    it("EXT-5 ACT-3: the feature is offered in welcome with the edit window; a v1.0 client gets neither", () => {
      const h = new ServerHarness({ editWindowS: 60 }, undefined, newStore());
      const c = h.open();
      const w = h.request(c, { case: "hello", value: { versions: [1], deviceId: "d", features: [Feature.MESSAGE_ACTIONS] } });
      expect(w.body.case === "welcome" && [w.body.value.features, w.body.value.editWindowS]).toEqual([[Feature.MESSAGE_ACTIONS], 60]);
      const old = h.request(h.open(), { case: "hello", value: { versions: [1], deviceId: "e" } });
      expect(old.body.case === "welcome" && [old.body.value.features, old.body.value.editWindowS]).toEqual([[], 0]);
    });

    it("ACT-1 ACT-3: an edit is an event referring to its target, answered with send_ack; a retry appends nothing", () => {
      const { a, send, act, events } = setup();
      const seq = send(a, "m1");
      const edited = act(a, "e1", seq, { case: "edit", value: text("m1, fixed") });
      expect(edited.body.case).toBe("sendAck");
      const again = act(a, "e1", seq, { case: "edit", value: text("m1, fixed") });
      expect(again.body).toEqual(edited.body);
      const log = events(a);
      const last = log.at(-1)!;
      expect(last.body.case === "action" && [last.body.value.targetSeq, last.body.value.action.case]).toEqual([seq, "edit"]);
      expect(log.filter((e) => e.body.case === "action")).toHaveLength(1);
    });

    it("ACT-3: only the sender edits, within the window; ACT-2: targets are messages the sender may read", () => {
      const { h, a, b, send, act } = setup({ editWindowS: 10 });
      const seq = send(a, "m1");
      expect(errorOf(act(b, "x1", seq, { case: "edit", value: text("not mine") }))).toEqual([ErrorCode.PERMISSION_DENIED, "ACT-3"]);
      expect(errorOf(act(a, "x2", 1n, { case: "edit", value: text("a membership event") }))).toEqual([ErrorCode.INVALID_ARGUMENT, "ACT-2"]);
      expect(errorOf(act(a, "x3", 99n, { case: "react", value: { emoji: "👍" } }))).toEqual([ErrorCode.INVALID_ARGUMENT, "ACT-2"]);
      const edit = act(a, "x4", seq, { case: "edit", value: text("ok") });
      expect(errorOf(act(a, "x5", (edit.body.value as { seq: bigint }).seq, { case: "edit", value: text("an edit of an edit") }))).toEqual([ErrorCode.INVALID_ARGUMENT, "ACT-2"]);
      h.advance(10_001);
      expect(errorOf(act(a, "x6", seq, { case: "edit", value: text("too late") }))).toEqual([ErrorCode.FAILED_PRECONDITION, "ACT-3"]);
    });

    it("ACT-4: a redaction leaves tombstones at the message and its edits, content gone; later actions on it are refused", () => {
      const { a, b, send, act, events } = setup();
      const seq = send(a, "secret");
      const edit = act(a, "e1", seq, { case: "edit", value: text("secret, edited") });
      const editSeq = (edit.body.value as { seq: bigint }).seq;
      act(b, "r1", seq, { case: "react", value: { emoji: "👀" } });
      expect(errorOf(act(b, "d0", seq, { case: "redact", value: {} }))).toEqual([ErrorCode.PERMISSION_DENIED, "ACT-4"]);
      const redaction = act(a, "d1", seq, { case: "redact", value: {} });
      const redactionSeq = (redaction.body.value as { seq: bigint }).seq;
      const log = events(b);
      const at = (s: bigint) => log.find((e) => e.seq === s)!;
      expect(at(seq).body).toEqual({ case: "redacted", value: expect.objectContaining({ redactionSeq, editOf: 0n }) });
      expect(at(editSeq).body).toEqual({ case: "redacted", value: expect.objectContaining({ redactionSeq, editOf: seq }) });
      expect(JSON.stringify(log, (_k, v) => (typeof v === "bigint" ? String(v) : v))).not.toMatch(/secret/);
      expect(log.map((e) => Number(e.seq))).toEqual(log.map((_, i) => i + 1)); // SEQ-1: no gap
      expect(errorOf(act(a, "e2", seq, { case: "edit", value: text("again") }))).toEqual([ErrorCode.FAILED_PRECONDITION, "ACT-2"]);
      expect(errorOf(act(b, "r2", seq, { case: "react", value: { emoji: "👍" } }))).toEqual([ErrorCode.FAILED_PRECONDITION, "ACT-2"]);
    });

    it("ACT-4: the conversation's owner may redact another member's message", () => {
      const { a, b, send, act } = setup();
      const seq = send(b, "from b");
      expect(act(a, "d1", seq, { case: "redact", value: {} }).body.case).toBe("sendAck");
    });

    it("ACT-5: emoji of 1 to 64 bytes; adding twice is once, removing takes it away", () => {
      const { a, b, send, act, events } = setup();
      const seq = send(a, "m1");
      expect(errorOf(act(b, "r0", seq, { case: "react", value: { emoji: "x".repeat(65) } }))).toEqual([ErrorCode.INVALID_ARGUMENT, "ACT-5"]);
      for (const [key, emoji, remove] of [["r1", "👍", false], ["r2", "👍", false], ["r3", "🎉", false], ["r4", "👍", true]] as const) {
        expect(act(b, key, seq, { case: "react", value: { emoji, remove } }).body.case).toBe("sendAck");
      }
      act(a, "r5", seq, { case: "react", value: { emoji: "👍" } });
      const view = new MessageView();
      for (const event of events(a)) view.apply(event);
      const reactions = view.message(Number(seq))!.reactions;
      expect([...reactions].map(([e, users]) => [e, [...users]])).toEqual([["🎉", ["b"]], ["👍", ["a"]]]);
    });

    it("ACT-1: former members and strangers are refused, unknown conversations not found", () => {
      const { h, a, b, id, send, act } = setup();
      const seq = send(a, "m1");
      const c = h.loginAndSync("c", "d");
      expect(errorOf(act(c, "x", seq, { case: "react", value: { emoji: "👍" } }))).toEqual([ErrorCode.PERMISSION_DENIED, "ACT-1"]);
      h.request(b, { case: "leaveConversation", value: { conversationId: id } });
      expect(errorOf(act(b, "y", seq, { case: "react", value: { emoji: "👍" } }))).toEqual([ErrorCode.PERMISSION_DENIED, "ACT-1"]);
      expect(errorOf(h.request(a, { case: "actOnMessage", value: { conversationId: "nope", clientMessageId: "z", targetSeq: 1n, action: { case: "react", value: { emoji: "👍" } } } }))).toEqual([ErrorCode.NOT_FOUND, "ACT-1"]);
    });

    it("ACT-7: a device that saw the message, its edit and its redaction live shows what a fresh device reading afterwards shows", () => {
      const { h, a, b, send, act, events } = setup();
      const live = new MessageView();
      const one = send(a, "one");
      const two = send(a, "two");
      act(a, "e1", one, { case: "edit", value: text("one, edited") });
      act(b, "r1", two, { case: "react", value: { emoji: "👍" } });
      for (const event of events(b)) live.apply(event); // b read everything so far
      act(a, "e2", two, { case: "edit", value: text("two, edited") });
      act(a, "d1", one, { case: "redact", value: {} });
      const all = events(b);
      for (const event of all) live.apply(event); // then the rest: duplicates ignored
      const fresh = new MessageView();
      for (const event of events(h.loginAndSync("a", "fresh"))) fresh.apply(event);
      const shown = (v: MessageView) => v.messages().map((m) => ({ ...m, reactions: [...m.reactions].map(([e, u]) => [e, [...u]]) }));
      expect(shown(live)).toEqual(shown(fresh));
      expect(live.message(Number(one))).toMatchObject({ redacted: true, content: undefined, edits: [Number(one) + 2] });
      expect(live.message(Number(two))?.content?.kind).toEqual({ case: "text", value: expect.objectContaining({ text: "two, edited" }) });
    });
  });
}
