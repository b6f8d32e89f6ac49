import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { frame } from "../src/codec/frame-codec.js";
import { ErrorCode } from "../src/gen/imwire/v1/error_pb.js";
import type { Frame } from "../src/gen/imwire/v1/frame_pb.js";
import { isImwireError } from "../src/errors.js";
import { ClientMachine } from "../src/machines/client/client-machine.js";
import { clientInputs, clientStates, nextState, statusOf, transitionTable, type ClientState, type Transition } from "../src/machines/client/states.js";
import type { ClientOutput } from "../src/machines/client/types.js";
import { runScenario } from "../src/sim/scenario.js";
import { frameOfCaseArb } from "./support/arbitraries.js";
import { scenarioArb } from "./support/scenarios.js";
import { requirements, specText } from "./support/spec.js";

/**
 * The client's states against SPEC.md §5.1: the table in states.ts names
 * every state of the diagram, each row cites a requirement, the machine
 * moves only along rows whatever its inputs, and the seeded simulation's
 * moves are rows too.
 */

const rowKey = (t: { from: string; input: string }) => `${t.from} ${t.input}`;
const rowKeys = new Set(transitionTable.map(rowKey));

/** The upper-case words of §5.1's diagram that name states. */
function diagramStates(): Set<string> {
  const section = specText.slice(specText.indexOf("### 5.1 Client states"), specText.indexOf("**CONN-9**"));
  const diagram = section.slice(section.indexOf("```") + 3, section.lastIndexOf("```"));
  return new Set([...diagram.matchAll(/\b[A-Z][A-Z_]{3,}\b(?!-\d)/g)].map((m) => m[0]).filter((w) => !w.startsWith("ERROR_CODE_")));
}

/** §5.1 draws HANDSHAKE as one state; the machine has its two steps. */
const drawnAs = (state: ClientState) => (state === "AWAIT_WELCOME" || state === "AWAIT_AUTHENTICATED" ? "HANDSHAKE" : state);

describe("§5.1: the transition table and the diagram", () => {
  it("every state the diagram draws is a state of the table, and every state of the table is drawn", () => {
    const drawn = diagramStates();
    expect([...drawn].sort()).toEqual([...new Set(clientStates.map(drawnAs))].sort());
    for (const state of clientStates) expect(transitionTable.some((r) => r.from === state || r.to === state), state).toBe(true);
  });

  it("every row cites a SPEC.md requirement (or §5.1 itself, for the application's own moves), and no row is listed twice", () => {
    const ids = new Set(requirements().map((r) => r.id));
    for (const row of transitionTable) expect(ids.has(row.requirement) || row.requirement === "§5.1", `${rowKey(row)}: ${row.requirement}`).toBe(true);
    expect(rowKeys.size).toBe(transitionTable.length);
  });

  it("every state is reachable from OFFLINE; REPLACED and STOPPED are final but for stop; everything can stop", () => {
    const reached = new Set<ClientState>(["OFFLINE"]);
    for (let grew = true; grew; ) {
      grew = false;
      for (const row of transitionTable) if (reached.has(row.from) && !reached.has(row.to)) grew = reached.add(row.to) !== undefined;
    }
    expect([...reached].sort()).toEqual([...clientStates].sort());
    expect(transitionTable.filter((r) => r.from === "REPLACED").map((r) => r.to)).toEqual(["STOPPED"]);
    expect(transitionTable.filter((r) => r.from === "STOPPED")).toEqual([]);
    for (const state of clientStates) if (state !== "STOPPED") expect(nextState(state, "stop"), state).toBe("STOPPED");
  });

  it("a move that is not in the table is an internal error", () => {
    let refused = 0;
    for (const from of clientStates) {
      for (const input of clientInputs) {
        if (rowKeys.has(`${from} ${input}`)) continue;
        refused++;
        let thrown: unknown;
        try {
          nextState(from, input);
        } catch (error) {
          thrown = error;
        }
        expect(isImwireError(thrown) && thrown.code === ErrorCode.INTERNAL, `${from} on ${input}`).toBe(true);
      }
    }
    expect(refused).toBeGreaterThan(100);
  });
});

// ---- the machine keeps to the table --------------------------------------------

const WELCOME = { version: 1, maxFrameSize: 1_048_576, heartbeatIntervalMs: 2_000, maxInFlight: 4, receiveWindow: 100, dedupWindowS: 86_400 };

