import { describe, expect, it } from "vitest";
import { runFuzz } from "../src/conformance/fuzz/driver.js";
import { ServerMachine, type ServerMachineFactory } from "../src/machines/server/server-machine.js";

/**
 * Known server bugs the fuzzer finds, reported rather than failed on until
 * they are fixed (then delete the entry, and the test holds the fix):
 * - "LIM-2 snapshot_after": sync_user with a snapshot_after over 128 bytes
 *   is answered with a snapshot, not INVALID_ARGUMENT, when its epoch is not
 *   the stream's (sync.ts checks its length only when the epoch matches;
 *   LIM-2 and ERR-5 put it with the ids checked first).
 */
const KNOWN: string[] = [];

describe("fuzz:server (network fuzzing of the reference server, smoke run)", () => {
  it("20,000 hostile frames over TCP and WebSocket: no crash, no INTERNAL, no model violation, the honest pair loses nothing", async () => {
    const result = await runFuzz({ seed: 20_260_101, frames: 20_000, connections: 24, tolerate: KNOWN });
    const { stats } = result;
    if (!result.ok) console.log(result.report);
    expect(stats.framesSent).toBeGreaterThanOrEqual(20_000);
    expect(stats.internal).toBe(0);
    expect(stats.violationCount).toBe(0);
    expect([...stats.violationsByKind.keys()].filter((k) => !KNOWN.includes(k))).toEqual([]);
    // The run reached every state and every framing error it is meant to.
    for (const code of ["MALFORMED_FRAME", "FRAME_TOO_LARGE", "UNKNOWN_FRAME", "MISSING_FIELD", "PROTOCOL_VIOLATION", "UNAUTHENTICATED", "TIMEOUT", "NOT_FOUND", "PERMISSION_DENIED", "INVALID_ARGUMENT"]) {
      expect(stats.answersByCode.get(code) ?? 0, code).toBeGreaterThan(0);
    }
    const honest = stats.honest;
    expect(honest.acks).toBeGreaterThan(50);
    expect(honest.acks).toBe(honest.sends - honest.rateLimited);
    expect(honest.lost + honest.duplicated + honest.outOfOrder + honest.unanswered + honest.closed).toBe(0);
    expect(honest.deliveries).toBeGreaterThanOrEqual(2 * honest.acks);
  }, 60_000);
});

describe("fuzz:server finds planted bugs", () => {
  it("an INTERNAL answer to mark_read and a lost honest message are reported", async () => {
    const planted: ServerMachineFactory = (deps, options) => {
      let sends = 0;
      const store = new Proxy(deps.store, {
        get(target, key, receiver) {
          const value = Reflect.get(target, key, receiver) as unknown;
          if (key === "setReadMarker") return () => { throw new Error("planted"); };
          // Every 50th stored message event is dropped from the recipients' streams: acknowledged, never delivered.
          if (key === "appendUserEntry" && typeof value === "function") {
            return (userId: string, body: { case?: string }) => {
              if (body.case === "eventRef" && userId.startsWith("honest-b") && ++sends % 50 === 0) return 0;
              return (value as (...a: unknown[]) => unknown).call(target, userId, body);
            };
          }
          return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
      return new ServerMachine({ ...deps, store }, options);
    };
    const result = await runFuzz({ seed: 7, frames: 4_000, connections: 16, drainMs: 1_500, machine: planted, tolerate: KNOWN });
    expect(result.ok).toBe(false);
    expect(result.stats.violationsByKind.get("INTERNAL") ?? 0).toBeGreaterThan(0);
    expect(result.stats.honest.lost).toBeGreaterThan(0);
  }, 60_000);
});
