import { ConversationKind } from "../../src/index.js";
import { ClientDriver, ClientMachine, type ClientEvent } from "../../src/entry/client.js";
import { connectWebSocket } from "../../src/entry/transports.js";
import { scenarioSummary, vectorOutcome, type ScenarioSummary, type VectorInput, type VectorOutcome } from "./portable-checks.js";

/**
 * The page the Chromium test opens, bundled by esbuild for the browser with
 * no Node polyfills: the portable core, driven from page.evaluate through
 * globalThis.imwirePage.
 */

export interface AliceSetup {
  readonly url: string;
  readonly token: string;
  readonly peer: string;
  readonly texts: readonly string[];
}

/** A message as a device saw it: "seq text". */
export type Seen = string;

export interface ImwirePage {
  vectorOutcomes(vectors: readonly VectorInput[]): VectorOutcome[];
  scenario(): ScenarioSummary;
  /** Alice on the browser's WebSocket: open a direct conversation with `peer`, send `texts`, resolve once each is acknowledged. */
  startAlice(setup: AliceSetup): Promise<{ conversationId: string; transport: string }>;
  /** Resolve once alice has seen `count` messages in the conversation; her view in order. */
  aliceSaw(count: number): Promise<Seen[]>;
  stopAlice(): void;
}

const TIMEOUT_MS = 8_000;

interface AliceState {
  readonly driver: ClientDriver;
  readonly events: ClientEvent[];
  readonly waiters: Set<() => void>;
  transport: string;
}
let alice: AliceState | undefined;

/** Resolve with `read()` once it returns a value; re-checked after every event alice gets. */
function when<T>(read: () => T | undefined, what: string): Promise<T> {
  const state = alice!;
  return new Promise((resolve, reject) => {
    const check = () => {
      const value = read();
      if (value === undefined) return;
      state.waiters.delete(check);
      clearTimeout(timer);
      resolve(value);
    };
    const timer = setTimeout(() => {
      state.waiters.delete(check);
      reject(new Error(`alice: no ${what} within ${TIMEOUT_MS} ms; events: ${state.events.map((e) => e.kind).join(" ")}`));
    }, TIMEOUT_MS);
    state.waiters.add(check);
    check();
  });
}

function messagesSeen(events: readonly ClientEvent[], conversationId: string): Seen[] {
  return events.flatMap((e) =>
    e.kind === "event" && e.conversationId === conversationId && e.event.body.case === "message" && e.event.body.value.content?.kind.case === "text"
      ? [`${e.event.seq} ${e.event.body.value.content.kind.value.text}`]
      : [],
  );
}

let conversation = "";

const page: ImwirePage = {
  vectorOutcomes: (vectors) => vectors.map(vectorOutcome),
  scenario: () => scenarioSummary(),

  async startAlice(setup) {
    // Unique per page load, so that a reloaded page never reuses an idempotency key (IDEM-1).
    const run = Math.random().toString(36).slice(2);
    let ids = 0;
    const machine = new ClientMachine(
      { deviceId: "browser" },
      { token: () => setup.token, random: Math.random, newId: () => `browser-${run}-${++ids}` },
    );
    const events: ClientEvent[] = [];
    const waiters = new Set<() => void>();
    const driver = new ClientDriver(machine, {
      connect: async () => {
        const transport = await connectWebSocket(setup.url);
        state.transport = transport.description;
        return transport;
      },
      onEvent: (event) => {
        events.push(event);
        for (const waiter of [...waiters]) waiter();
      },
    });
    const state: AliceState = { driver, events, waiters, transport: "" };
    alice = state;
    driver.start();
    await when(() => (events.some((e) => e.kind === "status" && e.status === "ready") ? true : undefined), "ready status");
    const opened = driver.act((m, now) => m.open({ kind: ConversationKind.DIRECT, userIds: [setup.peer] }, now));
    conversation = await when(() => {
      const done = events.find((e) => e.kind === "done" && e.operationId === opened);
      return done?.kind === "done" && done.answer.case === "conversationOpened" ? done.answer.value.conversation!.conversationId : undefined;
    }, "conversationOpened");
    const sends = setup.texts.map((text) => driver.act((m, now) => m.send(conversation, { kind: { case: "text", value: { text } } }, now)));
    await when(() => (sends.every((id) => events.some((e) => e.kind === "sent" && e.clientMessageId === id)) ? true : undefined), "acknowledgement of every send");
    return { conversationId: conversation, transport: state.transport };
  },

  aliceSaw: (count) => when(() => {
    const seen = messagesSeen(alice!.events, conversation);
    return seen.length >= count ? seen : undefined;
  }, `${count} messages`),

  stopAlice() {
    alice?.driver.stop();
    alice = undefined;
  },
};

(globalThis as { imwirePage?: ImwirePage }).imwirePage = page;
