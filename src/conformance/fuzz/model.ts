import { toBinary } from "@bufbuild/protobuf";
import type { TokenCheck } from "../../machines/server/types.js";
import { ConversationKind } from "../../gen/imwire/v1/conversation_pb.js";
import { ErrorCode } from "../../gen/imwire/v1/error_pb.js";
import { FrameSchema, type Frame } from "../../gen/imwire/v1/frame_pb.js";
import { SendMessageSchema, type SendAck } from "../../gen/imwire/v1/message_pb.js";
import { DeviceState } from "../../gen/imwire/v1/settings_pb.js";
import { findMissingField } from "../../codec/validate.js";
import { frameCatalogue, maySend } from "../../codec/frame-catalogue.js";
import type { FrameCase } from "../../codec/frame-codec.js";
import { MAX_ID_BYTES, MAX_TITLE_BYTES, PROTOCOL_VERSION } from "../../limits.js";

/**
 * The fuzzer's model of expected answers: for one frame as the server will
 * read it (the reference decoder's reading, not the server's), the answers
 * and closures SPEC.md allows, each with the requirement ids that allow it.
 * It is written from SPEC.md (ERR-5's order, §19.1's table), not from the
 * server's code; where several outcomes are allowed it says so.
 */

/** ERR-2's table: the codes whose error closes the connection, and those that are retryable. */
export const CLOSING = new Set([ErrorCode.MALFORMED_FRAME, ErrorCode.FRAME_TOO_LARGE, ErrorCode.PROTOCOL_VIOLATION, ErrorCode.UNSUPPORTED_VERSION, ErrorCode.TIMEOUT, ErrorCode.UNAUTHENTICATED, ErrorCode.TOKEN_EXPIRED, ErrorCode.SESSION_REPLACED]);
export const RETRYABLE = new Set([ErrorCode.TIMEOUT, ErrorCode.TOKEN_EXPIRED, ErrorCode.RATE_LIMITED, ErrorCode.UNAVAILABLE, ErrorCode.INTERNAL]);

/** The server's side of the connection as the fuzzer knows it (SPEC.md §5). */
export type ConnState = "await-hello" | "await-auth" | "ready";

export interface ConversationInfo {
  readonly kind: ConversationKind;
  /** owner or member: may send (channels: owner only); left: a former member of a group. */
  role: "owner" | "member" | "subscriber" | "left";
  /** A seq known to exist (the conversation's last seq is at least this). */
  lastSeqKnown: number;
}

/** What the model needs to know about one hostile connection. */
export interface ModelContext {
  state: ConnState;
  /** The user and device of the connection's token (its slot). */
  readonly userId: string;
  readonly deviceId: string;
  /** hello.device_id of the hello the server accepted. */
  helloDeviceId: string | undefined;
  /** FRM-5: the frame limit in force. */
  limit: number;
  maxInFlight: number;
  /** Requests sent and not yet answered, this frame included when it is one (FLOW-1, counted as the client sees it). */
  inFlightAfterSend: number;
  readonly conversations: Map<string, ConversationInfo>;
  /** Conversations of the honest users: never joined by any hostile user. */
  readonly honest: ReadonlySet<string>;
  /** Users known to exist (AUTH-7): they have authenticated at least once. */
  readonly existingUsers: ReadonlySet<string>;
  /** Users that may exist (the hostile pool); others never do. */
  readonly mayExist: (userId: string) => boolean;
  /** IDEM-2: the first answer to each client_message_id this connection's device used. */
  readonly messageKeys: Map<string, { conversationId: string; ack: SendAck | undefined }>;
  /** IDEM-6: client_conversation_id → the conversation's kind. */
  readonly conversationKeys: Map<string, ConversationKind>;
  /** ACK-2: the highest cursor received on this connection (the server has sent at least this). */
  highestReceived: bigint;
  /** Whether a delivery_ack may have set the delivery position (DLV-2). */
  positionMaySet: boolean;
  readonly verifyToken: (token: string) => TokenCheck | undefined;
  /** The server may be draining (an external target): UNAVAILABLE is allowed (CONN-7). */
  readonly mayDrain: boolean;
}

