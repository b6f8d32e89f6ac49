import picocolors from "picocolors";
import type { MessageContent } from "../gen/imwire/v1/content_pb.js";
import { ConversationKind, HistoryVisibility } from "../gen/imwire/v1/conversation_pb.js";
import type { ConversationEvent } from "../gen/imwire/v1/message_pb.js";
import type { ConversationView } from "../machines/client/conversation-state.js";
import type { Presence } from "./chat-state.js";
import { membershipActionName } from "./event-record.js";

/**
 * The chat screen's logic as pure functions: how each thing that happens is
 * shown (chat-messages.ts shows messages, chat-commands.ts parses lines). The readline wiring lives in
 * chat-command.ts; tests call these directly.
 */

export type Colors = ReturnType<typeof picocolors.createColors>;

export const plainColors: Colors = picocolors.createColors(false);

export { chatCommandsHelp, parseChatLine, type ChatCommand } from "./chat-commands.js";

/** What a conversation's name is made of: the machine's view has it, and so does a conversation_opened answer. */
export type LabelSource = Pick<ConversationView, "kind" | "title" | "members">;

/** A conversation's short name: the other member of a one-to-one, a group's title, else its id. */
export function conversationLabel(view: LabelSource | undefined, conversationId: string, self: string): string {
  if (view === undefined) return conversationId;
  if (view.kind === ConversationKind.DIRECT) return view.members.find((member) => member !== self) ?? conversationId;
  return view.title !== "" ? view.title : conversationId;
}

/** Which conversation "/open NAME" means: an id, a one-to-one peer or a title; undefined when none (then NAME is a user to open with). */
export function findConversation(views: ReadonlyMap<string, ConversationView>, target: string, self: string): ConversationView | undefined {
  const byId = views.get(target);
  if (byId !== undefined) return byId;
  const named = [...views.values()].filter((view) => view.kind !== ConversationKind.DIRECT && view.title === target);
  if (named.length === 1) return named[0];
  return [...views.values()].find((view) => view.kind === ConversationKind.DIRECT && conversationLabel(view, view.conversationId, self) === target);
}

/** Events after the read marker (READ-1): what the user has not marked read. */
export function unreadCount(view: ConversationView): bigint {
  return view.held > view.readSeq ? view.held - view.readSeq : 0n;
}

/** "[bob] alice: hello" for a message; membership changes dimmed. */
export function formatEvent(event: ConversationEvent, label: string, self: string, colors: Colors = plainColors): string {
  const tag = colors.cyan(`[${label}]`);
  const body = event.body;
  if (body.case === "membership") {
    const title = body.value.title !== "" ? ` "${body.value.title}"` : "";
    return colors.dim(`[${label}] * ${event.senderUserId || "server"} ${membershipActionName(body.value.action)}${title}: ${body.value.userIds.join(", ")}`);
  }
  if (body.case === "historyVisibility") {
    return colors.dim(`[${label}] * ${event.senderUserId || "server"} let new members read ${historyText(body.value.visibility, body.value.historyEvents)}`);
  }
  if (body.case !== "message") return colors.dim(`[${label}] (an event this client cannot show, seq ${event.seq})`);
  return `${tag} ${senderName(event.senderUserId, self, colors)}: ${contentText(body.value.content?.kind)}`;
}

/** HIS-1: what new members of a group may read. */
export function historyText(visibility: HistoryVisibility, events: number): string {
  if (visibility === HistoryVisibility.FULL) return "the whole history";
  if (visibility === HistoryVisibility.LAST_EVENTS) return `the last ${events} events before they join`;
  return "only from when they join";
}

/** "#7 [team] * alice added: carol": a membership change (or an event this client cannot show) with its seq, which /hide takes. */
export function formatNotice(event: ConversationEvent, label: string, self: string, colors: Colors = plainColors): string {
  return `${colors.dim(`#${event.seq}`)} ${formatEvent(event, label, self, colors)}`;
}

/** The user's own name in green, others' in bold yellow. */
export function senderName(userId: string, self: string, colors: Colors = plainColors): string {
  return userId === self ? colors.green(userId) : colors.bold(colors.yellow(userId));
}

export function contentText(kind: MessageContent["kind"] | undefined): string {
  switch (kind?.case) {
    case "text":
      return kind.value.text;
    case "image":
    case "video":
      return `(${kind.case}${kind.value.caption !== "" ? `: ${kind.value.caption}` : ""})`;
    case "file":
      return `(file ${kind.value.fileName})`;
    case "voice":
      return "(voice message)";
    case "sticker":
      return `(sticker ${kind.value.emoji})`;
    case "encrypted":
      return `(encrypted, ${kind.value.scheme})`;
    default:
      return "(empty)";
  }
}

/** A connection status line, for any status name (the machine's names may grow: SPEC.md §5.1). */
export function formatStatus(status: string, colors: Colors = plainColors): string {
  const text = `-- ${status}`;
  if (status === "ready") return colors.green(text);
  if (status === "offline" || status === "replaced" || status === "unauthenticated" || status === "stopped") return colors.red(text);
  return colors.dim(text);
}

/** /list: one line per conversation, the open one marked. */
export function formatConversationList(views: ReadonlyMap<string, ConversationView>, openId: string | undefined, self: string, colors: Colors = plainColors): string[] {
  if (views.size === 0) return [colors.dim("no conversations yet: /open USER to start one")];
  const rows = [...views.values()].map((view) => {
    const kind = view.kind === ConversationKind.DIRECT ? "direct" : view.kind === ConversationKind.GROUP ? "group" : view.kind === ConversationKind.CHANNEL ? "channel" : "conversation";
    const who = view.kind === ConversationKind.DIRECT ? conversationLabel(view, view.conversationId, self) : `${view.title !== "" ? `"${view.title}" ` : ""}${view.members.join(", ")}`;
    const unread = unreadCount(view);
    const marker = view.conversationId === openId ? "*" : " ";
    const unreadText = unread > 0n ? colors.bold(`${unread} unread`) : "0 unread";
    return `${marker} ${view.conversationId}  ${kind}  ${who}  ${unreadText}`;
  });
  return rows;
}

/** The prompt: the open conversation's label, after who is typing there. */
export function promptFor(label: string | undefined, colors: Colors = plainColors, typing?: string): string {
  const prompt = label === undefined ? "> " : `${colors.cyan(label)}> `;
  return typing === undefined ? prompt : `${colors.dim(`(${typing})`)} ${prompt}`;
}

/** EPH-2: "alice is typing…", "alice and bob are typing…"; undefined when no one is. */
export function formatTyping(users: readonly string[]): string | undefined {
  if (users.length === 0) return undefined;
  if (users.length === 1) return `${users[0]} is typing…`;
  if (users.length <= 3) return `${users.slice(0, -1).join(", ")} and ${users.at(-1)} are typing…`;
  return `${users.length} people are typing…`;
}

/** EPH-4, EPH-5: "bob is online", "bob was last seen 5 min ago" (relative to `nowMs`), "bob is offline" when the time is not shared. */
export function formatPresence(userId: string, presence: Presence, nowMs: number): string {
  if (presence.online) return `${userId} is online`;
  if (presence.lastSeenMs <= 0) return `${userId} is offline`;
  return `${userId} was last seen ${timeAgo(Math.max(0, nowMs - presence.lastSeenMs))}`;
}

function timeAgo(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 1) return "just now";
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  const days = Math.floor(hours / 24);
  return `${days} day${days === 1 ? "" : "s"} ago`;
}
