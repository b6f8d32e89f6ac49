import type { Authenticated } from "../../gen/imwire/v1/auth_pb.js";
import type { Welcome } from "../../gen/imwire/v1/connection_pb.js";
import { welcomeProblem } from "../../codec/welcome.js";
import { ErrorCode } from "../../gen/imwire/v1/error_pb.js";
import { ImwireError } from "../../errors.js";
import type { ClientContext } from "./context.js";
import { featureProblem } from "./features.js";
import type { Link } from "./link.js";
import type { ClientOutput } from "./types.js";
import type { UserStream } from "./user-stream.js";

/**
 * The handshake of each connection (CONN-1 to CONN-3, AUTH-1, AUTH-5):
 * hello, welcome's values bound to the link, authenticate with what the
 * device holds, and the answer that decides between READY and SYNCING.
 */
export class Handshake {
  readonly #ctx: ClientContext;
  readonly #stream: UserStream;
  readonly #output: (output: ClientOutput) => void;
  /** Why the last welcome was refused (CONN-3); cleared by one accepted. Nothing is sent: it is for the application's logs. */
  refusal: ImwireError | undefined;

  constructor(ctx: ClientContext, stream: UserStream, output: (output: ClientOutput) => void) {
    this.#ctx = ctx;
    this.#stream = stream;
    this.#output = output;
  }

  /** CONN-1: hello is the first frame on a connection. */
  opened(): void {
    const { versions, features, deviceId, receiveWindow, receiveWindowBytes, userAgent } = this.#ctx.options;
    this.#ctx.request({ case: "hello", value: { versions: [...versions], features: [...features], deviceId, receiveWindow, receiveWindowBytes, userAgent } }, { kind: "hello" });
  }

  /**
   * CONN-2: welcome's values, and the features in force (EXT-5), bind the
   * connection, and authenticate follows (unless draining: CONN-7). False
   * when CONN-3 refuses the welcome: the connection is to be closed without
   * sending anything further.
   */
  welcomed(link: Link, welcome: Welcome): boolean {
    const { versions, features } = this.#ctx.options;
    const problem = welcomeProblem(welcome, versions) ?? featureProblem(welcome, features);
    if (problem !== undefined) {
      const code = versions.includes(welcome.version) ? ErrorCode.PROTOCOL_VIOLATION : ErrorCode.UNSUPPORTED_VERSION;
      this.refusal = new ImwireError(code, problem, { requirement: "CONN-3" });
      return false;
    }
    this.refusal = undefined;
    this.#ctx.transition("welcome");
    // FRM-5: the server may now send frames up to its limit.
    this.#output({ kind: "frame-limit", connection: link.connection, maxFrameSize: welcome.maxFrameSize });
    link.applyWelcome(welcome, this.#ctx.now);
    if (this.#ctx.state !== "AWAIT_AUTHENTICATED") return true;
    const resume = this.#stream.resumeFrom();
    this.#ctx.request({ case: "authenticate", value: { token: this.#ctx.deps.token(), resume } }, { kind: "authenticate" });
    return true;
  }

  /** AUTH-5: resumed, pushes start at once; otherwise the device synchronises first (SYNC-5). */
  authenticated(link: Link, authenticated: Authenticated): void {
    link.authenticated = true;
    if (authenticated.resumed) {
      this.#stream.resumed();
      this.#ctx.transition("authenticated_resumed");
    } else {
      this.#ctx.transition("authenticated_not_resumed");
      this.#stream.sync();
    }
  }
}
