import { ErrorCode } from "../../../gen/imwire/v1/error_pb.js";
import { Violation, type ConformanceTest } from "../types.js";
import { check, direct, users } from "./helpers.js";

const group = "heartbeat";

export const heartbeatTests: ConformanceTest[] = [
  {
    id: "HB-5/slow-frame-is-not-silence",
    requirements: ["HB-3", "HB-5", "HB-2"],
    level: "required",
    group: "framing-stream",
    title: "a 32 KB send_message trickling in over two heartbeat intervals (no whole frame meanwhile) is not silence: the connection stays open, the server pings, and the message is acknowledged",
    async run(t) {
      const [b] = await users(t, "b");
      // No keep-alive pings of the runner's own: they would land inside the frame, and it must be the only sign of life.
      const a = await t.connect(t.user("a"), "d1", { keepAlive: false });
      const id = await direct(t, a, b!);
      const interval = a.welcome.heartbeatIntervalMs;
      const pingsBefore = a.conn.pingsReceived;
      const requestId = await a.conn.writeSlowly({ case: "sendMessage", value: { conversationId: id, clientMessageId: `slow-${Date.now()}`, content: { kind: { case: "text", value: { text: "s".repeat(32_000) } } } } }, 40, 2 * interval);
      check(!a.conn.closed, "HB-3", "the connection still open after the frame's last byte", () => "closed while the frame was arriving");
      const answer = await t.nextOrViolation(a.conn, (f) => f.requestId === requestId, "HB-3", ["send_ack"]);
      t.answerOf(answer, "sendAck", "HB-3");
      check(a.conn.pingsReceived > pingsBefore, "HB-5", "a ping from the server while the frame was arriving", () => "no ping");
    },
  },
  {
    id: "HB-3/silent-connection-closed",
    requirements: ["HB-3", "ERR-2"],
    level: "required",
    group,
    title: "a connection silent for 1.5 heartbeat intervals gets TIMEOUT and is closed — not much later, and not before 1.5 intervals",
    async run(t) {
      const a = [await t.connect(t.user("a"), "d1", { keepAlive: false })];
      const interval = a[0]!.welcome.heartbeatIntervalMs;
      const due = 1.5 * interval;
      const slack = Math.max(1_000, 0.25 * interval);
      const quietSince = Date.now();
      const closed = await a[0]!.conn.waitClosed(due + slack);
      const after = Date.now() - quietSince;
      if (!closed) throw new Violation("HB-3: the server must close a silent connection", [`closed within ${due} ms (+${slack} ms slack)`], `still open after ${after} ms`);
      check(after >= due - 100, "HB-3", `closed no sooner than ${due} ms`, () => `closed after ${after} ms`);
      const reported = a[0]!.conn.drain().find((f) => f.body.case === "error");
      if (!reported) throw new Violation("HB-3: the close must be reported with ERROR_CODE_TIMEOUT", ["error ERROR_CODE_TIMEOUT, closing"], "closed without an error frame");
      t.expectError(reported, [ErrorCode.TIMEOUT], "HB-3", true);
    },
  },
  {
    id: "HB-1/pings-keep-a-connection-alive",
    requirements: ["HB-1", "HB-2"],
    level: "required",
    group,
    title: "a client that pings within the interval stays connected for several intervals",
    async run(t) {
      const a = [await t.connect(t.user("a"), "d1", { keepAlive: false })];
      const interval = a[0]!.welcome.heartbeatIntervalMs;
      const until = Date.now() + 2.5 * interval;
      while (Date.now() < until) {
        a[0]!.conn.send({ case: "ping", value: { nonce: BigInt(Date.now()) } }, 0);
        await new Promise((resolve) => setTimeout(resolve, 0.7 * interval));
        check(!a[0]!.conn.closed, "HB-1", "the connection still open", () => "closed");
      }
    },
  },
  {
    id: "ERR-1/client-errors-are-not-answered",
    requirements: ["ERR-1"],
    level: "required",
    group,
    title: "an error frame from the client (not closing) is not answered, and the connection goes on",
    async run(t) {
      const [a] = await users(t, "a");
      a!.conn.send({ case: "error", value: { code: ErrorCode.INTERNAL, message: "the client had a problem" } }, 0);
      await t.expectNothing(a!.conn, (f) => f.body.case === "error", "ERR-1", "no error in answer to an error");
      await t.ask(a!, { case: "syncUser", value: {} }, "userPage", "ERR-1");
    },
  },
];