/** What the server may do about one frame. */
export interface Outcome {
  readonly label: string;
  readonly spec: string;
  /** The request_id an error about it carries; notices may also get 0 (ACK-5). */
  readonly rid: number;
  readonly notice: boolean;
  readonly isRequest: boolean;
  /** required: an answer must come unless the connection closes; optional: may come; none: must not. */
  readonly answer: "required" | "optional" | "none";
  /** The positive answer's body, when one is allowed. */
  readonly positive?: FrameCase;
  /** A ping's nonce: answered by a pong with it (HB-2). */
  readonly pongNonce?: bigint;
  readonly codes: ReadonlySet<ErrorCode>;
  /** The server may close without an error (the client said it was going away, ERR-2). */
  readonly silentClose?: boolean;
  /** Checks of a positive answer, and what it teaches the context; a string is a violation. */
  readonly onPositive?: (answer: Frame) => string | undefined;
  readonly onError?: (code: ErrorCode) => void;
}

const BIG = 2n ** 40n;

export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, "utf8");
}

/** LIM-2: 1 to 128 bytes. */
function badId(id: string): boolean {
  return id === "" || utf8Bytes(id) > MAX_ID_BYTES;
}

function outcome(o: Partial<Outcome> & Pick<Outcome, "label" | "spec" | "rid">): Outcome {
  return { notice: false, isRequest: false, answer: "required", codes: new Set(), ...o };
}

/** The model's reading of a frame payload that is not a valid Frame (ENV-3). */
export function malformed(label: string): Outcome {
  return outcome({ label, spec: "ENV-3", rid: 0, codes: new Set([ErrorCode.MALFORMED_FRAME]) });
}

/** FRM-2: a bad length prefix. */
export function badPrefix(label: string): Outcome {
  return outcome({ label, spec: "FRM-2", rid: 0, codes: new Set([ErrorCode.MALFORMED_FRAME]) });
}

/** FRM-4 / WS-4: a frame over the limit in force; on WebSocket the error is optional before the 1009 close. */
export function tooLarge(label: string, webSocket: boolean): Outcome {
  return outcome({ label, spec: webSocket ? "WS-4" : "FRM-4", rid: 0, answer: webSocket ? "optional" : "required", silentClose: webSocket, codes: new Set([ErrorCode.FRAME_TOO_LARGE]) });
}

/** WS-3: a text message. */
export function textMessage(): Outcome {
  return outcome({ label: "text message", spec: "WS-3", rid: 0, codes: new Set([ErrorCode.MALFORMED_FRAME]) });
}

/** FRM-6: bytes ending inside a frame: nothing may answer them; HB-3/CONN-6 close the connection later. */
export function partialFrame(label: string): Outcome {
  return outcome({ label, spec: "FRM-6", rid: 0, answer: "none" });
}

/**
 * The outcome of a frame the reference decoder read. Follows ERR-5's order:
 * the frame itself (ENV-4, ENV-5, ENV-7), the connection's state (ENV-2,
 * FLOW-1, CONN-1, CONN-4, CONN-5), then the request.
 */
export function expectFrame(frame: Frame, ctx: ModelContext): Outcome {
  const rid = frame.requestId;
  const body = frame.body;
  if (body.case === undefined) return outcome({ label: "no body", spec: "ENV-4", rid, codes: new Set([ErrorCode.UNKNOWN_FRAME]) });
  const entry = frameCatalogue[body.case];
  const isRequest = entry.kind === "request";
  const notice = !isRequest;
  const label = body.case;
  const missing = findMissingField(FrameSchema, frame);
  if (missing !== undefined) {
    // ENV-5 comes first (ERR-5); a server-only body may instead be refused for its direction (ENV-7, not in ERR-5's list).
    const codes = [ErrorCode.MISSING_FIELD];
    if (!maySend("client", body.case)) codes.push(ErrorCode.PROTOCOL_VIOLATION);
    return outcome({ label: `${label} missing ${missing}`, spec: "ENV-5", rid, notice, codes: new Set(codes) });
  }
  if (!maySend("client", body.case)) return outcome({ label: `${label} from a client`, spec: "ENV-7", rid, notice, codes: new Set([ErrorCode.PROTOCOL_VIOLATION]) });
  if (isRequest && rid === 0) return outcome({ label: `${label} with request_id 0`, spec: "ENV-2", rid: 0, isRequest, codes: new Set([ErrorCode.PROTOCOL_VIOLATION]) });
  // FLOW-1: the server counts no more than the client does, so only a client over the limit may be refused for it.
  const overLimit = isRequest && ctx.inFlightAfterSend > ctx.maxInFlight;
  const base = (o: Outcome): Outcome => {
    if (!isRequest) return o;
    const codes = new Set(o.codes);
    codes.add(ErrorCode.RATE_LIMITED); // FLOW-4
    if (overLimit) codes.add(ErrorCode.PROTOCOL_VIOLATION);
    if (ctx.mayDrain) codes.add(ErrorCode.UNAVAILABLE); // CONN-7
    return { ...o, codes, isRequest: true, spec: overLimit ? `${o.spec}, FLOW-1` : o.spec };
  };

  switch (ctx.state) {
    case "await-hello":
      if (body.case === "hello") return base(helloOutcome(frame, ctx));
      return base(outcome({ label: `${label} before hello`, spec: "CONN-1", rid, notice, codes: new Set([ErrorCode.PROTOCOL_VIOLATION]) }));
    case "await-auth":
      if (body.case === "authenticate") return base(authenticateOutcome(frame, ctx));
      if (body.case === "hello") return base(outcome({ label: "second hello", spec: "CONN-5", rid, codes: new Set([ErrorCode.PROTOCOL_VIOLATION]) }));
      return heartbeatOutcome(frame) ?? base(outcome({ label: `${label} before authenticate`, spec: "CONN-4", rid, notice, codes: new Set([ErrorCode.UNAUTHENTICATED]) }));
    case "ready": {
      const heartbeat = heartbeatOutcome(frame);
      if (heartbeat) return heartbeat;
      if (body.case === "hello" || body.case === "authenticate") return base(outcome({ label: `${label} once ready`, spec: "CONN-5", rid, codes: new Set([ErrorCode.PROTOCOL_VIOLATION]) }));
      if (body.case === "deliveryAck") return deliveryAckOutcome(frame, ctx);
      return base(requestOutcome(frame, ctx));
    }
  }
}

