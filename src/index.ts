/**
 * imwire and @imwire/protocol: the wire protocol of a real-time messaging
 * system. This entry point is the codec, framing, errors, limits and frame
 * catalogue, with the generated schema types; the machines, simulator and
 * transports have their own entry points (src/entry). Internals stay out: the
 * slab allocator, and the reflective validator and reference decoder that the
 * fast codec is tested against (the generated missingInX in ./fast are the
 * required-field checks to use).
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
export { frame, decodeFrame, parseFrame, encodeFrame, validateFrame, type FrameCase, type EncodeOptions } from "./codec/frame-codec.js";
export { FrameSplitter, type FrameSplitterOptions } from "./framing/frame-splitter.js";
export { FrameReader, encodeFramed } from "./framing/frame-stream.js";
export { lengthPrefixSize, writeLengthPrefix, withLengthPrefix, MAX_PREFIXED_LENGTH } from "./framing/length-prefix.js";
export { errorFrame, errorFrameFor, type ErrorFrameOptions } from "./codec/error-frame.js";
export { welcomeProblem, WELCOME_RANGES } from "./codec/welcome.js";
export { frameCatalogue, maySend, type FrameCatalogueEntry, type FrameKind, type FrameSender } from "./codec/frame-catalogue.js";
