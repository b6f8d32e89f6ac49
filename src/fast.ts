/**
 * imwire/fast: the generated fast codec of every message in proto/, for
 * callers that code messages other than Frame (a stored ConversationEvent,
 * a content body). For each message X: decodeX(bytes), encodeX(message,
 * prefixed?), sizeX(message), and missingInX(message) where X has ENV-5
 * rules. They take and return the objects protobuf-es does, so both mix
 * freely. The read/measure/write functions also exported here are the
 * generated code's internals, not API.
 */
export * from "./gen/imwire/v1/auth_fast.js";
export * from "./gen/imwire/v1/connection_fast.js";
export * from "./gen/imwire/v1/content_fast.js";
export * from "./gen/imwire/v1/conversation_fast.js";
export * from "./gen/imwire/v1/delivery_fast.js";
export * from "./gen/imwire/v1/error_fast.js";
export * from "./gen/imwire/v1/frame_fast.js";
export * from "./gen/imwire/v1/message_fast.js";
export * from "./gen/imwire/v1/settings_fast.js";
export * from "./gen/imwire/v1/sync_fast.js";
export { EMPTY_BYTES } from "./codec/fast/wire-reader.js";
