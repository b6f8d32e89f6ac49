import type { Interface } from "node:readline";
import { DeviceState } from "../gen/imwire/v1/settings_pb.js";
import type { ClientEvent } from "../machines/client/types.js";
import { markRead, runMessageCommand, type ChatContext } from "./chat-actions.js";
import { ChatConversations } from "./chat-conversations.js";
import { chatCommandsHelp, parseChatLine, type ChatCommand } from "./chat-commands.js";
import { messageLine, renderConversation } from "./chat-messages.js";
import { ChatState } from "./chat-state.js";
import { TypingNotifier, writesMessage } from "./chat-typing.js";
import { formatConversationList, formatNotice, formatPresence, formatStatus, formatTyping, promptFor, type Colors } from "./chat-view.js";
import { ClientSession, failureText } from "./client-session.js";
import { CliError } from "./io.js";

/** How long /quit waits for messages typed just before it to be acknowledged. */
const QUIT_GRACE_MS = 5_000;
/** How many entries of a conversation /open shows. */
const OPEN_SHOWS = 20;

export interface ChatScreenOptions {
  readonly colors: Colors;
  /** Print a line above the prompt. */
  readonly print: (line: string) => void;
  /** A terminal shows who is typing in the prompt; piped output gets a line when it changes. */
  readonly typingInPrompt: boolean;
  readonly now?: () => number;
}

/** One chat screen: the session, the open conversation, and the lines typed, handled one at a time. */
export class Chat {
  readonly #session: ClientSession;
  readonly #rl: Interface;
  readonly #colors: Colors;
  readonly #print: (line: string) => void;
  readonly #typingInPrompt: boolean;
  readonly #now: () => number;
  readonly #self: string;
  readonly #state = new ChatState();
  readonly #typing: TypingNotifier;
  #openId: string | undefined;
  #typingShown: string | undefined;
  #typingTimer: NodeJS.Timeout | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  readonly #conversations: ChatConversations;
  /** Lines are handled in order, each after the one before: piped input works as typed input. */
  #queue: Promise<void> = Promise.resolve();
  /** Sends and other operations not yet answered whose refusal no one awaits: what to call them then. */
  readonly #unanswered = new Map<string, string>();
  #quitting = false;
  #quit!: () => void;
  readonly #quitRequested = new Promise<void>((resolve) => (this.#quit = resolve));

