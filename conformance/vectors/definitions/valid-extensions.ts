import { Feature } from "../../../src/gen/imwire/v1/connection_pb.js";
import { ConversationKind } from "../../../src/gen/imwire/v1/conversation_pb.js";
import { MembershipAction } from "../../../src/gen/imwire/v1/message_pb.js";
import { DeviceState, ReceiveMode } from "../../../src/gen/imwire/v1/settings_pb.js";
import type { ValidBytesDefinition, ValidFrameDefinition } from "./types.js";
import { bytes, dfield, fixed32field, fixed64field, group, sfield, utf8, vfield } from "./wire.js";

/**
 * What a later version may send (EXT-1): unknown fields, which receivers
 * ignore and forwarders keep byte for byte (ENV-6); enum numbers this version
 * does not define, which are kept (open enums); and oneof members added later,
 * which leave the oneof unset without making the frame invalid (EXT-3, ENV-5).
 *
 * Unknown fields sit after the known ones, where a canonical encoder writes
 * them, so decoding and re-encoding gives back these exact bytes.
 */

const textContent = (text: string) => dfield(1, sfield(1, text));

export const unknownFieldVectors: ValidBytesDefinition[] = [
  {
    id: "valid/unknown-fields/frame-level",
    description: "A field 1000 (varint) beside request_id and the body: ignored, and kept on re-encode.",
    requirements: ["ENV-6"],
    payload: bytes(vfield(1, 5), dfield(6, vfield(1, 1)), vfield(1000, 5)),
    json: { requestId: 5, ping: { nonce: "1" } },
  },
  {
    id: "valid/unknown-fields/in-send-message",
    description: "A field 1000 inside send_message, after its known fields.",
    requirements: ["ENV-6", "MSG-7"],
    payload: bytes(vfield(1, 9), dfield(2, sfield(1, "c1"), sfield(2, "m1"), dfield(3, textContent("hi")), vfield(1000, 5))),
    json: { requestId: 9, sendMessage: { conversationId: "c1", clientMessageId: "m1", content: { text: { text: "hi" } } } },
  },
  {
    id: "valid/unknown-fields/deep-in-media",
    description: "Unknown fields five levels down, in MediaRef (field 9) and in its Thumbnail (field 15).",
    requirements: ["ENV-6", "MSG-7"],
    payload: bytes(
      vfield(1, 10),
      dfield(2, sfield(1, "c1"), sfield(2, "m2"), dfield(3, dfield(2, dfield(1, sfield(1, "https://m.example/i"), dfield(8, dfield(2, [1, 2, 3]), sfield(15, "blurhash:LKO2?U")), vfield(9, 3))))),
    ),
    json: { requestId: 10, sendMessage: { conversationId: "c1", clientMessageId: "m2", content: { image: { media: { uri: "https://m.example/i", thumbnail: { data: "AQID" } } } } } },
  },
  {
    id: "valid/unknown-fields/every-wire-type",
    description: "Unknown fields of every wire type in one message: varint, 64-bit, length-delimited, group, 32-bit.",
    requirements: ["ENV-6"],
    payload: bytes(dfield(6, vfield(1, 7), vfield(100, 1), fixed64field(101, 2n), sfield(102, "x"), group(103, vfield(1, 1), sfield(2, "y")), fixed32field(104, 3))),
    json: { ping: { nonce: "7" } },
  },
  {
    id: "valid/unknown-fields/opaque-bytes-not-utf8",
    description: "An unknown length-delimited field holding bytes that are not UTF-8: unknown fields are opaque, so this is no ENV-3 error.",
    requirements: ["ENV-6", "ENV-3"],
    payload: bytes(dfield(6, vfield(1, 7), dfield(100, [0xff, 0xfe, 0xc0, 0x80]))),
    json: { ping: { nonce: "7" } },
  },
  {
    id: "valid/unknown-fields/highest-field-number",
    description: "An unknown field with the highest field number, 536870911 (a 5-byte tag).",
    requirements: ["ENV-6"],
    payload: bytes(dfield(6), dfield(536_870_911, utf8("z"))),
    json: { ping: {} },
  },
  {
    id: "valid/unknown-fields/order-kept",
    description: "Three unknown fields not in number order (1002, 1000, 1001): kept in the order received.",
    requirements: ["ENV-6"],
    payload: bytes(dfield(7, vfield(1, 1), vfield(1002, 1), vfield(1000, 2), vfield(1001, 3))),
    json: { pong: { nonce: "1" } },
  },
  {
    id: "valid/unknown-fields/repeated-field-number",
    description: "The same unknown field number three times: every occurrence is kept.",
    requirements: ["ENV-6"],
    payload: bytes(dfield(7, vfield(1, 1), vfield(1000, 1), vfield(1000, 2), sfield(1000, "three"))),
    json: { pong: { nonce: "1" } },
  },
  {
    id: "valid/unknown-fields/in-repeated-element",
    description: "An unknown field inside the second element of a repeated message field.",
    requirements: ["ENV-6", "MSG-7"],
    payload: bytes(vfield(1, 11), dfield(2, sfield(1, "c1"), sfield(2, "m3"), dfield(3, textContent("@a @b")), dfield(5, sfield(1, "u-a"), vfield(3, 2)), dfield(5, sfield(1, "u-b"), vfield(2, 3), vfield(3, 2), sfield(7, "role")))),
    json: { requestId: 11, sendMessage: { conversationId: "c1", clientMessageId: "m3", content: { text: { text: "@a @b" } }, mentions: [{ userId: "u-a", length: 2 }, { userId: "u-b", offset: 3, length: 2 }] } },
  },
  {
    id: "valid/unknown-fields/in-user-event-and-event",
    description: "Unknown fields in a pushed UserEvent and in its ConversationEvent.",
    requirements: ["ENV-6", "DLV-1"],
    payload: bytes(dfield(4, vfield(1, 30), vfield(2, 29), dfield(3, sfield(1, "c1"), vfield(2, 5), dfield(6, sfield(1, "msg-5"), dfield(3, textContent("x"))), vfield(12, 1)), sfield(20, "trace-7f"))),
    json: { deliver: { cursor: "30", prevCursor: "29", event: { conversationId: "c1", seq: "5", message: { messageId: "msg-5", content: { text: { text: "x" } } } } } },
  },
  {
    id: "valid/unknown-fields/later-frame-type-beside-known-body",
    description: "A frame holding a known body (ping) and a body field from a later version (99): it is a ping, and field 99 is an unknown field (ENV-4 applies only when no known body is present).",
    requirements: ["ENV-4", "ENV-6"],
    payload: bytes(vfield(1, 5), dfield(6, vfield(1, 1)), dfield(99, vfield(1, 1))),
    json: { requestId: 5, ping: { nonce: "1" } },
  },
  {
    id: "valid/unknown-fields/nesting-depth-100",
    description: "99 nested unknown groups inside the Frame: a nesting depth of exactly 100 (the Frame counts as 1), the deepest ENV-3 allows.",
    requirements: ["ENV-3", "ENV-6"],
    payload: bytes(dfield(6), nestedGroups(99)),
    json: { ping: {} },
  },
];

