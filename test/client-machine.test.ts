import { describe, expect, it } from "vitest";
import { sent, appEvents, connects, closes, framesOf, one, receive, type FrameInit, type BodyOf } from "./support/client-outputs.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { decodeFrame, encodeFrame, frame } from "../src/codec/frame-codec.js";
import { errorFrame } from "../src/codec/error-frame.js";
import { ConversationKind, type ConversationSchema } from "../src/gen/imwire/v1/conversation_pb.js";
import type { UserEventSchema } from "../src/gen/imwire/v1/delivery_pb.js";
import { ErrorCode } from "../src/gen/imwire/v1/error_pb.js";
import type { Frame } from "../src/gen/imwire/v1/frame_pb.js";
import type { ConversationEventSchema } from "../src/gen/imwire/v1/message_pb.js";
import { DeviceState, ReceiveMode } from "../src/gen/imwire/v1/settings_pb.js";
import type { SnapshotSchema } from "../src/gen/imwire/v1/sync_pb.js";
import { ClientMachine } from "../src/machines/client/client-machine.js";
import type { ClientDeps, ClientOptions } from "../src/machines/client/options.js";
import type { ClientOutput } from "../src/machines/client/types.js";

/**
 * The client machine driven directly: the test plays the server, reading the
 * client's "send" outputs and answering with hand-made frames. Time is the
 * `now` argument; nothing sleeps.
 */

// ---- helpers ---------------------------------------------------------------


const OPTIONS = { deviceId: "d", lossyTransport: true, attemptTimeoutMs: 1_000, gapWaitMs: 100, ackDelayMs: 50 };

const WELCOME = {
  version: 1,
  maxFrameSize: 1_048_576,
  heartbeatIntervalMs: 30_000,
  maxInFlight: 100,
  receiveWindow: 100,
  dedupWindowS: 86_400,
};

function newClient(options: Partial<ClientOptions> = {}, deps: Partial<ClientDeps> = {}): ClientMachine {
  let ids = 0;
  return new ClientMachine({ ...OPTIONS, ...options }, { token: () => "u|d", random: () => 0.5, newId: () => `m${++ids}`, ...deps });
}


function tick(client: ClientMachine, now: number): ClientOutput[] {
  client.tick(now);
  return client.takeOutputs();
}

function conversation(id: string, extra: { lastSeq?: bigint; firstVisibleSeq?: bigint; receiveMode?: ReceiveMode } = {}): MessageInitShape<typeof ConversationSchema> {
  return { conversationId: id, kind: ConversationKind.GROUP, firstVisibleSeq: 1n, lastSeq: 0n, memberUserIds: ["u", "u2"], ...extra };
}

function message(conversationId: string, seq: number): MessageInitShape<typeof ConversationEventSchema> {
  return {
    conversationId,
    seq: BigInt(seq),
    body: { case: "message", value: { messageId: `${conversationId}/${seq}`, content: { kind: { case: "text", value: { text: `#${seq}` } } } } },
  };
}

function eventEntry(cursor: number, prevCursor: number, conversationId: string, seq: number): MessageInitShape<typeof UserEventSchema> {
  return { cursor: BigInt(cursor), prevCursor: BigInt(prevCursor), body: { case: "event", value: message(conversationId, seq) } };
}

function notifyEntry(cursor: number, prevCursor: number, conversationId: string, seq: number): MessageInitShape<typeof UserEventSchema> {
  return { cursor: BigInt(cursor), prevCursor: BigInt(prevCursor), body: { case: "notify", value: { conversationId, seq: BigInt(seq) } } };
}

const deliver = (entry: MessageInitShape<typeof UserEventSchema>): FrameInit => ({ body: { case: "deliver", value: entry } });

const hi = { kind: { case: "text" as const, value: { text: "hi" } } };

/** The seqs of the conversation events handed to the application. */
const eventSeqs = (outputs: readonly ClientOutput[]): number[] =>
  appEvents(outputs).flatMap((e) => (e.kind === "event" ? [Number(e.event.seq)] : []));

const SNAPSHOT: MessageInitShape<typeof SnapshotSchema> = { epoch: "e1", cursor: 10n, conversations: [conversation("c1")] };

interface HandshakeOptions {
  readonly welcome?: Partial<typeof WELCOME>;
  readonly epoch?: string;
  readonly resumed?: boolean;
  /** The answer to sync_user when not resumed. */
  readonly snapshot?: MessageInitShape<typeof SnapshotSchema>;
}

interface Session {
  readonly connection: number;
  /** Every frame the client sent on the connection, hello first. */
  readonly frames: Frame[];
  /** Every output since the connection was reported open. */
  readonly outputs: ClientOutput[];
}

/**
 * The connection asked for is open: answer hello with welcome, authenticate
 * with authenticated, and (unless resumed) sync_user with a snapshot page.
 */
function handshake(client: ClientMachine, connection: number, now: number, options: HandshakeOptions = {}): Session {
  client.connected(connection, now);
  const outputs = client.takeOutputs();
  const hello = one(sent(outputs), "hello");
  outputs.push(...receive(client, now, { requestId: hello.requestId, body: { case: "welcome", value: { ...WELCOME, ...options.welcome } } }));
  const authenticate = one(sent(outputs), "authenticate");
  const resumed = options.resumed ?? false;
  outputs.push(
    ...receive(client, now, {
      requestId: authenticate.requestId,
      body: { case: "authenticated", value: { userId: "u", deviceId: "d", epoch: options.epoch ?? "e1", resumed } },
    }),
  );
  if (!resumed) {
    const syncUser = one(sent(outputs), "syncUser");
    const snapshot = options.snapshot ?? SNAPSHOT;
    outputs.push(...receive(client, now, { requestId: syncUser.requestId, body: { case: "userPage", value: { snapshot, headCursor: snapshot.cursor } } }));
  }
  return { connection, frames: sent(outputs), outputs };
}

/** Tick at `now`, take the connection the client asks for, and complete the handshake on it. */
function connect(client: ClientMachine, now: number, options: HandshakeOptions = {}): Session {
  const asked = connects([...client.takeOutputs(), ...tick(client, now)]);
  expect(asked, "one connect output").toHaveLength(1);
  return handshake(client, asked[0]!, now, options);
}

/** A fresh client, started and ready at time 0 with SNAPSHOT (epoch e1, cursor 10, conversation c1). */
function readyClient(options: Partial<ClientOptions> = {}, deps: Partial<ClientDeps> = {}, handshakeOptions: HandshakeOptions = {}): { client: ClientMachine; session: Session } {
  const client = newClient(options, deps);
  client.start(0);
  const session = connect(client, 0, handshakeOptions);
  expect(client.status).toBe("ready");
  return { client, session };
}

/**
 * Drive the client from its wake-ups until `until`, playing a server that
 * answers pings with pongs (and, when given, other requests). Returns every
 * output with its time.
 */