  constructor(session: ClientSession, rl: Interface, options: ChatScreenOptions) {
    this.#session = session;
    this.#rl = rl;
    this.#colors = options.colors;
    this.#print = options.print;
    this.#typingInPrompt = options.typingInPrompt;
    this.#now = options.now ?? Date.now;
    this.#self = session.settings.userId;
    this.#conversations = new ChatConversations(session, this.#self);
    this.#typing = new TypingNotifier((conversationId, typing) => session.runner.act((machine, now) => machine.setTyping(conversationId, typing, now)));
    session.onEvent((event) => this.#show(event));
  }

  async run(): Promise<number> {
    this.#print(this.#colors.dim(`imwire chat as ${this.#self} (device ${this.#session.settings.deviceId}) on ${this.#session.settings.url}; /help for commands`));
    this.#rl.on("line", (line) => {
      this.#typing.stopped();
      this.#queue = this.#queue.then(() => this.#handle(parseChatLine(line)));
    });
    this.#rl.on("close", () => this.quit());
    this.#session.start();
    this.#rl.prompt();
    try {
      await Promise.race([this.#quitRequested, this.#session.ended]);
      await Promise.race([this.#queue, this.#session.ended]);
      this.#typing.stopped();
      const left = await this.#session.settle(QUIT_GRACE_MS);
      if (left > 0) this.#print(this.#colors.red(`! leaving with ${left} operations unacknowledged`));
      return 0;
    } finally {
      clearTimeout(this.#typingTimer);
      clearTimeout(this.#idleTimer);
      this.#session.stop();
    }
  }

  quit(): void {
    if (this.#quitting) return;
    this.#quitting = true;
    // Lines already typed (or piped) are handled before leaving.
    this.#queue = this.#queue.then(() => this.#quit());
  }

  /** EPH-3: a key typed at the prompt, `line` being what is typed so far; the server hears of it at most every few seconds. */
  keypress(line: string): void {
    if (this.#openId === undefined || this.#quitting || !writesMessage(line)) return;
    this.#typing.keypress(this.#openId, this.#now());
    this.#scheduleIdle();
  }

  #scheduleIdle(): void {
    clearTimeout(this.#idleTimer);
    const at = this.#typing.idleAt();
    if (at === undefined) return;
    this.#idleTimer = setTimeout(() => {
      this.#typing.tick(this.#now());
      this.#scheduleIdle();
    }, Math.max(0, at - this.#now()));
    this.#idleTimer.unref();
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
        this.#unanswered.set(session.runner.act((machine, now) => machine.send(conversationId, { kind: { case: "text", value: { text: command.text } } }, now)), "a message was not sent");
        return;
      }
      case "open":
        return this.#switchTo(await this.#conversations.open(command.target));
      case "group":
        return this.#switchTo(await this.#conversations.group(command.title, command.users));
      case "read":
        return markRead(this.#context());
      default:
        return runMessageCommand(this.#context(), command);
    }
  }

  #context(): ChatContext {
    return {
      session: this.#session,
      state: this.#state,
      colors: this.#colors,
      self: this.#self,
      print: this.#print,
      openConversation: () => {
        if (this.#openId === undefined) throw new CliError("no conversation open: /open USER first");
        return this.#openId;
      },
      label: (conversationId) => this.#conversations.label(conversationId),
      track: (operationId, what) => this.#unanswered.set(operationId, what),
    };
  }

  #switchTo(conversationId: string): void {
    this.#typing.stopped();
    this.#openId = conversationId;
    // EPH-2: the server sends typing indicators for the conversation the device says it views.
    this.#session.runner.act((machine, now) => machine.setDeviceState(DeviceState.FOREGROUND, now, undefined, conversationId));
    const label = this.#conversations.label(conversationId);
    const peer = this.#conversations.peer(conversationId);
    const presence = peer === undefined ? undefined : this.#state.presence(peer);
    const presenceText = presence === undefined || peer === undefined ? "" : ` — ${formatPresence(peer, presence, this.#now())}`;
    this.#print(this.#colors.dim(`talking in [${label}] (${conversationId})${presenceText}`));
    for (const line of renderConversation(this.#state.log(conversationId), { label, self: this.#self, limit: OPEN_SHOWS }, this.#colors)) this.#print(line);
    this.#rl.setPrompt(promptFor(label, this.#colors));
    this.#typingShown = undefined;
    this.#refreshTyping();
  }

  /** EPH-2: who types in the open conversation, until they stop or their indicator expires. */
  #refreshTyping(): void {
    clearTimeout(this.#typingTimer);
    const conversationId = this.#openId;
    if (conversationId === undefined) return;
    const now = this.#now();
    const text = formatTyping(this.#state.typing(conversationId, now));
    if (text !== this.#typingShown) {
      this.#typingShown = text;
      if (this.#typingInPrompt) {
        this.#rl.setPrompt(promptFor(this.#conversations.label(conversationId), this.#colors, text));
        if (!this.#quitting) this.#rl.prompt(true);
      } else if (text !== undefined) this.#print(this.#colors.dim(`[${this.#conversations.label(conversationId)}] ${text}`));
    }
    const expiry = this.#state.nextTypingExpiry(conversationId, now);
    if (expiry === undefined) return;
    this.#typingTimer = setTimeout(() => this.#refreshTyping(), expiry - now);
    this.#typingTimer.unref();
  }

  #show(event: ClientEvent): void {
    const colors = this.#colors;
    const change = this.#state.apply(event, this.#now());
    if (change !== undefined) return this.#showChange(change);
    switch (event.kind) {
      case "status":
        return this.#print(formatStatus(event.status, colors));
      case "read-receipt":
        if (event.receipt.userId === this.#self) return;
        return this.#print(colors.dim(`[${this.#conversations.label(event.receipt.conversationId)}] ${event.receipt.userId} has read up to ${event.receipt.seq}`));
      case "delivery-receipt":
        // RCPT-3: told to the sender of the messages it covers.
        return this.#print(colors.dim(`[${this.#conversations.label(event.receipt.conversationId)}] ${event.receipt.userId} has up to ${event.receipt.seq}`));
      case "left":
        return this.#print(colors.dim(`[${this.#conversations.label(event.conversationId)}] you left`));
      case "sent":
        this.#unanswered.delete(event.clientMessageId);
        return;
      case "done":
        this.#unanswered.delete(event.operationId);
        return;
      case "failed": {
        // Opens, marks and settings are reported by the command that awaits them; these by no one.
        const what = this.#unanswered.get(event.operationId);
        if (what === undefined) return;
        this.#unanswered.delete(event.operationId);
        return this.#print(colors.red(`! ${what}: ${failureText(event.code, event.message)}`));
      }
      default:
        return;
    }
  }

  #showChange(change: NonNullable<ReturnType<ChatState["apply"]>>): void {
    const colors = this.#colors;
    switch (change.kind) {
      case "message":
      case "updated": {
        const line = messageLine(this.#state.log(change.conversationId), change.seq, this.#conversations.label(change.conversationId), this.#self, colors);
        if (line !== undefined) this.#print(line);
        return;
      }
      case "notice":
        return this.#print(formatNotice(change.event, this.#conversations.label(change.conversationId), this.#self, colors));
      case "hidden":
        return this.#print(colors.dim(`#${change.seq} [${this.#conversations.label(change.conversationId)}] deleted for you`));
      case "typing":
        if (change.conversationId === this.#openId) this.#refreshTyping();
        return;
      case "presence": {
        const presence = this.#state.presence(change.userId);
        if (presence !== undefined) this.#print(colors.dim(`-- ${formatPresence(change.userId, presence, this.#now())}`));
        return;
      }
    }
  }
}

