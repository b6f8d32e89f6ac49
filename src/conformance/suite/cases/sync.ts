import type { ConformanceTest } from "../types.js";
import { check, direct, send, text, users } from "./helpers.js";

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
];
