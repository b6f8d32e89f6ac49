/**
 * The reference server over real sockets, against an MQTT broker doing the
 * same QoS 1 work (npm run bench:server). In one process, on loopback, with
 * every client in this process too (so each side's figures include its
 * clients' work; the two sides' clients do comparable work, see below):
 *
 * 1. Latency: sequential round trips, one message in flight, from the sender
 *    writing send_message (MQTT: PUBLISH) to the receiver's socket yielding
 *    the decoded deliver frame (MQTT: mqtt.js emitting "message"); timed
 *    with process.hrtime.bigint(). The next message is sent only once the
 *    previous one is complete (below). TCP and WebSocket.
 * 2. Throughput: complete messages per second with DEPTH (50) messages in
 *    flight, for a 1:1 conversation and a 100-member group. A message is
 *    complete when the sender has its acknowledgement (send_ack; PUBACK) and
 *    every device it is pushed to has received it (deliver; PUBLISH).
 * 3. Memory: idle, ready connections (imwire: authenticated, position set;
 *    MQTT: connected and subscribed), heap and RSS per connection after gc,
 *    beside bare TCP connections, with identical minimal clients.
 *
 * What each side does per message (the fairness notes printed under the
 * tables say the same):
 *
 * imwire (startReferenceServer, MemoryStore, default protocol options:
 * max_in_flight 100, receive_window 100): decodes and validates the frame,
 * checks membership, deduplicates by the idempotency key (one lookup, one
 * record kept), assigns the conversation's next gapless seq and a message id,
 * stores the event, appends one entry to every member's stream (kept: the
 * stream is what sync and redelivery read), and pushes a deliver to every
 * connected device of every member, the sender's own device included
 * (DLV-4: 2 pushes per 1:1 message, 100 in the 100-member group), within each
 * connection's receive window; then answers send_ack. Devices acknowledge
 * cumulatively with the reference client's policy (every 16 entries or
 * 100 ms), so the windows stay open. The clients are the reference client's
 * transports (dial(): framing, decoding and validation of every frame)
 * without its state machine.
 *
 * aedes 1.2.0 (Aedes.createBroker() defaults, in-memory aedes-persistence,
 * net.createServer around aedes.handle; WebSocket with ws's
 * createWebSocketStream, as aedes documents), mqtt.js 5.16 clients, MQTT
 * 3.1.1, QoS 1 publish (the publisher counts a message acknowledged on
 * PUBACK) and QoS 1 subscriptions (mqtt.js sends PUBACK per message). We use
 * clean: false (persistent) sessions for parity with a stream that
 * survives disconnection: aedes then copies every QoS 1 message into each
 * subscriber's outgoing queue before delivery, assigns it a packet id, and
 * drops it on that subscriber's PUBACK. It keeps nothing once acknowledged
 * (no history), assigns no sequence, and does not deduplicate (QoS 1 is at
 * least once). Rows marked "clean sessions" show aedes without that storage.
 * The 1:1 case is one publisher and one subscriber on a topic (1 push per
 * message; a row with the publisher also subscribed matches imwire's 2); the
 * group is one publisher and 100 subscribers on one topic (100 pushes, as
 * imwire's 100 members).
 *
 * Both servers' sockets have Nagle off (the reference server sets it; we set
 * it on aedes's accepted sockets and on mqtt.js's TCP socket, which leave it
 * on). Same payload: a 62-byte UTF-8 text. Cases are interleaved over 5
 * rounds after a warm-up round, with gc before each, so that drift in a
 * shared machine's load spreads over all of them.
 *
 * IMWIRE_BENCH_MS sets the time per case (default 5000, split over the
 * rounds); IMWIRE_BENCH_CONNECTIONS the idle connections per kind (2000).
 */
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer as createTcpServer, Socket, type AddressInfo, type Server as NetServer } from "node:net";
import { Aedes } from "aedes";
import { connectAsync, type MqttClient } from "mqtt";
import { WebSocketServer, createWebSocketStream } from "ws";
import { ConversationKind } from "../src/gen/imwire/v1/conversation_pb.js";
import type { Frame } from "../src/gen/imwire/v1/frame_pb.js";
import { startReferenceServer, type ReferenceServer } from "../src/server/reference-server.js";
import { MemoryStore } from "../src/store/memory-store.js";
import { ImwireDevice } from "./support/imwire-device.js";
import { openBareTcp, openIdleImwire, openIdleMqtt } from "./support/idle-connections.js";
import { machine } from "./support/runner.js";

