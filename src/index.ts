/**
 * imwire: the wire protocol of a real-time messaging system. This module is
 * the public API; generated schema types are re-exported from ./gen.
 */
export * from "./gen/imwire/v1/auth_pb.js";
export * from "./gen/imwire/v1/connection_pb.js";
export * from "./gen/imwire/v1/content_pb.js";
export * from "./gen/imwire/v1/conversation_pb.js";
export * from "./gen/imwire/v1/delivery_pb.js";
export * from "./gen/imwire/v1/error_pb.js";
export * from "./gen/imwire/v1/frame_pb.js";
export * from "./gen/imwire/v1/message_pb.js";
export * from "./gen/imwire/v1/options_pb.js";
export * from "./gen/imwire/v1/settings_pb.js";
export * from "./gen/imwire/v1/sync_pb.js";

export * from "./limits.js";
export * from "./errors.js";
export { findMissingField } from "./codec/validate.js";
export { frame, decodeFrame, parseFrame, encodeFrame, validateFrame, type FrameCase, type EncodeOptions } from "./codec/frame-codec.js";
export { FrameSplitter, type FrameSplitterOptions } from "./framing/frame-splitter.js";
export { FrameReader, encodeFramed } from "./framing/frame-stream.js";
export { lengthPrefixSize, writeLengthPrefix, withLengthPrefix, MAX_PREFIXED_LENGTH } from "./framing/length-prefix.js";
export { errorFrame, errorFrameFor, type ErrorFrameOptions } from "./codec/error-frame.js";
export { welcomeProblem, WELCOME_RANGES } from "./codec/welcome.js";
export { frameCatalogue, maySend, type FrameCatalogueEntry, type FrameKind, type FrameSender } from "./codec/frame-catalogue.js";
export { SlabAllocator } from "./framing/slab.js";
