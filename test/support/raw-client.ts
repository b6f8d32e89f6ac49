import { connect, type Socket } from "node:net";
import { issueToken } from "../../src/auth/hmac-token.js";
import { frame } from "../../src/codec/frame-codec.js";
import { encodeFramed, FrameReader } from "../../src/framing/frame-stream.js";
import type { Frame } from "../../src/gen/imwire/v1/frame_pb.js";
import type { FrameBody } from "../../src/conformance/suite/scripted-connection.js";
import { MAX_MAX_FRAME_SIZE } from "../../src/limits.js";

export interface RawClient {
  readonly socket: Socket;
  send(body: FrameBody, requestId?: number): void;
  /** The first frame received that matches, waiting up to `timeoutMs`; an unexpected error frame fails at once. */
  next(match: (f: Frame) => boolean, timeoutMs?: number): Promise<Frame>;
  readonly closed: Promise<void>;
}

/**
 * A raw TCP client for tests of the server's handling of peers that do not
 * behave: it writes frames and reads answers only when asked to (pause its
 * socket to stop reading altogether). Sockets are handed to `track` so the
 * test can destroy them.
 */
export async function rawClient(url: string, track: (socket: Socket) => void = () => {}): Promise<RawClient> {
  const { hostname, port } = new URL(url);
  const socket = await new Promise<Socket>((resolve) => {
    const s = connect({ host: hostname, port: Number(port) }, () => resolve(s));
  });
  track(socket);
  // The server cuts a peer off with a reset; the close event says so, the error adds nothing.
  socket.on("error", () => {});
  const reader = new FrameReader({ maxFrameSize: MAX_MAX_FRAME_SIZE });
  const inbox: Frame[] = [];
  let wake: () => void = () => {};
  socket.on("data", (chunk) => {
    reader.push(chunk);
    for (let f = reader.next(); f !== undefined; f = reader.next()) inbox.push(f);
    wake();
  });
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  const next = async (match: (f: Frame) => boolean, timeoutMs = 10_000): Promise<Frame> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = inbox.findIndex(match);
      if (index >= 0) return inbox.splice(index, 1)[0]!;
      if (socket.destroyed && inbox.length === 0) throw new Error("closed");
      const error = inbox.find((f) => f.body.case === "error");
      if (error) throw new Error(`error frame: ${JSON.stringify(error.body.value, (_k, v) => (typeof v === "bigint" ? String(v) : v))}`);
      await new Promise<void>((resolve, reject) => {
        wake = resolve;
        setTimeout(() => (Date.now() >= deadline ? reject(new Error(`no matching frame; got ${inbox.map((f) => f.body.case).join(", ")}`)) : resolve()), Math.max(1, deadline - Date.now()));
      });
    }
  };
  const send = (body: FrameBody, requestId = 0) => void socket.write(encodeFramed(frame({ requestId, body })));
  return { socket, send, next, closed };
}

/** A raw client through hello and authenticate, with the epoch it was given. */
export async function rawLogin(url: string, secret: string, userId: string, deviceId: string, track?: (socket: Socket) => void): Promise<RawClient & { epoch: string }> {
  const client = await rawClient(url, track);
  client.send({ case: "hello", value: { versions: [1], deviceId } }, 1);
  await client.next((f) => f.body.case === "welcome");
  client.send({ case: "authenticate", value: { token: issueToken({ userId, deviceId, expiresAtMs: 0 }, secret) } }, 2);
  const authenticated = await client.next((f) => f.body.case === "authenticated");
  return Object.assign(client, { epoch: authenticated.body.case === "authenticated" ? authenticated.body.value.epoch : "" });
}
