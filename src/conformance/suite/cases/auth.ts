import { ErrorCode } from "../../../gen/imwire/v1/error_pb.js";
import type { ConformanceTest } from "../types.js";
import { check } from "./helpers.js";

const group = "auth";

export const authTests: ConformanceTest[] = [
  {
    id: "AUTH-1/invalid-token",
    requirements: ["AUTH-1", "AUTH-2"],
    level: "required",
    group,
    title: "a token that is not valid is UNAUTHENTICATED, and the connection closes",
    async run(t) {
      const c = await t.open();
      await t.hello(c, "d1");
      const id = c.send({ case: "authenticate", value: { token: "this-is-not-a-token" } });
      await t.expectErrorFrom(c, [ErrorCode.UNAUTHENTICATED], "AUTH-1", { requestId: id, closing: true });
      await t.expectClosed(c, "AUTH-1");
    },
  },
  {
    id: "AUTH-1/expired-token",
    requirements: ["AUTH-1"],
    level: "required",
    group,
    title: "an expired token is TOKEN_EXPIRED (retryable), and the connection closes",
    needs: ["expired-tokens"],
    async run(t) {
      const c = await t.open();
      await t.hello(c, "d1");
      const token = await t.token(t.user("alice"), "d1", -60_000);
      const id = c.send({ case: "authenticate", value: { token } });
      const frame = await t.expectErrorFrom(c, [ErrorCode.TOKEN_EXPIRED], "AUTH-1", { requestId: id, closing: true });
      check(frame.body.case === "error" && frame.body.value.retryable, "ERR-2", "retryable: true", () => "retryable: false");
    },
  },
  {
    id: "AUTH-3/token-of-another-device",
    requirements: ["AUTH-3"],
    level: "required",
    group,
    title: "a token bound to another device than hello's is UNAUTHENTICATED",
    async run(t) {
      const c = await t.open();
      await t.hello(c, "laptop");
      const token = await t.token(t.user("alice"), "phone");
      const id = c.send({ case: "authenticate", value: { token } });
      await t.expectErrorFrom(c, [ErrorCode.UNAUTHENTICATED], "AUTH-3", { requestId: id, closing: true });
    },
  },
  {
    id: "AUTH-4/devices-at-once",
    requirements: ["AUTH-4"],
    level: "required",
    group,
    title: "several devices of one user stay connected at once",
    async run(t) {
      const user = t.user("alice");
      const sessions = [await t.connect(user, "phone"), await t.connect(user, "laptop"), await t.connect(user, "tablet")];
      for (const { conn } of sessions) {
        const page = await conn.request({ case: "syncUser", value: {} }, t.timeoutMs);
        t.answerOf(page, "userPage", "AUTH-4");
      }
    },
  },
  {
    id: "AUTH-4/same-device-replaced",
    requirements: ["AUTH-4"],
    level: "required",
    group,
    title: "a device's second connection replaces its first, which gets SESSION_REPLACED and is closed",
    async run(t) {
      const user = t.user("alice");
      const first = await t.connect(user, "phone");
      await t.connect(user, "phone");
      await t.expectErrorFrom(first.conn, [ErrorCode.SESSION_REPLACED], "AUTH-4", { closing: true });
      await t.expectClosed(first.conn, "AUTH-4");
    },
  },
  {
    id: "SEC-2/every-authenticate-verified",
    requirements: ["SEC-2", "AUTH-1", "AUTH-4"],
    level: "required",
    group,
    title: "a connected device does not vouch for a new connection: a bad token for it is UNAUTHENTICATED, and the first connection stays",
    async run(t) {
      const first = await t.connect(t.user("alice"), "phone");
      const c = await t.open();
      await t.hello(c, "phone");
      const id = c.send({ case: "authenticate", value: { token: "this-is-not-a-token" } });
      await t.expectErrorFrom(c, [ErrorCode.UNAUTHENTICATED], "SEC-2", { requestId: id, closing: true });
      await t.expectNothing(first.conn, (f) => f.body.case === "error", "AUTH-4", "no SESSION_REPLACED: a connection that failed to authenticate replaces nothing");
      t.answerOf(await first.conn.request({ case: "syncUser", value: {} }, t.timeoutMs), "userPage", "SEC-2");
    },
  },
];
