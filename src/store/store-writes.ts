import type { ConversationEvent } from "../gen/imwire/v1/message_pb.js";
import type { ReceiveMode } from "../gen/imwire/v1/settings_pb.js";
import type { DedupKey, DedupRecord, NewConversation, Store, StoredHistoryVisibility, StoredMembership, StoredPushRegistration, StoredUserEntryBody } from "./store.js";

/**
 * One write to a Store, as data: what a write-behind store records while
 * the machine runs on its in-memory working set, and what a durable backend
 * makes durable, batch by batch (docs/design/store-boundary.md).
 *
 * Each is the Store method's call with its arguments, except appendEvent,
 * which carries the event as stored (seq included), and the results the
 * store allocated (seqs, cursors), so that a backend need not repeat the
 * allocation and a replay can check it did.
 */
export type StoreWrite =
  | { readonly op: "addUser"; readonly userId: string }
  | { readonly op: "createConversation"; readonly conversation: NewConversation }
  | { readonly op: "setMembership"; readonly membership: StoredMembership }
  | { readonly op: "appendEvent"; readonly conversationId: string; readonly event: ConversationEvent }
  | { readonly op: "startReadFanOut"; readonly conversationId: string; readonly fromSeq: number }
  | { readonly op: "redact"; readonly conversationId: string; readonly targetSeq: number; readonly redactionSeq: number }
  | { readonly op: "publishEvent"; readonly conversationId: string; readonly seq: number; readonly position: number }
  | { readonly op: "appendUserEntry"; readonly userId: string; readonly body: StoredUserEntryBody; readonly cursor: number }
  | { readonly op: "recordDedup"; readonly key: DedupKey; readonly record: DedupRecord }
  | { readonly op: "forgetDedupBefore"; readonly timeMs: number; readonly limit: number; readonly forgotten: number }
  | { readonly op: "setReceiveMode"; readonly userId: string; readonly conversationId: string; readonly mode: ReceiveMode }
  | { readonly op: "hide"; readonly userId: string; readonly conversationId: string; readonly seq: number }
  | { readonly op: "setPushRegistration"; readonly userId: string; readonly registration: StoredPushRegistration }
  | { readonly op: "setHistoryVisibility"; readonly conversationId: string; readonly setting: StoredHistoryVisibility }
  | { readonly op: "setPresenceHidden"; readonly userId: string; readonly hidden: boolean }
  | { readonly op: "setReadMarker"; readonly userId: string; readonly conversationId: string; readonly seq: number };

/** Thrown by applyWrite when the store it replays into does not allocate what the write recorded: the log does not belong to it. */
export class ReplayMismatch extends Error {
  override readonly name = "ReplayMismatch";
}

/**
 * Apply one recorded write to `store`, checking that what it allocates
 * (seq, cursor, keys forgotten) is what the original allocated: a replay
 * into an empty store, in order, rebuilds the same state.
 */
export function applyWrite(store: Store, write: StoreWrite): void {
  switch (write.op) {
    case "addUser":
      return store.addUser(write.userId);
    case "createConversation":
      return store.createConversation(write.conversation);
    case "setMembership":
      return store.setMembership(write.membership);
    case "appendEvent": {
      const seq = store.appendEvent(write.conversationId, write.event);
      return expectSame("seq", seq, Number(write.event.seq), write);
    }
    case "startReadFanOut":
      return store.startReadFanOut(write.conversationId, write.fromSeq);
    case "redact":
      return store.redact(write.conversationId, write.targetSeq, write.redactionSeq);
    case "publishEvent":
      advanceTo(store, write.position);
      return expectSame("position", store.publishEvent(write.conversationId, write.seq), write.position, write);
    case "appendUserEntry":
      advanceTo(store, write.cursor);
      return expectSame("cursor", store.appendUserEntry(write.userId, write.body), write.cursor, write);
    case "recordDedup":
      return store.recordDedup(write.key, write.record);
    case "forgetDedupBefore":
      return expectSame("forgotten", store.forgetDedupBefore(write.timeMs, write.limit), write.forgotten, write);
    case "setReceiveMode":
      return store.setReceiveMode(write.userId, write.conversationId, write.mode);
    case "hide":
      return store.hide(write.userId, write.conversationId, write.seq);
    case "setPushRegistration":
      return store.setPushRegistration(write.userId, write.registration);
    case "setHistoryVisibility":
      return store.setHistoryVisibility(write.conversationId, write.setting);
    case "setPresenceHidden":
      return store.setPresenceHidden(write.userId, write.hidden);
    case "setReadMarker":
      return store.setReadMarker(write.userId, write.conversationId, write.seq);
  }
}

/** A store a replay can tell to skip cursors that refused requests allocated (MemoryStore). */
interface PositionAdvancing {
  advancePosition(position: number): void;
}

/** Skip to just before `cursor`, when the store can: the writes that allocated the cursors between were undone. */
function advanceTo(store: Store, cursor: number): void {
  (store as Partial<PositionAdvancing>).advancePosition?.(cursor - 1);
}

function expectSame(what: string, got: number, recorded: number, write: StoreWrite): void {
  if (got !== recorded) throw new ReplayMismatch(`replaying ${write.op}: ${what} ${got}, but the log recorded ${recorded}`);
}
