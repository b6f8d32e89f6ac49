import { frame } from "../../src/codec/frame-codec.js";
import type { Frame } from "../../src/gen/imwire/v1/frame_pb.js";

/** A text message pushed to a device: the frame a messaging gateway moves most (about 150 bytes framed). */
export function textDeliveryFrame(n = 0): Frame {
  return frame({
    body: {
      case: "deliver",
      value: {
        cursor: 1_000_000n + BigInt(n),
        prevCursor: 999_999n + BigInt(n),
        body: {
          case: "event",
          value: {
            conversationId: "c_9f3a7c21e4b04d6f",
            seq: 4242n + BigInt(n),
            serverTimeMs: 1_764_201_600_000n,
            senderUserId: "u_alice",
            senderDeviceId: "d_alice_phone",
            body: {
              case: "message",
              value: {
                messageId: "m_01JDQ8Z6C0V5K2T9",
                clientMessageId: "6f1c2d7e-3b8a-4c55-9e1f-0a2b3c4d5e6f",
                content: { kind: { case: "text", value: { text: "Running ten minutes late, order me a flat white please?" } } },
              },
            },
          },
        },
      },
    },
  });
}

/** An image message with a 64 KiB inline thumbnail: the large end of what frames carry. */
export function mediaDeliveryFrame(n = 0): Frame {
  const thumbnail = new Uint8Array(64 * 1024);
  for (let i = 0; i < thumbnail.length; i++) thumbnail[i] = (i * 31 + n) & 0xff;
  return frame({
    body: {
      case: "deliver",
      value: {
        cursor: 2_000_000n + BigInt(n),
        prevCursor: 1_999_999n + BigInt(n),
        body: {
          case: "event",
          value: {
            conversationId: "c_9f3a7c21e4b04d6f",
            seq: 5000n + BigInt(n),
            serverTimeMs: 1_764_201_600_000n,
            senderUserId: "u_bob",
            senderDeviceId: "d_bob_laptop",
            body: {
              case: "message",
              value: {
                messageId: "m_01JDQ8Z6C0V5K2TA",
                clientMessageId: "0b7e6a1c-2f3d-4e5a-8b9c-1d2e3f4a5b6c",
                content: {
                  kind: {
                    case: "image",
                    value: {
                      caption: "the view from the office",
                      media: {
                        uri: "https://media.example.com/o/3f/9a/3f9a1c.jpg",
                        mimeType: "image/jpeg",
                        byteSize: 2_483_112n,
                        sha256: new Uint8Array(32).fill(0xab),
                        width: 4032,
                        height: 3024,
                        thumbnail: { mimeType: "image/jpeg", data: thumbnail, width: 320, height: 240 },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
  });
}

/** `stream` cut into chunks of `size` bytes (views, made before timing starts). */
export function chunksOf(stream: Uint8Array, size: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < stream.length; at += size) chunks.push(stream.subarray(at, at + size));
  return chunks;
}

/** One text message of a group conversation as a ConversationEvent: a reply mentioning two members. */
function groupEvent(seq: bigint, n: number) {
  return {
    conversationId: "g_6d0f1e2a9b8c7d6e",
    seq,
    serverTimeMs: 1_764_201_600_000n + BigInt(n),
    senderUserId: `u_member_${n % 100}`,
    senderDeviceId: `d_member_${n % 100}_phone`,
    body: {
      case: "message" as const,
      value: {
        messageId: `m_01JDQ8Z6C0V5K${(n % 1000).toString().padStart(4, "0")}`,
        clientMessageId: `7a2b3c4d-5e6f-4a1b-8c2d-${(n % 1_000_000).toString().padStart(12, "0")}`,
        content: { kind: { case: "text" as const, value: { text: `@ana @ben the build is green again, merging #${n} now 🎉` } } },
        replyToSeq: seq - 3n,
        mentions: [
          { userId: "u_ana", offset: 0, length: 4 },
          { userId: "u_ben", offset: 5, length: 4 },
        ],
      },
    },
  };
}

/**
 * The push of one group message to one member's device: what a server
 * encodes once per member for every group message (fan-out), each with the
 * member's own cursor.
 */
export function groupPushFrame(member: number): Frame {
  return frame({
    body: {
      case: "deliver",
      value: { cursor: 7_000_000n + BigInt(member * 31), prevCursor: 6_999_990n + BigInt(member * 31), body: { case: "event", value: groupEvent(90_210n, 7) } },
    },
  });
}

/** A conversation_page answering a sync: 50 group messages. */
export function syncPageFrame(count = 50): Frame {
  return frame({
    requestId: 77,
    body: {
      case: "conversationPage",
      value: {
        conversationId: "g_6d0f1e2a9b8c7d6e",
        events: Array.from({ length: count }, (_, i) => groupEvent(90_000n + BigInt(i), i)),
        hasMore: true,
        lastSeq: 90_210n,
      },
    },
  });
}
