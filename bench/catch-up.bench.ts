/**
 * Catch-up after an outage (npm run bench:catch-up), issue 12's claim: "a
 * device offline while 10,000 events landed across 1,000 conversations (some
 * large) syncs in time and bytes proportional to what changed".
 *
 * The reference server on a SqliteStore file (durable, its defaults: group
 * commit, read fan-out above 100 members). User U is in 1,000 conversations:
 * 950 one-to-one (write fan-out: an entry per event in U's stream) and 50
 * large ones, 25 channels with 200 more subscribers and 25 groups of 151
 * members (read fan-out, CUR-7: events stored once, read from the
 * conversation). U's device holds the head and leaves; then N events land,
 * half spread over 100 of the one-to-one conversations, half over the 50
 * large ones. Then two fresh devices of U catch up from the position it held
 * (authenticate without resume, sync_user from that cursor, SYNC-5): one
 * offering FEATURE_CONVERSATION_SUMMARIES (SYNC-8, as the reference client
 * does), one a version 1.0 device offering nothing. Measured for each: the
 * sync_user pages, entries and bytes received until it knows which
 * conversations moved, then the sync_conversation pulls (SYNC-1) until it
 * holds every event. N = 10,000, 1,000 and 100, each round after the last,
 * so the ratios show whether the cost follows N.
 *
 * Checked, throwing otherwise: each device ends holding exactly the events
 * that landed, each once, in seq order per conversation (SEQ-1), and nothing
 * of the quiet conversations.
 *
 * Beside it, COMPUTED (not measured): what a max-seq sync in the OpenIM style
 * would transfer — every conversation's newest seq listed on every sync, so
 * 1,000 entries whatever changed — from the measured size of one summary
 * entry. IMWIRE_CATCHUP_ROUNDS sets the Ns (default "10000,1000,100").
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toBinary } from "@bufbuild/protobuf";
import { Feature } from "../src/gen/imwire/v1/connection_pb.js";
import { ConversationKind, Role } from "../src/gen/imwire/v1/conversation_pb.js";
import { UserEventSchema, type UserEvent } from "../src/gen/imwire/v1/delivery_pb.js";
import type { Frame } from "../src/gen/imwire/v1/frame_pb.js";
import { startReferenceServer } from "../src/server/reference-server.js";
import { SqliteStore } from "../src/store/sqlite-store.js";
import { ImwireDevice } from "./support/imwire-device.js";
import { machine } from "./support/runner.js";

const ROUND_SIZES = (process.env.IMWIRE_CATCHUP_ROUNDS ?? "10000,1000,100").split(",").map(Number);
const DIRECTS = 950;
const MOVING_DIRECTS = 100;
const CHANNELS = 25;
const GROUPS = 25;
const CHANNEL_EXTRA = 200;
const GROUP_EXTRA = 150;
const DEPTH = 50;
const SECRET = "bench-secret";
const CONTENT = { kind: { case: "text" as const, value: { text: "Running ten minutes late — order me a flat white, please ☕" } } };
const UNLIMITED = { perSecond: 1e9, burst: 1e9 };

const dir = mkdtempSync(join(tmpdir(), "imwire-catchup-"));
const store = new SqliteStore(join(dir, "imwire.db"));
const server = await startReferenceServer({ tcp: { port: 0 }, store, secret: SECRET, protocol: { rateLimits: { connection: UNLIMITED, user: UNLIMITED } } });
const url = server.urls.tcp!;
const connect = (user: string, device = "d", features: Feature[] = []) => ImwireDevice.connect(url, user, device, SECRET, features);

async function inBatches<T>(n: number, batch: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += batch) out.push(...(await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, j) => make(i + j)))));
  return out;
}

async function open(device: ImwireDevice, value: Record<string, unknown>): Promise<string> {
  const answer = await device.request({ case: "openConversation", value });
  if (answer.body.case !== "conversationOpened") throw new Error(`open_conversation answered ${answer.body.case}`);
  return answer.body.value.conversation!.conversationId;
}

// ---- set-up: U in 1,000 conversations -------------------------------------------------

const setupStart = performance.now();
const u = await connect("U");
const owner = await connect("owner");
// Users that exist without ever connecting (an operator's import): the one-to-one peers and the large conversations' crowds.
store.transaction(() => {
  for (let i = 0; i < DIRECTS; i++) store.addUser(`peer${i}`);
  for (let g = 0; g < GROUPS; g++) for (let m = 0; m < GROUP_EXTRA; m++) store.addUser(`g${g}-m${m}`);
});
const step = (what: string) => console.error(`  set-up: ${what} (${((performance.now() - setupStart) / 1000).toFixed(1)} s)`);
step("users seeded");
const directs = await inBatches(DIRECTS, 100, (i) => open(u, { kind: ConversationKind.DIRECT, userIds: [`peer${i}`] }));
step("one-to-one conversations opened");
const large: string[] = [];
for (let c = 0; c < CHANNELS; c++) {
  const id = await open(owner, { kind: ConversationKind.CHANNEL, title: `ch${c}`, clientConversationId: `ch${c}` });
  await open(u, { conversationId: id });
  store.transaction(() => {
    for (let i = 0; i < CHANNEL_EXTRA; i++) store.setMembership({ conversationId: id, userId: `ch${c}-s${i}`, role: Role.SUBSCRIBER, firstVisibleSeq: 1, lastVisibleSeq: 0 });
  });
  large.push(id);
}
for (let g = 0; g < GROUPS; g++) {
  const userIds = ["U", ...Array.from({ length: GROUP_EXTRA }, (_, m) => `g${g}-m${m}`)];
  large.push(await open(owner, { kind: ConversationKind.GROUP, title: `g${g}`, clientConversationId: `g${g}`, userIds }));
}
step("large conversations opened");
const peers = await inBatches(MOVING_DIRECTS, 50, (i) => connect(`peer${i}`));
step("peers connected");
// U's device takes every entry of the set-up, acknowledges, and goes offline.
await settle(u);
let position = u.held;
const streamEpoch = u.epoch;
await u.close();
const setupSeconds = (performance.now() - setupStart) / 1000;
console.error(`catch-up bench: U in ${DIRECTS + large.length} conversations (set-up ${setupSeconds.toFixed(1)} s); rounds of ${ROUND_SIZES.join(", ")} events; store in ${dir}`);

/** Wait until the device's stream position reaches the user's head (pong.head_cursor, CUR-6). */
async function settle(device: ImwireDevice): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (device.held >= (await device.headCursor())) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`${device.userId}: never reached the head`);
}

