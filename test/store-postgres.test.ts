import { afterEach, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { pathToFileURL } from "node:url";
import { join } from "node:path";
import { ConversationKind, Role } from "../src/gen/imwire/v1/conversation_pb.js";
import { PostgresError, PostgresStore, StoreUnavailableError } from "../src/store/postgres/postgres-store.js";
import { POSTGRES_SCHEMA_VERSION } from "../src/store/postgres/postgres-schema.js";
import { SyncPostgres } from "../src/store/postgres/sync-postgres.js";
import type { NewEvent, StoredUserEntry } from "../src/store/store.js";
import { CuttableProxy } from "./support/cuttable-proxy.js";
import { dropSchema, freshSchema, openTestPostgresStore, POSTGRES_URL, withPostgres } from "./support/postgres.js";

/**
 * What only PostgresStore has: several stores ("nodes") on one schema, the
 * cluster writer lock, a schema that outlives its stores, and PostgreSQL's
 * errors. The Store contract itself runs in store-contract.test.ts and the
 * other store-*.test.ts.
 */
const text = (s: string): NewEvent => ({ senderUserId: "a", senderDeviceId: "d", body: { case: "message", value: { messageId: s, content: { kind: { case: "text", value: { text: s } } } } } });
const group = (store: PostgresStore, conversationId = "g") => store.createConversation({ conversationId, kind: ConversationKind.GROUP, title: "t", ownerUserId: "a" });
const ref = (conversationId: string, seq: number) => ({ case: "eventRef", conversationId, seq }) as const;
const cursors = (entries: StoredUserEntry[]) => entries.map((e) => e.cursor);

withPostgres("PostgresStore on PostgreSQL", () => {
  describe("PostgresStore on PostgreSQL", () => {
    const opened: PostgresStore[] = [];
    const schemas: string[] = [];
    /** A node on `schema` (a fresh one by default), closed and its schema dropped after the test. */
    const node = (schema = schemas[0] ?? fresh(), options: { timeoutMs?: number } = {}) => {
      const store = openTestPostgresStore({ schema, ...options });
      opened.push(store);
      return store;
    };
    const fresh = () => {
      const schema = freshSchema();
      schemas.push(schema);
      return schema;
    };
    afterEach(() => {
      for (const store of opened.splice(0)) store.close();
      for (const schema of schemas.splice(0)) dropSchema(schema);
    });

    it("two nodes on one schema: what one writes, the other reads, and both keep one epoch", () => {
      const a = node();
      const b = node();
      group(a);
      a.setMembership({ conversationId: "g", userId: "u", role: Role.MEMBER, firstVisibleSeq: 1, lastVisibleSeq: 0 });
      const seq = a.appendEvent("g", text("hello"));
      const cursor = a.appendUserEntry("u", ref("g", seq));
      expect(b.conversation("g")?.title).toBe("t");
      expect(b.members("g").map((m) => m.userId)).toEqual(["u"]);
      expect(b.events("g", 0, Infinity, Infinity).map((e) => e.body.case === "message" && e.body.value.messageId)).toEqual(["hello"]);
      expect([b.lastSeq("g"), b.headCursor("u"), cursors(b.userEntries("u", 0, 10))]).toEqual([1, cursor, [cursor]]);
      expect(b.epoch("u")).toBe(a.epoch("u"));
      // And back: b's append continues a's numbering.
      expect(b.appendEvent("g", text("reply"))).toBe(2);
      expect(a.event("g", 2)?.body.case).toBe("message");
    });

    it("SEQ-1 CUR-7: two nodes appending in turn get gapless seqs 1..n and cursors increasing in commit order", () => {
      const nodes = [node(), node()];
      group(nodes[0]!);
      const given: { seq: number; cursor: number }[] = [];
      for (let i = 0; i < 20; i++) {
        const store = nodes[i % 2]!;
        given.push(store.transaction(() => {
          const seq = store.appendEvent("g", text(`m${i}`));
          return { seq, cursor: store.appendUserEntry("u", ref("g", seq)) };
        }));
      }
      expect(given.map((g) => g.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect(given.every((g, i) => i === 0 || g.cursor > given[i - 1]!.cursor)).toBe(true);
      expect(nodes[1]!.userEntries("u", 0, Infinity).map((e) => e.body.case === "eventRef" && e.body.seq)).toEqual(given.map((g) => g.seq));
    });

    it("CUR-7: nodes running at once, in opposite lock orders, never deadlock; seqs are gapless and cursor order is commit order", async () => {
      const schema = fresh();
      group(node(schema));
      const rounds = 40;
      const others = [startNode(schema, "entry-first", rounds), startNode(schema, "event-first", rounds)];
      await Promise.all(others.map((other) => other.ready));
      for (const other of others) other.go();
      const results = await Promise.all(others.map((other) => other.results));
      const store = node(schema);
      const all = results.flat();
      expect(all.map((r) => r.seq).sort((x, y) => x - y)).toEqual(Array.from({ length: 2 * rounds }, (_, i) => i + 1));
      // Each transaction read lastSeq before appending: under the writer lock the read is the truth.
      expect(all.filter((r) => r.predicted !== r.seq)).toEqual([]);
      for (const mine of results) expect(mine.every((r, i) => i === 0 || r.cursor > mine[i - 1]!.cursor)).toBe(true);
      // Seqs are handed out in commit order, so cursors are too: the stream in cursor order is seqs 1..n.
      const stream = store.userEntries("u", 0, Infinity);
      expect(stream.map((e) => e.body.case === "eventRef" && e.body.seq)).toEqual(Array.from({ length: 2 * rounds }, (_, i) => i + 1));
      expect(stream.map((e) => e.cursor).sort((x, y) => x - y)).toEqual(all.map((r) => r.cursor).sort((x, y) => x - y));
    });

    it("CUR-7: a node waiting behind another's open transaction waits for the writer lock; past its timeout it is unavailable, then connects again", () => {
      const schema = fresh();
      const a = node(schema);
      const b = node(schema, { timeoutMs: 300 });
      let batches = 0;
      a.enableGroupCommit(() => batches++);
      a.addUser("held");
      expect([a.batchOpen, batches]).toEqual([true, 1]);
      expect(() => b.addUser("waiting")).toThrow(StoreUnavailableError);
      // Reads take no lock: b connects again and reads what is committed.
      expect([b.hasUser("held"), b.hasUser("waiting")]).toEqual([false, false]);
      a.commitBatch();
      b.addUser("waiting");
      expect([b.hasUser("held"), a.hasUser("waiting")]).toEqual([true, true]);
    });

    it("CUR-4 CUR-2: a reopened store keeps the epoch and goes on above every cursor it handed out", () => {
      const schema = fresh();
      const first = node(schema);
      group(first, "big");
      first.startReadFanOut("big", 1);
      const epoch = first.epoch("u");
      const before = [first.appendUserEntry("u", ref("g", 1)), first.publishEvent("big", first.appendEvent("big", text("x"))), first.appendUserEntry("v", ref("g", 2))];
      first.close();
      expect(() => first.hasUser("u")).toThrow(StoreUnavailableError); // closed stays closed: no quiet reconnect
      const again = node(schema);
      expect(again.epoch("w")).toBe(epoch);
      const next = again.appendUserEntry("u", ref("g", 3));
      expect(next).toBeGreaterThan(Math.max(...before));
    });

    it("migrations bring a fresh schema to the latest version once, and refuse a schema newer than this code", () => {
      const schema = fresh();
      node(schema);
      node(schema); // a second node finds it migrated
      const admin = new SyncPostgres(POSTGRES_URL!);
      try {
        const version = () => admin.query<{ value: string }>(`SELECT value FROM "${schema}".meta WHERE key = 'schema_version'`).rows.map((r) => r.value);
        expect(version()).toEqual([String(POSTGRES_SCHEMA_VERSION)]);
        expect(admin.query(`SELECT 1 FROM "${schema}".meta WHERE key = 'epoch'`).rowCount).toBe(1);
        admin.query(`UPDATE "${schema}".meta SET value = $1 WHERE key = 'schema_version'`, [String(POSTGRES_SCHEMA_VERSION + 1)]);
        expect(() => node(schema)).toThrow(/newer than this server's/);
      } finally {
        admin.close();
      }
    });

    it("a statement PostgreSQL refuses is a PostgresError, and its transaction is rolled back whole", () => {
      const store = node();
      const refused = (fn: () => void) => {
        try {
          fn();
        } catch (error) {
          return error;
        }
        throw new Error("not refused");
      };
      // TEXT cannot hold NUL (22021): the statement is refused.
      const error = refused(() =>
        store.transaction(() => {
          group(store);
          store.appendEvent("g", text("lost"));
          store.addUser("nul\u0000user");
        }),
      );
      expect(error).toBeInstanceOf(PostgresError);
      expect((error as PostgresError).code).toBe("22021");
      expect([store.conversation("g"), store.lastSeq("g"), store.hasUser("a")]).toEqual([undefined, 0, false]);
      // Caught by the caller without a savepoint, the failure still refuses the whole transaction.
      expect(refused(() => store.transaction(() => (group(store), ignore(() => store.addUser("nul\u0000user")))))).toBeInstanceOf(PostgresError);
      expect(store.conversation("g")).toBeUndefined();
      // In a nested transaction, only the nested one is undone.
      store.transaction(() => {
        group(store);
        expect(refused(() => store.transaction(() => (store.appendEvent("g", text("undone")), store.addUser("nul\u0000user"))))).toBeInstanceOf(PostgresError);
        store.appendEvent("g", text("kept"));
      });
      // A nested transaction that swallows its failure is still undone, and says so; the outer one goes on.
      store.transaction(() => {
        expect(refused(() => store.transaction(() => (store.appendEvent("g", text("undone too")), ignore(() => store.addUser("nul\u0000user")))))).toBeInstanceOf(PostgresError);
        store.appendEvent("g", text("kept too"));
      });
      expect(store.events("g", 0, Infinity, Infinity).map((e) => e.body.case === "message" && e.body.value.messageId)).toEqual(["kept", "kept too"]);
    });

    it("group commit: one transaction per batch, a refused request undone alone, nothing visible to another node before the commit", () => {
      const schema = fresh();
      const store = node(schema);
      const other = node(schema);
      let batches = 0;
      store.enableGroupCommit(() => batches++);
      expect(store.hasUser("a")).toBe(false); // a read opens no batch
      expect([store.batchOpen, batches]).toEqual([false, 0]);
      store.addUser("a");
      store.transaction(() => store.addUser("b"));
      expect(() => store.transaction(() => (store.addUser("refused"), fail()))).toThrow(/on purpose/);
      expect([store.batchOpen, batches, store.hasUser("a"), store.hasUser("refused"), other.hasUser("a")]).toEqual([true, 1, true, false, false]);
      store.commitBatch();
      expect([store.batchOpen, other.hasUser("a"), other.hasUser("b"), other.hasUser("refused")]).toEqual([false, true, true, false]);
      store.addUser("c");
      expect([store.batchOpen, batches]).toEqual([true, 2]);
      store.rollbackBatch();
      expect([store.batchOpen, store.hasUser("c"), other.hasUser("c")]).toEqual([false, false, false]);
      // A statement refused outside any request's savepoint spoils the batch: its commit refuses it whole.
      store.addUser("d");
      expect(() => store.addUser("nul\u0000user")).toThrow(PostgresError);
      expect(() => store.commitBatch()).toThrow(PostgresError);
      expect([store.batchOpen, store.hasUser("d"), other.hasUser("d")]).toEqual([false, false, false]);
    });

    it("CLU-3: with the database refusing connections, a failed attempt to connect makes the next wait, statements failing at once meanwhile; once it is back the store connects again by itself", async () => {
      // Through a proxy in a worker thread: the store blocks this thread for every statement.
      const direct = new URL(POSTGRES_URL!);
      const proxy = await CuttableProxy.start({ host: direct.hostname, port: Number(direct.port || 5432) });
      const schema = fresh();
      const store = PostgresStore.open(proxy.via(POSTGRES_URL!), { schema });
      try {
        store.addUser("a");
        await proxy.cut();
        expect(() => store.hasUser("a")).toThrow(StoreUnavailableError); // the connection is gone
        expect(() => store.hasUser("a")).toThrow(/ECONNREFUSED/); // an attempt to connect, refused
        // The next waits (an attempt blocks the thread ~100 ms): refused at once, without trying.
        expect(() => store.hasUser("a")).toThrow(/next attempt to connect is in \d+ ms/);
        await proxy.restore();
        const deadline = Date.now() + 5_000;
        for (;;) {
          try {
            expect(store.hasUser("a")).toBe(true);
            break;
          } catch (error) {
            if (!(error instanceof StoreUnavailableError) || Date.now() > deadline) throw error;
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        }
        // Connected again, it starts afresh: the attempt after the next loss is made at once.
        await proxy.cut();
        expect(() => store.hasUser("a")).toThrow(StoreUnavailableError);
        expect(() => store.hasUser("a")).toThrow(/ECONNREFUSED/);
      } finally {
        store.close();
        await proxy.close();
      }
    });

    it("a database that is not there fails the open with StoreUnavailableError", async () => {
      const server = createServer();
      server.listen(0, "127.0.0.1");
      await once(server, "listening");
      const { port } = server.address() as { port: number };
      server.close();
      await once(server, "close");
      expect(() => PostgresStore.open(`postgres://imwire:imwire@127.0.0.1:${port}/imwire`, { schema: freshSchema() })).toThrow(StoreUnavailableError);
    });
  });
});

interface NodeResult {
  readonly seq: number;
  readonly cursor: number;
  readonly predicted: number;
}

/**
 * Another node, as its own process: opens the store on `schema` and says
 * ready; on go() runs `rounds` transactions, each an event and a stream entry
 * for it: "entry-first" takes the cursor before the seq (reading the seq it
 * will get), "event-first" the other way round. Its results: what each got.
 */
function startNode(schema: string, order: "entry-first" | "event-first", rounds: number): { ready: Promise<void>; go: () => void; results: Promise<NodeResult[]> } {
  const storeUrl = pathToFileURL(join(import.meta.dirname, "..", "src", "store", "postgres", "postgres-store.ts")).href;
  // CommonJS (no --input-type=module): SyncPostgres's worker inherits the flags, and its evaluated source is CommonJS.
  const source = `(async () => {
    const { PostgresStore } = await import(${JSON.stringify(storeUrl)});
    const store = PostgresStore.open(process.env.IMWIRE_POSTGRES_URL, { schema: ${JSON.stringify(schema)} });
    const event = (i) => ({ senderUserId: "a", senderDeviceId: "d", body: { case: "message", value: { messageId: "m" + i, content: { kind: { case: "text", value: { text: "x" } } } } } });
    process.stdout.write("ready\\n");
    process.stdin.once("data", () => {
      const results = [];
      for (let i = 0; i < ${rounds}; i++) {
        results.push(store.transaction(() => {
          if (${JSON.stringify(order)} === "entry-first") {
            const predicted = store.lastSeq("g") + 1;
            const cursor = store.appendUserEntry("u", { case: "eventRef", conversationId: "g", seq: predicted });
            return { seq: store.appendEvent("g", event(i)), cursor, predicted };
          }
          const seq = store.appendEvent("g", event(i));
          return { seq, cursor: store.appendUserEntry("u", { case: "eventRef", conversationId: "g", seq }), predicted: seq };
        }));
      }
      store.close();
      process.stdout.write(JSON.stringify(results) + "\\n");
      process.exit(0);
    });
  })();`;
  const child = spawn(process.execPath, ["--import", "tsx", "-e", source], { stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  let signalReady: () => void;
  const ready = new Promise<void>((resolve) => (signalReady = resolve));
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
    if (stdout.startsWith("ready\n")) signalReady();
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const results = once(child, "exit").then(([code]) => {
    if (code !== 0) throw new Error(`node ${order} exited ${String(code)}: ${stderr}`);
    return JSON.parse(stdout.split("\n")[1]!) as NodeResult[];
  });
  // A child that dies before it is ready fails `results`; `ready` must not wait for it forever.
  void results.catch(() => signalReady());
  return { ready, go: () => child.stdin.write("go\n"), results };
}

function ignore(fn: () => void): void {
  try {
    fn();
  } catch {
    // On purpose: the caller swallows the failure.
  }
}

function fail(): never {
  throw new Error("fails on purpose");
}