const timeMs = Number(process.env.IMWIRE_BENCH_MS ?? 5000);
const idleConnections = Number(process.env.IMWIRE_BENCH_CONNECTIONS ?? 2000);
const ROUNDS = 5;
const WARMUP_MS = Math.min(1000, timeMs / ROUNDS);
/** Messages in flight in the throughput cases: half of the reference server's max_in_flight (100). */
const DEPTH = 50;
const GROUP_SIZE = 100;
const SECRET = "bench-secret";
const TEXT = "Running ten minutes late — order me a flat white, please ☕";
const TEXT_BYTES = Buffer.byteLength(TEXT);
const CONTENT = { kind: { case: "text" as const, value: { text: TEXT } } };

const gc = (globalThis as { gc?: () => void }).gc!;
if (!gc) throw new Error("run with node --expose-gc (npm run bench:server does)");

// ---- the driver: one rig, N messages in flight, completion accounting ---------

/** What a rig reports to the driver. */
interface Sink {
  /** The sender got the next acknowledgement (send_ack, PUBACK); they come in order. */
  ack(): void;
  /** Receiver `r` got its next message (each connection delivers in order). */
  push(receiver: number): void;
}

interface Rig {
  readonly label: string;
  /** Pushes that complete a message. */
  readonly receivers: number;
  /** The receiver whose pushes time the latency: another user's device. */
  readonly latencyReceiver: number;
  /** Bytes of one push on the wire, as last seen. */
  pushBytes: number;
  bind(sink: Sink): void;
  send(k: number): void;
  close(): Promise<void>;
}

interface Outcome {
  readonly messages: number;
  readonly seconds: number;
  readonly cpuMicros: number;
}

const RING = 1024; // > DEPTH: a receiver is never more than DEPTH messages ahead of completion

class Driver implements Sink {
  readonly rig: Rig;
  #sent = 0;
  #acked = 0;
  #completed = 0;
  readonly #received: number[];
  readonly #pushes = new Uint32Array(RING);
  readonly #sentAt = new BigInt64Array(RING);
  #running = false;
  #deadline = 0n;
  #samples: number[] | undefined;
  #finish: (() => void) | undefined;

  constructor(rig: Rig) {
    this.rig = rig;
    this.#received = new Array<number>(rig.receivers).fill(0);
    rig.bind(this);
  }

