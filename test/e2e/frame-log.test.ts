import { afterEach, describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { issueToken } from "../../src/auth/hmac-token.js";
import { ConversationKind } from "../../src/gen/imwire/v1/conversation_pb.js";
import { FrameSchema } from "../../src/gen/imwire/v1/frame_pb.js";
import { sizeFrame } from "../../src/gen/imwire/v1/frame_fast.js";
import { ScriptedConnection, Transcript, type FrameBody } from "../../src/conformance/suite/scripted-connection.js";
import { createLogger } from "../../src/server/logger.js";
import { startReferenceServer, type ReferenceServer } from "../../src/server/reference-server.js";
import { MemoryStore } from "../../src/store/memory-store.js";

/**
 * `imwire serve --log-frames`: one JSON line per frame in and out, with the
 * connection, direction, kind, request id and encoded size, and lines for a
 * connection's life; never a field's contents, so no token reaches the log.
 */

const SECRET = "frame-log-secret";
let server: ReferenceServer | undefined;
const connections: ScriptedConnection[] = [];

afterEach(async () => {
  for (const c of connections.splice(0)) c.close();
  await server?.close();
  server = undefined;
});

interface Line {
  readonly level: string;
  readonly msg: string;
  readonly event?: string;
  readonly connection?: number;
  readonly transport?: string;
  readonly direction?: string;
  readonly kind?: string;
  readonly requestId?: number;
  readonly size?: number;
  readonly [field: string]: unknown;
}

/** The reference server with frame logging, writing pino's real output into `raw`. */
async function loggedServer(): Promise<{ raw: string[]; lines: () => Line[]; logged: (match: (line: Line) => boolean) => Promise<void> }> {
  const raw: string[] = [];
  const log = createLogger({ destination: { write: (line: string) => void raw.push(line) } });
  // A short drain, so that a client that stays after go_away is closed by the server soon (CONN-7).
  server = await startReferenceServer({ tcp: { port: 0 }, ws: { port: 0 }, store: new MemoryStore(), secret: SECRET, log, logFrames: true, protocol: { drainTimeoutMs: 100 } });
  const lines = () => raw.map((line) => JSON.parse(line) as Line);
  /** Wait until a line matching `match` has been logged: the server sees a close a moment after the client makes it. */
  const logged = async (match: (line: Line) => boolean): Promise<void> => {
    for (let waited = 0; !lines().some(match); waited += 10) {
      if (waited > 5_000) throw new Error(`no such line in:\n${raw.join("")}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  return { raw, lines, logged };
}

async function open(url: string, name: string): Promise<ScriptedConnection> {
  const c = await ScriptedConnection.open(url, name, new Transcript());
  connections.push(c);
  return c;
}

/** The size the server logs for a frame the client sent: its encoded payload. */
function sizeOf(requestId: number, body: FrameBody): number {
  return sizeFrame(create(FrameSchema, { requestId, body }));
}

const frameLines = (lines: Line[], connection: number) => lines.filter((l) => l.event === "frame" && l.connection === connection).map((l) => `${l.direction} ${l.kind} #${l.requestId}`);

describe("imwire serve --log-frames", () => {
  it("logs each frame in and out (kind, request id, size) and each connection's life, and never a token or a message text", async () => {
    const { raw, lines, logged } = await loggedServer();
    const aliceToken = issueToken({ userId: "alice", deviceId: "phone", expiresAtMs: 0 }, SECRET);
    const bobToken = issueToken({ userId: "bob", deviceId: "laptop", expiresAtMs: 0 }, SECRET);

    const alice = await open(server!.urls.tcp!, "alice");
    const hello: FrameBody = { case: "hello", value: { versions: [1], deviceId: "phone" } };
    const welcome = await alice.request(hello, 5_000);
    const authenticate: FrameBody = { case: "authenticate", value: { token: aliceToken } };
    expect((await alice.request(authenticate, 5_000)).body.case).toBe("authenticated");

    const bob = await open(server!.urls.ws!, "bob");
    await bob.request({ case: "hello", value: { versions: [1], deviceId: "laptop" } }, 5_000);
    expect((await bob.request({ case: "authenticate", value: { token: bobToken } }, 5_000)).body.case).toBe("authenticated");
    // SYNC-5: pushes begin once the device has pulled and said where it is.
    const page = await bob.request({ case: "syncUser", value: {} }, 5_000);
    const cursor = page.body.case === "userPage" ? (page.body.value.snapshot?.cursor ?? page.body.value.events.at(-1)?.cursor ?? 0n) : 0n;
    bob.send({ case: "deliveryAck", value: { cursor } }, 0);
    bob.autoAck = true;

    const opened = await alice.request({ case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: ["bob"] } }, 5_000);
    const conversationId = opened.body.case === "conversationOpened" ? opened.body.value.conversation!.conversationId : "";
    const text = "the words nobody else should read";
    const ack = await alice.request({ case: "sendMessage", value: { conversationId, clientMessageId: "m1", content: { kind: { case: "text", value: { text } } } } }, 5_000);
    expect(ack.body.case).toBe("sendAck");
    await bob.next((f) => f.body.case === "deliver" && f.body.value.body.case === "event", 5_000);

    // A connection refused for its token: the runner logs that close, the frame log does not repeat it.
    const mallory = await open(server!.urls.tcp!, "mallory");
    await mallory.request({ case: "hello", value: { versions: [1], deviceId: "d" } }, 5_000);
    const forged = issueToken({ userId: "alice", deviceId: "d", expiresAtMs: 0 }, "not the secret");
    await mallory.request({ case: "authenticate", value: { token: forged } }, 5_000);
    await logged((l) => l.msg.endsWith("closed by the server (UNAUTHENTICATED)"));
    // A client that hangs up without a word.
    const quitter = await open(server!.urls.tcp!, "quitter");
    await quitter.request({ case: "hello", value: { versions: [1], deviceId: "q" } }, 5_000);
    quitter.close();
    await logged((l) => l.event === "close" && l.connection === 4);

    // Alice leaves when told to go away; bob stays, and the server closes him at the end of the drain.
    const closing = server!.close("test over");
    server = undefined;
    await alice.next((f) => f.body.case === "goAway", 5_000);
    alice.close();
    await closing;
    const all = lines();

    // Connections are numbered in the order they opened.
    const opens = all.filter((l) => l.event === "open");
    expect(opens.map((l) => [l.connection, l.transport])).toEqual([
      [1, "tcp"],
      [2, "ws"],
      [3, "tcp"],
      [4, "tcp"],
    ]);
    expect(opens[0]!.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(opens[0]!.msg).toBe(`tcp ${String(opens[0]!.address)}: connection opened`);

    expect(frameLines(all, 1)).toEqual([
      "in hello #1",
      "out welcome #1",
      "in authenticate #2",
      "out authenticated #2",
      "in openConversation #3",
      "out conversationOpened #3",
      "in sendMessage #4",
      "out sendAck #4",
      "out goAway #0",
    ]);
    expect(frameLines(all, 2)).toEqual(expect.arrayContaining(["in hello #1", "out welcome #1", "in authenticate #2", "out authenticated #2", "in syncUser #3", "out userPage #3", "in deliveryAck #0", "out deliver #0", "in deliveryAck #0", "out goAway #0"]));

    // Sizes: in, what the client encoded; out, what the client received.
    const aliceFrames = all.filter((l) => l.event === "frame" && l.connection === 1);
    expect(aliceFrames[0]!.size).toBe(sizeOf(1, hello));
    expect(aliceFrames[1]!.size).toBe(sizeFrame(welcome));
    expect(aliceFrames[2]!.size).toBe(sizeOf(2, authenticate));
    expect(aliceFrames[2]!.size).toBeGreaterThan(aliceToken.length);
    expect(aliceFrames[7]!.size).toBe(sizeFrame(ack));
    expect(aliceFrames[2]!.msg).toBe(`tcp ${String(opens[0]!.address)}: in authenticate #2 ${aliceFrames[2]!.size} B`);

    expect(all.filter((l) => l.event === "authenticated").map((l) => [l.connection, l.user, l.device])).toEqual([
      [1, "alice", "phone"],
      [2, "bob", "laptop"],
    ]);
    // Refused: the error's code is logged, and the one close line is the runner's.
    expect(frameLines(all, 3)).toEqual(["in hello #1", "out welcome #1", "in authenticate #2", "out error #2"]);
    expect(all.find((l) => l.connection === 3 && l.kind === "error")!.code).toBe("UNAUTHENTICATED");
    expect(all.filter((l) => l.msg.includes("closed by") && l.msg.includes(String(opens[2]!.address))).map((l) => l.msg.replace(/^.*: /, ""))).toEqual(["closed by the server (UNAUTHENTICATED)"]);

    const closes = all.filter((l) => l.event === "close");
    expect(closes.map((l) => [l.connection, l.by, l.reason])).toEqual(
      expect.arrayContaining([
        [4, "client", "hang-up"],
        [1, "client", "go_away"],
        [2, "server", "go_away"],
      ]),
    );
    expect(closes).toHaveLength(3);
    const aliceClose = closes.find((l) => l.connection === 1)!;
    expect(aliceClose).toMatchObject({ framesIn: 4, framesOut: 5, bytesIn: aliceFrames.filter((f) => f.direction === "in").reduce((n, f) => n + f.size!, 0) });

    // Not one token, not their signatures, not the message text.
    const everything = raw.join("");
    for (const secret of [aliceToken, bobToken, forged, text, SECRET]) expect(everything).not.toContain(secret);
    for (const token of [aliceToken, bobToken, forged]) for (const part of token.split(".")) if (part.length >= 16) expect(everything).not.toContain(part);
    expect(everything).not.toContain(conversationId);
  });

  it("logs nothing per frame without --log-frames", async () => {
    const raw: string[] = [];
    server = await startReferenceServer({ tcp: { port: 0 }, store: new MemoryStore(), secret: SECRET, log: createLogger({ destination: { write: (line: string) => void raw.push(line) } }) });
    const c = await open(server.urls.tcp!, "c");
    await c.request({ case: "hello", value: { versions: [1], deviceId: "d" } }, 5_000);
    expect(raw.map((line) => (JSON.parse(line) as Line).msg)).toEqual([`imwire server listening on ${server.urls.tcp}`]);
  });
});
