import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ConversationKind } from "../src/gen/imwire/v1/conversation_pb.js";
import { ErrorCode } from "../src/gen/imwire/v1/error_pb.js";
import type { Frame } from "../src/gen/imwire/v1/frame_pb.js";
import { brokenServer, type Breakage } from "./support/broken-servers.js";
import { MemoryStore } from "../src/store/memory-store.js";
import { SqliteStore } from "../src/store/sqlite-store.js";
import type { Store } from "../src/store/store.js";
import { ServerHarness } from "./support/server-harness.js";

/**
 * Model-based test of the server machine (fast-check commands): random
 * sequences of group creation, sends with reused idempotency keys, leaving,
 * adding, syncing and reconnecting, each checked against a model small enough
 * to be obviously right.
 */

const USERS = ["u0", "u1", "u2", "u3"];
const DEVICES = ["d0", "d1"];

interface ModelConversation {
  realId: string;
  members: Set<string>;
  lastSeq: number;
  firstVisible: Map<string, number>;
  left: Map<string, number>;
}

interface Model {
  readonly conversations: ModelConversation[];
  /** user|device|key → the first answer (IDEM-2). */
  readonly dedup: Map<string, { conversationId: string; seq: number }>;
}

interface Real {
  readonly harness: ServerHarness;
  readonly connections: Map<string, number>;
}

function connectionOf(real: Real, user: string, device: string): number {
  return real.connections.get(`${user}|${device}`)!;
}

function errorCode(frame: Frame): ErrorCode | undefined {
  return frame.body.case === "error" ? frame.body.value.code : undefined;
}

class CreateGroup implements fc.Command<Model, Real> {
  constructor(readonly user: string, readonly others: string[]) {}
  check = () => true;
  run(model: Model, real: Real): void {
    const answer = real.harness.request(connectionOf(real, this.user, "d0"), {
      case: "openConversation",
      value: { kind: ConversationKind.GROUP, userIds: this.others, title: "g", clientConversationId: `create-${model.conversations.length}` },
    });
    expect(answer.body.case).toBe("conversationOpened");
    const realId = answer.body.case === "conversationOpened" ? answer.body.value.conversation!.conversationId : "";
    const members = new Set([this.user, ...this.others]);
    model.conversations.push({ realId, members, lastSeq: 1, firstVisible: new Map([...members].map((m) => [m, 1])), left: new Map() });
  }
  toString = () => `CreateGroup(${this.user}, [${this.others}])`;
}

class Send implements fc.Command<Model, Real> {
  constructor(readonly user: string, readonly device: string, readonly conversation: number, readonly key: string) {}
  check = (model: Readonly<Model>) => model.conversations.length > 0;
  run(model: Model, real: Real): void {
    const conversation = model.conversations[this.conversation % model.conversations.length]!;
    const answer = real.harness.request(connectionOf(real, this.user, this.device), {
      case: "sendMessage",
      value: { conversationId: conversation.realId, clientMessageId: this.key, content: { kind: { case: "text", value: { text: "hi" } } } },
    });
    const dedupKey = `${this.user}|${this.device}|${this.key}`;
    const earlier = model.dedup.get(dedupKey);
    if (earlier && earlier.conversationId !== conversation.realId) {
      expect(errorCode(answer)).toBe(ErrorCode.INVALID_ARGUMENT); // IDEM-7: a key names one send
      return;
    }
    if (earlier) {
      // IDEM-2: the first answer, whatever the membership now.
      expect(answer.body.case === "sendAck" && { conversationId: answer.body.value.conversationId, seq: Number(answer.body.value.seq) }).toEqual(earlier);
      return;
    }
    if (!conversation.members.has(this.user)) {
      expect(errorCode(answer)).toBe(ErrorCode.PERMISSION_DENIED); // MSG-1
      return;
    }
    const seq = ++conversation.lastSeq;
    expect(answer.body.case === "sendAck" && Number(answer.body.value.seq)).toBe(seq); // SEQ-1
    model.dedup.set(dedupKey, { conversationId: conversation.realId, seq });
  }
  toString = () => `Send(${this.user}/${this.device}, c${this.conversation}, ${this.key})`;
}

class Leave implements fc.Command<Model, Real> {
  constructor(readonly user: string, readonly conversation: number) {}
  check = (model: Readonly<Model>) => model.conversations.length > 0;
  run(model: Model, real: Real): void {
    const conversation = model.conversations[this.conversation % model.conversations.length]!;
    const answer = real.harness.request(connectionOf(real, this.user, "d1"), { case: "leaveConversation", value: { conversationId: conversation.realId } });
    let expected: number | undefined;
    if (conversation.members.has(this.user)) {
      expected = ++conversation.lastSeq;
      conversation.members.delete(this.user);
      conversation.left.set(this.user, expected);
    } else {
      expected = conversation.left.get(this.user);
    }
    if (expected === undefined) expect(errorCode(answer)).toBe(ErrorCode.PERMISSION_DENIED);
    else expect(answer.body.case === "conversationLeft" && Number(answer.body.value.lastVisibleSeq)).toBe(expected); // CONV-5
  }
  toString = () => `Leave(${this.user}, c${this.conversation})`;
}