  /** Keep `depth` messages in flight for `ms`; resolves once everything sent is complete. */
  run(depth: number, ms: number, samples?: number[]): Promise<Outcome> {
    if (this.#completed !== this.#sent) throw new Error("a run started while messages were in flight");
    return new Promise((resolve) => {
      // Every message sent before the deadline counts, over the time until the last of them is
      // complete: completions come in bursts (the server answers a burst of sends with a burst of
      // pushes), so a count cut at the deadline would depend on where the deadline falls in a burst.
      const startCompleted = this.#completed;
      const cpu = process.cpuUsage();
      const start = process.hrtime.bigint();
      this.#samples = samples;
      this.#deadline = start + BigInt(Math.round(ms * 1e6));
      this.#running = true;
      this.#finish = () => {
        if (this.#completed !== this.#sent) return;
        const used = process.cpuUsage(cpu);
        this.#finish = undefined;
        resolve({ messages: this.#completed - startCompleted, seconds: Number(process.hrtime.bigint() - start) / 1e9, cpuMicros: used.user + used.system });
      };
      for (let i = 0; i < depth; i++) this.#sendNext();
    });
  }

  /** Messages sent so far, warm-up included. */
  get sent(): number {
    return this.#sent;
  }

  ack(): void {
    this.#acked++;
    this.#advance();
  }

  push(receiver: number): void {
    const j = this.#received[receiver]!++;
    if (j >= this.#sent) throw new Error(`${this.rig.label}: receiver ${receiver} got message ${j} of ${this.#sent} sent`);
    this.#pushes[j % RING]!++;
    if (receiver === this.rig.latencyReceiver && this.#samples) this.#samples.push(Number(process.hrtime.bigint() - this.#sentAt[j % RING]!));
    this.#advance();
  }

  #sendNext(): void {
    const k = this.#sent++;
    this.#sentAt[k % RING] = process.hrtime.bigint();
    this.rig.send(k);
  }

  #advance(): void {
    while (this.#completed < this.#acked && this.#pushes[this.#completed % RING] === this.rig.receivers) {
      this.#pushes[this.#completed % RING] = 0;
      this.#completed++;
      if (this.#running && process.hrtime.bigint() >= this.#deadline) this.#running = false;
      if (this.#running) this.#sendNext();
      else this.#finish?.();
    }
  }
}

// ---- imwire rigs ----------------------------------------------------------------

class ImwireRig implements Rig {
  readonly label: string;
  readonly receivers: number;
  readonly latencyReceiver = 1;
  pushBytes = 0;
  readonly #devices: ImwireDevice[];
  readonly #conversationId: string;

  private constructor(label: string, devices: ImwireDevice[], conversationId: string) {
    this.label = label;
    this.#devices = devices;
    this.#conversationId = conversationId;
    this.receivers = devices.length; // every member's device, the sender's included (DLV-4)
  }

  /** One device per user, `users[0]` sending; a DIRECT conversation for two users, else a group of all of them. */
  static async open(label: string, url: string, users: string[]): Promise<ImwireRig> {
    const devices: ImwireDevice[] = [];
    for (const user of users) devices.push(await ImwireDevice.connect(url, user, "d", SECRET));
    const answer = await devices[0]!.request({
      case: "openConversation",
      value:
        users.length === 2
          ? { kind: ConversationKind.DIRECT, userIds: [users[1]!] }
          : { kind: ConversationKind.GROUP, userIds: users.slice(1), title: label, clientConversationId: `bench-${label}` },
    });
    if (answer.body.case !== "conversationOpened") throw new Error(`open_conversation answered ${answer.body.case}`);
    return new ImwireRig(label, devices, answer.body.value.conversation!.conversationId);
  }

  bind(sink: Sink): void {
    this.#devices.forEach((device, r) => {
      let expected = 0;
      device.onMessage = (frame: Frame, size: number) => {
        // Each device must get every message, in order, once (a wrong benchmark must not pass).
        const event = frame.body.case === "deliver" && frame.body.value.body.case === "event" ? frame.body.value.body.value : undefined;
        if (event?.conversationId !== this.#conversationId || event.body.case !== "message" || event.body.value.clientMessageId !== `m${expected++}`) {
          throw new Error(`${this.label}: device ${r} got an unexpected message`);
        }
        this.pushBytes = size + 1; // + the length prefix (1 byte under 128, 2 above)
        if (size >= 128) this.pushBytes++;
        sink.push(r);
      };
    });
    this.#devices[0]!.onAnswer = (frame) => {
      if (frame.body.case !== "sendAck") throw new Error(`${this.label}: send answered ${frame.body.case}`);
      sink.ack();
    };
  }

  send(k: number): void {
    this.#devices[0]!.send({ case: "sendMessage", value: { conversationId: this.#conversationId, clientMessageId: `m${k}`, content: CONTENT } });
  }

  async close(): Promise<void> {
    await Promise.all(this.#devices.map((d) => d.close()));
  }
}

// ---- MQTT rigs ------------------------------------------------------------------

async function mqttClient(url: string, clientId: string, clean: boolean): Promise<MqttClient> {
  const client = await connectAsync(url, { clientId, clean, protocolVersion: 4, reconnectPeriod: 0, keepalive: 60 });
  if (client.stream instanceof Socket) client.stream.setNoDelay(true);
  return client;
}

class MqttRig implements Rig {
  readonly label: string;
  readonly receivers: number;
  readonly latencyReceiver = 0;
  pushBytes = 0;
  readonly #publisher: MqttClient;
  readonly #subscribers: MqttClient[];
  readonly #topic: string;
  #sink: Sink | undefined;

  private constructor(label: string, publisher: MqttClient, subscribers: MqttClient[], topic: string) {
    this.label = label;
    this.#publisher = publisher;
    this.#subscribers = subscribers;
    this.#topic = topic;
    this.receivers = subscribers.length;
  }

  /** One publisher and `subscribers` subscribers on one topic, all QoS 1; with `echo` the publisher subscribes too. */
  static async open(label: string, url: string, name: string, subscribers: number, options: { clean: boolean; echo?: boolean }): Promise<MqttRig> {
    const topic = `bench/${name}`;
    const publisher = await mqttClient(url, `${name}-pub`, options.clean);
    const subs: MqttClient[] = [];
    for (let i = 0; i < subscribers; i++) subs.push(await mqttClient(url, `${name}-sub${i}`, options.clean));
    if (options.echo) subs.push(publisher);
    for (const sub of subs) {
      const granted = await sub.subscribeAsync(topic, { qos: 1 });
      if (granted[0]?.qos !== 1) throw new Error(`${label}: subscription not granted at QoS 1`);
    }
    return new MqttRig(label, publisher, subs, topic);
  }

  bind(sink: Sink): void {
    this.#sink = sink;
    this.#subscribers.forEach((client, r) => {
      client.on("message", (_topic, payload, packet) => {
        if (payload.length !== TEXT_BYTES || packet.qos !== 1) throw new Error(`${this.label}: subscriber ${r} got an unexpected message`);
        this.pushBytes = 1 + (packet.length! < 128 ? 1 : 2) + packet.length!;
        sink.push(r);
      });
    });
  }

  send(_k: number): void {
    this.#publisher.publish(this.#topic, TEXT, { qos: 1 }, (error) => {
      if (error) throw error;
      this.#sink!.ack();
    });
  }

  async close(): Promise<void> {
    await Promise.all([this.#publisher, ...this.#subscribers.filter((c) => c !== this.#publisher)].map((c) => c.endAsync()));
  }
}

// ---- servers ----------------------------------------------------------------------

function listen(server: NetServer | HttpServer): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
  });
}

