import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { EMBEDDED_LIMITS, startEmbeddedServer, type EmbeddedServer } from "../src/conformance/embedded-server.js";
import { allTests } from "../src/conformance/suite/catalogue.js";
import type { Target } from "../src/conformance/suite/context.js";
import { applies, runOne } from "../src/conformance/suite/run-suite.js";
import { FEATURES, runsAlone } from "../src/conformance/suite/types.js";

/**
 * The conformance runner, one vitest test per runner test, for mutation
 * testing (npm run mutation): Stryker runs only the runner tests that reach
 * a mutant, so each must be its own vitest test, and they run one at a time.
 * The server is the embedded reference server, on the store IMWIRE_MUTATION_STORE
 * names (sqlite, the default, or memory); nothing but the runner judges it.
 */
const timeoutMs = Number(process.env.IMWIRE_MUTATION_TIMEOUT_MS ?? 2_000);
/** The server is in this process, on loopback: what must not happen would happen within this. */
const quietMs = Number(process.env.IMWIRE_MUTATION_QUIET_MS ?? 150);
const store = process.env.IMWIRE_MUTATION_STORE === "memory" ? "memory" : "sqlite";
const seed = 1;
const SLOW_GROUPS = new Set(["heartbeat", "errors", "websocket"]);
const order: readonly string[] = existsSync("mutation/test-order.json") ? (JSON.parse(readFileSync("mutation/test-order.json", "utf8")) as { order: string[] }).order : [];
/** Groups whose tests also run over WebSocket (the rest differ only by transport, which these cover). */
const WS_GROUPS = new Set(["websocket", "framing", "limits", "errors", "lifecycle"]);
/** Groups run over TLS too, on a second server: the handshake and the byte-stream framing. */
const TLS_GROUPS = new Set(["handshake", "framing-stream", "websocket", "limits"]);

describe(`the conformance runner against the reference server on ${store}`, () => {
  let server: EmbeddedServer;
  let secure: EmbeddedServer;
  const targets: Target[] = [];
  beforeAll(async () => {
    // The shortest handshake timeout worth having: the CONN-6 tests wait it out for every mutant that reaches them.
    server = await startEmbeddedServer({ store, protocol: { handshakeTimeoutMs: 1_000 } });
    const common = { dial: {}, tokens: server.tokens, features: new Set(FEATURES), hooks: server.hooks, pushes: server.pushes, limits: server.limits, runId: `mu${randomBytes(3).toString("hex")}` };
    targets.push(...server.urls.map((url) => ({ ...common, url })));
    const tls = { key: readFileSync("test/fixtures/localhost-key.pem"), cert: readFileSync("test/fixtures/localhost-cert.pem") };
    // Frames of twice the smallest limit, so that raising the limit after welcome is tested too (FRM-5); the group limit its profile declares.
    secure = await startEmbeddedServer({ store, tls, protocol: { handshakeTimeoutMs: 1_000, maxFrameSize: 131_072, maxGroupSize: EMBEDDED_LIMITS.maxGroupSize } });
    const secureCommon = { ...common, tokens: secure.tokens, hooks: secure.hooks, pushes: secure.pushes, limits: secure.limits, dial: { tls: { rejectUnauthorized: false } } };
    targets.push(...secure.urls.map((url) => ({ ...secureCommon, url })));
  });
  afterAll(async () => {
    await server.close();
    await secure.close();
  });
  // Every test over TCP; over WebSocket and TLS only what differs there (bindings, close codes, framing, limits).
  const groups = { tcp: undefined, ws: WS_GROUPS, tls: TLS_GROUPS, wss: TLS_GROUPS } as const;
  const jobs = (["tcp", "ws", "tls", "wss"] as const).flatMap((transport) =>
    allTests
      .filter((test) => applies(test, { url: `${transport}://x` } as Target) && (groups[transport]?.has(test.group) ?? true) && !(transport.endsWith("s") && test.hooks))
      .map((test) => ({ transport, test })),
  );
  // Stryker stops at a mutant's first failing test: the tests that killed most in the last run go first
  // (mutation/test-order.json, from mutation/rank-tests.mjs), then the rest, those that wait out timers last.
  const ranked = new Map(order.map((name, i) => [name, i]));
  const rank = ({ transport, test }: (typeof jobs)[number]) =>
    ranked.get(`${transport} ${test.id}`) ?? order.length + (runsAlone(test) ? 2 : SLOW_GROUPS.has(test.group) ? 1 : 0);
  for (const { transport, test } of [...jobs].sort((x, y) => rank(x) - rank(y))) {
    it(`${transport} ${test.id}`, async () => {
      const target = targets.find((t) => t.url.startsWith(`${transport}:`))!;
      const result = await runOne(test, { ...target, runId: `${target.runId}-${transport}-${test.id.replace(/\W+/g, "")}` }, { seed, timeoutMs, quietMs });
      const transcript = () => result.transcript.map((e) => `${e.connection} ${e.direction} ${e.text}`).join("\n");
      expect(result.outcome.status, result.outcome.status === "fail" ? `${result.outcome.message}\n${transcript()}` : "").not.toBe("fail");
    });
  }
});
