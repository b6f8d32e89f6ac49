import { describe, expect, it } from "vitest";
import { sent, appEvents, closes, framesOf, one, receive, type FrameInit, type BodyOf } from "./support/client-outputs.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { frame } from "../src/codec/frame-codec.js";
import { ClientDriver } from "../src/client/client-driver.js";
import { isImwireError } from "../src/errors.js";
import { Feature } from "../src/gen/imwire/v1/connection_pb.js";
import { ConversationKind, type ConversationSchema, type MemberSchema } from "../src/gen/imwire/v1/conversation_pb.js";
import type { UserEventSchema } from "../src/gen/imwire/v1/delivery_pb.js";
import { ErrorCode } from "../src/gen/imwire/v1/error_pb.js";
import type { Frame } from "../src/gen/imwire/v1/frame_pb.js";
import { DeviceState, ReceiveMode } from "../src/gen/imwire/v1/settings_pb.js";
import { ClientMachine } from "../src/machines/client/client-machine.js";
import { compareUtf8 } from "../src/machines/client/member-lists.js";
import type { ClientOptions } from "../src/machines/client/options.js";
import type { ClientOutput } from "../src/machines/client/types.js";
import { VirtualTimer } from "../src/runtime/virtual-timer.js";
import { unassigned, type FrameTransport } from "../src/transport/frame-transport.js";

/**
 * The v1 features on the client machine (EXT-5, CONN-3, SYNC-8, CONV-10),
 * driven with hand-made frames: the test plays the server. No server, no
 * clock: time is the `now` argument.
 */

type Member = MessageInitShape<typeof MemberSchema>;

const WELCOME = { version: 1, maxFrameSize: 1_048_576, heartbeatIntervalMs: 30_000, maxInFlight: 100, receiveWindow: 100, dedupWindowS: 86_400 };
const BOTH = [Feature.CONVERSATION_SUMMARIES, Feature.MEMBER_PAGES, Feature.MESSAGE_ACTIONS, Feature.EPHEMERAL, Feature.THREADS, Feature.HISTORY_VISIBILITY, Feature.DELETE_FOR_ME, Feature.RECEIPTS];

function newClient(options: Partial<ClientOptions> = {}): ClientMachine {
  let ids = 0;
  return new ClientMachine({ deviceId: "d", gapWaitMs: 100, ...options }, { token: () => "u|d", random: () => 0.5, newId: () => `m${++ids}` });
}


function conversation(id: string, lastSeq = 0n): MessageInitShape<typeof ConversationSchema> {
  return { conversationId: id, kind: ConversationKind.GROUP, firstVisibleSeq: 1n, lastSeq, memberUserIds: ["u", "u2"], receiveMode: ReceiveMode.FULL, readFanOut: true };
}

function notifyEntry(cursor: number, prevCursor: number, conversationId: string, seq: number): MessageInitShape<typeof UserEventSchema> {
  return { cursor: BigInt(cursor), prevCursor: BigInt(prevCursor), body: { case: "notify", value: { conversationId, seq: BigInt(seq) } } };
}

/** Start a client, open connection 1 and answer hello with a welcome listing `features`: the outputs from there. */
function welcomed(client: ClientMachine, features: Feature[]): { hello: BodyOf<"hello">; outputs: ClientOutput[] } {
  client.start(0);
  client.takeOutputs();
  client.connected(1, 0);
  const hello = one(sent(client.takeOutputs()), "hello");
  const outputs = receive(client, 0, { requestId: hello.requestId, body: { case: "welcome", value: { ...WELCOME, features } } });
  return { hello: hello.value, outputs };
}

/**
 * Welcome with `features`, authenticated, then sync_user answered with a
 * snapshot of `conversations` at cursor 10 and, when `page` is given, a
 * second sync_user answered with those entries: the outputs from authenticated on.
 */
function ready(client: ClientMachine, features: Feature[], conversations = [conversation("c1")], page?: MessageInitShape<typeof UserEventSchema>[]): ClientOutput[] {
  const { outputs } = welcomed(client, features);
  const auth = one(sent(outputs), "authenticate");
  const afterAuth = receive(client, 0, { requestId: auth.requestId, body: { case: "authenticated", value: { userId: "u", deviceId: "d", epoch: "e1" } } });
  const syncUser = one(sent(afterAuth), "syncUser");
  const snapshot = { epoch: "e1", cursor: 10n, conversations, defaultReceiveMode: ReceiveMode.FULL };
  const afterSnapshot = receive(client, 0, { requestId: syncUser.requestId, body: { case: "userPage", value: { snapshot, headCursor: 10n, hasMore: page !== undefined } } });
  const log = [...afterAuth, ...afterSnapshot];
  if (page) {
    const next = one(sent(afterSnapshot), "syncUser");
    expect(next.value.afterCursor).toBe(10n);
    const head = page.at(-1)!.cursor!;
    log.push(...receive(client, 0, { requestId: next.requestId, body: { case: "userPage", value: { events: page, headCursor: head } } }));
  }
  expect(client.status).toBe("ready");
  return log;
}

