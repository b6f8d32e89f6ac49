import { ConversationKind, type Conversation } from "../../gen/imwire/v1/conversation_pb.js";
import { MembershipAction, type ConversationEvent } from "../../gen/imwire/v1/message_pb.js";
import { ReceiveMode } from "../../gen/imwire/v1/settings_pb.js";
import type { PersistedConversation } from "./persisted-state.js";
import { Timeline } from "./timeline.js";

const MEMBERSHIP_LOG_MAX = 1_024;

/** What a client knows of one conversation. */
export class ConversationState {
  meta: Conversation;
  readonly timeline: Timeline;
  /** Members of direct and group conversations, kept current by membership events. */
  members: Set<string>;
  mode: ReceiveMode;
  readSeq: bigint;
  /** The seq `meta` describes: membership events after it change `members`. */
  #metaSeq: bigint;
  /**
   * Membership events applied after `meta`'s seq, oldest first. A pull can
   * bring events ahead of the user stream, so a description can arrive that
   * is older than events already applied (a `joined` entry, CONV-7): they are
   * applied again on top of it, as they will not come again. Bounded: a
   * description older than the last MEMBERSHIP_LOG_MAX changes would need
   * the stream to lag that far behind the pulls.
   */
  #membershipLog: ConversationEvent[] = [];
  syncInFlight = false;

  /** From a description, or (CLI-4) from what a previous run persisted. */
  constructor(meta: Conversation, restored?: PersistedConversation) {
    this.meta = meta;
    if (restored) {
      this.timeline = new Timeline(restored.held);
      this.timeline.noteHead(restored.knownHead);
      this.members = new Set(restored.members);
      this.mode = restored.mode;
      this.readSeq = restored.readSeq;
      this.#metaSeq = restored.metaSeq;
      this.#membershipLog = [...restored.membershipLog];
      return;
    }
    this.timeline = new Timeline(meta.firstVisibleSeq > 0n ? meta.firstVisibleSeq - 1n : 0n);
    this.members = new Set(meta.memberUserIds);
    this.mode = meta.receiveMode;
    this.readSeq = meta.readSeq;
    this.#metaSeq = meta.lastSeq;
    this.timeline.noteHead(meta.lastSeq);
  }

  /** CLI-4: what survives a restart. Events buffered after a gap do not: the gap's pull fetches them again. */
  persisted(): PersistedConversation {
    return {
      meta: this.meta,
      metaSeq: this.#metaSeq,
      members: [...this.members],
      mode: this.mode,
      readSeq: this.readSeq,
      held: this.timeline.held,
      knownHead: this.timeline.knownHead,
      membershipLog: [...this.#membershipLog],
    };
  }

  /** A newer description (joined entry or snapshot). Returns events it made deliverable. */
  describe(meta: Conversation): ConversationEvent[] {
    this.meta = meta;
    this.members = new Set(meta.memberUserIds);
    this.mode = meta.receiveMode;
    this.readSeq = meta.readSeq;
    this.#metaSeq = meta.lastSeq;
    this.#membershipLog = this.#membershipLog.filter((event) => event.seq > meta.lastSeq);
    for (const event of this.#membershipLog) this.#applyMembership(event);
    this.timeline.noteHead(meta.lastSeq);
    return this.timeline.startAt(meta.firstVisibleSeq);
  }

  /** Keep membership current with an event the application now has. */
  applied(event: ConversationEvent): void {
    // SEC-7: a channel's audience is not shown, whatever its events say.
    if (event.seq <= this.#metaSeq || event.body.case !== "membership" || this.meta.kind === ConversationKind.CHANNEL) return;
    this.#membershipLog.push(event);
    if (this.#membershipLog.length > MEMBERSHIP_LOG_MAX) this.#membershipLog.shift();
    this.#applyMembership(event);
  }

  #applyMembership(event: ConversationEvent): void {
    if (event.body.case !== "membership") return;
    const { action, userIds } = event.body.value;
    if (action === MembershipAction.CREATED) this.members = new Set(userIds);
    else if (action === MembershipAction.ADDED) for (const u of userIds) this.members.add(u);
    else if (action === MembershipAction.LEFT) for (const u of userIds) this.members.delete(u);
  }

  /** The user left: events up to `lastVisibleSeq` are still due, nothing after it. */
  leftAt(lastVisibleSeq: bigint): void {
    this.meta = { ...this.meta, lastVisibleSeq };
    this.timeline.noteHead(lastVisibleSeq);
  }

  /** Events are known to exist that the device does not hold. */
  get needsPull(): boolean {
    return this.timeline.hasGap;
  }
}

/** The state a device shows for a conversation: what two devices of one user must agree on (property 7). */
export interface ConversationView {
  readonly conversationId: string;
  readonly kind: number;
  readonly title: string;
  readonly role: number;
  readonly firstVisibleSeq: bigint;
  readonly lastVisibleSeq: bigint;
  readonly members: readonly string[];
  readonly receiveMode: ReceiveMode;
  readonly readSeq: bigint;
  readonly held: bigint;
}

export function viewOf(state: ConversationState): ConversationView {
  const { meta } = state;
  return {
    conversationId: meta.conversationId,
    kind: meta.kind,
    title: meta.title,
    role: meta.role,
    firstVisibleSeq: meta.firstVisibleSeq,
    lastVisibleSeq: meta.lastVisibleSeq,
    members: [...state.members].sort(),
    receiveMode: state.mode,
    readSeq: state.readSeq,
    held: state.timeline.held,
  };
}
