import { ErrorCode } from "../../../gen/imwire/v1/error_pb.js";
import { welcomeProblem } from "../../../codec/welcome.js";
import type { ConformanceTest } from "../types.js";
import { check } from "./helpers.js";

const group = "handshake";

export const handshakeTests: ConformanceTest[] = [
  {
    id: "CONN-1/first-frame-must-be-hello",
    requirements: ["CONN-1"],
    level: "required",
    group,
    title: "a first frame other than hello is refused with PROTOCOL_VIOLATION and the connection closed",
    async run(t) {
      const c = await t.open();
      c.send({ case: "ping", value: { nonce: 1n } }, 0);
      await t.expectErrorFrom(c, [ErrorCode.PROTOCOL_VIOLATION], "CONN-1", { closing: true });
      await t.expectClosed(c, "CONN-1");
    },
  },
  {
    id: "CONN-2/welcome-within-limits",
    requirements: ["CONN-2", "LIM-1", "LIM-6"],
    level: "required",
    group,
    title: "hello is answered with welcome: version 1 and limits inside the specified ranges",
    async run(t) {
      const c = await t.open();
      const welcome = await t.hello(c, "d1");
      const problem = welcomeProblem(welcome, [1]);
      check(problem === undefined, "CONN-2", "a welcome inside LIM-1 and LIM-6", () => problem!);
    },
  },
  {
    id: "CONN-2/highest-common-version",
    requirements: ["CONN-2"],
    level: "required",
    group,
    title: "among offered versions, the server picks the highest it implements",
    async run(t) {
      const c = await t.open();
      const welcome = await t.hello(c, "d1", [99, 1, 42]);
      check(welcome.version === 1, "CONN-2", "version 1 (the only one both implement)", () => `version ${welcome.version}`);
    },
  },
  {
    id: "CONN-2/unsupported-version",
    requirements: ["CONN-2"],
    level: "required",
    group,
    title: "no common version: UNSUPPORTED_VERSION listing the supported ones, then close",
    async run(t) {
      const c = await t.open();
      const id = c.send({ case: "hello", value: { versions: [99], deviceId: "d1" } });
      const frame = await t.expectErrorFrom(c, [ErrorCode.UNSUPPORTED_VERSION], "CONN-2", { requestId: id, closing: true });
      const versions = frame.body.case === "error" ? frame.body.value.supportedVersions : [];
      check(versions.includes(1), "CONN-2", "supported_versions listing 1", () => `supported_versions ${JSON.stringify(versions)}`);
      await t.expectClosed(c, "CONN-2");
    },
  },
  {
    id: "CONN-4/request-before-authentication",
    requirements: ["CONN-4", "SEC-4"],
    level: "required",
    group,
    title: "a request after hello but before authenticate is UNAUTHENTICATED and closes",
    async run(t) {
      const c = await t.open();
      await t.hello(c, "d1");
      const id = c.send({ case: "syncUser", value: {} });
      await t.expectErrorFrom(c, [ErrorCode.UNAUTHENTICATED], "CONN-4", { requestId: id, closing: true });
      await t.expectClosed(c, "CONN-4");
    },
  },
  {
    id: "CONN-5/second-hello",
    requirements: ["CONN-5"],
    level: "required",
    group,
    title: "hello on an authenticated connection is a PROTOCOL_VIOLATION that closes",
    async run(t) {
      const session = await t.connect(t.user("alice"), "d1");
      const id = session.conn.send({ case: "hello", value: { versions: [1], deviceId: "d1" } });
      await t.expectErrorFrom(session.conn, [ErrorCode.PROTOCOL_VIOLATION], "CONN-5", { requestId: id, closing: true });
      await t.expectClosed(session.conn, "CONN-5");
    },
  },
  {
    id: "ENV-2/answers-echo-request-ids",
    requirements: ["ENV-2"],
    level: "required",
    group,
    title: "every answer carries its request's id, including the largest uint32",
    async run(t) {
      const { conn } = await t.connect(t.user("alice"), "d1");
      for (const id of [7, 1_000, 4_294_967_295]) {
        conn.send({ case: "syncUser", value: { epoch: "" } }, id);
        const answer = await t.nextOrViolation(conn, (f) => f.body.case === "userPage" || f.body.case === "error", "ENV-2", [`user_page with request_id ${id}`]);
        check(answer.requestId === id, "ENV-2", `request_id ${id}`, () => `request_id ${answer.requestId}`);
      }
    },
  },
  {
    id: "HB-2/pong-echoes-nonce",
    requirements: ["HB-2", "CUR-6"],
    level: "required",
    group,
    title: "ping is answered by pong with the same nonce (64-bit values included)",
    async run(t) {
      const { conn } = await t.connect(t.user("alice"), "d1");
      const nonce = 2n ** 63n + 5n;
      conn.send({ case: "ping", value: { nonce } }, 0);
      const pong = await t.nextOrViolation(conn, (f) => f.body.case === "pong", "HB-2", [`pong with nonce ${nonce}`]);
      check(pong.body.case === "pong" && pong.body.value.nonce === nonce, "HB-2", `nonce ${nonce}`, () => JSON.stringify(pong.body.value, (_k, v) => (typeof v === "bigint" ? String(v) : v)));
    },
  },
  {
    id: "CONN-2/server-limits",
    requirements: ["CONN-2"],
    level: "informational",
    group,
    title: "the limits this server announces",
    async run(t) {
      const c = await t.open();
      const w = await t.hello(c, "d1");
      return `max_frame_size ${w.maxFrameSize}, heartbeat ${w.heartbeatIntervalMs} ms, max_in_flight ${w.maxInFlight}, receive_window ${w.receiveWindow}, dedup window ${w.dedupWindowS} s, agent "${w.serverAgent}"`;
    },
  },
];
