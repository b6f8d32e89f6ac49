import type { UserEvent } from "../../gen/imwire/v1/delivery_pb.js";
import type { ConversationEvent, SendAck } from "../../gen/imwire/v1/message_pb.js";
import { encodeConversationEvent } from "../../gen/imwire/v1/message_fast.js";
import type { Foul } from "./referee.js";

/**
 * What one test has seen across all its connections, checked for the rules
 * that tie them together: every member sees the same event at the same seq,
 * byte for byte (SEQ-1, MSG-7), or its tombstone once it is redacted (ACT-4);
 * a send_ack names the event that holds its message or action (MSG-1, ACT-1,
 * IDEM-2); message ids are unique (MSG-1); a thread page's replies are
 * replies of its root, whichever form they were seen in (THR-2, THR-4); and a user's
 * stream is one sequence, so every device of the user finds the same entry at
 * the same cursor (CUR-1, CUR-2).
 */
export class Ledger {
  readonly fouls: Foul[] = [];
  /** `conversation#seq` → the event's encoding, where it was first seen (in this form), its message_id ("" for none), and whether it is or may become a tombstone. */
  readonly #events = new Map<string, { readonly bytes: string; readonly where: string; readonly messageId: string; readonly tombstone: boolean; readonly redactable: boolean }>();
  /** message_id → `conversation#seq`. */
  readonly #messageIds = new Map<string, string>();
  /** `conversation#seq` → the send_ack that named it. */
  readonly #acks = new Map<string, SendAck>();
  /**
   * `conversation#seq` → the ids of the message or action event there
   * (a tombstone keeps only the message_id: ACT-4), or undefined for another
   * kind of event.
   */
  readonly #messages = new Map<string, { readonly messageId: string; readonly clientMessageId: string | undefined } | undefined>();
  /** `conversation#seq` → the thread_root_seq of the message there (0 for none: THR-1). */
  readonly #threads = new Map<string, bigint>();
  /** `conversation#seq` → the thread a thread page placed the event in, and where (THR-2). */
  readonly #placed = new Map<string, { readonly root: bigint; readonly where: string }>();
  /** `user epoch cursor` → what the entry is, and where it was first seen. */
  readonly #entries = new Map<string, { readonly what: string; readonly where: string }>();

