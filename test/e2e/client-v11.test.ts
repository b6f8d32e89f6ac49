import { afterEach, describe, expect, it } from "vitest";
import { issueToken } from "../../src/auth/hmac-token.js";
import { ClientRunner } from "../../src/client/client-runner.js";
import { ConversationKind, HistoryVisibility } from "../../src/gen/imwire/v1/conversation_pb.js";
import { DeviceState } from "../../src/gen/imwire/v1/settings_pb.js";
import { ClientMachine } from "../../src/machines/client/client-machine.js";
import type { ClientEvent } from "../../src/machines/client/types.js";
import { startReferenceServer, type ReferenceServer } from "../../src/server/reference-server.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import { MessageView } from "../../src/view/message-view.js";

/**
 * Version 1.1 through the reference client on the reference server, over
 * TCP: message actions (ACT), threads (THR), typing and presence (EPH) and
 * history visibility (HIS), each negotiated by default and used through the
 * client machine's commands and events.
 */

const SECRET = "client-v11-secret";
let server: ReferenceServer | undefined;
const runners: ClientRunner[] = [];

afterEach(async () => {
  for (const runner of runners.splice(0)) runner.stop();
  await server?.close();
  server = undefined;
});

interface Device {
  readonly runner: ClientRunner;
  readonly events: ClientEvent[];
  next(match: (e: ClientEvent) => boolean, what: string): Promise<ClientEvent>;
}

async function device(url: string, userId: string, deviceId = "d"): Promise<Device> {
  const events: ClientEvent[] = [];
  let ids = 0;
  const machine = new ClientMachine({ deviceId }, { token: () => issueToken({ userId, deviceId, expiresAtMs: 0 }, SECRET), random: Math.random, newId: () => `${userId}-${deviceId}-${++ids}` });
  const runner = new ClientRunner(machine, { url, onEvent: (event) => void events.push(event) });
  runners.push(runner);
  await runner.start();
  const next = async (match: (e: ClientEvent) => boolean, what: string) => {
    const deadline = Date.now() + 5_000;
    for (;;) {
      const found = events.find(match);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; events: ${events.map((e) => e.kind).join(", ")}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  await next((e) => e.kind === "status" && e.status === "ready", `${userId} ready`);
  return { runner, events, next };
}

describe("version 1.1 through the reference client", () => {
  it("ACT THR EPH HIS: edits, reactions, a thread, typing, presence and history visibility, end to end", async () => {
    server = await startReferenceServer({ tcp: { port: 0 }, store: new MemoryStore("v11"), secret: SECRET });
    const url = server.urls.tcp!;
    const alice = await device(url, "alice");
    const bob = await device(url, "bob");
    const carol = await device(url, "carol");

    // A DIRECT conversation makes them contacts (EPH-4); a group for the rest.
    const direct = alice.runner.act((m, now) => m.open({ kind: ConversationKind.DIRECT, userIds: ["bob"] }, now));
    await alice.next((e) => e.kind === "done" && e.operationId === direct, "the direct conversation");
    const groupOp = alice.runner.act((m, now) => m.open({ kind: ConversationKind.GROUP, userIds: ["bob"], title: "team" }, now));
    const opened = await alice.next((e) => e.kind === "done" && e.operationId === groupOp, "the group");
    const group = opened.kind === "done" && opened.answer.case === "conversationOpened" ? opened.answer.value.conversation!.conversationId : "";

    // EPH-2: bob views the group in the foreground; alice types.
    bob.runner.act((m, now) => m.setDeviceState(DeviceState.FOREGROUND, now, undefined, group));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(alice.runner.act((m, now) => m.setTyping(group, true, now))).toBe(true);
    const typing = await bob.next((e) => e.kind === "typing", "typing");
    expect(typing).toMatchObject({ conversationId: group, userId: "alice", typing: true });

    // ACT and THR: a message, a reply in its thread, an edit, a reaction; then the thread alone.
    const rootKey = alice.runner.act((m, now) => m.send(group, { kind: { case: "text", value: { text: "root" } } }, now));
    const rootAck = await alice.next((e) => e.kind === "sent" && e.clientMessageId === rootKey, "the root's ack");
    const root = rootAck.kind === "sent" ? rootAck.ack.seq : 0n;
    const replyKey = bob.runner.act((m, now) => m.send(group, { kind: { case: "text", value: { text: "reply" } } }, now, { threadRootSeq: root }));
    await bob.next((e) => e.kind === "sent" && e.clientMessageId === replyKey, "the reply's ack");
    alice.runner.act((m, now) => m.act(group, root, { case: "edit", value: { kind: { case: "text", value: { text: "root, edited" } } } }, now));
    const reactKey = bob.runner.act((m, now) => m.act(group, root, { case: "react", value: { emoji: "🎉" } }, now));
    await bob.next((e) => e.kind === "sent" && e.clientMessageId === reactKey, "the reaction's ack");
    const threadOp = bob.runner.act((m, now) => m.fetchThread(group, root, now));
    const thread = await bob.next((e) => e.kind === "done" && e.operationId === threadOp, "the thread");
    const threadSeqs = thread.kind === "done" && thread.answer.case === "conversationPage" ? thread.answer.value.events.map((e) => e.seq) : [];
    expect(threadSeqs).toEqual([root, root + 1n]);

    // ACT-7: what alice's device applied equals what the store serves.
    await alice.next((e) => e.kind === "event" && e.event.body.case === "action" && e.event.body.value.action.case === "react", "the reaction on alice's device");
    const view = new MessageView();
    for (const e of alice.events) if (e.kind === "event" && e.conversationId === group) view.apply(e.event);
    const shown = view.message(Number(root))!;
    expect(shown.content?.kind).toEqual({ case: "text", value: expect.objectContaining({ text: "root, edited" }) });
    expect([...shown.reactions.get("🎉")!]).toEqual(["bob"]);

    // HIS: alice opens the last 2 events to new members, then adds carol, whose device reads from there.
    const visibility = alice.runner.act((m, now) => m.setHistoryVisibility(group, HistoryVisibility.LAST_EVENTS, now, 2));
    await alice.next((e) => e.kind === "done" && e.operationId === visibility, "the history visibility");
    const add = alice.runner.act((m, now) => m.open({ conversationId: group, userIds: ["carol"] }, now));
    await alice.next((e) => e.kind === "done" && e.operationId === add, "carol added");
    const joined = await carol.next((e) => e.kind === "joined" && e.conversation.conversationId === group, "carol's joined");
    const firstVisible = joined.kind === "joined" ? joined.conversation.firstVisibleSeq : 0n;
    await carol.next((e) => e.kind === "event" && e.conversationId === group && e.event.body.case === "membership", "carol's ADDED event");
    const carolSeqs = carol.events.flatMap((e) => (e.kind === "event" && e.conversationId === group ? [e.event.seq] : []));
    expect(carolSeqs[0]).toBe(firstVisible);
    expect(carolSeqs.length).toBe(3); // the two opened events and the ADDED one

    // EPH-4: bob goes away; alice, his contact, learns it.
    bob.runner.stop();
    const offline = await alice.next((e) => e.kind === "presence" && e.userId === "bob" && !e.online, "bob offline");
    expect(offline.kind === "presence" && offline.lastSeenMs > 0n).toBe(true);
  }, 30_000);
});
