import { create } from "@bufbuild/protobuf";
import { Feature } from "../../src/gen/imwire/v1/connection_pb.js";
import { ConversationKind, HistoryVisibility } from "../../src/gen/imwire/v1/conversation_pb.js";
import { ErrorCode } from "../../src/gen/imwire/v1/error_pb.js";
import { FrameSchema, type Frame } from "../../src/gen/imwire/v1/frame_pb.js";
import { SnapshotSchema, UserPageSchema } from "../../src/gen/imwire/v1/sync_pb.js";
import { errorFrame } from "../../src/codec/error-frame.js";
import { ServerMachine, type ServerMachineFactory } from "../../src/machines/server/server-machine.js";
import type { ServerOptions } from "../../src/machines/server/options.js";
import type { ConnectionId, ServerDeps, ServerOutput } from "../../src/machines/server/types.js";
import type { Store } from "../../src/store/store.js";
import { editTarget } from "../../src/store/tombstone.js";

/**
 * Servers broken on purpose, for the tests that prove the property suites,
 * the model test and the conformance runner catch them. Each bug is planted
 * from outside the machine — a store or a token check that lies, inputs
 * rewritten on the way in, outputs on the way out — so that nothing of it
 * ships in ServerMachine.
 */
export interface Breakage {
  /** Append a second message when a send is retried (breaks IDEM-2). */
  readonly skipDedup?: boolean;
  /** Resume at the stream head instead of the device's cursor (breaks DLV-3). */
  readonly skipRedelivery?: boolean;
  /** Treat everyone as a member of every conversation (breaks SEC-3). */
  readonly skipMembershipCheck?: boolean;
  /** Never close silent connections (breaks HB-3). */
  readonly ignoreHeartbeatTimeout?: boolean;
  /** Push each batch of entries in reverse order (breaks DLV-1, CUR-3). */
  readonly reorderPushes?: boolean;
  /** Answer PERMISSION_DENIED as NOT_FOUND (breaks ERR-4, MSG-1). */
  readonly wrongErrorCodes?: boolean;
  /** Accept any token, as a user named after it (breaks AUTH-1). */
  readonly acceptAnyToken?: boolean;
  /** Send every snapshot whole, whatever its size (breaks SYNC-7). */
  readonly unpagedSnapshots?: boolean;
  /** Leave out of every user's entries the event at which a group moved to read fan-out (an off-by-one at readFanOutFromSeq; breaks CUR-8). */
  readonly dropFirstPublished?: boolean;
  /** Publish read-fan-out events but push them to no connected reader (breaks DLV-1, CUR-7). */
  readonly noPublishedPush?: boolean;
  /** Give a summary the seq of the oldest event it stands for, not the newest (breaks SYNC-8). */
  readonly summaryOldestSeq?: boolean;
  /** Let a late joiner of a read-fan-out group read it from the move on, before it joined (breaks CONV-8). */
  readonly joinerSeesEarlier?: boolean;
  /** Set a member's delivered position to the conversation's last seq on any report (breaks RCPT-2: claims what no device holds). */
  readonly deliveredToLast?: boolean;
  /** Keep no delivered position at all (breaks RCPT-1, RCPT-2: reports are lost). */
  readonly forgetDelivered?: boolean;
}

/** The StoredUserEntry list userEntries returns. */
type Entries = ReturnType<Store["userEntries"]>;

