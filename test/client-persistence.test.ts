import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import fc from "fast-check";
import { ClientDriver } from "../src/client/client-driver.js";
import { MemoryClientStore, type ClientStore, type PersistedClientState } from "../src/client/client-store.js";
import { FileClientStore } from "../src/client/file-client-store.js";
import { frame } from "../src/codec/frame-codec.js";
import { ConversationKind } from "../src/gen/imwire/v1/conversation_pb.js";
import type { Frame } from "../src/gen/imwire/v1/frame_pb.js";
import { ClientMachine } from "../src/machines/client/client-machine.js";
import type { ClientOutput } from "../src/machines/client/types.js";
import { memoryLink } from "../src/runtime/memory-link.js";
import { virtualTimers } from "../src/runtime/virtual-timer.js";
import { EventQueue } from "../src/sim/event-queue.js";
import { runScenario, type Scenario, type Step } from "../src/sim/scenario.js";
import { brokenClient, persistenceBreakages, type PersistenceBreakage } from "./support/broken-clients.js";
import { scenarioArb } from "./support/scenarios.js";

/**
 * CLI-1 to CLI-5, client persistence: the machine hands out what must
 * survive its process as "persist" outputs, before any frame that relies on
 * it; a machine restored from the last one resends its outbox with the same
 * keys and resumes from its cursor. End to end over sockets and a file:
 * test/client-persistence-e2e.test.ts.
 */

// ---- the machine, frame by frame -----------------------------------------

const WELCOME = { version: 1, maxFrameSize: 1_048_576, heartbeatIntervalMs: 30_000, maxInFlight: 100, receiveWindow: 100, dedupWindowS: 86_400 };
const hi = { kind: { case: "text" as const, value: { text: "hi" } } };

function machine(deviceId = "d", run = 0): ClientMachine {
  let ids = 0;
  return new ClientMachine({ deviceId, lossyTransport: true, attemptTimeoutMs: 1_000, ackDelayMs: 50 }, { token: () => `u|${deviceId}`, random: () => 0.5, newId: () => `${deviceId}-${run}-${++ids}` });
}

const framesOut = (outputs: readonly ClientOutput[]): Frame[] => outputs.flatMap((o) => (o.kind === "send" ? [o.frame] : []));
const persists = (outputs: readonly ClientOutput[]): PersistedClientState[] => outputs.flatMap((o) => (o.kind === "persist" ? [o.state] : []));

function receive(client: ClientMachine, now: number, init: Parameters<typeof frame>[0]): ClientOutput[] {
  client.frameReceived(frame(init), now);
  return client.takeOutputs();
}

/** Start, connect, and play the server through the handshake: resumed, or with a snapshot (epoch e1, cursor 10, conversation c1). */
function ready(client: ClientMachine, now: number, resumed = false): ClientOutput[] {
  client.start(now);
  const outputs = client.takeOutputs();
  client.tick(now);
  outputs.push(...client.takeOutputs());
  const connect = outputs.find((o) => o.kind === "connect");
  if (connect?.kind !== "connect") throw new Error("no connect");
  client.connected(connect.connection, now);
  outputs.push(...client.takeOutputs());
  const request = (kind: string) => framesOut(outputs).filter((f) => f.body.case === kind).at(-1)!.requestId;
  outputs.push(...receive(client, now, { requestId: request("hello"), body: { case: "welcome", value: WELCOME } }));
  outputs.push(...receive(client, now, { requestId: request("authenticate"), body: { case: "authenticated", value: { userId: "u", deviceId: "d", epoch: "e1", resumed } } }));
  if (!resumed) {
    const snapshot = { epoch: "e1", cursor: 10n, conversations: [{ conversationId: "c1", kind: ConversationKind.GROUP, firstVisibleSeq: 1n, lastSeq: 0n, memberUserIds: ["u", "u2"] }] };
    outputs.push(...receive(client, now, { requestId: request("syncUser"), body: { case: "userPage", value: { snapshot, headCursor: 10n } } }));
  }
  expect(client.status).toBe("ready");
  return outputs;
}