  /** A conversation event, pushed whole or in a page, seen by `where`. */
  event(event: ConversationEvent, where: string): void {
    const key = `${event.conversationId}#${event.seq}`;
    const bytes = Buffer.from(encodeConversationEvent(event)).toString("hex");
    const seen = this.#events.get(key);
    const message = idsOf(event);
    const form = { bytes, where, messageId: message?.messageId ?? "", tombstone: event.body.case === "redacted", redactable: redactable(event) };
    if (seen === undefined) this.#events.set(key, form);
    else if (seen.bytes !== bytes) {
      // ACT-4, SEQ-2: a redaction turns a message or an edit into a tombstone at the same seq, with the same message_id.
      const redacted = seen.tombstone !== form.tombstone && seen.messageId === form.messageId && form.messageId !== "" && (form.tombstone ? seen.redactable : form.redactable);
      if (!redacted) this.#foul("SEQ-1", `${key} differs between ${seen.where} and ${where}: every member sees the same event at the same seq (MSG-7: byte for byte; ACT-4: or its tombstone)`);
      else if (form.tombstone) this.#events.set(key, form);
    }
    if (event.body.case === "message" && !this.#threads.has(key)) {
      this.#threads.set(key, event.body.value.threadRootSeq);
      const placed = this.#placed.get(key);
      if (placed) this.#inThread(key, placed.root, placed.where, where);
    }
    if (this.#messages.has(key)) return;
    this.#messages.set(key, message);
    if (message) this.#messageId(message.messageId, key);
    const ack = this.#acks.get(key);
    if (ack) this.#matches(ack, key);
  }

  /**
   * An event a page of the thread rooted at `root` holds as one of its
   * replies (THR-2): the message there, in whatever form the test's
   * connections saw it, is a reply of that root (a tombstone says nothing of
   * its thread; the message it was does: THR-4).
   */
  threadReply(event: ConversationEvent, root: bigint, where: string): void {
    const key = `${event.conversationId}#${event.seq}`;
    if (!this.#placed.has(key)) this.#placed.set(key, { root, where });
    if (this.#threads.has(key)) this.#inThread(key, root, where, this.#events.get(key)?.where ?? where);
  }

  #inThread(key: string, root: bigint, placedBy: string, seenBy: string): void {
    const actual = this.#threads.get(key)!;
    if (actual !== root) this.#foul("THR-2", `${placedBy} places ${key} in the thread of #${root}, yet ${seenBy} saw it as a message with thread_root_seq ${actual}: a thread page holds the root and its replies only`);
  }

  /** A send_ack (the sender's device and key scope it: IDEM-2). */
  ack(ack: SendAck): void {
    const key = `${ack.conversationId}#${ack.seq}`;
    const earlier = this.#acks.get(key);
    if (earlier && (earlier.messageId !== ack.messageId || earlier.clientMessageId !== ack.clientMessageId)) {
      this.#foul("MSG-1", `two send_acks for ${key}: ${earlier.messageId}/${earlier.clientMessageId} and ${ack.messageId}/${ack.clientMessageId}`);
    }
    this.#acks.set(key, ack);
    this.#messageId(ack.messageId, key);
    if (this.#messages.has(key)) this.#matches(ack, key);
  }

  /** An entry of `userId`'s stream in `epoch`, pushed or paged to `where`. */
  entry(userId: string, epoch: string, entry: UserEvent, where: string): void {
    if (entry.body.case === "event") this.event(entry.body.value, where);
    const key = `${userId} ${epoch} ${entry.cursor}`;
    const what = describeEntry(entry);
    const seen = this.#entries.get(key);
    if (seen === undefined) this.#entries.set(key, { what, where });
    else if (seen.what !== what) this.#foul("CUR-2", `${userId}'s cursor ${entry.cursor} is ${seen.what} for ${seen.where} but ${what} for ${where}: a user's stream is one sequence`);
  }

  /** MSG-1: a message_id names one message. */
  #messageId(messageId: string, key: string): void {
    const other = this.#messageIds.get(messageId);
    if (other === undefined) this.#messageIds.set(messageId, key);
    else if (other !== key) this.#foul("MSG-1", `message_id ${messageId} names both ${other} and ${key}`);
  }

  /** The event at a send_ack's seq is the message it acknowledged. */
  #matches(ack: SendAck, key: string): void {
    const message = this.#messages.get(key);
    if (message === undefined) this.#foul("MSG-1", `send_ack named ${key}, which is not a message or action event`);
    else if (ack.messageId !== message.messageId || (message.clientMessageId !== undefined && ack.clientMessageId !== message.clientMessageId)) {
      this.#foul("MSG-1", `send_ack for ${key} says ${ack.messageId}/${ack.clientMessageId}; the event holds ${message.messageId}/${message.clientMessageId ?? "(redacted)"}`);
    }
  }

  #foul(requirement: string, message: string): void {
    if (!this.fouls.some((f) => f.message === message)) this.fouls.push({ requirement, message });
  }
}

/** The ids an event carries: a message's or an action's (ACT-1), or a tombstone's message_id (ACT-4). */
function idsOf(event: ConversationEvent): { readonly messageId: string; readonly clientMessageId: string | undefined } | undefined {
  const body = event.body;
  if (body.case === "message" || body.case === "action") return { messageId: body.value.messageId, clientMessageId: body.value.clientMessageId };
  if (body.case === "redacted") return { messageId: body.value.messageId, clientMessageId: undefined };
  return undefined;
}

/** What a redaction may turn into a tombstone: a message, or an edit (ACT-4). */
function redactable(event: ConversationEvent): boolean {
  return event.body.case === "message" || (event.body.case === "action" && event.body.value.action.case === "edit");
}

/** What a stream entry stands for, whatever form it takes for one device (whole or notify: RECV-2). */
function describeEntry(entry: UserEvent): string {
  const body = entry.body;
  switch (body.case) {
    case "event":
    case "notify":
      return `an entry for ${body.value.conversationId}#${body.value.seq}`;
    case "joined":
      return `joined ${body.value.conversation?.conversationId}`;
    case "left":
      return `left ${body.value.conversationId} at ${body.value.lastVisibleSeq}`;
    case "receiveSettings":
      return `receive_settings ${body.value.conversationId || "(account)"}=${body.value.mode}`;
    case "readMarker":
      return `read_marker ${body.value.conversationId}${body.value.threadRootSeq !== 0n ? ` thread #${body.value.threadRootSeq}` : ""}@${body.value.seq}`;
    case "readReceipt":
      return `read_receipt ${body.value.conversationId} ${body.value.userId}@${body.value.seq}`;
    default:
      return "an entry of a later version";
  }
}