function run(client: ClientMachine, until: number, answer: (f: Frame, now: number) => FrameInit | undefined = () => undefined): { at: number; output: ClientOutput }[] {
  const log: { at: number; output: ClientOutput }[] = [];
  const handle = (outputs: ClientOutput[], now: number) => {
    for (const output of outputs) {
      log.push({ at: now, output });
      if (output.kind !== "send") continue;
      const f = output.frame;
      const reply = f.body.case === "ping" ? { body: { case: "pong" as const, value: { nonce: f.body.value.nonce } } } : answer(f, now);
      if (reply) handle(receive(client, now, reply), now);
    }
  };
  for (let steps = 0; steps < 100_000; steps++) {
    const wake = client.nextWakeup();
    if (wake === undefined || wake > until) return log;
    client.tick(wake);
    handle(client.takeOutputs(), wake);
  }
  throw new Error("the client never stopped waking up");
}

// ---- connection lifecycle ---------------------------------------------------

describe("CONN-1: hello first", () => {
  it("CONN-1: the first frame after connected() is hello with the offered versions and the device id", () => {
    const client = newClient();
    client.start(0);
    const asked = client.takeOutputs();
    expect(connects(asked)).toEqual([1]);
    expect(sent(asked)).toEqual([]);
    client.connected(1, 5);
    const outputs = client.takeOutputs();
    const frames = sent(outputs);
    expect(frames).toHaveLength(1);
    expect(frames[0]!.body.case).toBe("hello");
    const hello = one(frames, "hello");
    expect(hello.requestId).not.toBe(0);
    expect(hello.value.versions).toEqual([1]);
    expect(hello.value.deviceId).toBe("d");
  });
});

describe("CONN-3: refusing a welcome", () => {
  it.each([
    ["a version it did not offer", { version: 2 }],
    ["max_frame_size 1000 (LIM-1)", { maxFrameSize: 1_000 }],
    ["heartbeat_interval_ms 999 (LIM-6)", { heartbeatIntervalMs: 999 }],
    ["max_in_flight 0 (LIM-6)", { maxInFlight: 0 }],
    ["dedup_window_s 3600 (LIM-6)", { dedupWindowS: 3_600 }],
  ])("CONN-3: a welcome with %s makes the client close without sending anything else", (_, bad) => {
    const client = newClient();
    client.start(0);
    client.takeOutputs();
    client.connected(1, 0);
    const hello = one(sent(client.takeOutputs()), "hello");
    const outputs = receive(client, 10, { requestId: hello.requestId, body: { case: "welcome", value: { ...WELCOME, ...bad } } });
    expect(sent(outputs)).toEqual([]);
    expect(closes(outputs)).toEqual([1]);
    expect(client.status).not.toBe("ready");
  });

  it("CONN-8, CONN-3: after refusing welcomes the client backs off before reconnecting", () => {
    const client = newClient({}, { random: () => 0.999 });
    client.start(0);
    client.takeOutputs();
    let connection = 1;
    let now = 0;
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      client.connected(connection, now);
      const hello = one(sent(client.takeOutputs()), "hello");
      receive(client, now, { requestId: hello.requestId, body: { case: "welcome", value: { ...WELCOME, version: 2 } } });
      const wake = client.nextWakeup()!;
      delays.push(wake - now);
      now = wake;
      connection = connects(tick(client, now))[0]!;
    }
    // Full jitter with random() = 0.999: close to 500, 1000, 2000, 4000 ms; the client reconnects at once every time.
    expect(Math.min(...delays)).toBeGreaterThan(0);
    expect(delays[3]!).toBeGreaterThan(delays[0]!);
  });
});

describe("CONN-9: requests wait for authentication", () => {
  it("CONN-9: sends made before the connection or during the handshake wait in the client, and go out once authenticated", () => {
    const client = newClient();
    const early = client.send("c1", hi, 0);
    client.start(0);
    expect(connects(client.takeOutputs())).toEqual([1]);
    client.connected(1, 10);
    const during = client.send("c1", hi, 10);
    const hello = one(sent(client.takeOutputs()), "hello");
    const afterWelcome = sent(receive(client, 20, { requestId: hello.requestId, body: { case: "welcome", value: WELCOME } }));
    expect(afterWelcome.map((f) => f.body.case)).toEqual(["authenticate"]);
    const auth = one(afterWelcome, "authenticate");
    const afterAuth = sent(receive(client, 30, { requestId: auth.requestId, body: { case: "authenticated", value: { userId: "u", deviceId: "d", epoch: "e1" } } }));
    expect(framesOf(afterAuth, "sendMessage").map((f) => f.value.clientMessageId)).toEqual([early, during]);
  });
});

describe("connection ids", () => {
  it("disconnected() and connected() naming a stale connection are ignored", () => {
    const { client } = readyClient();
    client.disconnected(1, 1_000);
    client.takeOutputs();
    const reconnectAt = client.nextWakeup()!;
    expect(connects(tick(client, reconnectAt))).toEqual([2]);
    // News of the old connection while the new one is being opened.
    client.disconnected(1, reconnectAt + 1);
    client.connected(1, reconnectAt + 1);
    expect(client.takeOutputs()).toEqual([]);
    expect(client.status).toBe("connecting");
    // The new connection is not disturbed: the handshake completes on it.
    const session = handshake(client, 2, reconnectAt + 2, { resumed: true });
    expect(client.status).toBe("ready");
    // A late close of connection 1 changes nothing, and no second connect follows.
    client.disconnected(1, reconnectAt + 3);
    expect(client.takeOutputs()).toEqual([]);
    expect(client.status).toBe("ready");
    expect(connects(tick(client, reconnectAt + 10_000))).toEqual([]);
    expect(one(session.frames, "hello").requestId).toBe(1);
  });
});

describe("CONN-7: go_away", () => {
  it("CONN-7: go_away with reconnect_delay_ms 1000: no new requests on that connection, close when idle, reconnect no sooner than 1000 ms later", () => {
    const { client } = readyClient();
    expect(receive(client, 100, { body: { case: "goAway", value: { reason: "restart", reconnectDelayMs: 1_000 } } })).toEqual([]);
    const id = client.send("c1", hi, 100);
    const afterSend = client.takeOutputs();
    expect(framesOf(sent(afterSend), "sendMessage")).toEqual([]);
    const closing = tick(client, 100);
    expect(closes(closing)).toEqual([1]);
    expect(sent(closing)).toEqual([]);
    const wake = client.nextWakeup()!;
    expect(wake).toBeGreaterThanOrEqual(1_100);
    expect(wake).toBeLessThanOrEqual(2_100); // plus a jitter of up to the same amount
    expect(connects(tick(client, 1_099))).toEqual([]);
    expect(connects(tick(client, wake - 1))).toEqual([]);
    const session = connect(client, wake, { resumed: true });
    expect(session.connection).toBe(2);
    expect(one(session.frames, "sendMessage").value.clientMessageId).toBe(id);
  });

  it("CONN-7: while a request sent before go_away is unanswered, the client waits for its answer before closing", () => {
    const { client } = readyClient();
    const id = client.send("c1", hi, 50);
    const request = one(sent(client.takeOutputs()), "sendMessage");
    receive(client, 100, { body: { case: "goAway", value: { reconnectDelayMs: 1_000 } } });
    expect(closes(tick(client, 100))).toEqual([]);
    const answered = receive(client, 200, {
      requestId: request.requestId,
      body: { case: "sendAck", value: { conversationId: "c1", clientMessageId: id, seq: 1n, messageId: "x1" } },
    });
    expect(appEvents(answered)).toContainEqual(expect.objectContaining({ kind: "sent", clientMessageId: id }));
    expect(closes(tick(client, 200))).toEqual([1]);
  });
});