/** Ping, pong and error, which any state past hello accepts (CONN-4, HB-2, ERR-1). */
function heartbeatOutcome(frame: Frame): Outcome | undefined {
  const body = frame.body;
  switch (body.case) {
    case "ping":
      return outcome({ label: "ping", spec: "HB-2", rid: 0, notice: true, positive: "pong", pongNonce: body.value.nonce });
    case "pong":
      return outcome({ label: "pong", spec: "HB-2", rid: 0, notice: true, answer: "none" });
    case "error":
      // ERR-1: never answered; a closing error says the client goes away, and the server may close at once.
      return outcome({ label: body.value.closing ? "closing error" : "error", spec: "ERR-1", rid: 0, notice: true, answer: "none", silentClose: body.value.closing });
    default:
      return undefined;
  }
}

function helloOutcome(frame: Frame, ctx: ModelContext): Outcome {
  const hello = frame.body.value as Extract<Frame["body"], { case: "hello" }>["value"];
  const rid = frame.requestId;
  const codes: ErrorCode[] = [];
  if (!hello.versions.includes(PROTOCOL_VERSION)) codes.push(ErrorCode.UNSUPPORTED_VERSION);
  if (badId(hello.deviceId)) codes.push(ErrorCode.INVALID_ARGUMENT);
  if (codes.length > 0) return outcome({ label: "hello refused", spec: "CONN-2, LIM-2", rid, codes: new Set(codes) });
  return outcome({
    label: "hello",
    spec: "CONN-2",
    rid,
    positive: "welcome",
    onPositive: (answer) => {
      const welcome = (answer.body as Extract<Frame["body"], { case: "welcome" }>).value;
      if (welcome.version !== PROTOCOL_VERSION) return `CONN-2: welcome.version ${welcome.version}`;
      ctx.state = "await-auth";
      ctx.helloDeviceId = hello.deviceId;
      ctx.limit = welcome.maxFrameSize;
      ctx.maxInFlight = welcome.maxInFlight;
      return undefined;
    },
  });
}

