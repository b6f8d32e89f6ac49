import WebSocket from "ws";
import { ErrorCode } from "../../../gen/imwire/v1/error_pb.js";
import { Violation, type ConformanceTest } from "../types.js";
import { WEBSOCKET_SUBPROTOCOL } from "../../../limits.js";
import { check } from "./helpers.js";

/** Raw bytes for malformed-input tests. */
const hex = (text: string) => new Uint8Array(Buffer.from(text.replace(/\s+/g, ""), "hex"));

/** Tests of the byte-stream framing (TCP, TLS): run against stream targets only. */
export const streamFramingTests: ConformanceTest[] = [
  {
    id: "FRM-3/frame-in-one-byte-pieces",
    requirements: ["FRM-3", "FRM-1"],
    level: "required",
    group: "framing-stream",
    title: "a frame written one byte at a time is read whole",
    async run(t) {
      const c = await t.open();
      const id = c.writeInPieces({ case: "hello", value: { versions: [1], deviceId: "d1" } }, 1);
      const answer = await t.nextOrViolation(c, (f) => f.requestId === id, "FRM-3", ["welcome"]);
      t.answerOf(answer, "welcome", "FRM-3");
    },
  },
  {
    id: "FRM-3/frames-in-one-write",
    requirements: ["FRM-3"],
    level: "required",
    group: "framing-stream",
    title: "two frames in one write are both read, in order",
    async run(t) {
      const session = await t.connect(t.user("alice"), "d1");
      // A ping and a sync_user in a single TCP write: both must be answered.
      const { create } = await import("@bufbuild/protobuf");
      const { FrameSchema } = await import("../../../gen/imwire/v1/frame_pb.js");
      const { encodeFramed } = await import("../../../framing/frame-stream.js");
      const both = Buffer.concat([
        encodeFramed(create(FrameSchema, { body: { case: "ping", value: { nonce: 9n } } })),
        encodeFramed(create(FrameSchema, { requestId: 500, body: { case: "syncUser", value: {} } })),
      ]);
      session.conn.writeRaw(new Uint8Array(both), "ping + sync_user in one write");
      await t.nextOrViolation(session.conn, (f) => f.body.case === "pong", "FRM-3", ["pong"]);
      await t.nextOrViolation(session.conn, (f) => f.requestId === 500, "FRM-3", ["user_page #500"]);
    },
  },
  {
    id: "FRM-2/over-long-length-prefix",
    requirements: ["FRM-2"],
    level: "required",
    group: "framing-stream",
    title: "a length prefix with a fifth byte is MALFORMED_FRAME, and the connection closes",
    async run(t) {
      const c = await t.open();
      c.writeRaw(hex("8080808001"), "five-byte prefix");
      await t.expectErrorFrom(c, [ErrorCode.MALFORMED_FRAME], "FRM-2", { closing: true });
      await t.expectClosed(c, "FRM-2");
    },
  },
  {
    id: "FRM-2/non-minimal-length-prefix",
    requirements: ["FRM-2"],
    level: "required",
    group: "framing-stream",
    title: "a non-minimal length prefix (0x80 0x00) is MALFORMED_FRAME, and the connection closes",
    async run(t) {
      const c = await t.open();
      c.writeRaw(hex("8000"), "non-minimal prefix");
      await t.expectErrorFrom(c, [ErrorCode.MALFORMED_FRAME], "FRM-2", { closing: true });
      await t.expectClosed(c, "FRM-2");
    },
  },
  {
    id: "FRM-4/declared-length-over-the-limit",
    requirements: ["FRM-4", "FRM-5"],
    level: "required",
    group: "framing-stream",
    title: "a prefix declaring more than 65,536 bytes before welcome fails at once, without the payload",
    async run(t) {
      const c = await t.open();
      c.writeRaw(hex("818004"), "prefix declaring 65,537 bytes, no payload");
      await t.expectErrorFrom(c, [ErrorCode.FRAME_TOO_LARGE], "FRM-4", { closing: true });
      await t.expectClosed(c, "FRM-4");
    },
  },
  {
    id: "FRM-4/frame-over-max-frame-size",
    requirements: ["FRM-4", "FRM-5"],
    level: "required",
    group: "framing-stream",
    title: "after welcome, a frame longer than max_frame_size is FRAME_TOO_LARGE",
    async run(t) {
      const session = await t.connect(t.user("alice"), "d1");
      const size = session.welcome.maxFrameSize + 1;
      const prefix = [];
      for (let v = size; ; v >>>= 7) {
        if (v < 0x80) {
          prefix.push(v);
          break;
        }
        prefix.push((v & 0x7f) | 0x80);
      }
      session.conn.writeRaw(new Uint8Array(prefix), `prefix declaring max_frame_size + 1 = ${size} bytes`);
      await t.expectErrorFrom(session.conn, [ErrorCode.FRAME_TOO_LARGE], "FRM-4", { closing: true });
      await t.expectClosed(session.conn, "FRM-4");
    },
  },
];