describe("CONN-8: reconnect backoff", () => {
  it("CONN-8: reconnect delays lie in [0, min(reconnectMaxMs, reconnectBaseMs × 2^attempt)], growing per failed attempt, and reset after authentication", () => {
    const { client } = readyClient({}, { random: () => 0.999 });
    let now = 1_000;
    client.disconnected(1, now);
    client.takeOutputs();
    const ceilings = [500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000];
    let connection = 1;
    for (const ceiling of ceilings) {
      const wake = client.nextWakeup()!;
      const delay = wake - now;
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThanOrEqual(ceiling);
      expect(delay).toBeGreaterThan(0.99 * ceiling); // random() = 0.999 shows the ceiling
      expect(connects(tick(client, wake - 0.01))).toEqual([]);
      const asked = connects(tick(client, wake));
      expect(asked).toEqual([connection + 1]);
      connection = asked[0]!;
      now = wake + 10;
      client.disconnected(connection, now); // could not be opened
      client.takeOutputs();
    }
    // A successful authentication resets the backoff.
    const wake = client.nextWakeup()!;
    connect(client, wake, { resumed: true });
    client.disconnected(connection + 1, wake + 100);
    expect(client.nextWakeup()! - (wake + 100)).toBeLessThanOrEqual(500);
  });
});

// ---- authentication and resumption ------------------------------------------

describe("AUTH-5: resume", () => {
  it("AUTH-5: a device without state sends no resume", () => {
    const { session } = readyClient();
    expect(one(session.frames, "authenticate").value.resume).toBeUndefined();
    expect(one(session.frames, "authenticate").value.token).toBe("u|d");
  });

  it("AUTH-5: after a lost connection, authenticate carries resume {epoch, cursor} with what the device holds; resumed:true makes it ready without sync_user", () => {
    const { client } = readyClient();
    receive(client, 100, deliver(eventEntry(12, 10, "c1", 1)));
    expect(client.cursor).toBe(12n);
    client.disconnected(1, 200);
    const session = connect(client, client.nextWakeup()!, { resumed: true });
    const resume = one(session.frames, "authenticate").value.resume;
    expect(resume?.epoch).toBe("e1");
    expect(resume?.cursor).toBe(12n);
    expect(framesOf(session.frames, "syncUser")).toEqual([]);
    expect(client.status).toBe("ready");
    expect(appEvents(session.outputs)).toContainEqual({ kind: "status", status: "ready" });
  });

  it("AUTH-5, SYNC-5: resumed:false makes it sync_user from what it holds before it is ready", () => {
    const { client } = readyClient();
    receive(client, 100, deliver(eventEntry(12, 10, "c1", 1)));
    client.disconnected(1, 200);
    const wake = client.nextWakeup()!;
    client.tick(wake);
    const connection = connects(client.takeOutputs())[0]!;
    client.connected(connection, wake);
    const hello = one(sent(client.takeOutputs()), "hello");
    const auth = one(sent(receive(client, wake, { requestId: hello.requestId, body: { case: "welcome", value: WELCOME } })), "authenticate");
    const outputs = receive(client, wake, { requestId: auth.requestId, body: { case: "authenticated", value: { userId: "u", deviceId: "d", epoch: "e1", resumed: false } } });
    const syncUser = one(sent(outputs), "syncUser");
    expect(syncUser.value.afterCursor).toBe(12n);
    expect(syncUser.value.epoch).toBe("e1");
    expect(client.status).toBe("syncing");
    expect(framesOf(sent(outputs), "deliveryAck")).toEqual([]);
  });
});

describe("AUTH-4: session replaced", () => {
  it("AUTH-4: SESSION_REPLACED (request_id 0) makes the status replaced, and no connect output ever follows", () => {
    const { client } = readyClient();
    const outputs = receive(client, 100, errorFrame(ErrorCode.SESSION_REPLACED, { requirement: "AUTH-4" }));
    expect(client.status).toBe("replaced");
    expect(appEvents(outputs)).toContainEqual({ kind: "status", status: "replaced" });
    client.disconnected(1, 110);
    const after = client.takeOutputs();
    expect(connects(after)).toEqual([]);
    expect(client.status).toBe("replaced");
    expect(client.nextWakeup()).toBeUndefined();
    for (const at of [120, 1_000, 60_000, 3_600_000]) expect(connects(tick(client, at))).toEqual([]);
  });
});

// ---- sync and delivery ---------------------------------------------------------

describe("SYNC-5, DLV-2: synchronising before pushes", () => {
  it("SYNC-5, DLV-2: a fresh device syncs; a snapshot page makes it send delivery_ack with the snapshot cursor and become ready", () => {
    const client = newClient();
    client.start(0);
    client.takeOutputs();
    client.connected(1, 0);
    const hello = one(sent(client.takeOutputs()), "hello");
    const auth = one(sent(receive(client, 0, { requestId: hello.requestId, body: { case: "welcome", value: WELCOME } })), "authenticate");
    const afterAuth = receive(client, 0, { requestId: auth.requestId, body: { case: "authenticated", value: { userId: "u", deviceId: "d", epoch: "e1", resumed: false } } });
    expect(client.status).toBe("syncing");
    const syncUser = one(sent(afterAuth), "syncUser");
    expect(syncUser.value.afterCursor).toBe(0n);
    expect(syncUser.value.epoch).toBe("");
    expect(framesOf(sent(afterAuth), "deliveryAck")).toEqual([]);
    const page = receive(client, 10, {
      requestId: syncUser.requestId,
      body: { case: "userPage", value: { snapshot: { epoch: "e1", cursor: 42n, conversations: [conversation("c1")] }, headCursor: 42n } },
    });
    expect(one(sent(page), "deliveryAck").value.cursor).toBe(42n);
    expect(client.status).toBe("ready");
    expect(client.epoch).toBe("e1");
    expect(client.cursor).toBe(42n);
    expect(appEvents(page)).toEqual(expect.arrayContaining([{ kind: "resynced", epoch: "e1" }, { kind: "status", status: "ready" }]));
  });

  it("SYNC-5: after a snapshot, conversations held below last_seq are fetched with sync_conversation, and delivery_ack follows", () => {
    const { session } = readyClient({}, {}, { snapshot: { epoch: "e1", cursor: 10n, conversations: [conversation("c1", { lastSeq: 3n }), conversation("c2")] } });
    const frames = session.frames.filter((f) => f.body.case === "syncConversation" || f.body.case === "deliveryAck");
    expect(frames.map((f) => f.body.case)).toEqual(["syncConversation", "deliveryAck"]);
    const sync = one(frames, "syncConversation").value;
    expect(sync.conversationId).toBe("c1");
    expect(sync.afterSeq).toBe(0n);
    expect(one(frames, "deliveryAck").value.cursor).toBe(10n);
  });

  it("SYNC-5: sync_user is repeated while has_more, and delivery_ack carries the cursor held at the end", () => {
    const { client } = readyClient();
    client.disconnected(1, 100);
    const wake = client.nextWakeup()!;
    client.tick(wake);
    client.connected(connects(client.takeOutputs())[0]!, wake);
    const hello = one(sent(client.takeOutputs()), "hello");
    const auth = one(sent(receive(client, wake, { requestId: hello.requestId, body: { case: "welcome", value: WELCOME } })), "authenticate");
    const first = one(sent(receive(client, wake, { requestId: auth.requestId, body: { case: "authenticated", value: { userId: "u", deviceId: "d", epoch: "e1" } } })), "syncUser");
    expect(first.value.afterCursor).toBe(10n);
    const page1 = receive(client, wake, { requestId: first.requestId, body: { case: "userPage", value: { events: [eventEntry(12, 10, "c1", 1)], hasMore: true, headCursor: 15n } } });
    expect(framesOf(sent(page1), "deliveryAck")).toEqual([]);
    const second = one(sent(page1), "syncUser");
    expect(second.value.afterCursor).toBe(12n);
    const page2 = receive(client, wake, { requestId: second.requestId, body: { case: "userPage", value: { events: [eventEntry(15, 12, "c1", 2)], hasMore: false, headCursor: 15n } } });
    expect(one(sent(page2), "deliveryAck").value.cursor).toBe(15n);
    expect(eventSeqs([...page1, ...page2])).toEqual([1, 2]);
    expect(client.status).toBe("ready");
  });
});

