/**
 * Protocol constants from SPEC.md (sections "Transport and framing", "Limits").
 */

/** The protocol version this package implements (CONN-2). */
export const PROTOCOL_VERSION = 1;

/** Every version this package can speak, highest first. */
export const SUPPORTED_VERSIONS: readonly number[] = [PROTOCOL_VERSION];

/** The smallest max_frame_size a server may announce; every peer accepts frames this large (LIM-1). */
export const MIN_MAX_FRAME_SIZE = 65_536;

/** The largest max_frame_size a server may announce (LIM-1). */
export const MAX_MAX_FRAME_SIZE = 16_777_216;

/** The max_frame_size the reference implementations announce (LIM-1). */
export const DEFAULT_MAX_FRAME_SIZE = 1_048_576;

/** The frame size limit before Welcome has set one: Hello and Welcome must fit (FRM-5). */
export const HANDSHAKE_MAX_FRAME_SIZE = MIN_MAX_FRAME_SIZE;

/** A length prefix is a minimal varint of at most this many bytes, so lengths stay below 2^28 (FRM-2). */
export const MAX_LENGTH_PREFIX_BYTES = 4;

/** The WebSocket subprotocol name of protocol version 1 (WS-1). */
export const WEBSOCKET_SUBPROTOCOL = "imwire.v1";

/** Identifiers (user, device, conversation, message and idempotency ids, epochs) are 1 to this many bytes of UTF-8 (LIM-2). */
export const MAX_ID_BYTES = 128;

/** A conversation title is at most this many bytes of UTF-8 (LIM-7). */
export const MAX_TITLE_BYTES = 1_024;

/**
 * Room a server keeps in a frame, beyond the `send_message` a client sent, for
 * what it adds to the event it stores and pushes: message id, sender, seq,
 * cursors, time, envelope (LIM-3). Each is bounded by LIM-2 or is a varint.
 */
export const MESSAGE_FRAME_ALLOWANCE = 4_096;

/** The largest encoded `send_message` a server accepts under a frame limit (LIM-3). */
export function maxSendMessageSize(maxFrameSize: number): number {
  return maxFrameSize - MESSAGE_FRAME_ALLOWANCE;
}

/** Mentions in one message, user ids in one `open_conversation`: at most this many (LIM-8). */
export const MAX_LIST_ENTRIES = 1_000;
