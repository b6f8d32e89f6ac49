import { connect, createServer, type AddressInfo } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ClientDriver } from "../src/client/client-driver.js";
import { ConversationKind } from "../src/gen/imwire/v1/conversation_pb.js";
import { ClientMachine } from "../src/machines/client/client-machine.js";
import type { ClientEvent, ClientOutput } from "../src/machines/client/types.js";
import { newServerMachine } from "../src/machines/server/server-machine.js";
import type { TokenCheck } from "../src/machines/server/types.js";
import { DriveLoop, type OutputHandlers } from "../src/runtime/drive-loop.js";
import { memoryLink, type MemoryTransport } from "../src/runtime/memory-link.js";
import { virtualTimers, VirtualTimer } from "../src/runtime/virtual-timer.js";
import { ClockTimer } from "../src/runtime/wakeup-timer.js";
import { ServerRunner } from "../src/server/server-runner.js";
import { EventQueue } from "../src/sim/event-queue.js";
import { MemoryStore } from "../src/store/memory-store.js";
import type { FrameTransport } from "../src/transport/frame-transport.js";

const silent = { info: () => {}, warn: () => {}, error: () => {} };

/** Lets the promises an event started settle (a transport opening, FLOW-1's settle), without any real time passing. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A ServerRunner and ClientDrivers on one virtual clock, joined by in-memory
 * links: every wake-up and every frame is an event on the queue.
 */
function world() {
  const queue = new EventQueue();
  const now = () => queue.now;
  const store = new MemoryStore();
  let conversations = 0;
  const machine = newServerMachine(
    {
      store,
      verifyToken: (token): TokenCheck => {
        const [userId, deviceId] = token.split("|");
        return userId && deviceId ? { ok: true, userId, deviceId, expiresAtMs: 0 } : { ok: false, expired: false };
      },
      randomId: () => `c${++conversations}`,
    },
    { heartbeatIntervalMs: 2_000 },
  );
  const server = new ServerRunner(machine, { now, log: silent, timer: virtualTimers(queue) });

  /** Run the world to virtual time `until`, event by event; a livelock fails rather than spins. */
  const advance = async (until: number) => {
    await settle();
    for (let ran = 0; queue.runNext(until); ran++) {
      if (ran > 100_000) throw new Error(`more than 100,000 events before t=${until}: a livelock at t=${queue.now}?`);
      await settle();
    }
    queue.runUntil(until);
  };

  const device = (userId: string, deviceId: string, connect?: (connection: number) => Promise<FrameTransport>) => {
    store.addUser(userId);
    const events: ClientEvent[] = [];
    const links: MemoryTransport[] = [];
    let ids = 0;
    const client = new ClientMachine({ deviceId, reconnectBaseMs: 200, reconnectMaxMs: 2_000 }, { token: () => `${userId}|${deviceId}`, random: () => 0.5, newId: () => `${deviceId}-${++ids}` });
    const openLink = () => {
      const [clientEnd, serverEnd] = memoryLink(queue);
      server.attach(serverEnd);
      links.push(clientEnd);
      return clientEnd;
    };
    const connectErrors: unknown[] = [];
    const driver = new ClientDriver(client, {
      connect: connect ?? (() => Promise.resolve(openLink())),
      timer: virtualTimers(queue),
      now,
      onEvent: (event) => events.push(event),
      onConnectError: (error) => connectErrors.push(error),
    });
    const statuses = () => events.flatMap((e) => (e.kind === "status" ? [e.status] : []));
    const messages = () => events.flatMap((e) => (e.kind === "event" && e.event.body.case === "message" ? [e.event.body.value.content?.kind.value] : []));
    return { driver, events, links, openLink, statuses, messages, connectErrors };
  };

  /** Alice opens a direct conversation with bob; its id. */
  const openDirect = async (alice: ReturnType<typeof device>) => {
    const op = alice.driver.act((m, t) => m.open({ kind: ConversationKind.DIRECT, userIds: ["bob"] }, t));
    await advance(queue.now + 50);
    const done = alice.events.find((e) => e.kind === "done" && e.operationId === op);
    if (done?.kind !== "done" || done.answer.case !== "conversationOpened") throw new Error(`no conversation: ${JSON.stringify(alice.events.map((e) => e.kind))}`);
    return done.answer.value.conversation!.conversationId;
  };

  return { queue, server, advance, device, openDirect };
}

