import type { Conversation } from "../../gen/imwire/v1/conversation_pb.js";
import type { ConversationEvent } from "../../gen/imwire/v1/message_pb.js";
import type { ReceiveMode } from "../../gen/imwire/v1/settings_pb.js";
import type { RequestBody } from "./outbox.js";

/**
 * CLI-1 to CLI-5 (client persistence): what a device keeps across process
 * restarts, as the machine hands it out in "persist" outputs and takes it
 * back in restore(). Plain data only — strings, numbers, bigints, arrays,
 * plain objects (protobuf-es messages are plain objects) and the byte arrays
 * inside them — so that it survives a structured clone (IndexedDB) as it is;
 * a JSON file needs bigints and byte arrays tagged (file-client-store.ts).
 *
 * It is a whole snapshot, not a delta: each "persist" output replaces the
 * previous one. It is never mutated after it is handed out.
 */
export interface PersistedClientState {
  /** The layout's version; restore() refuses one it does not know. */
  readonly version: typeof PERSISTED_STATE_VERSION;
  /** The device the state belongs to (a store shared by mistake must not mix devices). */
  readonly deviceId: string;
  /** CLI-3: the stream position to resume from (AUTH-5); absent before the first snapshot, or while one arrives in pages (SYNC-7). */
  readonly stream?: PersistedStream;
  /** RECV-1: the user's default receive mode. */
  readonly defaultReceiveMode: ReceiveMode;
  /** CLI-4: every conversation the device holds, with how far its events were handed out. */
  readonly conversations: readonly PersistedConversation[];
  /** CLI-2: every request not yet answered, oldest first, with its idempotency key inside its body. */
  readonly outbox: readonly PersistedOperation[];
}

export const PERSISTED_STATE_VERSION = 1;

export interface PersistedStream {
  readonly epoch: string;
  /** CUR-3: every entry up to here is applied. */
  readonly cursor: bigint;
  /** SYNC-7: the cursor each conversation ("" for the default mode) was last described at by a snapshot page. */
  readonly describedAt: readonly (readonly [string, bigint])[];
}

export interface PersistedConversation {
  /** The latest description (joined entry, snapshot page, open answer, left entry). */
  readonly meta: Conversation;
  /** The seq `meta` describes. */
  readonly metaSeq: bigint;
  readonly members: readonly string[];
  readonly mode: ReceiveMode;
  readonly readSeq: bigint;
  /** SEQ-4: every event up to this seq has been handed to the application. */
  readonly held: bigint;
  /** The highest seq known to exist: above `held`, a pull is due. */
  readonly knownHead: bigint;
  /** Membership events applied after `metaSeq` (conversation-state.ts). */
  readonly membershipLog: readonly ConversationEvent[];
}

export interface PersistedOperation {
  /** The operation's id: for sends and actions, the client_message_id. */
  readonly id: string;
  /** The request exactly as first built: its idempotency key (client_message_id, client_conversation_id) is inside. */
  readonly body: RequestBody;
  /** When the application asked for it, on the machine's clock: IDEM-4's dedup window runs from here, across restarts. */
  readonly createdAt: number;
}
