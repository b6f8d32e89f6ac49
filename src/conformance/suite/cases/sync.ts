import { ConversationKind } from "../../../gen/imwire/v1/conversation_pb.js";
import { describe } from "../scripted-connection.js";
import { Violation, type ConformanceTest } from "../types.js";
import { check, direct, eventPush, freshKey, push, send, text, users } from "./helpers.js";

const group = "sync";

export const syncTests: ConformanceTest[] = [
  {
    id: "SYNC-1/fill-a-gap-by-seq",
    requirements: ["SYNC-1", "SEQ-3"],
    level: "required",
    group,
    title: "sync_conversation after_seq returns the following events, consecutive and oldest first",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      const acks = [];
      for (let i = 0; i < 6; i++) acks.push(await send(t, a!, id, text(`m${i}`)));
      const after = acks[1]!.seq;
      const page = await t.ask(b!, { case: "syncConversation", value: { conversationId: id, afterSeq: after } }, "conversationPage", "SYNC-1");
      const seqs = page.events.map((e) => e.seq);
      const expected = acks.slice(2).map((a) => a.seq);
      check(seqs.join(",") === expected.join(","), "SYNC-1", `seqs ${expected.join(",")}`, () => `seqs ${seqs.join(",")}`);
    },
  },
  {
    id: "SYNC-2/pages-are-bounded",
    requirements: ["SYNC-2", "LIM-5", "SYNC-6"],
    level: "required",
    group,
    title: "a page holds at most limit events and says has_more; the last page says it is the last",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      for (let i = 0; i < 5; i++) await send(t, a!, id, text(`m${i}`));
      let after = 0n;
      let pages = 0;
      for (;;) {
        const page = await t.ask(b!, { case: "syncConversation", value: { conversationId: id, afterSeq: after, limit: 2 } }, "conversationPage", "SYNC-2");
        check(page.events.length <= 2, "SYNC-2", "at most 2 events", () => `${page.events.length}`);
        pages++;
        if (!page.hasMore) break;
        check(page.events.length > 0, "SYNC-2", "progress on a page with has_more", () => "an empty page with has_more");
        after = page.events.at(-1)!.seq;
        check(pages < 10, "SYNC-2", "an end", () => "more than 10 pages for 6 events");
      }
      check(pages >= 3, "SYNC-2", "at least 3 pages of 2 for 6 events", () => `${pages} pages`);
    },
  },
  {
    id: "SYNC-3/catch-up-by-cursor",
    requirements: ["SYNC-3", "CUR-3", "SYNC-5"],
    level: "required",
    group,
    title: "after being away, sync_user from the device's cursor returns what changed, linked from that cursor",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      const start = await t.ask(b!, { case: "syncUser", value: { epoch: b!.authenticated.epoch, afterCursor: 0n } }, "userPage", "SYNC-3");
      const cursor = start.snapshot?.cursor ?? start.events.at(-1)?.cursor ?? 0n;
      b!.conn.close();
      const acks = [];
      for (let i = 0; i < 4; i++) acks.push(await send(t, a!, id, text(`while away ${i}`)));
      const back = await t.connect(b!.userId, b!.deviceId, { position: false });
      const page = await t.ask(back, { case: "syncUser", value: { afterCursor: cursor, epoch: back.authenticated.epoch } }, "userPage", "SYNC-3");
      check(page.snapshot === undefined, "SYNC-3", "entries, not a snapshot (the device is not far behind)", () => "a snapshot");
      check(page.events[0]?.prevCursor === cursor, "SYNC-3", `the first entry linked to ${cursor}`, () => `prev_cursor ${page.events[0]?.prevCursor}`);
      const seqs = page.events.flatMap((e) => (e.body.case === "event" || e.body.case === "notify" ? [e.body.value.seq] : []));
      for (const ack of acks) check(seqs.some((s) => s >= ack.seq), "SYNC-3", `entries covering #${ack.seq}`, () => `seqs ${seqs.join(",")}`);
    },
  },
  {
    id: "SYNC-4/fresh-device-gets-a-snapshot",
    requirements: ["SYNC-4", "SYNC-5"],
    level: "required",
    group,
    title: "a device with no epoch gets a snapshot listing the user's conversations",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      await send(t, a!, id, text("before the new device"));
      const fresh = await t.connect(b!.userId, "new-device", { position: false });
      const page = await t.ask(fresh, { case: "syncUser", value: {} }, "userPage", "SYNC-4");
      const listed = page.snapshot?.conversations.find((c) => c.conversationId === id);
      check(listed !== undefined && listed.lastSeq >= 2n, "SYNC-4", `a snapshot listing ${id} with last_seq ≥ 2`, () => JSON.stringify(page.snapshot?.conversations.map((c) => c.conversationId) ?? "no snapshot"));
    },
  },
  {
    id: "SYNC-7/snapshot-in-pages",
    requirements: ["SYNC-7", "SYNC-4", "LIM-7"],
    level: "required",
    group,
    title: "a snapshot larger than max_frame_size comes in pages that each fit, ascending by id, together listing every conversation once",
    async run(t) {
      const user = t.user("a");
      const owner = await t.connect(user, "d1");
      const limit = owner.welcome.maxFrameSize;
      // 1,000-byte titles (within LIM-7): enough groups that one snapshot cannot fit a frame.
      const title = "t".repeat(1_000);
      const count = Math.ceil(limit / 1_000) + 2;
      const created = new Set<string>();
      for (let i = 0; i < count; i++) {
        const opened = await t.ask(owner, { case: "openConversation", value: { kind: ConversationKind.GROUP, title, clientConversationId: freshKey("p") } }, "conversationOpened", "LIM-7");
        created.add(opened.conversation!.conversationId);
      }
      const fresh = await t.connect(user, "d2", { position: false });
      const listed: string[] = [];
      let epoch = "";
      let snapshotAfter = "";
      let pages = 0;
      for (;;) {
        check(pages <= count, "SYNC-7", `at most ${count} pages`, () => `page ${pages + 1} and counting`);
        const frame = await fresh.conn.request({ case: "syncUser", value: { epoch, snapshotAfter } }, t.timeoutMs);
        const snapshot = t.answerOf(frame, "userPage", "SYNC-7").snapshot;
        if (snapshot === undefined) throw new Violation("SYNC-7: a snapshot page", ["user_page with a snapshot"], describe(frame));
        pages++;
        const size = fresh.conn.payloadSize(frame) ?? 0;
        check(size <= limit, "SYNC-7", `a page of at most max_frame_size (${limit}) bytes`, () => `${size} bytes`);
        check(pages === 1 || snapshot.epoch === epoch, "SYNC-7", `every page of epoch ${epoch}`, () => `epoch ${snapshot.epoch}`);
        epoch = snapshot.epoch;
        listed.push(...snapshot.conversations.map((c) => c.conversationId));
        if (snapshot.continueAfter === "") break;
        const last = snapshot.conversations.at(-1)?.conversationId;
        check(snapshot.continueAfter === last, "SYNC-7", `continue_after = the page's last conversation (${last})`, () => `continue_after ${snapshot.continueAfter}`);
        snapshotAfter = snapshot.continueAfter;
      }
      check(pages >= 2, "SYNC-7", "more than one page", () => `${listed.length} conversations in one page`);
      const ordered = [...listed].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      check(listed.join("\n") === ordered.join("\n"), "SYNC-7", "ids in ascending UTF-8 byte order across pages", () => listed.slice(0, 5).join(", "));
      check(new Set(listed).size === listed.length, "SYNC-7", "every conversation listed once", () => `${listed.length - new Set(listed).size} listed twice`);
      const missing = [...created].filter((id) => !listed.includes(id));
      check(missing.length === 0 && listed.length === created.size, "SYNC-7", `the ${created.size} groups the user is in`, () => `${listed.length} listed, missing ${missing.slice(0, 3).join(", ")}`);
    },
  },
  {
    id: "SYNC-3/the-stream-in-pages-links-every-entry",
    requirements: ["SYNC-3", "CUR-3", "SYNC-2", "SYNC-6"],
    level: "required",
    group,
    title: "sync_user in pages exactly full: each page starts where the last ended, every entry is linked to the one before, and has_more is false on the exactly full last page",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      const acks = [];
      for (let i = 0; i < 10; i++) acks.push(await send(t, a!, id, text(`m${i}`)));
      await push(t, b!, eventPush(id, acks.at(-1)!.seq), "DLV-1", `the event #${acks.at(-1)!.seq}`);
      const epoch = b!.authenticated.epoch;
      const whole = await t.ask(b!, { case: "syncUser", value: { epoch, afterCursor: 0n, limit: 1_000 } }, "userPage", "SYNC-3");
      check(whole.snapshot === undefined && !whole.hasMore, "SYNC-3", "every entry in one page of up to 1,000", () => (whole.snapshot ? "a snapshot" : "has_more"));
      const count = whole.events.length;
      const limit = largestDivisor(count);
      const cursors: bigint[] = [];
      for (let after = 0n, pages = 0; ; pages++) {
        check(pages <= count, "SYNC-3", `at most ${count} pages`, () => "more");
        const page = await t.ask(b!, { case: "syncUser", value: { epoch, afterCursor: after, limit } }, "userPage", "SYNC-3");
        check(page.snapshot === undefined, "SYNC-3", "entries, not a snapshot", () => "a snapshot");
        cursors.push(...page.events.map((e) => e.cursor));
        if (!page.hasMore) break;
        after = page.events.at(-1)!.cursor;
      }
      check(cursors.join(",") === whole.events.map((e) => e.cursor).join(","), "SYNC-3", `the ${count} entries of the single page, in ${count / limit} pages of ${limit}`, () => `${cursors.length} entries: ${cursors.join(",")}`);
      const seqs = whole.events.flatMap((e) => (e.body.case === "event" || e.body.case === "notify" ? [e.body.value.seq] : []));
      for (const ack of acks) check(seqs.includes(ack.seq), "CUR-1", `an entry for #${ack.seq}`, () => `seqs ${seqs.join(",")}`);
    },
  },
  {
    id: "SYNC-2/conversation-in-pages-exactly-full",
    requirements: ["SYNC-2", "SYNC-1", "SYNC-6"],
    level: "required",
    group,
    title: "a conversation of 6 events in pages of 3: two full pages, the second with has_more false",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      let last = 0n;
      for (let i = 0; i < 5; i++) last = (await send(t, a!, id, text(`m${i}`))).seq;
      check(last === 6n, "SYNC-2", "six events: CREATED and five messages", () => `last seq ${last}`);
      const first = await t.ask(b!, { case: "syncConversation", value: { conversationId: id, limit: 3 } }, "conversationPage", "SYNC-2");
      check(first.events.length === 3 && first.hasMore, "SYNC-2", "3 events, has_more", () => `${first.events.length} events, has_more ${first.hasMore}`);
      const second = await t.ask(b!, { case: "syncConversation", value: { conversationId: id, afterSeq: 3n, limit: 3 } }, "conversationPage", "SYNC-2");
      check(second.events.length === 3 && !second.hasMore, "SYNC-2", "3 events, has_more false (nothing after #6)", () => `${second.events.length} events, has_more ${second.hasMore}`);
    },
  },
  {
    id: "SYNC-1/until-seq-bounds-pages",
    requirements: ["SYNC-1", "SYNC-2"],
    level: "required",
    group,
    title: "until_seq ends the request's range: pages stop there, has_more counts only what lies within it",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      for (let i = 0; i < 7; i++) await send(t, a!, id, text(`m${i}`));
      const seqs = async (afterSeq: bigint, untilSeq: bigint, limit: number) => {
        const page = await t.ask(b!, { case: "syncConversation", value: { conversationId: id, afterSeq, untilSeq, limit } }, "conversationPage", "SYNC-1");
        return `${page.events.map((e) => e.seq).join(",")}${page.hasMore ? " +" : ""}`;
      };
      const cases: [bigint, bigint, number, string][] = [
        [0n, 4n, 0, "1,2,3,4"],
        [0n, 5n, 2, "1,2 +"],
        [2n, 5n, 2, "3,4 +"],
        [4n, 5n, 2, "5"],
        [6n, 100n, 0, "7,8"],
        [5n, 3n, 0, ""],
      ];
      for (const [after, until, limit, expected] of cases) {
        const got = await seqs(after, until, limit);
        check(got === expected, "SYNC-1", `after_seq ${after}, until_seq ${until}, limit ${limit}: ${expected || "nothing"} (+ for has_more)`, () => got || "nothing");
      }
    },
  },
  {
    id: "SYNC-1/after-the-last-event",
    requirements: ["SYNC-1", "SYNC-6"],
    level: "required",
    group,
    title: "sync_conversation after the last event, or far beyond it, is an empty page with has_more false and the right last_seq",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      const ack = await send(t, a!, id, text("the last"));
      for (const after of [ack.seq, ack.seq + 1_000n, 2n ** 63n]) {
        const page = await t.ask(b!, { case: "syncConversation", value: { conversationId: id, afterSeq: after } }, "conversationPage", "SYNC-1");
        check(page.events.length === 0 && !page.hasMore && page.lastSeq === ack.seq, "SYNC-1", `after_seq ${after}: no events, has_more false, last_seq ${ack.seq}`, () => `${page.events.length} events, has_more ${page.hasMore}, last_seq ${page.lastSeq}`);
      }
    },
  },
  {
    id: "SYNC-4/cursor-beyond-the-head",
    requirements: ["SYNC-4", "CUR-4"],
    level: "required",
    group,
    title: "sync_user from a cursor beyond the stream's head, in the current epoch, is answered with a snapshot",
    async run(t) {
      const [a] = await users(t, "a");
      const page = await t.ask(a!, { case: "syncUser", value: { epoch: a!.authenticated.epoch, afterCursor: 1_000_000n } }, "userPage", "SYNC-4");
      check(page.snapshot !== undefined && page.events.length === 0, "SYNC-4", "a snapshot and no entries", () => `${page.events.length} entries, ${page.snapshot ? "a" : "no"} snapshot`);
    },
  },
];

/** The largest divisor of n below n (1 for a prime), so that pages of that size end exactly full. */
function largestDivisor(n: number): number {
  for (let d = Math.floor(n / 2); d > 1; d--) if (n % d === 0) return d;
  return 1;
}
