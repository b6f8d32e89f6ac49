import { EventEmitter } from "node:events";
import { createServer, type AddressInfo } from "node:net";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/main.js";
import type { TerminalIO } from "../../src/cli/client-session.js";
import { FaultProxy } from "../../src/conformance/suite/fault-proxy.js";
import { Transcript } from "../../src/conformance/suite/scripted-connection.js";
import { startReferenceServer, type ReferenceServer } from "../../src/server/reference-server.js";
import { Random } from "../../src/sim/random.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import type { Store } from "../../src/store/store.js";

/**
 * The terminal commands against the reference server in this process, run
 * through runCli with injected I/O. Every wait is for a condition (a line
 * printed, a command finished), with a deadline; nothing sleeps.
 */

const SECRET = "terminal-client-test-secret";
const WAIT_MS = 8_000;

let servers: ReferenceServer[] = [];
let proxies: FaultProxy[] = [];
let terminals: Terminal[] = [];

afterEach(async () => {
  for (const terminal of terminals) terminal.close();
  await Promise.all(terminals.map((t) => t.finished?.catch(() => {})));
  terminals = [];
  await Promise.all(proxies.map((p) => p.stop()));
  proxies = [];
  await Promise.all(servers.map((s) => s.kill()));
  servers = [];
});

async function serve(store: Store = new MemoryStore(), port = 0): Promise<ReferenceServer> {
  const server = await startReferenceServer({ tcp: { port }, store, secret: SECRET, protocol: { heartbeatIntervalMs: 1_000 } });
  servers.push(server);
  return server;
}

/** One command's terminal: what it printed, an input stream it reads, and a way to interrupt it. */
class Terminal {
  readonly out: string[] = [];
  readonly err: string[] = [];
  readonly input = new PassThrough();
  readonly interrupts = new EventEmitter();
  readonly io: TerminalIO;
  finished: Promise<number> | undefined;
  #changed: (() => void)[] = [];

  constructor(stdin = "") {
    this.io = {
      writeOut: (data) => this.#push(this.out, typeof data === "string" ? data : Buffer.from(data).toString()),
      writeErr: (text) => this.#push(this.err, text),
      readStdin: async () => new TextEncoder().encode(stdin),
      readFile: async (path) => {
        throw Object.assign(new Error(`ENOENT: ${path}`), { code: "ENOENT" });
      },
      stdinIsTTY: false,
      input: this.input,
      interrupts: this.interrupts,
    };
  }

