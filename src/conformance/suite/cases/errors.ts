import { ErrorCode } from "../../../gen/imwire/v1/error_pb.js";
import type { FrameBody } from "../scripted-connection.js";
import { Unsupported, Violation, type ConformanceTest } from "../types.js";
import { check, users } from "./helpers.js";

const group = "errors";

/** FLOW-1 tests write max_in_flight + 1 requests at once; past this many bytes one write may reach the server in several reads. */
const ONE_READ_BYTES = 16_384;
const syncUser: FrameBody = { case: "syncUser", value: {} };

export const errorTests: ConformanceTest[] = [
  {
    id: "ENV-2/request-id-zero",
    requirements: ["ENV-2", "ERR-2"],
    level: "required",
    group,
    title: "a request with request_id 0 is not processed: PROTOCOL_VIOLATION with request_id 0, and the connection closes",
    async run(t) {
      const [a] = await users(t, "a");
      a!.conn.send(syncUser, 0);
      const frame = await t.expectErrorFrom(a!.conn, [ErrorCode.PROTOCOL_VIOLATION], "ENV-2", { closing: true });
      check(frame.requestId === 0, "ENV-2", "request_id 0", () => `request_id ${frame.requestId}`);
      await t.expectClosed(a!.conn, "ENV-2");
    },
  },
  {
    id: "CONN-4/notice-before-authentication",
    requirements: ["CONN-4", "SEC-4"],
    level: "required",
    group,
    title: "a delivery_ack after hello and before authenticate is UNAUTHENTICATED, and the connection closes",
    async run(t) {
      const c = await t.open();
      await t.hello(c, "d1");
      c.send({ case: "deliveryAck", value: { cursor: 0n } }, 0);
      await t.expectErrorFrom(c, [ErrorCode.UNAUTHENTICATED], "CONN-4", { closing: true });
      await t.expectClosed(c, "CONN-4");
    },
  },
  {
    id: "ERR-2/nothing-processed-after-a-closing-error",
    requirements: ["ERR-2", "CONN-5"],
    level: "required",
    group,
    title: "a request that arrives with a fatal frame, right behind it, is never answered: the server closes after the error",
    async run(t) {
      const [a] = await users(t, "a");
      // A second hello (CONN-5) and a sync_user in one write: the error is the last frame the server sends.
      const [, after] = a!.conn.sendTogether([{ case: "hello", value: { versions: [1], deviceId: a!.deviceId } }, syncUser]);
      await t.expectErrorFrom(a!.conn, [ErrorCode.PROTOCOL_VIOLATION], "CONN-5", { closing: true });
      await t.expectClosed(a!.conn, "ERR-2");
      const answered = a!.conn.drain().find((f) => f.requestId === after);
      if (answered) throw new Violation("ERR-2: a frame behind a closing error is not processed", ["no answer to the request behind the fatal frame"], `it was answered: ${answered.body.case}`);
    },
  },
  {
    id: "FLOW-1/requests-at-the-limit-are-answered",
    requirements: ["FLOW-1", "ENV-2"],
    level: "required",
    group,
    title: "max_in_flight requests arriving at once are all answered, without an error",
    async run(t) {
      const [a] = await users(t, "a");
      const limit = a!.welcome.maxInFlight;
      // The session has nothing in flight once connected; its own keep-alive pings are not requests.
      const ids = a!.conn.sendTogether(Array.from({ length: limit }, () => syncUser));
      for (const id of ids) {
        const answer = await t.nextOrViolation(a!.conn, (f) => f.requestId === id, "FLOW-1", [`user_page #${id}`]);
        t.answerOf(answer, "userPage", "FLOW-1");
      }
    },
  },
  {
    id: "FLOW-1/too-many-requests-in-flight",
    requirements: ["FLOW-1", "ERR-2"],
    level: "required",
    group,
    title: "max_in_flight + 1 requests arriving at once: PROTOCOL_VIOLATION, and the connection closes",
    async run(t) {
      const [a] = await users(t, "a");
      const limit = a!.welcome.maxInFlight;
      if ((limit + 1) * 8 > ONE_READ_BYTES) throw new Unsupported(`max_in_flight ${limit}: ${limit + 1} requests do not fit one ${ONE_READ_BYTES}-byte write`);
      a!.conn.sendTogether(Array.from({ length: limit + 1 }, () => syncUser));
      await t.expectErrorFrom(a!.conn, [ErrorCode.PROTOCOL_VIOLATION], "FLOW-1", { closing: true });
      await t.expectClosed(a!.conn, "FLOW-1");
    },
  },
  {
    id: "CONN-6/silent-connection-before-hello",
    requirements: ["CONN-6", "HB-3"],
    level: "required",
    group,
    title: "a connection that never sends hello is closed with TIMEOUT by the handshake timeout",
    async run(t) {
      const c = await t.open();
      if (!(await c.waitClosed(60_000))) throw new Violation("CONN-6: a connection that never completes the handshake is closed", ["closed within 60 s (RECOMMENDED timeout: 10 s)"], "still open after 60 s");
      const reported = c.drain().find((f) => f.body.case === "error");
      if (!reported) throw new Violation("CONN-6: the close is reported with ERROR_CODE_TIMEOUT", ["error ERROR_CODE_TIMEOUT, closing"], "closed without an error frame");
      t.expectError(reported, [ErrorCode.TIMEOUT], "CONN-6", true);
    },
  },
  {
    id: "CONN-6/pings-do-not-complete-a-handshake",
    requirements: ["CONN-6", "CONN-4"],
    level: "required",
    group,
    title: "a connection that sends hello and then only pings, never authenticate, is closed with TIMEOUT by the handshake timeout",
    async run(t) {
      const c = await t.open();
      const welcome = await t.hello(c, "d1");
      c.keepAlive(Math.max(100, welcome.heartbeatIntervalMs / 2));
      if (!(await c.waitClosed(60_000))) throw new Violation("CONN-6: pings do not complete the handshake", ["closed within 60 s (RECOMMENDED timeout: 10 s)"], "still open after 60 s");
      const reported = c.drain().find((f) => f.body.case === "error");
      if (!reported) throw new Violation("CONN-6: the close is reported with ERROR_CODE_TIMEOUT", ["error ERROR_CODE_TIMEOUT, closing"], "closed without an error frame");
      t.expectError(reported, [ErrorCode.TIMEOUT], "CONN-6", true);
    },
  },
];