// ---- the events that land while U is away ----------------------------------------------

/** Sends `targets` in order, DEPTH in flight; returns each conversation's acknowledged seqs. */
async function post(device: ImwireDevice, targets: string[], landed: Map<string, number[]>): Promise<void> {
  let next = 0;
  let ids = 0;
  const lane = async () => {
    while (next < targets.length) {
      const conversationId = targets[next++]!;
      const answer = await device.request({ case: "sendMessage", value: { conversationId, clientMessageId: `${device.userId}-${Date.now()}-${ids++}`, content: CONTENT } });
      if (answer.body.case !== "sendAck") throw new Error(`send_message answered ${answer.body.case}`);
      const seqs = landed.get(conversationId) ?? [];
      seqs.push(Number(answer.body.value.seq));
      landed.set(conversationId, seqs);
    }
  };
  await Promise.all(Array.from({ length: DEPTH }, lane));
}

async function land(n: number): Promise<Map<string, number[]>> {
  const landed = new Map<string, number[]>();
  const half = n >> 1;
  const byPeer: string[][] = peers.map(() => []);
  for (let k = 0; k < half; k++) byPeer[k % MOVING_DIRECTS]!.push(directs[k % MOVING_DIRECTS]!);
  const toLarge = Array.from({ length: n - half }, (_, k) => large[k % large.length]!);
  await Promise.all([post(owner, toLarge, landed), ...peers.map((p, i) => post(p, byPeer[i]!, landed))]);
  for (const seqs of landed.values()) seqs.sort((a, b) => a - b);
  return landed;
}