describe("ClientDriver on an in-memory link and virtual time", () => {
  it("two devices exchange a message, stay connected through a virtual minute of heartbeats, and leave nothing behind when stopped", async () => {
    const w = world();
    const alice = w.device("alice", "phone");
    const bob = w.device("bob", "laptop");
    alice.driver.start();
    bob.driver.start();
    await w.advance(100);
    expect(alice.statuses().at(-1)).toBe("ready");
    expect(bob.statuses().at(-1)).toBe("ready");

    const conversationId = await w.openDirect(alice);
    const sent = alice.driver.act((m, t) => m.send(conversationId, { kind: { case: "text", value: { text: "hello bob" } } }, t));
    await w.advance(w.queue.now + 50);
    expect(bob.messages()).toEqual([expect.objectContaining({ text: "hello bob" })]);
    expect(alice.events.some((e) => e.kind === "sent" && e.clientMessageId === sent)).toBe(true);

    // 30 heartbeat intervals: only the driver's wake-ups answer and send pings (HB-1 to HB-4).
    await w.advance(w.queue.now + 60_000);
    expect([alice.links.length, bob.links.length]).toEqual([1, 1]);
    expect(alice.statuses().at(-1)).toBe("ready");
    expect(w.server.connectionCount).toBe(2);

    alice.driver.stop();
    bob.driver.stop();
    await w.advance(w.queue.now + 10);
    expect([alice.links[0]!.closed, bob.links[0]!.closed]).toEqual([true, true]);
    expect(w.server.connectionCount).toBe(0);
    await w.advance(w.queue.now + 60_000);
    expect([alice.links.length, bob.links.length]).toEqual([1, 1]);
    expect(alice.driver.machine.nextWakeup()).toBeUndefined();
  });

  it("a cut connection is reported to the machine, which reconnects after its backoff, resumes, and gets what was sent meanwhile exactly once", async () => {
    const w = world();
    const alice = w.device("alice", "phone");
    const bob = w.device("bob", "laptop");
    alice.driver.start();
    bob.driver.start();
    await w.advance(100);
    const conversationId = await w.openDirect(alice);

    bob.links[0]!.destroy();
    alice.driver.act((m, t) => m.send(conversationId, { kind: { case: "text", value: { text: "while you were away" } } }, t));
    await w.advance(w.queue.now + 5_000);
    expect(bob.links).toHaveLength(2);
    expect(bob.statuses()).toContain("offline");
    expect(bob.statuses().at(-1)).toBe("ready");
    expect(bob.messages()).toEqual([expect.objectContaining({ text: "while you were away" })]);
  });

  it("FRM-9: a frame the transport refuses gives that connection up, without a throw, and the next connection works", async () => {
    const w = world();
    let attempts = 0;
    const limited: MemoryTransport[] = [];
    const alice = w.device("alice", "phone", () => {
      attempts++;
      if (attempts > 1) return Promise.resolve(alice.openLink());
      // Hello is larger than 8 bytes: the client end refuses to write it.
      const [clientEnd, serverEnd] = memoryLink(w.queue, { maxFrameSize: 8 });
      w.server.attach(serverEnd);
      limited.push(clientEnd);
      return Promise.resolve(clientEnd);
    });
    alice.driver.start();
    await w.advance(2_000);
    expect(attempts).toBe(2);
    expect(limited[0]!.closed).toBe(true);
    expect(alice.statuses().at(-1)).toBe("ready");
  });

  it("a connection that cannot be opened is reported as one: the machine backs off and tries again", async () => {
    const w = world();
    const attemptsAt: number[] = [];
    const alice = w.device("alice", "phone", () => {
      attemptsAt.push(w.queue.now);
      return attemptsAt.length <= 2 ? Promise.reject(new Error("refused")) : Promise.resolve(alice.openLink());
    });
    alice.driver.start();
    await w.advance(5_000);
    expect(attemptsAt).toHaveLength(3);
    expect(attemptsAt[2]! - attemptsAt[1]!).toBeGreaterThan(attemptsAt[1]! - attemptsAt[0]!);
    expect(alice.statuses().at(-1)).toBe("ready");
    expect(alice.connectErrors.map((e) => (e as Error).message)).toEqual(["refused", "refused"]);
  });

  it("a transport that opens after stop() is closed, not adopted", async () => {
    const w = world();
    let open: (transport: FrameTransport) => void = () => {};
    const alice = w.device("alice", "phone", () => new Promise((resolve) => (open = resolve)));
    alice.driver.start();
    await w.advance(10);
    alice.driver.stop();
    const late = alice.openLink();
    open(late);
    await w.advance(w.queue.now + 10);
    expect(late.closed).toBe(true);
    expect(w.server.connectionCount).toBe(0);
    expect(alice.statuses().at(-1)).toBe("stopped");
  });

  it("an application that answers an event with a command, inside onEvent, is carried out in order", async () => {
    const w = world();
    const bob = w.device("bob", "laptop");
    bob.driver.start();
    const opened: string[] = [];
    const alice = w.device("alice", "phone");
    const driver = new ClientDriver(alice.driver.machine, {
      connect: () => Promise.resolve(alice.openLink()),
      timer: virtualTimers(w.queue),
      now: () => w.queue.now,
      onEvent: (event) => {
        alice.events.push(event);
        if (event.kind === "status" && event.status === "ready") opened.push(driver.act((m, t) => m.open({ kind: ConversationKind.DIRECT, userIds: ["bob"] }, t)));
      },
    });
    driver.start();
    await w.advance(200);
    expect(opened).toHaveLength(1);
    expect(alice.events.some((e) => e.kind === "done" && e.operationId === opened[0])).toBe(true);
  });
});