describe("CLI-1 CLI-2 CLI-3: the machine's persist outputs", () => {
  it("CLI-1: a machine never restored persists nothing", () => {
    const client = machine();
    const outputs = ready(client, 0);
    client.send("c1", hi, 1);
    outputs.push(...client.takeOutputs());
    expect(persists(outputs)).toEqual([]);
  });

  it("CLI-2: a send is persisted, key and body, before its first frame; its answer persists the outbox without it", () => {
    const client = machine();
    client.restore(undefined, 0);
    const before = ready(client, 0);
    expect(persists(before).at(-1)).toMatchObject({ version: 1, deviceId: "d", stream: { epoch: "e1", cursor: 10n }, outbox: [] });
    const id = client.send("c1", hi, 5);
    const outputs = client.takeOutputs();
    const persistAt = outputs.findIndex((o) => o.kind === "persist");
    const sendAt = outputs.findIndex((o) => o.kind === "send" && o.frame.body.case === "sendMessage");
    expect(persistAt).toBeGreaterThanOrEqual(0);
    expect(persistAt).toBeLessThan(sendAt);
    expect(persists(outputs)).toHaveLength(1);
    const [state] = persists(outputs);
    expect(state!.outbox).toEqual([{ id, createdAt: 5, body: { case: "sendMessage", value: expect.objectContaining({ conversationId: "c1", clientMessageId: id }) } }]);
    // Structured-clone values only (IndexedDB).
    expect(structuredClone(state)).toEqual(state);

    const requestId = framesOut(outputs).find((f) => f.body.case === "sendMessage")!.requestId;
    const answered = receive(client, 6, { requestId, body: { case: "sendAck", value: { clientMessageId: id, conversationId: "c1", seq: 1n, messageId: "x" } } });
    expect(answered.map((o) => o.kind)).toEqual(["app", "persist"]);
    expect(persists(answered)[0]!.outbox).toEqual([]);
  });

  it("nothing durable changed, nothing persisted: pings, pongs, a retry of the same attempt", () => {
    const client = machine();
    client.restore(undefined, 0);
    ready(client, 0);
    client.send("c1", hi, 1);
    client.takeOutputs();
    client.tick(5_000); // the attempt timed out (lossy transport): sent again, same body
    const outputs = client.takeOutputs();
    expect(framesOut(outputs).filter((f) => f.body.case === "sendMessage")).toHaveLength(1);
    expect(persists(outputs)).toEqual([]);
  });

  it("CLI-3: an acknowledgement goes only after the cursor it acknowledges is persisted", () => {
    const client = machine();
    client.restore(undefined, 0);
    ready(client, 0);
    const entry = { cursor: 11n, prevCursor: 10n, body: { case: "event" as const, value: { conversationId: "c1", seq: 1n, body: { case: "message" as const, value: { messageId: "m", content: hi } } } } };
    const outputs = receive(client, 1, { body: { case: "deliver", value: entry } });
    client.tick(100);
    outputs.push(...client.takeOutputs());
    const persistAt = outputs.findIndex((o) => o.kind === "persist" && o.state.stream?.cursor === 11n);
    const ackAt = outputs.findIndex((o) => o.kind === "send" && o.frame.body.case === "deliveryAck");
    expect(persistAt).toBeGreaterThanOrEqual(0);
    expect(ackAt).toBeGreaterThan(persistAt);
    expect(persists(outputs).at(-1)!.conversations[0]).toMatchObject({ meta: { conversationId: "c1" }, held: 1n, knownHead: 1n });
  });

  it("CLI-5: restored from the last persist, a new machine resumes from its cursor and resends its outbox with the same keys", () => {
    const first = machine("d", 0);
    first.restore(undefined, 0);
    const outputs = ready(first, 0);
    const id = first.send("c1", hi, 1);
    outputs.push(...first.takeOutputs());
    const sentBody = framesOut(outputs).find((f) => f.body.case === "sendMessage")!.body;
    const saved = new MemoryClientStore(persists(outputs).at(-1)!);
    // The process dies here, the send unanswered.

    const second = machine("d", 1);
    second.restore(saved.current, 10);
    expect([second.epoch, second.cursor, second.pendingOperations]).toEqual(["e1", 10n, 1]);
    expect(second.conversations()).toEqual(first.conversations());
    second.start(10);
    second.tick(10);
    const connect = second.takeOutputs().find((o) => o.kind === "connect")!;
    second.connected(connect.kind === "connect" ? connect.connection : 0, 10);
    const hello = framesOut(second.takeOutputs())[0]!;
    const welcomed = receive(second, 10, { requestId: hello.requestId, body: { case: "welcome", value: WELCOME } });
    const authenticate = framesOut(welcomed).find((f) => f.body.case === "authenticate")!;
    expect(authenticate.body.case === "authenticate" && authenticate.body.value.resume).toMatchObject({ epoch: "e1", cursor: 10n });
    const resumed = receive(second, 10, { requestId: authenticate.requestId, body: { case: "authenticated", value: { userId: "u", deviceId: "d", epoch: "e1", resumed: true } } });
    const resent = framesOut(resumed).filter((f) => f.body.case === "sendMessage");
    expect(resent).toHaveLength(1);
    expect(resent[0]!.body).toEqual(sentBody);
    expect(second.status).toBe("ready");
    // Already persisted: restoring and resending need no new persist.
    expect(persists(resumed)).toEqual([]);
    const answered = receive(second, 11, { requestId: resent[0]!.requestId, body: { case: "sendAck", value: { clientMessageId: id, conversationId: "c1", seq: 1n, messageId: "x" } } });
    expect(answered.flatMap((o) => (o.kind === "app" && o.event.kind === "sent" ? [o.event.clientMessageId] : []))).toEqual([id]);
    expect(persists(answered)[0]!.outbox).toEqual([]);
  });

  it("restore() refuses to come after start, or to take another device's state or an unknown layout", () => {
    const started = machine();
    started.start(0);
    expect(() => started.restore(undefined, 0)).toThrow(/before start/);
    const state: PersistedClientState = { version: 1, deviceId: "other", defaultReceiveMode: 0, conversations: [], outbox: [] };
    expect(() => machine().restore(state, 0)).toThrow(/device other/);
    expect(() => machine().restore({ ...state, deviceId: "d", version: 2 as 1 }, 0)).toThrow(/version 2/);
  });

  it("CLI-3 SYNC-7: while a snapshot is half taken in pages, the stream position is not persisted (a restart asks for a whole one)", () => {
    const client = machine();
    client.restore(undefined, 0);
    client.start(0);
    client.tick(0);
    const connect = client.takeOutputs().find((o) => o.kind === "connect")!;
    client.connected(connect.kind === "connect" ? connect.connection : 0, 0);
    const hello = framesOut(client.takeOutputs())[0]!;
    const authenticate = framesOut(receive(client, 0, { requestId: hello.requestId, body: { case: "welcome", value: WELCOME } })).find((f) => f.body.case === "authenticate")!;
    const syncUser = framesOut(receive(client, 0, { requestId: authenticate.requestId, body: { case: "authenticated", value: { userId: "u", deviceId: "d", epoch: "e1", resumed: false } } })).find((f) => f.body.case === "syncUser")!;
    const page = { epoch: "e1", cursor: 10n, conversations: [{ conversationId: "c1", kind: ConversationKind.GROUP, firstVisibleSeq: 1n, memberUserIds: ["u"] }], continueAfter: "c1" };
    const outputs = receive(client, 0, { requestId: syncUser.requestId, body: { case: "userPage", value: { snapshot: page, headCursor: 10n } } });
    const state = persists(outputs).at(-1)!;
    expect(state.stream).toBeUndefined();
    expect(state.conversations.map((c) => c.meta.conversationId)).toEqual(["c1"]);
  });
});

