import { ConversationKind, type Conversation } from "../gen/imwire/v1/conversation_pb.js";
import { ErrorCode } from "../gen/imwire/v1/error_pb.js";
import { conversationLabel, findConversation, type LabelSource } from "./chat-view.js";
import { failureText, type ClientSession } from "./client-session.js";
import { CliError } from "./io.js";

/**
 * The chat's conversations by name: which one "/open NAME" means, opening
 * or creating it on the server, and what to call each on screen. A
 * conversation just opened is named from the server's answer until the
 * machine's view has it.
 */
export class ChatConversations {
  readonly #session: ClientSession;
  readonly #self: string;
  /** Conversations learnt from answers, before the machine's view has them. */
  readonly #answered = new Map<string, LabelSource>();

  constructor(session: ClientSession, self: string) {
    this.#session = session;
    this.#self = self;
  }

  /** The conversation "/open TARGET" means: a known one by id, peer or title, else the one-to-one with user TARGET, created if needed. */
  async open(target: string): Promise<string> {
    const known = findConversation(this.#session.machine.conversations(), target, this.#self)?.conversationId ?? this.#findAnswered(target);
    if (known !== undefined) return known;
    if (target === this.#self) throw new CliError("that is you: /open another user");
    const operation = this.#session.runner.act((machine, now) => machine.open({ kind: ConversationKind.DIRECT, userIds: [target] }, now));
    return this.#opened(operation, `/open ${target}`, target);
  }

  group(title: string, users: readonly string[]): Promise<string> {
    const operation = this.#session.runner.act((machine, now) => machine.open({ kind: ConversationKind.GROUP, title, userIds: [...users] }, now));
    return this.#opened(operation, `/group ${title}`);
  }

  label(conversationId: string): string {
    return conversationLabel(this.#source(conversationId), conversationId, this.#self);
  }

  /** The other member of a one-to-one conversation; undefined for any other. */
  peer(conversationId: string): string | undefined {
    const source = this.#source(conversationId);
    if (source?.kind !== ConversationKind.DIRECT) return undefined;
    return source.members.find((member) => member !== this.#self);
  }

  #source(conversationId: string): LabelSource | undefined {
    return this.#session.machine.conversations().get(conversationId) ?? this.#answered.get(conversationId);
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
}
