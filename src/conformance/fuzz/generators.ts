import { create } from "@bufbuild/protobuf";
import { ConversationKind } from "../../gen/imwire/v1/conversation_pb.js";
import { ErrorCode } from "../../gen/imwire/v1/error_pb.js";
import { FrameSchema } from "../../gen/imwire/v1/frame_pb.js";
import { DeviceState, ReceiveMode } from "../../gen/imwire/v1/settings_pb.js";
import { encodeFrame } from "../../codec/frame-codec.js";
import type { Random } from "../../sim/random.js";
import type { FrameBody } from "../suite/scripted-connection.js";
import type { ModelContext } from "./model.js";
import { MUTATIONS, mutate, randomBytes, type Mutation } from "./mutators.js";
import { concat, lengthDelimited, tag, varint } from "./wire.js";

/** What a hostile connection does next. */
export type Action =
  /** One frame payload (length-prefixed on TCP, one message on WebSocket). */
  | { readonly kind: "frame"; readonly cls: string; readonly payload: Uint8Array }
  /** Bytes written as they are onto a byte stream (TCP only). */
  | { readonly kind: "raw"; readonly cls: string; readonly bytes: Uint8Array }
  /** A text WebSocket message (WebSocket only). */
  | { readonly kind: "text"; readonly cls: string }
  /** Several frames in one write, so that they are read together (FLOW-1). */
  | { readonly kind: "burst"; readonly cls: string; readonly payloads: readonly Uint8Array[] }
  /** Send nothing more and wait for the server's TIMEOUT (HB-3, CONN-6). */
  | { readonly kind: "silence"; readonly cls: string };

/** What generators need besides the model's context. */
export interface GeneratorContext {
  readonly random: Random;
  readonly model: ModelContext;
  readonly webSocket: boolean;
  /** The token of the connection's slot, and tokens that must fail. */
  readonly token: string;
  readonly badTokens: () => string;
  /** Another hostile user (for one-to-one and group members). */
  readonly otherUser: () => string;
  /** A request id not in use on the connection. */
  readonly nextRequestId: () => number;
  /** A string unique in the run: idempotency keys are per device, and devices outlive connections (IDEM-2, IDEM-6). */
  readonly unique: () => string;
}

export function encode(body: FrameBody | undefined, requestId: number): Uint8Array {
  return encodeFrame(create(FrameSchema, body ? { requestId, body } : { requestId }), { validate: false });
}

const pick = <T>(random: Random, items: readonly T[]): T => items[random.int(items.length)]!;

/** Identifiers of every awkward length (LIM-2): empty, 128 bytes, 129 bytes, 129 bytes of 3-byte characters, and ordinary ones. */
export function absurdId(random: Random): string {
  switch (random.int(8)) {
    case 0:
      return "";
    case 1:
      return "x".repeat(128);
    case 2:
      return "y".repeat(129);
    case 3:
      return "€".repeat(43); // 129 bytes in 43 characters
    case 4:
      return "€".repeat(42) + "ab"; // exactly 128 bytes
    case 5:
      return "z".repeat(10_000);
    case 6:
      return `nx-${random.hex(6)}`;
    default:
      return random.hex(8);
  }
}

/**
 * An idempotency key: now and then of an awkward length, but when valid
 * always unique, 128 bytes included (a fixed valid key would be remembered
 * across the device's connections, IDEM-2, and the model knows one connection).
 */
function absurdKey(g: GeneratorContext, prefix: string): string {
  const key = `${prefix}-${g.unique()}`;
  switch (g.random.int(10)) {
    case 0:
      return "";
    case 1:
      return key.padEnd(129, "y");
    case 2:
      return key.padEnd(128, "x");
    case 3:
      return key + "€".repeat(Math.floor((128 - key.length) / 3)); // 126 to 128 bytes
    default:
      return "z".repeat(10_000);
  }
}

export function absurdNumber(random: Random): bigint {
  return pick(random, [0n, 1n, 2n, 3n, 2n ** 32n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n - 1n, 2n ** 64n - 1n, BigInt(random.int(1_000))]);
}

function conversationTarget(g: GeneratorContext): string {
  const own = [...g.model.conversations.keys()];
  const honest = [...g.model.honest];
  const r = g.random.int(10);
  if (r < 5 && own.length > 0) return pick(g.random, own);
  if (r < 7 && honest.length > 0) return pick(g.random, honest);
  if (r < 8) return absurdId(g.random);
  return g.random.hex(8);
}

