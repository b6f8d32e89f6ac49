import { ErrorCode } from "../../../gen/imwire/v1/error_pb.js";
import type { UserEvent } from "../../../gen/imwire/v1/delivery_pb.js";
import type { Frame } from "../../../gen/imwire/v1/frame_pb.js";
import type { ConformanceTest } from "../types.js";
import { check, direct, eventPush, push, send, text, users } from "./helpers.js";

const group = "delivery";

export const deliveryTests: ConformanceTest[] = [
  {
    id: "CUR-3/pushes-link-to-the-previous-entry",
    requirements: ["CUR-3", "CUR-2", "DLV-1"],
    level: "required",
    group,
    title: "pushed entries have increasing cursors, each linked by prev_cursor to the one before",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      const acks = [];
      for (let i = 0; i < 5; i++) acks.push(await send(t, a!, id, text(`m${i}`)));
      const entries: UserEvent[] = [];
      for (const ack of acks) entries.push(await push(t, b!, eventPush(id, ack.seq), "DLV-1", `the event #${ack.seq}`));
      for (let i = 1; i < entries.length; i++) {
        check(entries[i]!.cursor > entries[i - 1]!.cursor, "CUR-2", "increasing cursors", () => entries.map((e) => e.cursor).join(","));
        check(entries[i]!.prevCursor <= entries[i - 1]!.cursor, "CUR-3", `prev_cursor ≤ ${entries[i - 1]!.cursor}`, () => `prev_cursor ${entries[i]!.prevCursor}`);
      }
    },
  },
  {
    id: "DLV-3/unacknowledged-entries-redelivered-on-resume",
    requirements: ["DLV-3", "AUTH-5", "ACK-1"],
    level: "required",
    group,
    title: "entries pushed but not acknowledged are pushed again after a resume, linked to the resume cursor",
    async run(t) {
      const [a] = await users(t, "a");
      const b = [await t.connect(t.user("b"), "d1", { autoAck: false })][0];
      const id = await direct(t, a!, b!);
      const first = await send(t, a!, id, text("acknowledged"));
      const acked = await push(t, b!, eventPush(id, first.seq), "DLV-1", `the event #${first.seq}`);
      b!.conn.send({ case: "deliveryAck", value: { cursor: acked.cursor } }, 0);
      const lost = [];
      for (let i = 0; i < 3; i++) lost.push(await send(t, a!, id, text(`pushed, never acknowledged ${i}`)));
      for (const ack of lost) await push(t, b!, eventPush(id, ack.seq), "DLV-1", `the event #${ack.seq}`);
      b!.conn.close();
      const again = await t.connect(b!.userId, b!.deviceId, { resume: { epoch: b!.authenticated.epoch, cursor: acked.cursor }, autoAck: false });
      check(again.authenticated.resumed, "AUTH-5", "resumed: true", () => "resumed: false");
      const redelivered = await push(t, again, eventPush(id, lost[0]!.seq), "DLV-3", `the event #${lost[0]!.seq} again`);
      check(redelivered.prevCursor === acked.cursor, "DLV-3", `prev_cursor ${acked.cursor} (the resume cursor)`, () => `prev_cursor ${redelivered.prevCursor}`);
      for (const ack of lost.slice(1)) await push(t, again, eventPush(id, ack.seq), "DLV-3", `the event #${ack.seq} again`);
    },
  },
  {
    id: "AUTH-5/resume-with-another-epoch",
    requirements: ["AUTH-5", "CUR-4", "SYNC-4", "DLV-2"],
    level: "required",
    group,
    title: "a resume with an epoch the server never issued is refused (resumed false); sync_user then answers a snapshot",
    async run(t) {
      const [a] = await users(t, "a");
      a!.conn.close();
      const again = await t.connect(a!.userId, "d1", { resume: { epoch: "an-epoch-from-elsewhere", cursor: 1n }, position: false });
      check(!again.authenticated.resumed, "AUTH-5", "resumed: false", () => "resumed: true");
      const page = await t.ask(again, { case: "syncUser", value: { afterCursor: 1n, epoch: "an-epoch-from-elsewhere" } }, "userPage", "SYNC-4");
      check(page.snapshot !== undefined && page.events.length === 0, "SYNC-4", "a snapshot and no entries", () => `${page.events.length} entries, ${page.snapshot ? "a" : "no"} snapshot`);
      check(page.snapshot!.epoch === again.authenticated.epoch, "CUR-4", `epoch ${again.authenticated.epoch}`, () => `epoch ${page.snapshot!.epoch}`);
    },
  },
  {
    id: "DLV-2/nothing-pushed-before-the-position-is-set",
    requirements: ["DLV-2"],
    level: "required",
    group,
    title: "a device that has not resumed or acknowledged receives no push",
    async run(t) {
      const [a] = await users(t, "a");
      const fresh = await t.connect(t.user("b"), "d1", { position: false });
      const id = await direct(t, a!, fresh);
      await send(t, a!, id, text("not yet"));
      await t.expectNothing(fresh.conn, (f) => f.body.case === "deliver", "DLV-2", "no deliver before the position is set");
    },
  },
  {
    id: "ACK-2/acknowledgement-beyond-what-was-sent",
    requirements: ["ACK-2", "ACK-5"],
    level: "required",
    group,
    title: "acknowledging a cursor never sent is a PROTOCOL_VIOLATION (request id 0) that closes",
    async run(t) {
      const [a] = await users(t, "a");
      a!.conn.send({ case: "deliveryAck", value: { cursor: 2n ** 60n } }, 0);
      const frame = await t.expectErrorFrom(a!.conn, [ErrorCode.PROTOCOL_VIOLATION], "ACK-2", { closing: true });
      check(frame.requestId === 0, "ACK-5", "request_id 0", () => `request_id ${frame.requestId}`);
      await t.expectClosed(a!.conn, "ACK-2");
    },
  },
  {
    id: "ACK-3/stale-acknowledgement-is-harmless",
    requirements: ["ACK-3"],
    level: "required",
    group,
    title: "an acknowledgement below the position changes nothing and is no error",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      const ack = await send(t, a!, id, text("x"));
      const entry = await push(t, b!, eventPush(id, ack.seq), "DLV-1", "the event");
      b!.conn.send({ case: "deliveryAck", value: { cursor: entry.cursor } }, 0);
      b!.conn.send({ case: "deliveryAck", value: { cursor: entry.prevCursor } }, 0);
      await t.expectNothing(b!.conn, (f) => f.body.case === "error", "ACK-3", "no error");
    },
  },
  {
    id: "FLOW-2/slow-consumer-holds-at-most-the-window",
    requirements: ["FLOW-2", "ACK-1"],
    level: "required",
    group,
    title: "a device that does not acknowledge is pushed at most receive_window entries; acknowledging releases more",
    async run(t) {
      const [a] = await users(t, "a");
      const b = [await t.connect(t.user("b"), "d1", { autoAck: false })][0];
      const id = await direct(t, a!, b!);
      const window = b!.welcome.receiveWindow;
      const isPush = (f: Frame) => f.body.case === "deliver";
      // What has arrived once the server has been quiet for quiet_ms (a server of several nodes may push late).
      const drainWindow = async () => {
        await new Promise((resolve) => setTimeout(resolve, t.quietMs));
        return b!.conn.drain().filter(isPush).map((f) => f.body.value as UserEvent);
      };
      await drainWindow(); // whatever came before the test's sends
      for (let i = 0; i < window + 10; i++) await send(t, a!, id, text(`flood ${i}`));
      const first = await drainWindow();
      check(first.length <= window, "FLOW-2", `at most ${window} pushes unacknowledged`, () => `${first.length} pushes`);
      check(first.length > 0, "DLV-1", "some pushes", () => "none");
      b!.conn.send({ case: "deliveryAck", value: { cursor: first.at(-1)!.cursor } }, 0);
      // Promptly, as every push: within the run's timeout, not a fixed fraction of a second.
      const more = await b!.conn.next(isPush, t.timeoutMs, "push after the acknowledgement").catch(() => undefined);
      check(more !== undefined, "ACK-1", "more pushes after the acknowledgement", () => "none");
    },
  },
  {
    id: "ACK-2/acknowledging-an-entry-sent-to-another-device",
    requirements: ["ACK-2", "ACK-5", "DLV-2"],
    level: "required",
    group,
    title: "a device that was sent a snapshot acknowledging an entry pushed only to its other device is a PROTOCOL_VIOLATION that closes",
    async run(t) {
      const [b] = await users(t, "b");
      const phone = await t.connect(t.user("a"), "phone");
      const laptop = await t.connect(t.user("a"), "laptop", { position: false });
      const snapshot = await t.ask(laptop, { case: "syncUser", value: {} }, "userPage", "SYNC-4");
      const id = await direct(t, phone, b!);
      const ack = await send(t, b!, id, text("to the phone only"));
      const entry = await push(t, phone, eventPush(id, ack.seq), "DLV-1", `the event #${ack.seq}`);
      check(entry.cursor > (snapshot.snapshot?.cursor ?? 0n), "CUR-2", "an entry after the snapshot", () => `cursor ${entry.cursor}`);
      // The laptop holds the snapshot's cursor; this entry exists, but it was never sent to the laptop.
      laptop.conn.send({ case: "deliveryAck", value: { cursor: entry.cursor } }, 0);
      const frame = await t.expectErrorFrom(laptop.conn, [ErrorCode.PROTOCOL_VIOLATION], "ACK-2", { closing: true });
      check(frame.requestId === 0, "ACK-5", "request_id 0", () => `request_id ${frame.requestId}`);
      await t.expectClosed(laptop.conn, "ACK-2");
    },
  },
  {
    id: "ACK-2/acknowledging-an-entry-beyond-the-window",
    requirements: ["ACK-2", "FLOW-2"],
    level: "required",
    group,
    title: "acknowledging an entry the receive window held back (it exists, it was never pushed) is a PROTOCOL_VIOLATION that closes",
    async run(t) {
      const [a] = await users(t, "a");
      const phone = await t.connect(t.user("b"), "phone", { autoAck: false });
      const tablet = await t.connect(phone.userId, "tablet");
      const id = await direct(t, a!, phone);
      const window = phone.welcome.receiveWindow;
      const acks = [];
      for (let i = 0; i <= window + 1; i++) acks.push(await send(t, a!, id, text(`fill ${i}`)));
      // The tablet acknowledges as it goes, so it sees every entry, the ones the phone's window holds back included.
      const last = await push(t, tablet, eventPush(id, acks.at(-1)!.seq), "DLV-1", `the event #${acks.at(-1)!.seq} on the tablet`);
      check(phone.conn.referee.highestSent < last.cursor, "FLOW-2", `the phone held at its window of ${window}`, () => `the phone was sent up to cursor ${phone.conn.referee.highestSent}`);
      phone.conn.send({ case: "deliveryAck", value: { cursor: last.cursor } }, 0);
      await t.expectErrorFrom(phone.conn, [ErrorCode.PROTOCOL_VIOLATION], "ACK-2", { closing: true });
      await t.expectClosed(phone.conn, "ACK-2");
    },
  },
  {
    id: "ACK-2/what-counts-as-sent",
    requirements: ["ACK-2", "AUTH-5", "SYNC-4", "ACK-3"],
    level: "required",
    group,
    title: "a resume cursor and a snapshot's cursor count as sent: acknowledging either, before anything is pushed, is no error",
    async run(t) {
      const [a] = await users(t, "a");
      const b = await t.connect(t.user("b"), "d1");
      const id = await direct(t, a!, b);
      const ack = await send(t, a!, id, text("x"));
      const entry = await push(t, b, eventPush(id, ack.seq), "DLV-1", `the event #${ack.seq}`);
      b.conn.close();
      const resumed = await t.connect(b.userId, b.deviceId, { resume: { epoch: b.authenticated.epoch, cursor: entry.cursor }, autoAck: false });
      check(resumed.authenticated.resumed, "AUTH-5", "resumed: true", () => "resumed: false");
      resumed.conn.send({ case: "deliveryAck", value: { cursor: entry.cursor } }, 0);
      const fresh = await t.connect(b.userId, "fresh", { position: false });
      const page = await t.ask(fresh, { case: "syncUser", value: {} }, "userPage", "SYNC-4");
      fresh.conn.send({ case: "deliveryAck", value: { cursor: page.snapshot?.cursor ?? 0n } }, 0);
      // Both connections must stay: a ping answered after the acknowledgement shows it was taken.
      for (const session of [resumed, fresh]) {
        session.conn.send({ case: "ping", value: { nonce: 11n } }, 0);
        await t.nextOrViolation(session.conn, (f) => f.body.case === "pong" && f.body.value.nonce === 11n, "ACK-2", ["pong: the connection stays open"]);
      }
    },
  },
  {
    id: "AUTH-5/resume-on-an-empty-stream",
    requirements: ["AUTH-5", "DLV-1", "CUR-3"],
    level: "required",
    group,
    title: "a device of a user whose stream is empty resumes at cursor 0, and the first entry is pushed linked to 0",
    async run(t) {
      const first = await t.connect(t.user("new"), "d1", { position: false });
      check(first.authenticated.headCursor === 0n, "AUTH-5", "an empty stream (head_cursor 0) for a new user", () => `head_cursor ${first.authenticated.headCursor}`);
      first.conn.close();
      const back = await t.connect(first.userId, "d1", { resume: { epoch: first.authenticated.epoch, cursor: 0n } });
      check(back.authenticated.resumed, "AUTH-5", "resumed: true at cursor 0 of the current epoch", () => "resumed: false");
      const [a] = await users(t, "a");
      await direct(t, a!, back);
      const entry = await push(t, back, () => true, "DLV-1", "the first entry of the stream");
      check(entry.prevCursor === 0n, "CUR-3", "prev_cursor 0 (the resume cursor)", () => `prev_cursor ${entry.prevCursor}`);
    },
  },
  {
    id: "ACK-6/position-zero-on-an-empty-stream",
    requirements: ["ACK-6", "DLV-2", "SYNC-5"],
    level: "required",
    group,
    title: "a new device that synchronises an empty stream sets its position with delivery_ack cursor 0, and pushes start",
    async run(t) {
      const fresh = await t.connect(t.user("new"), "d1", { position: false });
      const page = await t.ask(fresh, { case: "syncUser", value: {} }, "userPage", "SYNC-4");
      const cursor = page.snapshot?.cursor ?? page.events.at(-1)?.cursor ?? 0n;
      check(cursor === 0n, "SYNC-4", "nothing in a new user's stream", () => `cursor ${cursor}`);
      fresh.conn.send({ case: "deliveryAck", value: { cursor: 0n } }, 0);
      const [a] = await users(t, "a");
      await direct(t, a!, fresh);
      await push(t, fresh, () => true, "ACK-6", "a push, once the position is set at 0");
    },
  },
  {
    id: "ACK-4/conversation-acknowledgements",
    requirements: ["ACK-4", "ACK-6", "DLV-2"],
    level: "required",
    group,
    title: "conversation acknowledgements with cursor 0 are accepted and set no stream position; one above the last seq is a PROTOCOL_VIOLATION that closes",
    async run(t) {
      const [a] = await users(t, "a");
      const fresh = await t.connect(t.user("b"), "d1", { position: false });
      const id = await direct(t, a!, fresh);
      const ack = await send(t, a!, id, text("pulled, not pushed"));
      // Cursor 0 beside conversations carries no stream part (ACK-6): the position stays unset, so nothing is pushed (DLV-2).
      fresh.conn.send({ case: "deliveryAck", value: { cursor: 0n, conversations: [{ conversationId: id, seq: ack.seq }] } }, 0);
      const more = await send(t, a!, id, text("still not pushed"));
      await t.ask(fresh, { case: "syncConversation", value: { conversationId: id, afterSeq: more.seq - 1n } }, "conversationPage", "SYNC-1");
      await t.expectNothing(fresh.conn, (f) => f.body.case === "deliver", "ACK-6", "no push: cursor 0 beside conversations sets no position");
      fresh.conn.send({ case: "deliveryAck", value: { conversations: [{ conversationId: id, seq: more.seq + 1n }] } }, 0);
      await t.expectErrorFrom(fresh.conn, [ErrorCode.PROTOCOL_VIOLATION], "ACK-4", { closing: true });
      await t.expectClosed(fresh.conn, "ACK-4");
    },
  },
  {
    id: "FLOW-2/hello-receive-window-is-honoured",
    requirements: ["FLOW-2", "CONN-2"],
    level: "required",
    group,
    title: "a device that asks for a receive window of 2 gets at most 2 in welcome, and at most that many unacknowledged pushes",
    async run(t) {
      const [a] = await users(t, "a");
      const b = await t.connect(t.user("b"), "d1", { autoAck: false, receiveWindow: 2 });
      const window = b.welcome.receiveWindow;
      check(window >= 1 && window <= 2, "FLOW-2", "welcome.receive_window of 1 or 2", () => `receive_window ${window}`);
      const id = await direct(t, a!, b);
      const acks = [];
      for (let i = 0; i < 5; i++) acks.push(await send(t, a!, id, text(`m${i}`)));
      // The sender's own copy of the last message shows the server has appended it to b's stream too;
      // the referee fails the test the moment b holds more than the window unacknowledged (FLOW-2).
      await push(t, a!, eventPush(id, acks.at(-1)!.seq), "DLV-4", `the event #${acks.at(-1)!.seq} at the sender`);
      await t.expectNothing(b.conn, () => false, "FLOW-2", "nothing");
      const held = b.conn.drain().filter((f) => f.body.case === "deliver");
      check(held.length > 0 && held.length <= window, "FLOW-2", `1 to ${window} pushes before any acknowledgement`, () => `${held.length}`);
      const last = held.at(-1)!.body.value as UserEvent;
      b.conn.send({ case: "deliveryAck", value: { cursor: last.cursor } }, 0);
      await push(t, b, () => true, "ACK-1", "more pushes once the window is acknowledged");
    },
  },
];
