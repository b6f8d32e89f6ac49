import picocolors from "picocolors";
import type { MessageContent } from "../gen/imwire/v1/content_pb.js";
import { ConversationKind } from "../gen/imwire/v1/conversation_pb.js";
import type { ConversationEvent } from "../gen/imwire/v1/message_pb.js";
import type { ConversationView } from "../machines/client/conversation-state.js";
import { membershipActionName } from "./event-record.js";

/**
 * The chat screen's logic as pure functions: what a typed line means, and
 * how each thing that happens is shown. The readline wiring lives in
 * chat-command.ts; tests call these directly.
 */

export type Colors = ReturnType<typeof picocolors.createColors>;

export const plainColors: Colors = picocolors.createColors(false);

export type ChatCommand =
  | { readonly kind: "say"; readonly text: string }
  | { readonly kind: "open"; readonly target: string }
  | { readonly kind: "group"; readonly title: string; readonly users: readonly string[] }
  | { readonly kind: "list" }
  | { readonly kind: "read" }
  | { readonly kind: "help" }
  | { readonly kind: "quit" }
  | { readonly kind: "nothing" }
  /** A command typed wrongly: show `message`. */
  | { readonly kind: "mistake"; readonly message: string };

export const chatCommandsHelp = `Commands:
  /open USER            talk to USER (the one-to-one conversation, created if needed)
  /open ID|NAME         switch to a conversation by id, peer or group title
  /group TITLE USER...  create a group with these users and switch to it
  /list                 conversations: id, who, unread
  /read                 mark the open conversation read
  /help                 this help
  /quit                 leave (Ctrl-D too)
  anything else         sent to the open conversation ("//text" sends "/text")`;

/** What a line typed at the prompt asks for. */
export function parseChatLine(line: string): ChatCommand {
  const trimmed = line.trim();
  if (trimmed === "") return { kind: "nothing" };
  if (trimmed.startsWith("//")) return { kind: "say", text: trimmed.slice(1) };
  if (!trimmed.startsWith("/")) return { kind: "say", text: trimmed };
  const [word, ...args] = trimmed.slice(1).split(/\s+/);
  switch (word) {
    case "open":
    case "o":
      return args.length === 1 ? { kind: "open", target: args[0]! } : { kind: "mistake", message: "usage: /open USER, or /open CONVERSATION-ID (/group for several users)" };
    case "group":
    case "g":
      return args.length >= 2 ? { kind: "group", title: args[0]!, users: args.slice(1) } : { kind: "mistake", message: "usage: /group TITLE USER... (at least one other user)" };
    case "list":
    case "ls":
    case "l":
      return { kind: "list" };
    case "read":
    case "r":
      return { kind: "read" };
    case "help":
    case "h":
    case "?":
      return { kind: "help" };
    case "quit":
    case "exit":
    case "q":
      return { kind: "quit" };
    default:
      return { kind: "mistake", message: `unknown command /${word}: try /help` };
  }
}

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
  if (body.case !== "message") return colors.dim(`[${label}] (an event this client cannot show, seq ${event.seq})`);
  const sender = event.senderUserId === self ? colors.green(event.senderUserId) : colors.bold(colors.yellow(event.senderUserId));
  return `${tag} ${sender}: ${contentText(body.value.content?.kind)}`;
}

function contentText(kind: MessageContent["kind"] | undefined): string {
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

/** The prompt: the open conversation's label. */
export function promptFor(label: string | undefined, colors: Colors = plainColors): string {
  return label === undefined ? "> " : `${colors.cyan(label)}> `;
}