/** Tests of frame contents: the same on every transport. */
export const envelopeTests: ConformanceTest[] = [
  {
    id: "ENV-3/not-protobuf",
    requirements: ["ENV-3"],
    level: "required",
    group: "framing",
    title: "a payload that is not Protobuf (wire type 7) is MALFORMED_FRAME, and the connection closes",
    async run(t) {
      const c = await t.open();
      c.writeRaw(t.isWebSocket ? hex("0f") : hex("010f"), "payload 0x0f");
      await t.expectErrorFrom(c, [ErrorCode.MALFORMED_FRAME], "ENV-3", { closing: true });
      await t.expectClosed(c, "ENV-3");
    },
  },
  {
    id: "ENV-3/invalid-utf8",
    requirements: ["ENV-3"],
    level: "required",
    group: "framing",
    title: "invalid UTF-8 in a string field is MALFORMED_FRAME",
    async run(t) {
      const c = await t.open();
      // hello { device_id: ff fe }
      const payload = hex("8201 04 1202 fffe");
      c.writeRaw(t.isWebSocket ? payload : new Uint8Array([payload.length, ...payload]), "hello with device_id ff fe");
      await t.expectErrorFrom(c, [ErrorCode.MALFORMED_FRAME], "ENV-3", { closing: true });
    },
  },
  {
    id: "ENV-4/unknown-frame-type",
    requirements: ["ENV-4", "EXT-1"],
    level: "required",
    group: "framing",
    title: "a frame type from a later version is answered UNKNOWN_FRAME with its request id, and the connection stays open",
    async run(t) {
      const session = await t.connect(t.user("alice"), "d1");
      // request_id 77, body field 99 (length-delimited, 2 bytes)
      const payload = hex("084d 9a0602 0801");
      session.conn.writeRaw(t.isWebSocket ? payload : new Uint8Array([payload.length, ...payload]), "frame #77 with body field 99");
      await t.expectErrorFrom(session.conn, [ErrorCode.UNKNOWN_FRAME], "ENV-4", { requestId: 77, closing: false });
      session.conn.send({ case: "ping", value: { nonce: 3n } }, 0);
      await t.nextOrViolation(session.conn, (f) => f.body.case === "pong", "ENV-4", ["pong (the connection is still open)"]);
    },
  },
  {
    id: "ENV-5/missing-required-field",
    requirements: ["ENV-5"],
    level: "required",
    group: "framing",
    title: "a send without client_message_id is MISSING_FIELD with its request id; the connection stays open",
    async run(t) {
      const session = await t.connect(t.user("alice"), "d1");
      const id = session.conn.send({ case: "sendMessage", value: { conversationId: "c", content: { kind: { case: "text", value: { text: "x" } } } } });
      await t.expectErrorFrom(session.conn, [ErrorCode.MISSING_FIELD], "ENV-5", { requestId: id, closing: false });
      await t.ask(session, { case: "syncUser", value: {} }, "userPage", "ENV-5");
    },
  },
  {
    id: "ENV-6/unknown-fields-ignored",
    requirements: ["ENV-6"],
    level: "required",
    group: "framing",
    title: "unknown fields in a known frame are ignored",
    async run(t) {
      const c = await t.open();
      // hello { versions: [1], device_id: "d1", field 1000: varint 5 } with request_id 9
      const payload = hex("0809 8201 0a 0a0101 12026431 c03e05");
      c.writeRaw(t.isWebSocket ? payload : new Uint8Array([payload.length, ...payload]), "hello with an unknown field");
      const answer = await t.nextOrViolation(c, (f) => f.requestId === 9, "ENV-6", ["welcome #9"]);
      t.answerOf(answer, "welcome", "ENV-6");
    },
  },
  {
    id: "ENV-7/frame-only-servers-send",
    requirements: ["ENV-7"],
    level: "required",
    group: "framing",
    title: "a frame only servers send (welcome), from a client, is a PROTOCOL_VIOLATION that closes",
    async run(t) {
      const session = await t.connect(t.user("alice"), "d1");
      session.conn.send({ case: "sendAck", value: { conversationId: "c", clientMessageId: "m", seq: 1n, messageId: "x" } }, 0);
      await t.expectErrorFrom(session.conn, [ErrorCode.PROTOCOL_VIOLATION], "ENV-7", { closing: true });
    },
  },
];

