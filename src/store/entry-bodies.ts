import { fromBinary, toBinary, type DescMessage, type Message } from "@bufbuild/protobuf";
import { ConversationLeftSchema, ConversationOpenedSchema } from "../gen/imwire/v1/conversation_pb.js";
import { DeliveryReceiptSchema, MessageHiddenSchema, ReadMarkerSchema, ReadReceiptSchema, UserEventSchema } from "../gen/imwire/v1/delivery_pb.js";
import { ReceiveSettingsSchema } from "../gen/imwire/v1/settings_pb.js";
import type { StoredUserEntryBody } from "./store.js";

/**
 * How a stream entry's body is kept in the user_entries table of SqliteStore
 * and PostgresStore (the same columns, so the two stores' rows read alike): a conversation
 * event by reference, anything else as its own message type's encoding,
 * tagged with its UserEvent field number.
 */
type OtherBody = Exclude<StoredUserEntryBody, { case: "eventRef" }>;
type OtherCase = OtherBody["case"];

const BODY_SCHEMAS: Record<OtherCase, DescMessage> = {
  joined: ConversationOpenedSchema,
  left: ConversationLeftSchema,
  receiveSettings: ReceiveSettingsSchema,
  readMarker: ReadMarkerSchema,
  readReceipt: ReadReceiptSchema,
  hidden: MessageHiddenSchema,
  deliveryReceipt: DeliveryReceiptSchema,
};
export const EVENT_FIELD = UserEventSchema.field.event!.number;
const FIELD_OF = new Map((Object.keys(BODY_SCHEMAS) as OtherCase[]).map((c) => [c, UserEventSchema.field[c]!.number]));
const CASE_OF = new Map([...FIELD_OF].map(([c, n]) => [n, c]));

export interface EntryColumns {
  readonly field: number;
  readonly conversationId: string | null;
  readonly seq: number | null;
  readonly body: Uint8Array | null;
}

export function encodeBody(body: StoredUserEntryBody): EntryColumns {
  if (body.case === "eventRef") return { field: EVENT_FIELD, conversationId: body.conversationId, seq: body.seq, body: null };
  // The union's cases and schemas correspond by construction of BODY_SCHEMAS; TypeScript cannot follow that.
  return { field: FIELD_OF.get(body.case)!, conversationId: null, seq: null, body: toBinary(BODY_SCHEMAS[body.case], body.value as Message) };
}

export function decodeBody(cursor: number, row: EntryColumns): StoredUserEntryBody {
  if (row.field === EVENT_FIELD) return { case: "eventRef", conversationId: row.conversationId!, seq: row.seq! };
  const kind = CASE_OF.get(row.field);
  if (kind === undefined || row.body === null) throw new Error(`user stream entry ${cursor} has unknown body field ${row.field}`);
  return { case: kind, value: fromBinary(BODY_SCHEMAS[kind], row.body) } as OtherBody;
}
