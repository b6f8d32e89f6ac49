import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { create } from "@bufbuild/protobuf";
import { UserEventSchema, type UserEvent } from "../src/gen/imwire/v1/delivery_pb.js";
import { ConversationEventSchema, MembershipAction, type ConversationEvent } from "../src/gen/imwire/v1/message_pb.js";
import { ConversationKind, ConversationSchema } from "../src/gen/imwire/v1/conversation_pb.js";
import { ConversationState } from "../src/machines/client/conversation-state.js";
import { Timeline } from "../src/machines/client/timeline.js";
import { StreamCursor } from "../src/machines/client/stream-cursor.js";
import { Outbox, type RequestBody } from "../src/machines/client/outbox.js";
import { frame } from "../src/codec/frame-codec.js";
import { ClientMachine } from "../src/machines/client/client-machine.js";
import type { ClientPolicy } from "../src/machines/client/policy.js";
import type { ClientOutput } from "../src/machines/client/types.js";
import { brokenClient, clientBreakages, type ClientBreakage } from "./support/broken-clients.js";

/**
 * Unit tests of the client machine's parts: the per-conversation reorder
 * buffer (Timeline), the user stream position (StreamCursor), the
 * idempotent request outbox (Outbox), and the policy seam (ClientPolicy):
 * each broken policy is caught by a check that the correct one passes.
 */

// ---- helpers ---------------------------------------------------------------

/** A message event of conversation "c" with this seq. */
function ev(seq: number | bigint): ConversationEvent {
  const s = BigInt(seq);
  return create(ConversationEventSchema, {
    conversationId: "c",
    seq: s,
    body: { case: "message", value: { messageId: `m${s}`, content: { kind: { case: "text", value: { text: `t${s}` } } } } },
  });
}

/** A stream entry (a read receipt: no side effects) with this cursor and prev_cursor. */
function entry(cursor: number | bigint, prevCursor: number | bigint): UserEvent {
  return create(UserEventSchema, {
    cursor: BigInt(cursor),
    prevCursor: BigInt(prevCursor),
    body: { case: "readReceipt", value: { conversationId: "c", userId: "u2", seq: 1n } },
  });
}

const seqs = (events: readonly ConversationEvent[]) => events.map((e) => Number(e.seq));
const cursors = (entries: readonly UserEvent[]) => entries.map((e) => Number(e.cursor));

/** Every item of `items` at least once, some more than once, in a random order. */
function permutedWithDuplicates<T>(items: readonly T[]): fc.Arbitrary<T[]> {
  const extras = items.length === 0 ? fc.constant<T[]>([]) : fc.array(fc.constantFrom(...items), { maxLength: items.length * 2 });
  return extras.chain((extra) => {
    const all = [...items, ...extra];
    return fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length });
  });
}

const text = (t: string): RequestBody => ({
  case: "sendMessage",
  value: { conversationId: "c", clientMessageId: t, content: { kind: { case: "text", value: { text: t } } } },
});

const TIMING = { retryOnSameConnection: true, attemptTimeoutMs: 1_000, maxAttemptTimeoutMs: 8_000 };

// ---- Timeline ----------------------------------------------------------------

