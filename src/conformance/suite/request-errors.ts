import { ErrorCode } from "../../gen/imwire/v1/error_pb.js";

/** The frames a client sends that are answered (SPEC.md §4.1). */
export type RequestCase =
  | "hello"
  | "authenticate"
  | "sendMessage"
  | "syncConversation"
  | "syncUser"
  | "markRead"
  | "openConversation"
  | "leaveConversation"
  | "setReceiveSettings"
  | "setDeviceState"
  | "listMembers"
  | "actOnMessage"
  | "setPresenceSharing"
  | "setHistoryVisibility"
  | "hideMessage"
  | "listReceipts";

/**
 * ERR-4, SPEC.md §19.1 as data (a test holds the two equal): the codes a
 * request may be answered with besides those any request may get.
 */
export const REQUEST_ERRORS: Readonly<Record<RequestCase, readonly ErrorCode[]>> = {
  hello: [ErrorCode.UNSUPPORTED_VERSION],
  authenticate: [ErrorCode.UNAUTHENTICATED, ErrorCode.TOKEN_EXPIRED],
  sendMessage: [ErrorCode.NOT_FOUND, ErrorCode.PERMISSION_DENIED],
  syncConversation: [ErrorCode.NOT_FOUND, ErrorCode.PERMISSION_DENIED],
  syncUser: [],
  markRead: [ErrorCode.NOT_FOUND, ErrorCode.PERMISSION_DENIED],
  openConversation: [ErrorCode.NOT_FOUND, ErrorCode.PERMISSION_DENIED],
  leaveConversation: [ErrorCode.NOT_FOUND, ErrorCode.PERMISSION_DENIED, ErrorCode.FAILED_PRECONDITION],
  setReceiveSettings: [ErrorCode.NOT_FOUND, ErrorCode.PERMISSION_DENIED],
  setDeviceState: [],
  listMembers: [ErrorCode.NOT_FOUND, ErrorCode.PERMISSION_DENIED],
  actOnMessage: [ErrorCode.NOT_FOUND, ErrorCode.PERMISSION_DENIED, ErrorCode.FAILED_PRECONDITION],
  setPresenceSharing: [],
  setHistoryVisibility: [ErrorCode.NOT_FOUND, ErrorCode.PERMISSION_DENIED],
  hideMessage: [ErrorCode.NOT_FOUND, ErrorCode.PERMISSION_DENIED],
  listReceipts: [ErrorCode.NOT_FOUND, ErrorCode.PERMISSION_DENIED],
};

/**
 * Codes any request may get: ENV-5's, the closing PROTOCOL_VIOLATION (CONN-5,
 * FLOW-1), INVALID_ARGUMENT (LIM-2 and each request's own rules), and the
 * temporary and server classes (FLOW-4, CONN-7).
 */
export const ANY_REQUEST_ERRORS: readonly ErrorCode[] = [
  ErrorCode.MISSING_FIELD,
  ErrorCode.PROTOCOL_VIOLATION,
  ErrorCode.INVALID_ARGUMENT,
  ErrorCode.RATE_LIMITED,
  ErrorCode.UNAVAILABLE,
  ErrorCode.INTERNAL,
];

/** The codes that may answer `request` (ERR-4); before authentication, also UNAUTHENTICATED (CONN-4). */
export function errorsAnswering(request: RequestCase, authenticated: boolean): readonly ErrorCode[] {
  const own = REQUEST_ERRORS[request];
  return authenticated ? [...ANY_REQUEST_ERRORS, ...own] : [...ANY_REQUEST_ERRORS, ...own, ErrorCode.UNAUTHENTICATED];
}