describe("CUR-3, ACK-1: the user stream and acknowledgements", () => {
  it("CUR-3, ACK-1: entries applied in order are acknowledged cumulatively after ackDelayMs; an entry after a gap is not; after gapWaitMs the client syncs from the held cursor", () => {
    const { client } = readyClient();
    const log: ClientOutput[] = [];
    log.push(...receive(client, 1_000, deliver(eventEntry(12, 10, "c1", 1))));
    log.push(...receive(client, 1_010, deliver(eventEntry(15, 12, "c1", 2))));
    expect(framesOf(sent(log), "deliveryAck")).toEqual([]);
    expect(client.nextWakeup()).toBe(1_050);
    const ack = tick(client, 1_050);
    expect(framesOf(sent(ack), "deliveryAck").map((a) => a.value.cursor)).toEqual([15n]);
    expect(eventSeqs(log)).toEqual([1, 2]);

    // prev_cursor 18 > held 15: kept, not applied, not acknowledged.
    const gap = receive(client, 1_100, deliver(eventEntry(20, 18, "c1", 4)));
    expect(eventSeqs(gap)).toEqual([]);
    expect(client.cursor).toBe(15n);
    expect(client.nextWakeup()).toBe(1_200);
    expect(sent(tick(client, 1_199))).toEqual([]);
    const fetch = tick(client, 1_200);
    expect(framesOf(sent(fetch), "deliveryAck")).toEqual([]);
    const syncUser = one(sent(fetch), "syncUser");
    expect(syncUser.value.afterCursor).toBe(15n);
    expect(syncUser.value.epoch).toBe("e1");

    // The page fills the gap: both entries are applied in order and the ack covers them.
    const filled = receive(client, 1_210, { requestId: syncUser.requestId, body: { case: "userPage", value: { events: [eventEntry(18, 15, "c1", 3)], headCursor: 20n } } });
    expect(eventSeqs(filled)).toEqual([3, 4]);
    expect(client.cursor).toBe(20n);
    const later = run(client, 2_000).map((l) => l.output);
    expect(framesOf(sent(later), "deliveryAck").map((a) => a.value.cursor)).toEqual([20n]);
  });

  it("ACK-1: nothing after a gap is acknowledged, whatever time passes before it fills", () => {
    const { client } = readyClient();
    receive(client, 100, deliver(eventEntry(12, 10, "c1", 1)));
    receive(client, 101, deliver(eventEntry(30, 25, "c1", 3)));
    // Keep the connection alive for a while; never answer sync_user.
    const acks = framesOf(sent(run(client, 20_000).map((l) => l.output)), "deliveryAck").map((a) => a.value.cursor);
    expect(acks.length).toBeGreaterThan(0);
    expect(acks.every((cursor) => cursor === 12n)).toBe(true);
  });

  it("ACK-1: acknowledges at once after ackEvery entries", () => {
    const { client } = readyClient({ ackEvery: 4 });
    const outputs: ClientOutput[] = [];
    for (let i = 1; i <= 4; i++) outputs.push(...receive(client, 100, deliver(eventEntry(10 + i, 9 + i, "c1", i))));
    expect(framesOf(sent(outputs), "deliveryAck").map((a) => a.value.cursor)).toEqual([14n]);
  });

  it("CUR-3: a duplicate entry is dropped: its event is not handed out again", () => {
    const { client } = readyClient();
    const first = receive(client, 100, deliver(eventEntry(12, 10, "c1", 1)));
    const again = receive(client, 101, deliver(eventEntry(12, 10, "c1", 1)));
    expect(eventSeqs(first)).toEqual([1]);
    expect(eventSeqs(again)).toEqual([]);
    expect(client.cursor).toBe(12n);
  });
});

describe("CUR-6: the head cursor in pong", () => {
  it("CUR-6: a pong whose head_cursor is beyond what is held, with no push since the last pong, makes the client sync_user", () => {
    const { client } = readyClient();
    const outputs = receive(client, 100, { body: { case: "pong", value: { nonce: 1n, headCursor: 20n } } });
    expect(one(sent(outputs), "syncUser").value).toMatchObject({ afterCursor: 10n, epoch: "e1" });
  });

  it("CUR-6: no sync_user when a push arrived since the last pong, or when the head is what is held", () => {
    const { client } = readyClient();
    receive(client, 100, deliver(eventEntry(12, 10, "c1", 1)));
    expect(framesOf(sent(receive(client, 110, { body: { case: "pong", value: { nonce: 1n, headCursor: 20n } } })), "syncUser")).toEqual([]);
    expect(framesOf(sent(receive(client, 120, { body: { case: "pong", value: { nonce: 2n, headCursor: 12n } } })), "syncUser")).toEqual([]);
  });
});

describe("SEQ-3: conversation gaps", () => {
  it("SEQ-3: an event with seq two ahead is kept and triggers sync_conversation(after_seq = held) after gapWaitMs", () => {
    const { client } = readyClient();
    expect(eventSeqs(receive(client, 1_000, deliver(eventEntry(11, 10, "c1", 1))))).toEqual([1]);
    expect(eventSeqs(receive(client, 1_001, deliver(eventEntry(12, 11, "c1", 3))))).toEqual([]);
    expect(framesOf(sent(tick(client, 1_100)), "syncConversation")).toEqual([]); // 99 ms: still waiting
    const fetch = tick(client, 1_101);
    const sync = one(sent(fetch), "syncConversation");
    expect(sync.value.conversationId).toBe("c1");
    expect(sync.value.afterSeq).toBe(1n);
    const page = receive(client, 1_110, {
      requestId: sync.requestId,
      body: { case: "conversationPage", value: { conversationId: "c1", events: [message("c1", 2), message("c1", 3)], lastSeq: 3n, firstVisibleSeq: 1n } },
    });
    expect(eventSeqs(page)).toEqual([2, 3]);
    expect(client.conversations().get("c1")!.held).toBe(3n);
  });

  it("SEQ-4: an event that arrives again through a page is not handed out twice", () => {
    const { client } = readyClient();
    receive(client, 1_000, deliver(eventEntry(11, 10, "c1", 1)));
    receive(client, 1_001, deliver(eventEntry(12, 11, "c1", 3)));
    const sync = one(sent(tick(client, 1_101)), "syncConversation");
    const page = receive(client, 1_110, {
      requestId: sync.requestId,
      body: { case: "conversationPage", value: { conversationId: "c1", events: [message("c1", 1), message("c1", 2), message("c1", 3)], lastSeq: 3n } },
    });
    expect(eventSeqs(page)).toEqual([2, 3]);
    expect(eventSeqs(receive(client, 1_120, deliver(eventEntry(13, 12, "c1", 3))))).toEqual([]);
  });
});

