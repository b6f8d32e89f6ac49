import type { ConversationEvent } from "../gen/imwire/v1/message_pb.js";
import type { ClientEvent } from "../machines/client/types.js";
import { MessageView } from "../view/message-view.js";

/**
 * What the chat screen knows, built from the client machine's events alone:
 * each conversation's messages as MessageView derives them (ACT-7), which
 * thread each reply belongs to (THR-1), what the user hid (HID-2), who is
 * typing (EPH-2) and contacts' presence (EPH-4). No I/O: chat-view.ts renders
 * it, chat-command.ts feeds it.
 */

export class ConversationLog {
  readonly view = new MessageView();
  /** Reply seq → its thread's root seq (THR-1). */
  readonly #rootOf = new Map<number, number>();
  /** HID-2, HID-3: seqs the user hid, shown no more. */
  readonly #hidden = new Set<number>();
  /** Membership changes and kinds this client cannot show, by seq: the events that are not messages or actions. */
  readonly #notices = new Map<number, ConversationEvent>();

  apply(event: ConversationEvent): boolean {
    if (!this.view.apply(event)) return false;
    const seq = Number(event.seq);
    const body = event.body;
    if (body.case === "message" && body.value.threadRootSeq > 0n) this.#rootOf.set(seq, Number(body.value.threadRootSeq));
    if (body.case !== "message" && body.case !== "action" && body.case !== "redacted") this.#notices.set(seq, event);
    return true;
  }

  hide(seq: number): void {
    this.#hidden.add(seq);
  }

  isHidden(seq: number): boolean {
    return this.#hidden.has(seq);
  }

  /** The root of the thread a reply is in; undefined for a message outside threads. */
  rootOf(seq: number): number | undefined {
    return this.#rootOf.get(seq);
  }

  /** The replies of a thread this device holds, in seq order, hidden ones left out. */
  replies(rootSeq: number): number[] {
    return [...this.#rootOf].filter(([seq, root]) => root === rootSeq && !this.#hidden.has(seq)).map(([seq]) => seq).sort((a, b) => a - b);
  }

  notices(): ConversationEvent[] {
    return [...this.#notices.values()].filter((event) => !this.#hidden.has(Number(event.seq)));
  }
}

export interface Presence {
  readonly online: boolean;
  /** Server time the user was last seen; 0 when it hides its presence (EPH-5) or it never was. */
  readonly lastSeenMs: number;
}

/** What an event changed, for the screen to show. */
export type ChatChange =
  /** A message (or its tombstone) new at `seq`. */
  | { readonly kind: "message"; readonly conversationId: string; readonly seq: number }
  /** An edit, redaction or reaction changed the message at `seq`. */
  | { readonly kind: "updated"; readonly conversationId: string; readonly seq: number }
  /** A membership change, or an event of a kind this client cannot show. */
  | { readonly kind: "notice"; readonly conversationId: string; readonly event: ConversationEvent }
  | { readonly kind: "hidden"; readonly conversationId: string; readonly seq: number }
  | { readonly kind: "typing"; readonly conversationId: string }
  | { readonly kind: "presence"; readonly userId: string };

export class ChatState {
  readonly #logs = new Map<string, ConversationLog>();
  /** Conversation → typing user → when its indicator expires (EPH-2). */
  readonly #typing = new Map<string, Map<string, number>>();
  readonly #presence = new Map<string, Presence>();

  log(conversationId: string): ConversationLog {
    let log = this.#logs.get(conversationId);
    if (log === undefined) this.#logs.set(conversationId, (log = new ConversationLog()));
    return log;
  }

  /** Apply what the machine reported at time `now`; undefined when nothing shown changed. */
  apply(event: ClientEvent, now: number): ChatChange | undefined {
    switch (event.kind) {
      case "event":
        return this.#applyEvent(event.conversationId, event.event);
      case "hidden": {
        const log = this.log(event.conversationId);
        const seq = Number(event.seq);
        if (log.isHidden(seq)) return undefined;
        log.hide(seq);
        return { kind: "hidden", conversationId: event.conversationId, seq };
      }
      case "typing":
        this.#setTyping(event.conversationId, event.userId, event.typing ? now + event.expiresInMs : undefined);
        return { kind: "typing", conversationId: event.conversationId };
      case "presence":
        this.#presence.set(event.userId, { online: event.online, lastSeenMs: Number(event.lastSeenMs) });
        return { kind: "presence", userId: event.userId };
      default:
        return undefined;
    }
  }

  #applyEvent(conversationId: string, event: ConversationEvent): ChatChange | undefined {
    const log = this.log(conversationId);
    if (!log.apply(event)) return undefined;
    const seq = Number(event.seq);
    const body = event.body;
    if (body.case === "action") {
      const target = Number(body.value.targetSeq);
      // An action on a message this device never held (before its first visible seq) changes nothing shown.
      return log.view.message(target) === undefined ? undefined : { kind: "updated", conversationId, seq: target };
    }
    // A tombstone of an edit belongs to its message, already shown as deleted.
    if (body.case === "redacted" && body.value.editOf > 0n) return undefined;
    if (body.case === "message" || body.case === "redacted") return { kind: "message", conversationId, seq };
    return { kind: "notice", conversationId, event };
  }

  #setTyping(conversationId: string, userId: string, expiresAt: number | undefined): void {
    const typers = this.#typing.get(conversationId) ?? new Map<string, number>();
    if (expiresAt === undefined) typers.delete(userId);
    else typers.set(userId, expiresAt);
    this.#typing.set(conversationId, typers);
  }

  /** EPH-2: who is typing in a conversation at `now`, in the order they started. */
  typing(conversationId: string, now: number): string[] {
    return [...(this.#typing.get(conversationId) ?? [])].filter(([, expiresAt]) => expiresAt > now).map(([userId]) => userId);
  }

  /** When the next typing indicator of a conversation expires: the time to look again. */
  nextTypingExpiry(conversationId: string, now: number): number | undefined {
    const times = [...(this.#typing.get(conversationId)?.values() ?? [])].filter((t) => t > now);
    return times.length === 0 ? undefined : Math.min(...times);
  }

  /** EPH-5: while the user hides its presence no one's is sent to it, so none shown is current any more. */
  forgetPresence(): void {
    this.#presence.clear();
  }

  presence(userId: string): Presence | undefined {
    return this.#presence.get(userId);
  }
}
