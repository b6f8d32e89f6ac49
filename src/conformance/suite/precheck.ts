import type { Welcome } from "../../gen/imwire/v1/connection_pb.js";
import { ErrorCode } from "../../gen/imwire/v1/error_pb.js";
import type { Frame } from "../../gen/imwire/v1/frame_pb.js";
import type { Target } from "./context.js";
import { describe, ScriptedConnection, Transcript, type FrameBody } from "./scripted-connection.js";

export type PrecheckResult =
  | { readonly ok: true; readonly url: string; readonly welcome: Welcome }
  | { readonly ok: false; readonly url: string; readonly problem: string };

/**
 * Before a run: can the target be reached, and does it accept the runner's
 * tokens? One connection: hello, authenticate one user of the run's own,
 * close. A target that fails here would fail every test for the same
 * reason, so the runner says it once instead.
 */
export async function precheck(target: Target, timeoutMs: number): Promise<PrecheckResult> {
  const { url } = target;
  const failed = (problem: string): PrecheckResult => ({ ok: false, url, problem });
  const userId = `${target.runId}-precheck`;
  const deviceId = "precheck";
  // Fetched while connecting: a slow token command must not eat the server's handshake time.
  const token = target.tokens(userId, deviceId, 3_600_000).then(
    (value) => ({ value }),
    (error: unknown) => ({ error: (error as Error).message }),
  );
  let conn: ScriptedConnection;
  try {
    conn = await ScriptedConnection.open(url, "precheck", new Transcript(), { timeoutMs, ...target.dial });
  } catch (error) {
    await token;
    return failed(`cannot connect to ${url}: ${connectionProblem(error, url)}`);
  }
  try {
    const hello = await answer(conn, { case: "hello", value: { versions: [1], deviceId } }, timeoutMs);
    if (typeof hello === "string") return failed(`${url} did not answer hello: ${hello}`);
    if (hello.body.case !== "welcome") return failed(`${url} did not answer hello with welcome: ${describe(hello)}`);
    const welcome = hello.body.value;
    const issued = await token;
    if ("error" in issued) return failed(issued.error);
    if (issued.value === "") return failed("the token source gave an empty token");
    const authenticated = await answer(conn, { case: "authenticate", value: { token: issued.value } }, timeoutMs);
    if (typeof authenticated === "string") return failed(`${url} did not answer authenticate: ${authenticated}`);
    if (authenticated.body.case === "error") {
      const { code, message } = authenticated.body.value;
      return failed(`tokens refused by ${url}: ${errorCodeName(code)}${message ? ` (${message})` : ""}`);
    }
    if (authenticated.body.case !== "authenticated") return failed(`${url} did not answer authenticate with authenticated: ${describe(authenticated)}`);
    return { ok: true, url, welcome };
  } finally {
    conn.close();
  }
}

/** The answer to a request, or why none came (a connection closed without one, or silence). */
async function answer(conn: ScriptedConnection, body: FrameBody, timeoutMs: number): Promise<Frame | string> {
  const answered = conn.request(body, timeoutMs).catch(() => `no answer within ${timeoutMs} ms`);
  // A close without an answer is known at once; waiting out the timeout would only delay the report.
  const closed = conn.waitClosed(timeoutMs).then((isClosed) => (isClosed ? "the connection closed" : answered));
  const first = await Promise.race([answered, closed]);
  if (first !== "the connection closed") return first;
  const left = conn.drain();
  const error = left.find((f) => f.body.case === "error");
  if (error?.body.case === "error") return `the connection closed after ${errorCodeName(error.body.value.code)}${error.body.value.message ? ` (${error.body.value.message})` : ""}`;
  return "the connection closed without an answer";
}

export function errorCodeName(code: ErrorCode): string {
  return ErrorCode[code] === undefined ? `error code ${code}` : `ERROR_CODE_${ErrorCode[code]}`;
}

const SOCKET_ERRORS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "connection timed out",
};

/** A socket, TLS or WebSocket failure as a few words, not a stack. */
function connectionProblem(error: unknown, url: string): string {
  const inner = error instanceof AggregateError && error.errors.length > 0 ? error.errors[0] : error;
  const code = (inner as { code?: string }).code ?? (error as { code?: string }).code;
  if (code !== undefined && SOCKET_ERRORS[code] !== undefined) return SOCKET_ERRORS[code];
  const message = (inner as Error).message ?? String(inner);
  if (code !== undefined && /CERT|SSL|TLS/.test(code)) return `TLS: ${message} (--insecure accepts any certificate)`;
  return message.replace(` to ${url}`, "");
}
