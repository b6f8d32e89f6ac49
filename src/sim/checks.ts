import { MessageView } from "../view/message-view.js";
import { toBinary } from "@bufbuild/protobuf";
import { ConversationKind, HistoryVisibility, Role } from "../gen/imwire/v1/conversation_pb.js";
import { ConversationEventSchema, MembershipAction, type ConversationEvent } from "../gen/imwire/v1/message_pb.js";
import { Feature } from "../gen/imwire/v1/connection_pb.js";
import { deliveredMarkerKey } from "../store/store.js";
import type { SimDevice, Simulation } from "./simulation.js";

/**
 * The protocol's promises as checks over a finished simulation. Each returns
 * the violations it finds, naming the property (issue numbering) and the
 * SPEC.md requirement; an empty list means the promise held.
 */

function sameEvent(a: ConversationEvent, b: ConversationEvent): boolean {
  const x = toBinary(ConversationEventSchema, a);
  const y = toBinary(ConversationEventSchema, b);
  return x.length === y.length && x.every((byte, i) => byte === y[i]);
}

/**
 * Properties 1 and 2 (SEQ-4): each device hands out every conversation's
 * events in seq order, without repeats or holes, and each is the event the
 * server stored at that seq, so all devices see the same sequence.
 */
export function checkOrderAndDuplicates(sim: Simulation): string[] {
  const violations: string[] = [];
  for (const device of sim.devices) {
    for (const [conversationId, events] of device.delivered) {
      const seen = new Set<bigint>();
      for (let i = 0; i < events.length; i++) {
        const event = events[i]!;
        if (seen.has(event.seq)) violations.push(`property 2 (SEQ-4): ${device.deviceId} got ${conversationId}#${event.seq} twice`);
        seen.add(event.seq);
        const previous = events[i - 1];
        if (previous && event.seq !== previous.seq + 1n && !startsNewInterval(sim, device, conversationId, event.seq)) {
          violations.push(`property 1 (SEQ-4): ${device.deviceId} got ${conversationId}#${event.seq} after #${previous.seq}`);
        }
        const stored = sim.store.event(conversationId, Number(event.seq));
        if (!stored || !(sameEvent(stored, event) || redactedSince(stored, event))) violations.push(`property 1 (SEQ-1): ${device.deviceId}'s ${conversationId}#${event.seq} is not the server's`);
      }
    }
  }
  return violations;
}

/** A jump is allowed onto the event that added the device's user again (CONV-8). */
function startsNewInterval(sim: Simulation, device: SimDevice, conversationId: string, seq: bigint): boolean {
  const event = sim.store.event(conversationId, Number(seq));
  if (event?.body.case === "membership" && event.body.value.action === MembershipAction.ADDED && event.body.value.userIds.includes(device.userId)) return true;
  // HIS-3: an interval opened before its ADDED event starts where the history visibility put it.
  if (sim.store.conversation(conversationId)?.kind !== ConversationKind.GROUP) return false;
  return (membershipIntervals(sim, conversationId).get(device.userId) ?? []).some(([from]) => from === Number(seq));
}

/**
 * Each user's membership intervals of a group, read from its log: from the
 * CREATED or ADDED event that lists the user — or earlier, by the history
 * visibility in force when it was added (HIS-3) — to the LEFT event that does.
 */