describe("Timeline (SEQ-3, SEQ-4)", () => {
  it("SEQ-3: applies the next event (s = H + 1) at once", () => {
    const timeline = new Timeline();
    expect(seqs(timeline.accept(ev(1)))).toEqual([1]);
    expect(timeline.held).toBe(1n);
    expect(seqs(timeline.accept(ev(2)))).toEqual([2]);
    expect(timeline.held).toBe(2n);
    expect(timeline.hasGap).toBe(false);
  });

  it("SEQ-3: drops duplicates (s <= H)", () => {
    const timeline = new Timeline();
    timeline.accept(ev(1));
    timeline.accept(ev(2));
    expect(timeline.accept(ev(1))).toEqual([]);
    expect(timeline.accept(ev(2))).toEqual([]);
    expect(timeline.held).toBe(2n);
    expect(timeline.bufferedCount).toBe(0);
  });

  it("SEQ-3: keeps an event ahead of a gap and drains the buffer in order when the gap fills", () => {
    const timeline = new Timeline();
    expect(timeline.accept(ev(4))).toEqual([]);
    expect(timeline.accept(ev(3))).toEqual([]);
    expect(timeline.accept(ev(4))).toEqual([]); // a duplicate of a buffered event
    expect(timeline.held).toBe(0n);
    expect(timeline.knownHead).toBe(4n);
    expect(timeline.hasGap).toBe(true);
    expect(timeline.bufferedCount).toBe(2);
    expect(seqs(timeline.accept(ev(1)))).toEqual([1]); // 2 still missing
    expect(timeline.hasGap).toBe(true);
    expect(seqs(timeline.accept(ev(2)))).toEqual([2, 3, 4]);
    expect(timeline.held).toBe(4n);
    expect(timeline.bufferedCount).toBe(0);
    expect(timeline.hasGap).toBe(false);
  });

  it("noteHead makes a gap known without any event", () => {
    const timeline = new Timeline();
    timeline.noteHead(3n);
    expect(timeline.knownHead).toBe(3n);
    expect(timeline.hasGap).toBe(true);
    timeline.noteHead(2n); // never lowers
    expect(timeline.knownHead).toBe(3n);
  });

  it("capHead lowers the known head, never below what is held", () => {
    const timeline = new Timeline();
    timeline.accept(ev(1));
    timeline.accept(ev(5));
    expect(timeline.knownHead).toBe(5n);
    timeline.capHead(3n);
    expect(timeline.knownHead).toBe(3n);
    expect(timeline.hasGap).toBe(true);
    timeline.capHead(0n); // below held: capped at held
    expect(timeline.knownHead).toBe(1n);
    expect(timeline.hasGap).toBe(false);
    timeline.capHead(10n); // never raises
    expect(timeline.knownHead).toBe(1n);
  });
});

describe("Timeline (SEQ-5: first visible seq)", () => {
  it("SEQ-5: a timeline created at first_visible_seq - 1 never hands out or waits for events below it", () => {
    const timeline = new Timeline(4n);
    expect(timeline.accept(ev(3))).toEqual([]);
    expect(timeline.hasGap).toBe(false);
    expect(seqs(timeline.accept(ev(5)))).toEqual([5]);
  });

  it("SEQ-5: startAt jumps over events that will never come and drains what was buffered after them", () => {
    const timeline = new Timeline();
    timeline.accept(ev(5));
    timeline.accept(ev(6));
    timeline.accept(ev(8));
    expect(seqs(timeline.startAt(5n))).toEqual([5, 6]);
    expect(timeline.held).toBe(6n);
    expect(timeline.bufferedCount).toBe(1);
    expect(seqs(timeline.accept(ev(7)))).toEqual([7, 8]);
  });

  it("SEQ-5: startAt drops buffered events below the new start and returns nothing while the first visible event is missing", () => {
    const timeline = new Timeline();
    timeline.accept(ev(3));
    timeline.accept(ev(7));
    expect(timeline.startAt(5n)).toEqual([]);
    expect(timeline.held).toBe(4n);
    expect(timeline.bufferedCount).toBe(1); // 3 dropped, 7 kept
    expect(timeline.accept(ev(3))).toEqual([]); // below the visible range: a duplicate now
    expect(seqs(timeline.accept(ev(5)))).toEqual([5]);
    expect(seqs(timeline.accept(ev(6)))).toEqual([6, 7]);
  });

  it("SEQ-5: startAt raises the known head with held, so an empty range has no gap", () => {
    const timeline = new Timeline();
    expect(timeline.startAt(10n)).toEqual([]);
    expect(timeline.held).toBe(9n);
    expect(timeline.knownHead).toBe(9n);
    expect(timeline.hasGap).toBe(false);
  });

  it("SEQ-5: startAt at or below what is held changes nothing", () => {
    const timeline = new Timeline();
    timeline.accept(ev(1));
    timeline.accept(ev(2));
    timeline.accept(ev(4));
    expect(timeline.startAt(3n)).toEqual([]);
    expect(timeline.startAt(1n)).toEqual([]);
    expect(timeline.held).toBe(2n);
    expect(timeline.bufferedCount).toBe(1);
  });
});

