import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** One push hand-off as a server posts it to the webhook (SPEC.md HOOK-3). */
export interface PushHandoff {
  readonly userId: string;
  readonly deviceId: string;
  readonly pushService: string;
  readonly pushToken: string;
  readonly conversationId: string;
  readonly seq: string;
}

interface Waiter {
  readonly match: (handoff: PushHandoff) => boolean;
  readonly resolve: (handoff: PushHandoff) => void;
}

const FIELDS = ["userId", "deviceId", "pushService", "pushToken", "conversationId", "seq"] as const;

/**
 * The runner's end of the push webhook (HOOK-3): an HTTP server on a
 * loopback address that records every hand-off the server posts. Tests
 * look for their own users' hand-offs, so one listener serves a whole run.
 */
export class PushListener {
  readonly #server: Server;
  readonly #received: PushHandoff[] = [];
  readonly #waiters: Waiter[] = [];
  /** Posts that were not hand-offs as HOOK-3 gives them: the server's fault, reported by the tests that look. */
  readonly malformed: string[] = [];

  private constructor(
    readonly url: string,
    server: Server,
  ) {
    this.#server = server;
  }

  /** Listen at `url` (http://, loopback); port 0 picks a free one, and the URL returned says which. */
  static async start(url: string): Promise<PushListener> {
    const address = new URL(url);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(Number(address.port || 80), address.hostname.replace(/^\[|\]$/g, ""), () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    const listener = new PushListener(`http://${address.host.replace(/:\d+$/, "")}:${port}${address.pathname}`, server);
    server.on("request", (request, response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      request.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size <= 65_536) chunks.push(chunk);
      });
      request.on("end", () => {
        response.writeHead(204).end();
        listener.#record(request.method ?? "", request.url ?? "", String(request.headers["content-type"] ?? ""), Buffer.concat(chunks).toString("utf8"), address.pathname);
      });
    });
    return listener;
  }

  /** Every hand-off received so far. */
  get received(): readonly PushHandoff[] {
    return this.#received;
  }

  /** The first hand-off, received or still to come, that matches; undefined if none comes within `timeoutMs`. */
  next(match: (handoff: PushHandoff) => boolean, timeoutMs: number): Promise<PushHandoff | undefined> {
    const found = this.#received.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        match,
        resolve: (handoff) => {
          clearTimeout(timer);
          resolve(handoff);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        resolve(undefined);
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  #record(method: string, path: string, contentType: string, text: string, expectedPath: string): void {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    const fields = body as Record<string, unknown> | undefined;
    const problem =
      method !== "POST"
        ? `${method} instead of POST`
        : new URL(path, "http://x").pathname !== expectedPath
          ? `posted to ${path}, not ${expectedPath}`
          : !contentType.startsWith("application/json")
            ? `Content-Type ${contentType || "missing"}`
            : typeof fields !== "object" || fields === null || !FIELDS.every((f) => typeof fields[f] === "string")
              ? `a body without the string fields ${FIELDS.join(", ")}: ${text.slice(0, 200)}`
              : undefined;
    if (problem) {
      this.malformed.push(problem);
      return;
    }
    const handoff = Object.fromEntries(FIELDS.map((f) => [f, fields![f]])) as unknown as PushHandoff;
    this.#received.push(handoff);
    const waiter = this.#waiters.find((w) => w.match(handoff));
    if (waiter) {
      this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
      waiter.resolve(handoff);
    }
  }
}