// ---- the stores -----------------------------------------------------------

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "imwire-client-store-"));
  dirs.push(dir);
  return dir;
}

const sample: PersistedClientState = {
  version: 1,
  deviceId: "d",
  stream: { epoch: "e1", cursor: 12_345_678_901_234_567_890n, describedAt: [["", 7n]] },
  defaultReceiveMode: 2,
  conversations: [],
  outbox: [
    {
      id: "m1",
      createdAt: 1_700_000_000_000,
      body: { case: "sendMessage", value: { conversationId: "c1", clientMessageId: "m1", replyToSeq: 0n, content: { kind: { case: "blob", value: { data: new Uint8Array([0, 1, 254, 255]) } } } } as never },
    },
  ],
};

describe("CLI-1: ClientStore implementations", () => {
  it("FileClientStore: nothing saved loads as undefined; a save loads back exactly, bigints and bytes included; no temporary file is left", async () => {
    const dir = tempDir();
    const store = new FileClientStore(join(dir, "state.json"));
    expect(await store.load()).toBeUndefined();
    await store.save(sample);
    expect(await new FileClientStore(join(dir, "state.json")).load()).toEqual(sample);
    await Promise.all([store.save({ ...sample, outbox: [] }), store.save(sample), store.save({ ...sample, deviceId: "last" })]);
    expect((await store.load())?.deviceId).toBe("last");
    expect(readdirSync(dir)).toEqual(["state.json"]);
  });

  it("FileClientStore: a save that cannot be written rejects and leaves the last state", async () => {
    const dir = tempDir();
    const store = new FileClientStore(join(dir, "state.json"));
    await store.save(sample);
    const broken = new FileClientStore(join(dir, "missing", "state.json"));
    await expect(broken.save(sample)).rejects.toThrow();
    expect(await store.load()).toEqual(sample);
  });

  it("MemoryClientStore keeps a clone: changing a state after saving it does not change what is stored", async () => {
    const store = new MemoryClientStore();
    const state = structuredClone(sample);
    await store.save(state);
    (state.outbox as unknown[]).length = 0;
    expect((await store.load())?.outbox).toHaveLength(1);
  });
});