describe("Timeline properties (SEQ-4)", () => {
  it("SEQ-4: any permutation with duplicates of events 1..n comes out exactly 1..n, once each, in order", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 40 }).chain((n) => permutedWithDuplicates(Array.from({ length: n }, (_, i) => i + 1)).map((arrivals) => ({ n, arrivals }))),
        ({ n, arrivals }) => {
          const timeline = new Timeline();
          const out: number[] = [];
          for (const seq of arrivals) out.push(...seqs(timeline.accept(ev(seq))));
          expect(out).toEqual(Array.from({ length: n }, (_, i) => i + 1));
          expect(timeline.held).toBe(BigInt(n));
          expect(timeline.bufferedCount).toBe(0);
          expect(timeline.hasGap).toBe(false);
        },
      ),
    );
  });

  it("SEQ-4, SEQ-5: events first..n in any order with duplicates, and startAt(first) at any point, come out exactly first..n in order", () => {
    fc.assert(
      fc.property(
        fc
          .tuple(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 0, max: 20 }))
          .chain(([first, count]) =>
            fc.tuple(
              fc.constant(first),
              fc.constant(count),
              permutedWithDuplicates(Array.from({ length: count }, (_, i) => first + i)),
              fc.nat(),
            ),
          ),
        ([first, count, arrivals, at]) => {
          const timeline = new Timeline();
          const startIndex = at % (arrivals.length + 1);
          const out: number[] = [];
          arrivals.forEach((seq, i) => {
            if (i === startIndex) out.push(...seqs(timeline.startAt(BigInt(first))));
            out.push(...seqs(timeline.accept(ev(seq))));
          });
          if (startIndex === arrivals.length) out.push(...seqs(timeline.startAt(BigInt(first))));
          expect(out).toEqual(Array.from({ length: count }, (_, i) => first + i));
        },
      ),
    );
  });
});

// ---- StreamCursor ----------------------------------------------------------

describe("StreamCursor (CUR-3)", () => {
  it("CUR-3: prev_cursor <= held < cursor applies the entry and moves held to its cursor", () => {
    const stream = new StreamCursor(10n);
    expect(cursors(stream.accept(entry(15, 10)))).toEqual([15]);
    expect(stream.held).toBe(15n);
    // prev_cursor below held (the server left entries out of this device's view): still next.
    expect(cursors(stream.accept(entry(20, 12)))).toEqual([20]);
    expect(stream.held).toBe(20n);
    expect(stream.hasGap).toBe(false);
  });

  it("CUR-3: cursor <= held is a duplicate and is dropped", () => {
    const stream = new StreamCursor(10n);
    stream.accept(entry(15, 10));
    expect(stream.accept(entry(15, 10))).toEqual([]);
    expect(stream.accept(entry(12, 8))).toEqual([]);
    expect(stream.accept(entry(10, 3))).toEqual([]);
    expect(stream.held).toBe(15n);
    expect(stream.hasGap).toBe(false);
  });

  it("CUR-3: prev_cursor > held is kept until the gap fills, then applied in cursor order", () => {
    const stream = new StreamCursor(20n);
    expect(stream.accept(entry(40, 33))).toEqual([]);
    expect(stream.accept(entry(33, 25))).toEqual([]);
    expect(stream.held).toBe(20n);
    expect(stream.highestSeen).toBe(40n);
    expect(stream.hasGap).toBe(true);
    expect(cursors(stream.accept(entry(25, 20)))).toEqual([25, 33, 40]);
    expect(stream.held).toBe(40n);
    expect(stream.hasGap).toBe(false);
  });

  it("CUR-3: a kept entry that an applied entry overtakes is discarded, not applied later", () => {
    const stream = new StreamCursor(0n);
    expect(stream.accept(entry(10, 5))).toEqual([]);
    expect(stream.hasGap).toBe(true);
    expect(cursors(stream.accept(entry(12, 0)))).toEqual([12]);
    expect(stream.hasGap).toBe(false);
    expect(stream.held).toBe(12n);
  });

  it("CUR-4: reset starts over at a snapshot's cursor and forgets kept entries", () => {
    const stream = new StreamCursor(5n);
    stream.accept(entry(30, 20));
    stream.accept(entry(40, 30));
    expect(stream.hasGap).toBe(true);
    stream.reset(50n);
    expect(stream.held).toBe(50n);
    expect(stream.highestSeen).toBe(50n);
    expect(stream.hasGap).toBe(false);
    expect(stream.accept(entry(40, 30))).toEqual([]);
    expect(cursors(stream.accept(entry(55, 50)))).toEqual([55]);
  });

  it("CUR-4: reset may also move the position backward (a new epoch renumbers cursors)", () => {
    const stream = new StreamCursor(100n);
    stream.reset(3n);
    expect(stream.held).toBe(3n);
    expect(cursors(stream.accept(entry(4, 3)))).toEqual([4]);
  });
});

