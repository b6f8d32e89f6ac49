import type { ImwireError } from "../errors.js";
import type { Frame } from "../gen/imwire/v1/frame_pb.js";
import { unassigned, type FrameTransport } from "./frame-transport.js";

/**
 * A FrameTransport in front of another that hands everything through: the
 * base of the server's decorators (frame logging, the commit gate), which
 * override only what they watch or change. The runner assigns its handlers
 * on the decorator; the inner transport calls the decorator's relays
 * (received, invalidInput, closed), which a subclass may extend.
 */
export class TransportDecorator implements FrameTransport {
  onFrame: FrameTransport["onFrame"] = unassigned.onFrame;
  onInputError: FrameTransport["onInputError"] = unassigned.onInputError;
  onClose: FrameTransport["onClose"] = unassigned.onClose;
  onProgress: FrameTransport["onProgress"] = unassigned.onProgress;
  protected readonly inner: FrameTransport;

  constructor(inner: FrameTransport) {
    this.inner = inner;
    inner.onFrame = (frame, size) => this.received(frame, size);
    inner.onInputError = (error) => this.invalidInput(error);
    inner.onProgress = (bytes) => this.onProgress(bytes);
    inner.onClose = () => this.closed();
  }

  protected received(frame: Frame, size: number): void {
    this.onFrame(frame, size);
  }

  protected invalidInput(error: ImwireError): void {
    this.onInputError(error);
  }

  protected closed(): void {
    this.onClose();
  }

  get description(): string {
    return this.inner.description;
  }

  get bufferedAmount(): number {
    return this.inner.bufferedAmount;
  }

  get flushedBytes(): number {
    return this.inner.flushedBytes;
  }

  send(frame: Frame): void {
    this.inner.send(frame);
  }

  close(): void {
    this.inner.close();
  }

  destroy(): void {
    this.inner.destroy();
  }

  setMaxFrameSize(size: number): void {
    this.inner.setMaxFrameSize(size);
  }

  pauseReading(): void {
    this.inner.pauseReading();
  }

  resumeReading(): void {
    this.inner.resumeReading();
  }

  holdWrites(): void {
    this.inner.holdWrites?.();
  }

  releaseWrites(): void {
    this.inner.releaseWrites?.();
  }
}
