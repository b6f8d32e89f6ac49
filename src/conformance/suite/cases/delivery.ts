import { ErrorCode } from "../../../gen/imwire/v1/error_pb.js";
import type { UserEvent } from "../../../gen/imwire/v1/delivery_pb.js";
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
      await t.expectNothing(fresh.conn, (f) => f.body.case === "deliver", "DLV-2", 500, "no deliver before the position is set");
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
      await t.expectNothing(b!.conn, (f) => f.body.case === "error", "ACK-3", 300, "no error");
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
      const drainWindow = async () => {
        await new Promise((resolve) => setTimeout(resolve, 300));
        return b!.conn.drain().filter((f) => f.body.case === "deliver").map((f) => f.body.value as UserEvent);
      };
      await drainWindow(); // whatever came before the test's sends
      for (let i = 0; i < window + 10; i++) await send(t, a!, id, text(`flood ${i}`));
      const first = await drainWindow();
      check(first.length <= window, "FLOW-2", `at most ${window} pushes unacknowledged`, () => `${first.length} pushes`);
      check(first.length > 0, "DLV-1", "some pushes", () => "none");
      b!.conn.send({ case: "deliveryAck", value: { cursor: first.at(-1)!.cursor } }, 0);
      const more = await drainWindow();
      check(more.length > 0, "ACK-1", "more pushes after the acknowledgement", () => "none");
    },
  },
];
