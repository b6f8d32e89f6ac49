import { create } from "@bufbuild/protobuf";
import { ConversationKind } from "../../gen/imwire/v1/conversation_pb.js";
import { FrameSchema, type Frame } from "../../gen/imwire/v1/frame_pb.js";
import { DeviceState, PresenceSchema, type SetTyping } from "../../gen/imwire/v1/settings_pb.js";
import type { Store } from "../../store/store.js";
import type { ClusterNotices, TypingNotice } from "./cluster-notices.js";
import type { Connection } from "./connection.js";
import type { RemoteChange, RemoteDevices } from "./remote-devices.js";

/** EPH-3: at most one `typing` true passed on per user and conversation in this long. */
export const TYPING_INTERVAL_MS = 1_000;
/** EPH-2: how long a device shows an indicator without news. */
export const TYPING_EXPIRES_MS = 6_000;
/** Typing records kept before old ones are swept: bounded memory however many conversations see typing. */
const TYPING_RECORDS_MAX = 10_000;

/** What the ephemeral signals need of the machine: its connections, a way to send, and the other nodes of its cluster. */
export interface EphemeralHost {
  readonly store: Store;
  connectionsOf(userId: string): Iterable<Connection>;
  send(connection: Connection, frame: Frame): void;
  /** CLU-5: what the other nodes hear of typing and sharing changes made here. */
  readonly notices: ClusterNotices;
  /** CLU-5: the devices connected to the other nodes. */
  readonly remote: RemoteDevices;
}

/**
 * Typing indicators and presence (SPEC.md §15.1, EPH-1 to EPH-5): never
 * stored, never in a sequence, sent only where FEATURE_EPHEMERAL is in
 * force, and cheap: typing goes to the devices viewing the conversation
 * (an index by conversation, not a walk over its members), presence to a
 * user's DIRECT contacts on its first device in and last device out.
 * In a cluster (CLU-5) "first in" and "last out" count every node's
 * devices, and typing and sharing changes made here are passed on to the
 * other nodes, which tell their own connections.
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
    const signal = { conversationId: request.conversationId, userId: connection.userId, typing: request.typing };
    this.#host.notices.typing(signal);
    this.#passOn(signal);
  }

  /** CLU-5: typing another node passed on: its viewers here see it, and EPH-3's interval counts from it here too. */
  remoteTyping(signal: TypingNotice, now: number): void {
    const key = `${signal.userId}\u0000${signal.conversationId}`;
    if (signal.typing) this.#remember(key, now);
    else this.#lastTyping.delete(key);
    this.#passOn(signal);
  }

  /** EPH-2: to the devices here viewing the conversation, of its other current members. */
  #passOn(signal: TypingNotice): void {
    const viewers = this.#viewers.get(signal.conversationId);
    if (!viewers) return;
    const frame = create(FrameSchema, {
      body: { case: "typing", value: { ...signal, expiresInMs: signal.typing ? TYPING_EXPIRES_MS : 0 } },
    });
    for (const viewer of viewers) {
      if (viewer.userId === signal.userId || !viewer.ephemeral || viewer.state !== "ready" || viewer.deviceState !== DeviceState.FOREGROUND) continue;
      const theirs = this.#host.store.membership(signal.conversationId, viewer.userId);
      if (theirs && theirs.lastVisibleSeq === 0) this.#host.send(viewer, frame);
    }
  }

  /** EPH-4: the user's first device here came in: unless it is online on another node, its contacts learn it is online; this device learns who of them is. */
  authenticated(connection: Connection, firstDevice: boolean): void {
    const { store, remote } = this.#host;
    if (store.presenceHidden(connection.userId)) return;
    if (firstDevice && !remote.userOnline(connection.userId)) this.#tellContacts(connection.userId, true, 0);
    if (connection.ephemeral) this.#sendContactsOnline(connection);
  }

  /** EPH-4: the user's last device here left at `now` (offline unless on another node); a connection that goes drops out of the viewers either way. */
  closed(connection: Connection, lastDevice: boolean, now: number): void {
    this.#unview(connection);
    if (connection.userId === "" || !lastDevice || this.#host.remote.userOnline(connection.userId)) return;
    if (!this.#host.store.presenceHidden(connection.userId)) this.#tellContacts(connection.userId, false, Math.floor(now));
  }

  /** CLU-5: a user came online on another node while offline here, or left every other node while not here. */
  remoteChanged(change: RemoteChange): void {
    if (this.#onlineHere(change.userId) || this.#host.store.presenceHidden(change.userId)) return;
    this.#tellContacts(change.userId, change.online, change.online ? 0 : Math.floor(change.lastSeenMs));
  }

  /** EPH-5: sharing changed here while the user is online. */
  sharingChanged(userId: string, hidden: boolean, online: boolean): void {
    if (!online) return;
    this.#host.notices.sharing(userId, hidden);
    this.#sharingChanged(userId, hidden);
  }

  /** CLU-5: sharing changed on another node (the store already says so): this node's contacts and devices of the user learn it. */
  remoteSharingChanged(userId: string, hidden: boolean): void {
    if (this.#onlineHere(userId) || this.#host.remote.userOnline(userId)) this.#sharingChanged(userId, hidden);
  }

  #sharingChanged(userId: string, hidden: boolean): void {
    // Hidden: contacts see it offline with no last-seen time, once; shared again: online, and its devices catch up.
    this.#tellContacts(userId, !hidden, 0);
    if (!hidden) for (const connection of this.#host.connectionsOf(userId)) if (connection.ephemeral) this.#sendContactsOnline(connection);
  }

  #onlineHere(userId: string): boolean {
    for (const connection of this.#host.connectionsOf(userId)) if (connection.state === "ready" || connection.state === "draining") return true;
    return false;
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
      if (!this.#onlineHere(contact) && !this.#host.remote.userOnline(contact)) continue;
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
