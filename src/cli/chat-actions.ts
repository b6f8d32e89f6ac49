import { HistoryVisibility } from "../gen/imwire/v1/conversation_pb.js";
import type { ConversationEvent } from "../gen/imwire/v1/message_pb.js";
import type { ChatCommand, HistorySetting } from "./chat-commands.js";
import { renderReceipts, renderThread } from "./chat-messages.js";
import type { ChatState } from "./chat-state.js";
import { historyText, type Colors } from "./chat-view.js";
import { CliError } from "./io.js";
import type { ClientSession } from "./client-session.js";

/**
 * The chat's protocol 1.1 commands: message actions (ACT-1), threads
 * (THR-1, THR-2), delete for me (HID-1), history visibility (HIS-2) and
 * presence sharing (EPH-5), carried out on the client machine. A refusal is
 * shown by its error code name (failureText), never as a stack trace: the
 * ones awaited here throw a CliError, the others are reported by the chat
 * when their "failed" event comes (`track`).
 */

export interface ChatContext {
  readonly session: ClientSession;
  readonly state: ChatState;
  readonly colors: Colors;
  readonly self: string;
  print(line: string): void;
  /** The open conversation's id; a CliError when none is open. */
  openConversation(): string;
  label(conversationId: string): string;
  /** Report the operation's refusal, when it comes, as `what`. */
  track(operationId: string, what: string): void;
}

export type MessageCommand = Extract<ChatCommand, { kind: "edit" | "delete" | "hide" | "react" | "reply" | "thread" | "history" | "invisible" | "receipts" }>;

/** Threads longer than this many pages are cut short rather than read for ever. */
const MAX_THREAD_PAGES = 50;

export async function runMessageCommand(ctx: ChatContext, command: MessageCommand): Promise<void> {
  const runner = ctx.session.runner;
  switch (command.kind) {
    case "edit": {
      const conversationId = ctx.openConversation();
      const id = runner.act((machine, now) => machine.act(conversationId, command.seq, { case: "edit", value: { kind: { case: "text", value: { text: command.text } } } }, now));
      return ctx.track(id, `/edit #${command.seq}`);
    }
    case "delete": {
      const conversationId = ctx.openConversation();
      const id = runner.act((machine, now) => machine.act(conversationId, command.seq, { case: "redact", value: {} }, now));
      return ctx.track(id, `/delete #${command.seq}`);
    }
    case "react": {
      const conversationId = ctx.openConversation();
      const id = runner.act((machine, now) => machine.act(conversationId, command.seq, { case: "react", value: { emoji: command.emoji, remove: command.remove } }, now));
      return ctx.track(id, `/${command.remove ? "unreact" : "react"} #${command.seq}`);
    }
    case "hide": {
      const conversationId = ctx.openConversation();
      const id = runner.act((machine, now) => machine.hideMessage(conversationId, command.seq, now));
      return ctx.track(id, `/hide #${command.seq}`);
    }
    case "reply": {
      const conversationId = ctx.openConversation();
      const id = runner.act((machine, now) => machine.send(conversationId, { kind: { case: "text", value: { text: command.text } } }, now, { threadRootSeq: command.rootSeq }));
      return ctx.track(id, `/reply #${command.rootSeq}`);
    }
    case "thread":
      return showThread(ctx, command.rootSeq);
    case "history":
      return setHistory(ctx, command.setting);
    case "invisible":
      return setInvisible(ctx, command.hidden);
    case "receipts":
      return showReceipts(ctx, command.seq);
  }
}

async function answer(ctx: ChatContext, operationId: string, what: string) {
  return Promise.race([ctx.session.answer(operationId, what), ctx.session.ended]);
}