// ---- EXT-5, CONN-3: the handshake -------------------------------------------

describe("EXT-5: features offered in hello", () => {
  it("EXT-5: by default hello offers every feature the client implements (summaries, member pages, message actions, ephemeral, threads, history visibility, delete for me, receipts), and the welcome's are in force", () => {
    const client = newClient();
    const { hello, outputs } = welcomed(client, [Feature.MEMBER_PAGES]);
    expect([...hello.features].sort()).toEqual(BOTH);
    expect(sent(outputs).map((f) => f.body.case)).toEqual(["authenticate"]);
    expect([...client.features]).toEqual([Feature.MEMBER_PAGES]);
  });

  it("EXT-5: a v1.0 client (features: []) offers none, accepts a welcome with none and gets ready", () => {
    const client = newClient({ features: [] });
    const { hello } = welcomed(client, []);
    expect(hello.features).toEqual([]);
    client.stop(1);
    const again = newClient({ features: [] });
    ready(again, []);
    expect(again.features.size).toBe(0);
  });

  it("EXT-5: the features in force belong to the connection: none once it is lost", () => {
    const client = newClient();
    ready(client, BOTH);
    expect(client.features.size).toBe(BOTH.length);
    client.disconnected(1, 5);
    expect(client.features.size).toBe(0);
  });
});

describe("CONN-3: a welcome with a feature the client did not offer", () => {
  it.each([
    ["a v1.0 client told FEATURE_MEMBER_PAGES is in force", [], [Feature.MEMBER_PAGES]],
    ["a client offering summaries only, told FEATURE_MEMBER_PAGES is", [Feature.CONVERSATION_SUMMARIES], [Feature.MEMBER_PAGES]],
    ["a client offering both, told an unknown feature 9 is", BOTH, [...BOTH, 9 as Feature]],
  ])("CONN-3: %s closes without sending anything further", (_, offered, inWelcome) => {
    const client = newClient({ features: offered });
    const { outputs } = welcomed(client, inWelcome);
    expect(sent(outputs)).toEqual([]);
    expect(closes(outputs)).toEqual([1]);
    expect(client.status).toBe("offline");
    expect(client.welcomeRefusal?.code).toBe(ErrorCode.PROTOCOL_VIOLATION);
    expect(client.welcomeRefusal?.requirement).toBe("CONN-3");
    expect(client.welcomeRefusal?.message).toMatch(/FEATURE_MEMBER_PAGES|feature 9/);
  });

  it("CONN-3: a version not offered is refused with ERROR_CODE_UNSUPPORTED_VERSION, and an accepted welcome clears the refusal", () => {
    const client = newClient();
    client.start(0);
    client.takeOutputs();
    client.connected(1, 0);
    const hello = one(sent(client.takeOutputs()), "hello");
    receive(client, 0, { requestId: hello.requestId, body: { case: "welcome", value: { ...WELCOME, version: 2 } } });
    expect(client.welcomeRefusal?.code).toBe(ErrorCode.UNSUPPORTED_VERSION);
    client.tick(client.nextWakeup()!);
    const connection = client.takeOutputs().find((o) => o.kind === "connect");
    expect(connection).toBeDefined();
    client.connected(2, 10_000);
    const again = one(sent(client.takeOutputs()), "hello");
    receive(client, 10_000, { requestId: again.requestId, body: { case: "welcome", value: { ...WELCOME, features: [Feature.CONVERSATION_SUMMARIES] } } });
    expect(client.welcomeRefusal).toBeUndefined();
    expect(client.status).toBe("handshake");
  });
});

// ---- SYNC-8: summaries --------------------------------------------------------

