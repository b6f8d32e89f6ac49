import type { MessageInitShape } from "@bufbuild/protobuf";
import type { SendMessageSchema } from "../../../src/gen/imwire/v1/message_pb.js";
import type { FrameInit, ValidFrameDefinition } from "./types.js";
import { codePointLength, codePointOffset, I64_MAX, I64_MIN, patternBytes, SERVER_TIME_MS, sha256Of, U32_MAX, U64_MAX, UNICODE_TEXT, utf8OfLength } from "./sample-values.js";

/** send_message with every content kind (MSG-2), and send_ack. */

const mentionText = "ping \ud834\udd1e @Zo\u00eb and @\ud835\udc9clice, e\u0301 \ud83d\ude42";
const mediaRefFull = {
  uri: "https://media.example/images/2025/11/27/7f3a.jpg",
  mimeType: "image/jpeg",
  byteSize: 483_211n,
  sha256: sha256Of("imwire image 7f3a"),
  width: 4032,
  height: 3024,
  thumbnail: { mimeType: "image/webp", data: patternBytes(48, 1), width: 64, height: 48 },
};

const send = (requestId: number, value: MessageInitShape<typeof SendMessageSchema>): FrameInit => ({ requestId, body: { case: "sendMessage", value } });

export const messageVectors: ValidFrameDefinition[] = [
  {
    id: "valid/send_message/text-minimal",
    description: "A text message with only the required fields: conversation, idempotency key, content.",
    requirements: ["ENV-2", "MSG-2", "IDEM-1"],
    frame: send(1, { conversationId: "c1", clientMessageId: "m1", content: { kind: { case: "text", value: { text: "hi" } } } }),
  },
  {
    id: "valid/send_message/text-unicode",
    description: "Text with combining marks, CJK, astral-plane symbols, an emoji with a skin-tone modifier, a ZWJ sequence, right-to-left scripts and U+0000.",
    requirements: ["MSG-2"],
    frame: send(2, { conversationId: "c1", clientMessageId: "m2", content: { kind: { case: "text", value: { text: UNICODE_TEXT } } } }),
  },
  {
    id: "valid/send_message/text-with-mentions-and-reply",
    description: "A reply with two mentions whose offsets and lengths count code points across astral-plane characters and combining marks.",
    requirements: ["MSG-2", "MSG-5", "MSG-6"],
    frame: send(3, {
      conversationId: "c1",
      clientMessageId: "m3",
      content: { kind: { case: "text", value: { text: mentionText } } },
      replyToSeq: 41n,
      mentions: [
        { userId: "u-zoe", offset: codePointOffset(mentionText, "@Zo"), length: codePointLength("@Zo\u00eb") },
        { userId: "u-alice", offset: codePointOffset(mentionText, "@\ud835"), length: codePointLength("@\ud835\udc9clice") },
      ],
    }),
  },
  {
    id: "valid/send_message/reply-to-max-seq",
    description: "reply_to_seq at the largest uint64, 18446744073709551615: a 10-byte varint and a JSON string.",
    requirements: ["MSG-6", "EXT-4"],
    frame: send(4, { conversationId: "c1", clientMessageId: "m4", content: { kind: { case: "text", value: { text: "re" } } }, replyToSeq: U64_MAX }),
  },
  {
    id: "valid/send_message/longest-identifiers",
    description: "Identifiers of exactly 128 bytes of UTF-8 (multi-byte characters included) and the largest request id.",
    requirements: ["LIM-2", "ENV-2"],
    frame: send(U32_MAX, { conversationId: utf8OfLength(128), clientMessageId: utf8OfLength(128), content: { kind: { case: "text", value: { text: "." } } } }),
  },
  {
    id: "valid/send_message/image-with-thumbnail",
    description: "An image by reference with every MediaRef field: URI, MIME type, size, a 32-byte SHA-256, dimensions, an inline thumbnail, and a caption.",
    requirements: ["MSG-2", "MSG-3"],
    frame: send(5, { conversationId: "c1", clientMessageId: "m5", content: { kind: { case: "image", value: { media: mediaRefFull, caption: "Sunset \ud83c\udf05" } } } }),
  },
  {
    id: "valid/send_message/image-minimal",
    description: "An image with a media reference holding only its URI.",
    requirements: ["MSG-2", "MSG-3"],
    frame: send(6, { conversationId: "c1", clientMessageId: "m6", content: { kind: { case: "image", value: { media: { uri: "https://m.example/i" } } } } }),
  },
  {
    id: "valid/send_message/image-thumbnail-64kib",
    description: "An image whose inline thumbnail is 65,536 bytes: the payload exceeds the 65,536-byte handshake limit, so stream it with a larger one.",
    requirements: ["MSG-3", "LIM-3", "FRM-3"],
    frame: send(7, {
      conversationId: "c1",
      clientMessageId: "m7",
      content: { kind: { case: "image", value: { media: { uri: "https://m.example/big", thumbnail: { mimeType: "image/png", data: patternBytes(65_536, 7), width: 256, height: 256 } } } } },
    }),
  },
  {
    id: "valid/send_message/voice-with-waveform",
    description: "A voice message with duration, size and amplitude samples.",
    requirements: ["MSG-2", "MSG-3"],
    frame: send(8, {
      conversationId: "c1",
      clientMessageId: "m8",
      content: { kind: { case: "voice", value: { media: { uri: "https://m.example/v.ogg", mimeType: "audio/ogg", byteSize: 23_040n, durationMs: 14_250 }, waveform: patternBytes(32, 3) } } },
    }),
  },
  {
    id: "valid/send_message/video-full",
    description: "A video with dimensions, duration, SHA-256, thumbnail and a caption.",
    requirements: ["MSG-2", "MSG-3"],
    frame: send(9, {
      conversationId: "c1",
      clientMessageId: "m9",
      content: {
        kind: {
          case: "video",
          value: {
            media: { uri: "https://m.example/clip.mp4", mimeType: "video/mp4", byteSize: 9_876_543_210n, sha256: sha256Of("clip"), width: 1920, height: 1080, durationMs: 61_000, thumbnail: { data: patternBytes(16, 9) } },
            caption: "\u05e2\u05e8\u05d1 \u05d8\u05d5\u05d1",
          },
        },
      },
    }),
  },
  {
    id: "valid/send_message/file-full",
    description: "A file with a non-ASCII file name and the largest possible byte size.",
    requirements: ["MSG-2", "MSG-3"],
    frame: send(10, {
      conversationId: "c1",
      clientMessageId: "m10",
      content: { kind: { case: "file", value: { media: { uri: "https://m.example/f", mimeType: "application/pdf", byteSize: U64_MAX, sha256: sha256Of("file") }, fileName: "R\u00e9sum\u00e9 \u5c65\u6b74\u66f8.pdf" } } },
    }),
  },
  {
    id: "valid/send_message/sticker-minimal",
    description: "A sticker with only its required sticker_id.",
    requirements: ["MSG-2"],
    frame: send(11, { conversationId: "c1", clientMessageId: "m11", content: { kind: { case: "sticker", value: { stickerId: "s-42" } } } }),
  },
  {
    id: "valid/send_message/sticker-full",
    description: "A sticker with pack, emoji fallback and its image by reference.",
    requirements: ["MSG-2", "MSG-3"],
    frame: send(12, {
      conversationId: "c1",
      clientMessageId: "m12",
      content: { kind: { case: "sticker", value: { packId: "pack-foxes", stickerId: "fox-wave", emoji: "\ud83e\udd8a", media: { uri: "https://m.example/fox.webp", mimeType: "image/webp", width: 512, height: 512 } } } },
    }),
  },
  {
    id: "valid/send_message/encrypted-full",
    description: "End-to-end encrypted content: scheme, key id, and ciphertext bytes that are not UTF-8 (bytes fields are opaque).",
    requirements: ["MSG-2", "MSG-4", "SEC-5"],
    frame: send(13, {
      conversationId: "c1",
      clientMessageId: "m13",
      content: { kind: { case: "encrypted", value: { scheme: "mls", ciphertext: Uint8Array.of(0xff, 0xfe, 0x00, 0xc0, 0x80, 0xed, 0xa0, 0x80, ...patternBytes(40, 5)), keyId: Uint8Array.of(0, 1, 2, 3) } } },
    }),
  },
  {
    id: "valid/send_message/encrypted-minimal",
    description: "Encrypted content whose ciphertext is the single byte 0x00.",
    requirements: ["MSG-2", "MSG-4"],
    frame: send(14, { conversationId: "c1", clientMessageId: "m14", content: { kind: { case: "encrypted", value: { scheme: "signal", ciphertext: Uint8Array.of(0) } } } }),
  },
  {
    id: "valid/send_ack/minimal",
    description: "A send acknowledgement with only the required fields.",
    requirements: ["MSG-1", "IDEM-2"],
    frame: { requestId: 1, body: { case: "sendAck", value: { conversationId: "c1", clientMessageId: "m1", seq: 1n, messageId: "msg-1" } } },
  },
  {
    id: "valid/send_ack/with-server-time",
    description: "A send acknowledgement with a realistic server time.",
    requirements: ["MSG-1", "IDEM-2"],
    frame: { requestId: 2, body: { case: "sendAck", value: { conversationId: "c1", clientMessageId: "m2", seq: 2n, messageId: "msg-2", serverTimeMs: SERVER_TIME_MS } } },
  },
  {
    id: "valid/send_ack/int64-min-and-uint64-max",
    description: "seq at the largest uint64 and server_time_ms at the smallest int64, -9223372036854775808.",
    requirements: ["EXT-4"],
    frame: { requestId: 3, body: { case: "sendAck", value: { conversationId: "c1", clientMessageId: "m3", seq: U64_MAX, messageId: "msg-3", serverTimeMs: I64_MIN } } },
  },
  {
    id: "valid/send_ack/int64-max",
    description: "server_time_ms at the largest int64, 9223372036854775807.",
    requirements: ["EXT-4"],
    frame: { requestId: 4, body: { case: "sendAck", value: { conversationId: "c1", clientMessageId: "m4", seq: 4n, messageId: "msg-4", serverTimeMs: I64_MAX } } },
  },
  {
    id: "valid/send_ack/negative-one",
    description: "server_time_ms of -1: a negative int64 is a 10-byte varint (no zigzag).",
    requirements: ["EXT-4"],
    frame: { requestId: 5, body: { case: "sendAck", value: { conversationId: "c1", clientMessageId: "m5", seq: 5n, messageId: "msg-5", serverTimeMs: -1n } } },
  },
];