function content(g: GeneratorContext): object {
  const { random } = g;
  switch (random.int(9)) {
    case 0:
      return {}; // MSG-2: no kind (ENV-5)
    case 1:
      return { kind: { case: "text", value: { text: "" } } }; // Text.text required
    case 2:
      return { kind: { case: "image", value: { media: { uri: "https://x/y", sha256: randomBytes(random, pick(random, [31, 32, 33, 0])) } } } };
    case 3:
      return { kind: { case: "encrypted", value: { scheme: "x", ciphertext: randomBytes(random, pick(random, [1, 100, g.model.limit - 4_000, g.model.limit - 200])) } } };
    case 4:
      return { kind: { case: "sticker", value: { stickerId: random.chance(0.5) ? "" : "s1" } } };
    default:
      return { kind: { case: "text", value: { text: random.chance(0.1) ? "€".repeat(random.int(3_000)) : `hi ${random.hex(2)}` } } };
  }
}

/** A request for a READY connection, with arguments good or bad. */
export function readyBody(g: GeneratorContext): FrameBody {
  const { random, model } = g;
  const retryKeys = [...model.messageKeys.entries()].filter(([, v]) => v.ack !== undefined);
  switch (random.int(14)) {
    case 0:
    case 1:
    case 2: {
      const retry = retryKeys.length > 0 && random.chance(0.2) ? pick(random, retryKeys) : undefined;
      const mentions = random.chance(0.1)
        ? Array.from({ length: pick(random, [1, 1_001, 2_000]) }, (_, i) => ({ userId: random.chance(0.001) ? absurdId(random) : `u${i}`, offset: random.int(5), length: random.int(5) }))
        : [];
      return {
        case: "sendMessage",
        value: {
          conversationId: retry && random.chance(0.7) ? retry[1].conversationId : conversationTarget(g),
          clientMessageId: retry ? retry[0] : random.chance(0.1) ? absurdKey(g, "k") : `k-${g.unique()}`,
          content: content(g),
          replyToSeq: random.chance(0.2) ? absurdNumber(random) : 0n,
          mentions,
        },
      } as FrameBody;
    }
    case 3:
      return { case: "syncConversation", value: { conversationId: conversationTarget(g), afterSeq: absurdNumber(random), untilSeq: random.chance(0.5) ? 0n : absurdNumber(random), limit: pick(random, [0, 1, 5, 1_000, 1_001, 2 ** 32 - 1]) } };
    case 4:
      return {
        case: "syncUser",
        value: {
          epoch: random.chance(0.5) ? "" : absurdId(random),
          afterCursor: absurdNumber(random),
          limit: pick(random, [0, 1, 200, 1_001, 2 ** 32 - 1]),
          snapshotAfter: random.chance(0.7) ? "" : absurdId(random),
        },
      };
    case 5:
      return { case: "markRead", value: { conversationId: conversationTarget(g), seq: absurdNumber(random) } };
    case 6:
    case 7:
      return { case: "openConversation", value: openArgs(g) };
    case 8:
      return { case: "leaveConversation", value: { conversationId: conversationTarget(g) } };
    case 9:
      return {
        case: "setReceiveSettings",
        value: random.chance(0.1) ? {} : { settings: { conversationId: random.chance(0.3) ? "" : conversationTarget(g), mode: pick(random, [ReceiveMode.UNSPECIFIED, ReceiveMode.FULL, ReceiveMode.NOTIFY_ONLY, ReceiveMode.MUTED, 7, 99]) } },
      } as FrameBody;
    case 10:
      return { case: "setDeviceState", value: { state: pick<DeviceState>(random, [DeviceState.UNSPECIFIED, DeviceState.FOREGROUND, DeviceState.BACKGROUND, 5 as DeviceState]), pushService: random.chance(0.5) ? "apns" : "", pushToken: random.hex(4) } };
    case 11:
      return deliveryAck(g);
    case 12:
      return { case: "listMembers", value: { conversationId: conversationTarget(g), afterUserId: random.chance(0.7) ? "" : absurdId(random), limit: pick(random, [0, 1, 2, 1_000, 1_001, 2 ** 32 - 1]) } };
    default:
      return notice(g);
  }
}

