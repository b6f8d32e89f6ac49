import { describe, expect, it } from "vitest";
import { Feature } from "../src/gen/imwire/v1/connection_pb.js";
import { ConversationKind } from "../src/gen/imwire/v1/conversation_pb.js";
import type { Frame } from "../src/gen/imwire/v1/frame_pb.js";
import { DeviceState } from "../src/gen/imwire/v1/settings_pb.js";
import { parseClusterNotice } from "../src/machines/server/cluster-notices.js";
import { ALIVE_INTERVAL_MS, NODE_SILENCE_MS } from "../src/machines/server/remote-devices.js";
import { MemoryStore } from "../src/store/memory-store.js";
import { ServerHarness } from "./support/server-harness.js";

/**
 * CLU-5: typing, presence and push alerts in a cluster: what one node knows
 * only of its own connections reaches the others as notices, so that each
 * requirement holds whichever node a device is on. Two machines share one
 * store; `relay` plays the bus (at most once: a test may drop a notice).
 */

const typingOf = (frames: Frame[]) => frames.flatMap((f) => (f.body.case === "typing" ? [[f.body.value.userId, f.body.value.typing]] : []));
const presenceOf = (frames: Frame[]) => frames.flatMap((f) => (f.body.case === "presence" ? [[f.body.value.userId, f.body.value.online, Number(f.body.value.lastSeenMs)]] : []));

function cluster() {
  const store = new MemoryStore();
  const node = (name: string) => {
    const h = new ServerHarness({ clusterNotices: true, clusterNodeId: name }, undefined, store) as ServerHarness & { close(connection: number): void };
    h.features = [Feature.EPHEMERAL];
    h.close = (connection: number) => {
      h.server.connectionClosed(connection, h.now);
      h.advance(0);
    };
    h.now = 1_000_000;
    h.advance(0); // the first alive notice
    return h;
  };
  const x = node("x");
  const y = node("y");
  /** Deliver every notice `from` made to `to` (and drop them from `from`). */
  const relay = (from: ServerHarness, to: ServerHarness) => {
    for (const notice of from.notices.splice(0)) to.hear(notice);
  };
  const settle = () => {
    for (let i = 0; i < 3; i++) {
      relay(x, y);
      relay(y, x);
    }
  };
  const both = (ms: number) => {
    x.advance(ms);
    y.advance(ms);
  };
  return { store, x, y, relay, settle, both };
}

function direct(h: ServerHarness, connection: number, other: string): string {
  const open = h.request(connection, { case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: [other] } });
  if (open.body.case !== "conversationOpened") throw new Error(JSON.stringify(open.body));
  return open.body.value.conversation!.conversationId;
}

