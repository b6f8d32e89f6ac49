import type { Store, StoredUserEntryBody } from "../../store/store.js";
import type { Connection } from "./connection.js";
import type { ServerOptions } from "./options.js";
import type { ServerDeps } from "./types.js";

/** What request handlers may use of the server machine. */
export interface ServerCore {
  readonly store: Store;
  readonly options: ServerOptions;
  readonly deps: ServerDeps;
  /** Append an entry to a user's stream (CUR-1); its devices are pushed it once the request is answered. */
  appendUserEntry(userId: string, body: StoredUserEntryBody): number;
  /** CUR-7: an event was published under read fan-out; the connected devices of those who may see it are pushed it. */
  eventPublished(conversationId: string, seq: number): void;
  /** Record that a connection was sent entries up to `cursor` (ACK-2). */
  noteSent(connection: Connection, cursor: number): void;
}
