import { connect, type Socket } from "node:net";
import { issueToken } from "../../src/auth/hmac-token.js";
import { frame } from "../../src/codec/frame-codec.js";
import type { FrameBody } from "../../src/conformance/suite/scripted-connection.js";
import { encodeFramed, FrameReader } from "../../src/framing/frame-stream.js";
import type { UserEvent } from "../../src/gen/imwire/v1/delivery_pb.js";
import type { Error as ErrorBody } from "../../src/gen/imwire/v1/error_pb.js";
import type { Frame } from "../../src/gen/imwire/v1/frame_pb.js";
import { MAX_MAX_FRAME_SIZE } from "../../src/limits.js";

/** A text message as a device holds it: how it came (pushed, or fetched by its own catch-up) and when. */
export interface HeldMessage {
  readonly conversationId: string;
  readonly seq: bigint;
  readonly clientMessageId: string;
  readonly text: string;
  readonly via: "push" | "sync";
  /** performance.now() when the device applied it. */
  readonly at: number;
}

/** The server refused the connection: the error frame it answered with, and closed. */
export class DeviceRefused extends Error {
  constructor(readonly error: ErrorBody) {
    super(`refused: ${error.code} ${error.message}`);
  }
}

/** The connection closed before the request was answered: its outcome is unknown (CONN-10: retry it with the same key). */
export class ConnectionLost extends Error {
  constructor() {
    super("the connection closed before the answer");
  }
}

/**
 * A device over TCP that keeps its own view of its user's stream, as a real
 * client does, with nothing but the protocol to go on: it applies entries
 * by CUR-3 (cursor at most what it holds: a duplicate, dropped; prev_cursor
 * beyond it: a gap, fetched by sync_user), acknowledges what it applied, and,
 * given `pingEveryMs`, pings that often (HB-1, the interval shortened for a test):
 * when a pong's head_cursor is ahead of what it holds and no catch-up is in
 * flight, it catches up with sync_user (CUR-6). So it converges whether or
 * not its node is told of commits elsewhere (CLU-2).
 */
export class StreamDevice {
  readonly name: string;
  readonly socket: Socket;
  epoch = "";
  /** The stream position it holds. */
  position = 0n;
  /** Every text message it applied, in the order it applied them. */
  readonly messages: HeldMessage[] = [];
  /** The error frame the server closed the connection with, if any. */
  closedWith: ErrorBody | undefined;
  readonly closed: Promise<void>;
  readonly #pending = new Map<number, { resolve: (f: Frame) => void; reject: (e: Error) => void }>();
  readonly #watchers = new Set<() => void>();
  #nextRequestId = 10;
  /** The request id of the catch-up (sync_user) in flight; its pages are applied in arrival order, among the pushes. */
  #catchUp: number | undefined;
  /** A gap was seen while a catch-up was in flight: another one follows it. */
  #catchUpAgain = false;
  #pinger: NodeJS.Timeout | undefined;
  #roundTrips = 0n;
  readonly #pongs = new Set<bigint>();

  private constructor(name: string, socket: Socket) {
    this.name = name;
    this.socket = socket;
    socket.on("error", () => {}); // the close says it
    socket.setNoDelay(true); // a send right behind an acknowledgement would otherwise wait for Nagle (about 40 ms)
    const reader = new FrameReader({ maxFrameSize: MAX_MAX_FRAME_SIZE });
    socket.on("data", (chunk) => {
      reader.push(chunk);
      for (let f = reader.next(); f !== undefined; f = reader.next()) this.#received(f);
      for (const watcher of this.#watchers) watcher();
    });
    this.closed = new Promise((resolve) =>
      socket.once("close", () => {
        clearInterval(this.#pinger);
        for (const { reject } of this.#pending.values()) reject(new ConnectionLost());
        this.#pending.clear();
        for (const watcher of this.#watchers) watcher();
        resolve();
      }),
    );
  }

  /** Connected, authenticated and synchronised (SYNC-5: pushes begin once it has a position); DeviceRefused when the server says no. */
  static async connect(url: string, secret: string, userId: string, deviceId: string, { pingEveryMs }: { pingEveryMs?: number } = {}): Promise<StreamDevice> {
    const { hostname, port } = new URL(url);
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: hostname, port: Number(port) }, () => resolve(s));
      s.once("error", reject);
    });
    const device = new StreamDevice(`${userId}/${deviceId}`, socket);
    try {
      await device.#expect("welcome", { case: "hello", value: { versions: [1], deviceId } });
      const authenticated = await device.#expect("authenticated", { case: "authenticate", value: { token: issueToken({ userId, deviceId, expiresAtMs: 0 }, secret) } });
      device.epoch = authenticated.body.case === "authenticated" ? authenticated.body.value.epoch : "";
      await device.#initialSync();
    } catch (error) {
      socket.destroy();
      throw error;
    }
    if (pingEveryMs !== undefined) {
      let nonce = 0n;
      device.#pinger = setInterval(() => device.#write({ case: "ping", value: { nonce: ++nonce } }), pingEveryMs).unref();
    }
    return device;
  }

