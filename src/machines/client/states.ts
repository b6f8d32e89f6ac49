import { ErrorCode } from "../../gen/imwire/v1/error_pb.js";
import { ImwireError } from "../../errors.js";
import type { ClientStatus } from "./types.js";

/**
 * Everything that decides the client's state lives in this file: the states
 * of SPEC.md §5.1, the inputs that move between them and the table of every
 * allowed move. The machine changes state only through `nextState`, so a
 * move that is not in the table is an internal error, not a silent drift.
 */

/** SPEC.md §5.1's states; HANDSHAKE is its two steps, AWAIT_WELCOME and AWAIT_AUTHENTICATED. */
export const clientStates = [
  "OFFLINE",
  "CONNECTING",
  "AWAIT_WELCOME",
  "AWAIT_AUTHENTICATED",
  "SYNCING",
  "READY",
  "DRAINING",
  "REPLACED",
  "UNAUTHENTICATED",
  "STOPPED",
] as const;

export type ClientState = (typeof clientStates)[number];

/** What moves the client between states. */
export const clientInputs = [
  /** The reconnect time came (CONN-8): the machine asks for a transport connection. */
  "reconnect_due",
  "transport_open",
  /** The transport connection asked for could not be opened. */
  "transport_failed",
  "welcome",
  /** welcome names a version or a feature (EXT-5) not offered, or a value out of range (CONN-3). */
  "welcome_refused",
  "authenticated_resumed",
  "authenticated_not_resumed",
  /** sync_user answered has_more=false and the acknowledgement set the position (SYNC-5, DLV-2). */
  "caught_up",
  "go_away",
  /** Every request sent before go_away is answered, or the drain window passed (CONN-7). */
  "drained",
  "transport_lost",
  "handshake_timeout",
  "heartbeat_timeout",
  /** The client closes after an error it reports (ENV-7, CONN-11, ERR-2). */
  "fatal_error",
  "session_replaced",
  "token_refused",
  /** The application starts the client again, with a new token (AUTH-1). */
  "restart",
  "stop",
] as const;

export type ClientInput = (typeof clientInputs)[number];

export interface TransitionRow {
  readonly from: ClientState;
  readonly input: ClientInput;
  readonly to: ClientState;
  /** The SPEC.md requirement that makes this move, or "§5.1" where only the diagram does (the application's own moves). */
  readonly requirement: string;
}

export interface Transition {
  readonly from: ClientState;
  readonly input: ClientInput;
  readonly to: ClientState;
}

/** The states with a transport connection open. */
export const CONNECTED: readonly ClientState[] = ["AWAIT_WELCOME", "AWAIT_AUTHENTICATED", "SYNCING", "READY", "DRAINING"];
const LIVE: readonly ClientState[] = ["OFFLINE", "CONNECTING", ...CONNECTED];

function rows(from: readonly ClientState[], input: ClientInput, to: ClientState | "same", requirement: string): TransitionRow[] {
  return from.map((state) => ({ from: state, input, to: to === "same" ? state : to, requirement }));
}

/**
 * Every move the client makes. A row whose `to` is its `from` is an input
 * the state takes without changing: listed so that it is known to happen.
 */
export const transitionTable: readonly TransitionRow[] = [
  ...rows(["OFFLINE"], "reconnect_due", "CONNECTING", "CONN-8"),
  ...rows(["CONNECTING"], "transport_open", "AWAIT_WELCOME", "CONN-1"),
  ...rows(["CONNECTING"], "transport_failed", "OFFLINE", "CONN-8"),
  ...rows(["AWAIT_WELCOME"], "welcome", "AWAIT_AUTHENTICATED", "AUTH-1"),
  ...rows(["AWAIT_WELCOME"], "welcome_refused", "OFFLINE", "CONN-3"),
  ...rows(["AWAIT_AUTHENTICATED"], "authenticated_resumed", "READY", "AUTH-5"),
  ...rows(["AWAIT_AUTHENTICATED"], "authenticated_not_resumed", "SYNCING", "SYNC-5"),
  ...rows(["SYNCING"], "caught_up", "READY", "DLV-2"),
  ...rows(["AWAIT_WELCOME", "AWAIT_AUTHENTICATED", "SYNCING", "READY"], "go_away", "DRAINING", "CONN-7"),
  // Draining, the client finishes what is in flight and starts nothing (CONN-7): answers still land.
  ...rows(["DRAINING"], "go_away", "same", "CONN-7"),
  ...rows(["DRAINING"], "welcome", "same", "CONN-7"),
  ...rows(["DRAINING"], "welcome_refused", "OFFLINE", "CONN-3"),
  ...rows(["DRAINING"], "authenticated_resumed", "same", "CONN-7"),
  ...rows(["DRAINING"], "authenticated_not_resumed", "same", "CONN-7"),
  ...rows(["DRAINING"], "caught_up", "same", "CONN-7"),
  ...rows(["DRAINING"], "drained", "OFFLINE", "CONN-7"),
  ...rows(CONNECTED, "transport_lost", "OFFLINE", "CONN-8"),
  ...rows(["AWAIT_WELCOME", "AWAIT_AUTHENTICATED", "DRAINING"], "handshake_timeout", "OFFLINE", "CONN-6"),
  ...rows(["SYNCING", "READY", "DRAINING"], "heartbeat_timeout", "OFFLINE", "HB-4"),
  ...rows(CONNECTED, "fatal_error", "OFFLINE", "ERR-2"),
  ...rows(CONNECTED, "session_replaced", "REPLACED", "AUTH-4"),
  ...rows(["AWAIT_AUTHENTICATED", "DRAINING"], "token_refused", "UNAUTHENTICATED", "AUTH-1"),
  ...rows(["UNAUTHENTICATED"], "restart", "OFFLINE", "§5.1"),
  ...rows([...LIVE, "REPLACED", "UNAUTHENTICATED"], "stop", "STOPPED", "§5.1"),
];

const byStateAndInput = new Map(transitionTable.map((row) => [`${row.from} ${row.input}`, row]));

/** The row for `input` in `from`; an ImwireError (INTERNAL) when there is none: the machine has a bug. */
export function transitionRow(from: ClientState, input: ClientInput): TransitionRow {
  const row = byStateAndInput.get(`${from} ${input}`);
  if (row === undefined) throw new ImwireError(ErrorCode.INTERNAL, `client state machine: no transition from ${from} on ${input} (states.ts)`);
  return row;
}

export function nextState(from: ClientState, input: ClientInput): ClientState {
  return transitionRow(from, input).to;
}

/**
 * What the application sees of each state. DRAINING keeps the status it was
 * entered with: until it closes, the connection still carries answers.
 */
const statuses: Readonly<Record<ClientState, ClientStatus | undefined>> = {
  OFFLINE: "offline",
  CONNECTING: "connecting",
  AWAIT_WELCOME: "handshake",
  AWAIT_AUTHENTICATED: "handshake",
  SYNCING: "syncing",
  READY: "ready",
  DRAINING: undefined,
  REPLACED: "replaced",
  UNAUTHENTICATED: "unauthenticated",
  STOPPED: "stopped",
};

/** The status entering `state` shows; undefined when it keeps the current one. */
export function statusOf(state: ClientState): ClientStatus | undefined {
  return statuses[state];
}

/** CONN-9: the states in which requests other than the handshake's may be sent. */
export function mayRequest(state: ClientState): boolean {
  return state === "SYNCING" || state === "READY";
}