describe("StreamCursor properties (CUR-3)", () => {
  it("CUR-3: any permutation with duplicates of a prev_cursor-linked, non-contiguous increasing stream comes out exactly once each, in cursor order", () => {
    fc.assert(
      fc.property(
        fc
          .tuple(fc.bigInt({ min: 0n, max: 1_000n }), fc.array(fc.bigInt({ min: 1n, max: 50n }), { maxLength: 40 }))
          .chain(([start, steps]) => {
            const chain: UserEvent[] = [];
            let prev = start;
            for (const step of steps) {
              chain.push(entry(prev + step, prev));
              prev += step;
            }
            return fc.tuple(fc.constant(start), fc.constant(chain), permutedWithDuplicates(chain));
          }),
        ([start, chain, arrivals]) => {
          const stream = new StreamCursor(start);
          const out: UserEvent[] = [];
          for (const arriving of arrivals) out.push(...stream.accept(arriving));
          expect(cursors(out)).toEqual(cursors(chain));
          expect(stream.held).toBe(chain.at(-1)?.cursor ?? start);
          expect(stream.hasGap).toBe(false);
        },
      ),
    );
  });

  it("CUR-3: held never decreases and only ever equals the cursor of an applied entry", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.bigInt({ min: 0n, max: 60n }), fc.bigInt({ min: 1n, max: 20n })), { maxLength: 60 }),
        (pairs) => {
          const stream = new StreamCursor(0n);
          let held = 0n;
          for (const [prev, step] of pairs) {
            const applied = stream.accept(entry(prev + step, prev));
            expect(stream.held >= held).toBe(true);
            if (applied.length > 0) expect(stream.held).toBe(applied.at(-1)!.cursor);
            else expect(stream.held).toBe(held);
            for (const a of applied) expect(a.cursor > held).toBe(true);
            held = stream.held;
          }
        },
      ),
    );
  });
});

// ---- Outbox ------------------------------------------------------------------

describe("Outbox (IDEM-1, IDEM-4, FLOW-4)", () => {
  it("IDEM-1: a new operation is due at once, and not again until its attempt times out", () => {
    const outbox = new Outbox(TIMING);
    const op = outbox.add("a", text("a"), 100);
    expect(outbox.due(100)).toEqual([op]);
    expect(outbox.nextDue()).toBe(100);
    outbox.markSent(op, 7, 100);
    expect(op.attempts).toBe(1);
    expect(op.requestId).toBe(7);
    expect(outbox.due(1_099)).toEqual([]);
    expect(outbox.nextDue()).toBe(1_100);
    expect(outbox.due(1_100)).toEqual([op]);
  });

  it("IDEM-1: the attempt timeout doubles per attempt up to its ceiling", () => {
    const outbox = new Outbox(TIMING);
    const op = outbox.add("a", text("a"), 0);
    let now = 0;
    const timeouts: number[] = [];
    for (let attempt = 1; attempt <= 6; attempt++) {
      outbox.markSent(op, attempt, now);
      const due = outbox.nextDue();
      expect(outbox.due(due - 1)).toEqual([]);
      expect(outbox.due(due)).toEqual([op]);
      timeouts.push(due - now);
      now = due;
    }
    expect(timeouts).toEqual([1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
  });

  it("IDEM-1: connectionLost makes every operation due at once again, keeping its body", () => {
    const outbox = new Outbox(TIMING);
    const a = outbox.add("a", text("a"), 0);
    const b = outbox.add("b", text("b"), 10);
    outbox.markSent(a, 1, 0);
    outbox.markSent(b, 2, 10);
    expect(outbox.due(20)).toEqual([]);
    outbox.connectionLost();
    expect(a.requestId).toBe(0);
    expect(b.requestId).toBe(0);
    expect(outbox.due(20).map((o) => o.id)).toEqual(["a", "b"]); // oldest first
    expect(outbox.get("a")!.body).toEqual(text("a"));
  });

  it("IDEM-4: expired lists the operations first attempted before the given time", () => {
    const outbox = new Outbox(TIMING);
    outbox.add("a", text("a"), 0);
    outbox.add("b", text("b"), 500);
    outbox.add("c", text("c"), 1_000);
    expect(outbox.expired(0).map((o) => o.id)).toEqual([]);
    expect(outbox.expired(500).map((o) => o.id)).toEqual(["a"]);
    expect(outbox.expired(1_001).map((o) => o.id)).toEqual(["a", "b", "c"]);
    outbox.remove("a");
    expect(outbox.size).toBe(2);
    expect(outbox.expired(1_001).map((o) => o.id)).toEqual(["b", "c"]);
  });

  it("FLOW-4: retryLater holds an operation back until its time, whatever its attempt timeout", () => {
    const outbox = new Outbox(TIMING);
    const op = outbox.add("a", text("a"), 0);
    outbox.markSent(op, 1, 0);
    outbox.retryLater(op, 5_000);
    expect(op.requestId).toBe(0);
    expect(outbox.nextDue()).toBe(5_000);
    expect(outbox.due(1_000)).toEqual([]);
    expect(outbox.due(4_999)).toEqual([]);
    expect(outbox.due(5_000)).toEqual([op]);
  });

  it("nextDue is the earliest of all operations, and Infinity when empty", () => {
    const outbox = new Outbox(TIMING);
    expect(outbox.nextDue()).toBe(Infinity);
    const a = outbox.add("a", text("a"), 0);
    const b = outbox.add("b", text("b"), 0);
    outbox.markSent(a, 1, 0);
    outbox.markSent(b, 2, 300);
    expect(outbox.nextDue()).toBe(1_000);
    outbox.remove("a");
    expect(outbox.nextDue()).toBe(1_300);
  });
});

describe("Outbox properties (IDEM-1)", () => {
  it("IDEM-1: after k attempts an operation is due exactly min(base * 2^(k-1), max) after the last one, never earlier", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.array(fc.integer({ min: 0, max: 200_000 }), { minLength: 1, maxLength: 12 }),
        (base, maxExtra, lateness) => {
          const max = base + maxExtra;
          const outbox = new Outbox({ retryOnSameConnection: true, attemptTimeoutMs: base, maxAttemptTimeoutMs: max });
          const op = outbox.add("a", text("a"), 0);
          let now = 0;
          lateness.forEach((late, i) => {
            outbox.markSent(op, i + 1, now);
            const timeout = Math.min(base * 2 ** i, max);
            expect(outbox.nextDue()).toBe(now + timeout);
            expect(outbox.due(now + timeout - 1)).toEqual([]);
            expect(outbox.due(now + timeout)).toEqual([op]);
            now += timeout + late; // the retry happens at or after it is due
          });
          expect(op.attempts).toBe(lateness.length);
        },
      ),
    );
  });
});