/** `userEntries` as the read-fan-out breakages say: the merge of stored and published entries gone wrong (CUR-7, CUR-8, SYNC-8). */
function lyingUserEntries(target: Store, breakage: Breakage): Store["userEntries"] {
  return (userId, afterCursor, limit, summarize) => {
    let entries: Entries = target.userEntries(userId, afterCursor, limit, summarize);
    if (breakage.dropFirstPublished) {
      entries = entries.filter((e) => {
        const from = e.body.case === "eventRef" ? target.conversation(e.body.conversationId)!.readFanOutFromSeq : 0;
        return !(from > 1 && e.body.case === "eventRef" && e.body.seq === from);
      });
    }
    if (breakage.summaryOldestSeq && entries.some((e) => e.summary)) {
      const whole = target.userEntries(userId, afterCursor, Number.MAX_SAFE_INTEGER, false);
      entries = entries.map((e) => {
        if (!e.summary || e.body.case !== "eventRef") return e;
        const { conversationId } = e.body;
        const oldest = whole.find((w) => w.body.case === "eventRef" && w.body.conversationId === conversationId);
        return oldest?.body.case === "eventRef" ? { ...e, body: { ...e.body, seq: oldest.body.seq } } : e;
      });
    }
    return entries;
  };
}

/** A factory for a server machine with `breakage` planted. */
export function brokenServer(breakage: Breakage): ServerMachineFactory {
  return (deps, options) => new BrokenServerMachine(deps, options, breakage);
}

