import type { InvalidPayloadDefinition, ValidBytesDefinition } from "./types.js";
import { bytes, dfield, fixed32field, fixed64field, group, sfield, vfield } from "./wire.js";

/**
 * A known field that arrives with a wire type other than its own is an
 * unknown field (ENV-3), as Protobuf's C++, Java and Go runtimes treat it: it
 * is kept like any unknown field (ENV-6) and never read as the declared type.
 * A decoder that ignores wire types reads a different frame than was sent;
 * these vectors catch it at every depth, in repeated elements, in oneofs and
 * in merged messages. Re-encoding puts the mistyped fields after the known
 * ones, where unknown fields go.
 */

const PING_7 = dfield(6, vfield(1, 7));
const requirements = ["ENV-3", "ENV-6", "ENV-8"];

export const mistypedFieldVectors: ValidBytesDefinition[] = [
  {
    id: "valid/mistyped-fields/request-id-as-delimited",
    description: "A ping, and request_id (a varint field) sent length-delimited: request_id stays 0 and the field is kept as unknown.",
    requirements,
    payload: bytes(PING_7, dfield(1, [0x08, 0x2a])),
    json: { ping: { nonce: "7" } },
  },
  {
    id: "valid/mistyped-fields/nonce-as-fixed32",
    description: "ping.nonce (uint64, a varint) sent as a 32-bit field: an empty ping with one unknown field.",
    requirements,
    payload: bytes(dfield(6, fixed32field(1, 7))),
    json: { ping: {} },
  },
  {
    id: "valid/mistyped-fields/string-as-varint-beside-the-real-one",
    description: "send_message.conversation_id sent once as a varint and once as the string it is: the string counts, the varint is unknown.",
    requirements: [...requirements, "MSG-7"],
    payload: bytes(vfield(1, 9), dfield(2, vfield(1, 5), sfield(1, "c1"), sfield(2, "m1"), dfield(3, dfield(1, sfield(1, "hi"))))),
    json: { requestId: 9, sendMessage: { conversationId: "c1", clientMessageId: "m1", content: { text: { text: "hi" } } } },
  },
  {
    id: "valid/mistyped-fields/body-as-varint-beside-a-ping",
    description: "A ping, and send_message (field 2, a message) sent as a varint: an unknown field, which does not select send_message in the body oneof.",
    requirements: [...requirements, "ENV-1"],
    payload: bytes(PING_7, vfield(2, 5)),
    json: { ping: { nonce: "7" } },
  },
  {
    id: "valid/mistyped-fields/body-as-group-after-a-ping",
    description: "A ping, then field 6 (ping) again as a group: the group is an unknown field and the ping keeps nonce 7.",
    requirements,
    payload: bytes(PING_7, group(6, vfield(1, 9))),
    json: { ping: { nonce: "7" } },
  },
  {
    id: "valid/mistyped-fields/in-repeated-element",
    description: "mentions[1].length (a varint) also sent as a 64-bit field: unknown in the second element only.",
    requirements: [...requirements, "MSG-7"],
    payload: bytes(vfield(1, 11), dfield(2, sfield(1, "c1"), sfield(2, "m3"), dfield(3, dfield(1, sfield(1, "@a @b"))), dfield(5, sfield(1, "u-a"), vfield(3, 2)), dfield(5, sfield(1, "u-b"), vfield(2, 3), fixed64field(3, 2n), vfield(3, 2)))),
    json: { requestId: 11, sendMessage: { conversationId: "c1", clientMessageId: "m3", content: { text: { text: "@a @b" } }, mentions: [{ userId: "u-a", length: 2 }, { userId: "u-b", offset: 3, length: 2 }] } },
  },
  {
    id: "valid/mistyped-fields/repeated-number-as-fixed32",
    description: "hello.versions (repeated uint32, packable) with one element sent as a 32-bit field: not an element, an unknown field.",
    requirements: [...requirements, "CONN-2"],
    payload: bytes(vfield(1, 1), dfield(16, vfield(1, 1), fixed32field(1, 2), sfield(2, "d1"))),
    json: { requestId: 1, hello: { versions: [1], deviceId: "d1" } },
  },
  {
    id: "valid/mistyped-fields/deep-in-thumbnail",
    description: "Thumbnail.data (bytes) also sent as a varint, six levels down: the bytes count, the varint is unknown.",
    requirements: [...requirements, "MSG-7"],
    payload: bytes(vfield(1, 10), dfield(2, sfield(1, "c1"), sfield(2, "m2"), dfield(3, dfield(2, dfield(1, sfield(1, "https://m.example/i"), dfield(8, dfield(2, [1, 2, 3]), vfield(2, 4))))))),
    json: { requestId: 10, sendMessage: { conversationId: "c1", clientMessageId: "m2", content: { image: { media: { uri: "https://m.example/i", thumbnail: { data: "AQID" } } } } } },
  },
  {
    id: "valid/mistyped-fields/merged-message",
    description: "ping twice, each with a mistyped nonce beside or instead of the real one: the two merge into one ping (nonce 7) holding both unknown fields in order.",
    requirements,
    payload: bytes(dfield(6, vfield(1, 7), fixed32field(1, 1)), dfield(6, fixed64field(1, 2n))),
    json: { ping: { nonce: "7" } },
  },
  {
    id: "valid/mistyped-fields/dropped-with-replaced-oneof-member",
    description: "send_message holding a mistyped conversation_id, then a ping: the ping replaces send_message in the body oneof, and send_message's unknown field goes with it.",
    requirements: [...requirements, "ENV-1"],
    payload: bytes(dfield(2, vfield(1, 5), sfield(2, "m")), PING_7),
    json: { ping: { nonce: "7" } },
  },
];

export const mistypedFieldInvalidVectors: InvalidPayloadDefinition[] = [
  {
    id: "invalid/unknown-frame/request-id-mistyped-holding-a-ping",
    description: "request_id (a varint field) sent length-delimited, holding the bytes of a ping (0a 04 32 02 08 07): no body, since a decoder that ignores wire types reads request id 4 and a ping.",
    input: "payload",
    payload: bytes(dfield(1, PING_7)),
    expectedError: "ERROR_CODE_UNKNOWN_FRAME",
    requirement: "ENV-3",
    expectedRequestId: 0,
  },
  {
    id: "invalid/unknown-frame/body-mistyped-as-varint",
    description: "send_message (a message) sent as a varint, with request id 9: an unknown field, so the frame has no body.",
    input: "payload",
    payload: bytes(vfield(1, 9), vfield(2, 5)),
    expectedError: "ERROR_CODE_UNKNOWN_FRAME",
    requirement: "ENV-3",
    expectedRequestId: 9,
  },
  {
    id: "invalid/unknown-frame/body-mistyped-as-group",
    description: "ping (a length-delimited message) sent as a group: an unknown field, so the frame has no body.",
    input: "payload",
    payload: bytes(group(6, vfield(1, 7))),
    expectedError: "ERROR_CODE_UNKNOWN_FRAME",
    requirement: "ENV-3",
    expectedRequestId: 0,
  },
  {
    id: "invalid/missing-field/mistyped-conversation-id",
    description: "send_message.conversation_id (a string) sent only as a varint: unknown, so the required field is missing.",
    input: "payload",
    payload: bytes(vfield(1, 9), dfield(2, vfield(1, 5), sfield(2, "m"), dfield(3, dfield(1, sfield(1, "x"))))),
    expectedError: "ERROR_CODE_MISSING_FIELD",
    requirement: "ENV-3",
    expectedRequestId: 9,
    expectedField: "send_message.conversation_id",
  },
];
