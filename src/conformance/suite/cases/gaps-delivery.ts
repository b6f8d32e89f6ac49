import { toBinary } from "@bufbuild/protobuf";
import { ConversationKind, ConversationSchema } from "../../../gen/imwire/v1/conversation_pb.js";
import type { UserEvent } from "../../../gen/imwire/v1/delivery_pb.js";
import { ErrorCode } from "../../../gen/imwire/v1/error_pb.js";
import type { Frame } from "../../../gen/imwire/v1/frame_pb.js";
import { DeviceState, ReceiveMode } from "../../../gen/imwire/v1/settings_pb.js";
import { MAX_TITLE_BYTES } from "../../../limits.js";
import type { Session, TestContext } from "../context.js";
import { describe, type FrameBody, type ScriptedConnection } from "../scripted-connection.js";
import { Unsupported, Violation, type ConformanceTest } from "../types.js";
import { ackUpTo, check, direct, eventPush, freshKey, push, send, text, users } from "./helpers.js";

/**
 * The delivery, sync, heartbeat and lifecycle rules the other case files
 * leave unchecked at their edges: resumption (AUTH-5) with a wrong epoch or
 * a cursor out of range, stream retention exactly at its declared bound
 * (CUR-5), what counts as sent after paging back (ACK-2), acknowledgements
 * that carry both parts (ACK-6) or stop at the last readable seq (ACK-4),
 * partial acknowledgement of a full window (FLOW-2), pages and snapshots at
 * the frame limit (SYNC-2, SYNC-7), silent connections on staggered clocks
 * (HB-3), frames behind a closing error (ERR-2), and what a shutdown does to
 * connections that are not READY or are draining (CONN-7).
 */

/** FLOW-1 tests write max_in_flight + 1 requests at once; past this many bytes one write may reach the server in several reads. */
const ONE_READ_BYTES = 16_384;
/** CONN-7's upper bound on the drain window, plus room for a slow machine. */
const DRAIN_BOUND_MS = 30_000 + 5_000;

let nonces = 1_000n;

/**
 * A ping answered: the server has handled everything sent before it (HB-2:
 * the pong comes before any frame the server had not started writing).
 * Resolves false when the connection closed instead.
 */
async function pinged(t: TestContext, conn: ScriptedConnection, requirement: string, allowClose = false): Promise<boolean> {
  const nonce = ++nonces;
  conn.send({ case: "ping", value: { nonce } }, 0);
  const pong = conn.next((f) => f.body.case === "pong" && f.body.value.nonce === nonce, t.timeoutMs).then(
    () => true,
    () => undefined,
  );
  const outcome = await Promise.race([pong, ...(allowClose ? [conn.waitClosed(t.timeoutMs).then((closed) => (closed ? false : undefined))] : [])]);
  if (outcome === undefined) {
    const left = conn.drain().map(describe);
    throw new Violation(`${requirement}: the ping must be answered`, [`pong with nonce ${nonce}`], left.length > 0 ? `other frames: ${left.join(" | ")}` : conn.closed ? "the connection closed" : "nothing");
  }
  return outcome;
}

/** No error has arrived (call after a barrier). */
async function noError(t: TestContext, conn: ScriptedConnection, requirement: string, what: string): Promise<void> {
  await t.expectNothing(conn, (f) => f.body.case === "error", requirement, what, 0);
}

/** A group whose only member is its creator; returns its id. */
async function soloGroup(t: TestContext, owner: Session, title = "conformance"): Promise<string> {
  const opened = await t.ask(owner, { case: "openConversation", value: { kind: ConversationKind.GROUP, title, clientConversationId: freshKey("solo") } }, "conversationOpened", "CONV-3");
  return opened.conversation!.conversationId;
}

/** Requests written together, at most `batch` at once, each answered before the next write; returns the answers in order. */
async function inBatches(t: TestContext, session: Session, bodies: readonly FrameBody[], batch: number, requirement: string): Promise<Frame[]> {
  const answers: Frame[] = [];
  for (let i = 0; i < bodies.length; i += batch) {
    const ids = session.conn.sendTogether(bodies.slice(i, i + batch));
    for (const id of ids) answers.push(await t.nextOrViolation(session.conn, (f) => f.requestId === id && f.body.case !== "deliver", requirement, [`the answer to request #${id}`]));
  }
  return answers;
}

/** Every entry after `after` in the current epoch, paged (SYNC-3); a snapshot is a Violation. */
async function entriesAfter(t: TestContext, session: Session, after: bigint, requirement: string): Promise<UserEvent[]> {
  const entries: UserEvent[] = [];
  for (let cursor = after, pages = 0; ; pages++) {
    check(pages < 1_000, requirement, "an end to the pages", () => `${pages} pages`);
    const page = await t.ask(session, { case: "syncUser", value: { epoch: session.authenticated.epoch, afterCursor: cursor, limit: 1_000 } }, "userPage", requirement);
    check(page.snapshot === undefined, requirement, `entries after cursor ${cursor}, not a snapshot (it is within the stream's retention)`, () => "a snapshot");
    entries.push(...page.events);
    if (!page.hasMore) return entries;
    cursor = page.events.at(-1)!.cursor;
  }
}

