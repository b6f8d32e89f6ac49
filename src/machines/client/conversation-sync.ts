import { Feature } from "../../gen/imwire/v1/connection_pb.js";
import type { Conversation } from "../../gen/imwire/v1/conversation_pb.js";
import type { Error as ErrorBody } from "../../gen/imwire/v1/error_pb.js";
import type { ConversationEvent } from "../../gen/imwire/v1/message_pb.js";
import { DeviceState, ReceiveMode } from "../../gen/imwire/v1/settings_pb.js";
import type { ConversationPage } from "../../gen/imwire/v1/sync_pb.js";
import { errorCodeInfo } from "../../errors.js";
import type { ClientContext } from "./context.js";
import { ConversationState, viewOf, type ConversationView } from "./conversation-state.js";
import type { PersistedConversation } from "./persisted-state.js";
import { mayRequest } from "./states.js";

const NEVER = Infinity;

/**
 * The device's conversations (SEQ-3 to SEQ-5, RECV-3): their events go to
 * the application in order and once each, and what is missing is pulled
 * with sync_conversation, after a short wait for reordered frames.
 */
export class ConversationSync {
  readonly #ctx: ClientContext;
  readonly #conversations = new Map<string, ConversationState>();
  /** The user's default receive mode (RECV-1), from snapshots and receive_settings entries. */
  defaultMode = ReceiveMode.UNSPECIFIED;
  /** When the gaps found are pulled (SEQ-3: reordered frames get gapWaitMs to arrive). */
  #gapAt = NEVER;
  /** RCPT-1: conversations whose contiguous position moved since the last acknowledgement took them. */
  readonly #heldMoved = new Set<string>();

  constructor(ctx: ClientContext) {
    this.#ctx = ctx;
  }

  get(conversationId: string): ConversationState | undefined {
    return this.#conversations.get(conversationId);
  }