/** A server's conversation `id` holding events 1..head: pages of `limit` from after_seq, each overlapping the last by 3 events. */
function conversationServer(heads: Record<string, number>, limit = 10) {
  return (f: Frame): FrameInit | undefined => {
    if (f.body.case !== "syncConversation") return undefined;
    const { conversationId, afterSeq } = f.body.value;
    const head = heads[conversationId]!;
    const from = Math.max(1, Number(afterSeq) - 2);
    const to = Math.min(head, Number(afterSeq) + limit);
    const events = [];
    for (let seq = from; seq <= to; seq++) {
      events.push({ conversationId, seq: BigInt(seq), body: { case: "message" as const, value: { messageId: `${conversationId}/${seq}`, content: { kind: { case: "text" as const, value: { text: `#${seq}` } } } } } });
    }
    return { requestId: f.requestId, body: { case: "conversationPage", value: { conversationId, events, hasMore: to < head, lastSeq: BigInt(head), firstVisibleSeq: 1n } } };
  };
}

/** Answer every frame the client sends with `answer`, until it sends nothing answerable: every output. */
function play(client: ClientMachine, first: readonly ClientOutput[], answer: (f: Frame) => FrameInit | undefined): ClientOutput[] {
  const log = [...first];
  const queue = sent(first);
  for (let steps = 0; queue.length > 0; steps++) {
    expect(steps).toBeLessThan(10_000);
    const reply = answer(queue.shift()!);
    if (!reply) continue;
    const outputs = receive(client, 0, reply);
    log.push(...outputs);
    queue.push(...sent(outputs));
  }
  return log;
}