function authenticateOutcome(frame: Frame, ctx: ModelContext): Outcome {
  const request = (frame.body as Extract<Frame["body"], { case: "authenticate" }>).value;
  const rid = frame.requestId;
  if (request.resume && badId(request.resume.epoch)) return outcome({ label: "authenticate, bad resume epoch", spec: "LIM-2", rid, codes: new Set([ErrorCode.INVALID_ARGUMENT]) });
  const check = ctx.verifyToken(request.token);
  if (check === undefined) {
    // An external server whose secret the fuzzer does not hold: any of AUTH-1's answers.
    return outcome({ label: "authenticate", spec: "AUTH-1", rid, positive: "authenticated", codes: new Set([ErrorCode.UNAUTHENTICATED, ErrorCode.TOKEN_EXPIRED]), onPositive: () => ((ctx.state = "ready"), undefined) });
  }
  if (!check.ok) return outcome({ label: check.expired ? "expired token" : "invalid token", spec: "AUTH-1", rid, codes: new Set([check.expired ? ErrorCode.TOKEN_EXPIRED : ErrorCode.UNAUTHENTICATED]) });
  if (check.deviceId !== ctx.helloDeviceId) return outcome({ label: "token of another device", spec: "AUTH-3", rid, codes: new Set([ErrorCode.UNAUTHENTICATED]) });
  return outcome({
    label: "authenticate",
    spec: "AUTH-1",
    rid,
    positive: "authenticated",
    onPositive: (answer) => {
      const auth = (answer.body as Extract<Frame["body"], { case: "authenticated" }>).value;
      ctx.state = "ready";
      if (auth.userId !== check.userId || auth.deviceId !== check.deviceId) return `AUTH-2: authenticated as ${auth.userId}/${auth.deviceId}, token of ${check.userId}/${check.deviceId}`;
      if (auth.resumed) {
        if (!request.resume || request.resume.epoch !== auth.epoch) return "AUTH-5: resumed: true without the stream's epoch";
        ctx.positionMaySet = true;
        if (request.resume.cursor > ctx.highestReceived) ctx.highestReceived = request.resume.cursor;
      }
      return undefined;
    },
  });
}

/** ACK-2, ACK-3, ACK-4, ACK-5, ACK-6. */
function deliveryAckOutcome(frame: Frame, ctx: ModelContext): Outcome {
  const ack = (frame.body as Extract<Frame["body"], { case: "deliveryAck" }>).value;
  let required = false;
  let possible = false;
  // FLOW-4: delivery_ack is not a request, and is never rate limited.
  const codes = new Set([ErrorCode.PROTOCOL_VIOLATION]);
  for (const c of ack.conversations) {
    const info = ctx.conversations.get(c.conversationId);
    if (badId(c.conversationId)) {
      codes.add(ErrorCode.INVALID_ARGUMENT); // LIM-2 "wherever they appear"; or ACK-4 (a conversation the user may not read)
      required = true;
    } else if (!info) required = true; // ACK-4: nothing readable; seq is required, so above 0
    else if (c.seq >= BIG) required = true;
    else if (c.seq > BigInt(info.lastSeqKnown)) possible = true;
  }
  const streamPart = !(ack.cursor === 0n && ack.conversations.length > 0);
  if (!required && streamPart && ack.cursor > ctx.highestReceived) {
    if (ack.cursor >= BIG) required = true;
    else possible = true; // the server may have sent more than has arrived
  }
  const spec = ack.conversations.length > 0 ? "ACK-2, ACK-4" : "ACK-2, ACK-3";
  if (streamPart) ctx.positionMaySet = true; // DLV-2: it may set the position, and pushes may follow
  return outcome({
    label: required ? "delivery_ack beyond what was sent" : "delivery_ack",
    spec,
    rid: frame.requestId,
    notice: true,
    answer: required ? "required" : possible ? "optional" : "none",
    codes: required || possible ? codes : new Set<ErrorCode>(),
    onError: () => undefined,
  });
}

type Target = "invalid" | "unknown" | "honest" | ConversationInfo;

function target(id: string, ctx: ModelContext): Target {
  if (badId(id)) return "invalid";
  if (ctx.honest.has(id)) return "honest";
  return ctx.conversations.get(id) ?? "unknown";
}

const codesOf = (...codes: ErrorCode[]) => new Set(codes);

/** The usual start of a request on a conversation (ERR-5): id length, then existence, then the right to it. */
function conversationGate(label: string, spec: string, rid: number, t: Target): Outcome | undefined {
  if (t === "invalid") return outcome({ label: `${label}, bad conversation_id`, spec: "LIM-2", rid, codes: codesOf(ErrorCode.INVALID_ARGUMENT) });
  if (t === "unknown") return outcome({ label: `${label}, unknown conversation`, spec, rid, codes: codesOf(ErrorCode.NOT_FOUND) });
  if (t === "honest") return outcome({ label: `${label}, not a member`, spec: `${spec}, ERR-5`, rid, codes: codesOf(ErrorCode.PERMISSION_DENIED) });
  return undefined;
}

