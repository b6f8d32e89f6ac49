import { expect } from "vitest";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { frame, type FrameCase } from "../../src/codec/frame-codec.js";
import type { Frame, FrameSchema } from "../../src/gen/imwire/v1/frame_pb.js";
import type { ClientMachine } from "../../src/machines/client/client-machine.js";
import type { ClientEvent, ClientOutput } from "../../src/machines/client/types.js";

/** Reading what the client machine asked for, in tests that drive it frame by frame. */

export type FrameInit = MessageInitShape<typeof FrameSchema>;
export type BodyOf<K extends FrameCase> = Extract<Frame["body"], { case: K }>["value"];

export const sent = (outputs: readonly ClientOutput[]): Frame[] => outputs.flatMap((o) => (o.kind === "send" ? [o.frame] : []));
export const appEvents = (outputs: readonly ClientOutput[]): ClientEvent[] => outputs.flatMap((o) => (o.kind === "app" ? [o.event] : []));
export const connects = (outputs: readonly ClientOutput[]): number[] => outputs.flatMap((o) => (o.kind === "connect" ? [o.connection] : []));
export const closes = (outputs: readonly ClientOutput[]): number[] => outputs.flatMap((o) => (o.kind === "close" ? [o.connection] : []));

/** The frames of one body kind, with their request ids and typed bodies. */
export function framesOf<K extends FrameCase>(frames: readonly Frame[], kind: K): { requestId: number; value: BodyOf<K> }[] {
  return frames.flatMap((f) => (f.body.case === kind ? [{ requestId: f.requestId, value: f.body.value as BodyOf<K> }] : []));
}

/** The one frame of this kind (fails the test when there are none or several). */
export function one<K extends FrameCase>(frames: readonly Frame[], kind: K): { requestId: number; value: BodyOf<K> } {
  const found = framesOf(frames, kind);
  expect(found, `exactly one ${kind} in [${frames.map((f) => f.body.case).join(", ")}]`).toHaveLength(1);
  return found[0]!;
}

/** Hand the client one frame and take what it asks for. */
export function receive(client: ClientMachine, now: number, init: FrameInit): ClientOutput[] {
  client.frameReceived(frame(init), now);
  return client.takeOutputs();
}