/** One input to the machine, the server's frames answering its pending requests by their request ids. */
type Input =
  | { readonly kind: "tick"; readonly after: number }
  | { readonly kind: "connected" | "disconnected"; readonly which: number }
  | { readonly kind: "answer"; readonly answer: "welcome" | "authenticated" | "resumed" | "page" | "caughtUp" | "unauthenticated" | "replaced" | "goAway" | "error" | "badWelcome" }
  | { readonly kind: "frame"; readonly frame: Frame }
  | { readonly kind: "send" | "stop" | "start" }
  /** Answer the last request as a working server would: hello, authenticate, sync_user, in turn. */
  | { readonly kind: "progress"; readonly resumed: boolean };

const inputArb: fc.Arbitrary<Input> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant("progress" as const), resumed: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("tick" as const), after: fc.integer({ min: 0, max: 12_000 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom("connected" as const, "disconnected" as const), which: fc.integer({ min: -1, max: 0 }) }) },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("answer" as const),
      answer: fc.constantFrom("welcome" as const, "authenticated" as const, "resumed" as const, "page" as const, "caughtUp" as const, "unauthenticated" as const, "replaced" as const, "goAway" as const, "error" as const, "badWelcome" as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("frame" as const), frame: fc.constantFrom("deliver", "pong", "ping", "userPage", "sendAck", "hello").chain((c) => frameOfCaseArb(c as never)) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom("send" as const, "stop" as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("start" as const) }) },
);

interface Driven {
  readonly transitions: Transition[];
  readonly client: ClientMachine;
}

/** Drive a client with `inputs`, answering what it asked for; an illegal move throws out of here. */
function drive(inputs: readonly Input[]): Driven {
  const transitions: Transition[] = [];
  let ids = 0;
  const client = new ClientMachine({ deviceId: "d", lossyTransport: true }, { token: () => "u|d", random: () => 0.5, newId: () => `m${++ids}`, onTransition: (t) => transitions.push(t) });
  let now = 0;
  let connection = 0;
  let lastRequest = 0;
  let lastAsked: Frame["body"]["case"];
  const take = () => {
    for (const output of client.takeOutputs() as ClientOutput[]) {
      if (output.kind === "connect") connection = output.connection;
      if (output.kind === "send" && output.frame.requestId !== 0) {
        lastRequest = output.frame.requestId;
        lastAsked = output.frame.body.case;
      }
    }
  };
  const progress = (resumed: boolean) => {
    if (lastAsked === undefined || !["hello", "authenticate", "syncUser"].includes(lastAsked) || client.status === "connecting") {
      client.connected(connection, now);
      return;
    }
    const answer = lastAsked === "hello" ? "welcome" : lastAsked === "authenticate" ? (resumed ? "resumed" : "authenticated") : "caughtUp";
    client.frameReceived(frame(answerFor(answer, lastRequest)), now);
  };
  client.start(now);
  take();
  for (const input of inputs) {
    switch (input.kind) {
      case "tick":
        now += input.after;
        client.tick(now);
        break;
      case "connected":
        client.connected(connection + input.which, now);
        break;
      case "disconnected":
        client.disconnected(connection + input.which, now);
        break;
      case "frame":
        client.frameReceived(input.frame, now);
        break;
      case "answer":
        client.frameReceived(frame(answerFor(input.answer, lastRequest)), now);
        break;
      case "send":
        client.send("c1", { kind: { case: "text", value: { text: "hi" } } }, now);
        break;
      case "stop":
        client.stop(now);
        break;
      case "start":
        client.start(now);
        break;
      case "progress":
        progress(input.resumed);
        break;
    }
    take();
    // The status shown is the state's (DRAINING keeps the one it was entered with).
    const state = transitions.at(-1)?.to ?? "OFFLINE";
    if (statusOf(state) !== undefined) expect(client.status).toBe(statusOf(state));
  }
  return { transitions, client };
}

function answerFor(answer: Extract<Input, { kind: "answer" }>["answer"], requestId: number): Parameters<typeof frame>[0] {
  const snapshot = { epoch: "e1", cursor: 5n, conversations: [{ conversationId: "c1", kind: 2, firstVisibleSeq: 1n, lastSeq: 0n }] };
  switch (answer) {
    case "welcome":
      return { requestId, body: { case: "welcome", value: WELCOME } };
    case "badWelcome":
      return { requestId, body: { case: "welcome", value: { ...WELCOME, version: 99 } } };
    case "authenticated":
    case "resumed":
      return { requestId, body: { case: "authenticated", value: { userId: "u", deviceId: "d", epoch: "e1", resumed: answer === "resumed" } } };
    case "page":
      return { requestId, body: { case: "userPage", value: { snapshot: { ...snapshot, continueAfter: "c1" }, headCursor: 5n } } };
    case "caughtUp":
      return { requestId, body: { case: "userPage", value: { snapshot, headCursor: 5n } } };
    case "unauthenticated":
      return { requestId, body: { case: "error", value: { code: ErrorCode.UNAUTHENTICATED, closing: true } } };
    case "replaced":
      return { body: { case: "error", value: { code: ErrorCode.SESSION_REPLACED, closing: true } } };
    case "goAway":
      return { body: { case: "goAway", value: { reconnectDelayMs: 500 } } };
    case "error":
      return { requestId, body: { case: "error", value: { code: ErrorCode.UNAVAILABLE, retryable: true } } };
  }
}

