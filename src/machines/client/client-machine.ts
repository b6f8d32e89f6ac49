import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { Authenticated } from "../../gen/imwire/v1/auth_pb.js";
import type { Welcome } from "../../gen/imwire/v1/connection_pb.js";
import type { Conversation, OpenConversationSchema } from "../../gen/imwire/v1/conversation_pb.js";
import type { MessageContentSchema } from "../../gen/imwire/v1/content_pb.js";
import type { UserEvent } from "../../gen/imwire/v1/delivery_pb.js";
import { ErrorCode, type Error as ErrorBody } from "../../gen/imwire/v1/error_pb.js";
import { FrameSchema, type Frame } from "../../gen/imwire/v1/frame_pb.js";
import { SendMessageSchema, type ConversationEvent } from "../../gen/imwire/v1/message_pb.js";
import { sizeSendMessage } from "../../gen/imwire/v1/message_fast.js";
import { maxSendMessageSize } from "../../limits.js";
import { DeviceState, ReceiveMode } from "../../gen/imwire/v1/settings_pb.js";
import type { ConversationPage, UserPage } from "../../gen/imwire/v1/sync_pb.js";
import { errorFrame, errorFrameFor } from "../../codec/error-frame.js";
import { maySend } from "../../codec/frame-catalogue.js";
import { welcomeProblem } from "../../codec/welcome.js";
import { errorCodeInfo, type ImwireError } from "../../errors.js";
import { ConversationState, viewOf, type ConversationView } from "./conversation-state.js";
import { defaultClientOptions, type ClientDeps, type ClientMutations, type ClientOptions } from "./options.js";
import { Outbox, type Operation, type RequestBody } from "./outbox.js";
import { StreamCursor } from "./stream-cursor.js";
import type { ClientEvent, ClientOutput, ClientStatus } from "./types.js";

type Body = Frame["body"];

/** What a request id on the current connection is waiting for. */
type Pending =
  | { readonly kind: "hello" }
  | { readonly kind: "authenticate" }
  | { readonly kind: "operation"; readonly operationId: string }
  | { readonly kind: "syncUser"; readonly sentAt: number }
  | { readonly kind: "syncConversation"; readonly conversationId: string; readonly sentAt: number };

/** The client's state for one transport connection; dropped with it. */
interface Link {
  /** The id of the connection, as given in the "connect" output. */
  readonly connection: number;
  phase: "hello" | "auth" | "syncing" | "ready" | "draining";
  readonly openedAt: number;
  nextRequestId: number;
  /** Requests awaiting an answer: what FLOW-1 counts. */
  readonly pending: Map<number, Pending>;
  /** Attempts given up on (CONN-10): not counted, but their answers still count. */
  readonly abandoned: Map<number, Pending>;
  lastReceivedAt: number;
  heartbeatMs: number;
  maxInFlight: number;
  /** Welcome.max_frame_size; 0 until welcome. */
  maxFrameSize: number;
  dedupWindowMs: number;
  nextPingAt: number;
  nextNonce: bigint;
  /** DLV-2: the server pushes once the device's position is set. */
  positionSet: boolean;
  lastAckSent: bigint;
  appliedSinceAck: number;
  ackDueAt: number;
  userSyncInFlight: boolean;
  /** CUR-6: whether a push arrived since the last pong. */
  pushedSincePong: boolean;
  reconnectAfterDrainAt: number;
}

const NEVER = Infinity;

/** CONN-11: what a server may send before authenticated. */
const BEFORE_AUTHENTICATED = new Set<Frame["body"]["case"]>(["welcome", "authenticated", "error", "ping", "pong", "goAway"]);

/**
 * The imwire client (one device) as a pure state machine (SPEC.md §5 to
 * §18): it connects, authenticates, resumes or resynchronises, keeps an
 * outbox of idempotent requests, hands the application each conversation's
 * events in order and exactly once, fetches what it misses, acknowledges
 * cumulatively, keeps the connection alive and reconnects with backoff.
 *
 * It survives connections: what it holds is the device's state. Drive it with
 * start / connected / frameReceived / inputError / disconnected / tick and
 * the application commands, carry out takeOutputs() in order, and call tick
 * at nextWakeup().
 */
export class ClientMachine {
  readonly options: ClientOptions;
  readonly #deps: ClientDeps;
  readonly #mutations: ClientMutations;

  #status: ClientStatus = "offline";
  #link: Link | undefined;
  /** The connection asked for and not yet reported, if any. */
  #connecting: number | undefined;
  #lastConnection = 0;
  #reconnectAt = NEVER;
  #reconnectAttempt = 0;
  #outputs: ClientOutput[] = [];

