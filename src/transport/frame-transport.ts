import type { Frame } from "../gen/imwire/v1/frame_pb.js";
import { ErrorCode } from "../gen/imwire/v1/error_pb.js";
import { ImwireError } from "../errors.js";

/**
 * A connection that carries imwire frames, whatever it runs over: what the
 * server and client runners need from TCP, TLS and WebSocket alike. Handlers
 * are assigned by the runner before any input arrives.
 */
export interface FrameTransport {
  /** A valid frame arrived; `size` is its encoded payload size. */
  onFrame: (frame: Frame, size: number) => void;
  /** Input that is not a valid frame (SPEC.md ENV-3 to ENV-5, FRM-2, FRM-4, WS-3, WS-4). */
  onInputError: (error: ImwireError) => void;
  /** The connection is closed, by either end or the network. Called once. */
  onClose: () => void;
  /** Bytes of a frame not yet whole arrived: a peer sending a large frame slowly is alive (HB-3, HB-4, HB-5). */
  onProgress: (bytes: number) => void;
  /** Write a frame; throws ImwireError FRAME_TOO_LARGE, writing nothing, for one over the limit in force (FRM-9). */
  send(frame: Frame): void;
  /** Close once what was sent is written. */
  close(): void;
  /** Cut the connection at once, unsent output lost: what a crash does to it. */
  destroy(): void;
  /** FRM-5: the frame size accepted and sent from now on. */
  setMaxFrameSize(size: number): void;
  /** Bytes accepted by send() and not yet written to the network (FLOW-3). */
  readonly bufferedAmount: number;
  /** Bytes accepted by send() and written to the network so far: grows while the peer reads (FLOW-3). */
  readonly flushedBytes: number;
  /**
   * FLOW-3: hand over no more frames, even those already read, until
   * resumeReading(); the network then holds the peer back.
   */
  pauseReading(): void;
  resumeReading(): void;
  /**
   * Group commit: keep what send() writes in this process, not on the network,
   * until releaseWrites(); send() still checks and encodes at once (FRM-9).
   * Calls nest. Transports without them cannot sit behind a commit gate.
   */
  holdWrites?(): void;
  releaseWrites?(): void;
  /** For logs: "tcp 127.0.0.1:5300", "ws [::1]:5301". */
  readonly description: string;
}

/** Handlers that do nothing, until the runner sets its own. */
export const unassigned = {
  onFrame: (): void => {},
  onInputError: (): void => {},
  onClose: (): void => {},
  onProgress: (): void => {},
};

/**
 * FRM-9: the one check every outgoing frame passes, whatever produced it. A
 * frame over the limit in force is refused with a typed error rather than
 * written: the peer would have to reject it (FRM-4).
 */
export function checkOutgoingSize(payloadSize: number, limit: number): void {
  if (payloadSize > limit) {
    throw new ImwireError(ErrorCode.FRAME_TOO_LARGE, `refusing to send a frame of ${payloadSize} bytes over the limit in force, ${limit}`, { requirement: "FRM-9" });
  }
}

/** The payload size of a length-prefixed frame: its bytes less the varint prefix (FRM-1). */
export function payloadSizeOfFramed(framed: Uint8Array): number {
  let prefix = 1;
  while (prefix < framed.length && (framed[prefix - 1]! & 0x80) !== 0) prefix++;
  return framed.length - prefix;
}