function requestOutcome(frame: Frame, ctx: ModelContext): Outcome {
  const rid = frame.requestId;
  const body = frame.body;
  switch (body.case) {
    case "sendMessage": {
      const m = body.value;
      if (badId(m.conversationId) || badId(m.clientMessageId)) return outcome({ label: "send_message, bad id", spec: "LIM-2", rid, codes: codesOf(ErrorCode.INVALID_ARGUMENT) });
      // ERR-5: the size of the send_message and of its lists come with the ids, before anything is looked up.
      if (toBinary(SendMessageSchema, m).length > ctx.limit - 4_096) return outcome({ label: "send_message too large", spec: "LIM-3, ERR-5", rid, codes: codesOf(ErrorCode.INVALID_ARGUMENT) });
      if (m.mentions.length > 1_000) return outcome({ label: "send_message, over 1,000 mentions", spec: "LIM-8, ERR-5", rid, codes: codesOf(ErrorCode.INVALID_ARGUMENT) });
      const earlier = ctx.messageKeys.get(m.clientMessageId);
      if (earlier) {
        if (earlier.conversationId !== m.conversationId) return outcome({ label: "send_message, key reused elsewhere", spec: "IDEM-7", rid, codes: codesOf(ErrorCode.INVALID_ARGUMENT) });
        if (earlier.ack) {
          const first = earlier.ack;
          return outcome({
            label: "send_message retry",
            spec: "IDEM-2",
            rid,
            positive: "sendAck",
            onPositive: (answer) => {
              const ack = (answer.body as Extract<Frame["body"], { case: "sendAck" }>).value;
              return ack.seq === first.seq && ack.messageId === first.messageId && ack.serverTimeMs === first.serverTimeMs ? undefined : `IDEM-2: a retry was answered seq ${ack.seq}/${ack.messageId}, first ${first.seq}/${first.messageId}`;
            },
          });
        }
      }
      const t = target(m.conversationId, ctx);
      const gate = conversationGate("send_message", "MSG-1", rid, t);
      if (gate) return gate;
      const info = t as ConversationInfo;
      if (info.role === "left" || info.role === "subscriber") return outcome({ label: "send_message, not a sender", spec: "MSG-1", rid, codes: codesOf(ErrorCode.PERMISSION_DENIED) });
      const content = m.content!;
      const kind = content.kind;
      const media = kind.case === "image" || kind.case === "voice" || kind.case === "video" || kind.case === "file" || kind.case === "sticker" ? kind.value.media : undefined;
      let invalid = false;
      let maybeInvalid = false;
      if (media && media.sha256.length !== 0 && media.sha256.length !== 32) invalid = true; // MSG-3
      if (m.mentions.some((x) => badId(x.userId))) invalid = true; // LIM-2
      if (m.replyToSeq >= BIG) invalid = true; // MSG-6
      else if (m.replyToSeq > BigInt(info.lastSeqKnown)) maybeInvalid = true;
      if (invalid) return outcome({ label: "send_message, bad arguments", spec: "MSG-3, MSG-6, LIM-2, LIM-3", rid, codes: codesOf(ErrorCode.INVALID_ARGUMENT) });
      ctx.messageKeys.set(m.clientMessageId, { conversationId: m.conversationId, ack: undefined });
      return outcome({
        label: maybeInvalid ? "send_message, reply_to_seq maybe beyond" : "send_message",
        spec: "MSG-1, MSG-6",
        rid,
        positive: "sendAck",
        codes: maybeInvalid ? codesOf(ErrorCode.INVALID_ARGUMENT) : codesOf(),
        onError: () => ctx.messageKeys.delete(m.clientMessageId),
        onPositive: (answer) => {
          const ack = (answer.body as Extract<Frame["body"], { case: "sendAck" }>).value;
          ctx.messageKeys.set(m.clientMessageId, { conversationId: m.conversationId, ack });
          if (ack.conversationId !== m.conversationId || ack.clientMessageId !== m.clientMessageId) return "MSG-1: send_ack names another conversation or key";
          if (ack.seq <= BigInt(info.lastSeqKnown) && info.kind !== ConversationKind.DIRECT) return `SEQ-1: send_ack seq ${ack.seq} not beyond ${info.lastSeqKnown}, a seq already taken`;
          info.lastSeqKnown = Math.max(info.lastSeqKnown, Number(ack.seq));
          return undefined;
        },
      });
    }
    case "syncConversation": {
      const s = body.value;
      const t = target(s.conversationId, ctx);
      const gate = conversationGate("sync_conversation", "SYNC-1", rid, t);
      if (gate) return gate;
      return outcome({
        label: "sync_conversation",
        spec: "SYNC-1",
        rid,
        positive: "conversationPage",
        onPositive: (answer) => {
          const page = (answer.body as Extract<Frame["body"], { case: "conversationPage" }>).value;
          if (page.conversationId !== s.conversationId) return "SYNC-1: a page of another conversation";
          const limit = s.limit === 0 ? 100 : s.limit;
          if (page.events.length > Math.min(limit, 1_000)) return `SYNC-2: ${page.events.length} events for limit ${s.limit}`;
          for (let i = 1; i < page.events.length; i++) if (page.events[i]!.seq !== page.events[i - 1]!.seq + 1n) return "SYNC-1: page events not consecutive";
          return undefined;
        },
      });
    }
    case "syncUser": {
      const s = body.value;
      // LIM-2 "wherever they appear", ERR-5: the epoch and snapshot_after come before the request's own rules.
      if (s.epoch !== "" && badId(s.epoch)) return outcome({ label: "sync_user, bad epoch", spec: "LIM-2, ERR-5", rid, codes: codesOf(ErrorCode.INVALID_ARGUMENT) });
      if (s.snapshotAfter !== "" && badId(s.snapshotAfter)) {
        return outcome({ label: "sync_user, bad snapshot_after", spec: "LIM-2 snapshot_after", rid, codes: codesOf(ErrorCode.INVALID_ARGUMENT) });
      }
      return outcome({
        label: "sync_user",
        spec: "SYNC-3",
        rid,
        positive: "userPage",
        onPositive: (answer) => {
          const page = (answer.body as Extract<Frame["body"], { case: "userPage" }>).value;
          let prev = s.afterCursor;
          for (const e of page.events) {
            if (e.prevCursor !== prev || e.cursor <= prev) return `SYNC-3: entry ${e.cursor} after ${e.prevCursor}, expected after ${prev}`;
            prev = e.cursor;
          }
          const top = page.snapshot ? page.snapshot.cursor : prev;
          if (top > ctx.highestReceived) ctx.highestReceived = top;
          return undefined;
        },
      });
    }
    case "markRead": {
      const r = body.value;
      const t = target(r.conversationId, ctx);
      const gate = conversationGate("mark_read", "READ-1", rid, t);
      if (gate) return gate;
      const info = t as ConversationInfo;
      if (r.seq >= BIG) return outcome({ label: "mark_read beyond the last seq", spec: "READ-1", rid, codes: codesOf(ErrorCode.INVALID_ARGUMENT) });
      const maybe = r.seq > BigInt(info.lastSeqKnown);
      return outcome({ label: maybe ? "mark_read, seq maybe beyond" : "mark_read", spec: "READ-1", rid, positive: "readMarker", codes: maybe ? codesOf(ErrorCode.INVALID_ARGUMENT) : codesOf() });
    }
    case "openConversation":
      return openOutcome(frame, ctx);
    case "leaveConversation": {
      const l = body.value;
      const t = target(l.conversationId, ctx);
      const gate = conversationGate("leave_conversation", "CONV-5", rid, t);
      if (gate) return gate;
      const info = t as ConversationInfo;
      if (info.kind === ConversationKind.DIRECT || (info.kind === ConversationKind.CHANNEL && info.role === "owner")) {
        return outcome({ label: "leave, cannot", spec: "CONV-5", rid, codes: codesOf(ErrorCode.FAILED_PRECONDITION) });
      }
      return outcome({
        label: "leave_conversation",
        spec: "CONV-5",
        rid,
        positive: "conversationLeft",
        onPositive: (answer) => {
          const left = (answer.body as Extract<Frame["body"], { case: "conversationLeft" }>).value;
          if (left.conversationId !== l.conversationId) return "CONV-5: conversation_left names another conversation";
          if (info.kind === ConversationKind.GROUP) info.role = "left";
          info.lastSeqKnown = Math.max(info.lastSeqKnown, Number(left.lastVisibleSeq));
          return undefined;
        },
      });
    }
    case "setReceiveSettings": {
      const settings = body.value.settings!;
      // RECV-1 says nothing of modes this version does not know: accepted (ENV-6 open enums) or refused.
      const oddMode = settings.mode < 0 || settings.mode > 3;
      const extra = oddMode ? codesOf(ErrorCode.INVALID_ARGUMENT) : codesOf();
      if (settings.conversationId !== "") {
        const gate = conversationGate("set_receive_settings", "RECV-1", rid, target(settings.conversationId, ctx));
        if (gate) return gate;
      }
      return outcome({ label: "set_receive_settings", spec: "RECV-1", rid, positive: "receiveSettings", codes: extra });
    }
    case "setDeviceState": {
      const s = body.value;
      if (s.state !== DeviceState.FOREGROUND && s.state !== DeviceState.BACKGROUND) return outcome({ label: "set_device_state, unknown state", spec: "RECV-5", rid, codes: codesOf(ErrorCode.INVALID_ARGUMENT) });
      return outcome({ label: "set_device_state", spec: "RECV-5", rid, positive: "deviceStateSet" });
    }
    case "listMembers": {
      const l = body.value;
      if (l.afterUserId !== "" && badId(l.afterUserId)) return outcome({ label: "list_members, bad after_user_id", spec: "LIM-2", rid, codes: codesOf(ErrorCode.INVALID_ARGUMENT) });
      const t = target(l.conversationId, ctx);
      const gate = conversationGate("list_members", "CONV-10", rid, t);
      if (gate) return gate;
      const info = t as ConversationInfo;
      // SEC-7: subscribers and former members may not list; a channel's owner may.
      if (info.role === "left" || info.role === "subscriber") return outcome({ label: "list_members, may not", spec: "CONV-10", rid, codes: codesOf(ErrorCode.PERMISSION_DENIED) });
      return outcome({
        label: "list_members",
        spec: "CONV-10",
        rid,
        positive: "memberPage",
        onPositive: (answer) => {
          const page = (answer.body as Extract<Frame["body"], { case: "memberPage" }>).value;
          if (page.conversationId !== l.conversationId) return "CONV-10: a page of another conversation";
          const limit = Math.min(l.limit === 0 ? 100 : l.limit, 1_000);
          if (page.members.length > limit) return `CONV-10: ${page.members.length} members for limit ${l.limit}`;
          return undefined;
        },
      });
    }
    default:
      return outcome({ label: `${body.case}?`, spec: "ENV-4", rid, codes: codesOf(ErrorCode.UNKNOWN_FRAME) });
  }
}

