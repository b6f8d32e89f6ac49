/**
 * The reference server on its durable store (SqliteStore on a file) against
 * NATS JetStream (file storage) doing the equivalent durable work (npm run
 * bench:durable): the baseline for "one node at full speed: durable group
 * commit" and, since issue 12, for read fan-out (CUR-7). In one process on
 * loopback, with every client in this process too; nats-server is a child
 * process started and killed here.
 *
 * 1. 1:1 with 50 messages in flight: acknowledged messages/s and send → ack
 *    latency (send_ack; PubAck), p50/p99, for three commit modes of the same
 *    server — one commit per request (groupCommit false, synchronous=FULL),
 *    group commit with the fsync in COMMIT (fsyncAfterCommit false,
 *    synchronous=FULL, the loop blocked while the disk works), group commit
 *    with the fsync after it, off the event loop (the default:
 *    synchronous=NORMAL, then an fsync of the WAL) — and JetStream. Cases
 *    interleaved over 5 rounds.
 * 2. A 500-member group (under read fan-out by default: above
 *    readFanOutMembers = 100), every member's device connected, and the same
 *    size with only 50 connected (pushing 500 frames per message bounds the
 *    first): messages/s with 50 in flight, send → ack and send → the last
 *    connected member's push; one message in flight (unloaded); user_entries
 *    and events rows written per message. Interleaved with the 1:1 cases.
 * 3. A broadcast channel (always under read fan-out): one post at a time,
 *    post → ack p50/p99 and post → the last connected subscriber's push, and
 *    the durable writes per post (user_entries rows added, events rows), at
 *    1,000 and 10,000 subscribers and 100,000 (issue 12's target: "acknowledged
 *    in < 10 ms with O(1) durable writes"), most of them offline.
 *
 * A message counts once it is acknowledged and every connected receiver has
 * it (as in server.bench.ts); the next is sent on each completion.
 *
 * IMWIRE_BENCH_MS sets the time per case (default 5000, split over the
 * rounds); IMWIRE_BENCH_CONNECTED the most channel subscribers connected at
 * once (default 5000; each in-process connection takes two descriptors);
 * IMWIRE_BENCH_100K=0 skips the 100,000-subscriber attempt. No assertions on
 * timings: a wrong run (error frame, gap, lost message) throws instead.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { AckPolicy, DeliverPolicy, StorageType, connect, consumerOpts, type JetStreamClient, type JetStreamManager, type NatsConnection } from "nats";
import { ConversationKind, Role } from "../src/gen/imwire/v1/conversation_pb.js";
import type { Frame } from "../src/gen/imwire/v1/frame_pb.js";
import { startReferenceServer } from "../src/server/reference-server.js";
import { SqliteStore } from "../src/store/sqlite-store.js";
import { FileJournal } from "../src/store/journal/file-journal.js";
import { AckPipeline, type RunResult } from "./support/ack-pipeline.js";
import { ImwireDevice } from "./support/imwire-device.js";
import { procWriteBytes, startNatsServer } from "./support/nats-server.js";
import { machine } from "./support/runner.js";
import { fail, inBatches } from "./support/async-batches.js";

const timeMs = Number(process.env.IMWIRE_BENCH_MS ?? 5000);
const ROUNDS = 5;
const WARMUP_MS = Math.min(1000, timeMs / ROUNDS);
const DEPTH = 50;
const GROUP_SIZE = 500;
/** The group with most members offline: pushes per message no longer bound the rate. */
const GROUP_CONNECTED = 50;
const CHANNEL_SIZES = (process.env.IMWIRE_BENCH_CHANNELS ?? "1000,10000").split(",").map(Number);
const BIG_CHANNEL = 100_000;
const try100k = process.env.IMWIRE_BENCH_100K !== "0";
const SECRET = "bench-secret";
const TEXT = "Running ten minutes late — order me a flat white, please ☕";
const TEXT_BYTES = Buffer.byteLength(TEXT);
const PAYLOAD = new TextEncoder().encode(TEXT);
const CONTENT = { kind: { case: "text" as const, value: { text: TEXT } } };
/** FLOW-4 lifted: this measures the store, not the token buckets (1,000/s per connection would cap 1:1). */
const UNLIMITED = { perSecond: 1e9, burst: 1e9 };

const gc = (globalThis as { gc?: () => void }).gc!;
if (!gc) throw new Error("run with node --expose-gc (npm run bench:durable does)");

/** Soft limit on open descriptors: every in-process imwire connection takes two (client and server side). */
function openFileLimit(): number {
  const line = readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith("Max open files"));
  return line ? Number(line.split(/\s+/)[3]) : 1024;
}
const connectedCap = Math.min(Number(process.env.IMWIRE_BENCH_CONNECTED ?? 5000), Math.floor((openFileLimit() - 2000) / 2));


// ---- the two servers ---------------------------------------------------------------

