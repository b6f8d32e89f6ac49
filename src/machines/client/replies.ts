import { ErrorCode, type Error as ErrorBody } from "../../gen/imwire/v1/error_pb.js";
import type { Frame } from "../../gen/imwire/v1/frame_pb.js";
import type { Connection } from "./connection.js";
import type { ConversationSync } from "./conversation-sync.js";
import type { Handshake } from "./handshake.js";
import type { Link, Pending } from "./link.js";
import type { Operations } from "./operations.js";
import type { UserStream } from "./user-stream.js";

export interface ReplyParts {
  readonly connection: Connection;
  readonly handshake: Handshake;
  readonly stream: UserStream;
  readonly conversations: ConversationSync;
  readonly operations: Operations;
  /** AUTH-5: after authenticated, what the rest of the machine does on a new session. */
  readonly authenticated: () => void;
}

/** Each answer to one of the client's requests, to the part that asked; and requests lost on the way (CONN-10). */
export class Replies {
  readonly #parts: ReplyParts;

  constructor(parts: ReplyParts) {
    this.#parts = parts;
  }

  answered(link: Link, pending: Pending, body: Frame["body"], now: number): void {
    const { connection, handshake, stream, conversations, operations } = this.#parts;
    switch (pending.kind) {
      case "hello":
        if (body.case === "welcome" && !handshake.welcomed(link, body.value)) connection.end("welcome_refused", now, true); // CONN-3, then backoff (CONN-8)
        return;
      case "authenticate":
        if (body.case !== "authenticated") return;
        connection.authenticated();
        handshake.authenticated(link, body.value);
        this.#parts.authenticated();
        return;
      case "syncUser":
        stream.answered(body.case === "userPage" ? body.value : undefined);
        return;
      case "syncConversation":
        conversations.answered(pending.conversationId, body.case === "conversationPage" ? body.value : undefined);
        return;
      case "operation":
        operations.answered(pending.operationId, body);
        return;
    }
  }

  refused(pending: Pending, error: ErrorBody, now: number): void {
    const { connection, stream, conversations, operations } = this.#parts;
    switch (pending.kind) {
      case "hello":
        return; // the server closes the connection (ERR-2)
      case "authenticate":
        // AUTH-1: both mean this token will not do; the application must supply another (a retry with it would loop).
        if (error.code === ErrorCode.UNAUTHENTICATED || error.code === ErrorCode.TOKEN_EXPIRED) connection.end("token_refused", now, true);
        return;
      case "syncUser":
        stream.refused();
        return;
      case "syncConversation":
        conversations.refused(pending.conversationId, error);
        return;
      case "operation":
        operations.refused(pending.operationId, error);
        return;
    }
  }

  /** Sync requests unanswered for `timeoutMs` were lost (only lossy transports lose frames): forget them and ask again. */
  expireSyncRequests(link: Link, now: number, timeoutMs: number): void {
    for (const [requestId, pending] of link.pending) {
      if ((pending.kind !== "syncUser" && pending.kind !== "syncConversation") || now - pending.sentAt < timeoutMs) continue;
      link.abandonAttempt(requestId);
      if (pending.kind === "syncUser") this.#parts.stream.syncLost(now);
      else this.#parts.conversations.syncLost(pending.conversationId, now);
    }
  }
}
