import type { ErrorCode } from "../../gen/imwire/v1/error_pb.js";

/** A request the server refuses: answered with an Error frame carrying the request's id. */
export class RequestError extends Error {
  override readonly name = "RequestError";

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly requirement?: string,
  ) {
    super(message);
  }
}