function closeServer(server: NetServer | HttpServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !condition(); waited += 10) {
    if (waited > 10_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const imwire: ReferenceServer = await startReferenceServer({ tcp: { port: 0 }, ws: { port: 0 }, store: new MemoryStore(), secret: SECRET });
const broker = await Aedes.createBroker();
const mqttTcp = createTcpServer((socket) => {
  socket.setNoDelay(true);
  broker.handle(socket);
});
const mqttTcpPort = await listen(mqttTcp);
const mqttHttp = createHttpServer();
const mqttWss = new WebSocketServer({ server: mqttHttp });
mqttWss.on("connection", (ws, request) => broker.handle(createWebSocketStream(ws), request));
const mqttWsPort = await listen(mqttHttp);
const imwireTcpPort = Number(new URL(imwire.urls.tcp!).port);

// ---- 3. idle connections (first, in a fresh process, so RSS is not reused memory) --------

interface MemoryRow {
  readonly label: string;
  readonly open: number;
  readonly heap: number;
  readonly rss: number;
}

async function settle(): Promise<NodeJS.MemoryUsage> {
  await new Promise((resolve) => setTimeout(resolve, 100));
  gc();
  gc();
  return process.memoryUsage();
}

/** Open `n` connections (50 at a time) and keep them; the memory they added, after gc. */
async function idleSet(label: string, n: number, openOne: (i: number) => Promise<Socket>, count: () => number, held: Socket[]): Promise<MemoryRow> {
  const before = await settle();
  for (let i = 0; i < n; i += 50) held.push(...(await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, j) => openOne(i + j)))));
  await until(() => count() >= n, `${n} ${label} connections`);
  const after = await settle();
  return { label, open: count(), heap: (after.heapUsed - before.heapUsed) / n, rss: (after.rss - before.rss) / n };
}

const bareServerSockets = new Set<Socket>();
const bare = createTcpServer((socket) => {
  socket.setNoDelay(true);
  bareServerSockets.add(socket);
  socket.on("data", () => {});
  socket.on("error", () => {});
  socket.on("close", () => bareServerSockets.delete(socket));
});
const barePort = await listen(bare);
const idleSockets: Socket[] = [];
// All three sets stay open until the last is measured: each set's RSS is fresh memory, not memory another set freed.
const memory: MemoryRow[] = [
  await idleSet("bare TCP connection (Node net.Socket at each end; the baseline)", idleConnections, () => openBareTcp(barePort), () => bareServerSockets.size, idleSockets),
  await idleSet("imwire: authenticated, delivery position set", idleConnections, (i) => openIdleImwire(imwireTcpPort, `idle${i}`, SECRET), () => imwire.runner.connectionCount, idleSockets),
  await idleSet("aedes: connected (clean: false), subscribed at QoS 1", idleConnections, (i) => openIdleMqtt(mqttTcpPort, `idle${i}`, `idle/${i}`, false), () => broker.connectedClients, idleSockets),
];
for (const socket of idleSockets) socket.destroy();
await until(() => bareServerSockets.size === 0 && imwire.runner.connectionCount === 0 && broker.connectedClients === 0, "the idle connections to close");
await closeServer(bare);

