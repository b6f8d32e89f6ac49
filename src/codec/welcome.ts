import type { Welcome } from "../gen/imwire/v1/connection_pb.js";
import { MAX_MAX_FRAME_SIZE, MIN_MAX_FRAME_SIZE } from "../limits.js";

/** SPEC.md LIM-6's ranges for the values a server announces in Welcome. */
export const WELCOME_RANGES = {
  heartbeatIntervalMs: [1_000, 3_600_000],
  maxInFlight: [1, 65_535],
  receiveWindow: [1, 65_535],
  dedupWindowS: [86_400, 2 ** 32 - 1],
  maxFrameSize: [MIN_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE],
} as const;

/** LIM-6: Welcome.receive_window_bytes, when not 0 (a server that does not bound bytes, FLOW-2). */
export const RECEIVE_WINDOW_BYTES_RANGE = [65_536, 2 ** 32 - 1] as const;

/**
 * Why a client must refuse this Welcome (CONN-3): a version it did not offer,
 * or a value outside LIM-1/LIM-6. Undefined when it is acceptable.
 */
export function welcomeProblem(welcome: Welcome, offeredVersions: readonly number[]): string | undefined {
  if (!offeredVersions.includes(welcome.version)) return `CONN-3: version ${welcome.version} was not offered`;
  for (const [key, [min, max]] of Object.entries(WELCOME_RANGES)) {
    const value = welcome[key as keyof typeof WELCOME_RANGES];
    if (value < min || value > max) return `${key === "maxFrameSize" ? "LIM-1" : "LIM-6"}: ${key} ${value} is outside ${min}..${max}`;
  }
  const [min, max] = RECEIVE_WINDOW_BYTES_RANGE;
  const bytes = welcome.receiveWindowBytes;
  if (bytes !== 0 && (bytes < min || bytes > max)) return `LIM-6: receiveWindowBytes ${bytes} is outside 0 or ${min}..${max}`;
  return undefined;
}
