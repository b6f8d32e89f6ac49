import { clearLine, createInterface, cursorTo, type Interface } from "node:readline";
import picocolors from "picocolors";
import { ConversationKind, type Conversation } from "../gen/imwire/v1/conversation_pb.js";
import { ErrorCode } from "../gen/imwire/v1/error_pb.js";
import type { ClientEvent } from "../machines/client/types.js";
import { CliError } from "./io.js";
import { parseOptions } from "./options.js";
import { chatCommandsHelp, conversationLabel, findConversation, formatConversationList, formatEvent, formatStatus, parseChatLine, promptFor, type ChatCommand, type Colors, type LabelSource } from "./chat-view.js";
import { ClientSession, failureText, sessionHelp, sessionOptionConfig, sessionSettings, type TerminalIO } from "./client-session.js";

export const chatHelp = `Usage: imwire chat --user NAME [options]

Chat from the terminal. Start a server and two chats, each in its own terminal:
  imwire serve --memory
  imwire chat --user alice
  imwire chat --user bob
then, in alice's:  /open bob   and type.

Every conversation's messages are printed as they arrive ("[bob] alice: hi");
a fresh device (this command keeps no state between runs) first shows the
history it synchronises (SPEC.md SYNC-4). Text typed without a command goes
to the open conversation; your own messages appear once the server has
stored them. Reconnects by itself after a lost connection.

${chatCommandsHelp}

Options:
  --no-color          no colours (also when NO_COLOR is set or output is not a terminal)
  (--device defaults to "cli-chat": a second chat of the same user needs its
  own --device, else it takes over the first, AUTH-4)

${sessionHelp}

Examples:
  imwire chat --user alice
  imwire chat --server ws://127.0.0.1:5301 --user bob --device laptop
  printf '/open bob\nhi bob\n' | imwire chat --user alice
`;

/** How long /quit waits for messages typed just before it to be acknowledged. */
const QUIT_GRACE_MS = 5_000;

export async function chatCommand(args: string[], io: TerminalIO): Promise<number> {
  const { values } = parseOptions(args, { ...sessionOptionConfig, "no-color": { type: "boolean", default: false } });
  if (values.help) {
    io.writeOut(chatHelp);
    return 0;
  }
  const settings = await sessionSettings(values, io, "cli-chat");
  const input = io.input ?? process.stdin;
  const terminal = io.input === undefined && process.stdin.isTTY === true && process.stdout.isTTY === true;
  const colors = picocolors.createColors(terminal && (io.colour ?? picocolors.isColorSupported) && !values["no-color"]);
  const rl = createInterface({ input, output: terminal ? process.stdout : undefined, terminal, prompt: promptFor(undefined, colors) });
  // Prompting resumes the input, which would keep the process alive after the end.
  let closed = false;
  rl.on("close", () => (closed = true));
  const chat = new Chat(new ClientSession(settings), rl, colors, (line) => {
    if (!terminal || closed) return io.writeOut(`${line}\n`);
    // Above the prompt, then the prompt again with what was being typed (readline keeps the line).
    clearLine(process.stdout, 0);
    cursorTo(process.stdout, 0);
    io.writeOut(`${line}\n`);
    rl.prompt(true);
  });
  const interrupts = io.interrupts ?? process;
  const onInterrupt = () => chat.quit();
  interrupts.on("SIGINT", onInterrupt);
  rl.on("SIGINT", onInterrupt);
  try {
    return await chat.run();
  } finally {
    interrupts.off("SIGINT", onInterrupt);
    rl.close();
  }
}