function membershipIntervals(sim: Simulation, conversationId: string): Map<string, [number, number][]> {
  const intervals = new Map<string, [number, number][]>();
  // HIS-3: the history visibility in force when a user is added opens its interval earlier.
  let visibility: { visibility: HistoryVisibility; events: number } = { visibility: HistoryVisibility.FROM_JOIN, events: 0 };
  for (const event of sim.store.events(conversationId, 0, Infinity, Infinity)) {
    if (event.body.case === "historyVisibility") visibility = { visibility: event.body.value.visibility, events: event.body.value.historyEvents };
    if (event.body.case !== "membership") continue;
    const { action, userIds } = event.body.value;
    const seq = Number(event.seq);
    const from = action !== MembershipAction.ADDED ? seq : visibility.visibility === HistoryVisibility.FULL ? 1 : visibility.visibility === HistoryVisibility.LAST_EVENTS ? Math.max(1, seq - visibility.events) : seq;
    for (const userId of userIds) {
      const list = intervals.get(userId) ?? [];
      intervals.set(userId, list);
      if (action === MembershipAction.CREATED || action === MembershipAction.ADDED) list.push([from, Infinity]);
      else if (action === MembershipAction.LEFT && list.length > 0) list[list.length - 1]![1] = seq;
    }
  }
  return intervals;
}


/**
 * Property 3 (DLV-1, SYNC-5, CONV-8): once the network has healed and the
 * world is quiet, every device holds every event of its user's current
 * membership intervals.
 */
export function checkNoLoss(sim: Simulation): string[] {
  const violations: string[] = [];
  for (const device of sim.devices) {
    for (const membership of sim.store.membershipsOf(device.userId)) {
      const { conversationId, firstVisibleSeq } = membership;
      const last = membership.lastVisibleSeq || sim.store.lastSeq(conversationId);
      const got = new Set((device.delivered.get(conversationId) ?? []).map((e) => Number(e.seq)));
      const missing: number[] = [];
      for (let seq = firstVisibleSeq; seq <= last; seq++) if (!got.has(seq)) missing.push(seq);
      if (missing.length > 0) {
        violations.push(`property 3 (DLV-1): ${device.deviceId} lacks ${conversationId}#${missing.slice(0, 8).join(",")}${missing.length > 8 ? ` (+${missing.length - 8})` : ""} of ${firstVisibleSeq}..${last}`);
      }
    }
  }
  return violations;
}

/**
 * Property 12 (RCPT-1, RCPT-2): the server's delivered position of a member
 * is sound — every seq of the current interval up to it was handed to the
 * application of one of the user's devices — and, in a quiet world, complete
 * for a user with a device that reports (FEATURE_RECEIPTS offered): it has
 * reached the last seq the user may read.
 */
export function checkDeliveredPositions(sim: Simulation, quiet: boolean): string[] {
  const violations: string[] = [];
  const users = new Set(sim.devices.map((d) => d.userId));
  for (const userId of users) {
    const devices = sim.devicesOf(userId);
    const reports = devices.some((d) => d.client.options.features.includes(Feature.RECEIPTS));
    for (const membership of sim.store.membershipsOf(userId)) {
      if (membership.lastVisibleSeq !== 0) continue;
      const { conversationId, firstVisibleSeq } = membership;
      const position = sim.store.readMarker(userId, deliveredMarkerKey(conversationId));
      const held = new Set(devices.flatMap((d) => (d.delivered.get(conversationId) ?? []).map((e) => Number(e.seq))));
      for (let seq = firstVisibleSeq; seq <= position; seq++) {
        if (!held.has(seq)) {
          violations.push(`property 12 (RCPT-2): ${userId}'s delivered position in ${conversationId} is ${position}, but no device of it was handed #${seq}`);
          break;
        }
      }
      const last = sim.store.lastSeq(conversationId);
      if (quiet && reports && last >= firstVisibleSeq && position < last) violations.push(`property 12 (RCPT-1): ${userId}'s delivered position in ${conversationId} is ${position} of ${last} in a quiet world`);
    }
  }
  return violations;
}

/**
 * Property 4 (IDEM-1, IDEM-2): each application send made exactly one
 * message, the one its acknowledgement names — or none, if it was refused.
 */