describe("the machine moves only along the table", () => {
  it("whatever the inputs — answers in any order, stale connection news, stray frames, stop and start — every move is a row", () => {
    const taken = new Set<string>();
    fc.assert(
      fc.property(fc.array(inputArb, { maxLength: 60 }), (inputs) => {
        const { transitions } = drive(inputs);
        for (const t of transitions) {
          expect(rowKeys.has(rowKey(t)), rowKey(t)).toBe(true);
          expect(t.to).toBe(nextState(t.from, t.input));
          taken.add(rowKey(t));
        }
      }),
      { numRuns: 1_500, seed: 11 },
    );
    // The inputs reach most of the table (the rarest rows have their own tests below).
    for (const key of ["READY go_away", "DRAINING drained", "AWAIT_AUTHENTICATED token_refused", "AWAIT_WELCOME welcome_refused", "READY stop"]) {
      expect(taken.has(key), key).toBe(true);
    }
    expect(taken.size / transitionTable.length).toBeGreaterThan(0.85);
  });

  it("every move the seeded simulation makes is a row, and the simulation walks the main paths of §5.1", () => {
    const taken = new Map<string, number>();
    for (const scenario of fc.sample(scenarioArb({ maxSteps: 30 }), { numRuns: 12, seed: 5 })) {
      runScenario(scenario, {
        settleWithinMs: 30_000,
        onClientTransition: (_device, t) => {
          expect(rowKeys.has(rowKey(t)), rowKey(t)).toBe(true);
          taken.set(rowKey(t), (taken.get(rowKey(t)) ?? 0) + 1);
        },
      });
    }
    for (const key of [
      "OFFLINE reconnect_due",
      "CONNECTING transport_open",
      "AWAIT_WELCOME welcome",
      "AWAIT_AUTHENTICATED authenticated_not_resumed",
      "SYNCING caught_up",
      "AWAIT_AUTHENTICATED authenticated_resumed",
      "READY transport_lost",
    ]) {
      expect(taken.get(key) ?? 0, key).toBeGreaterThan(0);
    }
  });
});

// ---- single moves: the stop fix, the drain, refusals -----------------------------

interface Probe {
  readonly client: ClientMachine;
  readonly transitions: Transition[];
  /** Every output since the last call. */
  readonly take: () => ClientOutput[];
  /** Every output ever taken. */
  readonly all: ClientOutput[];
  readonly token: { value: string };
}

function probe(): Probe {
  const transitions: Transition[] = [];
  const token = { value: "u|d" };
  let ids = 0;
  const client = new ClientMachine({ deviceId: "d" }, { token: () => token.value, random: () => 0.5, newId: () => `m${++ids}`, onTransition: (t) => transitions.push(t) });
  const all: ClientOutput[] = [];
  const take = () => {
    const outputs = client.takeOutputs();
    all.push(...outputs);
    return outputs;
  };
  return { client, transitions, take, all, token };
}

const sentCases = (outputs: readonly ClientOutput[]) => outputs.flatMap((o) => (o.kind === "send" ? [o.frame.body.case] : []));
const statuses = (outputs: readonly ClientOutput[]) => outputs.flatMap((o) => (o.kind === "app" && o.event.kind === "status" ? [o.event.status] : []));
const requestIdOf = (outputs: readonly ClientOutput[], kind: string) => {
  const found = outputs.find((o) => o.kind === "send" && o.frame.body.case === kind);
  if (found?.kind !== "send") throw new Error(`no ${kind} in [${sentCases(outputs).join(", ")}]`);
  return found.frame.requestId;
};

/** Start, connect (connection 1) and answer hello; returns the outputs, authenticate's among them. */
function welcomed(p: Probe, now = 0): ClientOutput[] {
  p.client.start(now);
  p.client.connected(1, now);
  const hello = requestIdOf(p.take(), "hello");
  p.client.frameReceived(frame({ requestId: hello, body: { case: "welcome", value: WELCOME } }), now);
  return p.take();
}