/** Bytes a varint takes. */
function varintSize(value: number): number {
  let bytes = 1;
  for (let v = value; v >= 0x80; v = Math.floor(v / 0x80)) bytes++;
  return bytes;
}

const group = "delivery";

export const deliveryGapTests: ConformanceTest[] = [
  {
    id: "AUTH-5/resume-with-another-epoch-on-a-non-empty-stream",
    requirements: ["AUTH-5", "CUR-4", "DLV-2"],
    level: "required",
    group,
    title: "a resume at the stream's own head but with another epoch is refused (resumed false), and nothing is pushed until the device sets its position",
    async run(t) {
      const [a] = await users(t, "a");
      const b = await t.connect(t.user("b"), "d1");
      const id = await direct(t, a!, b);
      const ack = await send(t, a!, id, text("an entry in b's stream"));
      const entry = await push(t, b, eventPush(id, ack.seq), "DLV-1", `the event #${ack.seq}`);
      b.conn.close();
      // A cursor this stream has (its head), under an epoch it never had: the cursor means nothing there (CUR-4).
      const again = await t.connect(b.userId, b.deviceId, { resume: { epoch: `${b.authenticated.epoch}-elsewhere`, cursor: entry.cursor }, position: false });
      check(!again.authenticated.resumed, "AUTH-5", "resumed: false (the epoch is not the stream's)", () => `resumed: true at cursor ${entry.cursor}`);
      check(again.authenticated.headCursor >= entry.cursor, "CUR-6", `head_cursor ≥ ${entry.cursor}`, () => `head_cursor ${again.authenticated.headCursor}`);
      const later = await send(t, a!, id, text("not pushed: b's position is not set"));
      await push(t, a!, eventPush(id, later.seq), "DLV-4", `the event #${later.seq} at the sender`);
      // The referee fails the test on any push to b before it sets its position (DLV-2).
      await t.expectNothing(again.conn, (f) => f.body.case === "deliver", "DLV-2", "no deliver before the position is set");
    },
  },
  {
    id: "AUTH-5/resume-beyond-the-head",
    requirements: ["AUTH-5", "SYNC-4"],
    level: "required",
    group,
    title: "a resume in the current epoch at a cursor beyond the stream's head is refused (resumed false)",
    async run(t) {
      const [a] = await users(t, "a");
      const b = await t.connect(t.user("b"), "d1");
      await direct(t, a!, b);
      const head = (await t.ask(b, { case: "syncUser", value: { epoch: b.authenticated.epoch, afterCursor: 0n } }, "userPage", "SYNC-3")).headCursor;
      check(head > 0n, "CONV-7", "entries in b's stream", () => `head_cursor ${head}`);
      b.conn.close();
      const again = await t.connect(b.userId, b.deviceId, { resume: { epoch: b.authenticated.epoch, cursor: head + 1_000n }, position: false });
      check(!again.authenticated.resumed, "AUTH-5", `resumed: false for cursor ${head + 1_000n}, beyond the head ${head}`, () => "resumed: true");
    },
  },
  {
    id: "CUR-5/retention-boundary",
    requirements: ["CUR-5", "AUTH-5", "SYNC-4", "SYNC-3"],
    level: "required",
    group,
    title: "a cursor exactly streamRetentionEntries entries behind the head is served (resume and sync_user); one entry further behind gets resumed false and a snapshot",
    async run(t) {
      const retention = t.limit("streamRetentionEntries");
      const owner = await t.connect(t.user("a"), "d1", { position: false });
      const epoch = owner.authenticated.epoch;
      const id = await soloGroup(t, owner, "retention");
      // Grow the stream past the retention, paging it as it grows so that every cursor is known while it is still served.
      const cursors = (await entriesAfter(t, owner, 0n, "SYNC-3")).map((e) => e.cursor);
      const batch = Math.max(1, Math.min(owner.welcome.maxInFlight, retention - 1, 100));
      for (let round = 0; cursors.length < retention + 1; round++) {
        check(round <= retention, "CUR-1", "an entry per message", () => `${cursors.length} entries after ${round} rounds`);
        const count = Math.min(batch, retention + 1 - cursors.length);
        const answers = await inBatches(t, owner, Array.from({ length: count }, (_, i): FrameBody => ({ case: "sendMessage", value: { conversationId: id, clientMessageId: freshKey("r"), content: text(`r${round}.${i}`) } })), batch, "MSG-1");
        for (const answer of answers) t.answerOf(answer, "sendAck", "MSG-1");
        cursors.push(...(await entriesAfter(t, owner, cursors.at(-1) ?? 0n, "SYNC-3")).map((e) => e.cursor));
      }
      const n = cursors.length;
      const head = cursors[n - 1]!;
      const atLimit = cursors[n - 1 - retention] ?? 0n; // `retention` entries after it
      const beyond = n - 2 - retention >= 0 ? cursors[n - 2 - retention]! : 0n; // one more
      const served = await t.ask(owner, { case: "syncUser", value: { epoch, afterCursor: atLimit, limit: 1 } }, "userPage", "CUR-5");
      check(served.snapshot === undefined && served.events[0]?.prevCursor === atLimit, "CUR-5", `entries after cursor ${atLimit}, ${retention} entries behind the head ${head} (within retention)`, () => (served.snapshot ? "a snapshot" : `${served.events.length} entries`));
      const lost = await t.ask(owner, { case: "syncUser", value: { epoch, afterCursor: beyond } }, "userPage", "CUR-5");
      check(lost.snapshot !== undefined && lost.events.length === 0, "CUR-5", `a snapshot for cursor ${beyond}, ${retention + 1} entries behind the head ${head}`, () => `${lost.events.length} entries, no snapshot`);
      owner.conn.close();
      const resumed = await t.connect(owner.userId, "d1", { resume: { epoch, cursor: atLimit }, autoAck: false });
      check(resumed.authenticated.resumed, "AUTH-5", `resumed: true at cursor ${atLimit}, ${retention} entries behind the head`, () => "resumed: false");
      resumed.conn.close();
      const refused = await t.connect(owner.userId, "d1", { resume: { epoch, cursor: beyond }, position: false });
      check(!refused.authenticated.resumed, "AUTH-5", `resumed: false at cursor ${beyond}, ${retention + 1} entries behind the head`, () => "resumed: true");
    },
  },
  {
    id: "SYNC-4/cursor-at-the-head-is-served",
    requirements: ["SYNC-4", "SYNC-3", "SYNC-6"],
    level: "required",
    group: "sync",
    title: "sync_user from exactly the head cursor is not beyond the head: no snapshot, no entries, has_more false",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      const ack = await send(t, a!, id, text("the head"));
      const entry = await push(t, b!, eventPush(id, ack.seq), "DLV-1", `the event #${ack.seq}`);
      const page = await t.ask(b!, { case: "syncUser", value: { epoch: b!.authenticated.epoch, afterCursor: entry.cursor } }, "userPage", "SYNC-3");
      check(page.headCursor === entry.cursor, "SYNC-3", `head_cursor ${entry.cursor}, the last entry`, () => `head_cursor ${page.headCursor}`);
      check(page.snapshot === undefined && page.events.length === 0 && !page.hasMore, "SYNC-4", "an empty page (no snapshot: the cursor is the head, not beyond it), has_more false", () => (page.snapshot ? "a snapshot" : `${page.events.length} entries, has_more ${page.hasMore}`));
    },
  },
  {
    id: "SYNC-7/continuation-under-a-stale-epoch",
    requirements: ["SYNC-7", "CUR-4"],
    level: "required",
    group: "sync",
    title: "sync_user continuing a snapshot (snapshot_after) under an epoch that is not the stream's gets a new snapshot's first page, listing from the start",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      // b's only conversation: a continuation after it lists nothing, a first page lists it.
      const page = await t.ask(b!, { case: "syncUser", value: { epoch: `${b!.authenticated.epoch}-stale`, snapshotAfter: id } }, "userPage", "SYNC-7");
      const snapshot = page.snapshot;
      if (snapshot === undefined) throw new Violation("SYNC-7: a snapshot page", ["user_page with a snapshot"], `${page.events.length} entries`);
      check(snapshot.epoch === b!.authenticated.epoch, "CUR-4", `the stream's epoch ${b!.authenticated.epoch}`, () => `epoch ${snapshot.epoch}`);
      check(snapshot.conversations.some((c) => c.conversationId === id), "SYNC-7", `a first page, from the start: listing ${id}`, () => `conversations ${snapshot.conversations.map((c) => c.conversationId).join(", ") || "none"}`);
    },
  },
  {
    id: "SYNC-2/pages-of-many-events-fit-the-frame",
    requirements: ["SYNC-2", "FRM-4", "SYNC-1", "LIM-3"],
    level: "required",
    group: "sync",
    title: "a conversation larger than max_frame_size, read with the largest limit, comes in pages that each fit the frame, consecutive and complete",
    async run(t) {
      const owner = await t.connect(t.user("a"), "d1", { position: false });
      const limit = owner.welcome.maxFrameSize;
      const id = await soloGroup(t, owner, "pages");
      // Some 170 events of about max_frame_size / 160 bytes each: together larger than a frame, each far below LIM-3's bound,
      // and many per page, so that a page's envelope and per-event overhead matter as much as the events.
      const count = 170;
      const body = "p".repeat(Math.max(1, Math.floor(limit / 160) - 150));
      const batch = Math.max(1, Math.min(owner.welcome.maxInFlight, 100));
      const answers = await inBatches(t, owner, Array.from({ length: count }, (_, i): FrameBody => ({ case: "sendMessage", value: { conversationId: id, clientMessageId: freshKey("p"), content: text(`${i} ${body}`) } })), batch, "MSG-1");
      const last = t.answerOf(answers.at(-1)!, "sendAck", "MSG-1").seq;
      let seen = 0n;
      for (let pages = 0; ; pages++) {
        check(pages <= count, "SYNC-2", "an end to the pages", () => `${pages} pages`);
        // The referee checks each page's size against max_frame_size (FRM-4) and its seqs and has_more against the request (SYNC-1, SYNC-2).
        const page = await t.ask(owner, { case: "syncConversation", value: { conversationId: id, afterSeq: seen, limit: 1_000 } }, "conversationPage", "SYNC-2");
        if (page.events.length > 0) seen = page.events.at(-1)!.seq;
        if (!page.hasMore) break;
      }
      check(seen === last, "SYNC-2", `every event up to #${last}`, () => `up to #${seen}`);
    },
  },
  {
    id: "SYNC-7/a-snapshot-that-fits-is-sent-whole",
    requirements: ["SYNC-7", "SYNC-4"],
    level: "required",
    group: "sync",
    title: "a snapshot of a few small conversations fits one frame, so it is sent whole: one page listing them all, continue_after empty",
    async run(t) {
      const owner = await t.connect(t.user("a"), "d1");
      const ids = [];
      for (let i = 0; i < 3; i++) ids.push(await soloGroup(t, owner, `small ${i}`));
      const fresh = await t.connect(owner.userId, "d2", { position: false });
      const page = await t.ask(fresh, { case: "syncUser", value: {} }, "userPage", "SYNC-4");
      const snapshot = page.snapshot;
      if (snapshot === undefined) throw new Violation("SYNC-4: a snapshot for a device with no epoch", ["user_page with a snapshot"], `${page.events.length} entries`);
      const listed = snapshot.conversations.map((c) => c.conversationId);
      check(snapshot.continueAfter === "" && ids.every((id) => listed.includes(id)), "SYNC-7", `one page listing ${ids.join(", ")}, continue_after empty`, () => `${listed.length} listed (${listed.join(", ")}), continue_after "${snapshot.continueAfter}"`);
    },
  },
  {
    id: "SYNC-7/snapshot-pages-at-the-frame-limit",
    requirements: ["SYNC-7", "FRM-4", "LIM-7"],
    level: "required",
    group: "sync",
    title: "a snapshot of equal conversations sized so that one more on a page passes max_frame_size by a few bytes: every page still fits, ascending, each conversation once",
    async run(t) {
      // A probe user, its id as long as the owner's, measures one conversation and what a page holds besides.
      const probe = await t.connect(t.user("p"), "d1", { position: false });
      const owner = await t.connect(t.user("o"), "d1", { position: false });
      const limit = owner.welcome.maxFrameSize;
      const probeTitle = 512;
      await soloGroup(t, probe, "t".repeat(probeTitle));
      const probeFrame = await probe.conn.request({ case: "syncUser", value: {} }, t.timeoutMs);
      const probed = t.answerOf(probeFrame, "userPage", "SYNC-4").snapshot?.conversations[0];
      if (probed === undefined) throw new Violation("SYNC-4: a snapshot listing the probe's group", ["a snapshot with one conversation"], describe(probeFrame));
      const probeSize = toBinary(ConversationSchema, probed).length;
      // The owner's first page also carries continue_after (an id like the probe's), and its user_page and snapshot,
      // near max_frame_size long, take longer length prefixes.
      const probeBytes = probe.conn.payloadSize(probeFrame)!;
      const around = probeBytes - (probeSize + 1 + varintSize(probeSize)) + 2 + Buffer.byteLength(probed.conversationId) + 2 * (varintSize(limit) - varintSize(probeBytes));
      // The long title (up to LIM-7's bound: few conversations a page, so that a page's own bytes weigh) that leaves the
      // least excess over the limit when one more conversation joins a full page.
      let plan = { title: 0, count: 0, excess: Infinity };
      for (let title = MAX_TITLE_BYTES; title >= MAX_TITLE_BYTES / 2 && plan.excess > 4; title--) {
        const size = probeSize + title - probeTitle;
        const item = size + 1 + varintSize(size);
        const count = Math.floor((limit - around) / item) + 1;
        const excess = around + count * item - limit;
        if (excess < plan.excess) plan = { title, count, excess };
      }
      const title = "t".repeat(plan.title);
      const created = new Set<string>();
      const opens = Array.from({ length: plan.count + 1 }, (): FrameBody => ({ case: "openConversation", value: { kind: ConversationKind.GROUP, title, clientConversationId: freshKey("edge") } }));
      for (const answer of await inBatches(t, owner, opens, Math.max(1, Math.min(owner.welcome.maxInFlight, 20)), "CONV-3")) {
        created.add(t.answerOf(answer, "conversationOpened", "CONV-3").conversation!.conversationId);
      }
      const fresh = await t.connect(owner.userId, "d2", { position: false });
      const listed: string[] = [];
      let epoch = "";
      let snapshotAfter = "";
      for (let pages = 0; ; pages++) {
        check(pages <= created.size, "SYNC-7", `at most ${created.size} pages`, () => `page ${pages + 1} and counting`);
        // The referee fails any page over max_frame_size (FRM-4).
        const frame = await fresh.conn.request({ case: "syncUser", value: { epoch, snapshotAfter } }, t.timeoutMs);
        const snapshot = t.answerOf(frame, "userPage", "SYNC-7").snapshot;
        if (snapshot === undefined) throw new Violation("SYNC-7: a snapshot page", ["user_page with a snapshot"], describe(frame));
        check(pages === 0 || snapshot.epoch === epoch, "SYNC-7", `every page of epoch ${epoch}`, () => `epoch ${snapshot.epoch}`);
        epoch = snapshot.epoch;
        listed.push(...snapshot.conversations.map((c) => c.conversationId));
        if (snapshot.continueAfter === "") break;
        check(snapshot.continueAfter === snapshot.conversations.at(-1)?.conversationId, "SYNC-7", "continue_after = the page's last conversation", () => `continue_after ${snapshot.continueAfter}`);
        snapshotAfter = snapshot.continueAfter;
      }
      const ordered = [...listed].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      check(listed.join("\n") === ordered.join("\n") && new Set(listed).size === listed.length, "SYNC-7", "ids ascending across pages, each once", () => listed.slice(0, 5).join(", "));
      const missing = [...created].filter((id) => !listed.includes(id));
      check(missing.length === 0 && listed.length === created.size, "SYNC-7", `the ${created.size} groups`, () => `${listed.length} listed, missing ${missing.slice(0, 3).join(", ")}`);
    },
  },
  {
    id: "ACK-2/paging-back-keeps-what-was-sent",
    requirements: ["ACK-2", "SYNC-3", "ACK-3"],
    level: "required",
    group,
    title: "a device that pages older entries after newer pushes may still acknowledge the newest push: paging back lowers nothing sent",
    async run(t) {
      const [a] = await users(t, "a");
      const b = await t.connect(t.user("b"), "d1", { autoAck: false });
      const id = await direct(t, a!, b);
      const acks = [];
      for (let i = 0; i < 3; i++) acks.push(await send(t, a!, id, text(`m${i}`)));
      let newest: UserEvent | undefined;
      for (const ack of acks) newest = await push(t, b, eventPush(id, ack.seq), "DLV-1", `the event #${ack.seq}`);
      const old = await t.ask(b, { case: "syncUser", value: { epoch: b.authenticated.epoch, afterCursor: 0n, limit: 1 } }, "userPage", "SYNC-3");
      check(old.snapshot === undefined && old.events.length === 1 && old.events[0]!.cursor < newest!.cursor, "SYNC-3", `the stream's first entry, older than ${newest!.cursor}`, () => (old.snapshot ? "a snapshot" : `cursors ${old.events.map((e) => e.cursor).join(",")}`));
      ackUpTo(b, newest!.cursor);
      await pinged(t, b.conn, "ACK-2");
      await noError(t, b.conn, "ACK-2", `no error: cursor ${newest!.cursor} was pushed on this connection`);
      const later = await send(t, a!, id, text("pushed after the acknowledgement"));
      await push(t, b, eventPush(id, later.seq), "ACK-1", `the event #${later.seq}`);
    },
  },
  {
    id: "ACK-4/acknowledging-the-last-readable-seq",
    requirements: ["ACK-4", "ACK-6"],
    level: "required",
    group,
    title: "a conversation acknowledgement at exactly the conversation's last seq is accepted: no error, the connection stays",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      const ack = await send(t, a!, id, text("the last"));
      const page = await t.ask(b!, { case: "syncConversation", value: { conversationId: id, afterSeq: ack.seq - 1n } }, "conversationPage", "SYNC-1");
      check(page.lastSeq === ack.seq, "SYNC-1", `last_seq ${ack.seq}`, () => `last_seq ${page.lastSeq}`);
      b!.conn.send({ case: "deliveryAck", value: { conversations: [{ conversationId: id, seq: page.lastSeq }] } }, 0);
      await pinged(t, b!.conn, "ACK-4");
      await noError(t, b!.conn, "ACK-4", `no error: seq ${page.lastSeq} is the last the user may read`);
    },
  },
  {
    id: "ACK-6/cursor-and-conversations-together",
    requirements: ["ACK-6", "ACK-1", "DLV-2"],
    level: "required",
    group,
    title: "a delivery_ack carrying both a cursor and conversation acknowledgements sets the stream position: pushes start",
    async run(t) {
      const [a] = await users(t, "a");
      const fresh = await t.connect(t.user("b"), "d1", { position: false });
      const id = await direct(t, a!, fresh);
      const page = await t.ask(fresh, { case: "syncUser", value: {} }, "userPage", "SYNC-4");
      const cursor = page.snapshot?.cursor ?? page.events.at(-1)?.cursor ?? 0n;
      check(cursor > 0n, "CONV-7", "a non-zero cursor (the stream holds the direct conversation's entries)", () => `cursor ${cursor}`);
      const seq = page.snapshot?.conversations.find((c) => c.conversationId === id)?.lastSeq ?? 1n;
      fresh.conn.send({ case: "deliveryAck", value: { cursor, conversations: [{ conversationId: id, seq }] } }, 0);
      const ack = await send(t, a!, id, text("pushed: the position is set"));
      await push(t, fresh, eventPush(id, ack.seq), "ACK-6", `the event #${ack.seq}, pushed once the cursor part set the position`);
    },
  },
  {
    id: "FLOW-2/acknowledging-part-of-the-window",
    requirements: ["FLOW-2", "ACK-1"],
    level: "required",
    group,
    title: "acknowledging only the first of a full window frees one slot: exactly one more push, never a window's worth",
    async run(t) {
      const [a] = await users(t, "a");
      const b = await t.connect(t.user("b"), "d1", { autoAck: false, receiveWindow: 4 });
      const window = b.welcome.receiveWindow;
      const id = await direct(t, a!, b);
      const acks = [];
      for (let i = 0; i < window + 4; i++) acks.push(await send(t, a!, id, text(`m${i}`)));
      const held: UserEvent[] = [];
      for (let i = 0; i < window; i++) held.push(await push(t, b, () => true, "DLV-1", `push ${i + 1} of the window of ${window}`));
      // The referee fails the test the moment b holds more than the window unacknowledged (FLOW-2).
      ackUpTo(b, held[0]!.cursor);
      const next = await push(t, b, () => true, "ACK-1", "one more push once a slot is free");
      check(next.cursor > held.at(-1)!.cursor, "DLV-1", `an entry after ${held.at(-1)!.cursor}`, () => `cursor ${next.cursor}`);
      await pinged(t, b.conn, "FLOW-2");
      const more = b.conn.drain().filter((f) => f.body.case === "deliver");
      check(more.length === 0, "FLOW-2", "no further push: one slot was freed", () => `${more.length} more pushes`);
    },
  },
  {
    id: "FLOW-1/error-answers-free-no-more-than-they-took",
    requirements: ["FLOW-1", "ENV-5"],
    level: "required",
    group: "errors",
    title: "after requests answered MISSING_FIELD, max_in_flight + 1 requests arriving at once are still a PROTOCOL_VIOLATION that closes",
    async run(t) {
      const [a] = await users(t, "a");
      const limit = a!.welcome.maxInFlight;
      if ((limit + 1) * 8 > ONE_READ_BYTES) throw new Unsupported(`max_in_flight ${limit}: ${limit + 1} requests do not fit one ${ONE_READ_BYTES}-byte write`);
      for (let i = 0; i < 2; i++) {
        const id = a!.conn.send({ case: "syncConversation", value: {} });
        await t.expectErrorFrom(a!.conn, [ErrorCode.MISSING_FIELD], "ENV-5", { requestId: id, closing: false });
      }
      // Those two were answered: nothing is in flight, and one request more than the limit must still be refused.
      a!.conn.sendTogether(Array.from({ length: limit + 1 }, (): FrameBody => ({ case: "syncUser", value: {} })));
      await t.expectErrorFrom(a!.conn, [ErrorCode.PROTOCOL_VIOLATION], "FLOW-1", { closing: true });
      await t.expectClosed(a!.conn, "FLOW-1");
    },
  },
  {
    id: "ERR-2/a-send-behind-a-closing-error-is-not-processed",
    requirements: ["ERR-2", "CONN-5", "ENV-5"],
    level: "required",
    group: "errors",
    title: "a send_message (and a malformed request) arriving right behind a fatal frame is never processed: the conversation gets no event from it",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      const before = (await t.ask(b!, { case: "syncConversation", value: { conversationId: id, afterSeq: 0n, limit: 1 } }, "conversationPage", "SYNC-1")).lastSeq;
      a!.conn.sendTogether([
        { case: "hello", value: { versions: [1], deviceId: a!.deviceId } }, // CONN-5: fatal
        { case: "sendMessage", value: { conversationId: id, clientMessageId: freshKey("behind"), content: text("behind the fatal frame") } },
        { case: "syncConversation", value: {} }, // ENV-5 would answer it, were it read
      ]);
      await t.expectErrorFrom(a!.conn, [ErrorCode.PROTOCOL_VIOLATION], "CONN-5", { closing: true });
      await t.expectClosed(a!.conn, "ERR-2");
      const after = await send(t, b!, id, text("the next event"));
      check(after.seq === before + 1n, "ERR-2", `seq ${before + 1n}: nothing was appended behind the closing error`, () => `seq ${after.seq}`);
      // The server still serves: a new connection completes its handshake.
      const again = await t.connect(a!.userId, a!.deviceId);
      await t.ask(again, { case: "syncUser", value: {} }, "userPage", "ERR-2");
    },
  },
  {
    id: "HB-3/staggered-silent-connections",
    requirements: ["HB-3", "ERR-2"],
    level: "required",
    group: "heartbeat",
    title: "silent connections opened at staggered times are each closed with TIMEOUT 1.5 heartbeat intervals after their own last frame: a later connection does not postpone an earlier one's deadline",
    async run(t) {
      const first = await t.connect(t.user("s0"), "d1", { keepAlive: false });
      const interval = first.welcome.heartbeatIntervalMs;
      const due = 1.5 * interval;
      const slack = Math.max(1_000, 0.25 * interval);
      // The last connection opens once the slack has passed (so that a deadline pushed back to its own is late),
      // and well before the first one is due.
      const last = slack + Math.min(0.5 * (due - slack), 500);
      const offsets = [0, last / 2, last];
      const started = Date.now();
      const sessions: { session: Session; quietSince: number }[] = [{ session: first, quietSince: Date.now() }];
      for (const [i, offset] of offsets.entries()) {
        if (i === 0) continue;
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, started + offset - Date.now())));
        const session = await t.connect(t.user(`s${i}`), "d1", { keepAlive: false });
        sessions.push({ session, quietSince: Date.now() });
      }
      await Promise.all(
        sessions.map(async ({ session, quietSince }, i) => {
          const closed = await session.conn.waitClosed(Math.max(0, quietSince + due + slack - Date.now()));
          const after = Date.now() - quietSince;
          if (!closed) throw new Violation(`HB-3: the server must close silent connection ${i + 1} of ${sessions.length}`, [`closed within ${due} ms of its last frame (+${slack} ms slack)`], `still open after ${after} ms`);
          check(after >= due - 100, "HB-3", `connection ${i + 1} closed no sooner than ${due} ms`, () => `closed after ${after} ms`);
          const reported = session.conn.drain().find((f) => f.body.case === "error");
          if (!reported) throw new Violation("HB-3: the close must be reported with ERROR_CODE_TIMEOUT", ["error ERROR_CODE_TIMEOUT, closing"], "closed without an error frame");
          t.expectError(reported, [ErrorCode.TIMEOUT], "HB-3", true);
        }),
      );
    },
  },
  {
    id: "HB-2/client-pongs-are-notices",
    requirements: ["HB-2", "CONN-4", "ERR-1"],
    level: "required",
    group: "heartbeat",
    title: "a pong from the client, before authentication or after, is accepted and not answered: no error, the connection goes on",
    async run(t) {
      const c = await t.open();
      await t.hello(c, "d1");
      c.send({ case: "pong", value: { nonce: 5n } }, 0);
      const answer = await c.request({ case: "authenticate", value: { token: await t.token(t.user("a"), "d1") } }, t.timeoutMs);
      t.answerOf(answer, "authenticated", "CONN-4");
      c.send({ case: "pong", value: { nonce: 6n } }, 0);
      await pinged(t, c, "HB-2");
      await noError(t, c, "HB-2", "no error in answer to a pong");
    },
  },
  {
    id: "ERR-1/closing-client-error-is-not-answered",
    requirements: ["ERR-1", "ERR-2"],
    level: "required",
    group: "errors",
    title: "a closing error from the client is not answered with an error (the server may close the connection, or go on)",
    async run(t) {
      const [a] = await users(t, "a");
      a!.conn.send({ case: "error", value: { code: ErrorCode.PROTOCOL_VIOLATION, closing: true, message: "the client gives up" } }, 0);
      await pinged(t, a!.conn, "ERR-1", true);
      await noError(t, a!.conn, "ERR-1", "no error in answer to an error");
    },
  },
  {
    id: "RECV-5/handoffs-only-for-conversation-events",
    requirements: ["RECV-5", "HOOK-3", "RECV-6"],
    level: "required",
    group: "lifecycle",
    needs: ["push-handoff"],
    hooks: ["pushWebhook"],
    title: "a registered background device is handed off alerts for conversation events only: an entry that is not one (a receive_settings change) gets none",
    async run(t) {
      const [a] = await users(t, "a");
      const phone = await t.connect(t.user("b"), "phone");
      const laptop = await t.connect(phone.userId, "laptop");
      const id = await direct(t, a!, phone);
      // The conversation's first event reaches the phone in the foreground: pushed once it is background, it could have its own hand-off.
      await push(t, phone, eventPush(id, 1n), "DLV-1", "the conversation's first event");
      await t.ask(phone, { case: "setDeviceState", value: { state: DeviceState.BACKGROUND, pushService: "conformance", pushToken: freshKey("push-token") } }, "deviceStateSet", "RECV-5");
      // Another device changes the account default: an entry in the phone's stream that is no conversation event (RECV-4, RECV-6).
      await t.ask(laptop, { case: "setReceiveSettings", value: { settings: { conversationId: "", mode: ReceiveMode.FULL } } }, "receiveSettings", "RECV-1");
      await push(t, phone, (e) => e.body.case === "receiveSettings", "RECV-4", "the receive_settings entry on the phone");
      const ack = await send(t, a!, id, text("an alert for this one"));
      const mine = (h: { userId: string; deviceId: string }) => h.userId === phone.userId && h.deviceId === "phone";
      // The event's hand-off shows the server hands off; any other for the phone names no event of its conversations.
      const event = await t.handoff((h) => mine(h) && h.conversationId === id && h.seq === String(ack.seq));
      if (!event) throw new Violation("RECV-5: a hand-off for the registered background device", [`a hand-off for ${phone.userId}/phone, ${id}#${ack.seq}`], `none within ${t.timeoutMs} ms`);
      const other = await t.handoff((h) => mine(h) && !(h.conversationId === id && h.seq === String(ack.seq)), t.quietMs);
      check(other === undefined, "RECV-5", `no hand-off for the phone but the one for ${id}#${ack.seq}`, () => JSON.stringify(other));
      const bad = t.target.pushes?.malformed.filter((m) => m.includes(phone.userId)) ?? [];
      check(bad.length === 0, "HOOK-3", "no malformed hand-off for the phone", () => bad.join(" | "));
    },
  },
  {
    id: "CONN-7/connections-not-ready-and-draining-at-shutdown",
    requirements: ["CONN-7", "HOOK-2", "IDEM-4", "FLOW-2"],
    level: "required",
    group: "lifecycle",
    hooks: ["shutdown", "restart"],
    title: "at a shutdown, a connection that has not authenticated is not let in afterwards (its hello or authenticate is refused or never answered), a draining device that acknowledges its window is pushed nothing more, and a key survives the restart",
    async run(t) {
      const [a] = await users(t, "a");
      const b = await t.connect(t.user("b"), "d1", { autoAck: false });
      const id = await direct(t, a!, b);
      const key = freshKey("shutdown");
      const keyed = await send(t, a!, id, text("keyed, before the shutdown"), key);
      const keyedAt = Date.now();
      // Fill b's window, with entries waiting behind it.
      const window = b.welcome.receiveWindow;
      for (let i = 0; i < window + 2; i++) await send(t, a!, id, text(`m${i}`));
      let held: UserEvent | undefined;
      for (let i = 0; i < window; i++) held = await push(t, b, () => true, "DLV-1", `push ${i + 1} of the window of ${window}`);
      // Two connections that have not reached READY: one silent, one that has had its welcome.
      const silent = await t.open();
      const welcomed = await t.open();
      await t.hello(welcomed, "late");
      const token = await t.token(t.user("c"), "late");
      await t.shutdown();
      try {
        for (const session of [a!, b]) await t.nextOrViolation(session.conn, (f) => f.body.case === "goAway", "CONN-7", ["go_away"], Math.max(t.timeoutMs, 10_000));
        // The server is draining: what a connection not yet READY asks now must not let it in.
        const late = [
          { conn: silent, id: silent.send({ case: "hello", value: { versions: [1], deviceId: "late" } }), what: "hello" },
          { conn: welcomed, id: welcomed.send({ case: "authenticate", value: { token } }), what: "authenticate" },
        ];
        // b acknowledges its whole window: a draining server pushes nothing more (the referee fails any deliver after go_away).
        ackUpTo(b, held!.cursor);
        await pinged(t, b.conn, "CONN-7", true);
        for (const { conn, id: requestId, what } of late) {
          let frame: Frame | undefined;
          for (const deadline = Date.now() + DRAIN_BOUND_MS; frame === undefined && !conn.closed && Date.now() < deadline; ) {
            frame = await conn.next((f) => f.requestId === requestId, 100).catch(() => undefined);
          }
          frame ??= conn.drain().find((f) => f.requestId === requestId);
          if (frame !== undefined) t.expectError(frame, [ErrorCode.UNAVAILABLE], `CONN-7: ${what} on a connection not READY when the server began to drain must not succeed`);
          else if (!conn.closed) throw new Violation("CONN-7: a connection not READY at the shutdown is closed or refused", [`${what} answered UNAVAILABLE, or the connection closed`], `open and unanswered after ${DRAIN_BOUND_MS} ms`);
        }
      } finally {
        await t.restart();
      }
      // IDEM-4: the key is remembered across the restart, more than a second after its first attempt.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, keyedAt + 1_000 - Date.now())));
      const again = await t.connect(a!.userId, a!.deviceId);
      const retry = await send(t, again, id, text("a retry after the restart"), key);
      check(retry.seq === keyed.seq && retry.messageId === keyed.messageId, "IDEM-4", `the first answer (#${keyed.seq}, ${keyed.messageId})`, () => `#${retry.seq}, ${retry.messageId}`);
    },
  },
];
