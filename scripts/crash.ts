// Crash test of the reference server on its SQLite store or its journal (npm run crash [-- --seed S --kills N --users N
// --devices-per-user N --db PATH --store sqlite|journal]): kill -9 `imwire serve` at random moments under multi-user,
// multi-device load, restart it on the same database file and port, let the reference clients reconnect,
// and at the end check SEQ-1, SEQ-2, SEQ-4, IDEM-2 and DLV-3 end to end:
//
// - every acknowledged message (send_ack received) is stored exactly once, at the seq and with the
//   message id its acknowledgement named, in a gapless conversation sequence: read back by a fresh device
//   of every user (sync_user from nothing, then sync_conversation of everything);
// - every device's application got every event of every conversation it is in, in seq order, none twice,
//   each the same event the fresh device read;
// - a retry with a remembered client_message_id is answered with the first send_ack, during the run and
//   when every acknowledged message is sent again at the end.
//
// The server is a real process (`node --import tsx src/cli/run.ts serve`), killed with SIGKILL; the
// clients are the reference client (ClientRunner over ClientMachine) on loopback TCP.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { randomBytes } from "node:crypto";
import { issueToken } from "../src/auth/hmac-token.js";
import { ClientDriver } from "../src/client/client-driver.js";
import { dial } from "../src/transport/dial.js";
import { ScriptedConnection, Transcript } from "../src/conformance/suite/scripted-connection.js";
import { ConversationKind, type Conversation } from "../src/gen/imwire/v1/conversation_pb.js";
import type { Frame } from "../src/gen/imwire/v1/frame_pb.js";
import type { ConversationEvent, SendAck } from "../src/gen/imwire/v1/message_pb.js";
import { ClientMachine } from "../src/machines/client/client-machine.js";
import { brokenClient, type ClientBreakage } from "../test/support/broken-clients.js";
import type { ClientEvent, ClientOutput } from "../src/machines/client/types.js";
import { seededRandom } from "../src/conformance/codec-harness/splits.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SECRET = "imwire-crash-test-secret";

export interface CrashOptions {
  readonly seed: number;
  /** How many times the server is killed with SIGKILL. */
  readonly kills: number;
  readonly users: number;
  readonly devicesPerUser: number;
  /** The SQLite file (or journal file); by default one in a new temporary directory, removed after a run that passes. */
  readonly db?: string;
  /** Which durable store the server runs on: SQLite (default) or the write-behind journal (--journal). */
  readonly store?: "sqlite" | "journal";
  /** Load between the devices being back and the kill: uniform in [minLoadMs, maxLoadMs]. */
  readonly minLoadMs?: number;
  readonly maxLoadMs?: number;
  /** Sends each device keeps outstanding (unacknowledged). */
  readonly outstanding?: number;
  /** A device waits up to this long between sends. */
  readonly paceMs?: number;
  /** Load after the server's last restart, before the drain. */
  readonly tailMs?: number;
  /** How long the devices may take to drain and agree after the last restart. */
  readonly drainTimeoutMs?: number;
  /**
   * Self-check: break the system on purpose, to see the checks catch it. "memory": the server keeps
   * nothing across a restart (--memory); "newIdPerRetry": the broken client (test/support/broken-clients.ts) that retries a send
   * under a new client_message_id.
   */
  readonly mutant?: Mutant;
  /** Progress lines. */
  readonly log?: (line: string) => void;
}

export const MUTANTS = ["memory", "newIdPerRetry"] as const;
export type Mutant = (typeof MUTANTS)[number];

export interface CrashReport {
  readonly seed: number;
  readonly dbPath: string;
  kills: number;
  restarts: number;
  sent: number;
  acknowledged: number;
  /** Sends whose send_message went out more than once (on successive connections), same client_message_id. */
  retried: number;
  /** Retries answered with a send_ack older than the retry: the first attempt was committed before a crash. */
  retriedAnsweredFromMemory: number;
  failedSends: number;
  unacknowledged: number;
  /** Events each device's application received and that were checked against the fresh devices' view. */
  readonly deliveredPerDevice: Map<string, number>;
  /** Events the fresh devices read (per user, summed). */
  auditedEvents: number;
  /** Acknowledged messages sent again at the end with their client_message_id. */
  idempotencyChecked: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
  /** Events that differ between what a device got, what the fresh devices read and what send_ack said. */
  mismatched: number;
  /** Events of a device's conversations its application never got. */
  incomplete: number;
  /** Retries answered with another seq, message id or time than the first answer. */
  idempotencyMismatches: number;
  /** Snapshots a device was sent after its first (only a new epoch or a lost cursor would cause one). */
  resyncs: number;
  /** Sends whose first attempt went out while another of the same device and conversation, sent later, was stored first. */
  senderOrderInversions: number;
  ms: number;
  readonly failures: string[];
}


export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class TimeoutError extends Error {}

/** Poll until `done()` holds; throws after `timeoutMs` with `what()` in the message. */
export async function waitFor(done: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() >= deadline) throw new TimeoutError(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await sleep(20);
  }
}

export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(`timed out after ${timeoutMs} ms: ${what}`)), timeoutMs);
    }),
  ]);
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

// ---- the server process -----------------------------------------------------

/**
 * `imwire serve` from the sources, on one database file (or, "postgres", one PostgreSQL URL and a Redis bus,
 * as a node of a cluster) and one port, started and SIGKILLed again and again.
 */
export class ServerProcess {
  #child: ChildProcess | undefined;
  #killing = false;
  readonly log: string[] = [];
  /** Set when the server exits without being killed. */
  unexpectedExit: string | undefined;
  startMs: number[] = [];