// ---- 1, 2. latency and throughput ---------------------------------------------------

const mqttTcpUrl = `mqtt://127.0.0.1:${mqttTcpPort}`;
const mqttWsUrl = `ws://127.0.0.1:${mqttWsPort}/mqtt`;
const groupUsers = Array.from({ length: GROUP_SIZE }, (_, i) => `member${i}`);
const rigs = {
  imwireTcp: new Driver(await ImwireRig.open("imwire 1:1 tcp", imwire.urls.tcp!, ["alice", "bob"])),
  imwireWs: new Driver(await ImwireRig.open("imwire 1:1 ws", imwire.urls.ws!, ["carol", "dave"])),
  imwireGroup: new Driver(await ImwireRig.open("imwire group", imwire.urls.tcp!, groupUsers)),
  mqttTcp: new Driver(await MqttRig.open("aedes 1:1 tcp", mqttTcpUrl, "dm-tcp", 1, { clean: false })),
  mqttWs: new Driver(await MqttRig.open("aedes 1:1 ws", mqttWsUrl, "dm-ws", 1, { clean: false })),
  mqttEcho: new Driver(await MqttRig.open("aedes 1:1 echo", mqttTcpUrl, "dm-echo", 1, { clean: false, echo: true })),
  mqttClean: new Driver(await MqttRig.open("aedes 1:1 clean", mqttTcpUrl, "dm-clean", 1, { clean: true })),
  mqttGroup: new Driver(await MqttRig.open("aedes group", mqttTcpUrl, "group", GROUP_SIZE, { clean: false })),
  mqttGroupClean: new Driver(await MqttRig.open("aedes group clean", mqttTcpUrl, "group-clean", GROUP_SIZE, { clean: true })),
};

interface Case {
  readonly group: "latency tcp" | "latency ws" | "1:1" | "group";
  readonly name: string;
  readonly driver: Driver;
  readonly depth: number;
  /** The row the imwire row is divided by. */
  readonly reference?: boolean;
  /** Latency cases: each round's round-trip times, in ns. */
  readonly samples: number[][];
  readonly outcomes: Outcome[];
}

const cases: Case[] = [];
const add = (group: Case["group"], name: string, driver: Driver, depth: number, reference = false) => cases.push({ group, name, driver, depth, reference, samples: [], outcomes: [] });
add("latency tcp", "imwire reference server", rigs.imwireTcp, 1);
add("latency tcp", "aedes + mqtt.js, clean: false", rigs.mqttTcp, 1, true);
add("latency ws", "imwire reference server", rigs.imwireWs, 1);
add("latency ws", "aedes + mqtt.js, clean: false", rigs.mqttWs, 1, true);
add("1:1", "imwire reference server (2 pushes: receiver + sender's device)", rigs.imwireTcp, DEPTH);
add("1:1", "aedes + mqtt.js, clean: false (1 push)", rigs.mqttTcp, DEPTH, true);
add("1:1", "aedes + mqtt.js, clean: false, publisher also subscribed (2 pushes)", rigs.mqttEcho, DEPTH);
add("1:1", "aedes + mqtt.js, clean sessions (1 push, nothing stored)", rigs.mqttClean, DEPTH);
add("group", "imwire reference server (100 members, one device each)", rigs.imwireGroup, DEPTH);
add("group", "aedes + mqtt.js, clean: false (100 subscribers)", rigs.mqttGroup, DEPTH, true);
add("group", "aedes + mqtt.js, clean sessions (100 subscribers, nothing stored)", rigs.mqttGroupClean, DEPTH);

const heapBefore = (await settle()).heapUsed;
// A warm-up round (not recorded), then interleaved rounds, alternating the order.
for (const c of cases) {
  gc();
  await c.driver.run(c.depth, WARMUP_MS, c.depth === 1 ? [] : undefined);
}
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? cases : [...cases].reverse();
  for (const c of order) {
    gc();
    const samples: number[] = [];
    c.outcomes.push(await c.driver.run(c.depth, timeMs / ROUNDS, c.depth === 1 ? samples : undefined));
    if (c.depth === 1) c.samples.push(samples);
  }
}

const heapAfter = (await settle()).heapUsed;
for (const driver of Object.values(rigs)) await driver.rig.close();
await imwire.close();
await new Promise<void>((resolve) => broker.close(() => resolve()));
mqttWss.close();
await Promise.all([closeServer(mqttTcp), closeServer(mqttHttp)]);

