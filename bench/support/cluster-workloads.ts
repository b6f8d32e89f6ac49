import { ConversationKind } from "../../src/gen/imwire/v1/conversation_pb.js";
import type { Frame } from "../../src/gen/imwire/v1/frame_pb.js";
import { AckPipeline } from "./ack-pipeline.js";
import { ImwireDevice, type FrameBody } from "./imwire-device.js";
import { fail, inBatches } from "./async-batches.js";

/**
 * The load of bench/cluster.bench.ts: devices connected to the nodes of a
 * cluster, some of them senders, each sender an AckPipeline (its own
 * messages in flight, send → send_ack, send → its measured receivers' push).
 *
 * A sender's measured receivers are the members connected to OTHER nodes
 * than its own (with one node: every member but the sender), so "last push"
 * is the time for a commit on one node to reach a device on another: the
 * Redis notice, the other node's read of the shared store, its push. Every
 * other device (the sender's own, which gets its message too, DLV-4, and
 * members on the sender's node) is only counted, and checked after every
 * run (delivered()): every device got every message of its conversation,
 * once and in order (ImwireDevice checks prev_cursor), or the run throws.
 */
export interface Workload {
  readonly label: string;
  readonly pipelines: readonly AckPipeline[];
  /** Pushes each message makes (every member's device, the sender's included). */
  readonly pushesPerMessage: number;
  /** Resolves once every device has every message sent so far; throws after `ms`. */
  delivered(ms?: number): Promise<void>;
  close(): Promise<void>;
}

const TEXT = "Running ten minutes late — order me a flat white, please ☕";
const CONTENT = { kind: { case: "text" as const, value: { text: TEXT } } };


async function openConversation(owner: ImwireDevice, body: FrameBody): Promise<string> {
  const answer = await owner.request(body);
  if (answer.body.case !== "conversationOpened") throw new Error(`open_conversation answered ${answer.body.case}`);
  return answer.body.value.conversation!.conversationId;
}

interface Member {
  readonly device: ImwireDevice;
  readonly node: number;
}

interface Conversation {
  readonly id: string;
  readonly members: readonly Member[];
  readonly senders: readonly Member[];
}

let clientIds = 0;

/** Wire the pipelines: one per sender, its measured receivers as the header says; every device's pushes counted. */
function wire(label: string, conversations: readonly Conversation[], nodeCount: number): Workload {
  const pipelines: AckPipeline[] = [];
  const received = new Map<ImwireDevice, number>();
  const expected: { device: ImwireDevice; from: AckPipeline[] }[] = [];
  for (const conversation of conversations) {
    const routes = new Map<ImwireDevice, Map<string, { pipeline: AckPipeline; r: number }>>();
    for (const member of conversation.members) routes.set(member.device, new Map());
    const own: AckPipeline[] = [];
    for (const sender of conversation.senders) {
      const measured = conversation.members.filter((m) => m !== sender && (nodeCount === 1 || m.node !== sender.node));
      const pipeline = new AckPipeline(`${label} ${sender.device.userId}`, measured.length);
      measured.forEach((m, r) => routes.get(m.device)!.set(sender.device.userId, { pipeline, r }));
      const pending = new Map<number, number>();
      sender.device.onAnswer = (frame: Frame) => {
        if (frame.body.case !== "sendAck") return fail(new Error(`${label}: send answered ${frame.body.case}`));
        const k = pending.get(frame.requestId)!;
        pending.delete(frame.requestId);
        pipeline.ack(k);
      };
      pipeline.bind((k) => {
        const requestId = sender.device.send({ case: "sendMessage", value: { conversationId: conversation.id, clientMessageId: `m${++clientIds}`, content: CONTENT } });
        pending.set(requestId, k);
      });
      pipelines.push(pipeline);
      own.push(pipeline);
    }
    for (const member of conversation.members) {
      const route = routes.get(member.device)!;
      received.set(member.device, 0);
      expected.push({ device: member.device, from: own });
      member.device.onMessage = (frame: Frame) => {
        const event = frame.body.case === "deliver" && frame.body.value.body.case === "event" ? frame.body.value.body.value : undefined;
        if (event?.conversationId !== conversation.id) return fail(new Error(`${label}: ${member.device.userId} got a message of another conversation`));
        received.set(member.device, received.get(member.device)! + 1);
        const to = route.get(event.senderUserId);
        to?.pipeline.push(to.r);
      };
    }
  }
  const devices = [...received.keys()];
  return {
    label,
    pipelines,
    pushesPerMessage: conversations[0]!.members.length,
    async delivered(ms = 30_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const short = expected.filter(({ device, from }) => received.get(device)! !== from.reduce((sum, p) => sum + p.sent, 0));
        if (short.length === 0) return;
        if (Date.now() > deadline) throw new Error(`${label}: ${short.length} devices still miss messages ${ms} ms after the run (e.g. ${short[0]!.device.userId})`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    close: async () => void (await Promise.all(devices.map((d) => d.close()))),
  };
}

/** `pairs` DIRECT conversations; pair p's sender on node p mod N, its peer on node p + 1 mod N (another node whenever N > 1). */
export async function directPairs(urls: readonly string[], secret: string, pairs: number): Promise<Workload> {
  const n = urls.length;
  const conversations = await inBatches(pairs, 16, async (p) => {
    const sender = { device: await ImwireDevice.connect(urls[p % n]!, `dm${p}-a`, "d", secret), node: p % n };
    const peer = { device: await ImwireDevice.connect(urls[(p + 1) % n]!, `dm${p}-b`, "d", secret), node: (p + 1) % n };
    const id = await openConversation(sender.device, { case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: [peer.device.userId] } });
    return { id, members: [sender, peer], senders: [sender] };
  });
  return wire("1:1", conversations, n);
}

/** One GROUP of `size` members, member m on node m mod N, all connected; members 0 … senders − 1 send (so on different nodes). */
export async function oneGroup(urls: readonly string[], secret: string, size: number, senders: number): Promise<Workload> {
  const n = urls.length;
  const members = await inBatches(size, 100, async (m) => ({ device: await ImwireDevice.connect(urls[m % n]!, `g${m}`, "d", secret), node: m % n }));
  const id = await openConversation(members[0]!.device, {
    case: "openConversation",
    value: { kind: ConversationKind.GROUP, userIds: members.slice(1).map((m) => m.device.userId), title: "bench", clientConversationId: "bench-group" },
  });
  return wire(`${size}-member group`, [{ id, members, senders: members.slice(0, senders) }], n);
}
