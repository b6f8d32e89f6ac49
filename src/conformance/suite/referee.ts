import { Feature, type Welcome } from "../../gen/imwire/v1/connection_pb.js";
import { ConversationKind, HistoryVisibility, type Conversation, type ListMembers, type MemberPage } from "../../gen/imwire/v1/conversation_pb.js";
import { ErrorCode } from "../../gen/imwire/v1/error_pb.js";
import type { Frame } from "../../gen/imwire/v1/frame_pb.js";
import type { ConversationPage, SyncConversation, SyncUser, UserPage } from "../../gen/imwire/v1/sync_pb.js";
import type { UserEvent } from "../../gen/imwire/v1/delivery_pb.js";
import { welcomeProblem } from "../../codec/welcome.js";
import { errorCodeInfo } from "../../errors.js";
import { HANDSHAKE_MAX_FRAME_SIZE } from "../../limits.js";
import type { Ledger } from "./ledger.js";
import { errorsAnswering, type RequestCase } from "./request-errors.js";

type Body = Frame["body"];
type Case = NonNullable<Body["case"]>;

/** A rule the server broke on this connection, whatever the test was checking. */
export interface Foul {
  readonly requirement: string;
  readonly message: string;
}

/** The positive answer of each request (SPEC.md §4.1). */
const ANSWERS: Readonly<Record<RequestCase, Case>> = {
  hello: "welcome",
  authenticate: "authenticated",
  sendMessage: "sendAck",
  syncConversation: "conversationPage",
  syncUser: "userPage",
  markRead: "readMarker",
  openConversation: "conversationOpened",
  leaveConversation: "conversationLeft",
  setReceiveSettings: "receiveSettings",
  setDeviceState: "deviceStateSet",
  listMembers: "memberPage",
  actOnMessage: "sendAck",
  setPresenceSharing: "presenceSharing",
  setHistoryVisibility: "conversationOpened",
  hideMessage: "messageHidden",
  listReceipts: "receipts",
};

/** Bodies only a client sends (ENV-7). */
const CLIENT_ONLY = new Set<Case>([...(Object.keys(ANSWERS) as Case[]), "deliveryAck", "setTyping"]);
/** Server notices of FEATURE_EPHEMERAL (EPH-1): request_id 0, no cursor, sent only where the feature is in force. */
const EPHEMERAL_NOTICES = new Set<Case>(["typing", "presence"]);
/** What a server may send before authenticated (CONN-11). */
const BEFORE_AUTHENTICATED = new Set<Case>(["welcome", "authenticated", "error", "ping", "pong", "goAway"]);

interface Outstanding {
  readonly body: Body;
  /** Sent after go_away arrived: the answer must be UNAVAILABLE (CONN-7). */
  readonly afterGoAway: boolean;
}

/**
 * The referee of one connection: it sees every frame the runner sends and
 * every frame the server sends back, and checks the rules that hold for any
 * frame whatever the test is about — answers matched to requests exactly
 * once (ENV-2), what an error says about itself (ERR-2) and what follows it,
 * frame sizes (FRM-4), who may send what when (ENV-7, CONN-11, DLV-2,
 * CONN-7), the links between pushed entries (CUR-2, CUR-3, DLV-1), and the
 * shape of every page against the request it answers (SYNC-1 to SYNC-3).
 * A test passes only if its connections drew no foul.
 */
export class Referee {
  readonly fouls: Foul[] = [];
  #userId = "";
  #epoch = "";

  /** `ledger`, when given, also sees every event, entry and send_ack, to check them against the test's other connections. */
  constructor(
    private readonly ledger?: Ledger,
    private readonly name = "a connection",
  ) {}

