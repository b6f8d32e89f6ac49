import { describe, expect, it } from "vitest";
import { Feature } from "../src/gen/imwire/v1/connection_pb.js";
import { ConversationKind } from "../src/gen/imwire/v1/conversation_pb.js";
import { ErrorCode } from "../src/gen/imwire/v1/error_pb.js";
import type { ClusterNotice } from "../src/machines/server/cluster-notices.js";
import { MemoryStore } from "../src/store/memory-store.js";
import type { Store } from "../src/store/store.js";
import { StoreUnavailableError } from "../src/store/store-errors.js";
import { ServerHarness } from "./support/server-harness.js";

/** The server machine's part in a cluster (SPEC.md §12.1): notices out, notices in, and storage that is away. */

/** A notice naming only `fields`, as the machine hands them out (node "" when it is given no name). */
const notice = (fields: Partial<ClusterNotice>): ClusterNotice => ({ node: "", users: [], published: [], devices: [], openedAt: [], departed: [], typing: [], sharing: [], alerted: [], ...fields });
/** The notices the node hands out from now on, as its runner would publish them. */
function noticesOf(h: ServerHarness): ClusterNotice[] {
  const notices: ClusterNotice[] = [];
  const take = h.server.takeOutputs.bind(h.server);
  h.server.takeOutputs = () => {
    const outputs = take();
    for (const o of outputs) if (o.kind === "cluster-notice") notices.push(o.notice);
    return outputs;
  };
  return notices;
}
const text = (t: string) => ({ kind: { case: "text" as const, value: { text: t } } });

function direct(h: ServerHarness, a: number): string {
  const open = h.request(a, { case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: ["b"] } });
  if (open.body.case !== "conversationOpened") throw new Error(JSON.stringify(open.body));
  return open.body.value.conversation!.conversationId;
}

describe("CLU-2: cluster notices", () => {
  it("a send's notice names the streams it grew and the device that authenticated; none without clusterNotices", () => {
    for (const clusterNotices of [true, false]) {
      const h = new ServerHarness({ clusterNotices });
      const notices = noticesOf(h);
      const a = h.loginAndSync("a", "d");
      h.loginAndSync("b", "d");
      const id = direct(h, a);
      notices.length = 0;
      h.request(a, { case: "sendMessage", value: { conversationId: id, clientMessageId: "m", content: text("hi") } });
      expect(notices).toEqual(clusterNotices ? [notice({ users: ["a", "b"] })] : []);
    }
  });

  it("a remote notice pushes to the devices here what another node stored; AUTH-4 across nodes", () => {
    const store = new MemoryStore();
    const here = new ServerHarness({ clusterNotices: true }, undefined, store);
    const there = new ServerHarness({ clusterNotices: true }, undefined, store);
    const b = here.loginAndSync("b", "d");
    const a = there.loginAndSync("a", "d");
    const id = direct(there, a);
    there.request(a, { case: "sendMessage", value: { conversationId: id, clientMessageId: "m", content: text("from there") } });
    here.take(b);
    expect(here.take(b)).toEqual([]); // nothing told this node yet
    here.server.remoteNotice(notice({ users: ["b"] }), here.now);
    here.advance(0);
    const pushed = here.take(b).filter((f) => f.body.case === "deliver").map((f) => (f.body.case === "deliver" ? f.body.value.body.case : ""));
    expect(pushed).toContain("event");
    here.server.remoteNotice(notice({ devices: ["b\u0000d"] }), here.now);
    here.advance(0);
    expect(here.closed.get(b)?.reason).toBe(ErrorCode.SESSION_REPLACED);
  });
});

