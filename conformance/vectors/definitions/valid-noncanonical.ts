import type { ValidBytesDefinition } from "./types.js";
import { bytes, dfield, sfield, varint, vfield } from "./wire.js";

/**
 * Encodings no canonical encoder produces but every Protobuf decoder must
 * accept. Each decodes to the JSON given; re-encoding it gives the canonical
 * bytes (the manifest's reencodedHex), not these.
 */

export const noncanonicalVectors: ValidBytesDefinition[] = [
  {
    id: "valid/noncanonical/fields-out-of-order",
    description: "Fields in reverse number order, at the top and inside send_message.",
    requirements: ["ENV-1", "ENV-8"],
    payload: bytes(dfield(2, dfield(3, dfield(1, sfield(1, "hi"))), sfield(2, "m1"), sfield(1, "c1")), vfield(1, 9)),
    json: { requestId: 9, sendMessage: { conversationId: "c1", clientMessageId: "m1", content: { text: { text: "hi" } } } },
  },
  {
    id: "valid/noncanonical/unpacked-repeated",
    description: "hello.versions written unpacked, one varint field per element.",
    requirements: ["CONN-2", "ENV-8"],
    payload: bytes(vfield(1, 1), dfield(16, vfield(1, 1), vfield(1, 2), vfield(1, 300), sfield(2, "d1"))),
    json: { requestId: 1, hello: { versions: [1, 2, 300], deviceId: "d1" } },
  },
  {
    id: "valid/noncanonical/packed-and-unpacked-mixed",
    description: "hello.versions as a packed run, a single varint, and another packed run: one list in order.",
    requirements: ["CONN-2", "ENV-8"],
    payload: bytes(dfield(16, dfield(1, varint(1), varint(2)), vfield(1, 3), sfield(2, "d1"), dfield(1, varint(4)))),
    json: { hello: { versions: [1, 2, 3, 4], deviceId: "d1" } },
  },
  {
    id: "valid/noncanonical/scalar-repeated-last-wins",
    description: "request_id given twice: the last value wins.",
    requirements: ["ENV-2", "ENV-8"],
    payload: bytes(vfield(1, 1), dfield(6), vfield(1, 2)),
    json: { requestId: 2, ping: {} },
  },
  {
    id: "valid/noncanonical/oneof-last-member-wins",
    description: "Two members of the body oneof (pong, then ping): the last one wins.",
    requirements: ["ENV-1", "ENV-8"],
    payload: bytes(dfield(7, vfield(1, 3)), dfield(6, vfield(1, 4))),
    json: { ping: { nonce: "4" } },
  },
  {
    id: "valid/noncanonical/oneof-same-member-merged",
    description: "The same oneof member twice: the two occurrences are merged, as for any message field.",
    requirements: ["ENV-1", "ENV-8"],
    payload: bytes(dfield(7, vfield(1, 3)), dfield(7, vfield(2, 9))),
    json: { pong: { nonce: "3", headCursor: "9" } },
  },
  {
    id: "valid/noncanonical/message-split-and-merged",
    description: "send_message in two occurrences: messages merge field by field; the text, a scalar, takes the last value.",
    requirements: ["ENV-1", "MSG-2", "ENV-8"],
    payload: bytes(dfield(2, sfield(1, "c"), dfield(3, dfield(1, sfield(1, "he")))), dfield(2, sfield(2, "m"), dfield(3, dfield(1, sfield(1, "llo"))))),
    json: { sendMessage: { conversationId: "c", clientMessageId: "m", content: { text: { text: "llo" } } } },
  },
  {
    id: "valid/noncanonical/repeated-elements-interleaved",
    description: "Elements of a repeated message field interleaved with another field: the list keeps the order of its elements.",
    requirements: ["ACK-1", "ACK-4", "ENV-8"],
    payload: bytes(dfield(5, dfield(2, sfield(1, "c1"), vfield(2, 1)), vfield(1, 5), dfield(2, sfield(1, "c2"), vfield(2, 2)))),
    json: { deliveryAck: { cursor: "5", conversations: [{ conversationId: "c1", seq: "1" }, { conversationId: "c2", seq: "2" }] } },
  },
  {
    id: "valid/noncanonical/explicit-default-values",
    description: "Fields written with their default values (request_id 0, nonce 0, message \"\"): the same as absent.",
    requirements: ["ENV-1", "ENV-8"],
    payload: bytes(vfield(1, 0), dfield(8, vfield(1, 100), sfield(2, ""), vfield(3, 0), vfield(5, 0))),
    json: { error: { code: "ERROR_CODE_MALFORMED_FRAME" } },
  },
  {
    id: "valid/noncanonical/non-minimal-varints",
    description: "Varint values with redundant continuation bytes (request_id 1 in 4 bytes, nonce 7 in 2): valid Protobuf, unlike a non-minimal length prefix (FRM-2).",
    requirements: ["ENV-1", "FRM-2", "ENV-8"],
    payload: bytes([0x08, 0x81, 0x80, 0x80, 0x00], dfield(6, [0x08, 0x87, 0x00])),
    json: { requestId: 1, ping: { nonce: "7" } },
  },
  {
    id: "valid/noncanonical/uint32-from-64-bit-varint",
    description: "request_id written as the 64-bit value 2^32 + 5: a uint32 field keeps the low 32 bits, 5.",
    requirements: ["ENV-2", "ENV-8"],
    payload: bytes(vfield(1, 2n ** 32n + 5n), dfield(6)),
    json: { requestId: 5, ping: {} },
  },
  {
    id: "valid/noncanonical/unknown-field-first",
    description: "An unknown field before the known ones: kept, and re-encoded after them.",
    requirements: ["ENV-6", "ENV-8"],
    payload: bytes(vfield(1000, 1), dfield(6, vfield(1, 7))),
    json: { ping: { nonce: "7" } },
  },
];