const dir = mkdtempSync(join(tmpdir(), "imwire-durable-"));
const dbPath = join(dir, "imwire.db");
const store = new SqliteStore(dbPath);
const imwire = await startReferenceServer({ tcp: { port: 0 }, store, secret: SECRET, protocol: { rateLimits: { connection: UNLIMITED, user: UNLIMITED } } });
const imwireUrl = imwire.urls.tcp!;
// Group commit as before pipelining: each batch's COMMIT fsyncs (synchronous=FULL), the event loop waiting for the disk.
const fsyncInCommitDbPath = join(dir, "imwire-fsync-in-commit.db");
const fsyncInCommitStore = new SqliteStore(fsyncInCommitDbPath);
const imwireFsyncInCommit = await startReferenceServer({
  tcp: { port: 0 },
  store: fsyncInCommitStore,
  secret: SECRET,
  fsyncAfterCommit: false,
  protocol: { rateLimits: { connection: UNLIMITED, user: UNLIMITED } },
});
// The same server with one commit per request, as before group commit: today's figure beside the old one, in one run.
const singleDbPath = join(dir, "imwire-single.db");
const singleStore = new SqliteStore(singleDbPath);
const imwireSingle = await startReferenceServer({ tcp: { port: 0 }, store: singleStore, secret: SECRET, groupCommit: false, protocol: { rateLimits: { connection: UNLIMITED, user: UNLIMITED } } });
// The write-behind journal (--journal): the working set in memory, each batch one append and one fdatasync.
const journalPath = join(dir, "imwire.journal");
const journalOpened = await FileJournal.open(journalPath);
const imwireJournal = await startReferenceServer({ tcp: { port: 0 }, store: journalOpened.store, secret: SECRET, protocol: { rateLimits: { connection: UNLIMITED, user: UNLIMITED } } });
/** What the journal was given to write, in the row counter's terms: stream entries, events, idempotency keys. */
const journalCounter = () => {
  const w = journalOpened.journal.writes;
  return { entries: w.get("appendUserEntry") ?? 0, events: w.get("appendEvent") ?? 0, keys: w.get("recordDedup") ?? 0 };
};
/** A second, read-only connection to a store's file, to count what each case wrote. */
const rowCounter = (path: string) => {
  const reader = new Database(path, { readonly: true, fileMustExist: true });
  return () => ({
    entries: reader.prepare("SELECT count(*) FROM user_entries").pluck().get() as number,
    events: reader.prepare("SELECT count(*) FROM events").pluck().get() as number,
    keys: reader.prepare("SELECT count(*) FROM dedup_keys").pluck().get() as number,
  });
};
const countRows = rowCounter(dbPath);
const nats = await startNatsServer(join(dir, "nats"));
const natsConnect = async (name: string): Promise<NatsConnection> => connect({ servers: nats.url, name, maxReconnectAttempts: 0, reconnect: false });
const control = await natsConnect("control");
const jsm: JetStreamManager = await control.jetstreamManager();
const addStream = (name: string, subject: string) => jsm.streams.add({ name, subjects: [subject], storage: StorageType.File, num_replicas: 1 });
/** Offline receivers: durable pull consumers that never pull (an offline subscriber's stored position). */
const addOfflineConsumers = (stream: string, subject: string, n: number, prefix = "off") =>
  inBatches(n, 50, (i) => jsm.consumers.add(stream, { durable_name: `${prefix}${i}`, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.New, filter_subject: subject }));

// ---- imwire rigs ---------------------------------------------------------------------

interface Rig {
  readonly pipeline: AckPipeline;
  /** Bytes written to storage by the process that stores (this one for imwire, nats-server for JetStream). */
  readonly writeBytes: () => number;
  readonly kind: "imwire" | "jetstream";
  /** The rows of the store it writes (imwire only). */
  readonly countRows?: () => { entries: number; events: number; keys: number };
  close(): Promise<void>;
}

let clientIds = 0;

/** `sender` sends to `conversationId`; every device in `receivers` (the sender's included) gets each message. */
function imwireRig(label: string, sender: ImwireDevice, receivers: ImwireDevice[], conversationId: string, close: () => Promise<void>, counter = countRows): Rig {
  const pipeline = new AckPipeline(label, receivers.length);
  const pending = new Map<number, number>();
  receivers.forEach((device, r) => {
    device.onMessage = (frame: Frame) => {
      const event = frame.body.case === "deliver" && frame.body.value.body.case === "event" ? frame.body.value.body.value : undefined;
      if (event?.conversationId !== conversationId) fail(new Error(`${label}: device ${r} got a message of another conversation`));
      pipeline.push(r);
    };
  });
  sender.onAnswer = (frame) => {
    if (frame.body.case !== "sendAck") return fail(new Error(`${label}: send answered ${frame.body.case}`));
    const k = pending.get(frame.requestId)!;
    pending.delete(frame.requestId);
    pipeline.ack(k);
  };
  pipeline.bind((k) => {
    const requestId = sender.send({ case: "sendMessage", value: { conversationId, clientMessageId: `m${++clientIds}`, content: CONTENT } });
    pending.set(requestId, k);
  });
  return { pipeline, writeBytes: () => procWriteBytes("self"), kind: "imwire", countRows: counter, close };
}

