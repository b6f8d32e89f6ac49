import type { ConformanceTest } from "./types.js";

/**
 * The tests whose length is set by the server's heartbeat interval, and how
 * many intervals each waits when the server behaves (read from the cases:
 * HB-1 pings every 0.7 intervals until 2.5 have passed, so 2.8; HB-5 trickles
 * a frame over 2; the silent-connection tests wait for the 1.5-interval
 * close, the staggered one a little past it).
 */
export const HEARTBEAT_BOUND_TESTS: Readonly<Record<string, number>> = {
  "HB-1/pings-keep-a-connection-alive": 2.8,
  "HB-5/slow-frame-is-not-silence": 2,
  "HB-3/staggered-silent-connections": 1.8,
  "HB-3/silent-connection-closed": 1.5,
  "WS-5/websocket-pings-are-not-heartbeats": 1.5,
};

/** From this interval on, the heartbeat tests are slow enough to say so before the run. */
export const SLOW_HEARTBEAT_MS = 5_000;

/**
 * One line before a run whose selected heartbeat tests will take long, with
 * the truthful range and the way to shorten them; undefined when they will
 * not (a short interval, or no such test selected).
 */
export function heartbeatHint(intervalMs: number, tests: readonly ConformanceTest[]): string | undefined {
  if (intervalMs < SLOW_HEARTBEAT_MS) return undefined;
  const waits = tests.map((t) => HEARTBEAT_BOUND_TESTS[t.id]).filter((w): w is number => w !== undefined);
  if (waits.length === 0) return undefined;
  const low = Math.min(...waits);
  const high = Math.max(...waits);
  const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;
  const range = low === high ? `${low} intervals (about ${seconds(low * intervalMs)})` : `${low}–${high} intervals each (about ${Math.round((low * intervalMs) / 1000)}–${seconds(high * intervalMs)})`;
  const count = waits.length === 1 ? "the heartbeat test waits" : `the ${waits.length} heartbeat tests wait`;
  return `the server's heartbeat is ${seconds(intervalMs)}: ${count} ${range}, alongside the others; for the reference server, \`imwire serve --heartbeat-ms 1000\` shortens them`;
}