/** CONV-2 to CONV-4, LIM-2, LIM-4, LIM-7, IDEM-6, IDEM-7, AUTH-7. */
function openOutcome(frame: Frame, ctx: ModelContext): Outcome {
  const o = (frame.body as Extract<Frame["body"], { case: "openConversation" }>).value;
  const rid = frame.requestId;
  const invalid = (label: string, spec: string) => outcome({ label, spec, rid, codes: codesOf(ErrorCode.INVALID_ARGUMENT) });
  if (utf8Bytes(o.title) > MAX_TITLE_BYTES) return invalid("open, long title", "LIM-7");
  if (o.userIds.length > 1_000) return invalid("open, over 1,000 user_ids", "LIM-8, ERR-5");
  const record = (expectKind: ConversationKind | undefined, role: ConversationInfo["role"], existing?: ConversationInfo) => (answer: Frame) => {
    const opened = (answer.body as Extract<Frame["body"], { case: "conversationOpened" }>).value;
    const c = opened.conversation!;
    if (expectKind !== undefined && c.kind !== expectKind) return `CONV-1: opened a conversation of kind ${c.kind}, asked ${expectKind}`;
    if (existing) {
      if (c.conversationId !== o.conversationId) return "CONV-4: opened another conversation than the one named";
      if (opened.created) return "CONV-4: created is true for an existing conversation";
      existing.lastSeqKnown = Math.max(existing.lastSeqKnown, Number(c.lastSeq));
      return undefined;
    }
    if (badId(c.conversationId)) return "LIM-2: a conversation id of the wrong length";
    const known = ctx.conversations.get(c.conversationId);
    if (known) known.lastSeqKnown = Math.max(known.lastSeqKnown, Number(c.lastSeq));
    else ctx.conversations.set(c.conversationId, { kind: c.kind, role, lastSeqKnown: Math.max(1, Number(c.lastSeq)) });
    return undefined;
  };
  if (o.conversationId !== "") {
    const t = target(o.conversationId, ctx);
    const gate = conversationGate("open", "CONV-4", rid, t);
    if (gate) return gate;
    const info = t as ConversationInfo;
    const kindMismatch = o.kind !== ConversationKind.UNSPECIFIED && o.kind !== info.kind;
    if (info.kind === ConversationKind.CHANNEL) {
      if (kindMismatch || o.userIds.length > 0) return invalid("open channel, bad arguments", "CONV-4");
      return outcome({ label: "open channel", spec: "CONV-4", rid, positive: "conversationOpened", onPositive: record(undefined, info.role, info) });
    }
    if (info.role === "left" && o.userIds.length > 0) return outcome({ label: "add members, former member", spec: "CONV-4", rid, codes: codesOf(ErrorCode.PERMISSION_DENIED) });
    if (kindMismatch) return invalid("open, kind mismatch", "CONV-4");
    if (o.userIds.length === 0) return outcome({ label: "open existing", spec: "CONV-4", rid, positive: "conversationOpened", onPositive: record(undefined, info.role, info) });
    if (info.kind !== ConversationKind.GROUP) return invalid("add members to a one-to-one", "CONV-4");
    return membersOutcome("add members", o.userIds, ctx, rid, record(undefined, info.role, info));
  }
  switch (o.kind) {
    case ConversationKind.DIRECT: {
      if (o.userIds.length !== 1) return invalid("direct, not one peer", "CONV-2");
      const peer = o.userIds[0]!;
      if (badId(peer) || peer === ctx.userId) return invalid("direct, bad peer", "CONV-2, LIM-2");
      if (!ctx.mayExist(peer)) return outcome({ label: "direct, unknown peer", spec: "CONV-2, AUTH-7", rid, codes: codesOf(ErrorCode.NOT_FOUND) });
      const sure = ctx.existingUsers.has(peer);
      return outcome({ label: "direct", spec: "CONV-2", rid, positive: "conversationOpened", codes: sure ? codesOf() : codesOf(ErrorCode.NOT_FOUND), onPositive: record(ConversationKind.DIRECT, "member") });
    }
    case ConversationKind.GROUP:
    case ConversationKind.CHANNEL: {
      const ccid = o.clientConversationId;
      if (badId(ccid)) return invalid("create, bad client_conversation_id", "CONV-3, LIM-2");
      const earlier = ctx.conversationKeys.get(ccid);
      if (earlier !== undefined) {
        if (earlier !== o.kind) return invalid("create, key of another kind", "IDEM-7");
        return outcome({ label: "create retry", spec: "IDEM-6", rid, positive: "conversationOpened", onPositive: (a) => ((a.body.value as { created: boolean }).created ? "IDEM-6: a retry created another conversation" : undefined) });
      }
      const role = "owner";
      const remember = (answer: Frame) => {
        ctx.conversationKeys.set(ccid, o.kind);
        const opened = (answer.body as Extract<Frame["body"], { case: "conversationOpened" }>).value;
        if (!opened.created) return "CONV-4: created is false in the answer to the creation";
        return record(o.kind, role)(answer);
      };
      if (o.kind === ConversationKind.CHANNEL) {
        if (o.userIds.length > 0) return invalid("channel with members", "CONV-3");
        return outcome({ label: "create channel", spec: "CONV-3", rid, positive: "conversationOpened", onPositive: remember });
      }
      return membersOutcome("create group", o.userIds.filter((u) => u !== ctx.userId), ctx, rid, remember);
    }
    default:
      return invalid("open, no kind", "CONV-1");
  }
}

