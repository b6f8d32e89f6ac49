import { create } from "@bufbuild/protobuf";
import { Feature } from "../../gen/imwire/v1/connection_pb.js";
import type { UserEvent } from "../../gen/imwire/v1/delivery_pb.js";
import { FrameSchema } from "../../gen/imwire/v1/frame_pb.js";
import type { UserPage } from "../../gen/imwire/v1/sync_pb.js";
import type { ClientContext } from "./context.js";
import type { ConversationSync } from "./conversation-sync.js";
import type { PersistedStream } from "./persisted-state.js";
import { mayRequest } from "./states.js";
import { StreamCursor } from "./stream-cursor.js";

const NEVER = Infinity;

type Snapshot = NonNullable<UserPage["snapshot"]>;

/**
 * The device's position in its user's stream (CUR-3 to CUR-6, SYNC-3 to
 * SYNC-7, ACK-1): entries applied in cursor order, gaps fetched with
 * sync_user, snapshots taken in pages, and cumulative acknowledgements.
 */
export class UserStream {
  readonly #ctx: ClientContext;
  readonly #conversations: ConversationSync;
  #epoch: string | undefined;
  readonly #cursor = new StreamCursor();
  /** A snapshot arriving in pages (SYNC-7): its epoch, where the next page starts, and the conversations listed so far. */
  #snapshotPaging: { readonly epoch: string; after: string; readonly listed: Set<string> } | undefined;
  /**
   * SYNC-7: the cursor each conversation (and, under "", the default mode)
   * was last described at by a snapshot page. A paged snapshot continues from
   * its first page's cursor, so entries up to a later page's cursor come
   * again; for what that page described they are older news, and skipped.
   */
  readonly #describedAt = new Map<string, bigint>();
  /** When a stream gap is fetched (CUR-3: reordered frames get gapWaitMs to arrive). */
  #gapAt = NEVER;

  // Per connection: reset when it is lost.
  /** DLV-2: the server pushes once the device's position is set. */
  #positionSet = false;
  #lastAckSent = -1n;
  #appliedSinceAck = 0;
  #ackDueAt = NEVER;
  #syncInFlight = false;
  /** CUR-6: whether a push arrived since the last pong. */
  #pushedSincePong = false;

  constructor(ctx: ClientContext, conversations: ConversationSync) {
    this.#ctx = ctx;
    this.#conversations = conversations;
  }

  get epoch(): string | undefined {
    return this.#epoch;
  }

  get held(): bigint {
    return this.#cursor.held;
  }

  get hasGap(): boolean {
    return this.#cursor.hasGap;
  }

  /** Everything held is acknowledged on this connection. */
  get acknowledged(): boolean {
    return this.#lastAckSent >= this.#cursor.held;
  }