describe("ConversationState (CONV-7, property 7 of the simulation)", () => {
  const membership = (seq: number, action: MembershipAction, userIds: string[]): ConversationEvent =>
    create(ConversationEventSchema, { conversationId: "g", seq: BigInt(seq), body: { case: "membership", value: { action, userIds } } });
  const meta = (lastSeq: number, members: string[]) =>
    create(ConversationSchema, { conversationId: "g", kind: ConversationKind.GROUP, firstVisibleSeq: 1n, lastSeq: BigInt(lastSeq), memberUserIds: members });

  it("a description older than membership events already applied (a joined entry behind a pull) does not take the members back", () => {
    // Found by npm run soak (seed 20261127): a device pulled a group's events past a LEFT while its stream still held
    // the older joined entry; applying that entry restored the member who had left.
    const state = new ConversationState(meta(10, ["a", "b", "c"]));
    state.applied(membership(12, MembershipAction.LEFT, ["c"]));
    expect([...state.members]).toEqual(["a", "b"]);
    state.describe(meta(11, ["a", "b", "c", "d"])); // d was added at 11: only the description says so
    expect([...state.members].sort()).toEqual(["a", "b", "d"]);
    state.describe(meta(12, ["a", "b", "d"])); // as new as the log: the description alone holds
    expect([...state.members]).toEqual(["a", "b", "d"]);
    state.describe(meta(13, ["a"]));
    expect([...state.members]).toEqual(["a"]);
  });
});

// ---- ClientPolicy: each broken decision is seen ------------------------------------

const WELCOME = { version: 1, maxFrameSize: 1_048_576, heartbeatIntervalMs: 30_000, maxInFlight: 100, receiveWindow: 100, dedupWindowS: 86_400 };