export const laterVersionVectors: ValidBytesDefinition[] = [
  {
    id: "valid/later-version/content-kind",
    description: "A send whose content kind is a later version's (field 99): the kind oneof is unset here, the frame is valid, and field 99 is kept.",
    requirements: ["EXT-3", "ENV-5", "ENV-6"],
    payload: bytes(vfield(1, 12), dfield(2, sfield(1, "c"), sfield(2, "m"), dfield(3, sfield(99, "x")))),
    json: { requestId: 12, sendMessage: { conversationId: "c", clientMessageId: "m", content: {} } },
  },
  {
    id: "valid/later-version/delivered-content-kind",
    description: "A delivered message whose content kind is a later version's (field 8, a poll perhaps).",
    requirements: ["EXT-3", "ENV-5", "MSG-7"],
    payload: bytes(dfield(4, vfield(1, 31), vfield(2, 30), dfield(3, sfield(1, "c1"), vfield(2, 6), dfield(6, sfield(1, "msg-6"), dfield(3, dfield(8, sfield(1, "Lunch?"), sfield(2, "yes"), sfield(2, "no"))))))),
    json: { deliver: { cursor: "31", prevCursor: "30", event: { conversationId: "c1", seq: "6", message: { messageId: "msg-6", content: {} } } } },
  },
  {
    id: "valid/later-version/conversation-event-body",
    description: "A conversation event of a later kind (body field 8): it still occupies its seq; its body oneof is unset here.",
    requirements: ["EXT-3", "ENV-5", "SEQ-1"],
    payload: bytes(dfield(4, vfield(1, 32), vfield(2, 31), dfield(3, sfield(1, "c1"), vfield(2, 7), dfield(8, sfield(1, "pinned"))))),
    json: { deliver: { cursor: "32", prevCursor: "31", event: { conversationId: "c1", seq: "7" } } },
  },
  {
    id: "valid/later-version/user-event-body",
    description: "A stream entry of a later kind (body field 10): it still occupies its cursor; its body oneof is unset here.",
    requirements: ["EXT-3", "ENV-5", "CUR-3"],
    payload: bytes(dfield(4, vfield(1, 33), vfield(2, 32), dfield(10, sfield(1, "c1"), vfield(2, 1)))),
    json: { deliver: { cursor: "33", prevCursor: "32" } },
  },
];

