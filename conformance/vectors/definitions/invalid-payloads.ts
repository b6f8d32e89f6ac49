import type { InvalidPayloadDefinition } from "./types.js";
import { nestedGroups } from "./valid-extensions.js";
import { bytes, dfield, group, hex, sfield, tag, vfield, WireType } from "./wire.js";
import { U32_MAX } from "./sample-values.js";

/** Payloads that are not a valid Protobuf Frame (ENV-3), hold invalid UTF-8 (ENV-3), or carry no body this version knows (ENV-4). */

const malformed = (id: string, description: string, payload: Uint8Array): InvalidPayloadDefinition => ({
  id: `invalid/protobuf/${id}`,
  description,
  input: "payload",
  payload,
  expectedError: "ERROR_CODE_MALFORMED_FRAME",
  requirement: "ENV-3",
});

const badUtf8 = (id: string, description: string, payload: Uint8Array): InvalidPayloadDefinition => ({
  ...malformed(id, description, payload),
  id: `invalid/utf8/${id}`,
});

const unknownFrame = (id: string, description: string, payload: Uint8Array, requestId: number): InvalidPayloadDefinition => ({
  id: `invalid/unknown-frame/${id}`,
  description,
  input: "payload",
  payload,
  expectedError: "ERROR_CODE_UNKNOWN_FRAME",
  requirement: "ENV-4",
  expectedRequestId: requestId,
});

const PING = dfield(6, vfield(1, 7));
/** send_message { conversation_id: <id>, client_message_id: "m", content { text { text: <text> } } } */
const sendWith = (conversationId: Uint8Array | number[], text: Uint8Array | number[] = [0x78]) =>
  bytes(vfield(1, 21), dfield(2, dfield(1, conversationId), sfield(2, "m"), dfield(3, dfield(1, dfield(1, text)))));

export const malformedVectors: InvalidPayloadDefinition[] = [
  malformed("wire-type-6", "A tag with wire type 6, which does not exist.", bytes(PING, hex("0e00"))),
  malformed("wire-type-7", "A tag with wire type 7, which does not exist.", bytes(PING, hex("0f"))),
  malformed("field-number-zero", "A field with number 0.", hex("0001")),
  malformed("field-number-over-max", "A field number of 2^29, one above the largest (a tag that overflows 32 bits).", bytes(tag(2 ** 29, WireType.varint), [1], PING)),
  malformed("truncated-varint", "request_id whose varint ends with a continuation bit at the end of the payload.", hex("08ff")),
  malformed("varint-over-ten-bytes", "An 11-byte varint.", bytes(hex("08ffffffffffffffffffff01"), PING)),
  malformed("truncated-tag", "A ping, then a tag cut after its first byte.", bytes(PING, hex("82"))),
  malformed("length-past-end", "send_message declaring 10 bytes with 4 present.", hex("120a0a026331")),
  malformed("length-far-past-end", "send_message declaring 4294967295 bytes.", hex("12ffffffff0f")),
  malformed("varint-past-enclosing-message", "ping declaring 2 bytes whose nonce varint continues into a third byte outside it (32 02 08 87 01).", hex("3202088701")),
  malformed("string-past-enclosing-message", "send_message declaring 4 bytes whose conversation_id declares 4 more, running past send_message's end (though not past the payload's).", bytes(vfield(1, 9), dfield(2, [0x0a, 0x04, 0x63, 0x31]), [0x12, 0x00])),
  malformed("truncated-fixed32", "A ping, then an unknown 32-bit field with 2 of its 4 bytes.", bytes(PING, tag(100, WireType.fixed32), [1, 2])),
  malformed("truncated-fixed64", "A ping, then an unknown 64-bit field with 5 of its 8 bytes.", bytes(PING, tag(100, WireType.fixed64), [1, 2, 3, 4, 5])),
  malformed("end-group-without-start", "A ping, then an end-group tag with no group open.", bytes(PING, tag(99, WireType.endGroup))),
  malformed("group-without-end", "A ping, then a group that is never closed.", bytes(PING, tag(99, WireType.startGroup), vfield(1, 1))),
  malformed("mismatched-end-group", "A ping, then a group opened as field 99 and closed as field 100.", bytes(PING, tag(99, WireType.startGroup), vfield(1, 1), tag(100, WireType.endGroup))),
  malformed("packed-run-cut", "hello.versions as a packed run whose last varint is cut by the end of the run.", bytes(vfield(1, 1), dfield(16, dfield(1, [0x01, 0x80]), sfield(2, "d1")))),
  malformed("nesting-depth-101", "100 nested groups inside the Frame: nesting depth 101 (the Frame counts as 1).", bytes(PING, nestedGroups(100))),
];