/** Users named to join a group: their ids' length, their existence, the group limit, in any order among themselves (ERR-5). */
function membersOutcome(label: string, userIds: readonly string[], ctx: ModelContext, rid: number, onPositive: (answer: Frame) => string | undefined): Outcome {
  const codes = new Set<ErrorCode>();
  let certain = true;
  const unique = new Set(userIds);
  if ([...unique].some(badId)) codes.add(ErrorCode.INVALID_ARGUMENT);
  if (unique.size + 1 > 480) codes.add(ErrorCode.INVALID_ARGUMENT); // LIM-4, conservatively the smallest limit
  else if (unique.size + 1 > 100) certain = false;
  for (const u of unique) {
    if (badId(u)) continue;
    if (!ctx.mayExist(u)) codes.add(ErrorCode.NOT_FOUND);
    else if (!ctx.existingUsers.has(u)) certain = false;
  }
  if (codes.size > 0) return outcome({ label: `${label}, bad members`, spec: "LIM-2, LIM-4, AUTH-7", rid, codes });
  return outcome({ label, spec: "CONV-3, CONV-4", rid, positive: "conversationOpened", codes: certain ? codesOf() : codesOf(ErrorCode.NOT_FOUND, ErrorCode.INVALID_ARGUMENT), onPositive });
}
