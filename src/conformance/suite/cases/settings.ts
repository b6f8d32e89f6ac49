import { ConversationKind, type Conversation } from "../../../gen/imwire/v1/conversation_pb.js";
import type { UserEvent } from "../../../gen/imwire/v1/delivery_pb.js";
import type { Frame } from "../../../gen/imwire/v1/frame_pb.js";
import { DeviceState, ReceiveMode } from "../../../gen/imwire/v1/settings_pb.js";
import type { Session, TestContext } from "../context.js";
import type { ConformanceTest } from "../types.js";
import { check, direct, eventPush, freshKey, group as makeGroup, push, send, text, users } from "./helpers.js";

const group = "settings";

const modeName = (mode: ReceiveMode) => ReceiveMode[mode] ?? String(mode);

/** The conversation event entry (whole or notify) a push stands for, if it is one. */
function conversationRef(entry: UserEvent): { readonly conversationId: string; readonly seq: bigint } | undefined {
  return entry.body.case === "event" || entry.body.case === "notify" ? entry.body.value : undefined;
}

/**
 * Take the pushes of `conversationId`'s events until one covers the last of
 * `seqs` (the events just appended, ascending), and check that each came in
 * `form`. Whole events must each come (DLV-1); notify-form entries may be
 * coalesced (CUR-3), but each names the seq of the event it stands for, one
 * of `seqs`, never a seq already named (RECV-2).
 */
async function expectForm(t: TestContext, session: Session, conversationId: string, seqs: readonly bigint[], form: "event" | "notify", requirement: string, why: string): Promise<void> {
  const last = seqs.at(-1)!;
  let covered = seqs[0]! - 1n;
  while (covered < last) {
    const entry = await push(t, session, (e) => conversationRef(e)?.conversationId === conversationId && conversationRef(e)!.seq > covered, requirement, `the ${form} form of ${conversationId}#${seqs.join(",")}`);
    const seq = conversationRef(entry)!.seq;
    check(entry.body.case === form, requirement, `${conversationId}#${seq} in ${form} form (${why})`, () => `${entry.body.case} form`);
    if (form === "event") check(seq === covered + 1n, "DLV-1", `the event ${conversationId}#${covered + 1n}`, () => `#${seq} first`);
    else check(seqs.includes(seq), "RECV-2", `a notify naming the event it stands for, one of #${seqs.join(", #")}`, () => `notify #${seq}`);
    covered = seq;
  }
}