  get nextWakeup(): number {
    return Math.min(this.#ackDueAt, this.#gapAt);
  }

  /** AUTH-5: what authenticate.resume carries; none without state, or while a snapshot is cut off between pages (SYNC-7). */
  resumeFrom(): { epoch: string; cursor: bigint } | undefined {
    return this.#epoch === undefined || this.#snapshotPaging ? undefined : { epoch: this.#epoch, cursor: this.#cursor.held };
  }

  /**
   * CLI-3: the position to survive a restart — what resumeFrom() would
   * offer, so none while a paged snapshot is half taken (SYNC-7): a restart
   * then asks for a whole snapshot again.
   */
  persisted(): PersistedStream | undefined {
    const from = this.resumeFrom();
    return from && { ...from, describedAt: [...this.#describedAt] };
  }

  /** CLI-3: the position of a previous run, before any connection. */
  restore(stream: PersistedStream): void {
    this.#epoch = stream.epoch;
    this.#cursor.reset(stream.cursor);
    this.#describedAt.clear();
    for (const [conversationId, cursor] of stream.describedAt) this.#describedAt.set(conversationId, cursor);
  }

  /** AUTH-5: resumed, the server set the position to what is held. */
  resumed(): void {
    this.#positionSet = true;
    this.#lastAckSent = this.#cursor.held;
  }

  pushed(entry: UserEvent): void {
    this.#pushedSincePong = true;
    this.#accept([entry]);
  }

  /** CUR-6: a head beyond what is held, with no push since the last pong, means the tail was lost. */
  pong(headCursor: bigint): void {
    if (this.#ctx.state === "READY" && headCursor > this.#cursor.held && !this.#pushedSincePong && this.#ctx.policy.fetchesGaps) this.sync();
    this.#pushedSincePong = false;
  }

  sync(): void {
    const ctx = this.#ctx;
    const link = ctx.link;
    if (!link || this.#syncInFlight || !mayRequest(ctx.state)) return;
    if (link.full) {
      ctx.deferSync();
      return;
    }
    this.#syncInFlight = true;
    ctx.request(
      { case: "syncUser", value: { afterCursor: this.#cursor.held, epoch: this.#epoch ?? "", limit: ctx.options.syncPageLimit, snapshotAfter: this.#snapshotPaging?.after ?? "" } },
      { kind: "syncUser", sentAt: ctx.now },
    );
  }

  /** A deferred sync (FLOW-1) gets its slot: needed while there is a gap or no position yet. */
  syncIfBehind(): void {
    if (this.#cursor.hasGap || !this.#positionSet) this.sync();
  }

  /** The answer to sync_user: a page, or (unexpected) something else. */
  answered(page: UserPage | undefined): void {
    this.#syncInFlight = false;
    if (page) this.#page(page);
  }

  refused(): void {
    this.#syncInFlight = false;
  }

  /** A sync_user went unanswered past the attempt timeout (lossy transports): ask again. */
  syncLost(now: number): void {
    this.#syncInFlight = false;
    this.#gapAt = Math.min(this.#gapAt, now);
    if (!this.#positionSet) this.sync();
  }

  /** HB-1: with each ping; an acknowledgement lost on the way would keep the window shut (FLOW-2), and repeating it is harmless (ACK-3). */
  heartbeat(): void {
    if (this.#positionSet) this.sendAck(true);
  }

  /** The gap wake-up came: fetch the gap if it is still there. */
  tickGap(now: number): void {
    if (now < this.#gapAt) return;
    this.#gapAt = NEVER;
    if (this.#cursor.hasGap) this.sync();
  }

  tickAck(now: number): void {
    if (now >= this.#ackDueAt) this.sendAck();
  }

  connectionLost(): void {
    this.#positionSet = false;
    this.#lastAckSent = -1n;
    this.#appliedSinceAck = 0;
    this.#ackDueAt = NEVER;
    this.#syncInFlight = false;
    this.#pushedSincePong = false;
    this.#gapAt = NEVER;
  }

  /** RCPT-1: something other than the stream moved (a conversation's page): acknowledge within the usual delay. */
  ackSoon(): void {
    if (this.#ackDueAt === NEVER) this.#ackDueAt = this.#ctx.now + this.#ctx.options.ackDelayMs;
  }

  sendAck(force = false): void {
    const link = this.#ctx.link;
    if (!link || !this.#positionSet) return;
    this.#ackDueAt = NEVER;
    this.#appliedSinceAck = 0;
    const cursor = this.#ctx.policy.ackCursor(this.#cursor);
    // RCPT-1: what the device holds of each conversation, told with the cursor where receipts are in force.
    // Taken either way: positions noted under a connection with the feature are not owed to one without it.
    const held = this.#conversations.takeHeld();
    const conversations = link.features.has(Feature.RECEIPTS) ? held : [];
    const moved = force || cursor > this.#lastAckSent;
    if (!moved && conversations.length === 0) return;
    if (moved) {
      // CLI-3: what is acknowledged is not sent again (ACK-1): it must be persisted first.
      this.#ctx.checkpoint();
      this.#lastAckSent = cursor;
    }
    // ACK-6: beside conversations a cursor of 0 is no stream part, so setting the position at 0 goes alone.
    if (moved && cursor === 0n && conversations.length > 0) this.#ctx.send(create(FrameSchema, { body: { case: "deliveryAck", value: { cursor } } }));
    const stream = moved && (cursor !== 0n || conversations.length === 0) ? { cursor } : {};
    this.#ctx.send(create(FrameSchema, { body: { case: "deliveryAck", value: { ...stream, conversations } } }));
  }

  #page(page: UserPage): void {
    if (page.snapshot) {
      if (this.#snapshotPage(page.snapshot)) {
        this.sync();
        return;
      }
    } else {
      this.#accept(page.events);
    }
    if (page.hasMore || (this.#cursor.hasGap && page.events.length > 0)) {
      this.sync();
      return;
    }
    if (!this.#positionSet) {
      // SYNC-5, DLV-2: caught up; the acknowledgement sets the position and pushes begin.
      this.#positionSet = true;
      this.sendAck(true);
      this.#ctx.transition("caught_up");
    }
  }

  #accept(entries: readonly UserEvent[]): void {
    const ctx = this.#ctx;
    let applied = 0;
    for (const entry of entries) {
      for (const ready of this.#cursor.accept(entry)) {
        this.#apply(ready);
        applied++;
      }
    }
    if (this.#cursor.hasGap && this.#gapAt === NEVER && ctx.policy.fetchesGaps) this.#gapAt = ctx.now + ctx.options.gapWaitMs;
    if (applied > 0 || ctx.policy.ackCursor(this.#cursor) > this.#cursor.held) {
      this.#appliedSinceAck += applied;
      if (this.#appliedSinceAck >= ctx.options.ackEvery) this.sendAck();
      else if (this.#ackDueAt === NEVER) this.#ackDueAt = ctx.now + ctx.options.ackDelayMs;
    }
  }

  #apply(entry: UserEvent): void {
    const body = entry.body;
    const conversations = this.#conversations;
    switch (body.case) {
      case "event":
        conversations.pushed(body.value);
        return;
      case "notify":
        conversations.notified(body.value.conversationId, body.value.seq);
        return;
      case "joined":
        if (this.#describedSince(body.value.conversation!.conversationId, entry)) return;
        conversations.describe(body.value.conversation!);
        this.#ctx.emit({ kind: "joined", conversation: body.value.conversation! });
        return;
      case "left":
        if (this.#describedSince(body.value.conversationId, entry)) return;
        conversations.get(body.value.conversationId)?.leftAt(body.value.lastVisibleSeq);
        this.#ctx.emit({ kind: "left", conversationId: body.value.conversationId, lastVisibleSeq: body.value.lastVisibleSeq });
        return;
      case "receiveSettings": {
        const { conversationId, mode } = body.value;
        if (this.#describedSince(conversationId, entry)) return;
        if (conversationId === "") conversations.defaultMode = mode;
        else {
          const state = conversations.get(conversationId);
          if (state) state.mode = mode;
        }
        this.#ctx.emit({ kind: "receive-settings", settings: body.value });
        return;
      }
      case "readMarker": {
        const state = conversations.get(body.value.conversationId);
        if (state && body.value.seq > state.readSeq) state.readSeq = body.value.seq;
        this.#ctx.emit({ kind: "read-marker", marker: body.value });
        return;
      }
      case "readReceipt":
        this.#ctx.emit({ kind: "read-receipt", receipt: body.value });
        return;
      case "deliveryReceipt":
        this.#ctx.emit({ kind: "delivery-receipt", receipt: body.value });
        return;
      case "hidden":
        // HID-2: the user hid an event on one of its devices; every device hides it.
        this.#ctx.emit({ kind: "hidden", conversationId: body.value.conversationId, seq: body.value.seq });
        return;
    }
  }

  /** Apply one snapshot page (SYNC-4, SYNC-7); true when more pages are due. */
  #snapshotPage(snapshot: Snapshot): boolean {
    let paging = this.#snapshotPaging;
    if (paging === undefined || snapshot.epoch !== paging.epoch) {
      // A first page. One of this epoch no newer than what is held crossed newer entries on the way: ignore it.
      if (paging === undefined && snapshot.epoch === this.#epoch && snapshot.cursor <= this.#cursor.held) return false;
      this.#epoch = snapshot.epoch;
      this.#cursor.reset(snapshot.cursor);
      this.#gapAt = NEVER;
      this.#describedAt.clear();
      paging = this.#snapshotPaging = { epoch: snapshot.epoch, after: "", listed: new Set() };
    }
    for (const conversation of snapshot.conversations) {
      paging.listed.add(conversation.conversationId);
      this.#describedAt.set(conversation.conversationId, snapshot.cursor);
      this.#conversations.describe(conversation);
    }
    if (snapshot.continueAfter !== "") {
      paging.after = snapshot.continueAfter;
      return true;
    }
    this.#snapshotPaging = undefined;
    this.#conversations.keepOnly(paging.listed);
    this.#conversations.defaultMode = snapshot.defaultReceiveMode;
    this.#describedAt.set("", snapshot.cursor);
    this.#lastAckSent = -1n;
    this.#ctx.emit({ kind: "resynced", epoch: snapshot.epoch });
    this.#conversations.pullAll();
    return false;
  }

  /** SYNC-7: whether a snapshot page already described `conversationId` as of a cursor at or after this entry's. */
  #describedSince(conversationId: string, entry: UserEvent): boolean {
    const at = this.#describedAt.get(conversationId);
    return at !== undefined && entry.cursor <= at;
  }
}
