import { create } from "@bufbuild/protobuf";
import { UserEventSchema, type UserEvent } from "../../gen/imwire/v1/delivery_pb.js";
import { ReceiveMode, DeviceState } from "../../gen/imwire/v1/settings_pb.js";
import type { Store, StoredUserEntry } from "../../store/store.js";
import type { ConversationEvent } from "../../gen/imwire/v1/message_pb.js";
import type { Connection } from "./connection.js";

/** RECV-2: a conversation's effective receive mode for a user. */
export function effectiveMode(store: Store, userId: string, conversationId: string): ReceiveMode {
  const override = store.receiveMode(userId, conversationId);
  if (override !== ReceiveMode.UNSPECIFIED) return override;
  const fallback = store.receiveMode(userId, "");
  return fallback === ReceiveMode.UNSPECIFIED ? ReceiveMode.FULL : fallback;
}

/**
 * The UserEvent a stored entry becomes for one device (CUR-3, RECV-2, RECV-5,
 * RECV-6): conversation events whole or in notify form (a summary always,
 * SYNC-8), the rest as stored.
 */
export function materialize(store: Store, connection: Connection, entry: StoredUserEntry, prevCursor: number, events?: Map<string, ConversationEvent>): UserEvent {
  const cursor = BigInt(entry.cursor);
  const prev = BigInt(prevCursor);
  const body = entry.body;
  if (body.case !== "eventRef") return create(UserEventSchema, { cursor, prevCursor: prev, body });
  const notifyForm =
    entry.summary === true ||
    connection.deviceState === DeviceState.BACKGROUND ||
    effectiveMode(store, connection.userId, body.conversationId) === ReceiveMode.NOTIFY_ONLY;
  if (notifyForm) {
    return create(UserEventSchema, { cursor, prevCursor: prev, body: { case: "notify", value: { conversationId: body.conversationId, seq: BigInt(body.seq) } } });
  }
  // One read and one decoding per event while pushing it to many (a stored event never changes: SEQ-2).
  const key = `${body.conversationId}\u0000${body.seq}`;
  let event = events?.get(key);
  if (event === undefined) {
    event = store.event(body.conversationId, body.seq);
    if (event && events) events.set(key, event);
  }
  if (!event) throw new Error(`stream entry ${entry.cursor} refers to a missing event ${body.conversationId}#${body.seq}`);
  return create(UserEventSchema, { cursor, prevCursor: prev, body: { case: "event", value: event } });
}