describe("the shared drive loop and its timers", () => {
  /** A machine that says what it is told to, and records what was carried out. */
  function toyLoop() {
    type Toy = { readonly kind: "say"; readonly word: string } | { readonly kind: "stop" };
    const pending: Toy[] = [];
    const done: string[] = [];
    const queue = new EventQueue();
    let wakeAt: number | undefined;
    const ticks: number[] = [];
    const loop: DriveLoop<Toy> = new DriveLoop<Toy>({
      take: () => pending.splice(0),
      handlers: {
        say: (output) => {
          done.push(output.word);
          // A handler that feeds the machine and drives again, as an application reacting to an event does.
          if (output.word === "a") {
            pending.push({ kind: "say", word: "c" });
            loop.drive();
          }
        },
        stop: () => done.push("stop"),
      },
      nextWakeup: () => wakeAt,
      tick: (now) => ticks.push(now),
      now: () => queue.now,
      timer: virtualTimers(queue),
    });
    return { pending, done, queue, loop, ticks, wake: (at: number | undefined) => (wakeAt = at) };
  }

  it("carries out outputs in the order the machine produced them, even when a handler drives again", () => {
    const toy = toyLoop();
    toy.pending.push({ kind: "say", word: "a" }, { kind: "say", word: "b" }, { kind: "stop" });
    toy.loop.drive();
    expect(toy.done).toEqual(["a", "b", "stop", "c"]);
  });

  it("re-arms one wake-up at the machine's nextWakeup, and cancel() silences it", () => {
    const toy = toyLoop();
    toy.wake(100);
    toy.loop.drive();
    toy.wake(undefined);
    toy.queue.runUntil(150);
    expect(toy.ticks).toEqual([100]);
    toy.wake(200);
    toy.loop.drive();
    toy.loop.cancel();
    toy.queue.runUntil(300);
    expect(toy.ticks).toEqual([100]);
  });

  it("a handler map without every kind of output does not compile", () => {
    // @ts-expect-error: "app" has no handler
    const handlers: OutputHandlers<ClientOutput> = { connect: () => {}, send: () => {}, close: () => {}, "frame-limit": () => {} };
    expect(Object.keys(handlers)).toHaveLength(4);
  });

  it("VirtualTimer: an earlier wake-up goes first; a superseded one still fires at its time (the simulator's histories depend on it)", () => {
    const queue = new EventQueue();
    const fired: number[] = [];
    const timer = new VirtualTimer(queue, () => fired.push(queue.now));
    timer.schedule(50);
    timer.schedule(20);
    timer.schedule(30);
    queue.runUntil(100);
    expect(fired).toEqual([20, 50]);
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it("ClockTimer: one setTimeout for the earliest wake-up asked for, replaced by an earlier one, cleared by cancel", () => {
    vi.useFakeTimers({ now: 0 });
    const fired: number[] = [];
    const timer = new ClockTimer(Date.now, () => fired.push(Date.now()));
    timer.schedule(100);
    timer.schedule(40);
    timer.schedule(70);
    vi.advanceTimersByTime(200);
    // Fired once, at 40 — the fake setImmediate it hops through (below) runs a millisecond later.
    expect(fired).toHaveLength(1);
    expect(fired[0]).toBeGreaterThanOrEqual(40);
    expect(fired[0]).toBeLessThanOrEqual(41);
    timer.schedule(300);
    timer.cancel();
    vi.advanceTimersByTime(200);
    expect(fired).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("ClockTimer: a deadline met late, after the loop was busy, is judged after the bytes that came in meanwhile (HB-3, HB-4)", async () => {
    const order: string[] = [];
    const server = createServer((socket) => socket.on("data", () => order.push("data")));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const client = connect((server.address() as AddressInfo).port, "127.0.0.1");
    await new Promise<void>((resolve) => server.once("connection", () => setImmediate(resolve)));
    try {
      const timer = new ClockTimer(Date.now, () => order.push("wake"));
      timer.schedule(Date.now() + 5);
      client.write("ping");
      // The loop is busy past the deadline while the bytes arrive: Node runs due timers before it reads sockets.
      const busyUntil = Date.now() + 40;
      while (Date.now() < busyUntil);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(order).toEqual(["data", "wake"]);
    } finally {
      client.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("ClockTimer: a server's wake-up does not hold the Node process; a client's does", () => {
    const handles: { unref: ReturnType<typeof vi.fn> }[] = [];
    const setSpy = vi.spyOn(globalThis, "setTimeout").mockImplementation((() => {
      const handle = { unref: vi.fn() };
      handles.push(handle);
      return handle;
    }) as never);
    const clearSpy = vi.spyOn(globalThis, "clearTimeout").mockImplementation(() => {});
    try {
      new ClockTimer(() => 0, () => {}).schedule(10);
      new ClockTimer(() => 0, () => {}, { holdsProcess: true }).schedule(10);
    } finally {
      setSpy.mockRestore();
      clearSpy.mockRestore();
    }
    expect(handles.map((handle) => handle.unref.mock.calls.length)).toEqual([1, 0]);
  });
});