const connectDevice = (user: string, url = imwireUrl) => ImwireDevice.connect(url, user, "d", SECRET);

async function openImwire(owner: ImwireDevice, body: Parameters<ImwireDevice["request"]>[0]): Promise<string> {
  const answer = await owner.request(body);
  if (answer.body.case !== "conversationOpened") throw new Error(`open_conversation answered ${answer.body.case}`);
  return answer.body.value.conversation!.conversationId;
}

async function imwireDirect(label: string, url = imwireUrl, counter = countRows): Promise<Rig> {
  const [a, b] = [await connectDevice(`${label}-a`, url), await connectDevice(`${label}-b`, url)];
  const id = await openImwire(a, { case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: [b.userId] } });
  return imwireRig(label, a, [a, b], id, async () => void (await Promise.all([a.close(), b.close()])), counter);
}

/** A group of `size` members of which the first `connected` (the sender's included) stay connected. */
async function imwireGroup(label: string, size: number, connected = size): Promise<Rig> {
  const devices = await inBatches(size, 100, (i) => connectDevice(`${label}-${i}`));
  const id = await openImwire(devices[0]!, {
    case: "openConversation",
    value: { kind: ConversationKind.GROUP, userIds: devices.slice(1).map((d) => d.userId), title: label, clientConversationId: label },
  });
  // The joined entries pushed first (so no late push counts as a message), then the offline members leave.
  await new Promise((resolve) => setTimeout(resolve, 200));
  await Promise.all(devices.slice(connected).map((d) => d.close()));
  const live = devices.slice(0, connected);
  return imwireRig(label, live[0]!, live, id, async () => void (await Promise.all(live.map((d) => d.close()))));
}

// ---- JetStream rigs -----------------------------------------------------------------

/** An ordered push consumer (ephemeral, in memory, flow control, no acks) delivering new messages on `subject` to receiver r. */
async function orderedConsumer(js: JetStreamClient, subject: string, pipeline: AckPipeline, r: number): Promise<void> {
  const opts = consumerOpts();
  opts.orderedConsumer();
  opts.deliverNew();
  opts.callback((error, msg) => {
    if (error) return fail(error);
    if (!msg) return;
    if (msg.data.length !== TEXT_BYTES) return fail(new Error(`${pipeline.label}: receiver ${r} got an unexpected message`));
    pipeline.push(r);
  });
  await js.subscribe(subject, opts);
}

/** One publisher; `consumers` connections with one ordered consumer each, the first on the publisher's own connection when `ownConsumer`. */
async function jetstreamRig(label: string, stream: string, consumers: number, ownConsumer: boolean, offline = 0): Promise<Rig> {
  const subject = `${stream.toLowerCase()}.m`;
  await addStream(stream, subject);
  await addOfflineConsumers(stream, subject, offline);
  const pipeline = new AckPipeline(label, consumers);
  const publisher = await natsConnect(`${label}-pub`);
  const js = publisher.jetstream();
  const others = await inBatches(consumers - (ownConsumer ? 1 : 0), 100, (i) => natsConnect(`${label}-${i}`));
  const receivers = ownConsumer ? [publisher, ...others] : others;
  await inBatches(receivers.length, 100, (r) => orderedConsumer(receivers[r]!.jetstream(), subject, pipeline, r));
  pipeline.bind((k) => {
    // msgID: JetStream's duplicate window, as imwire's idempotency key (one stored message per id).
    js.publish(subject, PAYLOAD, { msgID: `${label}-${k}` }).then(
      () => pipeline.ack(k),
      (error) => fail(error),
    );
  });
  return { pipeline, writeBytes: () => nats.writeBytes(), kind: "jetstream", close: async () => void (await Promise.all([publisher, ...others].map((c) => c.close()))) };
}

// ---- 1, 2: 1:1 and group, interleaved ---------------------------------------------------

interface Case {
  readonly table: "1:1" | "group";
  /** Cases of one key are compared with its reference (JetStream) row. */
  readonly key: string;
  readonly name: string;
  readonly rig: Rig;
  readonly depth: number;
  readonly reference?: boolean;
  readonly results: RunResult[];
  entries: number;
  events: number;
  keys: number;
  bytes: number;
}

