import { describe, expect, it } from "vitest";
import { Feature } from "../src/gen/imwire/v1/connection_pb.js";
import { ConversationKind } from "../src/gen/imwire/v1/conversation_pb.js";
import type { Frame } from "../src/gen/imwire/v1/frame_pb.js";
import { DeviceState } from "../src/gen/imwire/v1/settings_pb.js";
import { ServerHarness } from "./support/server-harness.js";
import { MACHINE_STORES } from "./support/write-behind-stores.js";

/** Typing indicators and presence on the server machine (SPEC.md §15.1, EPH-1 to EPH-5). */

const STORES = MACHINE_STORES;

const kinds = (frames: Frame[]) => frames.map((f) => f.body.case);
const typingOf = (frames: Frame[]) => frames.flatMap((f) => (f.body.case === "typing" ? [[f.body.value.userId, f.body.value.typing]] : []));
const presenceOf = (frames: Frame[]) => frames.flatMap((f) => (f.body.case === "presence" ? [[f.body.value.userId, f.body.value.online, Number(f.body.value.lastSeenMs)]] : []));

for (const [name, newStore] of STORES) {
  describe(`typing and presence (EPH-1 to EPH-5) on ${name}`, () => {
    function setup() {
      const h = new ServerHarness({}, undefined, newStore());
      h.features = [Feature.EPHEMERAL];
      const a = h.loginAndSync("a", "d");
      const b = h.loginAndSync("b", "d");
      const c = h.loginAndSync("c", "d");
      const open = h.request(a, { case: "openConversation", value: { kind: ConversationKind.GROUP, userIds: ["b", "c"], title: "g", clientConversationId: "g" } });
      if (open.body.case !== "conversationOpened") throw new Error(JSON.stringify(open.body));
      const id = open.body.value.conversation!.conversationId;
      const view = (conn: number, conversationId: string, state = DeviceState.FOREGROUND) => h.request(conn, { case: "setDeviceState", value: { state, viewingConversationId: conversationId } });
      const type = (conn: number, typing = true) => h.send(conn, { case: "setTyping", value: { conversationId: id, typing } }, 0);
      for (const conn of [a, b, c]) h.take(conn);
      return { h, a, b, c, id, view, type };
    }

    it("EPH-2: typing reaches the other members' devices viewing the conversation in the foreground, nobody else; EPH-1: nothing stored, no cursor moves", () => {
      const { h, a, b, c, id, view, type } = setup();
      view(b, id);
      view(c, id, DeviceState.BACKGROUND);
      view(a, id);
      const heads = ["a", "b", "c"].map((u) => h.store.headCursor(u));
      const lastSeq = h.store.lastSeq(id);
      expect(type(a)).toEqual([]); // a notice: never answered
      expect(typingOf(h.take(b))).toEqual([["a", true]]);
      expect(typingOf(h.take(c))).toEqual([]);
      expect(typingOf(h.take(a))).toEqual([]); // not to the typer itself
      expect(["a", "b", "c"].map((u) => h.store.headCursor(u))).toEqual(heads);
      expect(h.store.lastSeq(id)).toBe(lastSeq);
    });

    it("EPH-2: a non-member's typing is dropped; a device that stopped viewing hears no more", () => {
      const { h, b, id, view } = setup();
      view(b, id);
      const stranger = h.loginAndSync("z", "d");
      h.send(stranger, { case: "setTyping", value: { conversationId: id, typing: true } }, 0);
      expect(typingOf(h.take(b))).toEqual([]);
      const a2 = h.loginAndSync("a", "d2");
      view(b, "");
      h.send(a2, { case: "setTyping", value: { conversationId: id, typing: true } }, 0);
      expect(typingOf(h.take(b))).toEqual([]);
    });

    it("EPH-3: at most one typing true per user and conversation per second; a stop always goes", () => {
      const { h, a, b, id, view, type } = setup();
      view(b, id);
      type(a);
      type(a);
      h.advance(500);
      type(a);
      expect(typingOf(h.take(b))).toEqual([["a", true]]);
      type(a, false);
      expect(typingOf(h.take(b))).toEqual([["a", false]]);
      h.advance(600);
      type(a);
      expect(typingOf(h.take(b))).toEqual([["a", true]]);
    });

    it("EPH-1: a device without the feature gets no typing and no presence", () => {
      const { h, a, id, type } = setup();
      h.features = [];
      const old = h.loginAndSync("b", "old");
      h.request(old, { case: "setDeviceState", value: { state: DeviceState.FOREGROUND, viewingConversationId: id } });
      type(a);
      expect(kinds(h.take(old)).filter((k) => k === "typing" || k === "presence")).toEqual([]);
    });

    it("EPH-4: DIRECT contacts learn when a user comes online (first device) and goes offline (last device), and a new device learns who is online", () => {
      const h = new ServerHarness({}, undefined, newStore());
      h.features = [Feature.EPHEMERAL];
      const a = h.loginAndSync("a", "d");
      h.loginAndSync("b", "d");
      h.request(a, { case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: ["b"] } });
      const groupOnly = h.loginAndSync("g", "d"); // shares no DIRECT conversation with anyone
      h.take(a);
      const b2 = h.login("b", "d2"); // (loginAndSync's delivery ack takes what came with authenticated)
      expect(presenceOf(h.take(a))).toEqual([]); // b was online already
      expect(presenceOf(h.take(b2))).toEqual([["a", true, 0]]);
      const c = h.login("c", "d");
      expect(presenceOf(h.take(a))).toEqual([]);
      h.server.connectionClosed(c, h.now);
      h.server.connectionClosed(b2, h.now);
      h.advance(1_000);
      expect(presenceOf(h.take(a))).toEqual([]);
      void groupOnly;
    });

    it("EPH-4: the last device leaving sends offline with last_seen_ms", () => {
      const h = new ServerHarness({}, undefined, newStore());
      h.features = [Feature.EPHEMERAL];
      const a = h.loginAndSync("a", "d");
      const b = h.loginAndSync("b", "d");
      h.request(a, { case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: ["b"] } });
      h.take(a);
      h.advance(5_000);
      h.send(b, { case: "ping", value: {} }, 0);
      h.server.connectionClosed(b, h.now);
      h.advance(1);
      expect(presenceOf(h.take(a))).toEqual([["b", false, 5_000]]);
      h.loginAndSync("b", "d");
      expect(presenceOf(h.take(a))).toEqual([["b", true, 0]]);
    });

    it("EPH-5: a hidden user's presence is sent to no one (offline once on hiding), it hears no one's, and the setting is the user's", () => {
      const h = new ServerHarness({}, undefined, newStore());
      h.features = [Feature.EPHEMERAL];
      const a = h.loginAndSync("a", "d");
      const b = h.loginAndSync("b", "d");
      h.request(a, { case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: ["b"] } });
      h.take(a);
      const answer = h.request(b, { case: "setPresenceSharing", value: { hidden: true } });
      expect(answer.body).toEqual({ case: "presenceSharing", value: expect.objectContaining({ hidden: true }) });
      expect(presenceOf(h.take(a))).toEqual([["b", false, 0]]);
      const b2 = h.login("b", "d2");
      expect(presenceOf(h.take(b2))).toEqual([]); // reciprocal: a's presence is not sent to b
      expect(presenceOf(h.take(a))).toEqual([]);
      expect(h.store.presenceHidden("b")).toBe(true);
      h.request(b2, { case: "setPresenceSharing", value: { hidden: false } });
      expect(presenceOf(h.take(a))).toEqual([["b", true, 0]]);
      expect(presenceOf(h.take(b))).toEqual([["a", true, 0]]);
    });
  });
}
