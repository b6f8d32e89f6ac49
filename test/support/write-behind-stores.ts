import { MemoryStore } from "../../src/store/memory-store.js";
import { applyWrite, type StoreWrite } from "../../src/store/store-writes.js";
import { WriteBehindStore } from "../../src/store/write-behind-store.js";
import { decodeBatch, encodeBatch } from "../../src/store/journal/journal-codec.js";
import type { Store } from "../../src/store/store.js";
import { SqliteStore } from "../../src/store/sqlite-store.js";

/** A WriteBehindStore behind a gate that never commits: its working set is what the contract reads. */
export function writeBehindStore(): WriteBehindStore {
  const store = new WriteBehindStore(new MemoryStore(), { commit: () => Promise.resolve() });
  store.enableGroupCommit(() => {});
  return store;
}

/** Store methods that may write (epoch makes the user on first use), called on the write-behind store itself. */
const WRITES = new Set(["addUser", "redact", "setPresenceHidden", "setHistoryVisibility", "setPushRegistration", "hide", "createConversation", "setMembership", "appendEvent", "startReadFanOut", "publishEvent", "appendUserEntry", "recordDedup", "forgetDedupBefore", "setReceiveMode", "setReadMarker", "epoch"]);

/** Store methods that only read, answered by the replay. A method in neither list is refused, so a new one cannot slip through unclassified. */
const READS = new Set(["hasUser", "conversation", "directConversation", "membership", "members", "memberCount", "membersPage", "membershipsOf", "lastSeq", "events", "event", "threadEvents", "headCursor", "userEntries", "storedEntriesAfter", "dedup", "receiveMode", "readMarker", "presenceHidden", "historyVisibility", "pushRegistrations", "hiddenSeqs", "receiptCounts"]);

/**
 * A store whose writes go to a WriteBehindStore and whose reads, outside a
 * transaction, are answered by a MemoryStore rebuilt from the batches it
 * recorded, encoded and decoded as the journal does: a contract passing on
 * it shows that every write is recorded and replays to the same state.
 */
export function replayedWriteBehindStore(): Store {
  const batches: StoreWrite[][] = [];
  const written = new WriteBehindStore(new MemoryStore(), {
    commit: (sealed) => {
      batches.push(...sealed.map((batch) => decodeBatch(encodeBatch(batch))));
      return Promise.resolve();
    },
  });
  written.enableGroupCommit(() => {});
  let replayed: MemoryStore | undefined;
  let depth = 0;
  const replay = (): MemoryStore => {
    if (replayed) return replayed;
    written.commitBatch();
    void written.syncCommitted();
    replayed = new MemoryStore();
    for (const batch of batches) for (const write of batch) applyWrite(replayed, write);
    return replayed;
  };
  return new Proxy(written, {
    get(target, property) {
      const name = String(property);
      const method = Reflect.get(target, property, target) as unknown;
      if (typeof method !== "function") return method;
      const call = (...args: unknown[]) => (method as (...a: unknown[]) => unknown).apply(target, args);
      if (name === "transaction") {
        return (fn: () => unknown) => {
          replayed = undefined;
          depth++;
          try {
            return call(fn);
          } finally {
            depth--;
          }
        };
      }
      if (WRITES.has(name) || depth > 0) {
        return (...args: unknown[]) => {
          replayed = undefined;
          return call(...args);
        };
      }
      if (!READS.has(name)) throw new Error(`write-behind-stores.ts: classify Store.${name} as a read or a write`);
      return (...args: unknown[]) => (replay() as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!(...args);
    },
  });
}

/** Every store a machine-level test runs on: what it is called, and how to open an empty one. */
export const MACHINE_STORES: readonly (readonly [string, () => Store])[] = [
  ["MemoryStore", () => new MemoryStore()],
  ["SqliteStore", () => new SqliteStore(":memory:")],
  ["WriteBehindStore, read back from its batches", replayedWriteBehindStore],
];