// ---- report -----------------------------------------------------------------------

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function us(ns: number): string {
  return ns >= 10_000 ? `${(ns / 1000).toFixed(1)} µs` : `${(ns / 1000).toFixed(2)} µs`;
}

function rate(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return n.toFixed(0);
}

function bytes(n: number): string {
  return n >= 10_240 ? `${(n / 1024).toFixed(1)} KiB` : `${Math.round(n).toLocaleString("en-US")} B`;
}

const groupTitles: Record<Case["group"], string> = {
  "latency tcp": "1:1, TCP, one message in flight: sender writes → receiver's socket yields it",
  "latency ws": "1:1, WebSocket, one message in flight",
  "1:1": `1:1 conversation, TCP, ${DEPTH} messages in flight`,
  group: `${GROUP_SIZE}-member group, TCP, ${DEPTH} messages in flight`,
};

// Per round: the percentiles of its round trips; reported: the median over rounds (robust to a
// round that a shared machine's load slowed down, as in runner.ts).
const latency = cases.filter((c) => c.depth === 1).map((c) => {
  const rounds = c.samples.map((round) => [...round].sort((a, b) => a - b));
  return {
    c,
    p50: median(rounds.map((r) => percentile(r, 50))),
    p99: median(rounds.map((r) => percentile(r, 99))),
    mean: median(rounds.map((r) => r.reduce((a, b) => a + b, 0) / r.length)),
    count: rounds.reduce((a, r) => a + r.length, 0),
  };
});
const lines = ["| case | p50 | p99 | mean | round trips | imwire ÷ aedes, p50 | imwire ÷ aedes, p99 |", "|---|---:|---:|---:|---:|---:|---:|"];
let group = "";
for (const row of latency) {
  if (row.c.group !== group) {
    group = row.c.group;
    lines.push(`| **${groupTitles[row.c.group]}** | | | | | | |`);
  }
  const ref = latency.find((r) => r.c.group === row.c.group && r.c.reference)!;
  const ratio = row.c.reference ? ["", ""] : [(row.p50 / ref.p50).toFixed(2), (row.p99 / ref.p99).toFixed(2)];
  lines.push(`| ${row.c.name} | ${us(row.p50)} | ${us(row.p99)} | ${us(row.mean)} | ${row.count.toLocaleString("en-US")} | ${ratio[0]} | ${ratio[1]} |`);
}
console.log(lines.join("\n"));

const throughput = cases.filter((c) => c.depth > 1).map((c) => {
  const rates = c.outcomes.map((o) => o.messages / o.seconds);
  const perSecond = median(rates);
  return {
    c,
    perSecond,
    pushes: perSecond * c.driver.rig.receivers,
    cpu: median(c.outcomes.map((o) => o.cpuMicros / o.messages)) * 1000,
    range: `${rate(Math.min(...rates))}–${rate(Math.max(...rates))}`,
  };
});
const table = ["| case | messages/s | pushes/s | CPU/message | messages/s, rounds' range | imwire ÷ this row, messages/s |", "|---|---:|---:|---:|---:|---:|"];
group = "";
for (const row of throughput) {
  if (row.c.group !== group) {
    group = row.c.group;
    table.push(`| **${groupTitles[row.c.group]}** | | | | | |`);
  }
  const mine = throughput.find((r) => r.c.group === row.c.group && r.c.name.startsWith("imwire"))!;
  const ratio = row === mine ? "" : (mine.perSecond / row.perSecond).toFixed(2);
  table.push(`| ${row.c.name} | ${rate(row.perSecond)} | ${rate(row.pushes)} | ${us(row.cpu)} | ${row.range} | ${ratio} |`);
}
console.log(`\n${table.join("\n")}`);

