import { create } from "@bufbuild/protobuf";
import { ConversationKind } from "../../gen/imwire/v1/conversation_pb.js";
import { ErrorCode } from "../../gen/imwire/v1/error_pb.js";
import { FrameSchema, type Frame } from "../../gen/imwire/v1/frame_pb.js";
import { dial } from "../../transport/dial.js";
import type { FrameTransport } from "../../transport/frame-transport.js";
import type { FrameBody } from "../suite/scripted-connection.js";
import type { Stats } from "./stats.js";

/**
 * The honest client beside the fuzzing: two users in one one-to-one
 * conversation, each sending at a steady rate well under any sane rate
 * limit, on raw frames (not the reference client, whose reorder buffer and
 * duplicate check would hide what the server got wrong). The ledger checks
 * that every acknowledged message reaches both users exactly once, at its
 * seq, in order, without gaps (SEQ-1, SEQ-4, DLV-1, DLV-4, CUR-3, FLOW-2).
 */
export class HonestLedger {
  /** Acknowledged and not yet seen by both users: seq → client_message_id. */
  readonly acked = new Map<number, { readonly key: string; seenBy: number }>();
  /** Delivered before its ack arrived: per user, seq → key. */
  readonly early: [Map<number, string>, Map<number, string>] = [new Map(), new Map()];
  highestAcked = 0;
  changed: (() => void) | undefined;

  constructor(private readonly stats: Stats) {}

  ack(seq: number, key: string, users: readonly HonestUser[]): void {
    const entry = { key, seenBy: 0 };
    for (const [i, early] of this.early.entries()) {
      const seen = early.get(seq);
      if (seen === undefined) continue;
      early.delete(seq);
      if (seen !== key) users[i]!.violation("SEQ-1", `seq ${seq} was delivered as ${seen} but acknowledged for ${key}`);
      entry.seenBy++;
    }
    if (entry.seenBy < 2) this.acked.set(seq, entry);
    this.highestAcked = Math.max(this.highestAcked, seq);
    this.changed?.();
  }

  delivered(user: number, seq: number, key: string, users: readonly HonestUser[]): void {
    const entry = this.acked.get(seq);
    if (!entry) {
      this.early[user]!.set(seq, key);
      return;
    }
    if (entry.key !== key) users[user]!.violation("SEQ-1", `seq ${seq} was acknowledged for ${entry.key} but delivered as ${key}`);
    if (++entry.seenBy >= 2) this.acked.delete(seq);
    this.changed?.();
  }
}

export interface HonestOptions {
  readonly url: string;
  readonly userId: string;
  readonly deviceId: string;
  readonly token: string;
  readonly index: 0 | 1;
  readonly intervalMs: number;
  readonly stats: Stats;
  readonly ledger: HonestLedger;
  readonly users: HonestUser[];
}

type Answer = { resolve: (f: Frame) => void; reject: (e: Error) => void };

export class HonestUser {
  readonly o: HonestOptions;
  #transport: FrameTransport | undefined;
  #nextId = 1;
  readonly #waiting = new Map<number, Answer>();
  /** Sends not yet acknowledged: request id → key and when it was written. */
  readonly #sends = new Map<number, { key: string; at: number; first: number }>();
  #sent = 0;
  #conversation = "";
  /** The seq this user holds of each conversation (SEQ-3), and the stream cursor (CUR-3). */
  readonly #held = new Map<string, number>();
  #cursor = 0n;
  #ackedCursor = 0n;
  #unackedDelivers = 0;
  #window = 0;
  #heartbeat: NodeJS.Timeout | undefined;
  #sender: NodeJS.Timeout | undefined;
  #ackQueued = false;
  #stopping = false;
  #closed = false;
  readonly #retries = new Set<NodeJS.Timeout>();

  constructor(options: HonestOptions) {
    this.o = options;
  }

  get pendingSends(): number {
    return this.#sends.size + this.#retries.size;
  }

  violation(kind: string, detail: string): void {
    this.o.stats.violation({ kind: `honest ${kind}`, detail, connection: `honest ${this.o.userId}` });
  }