// ---- catching up -----------------------------------------------------------------------

interface CatchUp {
  readonly device: string;
  /** The cursor it ended at: the head of U's stream. */
  cursor: bigint;
  pages: number;
  entries: number;
  summaries: number;
  /** Bytes of the entries themselves (UserEvent encodings), to price a per-conversation listing. */
  summaryBytes: number;
  syncBytes: number;
  syncMs: number;
  moved: number;
  pulls: number;
  /** Events received by the pulls. */
  pulled: number;
  pullBytes: number;
  pullMs: number;
}

async function catchUp(label: string, features: Feature[], landed: Map<string, number[]>): Promise<CatchUp> {
  const device = await ImwireDevice.authenticate(url, "U", label, SECRET, features);
  const wanted = features.includes(Feature.CONVERSATION_SUMMARIES);
  if (device.features.includes(Feature.CONVERSATION_SUMMARIES) !== wanted) throw new Error(`${label}: summaries ${wanted ? "not " : ""}in force`);
  const r: CatchUp = { device: label, cursor: 0n, pages: 0, entries: 0, summaries: 0, summaryBytes: 0, syncBytes: 0, syncMs: 0, moved: 0, pulls: 0, pulled: 0, pullBytes: 0, pullMs: 0 };
  const held = new Map<string, number[]>();
  const toPull = new Map<string, number>();
  const hold = (conversationId: string, seq: number) => {
    const seqs = held.get(conversationId) ?? [];
    seqs.push(seq);
    held.set(conversationId, seqs);
  };
  const before = device.bytesIn;
  let start = performance.now();
  let cursor = position;
  for (;;) {
    const answer: Frame = await device.request({ case: "syncUser", value: { afterCursor: cursor, epoch: streamEpoch } });
    if (answer.body.case !== "userPage") throw new Error(`${label}: sync_user answered ${answer.body.case}`);
    if (answer.body.value.snapshot) throw new Error(`${label}: sync_user answered a snapshot (SYNC-4): the position was not served`);
    const page = answer.body.value;
    r.pages++;
    for (const entry of page.events as UserEvent[]) {
      if (entry.prevCursor !== cursor) throw new Error(`${label}: gap in the stream at ${entry.cursor} (prev ${entry.prevCursor}, held ${cursor})`);
      cursor = entry.cursor;
      r.entries++;
      if (entry.body.case === "event") hold(entry.body.value.conversationId, Number(entry.body.value.seq));
      else if (entry.body.case === "notify") {
        r.summaries++;
        r.summaryBytes += toBinary(UserEventSchema, entry).length;
        toPull.set(entry.body.value.conversationId, Number(entry.body.value.seq));
      } else throw new Error(`${label}: unexpected ${entry.body.case} entry`);
    }
    if (!page.hasMore) break;
  }
  r.syncMs = performance.now() - start;
  r.cursor = cursor;
  r.syncBytes = device.bytesIn - before;
  r.moved = new Set([...held.keys(), ...toPull.keys()]).size;
  // Pulls, one conversation at a time as the reference client does, from the seq the device held before the outage.
  start = performance.now();
  const beforePulls = device.bytesIn;
  for (const [conversationId, until] of toPull) {
    const have = held.get(conversationId) ?? [];
    let after = (landed.get(conversationId)?.[0] ?? 1) - 1;
    if (have.length > 0) throw new Error(`${label}: ${conversationId} both summarised and delivered`);
    while (after < until) {
      const answer = await device.request({ case: "syncConversation", value: { conversationId, afterSeq: BigInt(after), untilSeq: BigInt(until) } });
      if (answer.body.case !== "conversationPage") throw new Error(`${label}: sync_conversation answered ${answer.body.case}`);
      r.pulls++;
      for (const event of answer.body.value.events) {
        hold(conversationId, Number(event.seq));
        after = Number(event.seq);
        r.pulled++;
      }
      if (!answer.body.value.hasMore) break;
    }
  }
  r.pullMs = performance.now() - start;
  r.pullBytes = device.bytesIn - beforePulls;
  device.send({ case: "deliveryAck", value: { cursor } }, 0);
  await device.close();
  verify(label, held, landed);
  return r;
}

