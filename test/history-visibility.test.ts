import { describe, expect, it } from "vitest";
import { Feature } from "../src/gen/imwire/v1/connection_pb.js";
import { ConversationKind, HistoryVisibility } from "../src/gen/imwire/v1/conversation_pb.js";
import { ErrorCode } from "../src/gen/imwire/v1/error_pb.js";
import type { Frame } from "../src/gen/imwire/v1/frame_pb.js";
import { ServerHarness } from "./support/server-harness.js";
import { MACHINE_STORES } from "./support/write-behind-stores.js";

/** History visibility for new members of a group (SPEC.md §7.1, HIS-1 to HIS-3), on every store. */

const STORES = MACHINE_STORES;
const text = (t: string) => ({ kind: { case: "text" as const, value: { text: t } } });
const errorOf = (frame: Frame) => (frame.body.case === "error" ? [frame.body.value.code, frame.body.value.requirement] : frame.body.case);

for (const [name, newStore] of STORES) {
  describe(`history visibility (HIS-1 to HIS-3) on ${name}`, () => {
    function setup() {
      const h = new ServerHarness({}, undefined, newStore());
      h.features = [Feature.HISTORY_VISIBILITY];
      const a = h.loginAndSync("a", "d");
      const b = h.loginAndSync("b", "d");
      for (const u of ["c", "d", "e"]) h.loginAndSync(u, "d");
      const open = h.request(a, { case: "openConversation", value: { kind: ConversationKind.GROUP, userIds: ["b"], title: "g", clientConversationId: "g" } });
      if (open.body.case !== "conversationOpened") throw new Error(JSON.stringify(open.body));
      const id = open.body.value.conversation!.conversationId;
      for (let i = 0; i < 5; i++) h.request(a, { case: "sendMessage", value: { conversationId: id, clientMessageId: `m${i}`, content: text(`m${i}`) } });
      const set = (conn: number, visibility: HistoryVisibility, historyEvents = 0) => h.request(conn, { case: "setHistoryVisibility", value: { conversationId: id, visibility, historyEvents } });
      const add = (user: string) => {
        const answer = h.request(a, { case: "openConversation", value: { conversationId: id, userIds: [user] } });
        if (answer.body.case !== "conversationOpened") throw new Error(JSON.stringify(answer.body));
        return h.store.membership(id, user)!;
      };
      return { h, a, b, id, set, add };
    }

    it("HIS-3: FROM_JOIN by default; LAST_EVENTS N opens N events before the ADDED one; FULL from seq 1", () => {
      const { h, a, id, set, add } = setup();
      const c = add("c");
      expect(c.firstVisibleSeq).toBe(h.store.lastSeq(id)); // the ADDED event itself
      set(a, HistoryVisibility.LAST_EVENTS, 3);
      const d = add("d");
      expect(d.firstVisibleSeq).toBe(h.store.lastSeq(id) - 3);
      set(a, HistoryVisibility.FULL);
      expect(add("e").firstVisibleSeq).toBe(1);
      expect(h.store.membership(id, "c")!.firstVisibleSeq).toBe(c.firstVisibleSeq); // HIS-3: begun intervals stay
    });

    it("HIS-3: a new member reads the opened history with sync_conversation, and not one event more", () => {
      const { h, a, id, set, add } = setup();
      set(a, HistoryVisibility.LAST_EVENTS, 2);
      const d = add("d");
      const device = h.loginAndSync("d", "d2");
      const page = h.request(device, { case: "syncConversation", value: { conversationId: id } });
      if (page.body.case !== "conversationPage") throw new Error(JSON.stringify(page.body));
      expect(page.body.value.events.map((e) => Number(e.seq))[0]).toBe(d.firstVisibleSeq);
      expect(page.body.value.firstVisibleSeq).toBe(BigInt(d.firstVisibleSeq));
    });

    it("HIS-1 HIS-2: owners of groups only, N within 1 to 1000; the change is an event and the answer describes the group; the same setting again appends nothing", () => {
      const { h, a, b, id, set } = setup();
      expect(errorOf(set(b, HistoryVisibility.FULL))).toEqual([ErrorCode.PERMISSION_DENIED, "HIS-2"]);
      expect(errorOf(set(a, HistoryVisibility.LAST_EVENTS, 0))).toEqual([ErrorCode.INVALID_ARGUMENT, "HIS-2"]);
      expect(errorOf(set(a, HistoryVisibility.LAST_EVENTS, 1001))).toEqual([ErrorCode.INVALID_ARGUMENT, "HIS-2"]);
      const before = h.store.lastSeq(id);
      const answer = set(a, HistoryVisibility.LAST_EVENTS, 10);
      expect(answer.body.case === "conversationOpened" && [answer.body.value.conversation!.historyVisibility, answer.body.value.conversation!.historyEvents]).toEqual([HistoryVisibility.LAST_EVENTS, 10]);
      expect(h.store.lastSeq(id)).toBe(before + 1);
      const event = h.store.event(id, before + 1)!;
      expect(event.body.case === "historyVisibility" && [event.body.value.visibility, event.body.value.historyEvents]).toEqual([HistoryVisibility.LAST_EVENTS, 10]);
      set(a, HistoryVisibility.LAST_EVENTS, 10);
      expect(h.store.lastSeq(id)).toBe(before + 1);
      const direct = h.request(a, { case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: ["c"] } });
      const directId = direct.body.case === "conversationOpened" ? direct.body.value.conversation!.conversationId : "";
      const refused = h.request(a, { case: "setHistoryVisibility", value: { conversationId: directId, visibility: HistoryVisibility.FULL } });
      expect(refused.body.case).toBe("error");
      expect(errorOf(h.request(a, { case: "setHistoryVisibility", value: { conversationId: "nope", visibility: HistoryVisibility.FULL } }))).toEqual([ErrorCode.NOT_FOUND, "HIS-2"]);
    });
  });
}