  views(): Map<string, ConversationView> {
    return new Map([...this.#conversations].map(([id, state]) => [id, viewOf(state)]));
  }

  get anyNeedsPull(): boolean {
    for (const state of this.#conversations.values()) if (state.needsPull) return true;
    return false;
  }

  get nextWakeup(): number {
    return this.#gapAt;
  }

  /** CLI-4: every conversation, as it is to survive a restart. */
  persisted(): PersistedConversation[] {
    return [...this.#conversations.values()].map((state) => state.persisted());
  }

  /** CLI-4: the conversations of a previous run; pulled where events are known to be missing once a connection allows. */
  restore(conversations: readonly PersistedConversation[], defaultMode: ReceiveMode): void {
    this.defaultMode = defaultMode;
    for (const persisted of conversations) this.#conversations.set(persisted.meta.conversationId, new ConversationState(persisted.meta, persisted));
  }

  /** A conversation described by a joined entry or a snapshot page. */
  describe(meta: Conversation): void {
    const existing = this.#conversations.get(meta.conversationId);
    if (!existing) this.#conversations.set(meta.conversationId, new ConversationState(meta));
    else this.#deliver(existing, existing.describe(meta));
    if (this.#conversations.get(meta.conversationId)!.needsPull) this.#scheduleGaps(true);
  }

  /** A complete snapshot listed only `listed`: the others are no longer the user's. */
  keepOnly(listed: ReadonlySet<string>): void {
    for (const id of [...this.#conversations.keys()]) if (!listed.has(id)) this.#conversations.delete(id);
  }

  /** A pushed event (or one from the user stream's pages). */
  pushed(event: ConversationEvent): void {
    const state = this.#conversations.get(event.conversationId);
    if (!state) return;
    this.#deliver(state, this.#ctx.policy.deliverable(state.timeline, event));
    if (state.needsPull) this.#scheduleGaps(false);
  }

  /** RECV-3: a notify-form entry says the conversation reached `seq`. */
  notified(conversationId: string, seq: bigint): void {
    const state = this.#conversations.get(conversationId);
    if (!state) return;
    state.timeline.noteHead(seq);
    if (this.#ctx.options.pullOnNotify && this.#ctx.deviceState === DeviceState.FOREGROUND) this.#pull(state);
  }

  /** Pull every conversation with a gap, except notify-only ones while in the background (RECV-5). */
  pullAll(): void {
    for (const state of this.#conversations.values()) {
      const notifyOnly = state.mode === ReceiveMode.NOTIFY_ONLY || (state.mode === ReceiveMode.UNSPECIFIED && this.defaultMode === ReceiveMode.NOTIFY_ONLY);
      const waitForeground = this.#ctx.deviceState !== DeviceState.FOREGROUND && notifyOnly;
      if (state.needsPull && !waitForeground) this.#pull(state);
    }
  }

  /** The wake-up for gaps came. */
  tick(now: number): void {
    if (now < this.#gapAt) return;
    this.#gapAt = NEVER;
    this.pullAll();
  }

  /** The answer to the sync_conversation for `conversationId`: a page, or (unexpected) something else. */
  answered(conversationId: string, page: ConversationPage | undefined): void {
    const asked = this.#conversations.get(conversationId);
    if (asked) asked.syncInFlight = false;
    const state = page && this.#conversations.get(page.conversationId);
    if (!state) return;
    this.#deliver(state, state.timeline.startAt(page.firstVisibleSeq));
    const before = state.timeline.held;
    for (const event of page.events) this.#deliver(state, state.timeline.accept(event));
    // HID-3: what the user hid among these events, told once they are handed out.
    for (const seq of page.hiddenSeqs) if (seq <= state.timeline.held) this.#ctx.emit({ kind: "hidden", conversationId: page.conversationId, seq });
    // A page only ever adds to what is known to exist: a newer notify may already know more than it.
    state.timeline.noteHead(page.lastSeq);
    if (!state.needsPull) return;
    if (state.timeline.held > before || page.hasMore) this.#pull(state);
    else this.#scheduleGaps(false);
  }

  refused(conversationId: string, error: ErrorBody): void {
    const state = this.#conversations.get(conversationId);
    if (!state) return;
    state.syncInFlight = false;
    // Not readable (any more): stop expecting what cannot be fetched.
    if (!errorCodeInfo(error.code).retryable) state.timeline.capHead(state.timeline.held);
  }

  /** A sync_conversation went unanswered past the attempt timeout (lossy transports): ask again now. */
  syncLost(conversationId: string, now: number): void {
    const state = this.#conversations.get(conversationId);
    if (state) state.syncInFlight = false;
    this.#gapAt = Math.min(this.#gapAt, now);
  }

  connectionLost(): void {
    for (const state of this.#conversations.values()) state.syncInFlight = false;
    this.#gapAt = NEVER;
  }

  /**
   * RCPT-1: where each conversation whose contiguous position moved now
   * stands, for the next delivery_ack; taking them clears the list.
   */
  get unreported(): boolean {
    return this.#heldMoved.size > 0;
  }

  takeHeld(): { conversationId: string; seq: bigint }[] {
    const held = [];
    for (const conversationId of this.#heldMoved) {
      const state = this.#conversations.get(conversationId);
      if (state && state.timeline.held > 0n) held.push({ conversationId, seq: state.timeline.held });
    }
    this.#heldMoved.clear();
    return held;
  }

  #deliver(state: ConversationState, events: readonly ConversationEvent[]): void {
    if (events.length > 0 && this.#ctx.link?.features.has(Feature.RECEIPTS)) {
      if (this.#heldMoved.size === 0) this.#ctx.conversationHeld();
      this.#heldMoved.add(state.meta.conversationId);
    }
    for (const event of events) {
      state.applied(event);
      this.#ctx.emit({ kind: "event", conversationId: state.meta.conversationId, event });
    }
  }

  #scheduleGaps(immediately: boolean): void {
    if (!this.#ctx.policy.fetchesGaps) return;
    const at = immediately ? this.#ctx.now : this.#ctx.now + this.#ctx.options.gapWaitMs;
    if (at < this.#gapAt) this.#gapAt = at;
  }

  #pull(state: ConversationState): void {
    const ctx = this.#ctx;
    const link = ctx.link;
    if (!link || state.syncInFlight || !state.needsPull || !ctx.policy.fetchesGaps || !mayRequest(ctx.state)) return;
    if (link.full) {
      ctx.deferSync();
      return;
    }
    state.syncInFlight = true;
    ctx.request(
      { case: "syncConversation", value: { conversationId: state.meta.conversationId, afterSeq: state.timeline.held, limit: ctx.options.syncPageLimit } },
      { kind: "syncConversation", conversationId: state.meta.conversationId, sentAt: ctx.now },
    );
  }
}