/** Through the handshake, not resumed: sync_user is in flight. */
function syncing(p: Probe, now = 0): number {
  const authenticate = requestIdOf(welcomed(p, now), "authenticate");
  p.client.frameReceived(frame({ requestId: authenticate, body: { case: "authenticated", value: { userId: "u", deviceId: "d", epoch: "e1" } } }), now);
  return requestIdOf(p.take(), "syncUser");
}

function ready(p: Probe, now = 0): void {
  const syncUser = syncing(p, now);
  p.client.frameReceived(frame(answerFor("caughtUp", syncUser)), now);
  p.take();
  expect(p.client.status).toBe("ready");
}

const goAway = (reconnectDelayMs: number) => frame({ body: { case: "goAway", value: { reconnectDelayMs } } });

/** Inputs of every kind, after which a stopped client must stay silent. */
function poke(p: Probe, from: number): ClientOutput[] {
  const outputs: ClientOutput[] = [];
  for (const at of [from, from + 1_000, from + 60_000, from + 3_600_000]) {
    p.client.tick(at);
    p.client.disconnected(1, at);
    p.client.connected(1, at);
    p.client.connected(2, at);
    p.client.frameReceived(goAway(0), at);
    p.client.start(at);
    outputs.push(...p.take());
  }
  return outputs;
}

describe("stop(): STOPPED, and nothing after it but the close", () => {
  it("from READY: the connection is closed, the status is stopped (never offline), no reconnect, no wake-up, and nothing more comes out", () => {
    const p = probe();
    ready(p);
    p.client.stop(100);
    const outputs = p.take();
    expect(outputs).toEqual([
      { kind: "close", connection: 1 },
      { kind: "app", event: { kind: "status", status: "stopped" } },
    ]);
    expect(p.client.status).toBe("stopped");
    expect(p.client.nextWakeup()).toBeUndefined();
    expect(poke(p, 200)).toEqual([]);
    p.client.send("c1", { kind: { case: "text", value: { text: "late" } } }, 300);
    expect(p.take()).toEqual([]);
    expect(p.transitions.at(-1)).toEqual({ from: "READY", input: "stop", to: "STOPPED" });
    expect(p.client.status).toBe("stopped");
  });

  it("while backing off after a lost connection: no close (there is none), no reconnect", () => {
    const p = probe();
    ready(p);
    p.client.disconnected(1, 100);
    expect(statuses(p.take())).toEqual(["offline"]);
    expect(p.client.nextWakeup()).toBeDefined();
    p.client.stop(150);
    expect(p.take()).toEqual([{ kind: "app", event: { kind: "status", status: "stopped" } }]);
    expect(p.client.nextWakeup()).toBeUndefined();
    expect(poke(p, 200)).toEqual([]);
  });

  it("while a connection is being opened: its later news is ignored, no hello goes out", () => {
    const p = probe();
    p.client.start(0);
    expect(p.take().some((o) => o.kind === "connect")).toBe(true);
    p.client.stop(10);
    expect(statuses(p.take())).toEqual(["stopped"]);
    expect(poke(p, 20)).toEqual([]);
  });

  it("from DRAINING and from UNAUTHENTICATED alike", () => {
    const draining = probe();
    ready(draining);
    draining.client.frameReceived(goAway(1_000), 50);
    draining.client.stop(60);
    expect(draining.take()).toEqual([{ kind: "close", connection: 1 }, { kind: "app", event: { kind: "status", status: "stopped" } }]);
    const refused = probe();
    const authenticate = requestIdOf(welcomed(refused), "authenticate");
    refused.client.frameReceived(frame(answerFor("unauthenticated", authenticate)), 0);
    refused.take();
    refused.client.stop(10);
    expect(refused.take()).toEqual([{ kind: "app", event: { kind: "status", status: "stopped" } }]);
    expect(poke(refused, 20)).toEqual([]);
  });
});

describe("§5.1 statuses", () => {
  it("offline → connecting → handshake → syncing → ready, one status event per change", () => {
    const p = probe();
    ready(p);
    expect(p.transitions.map((t) => t.to)).toEqual(["CONNECTING", "AWAIT_WELCOME", "AWAIT_AUTHENTICATED", "SYNCING", "READY"]);
    expect(statuses(p.all)).toEqual(["connecting", "handshake", "syncing", "ready"]);
  });
});