export function checkIdempotentSends(sim: Simulation): string[] {
  const violations: string[] = [];
  const stored = new Map<string, ConversationEvent[]>();
  for (const conversationId of sim.conversationIds()) {
    for (const event of sim.store.events(conversationId, 0, Infinity, Infinity)) {
      if (event.body.case !== "message" && event.body.case !== "action") continue;
      const key = `${event.senderDeviceId}\u0000${event.body.value.clientMessageId}`;
      const list = stored.get(key) ?? [];
      list.push(event);
      stored.set(key, list);
    }
  }
  for (const device of sim.devices) {
    for (const id of device.sends) {
      const made = stored.get(`${device.deviceId}\u0000${id}`) ?? [];
      const failed = device.failed.get(id);
      const ack = device.acked.get(id);
      if (failed !== undefined && failed !== "expired") {
        if (made.length !== 0) violations.push(`property 4 (IDEM-5): ${device.deviceId}'s refused send ${id} was stored`);
        continue;
      }
      if (made.length > 1) violations.push(`property 4 (IDEM-2): ${device.deviceId}'s send ${id} was stored ${made.length} times`);
      // ACT-4: a redacted message (or edit) keeps its seq but not its key: its tombstone stands for it.
      if (ack && made.length === 0 && sim.store.event(ack.conversationId, Number(ack.seq))?.body.case === "redacted") continue;
      if (ack && (made.length !== 1 || made[0]!.seq !== ack.seq)) violations.push(`property 4 (IDEM-2): ${device.deviceId}'s acknowledged send ${id} is not stored at seq ${ack.seq}`);
    }
  }
  return violations;
}

/** Property 5: after healing, every send and request was answered, and every device settled. */
export function checkLiveness(sim: Simulation): string[] {
  const violations: string[] = [];
  for (const device of sim.devices) {
    const unanswered = device.sends.filter((id) => !device.acked.has(id) && !device.failed.has(id));
    if (unanswered.length > 0) violations.push(`property 5: ${device.deviceId} never got an answer for ${unanswered.join(", ")}`);
    const head = sim.store.headCursor(device.userId);
    if (!device.client.settled || device.client.cursor !== BigInt(head)) {
      violations.push(`property 5: ${device.deviceId} did not settle (status ${device.client.status}, ${device.client.pendingOperations} pending, cursor ${device.client.cursor} of ${head})`);
    }
  }
  return violations;
}

/** A device's state as property 7 compares it: conversations, their visible events, settings. */
export function deviceState(device: SimDevice, sim?: Simulation): unknown {
  const conversations = [...device.client.conversations().values()]
    .map((view) => ({
      ...view,
      events: shownEvents(
        (device.delivered.get(view.conversationId) ?? []).filter((e) => e.seq >= view.firstVisibleSeq),
        sim ? redactedAfter(sim, view.conversationId, Number(view.lastVisibleSeq)) : new Set(),
      ),
      // HID-2, HID-3: what the user hid of the events this device holds, learnt from the stream or from pages.
      hidden: (device.delivered.get(view.conversationId) ?? []).filter((e) => e.seq >= view.firstVisibleSeq && device.hidden.has(`${view.conversationId}#${e.seq}`)).map((e) => Number(e.seq)),
    }))
    .sort((a, b) => (a.conversationId < b.conversationId ? -1 : 1));
  return { defaultReceiveMode: device.client.defaultReceiveMode, conversations };
}

/**
 * What a device shows of a conversation's events (ACT-7): each message as
 * its view makes it (current content or redacted, edit seqs, reactions), and
 * every other event by its kind — an edit and its tombstone alike, since a
 * device that saw an edit before its redaction and one that read only the
 * tombstone must show the same.
 */
function shownEvents(events: readonly ConversationEvent[], redactedLater: ReadonlySet<number>): string[] {
  const view = new MessageView();
  for (const event of events) view.apply(event);
  return events.map((event) => {
    const message = view.message(Number(event.seq));
    if (!message) return `${event.seq}:${event.body.case === "redacted" ? "action" : event.body.case}`;
    if (redactedLater.has(message.seq)) return `${event.seq}:${message.messageId}:redacted after the interval ended`;
    const content = message.content?.kind.case === "text" ? message.content.kind.value.text : message.content?.kind.case;
    const reactions = [...message.reactions].map(([emoji, users]) => `${emoji}${[...users].sort().join("+")}`).sort();
    return `${event.seq}:${message.messageId}:${message.redacted ? "redacted" : content}:edits ${message.edits.join(",")}:${reactions.join(" ")}`;
  });
}