  constructor(
    readonly db: string,
    readonly port: number,
    readonly store: "memory" | "sqlite" | "journal" | "postgres" = "sqlite",
    /** With "postgres": the redis:// URL of the cluster's bus. */
    readonly bus?: string,
  ) {}

  #storeArgs(): string[] {
    switch (this.store) {
      case "memory":
        return ["--memory"];
      case "journal":
        return ["--journal", this.db];
      case "postgres":
        return ["--store", this.db, ...(this.bus === undefined ? [] : ["--bus", this.bus])];
      default:
        return ["--db", this.db];
    }
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  get url(): string {
    return `tcp://127.0.0.1:${this.port}`;
  }

  #note(line: string): void {
    this.log.push(line);
    if (this.log.length > 400) this.log.splice(0, this.log.length - 400);
  }

  tail(lines = 25): string {
    return this.log.slice(-lines).join("\n");
  }

  async start(): Promise<void> {
    // The port was just released by the killed process: a few attempts cover a slow release.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#startOnce();
        return;
      } catch (error) {
        if (attempt >= 3 || !/EADDRINUSE/.test(String(error))) throw error;
        await sleep(200 * attempt);
      }
    }
  }

  #startOnce(): Promise<void> {
    const began = Date.now();
    const child = spawn(
      process.execPath,
      ["--import", "tsx", join(ROOT, "src", "cli", "run.ts"), "serve", ...this.#storeArgs(), "--tcp", `127.0.0.1:${this.port}`, "--ws", "off", "--heartbeat-ms", "1000", "--secret", SECRET],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    this.#child = child;
    this.#killing = false;
    this.#note(`--- spawned pid ${child.pid}`);
    let buffered = "";
    let ready = false;
    return withTimeout(
      new Promise<void>((resolveStart, reject) => {
        const onData = (chunk: Buffer) => {
          buffered += chunk.toString();
          const lines = buffered.split("\n");
          buffered = lines.pop()!;
          for (const line of lines) {
            this.#note(line);
            if (!ready && line.includes("listening on tcp://")) {
              ready = true;
              this.startMs.push(Date.now() - began);
              resolveStart();
            }
          }
        };
        child.stdout!.on("data", onData);
        child.stderr!.on("data", onData);
        child.once("error", reject);
        child.once("exit", (code, signal) => {
          this.#note(`--- pid ${child.pid} exited (${signal ?? code})`);
          if (this.#child === child) this.#child = undefined;
          if (!ready) reject(new Error(`the server exited (${signal ?? code}) before listening:\n${this.tail()}`));
          else if (!this.#killing) this.unexpectedExit ??= `the server (pid ${child.pid}) exited by itself (${signal ?? code}):\n${this.tail()}`;
        });
      }),
      30_000,
      `the server to listen on ${this.url}`,
    ).catch((error: unknown) => {
      if (!ready) child.kill("SIGKILL");
      throw error;
    });
  }

  /** kill -9, and wait for the process to be gone. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child) throw new Error("no server to kill");
    this.#killing = true;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill("SIGKILL");
    await withTimeout(exited, 10_000, `server pid ${child.pid} to exit after SIGKILL`);
  }

  /** Stop for good: SIGTERM (go_away, close), SIGKILL if it lingers. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#killing = true;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill("SIGTERM");
    try {
      await withTimeout(exited, 5_000, "the server to stop");
    } catch {
      child.kill("SIGKILL");
      await withTimeout(exited, 5_000, "the server to die").catch(() => undefined);
    }
  }
}

// ---- the devices ------------------------------------------------------------

interface Delivered {
  readonly seq: bigint;
  readonly event: ConversationEvent;
}

interface SendRecord {
  readonly clientMessageId: string;
  readonly conversationId: string;
  readonly text: string;
  /** The order the application asked for sends, per device. */
  readonly order: number;
  ack?: SendAck;
  failed?: string;
}

/** Where a device's connection number `connection` dials: one server, or (a cluster) a node picked per connection. */
export type DeviceAddress = string | ((connection: number) => string);

/**
 * One device: the reference client, load, and what its application saw. The reference client is
 * ClientRunner's ClientDriver over dial(); built here from those two parts so that a device of a cluster
 * may dial another node on each reconnect (ClientRunner takes one fixed url).
 */
export class Device {
  readonly key: string;
  readonly runner: ClientDriver;
  /** Every authentication the server answered: when, and on which address (the last one dialled). */
  readonly authentications: { readonly at: number; readonly url: string }[] = [];
  #dialled = "";
  readonly delivered = new Map<string, Delivered[]>();
  readonly sends = new Map<string, SendRecord>();
  /** Every send_message frame written, per client_message_id: how many, and when the last went. */
  readonly attempts = new Map<string, { count: number; lastAt: number }>();
  /** Every send_ack frame received, per client_message_id. */
  readonly acksSeen = new Map<string, SendAck[]>();
  readonly problems: string[] = [];
  /** Answers to operations other than sends. */
  readonly answers = new Map<string, Frame["body"]>();
  duplicates = 0;
  outOfOrder = 0;
  resyncs = 0;
  #nextId = 0;
  #pumpTimer: NodeJS.Timeout | undefined;
  loadOn = false;
  readonly transitions: string[] = [];

  constructor(
    readonly userId: string,
    readonly deviceId: string,
    address: DeviceAddress,
    readonly conversations: readonly string[],
    readonly random: () => number,
    readonly tag: string,
    readonly options: { readonly outstanding: number; readonly paceMs: number; readonly mutations?: ClientBreakage },
  ) {
    this.key = `${userId}/${deviceId}`;
    const machine = new ClientMachine(
      { deviceId, reconnectBaseMs: 100, reconnectMaxMs: 1_500 },
      {
        token: () => issueToken({ userId, deviceId, expiresAtMs: 0 }, SECRET),
        random,
        newId: () => `${tag}.${deviceId}.${++this.#nextId}`,
        // The last moves of the client's state machine, for a report on a device that did not come back.
        onTransition: ({ from, input, to }) => {
          this.transitions.push(`${new Date().toISOString().slice(17, 23)} ${from} -${input}-> ${to} (${this.#dialled})`);
          if (this.transitions.length > 12) this.transitions.shift();
        },
      },
      brokenClient(options.mutations ?? {})(),
    );
    // Watch the frames the reference client writes and reads, without changing it.
    const takeOutputs = machine.takeOutputs.bind(machine);
    machine.takeOutputs = (): ClientOutput[] => {
      const outputs = takeOutputs();
      for (const output of outputs) if (output.kind === "send") this.#wrote(output.frame);
      return outputs;
    };
    const frameReceived = machine.frameReceived.bind(machine);
    machine.frameReceived = (frame: Frame, now: number): void => {
      if (frame.body.case === "authenticated") this.authentications.push({ at: Date.now(), url: this.#dialled });
      if (frame.body.case === "sendAck") {
        const ack = frame.body.value;
        const seen = this.acksSeen.get(ack.clientMessageId) ?? [];
        seen.push(ack);
        this.acksSeen.set(ack.clientMessageId, seen);
      }
      frameReceived(frame, now);
    };
    const connect = (connection: number) => {
      this.#dialled = typeof address === "string" ? address : address(connection);
      return dial(this.#dialled, { timeoutMs: 2_000 });
    };
    this.runner = new ClientDriver(machine, { connect, onEvent: (event) => this.#onEvent(event) });
  }

  get machine(): ClientMachine {
    return this.runner.machine;
  }

  #wrote(frame: Frame): void {
    if (frame.body.case !== "sendMessage") return;
    const id = frame.body.value.clientMessageId;
    const attempt = this.attempts.get(id) ?? { count: 0, lastAt: 0 };
    attempt.count++;
    attempt.lastAt = Date.now();
    this.attempts.set(id, attempt);
  }

  #onEvent(event: ClientEvent): void {
    switch (event.kind) {
      case "event": {
        const list = this.delivered.get(event.conversationId) ?? [];
        this.delivered.set(event.conversationId, list);
        const last = list.at(-1)?.seq ?? 0n;
        const seq = event.event.seq;
        if (seq <= last) {
          this.duplicates++;
          this.problems.push(`duplicate: ${this.key} got seq ${seq} of ${event.conversationId} after seq ${last}`);
        } else if (seq !== last + 1n) {
          this.outOfOrder++;
          this.problems.push(`out of order: ${this.key} got seq ${seq} of ${event.conversationId} right after seq ${last}`);
        }
        list.push({ seq, event: event.event });
        return;
      }
      case "sent": {
        const record = this.sends.get(event.clientMessageId);
        if (!record) this.problems.push(`${this.key}: send_ack for a send it never made (${event.clientMessageId})`);
        else if (record.ack) this.problems.push(`${this.key}: a second "sent" for ${event.clientMessageId}`);
        else record.ack = event.ack;
        return;
      }
      case "done":
        this.answers.set(event.operationId, event.answer);
        return;
      case "failed": {
        const record = this.sends.get(event.operationId);
        if (record) record.failed = `${event.code}: ${event.message}`;
        this.problems.push(`${this.key}: operation ${event.operationId} failed (${event.code}: ${event.message})`);
        return;
      }
      case "resynced":
        if (++this.resyncs > 1) this.problems.push(`${this.key}: resynchronised from a snapshot again (epoch ${event.epoch}): the stream lost its place`);
        return;
      case "status":
        if (event.status === "replaced" || event.status === "unauthenticated") this.problems.push(`${this.key}: status ${event.status}`);
        return;
      default:
        return;
    }
  }

  start(): void {
    this.runner.start();
  }

  startLoad(): void {
    this.loadOn = true;
    this.#pump();
  }

  stopLoad(): void {
    this.loadOn = false;
    clearTimeout(this.#pumpTimer);
  }

  #pump(): void {
    if (!this.loadOn) return;
    if (this.machine.pendingOperations < this.options.outstanding && this.conversations.length > 0) {
      const conversationId = this.conversations[Math.floor(this.random() * this.conversations.length)]!;
      const order = this.sends.size + 1;
      const text = `${this.key} #${order}`;
      const id = this.runner.act((m, now) => m.send(conversationId, { kind: { case: "text", value: { text } } }, now));
      this.sends.set(id, { clientMessageId: id, conversationId, text, order });
    }
    this.#pumpTimer = setTimeout(() => this.#pump(), 1 + Math.floor(this.random() * this.options.paceMs));
  }

  stop(): void {
    this.stopLoad();
    this.runner.stop();
  }
}

// ---- the fresh devices' view ------------------------------------------------

function token(userId: string, deviceId: string): string {
  return issueToken({ userId, deviceId, expiresAtMs: 0 }, SECRET);
}

async function login(url: string, userId: string, deviceId: string, transcript: Transcript): Promise<{ connection: ScriptedConnection; maxInFlight: number }> {
  const connection = await ScriptedConnection.open(url, `${userId}/${deviceId}`, transcript, { timeoutMs: 5_000 });
  const welcome = await connection.request({ case: "hello", value: { versions: [1], deviceId } }, 5_000);
  if (welcome.body.case !== "welcome") throw new Error(`${userId}/${deviceId}: hello answered ${welcome.body.case}`);
  const maxInFlight = welcome.body.value.maxInFlight;
  connection.keepAlive(Math.max(100, Math.floor(welcome.body.value.heartbeatIntervalMs / 3)));
  const answer = await connection.request({ case: "authenticate", value: { token: token(userId, deviceId) } }, 5_000);
  if (answer.body.case !== "authenticated") throw new Error(`${userId}/${deviceId}: authenticate answered ${answer.body.case}`);
  return { connection, maxInFlight };
}

/** A fresh device of `userId`: a snapshot from nothing, then every event of every conversation it lists. */
export async function audit(url: string, userId: string, transcript: Transcript): Promise<{ conversations: Map<string, Conversation>; events: Map<string, ConversationEvent[]>; fouls: string[] }> {
  const { connection } = await login(url, userId, `audit-${randomBytes(4).toString("hex")}`, transcript);
  try {
    const conversations = new Map<string, Conversation>();
    let epoch = "";
    let after = "";
    for (;;) {
      const answer = await connection.request({ case: "syncUser", value: { afterCursor: 0n, epoch, limit: 0, snapshotAfter: after } }, 10_000);
      if (answer.body.case !== "userPage" || !answer.body.value.snapshot) throw new Error(`${userId}: a fresh sync_user was answered ${answer.body.case} without a snapshot`);
      const snapshot = answer.body.value.snapshot;
      if (epoch !== "" && snapshot.epoch !== epoch) throw new Error(`${userId}: the epoch changed while paging the snapshot`);
      epoch = snapshot.epoch;
      for (const c of snapshot.conversations) conversations.set(c.conversationId, c);
      if (snapshot.continueAfter === "") break;
      after = snapshot.continueAfter;
    }
    const events = new Map<string, ConversationEvent[]>();
    for (const conversationId of conversations.keys()) {
      const list: ConversationEvent[] = [];
      let afterSeq = 0n;
      for (;;) {
        const answer = await connection.request({ case: "syncConversation", value: { conversationId, afterSeq, limit: 1_000 } }, 10_000);
        if (answer.body.case !== "conversationPage") throw new Error(`${userId}: sync_conversation ${conversationId} answered ${answer.body.case}`);
        const page = answer.body.value;
        list.push(...page.events);
        if (page.events.length > 0) afterSeq = page.events.at(-1)!.seq;
        if (!page.hasMore) break;
        if (page.events.length === 0) throw new Error(`${userId}: an empty page of ${conversationId} with has_more`);
      }
      events.set(conversationId, list);
    }
    return { conversations, events, fouls: connection.referee.fouls.map((f) => `${userId} fresh device: ${f.requirement} ${f.message}`) };
  } finally {
    connection.close();
  }
}

/** IDEM-2: every acknowledged send of `device`, sent again from the same device, gets its first answer. */
export async function resendAll(url: string, device: Device, transcript: Transcript): Promise<{ checked: number; mismatches: string[] }> {
  const { connection, maxInFlight } = await login(url, device.userId, device.deviceId, transcript);
  const mismatches: string[] = [];
  let checked = 0;
  try {
    const acked = [...device.sends.values()].filter((s) => s.ack);
    const batch = Math.max(1, Math.min(maxInFlight, 32));
    for (let i = 0; i < acked.length; i += batch) {
      const slice = acked.slice(i, i + batch);
      const ids = slice.map((s) => connection.send({ case: "sendMessage", value: { conversationId: s.conversationId, clientMessageId: s.clientMessageId, content: { kind: { case: "text", value: { text: s.text } } } } }));
      for (const [j, id] of ids.entries()) {
        const record = slice[j]!;
        const answer = await connection.next((f) => f.requestId === id && f.body.case !== "deliver", 10_000, `the answer to the resend of ${record.clientMessageId}`);
        checked++;
        if (answer.body.case !== "sendAck") {
          mismatches.push(`${device.key}: the resend of ${record.clientMessageId} was answered ${answer.body.case}${answer.body.case === "error" ? ` ${answer.body.value.code} ${answer.body.value.message}` : ""}`);
          continue;
        }
        const first = record.ack!;
        const again = answer.body.value;
        if (again.seq !== first.seq || again.messageId !== first.messageId || again.serverTimeMs !== first.serverTimeMs || again.conversationId !== first.conversationId) {
          mismatches.push(`${device.key}: the resend of ${record.clientMessageId} was answered seq ${again.seq} id ${again.messageId} at ${again.serverTimeMs}, the first send_ack said seq ${first.seq} id ${first.messageId} at ${first.serverTimeMs}`);
        }
      }
    }
    for (const f of connection.referee.fouls) mismatches.push(`${device.key} resend: ${f.requirement} ${f.message}`);
  } finally {
    connection.close();
  }
  return { checked, mismatches };
}

// ---- the parts of a run (shared with scripts/cluster-crash.ts) -------------

export function newReport(seed: number, dbPath: string): CrashReport {
  return {
    seed,
    dbPath,
    kills: 0,
    restarts: 0,
    sent: 0,
    acknowledged: 0,
    retried: 0,
    retriedAnsweredFromMemory: 0,
    failedSends: 0,
    unacknowledged: 0,
    deliveredPerDevice: new Map(),
    auditedEvents: 0,
    idempotencyChecked: 0,
    lost: 0,
    duplicated: 0,
    outOfOrder: 0,
    mismatched: 0,
    incomplete: 0,
    idempotencyMismatches: 0,
    resyncs: 0,
    senderOrderInversions: 0,
    ms: 0,
    failures: [],
  };
}

/** The run's users (named per run, so a database reused from an earlier run never mixes its keys or conversations in). */
export function runUsers(count: number, tag: string): string[] {
  return Array.from({ length: count }, (_, i) => `u${i}-${tag}`);
}

/**
 * Conversations: one-to-one in a ring (u0-u1, u1-u2, …) and one group of everyone, opened by a "setup"
 * device of each user on `url`. Returns the conversations each user is in.
 */
export async function openConversations(url: string, users: readonly string[], seed: number, tag: string): Promise<Map<string, string[]>> {
  const setupDevices = users.map((userId) => {
    const d = new Device(userId, "setup", url, [], seededRandom(seed ^ 0x5e7), tag, { outstanding: 1, paceMs: 1 });
    d.start();
    return d;
  });
  try {
    await waitFor(() => setupDevices.every((d) => d.machine.status === "ready"), 15_000, () => "the setup devices to be ready");
    const memberOf = new Map<string, string[]>(users.map((u) => [u, []]));
    const open = async (by: Device, request: Parameters<ClientMachine["open"]>[0]): Promise<void> => {
      const id = by.runner.act((m, now) => m.open(request, now));
      await waitFor(() => by.answers.has(id), 10_000, () => `conversation ${request.kind} with ${request.userIds?.join(", ")} to open`);
      const answer = by.answers.get(id)!;
      if (answer.case !== "conversationOpened" || !answer.value.conversation) throw new Error(`open_conversation was answered ${answer.case}`);
      const conversationId = answer.value.conversation.conversationId;
      for (const u of [by.userId, ...(request.userIds ?? [])]) memberOf.get(u)!.push(conversationId);
    };
    const pairs = new Set<string>();
    for (let i = 0; i < users.length && users.length > 1; i++) {
      const a = i;
      const b = (i + 1) % users.length;
      const key = [Math.min(a, b), Math.max(a, b)].join("-");
      if (pairs.has(key)) continue;
      pairs.add(key);
      await open(setupDevices[a]!, { kind: ConversationKind.DIRECT, userIds: [users[b]!] });
    }
    await open(setupDevices[0]!, { kind: ConversationKind.GROUP, title: `crash ${tag}`, userIds: users.slice(1) });
    return memberOf;
  } finally {
    for (const d of setupDevices) d.stop();
  }
}

/** The loaded devices: `devicesPerUser` of each user, device k of user u dialling `address(u, k)`. */
export function makeDevices(
  users: readonly string[],
  memberOf: ReadonlyMap<string, readonly string[]>,
  options: Pick<CrashOptions, "seed" | "devicesPerUser" | "outstanding" | "paceMs">,
  tag: string,
  mutations: ClientBreakage,
  address: (userIndex: number, deviceIndex: number) => DeviceAddress,
): Device[] {
  const devices: Device[] = [];
  for (const [u, userId] of users.entries()) {
    for (let k = 0; k < options.devicesPerUser; k++) {
      devices.push(new Device(userId, `d${k}`, address(u, k), memberOf.get(userId)!, seededRandom((options.seed * 31 + u * 7 + k + 1) >>> 0), tag, { outstanding: options.outstanding ?? 3, paceMs: options.paceMs ?? 15, mutations }));
    }
  }
  return devices;
}

export const deviceStatuses = (devices: readonly Device[]) =>
  devices.map((d) => `${d.key}: ${d.machine.status}, ${d.machine.pendingOperations} pending${d.machine.status === "ready" ? "" : `\n      ${d.transitions.join("\n      ")}\n`}`).join("; ");

/**
 * After the last restart: a little more load, then no new sends, and every device drains: nothing pending,
 * every device at the head of each of its conversations, every acknowledged send delivered back.
 * A drain that times out is a failure, and the checks run on what there is.
 */
export async function drain(devices: readonly Device[], options: Pick<CrashOptions, "tailMs" | "drainTimeoutMs">, check: () => void, fail: (text: string) => void): Promise<void> {
  await waitFor(() => (check(), devices.every((d) => d.machine.status === "ready")), 30_000, () => `every device to be back after the last restart (${deviceStatuses(devices)})`);
  await sleep(options.tailMs ?? 300);
  for (const d of devices) d.stopLoad();
  const converged = () => {
    if (!devices.every((d) => d.machine.settled && d.machine.pendingOperations === 0)) return false;
    const head = new Map<string, bigint>();
    for (const d of devices) for (const [cid, list] of d.delivered) head.set(cid, (list.at(-1)?.seq ?? 0n) > (head.get(cid) ?? 0n) ? list.at(-1)!.seq : (head.get(cid) ?? 0n));
    for (const d of devices) for (const cid of d.conversations) if ((d.delivered.get(cid)?.at(-1)?.seq ?? 0n) !== (head.get(cid) ?? 0n)) return false;
    for (const d of devices) for (const s of d.sends.values()) if (s.ack && (d.delivered.get(s.conversationId)?.at(-1)?.seq ?? 0n) < s.ack.seq) return false;
    return true;
  };
  try {
    await waitFor(() => (check(), converged()), options.drainTimeoutMs ?? 30_000, () => `the devices to drain and agree (${deviceStatuses(devices)})`);
  } catch (error) {
    if (!(error instanceof TimeoutError)) throw error;
    fail(`${error.message}: checking what there is`);
  }
  check();
}

export interface CheckInputs {
  readonly report: CrashReport;
  readonly fail: (text: string) => void;
  readonly users: readonly string[];
  readonly memberOf: ReadonlyMap<string, readonly string[]>;
  readonly devices: readonly Device[];
  readonly transcript: Transcript;
  /** Where the fresh devices read everything back. */
  readonly auditUrl: string;
  /** Where each device sends every acknowledged message again (IDEM-2). */
  readonly resendUrl: (device: Device) => string;
}

/**
 * The checks, once the devices have drained (they are stopped here): SEQ-1, SEQ-2, SEQ-4, IDEM-2, DLV-3
 * as the header says, counted in `report` and each breach a `fail`.
 */
export async function checkRun({ report, fail, users, memberOf, devices, transcript, auditUrl, resendUrl }: CheckInputs): Promise<void> {
  const audits = new Map<string, Awaited<ReturnType<typeof audit>>>();
  for (const userId of users) audits.set(userId, await withTimeout(audit(auditUrl, userId, transcript), 60_000, `the fresh device of ${userId} to sync`));
  for (const d of devices) d.stop();

  // One authoritative list per conversation; every user's fresh device must read the same.
  const truth = new Map<string, ConversationEvent[]>();
  const describe = (e: ConversationEvent | undefined) => (e === undefined ? "nothing" : e.body.case === "message" ? `message ${e.body.value.messageId} (${e.body.value.clientMessageId})` : `${e.body.case}`);
  for (const [userId, result] of audits) {
    for (const f of result.fouls) fail(f);
    const mine = new Set(memberOf.get(userId));
    for (const cid of mine) if (!result.conversations.has(cid)) fail(`${userId}'s fresh device does not list conversation ${cid}`);
    for (const [cid, events] of result.events) {
      if (!mine.has(cid)) {
        fail(`${userId}'s fresh device lists a conversation it never joined: ${cid}`);
        continue;
      }
      report.auditedEvents += events.length;
      const last = result.conversations.get(cid)!.lastSeq;
      // SEQ-1: 1, 2, 3, … up to last_seq, no gap, no repeat.
      for (const [i, e] of events.entries()) {
        if (e.seq !== BigInt(i + 1)) {
          report.outOfOrder++;
          fail(`${userId}'s fresh device: event ${i + 1} of ${cid} has seq ${e.seq} (gap or disorder in the stored sequence)`);
          break;
        }
      }
      if (BigInt(events.length) !== last) fail(`${userId}'s fresh device: ${cid} lists last_seq ${last} but sync_conversation gave ${events.length} events`);
      const known = truth.get(cid);
      if (!known) truth.set(cid, events);
      else {
        const n = Math.max(known.length, events.length);
        for (let i = 0; i < n; i++) {
          if (describe(known[i]) !== describe(events[i])) {
            report.mismatched++;
            fail(`conversation ${cid} seq ${i + 1}: one fresh device read ${describe(known[i])}, ${userId}'s read ${describe(events[i])}`);
            break;
          }
        }
      }
    }
  }

  // Every stored message: one of ours, stored once.
  const storedAt = new Map<string, { conversationId: string; event: ConversationEvent }[]>();
  for (const [cid, events] of truth) {
    for (const e of events) {
      if (e.body.case !== "message") continue;
      const key = `${e.senderUserId}/${e.senderDeviceId}/${e.body.value.clientMessageId}`;
      const list = storedAt.get(key) ?? [];
      list.push({ conversationId: cid, event: e });
      storedAt.set(key, list);
    }
  }
  const byKey = new Map(devices.map((d) => [d.key, d]));
  for (const [key, list] of storedAt) {
    if (list.length > 1) {
      report.duplicated += list.length - 1;
      fail(`duplicated in the store: ${key} is stored ${list.length} times, at ${list.map((s) => `${s.conversationId}#${s.event.seq}`).join(", ")}`);
    }
    const [userId, deviceId, cmid] = key.split("/") as [string, string, string];
    const device = byKey.get(`${userId}/${deviceId}`);
    if (!device?.sends.has(cmid) && deviceId !== "setup") fail(`a stored message no device sent: ${key} at ${list[0]!.conversationId}#${list[0]!.event.seq}`);
  }

  // Every acknowledged message: stored, at the seq and with the id its send_ack said, with its content.
  for (const d of devices) {
    const lastSeqOf = new Map<string, { order: number; seq: bigint }>();
    const sorted = [...d.sends.values()].sort((a, b) => a.order - b.order);
    for (const s of sorted) {
      report.sent++;
      const attempts = d.attempts.get(s.clientMessageId);
      if (attempts && attempts.count > 1) {
        report.retried++;
        if (s.ack && Number(s.ack.serverTimeMs) < attempts.lastAt - 5) report.retriedAnsweredFromMemory++;
      }
      if (s.failed !== undefined) {
        report.failedSends++;
        fail(`${d.key}: send ${s.clientMessageId} failed: ${s.failed}`);
        continue;
      }
      if (!s.ack) {
        report.unacknowledged++;
        fail(`${d.key}: send ${s.clientMessageId} was never acknowledged`);
        continue;
      }
      report.acknowledged++;
      const ack = s.ack;
      // Every send_ack frame for this key said the same (a retry answered with the first answer).
      for (const other of d.acksSeen.get(s.clientMessageId) ?? []) {
        if (other.seq !== ack.seq || other.messageId !== ack.messageId || other.serverTimeMs !== ack.serverTimeMs) {
          report.idempotencyMismatches++;
          fail(`${d.key}: ${s.clientMessageId} was answered both seq ${ack.seq} id ${ack.messageId} and seq ${other.seq} id ${other.messageId}`);
        }
      }
      if (ack.conversationId !== s.conversationId || ack.clientMessageId !== s.clientMessageId) fail(`${d.key}: the send_ack of ${s.clientMessageId} names ${ack.conversationId}/${ack.clientMessageId}`);
      const stored = truth.get(s.conversationId)?.[Number(ack.seq) - 1];
      const places = storedAt.get(`${d.key}/${s.clientMessageId}`) ?? [];
      if (places.length === 0) {
        report.lost++;
        fail(`LOST: ${d.key} ${s.clientMessageId} ("${s.text}") was acknowledged as ${s.conversationId}#${ack.seq} (${ack.messageId}) but is not stored; there is ${describe(stored)}`);
        continue;
      }
      if (
        stored === undefined ||
        stored.body.case !== "message" ||
        stored.body.value.messageId !== ack.messageId ||
        stored.body.value.clientMessageId !== s.clientMessageId ||
        stored.senderUserId !== d.userId ||
        stored.senderDeviceId !== d.deviceId ||
        stored.body.value.content?.kind.case !== "text" ||
        stored.body.value.content.kind.value.text !== s.text ||
        stored.serverTimeMs !== ack.serverTimeMs
      ) {
        report.mismatched++;
        fail(`${d.key} ${s.clientMessageId} was acknowledged as ${s.conversationId}#${ack.seq} (${ack.messageId}) but that seq holds ${describe(stored)}`);
      }
      const previous = lastSeqOf.get(s.conversationId);
      if (previous && ack.seq < previous.seq) report.senderOrderInversions++;
      lastSeqOf.set(s.conversationId, { order: s.order, seq: ack.seq });
    }
    report.resyncs += Math.max(0, d.resyncs - 1);
  }

  // Every device's application: every event of each of its conversations, in order, once, as stored.
  for (const d of devices) {
    report.duplicated += d.duplicates;
    report.outOfOrder += d.outOfOrder;
    for (const p of d.problems) fail(p);
    let checked = 0;
    for (const cid of d.conversations) {
      const stored = truth.get(cid) ?? [];
      const got = d.delivered.get(cid) ?? [];
      const seen = new Set<bigint>();
      for (const g of got) {
        checked++;
        if (seen.has(g.seq)) continue; // counted on arrival
        seen.add(g.seq);
        const s = stored[Number(g.seq) - 1];
        if (describe(s) !== describe(g.event) || (s && s.serverTimeMs !== g.event.serverTimeMs)) {
          report.mismatched++;
          fail(`${d.key} got ${describe(g.event)} as ${cid}#${g.seq}; the store holds ${describe(s)} there`);
        }
      }
      const missing = stored.filter((e) => !seen.has(e.seq));
      if (missing.length > 0) {
        report.incomplete += missing.length;
        fail(`incomplete: ${d.key} never got ${missing.length} of the ${stored.length} events of ${cid} (first missing seq ${missing[0]!.seq})`);
      }
    }
    for (const cid of d.delivered.keys()) if (!d.conversations.includes(cid)) fail(`${d.key} got events of a conversation it is not in: ${cid}`);
    report.deliveredPerDevice.set(d.key, checked);
  }

  // IDEM-2 once more, from each device itself: every acknowledged message sent again gets its first answer.
  for (const d of devices) {
    const { checked, mismatches } = await withTimeout(resendAll(resendUrl(d), d, transcript), 120_000, `the resends of ${d.key}`);
    report.idempotencyChecked += checked;
    report.idempotencyMismatches += mismatches.filter((m) => !/ resend: /.test(m)).length;
    for (const m of mismatches) fail(m);
  }
  // The resends appended nothing.
  const after = await withTimeout(audit(auditUrl, users[0]!, transcript), 60_000, "the last fresh device to sync");
  for (const [cid, events] of after.events) {
    const before = truth.get(cid)?.length ?? 0;
    if (events.length !== before) {
      report.duplicated += Math.max(0, events.length - before);
      fail(`the resends changed ${cid}: ${before} events before, ${events.length} after`);
    }
  }
}

// ---- the run ----------------------------------------------------------------

export async function runCrash(options: CrashOptions): Promise<CrashReport> {
  const started = Date.now();
  const log = options.log ?? (() => undefined);
  const minLoadMs = options.minLoadMs ?? 50;
  const maxLoadMs = options.maxLoadMs ?? 800;
  const ownDir = options.db === undefined ? mkdtempSync(join(tmpdir(), "imwire-crash-")) : undefined;
  const dbPath = options.db ?? join(ownDir!, options.store === "journal" ? "imwire.journal" : "imwire.sqlite");
  const report = newReport(options.seed, dbPath);
  const fail = (text: string) => {
    report.failures.push(text);
  };
  const schedule = seededRandom(options.seed);
  const tag = randomBytes(3).toString("hex");
  const users = runUsers(options.users, tag);
  const port = await freePort();
  const server = new ServerProcess(dbPath, port, options.mutant === "memory" ? "memory" : options.store ?? "sqlite");
  const mutations: ClientBreakage = options.mutant && options.mutant !== "memory" ? { [options.mutant]: true } : {};
  let devices: Device[] = [];
  const transcript = new Transcript();
  const checkServer = () => {
    if (server.unexpectedExit) throw new Error(server.unexpectedExit);
  };
  const statuses = () => deviceStatuses(devices);

  try {
    await server.start();
    log(`server on ${server.url}, database ${dbPath}, seed ${options.seed}`);
    const memberOf = await openConversations(server.url, users, options.seed, tag);
    const conversationCount = new Set([...memberOf.values()].flat()).size;
    devices = makeDevices(users, memberOf, options, tag, mutations, () => server.url);
    for (const d of devices) d.start();
    await waitFor(() => devices.every((d) => d.machine.status === "ready"), 20_000, () => `every device to be ready (${statuses()})`);
    log(`${users.length} users × ${options.devicesPerUser} devices in ${conversationCount} conversations; ${options.kills} kills`);
    for (const d of devices) d.startLoad();

    for (let k = 1; k <= options.kills; k++) {
      // Mostly once every device is back; sometimes as soon as one is, so others die resuming or syncing.
      const whileResuming = k > 1 && schedule() < 0.3;
      const back = (d: Device) => d.machine.status === "ready";
      await waitFor(() => (checkServer(), whileResuming ? devices.some(back) : devices.every(back)), 30_000, () => `${whileResuming ? "a device" : "every device"} to be back before kill ${k} (${statuses()})`);
      const readyNow = devices.filter(back).length;
      const loadMs = Math.round(minLoadMs + schedule() * (maxLoadMs - minLoadMs));
      await sleep(loadMs);
      checkServer();
      const sentSoFar = devices.reduce((n, d) => n + d.sends.size, 0);
      await server.kill();
      report.kills++;
      const downMs = Math.round(schedule() * 200);
      await sleep(downMs);
      await server.start();
      report.restarts++;
      log(`kill ${k}/${options.kills} after ${loadMs} ms of load, ${readyNow}/${devices.length} devices ready (${sentSoFar} sends so far), down ${downMs} ms + ${server.startMs.at(-1)} ms to restart`);
    }

    await drain(devices, options, checkServer, fail);
    await checkRun({ report, fail, users, memberOf, devices, transcript, auditUrl: server.url, resendUrl: () => server.url });
  } catch (error) {
    fail(`aborted: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    for (const d of devices) d.stop();
    await server.stop().catch(() => undefined);
    report.ms = Date.now() - started;
    if (ownDir && report.failures.length === 0) rmSync(ownDir, { recursive: true, force: true });
  }
  if (report.failures.length > 0) report.failures.push(`server log (last lines):\n${server.tail(15)}`);
  return report;
}

export function formatReport(r: CrashReport): string {
  const rows: [string, string | number][] = [
    ["seed", r.seed],
    ["kills (SIGKILL)", r.kills],
    ["restarts", r.restarts],
    ["messages sent", r.sent],
    ["acknowledged", r.acknowledged],
    ["retried (same client_message_id)", r.retried],
    ["  of which first attempt was stored", r.retriedAnsweredFromMemory],
    ["failed / unacknowledged", `${r.failedSends} / ${r.unacknowledged}`],
    ["events read by fresh devices", r.auditedEvents],
    ...[...r.deliveredPerDevice].map(([key, n]): [string, number] => [`delivered events checked ${key}`, n]),
    ["resends checked (IDEM-2)", r.idempotencyChecked],
    ["lost", r.lost],
    ["duplicated", r.duplicated],
    ["out of order", r.outOfOrder],
    ["mismatched", r.mismatched],
    ["incomplete device views", r.incomplete],
    ["retry answered differently", r.idempotencyMismatches],
    ["extra snapshots (resyncs)", r.resyncs],
    ["sender order inversions (info)", r.senderOrderInversions],
    ["time", `${(r.ms / 1000).toFixed(1)} s`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const lines = rows.map(([k, v]) => `  ${k.padEnd(width)}  ${String(v).padStart(10)}`);
  const verdict = r.failures.length === 0 ? "PASS: every acknowledged message stored once, in order, gapless; every device complete, nothing twice" : `FAIL (seed ${r.seed}, database ${r.dbPath}):\n${r.failures.slice(0, 40).map((f) => `  - ${f}`).join("\n")}${r.failures.length > 40 ? `\n  … and ${r.failures.length - 40} more` : ""}`;
  return `${lines.join("\n")}\n${verdict}\n`;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seed: { type: "string" },
      kills: { type: "string", default: "20" },
      users: { type: "string", default: "4" },
      "devices-per-user": { type: "string", default: "2" },
      db: { type: "string" },
      store: { type: "string", default: "sqlite" },
      mutant: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`Usage: npm run crash -- [--seed N] [--kills N (20)] [--users N (4)] [--devices-per-user N (2)] [--db PATH (a temporary file)] [--store sqlite|journal]\n       [--mutant ${MUTANTS.join("|")}  (self-check: break it on purpose; the run must fail)]\n`);
    return 0;
  }
  const int = (text: string, flag: string, min: number) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) throw new Error(`${flag} takes an integer of at least ${min}, not ${text}`);
    return n;
  };
  const mutant = (text: string): Mutant => {
    if (!(MUTANTS as readonly string[]).includes(text)) throw new Error(`--mutant takes one of ${MUTANTS.join(", ")}, not ${text}`);
    return text as Mutant;
  };
  const seed = values.seed === undefined ? Date.now() % 2 ** 31 : int(values.seed, "--seed", 0);
  const options: CrashOptions = {
    seed,
    kills: int(values.kills, "--kills", 0),
    users: int(values.users, "--users", 1),
    devicesPerUser: int(values["devices-per-user"], "--devices-per-user", 1),
    ...(values.db !== undefined ? { db: resolve(values.db) } : {}),
    ...(values.mutant !== undefined ? { mutant: mutant(values.mutant) } : {}),
    store: values.store === "journal" ? "journal" : values.store === "sqlite" ? "sqlite" : (() => { throw new Error(`--store takes sqlite or journal, not ${values.store}`); })(),
    log: (line) => process.stdout.write(`  ${line}\n`),
  };
  process.stdout.write(`crash: kill -9 the reference server ${options.kills} times under load, seed ${seed}\n`);
  const report = await runCrash(options);
  process.stdout.write(formatReport(report));
  return report.failures.length === 0 ? 0 : 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`crash: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(2);
    },
  );
}