describe("AUTH-4 across nodes: the connection opened later stays", () => {
  it("a notice of an older connection elsewhere replaces nothing here and names this one again; a connection older than one elsewhere is refused", () => {
    const here = new ServerHarness({ clusterNotices: true });
    const notices = noticesOf(here);
    here.advance(10_000);
    const b = here.login("b", "d");
    const opened = here.now;
    notices.length = 0;
    // Another node authenticated, late, a connection of this device opened before this one.
    here.hear(notice({ node: "n2", devices: ["b\u0000d"], openedAt: [["b\u0000d", opened - 5_000]] }));
    expect(here.closed.has(b)).toBe(false);
    expect(notices.flatMap((n) => n.openedAt)).toEqual([["b\u0000d", opened]]); // so that the other node closes its older one
    // A newer one there replaces this one.
    here.hear(notice({ node: "n2", devices: ["b\u0000d"], openedAt: [["b\u0000d", opened + 1]] }));
    expect(here.closed.get(b)?.reason).toBe(ErrorCode.SESSION_REPLACED);
    // A connection opened here before the one now open there is refused when it authenticates.
    const stale = here.open();
    here.request(stale, { case: "hello", value: { versions: [1], deviceId: "d", features: here.features } });
    here.hear(notice({ node: "n3", devices: ["b\u0000d"], openedAt: [["b\u0000d", here.now + 1]] }));
    const answer = here.request(stale, { case: "authenticate", value: { token: "b|d" } });
    expect(answer.body.case === "error" && answer.body.value.code).toBe(ErrorCode.SESSION_REPLACED);
  });
});

describe("CLU-3: storage that cannot be reached", () => {
  it("a request is answered UNAVAILABLE, retryable, and nothing is acknowledged", () => {
    let away = false;
    const store = new Proxy(new MemoryStore() as Store, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => {
          if (away && property === "appendEvent") throw new StoreUnavailableError("database restarting");
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const h = new ServerHarness({}, undefined, store);
    const a = h.loginAndSync("a", "d");
    h.loginAndSync("b", "d");
    const id = direct(h, a);
    away = true;
    const answer = h.request(a, { case: "sendMessage", value: { conversationId: id, clientMessageId: "m", content: text("hi") } });
    expect(answer.body.case === "error" && [answer.body.value.code, answer.body.value.retryable]).toEqual([ErrorCode.UNAVAILABLE, true]);
    expect(h.internalErrors).toEqual([]);
    away = false;
    const retry = h.request(a, { case: "sendMessage", value: { conversationId: id, clientMessageId: "m", content: text("hi") } });
    expect(retry.body.case).toBe("sendAck");
  });

  it("no input throws while every store call fails: closes, ticks, notices, frames of every state; the machine serves again once storage returns", () => {
    let away = false;
    const store = new Proxy(new MemoryStore() as Store, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => {
          if (away) throw new StoreUnavailableError("database restarting");
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const h = new ServerHarness({ clusterNotices: true, clusterNodeId: "n" }, undefined, store);
    h.features = [Feature.EPHEMERAL];
    const a = h.loginAndSync("a", "d");
    const b = h.loginAndSync("b", "d");
    const a2 = h.login("a", "d2");
    const id = direct(h, a);
    away = true;
    expect(() => {
      h.send(a, { case: "setTyping", value: { conversationId: id, typing: true } }, 0);
      h.send(a, { case: "deliveryAck", value: { cursor: 1n } }, 0);
      h.send(b, { case: "ping", value: { nonce: 1n } }, 0);
      h.server.connectionClosed(a2, h.now); // a's other device leaves: presence reads the store
      h.advance(0);
      h.hear(notice({ node: "m", users: ["a"], devices: ["c\u0000d"], departed: [["c\u0000d", 1]], alive: ["b\u0000x"] }));
      h.advance(10_000);
      const fresh = h.open();
      h.send(fresh, { case: "hello", value: { versions: [1], deviceId: "d", features: [] } });
      h.send(fresh, { case: "authenticate", value: { token: "c|d" } });
      h.server.shutdown(h.now, "test");
      h.advance(0);
    }).not.toThrow();
    expect(h.internalErrors).toEqual([]);
    away = false;
    const later = new ServerHarness({}, undefined, store);
    const c = later.loginAndSync("c", "d");
    expect(later.send(c, { case: "ping", value: { nonce: 2n } }, 0).map((f) => f.body.case)).toContain("pong");
  });
});