export const unknownEnumVectors: ValidFrameDefinition[] = [
  {
    id: "valid/unknown-enum/receive-mode",
    description: "A receive mode this version does not define (42): kept as a number, in JSON too.",
    requirements: ["ENV-6", "EXT-3"],
    frame: { requestId: 71, body: { case: "receiveSettings", value: { conversationId: "c1", mode: 42 as ReceiveMode } } },
  },
  {
    id: "valid/unknown-enum/negative",
    description: "A negative enum number (-5) in a required enum field: non-zero, so present; a 10-byte varint on the wire.",
    requirements: ["ENV-6", "ENV-5"],
    frame: { requestId: 61, body: { case: "conversationOpened", value: { conversation: { conversationId: "c", kind: -5 as ConversationKind } } } },
  },
  {
    id: "valid/unknown-enum/int32-max",
    description: "The largest enum number, 2147483647.",
    requirements: ["ENV-6"],
    frame: { body: { case: "receiveSettings", value: { mode: 2_147_483_647 as ReceiveMode } } },
  },
  {
    id: "valid/unknown-enum/membership-action",
    description: "A membership change of an action this version does not define (99).",
    requirements: ["ENV-6", "EXT-3"],
    frame: { body: { case: "deliver", value: { cursor: 34n, prevCursor: 33n, body: { case: "event", value: { conversationId: "c1", seq: 8n, body: { case: "membership", value: { action: 99 as MembershipAction, userIds: ["u-a"] } } } } } } },
  },
  {
    id: "valid/unknown-enum/feature",
    description: "hello offering a feature this version does not define (9) beside member pages: kept as a number, and a server ignores it (EXT-5, ENV-6).",
    requirements: ["ENV-6", "EXT-5"],
    frame: { requestId: 1, body: { case: "hello", value: { versions: [1], deviceId: "d1", features: [Feature.MEMBER_PAGES, 9 as Feature] } } },
  },
  {
    id: "valid/unknown-enum/device-state",
    description: "A device state this version does not define (7), in a required field: present.",
    requirements: ["ENV-6", "ENV-5"],
    frame: { requestId: 80, body: { case: "deviceStateSet", value: { state: 7 as DeviceState } } },
  },
];

/** `count` groups of field 99, each inside the one before. */
export function nestedGroups(count: number): Uint8Array {
  let inner: Uint8Array = new Uint8Array(0);
  for (let i = 0; i < count; i++) inner = group(99, inner);
  return inner;
}