/**
 * ACT-7: the messages of a conversation redacted after a former member's
 * interval ended at `lastVisibleSeq` (0: still a member, none). Its devices
 * never see the redaction (CONV-8) and keep what they held; a fresh device
 * of it reads the tombstone.
 */
function redactedAfter(sim: Simulation, conversationId: string, lastVisibleSeq: number): Set<number> {
  const seqs = new Set<number>();
  if (lastVisibleSeq === 0) return seqs;
  for (const event of sim.store.events(conversationId, 0, lastVisibleSeq, Infinity)) {
    if (event.body.case === "redacted" && event.body.value.editOf === 0n && Number(event.body.value.redactionSeq) > lastVisibleSeq) seqs.add(Number(event.seq));
  }
  return seqs;
}

/** ACT-4: `held` is what the device got before the server redacted it into `stored`: the same seq, sender and id. */
function redactedSince(stored: ConversationEvent, held: ConversationEvent): boolean {
  const body = stored.body;
  if (body.case !== "redacted" || stored.seq !== held.seq || stored.senderDeviceId !== held.senderDeviceId) return false;
  const id = held.body.case === "message" || held.body.case === "action" ? held.body.value.messageId : undefined;
  return id === body.value.messageId;
}

/**
 * Property 11 (ACT-4): a redaction leaves nothing of its message in storage:
 * the message and every edit of it are tombstones naming the redaction.
 */
export function checkRedactions(sim: Simulation): string[] {
  const violations: string[] = [];
  for (const conversationId of sim.conversationIds()) {
    const events = sim.store.events(conversationId, 0, Infinity, Infinity);
    for (const event of events) {
      if (event.body.case !== "action" || event.body.value.action.case !== "redact") continue;
      const target = Number(event.body.value.targetSeq);
      for (const other of events) {
        const body = other.body;
        const isTarget = Number(other.seq) === target;
        const isEdit = body.case === "action" && body.value.action.case === "edit" && Number(body.value.targetSeq) === target;
        if ((isTarget && body.case !== "redacted") || isEdit) violations.push(`property 11 (ACT-4): ${conversationId}#${other.seq} keeps its content after the redaction at ${event.seq}`);
        if (body.case === "redacted" && (Number(other.seq) === target || Number(body.value.editOf) === target) && body.value.redactionSeq !== event.seq) {
          violations.push(`property 11 (ACT-4): ${conversationId}#${other.seq}'s tombstone names redaction ${body.value.redactionSeq}, not ${event.seq}`);
        }
      }
    }
  }
  return violations;
}

/**
 * Property 7 (Zulip's oracle): a device that lived through the faults, once
 * resynchronised, shows exactly what a fresh device built from a full sync
 * shows. Adds one fresh device per user and per kind of device it has (a
 * version 1.0 device is compared with a fresh version 1.0 device: EXT-5
 * features change what it can learn, CONV-9), runs until quiet, compares.
 */
export function checkStateEquivalence(sim: Simulation, deadline: number): string[] {
  const violations: string[] = [];
  const kinds = new Map<string, { userId: string; options: SimDevice["options"] }>();
  for (const device of sim.devices) kinds.set(`${device.userId} ${JSON.stringify(device.options)}`, { userId: device.userId, options: device.options });
  const fresh = [...kinds.values()].map(({ userId, options }) => sim.addDevice(Number(userId.slice(1)), {}, options));
  if (!sim.runUntilSettled(deadline)) violations.push("property 7: the fresh devices did not settle");
  for (const newcomer of fresh) {
    const expected = JSON.stringify(deviceState(newcomer, sim), bigintJson);
    const kind = JSON.stringify(newcomer.options);
    for (const device of sim.devicesOf(newcomer.userId)) {
      if (fresh.includes(device) || JSON.stringify(device.options) !== kind) continue;
      const actual = JSON.stringify(deviceState(device, sim), bigintJson);
      if (actual !== expected) violations.push(`property 7: ${device.deviceId} differs from a fresh device:\n  has  ${actual}\n  want ${expected}`);
    }
  }
  return violations;
}