/** One chat screen: the session, the open conversation, and the lines typed, handled one at a time. */
class Chat {
  readonly #session: ClientSession;
  readonly #rl: Interface;
  readonly #colors: Colors;
  readonly #print: (line: string) => void;
  readonly #self: string;
  #openId: string | undefined;
  /** Conversations learnt from answers, before the machine's view has them. */
  readonly #answered = new Map<string, LabelSource>();
  /** Lines are handled in order, each after the one before: piped input works as typed input. */
  #queue: Promise<void> = Promise.resolve();
  /** Sends not yet acknowledged or refused. */
  readonly #sends = new Set<string>();
  #quitting = false;
  #quit!: () => void;
  readonly #quitRequested = new Promise<void>((resolve) => (this.#quit = resolve));

  constructor(session: ClientSession, rl: Interface, colors: Colors, print: (line: string) => void) {
    this.#session = session;
    this.#rl = rl;
    this.#colors = colors;
    this.#print = print;
    this.#self = session.settings.userId;
    session.onEvent((event) => this.#show(event));
  }

  async run(): Promise<number> {
    this.#print(this.#colors.dim(`imwire chat as ${this.#self} (device ${this.#session.settings.deviceId}) on ${this.#session.settings.url}; /help for commands`));
    this.#rl.on("line", (line) => {
      this.#queue = this.#queue.then(() => this.#handle(parseChatLine(line)));
    });
    this.#rl.on("close", () => this.quit());
    this.#session.start();
    this.#rl.prompt();
    try {
      await Promise.race([this.#quitRequested, this.#session.ended]);
      await Promise.race([this.#queue, this.#session.ended]);
      await this.#flushSends();
      return 0;
    } finally {
      this.#session.stop();
    }
  }

  quit(): void {
    if (this.#quitting) return;
    this.#quitting = true;
    // Lines already typed (or piped) are handled before leaving.
    this.#queue = this.#queue.then(() => this.#quit());
  }

  async #handle(command: ChatCommand): Promise<void> {
    try {
      await this.#do(command);
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
      if (this.#session.machine.status === "stopped") return;
      this.#print(this.#colors.red(`! ${error.message}`));
    }
    if (!this.#quitting) this.#rl.prompt();
  }

  async #do(command: ChatCommand): Promise<void> {
    const session = this.#session;
    switch (command.kind) {
      case "nothing":
        return;
      case "mistake":
        return this.#print(this.#colors.red(`! ${command.message}`));
      case "help":
        return this.#print(chatCommandsHelp);
      case "quit":
        return this.quit();
      case "list":
        for (const line of formatConversationList(session.machine.conversations(), this.#openId, this.#self, this.#colors)) this.#print(line);
        return;
      case "say": {
        if (this.#openId === undefined) return this.#print(this.#colors.red("! no conversation open: /open USER first"));
        const conversationId = this.#openId;
        this.#sends.add(session.runner.act((machine, now) => machine.send(conversationId, { kind: { case: "text", value: { text: command.text } } }, now)));
        return;
      }
      case "open":
        return this.#open(command.target);
      case "group": {
        const operation = session.runner.act((machine, now) => machine.open({ kind: ConversationKind.GROUP, title: command.title, userIds: [...command.users] }, now));
        return this.#switchTo(await this.#opened(operation, `/group ${command.title}`));
      }
      case "read":
        return this.#markRead();
    }
  }

  async #open(target: string): Promise<void> {
    const known = findConversation(this.#session.machine.conversations(), target, this.#self)?.conversationId ?? this.#findAnswered(target);
    if (known !== undefined) return this.#switchTo(known);
    if (target === this.#self) return this.#print(this.#colors.red("! that is you: /open another user"));
    const operation = this.#session.runner.act((machine, now) => machine.open({ kind: ConversationKind.DIRECT, userIds: [target] }, now));
    this.#switchTo(await this.#opened(operation, `/open ${target}`, target));
  }

  #findAnswered(target: string): string | undefined {
    if (this.#answered.has(target)) return target;
    return [...this.#answered].find(([id, source]) => conversationLabel(source, id, this.#self) === target)?.[0];
  }

  /** The conversation an open_conversation answered with. */
  async #opened(operation: string, what: string, peer?: string): Promise<string> {
    const outcome = await Promise.race([this.#session.outcome(operation), this.#session.ended]);
    if (outcome.kind === "failed") {
      // AUTH-7: a user exists once it has connected.
      if (outcome.code === ErrorCode.NOT_FOUND && peer !== undefined) throw new CliError(`no conversation or user called ${peer} (a user exists once it has connected)`);
      throw new CliError(`${what}: ${failureText(outcome.code, outcome.message)}`);
    }
    const conversation: Conversation | undefined = outcome.answer.case === "conversationOpened" ? outcome.answer.value.conversation : undefined;
    if (conversation === undefined) throw new CliError(`${what}: the server answered ${outcome.answer.case ?? "nothing"}`);
    this.#answered.set(conversation.conversationId, { kind: conversation.kind, title: conversation.title, members: conversation.memberUserIds });
    return conversation.conversationId;
  }

  #switchTo(conversationId: string): void {
    this.#openId = conversationId;
    const label = this.#label(conversationId);
    this.#rl.setPrompt(promptFor(label, this.#colors));
    this.#print(this.#colors.dim(`talking in [${label}] (${conversationId})`));
  }

  async #markRead(): Promise<void> {
    const conversationId = this.#openId;
    if (conversationId === undefined) return this.#print(this.#colors.red("! no conversation open"));
    const session = this.#session;
    const seq = session.machine.conversations().get(conversationId)?.held ?? 0n;
    if (seq === 0n) return this.#print(this.#colors.dim("nothing to mark read yet"));
    // READ-2: the marker entry, which moves this device's view, may come before or after the answer.
    const markerMoved = session.next((e) => e.kind === "read-marker" && e.marker.conversationId === conversationId && e.marker.seq >= seq);
    markerMoved.catch(() => {});
    const operation = session.runner.act((machine, now) => machine.markRead(conversationId, seq, now));
    await Promise.race([session.answer(operation, "/read"), session.ended]);
    await Promise.race([markerMoved, session.ended]);
    this.#print(this.#colors.dim(`[${this.#label(conversationId)}] marked read up to ${seq}`));
  }

  /** Messages typed just before quitting still reach the server, if it answers soon. */
  async #flushSends(): Promise<void> {
    const session = this.#session;
    const deadline = Date.now() + QUIT_GRACE_MS;
    while (session.machine.pendingOperations > 0 && session.machine.status !== "stopped") {
      const left = deadline - Date.now();
      if (left <= 0) return this.#print(this.#colors.red(`! leaving with ${session.machine.pendingOperations} operations unacknowledged`));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        session.next((e) => e.kind === "sent" || e.kind === "failed" || e.kind === "done").catch(() => {}),
        new Promise((resolve) => (timer = setTimeout(resolve, left))),
      ]);
      clearTimeout(timer);
    }
  }

  #label(conversationId: string): string {
    return conversationLabel(this.#session.machine.conversations().get(conversationId) ?? this.#answered.get(conversationId), conversationId, this.#self);
  }

  #show(event: ClientEvent): void {
    const colors = this.#colors;
    switch (event.kind) {
      case "status":
        return this.#print(formatStatus(event.status, colors));
      case "event":
        return this.#print(formatEvent(event.event, this.#label(event.conversationId), this.#self, colors));
      case "read-receipt":
        if (event.receipt.userId === this.#self) return;
        return this.#print(colors.dim(`[${this.#label(event.receipt.conversationId)}] ${event.receipt.userId} has read up to ${event.receipt.seq}`));
      case "left":
        return this.#print(colors.dim(`[${this.#label(event.conversationId)}] you left`));
      case "sent":
        this.#sends.delete(event.clientMessageId);
        return;
      case "failed":
        // Opens and marks are reported by the command that awaits them; a send is awaited by no one.
        if (this.#sends.delete(event.operationId)) this.#print(colors.red(`! a message was not sent: ${failureText(event.code, event.message)}`));
        return;
      default:
        return;
    }
  }
}