// ---- sends: idempotency and flow control -------------------------------------

describe("IDEM-1: retries keep the client_message_id", () => {
  it("IDEM-1: an unanswered send is sent again after the attempt timeout (doubling), with the same client_message_id, and again on a new connection", () => {
    const { client } = readyClient();
    const id = client.send("c1", hi, 100);
    const first = one(sent(client.takeOutputs()), "sendMessage");
    expect(first.value.clientMessageId).toBe(id);
    expect(framesOf(sent(tick(client, 1_099)), "sendMessage")).toEqual([]);
    const second = one(sent(tick(client, 1_100)), "sendMessage");
    expect(second.value.clientMessageId).toBe(id);
    expect(second.requestId).not.toBe(first.requestId);
    expect(second.value.content).toEqual(first.value.content);
    expect(framesOf(sent(tick(client, 3_099)), "sendMessage")).toEqual([]); // the timeout doubled to 2000
    const third = one(sent(tick(client, 3_100)), "sendMessage");
    expect(third.value.clientMessageId).toBe(id);

    client.disconnected(1, 3_200);
    const session = connect(client, client.nextWakeup()!, { resumed: true });
    const fourth = one(session.frames, "sendMessage");
    expect(fourth.value.clientMessageId).toBe(id);
    expect(fourth.value.conversationId).toBe("c1");
    const answered = receive(client, 4_000, {
      requestId: fourth.requestId,
      body: { case: "sendAck", value: { conversationId: "c1", clientMessageId: id, seq: 1n, messageId: "x1", serverTimeMs: 4_000n } },
    });
    expect(appEvents(answered).filter((e) => e.kind === "sent")).toEqual([expect.objectContaining({ kind: "sent", clientMessageId: id })]);
    expect(client.pendingOperations).toBe(0);
  });

  it.each([
    ["first attempt's answer first", [0, 1]],
    ["retry's answer first", [1, 0]],
  ])("IDEM-1, IDEM-2: answers to both attempts (%s) produce exactly one sent event", (_, order) => {
    const { client } = readyClient();
    const id = client.send("c1", hi, 100);
    const attempts = [one(sent(client.takeOutputs()), "sendMessage"), one(sent(tick(client, 1_100)), "sendMessage")];
    const outputs: ClientOutput[] = [];
    for (const i of order) {
      outputs.push(
        ...receive(client, 1_200 + i, {
          requestId: attempts[i]!.requestId,
          body: { case: "sendAck", value: { conversationId: "c1", clientMessageId: id, seq: 7n, messageId: "x7", serverTimeMs: 150n } },
        }),
      );
    }
    const sentEvents = appEvents(outputs).filter((e) => e.kind === "sent");
    expect(sentEvents).toHaveLength(1);
    expect(sentEvents[0]).toMatchObject({ kind: "sent", clientMessageId: id, ack: { seq: 7n, messageId: "x7" } });
    expect(framesOf(sent(tick(client, 20_000)), "sendMessage")).toEqual([]);
  });
});

describe("CONN-10: an answer to any attempt", () => {
  it("CONN-10, IDEM-1: after a retry, the answer to the first attempt is taken as the answer", () => {
    const { client } = readyClient();
    const id = client.send("c1", hi, 100);
    const first = one(sent(client.takeOutputs()), "sendMessage");
    one(sent(tick(client, 1_100)), "sendMessage"); // the retry, never answered here
    const answered = receive(client, 1_200, {
      requestId: first.requestId,
      body: { case: "sendAck", value: { conversationId: "c1", clientMessageId: id, seq: 7n, messageId: "x7" } },
    });
    expect(appEvents(answered).filter((e) => e.kind === "sent")).toEqual([expect.objectContaining({ clientMessageId: id })]);
    expect(client.pendingOperations).toBe(0);
  });
});

describe("IDEM-4: the dedup window", () => {
  it("IDEM-4: a send unanswered past welcome.dedup_window_s is reported failed with code expired, and never retried after the window", () => {
    const { client } = readyClient();
    const id = client.send("c1", hi, 100);
    const log = [{ at: 100, output: client.takeOutputs()[0]! }, ...run(client, 100 + 86_400_000 + 120_000)];
    const attempts = log.filter((l) => l.output.kind === "send" && l.output.frame.body.case === "sendMessage");
    expect(attempts.length).toBeGreaterThan(3);
    for (const attempt of attempts) expect(attempt.at).toBeLessThanOrEqual(100 + 86_400_000);
    const failed = log.filter((l) => l.output.kind === "app" && l.output.event.kind === "failed");
    expect(failed).toHaveLength(1);
    expect(failed[0]!.output).toEqual({ kind: "app", event: expect.objectContaining({ kind: "failed", operationId: id, code: "expired" }) });
    expect(failed[0]!.at).toBeGreaterThan(100 + 86_400_000);
    expect(failed[0]!.at).toBeLessThanOrEqual(100 + 86_400_000 + 60_000);
    expect(client.pendingOperations).toBe(0);
  });

  it("IDEM-4: a send still unanswered when the client reconnects after the window is failed, not sent", () => {
    const { client } = readyClient();
    const id = client.send("c1", hi, 100);
    client.takeOutputs();
    client.disconnected(1, 200);
    const session = connect(client, 100 + 86_400_001, { resumed: true });
    expect(framesOf(session.frames, "sendMessage")).toEqual([]);
    expect(appEvents(session.outputs)).toContainEqual(expect.objectContaining({ kind: "failed", operationId: id, code: "expired" }));
  });
});