/** THR-2: every page of the thread, then the thread as this device shows it. */
async function showThread(ctx: ChatContext, rootSeq: bigint): Promise<void> {
  const conversationId = ctx.openConversation();
  const events: ConversationEvent[] = [];
  const hidden: bigint[] = [];
  let afterSeq = 0n;
  for (let pages = 0; pages < MAX_THREAD_PAGES; pages++) {
    const operation = ctx.session.runner.act((machine, now) => machine.fetchThread(conversationId, rootSeq, now, { afterSeq }));
    const done = await answer(ctx, operation, `/thread #${rootSeq}`);
    if (done.answer.case !== "conversationPage") throw new CliError(`/thread #${rootSeq}: the server answered ${done.answer.case ?? "nothing"}`);
    const page = done.answer.value;
    events.push(...page.events);
    hidden.push(...page.hiddenSeqs);
    const last = page.events.at(-1)?.seq;
    if (!page.hasMore || last === undefined || last <= afterSeq) break;
    afterSeq = last;
  }
  const label = ctx.label(conversationId);
  for (const line of renderThread(Number(rootSeq), events, hidden, ctx.state.log(conversationId), label, ctx.self, ctx.colors)) ctx.print(line);
}

const visibilityOf: Record<HistorySetting["kind"], HistoryVisibility> = {
  "from-join": HistoryVisibility.FROM_JOIN,
  last: HistoryVisibility.LAST_EVENTS,
  full: HistoryVisibility.FULL,
};

/** HIS-2: owners only; the server's refusal (PERMISSION_DENIED, INVALID_ARGUMENT for a direct conversation) is shown as it names it. */
async function setHistory(ctx: ChatContext, setting: HistorySetting): Promise<void> {
  const conversationId = ctx.openConversation();
  const events = setting.kind === "last" ? setting.events : 0;
  const operation = ctx.session.runner.act((machine, now) => machine.setHistoryVisibility(conversationId, visibilityOf[setting.kind], now, events));
  await answer(ctx, operation, "/history");
  ctx.print(ctx.colors.dim(`[${ctx.label(conversationId)}] new members now read ${historyText(visibilityOf[setting.kind], events)}`));
}

/** RCPT-4, RCPT-5: each other member's state in small conversations, the counts always. */
async function showReceipts(ctx: ChatContext, seq: bigint): Promise<void> {
  const conversationId = ctx.openConversation();
  const operation = ctx.session.runner.act((machine, now) => machine.listReceipts(conversationId, seq, now));
  const done = await answer(ctx, operation, `/receipts #${seq}`);
  if (done.answer.case !== "receipts") throw new CliError(`/receipts #${seq}: the server answered ${done.answer.case ?? "nothing"}`);
  for (const line of renderReceipts(done.answer.value)) ctx.print(ctx.colors.dim(line));
}

async function setInvisible(ctx: ChatContext, hidden: boolean): Promise<void> {
  const operation = ctx.session.runner.act((machine, now) => machine.setPresenceSharing(hidden, now));
  const done = await answer(ctx, operation, "/invisible");
  const nowHidden = done.answer.case === "presenceSharing" ? done.answer.value.hidden : hidden;
  if (nowHidden) ctx.state.forgetPresence();
  ctx.print(ctx.colors.dim(nowHidden ? "invisible: your contacts see you offline, and you see no one's presence" : "visible: your contacts see when you are online"));
}

/** READ-1: mark the open conversation read up to what this device holds, once this device's marker has moved. */
export async function markRead(ctx: ChatContext): Promise<void> {
  const conversationId = ctx.openConversation();
  const session = ctx.session;
  const seq = session.machine.conversations().get(conversationId)?.held ?? 0n;
  if (seq === 0n) return ctx.print(ctx.colors.dim("nothing to mark read yet"));
  // READ-2: the marker entry, which moves this device's view, may come before or after the answer.
  const markerMoved = session.next((e) => e.kind === "read-marker" && e.marker.conversationId === conversationId && e.marker.seq >= seq);
  markerMoved.catch(() => {});
  const operation = session.runner.act((machine, now) => machine.markRead(conversationId, seq, now));
  await answer(ctx, operation, "/read");
  await Promise.race([markerMoved, session.ended]);
  ctx.print(ctx.colors.dim(`[${ctx.label(conversationId)}] marked read up to ${seq}`));
}
