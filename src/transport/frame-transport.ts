import type { Frame } from "../gen/imwire/v1/frame_pb.js";
import type { ImwireError } from "../errors.js";

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
  send(frame: Frame): void;
  /** Close once what was sent is written. */
  close(): void;
  /** Cut the connection at once, unsent output lost: what a crash does to it. */
  destroy(): void;
  /** FRM-5: the frame size accepted from now on. */
  setMaxFrameSize(size: number): void;
  /** Bytes accepted by send() and not yet written to the network (FLOW-3). */
  readonly bufferedAmount: number;
  /** For logs: "tcp 127.0.0.1:5300", "ws [::1]:5301". */
  readonly description: string;
}

/** Handlers that do nothing, until the runner sets its own. */
export const unassigned = {
  onFrame: (): void => {},
  onInputError: (): void => {},
  onClose: (): void => {},
};
