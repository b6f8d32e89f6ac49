import { DeviceState, ReceiveMode } from "../../../gen/imwire/v1/settings_pb.js";
import type { ConformanceTest } from "../types.js";
import { check, direct, eventPush, group as makeGroup, push, send, text, users } from "./helpers.js";

const group = "settings";

export const settingsTests: ConformanceTest[] = [
  {
    id: "RECV-2/notify-only-is-pushed-in-notify-form",
    requirements: ["RECV-2", "RECV-3", "RECV-1"],
    level: "required",
    group,
    title: "a notify-only conversation is pushed as notify (no content), and its events are there to pull",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      const stored = await t.ask(b!, { case: "setReceiveSettings", value: { settings: { conversationId: id, mode: ReceiveMode.NOTIFY_ONLY } } }, "receiveSettings", "RECV-1");
      check(stored.mode === ReceiveMode.NOTIFY_ONLY, "RECV-1", "the stored setting NOTIFY_ONLY", () => `mode ${stored.mode}`);
      const ack = await send(t, a!, id, text("pull me"));
      const entry = await push(t, b!, (e) => (e.body.case === "notify" || e.body.case === "event") && e.body.value.conversationId === id && e.body.value.seq === ack.seq, "RECV-2", `the entry for #${ack.seq}`);
      check(entry.body.case === "notify", "RECV-2", "notify form", () => `${entry.body.case} form`);
      const page = await t.ask(b!, { case: "syncConversation", value: { conversationId: id, afterSeq: ack.seq - 1n } }, "conversationPage", "RECV-3");
      check(page.events[0]?.seq === ack.seq, "RECV-3", `the event #${ack.seq}`, () => `${page.events.length} events`);
    },
  },
  {
    id: "RECV-2/muted-is-pushed-whole",
    requirements: ["RECV-2"],
    level: "required",
    group,
    title: "a muted conversation's events are still pushed whole",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      await t.ask(b!, { case: "setReceiveSettings", value: { settings: { conversationId: id, mode: ReceiveMode.MUTED } } }, "receiveSettings", "RECV-1");
      const ack = await send(t, a!, id, text("quietly"));
      const entry = await push(t, b!, eventPush(id, ack.seq), "RECV-2", `the entry for #${ack.seq}`);
      check(entry.body.case === "event", "RECV-2", "the whole event", () => `${entry.body.case} form`);
    },
  },
  {
    id: "RECV-4/settings-reach-every-device",
    requirements: ["RECV-4", "RECV-6"],
    level: "required",
    group,
    title: "a setting changed on one device is pushed, whole, to the user's other devices",
    async run(t) {
      const phone = await t.connect(t.user("a"), "phone");
      const laptop = await t.connect(t.user("a"), "laptop");
      await t.ask(phone, { case: "setReceiveSettings", value: { settings: { conversationId: "", mode: ReceiveMode.MUTED } } }, "receiveSettings", "RECV-1");
      await push(t, laptop, (e) => e.body.case === "receiveSettings" && e.body.value.conversationId === "" && e.body.value.mode === ReceiveMode.MUTED, "RECV-4", "receive_settings MUTED for the account");
    },
  },
  {
    id: "RECV-5/background-device-gets-notify-form",
    requirements: ["RECV-5"],
    level: "required",
    group,
    title: "a device set to BACKGROUND is pushed conversation events in notify form",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      const set = await t.ask(b!, { case: "setDeviceState", value: { state: DeviceState.BACKGROUND } }, "deviceStateSet", "RECV-5");
      check(set.state === DeviceState.BACKGROUND, "RECV-5", "BACKGROUND", () => `state ${set.state}`);
      const ack = await send(t, a!, id, text("while you sleep"));
      const entry = await push(t, b!, (e) => (e.body.case === "notify" || e.body.case === "event") && e.body.value.conversationId === id && e.body.value.seq === ack.seq, "RECV-5", `the entry for #${ack.seq}`);
      check(entry.body.case === "notify", "RECV-5", "notify form", () => `${entry.body.case} form`);
    },
  },
  {
    id: "READ-1/read-markers-move-forward-everywhere",
    requirements: ["READ-1", "READ-2"],
    level: "required",
    group,
    title: "mark_read answers the marker, which never moves back, and the user's other devices are told",
    async run(t) {
      const phone = await t.connect(t.user("a"), "phone");
      const laptop = await t.connect(t.user("a"), "laptop");
      const [b] = await users(t, "b");
      const id = await direct(t, phone, b!);
      const ack = await send(t, b!, id, text("read me"));
      const marker = await t.ask(phone, { case: "markRead", value: { conversationId: id, seq: ack.seq } }, "readMarker", "READ-1");
      check(marker.seq === ack.seq, "READ-1", `marker ${ack.seq}`, () => `marker ${marker.seq}`);
      const back = await t.ask(phone, { case: "markRead", value: { conversationId: id, seq: 1n } }, "readMarker", "READ-1");
      check(back.seq === ack.seq, "READ-1", `marker still ${ack.seq}`, () => `marker ${back.seq}`);
      await push(t, laptop, (e) => e.body.case === "readMarker" && e.body.value.conversationId === id && e.body.value.seq === ack.seq, "READ-2", "read_marker on the other device");
    },
  },
  {
    id: "READ-3/read-receipts",
    requirements: ["READ-3"],
    level: "recommended",
    group,
    needs: ["read-receipts"],
    title: "in a group, the other members are told who read up to where",
    async run(t) {
      const [a, b, c] = await users(t, "a", "b", "c");
      const id = await makeGroup(t, a!, [b!, c!]);
      const ack = await send(t, a!, id, text("did you read this?"));
      await t.ask(b!, { case: "markRead", value: { conversationId: id, seq: ack.seq } }, "readMarker", "READ-1");
      for (const member of [a!, c!]) {
        await push(t, member, (e) => e.body.case === "readReceipt" && e.body.value.userId === b!.userId && e.body.value.seq === ack.seq, "READ-3", `read_receipt of ${b!.userId}`);
      }
    },
  },
];