/** Tests of the WebSocket binding: run against WebSocket targets only. */
export const websocketTests: ConformanceTest[] = [
  {
    id: "WS-1/subprotocol-required",
    requirements: ["WS-1"],
    level: "required",
    group: "websocket",
    title: "a WebSocket handshake without the imwire.v1 subprotocol is refused",
    async run(t) {
      const socket = new WebSocket(t.target.url, { ...(t.target.url.startsWith("wss") ? t.target.dial.tls : {}) });
      const outcome = await new Promise<string>((resolve) => {
        socket.once("open", () => {
          socket.once("close", (code) => resolve(code === 1002 ? "closed 1002" : `open, then closed ${code}`));
          setTimeout(() => resolve(`open without subprotocol (protocol "${socket.protocol}")`), t.timeoutMs);
        });
        socket.once("unexpected-response", (_req, res) => resolve(`HTTP ${res.statusCode}`));
        socket.once("error", (error) => resolve(`error: ${error.message}`));
      });
      socket.terminate();
      if (!/^HTTP 4\d\d$|^closed 1002$/.test(outcome)) throw new Violation("WS-1: the handshake must be refused", ["HTTP 4xx", "close code 1002"], outcome);
    },
  },
  {
    id: "WS-1/subprotocol-selected",
    requirements: ["WS-1"],
    level: "required",
    group: "websocket",
    title: "the server selects imwire.v1",
    async run(t) {
      const c = await t.open();
      check(c.subprotocol === "imwire.v1", "WS-1", "subprotocol imwire.v1", () => `subprotocol "${c.subprotocol}"`);
    },
  },
  {
    id: "WS-1/subprotocol-among-others",
    requirements: ["WS-1"],
    level: "required",
    group: "websocket",
    title: "a handshake offering other subprotocols as well as imwire.v1 gets imwire.v1",
    async run(t) {
      const socket = new WebSocket(t.target.url, ["chat.example.v9", WEBSOCKET_SUBPROTOCOL, "x-other"], { ...(t.target.url.startsWith("wss") ? t.target.dial.tls : {}) });
      const outcome = await new Promise<string>((resolve) => {
        socket.once("open", () => resolve(`selected "${socket.protocol}"`));
        socket.once("unexpected-response", (_req, res) => resolve(`HTTP ${res.statusCode}`));
        socket.once("error", (error) => resolve(`error: ${error.message}`));
      });
      socket.terminate();
      check(outcome === `selected "${WEBSOCKET_SUBPROTOCOL}"`, "WS-1", `subprotocol ${WEBSOCKET_SUBPROTOCOL} selected`, () => outcome);
    },
  },
  {
    id: "WS-1/subprotocol-list-with-spaces",
    requirements: ["WS-1"],
    level: "required",
    group: "websocket",
    title: "a Sec-WebSocket-Protocol list with spaces after its commas (as browsers send it, RFC 6455 §4.1) gets imwire.v1",
    async run(t) {
      // The header written as is: ws would join a protocol list without spaces. The answer is read from the response headers.
      const socket = new WebSocket(t.target.url, { headers: { "sec-websocket-protocol": `chat.example.v9, ${WEBSOCKET_SUBPROTOCOL} , x-other` }, ...(t.target.url.startsWith("wss") ? t.target.dial.tls : {}) });
      const outcome = await new Promise<string>((resolve) => {
        socket.once("upgrade", (res) => resolve(`selected "${String(res.headers["sec-websocket-protocol"] ?? "")}"`));
        socket.once("unexpected-response", (_req, res) => resolve(`HTTP ${res.statusCode}`));
        socket.once("error", (error) => resolve(`error: ${error.message}`));
      });
      socket.on("error", () => {});
      socket.terminate();
      check(outcome === `selected "${WEBSOCKET_SUBPROTOCOL}"`, "WS-1", `subprotocol ${WEBSOCKET_SUBPROTOCOL} selected`, () => outcome);
    },
  },
  {
    id: "WS-3/text-message",
    requirements: ["WS-3"],
    level: "required",
    group: "websocket",
    title: "a text message is a malformed frame: MALFORMED_FRAME, then close",
    async run(t) {
      const c = await t.open();
      c.writeText("hello");
      await t.expectClosed(c, "WS-3");
      check(c.closeCode === 1003, "WS-3", "WebSocket close code 1003", () => `close code ${c.closeCode}`);
      const reported = c.drain().find((f) => f.body.case === "error");
      if (reported) t.expectError(reported, [ErrorCode.MALFORMED_FRAME], "WS-3");
    },
  },
  {
    id: "WS-4/message-over-the-limit",
    requirements: ["WS-4", "FRM-5"],
    level: "required",
    group: "websocket",
    title: "a message over 65,536 bytes before welcome is refused and the connection closed",
    async run(t) {
      const c = await t.open();
      c.writeRaw(new Uint8Array(65_537), "a 65,537-byte binary message");
      await t.expectClosed(c, "WS-4");
      check(c.closeCode === 1009, "WS-4", "WebSocket close code 1009", () => `close code ${c.closeCode}`);
      const reported = c.drain().find((f) => f.body.case === "error");
      if (reported) t.expectError(reported, [ErrorCode.FRAME_TOO_LARGE], "WS-4");
    },
  },
  {
    id: "WS-5/websocket-pings-are-not-heartbeats",
    requirements: ["WS-5", "HB-3"],
    level: "required",
    group: "websocket",
    title: "WebSocket ping control frames do not keep a connection alive: one that sends nothing else is closed as silent (TIMEOUT)",
    async run(t) {
      const session = await t.connect(t.user("a"), "d1", { keepAlive: false });
      const interval = session.welcome.heartbeatIntervalMs;
      const pinger = setInterval(() => session.conn.writeWebSocketPing(), Math.max(50, interval / 4));
      try {
        const allowed = 1.5 * interval + Math.max(1_000, 0.25 * interval);
        if (!(await session.conn.waitClosed(allowed))) {
          throw new Violation("WS-5: WebSocket pings must not replace imwire pings", [`closed with ERROR_CODE_TIMEOUT within ${allowed} ms (HB-3)`], `still open after ${allowed} ms of WebSocket pings`);
        }
      } finally {
        clearInterval(pinger);
      }
      const reported = session.conn.drain().find((f) => f.body.case === "error");
      if (!reported) throw new Violation("WS-5: the close must be reported with ERROR_CODE_TIMEOUT", ["error ERROR_CODE_TIMEOUT, closing"], "closed without an error frame");
      t.expectError(reported, [ErrorCode.TIMEOUT], "WS-5", true);
    },
  },
];