/** Every page of the snapshot a fresh device gets (SYNC-4, SYNC-7). */
async function snapshotOf(t: TestContext, session: Session): Promise<{ readonly defaultReceiveMode: ReceiveMode; readonly conversations: Conversation[] }> {
  const first = await t.ask(session, { case: "syncUser", value: {} }, "userPage", "SYNC-4");
  check(first.snapshot !== undefined, "SYNC-4", "a snapshot for a device with no epoch", () => `${first.events.length} entries and no snapshot`);
  const snapshot = first.snapshot!;
  const conversations = [...snapshot.conversations];
  for (let after = snapshot.continueAfter, pages = 1; after !== ""; pages++) {
    check(pages < 1_000, "SYNC-7", "a last snapshot page", () => `${pages} pages`);
    const next = await t.ask(session, { case: "syncUser", value: { epoch: snapshot.epoch, snapshotAfter: after } }, "userPage", "SYNC-7");
    check(next.snapshot !== undefined, "SYNC-7", `the snapshot page after ${after}`, () => `${next.events.length} entries and no snapshot`);
    conversations.push(...next.snapshot!.conversations);
    after = next.snapshot!.continueAfter;
  }
  return { defaultReceiveMode: snapshot.defaultReceiveMode, conversations };
}

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
  {
    id: "RECV-5/device-state-is-per-device",
    requirements: ["RECV-5"],
    level: "required",
    group,
    title: "BACKGROUND holds for the device that set it only, and a device that connects again is FOREGROUND",
    async run(t) {
      const [a] = await users(t, "a");
      const phone = await t.connect(t.user("b"), "phone");
      const laptop = await t.connect(t.user("b"), "laptop");
      const id = await direct(t, a!, phone);
      const set = await t.ask(phone, { case: "setDeviceState", value: { state: DeviceState.BACKGROUND } }, "deviceStateSet", "RECV-5");
      check(set.state === DeviceState.BACKGROUND, "RECV-5", "BACKGROUND", () => `state ${set.state}`);
      const first = await send(t, a!, id, text("the phone sleeps, the laptop is open"));
      const onPhone = await push(t, phone, eventPush(id, first.seq), "RECV-5", `the entry for #${first.seq} on the BACKGROUND phone`);
      check(onPhone.body.case === "notify", "RECV-5", `#${first.seq} in notify form on the phone, which set BACKGROUND`, () => `${onPhone.body.case} form`);
      check(conversationRef(onPhone)!.seq === first.seq, "RECV-2", `a notify naming #${first.seq}`, () => `notify #${conversationRef(onPhone)!.seq}`);
      const onLaptop = await push(t, laptop, eventPush(id, first.seq), "RECV-5", `the entry for #${first.seq} on the FOREGROUND laptop`);
      check(onLaptop.body.case === "event", "RECV-5", `#${first.seq} whole on the laptop: set_device_state sets the state of the sending device only`, () => `${onLaptop.body.case} form`);

      phone.conn.close();
      const back = await t.connect(phone.userId, phone.deviceId);
      const second = await send(t, a!, id, text("good morning"));
      const again = await push(t, back, eventPush(id, second.seq), "RECV-5", `the entry for #${second.seq} on the phone, connected again`);
      check(again.body.case === "event", "RECV-5", `#${second.seq} whole: a device is FOREGROUND when it connects, whatever it was on its last connection`, () => `${again.body.case} form`);
    },
  },
  {
    id: "READ-2/read-markers-in-every-kind",
    requirements: ["READ-2", "READ-1"],
    level: "required",
    group,
    title: "marking read on one device, in a one-to-one conversation and in a group, tells the user's other devices",
    async run(t) {
      const phone = await t.connect(t.user("a"), "phone");
      const laptop = await t.connect(t.user("a"), "laptop");
      const [b, c] = await users(t, "b", "c");
      const conversations: [string, string][] = [
        ["one-to-one conversation", await direct(t, phone, b!)],
        ["group", await makeGroup(t, b!, [phone, c!])],
      ];
      for (const [kind, id] of conversations) {
        const ack = await send(t, b!, id, text(`read me in the ${kind}`));
        const marker = await t.ask(phone, { case: "markRead", value: { conversationId: id, seq: ack.seq } }, "readMarker", "READ-1");
        check(marker.seq === ack.seq, "READ-1", `marker ${ack.seq} in the ${kind}`, () => `marker ${marker.seq}`);
        await push(t, laptop, (e) => e.body.case === "readMarker" && e.body.value.conversationId === id && e.body.value.seq === ack.seq, "READ-2", `read_marker ${id}#${ack.seq} (the ${kind}) on the other device`);
      }
    },
  },
  {
    id: "READ-2/read-markers-in-a-channel",
    requirements: ["READ-2", "READ-1"],
    level: "required",
    group,
    needs: ["channels"],
    title: "in a channel, a subscriber's and the owner's read markers reach their other devices",
    async run(t) {
      const ownerPhone = await t.connect(t.user("owner"), "phone");
      const ownerLaptop = await t.connect(t.user("owner"), "laptop");
      const fanPhone = await t.connect(t.user("fan"), "phone");
      const fanLaptop = await t.connect(t.user("fan"), "laptop");
      const created = await t.ask(ownerPhone, { case: "openConversation", value: { kind: ConversationKind.CHANNEL, title: "news", clientConversationId: freshKey("ch") } }, "conversationOpened", "CONV-3");
      const id = created.conversation!.conversationId;
      await t.ask(fanPhone, { case: "openConversation", value: { conversationId: id } }, "conversationOpened", "CONV-4");
      const post = await send(t, ownerPhone, id, text("read all about it"));
      for (const [who, reader, other] of [["a subscriber", fanPhone, fanLaptop], ["the owner", ownerPhone, ownerLaptop]] as const) {
        const marker = await t.ask(reader, { case: "markRead", value: { conversationId: id, seq: post.seq } }, "readMarker", "READ-1");
        check(marker.seq === post.seq, "READ-1", `marker ${post.seq} for ${who}`, () => `marker ${marker.seq}`);
        await push(t, other, (e) => e.body.case === "readMarker" && e.body.value.conversationId === id && e.body.value.seq === post.seq, "READ-2", `read_marker ${id}#${post.seq} on the other device of ${who}`);
      }
    },
  },
  {
    id: "READ-4/no-read-receipts-in-channels",
    requirements: ["READ-4", "SEC-7", "READ-3"],
    level: "required",
    group,
    needs: ["channels"],
    title: "a channel has no read receipts: neither the owner nor other subscribers learn who read",
    async run(t) {
      const [owner, other] = await users(t, "owner", "other-fan");
      const fanPhone = await t.connect(t.user("fan"), "phone");
      const fanLaptop = await t.connect(t.user("fan"), "laptop");
      const created = await t.ask(owner!, { case: "openConversation", value: { kind: ConversationKind.CHANNEL, title: "news", clientConversationId: freshKey("ch") } }, "conversationOpened", "CONV-3");
      const id = created.conversation!.conversationId;
      for (const fan of [fanPhone, other!]) await t.ask(fan, { case: "openConversation", value: { conversationId: id } }, "conversationOpened", "CONV-4");
      const post = await send(t, owner!, id, text("read receipts are not for channels"));
      await t.ask(fanPhone, { case: "markRead", value: { conversationId: id, seq: post.seq } }, "readMarker", "READ-1");
      // Barrier: the subscriber's own marker entry was appended and pushed, so the server has acted on the mark.
      await push(t, fanLaptop, (e) => e.body.case === "readMarker" && e.body.value.conversationId === id && e.body.value.seq === post.seq, "READ-2", `read_marker ${id}#${post.seq} on the subscriber's other device`);
      await t.ask(owner!, { case: "markRead", value: { conversationId: id, seq: post.seq } }, "readMarker", "READ-1");
      // Barrier on every stream: a post appended after both marks; a receipt appended with a mark comes before it.
      const later = await send(t, owner!, id, text("and one more"));
      for (const s of [owner!, other!, fanPhone, fanLaptop]) await push(t, s, eventPush(id, later.seq), "CONV-6", `the post #${later.seq} on ${s.userId}/${s.deviceId}`);
      const receipt = (f: Frame) => f.body.case === "deliver" && f.body.value.body.case === "readReceipt" && f.body.value.body.value.conversationId === id;
      await Promise.all(
        [owner!, other!, fanPhone, fanLaptop].map((s) => t.expectNothing(s.conn, receipt, "READ-3", `no read_receipt of the channel ${id} to ${s.userId}/${s.deviceId}: channels have no read receipts`)),
      );
    },
  },
  {
    id: "READ-3/read-receipt-in-a-direct-conversation",
    requirements: ["READ-3"],
    level: "recommended",
    group,
    needs: ["read-receipts"],
    title: "in a one-to-one conversation, the peer is told who read up to where",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      const ack = await send(t, a!, id, text("seen?"));
      await t.ask(b!, { case: "markRead", value: { conversationId: id, seq: ack.seq } }, "readMarker", "READ-1");
      await push(t, a!, (e) => e.body.case === "readReceipt" && e.body.value.conversationId === id && e.body.value.userId === b!.userId && e.body.value.seq === ack.seq, "READ-3", `read_receipt ${id}: ${b!.userId} read up to #${ack.seq}`);
    },
  },
  {
    id: "RECV-1/default-override-and-clearing",
    requirements: ["RECV-1", "RECV-2", "RECV-4"],
    level: "required",
    group,
    title: "the account default applies where no override is set, an override wins over it, clearing it restores the default; every change reaches the other devices",
    async run(t) {
      const [a] = await users(t, "a");
      const phone = await t.connect(t.user("b"), "phone");
      const laptop = await t.connect(t.user("b"), "laptop");
      const x = await direct(t, a!, phone);
      const y = await makeGroup(t, a!, [phone]);
      // A device that holds back every push but one (FLOW-2): its notify entries are formed after both sends below.
      const tablet = await t.connect(phone.userId, "tablet", { receiveWindow: 1, autoAck: false });
      const setting = async (conversationId: string, mode: ReceiveMode) => {
        const where = conversationId === "" ? "the account default" : `the override of ${conversationId}`;
        const stored = await t.ask(phone, { case: "setReceiveSettings", value: { settings: { conversationId, mode } } }, "receiveSettings", "RECV-1");
        check(stored.conversationId === conversationId && stored.mode === mode, "RECV-1", `the stored setting: ${where} ${modeName(mode)}`, () => `${stored.conversationId || "(account)"} ${modeName(stored.mode)}`);
        await push(t, laptop, (e) => e.body.case === "receiveSettings" && e.body.value.conversationId === conversationId && e.body.value.mode === mode, "RECV-4", `receive_settings: ${where} ${modeName(mode)}, on the other device`);
      };

      await setting("", ReceiveMode.NOTIFY_ONLY);
      const held = await push(t, tablet, () => true, "RECV-4", "receive_settings on the tablet");
      const x1 = await send(t, a!, x, text("x one"));
      const x2 = await send(t, a!, x, text("x two"));
      const y1 = await send(t, a!, y, text("y one"));
      await expectForm(t, phone, x, [x1.seq, x2.seq], "notify", "RECV-2", "the default NOTIFY_ONLY, no override");
      await expectForm(t, phone, y, [y1.seq], "notify", "RECV-2", "the default NOTIFY_ONLY, no override");
      // The tablet: acknowledge one entry at a time, up to the three events.
      tablet.conn.send({ case: "deliveryAck", value: { cursor: held.cursor } }, 0);
      const named = new Map<string, bigint[]>([[x, []], [y, []]]);
      while (named.get(x)!.at(-1) !== x2.seq || named.get(y)!.at(-1) !== y1.seq) {
        const entry = await push(t, tablet, () => true, "DLV-1", `the entries for ${x}#${x1.seq},${x2.seq} and ${y}#${y1.seq} on the tablet`);
        tablet.conn.send({ case: "deliveryAck", value: { cursor: entry.cursor } }, 0);
        const ref = conversationRef(entry);
        const seen = ref && named.get(ref.conversationId);
        if (!ref || !seen) continue;
        check(entry.body.case === "notify", "RECV-2", `${ref.conversationId}#${ref.seq} in notify form on the tablet (the default NOTIFY_ONLY)`, () => `${entry.body.case} form`);
        const sent = ref.conversationId === x ? [x1.seq, x2.seq] : [y1.seq];
        check(sent.includes(ref.seq) && (seen.at(-1) ?? 0n) < ref.seq, "RECV-2", `each notify naming the event it stands for, one of #${sent.join(", #")}, each once`, () => `notifies #${[...seen, ref.seq].join(", #")} for ${ref.conversationId}`);
        seen.push(ref.seq);
      }

      await setting(x, ReceiveMode.FULL);
      const x3 = await send(t, a!, x, text("x three"));
      const y2 = await send(t, a!, y, text("y two"));
      await expectForm(t, phone, x, [x3.seq], "event", "RECV-2", "the override FULL wins over the default");
      await expectForm(t, phone, y, [y2.seq], "notify", "RECV-2", "the default NOTIFY_ONLY: the override was another conversation's");

      await setting(x, ReceiveMode.UNSPECIFIED);
      const x4 = await send(t, a!, x, text("x four"));
      await expectForm(t, phone, x, [x4.seq], "notify", "RECV-1", "the override cleared: the default NOTIFY_ONLY applies again");

      await setting("", ReceiveMode.UNSPECIFIED);
      const x5 = await send(t, a!, x, text("x five"));
      const y3 = await send(t, a!, y, text("y three"));
      await expectForm(t, phone, x, [x5.seq], "event", "RECV-2", "no override, no default: FULL");
      await expectForm(t, phone, y, [y3.seq], "event", "RECV-2", "no override, no default: FULL");
    },
  },
  {
    id: "SYNC-4/snapshot-carries-settings-and-markers",
    requirements: ["SYNC-4", "RECV-1", "READ-1"],
    level: "required",
    group,
    title: "a fresh device's snapshot carries the account default receive mode, each conversation's override, read marker and last seq",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const x = await direct(t, a!, b!);
      const y = await makeGroup(t, a!, [b!]);
      const read = await send(t, a!, x, text("read this one"));
      const lastX = await send(t, a!, x, text("but not this one"));
      const lastY = await send(t, a!, y, text("nor this"));
      await t.ask(b!, { case: "setReceiveSettings", value: { settings: { conversationId: "", mode: ReceiveMode.MUTED } } }, "receiveSettings", "RECV-1");
      await t.ask(b!, { case: "setReceiveSettings", value: { settings: { conversationId: x, mode: ReceiveMode.NOTIFY_ONLY } } }, "receiveSettings", "RECV-1");
      await t.ask(b!, { case: "markRead", value: { conversationId: x, seq: read.seq } }, "readMarker", "READ-1");

      const fresh = await t.connect(b!.userId, "fresh", { position: false });
      const snapshot = await snapshotOf(t, fresh);
      check(snapshot.defaultReceiveMode === ReceiveMode.MUTED, "SYNC-4", "default_receive_mode MUTED, as the account default was set", () => modeName(snapshot.defaultReceiveMode));
      const listed = (id: string) => {
        const found = snapshot.conversations.filter((c) => c.conversationId === id);
        check(found.length === 1, "SYNC-4", `${id} listed once`, () => `listed ${found.length} times among ${snapshot.conversations.map((c) => c.conversationId).join(", ")}`);
        return found[0]!;
      };
      const inX = listed(x);
      check(inX.receiveMode === ReceiveMode.NOTIFY_ONLY, "SYNC-4", `${x} with receive_mode NOTIFY_ONLY, its override`, () => modeName(inX.receiveMode));
      check(inX.readSeq === read.seq, "SYNC-4", `${x} with read_seq ${read.seq}`, () => `read_seq ${inX.readSeq}`);
      check(inX.lastSeq === lastX.seq, "SYNC-4", `${x} with last_seq ${lastX.seq}`, () => `last_seq ${inX.lastSeq}`);
      const inY = listed(y);
      check(inY.readSeq === 0n, "SYNC-4", `${y} with read_seq 0 (never marked)`, () => `read_seq ${inY.readSeq}`);
      check(inY.lastSeq === lastY.seq, "SYNC-4", `${y} with last_seq ${lastY.seq}`, () => `last_seq ${inY.lastSeq}`);
    },
  },
];