/** Every landed event exactly once and in seq order, nothing else: else the run is wrong, not slow. */
function verify(label: string, held: Map<string, number[]>, landed: Map<string, number[]>): void {
  for (const [conversationId, seqs] of landed) {
    const got = held.get(conversationId) ?? [];
    if (got.length !== seqs.length || got.some((s, i) => s !== seqs[i])) {
      throw new Error(`${label}: ${conversationId} holds [${got.slice(0, 5)}…] (${got.length}), landed [${seqs.slice(0, 5)}…] (${seqs.length})`);
    }
  }
  for (const conversationId of held.keys()) if (!landed.has(conversationId)) throw new Error(`${label}: events of quiet conversation ${conversationId}`);
}

const results: { n: number; moved: number; summaries: CatchUp; v1: CatchUp }[] = [];
for (const n of ROUND_SIZES) {
  const landed = await land(n);
  const count = [...landed.values()].reduce((a, s) => a + s.length, 0);
  if (count !== n) throw new Error(`landed ${count} of ${n}`);
  const summaries = await catchUp(`sum-${n}`, [Feature.CONVERSATION_SUMMARIES], landed);
  const v1 = await catchUp(`v1-${n}`, [], landed);
  results.push({ n, moved: landed.size, summaries, v1 });
  console.error(`  ${n} events over ${landed.size} conversations: caught up and checked`);
  // The next round starts where this one ended: U's device would hold the head.
  if (summaries.cursor !== v1.cursor) throw new Error(`the two devices ended at cursors ${summaries.cursor} and ${v1.cursor}`);
  position = summaries.cursor;
}

await Promise.all([owner, ...peers].map((d) => d.close()));
await server.close();
store.close();
rmSync(dir, { recursive: true, force: true });

// ---- report ------------------------------------------------------------------------------

function bytes(n: number): string {
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(2)} MiB`;
  return n >= 10_240 ? `${(n / 1024).toFixed(1)} KiB` : `${Math.round(n).toLocaleString("en-US")} B`;
}
const ms = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(1)} ms`);
const fmt = (n: number) => n.toLocaleString("en-US");

const t1 = [
  "| events landed (conversations moved) | device | sync_user pages | entries | of them summaries | bytes received, sync_user | time to know what moved | pulls (sync_conversation) | bytes received, pulls | time, pulls | total bytes | total time |",
  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
];
for (const { n, moved, summaries, v1 } of results) {
  for (const r of [summaries, v1]) {
    const name = r === summaries ? "summaries (SYNC-8)" : "version 1.0, no features";
    t1.push(
      `| ${fmt(n)} (${moved}) | ${name} | ${r.pages} | ${fmt(r.entries)} | ${r.summaries} | ${bytes(r.syncBytes)} | ${ms(r.syncMs)} | ${r.pulls} | ${bytes(r.pullBytes)} | ${ms(r.pullMs)} | ${bytes(r.syncBytes + r.pullBytes)} | ${ms(r.syncMs + r.pullMs)} |`,
    );
  }
}
console.log(t1.join("\n"));

const base = results[0]!;
const t2 = [
  `| ratio to the ${fmt(base.n)}-event round | events | summaries: entries | bytes, sync_user | time, sync_user | bytes, total | time, total | v1.0: entries | bytes, total | time, total |`,
  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
];
for (const { n, summaries: s, v1 } of results) {
  const q = (a: number, b: number) => (b === 0 ? "—" : (a / b).toFixed(3));
  const bs = base.summaries;
  const bv = base.v1;
  t2.push(
    `| ${fmt(n)} events | ${q(n, base.n)} | ${q(s.entries, bs.entries)} | ${q(s.syncBytes, bs.syncBytes)} | ${q(s.syncMs, bs.syncMs)} | ${q(s.syncBytes + s.pullBytes, bs.syncBytes + bs.pullBytes)} | ${q(s.syncMs + s.pullMs, bs.syncMs + bs.pullMs)} | ${q(v1.entries, bv.entries)} | ${q(v1.syncBytes + v1.pullBytes, bv.syncBytes + bv.pullBytes)} | ${q(v1.syncMs + v1.pullMs, bv.syncMs + bv.pullMs)} |`,
  );
}
console.log(`\n${t2.join("\n")}`);

