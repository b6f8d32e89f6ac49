import type { ImwireError } from "../errors.js";
import { ErrorCode } from "../gen/imwire/v1/error_pb.js";
import type { Frame } from "../gen/imwire/v1/frame_pb.js";
import { sizeFrame } from "../gen/imwire/v1/frame_fast.js";
import type { FrameTransport } from "../transport/frame-transport.js";
import { TransportDecorator } from "../transport/transport-decorator.js";
import type { LogFields, Logger } from "./logger.js";

/**
 * `imwire serve --log-frames`: a FrameTransport that logs one line per frame
 * in and out, and the connection's life (opened, authenticated, closed), then
 * hands everything on unchanged.
 *
 * What a line may carry is fixed here, not left to the frame: ids, kinds,
 * sizes, error codes, and for `authenticated` the user and device. No other
 * field value is ever read, so a token (in `authenticate`), a message text or
 * a push token cannot reach the log whatever frame carries it.
 */
export class FrameLoggingTransport extends TransportDecorator {
  readonly #log: Logger;
  readonly #base: LogFields;
  readonly #counts = { framesIn: 0, bytesIn: 0, framesOut: 0, bytesOut: 0 };
  #closedBy: "client" | "server" | undefined;
  /** The code of a closing error frame, whichever end sent it. */
  #closingCode: ErrorCode | undefined;
  #goAwaySent = false;
  #cut = false;

  /** `connection`: a number for this connection, unique within the server, so its lines can be picked out. */
  constructor(inner: FrameTransport, log: Logger, connection: number) {
    super(inner);
    this.#log = log;
    const [transport, address] = splitDescription(inner.description);
    this.#base = { connection, transport, address };
    this.#log.info(`${this.description}: connection opened`, { event: "open", ...this.#base });
  }

  protected override received(frame: Frame, size: number): void {
    this.#received(frame, size);
    super.received(frame, size);
  }

  protected override invalidInput(error: ImwireError): void {
    this.#invalidInput(error);
    super.invalidInput(error);
  }

  protected override closed(): void {
    this.#closed();
    super.closed();
  }

  override send(frame: Frame): void {
    // A frame refused for its size (FRM-9) throws here and is not logged as sent: the runner reports it.
    this.inner.send(frame);
    const size = sizeFrame(frame);
    this.#counts.framesOut++;
    this.#counts.bytesOut += size;
    this.#logFrame("out", frame, size);
    const body = frame.body;
    if (body.case === "goAway") this.#goAwaySent = true;
    else if (body.case === "error" && body.value.closing) this.#closingCode ??= body.value.code;
    else if (body.case === "authenticated") {
      const { userId, deviceId } = body.value;
      this.#log.info(`${this.description}: authenticated as ${userId}/${deviceId}`, { event: "authenticated", ...this.#base, user: userId, device: deviceId });
    }
  }

  override close(): void {
    this.#closedBy ??= "server";
    this.inner.close();
  }

  override destroy(): void {
    this.#closedBy ??= "server";
    this.#cut = true;
    this.inner.destroy();
  }

  #received(frame: Frame, size: number): void {
    this.#counts.framesIn++;
    this.#counts.bytesIn += size;
    this.#logFrame("in", frame, size);
    if (frame.body.case === "error" && frame.body.value.closing) {
      // The runner then closes this end too; the close is still the client's doing.
      this.#closedBy ??= "client";
      this.#closingCode ??= frame.body.value.code;
    }
  }

  #invalidInput(error: ImwireError): void {
    const code = ErrorCode[error.code] ?? String(error.code);
    this.#log.info(`${this.description}: in invalid input (${code})`, { event: "frame", ...this.#base, direction: "in", kind: "invalid", code });
  }

  #logFrame(direction: "in" | "out", frame: Frame, size: number): void {
    const kind = frame.body.case ?? "empty";
    const code = frame.body.case === "error" ? (ErrorCode[frame.body.value.code] ?? String(frame.body.value.code)) : undefined;
    const request = frame.requestId === 0 ? "" : ` #${frame.requestId}`;
    this.#log.info(`${this.description}: ${direction} ${kind}${code ? ` ${code}` : ""}${request} ${size} B`, {
      event: "frame",
      ...this.#base,
      direction,
      kind,
      requestId: frame.requestId,
      size,
      ...(code === undefined ? {} : { code }),
    });
  }

  /**
   * The runner already logs a close for an error code ("closed by the
   * server (TIMEOUT)"); this logs the others, which it leaves out: go_away,
   * a replaced session, a hang-up, a cut.
   */
  #closed(): void {
    const by = this.#closedBy ?? "client";
    const code = this.#closingCode;
    if (code !== undefined && code !== ErrorCode.SESSION_REPLACED) return;
    const reason = code !== undefined ? ErrorCode[code]! : this.#goAwaySent ? "go_away" : this.#cut ? "cut" : by === "client" ? "hang-up" : "graceful";
    this.#log.info(`${this.description}: closed by the ${by} (${reason})`, { event: "close", ...this.#base, by, reason, ...this.#counts });
  }
}

/** "tcp 127.0.0.1:50312" → ["tcp", "127.0.0.1:50312"]. */
function splitDescription(description: string): [string, string] {
  const space = description.indexOf(" ");
  return space < 0 ? [description, ""] : [description.slice(0, space), description.slice(space + 1)];
}