/**
 * Property 9 (CONV-8, SEC-3): a device is handed only events of its user's
 * membership intervals. In a group they are read from the log: from the
 * CREATED or ADDED event that lists the user to the LEFT event that does
 * (DIRECT and CHANNEL memberships always begin at seq 1).
 */
export function checkIntervals(sim: Simulation): string[] {
  const violations: string[] = [];
  for (const conversationId of sim.conversationIds()) {
    if (sim.store.conversation(conversationId)?.kind !== ConversationKind.GROUP) continue;
    const intervals = membershipIntervals(sim, conversationId);
    for (const device of sim.devices) {
      const mine = intervals.get(device.userId) ?? [];
      const outside = (device.delivered.get(conversationId) ?? []).map((e) => Number(e.seq)).filter((seq) => !mine.some(([from, to]) => seq >= from && seq <= to));
      if (outside.length > 0) violations.push(`property 9 (CONV-8): ${device.deviceId} got ${conversationId}#${outside.slice(0, 8).join(",")}, outside its intervals ${mine.map(([a, b]) => `${a}..${b}`).join(" ") || "(none)"}`);
    }
  }
  return violations;
}

/** Property 10's bound: well under a heartbeat interval of the simulation (2 s), so a device that only catches up on its next pong (CUR-6) is late. */
export const PUSH_WITHIN_MS = 500;

/**
 * Property 10 (DLV-1, CUR-7: "in near real time"): in a healed, quiet world,
 * a message sent to each conversation is acknowledged to its sender, and
 * handed to every device of every member, within PUSH_WITHIN_MS — pushed,
 * whether it was written to each stream or read from the conversation.
 * Sends through the simulation, so the other properties then cover these
 * messages too.
 */
export function checkPushLatency(sim: Simulation): string[] {
  const violations: string[] = [];
  const probes: { conversationId: string; sender: SimDevice; id: string; readers: string[] }[] = [];
  for (const conversationId of sim.conversationIds()) {
    const conversation = sim.store.conversation(conversationId)!;
    const members = sim.store.members(conversationId);
    // In a channel the owner is the only sender (CONV-1).
    const poster = members.find((m) => conversation.kind !== ConversationKind.CHANNEL || m.role === Role.OWNER);
    const sender = poster && sim.devicesOf(poster.userId)[0];
    if (!sender) continue;
    const id = sender.client.send(conversationId, { kind: { case: "text", value: { text: `probe ${conversationId}` } } }, sim.now);
    sender.sends.push(id);
    sim.drive(sender);
    probes.push({ conversationId, sender, id, readers: members.map((m) => m.userId) });
  }
  sim.run(sim.now + PUSH_WITHIN_MS);
  for (const { conversationId, sender, id, readers } of probes) {
    const ack = sender.acked.get(id);
    if (!ack) {
      violations.push(`property 10 (DLV-1): ${sender.deviceId}'s send to ${conversationId} was not acknowledged within ${PUSH_WITHIN_MS} ms`);
      continue;
    }
    for (const userId of readers) {
      for (const device of sim.devicesOf(userId)) {
        if (!(device.delivered.get(conversationId) ?? []).some((e) => e.seq === ack.seq)) {
          violations.push(`property 10 (DLV-1): ${device.deviceId} did not get ${conversationId}#${ack.seq} within ${PUSH_WITHIN_MS} ms`);
        }
      }
    }
  }
  return violations;
}

function bigintJson(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}