  async connect(): Promise<void> {
    const t = await dial(this.o.url, { timeoutMs: 10_000 });
    this.#transport = t;
    t.onFrame = (frame) => this.#frame(frame);
    t.onInputError = (error) => this.violation("server frame", `invalid frame from the server: ${error.message}`);
    t.onClose = () => {
      this.#closed = true;
      if (!this.#stopping) {
        this.o.stats.honest.closed++;
        this.violation("closed", "the server closed the honest connection");
      }
      for (const w of this.#waiting.values()) w.reject(new Error("closed"));
      this.#waiting.clear();
      this.o.ledger.changed?.();
    };
    const welcome = await this.#request({ case: "hello", value: { versions: [1], deviceId: this.o.deviceId, userAgent: "imwire-fuzz-honest" } });
    if (welcome.body.case !== "welcome") throw new Error(`honest hello answered ${welcome.body.case}`);
    t.setMaxFrameSize(welcome.body.value.maxFrameSize);
    this.#window = welcome.body.value.receiveWindow;
    const interval = welcome.body.value.heartbeatIntervalMs;
    this.#heartbeat = setInterval(() => this.#send({ case: "ping", value: { nonce: 1n } }, 0), Math.max(100, Math.floor(interval / 4)));
    const auth = await this.#request({ case: "authenticate", value: { token: this.o.token } });
    if (auth.body.case !== "authenticated") throw new Error(`honest authenticate answered ${JSON.stringify(auth.body)}`);
    // SYNC-5: a fresh device synchronises, then sets its position.
    let epoch = "";
    let after = "";
    let cursor = 0n;
    for (;;) {
      const page = await this.#request({ case: "syncUser", value: { epoch, snapshotAfter: after } });
      if (page.body.case !== "userPage" || !page.body.value.snapshot) throw new Error("honest sync_user: no snapshot for a fresh device");
      const snapshot = page.body.value.snapshot;
      if (epoch === "") cursor = snapshot.cursor;
      epoch = snapshot.epoch;
      after = snapshot.continueAfter;
      if (after === "") break;
    }
    this.#cursor = this.#ackedCursor = cursor;
    this.#send({ case: "deliveryAck", value: { cursor } }, 0);
  }

  async openWith(peer: string): Promise<string> {
    const answer = await this.#request({ case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: [peer] } });
    if (answer.body.case !== "conversationOpened") throw new Error(`honest open answered ${JSON.stringify(answer.body)}`);
    return answer.body.value.conversation!.conversationId;
  }

  start(conversationId: string): void {
    this.#conversation = conversationId;
    this.#sender = setInterval(() => {
      if (this.#sends.size < 8) this.#sendMessage(`${this.o.userId}-${this.#sent++}`);
    }, this.o.intervalMs);
  }