export const utf8Vectors: InvalidPayloadDefinition[] = [
  badUtf8("lone-continuation-byte", "send_message.conversation_id holding a continuation byte with no lead byte (80).", sendWith([0x80])),
  badUtf8("overlong-encoding", "Text holding '/' in an overlong 2-byte form (c0 af).", sendWith([0x63], [0x61, 0xc0, 0xaf])),
  badUtf8("overlong-nul", "Thumbnail.mime_type holding NUL in the 2-byte form Java's modified UTF-8 writes (c0 80).", bytes(vfield(1, 22), dfield(2, sfield(1, "c"), sfield(2, "m"), dfield(3, dfield(2, dfield(1, sfield(1, "u"), dfield(8, dfield(1, [0x61, 0xc0, 0x80]), dfield(2, [1])))))))),
  badUtf8("utf16-surrogate", "Delivered text holding an encoded UTF-16 surrogate, U+D800 (ed a0 80).", bytes(dfield(4, vfield(1, 40), dfield(3, sfield(1, "c1"), vfield(2, 9), dfield(6, sfield(1, "msg-9"), dfield(3, dfield(1, dfield(1, [0x68, 0xed, 0xa0, 0x80])))))))),
  badUtf8("truncated-sequence", "hello.device_id ending inside a 3-byte sequence (e2 82, a cut euro sign).", bytes(vfield(1, 1), dfield(16, dfield(1, [1]), dfield(2, [0x64, 0xe2, 0x82])))),
  badUtf8("above-unicode-range", "error.message holding a code point above U+10FFFF (f4 90 80 80).", bytes(dfield(8, vfield(1, 300), dfield(2, [0xf4, 0x90, 0x80, 0x80])))),
  badUtf8("in-repeated-string", "The second element of open_conversation.user_ids is the byte ff.", bytes(vfield(1, 60), dfield(21, vfield(1, 2), sfield(3, "u-1"), dfield(3, [0xff])))),
];

export const unknownFrameVectors: InvalidPayloadDefinition[] = [
  unknownFrame("later-frame-type", "A body in field 99, a frame type from a later version, with request id 42.", bytes(vfield(1, 42), dfield(99, vfield(1, 1))), 42),
  unknownFrame("unused-field-15", "A body in field 15, the unused number between read_marker (14) and hello (16).", bytes(vfield(1, 7), dfield(15)), 7),
  // Was next-field-number (field 29) until 29 and 30 became list_members and member_page, then next-field-number-31
  // until act_on_message took 31, then next-field-number-32 until set_typing took 32 (and 33 to 36 went to the
  // other ephemeral frames, version 1.1): an id never changes meaning.
  unknownFrame("next-field-number-37", "A body in field 37, the next free number, with the largest request id.", bytes(vfield(1, U32_MAX), dfield(37, sfield(1, "x"))), U32_MAX),
  unknownFrame("empty-payload", "An empty payload: a Frame with no body and request id 0 (what a zero-length frame carries, FRM-7).", new Uint8Array(0), 0),
  unknownFrame("request-id-only", "A frame with request id 42 and nothing else.", bytes(vfield(1, 42)), 42),
  unknownFrame("varint-body", "An unknown field 40 written as a varint, with request id 3.", bytes(vfield(1, 3), vfield(40, 1)), 3),
  unknownFrame("request-id-after-body", "An unknown body first and request id 8 after it: field order does not matter.", bytes(dfield(99), vfield(1, 8)), 8),
  // Was group-body (field 30) until member_page took 30, which made it a mistyped field (invalid/unknown-frame/body-mistyped-as-group).
  unknownFrame("group-body-field-99", "An unknown field 99 written as a group, with request id 6.", bytes(vfield(1, 6), group(99, vfield(1, 1))), 6),
];
