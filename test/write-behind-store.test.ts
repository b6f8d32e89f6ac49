import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import fc from "fast-check";
import { toBinary } from "@bufbuild/protobuf";
import { ConversationEventSchema } from "../src/gen/imwire/v1/message_pb.js";
import { ConversationKind, Role } from "../src/gen/imwire/v1/conversation_pb.js";
import { ReceiveMode } from "../src/gen/imwire/v1/settings_pb.js";
import { MemoryStore } from "../src/store/memory-store.js";
import { applyWrite, ReplayMismatch, type StoreWrite } from "../src/store/store-writes.js";
import { WriteBehindStore, type BatchSink } from "../src/store/write-behind-store.js";
import { FileJournal, JournalCorrupt } from "../src/store/journal/file-journal.js";
import { decodeBatch, encodeBatch } from "../src/store/journal/journal-codec.js";
import type { NewEvent, Store } from "../src/store/store.js";
import { runScenario } from "../src/sim/scenario.js";
import { scenarioArb } from "./support/scenarios.js";

/** A sink that keeps what it is given, and can be told to fail. */
class KeptBatches implements BatchSink {
  readonly batches: StoreWrite[][] = [];
  fail = false;
  commit(batches: readonly (readonly StoreWrite[])[]): Promise<void> {
    if (this.fail) return Promise.reject(new Error("disk full"));
    this.batches.push(...batches.map((b) => [...b]));
    return Promise.resolve();
  }
}

const text = (s: string): NewEvent => ({ senderUserId: "a", senderDeviceId: "d", body: { case: "message", value: { messageId: s, content: { kind: { case: "text", value: { text: s } } } } } });

function gated(sink: BatchSink = new KeptBatches(), memory = new MemoryStore("e1")): { store: WriteBehindStore; opened: number[] } {
  const store = new WriteBehindStore(memory, sink);
  const opened: number[] = [];
  store.enableGroupCommit(() => opened.push(opened.length + 1));
  return { store, opened };
}

/** Everything a client can observe of a store, in a form two stores compare by. */
function snapshot(store: Store, users: readonly string[], conversations: readonly string[]): unknown {
  return {
    users: users.map((u) => ({
      u,
      exists: store.hasUser(u),
      epoch: store.hasUser(u) ? store.epoch(u) : undefined,
      head: store.headCursor(u),
      entries: store.userEntries(u, 0, 1e9).map((e) => ({ cursor: e.cursor, case: e.body.case, ref: e.body.case === "eventRef" ? `${e.body.conversationId}#${e.body.seq}` : undefined })),
      memberships: store.membershipsOf(u),
      modes: ["", ...conversations].map((c) => store.receiveMode(u, c)),
      markers: conversations.map((c) => store.readMarker(u, c)),
    })),
    conversations: conversations.map((c) => ({ c, conversation: store.conversation(c), count: store.memberCount(c), events: store.events(c, 0, 1e9, 1e9).map((e) => Buffer.from(toBinary(ConversationEventSchema, e)).toString("hex")) })),
  };
}