describe("CONN-7: DRAINING", () => {
  it("a drain begun in SYNCING ends in SYNCING: the caught-up page does not make it READY, nothing new is asked, and the connection closes", () => {
    const p = probe();
    const syncUser = syncing(p);
    p.client.frameReceived(goAway(1_000), 10);
    p.client.send("c1", { kind: { case: "text", value: { text: "held back" } } }, 20);
    p.client.frameReceived(frame(answerFor("caughtUp", syncUser)), 30);
    const afterPage = p.take();
    expect(sentCases(afterPage).filter((c) => c !== "deliveryAck")).toEqual([]);
    expect(statuses(afterPage)).toEqual([]);
    expect(p.transitions.at(-1)).toEqual({ from: "DRAINING", input: "caught_up", to: "DRAINING" });
    expect(p.client.settled).toBe(false);
    p.client.tick(40);
    const closing = p.take();
    expect(closing.filter((o) => o.kind === "close")).toEqual([{ kind: "close", connection: 1 }]);
    expect(statuses(closing)).toEqual(["offline"]);
    expect(p.client.nextWakeup()).toBe(10 + 1_000 * 1.5);
  });

  it("a drain begun before welcome: welcome binds its limits but no authenticate follows; the handshake timeout, not HB-4, bounds the wait", () => {
    const p = probe();
    p.client.start(0);
    p.client.connected(1, 0);
    const hello = requestIdOf(p.take(), "hello");
    p.client.frameReceived(goAway(2_000), 5);
    expect(p.client.status).toBe("handshake");
    p.client.tick(6);
    expect(p.take()).toEqual([]); // hello is still unanswered, and no heartbeat is known yet
    p.client.frameReceived(frame({ requestId: hello, body: { case: "welcome", value: WELCOME } }), 10);
    const afterWelcome = p.take();
    expect(sentCases(afterWelcome)).toEqual([]);
    expect(afterWelcome).toContainEqual({ kind: "frame-limit", connection: 1, maxFrameSize: WELCOME.maxFrameSize });
    p.client.tick(11);
    expect(p.take().filter((o) => o.kind === "close")).toHaveLength(1);
    expect(p.client.nextWakeup()).toBe(5 + 2_000 * 1.5);
  });
});

describe("AUTH-1, AUTH-4: the final states hold no connection", () => {
  it("TOKEN_EXPIRED on authenticate is UNAUTHENTICATED too: no reconnect loop with a token that cannot work", () => {
    const p = probe();
    const authenticate = requestIdOf(welcomed(p), "authenticate");
    p.client.frameReceived(frame({ requestId: authenticate, body: { case: "error", value: { code: ErrorCode.TOKEN_EXPIRED, closing: true } } }), 10);
    const refused = p.take();
    expect(statuses(refused)).toEqual(["unauthenticated"]);
    expect(p.client.nextWakeup()).toBeUndefined();
  });

  it("UNAUTHENTICATED: the client closes, asks for nothing, and start() with a new token connects again", () => {
    const p = probe();
    const authenticate = requestIdOf(welcomed(p), "authenticate");
    p.client.frameReceived(frame(answerFor("unauthenticated", authenticate)), 10);
    const refused = p.take();
    expect(refused.filter((o) => o.kind === "close")).toEqual([{ kind: "close", connection: 1 }]);
    expect(statuses(refused)).toEqual(["unauthenticated"]);
    expect(p.client.nextWakeup()).toBeUndefined();
    p.client.tick(100_000);
    expect(p.take()).toEqual([]);
    p.token.value = "u|d|fresh";
    p.client.start(100_000);
    const again = p.take();
    expect(again.filter((o) => o.kind === "connect")).toEqual([{ kind: "connect", connection: 2 }]);
    expect(statuses(again)).toEqual(["offline", "connecting"]);
    p.client.connected(2, 100_001);
    const hello = requestIdOf(p.take(), "hello");
    p.client.frameReceived(frame({ requestId: hello, body: { case: "welcome", value: WELCOME } }), 100_002);
    const auth = p.take().find((o) => o.kind === "send" && o.frame.body.case === "authenticate");
    expect(auth?.kind === "send" && auth.frame.body.case === "authenticate" && auth.frame.body.value.token).toBe("u|d|fresh");
  });

  it("REPLACED: the client closes at once and stays replaced, whatever comes later", () => {
    const p = probe();
    ready(p);
    p.client.frameReceived(frame(answerFor("replaced", 0)), 10);
    const replaced = p.take();
    expect(replaced.filter((o) => o.kind === "close")).toEqual([{ kind: "close", connection: 1 }]);
    expect(statuses(replaced)).toEqual(["replaced"]);
    p.client.start(20);
    expect(poke(p, 30)).toEqual([]);
    expect(p.client.status).toBe("replaced");
  });
});