describe("FLOW-1: requests in flight", () => {
  it("FLOW-1: with max_in_flight 2, five sends put at most 2 requests in flight; each answer releases the next", () => {
    const { client } = readyClient({}, {}, { welcome: { maxInFlight: 2 } });
    const ids = [1, 2, 3, 4, 5].map((i) => client.send("c1", { kind: { case: "text", value: { text: `${i}` } } }, 100));
    const inFlight = framesOf(sent(client.takeOutputs()), "sendMessage");
    expect(inFlight.map((f) => f.value.clientMessageId)).toEqual(ids.slice(0, 2));
    const order: string[] = inFlight.map((f) => f.value.clientMessageId);
    let now = 200;
    while (inFlight.length > 0) {
      const answered = inFlight.shift()!;
      const outputs = receive(client, now++, {
        requestId: answered.requestId,
        body: { case: "sendAck", value: { conversationId: "c1", clientMessageId: answered.value.clientMessageId, seq: 1n, messageId: "x" } },
      });
      const released = framesOf(sent(outputs), "sendMessage");
      expect(released.length).toBeLessThanOrEqual(1);
      inFlight.push(...released);
      order.push(...released.map((f) => f.value.clientMessageId));
      expect(inFlight.length).toBeLessThanOrEqual(2);
      expect(appEvents(outputs).filter((e) => e.kind === "sent")).toEqual([expect.objectContaining({ clientMessageId: answered.value.clientMessageId })]);
    }
    expect(order).toEqual(ids);
    expect(client.pendingOperations).toBe(0);
  });

  it("FLOW-1 CONN-10: over a reliable transport an unanswered request is not sent again on the same connection", () => {
    const { client } = readyClient({ lossyTransport: false }, {}, { welcome: { maxInFlight: 1 } });
    client.send("c1", hi, 100);
    const outputs = [...client.takeOutputs(), ...tick(client, 1_100), ...tick(client, 3_100), ...tick(client, 20_000)];
    expect(framesOf(sent(outputs), "sendMessage")).toHaveLength(1);
  });

  it("FLOW-1 CONN-10: over a lossy transport a timed-out attempt is given up and no longer blocks the in-flight slot", () => {
    const { client } = readyClient({}, {}, { welcome: { maxInFlight: 1 } });
    const first = client.send("c1", hi, 100);
    client.takeOutputs();
    const second = client.send("c1", { kind: { case: "text", value: { text: "second" } } }, 200);
    expect(framesOf(sent(client.takeOutputs()), "sendMessage")).toEqual([]); // the slot is taken
    const retried = framesOf(sent(tick(client, 1_100)), "sendMessage");
    expect(retried.map((f) => f.value.clientMessageId)).toEqual([first]); // the first, again, in the freed slot
    expect(second).not.toBe(first);
  });

  it("FLOW-1: at the limit, a queued send does not make the client wake at once, over and over (a livelock npm run soak found)", () => {
    for (const lossyTransport of [false, true]) {
      const { client } = readyClient({ lossyTransport }, {}, { welcome: { maxInFlight: 1 } });
      client.send("c1", hi, 100);
      client.send("c1", hi, 100);
      expect(framesOf(sent(client.takeOutputs()), "sendMessage")).toHaveLength(1);
      const wake = client.nextWakeup();
      expect(wake === undefined || wake > 100, `lossyTransport ${lossyTransport}: next wake-up ${wake}`).toBe(true);
    }
  });

  it("FLOW-1: sync_conversation requests after a snapshot respect max_in_flight", () => {
    const snapshot = { epoch: "e1", cursor: 10n, conversations: ["c1", "c2", "c3"].map((id) => conversation(id, { lastSeq: 3n })) };
    const { session } = readyClient({}, {}, { welcome: { maxInFlight: 2 }, snapshot });
    expect(framesOf(session.frames, "syncConversation").length).toBeLessThanOrEqual(2);
  });
});

describe("FLOW-4, ERR-3: refusals", () => {
  it("FLOW-4, ERR-3: a retryable error with retry_after_ms 5000 is not retried before 5000 ms, then retried with the same key", () => {
    const { client } = readyClient();
    const id = client.send("c1", hi, 100);
    const first = one(sent(client.takeOutputs()), "sendMessage");
    const refused = receive(client, 200, errorFrame(ErrorCode.RATE_LIMITED, { requestId: first.requestId, retryAfterMs: 5_000 }));
    expect(appEvents(refused).filter((e) => e.kind === "failed" || e.kind === "sent")).toEqual([]);
    const early = run(client, 5_199).filter((l) => l.output.kind === "send" && l.output.frame.body.case === "sendMessage");
    expect(early).toEqual([]);
    const retry = one(sent(tick(client, 5_200)), "sendMessage");
    expect(retry.value.clientMessageId).toBe(id);
    expect(client.pendingOperations).toBe(1);
  });

  it("ERR-3: a non-retryable error (PERMISSION_DENIED) emits failed with its code and is not retried", () => {
    const { client } = readyClient();
    const id = client.send("c1", hi, 100);
    const first = one(sent(client.takeOutputs()), "sendMessage");
    const refused = receive(client, 200, errorFrame(ErrorCode.PERMISSION_DENIED, { requestId: first.requestId, message: "not a member" }));
    expect(appEvents(refused)).toEqual([{ kind: "failed", operationId: id, code: ErrorCode.PERMISSION_DENIED, message: "not a member" }]);
    expect(client.pendingOperations).toBe(0);
    const later = run(client, 20_000).filter((l) => l.output.kind === "send" && l.output.frame.body.case === "sendMessage");
    expect(later).toEqual([]);
    client.disconnected(1, 20_000);
    const session = connect(client, client.nextWakeup()!, { resumed: true });
    expect(framesOf(session.frames, "sendMessage")).toEqual([]);
  });
});

// ---- heartbeats -------------------------------------------------------------

describe("HB-1, HB-4: heartbeats", () => {
  it("HB-1: pings are sent at least every heartbeat_interval_ms, counting from welcome", () => {
    const { client } = readyClient({}, {}, { welcome: { heartbeatIntervalMs: 1_000 } });
    const log = run(client, 20_000);
    const pings = log.filter((l) => l.output.kind === "send" && l.output.frame.body.case === "ping").map((l) => l.at);
    expect(pings.length).toBeGreaterThanOrEqual(20);
    expect(pings[0]!).toBeLessThanOrEqual(1_000);
    for (let i = 1; i < pings.length; i++) expect(pings[i]! - pings[i - 1]!).toBeLessThanOrEqual(1_000);
    expect(closes(log.map((l) => l.output))).toEqual([]);
    expect(client.status).toBe("ready");
  });

  it("HB-1: pings keep coming while other frames flow", () => {
    const { client } = readyClient({}, {}, { welcome: { heartbeatIntervalMs: 1_000 } });
    const pings: number[] = [];
    let cursor = 10;
    for (let now = 100; now <= 5_000; now += 100) {
      receive(client, now, deliver(eventEntry(cursor + 1, cursor, "c1", cursor - 9)));
      cursor++;
      for (const f of sent(tick(client, now))) if (f.body.case === "ping") pings.push(now);
    }
    expect(pings.length).toBeGreaterThanOrEqual(5);
    expect(pings[0]!).toBeLessThanOrEqual(1_000);
    for (let i = 1; i < pings.length; i++) expect(pings[i]! - pings[i - 1]!).toBeLessThanOrEqual(1_000);
  });

  it("HB-1: a ping is due within heartbeat_interval_ms of welcome even while authenticate is unanswered", () => {
    const client = newClient();
    client.start(0);
    client.takeOutputs();
    client.connected(1, 0);
    const hello = one(sent(client.takeOutputs()), "hello");
    receive(client, 0, { requestId: hello.requestId, body: { case: "welcome", value: { ...WELCOME, heartbeatIntervalMs: 1_000 } } });
    const log = run(client, 2_000);
    const pings = log.filter((l) => l.output.kind === "send" && l.output.frame.body.case === "ping").map((l) => l.at);
    expect(pings.length).toBeGreaterThan(0);
    expect(pings[0]!).toBeLessThanOrEqual(1_000);
  });

  it("HB-4: with nothing received for 1.5 × interval the client closes, and later reconnects on a new connection id", () => {
    const { client } = readyClient({}, {}, { welcome: { heartbeatIntervalMs: 1_000 } });
    const ping = tick(client, 800);
    expect(framesOf(sent(ping), "ping")).toHaveLength(1);
    expect(closes(tick(client, 1_499))).toEqual([]);
    expect(client.nextWakeup()).toBe(1_500);
    const dead = tick(client, 1_500);
    expect(closes(dead)).toEqual([1]);
    expect(client.status).toBe("offline");
    const wake = client.nextWakeup()!;
    expect(wake).toBeGreaterThanOrEqual(1_500);
    expect(wake).toBeLessThanOrEqual(2_000);
    expect(connects(tick(client, wake))).toEqual([2]);
  });

  it("HB-4: any frame received counts: a pong keeps the connection open", () => {
    const { client } = readyClient({}, {}, { welcome: { heartbeatIntervalMs: 1_000 } });
    const ping = one(sent(tick(client, 800)), "ping");
    receive(client, 1_400, { body: { case: "pong", value: { nonce: ping.value.nonce } } });
    expect(closes(tick(client, 1_500))).toEqual([]);
    expect(closes(tick(client, 2_899))).toEqual([]);
    expect(closes(tick(client, 2_900))).toEqual([1]);
  });
});

