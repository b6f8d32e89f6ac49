import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { issueToken } from "../../src/auth/hmac-token.js";
import type { Feature } from "../../src/gen/imwire/v1/connection_pb.js";
import { ErrorCode } from "../../src/gen/imwire/v1/error_pb.js";
import { FrameSchema, type Frame } from "../../src/gen/imwire/v1/frame_pb.js";
import { PROTOCOL_VERSION } from "../../src/limits.js";
import { defaultClientOptions } from "../../src/machines/client/options.js";
import { dial } from "../../src/transport/dial.js";
import type { FrameTransport } from "../../src/transport/frame-transport.js";

export type FrameBody = NonNullable<MessageInitShape<typeof FrameSchema>["body"]>;

/** ACK-1 as the reference client does it: every 16 entries, or 100 ms after the first unacknowledged one. */
const ACK_EVERY = defaultClientOptions.ackEvery;
const ACK_DELAY_MS = defaultClientOptions.ackDelayMs;

/**
 * One device for benchmarks: the reference client's transport (dial(): the
 * same StreamTransport / WebSocketTransport, decoding and validating every
 * frame) without its ClientMachine, so the benchmark sees frames the moment
 * the socket yields them. What it does keep of a real client: the handshake
 * with a position set (hello, authenticate, sync_user, delivery_ack:
 * SYNC-5), cumulative acknowledgements with the reference client's policy
 * (ACK-1), the stream's prev_cursor check (CUR-3), and heartbeats (HB-1).
 * Anything unexpected (an error frame, a gap, a closed connection while in
 * use) throws: a benchmark must not measure a broken run.
 *
 * Its hello offers no features (EXT-5) unless `features` is given: a
 * version 1.0 device, which the reference client is not (it offers
 * FEATURE_CONVERSATION_SUMMARIES and FEATURE_MEMBER_PAGES by default).
 */
export class ImwireDevice {
  readonly userId: string;
  readonly deviceId: string;
  /** A message event was pushed: the frame and its encoded size. */
  onMessage: (frame: Frame, size: number) => void = () => {};
  /** An answer no request() waits for (the benchmark's send_acks). */
  onAnswer: (frame: Frame) => void = (frame) => {
    throw new Error(`${this.userId}: unexpected answer ${frame.body.case}`);
  };
  readonly #transport: FrameTransport;
  readonly #waiting = new Map<number, (frame: Frame) => void>();
  readonly #pongs = new Map<bigint, (head: bigint) => void>();
  #nonce = 0n;
  #nextRequestId = 1;
  #held = 0n;
  #unacked = 0;
  #ackTimer: NodeJS.Timeout | undefined;
  #keepAlive: NodeJS.Timeout | undefined;
  #closing = false;
  #closed: Promise<void>;
  /** Encoded bytes and frames received, every frame counted (catch-up measures what a sync costs the device). */
  bytesIn = 0;
  framesIn = 0;
  /** From welcome and authenticated. */
  features: readonly Feature[] = [];
  epoch = "";