describe("WriteBehindStore: the machine's synchronous working set, its writes recorded as batches for an asynchronous sink", () => {
  it("the first write opens a batch; a refused request's writes are undone and dropped from it; sealed batches go to the sink in order", async () => {
    const sink = new KeptBatches();
    const { store, opened } = gated(sink);
    expect(store.batchOpen).toBe(false);
    store.transaction(() => store.hasUser("a")); // reads only: nothing to wait for
    expect(store.batchOpen).toBe(false);
    store.transaction(() => {
      store.addUser("a");
      store.createConversation({ conversationId: "g", kind: ConversationKind.GROUP, title: "g", ownerUserId: "a" });
    });
    expect(opened).toEqual([1]);
    expect(() =>
      store.transaction(() => {
        store.appendEvent("g", text("refused"));
        throw new Error("refused");
      }),
    ).toThrow("refused");
    expect(store.lastSeq("g")).toBe(0);
    store.transaction(() => store.appendEvent("g", text("kept")));
    store.commitBatch();
    expect(store.batchOpen).toBe(false);
    store.transaction(() => store.setReadMarker("a", "g", 1));
    expect(opened).toEqual([1, 2]);
    store.commitBatch();
    await store.syncCommitted();
    expect(sink.batches.map((b) => b.map((w) => w.op))).toEqual([["addUser", "createConversation", "appendEvent"], ["setReadMarker"]]);
    expect(store.syncCommitted()).toBeUndefined(); // nothing left
  });

  it("a batch whose every write was undone gives the sink nothing to do", () => {
    const { store } = gated();
    expect(() =>
      store.transaction(() => {
        store.addUser("x");
        throw new Error("no");
      }),
    ).toThrow();
    store.commitBatch();
    expect(store.syncCommitted()).toBeUndefined();
  });

  it("refuses a write with no commit gate behind it: nothing would wait for durability (SEQ-2)", () => {
    const store = new WriteBehindStore(new MemoryStore(), new KeptBatches());
    expect(() => store.addUser("a")).toThrow(/commit gate/);
  });

  it("syncCommitted rejects when the sink fails", async () => {
    const sink = new KeptBatches();
    const { store } = gated(sink);
    store.addUser("a");
    store.commitBatch();
    sink.fail = true;
    await expect(store.syncCommitted()).rejects.toThrow("disk full");
  });

  it("a replay checks what it allocates: a log applied to a store it does not belong to is refused", () => {
    const memory = new MemoryStore();
    memory.createConversation({ conversationId: "g", kind: ConversationKind.GROUP, title: "g", ownerUserId: "a" });
    memory.appendEvent("g", text("already here"));
    const event = new MemoryStore();
    event.createConversation({ conversationId: "g", kind: ConversationKind.GROUP, title: "g", ownerUserId: "a" });
    event.appendEvent("g", text("first"));
    expect(() => applyWrite(memory, { op: "appendEvent", conversationId: "g", event: event.event("g", 1)! })).toThrow(ReplayMismatch);
    memory.appendUserEntry("a", { case: "eventRef", conversationId: "g", seq: 1 });
    expect(() => applyWrite(memory, { op: "appendUserEntry", userId: "a", body: { case: "eventRef", conversationId: "g", seq: 1 }, cursor: 1 })).toThrow(ReplayMismatch);
    // Cursors a refused request allocated are skipped, not refused: the next write was numbered past them.
    applyWrite(memory, { op: "appendUserEntry", userId: "a", body: { case: "eventRef", conversationId: "g", seq: 1 }, cursor: 7 });
    expect(memory.headCursor("a")).toBe(7);
  });

  it("SEQ-2 CUR-4: simulated runs replayed from their batches (through the journal's encoding) rebuild the same state", () => {
    fc.assert(
      fc.property(scenarioArb({ maxSteps: 30 }), (scenario) => {
        const report = runScenario(scenario, { durability: { commitLatencyMs: 5 } });
        const { sim } = report;
        const durability = sim.durability!;
        const replayed = new MemoryStore(sim.store.epoch("u0"));
        for (const batch of durability.durable) for (const write of decodeBatch(encodeBatch(batch))) applyWrite(replayed, write);
        const users = [...new Set(sim.devices.map((d) => d.userId))];
        expect(snapshot(replayed, users, sim.conversationIds())).toEqual(snapshot(sim.store, users, sim.conversationIds()));
      }),
      { numRuns: 25, seed: 77 },
    );
  });
});