/** Each conversation's event seqs in the order the application got them. */
function delivered(outputs: readonly ClientOutput[]): Record<string, number[]> {
  const byConversation: Record<string, number[]> = {};
  for (const e of appEvents(outputs)) if (e.kind === "event") (byConversation[e.conversationId] ??= []).push(Number(e.event.seq));
  return byConversation;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe("SYNC-8: a user_page of summaries", () => {
  const heads = { c1: 47, c2: 3, c3: 120 };
  const conversations = [conversation("c1"), conversation("c2"), conversation("c3")];
  const summaries = [notifyEntry(14, 10, "c1", 47), notifyEntry(20, 14, "c2", 3), notifyEntry(31, 20, "c3", 120)];

  it("SYNC-8, RECV-3: notify summaries of FULL conversations are held and pulled at once, each event reaching the application once, in order", () => {
    const client = newClient();
    const first = ready(client, BOTH, conversations, summaries);
    expect(client.cursor).toBe(31n);
    expect(framesOf(sent(first), "syncConversation").map((f) => [f.value.conversationId, f.value.afterSeq])).toEqual([
      ["c1", 0n],
      ["c2", 0n],
      ["c3", 0n],
    ]);
    const log = play(client, first, conversationServer(heads));
    expect(delivered(log)).toEqual({ c1: range(47), c2: range(3), c3: range(120) });
    expect(client.conversations().get("c3")!.held).toBe(120n);
    // The summaries themselves are entries held and acknowledged (CUR-3, ACK-1); what the pulls brought is told once due (RCPT-1).
    expect(framesOf(sent(log), "deliveryAck").map((f) => f.value.cursor)).toEqual([31n]);
    // Not settled while what the pulls brought is unreported (RCPT-1); the acknowledgement delay sends it.
    expect(client.settled).toBe(false);
    client.tick(1_000);
    expect(framesOf(sent(client.takeOutputs()), "deliveryAck").map((f) => f.value.conversations.map((c) => [c.conversationId, c.seq]))).toEqual([[["c1", 47n], ["c2", 3n], ["c3", 120n]]]);
    expect(client.settled).toBe(true);
  });

  it("SYNC-8, RECV-5: in the background the summaries are held like any notify, and pulled on returning to the foreground", () => {
    const client = newClient();
    client.setDeviceState(DeviceState.BACKGROUND, 0);
    const first = ready(client, BOTH, conversations, summaries);
    expect(framesOf(sent(first), "syncConversation")).toEqual([]);
    expect(client.cursor).toBe(31n);
    client.setDeviceState(DeviceState.FOREGROUND, 1);
    const log = play(client, client.takeOutputs(), conversationServer(heads));
    expect(delivered(log)).toEqual({ c1: range(47), c2: range(3), c3: range(120) });
  });

  it("SYNC-8: a summary behind what a pull already delivered, and the same summary again on a later page, deliver nothing twice", () => {
    const client = newClient();
    const log = play(client, ready(client, BOTH, [conversation("c1")], [notifyEntry(14, 10, "c1", 12)]), conversationServer({ c1: 12 }));
    expect(delivered(log)).toEqual({ c1: range(12) });
    const again = receive(client, 1, { body: { case: "deliver", value: notifyEntry(15, 14, "c1", 5) } });
    expect(framesOf(sent(again), "syncConversation")).toEqual([]);
    expect(delivered(again)).toEqual({});
    expect(client.cursor).toBe(15n);
  });
});

// ---- RCPT-1: what the device holds of each conversation ----------------------

describe("RCPT-1: delivery_ack reports each conversation's contiguous position where FEATURE_RECEIPTS is in force", () => {
  const event = (cursor: number, seq: number): FrameInit => ({
    body: { case: "deliver", value: { cursor: BigInt(cursor), prevCursor: BigInt(cursor - 1), body: { case: "event", value: { conversationId: "c1", seq: BigInt(seq), body: { case: "message", value: { messageId: `m${seq}` } } } } } },
  });
  const acks = (outputs: readonly ClientOutput[]) => framesOf(sent(outputs), "deliveryAck").map((f) => [f.value.cursor, f.value.conversations.map((c) => [c.conversationId, c.seq])]);

  it("RCPT-1: pushed events are reported with the cursor, up to the gap and not past it", () => {
    const client = newClient();
    ready(client, [Feature.RECEIPTS]);
    receive(client, 1, event(11, 1));
    receive(client, 1, event(12, 2));
    client.tick(200);
    expect(acks(client.takeOutputs())).toEqual([[12n, [["c1", 2n]]]]);
    // seq 4 without 3: held, not handed out; the position reported stays at 2, so it is not repeated.
    receive(client, 201, event(13, 4));
    client.tick(400);
    expect(acks(client.takeOutputs())).toEqual([[13n, []]]);
  });

  it("RCPT-1: without the feature in force, acknowledgements carry the cursor alone", () => {
    const client = newClient();
    ready(client, [Feature.MEMBER_PAGES]);
    receive(client, 1, event(11, 1));
    client.tick(200);
    expect(acks(client.takeOutputs())).toEqual([[11n, []]]);
  });

  it("RCPT-1: events pulled with sync_conversation (the cursor unmoved) are reported by a conversations-only acknowledgement within the delay", () => {
    const client = newClient();
    const first = ready(client, [Feature.RECEIPTS, Feature.CONVERSATION_SUMMARIES], [conversation("c1")], [notifyEntry(11, 10, "c1", 3)]);
    const log = play(client, first, conversationServer({ c1: 3 }));
    expect(delivered(log)).toEqual({ c1: [1, 2, 3] });
    expect(acks(log)).toEqual([[11n, []]]);
    client.tick(1_000);
    // ACK-6: a cursor of 0 beside conversations is no stream part.
    expect(acks(client.takeOutputs())).toEqual([[0n, [["c1", 3n]]]]);
  });
});

// ---- CONV-10: member pages ------------------------------------------------------

const members = (...ids: string[]): Member[] => ids.map((userId, i) => ({ userId, role: 0, joinedSeq: BigInt(i + 1) }));

function memberPage(request: { requestId: number }, page: { members: Member[]; continueAfter?: string; lastSeq: number; memberCount: number }): FrameInit {
  return { requestId: request.requestId, body: { case: "memberPage", value: { conversationId: "c1", ...page, lastSeq: BigInt(page.lastSeq) } } };
}

describe("CONV-10: listMembers", () => {
  it("CONV-10: follows continue_after to an empty last page and reports the union, with the first page's last_seq and member_count", () => {
    const client = newClient();
    const id = client.listMembers("c1", 0, { limit: 2 }); // before the connection: it waits, like any operation (CONN-9)
    const first = one(sent(ready(client, BOTH)), "listMembers");
    expect(first.value).toMatchObject({ conversationId: "c1", afterUserId: "", limit: 2 });
    const second = one(sent(receive(client, 1, memberPage(first, { members: members("a", "b"), continueAfter: "b", lastSeq: 7, memberCount: 4 }))), "listMembers");
    expect(second.value.afterUserId).toBe("b");
    const answer2 = receive(client, 2, memberPage(second, { members: members("c", "d"), continueAfter: "d", lastSeq: 9, memberCount: 5 }));
    const third = one(sent(answer2), "listMembers");
    expect(third.value.afterUserId).toBe("d");
    expect(appEvents(answer2)).toEqual([]); // pages are the listing's, not the application's
    const done = appEvents(receive(client, 3, memberPage(third, { members: [], lastSeq: 9, memberCount: 5 })));
    expect(done).toHaveLength(1);
    const event = done[0]!;
    expect(event.kind === "members" && event.operationId).toBe(id);
    if (event.kind !== "members") return;
    expect(event.list.members.map((m) => m.userId)).toEqual(["a", "b", "c", "d"]);
    expect(event.list).toMatchObject({ conversationId: "c1", lastSeq: 7n, memberCount: 4 });
    expect(client.pendingOperations).toBe(0);
  });

  it("CONV-10: an empty first page is an empty list", () => {
    const client = newClient();
    ready(client, BOTH);
    const id = client.listMembers("c1", 1);
    const request = one(sent(client.takeOutputs()), "listMembers");
    const [event] = appEvents(receive(client, 1, memberPage(request, { members: [], lastSeq: 3, memberCount: 0 })));
    expect(event).toMatchObject({ kind: "members", operationId: id, list: { members: [], lastSeq: 3n } });
  });

  it("CONV-10, CONN-10: a page lost with its connection is asked for again from the same boundary", () => {
    const client = newClient();
    ready(client, BOTH);
    client.listMembers("c1", 1);
    const first = one(sent(client.takeOutputs()), "listMembers");
    const second = one(sent(receive(client, 1, memberPage(first, { members: members("a"), continueAfter: "a", lastSeq: 2, memberCount: 2 }))), "listMembers");
    expect(second.value.afterUserId).toBe("a");
    client.disconnected(1, 2);
    client.tick(client.nextWakeup()!);
    client.takeOutputs();
    client.connected(2, 3_000);
    const hello = one(sent(client.takeOutputs()), "hello");
    const auth = one(sent(receive(client, 3_000, { requestId: hello.requestId, body: { case: "welcome", value: { ...WELCOME, features: BOTH } } })), "authenticate");
    const after = sent(receive(client, 3_000, { requestId: auth.requestId, body: { case: "authenticated", value: { userId: "u", deviceId: "d", epoch: "e1", resumed: true } } }));
    expect(one(after, "listMembers").value.afterUserId).toBe("a");
  });

  it("CONV-10: a refusal of any page fails the listing with the server's code", () => {
    const client = newClient();
    ready(client, BOTH);
    const id = client.listMembers("c1", 1);
    const request = one(sent(client.takeOutputs()), "listMembers");
    const refusal = { requestId: request.requestId, body: { case: "error" as const, value: { code: ErrorCode.PERMISSION_DENIED, message: "not a member" } } };
    expect(appEvents(receive(client, 1, refusal))).toEqual([{ kind: "failed", operationId: id, code: ErrorCode.PERMISSION_DENIED, message: "not a member" }]);
  });

  it("CONV-10: a continue_after that does not move forward fails the listing instead of asking forever", () => {
    const client = newClient();
    ready(client, BOTH);
    const id = client.listMembers("c1", 1);
    const first = one(sent(client.takeOutputs()), "listMembers");
    const second = one(sent(receive(client, 1, memberPage(first, { members: members("b"), continueAfter: "b", lastSeq: 2, memberCount: 3 }))), "listMembers");
    const outputs = receive(client, 2, memberPage(second, { members: members("a"), continueAfter: "a", lastSeq: 2, memberCount: 3 }));
    expect(sent(outputs)).toEqual([]);
    expect(appEvents(outputs)).toMatchObject([{ kind: "failed", operationId: id, code: ErrorCode.PROTOCOL_VIOLATION }]);
  });

  it("CONV-10: listMembersPage sends one list_members and hands the page over as done", () => {
    const client = newClient();
    ready(client, BOTH);
    const id = client.listMembersPage("c1", 1, { afterUserId: "m", limit: 5 });
    const request = one(sent(client.takeOutputs()), "listMembers");
    expect(request.value).toMatchObject({ afterUserId: "m", limit: 5 });
    const [event] = appEvents(receive(client, 1, memberPage(request, { members: members("n"), continueAfter: "n", lastSeq: 4, memberCount: 9 })));
    expect(event?.kind === "done" && event.operationId === id && event.answer.case).toBe("memberPage");
  });

  it("CONV-10: user ids sort as UTF-8 bytes, not UTF-16 code units", () => {
    expect(compareUtf8("\uffff", "\u{1f600}")).toBeLessThan(0);
    expect("\uffff" < "\u{1f600}").toBe(false); // why compareUtf8 exists
    expect(compareUtf8("a", "ab")).toBeLessThan(0);
    expect(compareUtf8("b", "b")).toBe(0);
  });
});

describe("EXT-5: list_members only with FEATURE_MEMBER_PAGES in force", () => {
  it("EXT-5: a client that does not offer the feature fails listMembers at once, even offline, sending nothing", () => {
    const client = newClient({ features: [Feature.CONVERSATION_SUMMARIES] });
    const id = client.listMembers("c1", 0);
    expect(appEvents(client.takeOutputs())).toMatchObject([{ kind: "failed", operationId: id, code: ErrorCode.UNKNOWN_FRAME }]);
    const log = ready(client, [Feature.CONVERSATION_SUMMARIES]);
    expect(framesOf(sent(log), "listMembers")).toEqual([]);
  });

  it("EXT-5: offered but not in force on the connection, listMembers and listMembersPage fail without sending", () => {
    const client = newClient();
    ready(client, [Feature.CONVERSATION_SUMMARIES]);
    const all = client.listMembers("c1", 1);
    const page = client.listMembersPage("c1", 1);
    const outputs = client.takeOutputs();
    expect(framesOf(sent(outputs), "listMembers")).toEqual([]);
    expect(appEvents(outputs).map((e) => e.kind === "failed" && [e.operationId, e.code])).toEqual([
      [all, ErrorCode.UNKNOWN_FRAME],
      [page, ErrorCode.UNKNOWN_FRAME],
    ]);
    expect(client.pendingOperations).toBe(0);
  });
});

// ---- the driver ------------------------------------------------------------------

/** A transport whose far end is `server`, answering each frame on a later microtask. */
function scriptedTransport(server: (f: Frame) => FrameInit[]): FrameTransport {
  const transport: FrameTransport = {
    ...unassigned,
    send: (f) => queueMicrotask(() => server(f).forEach((reply) => transport.onFrame(frame(reply), 0))),
    close: () => {},
    destroy: () => {},
    setMaxFrameSize: () => {},
    bufferedAmount: 0,
    flushedBytes: 0,
    pauseReading: () => {},
    resumeReading: () => {},
    description: "scripted",
  };
  return transport;
}

const idle = (wake: () => void) => new VirtualTimer({ at: () => {} }, wake);

describe("CONV-10: ClientDriver.listMembers", () => {
  it("CONV-10: resolves with every page's members", async () => {
    const server = (f: Frame): FrameInit[] => {
      const id = f.requestId;
      switch (f.body.case) {
        case "hello":
          return [{ requestId: id, body: { case: "welcome", value: { ...WELCOME, features: [Feature.MEMBER_PAGES] } } }];
        case "authenticate":
          return [{ requestId: id, body: { case: "authenticated", value: { userId: "u", deviceId: "d", epoch: "e1" } } }];
        case "syncUser":
          return [{ requestId: id, body: { case: "userPage", value: { snapshot: { epoch: "e1", cursor: 1n, conversations: [conversation("c1")] }, headCursor: 1n } } }];
        case "listMembers":
          return f.body.value.afterUserId === ""
            ? [memberPage(f, { members: members("a", "b"), continueAfter: "b", lastSeq: 5, memberCount: 3 })]
            : [memberPage(f, { members: members("c"), lastSeq: 6, memberCount: 3 })];
        default:
          return [];
      }
    };
    const driver = new ClientDriver(newClient(), { connect: async () => scriptedTransport(server), onEvent: () => {}, now: () => 0, timer: idle });
    driver.start();
    const list = await driver.listMembers("c1");
    expect(list.members.map((m) => m.userId)).toEqual(["a", "b", "c"]);
    expect(list.lastSeq).toBe(5n);
    driver.stop();
  });

  it("EXT-5: rejects with ERROR_CODE_UNKNOWN_FRAME when the client does not offer the feature, without connecting", async () => {
    let connects = 0;
    const driver = new ClientDriver(newClient({ features: [] }), { connect: async () => (connects++, scriptedTransport(() => [])), onEvent: () => {}, now: () => 0, timer: idle });
    const error = await driver.listMembers("c1").catch((e: unknown) => e);
    expect(isImwireError(error) && error.code).toBe(ErrorCode.UNKNOWN_FRAME);
    expect(connects).toBe(0);
  });

  it("CONV-10: a listing still pending when the driver stops is rejected, not left hanging", async () => {
    const driver = new ClientDriver(newClient(), { connect: () => new Promise<FrameTransport>(() => {}), onEvent: () => {}, now: () => 0, timer: idle });
    driver.start();
    const pending = driver.listMembers("c1").catch((e: unknown) => e);
    driver.stop();
    const error = await pending;
    expect(isImwireError(error) && error.code).toBe(ErrorCode.UNAVAILABLE);
  });
});