class Add implements fc.Command<Model, Real> {
  constructor(readonly user: string, readonly conversation: number, readonly others: string[]) {}
  check = (model: Readonly<Model>) => model.conversations.length > 0;
  run(model: Model, real: Real): void {
    const conversation = model.conversations[this.conversation % model.conversations.length]!;
    const answer = real.harness.request(connectionOf(real, this.user, "d0"), {
      case: "openConversation",
      value: { conversationId: conversation.realId, userIds: this.others },
    });
    // CONV-4: opening (no users named) is reading, for former members too; adding is for members.
    const formerMember = conversation.left.has(this.user);
    if (!conversation.members.has(this.user) && !(formerMember && this.others.length === 0)) {
      expect(errorCode(answer)).toBe(ErrorCode.PERMISSION_DENIED);
      return;
    }
    expect(answer.body.case).toBe("conversationOpened");
    if (!conversation.members.has(this.user)) return;
    const added = [...new Set(this.others)].filter((u) => !conversation.members.has(u));
    if (added.length === 0) return;
    const seq = ++conversation.lastSeq;
    for (const u of added) {
      conversation.members.add(u);
      conversation.firstVisible.set(u, seq); // CONV-8: a new interval
      conversation.left.delete(u);
    }
  }
  toString = () => `Add(${this.user}, c${this.conversation}, [${this.others}])`;
}

class Sync implements fc.Command<Model, Real> {
  constructor(readonly user: string, readonly conversation: number, readonly after: number) {}
  check = (model: Readonly<Model>) => model.conversations.length > 0;
  run(model: Model, real: Real): void {
    const conversation = model.conversations[this.conversation % model.conversations.length]!;
    const answer = real.harness.request(connectionOf(real, this.user, "d1"), {
      case: "syncConversation",
      value: { conversationId: conversation.realId, afterSeq: BigInt(this.after) },
    });
    const first = conversation.firstVisible.get(this.user);
    if (first === undefined) {
      expect(errorCode(answer)).toBe(ErrorCode.PERMISSION_DENIED); // SYNC-1
      return;
    }
    const last = conversation.left.get(this.user) ?? conversation.lastSeq;
    const expected: number[] = [];
    for (let seq = Math.max(this.after + 1, first); seq <= last && expected.length < 100; seq++) expected.push(seq);
    expect(answer.body.case === "conversationPage" && answer.body.value.events.map((e) => Number(e.seq))).toEqual(expected);
  }
  toString = () => `Sync(${this.user}, c${this.conversation}, after ${this.after})`;
}

class Reconnect implements fc.Command<Model, Real> {
  constructor(readonly user: string, readonly device: string) {}
  check = () => true;
  run(_model: Model, real: Real): void {
    const old = connectionOf(real, this.user, this.device);
    const fresh = real.harness.login(this.user, this.device);
    real.connections.set(`${this.user}|${this.device}`, fresh);
    // AUTH-4: the older connection of the device is closed as replaced.
    expect(real.harness.closed.get(old)?.reason).toBe(ErrorCode.SESSION_REPLACED);
  }
  toString = () => `Reconnect(${this.user}/${this.device})`;
}

const user = fc.constantFrom(...USERS);
const device = fc.constantFrom(...DEVICES);
const others = fc.uniqueArray(user, { maxLength: 3 });
const commands = fc.commands(
  [
    fc.tuple(user, others).map(([u, o]) => new CreateGroup(u, o.filter((x) => x !== u))),
    // A small key pool, so retries (and reuse across conversations) happen often.
    fc.tuple(user, device, fc.nat(), fc.constantFrom("k0", "k1", "k2")).map(([u, d, c, k]) => new Send(u, d, c, k)),
    fc.tuple(user, fc.nat()).map(([u, c]) => new Leave(u, c)),
    fc.tuple(user, fc.nat(), others).map(([u, c, o]) => new Add(u, c, o)),
    fc.tuple(user, fc.nat(), fc.nat({ max: 12 })).map(([u, c, a]) => new Sync(u, c, a)),
    fc.tuple(user, device).map(([u, d]) => new Reconnect(u, d)),
  ],
  { maxCommands: 80, size: "medium" },
);

/** The property, over a fresh store from `openStore` for each run. */
function runModel(mutations: Breakage = {}, openStore: () => Store = () => new MemoryStore()) {
  return fc.property(commands, (cmds) => {
    const store = openStore();
    try {
      const harness = new ServerHarness({}, brokenServer(mutations), store);
      const connections = new Map<string, number>();
      for (const u of USERS) for (const d of DEVICES) connections.set(`${u}|${d}`, harness.login(u, d));
      fc.modelRun(() => ({ model: { conversations: [], dedup: new Map() }, real: { harness, connections } }), cmds);
      expect(harness.internalErrors).toEqual([]);
    } finally {
      if (store instanceof SqliteStore) store.close();
    }
  });
}

describe("SEQ-1 IDEM-2 IDEM-7 MSG-1 SEC-3 CONV-4 CONV-5 CONV-8 SYNC-1 AUTH-4: the server machine against a model", () => {
  it("agrees with the model on every answer", () => {
    fc.assert(runModel(), { numRuns: 200 });
  });

  it("agrees with the model on every answer, on the SQLite store", () => {
    fc.assert(runModel({}, () => new SqliteStore(":memory:")), { numRuns: 200 });
    expect(fc.check(runModel({ skipDedup: true }, () => new SqliteStore(":memory:")), { numRuns: 200 }).failed).toBe(true);
  });

  it.each<[string, Breakage]>([
    ["no membership check", { skipMembershipCheck: true }],
    ["no deduplication", { skipDedup: true }],
  ])("catches a server with %s", (_name, mutations) => {
    expect(fc.check(runModel(mutations), { numRuns: 200 }).failed).toBe(true);
  });
});
