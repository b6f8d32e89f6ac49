import { create } from "@bufbuild/protobuf";
import { connect, type Socket } from "node:net";
import { issueToken } from "../../src/auth/hmac-token.js";
import { FrameSchema, type Frame } from "../../src/gen/imwire/v1/frame_pb.js";
import { FrameReader, encodeFramed } from "../../src/framing/frame-stream.js";
import { MAX_MAX_FRAME_SIZE, PROTOCOL_VERSION } from "../../src/limits.js";
import type { FrameBody } from "./imwire-device.js";

/**
 * Minimal clients for the idle-connection memory measurement. Every kind
 * ends the same way on the client side: one net.Socket with Nagle off, a
 * no-op data listener and nothing else, so that the client's share of the
 * process's memory is the same for each protocol (and for the bare TCP
 * baseline), and the differences between rows are the servers'.
 */

const noop = (): void => {};

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port }, () => {
      socket.off("error", reject);
      socket.on("error", noop);
      resolve(socket);
    });
    socket.setNoDelay(true);
    socket.once("error", reject);
  });
}

function idle(socket: Socket): Socket {
  socket.removeAllListeners("data");
  socket.on("data", noop);
  return socket;
}

/** A TCP connection and nothing else: the baseline. */
export async function openBareTcp(port: number): Promise<Socket> {
  return idle(await open(port));
}

/**
 * An imwire device made ready the way the reference client does it (hello,
 * authenticate, sync_user, delivery_ack with the snapshot's cursor: the
 * delivery position is set, so the server would push to it at once), then
 * left idle.
 */
export async function openIdleImwire(port: number, userId: string, secret: string): Promise<Socket> {
  const socket = await open(port);
  const reader = new FrameReader({ maxFrameSize: MAX_MAX_FRAME_SIZE });
  const frames: Frame[] = [];
  let wake: (() => void) | undefined;
  socket.on("data", (chunk: Buffer) => {
    reader.push(chunk);
    for (let f = reader.next(); f !== undefined; f = reader.next()) frames.push(f);
    wake?.();
  });
  let requestId = 0;
  const request = async (body: FrameBody): Promise<Frame> => {
    const id = ++requestId;
    socket.write(encodeFramed(create(FrameSchema, { requestId: id, body })));
    for (;;) {
      const index = frames.findIndex((f) => f.requestId === id);
      if (index >= 0) return frames.splice(index, 1)[0]!;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  };
  const deviceId = "d";
  const welcome = await request({ case: "hello", value: { versions: [PROTOCOL_VERSION], deviceId } });
  if (welcome.body.case !== "welcome") throw new Error(`hello answered ${welcome.body.case}`);
  const authenticated = await request({ case: "authenticate", value: { token: issueToken({ userId, deviceId, expiresAtMs: 0 }, secret) } });
  if (authenticated.body.case !== "authenticated") throw new Error(`authenticate answered ${authenticated.body.case}`);
  const page = await request({ case: "syncUser", value: {} });
  if (page.body.case !== "userPage") throw new Error(`sync_user answered ${page.body.case}`);
  const cursor = page.body.value.snapshot?.cursor ?? page.body.value.headCursor;
  socket.write(encodeFramed(create(FrameSchema, { body: { case: "deliveryAck", value: { cursor } } })));
  return idle(socket);
}

/**
 * An MQTT 3.1.1 client that connected (CONNECT with `clean` and keepalive
 * 60 s, mqtt.js's default) and subscribed to its own topic at QoS 1: ready
 * to receive, then left idle. Packets are written by hand (the layouts of
 * MQTT 3.1.1 §3.1 and §3.8) so the client side holds no parser.
 */
export async function openIdleMqtt(port: number, clientId: string, topic: string, clean: boolean): Promise<Socket> {
  const socket = await open(port);
  const received: Buffer[] = [];
  let length = 0;
  const answered = new Promise<void>((resolve) => {
    socket.on("data", (chunk: Buffer) => {
      received.push(chunk);
      length += chunk.length;
      if (length >= 9) resolve();
    });
  });
  socket.write(Buffer.concat([mqttConnect(clientId, clean, 60), mqttSubscribe(1, topic, 1)]));
  await answered;
  const answer = Buffer.concat(received);
  // CONNACK 20 02 <session present> 00, then SUBACK 90 03 00 01 01 (granted QoS 1).
  if (answer.length !== 9 || answer[0] !== 0x20 || answer[3] !== 0 || answer[4] !== 0x90 || answer[8] !== 1) {
    throw new Error(`unexpected MQTT answer ${answer.toString("hex")}`);
  }
  return idle(socket);
}

function utf8Field(text: string): Buffer {
  const bytes = Buffer.from(text, "utf8");
  const length = Buffer.alloc(2);
  length.writeUInt16BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

function mqttPacket(header: number, body: Buffer): Buffer {
  const lengthBytes: number[] = [];
  let n = body.length;
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    lengthBytes.push(byte);
  } while (n > 0);
  return Buffer.concat([Buffer.from([header, ...lengthBytes]), body]);
}

function mqttConnect(clientId: string, clean: boolean, keepaliveS: number): Buffer {
  const variable = Buffer.from([...utf8Field("MQTT"), 4, clean ? 0x02 : 0x00, keepaliveS >> 8, keepaliveS & 0xff]);
  return mqttPacket(0x10, Buffer.concat([variable, utf8Field(clientId)]));
}

function mqttSubscribe(packetId: number, topic: string, qos: number): Buffer {
  return mqttPacket(0x82, Buffer.concat([Buffer.from([packetId >> 8, packetId & 0xff]), utf8Field(topic), Buffer.from([qos])]));
}