const conversations = DIRECTS + large.length;
const measuredSummaries = results.reduce((a, r) => a + r.summaries.summaries, 0);
const perEntry = results.reduce((a, r) => a + r.summaries.summaryBytes, 0) / measuredSummaries;
// Each entry in the page costs its encoding plus the field's tag and length (2-3 bytes).
const listing = conversations * (perEntry + 3);
const pulledEvents = results.reduce((a, r) => a + r.summaries.pulled, 0);
const perPulledEvent = pulledEvents === 0 ? NaN : results.reduce((a, r) => a + r.summaries.pullBytes, 0) / pulledEvents;
const t3 = [
  "| **COMPUTED, not measured:** max-seq sync (OpenIM style) | events (conversations moved) | listing: entries | listing bytes | + pulls of every event | requests | total bytes | summaries device, measured: total bytes | requests | max-seq ÷ summaries, bytes |",
  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
];
for (const { n, moved, summaries: s } of results) {
  // Every moved conversation pulled (one-to-one ones too: max-seq sync delivers no event inline), at the measured bytes per pulled event.
  const pulls = n * perPulledEvent;
  const measured = s.syncBytes + s.pullBytes;
  t3.push(
    `| every conversation's max seq, every sync | ${fmt(n)} (${moved}) | ${fmt(conversations)} | ≈ ${bytes(listing)} | ≈ ${bytes(pulls)} | ≥ ${1 + moved} | ≈ ${bytes(listing + pulls)} | ${bytes(measured)} | ${s.pages + s.pulls} | ${((listing + pulls) / measured).toFixed(2)} |`,
  );
}
console.log(`\n${t3.join("\n")}`);

console.log(`
${machine()}. Reference server and every device in this one Node process over loopback TCP; SqliteStore on a file in ${tmpdir()} (WAL, group commit, fsync after commit: the defaults), read fan-out for channels and groups above 100 members (the default). U: ${DIRECTS} one-to-one conversations (write fan-out) and ${CHANNELS} channels (${CHANNEL_EXTRA} more subscribers each, seeded into the store) and ${GROUPS} groups of ${GROUP_EXTRA + 1} members (read fan-out); set-up ${setupSeconds.toFixed(1)} s. Each round: N events, half round-robin over ${MOVING_DIRECTS} one-to-one conversations (sent by the peers), half over the ${large.length} large ones (sent by their owner), ${DEPTH} in flight per sender, all acknowledged before U catches up; rounds run in the order shown, each from where the last ended. Catch-up: a fresh device of U authenticates without resume and pages sync_user from the cursor U held (server default page size, SYNC-3), then pulls each summarised conversation with sync_conversation from the seq it held (server default page size, SYNC-2), one request at a time. Bytes: every frame's encoded size as received (framing included). "Conversations moved" counts the conversations with events in the round. Verified in the run: each device holds every landed event exactly once, in seq order, and nothing else.
The max-seq line is arithmetic: ${fmt(conversations)} conversations × (${perEntry.toFixed(1)} B, the mean measured encoding of a summary entry, + 3 B of field tag and length) per sync, whatever changed (one request, if one frame holds it), plus a pull of every landed event at the summaries device's measured ${perPulledEvent.toFixed(1)} B per pulled event (page overhead included), at least one pull per moved conversation.`);

setTimeout(() => {
  console.error("bench/catch-up.bench.ts: handles still open after the run");
  process.exit(1);
}, 10_000).unref();