  private constructor(transport: FrameTransport, userId: string, deviceId: string) {
    this.#transport = transport;
    this.userId = userId;
    this.deviceId = deviceId;
    let closed!: () => void;
    this.#closed = new Promise((resolve) => (closed = resolve));
    transport.onFrame = (frame, size) => {
      this.bytesIn += size;
      this.framesIn++;
      this.#receive(frame, size);
    };
    transport.onInputError = (error) => {
      throw new Error(`${userId}: invalid frame from the server: ${error.message}`);
    };
    transport.onClose = () => {
      this.#stopTimers();
      closed();
      if (!this.#closing) throw new Error(`${userId}: the server closed the connection`);
    };
  }

  /** Connect and become ready: authenticated, synchronised, delivery position set. */
  static async connect(url: string, userId: string, deviceId: string, secret: string, features: readonly Feature[] = []): Promise<ImwireDevice> {
    const device = await ImwireDevice.authenticate(url, userId, deviceId, secret, features);
    const page = await device.request({ case: "syncUser", value: {} });
    if (page.body.case !== "userPage" || page.body.value.hasMore) throw new Error(`sync_user answered ${page.body.case}`);
    const cursor = page.body.value.snapshot?.cursor ?? page.body.value.headCursor;
    device.#held = cursor;
    device.send({ case: "deliveryAck", value: { cursor } }, 0);
    return device;
  }

  /** Hello and authenticate (no resume) only: the device must synchronise itself (SYNC-5) and set its position. */
  static async authenticate(url: string, userId: string, deviceId: string, secret: string, features: readonly Feature[] = []): Promise<ImwireDevice> {
    const device = new ImwireDevice(await dial(url), userId, deviceId);
    const welcome = await device.request({ case: "hello", value: { versions: [PROTOCOL_VERSION], deviceId, features: [...features] } });
    if (welcome.body.case !== "welcome") throw new Error(`hello answered ${welcome.body.case}`);
    device.features = welcome.body.value.features;
    device.#transport.setMaxFrameSize(welcome.body.value.maxFrameSize);
    const interval = welcome.body.value.heartbeatIntervalMs;
    device.#keepAlive = setInterval(() => device.send({ case: "ping", value: {} }, 0), interval / 2);
    const authenticated = await device.request({ case: "authenticate", value: { token: issueToken({ userId, deviceId, expiresAtMs: 0 }, secret) } });
    if (authenticated.body.case !== "authenticated") throw new Error(`authenticate answered ${authenticated.body.case}`);
    device.epoch = authenticated.body.value.epoch;
    return device;
  }

  /** The user's stream head, from pong.head_cursor (HB-2, CUR-6): a ping answered by nonce, not request id. */
  headCursor(): Promise<bigint> {
    const nonce = ++this.#nonce;
    return new Promise((resolve) => {
      this.#pongs.set(nonce, resolve);
      this.send({ case: "ping", value: { nonce } }, 0);
    });
  }

  /** The stream position the device holds (CUR-3). */
  get held(): bigint {
    return this.#held;
  }

  /** Send a frame; request ids count up from 1 unless given (0 for frames that are not requests). */
  send(body: FrameBody, requestId = this.#nextRequestId++): number {
    this.#transport.send(create(FrameSchema, { requestId, body }));
    return requestId;
  }

  request(body: FrameBody): Promise<Frame> {
    return new Promise((resolve) => this.#waiting.set(this.send(body), resolve));
  }

  /** Acknowledge what is held now, and close. */
  close(): Promise<void> {
    this.#flushAck();
    this.#closing = true;
    this.#stopTimers();
    this.#transport.close();
    return this.#closed;
  }

  #receive(frame: Frame, size: number): void {
    const body = frame.body;
    if (body.case === "deliver") {
      const entry = body.value;
      if (entry.cursor <= this.#held) return; // CUR-3: a duplicate
      if (entry.prevCursor !== this.#held) throw new Error(`${this.userId}: gap in the stream at ${entry.cursor} (prev ${entry.prevCursor}, held ${this.#held})`);
      this.#held = entry.cursor;
      // The application sees the message first, then the acknowledgement goes out (as mqtt.js
      // emits "message" before it sends PUBACK), so no push's timing includes writing an ack.
      if (entry.body.case === "event" && entry.body.value.body.case === "message") this.onMessage(frame, size);
      if (++this.#unacked >= ACK_EVERY) this.#flushAck();
      else this.#ackTimer ??= setTimeout(() => this.#flushAck(), ACK_DELAY_MS);
      return;
    }
    switch (body.case) {
      case "ping":
        this.send({ case: "pong", value: { nonce: body.value.nonce } }, 0);
        return;
      case "pong":
        this.#pongs.get(body.value.nonce)?.(body.value.headCursor);
        this.#pongs.delete(body.value.nonce);
        return;
      case "error":
        throw new Error(`${this.userId}: error ${ErrorCode[body.value.code]} (${body.value.requirement}): ${body.value.message}`);
      case "goAway":
        if (!this.#closing) throw new Error(`${this.userId}: go_away`);
        return;
    }
    const waiter = this.#waiting.get(frame.requestId);
    if (waiter) {
      this.#waiting.delete(frame.requestId);
      waiter(frame);
    } else {
      this.onAnswer(frame);
    }
  }

  #flushAck(): void {
    clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    if (this.#unacked === 0 || this.#closing) return;
    this.#unacked = 0;
    this.send({ case: "deliveryAck", value: { cursor: this.#held } }, 0);
  }

  #stopTimers(): void {
    clearTimeout(this.#ackTimer);
    clearInterval(this.#keepAlive);
  }
}