  /** Raw bytes were written: answers can no longer be matched to requests. */
  #opaque = false;
  #lossy = false;
  readonly #outstanding = new Map<number, Outstanding>();
  #welcome: Welcome | undefined;
  #helloWindow = 0;
  #helloDevice = "";
  #offered: readonly number[] = [];
  #offeredFeatures: readonly number[] = [];
  #authenticated = false;
  #goAway = false;
  /** A closing error arrived: the server must close, and send nothing after it (ERR-2). */
  #closingError: Frame | undefined;
  /** DLV-2: the device set its position (a resume accepted, or a delivery_ack sent). */
  #positionSet = false;
  #lastPush: UserEvent | undefined;
  /** Where the first push after a resume must start (DLV-1, DLV-3). */
  #resumedAt: bigint | undefined;
  /** Every cursor this device was sent or set: what a push may link to (CUR-3). */
  readonly #known = new Set<bigint>();
  /** ACK-2: the highest cursor the server has sent this device on this connection. */
  #highestSent = -1n;
  readonly #pushedSeq = new Map<string, bigint>();
  /** Cursors pushed above every acknowledgement sent, ascending (FLOW-2). */
  readonly #unacknowledged: bigint[] = [];
  readonly #pingNonces = new Set<bigint>();
  #pendingResume: bigint | undefined;

  /** The highest cursor sent to this device on this connection (ACK-2's bound), or -1 when none was. */
  get highestSent(): bigint {
    return this.#highestSent;
  }

  get welcome(): Welcome | undefined {
    return this.#welcome;
  }

  /** A closing error the server sent, if any. */
  get closingError(): Frame | undefined {
    return this.#closingError;
  }

  /** Requests sent and not answered (undefined once raw bytes made that unknowable). */
  get unanswered(): number[] | undefined {
    return this.#opaque || this.#lossy ? undefined : [...this.#outstanding.keys()];
  }

  /** The runner wrote bytes that are not whole frames: answers can no longer be matched to requests. */
  wroteRaw(): void {
    this.#opaque = true;
  }

  /**
   * The connection runs through a proxy that may lose server frames: checks
   * that assume the device sees all the server sent (links to what it was
   * sent, every request answered) no longer apply.
   */
  throughLossyLink(): void {
    this.#lossy = true;
  }