const rigs = {
  imwireDirect: await imwireDirect("dm"),
  imwireDirectFsyncInCommit: await imwireDirect("dm-fsync-in-commit", imwireFsyncInCommit.urls.tcp!, rowCounter(fsyncInCommitDbPath)),
  imwireDirectSingle: await imwireDirect("dm-single", imwireSingle.urls.tcp!, rowCounter(singleDbPath)),
  imwireDirectJournal: await imwireDirect("dm-journal", imwireJournal.urls.tcp!, journalCounter),
  jsDirect: await jetstreamRig("js-dm", "DM", 0, false),
  jsDirect2: await jetstreamRig("js-dm2", "DM2", 2, true),
  imwireGroup: await imwireGroup("grp", GROUP_SIZE),
  jsGroup: await jetstreamRig("js-grp", "GRP", GROUP_SIZE, true),
  imwireGroupPartial: await imwireGroup("grp-part", GROUP_SIZE, GROUP_CONNECTED),
  jsGroupPartial: await jetstreamRig("js-grp-part", "GRPPART", GROUP_CONNECTED, true, GROUP_SIZE - GROUP_CONNECTED),
};
const cases: Case[] = [];
const add = (table: Case["table"], key: string, name: string, rig: Rig, depth: number, reference = false) =>
  cases.push({ table, key, name, rig, depth, reference, results: [], entries: 0, events: 0, keys: 0, bytes: 0 });
add("1:1", "dm", "imwire, group commit, fsync after COMMIT off the event loop (default; 2 pushes: receiver + sender's device)", rigs.imwireDirect, DEPTH);
add("1:1", "dm", "imwire, group commit, fsync in COMMIT (fsyncAfterCommit false, synchronous=FULL)", rigs.imwireDirectFsyncInCommit, DEPTH);
add("1:1", "dm", "imwire, one commit per request (groupCommit false, synchronous=FULL)", rigs.imwireDirectSingle, DEPTH);
add("1:1", "dm", "imwire, write-behind journal (--journal: working set in memory, one append + fdatasync per batch)", rigs.imwireDirectJournal, DEPTH);
add("1:1", "dm", "JetStream file stream, js.publish awaiting PubAck (no consumer)", rigs.jsDirect, DEPTH, true);
add("1:1", "dm", "JetStream, + 2 ordered consumers (receiver + sender's connection)", rigs.jsDirect2, DEPTH);
const partial = `${GROUP_CONNECTED} of ${GROUP_SIZE}`;
add("group", "all-50", `imwire, ${GROUP_SIZE} members, all connected, ${DEPTH} in flight`, rigs.imwireGroup, DEPTH);
add("group", "all-50", `JetStream, ${GROUP_SIZE} ordered consumers, ${DEPTH} in flight`, rigs.jsGroup, DEPTH, true);
add("group", "all-1", `imwire, ${GROUP_SIZE} members, all connected, 1 in flight`, rigs.imwireGroup, 1);
add("group", "all-1", `JetStream, ${GROUP_SIZE} ordered consumers, 1 in flight`, rigs.jsGroup, 1, true);
add("group", "part-50", `imwire, ${GROUP_SIZE} members, ${partial} connected, ${DEPTH} in flight`, rigs.imwireGroupPartial, DEPTH);
add("group", "part-50", `JetStream, ${GROUP_CONNECTED} ordered consumers + ${GROUP_SIZE - GROUP_CONNECTED} durable not pulling, ${DEPTH} in flight`, rigs.jsGroupPartial, DEPTH, true);
add("group", "part-1", `imwire, ${GROUP_SIZE} members, ${partial} connected, 1 in flight`, rigs.imwireGroupPartial, 1);
add("group", "part-1", `JetStream, ${GROUP_CONNECTED} ordered consumers + ${GROUP_SIZE - GROUP_CONNECTED} durable not pulling, 1 in flight`, rigs.jsGroupPartial, 1, true);

console.error(`durable bench: ${cases.length} interleaved cases, ${timeMs} ms each over ${ROUNDS} rounds; store in ${dir}`);
for (const c of cases) {
  gc();
  await c.rig.pipeline.run(c.depth, { ms: WARMUP_MS });
}
for (let round = 0; round < ROUNDS; round++) {
  for (const c of round % 2 === 0 ? cases : [...cases].reverse()) {
    gc();
    const rows = c.rig.countRows?.() ?? countRows();
    const bytes = c.rig.writeBytes();
    c.results.push(await c.rig.pipeline.run(c.depth, { ms: timeMs / ROUNDS }));
    // Let the server finish what the last acknowledgement left (delivery acks, JetStream's buffered writes), then count.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const after = c.rig.countRows?.() ?? countRows();
    c.bytes += c.rig.writeBytes() - bytes;
    if (c.rig.kind === "imwire") {
      c.entries += after.entries - rows.entries;
      c.events += after.events - rows.events;
      c.keys += after.keys - rows.keys;
    }
  }
  console.error(`  round ${round + 1}/${ROUNDS} done`);
}
for (const rig of Object.values(rigs)) await rig.close();

// ---- 3: the broadcast channel ---------------------------------------------------------

interface ChannelRow {
  readonly name: string;
  readonly subscribers: number;
  readonly connected: number;
  readonly kind: "imwire" | "jetstream";
  readonly result: RunResult;
  /** user_entries rows added per post (0 under read fan-out) and events rows (1). */
  readonly entriesPerPost: number;
  readonly eventsPerPost: number;
  readonly bytesPerPost: number;
  readonly setupSeconds: number;
  readonly note?: string;
}
const channelRows: ChannelRow[] = [];
let estimate100k: string | undefined;