describe("FileJournal: an append-only file of batches, one write and one fdatasync per commit", () => {
  const dirs: string[] = [];
  const newPath = () => {
    const dir = mkdtempSync(join(tmpdir(), "imwire-journal-"));
    dirs.push(dir);
    return join(dir, "imwire.journal");
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  async function writeSome(path: string): Promise<{ epoch: string }> {
    const { store, journal, epoch } = await FileJournal.open(path);
    store.enableGroupCommit(() => {});
    store.transaction(() => {
      store.addUser("a");
      store.addUser("b");
      store.createConversation({ conversationId: "g", kind: ConversationKind.GROUP, title: "g", ownerUserId: "a" });
      store.setMembership({ conversationId: "g", userId: "a", role: Role.OWNER, firstVisibleSeq: 1, lastVisibleSeq: 0 });
      store.setMembership({ conversationId: "g", userId: "b", role: Role.MEMBER, firstVisibleSeq: 1, lastVisibleSeq: 0 });
    });
    store.commitBatch();
    await store.syncCommitted();
    const seq = store.appendEvent("g", text("hello"));
    for (const user of ["a", "b"]) store.appendUserEntry(user, { case: "eventRef", conversationId: "g", seq });
    store.setReceiveMode("b", "g", ReceiveMode.NOTIFY_ONLY);
    store.recordDedup({ scope: "message", userId: "a", deviceId: "d", key: "k1" }, { conversationId: "g", seq, messageId: "m1", serverTimeMs: 5 });
    store.commitBatch();
    await store.syncCommitted();
    expect(journal.commits).toBe(3); // the header, then two batches
    await journal.close();
    return { epoch };
  }

  it("reopening replays every committed batch, under the same epoch (CUR-4); a new file gets a new epoch", async () => {
    const path = newPath();
    const { epoch } = await writeSome(path);
    const reopened = await FileJournal.open(path);
    expect(reopened.epoch).toBe(epoch);
    expect(reopened.batches).toBe(2);
    const { store } = reopened;
    expect(store.epoch("a")).toBe(epoch);
    expect(store.events("g", 0, 10, 10).map((e) => e.body.case === "message" && e.body.value.messageId)).toEqual(["hello"]);
    expect(store.userEntries("b", 0, 10).map((e) => e.cursor)).toEqual([2]);
    expect(store.receiveMode("b", "g")).toBe(ReceiveMode.NOTIFY_ONLY);
    expect(store.dedup({ scope: "message", userId: "a", deviceId: "d", key: "k1" })?.messageId).toBe("m1");
    expect(store.memberCount("g")).toBe(2);
    await reopened.journal.close();
    const other = await FileJournal.open(newPath());
    expect(other.epoch).not.toBe(epoch);
    await other.journal.close();
  });

  it("an unfinished last write (a crash mid-append: never acknowledged) is cut off, and the journal goes on after it", async () => {
    const path = newPath();
    await writeSome(path);
    const whole = statSync(path).size;
    appendFileSync(path, Buffer.from([200, 0, 0, 0, 1, 2, 3, 4, 5, 6])); // a record header promising 200 bytes, and 2 of them
    const reopened = await FileJournal.open(path);
    expect(reopened.truncatedBytes).toBe(10);
    expect(statSync(path).size).toBe(whole);
    reopened.store.enableGroupCommit(() => {});
    reopened.store.setReadMarker("a", "g", 1);
    reopened.store.commitBatch();
    await reopened.store.syncCommitted();
    await reopened.journal.close();
    const again = await FileJournal.open(path);
    expect(again.batches).toBe(3);
    expect(again.store.readMarker("a", "g")).toBe(1);
    await again.journal.close();
  });

  it("a journal larger than one read (1 MiB) replays whole, records that straddle reads included", async () => {
    const path = newPath();
    const { store, journal } = await FileJournal.open(path);
    store.enableGroupCommit(() => {});
    store.createConversation({ conversationId: "g", kind: ConversationKind.GROUP, title: "g", ownerUserId: "a" });
    for (let batch = 0; batch < 30; batch++) {
      for (let i = 0; i < 10; i++) store.appendEvent("g", text(`${batch}-${i}-${"x".repeat(9_000 + batch * 37 + i)}`));
      store.commitBatch();
      await store.syncCommitted();
    }
    await journal.close();
    expect(statSync(path).size).toBeGreaterThan(2 * 1024 * 1024);
    const reopened = await FileJournal.open(path);
    expect([reopened.batches, reopened.truncatedBytes, reopened.store.lastSeq("g")]).toEqual([30, 0, 300]);
    const last = reopened.store.event("g", 300)!;
    expect(last.body.case === "message" && last.body.value.messageId).toBe("29-9-" + "x".repeat(9_000 + 29 * 37 + 9));
    await reopened.journal.close();
  });

  it("a last record whose checksum fails (its write cut short inside) is cut off too; the batches before it stay", async () => {
    const path = newPath();
    await writeSome(path);
    const bytes = readFileSync(path);
    bytes[bytes.length - 2] = bytes[bytes.length - 2]! ^ 0xff; // inside the last batch's payload
    writeFileSync(path, bytes);
    const reopened = await FileJournal.open(path);
    expect(reopened.batches).toBe(1);
    expect(reopened.truncatedBytes).toBeGreaterThan(0);
    expect(reopened.store.memberCount("g")).toBe(2);
    expect(reopened.store.lastSeq("g")).toBe(0);
    await reopened.journal.close();
  });

  it("a closed journal refuses commits; closing twice is harmless", async () => {
    const { journal } = await FileJournal.open(newPath());
    await journal.close();
    await journal.close();
    await expect(journal.commit([[{ op: "addUser", userId: "a" }]])).rejects.toThrow(/closed/);
  });

  it("damage before the end is refused, not skipped: acknowledged batches may lie behind it", async () => {
    const path = newPath();
    await writeSome(path);
    const bytes = readFileSync(path);
    const headerLength = bytes.readUInt32LE(0);
    bytes[8 + headerLength + 8 + 3] = bytes[8 + headerLength + 8 + 3]! ^ 0xff; // inside the first batch's payload
    writeFileSync(path, bytes);
    await expect(FileJournal.open(path)).rejects.toThrow(JournalCorrupt);
  });

  it("a file that is not a journal is refused", async () => {
    const path = newPath();
    const payload = Buffer.from(JSON.stringify({ hello: "world" }));
    const { crc32 } = await import("node:zlib");
    const header = Buffer.alloc(8);
    header.writeUInt32LE(payload.length, 0);
    header.writeUInt32LE(crc32(payload), 4);
    writeFileSync(path, Buffer.concat([header, payload]));
    await expect(FileJournal.open(path)).rejects.toThrow(/not an imwire journal/);
  });
});
