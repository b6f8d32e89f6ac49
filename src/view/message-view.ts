import type { MessageContent } from "../gen/imwire/v1/content_pb.js";
import type { ConversationEvent } from "../gen/imwire/v1/message_pb.js";

/** One message as a device shows it (ACT-7). */
export interface MessageState {
  readonly seq: number;
  readonly messageId: string;
  readonly senderUserId: string;
  /** The current content: the newest edit's, or the message's own; undefined once redacted. */
  readonly content: MessageContent | undefined;
  readonly redacted: boolean;
  /** Seqs of its edits, oldest first (ACT-3: its edit history). */
  readonly edits: readonly number[];
  /** Emoji → the users whose reaction with it is present (ACT-5). */
  readonly reactions: ReadonlyMap<string, ReadonlySet<string>>;
}

interface MutableMessage {
  seq: number;
  messageId: string;
  senderUserId: string;
  content: MessageContent | undefined;
  redacted: boolean;
  edits: number[];
  reactions: Map<string, Set<string>>;
}

/**
 * ACT-7: a conversation as its events, applied in seq order, make it: each
 * message with its current content or redacted, and its reactions. A
 * redaction may reach a device as a `redact` action (it held the message)
 * or as tombstones at the message's and its edits' seqs (it read them
 * afterwards); both give the same view. Events must be applied in seq
 * order (SEQ-3 gives a device exactly that); one applied twice is ignored.
 */
export class MessageView {
  readonly #messages = new Map<number, MutableMessage>();
  #last = 0;

  /** Apply the next event; returns false for one at or behind what was applied. */
  apply(event: ConversationEvent): boolean {
    const seq = Number(event.seq);
    if (seq <= this.#last) return false;
    this.#last = seq;
    const body = event.body;
    switch (body.case) {
      case "message":
        this.#messages.set(seq, { seq, messageId: body.value.messageId, senderUserId: event.senderUserId, content: body.value.content, redacted: false, edits: [], reactions: new Map() });
        break;
      case "redacted": {
        // A tombstone read after the redaction: of an edit (part of its message's history) or of the message.
        const editOf = Number(body.value.editOf);
        if (editOf > 0) this.#messages.get(editOf)?.edits.push(seq);
        else this.#messages.set(seq, { seq, messageId: body.value.messageId, senderUserId: event.senderUserId, content: undefined, redacted: true, edits: [], reactions: new Map() });
        break;
      }
      case "action": {
        const target = this.#messages.get(Number(body.value.targetSeq));
        if (!target) break; // outside what this device may read, or a kind it cannot show
        const action = body.value.action;
        if (action.case === "edit") {
          target.edits.push(seq);
          if (!target.redacted) target.content = action.value;
        } else if (action.case === "redact") {
          target.redacted = true;
          target.content = undefined;
        } else if (action.case === "react") {
          const users = target.reactions.get(action.value.emoji) ?? new Set<string>();
          if (action.value.remove) users.delete(event.senderUserId);
          else users.add(event.senderUserId);
          if (users.size === 0) target.reactions.delete(action.value.emoji);
          else target.reactions.set(action.value.emoji, users);
        }
        break;
      }
    }
    return true;
  }

  /** The messages, in seq order. */
  messages(): MessageState[] {
    return [...this.#messages.values()].sort((a, b) => a.seq - b.seq);
  }

  message(seq: number): MessageState | undefined {
    return this.#messages.get(seq);
  }
}