/** Posts one at a time for the case's time (at least `min`, at most `max` posts). */
async function posts(pipeline: AckPipeline, min: number, max: number): Promise<RunResult> {
  gc();
  const first = await pipeline.run(1, { count: min });
  if (first.messages >= max || first.seconds * 1000 >= timeMs) return first;
  const rest = await pipeline.run(1, { ms: timeMs - first.seconds * 1000, count: max - min });
  return { messages: first.messages + rest.messages, seconds: first.seconds + rest.seconds, cpuMicros: first.cpuMicros + rest.cpuMicros, ack: [...first.ack, ...rest.ack], lastPush: [...first.lastPush, ...rest.lastPush] };
}

{
  const owner = await connectDevice("ch-owner");
  const channelId = await openImwire(owner, { case: "openConversation", value: { kind: ConversationKind.CHANNEL, title: "news", clientConversationId: "news" } });
  const connected: ImwireDevice[] = [];
  let subscribed = 0;
  const subscribe = async (i: number, keep: boolean) => {
    const device = await connectDevice(`sub${i}`);
    await openImwire(device, { case: "openConversation", value: { conversationId: channelId } });
    if (keep) connected.push(device);
    else await device.close();
  };
  const measure = async (subscribers: number, setupSeconds: number, min: number, max: number, note?: string) => {
    const receivers = [owner, ...connected];
    const rig = imwireRig(`channel-${subscribers}`, owner, receivers, channelId, async () => {});
    const rows = countRows();
    const bytes = procWriteBytes("self");
    const result = await posts(rig.pipeline, min, max);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const after = countRows();
    channelRows.push({
      name: `imwire, ${subscribers.toLocaleString("en-US")} subscribers`,
      subscribers,
      connected: connected.length,
      kind: "imwire",
      result,
      entriesPerPost: (after.entries - rows.entries) / result.messages,
      eventsPerPost: (after.events - rows.events) / result.messages,
      bytesPerPost: (procWriteBytes("self") - bytes) / result.messages,
      setupSeconds,
      ...(note ? { note } : {}),
    });
    console.error(`  imwire channel, ${subscribers} subscribers (${connected.length} connected): ${result.messages} posts`);
  };
  for (const size of CHANNEL_SIZES) {
    const start = performance.now();
    // Subscribed through the protocol (open_conversation by conversation_id), 100 at a time; devices beyond the cap leave once subscribed.
    const from = subscribed;
    await inBatches(size - from, 100, (j) => subscribe(from + j, from + j < connectedCap));
    subscribed = size;
    await measure(size, (performance.now() - start) / 1000, 3, 200);
  }
  if (try100k) {
    // 90,000 more subscribers written into the store directly, in one transaction (not through open_conversation:
    // no joined stream entry, no connection), as subscriptions made earlier by devices now offline.
    const start = performance.now();
    store.transaction(() => {
      for (let i = subscribed; i < BIG_CHANNEL; i++) store.setMembership({ conversationId: channelId, userId: `sub${i}`, role: Role.SUBSCRIBER, firstVisibleSeq: 1, lastVisibleSeq: 0 });
    });
    const seeded = (performance.now() - start) / 1000;
    // One post first; under read fan-out it is O(1) in subscribers, so as many posts as the smaller channels when fast,
    // three when slow (a store writing per subscriber), none more when it took over 20 s.
    const rig = imwireRig("channel-probe", owner, [owner, ...connected], channelId, async () => {});
    const probe = await rig.pipeline.run(1, { count: 1 });
    const note = `${(BIG_CHANNEL - subscribed).toLocaleString("en-US")} of them seeded into the store directly, offline`;
    if (probe.seconds < 1) {
      await measure(BIG_CHANNEL, seeded, 3, 200, note);
    } else if (probe.seconds < 20) {
      await measure(BIG_CHANNEL, seeded, 3, 5, note);
    } else {
      estimate100k = `one post to ${BIG_CHANNEL.toLocaleString("en-US")} subscribers took ${probe.seconds.toFixed(1)} s to acknowledge (a single probe, not repeated)`;
    }
  }
  await Promise.all([owner, ...connected].map((d) => d.close()));
}
{
  let stream = 0;
  for (const size of CHANNEL_SIZES) {
    const start = performance.now();
    const live = Math.min(size, connectedCap);
    const rig = await jetstreamRig(`js-ch-${size}`, `CH${++stream}`, live + 1, true); // + the owner's own connection, as imwire's owner device
    // Subscribers beyond the cap: durable pull consumers that never pull (an offline subscriber's stored position).
    const offline = size - live;
    await inBatches(offline, 50, (i) =>
      jsm.consumers.add(`CH${stream}`, { durable_name: `off${i}`, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.New, filter_subject: `ch${stream}.m` }),
    );
    const setupSeconds = (performance.now() - start) / 1000;
    const bytes = nats.writeBytes();
    const result = await posts(rig.pipeline, 3, 200);
    await new Promise((resolve) => setTimeout(resolve, 20));
    channelRows.push({
      name: `JetStream, ${size.toLocaleString("en-US")} consumers`,
      subscribers: size,
      connected: live,
      kind: "jetstream",
      result,
      entriesPerPost: 1,
      eventsPerPost: 1,
      bytesPerPost: (nats.writeBytes() - bytes) / result.messages,
      setupSeconds,
      note: offline > 0 ? `${offline.toLocaleString("en-US")} durable pull consumers not pulling` : undefined,
    } as ChannelRow);
    console.error(`  JetStream channel, ${size} consumers (${live} connected): ${result.messages} posts`);
    await rig.close();
  }
}