// ---- the driver -------------------------------------------------------------

/** A store whose saves resolve only when the test says so. */
class GatedStore implements ClientStore {
  readonly saved: PersistedClientState[] = [];
  readonly waiting: (() => void)[] = [];
  constructor(private readonly initial?: PersistedClientState) {}
  load(): Promise<PersistedClientState | undefined> {
    return Promise.resolve(this.initial);
  }
  save(state: PersistedClientState): Promise<void> {
    return new Promise((resolve) => {
      this.waiting.push(() => {
        this.saved.push(state);
        resolve();
      });
    });
  }
  release(): void {
    for (const go of this.waiting.splice(0)) go();
  }
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("CLI-1 CLI-5: ClientDriver with a store", () => {
  /** A driver on an in-memory link whose far end answers hello and authenticate (resumed) and records every frame. */
  function rig(store: ClientStore) {
    const queue = new EventQueue();
    const written: Frame[] = [];
    const driver = new ClientDriver(machine("d", 1), {
      connect: () => {
        const [client, server] = memoryLink(queue);
        server.onFrame = (f) => {
          written.push(f);
          if (f.body.case === "hello") server.send(frame({ requestId: f.requestId, body: { case: "welcome", value: WELCOME } }));
          if (f.body.case === "authenticate") server.send(frame({ requestId: f.requestId, body: { case: "authenticated", value: { userId: "u", deviceId: "d", epoch: "e1", resumed: true } } }));
        };
        return Promise.resolve(client);
      },
      timer: virtualTimers(queue),
      now: () => queue.now,
      onEvent: () => {},
      store,
    });
    const advance = async (ms: number) => {
      for (let i = 0; i < 5; i++) {
        await settle();
        queue.runUntil(queue.now + ms / 5);
      }
      await settle();
    };
    const cases = () => written.map((f) => f.body.case);
    return { queue, driver, written, cases, advance };
  }

  it("restores before connecting, resends the restored send at once, and holds back a new send's frame until its persist is saved", async () => {
    const first = machine("d", 0);
    first.restore(undefined, 0);
    const outputs = ready(first, 0);
    const restoredId = first.send("c1", hi, 1);
    outputs.push(...first.takeOutputs());
    const store = new GatedStore(persists(outputs).at(-1));
    const { driver, cases, written, advance } = rig(store);
    await driver.start();
    expect([driver.machine.pendingOperations, driver.machine.cursor]).toEqual([1, 10n]);
    await advance(20);
    // Persisted already: no save to wait for.
    expect(cases()).toEqual(["hello", "authenticate", "sendMessage"]);
    expect(store.waiting).toHaveLength(0);
    const sends = () => written.flatMap((f) => (f.body.case === "sendMessage" ? [f.body.value.clientMessageId] : []));
    expect(sends()).toEqual([restoredId]);

    const id = driver.act((m, now) => m.send("c1", hi, now));
    await advance(20);
    expect(store.waiting).toHaveLength(1);
    expect(sends()).toEqual([restoredId]);
    store.release();
    await advance(20);
    expect(sends()).toEqual([restoredId, id]);
    expect(store.saved[0]!.outbox.map((o) => o.id)).toEqual([restoredId, id]);
  });

  it("kill(): nothing more is written to the network or the store", async () => {
    const store = new GatedStore();
    const { driver, written, advance } = rig(store);
    await driver.start();
    await advance(10);
    store.release();
    await advance(10);
    expect(written.map((f) => f.body.case)).toEqual(["hello", "authenticate"]);
    driver.kill();
    const saves = store.waiting.length;
    driver.act((m, now) => m.send("c1", hi, now));
    await advance(60_000);
    expect(written.map((f) => f.body.case)).toEqual(["hello", "authenticate"]);
    expect(store.waiting).toHaveLength(saves);
  });
});

// ---- the simulator: devices killed and restarted at random points ----------

/** Scenarios with extra restarts, each a few milliseconds after one of the same device's sends: many die with sends unanswered. */
function restartingArb(): fc.Arbitrary<Scenario> {
  return fc.tuple(scenarioArb({ maxSteps: 40 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 60 })), { minLength: 1, maxLength: 6 })).map(([scenario, picks]) => {
    const steps: Step[] = [...scenario.steps];
    const sends = steps.flatMap((step, i) => (step.action.kind === "send" ? [i] : []));
    for (const [pick, after] of picks.sort((a, b) => b[0] - a[0])) {
      const target = sends.length > 0 ? sends[pick % sends.length]! : pick % steps.length;
      const action = steps[target]!.action;
      const who = "user" in action ? { user: action.user, device: action.device } : { user: 0, device: 0 };
      steps.splice(target + 1, 0, { after, action: { kind: "restartClient", ...who } });
    }
    return { ...scenario, steps };
  });
}

