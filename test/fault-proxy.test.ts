import { afterEach, describe, expect, it } from "vitest";
import { createServer, type AddressInfo, type Server } from "node:net";
import { create } from "@bufbuild/protobuf";
import { FrameSchema } from "../src/gen/imwire/v1/frame_pb.js";
import { encodeFramed } from "../src/framing/frame-stream.js";
import { FaultProxy, type FaultPlan } from "../src/conformance/suite/fault-proxy.js";
import { ScriptedConnection, Transcript } from "../src/conformance/suite/scripted-connection.js";
import { Random } from "../src/sim/random.js";

/**
 * The fault proxy does exactly what each fault says, deterministically. The
 * proxy works on real sockets, so these tests wait for events (a frame
 * arriving, a close), with a deadline; only "nothing more arrives" needs a
 * bounded quiet period.
 */

/** Resolves once `condition` holds (checked every 5 ms), or fails after `ms`. */
async function until(condition: () => boolean, ms = 2_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out waiting for a condition");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const QUIET_MS = 100;

let target: Server | undefined;
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
  target?.close();
});

/** A target that sends pings with nonces 0..9, one write each, and records what it receives. */
async function pingTarget(): Promise<{ url: string; received: Buffer[] }> {
  const received: Buffer[] = [];
  target = createServer((socket) => {
    socket.on("data", (chunk) => received.push(chunk));
    for (let nonce = 0; nonce < 10; nonce++) socket.write(encodeFramed(create(FrameSchema, { body: { case: "ping", value: { nonce: BigInt(nonce) } } })));
  });
  await new Promise<void>((resolve) => target!.listen(0, "127.0.0.1", resolve));
  return { url: `tcp://127.0.0.1:${(target.address() as AddressInfo).port}`, received };
}

async function through(plan: FaultPlan, seed = 1): Promise<{ conn: ScriptedConnection; proxy: FaultProxy; transcript: Transcript; received: Buffer[] }> {
  const { url, received } = await pingTarget();
  const transcript = new Transcript();
  const proxy = await FaultProxy.start(url, plan, new Random(seed), transcript);
  stops.push(() => proxy.stop());
  const conn = await ScriptedConnection.open(proxy.url, "c", transcript);
  stops.push(async () => conn.close());
  return { conn, proxy, transcript, received };
}

describe("fault proxy", () => {
  it("forwards everything untouched without faults", async () => {
    const { transcript } = await through({});
    await until(() => arrived(transcript).length === 10);
    expect(arrived(transcript)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it("drops an exact list of frames", async () => {
    const { transcript } = await through({ downstream: { drop: [1, 4, 9] } });
    await until(() => arrived(transcript).includes(8));
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
    expect(arrived(transcript)).toEqual([0, 2, 3, 5, 6, 7, 8]);
  });

  it("drops with a seeded probability: the same seed drops the same frames", async () => {
    const runs = [];
    for (const seed of [5, 5]) {
      const { transcript } = await through({ downstream: { drop: { probability: 0.5 } } }, seed);
      await until(() => transcript.entries.filter((e) => e.connection === "proxy").length + arrived(transcript).length >= 10);
      runs.push(arrived(transcript));
      for (const stop of stops.splice(0)) await stop();
      target?.close();
    }
    expect(runs[0]).toEqual(runs[1]);
    expect(runs[0]!.length).toBeLessThan(10);
  });

  it("holds frames until release, then forwards them in order", async () => {
    const { transcript, proxy } = await through({ downstream: { hold: (_f, index) => index >= 3 && index <= 5 } });
    await until(() => arrived(transcript).includes(9));
    expect(arrived(transcript)).toEqual([0, 1, 2, 6, 7, 8, 9]);
    proxy.release();
    await until(() => arrived(transcript).length === 10);
    expect(arrived(transcript)).toEqual([0, 1, 2, 6, 7, 8, 9, 3, 4, 5]);
  });

  it("delays frames, keeping their order", async () => {
    const started = Date.now();
    const { transcript } = await through({ downstream: { delayMs: [30, 60] } });
    await until(() => arrived(transcript).length === 10);
    expect(arrived(transcript)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // Ten frames delayed in turn by 30 and 60 ms, one after another: at least 450 ms in all.
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
  });

  it("cuts the connection after a number of frames", async () => {
    const { conn, transcript } = await through({ downstream: { cutAfterFrames: 4 } });
    expect(await conn.waitClosed(1_000)).toBe(true);
    expect(arrived(transcript)).toEqual([0, 1, 2, 3]);
  });

  it("truncates after a number of bytes, inside a frame, and cuts", async () => {
    const frameSize = encodeFramed(create(FrameSchema, { body: { case: "ping", value: { nonce: 1n } } })).length;
    const { conn, transcript } = await through({ downstream: { truncateAfterBytes: 2 * frameSize + 2 } });
    expect(await conn.waitClosed(1_000)).toBe(true);
    expect(arrived(transcript)).toEqual([0, 1]);
  });

  it("black-holes after a number of frames: nothing more arrives, and nothing closes", async () => {
    const { conn, transcript } = await through({ downstream: { blackholeAfterFrames: 2 } });
    await until(() => transcript.entries.filter((e) => e.text.includes("black hole")).length === 8);
    expect(arrived(transcript)).toEqual([0, 1]);
    expect(conn.closed).toBe(false);
  });

  it("splits writes into pieces (seeded random sizes) and coalesces them, without harm to the frames", async () => {
    const { transcript, received } = await through({ upstream: { split: { randomUpTo: 3 } }, downstream: { coalesceMs: 20 } });
    await until(() => arrived(transcript).length === 10);
    expect(arrived(transcript)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // The client's ten pongs reach the target intact, whatever the pieces.
    const { FrameSplitter } = await import("../src/framing/frame-splitter.js");
    const framesAtTarget = () => {
      const splitter = new FrameSplitter({ maxFrameSize: 1_000 });
      let count = 0;
      for (const chunk of received) {
        splitter.push(chunk);
        while (splitter.next() !== undefined) count++;
      }
      return count;
    };
    await until(() => framesAtTarget() === 10);
    const frames = framesAtTarget();
    expect(frames).toBe(10);
  });
});

/** The ping nonces the client received, in order, from the transcript. */
function arrived(transcript: Transcript): number[] {
  return transcript.entries.filter((e) => e.connection === "c" && e.direction === "←" && e.text.includes('"ping"')).map((e) => Number(/"nonce":"(\d+)"/.exec(e.text)?.[1] ?? 0));
}