// ---- teardown --------------------------------------------------------------------------

await control.close();
await imwire.close();
await imwireSingle.close();
await imwireJournal.close();
await journalOpened.journal.close();
await imwireFsyncInCommit.close();
singleStore.close();
fsyncInCommitStore.close();
store.close();
await nats.stop();
rmSync(dir, { recursive: true, force: true });

// ---- report -----------------------------------------------------------------------------

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
/** Per round: the percentile of its messages; reported: the median over rounds (as server.bench.ts). */
const roundsPercentile = (results: readonly RunResult[], key: "ack" | "lastPush", p: number) => median(results.map((r) => percentile(r[key], p)));
function ms(value: number): string {
  if (value >= 1000) return `${(value / 1000).toFixed(2)} s`;
  return value >= 10 ? `${value.toFixed(1)} ms` : `${value.toFixed(2)} ms`;
}
function rate(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return n.toFixed(0);
}
function bytes(n: number): string {
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  return n >= 10_240 ? `${(n / 1024).toFixed(1)} KiB` : `${Math.round(n).toLocaleString("en-US")} B`;
}

const summary = cases.map((c) => {
  const rates = c.results.map((r) => r.messages / r.seconds);
  const messages = c.results.reduce((a, r) => a + r.messages, 0);
  return {
    c,
    perSecond: median(rates),
    range: `${rate(Math.min(...rates))}–${rate(Math.max(...rates))}`,
    ack50: roundsPercentile(c.results, "ack", 50),
    ack99: roundsPercentile(c.results, "ack", 99),
    last50: c.rig.pipeline.receivers > 0 ? roundsPercentile(c.results, "lastPush", 50) : NaN,
    last99: c.rig.pipeline.receivers > 0 ? roundsPercentile(c.results, "lastPush", 99) : NaN,
    cpu: median(c.results.map((r) => r.cpuMicros / r.messages)),
    bytesPerMessage: c.bytes / messages,
    rowsPerMessage: c.rig.kind === "imwire" ? (c.events + 2 * c.entries + c.keys) / messages : NaN,
    entriesPerMessage: c.entries / messages,
    eventsPerMessage: c.events / messages,
    messages,
  };
});
const reference = (key: string) => summary.find((s) => s.c.key === key && s.c.reference)!;
/** The key's first imwire row: the server's default configuration. */
const imwireRow = (key: string) => summary.find((s) => s.c.key === key && s.c.rig.kind === "imwire")!;

const t1 = [
  `| 1:1, TCP, ${DEPTH} in flight | acked messages/s | rounds' range | send→ack p50 | p99 | process CPU/message | written to storage/message | store rows/message | imwire ÷ row, messages/s | imwire ÷ row, p50 |`,
  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
];
for (const s of summary.filter((s) => s.c.table === "1:1")) {
  const mine = imwireRow("dm");
  const ratio = s === mine ? ["", ""] : [(mine.perSecond / s.perSecond).toFixed(2), (mine.ack50 / s.ack50).toFixed(2)];
  const rows = Number.isNaN(s.rowsPerMessage) ? "1 message" : `${s.rowsPerMessage.toFixed(1)}`;
  t1.push(`| ${s.c.name} | ${rate(s.perSecond)} | ${s.range} | ${ms(s.ack50)} | ${ms(s.ack99)} | ${(s.cpu / 1000).toFixed(3)} ms | ${bytes(s.bytesPerMessage)} | ${rows} | ${ratio[0]} | ${ratio[1]} |`);
}
console.log(t1.join("\n"));