  #epoch: string | undefined;
  readonly #stream = new StreamCursor();
  readonly #conversations = new Map<string, ConversationState>();
  #defaultMode = ReceiveMode.UNSPECIFIED;
  /** A snapshot arriving in pages (SYNC-7): its epoch, where the next page starts, and the conversations listed so far. */
  #snapshotPaging: { readonly epoch: string; after: string; readonly listed: Set<string> } | undefined;
  /**
   * SYNC-7: the cursor each conversation (and, under "", the default mode)
   * was last described at by a snapshot page. A paged snapshot continues from
   * its first page's cursor, so entries up to a later page's cursor come
   * again; for what that page described they are older news, and skipped.
   */
  readonly #describedAt = new Map<string, bigint>();
  #deviceState = DeviceState.FOREGROUND;
  #pushService = "";
  #pushToken = "";
  readonly #outbox: Outbox;
  #streamGapAt = NEVER;
  #conversationGapAt = NEVER;
  /** The time of the input being handled. */
  #now = 0;
  /** A sync waited for a free slot under the in-flight limit (FLOW-1). */
  #syncDeferred = false;
  /** Only for the noReorderBuffer variant: events it handed out ahead of a gap. */
  #earlyDelivered: Set<string> | undefined;

  constructor(options: Partial<ClientOptions> & { deviceId: string }, deps: ClientDeps, mutations: ClientMutations = {}) {
    this.options = { ...defaultClientOptions, ...options };
    this.#deps = deps;
    this.#mutations = mutations;
    this.#outbox = new Outbox({
      retryOnSameConnection: this.options.lossyTransport,
      attemptTimeoutMs: this.options.attemptTimeoutMs,
      maxAttemptTimeoutMs: this.options.maxAttemptTimeoutMs,
    });
  }

  // ---- inputs from the runner -------------------------------------------

  /** Begin: ask for a connection. */
  start(now: number): void {
    this.#now = now;
    if (this.#status === "stopped") return;
    this.#reconnectAt = now;
    this.tick(now);
  }

  /** The transport connection asked for is open. News of any other connection is ignored. */
  connected(connection: number, now: number): void {
    this.#now = now;
    if (connection !== this.#connecting) return;
    this.#connecting = undefined;
    this.#link = {
      connection,
      phase: "hello",
      openedAt: now,
      nextRequestId: 1,
      pending: new Map(),
      abandoned: new Map(),
      lastReceivedAt: now,
      heartbeatMs: 0,
      maxInFlight: 1,
      maxFrameSize: 0,
      dedupWindowMs: NEVER,
      nextPingAt: NEVER,
      nextNonce: 1n,
      positionSet: false,
      lastAckSent: -1n,
      appliedSinceAck: 0,
      ackDueAt: NEVER,
      userSyncInFlight: false,
      pushedSincePong: false,
      reconnectAfterDrainAt: NEVER,
    };
    this.#request({ case: "hello", value: { versions: [...this.options.versions], deviceId: this.options.deviceId, receiveWindow: this.options.receiveWindow, receiveWindowBytes: this.options.receiveWindowBytes, userAgent: this.options.userAgent } }, { kind: "hello" });
  }

  /** The transport connection closed, or could not be opened. News of any other connection is ignored. */
  disconnected(connection: number, now: number): void {
    this.#now = now;
    if (connection === this.#connecting) this.#connecting = undefined;
    else if (connection !== this.#link?.connection) return;
    this.#linkGone(now, false);
  }

  /** Bytes of a frame arrived: the server is alive, however long a large frame takes to cross (HB-4). */
  peerActive(now: number): void {
    this.#now = now;
    if (this.#link) this.#link.lastReceivedAt = now;
  }

  frameReceived(frame: Frame, now: number): void {
    this.#now = now;
    const link = this.#link;
    if (!link) return;
    link.lastReceivedAt = now;
    const body = frame.body;
    if (body.case === undefined || !maySend("server", body.case)) {
      this.#abandon(now, ErrorCode.PROTOCOL_VIOLATION, `unexpected ${body.case ?? "frame"} from the server`, "ENV-7");
      return;
    }
    if ((link.phase === "hello" || link.phase === "auth") && !BEFORE_AUTHENTICATED.has(body.case)) {
      this.#abandon(now, ErrorCode.PROTOCOL_VIOLATION, `${body.case} before authenticated`, "CONN-11");
      return;
    }
    switch (body.case) {
      case "ping":
        this.#send(create(FrameSchema, { body: { case: "pong", value: { nonce: body.value.nonce } } }));
        return;
      case "pong":
        this.#pong(body.value.headCursor, now);
        return;
      case "deliver":
        link.pushedSincePong = true;
        this.#acceptStreamEntries([body.value], now);
        return;
      case "goAway":
        link.phase = "draining";
        link.reconnectAfterDrainAt = now + body.value.reconnectDelayMs * (1 + this.#deps.random());
        return;
    }
    if (body.case === "error" && body.value.code === ErrorCode.SESSION_REPLACED) this.#setStatus("replaced"); // AUTH-4
    const pending = frame.requestId === 0 ? undefined : (link.pending.get(frame.requestId) ?? link.abandoned.get(frame.requestId));
    if (pending === undefined) return; // a report, or an answer already taken
    link.pending.delete(frame.requestId);
    link.abandoned.delete(frame.requestId);
    if (body.case === "error") this.#refused(pending, body.value, now);
    else this.#answered(pending, body, now);
    this.#flush(now);
    if (this.#syncDeferred) {
      this.#syncDeferred = false;
      if (this.#stream.hasGap || !link.positionSet) this.#syncUser();
      this.#pullConversations();
    }
  }

  /** The server sent something this client could not read. */
  inputError(error: ImwireError, now: number): void {
    this.#now = now;
    if (!this.#link) return;
    this.#send(errorFrameFor(error));
    if (error.closesConnection) this.#abandon(now);
  }

  tick(now: number): void {
    this.#now = now;
    if (this.#status === "stopped" || this.#status === "replaced" || this.#status === "unauthenticated") return;
    const link = this.#link;
    if (!link) {
      if (this.#connecting === undefined && now >= this.#reconnectAt) {
        this.#connecting = ++this.#lastConnection;
        this.#reconnectAt = NEVER;
        this.#setStatus("connecting");
        this.#outputs.push({ kind: "connect", connection: this.#connecting });
      }
      return;
    }
    if (link.phase === "hello" || link.phase === "auth") {
      if (now >= link.openedAt + this.options.handshakeTimeoutMs) return this.#abandon(now);
    } else if (now >= link.lastReceivedAt + 1.5 * link.heartbeatMs) {
      return this.#abandon(now); // HB-4
    }
    if (link.phase === "draining" && (now >= link.reconnectAfterDrainAt || link.pending.size === 0)) {
      const reconnectAt = link.reconnectAfterDrainAt;
      this.#outputs.push({ kind: "close", connection: link.connection });
      this.#linkGone(now, true);
      this.#reconnectAt = reconnectAt;
      return;
    }
    if (now >= link.nextPingAt) {
      const nonce = link.nextNonce++;
      this.#send(create(FrameSchema, { body: { case: "ping", value: { nonce } } }));
      link.nextPingAt = now + 0.8 * link.heartbeatMs;
      // An acknowledgement lost on the way would keep the window shut (FLOW-2); repeating it is harmless (ACK-3).
      if (link.positionSet) this.#sendAck(true);
    }
    this.#expireSyncRequests(now);
    if (now >= this.#streamGapAt) {
      this.#streamGapAt = NEVER;
      if (this.#stream.hasGap) this.#syncUser();
    }
    if (now >= this.#conversationGapAt) {
      this.#conversationGapAt = NEVER;
      this.#pullConversations();
    }
    this.#flush(now);
    if (now >= link.ackDueAt) this.#sendAck();
  }

  nextWakeup(): number | undefined {
    let next = NEVER;
    const link = this.#link;
    if (!link) {
      next = this.#connecting !== undefined ? NEVER : this.#reconnectAt;
    } else {
      if (link.phase === "hello") next = link.openedAt + this.options.handshakeTimeoutMs;
      else if (link.phase === "auth") next = Math.min(link.openedAt + this.options.handshakeTimeoutMs, link.nextPingAt);
      else next = Math.min(link.lastReceivedAt + 1.5 * link.heartbeatMs, link.nextPingAt, link.ackDueAt, this.#streamGapAt, this.#conversationGapAt, link.reconnectAfterDrainAt);
      if (link.phase === "ready" || link.phase === "syncing") {
        // FLOW-1: at the in-flight limit only an answer or a retry frees a slot, so only those are worth waking for.
        const room = link.pending.size < link.maxInFlight;
        next = Math.min(next, this.#outbox.nextDue(room), this.#oldestSyncRequest() + this.options.attemptTimeoutMs);
      }
    }
    return next === NEVER ? undefined : next;
  }

  takeOutputs(): ClientOutput[] {
    const outputs = this.#outputs;
    this.#outputs = [];
    return outputs;
  }

  // ---- application commands ---------------------------------------------

  /** Send a message; returns its client_message_id, which "sent" or "failed" events name. */
  send(conversationId: string, content: MessageInitShape<typeof MessageContentSchema>, now: number, extra: { replyToSeq?: bigint } = {}): string {
    const clientMessageId = this.#deps.newId();
    return this.#operation(clientMessageId, { case: "sendMessage", value: { conversationId, clientMessageId, content, replyToSeq: extra.replyToSeq ?? 0n } }, now);
  }

  /** Open, create or add members to a conversation; creation gets an idempotency key (IDEM-6). */
  open(request: MessageInitShape<typeof OpenConversationSchema>, now: number): string {
    const id = this.#deps.newId();
    const needsKey = request.conversationId === undefined || request.conversationId === "";
    const value = { ...request, clientConversationId: needsKey ? request.clientConversationId || id : "" };
    return this.#operation(id, { case: "openConversation", value }, now);
  }

  leave(conversationId: string, now: number): string {
    return this.#operation(this.#deps.newId(), { case: "leaveConversation", value: { conversationId } }, now);
  }

  setReceiveMode(conversationId: string, mode: ReceiveMode, now: number): string {
    return this.#operation(this.#deps.newId(), { case: "setReceiveSettings", value: { settings: { conversationId, mode } } }, now);
  }

  markRead(conversationId: string, seq: bigint, now: number): string {
    return this.#operation(this.#deps.newId(), { case: "markRead", value: { conversationId, seq } }, now);
  }

  /** RECV-5. Remembered across connections; returning to the foreground pulls what notify entries announced. */
  setDeviceState(state: DeviceState, now: number, push?: { service: string; token: string }): void {
    this.#deviceState = state;
    if (push) {
      this.#pushService = push.service;
      this.#pushToken = push.token;
    }
    if (this.#link?.phase === "ready" || this.#link?.phase === "syncing") this.#announceDeviceState(now);
    if (state === DeviceState.FOREGROUND) this.#pullConversations();
    this.#flush(now);
  }

  /** Stop for good: close the connection and never reconnect. */
  stop(now: number): void {
    this.#now = now;
    if (this.#link) this.#outputs.push({ kind: "close", connection: this.#link.connection });
    this.#connecting = undefined;
    this.#linkGone(now, true);
    this.#setStatus("stopped");
  }

  // ---- what the application may read ------------------------------------

  get status(): ClientStatus {
    return this.#status;
  }

  get epoch(): string | undefined {
    return this.#epoch;
  }

  /** CUR-3: the cursor up to which the device holds its stream. */
  get cursor(): bigint {
    return this.#stream.held;
  }

  get pendingOperations(): number {
    return this.#outbox.size;
  }

  get defaultReceiveMode(): ReceiveMode {
    return this.#defaultMode;
  }

  /** The device's view of every conversation it may read, by id. */
  conversations(): Map<string, ConversationView> {
    return new Map([...this.#conversations].map(([id, state]) => [id, viewOf(state)]));
  }

  /** True when nothing is pending: no gap to fill, nothing unsent or unacknowledged. */
  get settled(): boolean {
    const link = this.#link;
    if (!link || link.phase !== "ready" || link.pending.size > 0 || this.#outbox.size > 0 || this.#stream.hasGap) return false;
    if (link.lastAckSent < this.#stream.held) return false;
    for (const state of this.#conversations.values()) if (state.needsPull) return false;
    return true;
  }

  // ---- answers -----------------------------------------------------------

  #answered(pending: Pending, body: Body, now: number): void {
    switch (pending.kind) {
      case "hello":
        if (body.case === "welcome") this.#welcome(body.value, now);
        return;
      case "authenticate":
        if (body.case === "authenticated") this.#authenticated(body.value, now);
        return;
      case "syncUser":
        this.#link!.userSyncInFlight = false;
        if (body.case === "userPage") this.#userPage(body.value, now);
        return;
      case "syncConversation": {
        const state = this.#conversations.get(pending.conversationId);
        if (state) state.syncInFlight = false;
        if (body.case === "conversationPage") this.#conversationPage(body.value);
        return;
      }
      case "operation": {
        const operation = this.#outbox.get(pending.operationId);
        if (!operation) return;
        this.#outbox.remove(operation.id);
        this.#retireAttempts(operation.id);
        if (body.case === "sendAck") this.#emit({ kind: "sent", clientMessageId: operation.id, ack: body.value });
        else this.#emit({ kind: "done", operationId: operation.id, answer: body });
        return;
      }
    }
  }

  #refused(pending: Pending, error: ErrorBody, now: number): void {
    const link = this.#link!;
    switch (pending.kind) {
      case "hello":
      case "authenticate":
        if (error.code === ErrorCode.UNAUTHENTICATED) this.#setStatus("unauthenticated");
        return; // the server closes the connection (ERR-2)
      case "syncUser":
        link.userSyncInFlight = false;
        return;
      case "syncConversation": {
        const state = this.#conversations.get(pending.conversationId);
        if (state) {
          state.syncInFlight = false;
          // Not readable (any more): stop expecting what cannot be fetched.
          if (!errorCodeInfo(error.code).retryable) state.timeline.capHead(state.timeline.held);
        }
        return;
      }
      case "operation": {
        const operation = this.#outbox.get(pending.operationId);
        if (!operation) return;
        if (error.retryable) {
          const backoff = Math.min(this.options.attemptTimeoutMs * 2 ** operation.attempts, this.options.maxAttemptTimeoutMs);
          this.#outbox.retryLater(operation, now + Math.max(error.retryAfterMs, backoff * this.#deps.random()));
        } else {
          this.#outbox.remove(operation.id);
          this.#retireAttempts(operation.id);
          this.#emit({ kind: "failed", operationId: operation.id, code: error.code, message: error.message });
        }
        return;
      }
    }
  }

  #welcome(welcome: Welcome, now: number): void {
    const link = this.#link!;
    const problem = welcomeProblem(welcome, this.options.versions);
    if (problem !== undefined) {
      // CONN-3: close without sending anything further, and back off like any failed attempt (CONN-8).
      this.#outputs.push({ kind: "close", connection: link.connection });
      this.#linkGone(now, false);
      return;
    }
    link.phase = "auth";
    this.#outputs.push({ kind: "frame-limit", connection: link.connection, maxFrameSize: welcome.maxFrameSize });
    link.heartbeatMs = welcome.heartbeatIntervalMs;
    link.maxInFlight = welcome.maxInFlight;
    link.maxFrameSize = welcome.maxFrameSize;
    link.dedupWindowMs = welcome.dedupWindowS * 1000;
    link.nextPingAt = now + 0.8 * welcome.heartbeatIntervalMs;
    // A snapshot cut off between pages is finished before anything resumes (SYNC-7): no resume, so sync_user follows.
    const resume = this.#epoch === undefined || this.#snapshotPaging ? undefined : { epoch: this.#epoch, cursor: this.#stream.held };
    this.#request({ case: "authenticate", value: { token: this.#deps.token(), resume } }, { kind: "authenticate" });
  }

  #authenticated(authenticated: Authenticated, now: number): void {
    const link = this.#link!;
    this.#reconnectAttempt = 0;
    if (authenticated.resumed) {
      link.phase = "ready";
      link.positionSet = true;
      link.lastAckSent = this.#stream.held;
      this.#setStatus("ready");
    } else {
      link.phase = "syncing";
      this.#setStatus("syncing");
      this.#syncUser();
    }
    if (this.#deviceState !== DeviceState.FOREGROUND || this.#pushService !== "") this.#announceDeviceState(now);
    this.#pullConversations();
    this.#flush(now);
  }

  // ---- the user stream (CUR-3, SYNC-3 to SYNC-5) --------------------------

  #acceptStreamEntries(entries: readonly UserEvent[], now: number): void {
    const link = this.#link!;
    let applied = 0;
    for (const entry of entries) {
      for (const ready of this.#stream.accept(entry)) {
        this.#applyEntry(ready, now);
        applied++;
      }
    }
    if (this.#stream.hasGap && this.#streamGapAt === NEVER && !this.#mutations.noGapSync) this.#streamGapAt = now + this.options.gapWaitMs;
    if (applied > 0 || this.#mutations.ackAheadOfGap) {
      link.appliedSinceAck += applied;
      if (link.appliedSinceAck >= this.options.ackEvery) this.#sendAck();
      else if (link.ackDueAt === NEVER) link.ackDueAt = now + this.options.ackDelayMs;
    }
  }

  #applyEntry(entry: UserEvent, now: number): void {
    const body = entry.body;
    switch (body.case) {
      case "event":
        this.#acceptEvents(body.value.conversationId, [body.value], now);
        return;
      case "notify": {
        const state = this.#conversations.get(body.value.conversationId);
        if (!state) return;
        state.timeline.noteHead(body.value.seq);
        if (this.options.pullOnNotify && this.#deviceState === DeviceState.FOREGROUND) this.#pull(state);
        return;
      }
      case "joined":
        if (this.#describedSince(body.value.conversation!.conversationId, entry)) return;
        this.#describe(body.value.conversation!, now);
        this.#emit({ kind: "joined", conversation: body.value.conversation! });
        return;
      case "left": {
        if (this.#describedSince(body.value.conversationId, entry)) return;
        this.#conversations.get(body.value.conversationId)?.leftAt(body.value.lastVisibleSeq);
        this.#emit({ kind: "left", conversationId: body.value.conversationId, lastVisibleSeq: body.value.lastVisibleSeq });
        return;
      }
      case "receiveSettings": {
        const { conversationId, mode } = body.value;
        if (this.#describedSince(conversationId, entry)) return;
        if (conversationId === "") this.#defaultMode = mode;
        else {
          const state = this.#conversations.get(conversationId);
          if (state) state.mode = mode;
        }
        this.#emit({ kind: "receive-settings", settings: body.value });
        return;
      }
      case "readMarker": {
        const state = this.#conversations.get(body.value.conversationId);
        if (state && body.value.seq > state.readSeq) state.readSeq = body.value.seq;
        this.#emit({ kind: "read-marker", marker: body.value });
        return;
      }
      case "readReceipt":
        this.#emit({ kind: "read-receipt", receipt: body.value });
        return;
    }
  }

  /**
   * A sync request unanswered for the attempt timeout was lost (only lossy
   * transports lose frames): forget it and ask again.
   */
  #expireSyncRequests(now: number): void {
    const link = this.#link!;
    if (!this.options.lossyTransport) return;
    for (const [requestId, pending] of link.pending) {
      if ((pending.kind !== "syncUser" && pending.kind !== "syncConversation") || now - pending.sentAt < this.options.attemptTimeoutMs) continue;
      this.#abandonAttempt(requestId);
      if (pending.kind === "syncUser") {
        link.userSyncInFlight = false;
        this.#streamGapAt = Math.min(this.#streamGapAt, now);
        if (!link.positionSet) this.#syncUser();
      } else {
        const state = this.#conversations.get(pending.conversationId);
        if (state) state.syncInFlight = false;
        this.#conversationGapAt = Math.min(this.#conversationGapAt, now);
      }
    }
  }

  #oldestSyncRequest(): number {
    if (!this.options.lossyTransport) return NEVER;
    let oldest = NEVER;
    for (const pending of this.#link?.pending.values() ?? []) {
      if ((pending.kind === "syncUser" || pending.kind === "syncConversation") && pending.sentAt < oldest) oldest = pending.sentAt;
    }
    return oldest;
  }

  #syncUser(): void {
    const link = this.#link;
    if (!link || link.userSyncInFlight || link.phase === "hello" || link.phase === "auth" || link.phase === "draining") return;
    if (link.pending.size >= link.maxInFlight) {
      this.#syncDeferred = true; // FLOW-1: asked again when an answer frees a slot
      return;
    }
    link.userSyncInFlight = true;
    this.#request(
      { case: "syncUser", value: { afterCursor: this.#stream.held, epoch: this.#epoch ?? "", limit: this.options.syncPageLimit, snapshotAfter: this.#snapshotPaging?.after ?? "" } },
      { kind: "syncUser", sentAt: this.#now },
    );
  }

  #userPage(page: UserPage, now: number): void {
    const link = this.#link!;
    if (page.snapshot) {
      if (this.#applySnapshotPage(page.snapshot, now)) {
        this.#syncUser();
        return;
      }
    } else {
      this.#acceptStreamEntries(page.events, now);
    }
    if (page.hasMore || (this.#stream.hasGap && page.events.length > 0)) {
      this.#syncUser();
      return;
    }
    if (!link.positionSet) {
      // SYNC-5, DLV-2: caught up; the acknowledgement sets the position and pushes begin.
      link.positionSet = true;
      link.phase = "ready";
      this.#sendAck(true);
      this.#setStatus("ready");
    }
  }

  /** Apply one snapshot page (SYNC-4, SYNC-7); true when more pages are due. */
  #applySnapshotPage(snapshot: NonNullable<UserPage["snapshot"]>, now: number): boolean {
    let paging = this.#snapshotPaging;
    if (paging === undefined || snapshot.epoch !== paging.epoch) {
      // A first page. One of this epoch no newer than what is held crossed newer entries on the way: ignore it.
      if (paging === undefined && snapshot.epoch === this.#epoch && snapshot.cursor <= this.#stream.held) return false;
      this.#epoch = snapshot.epoch;
      this.#stream.reset(snapshot.cursor);
      this.#streamGapAt = NEVER;
      this.#describedAt.clear();
      paging = this.#snapshotPaging = { epoch: snapshot.epoch, after: "", listed: new Set() };
    }
    for (const conversation of snapshot.conversations) {
      paging.listed.add(conversation.conversationId);
      this.#describedAt.set(conversation.conversationId, snapshot.cursor);
      this.#describe(conversation, now);
    }
    if (snapshot.continueAfter !== "") {
      paging.after = snapshot.continueAfter;
      return true;
    }
    this.#snapshotPaging = undefined;
    for (const id of [...this.#conversations.keys()]) if (!paging.listed.has(id)) this.#conversations.delete(id);
    this.#defaultMode = snapshot.defaultReceiveMode;
    this.#describedAt.set("", snapshot.cursor);
    if (this.#link) this.#link.lastAckSent = -1n;
    this.#emit({ kind: "resynced", epoch: snapshot.epoch });
    this.#pullConversations();
    return false;
  }

  /** SYNC-7: whether a snapshot page already described `conversationId` as of a cursor at or after this entry's. */
  #describedSince(conversationId: string, entry: UserEvent): boolean {
    const at = this.#describedAt.get(conversationId);
    return at !== undefined && entry.cursor <= at;
  }

  #sendAck(force = false): void {
    const link = this.#link;
    if (!link || !link.positionSet) return;
    link.ackDueAt = NEVER;
    link.appliedSinceAck = 0;
    let cursor = this.#mutations.ackAheadOfGap ? this.#stream.highestSeen : this.#stream.held;
    if (this.#mutations.ackBeyondHeld) cursor += 1n;
    if (!force && cursor <= link.lastAckSent) return;
    link.lastAckSent = cursor;
    this.#send(create(FrameSchema, { body: { case: "deliveryAck", value: { cursor } } }));
  }

  /** CUR-6: a head beyond what is held, with no push since the last pong, means the tail was lost. */
  #pong(headCursor: bigint, _now: number): void {
    const link = this.#link!;
    if (link.phase === "ready" && headCursor > this.#stream.held && !link.pushedSincePong && !this.#mutations.noGapSync) this.#syncUser();
    link.pushedSincePong = false;
  }

  // ---- conversations (SEQ-3 to SEQ-5) -------------------------------------

  #describe(meta: Conversation, now: number): void {
    const existing = this.#conversations.get(meta.conversationId);
    if (!existing) {
      this.#conversations.set(meta.conversationId, new ConversationState(meta));
    } else {
      this.#deliver(existing, existing.describe(meta));
    }
    const state = this.#conversations.get(meta.conversationId)!;
    if (state.needsPull) this.#scheduleConversationGaps(now, true);
  }

  #acceptEvents(conversationId: string, events: readonly ConversationEvent[], now: number): void {
    const state = this.#conversations.get(conversationId);
    if (!state) return;
    for (const event of events) {
      if (this.#mutations.noDuplicateCheck && event.seq <= state.timeline.held) this.#deliver(state, [event]);
      else if (this.#mutations.noReorderBuffer) this.#deliverOnArrival(state, event);
      else this.#deliver(state, state.timeline.accept(event));
    }
    if (state.needsPull) this.#scheduleConversationGaps(now, false);
  }

  #deliver(state: ConversationState, events: readonly ConversationEvent[]): void {
    for (const event of events) {
      state.applied(event);
      this.#emit({ kind: "event", conversationId: state.meta.conversationId, event });
    }
  }

  /** The noReorderBuffer variant: events ahead of a gap go out at once, the gap's events after them. */
  #deliverOnArrival(state: ConversationState, event: ConversationEvent): void {
    const early = (this.#earlyDelivered ??= new Set<string>());
    const key = (e: ConversationEvent) => `${e.conversationId}#${e.seq}`;
    if (event.seq > state.timeline.held + 1n && !early.has(key(event))) {
      early.add(key(event));
      this.#deliver(state, [event]);
    }
    this.#deliver(state, state.timeline.accept(event).filter((e) => !early.has(key(e))));
  }

  #scheduleConversationGaps(now: number, immediately: boolean): void {
    if (this.#mutations.noGapSync) return;
    const at = immediately ? now : now + this.options.gapWaitMs;
    if (at < this.#conversationGapAt) this.#conversationGapAt = at;
  }

  #pullConversations(): void {
    for (const state of this.#conversations.values()) {
      const notifyOnly = state.mode === ReceiveMode.NOTIFY_ONLY || (state.mode === ReceiveMode.UNSPECIFIED && this.#defaultMode === ReceiveMode.NOTIFY_ONLY);
      const waitForeground = this.#deviceState !== DeviceState.FOREGROUND && notifyOnly;
      if (state.needsPull && !waitForeground) this.#pull(state);
    }
  }

  #pull(state: ConversationState): void {
    const link = this.#link;
    if (!link || state.syncInFlight || !state.needsPull || this.#mutations.noGapSync) return;
    if (link.phase !== "ready" && link.phase !== "syncing") return;
    if (link.pending.size >= link.maxInFlight) {
      this.#syncDeferred = true; // FLOW-1: asked again when an answer frees a slot
      return;
    }
    state.syncInFlight = true;
    this.#request(
      { case: "syncConversation", value: { conversationId: state.meta.conversationId, afterSeq: state.timeline.held, limit: this.options.syncPageLimit } },
      { kind: "syncConversation", conversationId: state.meta.conversationId, sentAt: this.#now },
    );
  }

  #conversationPage(page: ConversationPage): void {
    const state = this.#conversations.get(page.conversationId);
    if (!state) return;
    this.#deliver(state, state.timeline.startAt(page.firstVisibleSeq));
    const before = state.timeline.held;
    for (const event of page.events) this.#deliver(state, state.timeline.accept(event));
    // A page only ever adds to what is known to exist: a newer notify may already know more than it.
    state.timeline.noteHead(page.lastSeq);
    if (!state.needsPull) return;
    if (state.timeline.held > before || page.hasMore) this.#pull(state);
    else this.#scheduleConversationGaps(this.#now, false);
  }

  // ---- requests and the outbox (IDEM-1, IDEM-4, FLOW-1) -----------------

  #operation(id: string, body: RequestBody, now: number): string {
    this.#outbox.add(id, body, now);
    this.#flush(now);
    return id;
  }

  /** Send what the outbox has due, within the in-flight limit; give up what outlived the dedup window. */
  #flush(now: number): void {
    const link = this.#link;
    if (!link || (link.phase !== "ready" && link.phase !== "syncing")) return;
    for (const operation of this.#outbox.expired(now - link.dedupWindowMs)) {
      this.#outbox.remove(operation.id);
      this.#emit({ kind: "failed", operationId: operation.id, code: "expired", message: "not acknowledged within the dedup window" });
    }
    for (const operation of this.#outbox.due(now)) {
      if (operation.requestId !== 0) this.#abandonAttempt(operation.requestId); // timed out (CONN-10)
      if (link.pending.size >= link.maxInFlight) break;
      if (this.#oversized(operation, link)) continue;
      this.#attempt(operation, now);
    }
  }

  /** An operation is settled: its other attempts neither count against FLOW-1 nor need answers. */
  #retireAttempts(operationId: string): void {
    const link = this.#link!;
    for (const attempts of [link.pending, link.abandoned]) {
      for (const [requestId, pending] of attempts) {
        if (pending.kind === "operation" && pending.operationId === operationId) attempts.delete(requestId);
      }
    }
  }

  /** CONN-10: stop counting an attempt against FLOW-1, but still take its answer if it comes. */
  #abandonAttempt(requestId: number): void {
    const link = this.#link!;
    const pending = link.pending.get(requestId);
    if (pending === undefined) return;
    link.pending.delete(requestId);
    link.abandoned.set(requestId, pending);
  }

  /** LIM-3: a message the server must refuse fails here, without a round trip, as the server would fail it. */
  #oversized(operation: Operation, link: Link): boolean {
    const body = operation.body;
    if (body.case !== "sendMessage" || link.maxFrameSize === 0) return false;
    const size = sizeSendMessage(create(SendMessageSchema, body.value));
    const limit = maxSendMessageSize(link.maxFrameSize);
    if (size <= limit) return false;
    this.#outbox.remove(operation.id);
    this.#emit({ kind: "failed", operationId: operation.id, code: ErrorCode.INVALID_ARGUMENT, message: `send_message of ${size} bytes is larger than ${limit} (LIM-3)` });
    return true;
  }

  #attempt(operation: Operation, now: number): void {
    let body = operation.body;
    if (this.#mutations.newIdPerRetry && operation.attempts > 0 && body.case === "sendMessage") {
      body = { case: "sendMessage", value: { ...body.value, clientMessageId: this.#deps.newId() } };
    }
    const requestId = this.#request(body, { kind: "operation", operationId: operation.id });
    this.#outbox.markSent(operation, requestId, now);
  }

  #announceDeviceState(now: number): void {
    const push = this.#pushService === "" ? {} : { pushService: this.#pushService, pushToken: this.#pushToken };
    this.#operation(this.#deps.newId(), { case: "setDeviceState", value: { state: this.#deviceState, ...push } }, now);
  }

  #request(body: RequestBody, pending: Pending): number {
    const link = this.#link!;
    const requestId = link.nextRequestId;
    link.nextRequestId = requestId >= 0xffff_ffff ? 1 : requestId + 1;
    link.pending.set(requestId, pending);
    this.#send(create(FrameSchema, { requestId, body }));
    return requestId;
  }

  #send(frame: Frame): void {
    this.#outputs.push({ kind: "send", frame });
  }

  // ---- connection loss and reconnection (CONN-8) ---------------------------

  /** Close the connection ourselves, reporting why when there is a reason to. */
  #abandon(now: number, code?: ErrorCode, message = "", requirement = ""): void {
    if (code !== undefined) this.#send(errorFrame(code, { message, requirement }));
    this.#outputs.push({ kind: "close", connection: this.#link!.connection });
    this.#linkGone(now, false);
  }

  #linkGone(now: number, deliberate: boolean): void {
    this.#link = undefined;
    this.#outbox.connectionLost();
    for (const state of this.#conversations.values()) state.syncInFlight = false;
    this.#streamGapAt = NEVER;
    this.#conversationGapAt = NEVER;
    if (this.#status === "replaced" || this.#status === "unauthenticated" || this.#status === "stopped") return;
    const ceiling = Math.min(this.options.reconnectMaxMs, this.options.reconnectBaseMs * 2 ** this.#reconnectAttempt);
    this.#reconnectAttempt++;
    this.#reconnectAt = deliberate ? now : now + this.#deps.random() * ceiling;
    this.#setStatus("offline");
  }

  #setStatus(status: ClientStatus): void {
    if (this.#status === status) return;
    this.#status = status;
    this.#emit({ kind: "status", status });
  }

  #emit(event: ClientEvent): void {
    this.#outputs.push({ kind: "app", event });
  }

}