function openArgs(g: GeneratorContext): object {
  const { random, model } = g;
  const users = () => Array.from({ length: pick(random, [0, 1, 2, 3, 500, 1_001]) }, () => (random.chance(0.9) ? g.otherUser() : absurdId(random)));
  switch (random.int(7)) {
    case 0:
      return { kind: ConversationKind.DIRECT, userIds: random.chance(0.8) ? [random.chance(0.9) ? g.otherUser() : absurdId(random)] : random.chance(0.5) ? [model.userId] : users() };
    case 1:
    case 2:
      return { kind: ConversationKind.GROUP, userIds: random.chance(0.8) ? [g.otherUser()] : users(), title: random.chance(0.1) ? "t".repeat(1_025) : "g", clientConversationId: random.chance(0.1) ? absurdKey(g, "c") : `c-${g.unique()}` };
    case 3:
      return { kind: ConversationKind.CHANNEL, userIds: random.chance(0.2) ? [g.otherUser()] : [], title: "ch", clientConversationId: `c-${g.unique()}` };
    case 4: {
      const keys = [...model.conversationKeys.keys()];
      return { kind: pick(random, [ConversationKind.GROUP, ConversationKind.CHANNEL]), clientConversationId: keys.length > 0 ? pick(random, keys) : `c-${g.unique()}`, title: "again" };
    }
    default:
      return { conversationId: conversationTarget(g), kind: pick(random, [0, 0, 1, 2, 3, 9]), userIds: random.chance(0.5) ? [] : users() };
  }
}

function deliveryAck(g: GeneratorContext): FrameBody {
  const { random, model } = g;
  const cursor = random.chance(0.6) ? BigInt(random.int(Number(model.highestReceived) + 1)) : absurdNumber(random);
  const conversations = random.chance(0.3) ? [{ conversationId: conversationTarget(g), seq: random.chance(0.5) ? 1n : absurdNumber(random) }] : [];
  return { case: "deliveryAck", value: { cursor, conversations } };
}

function notice(g: GeneratorContext): FrameBody {
  const { random } = g;
  switch (random.int(4)) {
    case 0:
      return { case: "ping", value: { nonce: absurdNumber(random) } };
    case 1:
      return { case: "pong", value: { nonce: absurdNumber(random) } };
    case 2:
      return { case: "error", value: { code: pick<ErrorCode>(random, [ErrorCode.INTERNAL, ErrorCode.UNSPECIFIED, 999 as ErrorCode, ErrorCode.TIMEOUT]), message: "client error", closing: random.chance(0.2) } };
    default:
      return deliveryAck(g);
  }
}

/** A frame only servers send (ENV-7). */
function serverBody(g: GeneratorContext): FrameBody {
  const { random } = g;
  return pick<FrameBody>(random, [
    { case: "welcome", value: { version: 1, maxFrameSize: 65_536, heartbeatIntervalMs: 1_000, maxInFlight: 1, receiveWindow: 1, dedupWindowS: 86_400 } },
    { case: "sendAck", value: { conversationId: "c", clientMessageId: "k", seq: 1n, messageId: "m" } },
    { case: "deliver", value: { cursor: 1n, body: { case: "notify", value: { conversationId: "c", seq: 1n } } } },
    { case: "goAway", value: { reason: "bye" } },
    { case: "authenticated", value: { userId: "u", deviceId: "d", epoch: "e" } },
    { case: "readMarker", value: { conversationId: "c" } },
    { case: "deviceStateSet", value: {} },
  ]);
}

export function helloBody(g: GeneratorContext, good: boolean): FrameBody {
  const { random } = g;
  if (good) return { case: "hello", value: { versions: [1], deviceId: g.model.deviceId, receiveWindow: random.int(4) === 0 ? 0 : 1 + random.int(64), userAgent: "imwire-fuzz" } };
  return {
    case: "hello",
    value: {
      versions: pick(random, [[], [2], [1, 2], [0], [4_294_967_295], [1]]),
      deviceId: random.chance(0.5) ? g.model.deviceId : absurdId(random),
      receiveWindow: pick(random, [0, 1, 65_535, 4_294_967_295]),
    },
  };
}

export function authenticateBody(g: GeneratorContext, good: boolean): FrameBody {
  const { random } = g;
  if (good) return { case: "authenticate", value: { token: g.token } };
  return {
    case: "authenticate",
    value: {
      token: random.chance(0.7) ? g.badTokens() : "",
      resume: random.chance(0.3) ? { epoch: absurdId(random), cursor: absurdNumber(random) } : undefined,
    },
  };
}

/** Any client body, for frames out of state. */
function anyClientBody(g: GeneratorContext): FrameBody {
  const { random } = g;
  switch (random.int(5)) {
    case 0:
      return helloBody(g, random.chance(0.5));
    case 1:
      return authenticateBody(g, random.chance(0.5));
    case 2:
      return notice(g);
    case 3:
      return serverBody(g);
    default:
      return readyBody(g);
  }
}

/** A valid frame for the state the connection is in: what mutations start from. */
export function validForState(g: GeneratorContext): Uint8Array {
  const { model, random } = g;
  const body = model.state === "await-hello" ? helloBody(g, true) : model.state === "await-auth" ? authenticateBody(g, true) : readyBody(g);
  return encode(body, random.chance(0.02) ? 0 : g.nextRequestId());
}

