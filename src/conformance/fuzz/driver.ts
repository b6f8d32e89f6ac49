import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { issueToken, verifyToken } from "../../auth/hmac-token.js";
import type { ServerOptions } from "../../machines/server/options.js";
import type { ServerMachineFactory } from "../../machines/server/server-machine.js";
import { startReferenceServer, type ReferenceServer } from "../../server/reference-server.js";
import { Random } from "../../sim/random.js";
import { MemoryStore } from "../../store/memory-store.js";
import { SqliteStore } from "../../store/sqlite-store.js";
import type { GeneratorContext } from "./generators.js";
import { HonestLedger, HonestUser } from "./honest.js";
import { HostileConnection, type Timing } from "./hostile-connection.js";
import type { ModelContext } from "./model.js";
import { Stats, formatReport } from "./stats.js";

export interface FuzzOptions {
  readonly seed: number;
  readonly frames: number;
  /** Hostile connections at once. */
  readonly connections: number;
  readonly sqlite?: boolean;
  /** An external server instead of the in-process one: addresses, the token secret, its timings. */
  readonly external?: { readonly tcp: string; readonly ws: string; readonly secret: string; readonly handshakeMs?: number };
  /** Honest messages per second per user (default 20: 40 requests/s in all, well under 50/s per connection). */
  readonly honestRate?: number;
  /** Printed every so often while running. */
  readonly progress?: (line: string) => void;
  readonly slackMs?: number;
  /** How long the honest pair may take at the end to get every answer and delivery due (default 5 s). */
  readonly drainMs?: number;
  /** Makes the in-process server's machine (self-tests plant bugs through it). */
  readonly machine?: ServerMachineFactory;
  /** Violation kinds to report without failing: known server bugs (see the report). */
  readonly tolerate?: readonly string[];
}

export interface FuzzResult {
  readonly stats: Stats;
  readonly report: string;
  readonly ok: boolean;
}

/**
 * The in-process server's limits: a short heartbeat and handshake so that
 * silences end in seconds, and frames larger after Welcome than before it
 * (FRM-5) so that both limits are exercised.
 */
export const FUZZ_PROTOCOL: Partial<ServerOptions> = {
  heartbeatIntervalMs: 1_000,
  handshakeTimeoutMs: 1_500,
  maxFrameSize: 131_072,
  maxInFlight: 100,
  receiveWindow: 32,
  drainTimeoutMs: 500,
};

const HOSTILE_USERS = 64;
/** Silent connections waiting for their TIMEOUT at once, besides the active ones. */
const MAX_LINGERING = 256;

