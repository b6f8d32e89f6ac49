import { create } from "@bufbuild/protobuf";
import { ConversationKind } from "../../gen/imwire/v1/conversation_pb.js";
import { FrameSchema, type Frame } from "../../gen/imwire/v1/frame_pb.js";
import { DeviceState, PresenceSchema, type SetTyping } from "../../gen/imwire/v1/settings_pb.js";
import type { Store } from "../../store/store.js";
import type { Connection } from "./connection.js";

/** EPH-3: at most one `typing` true passed on per user and conversation in this long. */
export const TYPING_INTERVAL_MS = 1_000;
/** EPH-2: how long a device shows an indicator without news. */
export const TYPING_EXPIRES_MS = 6_000;
/** Typing records kept before old ones are swept: bounded memory however many conversations see typing. */
const TYPING_RECORDS_MAX = 10_000;

/** What the ephemeral signals need of the machine: its connections and a way to send. */
export interface EphemeralHost {
  readonly store: Store;
  connectionsOf(userId: string): Iterable<Connection>;
  send(connection: Connection, frame: Frame): void;
}

/**
 * Typing indicators and presence (SPEC.md §15.1, EPH-1 to EPH-5): never
 * stored, never in a sequence, sent only where FEATURE_EPHEMERAL is in
 * force, and cheap: typing goes to the devices viewing the conversation
 * (an index by conversation, not a walk over its members), presence to a
 * user's DIRECT contacts on its first device in and last device out.
 */
export class EphemeralSignals {
  readonly #host: EphemeralHost;
  /** Connections by the conversation they view (EPH-2). */
  readonly #viewers = new Map<string, Set<Connection>>();
  /** "user\0conversation" → when its last `typing` true was passed on (EPH-3). */
  readonly #lastTyping = new Map<string, number>();

  constructor(host: EphemeralHost) {
    this.#host = host;
  }

  /** The device now views `conversationId` ("" for none). */
  view(connection: Connection, conversationId: string): void {
    this.#unview(connection);
    connection.viewing = conversationId;
    if (conversationId === "") return;
    let viewers = this.#viewers.get(conversationId);
    if (!viewers) this.#viewers.set(conversationId, (viewers = new Set()));
    viewers.add(connection);
  }

  /** EPH-2, EPH-3: pass a member's typing on to the other members' devices viewing the conversation. */
  typing(connection: Connection, request: SetTyping, now: number): void {
    if (!connection.ephemeral) return;
    const { store } = this.#host;
    const membership = store.membership(request.conversationId, connection.userId);
    if (!membership || membership.lastVisibleSeq !== 0) return; // EPH-2: dropped
    const key = `${connection.userId}\u0000${request.conversationId}`;
    if (request.typing) {
      const last = this.#lastTyping.get(key);
      if (last !== undefined && now - last < TYPING_INTERVAL_MS) return;
      this.#remember(key, now);
    } else {
      this.#lastTyping.delete(key);
    }
    const viewers = this.#viewers.get(request.conversationId);
    if (!viewers) return;
    const frame = create(FrameSchema, {
      body: { case: "typing", value: { conversationId: request.conversationId, userId: connection.userId, typing: request.typing, expiresInMs: request.typing ? TYPING_EXPIRES_MS : 0 } },
    });
    for (const viewer of viewers) {
      if (viewer.userId === connection.userId || !viewer.ephemeral || viewer.state !== "ready" || viewer.deviceState !== DeviceState.FOREGROUND) continue;
      const theirs = store.membership(request.conversationId, viewer.userId);
      if (theirs && theirs.lastVisibleSeq === 0) this.#host.send(viewer, frame);
    }
  }

  /** EPH-4: the user's first device came in: its contacts learn it is online; this device learns who of them is. */
  authenticated(connection: Connection, firstDevice: boolean): void {
    const { store } = this.#host;
    if (store.presenceHidden(connection.userId)) return;
    if (firstDevice) this.#tellContacts(connection.userId, true, 0);
    if (connection.ephemeral) this.#sendContactsOnline(connection);
  }

  /** EPH-4: the user's last device left at `now`; a connection that goes drops out of the viewers either way. */
  closed(connection: Connection, lastDevice: boolean, now: number): void {
    this.#unview(connection);
    if (connection.userId === "" || !lastDevice) return;
    if (!this.#host.store.presenceHidden(connection.userId)) this.#tellContacts(connection.userId, false, Math.floor(now));
  }

  /** EPH-5: sharing changed while the user may be online. */
  sharingChanged(userId: string, hidden: boolean, online: boolean): void {
    if (!online) return;
    // Hidden: contacts see it offline with no last-seen time, once; shared again: online, and its devices catch up.
    this.#tellContacts(userId, !hidden, 0);
    if (!hidden) for (const connection of this.#host.connectionsOf(userId)) if (connection.ephemeral) this.#sendContactsOnline(connection);
  }

  #tellContacts(userId: string, online: boolean, lastSeenMs: number): void {
    const frame = create(FrameSchema, { body: { case: "presence", value: create(PresenceSchema, { userId, online, lastSeenMs: BigInt(lastSeenMs) }) } });
    for (const contact of this.#contacts(userId)) {
      if (this.#host.store.presenceHidden(contact)) continue; // EPH-5: reciprocal
      for (const connection of this.#host.connectionsOf(contact)) if (connection.ephemeral && connection.state === "ready") this.#host.send(connection, frame);
    }
  }

  #sendContactsOnline(connection: Connection): void {
    for (const contact of this.#contacts(connection.userId)) {
      if (this.#host.store.presenceHidden(contact)) continue;
      const online = [...this.#host.connectionsOf(contact)].some((c) => c.state === "ready" || c.state === "draining");
      if (!online) continue;
      this.#host.send(connection, create(FrameSchema, { body: { case: "presence", value: create(PresenceSchema, { userId: contact, online: true }) } }));
    }
  }

  /** The users this one shares a current DIRECT conversation with. */
  #contacts(userId: string): string[] {
    const { store } = this.#host;
    const contacts: string[] = [];
    for (const membership of store.membershipsOf(userId)) {
      if (membership.lastVisibleSeq !== 0 || store.conversation(membership.conversationId)?.kind !== ConversationKind.DIRECT) continue;
      for (const member of store.members(membership.conversationId)) if (member.userId !== userId) contacts.push(member.userId);
    }
    return contacts;
  }

  #unview(connection: Connection): void {
    if (connection.viewing === "") return;
    const viewers = this.#viewers.get(connection.viewing);
    viewers?.delete(connection);
    if (viewers?.size === 0) this.#viewers.delete(connection.viewing);
    connection.viewing = "";
  }

  #remember(key: string, now: number): void {
    this.#lastTyping.delete(key);
    this.#lastTyping.set(key, now);
    if (this.#lastTyping.size <= TYPING_RECORDS_MAX) return;
    // Oldest first (insertion order): forgetting one early lets at most one extra `typing` through (EPH-3 is a bound, not a count).
    for (const oldest of this.#lastTyping.keys()) {
      if (this.#lastTyping.size <= TYPING_RECORDS_MAX / 2) break;
      this.#lastTyping.delete(oldest);
    }
  }

}
