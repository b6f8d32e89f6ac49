/**
 * The storage behind a Store cannot be reached or did not answer in time (a
 * database restarting, a network cut): nothing was stored by the statement
 * that failed, and trying again later may succeed. The server answers the
 * request ERROR_CODE_UNAVAILABLE, retryable (ERR-2), never INTERNAL.
 */
export class StoreUnavailableError extends Error {
  readonly storeUnavailable = true;
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = "StoreUnavailableError";
  }
}

export function isStoreUnavailable(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { storeUnavailable?: unknown }).storeUnavailable === true;
}