/** A body the server does not know: a field number no version of Frame uses yet (ENV-4). */
function unknownBodyPayload(g: GeneratorContext): Uint8Array {
  const rid = g.random.chance(0.2) ? 0 : g.nextRequestId();
  const field = pick(g.random, [15, 31, 32, 99, 1_000, 536_870_911]);
  const body = lengthDelimited(field, g.random.chance(0.5) ? new Uint8Array(0) : randomBytes(g.random, 8).map((b) => b & 0x7f));
  return rid === 0 ? body : concat(tag(1, 0), varint(rid), body);
}

/** Hostile length prefixes (FRM-2, FRM-4, FRM-6) on a byte stream. */
function hostilePrefix(g: GeneratorContext): Action {
  const { random, model } = g;
  switch (random.int(6)) {
    case 0:
      return { kind: "raw", cls: "prefix:overlong", bytes: Uint8Array.of(0x80 | random.int(128), 0x80, 0x80, 0x80, ...randomBytes(random, random.int(3))) };
    case 1:
      return { kind: "raw", cls: "prefix:non-minimal", bytes: pick(random, [Uint8Array.of(0x85, 0x00), Uint8Array.of(0x80, 0x80, 0x00), Uint8Array.of(0x80, 0x00, 0x05)]) };
    case 2:
      return { kind: "raw", cls: "prefix:over-limit", bytes: varint(model.limit + 1 + random.int(random.chance(0.5) ? 10 : 2 ** 27 - model.limit - 2)) };
    case 3:
      return { kind: "raw", cls: "prefix:over-handshake-limit", bytes: varint(65_537 + random.int(60_000)) };
    case 4:
      return { kind: "raw", cls: "prefix:never-completed", bytes: concat(varint(10 + random.int(model.limit - 10)), randomBytes(random, random.int(9))) };
    default:
      return { kind: "raw", cls: "prefix:partial", bytes: Uint8Array.of(0x80 | random.int(128), ...(random.chance(0.5) ? [0x81] : [])) };
  }
}

/** The next action of a hostile connection. */
export function nextAction(g: GeneratorContext): Action {
  const { random, webSocket, model } = g;
  const r = random.int(1_000);
  if (r < 200) {
    const kind: Mutation = pick(random, MUTATIONS);
    const payload = mutate(random, kind, validForState(g), encode(anyClientBody(g), g.nextRequestId()));
    return { kind: "frame", cls: `mutated:${kind}`, payload };
  }
  if (r < 260) {
    if (webSocket) {
      if (random.chance(0.3)) return { kind: "text", cls: "ws:text" };
      const size = random.chance(0.5) ? model.limit + 1 + random.int(1_000) : 65_537 + random.int(2_000);
      return { kind: "frame", cls: "ws:oversize", payload: randomBytes(random, size) };
    }
    return random.chance(0.15) ? { kind: "raw", cls: "random-stream", bytes: randomBytes(random, 1 + random.int(40)) } : hostilePrefix(g);
  }
  if (r < 320) return { kind: "frame", cls: "out-of-state", payload: encode(anyClientBody(g), random.chance(0.1) ? 0 : g.nextRequestId()) };
  if (r < 360) return { kind: "frame", cls: "unknown-body", payload: random.chance(0.3) ? new Uint8Array(0) : unknownBodyPayload(g) };
  if (r < 370) return { kind: "frame", cls: "server-only", payload: encode(serverBody(g), g.nextRequestId()) };
  if (r < 375 && model.state === "ready") {
    const n = random.chance(0.5) ? 1 + random.int(model.maxInFlight) : model.maxInFlight + 1 + random.int(5);
    const payloads = Array.from({ length: n }, () => encode({ case: "setDeviceState", value: { state: DeviceState.FOREGROUND } }, g.nextRequestId()));
    return { kind: "burst", cls: "burst", payloads };
  }
  if (r < 380) return { kind: "silence", cls: "silence" };
  if (model.state === "await-hello") return { kind: "frame", cls: random.chance(0.7) ? "hello" : "hello:bad", payload: encode(helloBody(g, random.chance(0.7)), g.nextRequestId()) };
  if (model.state === "await-auth") {
    const good = random.chance(0.7);
    return { kind: "frame", cls: good ? "authenticate" : "authenticate:bad", payload: encode(authenticateBody(g, good), g.nextRequestId()) };
  }
  return { kind: "frame", cls: "ready:request", payload: encode(readyBody(g), random.chance(0.01) ? 0 : g.nextRequestId()) };
}
