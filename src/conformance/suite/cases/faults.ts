import type { Frame } from "../../../gen/imwire/v1/frame_pb.js";
import type { UserEvent } from "../../../gen/imwire/v1/delivery_pb.js";
import type { ConformanceTest } from "../types.js";
import { check, direct, eventPush, freshKey, push, send, text, users } from "./helpers.js";

const group = "faults";
const isPush = (f: Frame): boolean => f.body.case === "deliver";

export const faultTests: ConformanceTest[] = [
  {
    id: "IDEM-2/acknowledgement-lost-with-the-connection",
    requirements: ["IDEM-2", "IDEM-1", "CONN-8"],
    level: "required",
    group,
    needs: ["fault-injection"],
    title: "the connection dies between send and send_ack; the retry on a new connection gets the same seq and makes no second message",
    async run(t) {
      const [b] = await users(t, "b");
      const proxy = await t.proxy({ downstream: { hold: (f) => f.body.case === "sendAck" } });
      const a = await t.connect(t.user("a"), "d1", { via: proxy.url });
      const id = await direct(t, a, b!);
      const key = freshKey();
      a.conn.send({ case: "sendMessage", value: { conversationId: id, clientMessageId: key, content: text("did it arrive?") } });
      const delivered = await push(t, b!, (e) => e.body.case === "event" && e.body.value.body.case === "message" && e.body.value.body.value.clientMessageId === key, "DLV-1", "the message at the peer (the server stored it)");
      proxy.cutAll();
      const again = await t.connect(a.userId, a.deviceId);
      const retry = await send(t, again, id, text("did it arrive?"), key);
      const seq = delivered.body.case === "event" ? delivered.body.value.seq : -1n;
      check(retry.seq === seq, "IDEM-2", `seq ${seq} (the stored message)`, () => `seq ${retry.seq}`);
      const page = await t.ask(again, { case: "syncConversation", value: { conversationId: id } }, "conversationPage", "SYNC-1");
      const copies = page.events.filter((e) => e.body.case === "message" && e.body.value.clientMessageId === key).length;
      check(copies === 1, "IDEM-2", "one message", () => `${copies} messages`);
    },
  },
  {
    id: "DLV-3/pushes-lost-with-the-connection",
    requirements: ["DLV-3", "AUTH-5", "CONN-8"],
    level: "required",
    group,
    needs: ["fault-injection"],
    title: "pushes lost with a connection are all delivered after the device resumes on another",
    async run(t) {
      const [a] = await users(t, "a");
      const proxy = await t.proxy({ downstream: { hold: isPush } });
      const b = await t.connect(t.user("b"), "d1", { via: proxy.url });
      const start = await t.ask(b, { case: "syncUser", value: { epoch: b.authenticated.epoch, afterCursor: 0n } }, "userPage", "SYNC-3");
      const cursor = start.snapshot?.cursor ?? 0n;
      const id = await direct(t, a!, b);
      const acks = [];
      for (let i = 0; i < 4; i++) acks.push(await send(t, a!, id, text(`lost ${i}`)));
      proxy.cutAll();
      const back = await t.connect(b.userId, b.deviceId, { resume: { epoch: b.authenticated.epoch, cursor } });
      check(back.authenticated.resumed, "AUTH-5", "resumed: true", () => "resumed: false");
      for (const ack of acks) await push(t, back, eventPush(id, ack.seq), "DLV-3", `the event #${ack.seq}, again`);
    },
  },
  {
    id: "DLV-1/a-lost-push-is-refilled-by-sync",
    requirements: ["CUR-3", "SYNC-3", "DLV-1"],
    level: "required",
    group,
    needs: ["fault-injection"],
    title: "when one push is lost, the next one's prev_cursor shows the gap and sync_user returns the missing entry",
    async run(t) {
      const [a] = await users(t, "a");
      let pushes = 0;
      const proxy = await t.proxy({ downstream: { hold: (f) => isPush(f) && ++pushes === 2 } });
      const b = await t.connect(t.user("b"), "d1", { via: proxy.url, autoAck: false });
      const id = await direct(t, a!, b);
      const acks = [];
      for (let i = 0; i < 4; i++) acks.push(await send(t, a!, id, text(`m${i}`)));
      const seen: UserEvent[] = [];
      while (seen.length < 3) seen.push(await push(t, b, () => true, "DLV-1", "the pushes that got through"));
      const gapAfter = seen.find((e, i) => i > 0 && e.prevCursor > seen[i - 1]!.cursor) ?? seen.find((e, i) => i === 0 && e.prevCursor > 0n);
      check(gapAfter !== undefined, "CUR-3", "a prev_cursor beyond the cursor held (the gap)", () => seen.map((e) => `${e.prevCursor}→${e.cursor}`).join(" "));
      const held = seen[seen.indexOf(gapAfter!) - 1]?.cursor ?? 0n;
      const page = await t.ask(b, { case: "syncUser", value: { afterCursor: held, epoch: b.authenticated.epoch } }, "userPage", "SYNC-3");
      check(page.events[0]?.prevCursor === held && page.events[0]!.cursor < gapAfter!.cursor, "SYNC-3", `the missing entry after ${held}`, () => page.events.map((e) => `${e.prevCursor}→${e.cursor}`).join(" "));
    },
  },
  {
    id: "FRM-3/split-and-coalesced-writes",
    requirements: ["FRM-3"],
    level: "required",
    group,
    needs: ["fault-injection"],
    title: "a session whose writes are split into 3-byte pieces one way and coalesced the other works",
    async run(t) {
      const [a] = await users(t, "a");
      const proxy = await t.proxy({ upstream: { split: 3 }, downstream: { coalesceMs: 20 } });
      const b = await t.connect(t.user("b"), "d1", { via: proxy.url });
      const id = await direct(t, a!, b);
      const ack = await send(t, b, id, text("through the proxy"));
      await push(t, a!, eventPush(id, ack.seq), "FRM-3", `the event #${ack.seq}`);
      const reply = await send(t, a!, id, text("and back"));
      await push(t, b, eventPush(id, reply.seq), "FRM-3", `the event #${reply.seq}`);
    },
  },
];
