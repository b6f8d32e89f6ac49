import { createServer, connect, type Socket, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { frame } from "../src/codec/frame-codec.js";
import { FrameReader } from "../src/framing/frame-stream.js";
import { CommitGate, type BatchingStore } from "../src/server/commit-gate.js";
import { silentLogger } from "../src/server/logger.js";
import { StreamTransport } from "../src/transport/stream-transport.js";
import type { Frame } from "../src/gen/imwire/v1/frame_pb.js";

/** A batching store that only keeps score: when a batch opens, and whether its commit should fail. */
class FakeBatches implements BatchingStore {
  batchOpen = false;
  failNext = false;
  committed = 0;
  rolledBack = 0;
  #opened: () => void = () => {};
  enableGroupCommit(onBatchOpened: () => void): void {
    this.#opened = onBatchOpened;
  }
  write(): void {
    if (this.batchOpen) return;
    this.batchOpen = true;
    this.#opened();
  }
  commitBatch(): void {
    this.batchOpen = false;
    if (this.failNext) {
      this.failNext = false;
      throw new Error("disk full");
    }
    this.committed++;
  }
  rollbackBatch(): void {
    this.batchOpen = false;
    this.rolledBack++;
  }
}

/** As FakeBatches, with the fsync after the commit in the test's hands: each syncCommitted() waits until settled. */
class FakeFsync extends FakeBatches {
  readonly pending: { resolve: () => void; reject: (error: Error) => void }[] = [];
  syncCommitted(): Promise<void> {
    return new Promise((resolve, reject) => this.pending.push({ resolve, reject }));
  }
}

/** A server-side StreamTransport on a real loopback socket, and what its peer has received. */
async function socketPair(): Promise<{ transport: StreamTransport; received: Frame[]; peerClosed: Promise<void>; whenReceived: (n: number) => Promise<void> }> {
  const accepted = new Promise<Socket>((resolve) => listener.once("connection", resolve));
  const peer = connect({ port: port(), host: "127.0.0.1" });
  sockets.push(peer);
  const socket = await accepted;
  sockets.push(socket);
  const received: Frame[] = [];
  const reader = new FrameReader({ maxFrameSize: 1 << 20 });
  const waiters: (() => void)[] = [];
  peer.on("data", (chunk) => {
    reader.push(chunk);
    for (let f = reader.next(); f !== undefined; f = reader.next()) received.push(f);
    waiters.splice(0).forEach((w) => w());
  });
  const peerClosed = new Promise<void>((resolve) => peer.once("close", () => resolve()));
  peer.on("error", () => {});
  const whenReceived = async (n: number) => {
    while (received.length < n) await new Promise<void>((resolve) => waiters.push(resolve));
  };
  return { transport: new StreamTransport(socket, "tcp"), received, peerClosed, whenReceived };
}

let listener: Server;
const sockets: Socket[] = [];
const port = () => (listener.address() as { port: number }).port;
const ping = (nonce: number) => frame({ requestId: nonce, body: { case: "pong", value: { nonce: BigInt(nonce) } } });
/** One turn of the event loop and the I/O it lets through: what a peer would have received by now. */
const ioTurns = (n = 5) => new Promise<void>((resolve) => { const step = (k: number) => (k === 0 ? resolve() : setTimeout(() => step(k - 1), 5)); step(n); });

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await new Promise<void>((resolve) => (listener ? listener.close(() => resolve()) : resolve()));
});

async function listen(): Promise<void> {
  listener = createServer();
  await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", () => resolve()));
}