// ---- receive settings and device state --------------------------------------

describe("RECV-3, RECV-5: notify-form entries", () => {
  it("RECV-3: a notify entry for a known conversation is pulled at once in the foreground", () => {
    const { client } = readyClient();
    const outputs = receive(client, 100, deliver(notifyEntry(11, 10, "c1", 2)));
    const sync = one(sent(outputs), "syncConversation");
    expect(sync.value).toMatchObject({ conversationId: "c1", afterSeq: 0n });
    const page = receive(client, 110, {
      requestId: sync.requestId,
      body: { case: "conversationPage", value: { conversationId: "c1", events: [message("c1", 1), message("c1", 2)], lastSeq: 2n } },
    });
    expect(eventSeqs(page)).toEqual([1, 2]);
  });

  it("RECV-3: a notify entry for an unknown conversation pulls nothing but is still acknowledged", () => {
    const { client } = readyClient();
    const outputs = [...receive(client, 100, deliver(notifyEntry(11, 10, "zz", 2))), ...tick(client, 150)];
    expect(framesOf(sent(outputs), "syncConversation")).toEqual([]);
    expect(framesOf(sent(outputs), "deliveryAck").map((a) => a.value.cursor)).toEqual([11n]);
  });

  it("RECV-5: in the background a notify-only conversation is not pulled; returning to the foreground pulls it", () => {
    const { client } = readyClient({}, {}, { snapshot: { epoch: "e1", cursor: 10n, conversations: [conversation("c1", { receiveMode: ReceiveMode.NOTIFY_ONLY })] } });
    client.setDeviceState(DeviceState.BACKGROUND, 100);
    const announce = one(sent(client.takeOutputs()), "setDeviceState");
    expect(announce.value.state).toBe(DeviceState.BACKGROUND);
    receive(client, 110, { requestId: announce.requestId, body: { case: "deviceStateSet", value: { state: DeviceState.BACKGROUND } } });

    const background = [...receive(client, 200, deliver(notifyEntry(11, 10, "c1", 3))), ...run(client, 5_000).map((l) => l.output)];
    expect(framesOf(sent(background), "syncConversation")).toEqual([]);
    expect(framesOf(sent(background), "deliveryAck").map((a) => a.value.cursor)).toEqual([11n]);

    client.setDeviceState(DeviceState.FOREGROUND, 6_000);
    const foreground = sent(client.takeOutputs());
    expect(one(foreground, "setDeviceState").value.state).toBe(DeviceState.FOREGROUND);
    expect(one(foreground, "syncConversation").value).toMatchObject({ conversationId: "c1", afterSeq: 0n });
  });

  it("RECV-5: a device is FOREGROUND when it connects, so a background client announces its state again on a new connection", () => {
    const { client } = readyClient();
    client.setDeviceState(DeviceState.BACKGROUND, 100, { service: "apns", token: "tok" });
    const first = one(sent(client.takeOutputs()), "setDeviceState");
    expect(first.value).toMatchObject({ state: DeviceState.BACKGROUND, pushService: "apns", pushToken: "tok" });
    receive(client, 110, { requestId: first.requestId, body: { case: "deviceStateSet", value: { state: DeviceState.BACKGROUND } } });
    client.disconnected(1, 200);
    const session = connect(client, client.nextWakeup()!, { resumed: true });
    expect(one(session.frames, "setDeviceState").value).toMatchObject({ state: DeviceState.BACKGROUND, pushService: "apns", pushToken: "tok" });
  });
});

// ---- epochs and snapshots ---------------------------------------------------

describe("CUR-4, SYNC-4: snapshots", () => {
  const twoConversations = { epoch: "e1", cursor: 10n, conversations: [conversation("c1"), conversation("c2")] };

  it("CUR-4: a snapshot with a new epoch replaces conversations not in it, resets the cursor and emits resynced", () => {
    const { client } = readyClient({}, {}, { snapshot: twoConversations });
    expect([...client.conversations().keys()].sort()).toEqual(["c1", "c2"]);
    client.disconnected(1, 100);
    const session = connect(client, client.nextWakeup()!, {
      epoch: "e2",
      resumed: false,
      snapshot: { epoch: "e2", cursor: 3n, conversations: [conversation("c1")] },
    });
    expect(one(session.frames, "authenticate").value.resume).toMatchObject({ epoch: "e1", cursor: 10n });
    expect(one(session.frames, "syncUser").value).toMatchObject({ afterCursor: 10n, epoch: "e1" });
    expect(appEvents(session.outputs)).toContainEqual({ kind: "resynced", epoch: "e2" });
    expect([...client.conversations().keys()]).toEqual(["c1"]);
    expect(client.epoch).toBe("e2");
    expect(client.cursor).toBe(3n);
    expect(one(session.frames, "deliveryAck").value.cursor).toBe(3n);
  });

  it.each([
    ["equal to", 10n],
    ["below", 8n],
  ])("SYNC-4: a snapshot of the same epoch with a cursor %s what is held is ignored", (_, cursor) => {
    const { client } = readyClient({}, {}, { snapshot: twoConversations });
    client.disconnected(1, 100);
    const session = connect(client, client.nextWakeup()!, { resumed: false, snapshot: { epoch: "e1", cursor, conversations: [] } });
    expect(appEvents(session.outputs).filter((e) => e.kind === "resynced")).toEqual([]);
    expect([...client.conversations().keys()].sort()).toEqual(["c1", "c2"]);
    expect(client.cursor).toBe(10n);
    expect(one(session.frames, "deliveryAck").value.cursor).toBe(10n);
  });

  it("SYNC-4: a snapshot of the same epoch beyond what is held replaces the view", () => {
    const { client } = readyClient({}, {}, { snapshot: twoConversations });
    client.disconnected(1, 100);
    const session = connect(client, client.nextWakeup()!, { resumed: false, snapshot: { epoch: "e1", cursor: 50n, conversations: [conversation("c2")] } });
    expect(appEvents(session.outputs)).toContainEqual({ kind: "resynced", epoch: "e1" });
    expect([...client.conversations().keys()]).toEqual(["c2"]);
    expect(client.cursor).toBe(50n);
  });
});