const t2 = [
  `| ${GROUP_SIZE}-member group, TCP, read fan-out (server default above ${100} members) | acked messages/s | rounds' range | pushes/s | send→ack p50 | p99 | send→last connected member's push p50 | p99 | user_entries rows/message | events rows/message | written to storage/message | imwire ÷ JetStream, messages/s | imwire ÷ JetStream, last push p50 |`,
  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
];
for (const s of summary.filter((s) => s.c.table === "group")) {
  const ref = reference(s.c.key);
  const mine = imwireRow(s.c.key);
  const ratio = s === ref ? ["", ""] : [(mine.perSecond / ref.perSecond).toFixed(2), (mine.last50 / ref.last50).toFixed(2)];
  t2.push(
    `| ${s.c.name} | ${rate(s.perSecond)} | ${s.range} | ${rate(s.perSecond * s.c.rig.pipeline.receivers)} | ${ms(s.ack50)} | ${ms(s.ack99)} | ${ms(s.last50)} | ${ms(s.last99)} | ${rowsCell(s.c, s.entriesPerMessage)} | ${rowsCell(s.c, s.eventsPerMessage)} | ${bytes(s.bytesPerMessage)} | ${ratio[0]} | ${ratio[1]} |`,
  );
}
console.log(`\n${t2.join("\n")}`);
function rowsCell(c: Case, perMessage: number): string {
  return c.rig.kind === "imwire" ? perMessage.toFixed(2) : "—";
}

const t3 = [
  "| broadcast channel (read fan-out), one post at a time | subscribers connected | posts | post→ack p50 | p99 | max | post→last connected subscriber p50 | p99 | user_entries rows added/post | events rows/post | written to storage/post | set-up | imwire ÷ JetStream, ack p50 | imwire ÷ JetStream, last push p50 |",
  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
];
for (const row of channelRows) {
  const r = row.result;
  const ref = channelRows.find((x) => x.kind === "jetstream" && x.subscribers === row.subscribers);
  const ratio = row.kind === "imwire" && ref ? [(percentile(r.ack, 50) / percentile(ref.result.ack, 50)).toFixed(2), (percentile(r.lastPush, 50) / percentile(ref.result.lastPush, 50)).toFixed(2)] : ["", ""];
  if (row.kind === "imwire" && !ref) ratio[0] = ratio[1] = "— (not run)";
  const entries = row.kind === "imwire" ? row.entriesPerPost.toLocaleString("en-US", { maximumFractionDigits: 2 }) : "1 message, no per-consumer write";
  const events = row.kind === "imwire" ? row.eventsPerPost.toLocaleString("en-US", { maximumFractionDigits: 2 }) : "—";
  t3.push(
    `| ${row.name}${row.note ? ` (${row.note})` : ""} | ${row.connected.toLocaleString("en-US")} | ${r.messages} | ${ms(percentile(r.ack, 50))} | ${ms(percentile(r.ack, 99))} | ${ms(Math.max(...r.ack))} | ${ms(percentile(r.lastPush, 50))} | ${ms(percentile(r.lastPush, 99))} | ${entries} | ${events} | ${bytes(row.bytesPerPost)} | ${row.setupSeconds.toFixed(1)} s | ${ratio[0]} | ${ratio[1]} |`,
  );
}
const at10k = channelRows.find((x) => x.kind === "imwire" && x.subscribers === 10_000);
const measured100k = channelRows.some((x) => x.subscribers === BIG_CHANNEL);
if (!measured100k && at10k) {
  const k = BIG_CHANNEL / at10k.subscribers;
  t3.push(
    `| **ESTIMATE, not measured:** imwire, ${BIG_CHANNEL.toLocaleString("en-US")} subscribers, ×${k} the 10,000 row (linear in stream entries) | — | — | ≈ ${ms(percentile(at10k.result.ack, 50) * k)} | — | — | — | ≈ ${(at10k.entriesPerPost * k).toLocaleString("en-US", { maximumFractionDigits: 0 })} | ≈ ${bytes(at10k.bytesPerPost * k)} | — | | |`,
  );
}
console.log(`\n${t3.join("\n")}`);
if (estimate100k) console.log(`\n100,000 subscribers: ${estimate100k}.`);
const big = channelRows.find((x) => x.kind === "imwire" && x.subscribers === BIG_CHANNEL);
if (big) {
  const [p50, p99] = [percentile(big.result.ack, 50), percentile(big.result.ack, 99)];
  const writes = big.entriesPerPost + big.eventsPerPost;
  const met = p99 < 10 && writes <= 2;
  console.log(
    `\nIssue 12's target, 100,000 subscribers ("acknowledged in < 10 ms with O(1) durable writes"): post→ack p50 ${ms(p50)}, p99 ${ms(p99)} over ${big.result.messages} posts; ${big.entriesPerPost.toFixed(2)} user_entries + ${big.eventsPerPost.toFixed(2)} events rows per post — ${met ? "met" : "NOT met"} (p99 < 10 ms and at most 2 rows). Separately, post→last of the ${big.connected.toLocaleString("en-US")} connected subscribers' push: p50 ${ms(percentile(big.result.lastPush, 50))}, p99 ${ms(percentile(big.result.lastPush, 99))}.`,
  );
}

