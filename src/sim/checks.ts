import { toBinary } from "@bufbuild/protobuf";
import { ConversationEventSchema, MembershipAction, type ConversationEvent } from "../gen/imwire/v1/message_pb.js";
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
        if (!stored || !sameEvent(stored, event)) violations.push(`property 1 (SEQ-1): ${device.deviceId}'s ${conversationId}#${event.seq} is not the server's`);
      }
    }
  }
  return violations;
}

/** A jump is allowed onto the event that added the device's user again (CONV-8). */
function startsNewInterval(sim: Simulation, device: SimDevice, conversationId: string, seq: bigint): boolean {
  const event = sim.store.event(conversationId, Number(seq));
  return event?.body.case === "membership" && event.body.value.action === MembershipAction.ADDED && event.body.value.userIds.includes(device.userId);
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
 * Property 4 (IDEM-1, IDEM-2): each application send made exactly one
 * message, the one its acknowledgement names — or none, if it was refused.
 */
export function checkIdempotentSends(sim: Simulation): string[] {
  const violations: string[] = [];
  const stored = new Map<string, ConversationEvent[]>();
  for (const conversationId of sim.conversationIds()) {
    for (const event of sim.store.events(conversationId, 0, Infinity, Infinity)) {
      if (event.body.case !== "message") continue;
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
export function deviceState(device: SimDevice): unknown {
  const conversations = [...device.client.conversations().values()]
    .map((view) => ({
      ...view,
      events: (device.delivered.get(view.conversationId) ?? []).filter((e) => e.seq >= view.firstVisibleSeq).map((e) => `${e.seq}:${e.body.case === "message" ? e.body.value.messageId : e.body.case}`),
    }))
    .sort((a, b) => (a.conversationId < b.conversationId ? -1 : 1));
  return { defaultReceiveMode: device.client.defaultReceiveMode, conversations };
}

/**
 * Property 7 (Zulip's oracle): a device that lived through the faults, once
 * resynchronised, shows exactly what a fresh device built from a full sync
 * shows. Adds one fresh device per user, runs until quiet, compares.
 */
export function checkStateEquivalence(sim: Simulation, deadline: number): string[] {
  const violations: string[] = [];
  const users = [...new Set(sim.devices.map((d) => d.userId))];
  const fresh = users.map((userId) => sim.addDevice(Number(userId.slice(1)), {}));
  if (!sim.runUntilSettled(deadline)) violations.push("property 7: the fresh devices did not settle");
  for (const newcomer of fresh) {
    const expected = JSON.stringify(deviceState(newcomer), bigintJson);
    for (const device of sim.devicesOf(newcomer.userId)) {
      if (device === newcomer) continue;
      const actual = JSON.stringify(deviceState(device), bigintJson);
      if (actual !== expected) violations.push(`property 7: ${device.deviceId} differs from a fresh device:\n  has  ${actual}\n  want ${expected}`);
    }
  }
  return violations;
}

function bigintJson(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}
