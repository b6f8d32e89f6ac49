/**
 * The server machine's throughput and memory (npm run bench:machines): how
 * many messages per second it accepts, stores and fans out as pushes, for a
 * one-to-one conversation and a 500-member group, acknowledgements included;
 * and the heap an idle, authenticated device session costs. The in-process
 * baseline is the generated fast encoder (what the reference server uses)
 * encoding the frames the machine emits, so the ratio says what the protocol
 * logic costs on top of serialising its output; protobuf-es for reference.
 * IMWIRE_BENCH_MS sets the time per case (default 1000).
 */
import { toBinary } from "@bufbuild/protobuf";
import { encodeFrame } from "../src/gen/imwire/v1/frame_fast.js";
import { FrameSchema, type Frame } from "../src/gen/imwire/v1/frame_pb.js";
import { ConversationKind } from "../src/gen/imwire/v1/conversation_pb.js";
import type { ServerOutput } from "../src/machines/server/types.js";
import { ServerRig } from "./support/server-rig.js";
import { machine, markdown, measure, type Case } from "./support/runner.js";

const timeMs = Number(process.env.IMWIRE_BENCH_MS ?? 1000);
const content = { kind: { case: "text" as const, value: { text: "Running ten minutes late, order me a flat white please?" } } };

function oneToOne(): { rig: ServerRig; send: () => void; frames: Frame[] } {
  const rig = new ServerRig();
  rig.login(1, "alice");
  rig.login(2, "bob");
  const [answer] = rig.input(1, { case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: ["bob"] } });
  const conversationId = ((answer as ServerOutput & { kind: "send" }).frame.body.value as { conversation: { conversationId: string } }).conversation.conversationId;
  let n = 0;
  const frames: Frame[] = [];
  const send = () => {
    for (let i = 0; i < 100; i++) {
      for (const o of rig.input(1, { case: "sendMessage", value: { conversationId, clientMessageId: `m${++n}`, content } })) if (o.kind === "send") frames.push(o.frame);
    }
    rig.ackAll([1, 2]);
    frames.length = Math.min(frames.length, 300);
  };
  return { rig, send, frames };
}

function bigGroup(size: number): { rig: ServerRig; send: () => void; frames: Frame[] } {
  const rig = new ServerRig();
  const connections = Array.from({ length: size }, (_, i) => i + 1);
  for (const c of connections) rig.login(c, `user${c}`);
  const conversationId = rig.group(1, connections.slice(1).map((c) => `user${c}`));
  rig.ackAll(connections);
  let n = 0;
  const frames: Frame[] = [];
  const send = () => {
    for (let i = 0; i < 10; i++) {
      for (const o of rig.input(1, { case: "sendMessage", value: { conversationId, clientMessageId: `m${++n}`, content } })) if (o.kind === "send") frames.push(o.frame);
    }
    rig.ackAll(connections);
    frames.length = Math.min(frames.length, 6_000);
  };
  return { rig, send, frames };
}

const direct = oneToOne();
const group = bigGroup(500);
direct.send();
group.send();
const directFrames = [...direct.frames];
const groupFrames = [...group.frames];

const cases: Case[] = [
  { group: "1:1 conversation, per message (2 pushes, acks)", name: "imwire fast encoder, the frames the machine emits", baseline: true, frames: 1, bytesPerFrame: 0, run: () => directFrames.slice(0, 3).forEach((f) => encodeFrame(f)) },
  { group: "1:1 conversation, per message (2 pushes, acks)", name: "protobuf-es toBinary, the same frames", frames: 1, bytesPerFrame: 0, run: () => directFrames.slice(0, 3).forEach((f) => toBinary(FrameSchema, f)) },
  { group: "1:1 conversation, per message (2 pushes, acks)", name: "server machine: accept, store, fan out", frames: 100, bytesPerFrame: 0, run: direct.send },
  { group: "500-member group, per message (500 pushes, acks)", name: "imwire fast encoder, the frames the machine emits", baseline: true, frames: 1, bytesPerFrame: 0, run: () => groupFrames.slice(0, 501).forEach((f) => encodeFrame(f)) },
  { group: "500-member group, per message (500 pushes, acks)", name: "protobuf-es toBinary, the same frames", frames: 1, bytesPerFrame: 0, run: () => groupFrames.slice(0, 501).forEach((f) => toBinary(FrameSchema, f)) },
  { group: "500-member group, per message (500 pushes, acks)", name: "server machine: accept, store, fan out", frames: 10, bytesPerFrame: 0, run: group.send },
];

const rows = await measure(cases, timeMs);
console.log(markdown(rows, "message"));

// Memory per idle session: authenticated devices with their position set, doing nothing.
const gc = (globalThis as { gc?: () => void }).gc!;
const sessions = 10_000;
const rig = new ServerRig();
gc();
const before = process.memoryUsage().heapUsed;
for (let c = 1; c <= sessions; c++) rig.login(c, `idle${c}`);
gc();
const perSession = (process.memoryUsage().heapUsed - before) / sessions;
console.log(`\nidle device sessions: ${sessions} authenticated, ${rig.server.connectionCount} open, ${Math.round(perSession)} bytes of heap each (connection state, user record, stream epoch)`);
console.log(`\n${machine()}. ${timeMs} ms per case over 5 interleaved rounds; median per message; × baseline = machine time ÷ encoding its output frames.`);