describe("SYNC-7: snapshots in pages", () => {
  it("applies the pages as one snapshot: asks on with snapshot_after, drops unlisted conversations at the end, keeps the first page's cursor, skips older entries", () => {
    const { client } = readyClient({}, {}, { snapshot: { epoch: "e1", cursor: 10n, conversations: [conversation("c1"), conversation("gone")] } });
    client.disconnected(1, 100);
    const session = connect(client, client.nextWakeup()!, {
      epoch: "e2",
      resumed: false,
      snapshot: { epoch: "e2", cursor: 20n, conversations: [conversation("c1"), conversation("c2")], continueAfter: "c2" },
    });
    const next = framesOf(session.frames, "syncUser");
    expect(next.at(-1)!.value).toMatchObject({ epoch: "e2", snapshotAfter: "c2" });
    // Mid-snapshot: nothing dropped, nothing acknowledged, no resynced yet.
    expect([...client.conversations().keys()].sort()).toEqual(["c1", "c2", "gone"]);
    expect(framesOf(session.frames, "deliveryAck")).toEqual([]);
    expect(appEvents(session.outputs).filter((e) => e.kind === "resynced")).toEqual([]);

    const last = receive(client, 200, {
      requestId: next.at(-1)!.requestId,
      body: { case: "userPage", value: { headCursor: 25n, snapshot: { epoch: "e2", cursor: 25n, conversations: [conversation("c3", { receiveMode: ReceiveMode.NOTIFY_ONLY })] } } },
    });
    expect(appEvents(last).filter((e) => e.kind === "resynced")).toEqual([{ kind: "resynced", epoch: "e2" }]);
    expect([...client.conversations().keys()].sort()).toEqual(["c1", "c2", "c3"]);
    expect(client.cursor).toBe(20n);
    expect(one(sent(last), "deliveryAck").value.cursor).toBe(20n);

    // Entries 21 and 22 were appended while the pages were read: c3's page (cursor 25) already reflects 21; c1's (20) does not reflect 22.
    receive(client, 210, deliver({ cursor: 21n, prevCursor: 20n, body: { case: "receiveSettings", value: { conversationId: "c3", mode: ReceiveMode.MUTED } } }));
    receive(client, 220, deliver({ cursor: 22n, prevCursor: 21n, body: { case: "receiveSettings", value: { conversationId: "c1", mode: ReceiveMode.MUTED } } }));
    expect(client.conversations().get("c3")!.receiveMode).toBe(ReceiveMode.NOTIFY_ONLY);
    expect(client.conversations().get("c1")!.receiveMode).toBe(ReceiveMode.MUTED);
    expect(client.cursor).toBe(22n);
  });

  it("a connection lost between pages: the next connection does not resume, and asks for the page it was missing", () => {
    const { client } = readyClient();
    client.disconnected(1, 100);
    connect(client, client.nextWakeup()!, { epoch: "e2", resumed: false, snapshot: { epoch: "e2", cursor: 20n, conversations: [conversation("c1")], continueAfter: "c1" } });
    client.disconnected(2, 300);
    const session = connect(client, client.nextWakeup()!, { epoch: "e2", resumed: false, snapshot: { epoch: "e2", cursor: 24n, conversations: [conversation("c2")] } });
    expect(one(session.frames, "authenticate").value.resume).toBeUndefined();
    expect(one(session.frames, "syncUser").value).toMatchObject({ epoch: "e2", snapshotAfter: "c1" });
    expect([...client.conversations().keys()].sort()).toEqual(["c1", "c2"]);
    expect(client.cursor).toBe(20n);
  });
});

describe("EXT-3: kinds from a later version", () => {
  /** A frame as a newer server would send it: the oneof member is a field this version does not know (99). */
  function fromTheFuture(init: FrameInit, unknownIn: (f: Frame) => { $unknown?: unknown }): Frame {
    const f = frame(init);
    unknownIn(f).$unknown = [{ no: 99, wireType: 2, data: new Uint8Array([1, 0x78]) }];
    return decodeFrame(encodeFrame(f));
  }

  it("an event of an unknown kind takes its seq: the next event follows it without a gap", () => {
    const { client } = readyClient();
    const unknownEvent = fromTheFuture(
      deliver({ cursor: 11n, prevCursor: 10n, body: { case: "event", value: { conversationId: "c1", seq: 1n } } }),
      (f) => (f.body.value as { body: { value: object } }).body.value,
    );
    client.frameReceived(unknownEvent, 10);
    const outputs = [...client.takeOutputs(), ...receive(client, 20, deliver(eventEntry(12, 11, "c1", 2)))];
    expect(eventSeqs(outputs)).toEqual([1, 2]);
    expect(appEvents(outputs).find((e) => e.kind === "event" && e.event.seq === 1n)).toMatchObject({ event: { body: { case: undefined } } });
    expect(framesOf(sent([...outputs, ...tick(client, 500)]), "syncConversation")).toEqual([]);
  });

  it("a stream entry of an unknown kind advances the cursor and is acknowledged", () => {
    const { client } = readyClient();
    client.frameReceived(fromTheFuture(deliver({ cursor: 11n, prevCursor: 10n }), (f) => f.body.value as object), 10);
    client.takeOutputs();
    expect(client.cursor).toBe(11n);
    const acks = framesOf(sent(tick(client, 100)), "deliveryAck");
    expect(acks.map((a) => a.value.cursor)).toEqual([11n]);
  });
});

describe("SYNC-6: short pages", () => {
  it("an empty page without has_more ends that request; the pull is tried again later, since a notify said seq 2 exists", () => {
    const { client } = readyClient();
    const first = one(sent(receive(client, 10, deliver(notifyEntry(11, 10, "c1", 2)))), "syncConversation");
    const afterEmpty = receive(client, 20, { requestId: first.requestId, body: { case: "conversationPage", value: { conversationId: "c1", lastSeq: 0n, firstVisibleSeq: 1n } } });
    expect(framesOf(sent(afterEmpty), "syncConversation")).toEqual([]);
    const page = one(sent(tick(client, 1_000)), "syncConversation"); // the notify still says seq 2 exists
    expect(page.value.afterSeq).toBe(0n);
  });
});

describe("CONN-11: frames out of state", () => {
  it("a push before authenticated is a protocol violation: the client reports it and closes", () => {
    const client = newClient();
    client.start(0);
    const [connection] = connects(client.takeOutputs());
    client.connected(connection!, 0);
    client.takeOutputs();
    const outputs = receive(client, 5, deliver(eventEntry(1, 0, "c1", 1)));
    expect(sent(outputs)[0]!.body).toMatchObject({ case: "error", value: { code: ErrorCode.PROTOCOL_VIOLATION, requirement: "CONN-11", closing: true } });
    expect(closes(outputs)).toEqual([connection]);
    expect(eventSeqs(outputs)).toEqual([]);
  });
});
