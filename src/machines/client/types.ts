import type { Conversation, Member } from "../../gen/imwire/v1/conversation_pb.js";
import type { DeliveryReceipt, ReadMarker, ReadReceipt } from "../../gen/imwire/v1/delivery_pb.js";
import type { ErrorCode } from "../../gen/imwire/v1/error_pb.js";
import type { Frame } from "../../gen/imwire/v1/frame_pb.js";
import type { ConversationEvent, SendAck } from "../../gen/imwire/v1/message_pb.js";
import type { ReceiveSettings } from "../../gen/imwire/v1/settings_pb.js";
import type { PersistedClientState } from "./persisted-state.js";

/** The client's view of its connection: SPEC.md §5.1's states, as states.ts maps them. */
export type ClientStatus =
  /** Not connected; a reconnect is scheduled. */
  | "offline"
  /** A transport connection was requested. */
  | "connecting"
  /** The connection is open; hello and authenticate are under way. */
  | "handshake"
  /** Authenticated, catching up with the stream before pushes start (SYNC-5). */
  | "syncing"
  /** Authenticated and receiving pushes. */
  | "ready"
  /** Another connection of this device took over (AUTH-4): no reconnecting. */
  | "replaced"
  /** The token was refused: no reconnecting until the application supplies a new one and calls start again. */
  | "unauthenticated"
  /** The application stopped the client. */
  | "stopped";

/**
 * A conversation's members read with list_members (CONV-10): the union of
 * the pages, in ascending user id (UTF-8 byte order). Each page is the
 * membership when it was made, so while members join or leave during the
 * paging the union can be off by them: it is exact as of `lastSeq` (the
 * first page's) once the membership events after `lastSeq` (CONV-6) are
 * applied to it as sets — CREATED and ADDED add, LEFT removes — which gives
 * the current list. `memberCount` is the first page's, also as of `lastSeq`.
 */
export interface MemberList {
  readonly conversationId: string;
  readonly members: readonly Member[];
  readonly memberCount: number;
  readonly lastSeq: bigint;
}

/** What the client machine tells the application. */
export type ClientEvent =
  /** SEQ-4: a conversation event, each exactly once, in seq order per conversation. */
  | { readonly kind: "event"; readonly conversationId: string; readonly event: ConversationEvent }
  /** A send was stored by the server (the first answer, whatever retries happened). */
  | { readonly kind: "sent"; readonly clientMessageId: string; readonly ack: SendAck }
  /** An operation was refused, or given up after the dedup window (IDEM-4). */
  | { readonly kind: "failed"; readonly operationId: string; readonly code: ErrorCode | "expired"; readonly message: string }
  /** A non-send operation completed: its answer. */
  | { readonly kind: "done"; readonly operationId: string; readonly answer: Frame["body"] }
  /** listMembers completed: every page (CONV-10). */
  | { readonly kind: "members"; readonly operationId: string; readonly list: MemberList }
  | { readonly kind: "joined"; readonly conversation: Conversation }
  | { readonly kind: "left"; readonly conversationId: string; readonly lastVisibleSeq: bigint }
  | { readonly kind: "receive-settings"; readonly settings: ReceiveSettings }
  | { readonly kind: "read-marker"; readonly marker: ReadMarker }
  | { readonly kind: "read-receipt"; readonly receipt: ReadReceipt }
  /** RCPT-3: a device of another member holds the conversation up to receipt.seq (told to senders). */
  | { readonly kind: "delivery-receipt"; readonly receipt: DeliveryReceipt }
  /** The device replaced its view with a snapshot (SYNC-4), for example after an epoch change. */
  | { readonly kind: "resynced"; readonly epoch: string }
  | { readonly kind: "status"; readonly status: ClientStatus }
  /** EPH-2: a member is typing in a conversation this device views, or stopped; show it at most expiresInMs. */
  | { readonly kind: "typing"; readonly conversationId: string; readonly userId: string; readonly typing: boolean; readonly expiresInMs: number }
  /** HID-2, HID-3: the user hid this event (on any of its devices): show it no more. */
  | { readonly kind: "hidden"; readonly conversationId: string; readonly seq: bigint }
  /** EPH-4: a contact came online or went offline. */
  | { readonly kind: "presence"; readonly userId: string; readonly online: boolean; readonly lastSeenMs: bigint };

/** What the client machine asks its runner to do, or tells the application. */
export type ClientOutput =
  /** Write this frame to the current connection. */
  | { readonly kind: "send"; readonly frame: Frame }
  /** Open a transport connection and report it with connected(connection) or disconnected(connection). */
  | { readonly kind: "connect"; readonly connection: number }
  /** Close this connection (the machine already considers it gone, and ignores later news of it). */
  | { readonly kind: "close"; readonly connection: number }
  /** FRM-5: accept frames up to this size on the connection from now on. */
  | { readonly kind: "frame-limit"; readonly connection: number; readonly maxFrameSize: number }
  | { readonly kind: "app"; readonly event: ClientEvent }
  /**
   * CLI-1: only once restore() was called. Write this state durably,
   * replacing the one before, before carrying out any output after it (a
   * store whose writes are asynchronous holds back the outputs that follow
   * until the write completes); outputs before it are already reflected in
   * it.
   */
  | { readonly kind: "persist"; readonly state: PersistedClientState };
