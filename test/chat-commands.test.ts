import { EventEmitter } from "node:events";
import { createInterface } from "node:readline";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { issueToken } from "../src/auth/hmac-token.js";
import { chatCommandsHelp, parseChatLine, parseSeq } from "../src/cli/chat-commands.js";
import { Chat } from "../src/cli/chat-screen.js";
import { TYPING_IDLE_MS, TypingNotifier, writesMessage } from "../src/cli/chat-typing.js";
import { plainColors } from "../src/cli/chat-view.js";
import { ClientSession, type TerminalIO } from "../src/cli/client-session.js";
import { runCli } from "../src/cli/main.js";
import { startReferenceServer, type ReferenceServer } from "../src/server/reference-server.js";
import { MemoryStore } from "../src/store/memory-store.js";

describe("parseChatLine: the protocol 1.1 commands", () => {
  it("/receipts SEQ (RCPT-4)", () => {
    expect(parseChatLine("/receipts #7")).toEqual({ kind: "receipts", seq: 7n });
    expect(parseChatLine("/receipts").kind).toBe("mistake");
    expect(parseChatLine("/receipts 7 8").kind).toBe("mistake");
  });

  it.each([
    ["/edit 12 new  text kept", { kind: "edit", seq: 12n, text: "new  text kept" }],
    ["/edit #12 fixed", { kind: "edit", seq: 12n, text: "fixed" }],
    ["/delete 3", { kind: "delete", seq: 3n }],
    ["/hide #3", { kind: "hide", seq: 3n }],
    ["/react 4 👍", { kind: "react", seq: 4n, emoji: "👍", remove: false }],
    ["/unreact 4 👍", { kind: "react", seq: 4n, emoji: "👍", remove: true }],
    ["/reply 2 sure, see you", { kind: "reply", rootSeq: 2n, text: "sure, see you" }],
    ["/thread 2", { kind: "thread", rootSeq: 2n }],
    ["/history from-join", { kind: "history", setting: { kind: "from-join" } }],
    ["/history last 50", { kind: "history", setting: { kind: "last", events: 50 } }],
    ["/history full", { kind: "history", setting: { kind: "full" } }],
    ["/invisible on", { kind: "invisible", hidden: true }],
    ["/invisible off", { kind: "invisible", hidden: false }],
  ])("%j", (line, command) => {
    expect(parseChatLine(line)).toEqual(command);
  });

  it.each([
    ["/edit 12", /usage: \/edit SEQ TEXT/],
    ["/edit twelve hi", /SEQ is a message's number, like 12 or #12; got twelve/],
    ["/delete", /usage: \/delete SEQ/],
    ["/delete 3 4", /usage: \/delete SEQ/],
    ["/hide 0", /got 0/],
    ["/react 4", /usage: \/react SEQ EMOJI/],
    ["/unreact 4 a b", /usage: \/unreact SEQ EMOJI/],
    [`/react 4 ${"x".repeat(65)}`, /at most 64 bytes/],
    ["/reply 2", /usage: \/reply SEQ TEXT/],
    ["/thread", /usage: \/thread SEQ/],
    ["/history", /usage: \/history from-join\|last N\|full/],
    ["/history last", /usage: \/history/],
    ["/history last 0", /N from 1 to 1000/],
    ["/history last 1001", /N from 1 to 1000/],
    ["/history some", /usage: \/history/],
    ["/invisible", /usage: \/invisible on\|off/],
    ["/invisible yes", /usage: \/invisible on\|off/],
  ])("%j is a mistake, explained", (line, message) => {
    const command = parseChatLine(line);
    expect(command.kind).toBe("mistake");
    expect(command.kind === "mistake" && command.message).toMatch(message);
  });

  it("/help names every command", () => {
    for (const word of ["/open", "/group", "/list", "/read", "/edit", "/delete", "/hide", "/react", "/unreact", "/reply", "/thread", "/history", "/invisible", "/help", "/quit"]) expect(chatCommandsHelp).toContain(word);
  });

  it("takes a 64-byte emoji, and seqs across uint64 only", () => {
    expect(parseChatLine(`/react 1 ${"x".repeat(64)}`).kind).toBe("react");
    expect(parseSeq("18446744073709551615")).toBe(18_446_744_073_709_551_615n);
    expect(parseSeq("18446744073709551616")).toBeUndefined();
    expect(parseSeq("#")).toBeUndefined();
    expect(parseSeq("-1")).toBeUndefined();
  });
});

describe("EPH-3: TypingNotifier", () => {
  function notifier(accept = () => true) {
    const said: [string, boolean][] = [];
    const typing = new TypingNotifier((conversationId, on) => (said.push([conversationId, on]), accept()));
    return { typing, said };
  }

  it("says typing at most every 3 seconds while keys come, and false once when the line is sent", () => {
    const { typing, said } = notifier();
    const saidAt: number[] = [];
    for (let now = 0; now <= 7_000; now += 500) {
      const before = said.length;
      typing.keypress("c1", now);
      if (said.length > before) saidAt.push(now);
    }
    expect(saidAt).toEqual([0, 3_000, 6_000]);
    expect(said).toEqual([["c1", true], ["c1", true], ["c1", true]]);
    typing.stopped();
    typing.stopped();
    expect(said.at(-1)).toEqual(["c1", false]);
    expect(said).toHaveLength(4);
  });

  it("stops after a pause without keys, and on moving to another conversation", () => {
    const { typing, said } = notifier();
    typing.keypress("c1", 1_000);
    expect(typing.idleAt()).toBe(1_000 + TYPING_IDLE_MS);
    typing.tick(1_000 + TYPING_IDLE_MS - 1);
    expect(said).toEqual([["c1", true]]);
    typing.tick(1_000 + TYPING_IDLE_MS);
    expect(said).toEqual([["c1", true], ["c1", false]]);
    expect(typing.idleAt()).toBeUndefined();
    typing.keypress("c1", 10_000);
    typing.keypress("c2", 10_100);
    expect(said.slice(2)).toEqual([["c1", true], ["c1", false], ["c2", true]]);
  });

  it("counts only what becomes a message as typing: text, //text and /reply, not other commands", () => {
    expect(["h", "  hello", "//slash", "/reply 2 sure"].map(writesMessage)).toEqual([true, true, true, true]);
    expect(["/", "/edit 2 x", "/react 2 👍", "/reply"].map(writesMessage)).toEqual([false, false, false, false]);
  });

  it("takes nothing as said while the machine drops the notice (not ready, or no FEATURE_EPHEMERAL)", () => {
    let ready = false;
    const { typing, said } = notifier(() => ready);
    typing.keypress("c1", 0);
    typing.stopped(); // nothing was said, so nothing to take back
    ready = true;
    typing.keypress("c1", 100); // tries again at once, not 3 s later
    expect(said).toEqual([["c1", true], ["c1", true]]);
  });
});

// ---- end to end: two chats on the reference server, on loopback ----

const SECRET = "chat-commands-test-secret";
const WAIT_MS = 8_000;
let server: ReferenceServer | undefined;
const terminals: ChatTerminal[] = [];
const sessions: ClientSession[] = [];

afterEach(async () => {
  for (const t of terminals) t.input.end();
  await Promise.all(terminals.splice(0).map((t) => t.finished.catch(() => {})));
  for (const session of sessions.splice(0)) session.stop();
  await server?.kill();
  server = undefined;
});

/** `imwire chat` run in this process on a piped input: what it printed, and a wait for a line. */
class ChatTerminal {
  readonly input = new PassThrough();
  readonly finished: Promise<number>;
  #out = "";
  #changed: (() => void)[] = [];

  constructor(url: string, user: string) {
    const io: TerminalIO = {
      writeOut: (data) => {
        this.#out += typeof data === "string" ? data : Buffer.from(data).toString();
        for (const check of this.#changed.splice(0)) check();
      },
      writeErr: (text) => void (this.#out += text),
      readStdin: async () => new Uint8Array(),
      readFile: async (path) => {
        throw new Error(`ENOENT: ${path}`);
      },
      stdinIsTTY: false,
      input: this.input,
      interrupts: new EventEmitter(),
    };
    this.finished = runCli(["chat", "--server", url, "--secret", SECRET, "--user", user], io);
    terminals.push(this);
  }

  type(line: string): void {
    this.input.write(`${line}\n`);
  }

  get mark(): number {
    return this.#out.length;
  }

  /** Resolves once a line printed after `from` matches. */
  until(pattern: RegExp, from = 0): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}; printed:\n${this.#out}`)), WAIT_MS);
      const check = () => {
        if (!pattern.test(this.#out.slice(from))) return void this.#changed.push(check);
        clearTimeout(timer);
        resolve();
      };
      check();
    });
  }

  printed(from = 0): string {
    return this.#out.slice(from);
  }
}

describe("imwire chat with protocol 1.1, against the reference server", () => {
  it("an edit and a reaction by the other user appear, live and in the conversation's view; refusals show their code name", async () => {
    server = await startReferenceServer({ tcp: { port: 0 }, store: new MemoryStore(), secret: SECRET });
    const url = server.urls.tcp!;
    const bob = new ChatTerminal(url, "bob");
    await bob.until(/-- ready/);
    const alice = new ChatTerminal(url, "alice");
    await alice.until(/-- ready/);

    alice.type("/open bob");
    await alice.until(/talking in \[bob\]/);
    alice.type("helo bob");
    await bob.until(/^#2 \[alice\] alice: helo bob$/m);
    alice.type("/edit 2 hello bob");
    await bob.until(/^#2 \[alice\] alice: hello bob \(edited\)$/m);
    bob.type("/open alice");
    bob.type("/react 2 👍");
    await alice.until(/^#2 \[bob\] alice: hello bob \(edited\) {2}👍 1$/m);

    // Only a message's sender may edit it (ACT-3); a direct conversation has no history setting (HIS-2).
    let mark = bob.mark;
    bob.type("/edit 2 hijacked");
    await bob.until(/^! \/edit #2: PERMISSION_DENIED/m, mark);
    bob.type("/history full");
    await bob.until(/^! \/history: [A-Z_]+/m, mark);
    expect(bob.printed(mark)).not.toMatch(/\n\s+at /);

    // THR-1, THR-2: a reply, tagged with its root, and the thread with it under the root.
    bob.type("/reply 2 see you at noon");
    await alice.until(/^#5 \[bob\] ↳#2 bob: see you at noon$/m);
    mark = alice.mark;
    alice.type("/thread 2");
    await alice.until(/^#2 \[bob\] alice: hello bob \(edited\) {2}👍 1 {2}\[1 reply\]\n {4}#5 ↳ bob: see you at noon$/m, mark);

    // HID-1: hidden for alice, not for bob; ACT-4: deleted for everyone.
    alice.type("/hide 5");
    await alice.until(/^#5 \[bob\] deleted for you$/m);
    alice.type("/delete 2");
    await bob.until(/^#2 \[alice\] alice: message deleted {2}👍 1 {2}\[1 reply\]$/m);
    mark = alice.mark;
    alice.type("/open bob");
    await alice.until(/^#2 \[bob\] alice: message deleted {2}👍 1$/m, mark);
    expect(alice.printed(mark)).not.toMatch(/see you at noon/);

    alice.type("/quit");
    bob.type("/quit");
    expect(await alice.finished).toBe(0);
    expect(await bob.finished).toBe(0);
  });

  it("HIS-2: a group's owner sets its history visibility, every member sees the change, anyone else gets the server's refusal; EPH-5: /invisible", async () => {
    server = await startReferenceServer({ tcp: { port: 0 }, store: new MemoryStore(), secret: SECRET });
    const url = server.urls.tcp!;
    const bob = new ChatTerminal(url, "bob");
    await bob.until(/-- ready/);
    const alice = new ChatTerminal(url, "alice");
    await alice.until(/-- ready/);
    alice.type("/group team bob");
    await alice.until(/talking in \[team\]/);
    alice.type("/history last 5");
    await alice.until(/^\[team\] new members now read the last 5 events before they join$/m);
    await bob.until(/^#2 \[team\] \* alice let new members read the last 5 events before they join$/m);
    bob.type("/open team");
    bob.type("/history full");
    await bob.until(/^! \/history: PERMISSION_DENIED/m);
    // RCPT-1, RCPT-3, RCPT-4: bob's device reports what it holds, alice (the sender) is told, and asks who holds her message.
    alice.type("hi team");
    await bob.until(/^#3 \[team\] alice: hi team$/m);
    await alice.until(/^\[team\] bob has up to 3$/m);
    const before = alice.mark;
    alice.type("/receipts 3");
    await alice.until(/^#3: delivered to 1 of 1, read by 0\n {2}bob: delivered$/m, before);
    bob.type("/invisible on");
    await bob.until(/^invisible: your contacts see you offline/m);
    bob.type("/invisible off");
    await bob.until(/^visible: your contacts see when you are online$/m);
  });

  it("EPH-2, EPH-4: the open conversation shows who is typing there, and contacts' presence", async () => {
    server = await startReferenceServer({ tcp: { port: 0 }, store: new MemoryStore(), secret: SECRET });
    const url = server.urls.tcp!;
    const alice = new ChatTerminal(url, "alice");
    await alice.until(/-- ready/);
    // Bob on devices of the reference client; his first connection makes him a user alice can open (AUTH-7).
    const first = await bobDevice(url, "phone");
    alice.type("/open bob");
    await alice.until(/talking in \[bob\] \(\S+\)/);
    const conversationId = /talking in \[bob\] \((\S+)\)/.exec(alice.printed())![1]!;
    // EPH-4: now contacts, alice is told when bob leaves and comes back.
    first.stop();
    await alice.until(/^-- bob was last seen just now$/m);
    const second = await bobDevice(url, "laptop");
    await alice.until(/^-- bob is online$/m);
    // EPH-2: alice's chat views the conversation it opened, so bob's typing there reaches it.
    expect(second.runner.act((machine, now) => machine.setTyping(conversationId, true, now))).toBe(true);
    await alice.until(/^\[bob\] bob is typing…$/m);
  });
});

async function bobDevice(url: string, deviceId: string): Promise<ClientSession> {
  const session = new ClientSession({ url, userId: "bob", deviceId, token: () => issueToken({ userId: "bob", deviceId, expiresAtMs: Date.now() + 60_000 }, SECRET), dial: {} });
  sessions.push(session);
  const ready = session.next((e) => e.kind === "status" && e.status === "ready");
  session.start();
  await ready;
  return session;
}

describe("EPH-3: keys typed in the chat", () => {
  it("tell the other member viewing the conversation that the user is typing, until the line is sent", async () => {
    server = await startReferenceServer({ tcp: { port: 0 }, store: new MemoryStore(), secret: SECRET });
    const url = server.urls.tcp!;
    const bob = new ChatTerminal(url, "bob");
    await bob.until(/-- ready/);
    // Alice's chat screen itself, so the test can press keys (a terminal's keypress events call keypress()).
    const input = new PassThrough();
    let switched!: () => void;
    const aliceOpened = new Promise<void>((resolve) => (switched = resolve));
    const session = new ClientSession({ url, userId: "alice", deviceId: "keys", token: () => issueToken({ userId: "alice", deviceId: "keys", expiresAtMs: Date.now() + 60_000 }, SECRET), dial: {} });
    sessions.push(session);
    const rl = createInterface({ input, terminal: false });
    const alice = new Chat(session, rl, { colors: plainColors, print: (line) => line.startsWith("talking in [bob]") && switched(), typingInPrompt: false });
    const aliceDone = alice.run();
    input.write("/open bob\n");
    await bob.until(/^#1 \[alice\] \* alice created: alice, bob$/m);
    // Bob's chat says its device views the conversation when it opens it; /read's answer comes after the server took that in (frames in order).
    bob.type("/open alice");
    bob.type("/read");
    await bob.until(/^\[alice\] marked read up to 1$/m);
    await aliceOpened;
    const mark = bob.mark;
    alice.keypress("s");
    await bob.until(/^\[alice\] alice is typing…$/m, mark);
    input.end("sent\n");
    await bob.until(/^#2 \[alice\] alice: sent$/m);
    expect(await aliceDone).toBe(0);
    rl.close();
  });
});