const [baseline, imwireIdle, mqttIdle] = memory as [MemoryRow, MemoryRow, MemoryRow];
const mem = ["| idle connections | open | heap/connection | RSS/connection | heap above bare TCP | RSS above bare TCP |", "|---|---:|---:|---:|---:|---:|"];
for (const row of memory) {
  const above = row === baseline ? ["—", "—"] : [bytes(row.heap - baseline.heap), bytes(row.rss - baseline.rss)];
  mem.push(`| ${row.label} | ${row.open.toLocaleString("en-US")} | ${bytes(row.heap)} | ${bytes(row.rss)} | ${above[0]} | ${above[1]} |`);
}
console.log(`\n${mem.join("\n")}`);
const ratio = (a: number, b: number) => (a / b).toFixed(2);
console.log(
  `\nimwire ÷ aedes, per idle connection: heap ${ratio(imwireIdle.heap, mqttIdle.heap)} (${ratio(imwireIdle.heap - baseline.heap, mqttIdle.heap - baseline.heap)} above bare TCP), ` +
    `RSS ${ratio(imwireIdle.rss, mqttIdle.rss)} (${ratio(imwireIdle.rss - baseline.rss, mqttIdle.rss - baseline.rss)} above bare TCP).`,
);

const imwireMessages = rigs.imwireTcp.sent + rigs.imwireWs.sent + rigs.imwireGroup.sent;
const imwireEntries = (rigs.imwireTcp.sent + rigs.imwireWs.sent) * 2 + rigs.imwireGroup.sent * GROUP_SIZE;
const imwirePush = rigs.imwireTcp.rig.pushBytes;
const mqttPush = rigs.mqttTcp.rig.pushBytes;
console.log(`
${machine()}. Loopback; servers and clients in this one Node process (one thread), so every figure includes the clients' work. ${timeMs} ms per case over ${ROUNDS} interleaved rounds after a ${WARMUP_MS} ms warm-up, gc before each. Latency: each round's p50, p99 and mean of its round trips, median over rounds; "round trips" counts all rounds'. Throughput: per round, the messages sent during the round's time, all complete (sender acknowledged — send_ack / PUBACK — and every push received), ÷ the time until the last was complete; the median over rounds; pushes/s = messages/s × pushes per message; CPU/message = process user + system CPU ÷ messages (clients and garbage collection included), median over rounds.
imwire: the reference server (MemoryStore, default limits: max_in_flight 100, receive_window 100) per message validates, checks membership, deduplicates by idempotency key, assigns a gapless seq, stores the event and one stream entry per member (kept for sync), pushes deliver to every member's device including the sender's (DLV-4), answers send_ack; devices acknowledge cumulatively (every 16 entries or 100 ms, as the reference client). Clients: the reference transports (decode + validate every frame), no client state machine.
aedes 1.2.0 (defaults, in-memory persistence) with mqtt.js 5.16, MQTT 3.1.1, QoS 1 publish and subscriptions (a PUBACK per push). clean: false sessions, chosen for parity with imwire's stream: aedes copies each message into every subscriber's outgoing queue, and drops it on PUBACK; it keeps no history, assigns no sequence, deduplicates nothing (at least once). "clean sessions" rows store nothing. 1:1 = one publisher + one subscriber (the publisher-also-subscribed row matches imwire's 2 pushes); group = one publisher + ${GROUP_SIZE} subscribers (${GROUP_SIZE + 1} connections; imwire: ${GROUP_SIZE} connections, the sender being a member; ${GROUP_SIZE} pushes per message on both). Nagle off on every socket. Same ${TEXT_BYTES}-byte UTF-8 text; a push is ${imwirePush} bytes on imwire (deliver: cursor, prev_cursor, conversation id, seq, time, sender, message id, idempotency key, content) and ${mqttPush} on MQTT (PUBLISH: topic, packet id, payload).
The live heap grew by ${Math.round((heapAfter - heapBefore) / 2 ** 20)} MiB over the latency and throughput cases (after gc): the reference server's MemoryStore keeps every message it accepted (${imwireMessages.toLocaleString("en-US")}), stream entry (${imwireEntries.toLocaleString("en-US")}) and idempotency key, for sync and redelivery, while aedes drops a message once its subscribers acknowledge it. Sharing the process, both sides' cases pay the garbage collector for that heap; interleaving spreads it.
Idle connections: ${idleConnections.toLocaleString("en-US")} of each kind opened with the same minimal client (one net.Socket, no parser kept) and all held open together; after gc; "above bare TCP" subtracts the baseline row, leaving each server's own cost. imwire: hello, HMAC token, sync_user, delivery_ack (position set); MQTT: CONNECT (clean: false, keepalive 60 s, no authentication) and SUBSCRIBE at QoS 1.`);

// Everything is closed: the process exits by itself; if a handle were left open, say so instead of hanging.
setTimeout(() => {
  console.error("bench/server.bench.ts: handles still open after the run");
  process.exit(1);
}, 10_000).unref();