const dm = imwireRow("dm");
const grp = imwireRow("all-50");
console.log(`
${machine()}. nats-server ${nats.version} (child process), nats.js 2.29, better-sqlite3 12.6. Loopback; imwire's server and every client (both sides') in this one Node process, one thread; nats-server is a separate Go process with its own threads, so on 2 cores it runs beside this process rather than sharing its thread: JetStream's figures include no server CPU in "process CPU/message". Both stores in one temp dir under ${tmpdir()} (the same filesystem), removed at the end.
1:1 and group: ${timeMs} ms per case over ${ROUNDS} interleaved rounds after a ${WARMUP_MS} ms warm-up, gc before each; a message is complete when acknowledged and every receiver has it, the next sent on each completion; per round the messages sent ÷ the time until the last was complete; latency = each round's p50/p99, median over rounds. Channel: one post at a time for up to ${timeMs} ms (at least 3 posts), p50 and max over all posts.
imwire: startReferenceServer on SqliteStore (WAL) in the temp dir, three commit modes, one server each: the default, group commit (one commit for the requests of one event-loop turn, every answer and push held until it is durable) with synchronous=NORMAL and the WAL fsynced after COMMIT off the event loop (CommitGate, SqliteStore.syncCommitted), the next batch filling meanwhile; fsyncAfterCommit false, group commit with synchronous=FULL (COMMIT fsyncs, the event loop waiting); groupCommit false, one commit per request with synchronous=FULL. Default protocol options (readFanOutMembers 100) except FLOW-4's rate limits, lifted (1,000 requests/s per connection would cap the 1:1 case: this measures the store). Per message one transaction: idempotency-key lookup and record, membership check, gapless seq, the event (full ConversationEvent encoding), and, under write fan-out (1:1), one stream entry per member plus its head-cursor update (users row); under read fan-out (the group and the channel), no per-member row: the event's position (CUR-7) in its own row; send_ack (and every push) only once durable. Measured store rows per 1:1 message: ${dm.rowsPerMessage.toFixed(1)} (${dm.entriesPerMessage.toFixed(1)} stream entries); ${GROUP_SIZE}-member group: ${grp.entriesPerMessage.toFixed(2)} user_entries rows and ${grp.eventsPerMessage.toFixed(2)} events rows per message. Devices: the reference transports (dial()) with the reference client's cumulative-ack policy, no features offered (a version 1.0 device: bench/support/imwire-device.ts); in the first group every one of the ${GROUP_SIZE} members is connected, one device each, and the sender's own device gets the push too (DLV-4), so "last member's push" is the last of ${GROUP_SIZE}; in the second, members ${GROUP_CONNECTED + 1}–${GROUP_SIZE} disconnect after the group is made, so it is the last of ${GROUP_CONNECTED}.
JetStream: nats-server -js, a file-storage stream per case (R1, limits retention, default 2 min duplicate window), js.publish with a Nats-Msg-Id (deduplicated like imwire's idempotency key) awaiting its PubAck. nats-server 2.9.10 has no sync_interval setting (the config parser rejects it: "unknown field"); its file store writes each message to the block file before the PubAck but does not fsync it (strace -f -c of nats-server 2.9.10 on this machine, 50 publishes in flight for 3 s: 34,917 PubAcks, 34,920 pwrite64, 0 fsync or fdatasync; later versions document a 2 min sync_interval), so a PubAck here means "in the OS page cache" (survives a process crash, not a power loss), while imwire's send_ack means fsynced. sync always (2.10+) could not be chosen on this version. Equivalent delivery: an ordered push consumer per receiver (nats.js consumerOpts().orderedConsumer(): ephemeral, state in memory, no acks, flow control), each on its own connection as a device is — JetStream stores the message once whatever the number of consumers and writes no per-consumer state for ordered consumers; there is no per-receiver durable cursor as imwire's stream entry, and no gapless per-conversation seq (the stream seq is per stream). The 1:1 row with 2 consumers matches imwire's 2 pushes; the group's publisher connection has its own consumer, as imwire's sender device.
Channel: imwire subscribers subscribe through the protocol (open_conversation by conversation_id), 100 at a time; at most ${connectedCap.toLocaleString("en-US")} stay connected (two descriptors each in this process; IMWIRE_BENCH_CONNECTED), the rest disconnect after subscribing (and, at 100,000, the rest are seeded into the store directly); under read fan-out an offline subscriber costs no write per post; the owner's device gets the post too. JetStream: the same number of connected ordered consumers (+ the owner's connection), the rest as durable pull consumers that never pull (stored position, nothing delivered; such consumers write nothing per post until they pull). "Written to storage" = /proc/<pid>/io write_bytes of the storing process (this one for imwire, nats-server for JetStream) over the case ÷ messages: bytes of page cache the process dirtied (WAL frames and checkpoints for SQLite; message blocks, indexes and consumer state for JetStream). The kernel counts a page once while it stays dirty, so many small appends to one page (JetStream's block file between its flushes) count once: a lower bound for JetStream, close to exact for SQLite's WAL, whose frames are new pages. Store rows/message counts rows in the file (events + stream entries + their users-row head-cursor updates + idempotency keys), read through a second, read-only connection.`);

setTimeout(() => {
  console.error("bench/durable.bench.ts: handles still open after the run");
  process.exit(1);
}, 10_000).unref();