/** A client ready at cursor 10 with conversation "c" empty, and a way to play the server. */
function readyMachine(policy: Partial<ClientPolicy>) {
  let ids = 0;
  const client = new ClientMachine({ deviceId: "d", gapWaitMs: 100, ackDelayMs: 50 }, { token: () => "u|d", random: () => 0.5, newId: () => `k${++ids}` }, policy);
  const outputs: ClientOutput[] = [];
  const take = () => {
    const taken = client.takeOutputs();
    outputs.push(...taken);
    return taken;
  };
  const answer = (kind: string, body: Parameters<typeof frame>[0]["body"], now: number) => {
    const request = take().find((o) => o.kind === "send" && o.frame.body.case === kind);
    if (request?.kind !== "send") throw new Error(`no ${kind}`);
    client.frameReceived(frame({ requestId: request.frame.requestId, body }), now);
  };
  const handshake = (connection: number, now: number, resumed: boolean) => {
    client.connected(connection, now);
    answer("hello", { case: "welcome", value: WELCOME }, now);
    answer("authenticate", { case: "authenticated", value: { userId: "u", deviceId: "d", epoch: "e1", resumed } }, now);
  };
  client.start(0);
  handshake(1, 0, false);
  const conversation = { conversationId: "c", kind: ConversationKind.GROUP, firstVisibleSeq: 1n, lastSeq: 0n };
  answer("syncUser", { case: "userPage", value: { snapshot: { epoch: "e1", cursor: 10n, conversations: [conversation] }, headCursor: 10n } }, 0);
  take();
  outputs.length = 0;
  const push = (cursor: number, prevCursor: number, seq: number, now: number) => {
    client.frameReceived(frame({ body: { case: "deliver", value: { cursor: BigInt(cursor), prevCursor: BigInt(prevCursor), body: { case: "event", value: ev(seq) } } } }), now);
  };
  const all = () => {
    take();
    return outputs;
  };
  const sentFrames = () => all().flatMap((o) => (o.kind === "send" ? [o.frame] : []));
  const delivered = () => all().flatMap((o) => (o.kind === "app" && o.event.kind === "event" ? [Number(o.event.event.seq)] : []));
  const acks = () => sentFrames().flatMap((f) => (f.body.case === "deliveryAck" ? [Number(f.body.value.cursor)] : []));
  return { client, take, push, handshake, sentFrames, delivered, acks };
}

/** For each breakage, a check that finds it: what the check sees wrong, or undefined. */
const policyChecks: Record<keyof ClientBreakage, (policy: Partial<ClientPolicy>) => string | undefined> = {
  noReorderBuffer: (policy) => {
    const m = readyMachine(policy);
    m.push(11, 10, 2, 10);
    m.push(12, 11, 1, 20);
    return m.delivered().join() === "1,2" ? undefined : `SEQ-4: delivered ${m.delivered().join()} for pushes of seq 2 then 1`;
  },
  noDuplicateCheck: (policy) => {
    const m = readyMachine(policy);
    m.push(11, 10, 1, 10);
    m.push(12, 11, 1, 20);
    return m.delivered().join() === "1" ? undefined : `SEQ-4: delivered ${m.delivered().join()} for seq 1 pushed twice`;
  },
  noGapSync: (policy) => {
    const m = readyMachine(policy);
    m.push(11, 10, 2, 10);
    m.client.tick(200);
    return m.sentFrames().some((f) => f.body.case === "syncConversation") ? undefined : "SEQ-3: seq 1 missing, never fetched";
  },
  ackAheadOfGap: (policy) => {
    const m = readyMachine(policy);
    m.push(11, 10, 1, 10);
    m.push(13, 12, 2, 10); // entry 12 is missing
    m.client.tick(100);
    return m.acks().every((cursor) => cursor <= 11) ? undefined : `ACK-1: acknowledged ${m.acks().join()} holding only up to 11`;
  },
  ackBeyondHeld: (policy) => {
    const m = readyMachine(policy);
    m.push(11, 10, 1, 10);
    m.client.tick(100);
    return m.acks().every((cursor) => cursor <= 11) ? undefined : `ACK-2: acknowledged ${m.acks().join()}, beyond 11`;
  },
  newIdPerRetry: (policy) => {
    const m = readyMachine(policy);
    const id = m.client.send("c", { kind: { case: "text", value: { text: "once" } } }, 10);
    m.client.disconnected(1, 20);
    m.take();
    const reconnectAt = m.client.nextWakeup()!;
    m.client.tick(reconnectAt);
    m.handshake(2, reconnectAt, true);
    const keys = m.sentFrames().flatMap((f) => (f.body.case === "sendMessage" ? [f.body.value.clientMessageId] : []));
    return keys.length === 2 && keys.every((k) => k === id) ? undefined : `IDEM-1: attempts used keys ${keys.join()} for ${id}`;
  },
};

describe("ClientPolicy: every broken variant is caught (test/support/broken-clients.ts)", () => {
  it("the checks pass the correct policy", () => {
    for (const [name, check] of Object.entries(policyChecks)) expect(check({}), name).toBeUndefined();
  });

  it.each(clientBreakages)("%s is caught", (breakage) => {
    expect(policyChecks[breakage](brokenClient({ [breakage]: true })())).toBeDefined();
  });
});