/** Deps that lie as `breakage` says; an accepted bad token is bound to `helloDevice()`, the device authenticating. */
function lyingDeps(deps: ServerDeps, breakage: Breakage, helloDevice: () => string): ServerDeps {
  const store = new Proxy(deps.store, {
    get(target, property, receiver) {
      if (breakage.skipDedup && property === "dedup") return () => undefined;
      if ((breakage.deliveredToLast || breakage.forgetDelivered) && property === "setReadMarker") {
        return (userId: string, key: string, seq: number) => {
          const [conversationId, kind] = key.split("\u0000");
          if (kind !== "delivered") return target.setReadMarker(userId, key, seq);
          if (breakage.deliveredToLast) target.setReadMarker(userId, key, Math.max(seq, target.lastSeq(conversationId!)));
        };
      }
      if ((breakage.dropFirstPublished || breakage.summaryOldestSeq) && property === "userEntries") return lyingUserEntries(target, breakage);
      if (breakage.joinerSeesEarlier && property === "membership") {
        return (conversationId: string, userId: string) => {
          const membership = target.membership(conversationId, userId);
          const from = target.conversation(conversationId)?.readFanOutFromSeq ?? 0;
          return membership && from > 0 && membership.firstVisibleSeq > from ? { ...membership, firstVisibleSeq: from } : membership;
        };
      }
      if (breakage.skipMembershipCheck && property === "membership") {
        return (conversationId: string, userId: string) =>
          target.membership(conversationId, userId) ?? { conversationId, userId, role: 2, firstVisibleSeq: 1, lastVisibleSeq: 0 };
      }
      const value = Reflect.get(target, property, receiver) as unknown;
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  }) as Store;
  const verifyToken: ServerDeps["verifyToken"] = (token, now) => {
    const verified = deps.verifyToken(token, now);
    return !verified.ok && breakage.acceptAnyToken ? { ok: true, userId: `anyone-${token.slice(0, 16)}`, deviceId: helloDevice(), expiresAtMs: 0 } : verified;
  };
  return { ...deps, store, verifyToken };
}

class BrokenServerMachine extends ServerMachine {
  readonly #breakage: Breakage;
  /** Outputs already taken from the machine and rewritten, not yet handed on. */
  readonly #ready: ServerOutput[] = [];
  readonly #helloDevice = new Map<ConnectionId, string>();
  readonly #authenticating: { device: string };
  /** Connections whose HB-3 error was dropped: their close is dropped too. */
  readonly #spared = new Set<ConnectionId>();

  constructor(deps: ServerDeps, options: Partial<ServerOptions>, breakage: Breakage) {
    const authenticating = { device: "" };
    super(lyingDeps(deps, breakage, () => authenticating.device), options);
    this.#authenticating = authenticating;
    this.#breakage = breakage;
  }

  override frameReceived(id: ConnectionId, frame: Frame, now: number, payloadSize = 0): void {
    const body = frame.body;
    if (body.case === "hello") this.#helloDevice.set(id, body.value.deviceId);
    this.#authenticating.device = this.#helloDevice.get(id) ?? "";
    if (this.#breakage.skipRedelivery && body.case === "authenticate" && body.value.resume) {
      const check = this.deps.verifyToken(body.value.token, now);
      if (check.ok) body.value.resume.cursor = BigInt(this.store.headCursor(check.userId));
    }
    super.frameReceived(id, frame, now, payloadSize);
    if (this.#breakage.unpagedSnapshots && body.case === "syncUser") this.#glueSnapshotPages(id, frame.requestId, now);
  }

  override eventPublished(conversationId: string, seq: number): void {
    if (!this.#breakage.noPublishedPush) super.eventPublished(conversationId, seq);
  }

  override takeOutputsUnsettled(): ServerOutput[] {
    const outputs = [...this.#ready.splice(0), ...super.takeOutputsUnsettled()];
    return this.#rewrite(outputs);
  }

  /** Take the answer to a sync_user and, while it names a next snapshot page, ask for it too and merge it in. */
  #glueSnapshotPages(id: ConnectionId, requestId: number, now: number): void {
    const outputs = super.takeOutputsUnsettled();
    const index = outputs.findIndex((o) => o.kind === "send" && o.frame.requestId === requestId && o.frame.body.case === "userPage");
    const answer = index >= 0 ? (outputs[index] as ServerOutput & { kind: "send" }).frame : undefined;
    const first = answer?.body.case === "userPage" ? answer.body.value : undefined;
    if (!first?.snapshot) {
      this.#ready.push(...outputs);
      return;
    }
    const conversations = [...first.snapshot.conversations];
    for (let after = first.snapshot.continueAfter; after !== ""; ) {
      super.frameReceived(id, create(FrameSchema, { requestId, body: { case: "syncUser", value: { epoch: first.snapshot.epoch, snapshotAfter: after } } }), now);
      const page = super.takeOutputsUnsettled().find((o) => o.kind === "send" && o.frame.body.case === "userPage");
      const snapshot = page?.kind === "send" && page.frame.body.case === "userPage" ? page.frame.body.value.snapshot : undefined;
      conversations.push(...(snapshot?.conversations ?? []));
      after = snapshot?.continueAfter ?? "";
    }
    const whole = create(UserPageSchema, { ...first, snapshot: create(SnapshotSchema, { ...first.snapshot, conversations, continueAfter: "" }) });
    outputs[index] = { kind: "send", connection: id, frame: create(FrameSchema, { requestId, body: { case: "userPage", value: whole } }) };
    this.#ready.push(...outputs);
  }

  #rewrite(outputs: ServerOutput[]): ServerOutput[] {
    const out: ServerOutput[] = [];
    for (const output of outputs) {
      if (output.kind !== "send") {
        // The HB-3 close whose error was dropped: the silent connection lingers, never closed.
        if (output.kind === "close" && this.#spared.delete(output.connection)) continue;
        out.push(output);
        continue;
      }
      const body = output.frame.body;
      if (body.case === "error" && this.#breakage.ignoreHeartbeatTimeout && body.value.code === ErrorCode.TIMEOUT && body.value.requirement === "HB-3") {
        this.#spared.add(output.connection);
        continue;
      }
      if (body.case === "error" && this.#breakage.wrongErrorCodes && body.value.code === ErrorCode.PERMISSION_DENIED) {
        out.push({ ...output, frame: errorFrame(ErrorCode.NOT_FOUND, { requestId: output.frame.requestId, message: body.value.message, requirement: body.value.requirement }) });
        continue;
      }
      out.push(output);
    }
    return this.#breakage.reorderPushes ? reversePushRuns(out) : out;
  }
}

/** Each run of consecutive pushes to one connection, reversed. */
function reversePushRuns(outputs: ServerOutput[]): ServerOutput[] {
  const out: ServerOutput[] = [];
  let run: ServerOutput[] = [];
  const flush = () => out.push(...run.reverse().splice(0));
  for (const output of outputs) {
    const isPush = output.kind === "send" && output.frame.body.case === "deliver";
    if (!isPush || (run.length > 0 && (run[0] as { connection: ConnectionId }).connection !== output.connection)) flush();
    if (isPush) run.push(output);
    else out.push(output);
  }
  flush();
  return out;
}

// ---- The conformance runner's large-conversation self-tests (CONV-10, EXT-5) ----
// Kept apart from Breakage: these break answers only the runner checks, list_members and welcome.

export interface MemberPageBreakage {
  /** Leave out the first member of every page but the first: the one just after each boundary (breaks CONV-10). */
  readonly skipPageBoundary?: boolean;
  /** Sort and page user ids as UTF-16 code units, not UTF-8 bytes (breaks CONV-10). */
  readonly utf16MemberOrder?: boolean;
  /** List in welcome every feature the server implements, offered or not (breaks EXT-5). */
  readonly unofferedFeatures?: boolean;
}

/** A factory for a server machine whose member pages or welcome are broken as `breakage` says. */
export function brokenMemberPages(breakage: MemberPageBreakage): ServerMachineFactory {
  return (deps, options) => new MemberPageBrokenMachine(deps, options, breakage);
}

function lyingMembersPage(target: Store, breakage: MemberPageBreakage): Store["membersPage"] {
  return (conversationId, afterUserId, limit) => {
    if (breakage.utf16MemberOrder) {
      const all = target.members(conversationId).filter((m) => m.lastVisibleSeq === 0);
      return all.sort((x, y) => (x.userId < y.userId ? -1 : x.userId > y.userId ? 1 : 0)).filter((m) => afterUserId === "" || m.userId > afterUserId).slice(0, limit);
    }
    const page = target.membersPage(conversationId, afterUserId, limit + 1);
    return afterUserId === "" ? page.slice(0, limit) : page.slice(1, limit + 1);
  };
}

class MemberPageBrokenMachine extends ServerMachine {
  readonly #breakage: MemberPageBreakage;

  constructor(deps: ServerDeps, options: Partial<ServerOptions>, breakage: MemberPageBreakage) {
    const store = new Proxy(deps.store, {
      get(target, property, receiver) {
        if ((breakage.skipPageBoundary || breakage.utf16MemberOrder) && property === "membersPage") return lyingMembersPage(target, breakage);
        const value = Reflect.get(target, property, receiver) as unknown;
        return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    }) as Store;
    super({ ...deps, store }, options);
    this.#breakage = breakage;
  }

  override takeOutputsUnsettled(): ServerOutput[] {
    return super.takeOutputsUnsettled().map((output) => {
      if (!this.#breakage.unofferedFeatures || output.kind !== "send" || output.frame.body.case !== "welcome") return output;
      const welcome = { ...output.frame.body.value, features: [Feature.CONVERSATION_SUMMARIES, Feature.MEMBER_PAGES] };
      return { ...output, frame: create(FrameSchema, { requestId: output.frame.requestId, body: { case: "welcome", value: welcome } }) };
    });
  }
}

// ---- The conformance runner's message-action self-tests (ACT-1 to ACT-7, EXT-5) ----
// Kept apart from Breakage: a server without the feature, and bugs only the ACT tests look for.

export interface MessageActionBreakage {
  /** Strip FEATURE_MESSAGE_ACTIONS from every hello's offer: a server without the feature (not a broken one: EXT-5). */
  readonly withoutFeature?: boolean;
  /** Tombstone a redacted message but go on answering its edits with their content (breaks ACT-4). */
  readonly keepEditsOnRedaction?: boolean;
  /** Let any member edit any message, as if it were its sender (breaks ACT-3). */
  readonly anyoneEdits?: boolean;
}

/** A factory for a server machine without message actions, or with them broken, as `breakage` says. */
export function brokenMessageActions(breakage: MessageActionBreakage): ServerMachineFactory {
  return (deps, options) => new MessageActionBrokenMachine(deps, options, breakage);
}

class MessageActionBrokenMachine extends ServerMachine {
  readonly #breakage: MessageActionBreakage;
  /** The user each connection authenticated as (from its token). */
  readonly #users = new Map<ConnectionId, string>();
  /** While an edit is handled: its requester, whom the target's reads name as the sender. */
  readonly #editor: { userId: string | undefined };

  constructor(deps: ServerDeps, options: Partial<ServerOptions>, breakage: MessageActionBreakage) {
    const editor: { userId: string | undefined } = { userId: undefined };
    /** `conversation#seq` → an edit as it was before its message's redaction. */
    const kept = new Map<string, ReturnType<Store["event"]>>();
    const keep = <E extends { conversationId: string; seq: bigint }>(event: E): E => (kept.get(`${event.conversationId}#${event.seq}`) as E | undefined) ?? event;
    const store = new Proxy(deps.store, {
      get(target, property, receiver) {
        if (breakage.keepEditsOnRedaction && property === "redact") {
          return (conversationId: string, targetSeq: number, redactionSeq: number) => {
            const last = target.lastSeq(conversationId);
            for (let seq = targetSeq + 1; seq <= last; seq++) {
              const event = target.event(conversationId, seq);
              if (event && editTarget(event) === targetSeq) kept.set(`${conversationId}#${seq}`, event);
            }
            target.redact(conversationId, targetSeq, redactionSeq);
          };
        }
        if (breakage.keepEditsOnRedaction && property === "events") {
          return (...args: Parameters<Store["events"]>) => target.events(...args).map(keep);
        }
        if ((breakage.keepEditsOnRedaction || breakage.anyoneEdits) && property === "event") {
          return (conversationId: string, seq: number) => {
            const event = target.event(conversationId, seq);
            if (!event) return event;
            const shown = breakage.keepEditsOnRedaction ? keep(event) : event;
            return editor.userId !== undefined && shown.body.case === "message" ? { ...shown, senderUserId: editor.userId } : shown;
          };
        }
        const value = Reflect.get(target, property, receiver) as unknown;
        return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    }) as Store;
    super({ ...deps, store }, options);
    this.#breakage = breakage;
    this.#editor = editor;
  }

  override frameReceived(id: ConnectionId, frame: Frame, now: number, payloadSize = 0): void {
    const body = frame.body;
    if (this.#breakage.withoutFeature && body.case === "hello") body.value.features = body.value.features.filter((f) => f !== Feature.MESSAGE_ACTIONS);
    if (body.case === "authenticate") {
      const check = this.deps.verifyToken(body.value.token, now);
      if (check.ok) this.#users.set(id, check.userId);
    }
    const editing = this.#breakage.anyoneEdits && body.case === "actOnMessage" && body.value.action.case === "edit";
    this.#editor.userId = editing ? this.#users.get(id) : undefined;
    try {
      super.frameReceived(id, frame, now, payloadSize);
    } finally {
      this.#editor.userId = undefined;
    }
  }
}

// ---- The conformance runner's typing and presence self-tests (EPH-1 to EPH-5) ----
// Kept apart from Breakage: a server without the feature, and bugs only the EPH tests look for.

export interface EphemeralBreakage {
  /** Strip FEATURE_EPHEMERAL from every hello's offer: a server without the feature (not a broken one: EXT-5). */
  readonly withoutFeature?: boolean;
  /** Keep a device among a conversation's viewers after it stops viewing (an empty viewing_conversation_id): typing to a non-viewer (breaks EPH-2). */
  readonly staleViewers?: boolean;
  /** Store and answer set_presence_sharing but never consult it: a hidden user's presence still sent, and others' to it (breaks EPH-5). */
  readonly hiddenIgnored?: boolean;
}

/** A factory for a server machine without typing and presence, or with them broken, as `breakage` says. */
export function brokenEphemeral(breakage: EphemeralBreakage): ServerMachineFactory {
  return (deps, options) => new EphemeralBrokenMachine(deps, options, breakage);
}

class EphemeralBrokenMachine extends ServerMachine {
  readonly #breakage: EphemeralBreakage;
  /** The conversation each connection last named in viewing_conversation_id. */
  readonly #viewing = new Map<ConnectionId, string>();

  constructor(deps: ServerDeps, options: Partial<ServerOptions>, breakage: EphemeralBreakage) {
    const store = new Proxy(deps.store, {
      get(target, property, receiver) {
        if (breakage.hiddenIgnored && property === "presenceHidden") return () => false;
        const value = Reflect.get(target, property, receiver) as unknown;
        return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    }) as Store;
    super({ ...deps, store }, options);
    this.#breakage = breakage;
  }

  override frameReceived(id: ConnectionId, frame: Frame, now: number, payloadSize = 0): void {
    const body = frame.body;
    if (this.#breakage.withoutFeature && body.case === "hello") body.value.features = body.value.features.filter((f) => f !== Feature.EPHEMERAL);
    if (this.#breakage.staleViewers && body.case === "setDeviceState") {
      if (body.value.viewingConversationId === "") body.value.viewingConversationId = this.#viewing.get(id) ?? "";
      else this.#viewing.set(id, body.value.viewingConversationId);
    }
    super.frameReceived(id, frame, now, payloadSize);
  }
}

// ---- The conformance runner's thread and history-visibility self-tests (THR-1 to THR-4, HIS-1 to HIS-3) ----
// Kept apart from Breakage: a server without the features, and bugs only the THR and HIS tests look for.

export interface ThreadHistoryBreakage {
  /** Strip FEATURE_THREADS and FEATURE_HISTORY_VISIBILITY from every hello's offer: a server without them (not a broken one: EXT-5). */
  readonly withoutFeatures?: boolean;
  /** Answer a thread page with every event in its bounds, the thread's or not (breaks THR-2). */
  readonly threadIncludesUnrelated?: boolean;
  /** Move the conversation's read marker along with a thread's (breaks THR-3). */
  readonly threadMarkerMovesConversation?: boolean;
  /** Add members under LAST_EVENTS as if it were FROM_JOIN (breaks HIS-3). */
  readonly lastEventsAsFromJoin?: boolean;
}

/** A factory for a server machine without threads and history visibility, or with them broken, as `breakage` says. */
export function brokenThreadsHistory(breakage: ThreadHistoryBreakage): ServerMachineFactory {
  return (deps, options) => new ThreadHistoryBrokenMachine(deps, options, breakage);
}

class ThreadHistoryBrokenMachine extends ServerMachine {
  readonly #breakage: ThreadHistoryBreakage;
  /** While members are added: the setting's reads say FROM_JOIN for LAST_EVENTS. */
  readonly #adding: { on: boolean };

  constructor(deps: ServerDeps, options: Partial<ServerOptions>, breakage: ThreadHistoryBreakage) {
    const adding = { on: false };
    const store = new Proxy(deps.store, {
      get(target, property, receiver) {
        if (breakage.threadIncludesUnrelated && property === "threadEvents") {
          return (conversationId: string, _root: number, afterSeq: number, untilSeq: number, limit: number) => target.events(conversationId, afterSeq, untilSeq, limit);
        }
        if (breakage.threadMarkerMovesConversation && property === "setReadMarker") {
          return (userId: string, key: string, seq: number) => {
            target.setReadMarker(userId, key, seq);
            const conversationId = key.split("\u0000")[0]!;
            if (conversationId !== key && target.readMarker(userId, conversationId) < seq) target.setReadMarker(userId, conversationId, seq);
          };
        }
        if (breakage.lastEventsAsFromJoin && property === "historyVisibility") {
          return (conversationId: string) => {
            const setting = target.historyVisibility(conversationId);
            return adding.on && setting.visibility === HistoryVisibility.LAST_EVENTS ? { visibility: HistoryVisibility.FROM_JOIN, events: 0 } : setting;
          };
        }
        const value = Reflect.get(target, property, receiver) as unknown;
        return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    }) as Store;
    super({ ...deps, store }, options);
    this.#breakage = breakage;
    this.#adding = adding;
  }

  override frameReceived(id: ConnectionId, frame: Frame, now: number, payloadSize = 0): void {
    const body = frame.body;
    if (this.#breakage.withoutFeatures && body.case === "hello") body.value.features = body.value.features.filter((f) => f !== Feature.THREADS && f !== Feature.HISTORY_VISIBILITY);
    this.#adding.on = body.case === "openConversation" && body.value.conversationId !== "" && body.value.userIds.length > 0;
    try {
      super.frameReceived(id, frame, now, payloadSize);
    } finally {
      this.#adding.on = false;
    }
  }
}

// ---- The conformance runner's receipt self-tests (RCPT-2 to RCPT-5) ----
// Kept apart from Breakage: a server without the feature, and bugs only the RCPT tests look for.
// Breakage.deliveredToLast and Breakage.forgetDelivered break the delivered positions themselves.

export interface ReceiptBreakage {
  /** Strip FEATURE_RECEIPTS from every hello's offer: a server without the feature (not a broken one: EXT-5). */
  readonly withoutFeature?: boolean;
  /** Take every channel for a group while answering list_receipts: its members listed to anyone who asks (breaks RCPT-5, SEC-7). */
  readonly channelMembersListed?: boolean;
  /** Order the listed members by UTF-16 code units, as a plain JavaScript sort does, not UTF-8 bytes (breaks RCPT-4). */
  readonly utf16Order?: boolean;
}

/** A factory for a server machine without per-member receipts, or with them broken, as `breakage` says. */
export function brokenReceipts(breakage: ReceiptBreakage): ServerMachineFactory {
  return (deps, options) => new ReceiptBrokenMachine(deps, options, breakage);
}

class ReceiptBrokenMachine extends ServerMachine {
  readonly #breakage: ReceiptBreakage;
  /** While a list_receipts is answered: the store's conversations read as groups. */
  readonly #listing: { on: boolean };

  constructor(deps: ServerDeps, options: Partial<ServerOptions>, breakage: ReceiptBreakage) {
    const listing = { on: false };
    const store = new Proxy(deps.store, {
      get(target, property, receiver) {
        if (breakage.channelMembersListed && property === "conversation") {
          return (conversationId: string) => {
            const conversation = target.conversation(conversationId);
            return listing.on && conversation ? { ...conversation, kind: ConversationKind.GROUP } : conversation;
          };
        }
        const value = Reflect.get(target, property, receiver) as unknown;
        return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    }) as Store;
    super({ ...deps, store }, options);
    this.#breakage = breakage;
    this.#listing = listing;
  }

  override frameReceived(id: ConnectionId, frame: Frame, now: number, payloadSize = 0): void {
    const body = frame.body;
    if (this.#breakage.withoutFeature && body.case === "hello") body.value.features = body.value.features.filter((f) => f !== Feature.RECEIPTS);
    this.#listing.on = body.case === "listReceipts";
    try {
      super.frameReceived(id, frame, now, payloadSize);
    } finally {
      this.#listing.on = false;
    }
  }

  override takeOutputsUnsettled(): ServerOutput[] {
    const outputs = super.takeOutputsUnsettled();
    if (!this.#breakage.utf16Order) return outputs;
    for (const output of outputs) {
      if (output.kind === "send" && output.frame.body.case === "receipts") output.frame.body.value.members.sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
    }
    return outputs;
  }
}