const RUNS = Number(process.env.SIM_RUNS ?? 150);

describe("CLI-5: devices killed and restarted anywhere lose nothing and send nothing twice (the simulation's properties)", () => {
  it("CLI-2 CLI-4 CLI-5: order, no duplicates (no event handed out again after a restart), no loss, idempotent sends, liveness, state equivalence hold with client restarts", () => {
    fc.assert(
      fc.property(restartingArb(), (scenario) => {
        const report = runScenario(scenario, { checkEquivalence: true });
        expect(report.violations, `replay with: npm run sim:replay -- '${JSON.stringify(scenario)}'`).toEqual([]);
      }),
      { numRuns: Math.ceil(RUNS / 3) },
    );
  });

  it("the restarts are not trivial: many kill a device with requests unanswered, which its next run gets answered", () => {
    let restarts = 0;
    let withPending = 0;
    for (const scenario of fc.sample(restartingArb(), { numRuns: 20, seed: 11 })) {
      const lines: string[] = [];
      const report = runScenario(scenario, { onTrace: (line) => lines.push(line) });
      expect(report.violations).toEqual([]);
      restarts += report.sim.devices.reduce((n, d) => n + d.restarts, 0);
      withPending += lines.filter((line) => / killed, .* [1-9]\d* pending$/.test(line)).length;
    }
    expect(restarts).toBeGreaterThan(40);
    expect(withPending).toBeGreaterThan(10);
  });
});

describe("CLI-2: the properties catch clients that get restarts wrong (test/support/broken-clients.ts)", () => {
  const caughtBy: Record<keyof PersistenceBreakage, RegExp> = { forgetOutboxOnRestore: /property 5/, rekeyOnRestore: /property 4/ };
  it.each(persistenceBreakages)("%s", (breakage) => {
    let found: string[] = [];
    const result = fc.check(
      fc.property(restartingArb(), (scenario) => {
        const violations = runScenario(scenario, { clientPolicy: brokenClient({ [breakage]: true }), settleWithinMs: 30_000 }).violations;
        if (violations.length > 0 && found.length === 0) found = violations;
        return violations.length === 0;
      }),
      { numRuns: 100, endOnFailure: true },
    );
    expect(result.failed, "the broken variant went unnoticed").toBe(true);
    expect(found.some((v) => caughtBy[breakage].test(v)), found.join("\n")).toBe(true);
  });
});