describe("the commit gate (group commit, SEQ-2): nothing that may depend on a batch leaves before its commit", () => {
  it("frames sent while a batch is open stay in the process until the commit, then go in order; a close waits behind them", async () => {
    await listen();
    const store = new FakeBatches();
    const flushes: (() => void)[] = [];
    const gate = new CommitGate(store, silentLogger, { schedule: (flush) => void flushes.push(flush) });
    const { transport, received, peerClosed, whenReceived } = await socketPair();
    const gated = gate.wrap(transport);
    store.write();
    expect(flushes).toHaveLength(1);
    for (let i = 1; i <= 3; i++) gated.send(ping(i));
    gated.close();
    await ioTurns();
    expect(received).toEqual([]);
    expect(gated.bufferedAmount).toBeGreaterThan(0);
    flushes.shift()!();
    expect(store.committed).toBe(1);
    await whenReceived(3);
    expect(received.map((f) => f.requestId)).toEqual([1, 2, 3]);
    await peerClosed;
  });

  it("with no batch open, frames go at once", async () => {
    await listen();
    const store = new FakeBatches();
    const gate = new CommitGate(store, silentLogger, { schedule: () => {} });
    const { transport, received, whenReceived } = await socketPair();
    const gated = gate.wrap(transport);
    gated.send(ping(7));
    await whenReceived(1);
    expect(received.map((f) => f.requestId)).toEqual([7]);
    expect(store.committed).toBe(0);
  });

  it("a batch that cannot be committed is rolled back, nothing held is sent, and every connection is cut", async () => {
    await listen();
    const store = new FakeBatches();
    const flushes: (() => void)[] = [];
    const errors: string[] = [];
    const gate = new CommitGate(store, { ...silentLogger, error: (m) => void errors.push(m) }, { schedule: (flush) => void flushes.push(flush) });
    const written = await socketPair();
    const idle = await socketPair();
    const a = gate.wrap(written.transport);
    gate.wrap(idle.transport);
    store.write();
    a.send(ping(1));
    store.failNext = true;
    flushes.shift()!();
    await Promise.all([written.peerClosed, idle.peerClosed]);
    expect(written.received).toEqual([]);
    expect(store.rolledBack).toBe(1);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/group commit failed/);
  });

  it("CLU-2: afterDurable runs at once with nothing pending, after the commit otherwise, and never for a batch whose commit failed", () => {
    const store = new FakeBatches();
    const flushes: (() => void)[] = [];
    const gate = new CommitGate(store, silentLogger, { schedule: (flush) => void flushes.push(flush) });
    const ran: string[] = [];
    gate.afterDurable(() => void ran.push("idle"));
    store.write();
    gate.afterDurable(() => void ran.push("committed"));
    expect(ran).toEqual(["idle"]);
    flushes.shift()!();
    expect(ran).toEqual(["idle", "committed"]);
    store.write();
    gate.afterDurable(() => void ran.push("failed"));
    store.failNext = true;
    flushes.shift()!();
    expect(ran).toEqual(["idle", "committed"]);
  });

  it("discard (a crash): what is held is never sent", async () => {
    await listen();
    const store = new FakeBatches();
    const flushes: (() => void)[] = [];
    const gate = new CommitGate(store, silentLogger, { schedule: (flush) => void flushes.push(flush) });
    const { transport, received } = await socketPair();
    const gated = gate.wrap(transport);
    store.write();
    gated.send(ping(1));
    gate.discard();
    flushes.shift()!();
    await ioTurns();
    expect(received).toEqual([]);
    expect(store.committed).toBe(0);
  });

  it("fsync after the commit: batch 2 fills while batch 1's fsync runs; each batch's frames go when an fsync covering it completes, in order", async () => {
    await listen();
    const store = new FakeFsync();
    const flushes: (() => void)[] = [];
    const gate = new CommitGate(store, silentLogger, { schedule: (flush) => void flushes.push(flush) });
    const { transport, received, whenReceived } = await socketPair();
    const gated = gate.wrap(transport);
    store.write();
    gated.send(ping(1));
    flushes.shift()!();
    expect(store.committed).toBe(1);
    expect(store.pending).toHaveLength(1);
    // Batch 2 opens while batch 1 is committed but not yet durable; a frame sent between batches waits too,
    // even on a connection that holds nothing (a push made on a later turn may reveal batch 1).
    const other = await socketPair();
    const otherGated = gate.wrap(other.transport);
    otherGated.send(ping(20));
    gated.send(ping(2));
    store.write();
    gated.send(ping(3));
    flushes.shift()!();
    expect(store.committed).toBe(2);
    expect(store.pending).toHaveLength(1); // one fsync at a time
    await ioTurns();
    expect(received).toEqual([]);
    expect(other.received).toEqual([]);
    expect(gated.bufferedAmount).toBeGreaterThan(0);
    store.pending.shift()!.resolve();
    await whenReceived(2);
    await other.whenReceived(1);
    expect(other.received.map((f) => f.requestId)).toEqual([20]);
    await ioTurns();
    // Batch 1's frame, and the one sent after it with no batch open; batch 2's waits for the next fsync.
    expect(received.map((f) => f.requestId)).toEqual([1, 2]);
    expect(store.pending).toHaveLength(1);
    store.pending.shift()!.resolve();
    await whenReceived(3);
    expect(received.map((f) => f.requestId)).toEqual([1, 2, 3]);
    expect(gate.syncs).toBe(2);
  });

  it("an fsync that fails cuts every connection with nothing held sent, and nothing is released after it", async () => {
    await listen();
    const store = new FakeFsync();
    const flushes: (() => void)[] = [];
    const errors: string[] = [];
    const gate = new CommitGate(store, { ...silentLogger, error: (m) => void errors.push(m) }, { schedule: (flush) => void flushes.push(flush) });
    const a = await socketPair();
    const gated = gate.wrap(a.transport);
    store.write();
    gated.send(ping(1));
    flushes.shift()!();
    store.pending.shift()!.reject(new Error("EIO"));
    await a.peerClosed;
    expect(a.received).toEqual([]);
    expect(errors[0]).toMatch(/fsync failed/);
    store.write();
    flushes.shift()?.();
    await ioTurns();
    expect(store.pending).toHaveLength(0);
  });

  it("flush() (a graceful shutdown) resolves only once every committed batch is durable and released", async () => {
    await listen();
    const store = new FakeFsync();
    const gate = new CommitGate(store, silentLogger, { schedule: () => {} });
    const { transport, received, whenReceived } = await socketPair();
    const gated = gate.wrap(transport);
    store.write();
    gated.send(ping(9));
    let done = false;
    const flushed = gate.flush().then(() => (done = true));
    await ioTurns();
    expect(done).toBe(false);
    store.pending.shift()!.resolve();
    await flushed;
    await whenReceived(1);
    expect(received.map((f) => f.requestId)).toEqual([9]);
  });

  it("FLOW-3: what the gate holds counts in bufferedAmount, batch by batch, and nothing is left counted once it is written", async () => {
    await listen();
    const store = new FakeFsync();
    const flushes: (() => void)[] = [];
    const gate = new CommitGate(store, silentLogger, { schedule: (flush) => void flushes.push(flush) });
    const { transport, whenReceived } = await socketPair();
    const gated = gate.wrap(transport);
    const held = () => gated.bufferedAmount - transport.bufferedAmount;
    store.write();
    gated.send(ping(1));
    const one = held();
    expect(one).toBeGreaterThan(0);
    flushes.shift()!();
    store.write();
    gated.send(ping(2));
    gated.send(ping(3));
    flushes.shift()!();
    expect(held()).toBe(3 * one);
    store.pending.shift()!.resolve();
    await whenReceived(1);
    expect(held()).toBe(2 * one); // batch 1's frame written, batch 2's two still held
    store.pending.shift()!.resolve();
    await whenReceived(3);
    expect(held()).toBe(0);
  });
});