describe("CLU-5: ephemeral signals across the nodes of a cluster", () => {
  it("EPH-2: typing on one node reaches a member viewing on the other; EPH-3's interval holds across nodes", () => {
    const { x, y, settle } = cluster();
    const a = x.loginAndSync("a", "phone");
    const b = y.loginAndSync("b", "phone");
    settle();
    const id = direct(x, a, "b");
    y.request(b, { case: "setDeviceState", value: { state: DeviceState.FOREGROUND, viewingConversationId: id } });
    y.take(b);
    x.send(a, { case: "setTyping", value: { conversationId: id, typing: true } }, 0);
    expect(typingOf(y.take(b))).toEqual([]);
    settle();
    expect(typingOf(y.take(b))).toEqual([["a", true]]);
    // a's laptop, on b's node, types within the second: EPH-3 counts the phone's, heard from x.
    const laptop = y.loginAndSync("a", "laptop");
    y.take(b);
    y.advance(500);
    y.send(laptop, { case: "setTyping", value: { conversationId: id, typing: true } }, 0);
    expect(typingOf(y.take(b))).toEqual([]);
    y.advance(600);
    y.send(laptop, { case: "setTyping", value: { conversationId: id, typing: true } }, 0);
    expect(typingOf(y.take(b))).toEqual([["a", true]]);
    x.send(a, { case: "setTyping", value: { conversationId: id, typing: false } }, 0);
    settle();
    expect(typingOf(y.take(b))).toEqual([["a", false]]);
  });

  it("EPH-4: online on the first device anywhere, offline on the last device anywhere, whichever nodes they use", () => {
    const { x, y, settle } = cluster();
    const a = x.loginAndSync("a", "phone");
    const b = y.loginAndSync("b", "phone");
    settle();
    direct(x, a, "b");
    x.take(a);
    y.take(b);
    // b comes back on y: a, on x, hears it is online once the notice arrives.
    y.close(b);
    settle();
    expect(presenceOf(x.take(a))).toEqual([["b", false, 1_000_000]]);
    const b2 = y.login("b", "phone"); // (loginAndSync's acknowledgement takes what came before it)
    expect(presenceOf(y.take(b2))).toEqual([["a", true, 0]]); // a, on the other node, is online
    settle();
    expect(presenceOf(x.take(a))).toEqual([["b", true, 0]]);
    // b's laptop on x: b was online already, nobody is told again; the phone leaves: still online (the laptop).
    const laptop = x.loginAndSync("b", "laptop");
    settle();
    y.advance(10);
    y.close(b2);
    settle();
    expect(presenceOf(x.take(a))).toEqual([]);
    // The laptop, b's last device, leaves: offline, with when it was last heard.
    x.advance(20);
    x.send(laptop, { case: "ping", value: { nonce: 1n } }, 0);
    x.close(laptop);
    settle();
    expect(presenceOf(x.take(a))).toEqual([["b", false, 1_000_020]]);
  });

  it("EPH-4: a node that falls silent takes its devices with it after NODE_SILENCE_MS; a lost notice is made up by the next alive list", () => {
    const { x, y, relay, settle, both } = cluster();
    const a = x.loginAndSync("a", "phone");
    settle();
    const b = y.loginAndSync("b", "phone");
    x.notices.length = 0; // the bus lost y's word of b
    y.notices.length = 0;
    direct(x, a, "b");
    settle();
    x.take(a);
    both(ALIVE_INTERVAL_MS);
    settle();
    expect(presenceOf(x.take(a))).toEqual([["b", true, 0]]); // from y's list of its devices
    // y dies (no more notices): a hears b is offline once y has been silent NODE_SILENCE_MS, last seen when y was heard.
    const lastHeard = x.now;
    for (let t = 0; t < NODE_SILENCE_MS; t += ALIVE_INTERVAL_MS) {
      both(ALIVE_INTERVAL_MS);
      y.notices.length = 0;
      relay(x, y);
    }
    x.advance(ALIVE_INTERVAL_MS);
    expect(presenceOf(x.take(a))).toEqual([["b", false, lastHeard]]);
    void b;
  });

  it("EPH-5: hiding on one node is seen on the other: offline with no last-seen time; shared again, online", () => {
    const { x, y, settle } = cluster();
    const a = x.loginAndSync("a", "phone");
    const b = y.loginAndSync("b", "phone");
    settle();
    direct(x, a, "b");
    settle();
    x.take(a);
    y.request(b, { case: "setPresenceSharing", value: { hidden: true } });
    settle();
    expect(presenceOf(x.take(a))).toEqual([["b", false, 0]]);
    y.request(b, { case: "setPresenceSharing", value: { hidden: false } });
    settle();
    expect(presenceOf(x.take(a))).toEqual([["b", true, 0]]);
  });

  it("PSH-1, PSH-3: no alert for a device connected to another node; one alert per conversation cluster-wide until the device returns", () => {
    const { x, y, settle } = cluster();
    const a = x.loginAndSync("a", "phone");
    const b = y.loginAndSync("b", "phone");
    y.request(b, { case: "setDeviceState", value: { state: DeviceState.FOREGROUND, pushService: "apns", pushToken: "tok" } });
    settle();
    const id = direct(x, a, "b");
    const send = (h: ServerHarness, connection: number, key: string) =>
      h.request(connection, { case: "sendMessage", value: { conversationId: id, clientMessageId: key, content: { kind: { case: "text", value: { text: key } } } } });
    send(x, a, "m1");
    expect(x.pushHandoffs).toEqual([]); // b is connected, on y
    y.close(b);
    settle();
    send(x, a, "m2");
    expect(x.pushHandoffs.map((p) => [p.userId, p.deviceId, p.conversationId])).toEqual([["b", "phone", id]]);
    settle();
    // a's other device, on y, sends: y knows b was alerted of this conversation already.
    const laptop = y.loginAndSync("a", "laptop");
    send(y, laptop, "m3");
    expect(y.pushHandoffs).toEqual([]);
    // b comes back (on y) and leaves: alerted again on x.
    const back = y.loginAndSync("b", "phone");
    y.close(back);
    settle();
    send(x, a, "m4");
    expect(x.pushHandoffs).toHaveLength(2);
  });

  it("CLU-5: a notice from the bus is taken only in its shape; older nodes' notices (fewer fields) read as empty", () => {
    expect(parseClusterNotice({ node: "n", users: ["u"], published: [["c", 3]], devices: [] })).toEqual({ node: "n", users: ["u"], published: [["c", 3]], devices: [], openedAt: [], departed: [], typing: [], sharing: [], alerted: [] });
    for (const bad of [null, "x", { users: [] }, { node: 1 }, { node: "n", published: [["c", "3"]] }, { node: "n", typing: [{ conversationId: "c", userId: "u" }] }, { node: "n", alive: [1] }, { node: "n", departed: [["k"]] }, { node: "n", openedAt: [["k", "1"]] }]) {
      expect(parseClusterNotice(bad)).toBeUndefined();
    }
  });
});