  /** Stop sending; the connection stays open for what is still due. */
  stopSending(): void {
    clearInterval(this.#sender);
  }

  close(): void {
    this.#stopping = true;
    clearInterval(this.#sender);
    clearInterval(this.#heartbeat);
    for (const t of this.#retries) clearTimeout(t);
    this.#retries.clear();
    this.#transport?.close();
  }

  /** The seq held of the honest conversation. */
  get held(): number {
    return this.#held.get(this.#conversation) ?? 0;
  }

  get conversation(): string {
    return this.#conversation;
  }

  #sendMessage(key: string, first = performance.now()): void {
    if (this.#closed) return;
    const id = this.#send({ case: "sendMessage", value: { conversationId: this.#conversation, clientMessageId: key, content: { kind: { case: "text", value: { text: `honest ${key}` } } } } });
    this.#sends.set(id, { key, at: performance.now(), first });
    this.o.stats.honest.sends++;
  }

  #send(body: FrameBody, requestId = this.#nextId++): number {
    if (!this.#closed) this.#transport?.send(create(FrameSchema, { requestId, body }));
    return requestId;
  }

  #request(body: FrameBody): Promise<Frame> {
    const id = this.#send(body);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`honest ${body.case}: no answer within 15 s`)), 15_000);
      this.#waiting.set(id, {
        resolve: (f) => (clearTimeout(timer), resolve(f)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
    });
  }

  #frame(frame: Frame): void {
    const body = frame.body;
    const waiter = this.#waiting.get(frame.requestId);
    if (frame.requestId !== 0 && waiter) {
      this.#waiting.delete(frame.requestId);
      waiter.resolve(frame);
      return;
    }
    switch (body.case) {
      case "sendAck": {
        const send = this.#sends.get(frame.requestId);
        if (!send) return this.violation("ENV-2", `send_ack for request ${frame.requestId}, which is not an unanswered send`);
        this.#sends.delete(frame.requestId);
        if (body.value.clientMessageId !== send.key) this.violation("MSG-1", `send_ack for ${body.value.clientMessageId}, sent ${send.key}`);
        this.o.stats.honest.acks++;
        this.o.stats.ackLatency(performance.now() - send.first);
        this.o.ledger.ack(Number(body.value.seq), send.key, this.o.users);
        return;
      }
      case "error": {
        const send = this.#sends.get(frame.requestId);
        if (send && body.value.code === ErrorCode.RATE_LIMITED) {
          // FLOW-4: the same key again, no sooner than retry_after_ms.
          this.#sends.delete(frame.requestId);
          this.o.stats.honest.rateLimited++;
          const timer = setTimeout(() => {
            this.#retries.delete(timer);
            this.#sendMessage(send.key, send.first);
          }, Math.max(1, body.value.retryAfterMs));
          this.#retries.add(timer);
          return;
        }
        return this.violation("error", `${ErrorCode[body.value.code] ?? body.value.code} (request ${frame.requestId}): ${body.value.message}`);
      }
      case "deliver": {
        const entry = body.value;
        this.o.stats.honest.deliveries++;
        if (entry.cursor <= this.#cursor) {
          this.o.stats.honest.duplicated++;
          return this.violation("CUR-3", `entry ${entry.cursor} pushed again (holding ${this.#cursor})`);
        }
        if (entry.prevCursor !== this.#cursor) {
          this.o.stats.honest.outOfOrder++;
          this.violation("CUR-3", `entry ${entry.cursor} links to ${entry.prevCursor}, but ${this.#cursor} is held`);
        }
        this.#cursor = entry.cursor;
        if (++this.#unackedDelivers > this.#window) this.violation("FLOW-2", `${this.#unackedDelivers} pushes unacknowledged, window ${this.#window}`);
        if (entry.body.case === "event") this.#event(entry.body.value);
        else if (entry.body.case === "notify") this.violation("RECV-2", "a notify-form entry for a foreground device in FULL mode");
        this.#queueAck();
        return;
      }
      case "pong":
        return;
      case "ping":
        // HB-5: a server may ping while a frame of ours is still arriving; HB-2: answer it.
        this.#send({ case: "pong", value: { nonce: body.value.nonce } }, 0);
        return;
      case "goAway":
        if (this.#stopping) return;
        return this.violation("CONN-7", "go_away while the server is not shutting down");
      default:
        return this.violation("unexpected", `${body.case} (request ${frame.requestId})`);
    }
  }

  #event(event: Extract<Extract<Frame["body"], { case: "deliver" }>["value"]["body"], { case: "event" }>["value"]): void {
    const seq = Number(event.seq);
    const held = this.#held.get(event.conversationId) ?? 0;
    if (seq <= held) {
      this.o.stats.honest.duplicated++;
      return this.violation("SEQ-4", `seq ${seq} of ${event.conversationId} delivered again (holding ${held})`);
    }
    if (seq !== held + 1) {
      this.o.stats.honest.outOfOrder++;
      this.violation("SEQ-1", `seq ${seq} of ${event.conversationId} after ${held}: a gap`);
    }
    this.#held.set(event.conversationId, seq);
    if (event.body.case === "message" && event.conversationId === this.#conversation) this.o.ledger.delivered(this.o.index, seq, event.body.value.clientMessageId, this.o.users);
    this.o.ledger.changed?.();
  }

  #queueAck(): void {
    if (this.#ackQueued) return;
    this.#ackQueued = true;
    setImmediate(() => {
      this.#ackQueued = false;
      if (this.#cursor === this.#ackedCursor) return;
      this.#ackedCursor = this.#cursor;
      this.#unackedDelivers = 0;
      this.#send({ case: "deliveryAck", value: { cursor: this.#cursor } }, 0);
    });
  }
}