  run(args: string[]): Promise<number> {
    this.finished = runCli(args, this.io);
    this.finished.finally(() => this.#notify()).catch(() => {});
    return this.finished;
  }

  type(line: string): void {
    this.input.write(`${line}\n`);
  }

  close(): void {
    this.input.end();
  }

  outText(): string {
    return this.out.join("");
  }

  errText(): string {
    return this.err.join("");
  }

  /** Parsed NDJSON lines of stdout. */
  records(): Record<string, unknown>[] {
    return this.outText().split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  /** Resolves once `condition` holds of what was printed so far. */
  until(condition: () => boolean, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; stdout:\n${this.outText()}\nstderr:\n${this.errText()}`)), WAIT_MS);
      const check = () => {
        if (!condition()) return void this.#changed.push(check);
        clearTimeout(timer);
        resolve();
      };
      check();
    });
  }

  untilOut(pattern: RegExp, from = 0): Promise<void> {
    return this.until(() => pattern.test(this.outText().slice(from)), `stdout ${pattern}`);
  }

  untilErr(pattern: RegExp, from = 0): Promise<void> {
    return this.until(() => pattern.test(this.errText().slice(from)), `stderr ${pattern}`);
  }

  #push(into: string[], text: string): void {
    into.push(text);
    this.#notify();
  }

  #notify(): void {
    for (const check of this.#changed.splice(0)) check();
  }
}

function terminal(stdin = ""): Terminal {
  const t = new Terminal(stdin);
  terminals.push(t);
  return t;
}

const connection = (url: string) => ["--server", url, "--secret", SECRET];

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** A tail that is connected and caught up, so what is sent next reaches it live. */
async function liveTail(url: string, user: string, args: string[]): Promise<Terminal> {
  const tail = terminal();
  void tail.run(["tail", ...connection(url), "--user", user, "-v", ...args]);
  await tail.untilErr(/imwire tail: ready/);
  return tail;
}

async function send(url: string, user: string, args: string[], stdin = ""): Promise<Terminal & { status: number }> {
  const t = terminal(stdin);
  const status = await t.run(["send", ...connection(url), "--user", user, ...args]);
  return Object.assign(t, { status });
}

describe("imwire send and imwire tail", () => {
  it("send prints one NDJSON line per stored message; a live tail prints both, in order, as NDJSON", async () => {
    const { urls } = await serve();
    const url = urls.tcp!;
    const tail = await liveTail(url, "bob", ["--messages", "--count", "2"]);

    const sent = await send(url, "alice", ["--to", "bob", "-"], "hello bob\nsecond line\n");
    expect(sent.errText()).toBe("");
    expect(sent.status).toBe(0);
    const acks = sent.records();
    expect(acks).toHaveLength(2);
    expect(acks.map((a) => a.seq)).toEqual(["2", "3"]); // seq 1 is the conversation's CREATED event (CONV-2)
    expect(new Set(acks.map((a) => a.client_message_id)).size).toBe(2);
    expect(acks[0]!.conversation).toBe(acks[1]!.conversation);

    expect(await tail.finished).toBe(0);
    const events = tail.records();
    expect(events.map(({ conversation, seq, sender, kind, text }) => ({ conversation, seq, sender, kind, text }))).toEqual([
      { conversation: acks[0]!.conversation, seq: "2", sender: "alice", kind: "text", text: "hello bob" },
      { conversation: acks[0]!.conversation, seq: "3", sender: "alice", kind: "text", text: "second line" },
    ]);
    expect(events[0]!.client_message_id).toBe(acks[0]!.client_message_id);
    expect(Date.parse(events[0]!.sent_at as string)).toBeGreaterThan(0);

    // A fresh device syncs what the user may read (SYNC-4, SYNC-5): the history comes first, membership included.
    const later = terminal();
    const laterStatus = await later.run(["tail", ...connection(url), "--user", "bob", "--count", "3", "--conversation", acks[0]!.conversation as string]);
    expect(laterStatus, later.errText()).toBe(0);
    expect(later.records().map((r) => [r.seq, r.kind, r.text ?? r.action])).toEqual([
      ["1", "membership", "created"],
      ["2", "text", "hello bob"],
      ["3", "text", "second line"],
    ]);
    expect(later.records()[0]!.users).toEqual(["alice", "bob"]);
  });

  it("across a server restart and a send whose acknowledgement is lost, every message arrives exactly once", async () => {
    const store = new MemoryStore();
    const first = await serve(store);
    const url = first.urls.tcp!;
    const port = Number(new URL(url).port);
    const tail = await liveTail(url, "bob", ["--messages", "--count", "4"]);

    expect((await send(url, "alice", ["--to", "bob", "before the restart"])).status).toBe(0);
    await tail.until(() => tail.records().length === 1, "the first message");

    // A crash: every connection cut, no go_away. The tail reconnects on its own, to a server on the same store.
    const errBefore = tail.errText().length;
    await first.kill();
    await tail.untilErr(/offline/, errBefore);
    await serve(store, port);
    await tail.untilErr(/ready/, errBefore);
    expect((await send(url, "alice", ["--to", "bob", "after the restart"])).status).toBe(0);

    // The server stores the next message, and its send_ack is cut off on the way: the client must retry with the same key (IDEM-1).
    let proxy: FaultProxy | undefined;
    let heldAck = false;
    proxy = await FaultProxy.start(
      url,
      {
        downstream: {
          hold: (frame) => {
            if (heldAck || frame.body.case !== "sendAck") return false;
            heldAck = true;
            setImmediate(() => proxy!.cutAll());
            return true;
          },
        },
      },
      new Random(1),
      new Transcript(),
    );
    proxies.push(proxy);
    const retried = await send(proxy.url, "alice", ["--to", "bob", "ack lost once"]);
    expect(heldAck).toBe(true);
    expect(retried.status).toBe(0);
    expect(retried.records()).toHaveLength(1);

    expect((await send(url, "alice", ["--to", "bob", "the last one"])).status).toBe(0);
    expect(await tail.finished).toBe(0);
    expect(tail.records().map((r) => [r.seq, r.text])).toEqual([
      ["2", "before the restart"],
      ["3", "after the restart"],
      ["4", "ack lost once"],
      ["5", "the last one"],
    ]);
    expect(retried.records()[0]!.seq).toBe("4");
  });

  it("tail stops cleanly on SIGINT and at the end of its input", async () => {
    const { urls } = await serve();
    const interrupted = await liveTail(urls.tcp!, "bob", []);
    interrupted.interrupts.emit("SIGINT");
    expect(await interrupted.finished).toBe(0);
    const closed = await liveTail(urls.tcp!, "carol", []);
    closed.close();
    expect(await closed.finished).toBe(0);
  });
});

describe("imwire chat", () => {
  it("alice opens bob and writes; bob's chat prints it; /read moves bob's marker and alice sees the receipt", async () => {
    const { urls } = await serve();
    const url = urls.tcp!;
    const bob = terminal();
    void bob.run(["chat", ...connection(url), "--user", "bob"]);
    await bob.untilOut(/-- ready/);
    const alice = terminal();
    void alice.run(["chat", ...connection(url), "--user", "alice"]);
    await alice.untilOut(/-- ready/);

    alice.type("/open bob");
    await alice.untilOut(/talking in \[bob\] \(\S+\)/);
    alice.type("hello from alice");
    await bob.untilOut(/\[alice\] alice: hello from alice\n/);
    // One's own message shows once the server has stored it and mirrored it back.
    await alice.untilOut(/\[bob\] alice: hello from alice\n/);
    await bob.untilOut(/\[alice\] \* alice created: alice, bob\n/);

    let mark = bob.outText().length;
    bob.type("/list");
    await bob.untilOut(/ direct {2}alice {2}2 unread\n/, mark);
    bob.type("/frobnicate");
    await bob.untilOut(/! unknown command \/frobnicate: try \/help\n/, mark);
    bob.type("/open alice");
    bob.type("/read");
    await bob.untilOut(/\[alice\] marked read up to 2\n/, mark);
    mark = bob.outText().length;
    bob.type("/list");
    await bob.untilOut(/\* \S+ {2}direct {2}alice {2}0 unread\n/, mark);
    await alice.untilOut(/\[bob\] bob has read up to 2\n/);

    bob.close();
    alice.type("/quit");
    expect(await bob.finished).toBe(0);
    expect(await alice.finished).toBe(0);
    expect(alice.errText()).toBe("");
  });

  it("piped lines are handled in order: /open, then sends, then the end of input waits for the acknowledgements", async () => {
    const { urls } = await serve();
    const url = urls.tcp!;
    const tail = await liveTail(url, "bob", ["--messages", "--count", "2"]);
    const alice = terminal();
    const finished = alice.run(["chat", ...connection(url), "--user", "alice"]);
    alice.input.end("/open bob\none\ntwo\n");
    expect(await finished).toBe(0);
    expect(await tail.finished).toBe(0);
    expect(tail.records().map((r) => r.text)).toEqual(["one", "two"]);
  });

  it("a second chat of the same device takes over the first, which ends with one line (AUTH-4)", async () => {
    const { urls } = await serve();
    const first = terminal();
    const firstDone = first.run(["chat", ...connection(urls.tcp!), "--user", "alice"]);
    await first.untilOut(/-- ready/);
    const second = terminal();
    void second.run(["chat", ...connection(urls.tcp!), "--user", "alice"]);
    expect(await firstDone).toBe(2);
    expect(first.errText()).toMatch(/^imwire chat: another connection of device cli-chat took over \(SESSION_REPLACED\); give each terminal its own --device\n$/);
  });
});

describe("failures are one line and exit status 2", () => {
  it.each([
    [["send", "--user", "alice", "--to", "bob", "--timeout-ms", "abc", "hi"], /^imwire send: --timeout-ms takes an integer 1 or more, not "abc"\n/],
    [["send", "--user", "alice", "hi"], /^imwire send: give --to USER or --conversation ID/],
    [["send", "--server", "http://127.0.0.1:5300", "--user", "alice", "--to", "bob", "hi"], /^imwire send: --server takes a tcp:\/\/, tls:\/\/, ws:\/\/ or wss:\/\/ address, not http:\/\/127.0.0.1:5300 \(for WebSocket write ws:\/\/127.0.0.1:5300\)\n/],
    [["tail", "--count", "0", "--user", "bob"], /^imwire tail: --count takes an integer 1 or more, not "0"\n/],
    [["chat"], /^imwire chat: give --user NAME\n/],
    [["chat", "--user", "alice", "--token", "t", "--secret", "s"], /^imwire chat: give one of --token, --token-file, --secret and --secret-file\n/],
    [["tail", "--user", "bob", "--bogus"], /^imwire tail: Unknown option '--bogus'/],
  ])("%j", async (args, message) => {
    const t = terminal();
    expect(await t.run(args)).toBe(2);
    expect(t.errText()).toMatch(message);
    expect(t.outText()).toBe("");
  });

  it.each(["send", "tail", "chat"])("%s: an unreachable server", async (command) => {
    const port = await freePort();
    const t = terminal();
    const extra = command === "send" ? ["--to", "bob", "hi"] : [];
    expect(await t.run([command, ...connection(`tcp://127.0.0.1:${port}`), "--user", "alice", ...extra])).toBe(2);
    expect(t.errText()).toBe(`imwire ${command}: cannot connect to tcp://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}\n`);
  });

  it("a refused token, an unknown peer, a missing token file", async () => {
    const { urls } = await serve();
    const url = urls.tcp!;
    const refused = terminal();
    expect(await refused.run(["send", "--server", url, "--user", "alice", "--device", "d1", "--token", "imw1.bogus.token", "--to", "bob", "hi"])).toBe(2);
    expect(refused.errText()).toBe(`imwire send: ${url} refused the token for user alice, device d1 (UNAUTHENTICATED): check --token, or the secret the server uses\n`);

    const unknown = await send(url, "alice", ["--to", "nobody", "hi"]);
    expect(unknown.status).toBe(2);
    expect(unknown.errText()).toBe(`imwire send: --to nobody: no such user on ${url} (a user exists once it has connected)\n`);

    const missing = terminal();
    expect(await missing.run(["tail", "--server", url, "--user", "bob", "--token-file", "nope.txt"])).toBe(2);
    expect(missing.errText()).toBe("imwire tail: --token-file: no such file or directory: nope.txt\n");
  });

  it("send gives up after --timeout-ms when nothing answers", async () => {
    // A listener that accepts and never answers hello.
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const t = terminal();
      expect(await t.run(["send", ...connection(`tcp://127.0.0.1:${(silent.address() as AddressInfo).port}`), "--user", "alice", "--to", "bob", "--timeout-ms", "300", "hi"])).toBe(2);
      expect(t.errText()).toMatch(/^imwire send: timed out after 300 ms: 0 of 1 messages acknowledged \(connection \w+\)\n$/);
    } finally {
      silent.close();
    }
  });

  it.each(["send", "tail", "chat"])("%s --help shows examples, exit 0", async (command) => {
    const t = terminal();
    expect(await t.run([command, "--help"])).toBe(0);
    expect(t.outText()).toMatch(new RegExp(`^Usage: imwire ${command} --user NAME[\\s\\S]*--server URL[\\s\\S]*\\nExamples:\\n  imwire ${command} --user`));
  });
});
