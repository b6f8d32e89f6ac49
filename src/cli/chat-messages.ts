import type { Receipts } from "../gen/imwire/v1/delivery_pb.js";
import type { ConversationEvent } from "../gen/imwire/v1/message_pb.js";
import { MessageView, type MessageState } from "../view/message-view.js";
import type { ConversationLog } from "./chat-state.js";
import { contentText, formatNotice, plainColors, senderName, type Colors } from "./chat-view.js";

/**
 * Messages as the chat shows them, from MessageView's state (ACT-7): pure,
 * state to lines. A line starts with the message's seq ("#12"), the number
 * the /edit, /delete, /react, /reply and /thread commands take.
 */

export interface MessageLine {
  readonly message: MessageState;
  /** The conversation's label, shown as "[bob]" unless the line is indented under its thread's root. */
  readonly label: string;
  readonly self: string;
  /** THR-1: the root of the thread the message replies in. */
  readonly rootSeq?: number;
  /** Shown under its root (in a conversation or thread view): indented, no label, no root number. */
  readonly indented?: boolean;
  /** A root's reply count, when known. */
  readonly replies?: number;
}

/** "#12 [bob] alice: hi (edited)  👍 2  ❤ 1"; "#14 [bob] ↳#12 carol: sure" for a reply; "message deleted" once redacted. */
export function formatMessage(line: MessageLine, colors: Colors = plainColors): string {
  const message = line.message;
  const seq = colors.dim(`#${message.seq}`);
  const head = line.indented ? `    ${seq} ${colors.dim("↳")}` : `${seq} ${colors.cyan(`[${line.label}]`)}${line.rootSeq === undefined ? "" : ` ${colors.dim(`↳#${line.rootSeq}`)}`}`;
  const body = message.redacted ? colors.dim("message deleted") : `${contentText(message.content?.kind)}${message.edits.length > 0 ? ` ${colors.dim("(edited)")}` : ""}`;
  const replies = line.replies ? `  ${colors.dim(`[${line.replies} ${line.replies === 1 ? "reply" : "replies"}]`)}` : "";
  return `${head} ${senderName(message.senderUserId, line.self, colors)}: ${body}${formatReactions(message.reactions, colors)}${replies}`;
}

/** ACT-5 aggregated: "  👍 2  ❤ 1", in the order the emoji were first used; "" without reactions. */
export function formatReactions(reactions: ReadonlyMap<string, ReadonlySet<string>>, colors: Colors = plainColors): string {
  return [...reactions].map(([emoji, users]) => `  ${emoji} ${colors.dim(String(users.size))}`).join("");
}

/** The line for the message at `seq` as the log holds it, tagged with its root if a reply; undefined if not held or hidden. */
export function messageLine(log: ConversationLog, seq: number, label: string, self: string, colors: Colors = plainColors): string | undefined {
  const message = log.view.message(seq);
  if (message === undefined || log.isHidden(seq)) return undefined;
  return formatMessage({ message, label, self, rootSeq: log.rootOf(seq), replies: log.replies(seq).length }, colors);
}

/**
 * A conversation's last `limit` entries (messages and membership changes),
 * each root with its replies indented under it. Hidden events (HID-2) are
 * left out; a reply whose root is not shown stands alone, tagged with it.
 */
export function renderConversation(log: ConversationLog, options: { readonly label: string; readonly self: string; readonly limit: number }, colors: Colors = plainColors): string[] {
  const { label, self } = options;
  const shown = (seq: number) => log.view.message(seq) !== undefined && !log.isHidden(seq);
  const standsAlone = (message: MessageState) => {
    const root = log.rootOf(message.seq);
    return root === undefined || !shown(root);
  };
  type Entry = { readonly seq: number; readonly lines: () => string[] };
  const messages: Entry[] = log.view
    .messages()
    .filter((message) => !log.isHidden(message.seq) && standsAlone(message))
    .map((message) => ({
      seq: message.seq,
      lines: () => {
        const replies = log.replies(message.seq);
        const root = log.rootOf(message.seq);
        const own = formatMessage({ message, label, self, rootSeq: root, replies: replies.length }, colors);
        return [own, ...replies.map((seq) => formatMessage({ message: log.view.message(seq)!, label, self, rootSeq: message.seq, indented: true }, colors))];
      },
    }));
  const notices: Entry[] = log.notices().map((event) => ({ seq: Number(event.seq), lines: () => [formatNotice(event, label, self, colors)] }));
  const entries = [...messages, ...notices].sort((a, b) => a.seq - b.seq);
  if (entries.length === 0) return [colors.dim(`[${label}] no messages yet`)];
  const kept = entries.slice(-options.limit);
  const skipped = entries.length - kept.length;
  const header = skipped > 0 ? [colors.dim(`[${label}] … ${skipped} earlier not shown`)] : [];
  return [...header, ...kept.flatMap((entry) => entry.lines())];
}

/**
 * THR-2: a thread as the server listed it (`page`: the root and its
 * replies), each shown as this device's view has it when it holds it
 * (edits and reactions applied: a thread page carries no actions), else as
 * the page has it. `hidden` are the page's hidden_seqs (HID-3).
 */
export function renderThread(rootSeq: number, page: readonly ConversationEvent[], hidden: readonly bigint[], log: ConversationLog, label: string, self: string, colors: Colors = plainColors): string[] {
  const fromPage = new MessageView();
  for (const event of page) fromPage.apply(event);
  const isHidden = (seq: number) => log.isHidden(seq) || hidden.includes(BigInt(seq));
  const state = (seq: number) => log.view.message(seq) ?? fromPage.message(seq);
  const replies = page.map((event) => Number(event.seq)).filter((seq) => seq !== rootSeq && !isHidden(seq) && state(seq) !== undefined);
  const root = state(rootSeq);
  const head =
    root === undefined || isHidden(rootSeq)
      ? colors.dim(`#${rootSeq} [${label}] (thread root not shown)`)
      : formatMessage({ message: root, label, self, replies: replies.length }, colors);
  const lines = replies.map((seq) => formatMessage({ message: state(seq)!, label, self, rootSeq, indented: true }, colors));
  return [head, ...(lines.length > 0 ? lines : [colors.dim("    no replies yet")])];
}

/** RCPT-4, RCPT-5: a receipts answer as lines: the counts, then each listed member's state for that seq. */
export function renderReceipts(receipts: Receipts): string[] {
  const seq = receipts.seq;
  const lines = [`#${seq}: delivered to ${receipts.deliveredCount} of ${receipts.eligibleCount}, read by ${receipts.readCount}`];
  if (!receipts.membersListed) return lines;
  for (const member of receipts.members) {
    const state = member.readSeq >= seq ? "read" : member.deliveredSeq >= seq ? "delivered" : "not yet delivered";
    lines.push(`  ${member.userId}: ${state}`);
  }
  return lines;
}