  /** The runner sent `frame`. */
  sent(frame: Frame): void {
    const body = frame.body;
    switch (body.case) {
      case "hello":
        this.#helloWindow = body.value.receiveWindow;
        this.#helloDevice = body.value.deviceId;
        this.#offered = body.value.versions;
        this.#offeredFeatures = body.value.features;
        break;
      case "authenticate":
        this.#pendingResume = body.value.resume?.cursor;
        break;
      case "deliveryAck":
        if (body.value.cursor !== 0n || body.value.conversations.length === 0) {
          this.#positionSet = true;
          this.#known.add(body.value.cursor);
          while (this.#unacknowledged.length > 0 && this.#unacknowledged[0]! <= body.value.cursor) this.#unacknowledged.shift();
        }
        break;
      case "ping":
        this.#pingNonces.add(body.value.nonce);
        break;
    }
    // A frame of a later version (no body this version knows) is answered too, with UNKNOWN_FRAME (ENV-4).
    if ((body.case === undefined || body.case in ANSWERS) && frame.requestId !== 0) {
      this.#outstanding.set(frame.requestId, { body, afterGoAway: this.#goAway });
    }
  }

  /** The server sent `frame`, `size` bytes of payload. */
  received(frame: Frame, size: number): void {
    const body = frame.body;
    const closing = this.#closingError?.body;
    if (closing?.case === "error") {
      this.#foul("ERR-2", `a frame (${body.case}) after the closing error ${ErrorCode[closing.value.code] ?? closing.value.code}: the sender closes once the error is written`);
    }
    const limit = this.#welcome ? this.#welcome.maxFrameSize : HANDSHAKE_MAX_FRAME_SIZE;
    if (size > limit) this.#foul("FRM-4", `a ${size}-byte frame (${body.case}) over the limit in force, ${limit}`);
    if (body.case === undefined) return;
    if (CLIENT_ONLY.has(body.case)) this.#foul("ENV-7", `${body.case} is sent by clients only`);
    if (!this.#authenticated && !BEFORE_AUTHENTICATED.has(body.case)) this.#foul("CONN-11", `${body.case} before authenticated`);
    this.#matchAnswer(frame);
    if (EPHEMERAL_NOTICES.has(body.case) && !(this.#welcome?.features ?? []).includes(Feature.EPHEMERAL)) {
      this.#foul("EPH-1", `${body.case} on a connection where FEATURE_EPHEMERAL is not in force (welcome.features [${(this.#welcome?.features ?? []).join(", ")}])`);
    }
    switch (body.case) {
      case "error":
        this.#error(frame);
        break;
      case "welcome":
        this.#welcome = body.value;
        this.#welcomeShape(body.value);
        break;
      case "authenticated":
        this.#authenticated = true;
        this.#userId = body.value.userId;
        this.#epoch = body.value.epoch;
        if (body.value.deviceId !== this.#helloDevice) this.#foul("AUTH-3", `authenticated as device ${body.value.deviceId}, not hello's ${this.#helloDevice}`);
        if (body.value.resumed) {
          const cursor = this.#pendingResume ?? 0n;
          if (cursor > body.value.headCursor) this.#foul("AUTH-5", `resumed at cursor ${cursor}, beyond the head ${body.value.headCursor}`);
          this.#positionSet = true;
          this.#resumedAt = cursor;
          this.#sentCursor(cursor);
        }
        break;
      case "goAway":
        this.#goAway = true;
        break;
      case "deliver":
        this.#push(body.value);
        this.ledger?.entry(this.#userId, this.#epoch, body.value, `${this.name}'s push`);
        break;
      case "pong":
        if (!this.#pingNonces.has(body.value.nonce)) this.#foul("HB-2", `pong with nonce ${body.value.nonce}, which no ping carried`);
        if (this.#authenticated) this.#headAtLeastSent(body.value.headCursor, "pong.head_cursor");
        break;
    }
  }

  #foul(requirement: string, message: string): void {
    this.fouls.push({ requirement, message });
  }

  /** ENV-2: an answer carries the id of a request awaiting one, and is that request's answer or an error. */
  #matchAnswer(frame: Frame): void {
    const body = frame.body;
    const isAnswer = body.case !== undefined && Object.values(ANSWERS).includes(body.case);
    if (!isAnswer && !(body.case === "error" && frame.requestId !== 0)) {
      if (frame.requestId !== 0 && body.case !== "deliver") this.#foul("ENV-2", `${body.case} carries request_id ${frame.requestId}; frames that are not answers carry 0`);
      return;
    }
    if (this.#opaque) return;
    const request = this.#outstanding.get(frame.requestId);
    if (!request) {
      this.#foul("ENV-2", `${body.case} with request_id ${frame.requestId}, which no unanswered request carries (answered twice, or never asked)`);
      return;
    }
    this.#outstanding.delete(frame.requestId);
    if (request.body.case === undefined) {
      if (body.case !== "error" || body.value.code !== ErrorCode.UNKNOWN_FRAME) this.#foul("ENV-4", `a frame with no known body answered with ${body.case}, not UNKNOWN_FRAME`);
      return;
    }
    const requestCase = request.body.case as RequestCase;
    if (body.case === "error") {
      const code = body.value.code;
      const allowed = errorsAnswering(requestCase, this.#authenticated);
      if (ErrorCode[code] !== undefined && !allowed.includes(code)) {
        this.#foul("ERR-4", `${requestCase} answered with ${ErrorCode[code]}, which §19 does not list for it (${allowed.map((c) => ErrorCode[c]).join(", ")})`);
      }
      if (request.afterGoAway && code !== ErrorCode.UNAVAILABLE) this.#foul("CONN-7", `a request sent after go_away was answered ${ErrorCode[code] ?? code}, not UNAVAILABLE`);
      return;
    }
    if (body.case !== ANSWERS[requestCase]) {
      this.#foul("ENV-2", `${requestCase} #${frame.requestId} answered with ${body.case}, not ${ANSWERS[requestCase]}`);
      return;
    }
    if (request.afterGoAway) this.#foul("CONN-7", `${requestCase} sent after go_away was answered ${body.case}, not UNAVAILABLE`);
    this.#answerShape(request.body, body);
  }

  /** ERR-2: closing and retryable as the table says; a closing error is the last frame. */
  #error(frame: Frame): void {
    if (frame.body.case !== "error") return;
    const error = frame.body.value;
    if (ErrorCode[error.code] === undefined) return; // a code of a later version: its class rules (ERR-3)
    const info = errorCodeInfo(error.code);
    if (error.closing !== info.closes) this.#foul("ERR-2", `${ErrorCode[error.code]} with closing ${error.closing}; the table says ${info.closes}`);
    if (error.retryable !== info.retryable) this.#foul("ERR-2", `${ErrorCode[error.code]} with retryable ${error.retryable}; the table says ${info.retryable}`);
    if (error.code === ErrorCode.UNSUPPORTED_VERSION && error.supportedVersions.length === 0) this.#foul("CONN-2", "UNSUPPORTED_VERSION without supported_versions");
    if (error.closing || info.closes) this.#closingError = frame;
  }

  #welcomeShape(welcome: Welcome): void {
    const problem = welcomeProblem(welcome, this.#offered);
    if (problem) this.#foul(problem.slice(0, problem.indexOf(":")), problem);
    const features = welcome.features;
    const unoffered = features.filter((f) => !this.#offeredFeatures.includes(f));
    if (unoffered.length > 0) this.#foul("EXT-5", `welcome.features lists ${unoffered.join(", ")}, which hello did not offer (${this.#offeredFeatures.join(", ") || "none"})`);
    if (new Set(features).size !== features.length) this.#foul("EXT-5", `welcome.features lists a feature twice: ${features.join(", ")}`);
    if (this.#helloWindow !== 0 && welcome.receiveWindow > this.#helloWindow) {
      this.#foul("FLOW-2", `welcome.receive_window ${welcome.receiveWindow} above hello's ${this.#helloWindow}`);
    }
  }

  #sentCursor(cursor: bigint): void {
    this.#known.add(cursor);
    if (cursor > this.#highestSent) this.#highestSent = cursor;
  }

  #headAtLeastSent(head: bigint, field: string): void {
    if (head < this.#highestSent) this.#foul("CUR-6", `${field} ${head} below cursor ${this.#highestSent}, already sent on this connection`);
  }

  /** DLV-1, DLV-2, CUR-2, CUR-3, CONN-7: a push after the position was set, in order, linked to what the device has. */
  #push(entry: UserEvent): void {
    if (!this.#authenticated || !this.#positionSet) this.#foul("DLV-2", `deliver (cursor ${entry.cursor}) before the device set its delivery position`);
    if (this.#goAway) this.#foul("CONN-7", `deliver (cursor ${entry.cursor}) after go_away: a draining server pushes nothing more`);
    if (entry.prevCursor >= entry.cursor) this.#foul("CUR-3", `deliver with prev_cursor ${entry.prevCursor} not below its cursor ${entry.cursor}`);
    const last = this.#lastPush;
    if (last) {
      if (entry.cursor <= last.cursor) this.#foul("DLV-1", `deliver cursor ${entry.cursor} after ${last.cursor}: pushes go in cursor order, each once per connection`);
      else if (entry.prevCursor < last.cursor) this.#foul("CUR-3", `deliver ${entry.cursor} links to ${entry.prevCursor}, older than the entry pushed before it (${last.cursor})`);
    } else if (this.#resumedAt !== undefined) {
      if (entry.cursor <= this.#resumedAt) this.#foul("DLV-1", `deliver cursor ${entry.cursor} at or before the resume cursor ${this.#resumedAt}`);
      else if (entry.prevCursor < this.#resumedAt) this.#foul("CUR-3", `the first push after resuming at ${this.#resumedAt} links to ${entry.prevCursor}`);
    }
    if (!this.#lossy && !this.#known.has(entry.prevCursor)) {
      this.#foul("CUR-3", `deliver ${entry.cursor} links to prev_cursor ${entry.prevCursor}, which this device was never sent nor set`);
    }
    if (entry.body.case === "joined") this.#joined(entry.body.value.conversation!);
    const ref = entry.body.case === "event" || entry.body.case === "notify" ? entry.body.value : undefined;
    if (ref) {
      const before = this.#pushedSeq.get(ref.conversationId);
      if (before !== undefined && ref.seq <= before) this.#foul("CUR-1", `${ref.conversationId}#${ref.seq} pushed after #${before}: a conversation's events appear in seq order`);
      this.#pushedSeq.set(ref.conversationId, ref.seq);
    }
    this.#lastPush = entry;
    this.#sentCursor(entry.cursor);
    // The server has seen at most the acknowledgements sent so far, so it holds at least this many unacknowledged.
    this.#unacknowledged.push(entry.cursor);
    const window = this.#welcome?.receiveWindow;
    if (window !== undefined && this.#unacknowledged.length > window) {
      this.#foul("FLOW-2", `${this.#unacknowledged.length} pushes unacknowledged, over receive_window ${window}`);
    }
  }

  /**
   * CONV-7: a joined entry comes before the event that made the user a
   * member, and describes the conversation after it. Under HIS-3 the interval
   * may open before that event: the event is then first_visible_seq + N under
   * LAST_EVENTS N (when above 1), and unknown under FULL (bounded by last_seq).
   */
  #joined(conversation: Conversation): void {
    const { conversationId, firstVisibleSeq, lastSeq } = conversation;
    if (lastSeq < firstVisibleSeq) this.#foul("CONV-7", `joined ${conversationId} with last_seq ${lastSeq} below its first_visible_seq ${firstVisibleSeq}: it describes the conversation before the event that made the user a member`);
    const opened = conversation.kind === ConversationKind.GROUP ? conversation.historyVisibility : HistoryVisibility.UNSPECIFIED;
    const event =
      opened === HistoryVisibility.LAST_EVENTS && firstVisibleSeq > 1n
        ? firstVisibleSeq + BigInt(conversation.historyEvents)
        : opened === HistoryVisibility.LAST_EVENTS || opened === HistoryVisibility.FULL
          ? undefined
          : firstVisibleSeq;
    const pushed = this.#pushedSeq.get(conversationId);
    if (pushed === undefined) return;
    if (event !== undefined && pushed >= event) this.#foul("CONV-7", `joined ${conversationId} (its event #${event}) pushed after #${pushed}`);
    else if (event === undefined && pushed > lastSeq) this.#foul("CONV-7", `joined ${conversationId} (last_seq ${lastSeq}) pushed after #${pushed}`);
  }

  /** What every positive answer must say about its request. */
  #answerShape(request: Body, answer: Body): void {
    switch (answer.case) {
      case "sendAck":
        this.ledger?.ack(answer.value);
        if (request.case !== "sendMessage" && request.case !== "actOnMessage") return;
        if (answer.value.conversationId !== request.value.conversationId || answer.value.clientMessageId !== request.value.clientMessageId) {
          this.#foul(request.case === "sendMessage" ? "MSG-1" : "ACT-1", `send_ack for ${answer.value.conversationId}/${answer.value.clientMessageId}, asked ${request.value.conversationId}/${request.value.clientMessageId}`);
        }
        break;
      case "conversationPage":
        if (request.case === "syncConversation") this.#conversationPage(request.value, answer.value);
        break;
      case "userPage":
        if (request.case === "syncUser") this.#userPage(request.value, answer.value);
        break;
      case "readMarker":
        if (request.case !== "markRead") return;
        if (answer.value.conversationId !== request.value.conversationId) this.#foul("READ-1", `read_marker for ${answer.value.conversationId}, asked ${request.value.conversationId}`);
        if (answer.value.seq < request.value.seq) this.#foul("READ-1", `read_marker ${answer.value.seq} below the ${request.value.seq} marked: the marker moves to the greater`);
        // THR-3: a thread's marker is answered with its thread_root_seq, the conversation's with 0 (only sent non-zero where threads are implemented).
        if (answer.value.threadRootSeq !== request.value.threadRootSeq) this.#foul("THR-3", `read_marker with thread_root_seq ${answer.value.threadRootSeq}, asked ${request.value.threadRootSeq}`);
        break;
      case "receiveSettings":
        if (request.case !== "setReceiveSettings") return;
        if (answer.value.conversationId !== request.value.settings?.conversationId || answer.value.mode !== request.value.settings?.mode) {
          this.#foul("RECV-1", `receive_settings ${answer.value.conversationId || "(account)"}=${answer.value.mode}, asked ${request.value.settings?.conversationId || "(account)"}=${request.value.settings?.mode}`);
        }
        break;
      case "deviceStateSet":
        if (request.case === "setDeviceState" && answer.value.state !== request.value.state) this.#foul("RECV-5", `device_state_set ${answer.value.state}, asked ${request.value.state}`);
        break;
      case "memberPage":
        if (request.case === "listMembers") this.#memberPage(request.value, answer.value);
        break;
      case "presenceSharing":
        if (request.case === "setPresenceSharing" && answer.value.hidden !== request.value.hidden) this.#foul("EPH-5", `presence_sharing hidden ${answer.value.hidden}, asked ${request.value.hidden}`);
        break;
      case "conversationLeft":
        if (request.case === "leaveConversation" && answer.value.conversationId !== request.value.conversationId) this.#foul("CONV-5", `conversation_left for ${answer.value.conversationId}, asked ${request.value.conversationId}`);
        break;
      case "conversationOpened": {
        if (request.case === "setHistoryVisibility") {
          const conversation = answer.value.conversation!;
          const { conversationId, visibility, historyEvents } = request.value;
          if (conversation.conversationId !== conversationId || conversation.kind !== ConversationKind.GROUP) {
            this.#foul("HIS-2", `set_history_visibility for ${conversationId} answered with ${conversation.conversationId} of kind ${conversation.kind}: only groups have a setting`);
          } else if (unspecifiedAsFromJoin(conversation.historyVisibility) !== unspecifiedAsFromJoin(visibility) || (visibility === HistoryVisibility.LAST_EVENTS && conversation.historyEvents !== historyEvents)) {
            this.#foul("HIS-2", `set_history_visibility ${visibility}/${historyEvents} answered with a group described ${conversation.historyVisibility}/${conversation.historyEvents}: the answer describes the group after it`);
          }
          return;
        }
        if (request.case !== "openConversation") return;
        const conversation = answer.value.conversation!;
        if (request.value.conversationId !== "" && conversation.conversationId !== request.value.conversationId) {
          this.#foul("CONV-4", `conversation_opened for ${conversation.conversationId}, asked ${request.value.conversationId}`);
        }
        if (request.value.kind !== 0 && conversation.kind !== request.value.kind) this.#foul("CONV-1", `conversation_opened of kind ${conversation.kind}, asked ${request.value.kind}`);
        if (conversation.kind === 3 && conversation.memberUserIds.length > 0) this.#foul("SEC-7", "a channel's member_user_ids must be empty");
        break;
      }
    }
  }

  /** SYNC-1, SYNC-2: consecutive events within the request's bounds, from the right start, has_more truthful. */
  #conversationPage(request: SyncConversation, page: ConversationPage): void {
    const where = `conversation_page of ${request.conversationId} (after_seq ${request.afterSeq}${request.untilSeq ? `, until_seq ${request.untilSeq}` : ""}${request.limit ? `, limit ${request.limit}` : ""}${request.threadRootSeq ? `, thread_root_seq ${request.threadRootSeq}` : ""})`;
    if (page.conversationId !== request.conversationId) this.#foul("SYNC-1", `${where} names ${page.conversationId}`);
    if (request.threadRootSeq !== 0n) {
      this.#threadPage(request, page, where);
      return;
    }
    const seqs = page.events.map((e) => e.seq);
    const start = request.afterSeq + 1n > page.firstVisibleSeq ? request.afterSeq + 1n : page.firstVisibleSeq;
    if (seqs.length > 0 && seqs[0] !== start) this.#foul("SYNC-1", `${where} starts at ${seqs[0]}, not max(after_seq + 1, first_visible_seq) = ${start}`);
    if (seqs.some((s, i) => i > 0 && s !== seqs[i - 1]! + 1n)) this.#foul("SYNC-1", `${where}: seqs ${seqs.join(",")} are not consecutive`);
    if (page.events.some((e) => e.conversationId !== request.conversationId)) this.#foul("SYNC-1", `${where} holds events of another conversation`);
    for (const event of page.events) this.ledger?.event(event, `${this.name}'s ${where}`);
    if (request.limit !== 0 && seqs.length > request.limit) this.#foul("SYNC-2", `${where}: ${seqs.length} events, over the limit`);
    const bound = request.untilSeq !== 0n && request.untilSeq < page.lastSeq ? request.untilSeq : page.lastSeq;
    const last = seqs.at(-1);
    if (last !== undefined && last > bound) this.#foul("SYNC-1", `${where}: event ${last} beyond ${request.untilSeq !== 0n ? "until_seq or " : ""}last_seq (${bound})`);
    const reached = last ?? (start - 1n);
    if (page.hasMore && seqs.length === 0) this.#foul("SYNC-2", `${where}: has_more with no events`);
    if (!page.hasMore && reached < bound) this.#foul("SYNC-2", `${where}: has_more false, yet events ${reached + 1n}..${bound} lie within the bounds`);
    if (page.hasMore && last !== undefined && last >= bound) this.#foul("SYNC-2", `${where}: has_more, yet the page reached ${bound}`);
  }

  /**
   * THR-2: a thread page holds the root and the thread's replies only, in
   * ascending seq within the request's bounds, under SYNC-1 and SYNC-2's other
   * rules — but not consecutive seqs, and has_more is about the thread, which
   * the referee cannot see whole (the tests check it). A tombstone stands for
   * a redacted reply (THR-4): the ledger checks it against the message it was.
   * Only requests sent where the server implements threads carry
   * thread_root_seq (the THR tests are unsupported elsewhere).
   */
  #threadPage(request: SyncConversation, page: ConversationPage, where: string): void {
    const root = request.threadRootSeq;
    const seqs = page.events.map((e) => e.seq);
    const bound = request.untilSeq !== 0n && request.untilSeq < page.lastSeq ? request.untilSeq : page.lastSeq;
    const low = request.afterSeq + 1n > page.firstVisibleSeq ? request.afterSeq + 1n : page.firstVisibleSeq;
    if (seqs.some((s, i) => i > 0 && s <= seqs[i - 1]!)) this.#foul("THR-2", `${where}: seqs ${seqs.join(",")} are not ascending`);
    if (seqs.length > 0 && seqs[0]! < low) this.#foul("THR-2", `${where} starts at ${seqs[0]}, below max(after_seq + 1, first_visible_seq) = ${low}`);
    if (seqs.some((s) => s < root)) this.#foul("THR-2", `${where}: events before the root (#${seqs.filter((s) => s < root).join(",")})`);
    if (low <= root && root <= bound && seqs[0] !== root) this.#foul("THR-2", `${where}: the root #${root} lies within the bounds, yet the page starts at ${seqs[0] ?? "nothing"}`);
    if (page.events.some((e) => e.conversationId !== request.conversationId)) this.#foul("SYNC-1", `${where} holds events of another conversation`);
    for (const event of page.events) {
      this.ledger?.event(event, `${this.name}'s ${where}`);
      if (event.seq === root) continue;
      const body = event.body;
      const reply = body.case === "message" ? body.value.threadRootSeq === root : body.case === "redacted" && body.value.editOf === 0n;
      if (!reply) this.#foul("THR-2", `${where}: #${event.seq} (${body.case}${body.case === "message" ? ` with thread_root_seq ${body.value.threadRootSeq}` : ""}) is neither the root nor one of its replies`);
      else this.ledger?.threadReply(event, root, `${this.name}'s ${where}`);
    }
    if (request.limit !== 0 && seqs.length > request.limit) this.#foul("SYNC-2", `${where}: ${seqs.length} events, over the limit`);
    const last = seqs.at(-1);
    if (last !== undefined && last > bound) this.#foul("SYNC-1", `${where}: event ${last} beyond ${request.untilSeq !== 0n ? "until_seq or " : ""}last_seq (${bound})`);
    if (page.hasMore && seqs.length === 0) this.#foul("SYNC-2", `${where}: has_more with no events`);
    if (page.hasMore && last !== undefined && last >= bound) this.#foul("SYNC-2", `${where}: has_more, yet the page reached ${bound}`);
  }

  /** CONV-10: members after after_user_id in ascending UTF-8 order, within the limit, continue_after naming the last when more follow. */
  #memberPage(request: ListMembers, page: MemberPage): void {
    const where = `member_page of ${request.conversationId} (after ${JSON.stringify(request.afterUserId)}${request.limit ? `, limit ${request.limit}` : ""})`;
    if (page.conversationId !== request.conversationId) this.#foul("CONV-10", `${where} names ${page.conversationId}`);
    let previous = request.afterUserId === "" ? undefined : Buffer.from(request.afterUserId, "utf8");
    for (const member of page.members) {
      const id = Buffer.from(member.userId, "utf8");
      if (previous !== undefined && Buffer.compare(previous, id) >= 0) {
        this.#foul("CONV-10", `${where}: ${JSON.stringify(member.userId)} does not sort after ${JSON.stringify(previous.toString("utf8"))} as UTF-8 bytes`);
      }
      previous = id;
    }
    const cap = request.limit === 0 ? 1_000 : Math.min(request.limit, 1_000);
    if (page.members.length > cap) this.#foul("CONV-10", `${where}: ${page.members.length} members, over the limit ${cap}`);
    if (page.continueAfter !== "" && page.continueAfter !== page.members.at(-1)?.userId) {
      this.#foul("CONV-10", `${where}: continue_after ${JSON.stringify(page.continueAfter)} is not the page's last member`);
    }
    if (page.members.length > page.memberCount) this.#foul("CONV-10", `${where}: ${page.members.length} members listed, member_count ${page.memberCount}`);
  }

  /** SYNC-3, SYNC-4: entries linked from after_cursor, or a snapshot and no entries. */
  #userPage(request: SyncUser, page: UserPage): void {
    this.#headAtLeastSent(page.headCursor, "user_page.head_cursor");
    if (page.snapshot) {
      if (page.events.length > 0) this.#foul("SYNC-4", "a user_page with a snapshot and entries");
      if (page.snapshot.cursor > page.headCursor) this.#foul("SYNC-4", `snapshot cursor ${page.snapshot.cursor} beyond head_cursor ${page.headCursor}`);
      this.#sentCursor(page.snapshot.cursor);
      return;
    }
    if (request.snapshotAfter !== "") return; // continuing a snapshot whose epoch changed: a new one is due, checked by the tests
    const where = `user_page after cursor ${request.afterCursor}${request.limit ? ` (limit ${request.limit})` : ""}`;
    let prev = request.afterCursor;
    for (const entry of page.events) {
      if (entry.prevCursor !== prev) this.#foul("SYNC-3", `${where}: entry ${entry.cursor} has prev_cursor ${entry.prevCursor}, not ${prev}`);
      if (entry.cursor <= prev) this.#foul("CUR-2", `${where}: cursor ${entry.cursor} does not increase`);
      prev = entry.cursor;
      this.#sentCursor(entry.cursor);
      this.ledger?.entry(this.#userId, this.#epoch, entry, `${this.name}'s ${where}`);
    }
    if (request.limit !== 0 && page.events.length > request.limit) this.#foul("SYNC-3", `${where}: ${page.events.length} entries, over the limit`);
    if (prev > page.headCursor) this.#foul("SYNC-3", `${where}: entry ${prev} beyond head_cursor ${page.headCursor}`);
    if (page.hasMore && page.events.length === 0) this.#foul("SYNC-3", `${where}: has_more with no entries`);
  }
}

/** HIS-1: UNSPECIFIED means FROM_JOIN. */
function unspecifiedAsFromJoin(visibility: HistoryVisibility): HistoryVisibility {
  return visibility === HistoryVisibility.UNSPECIFIED ? HistoryVisibility.FROM_JOIN : visibility;
}