  /** The answer to `body`: the frame carrying its request id, an error frame included; ConnectionLost if none came. */
  request(body: FrameBody): Promise<Frame> {
    const requestId = this.#nextRequestId++;
    const answer = new Promise<Frame>((resolve, reject) => this.#pending.set(requestId, { resolve, reject }));
    if (this.socket.destroyed) this.#pending.get(requestId)!.reject(new ConnectionLost());
    else this.#write(body, requestId);
    return answer;
  }

  sendText(conversationId: string, clientMessageId: string, text: string): Promise<Frame> {
    return this.request({ case: "sendMessage", value: { conversationId, clientMessageId, content: { kind: { case: "text", value: { text } } } } });
  }

  /** Resolves once `condition` holds (checked after every frame received), rejects after `timeoutMs`. */
  until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#watchers.delete(check);
        reject(new Error(`${this.name}: ${what} not within ${timeoutMs} ms`));
      }, timeoutMs);
      const check = () => {
        if (!condition()) return;
        clearTimeout(timer);
        this.#watchers.delete(check);
        resolve();
      };
      this.#watchers.add(check);
    });
  }

  /** A ping now (CUR-6 follows its pong), besides the ones every `pingEveryMs`. */
  ping(): void {
    this.#write({ case: "ping", value: { nonce: 0n } });
  }

  /**
   * A ping and its pong: the node answers it after everything this device
   * sent before it (its delivery acks included) was processed, so nothing of
   * the device's is still on its way to the node.
   */
  async roundTrip(timeoutMs = 5_000): Promise<void> {
    const nonce = ++this.#roundTrips + (1n << 40n);
    this.#write({ case: "ping", value: { nonce } });
    await this.until(() => this.#pongs.has(nonce), timeoutMs, `the pong of ping ${nonce}`);
  }

  close(): void {
    this.socket.destroy();
  }

  #write(body: FrameBody, requestId = 0): void {
    if (!this.socket.destroyed) this.socket.write(encodeFramed(frame({ requestId, body })));
  }

  async #expect(answer: Frame["body"]["case"], body: FrameBody): Promise<Frame> {
    const reply = await this.request(body).catch((error: Error) => {
      throw this.closedWith ? new DeviceRefused(this.closedWith) : error;
    });
    if (reply.body.case === "error") throw new DeviceRefused(reply.body.value);
    if (reply.body.case !== answer) throw new Error(`${this.name}: ${answer} expected, got ${reply.body.case}`);
    return reply;
  }

  /** From nothing: a snapshot's cursor (SYNC-4), or the stream's entries from the start, page by page. */
  async #initialSync(): Promise<void> {
    for (let snapshotAfter = ""; ; ) {
      const page = await this.#expect("userPage", { case: "syncUser", value: { afterCursor: this.position, epoch: this.position === 0n ? "" : this.epoch, snapshotAfter } });
      if (page.body.case !== "userPage") return;
      const { snapshot, events, hasMore } = page.body.value;
      if (snapshot) {
        this.position = snapshot.cursor;
        snapshotAfter = snapshot.continueAfter;
        if (snapshotAfter !== "") continue;
      } else {
        for (const entry of events) this.#apply(entry, "sync");
        if (hasMore) continue;
      }
      this.#write({ case: "deliveryAck", value: { cursor: this.position } });
      return;
    }
  }

  #received(f: Frame): void {
    const { body } = f;
    if (f.requestId !== 0 && f.requestId === this.#catchUp && body.case === "userPage") return this.#caughtUp(body.value.events, body.value.hasMore);
    if (f.requestId !== 0 && this.#pending.has(f.requestId)) {
      const { resolve } = this.#pending.get(f.requestId)!;
      this.#pending.delete(f.requestId);
      if (body.case === "error" && f.requestId === this.#catchUp) this.#catchUp = undefined;
      return resolve(f);
    }
    switch (body.case) {
      case "deliver":
        if (this.#apply(body.value, "push")) this.#write({ case: "deliveryAck", value: { cursor: this.position } });
        return;
      case "pong":
        this.#pongs.add(body.value.nonce);
        // CUR-6: the head is ahead of what this device holds, and nothing is in flight: it missed the tail.
        if (body.value.headCursor > this.position && this.#catchUp === undefined) this.#startCatchUp();
        return;
      case "ping":
        return this.#write({ case: "pong", value: { nonce: body.value.nonce } });
      case "error":
        this.closedWith = body.value;
        return;
      default:
        return;
    }
  }

  /** CUR-3. True when applied. */
  #apply(entry: UserEvent, via: HeldMessage["via"]): boolean {
    if (entry.cursor <= this.position) return false; // a duplicate
    if (entry.prevCursor > this.position) {
      // A gap: fetch what is missing; this entry comes again in the catch-up.
      if (this.#catchUp === undefined) this.#startCatchUp();
      else this.#catchUpAgain = true;
      return false;
    }
    this.position = entry.cursor;
    if (entry.body.case === "event" && entry.body.value.body.case === "message") {
      const event = entry.body.value;
      const message = entry.body.value.body.value;
      const text = message.content?.kind.case === "text" ? message.content.kind.value.text : "";
      this.messages.push({ conversationId: event.conversationId, seq: event.seq, clientMessageId: message.clientMessageId, text, via, at: performance.now() });
    }
    return true;
  }

  #startCatchUp(): void {
    this.#catchUpAgain = false;
    this.#catchUp = this.#nextRequestId++;
    this.#pending.set(this.#catchUp, { resolve: () => {}, reject: () => {} });
    this.#write({ case: "syncUser", value: { afterCursor: this.position, epoch: this.epoch } }, this.#catchUp);
  }

  #caughtUp(entries: readonly UserEvent[], hasMore: boolean): void {
    this.#pending.delete(this.#catchUp!);
    this.#catchUp = undefined;
    let applied = false;
    for (const entry of entries) applied = this.#apply(entry, "sync") || applied;
    if (applied) this.#write({ case: "deliveryAck", value: { cursor: this.position } });
    if (hasMore || this.#catchUpAgain) this.#startCatchUp();
  }
}