export async function runFuzz(options: FuzzOptions): Promise<FuzzResult> {
  const stats = new Stats(options.tolerate);
  const started = performance.now();
  const root = new Random(options.seed);
  const runTag = options.external ? `${options.seed}-${Date.now().toString(36)}` : `${options.seed}`;
  let server: ReferenceServer | undefined;
  let dir: string | undefined;
  let sqlite: SqliteStore | undefined;
  let urls: { tcp: string; ws: string };
  let secret: string;
  let timing: Timing;
  if (options.external) {
    urls = { tcp: `tcp://${options.external.tcp}`, ws: `ws://${options.external.ws}/` };
    secret = options.external.secret;
    timing = { heartbeatMs: 0, handshakeMs: options.external.handshakeMs, slackMs: options.slackMs ?? 3_000 };
  } else {
    secret = `fuzz-secret-${options.seed}`;
    if (options.sqlite) {
      dir = mkdtempSync(join(tmpdir(), "imwire-fuzz-"));
      sqlite = new SqliteStore(join(dir, "fuzz.sqlite"));
    }
    server = await startReferenceServer({ tcp: { port: 0 }, ws: { port: 0 }, store: sqlite ?? new MemoryStore(`fuzz-${options.seed}`), secret, protocol: FUZZ_PROTOCOL, ...(options.machine ? { machine: options.machine } : {}) });
    urls = { tcp: server.urls.tcp!, ws: server.urls.ws! };
    timing = { heartbeatMs: FUZZ_PROTOCOL.heartbeatIntervalMs!, handshakeMs: FUZZ_PROTOCOL.handshakeTimeoutMs!, slackMs: options.slackMs ?? 3_000 };
  }
  const token = (userId: string, deviceId: string, ttlMs = 3_600_000) => issueToken({ userId, deviceId, expiresAtMs: Date.now() + ttlMs }, secret);
  const check = (t: string) => verifyToken(t, secret, Date.now());

  // The honest pair: A on TCP, B on WebSocket.
  const ledger = new HonestLedger(stats);
  const users: HonestUser[] = [];
  const rate = options.honestRate ?? 20;
  const names = [`honest-a-${runTag}`, `honest-b-${runTag}`];
  for (const [i, userId] of names.entries()) {
    users.push(new HonestUser({ url: i === 0 ? urls.tcp : urls.ws, userId, deviceId: "phone", token: token(userId, "phone", 86_400_000), index: i as 0 | 1, intervalMs: 1_000 / rate, stats, ledger, users }));
  }
  await users[1]!.connect();
  await users[0]!.connect();
  const conversation = await users[0]!.openWith(names[1]!);
  const honestConversations = new Set([conversation]);

  // Hostile users: a pool apart from the honest ones, each authenticated once so that they exist (AUTH-7).
  const pool = Array.from({ length: HOSTILE_USERS }, (_, i) => `fz-${runTag}-u${i}`);
  const existing = new Set<string>(names);
  const poolSet = new Set(pool);
  // Slots: a (user, device) pair used by one connection at a time, so that no session is replaced (AUTH-4).
  const slotCount = Math.max(HOSTILE_USERS, options.connections * 2 + MAX_LINGERING);
  const freeSlots = Array.from({ length: slotCount }, (_, i) => i);
  const slotOf = (i: number) => ({ userId: pool[i % HOSTILE_USERS]!, deviceId: `d${Math.floor(i / HOSTILE_USERS)}` });

  let remaining = options.frames;
  const budget = () => remaining - (stats.framesSent - framesAtStart) > 0;
  let framesAtStart = 0;
  let index = 0;

  /** Runs one hostile connection; what it returns still runs (a silent connection waiting for its TIMEOUT). */
  const hostile = async (slot: number, random: Random, warmUp: boolean): Promise<{ lingering?: Promise<void> }> => {
    const { userId, deviceId } = slotOf(slot);
    const webSocket = !warmUp && random.chance(0.4);
    const model: ModelContext = {
      state: "await-hello",
      userId,
      deviceId,
      helloDeviceId: undefined,
      limit: 65_536,
      maxInFlight: FUZZ_PROTOCOL.maxInFlight!,
      inFlightAfterSend: 0,
      conversations: new Map(),
      honest: honestConversations,
      existingUsers: existing,
      mayExist: (u) => poolSet.has(u) || existing.has(u),
      messageKeys: new Map(),
      conversationKeys: new Map(),
      highestReceived: 0n,
      positionMaySet: false,
      verifyToken: check,
      mayDrain: options.external !== undefined,
    };
    let rid = 1;
    let high = 0;
    let serial = 0;
    const serialOfConnection = index++;
    const name = `#${serialOfConnection} seed ${options.seed}`;
    const g: GeneratorContext = {
      random,
      model,
      webSocket,
      token: token(userId, deviceId),
      badTokens: () => {
        switch (random.int(4)) {
          case 0:
            return token(userId, deviceId, -60_000); // expired
          case 1:
            return token(userId, `${deviceId}-other`); // another device (AUTH-3)
          case 2:
            return token(userId, deviceId).slice(0, -2) + "xx";
          default:
            return `imw1.${random.hex(20)}.${random.hex(20)}`;
        }
      },
      otherUser: () => (random.chance(0.05) ? `nx-${random.hex(4)}` : pool[random.int(HOSTILE_USERS)]!),
      // Mostly counting up; now and then from the top of the range down (uint32 max first), never one in use (ENV-2).
      nextRequestId: () => (random.chance(0.01) ? 4_294_967_295 - high++ : rid++),
      unique: () => `${serialOfConnection}.${serial++}`,
    };
    const connection = new HostileConnection(name, webSocket ? urls.ws : urls.tcp, g, stats, timing);
    if (!(await connection.open())) return {};
    const start = random.int(10);
    if (warmUp || start < 6) await connection.handshake("ready");
    else if (start < 8) await connection.handshake("await-auth");
    if (model.state === "ready") {
      existing.add(userId);
      if (!warmUp) await connection.setUp();
    }
    if (warmUp) {
      connection.close();
      return {};
    }
    return connection.fuzz(1 + random.int(40), budget);
  };

  // Warm-up: every hostile user authenticates once.
  await Promise.all(pool.map((_, i) => hostile(i, root.fork(), true)));
  users[0]!.start(conversation);
  users[1]!.start(conversation);
  framesAtStart = stats.framesSent;
  stats.sampleRss();
  stats.rssStart = process.memoryUsage.rss();

  let lastProgress = performance.now();
  const background = new Set<Promise<void>>();
  const worker = async (w: number) => {
    const random = new Random((options.seed * 7_919 + w * 104_729) >>> 0);
    while (budget()) {
      const slot = freeSlots.splice(random.int(freeSlots.length), 1)[0];
      if (slot === undefined) break;
      // The server may not have seen our close yet: a slot rests before another connection takes it.
      const release = () => void setTimeout(() => freeSlots.push(slot), 50);
      const { lingering } = await hostile(slot, random.fork(), false).catch((error: unknown) => {
        stats.violation({ kind: "fuzzer", detail: `the fuzzer itself failed: ${error instanceof Error ? error.stack : String(error)}` });
        return {} as { lingering?: Promise<void> };
      });
      if (lingering) {
        const p = lingering.finally(() => {
          background.delete(p);
          release();
        });
        background.add(p);
        if (background.size >= MAX_LINGERING) await Promise.race(background);
      } else release();
      stats.sampleRss();
      if (options.progress && performance.now() - lastProgress > 10_000) {
        lastProgress = performance.now();
        options.progress(`  ${stats.framesSent - framesAtStart} frames, ${stats.connectionsOpened} connections, ${stats.violationCount} violations, honest ${stats.honest.acks} acks, rss ${(process.memoryUsage.rss() / 1_048_576).toFixed(0)} MiB`);
      }
    }
  };
  await Promise.all(Array.from({ length: options.connections }, (_, w) => worker(w)));
  await Promise.all(background);

  // The honest pair finishes: everything sent is answered, everything acknowledged delivered to both.
  for (const u of users) u.stopSending();
  await new Promise<void>((resolve) => {
    const finished = () => users.every((u) => u.pendingSends === 0) && ledger.acked.size === 0 && users.every((u) => u.held >= ledger.highestAcked);
    const timer = setTimeout(() => ((ledger.changed = undefined), resolve()), options.drainMs ?? 5_000);
    ledger.changed = () => {
      if (!finished()) return;
      clearTimeout(timer);
      ledger.changed = undefined;
      resolve();
    };
    ledger.changed();
  });
  stats.honest.unanswered = users.reduce((n, u) => n + u.pendingSends, 0);
  stats.honest.lost = ledger.acked.size;
  for (const [seq, entry] of ledger.acked) {
    if (stats.violations.length < 25) stats.violation({ kind: "honest lost", detail: `seq ${seq} (${entry.key}) was acknowledged but reached ${entry.seenBy} of 2 users` });
    else stats.count(stats.violationsByKind, "honest lost");
  }
  if (stats.honest.unanswered > 0) stats.violation({ kind: "honest unanswered", detail: `${stats.honest.unanswered} honest sends got no answer within ${(options.drainMs ?? 5_000) / 1_000} s of the end` });
  for (const u of users) u.close();
  stats.sampleRss();
  stats.rssEnd = process.memoryUsage.rss();

  await server?.close("fuzz run finished");
  sqlite?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  const seconds = (performance.now() - started) / 1_000;
  const report = formatReport(stats, [
    ["seed", options.seed],
    ["target", options.external ? `${urls.tcp} ${urls.ws}` : `in-process reference server (${options.sqlite ? "sqlite" : "memory"} store)`],
    ["hostile connections at once", options.connections],
    ["seconds", seconds.toFixed(1)],
    ["frames per second", Math.round((stats.framesSent - framesAtStart) / seconds)],
  ]);
  return { stats, report, ok: stats.violationCount === 0 };
}
