import { toBinary } from "@bufbuild/protobuf";
import { ConversationEventSchema, type ConversationEvent } from "../../../gen/imwire/v1/message_pb.js";
import { ErrorCode } from "../../../gen/imwire/v1/error_pb.js";
import { DeviceState, ReceiveMode } from "../../../gen/imwire/v1/settings_pb.js";
import type { UserEvent } from "../../../gen/imwire/v1/delivery_pb.js";
import type { SendAck } from "../../../gen/imwire/v1/message_pb.js";
import type { Session, TestContext } from "../context.js";
import { ScriptedConnection, describe } from "../scripted-connection.js";
import { Violation, type ConformanceTest } from "../types.js";
import { check, direct, eventPush, freshKey, push, send, text, users } from "./helpers.js";

const group = "lifecycle";

/** CONN-7's upper bound on the drain window, plus room for a slow machine. */
const DRAIN_BOUND_MS = 30_000 + 5_000;

/** Every event of a conversation, paged from the start. */
async function history(t: TestContext, session: Session, conversationId: string) {
  const events = [];
  for (let after = 0n; ; ) {
    const page = await t.ask(session, { case: "syncConversation", value: { conversationId, afterSeq: after } }, "conversationPage", "SYNC-1");
    events.push(...page.events);
    if (!page.hasMore) return { events, lastSeq: page.lastSeq };
    after = page.events.at(-1)!.seq;
  }
}

const encoded = (event: ConversationEvent) => Buffer.from(toBinary(ConversationEventSchema, event)).toString("hex");

export const lifecycleTests: ConformanceTest[] = [
  {
    id: "SEQ-2/acknowledged-messages-survive-a-restart",
    requirements: ["SEQ-2", "SEQ-1", "IDEM-2", "IDEM-4", "HOOK-1"],
    level: "required",
    group,
    hooks: ["restart"],
    title: "after a restart, every acknowledged message is there as it was, a retried key gets its first answer, and new sends continue the sequence",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      const acks: SendAck[] = [];
      const keys: string[] = [];
      for (let i = 0; i < 5; i++) {
        keys.push(freshKey());
        acks.push(await send(t, a!, id, text(`before the restart ${i}`), keys[i]));
      }
      const before = await history(t, a!, id);
      await t.restart();
      const again = await t.connect(a!.userId, a!.deviceId);
      const after = await history(t, again, id);
      const lost = acks.filter((ack) => !after.events.some((e) => e.seq === ack.seq && e.body.case === "message" && e.body.value.messageId === ack.messageId));
      check(lost.length === 0, "SEQ-2", "every acknowledged message after the restart", () => `missing ${lost.map((l) => `#${l.seq}`).join(", ")}`);
      const changed = before.events.filter((e, i) => after.events[i] === undefined || encoded(after.events[i]!) !== encoded(e));
      check(changed.length === 0 && after.events.length === before.events.length, "SEQ-2", `the ${before.events.length} events unchanged`, () => `${after.events.length} events, ${changed.length} changed (first: #${changed[0]?.seq})`);
      // IDEM-4: keys outlive a restart for the dedup window.
      await new Promise((resolve) => setTimeout(resolve, 20));
      const retry = await send(t, again, id, text("a retry after the restart"), keys[2]);
      check(retry.seq === acks[2]!.seq && retry.messageId === acks[2]!.messageId && retry.serverTimeMs === acks[2]!.serverTimeMs, "IDEM-2", `the first answer (#${acks[2]!.seq}, ${acks[2]!.messageId})`, () => `#${retry.seq}, ${retry.messageId}`);
      const next = await send(t, again, id, text("after the restart"));
      check(next.seq === before.lastSeq + 1n, "SEQ-1", `seq ${before.lastSeq + 1n}, after the last before the restart`, () => `seq ${next.seq}`);
    },
  },
  {
    id: "CUR-4/epoch-across-a-restart",
    requirements: ["CUR-4", "AUTH-5", "DLV-3", "CUR-5", "HOOK-1"],
    level: "required",
    group,
    hooks: ["restart"],
    title: "after a restart the stream is the same (same epoch: the old cursor resumes, entries keep their cursors) or declared lost (a new epoch: a snapshot that still lists what was acknowledged)",
    async run(t) {
      const [a] = await users(t, "a");
      const b = await t.connect(t.user("b"), "d1", { autoAck: false });
      const id = await direct(t, a!, b);
      const acks: SendAck[] = [];
      for (let i = 0; i < 4; i++) acks.push(await send(t, a!, id, text(`m${i}`)));
      const pushed: UserEvent[] = [];
      for (const ack of acks) pushed.push(await push(t, b, eventPush(id, ack.seq), "DLV-1", `the event #${ack.seq}`));
      const held = pushed[1]!.cursor;
      b.conn.send({ case: "deliveryAck", value: { cursor: held } }, 0);
      await t.ask(b, { case: "syncUser", value: { epoch: b.authenticated.epoch, afterCursor: held, limit: 1 } }, "userPage", "SYNC-3"); // the acknowledgement has arrived
      const epoch = b.authenticated.epoch;
      await t.restart();
      const back = await t.connect(b.userId, b.deviceId, { resume: { epoch, cursor: held }, autoAck: false });
      if (back.authenticated.epoch === epoch) {
        // Same epoch: the same stream, so the same cursors for the same entries (CUR-4: renumbering needs a new epoch).
        check(back.authenticated.resumed, "AUTH-5", `resumed: true at cursor ${held} of the unchanged epoch`, () => "resumed: false");
        for (const before of pushed.slice(2)) {
          const ref = before.body.value as { seq: bigint };
          const again = await push(t, back, eventPush(id, ref.seq), "DLV-3", `the event #${ref.seq} again, after the restart`);
          check(again.cursor === before.cursor, "CUR-4", `cursor ${before.cursor} for #${ref.seq}, as before the restart (same epoch)`, () => `cursor ${again.cursor}`);
        }
        return;
      }
      // A new epoch says the stream was lost: resumption must be refused and a snapshot still lists what was acknowledged.
      check(!back.authenticated.resumed, "CUR-4", "resumed: false under a new epoch", () => "resumed: true");
      const page = await t.ask(back, { case: "syncUser", value: { epoch, afterCursor: held } }, "userPage", "SYNC-4");
      const listed = page.snapshot?.conversations.find((c) => c.conversationId === id);
      check(listed !== undefined && listed.lastSeq >= acks.at(-1)!.seq, "SEQ-2", `a snapshot listing ${id} up to #${acks.at(-1)!.seq}`, () => (page.snapshot ? `last_seq ${listed?.lastSeq ?? "not listed"}` : "no snapshot"));
    },
  },
  {
    id: "CONN-7/graceful-shutdown",
    requirements: ["CONN-7", "HOOK-2", "SEQ-2"],
    level: "required",
    group,
    hooks: ["shutdown", "restart"],
    title: "a shutdown sends go_away, answers later requests UNAVAILABLE, pushes nothing more, accepts no new connection, closes within the drain window, and loses nothing acknowledged",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      const ack = await send(t, a!, id, text("before the shutdown"));
      await push(t, b!, eventPush(id, ack.seq), "DLV-1", `the event #${ack.seq}`);
      await t.shutdown();
      const started = Date.now();
      for (const session of [a!, b!]) await t.nextOrViolation(session.conn, (f) => f.body.case === "goAway", "CONN-7", ["go_away"], Math.max(t.timeoutMs, 10_000));
      // The referee checks what follows: this request must get UNAVAILABLE, and no push may come (CONN-7).
      const requestId = a!.conn.send({ case: "sendMessage", value: { conversationId: id, clientMessageId: freshKey(), content: text("too late") } });
      const answer = await t.nextOrViolation(a!.conn, (f) => f.requestId === requestId, "CONN-7", ["error ERROR_CODE_UNAVAILABLE (retryable)"]);
      t.expectError(answer, [ErrorCode.UNAVAILABLE], "CONN-7", false);
      const newcomer = await tryHello(t);
      check(newcomer !== "welcome", "CONN-7", "no new connection accepted once go_away is sent", () => "a new connection was welcomed");
      for (const session of [a!, b!]) {
        const left = DRAIN_BOUND_MS - (Date.now() - started);
        if (!(await session.conn.waitClosed(Math.max(0, left)))) {
          throw new Violation("CONN-7: the server must close a draining connection within its drain window", ["closed within 30 s of go_away"], `still open after ${DRAIN_BOUND_MS} ms`);
        }
      }
      await t.restart();
      const again = await t.connect(a!.userId, a!.deviceId);
      const after = await history(t, again, id);
      check(after.events.some((e) => e.seq === ack.seq), "SEQ-2", `#${ack.seq}, acknowledged before the shutdown`, () => `seqs ${after.events.map((e) => e.seq).join(",")}`);
    },
  },
  {
    id: "RECV-5/push-handoff-for-a-background-device",
    requirements: ["RECV-5", "RECV-2", "HOOK-3"],
    level: "required",
    group,
    needs: ["push-handoff"],
    hooks: ["pushWebhook"],
    title: "a background device registered with a push service gets a hand-off naming it, its token, the conversation and the seq",
    async run(t) {
      const [a, b] = await users(t, "a", "b");
      const id = await direct(t, a!, b!);
      const token = freshKey("push-token");
      await t.ask(b!, { case: "setDeviceState", value: { state: DeviceState.BACKGROUND, pushService: "conformance", pushToken: token } }, "deviceStateSet", "RECV-5");
      const ack = await send(t, a!, id, text("wake up"));
      const handoff = await t.handoff((h) => h.userId === b!.userId && h.conversationId === id && h.seq === String(ack.seq));
      if (!handoff) throw new Violation("RECV-5: a hand-off for the background device", [`a hand-off for ${b!.userId}, ${id}#${ack.seq}`], `none within ${t.timeoutMs} ms${malformed(t)}`);
      check(handoff.deviceId === b!.deviceId && handoff.pushService === "conformance" && handoff.pushToken === token, "RECV-5", `device ${b!.deviceId}, push service "conformance", token ${token}`, () => JSON.stringify(handoff));
    },
  },
  {
    id: "RECV-2/no-handoff-for-muted-conversations",
    requirements: ["RECV-2", "RECV-5", "HOOK-3"],
    level: "required",
    group,
    needs: ["push-handoff"],
    hooks: ["pushWebhook"],
    title: "nothing is handed to a push service for a muted conversation",
    async run(t) {
      const [a, b, c] = await users(t, "a", "b", "c");
      const muted = await direct(t, a!, b!);
      const open = await direct(t, c!, b!);
      await t.ask(b!, { case: "setReceiveSettings", value: { settings: { conversationId: muted, mode: ReceiveMode.MUTED } } }, "receiveSettings", "RECV-1");
      await t.ask(b!, { case: "setDeviceState", value: { state: DeviceState.BACKGROUND, pushService: "conformance", pushToken: freshKey("push-token") } }, "deviceStateSet", "RECV-5");
      const quiet = await send(t, a!, muted, text("shh"));
      await push(t, b!, eventPush(muted, quiet.seq), "RECV-5", `the notify entry for #${quiet.seq}`);
      const loud = await send(t, c!, open, text("not muted"));
      // The open conversation's hand-off shows the server hands off; the muted one's must never come.
      if (!(await t.handoff((h) => h.userId === b!.userId && h.conversationId === open && h.seq === String(loud.seq)))) {
        throw new Violation("RECV-5: a hand-off for the conversation that is not muted", [`a hand-off for ${open}#${loud.seq}`], `none within ${t.timeoutMs} ms${malformed(t)}`);
      }
      const leaked = await t.handoff((h) => h.userId === b!.userId && h.conversationId === muted, t.quietMs);
      check(leaked === undefined, "RECV-2", `no hand-off for the muted ${muted}`, () => JSON.stringify(leaked));
    },
  },
];

function malformed(t: TestContext): string {
  const bad = t.target.pushes?.malformed ?? [];
  return bad.length > 0 ? `; the webhook got posts that are not hand-offs (HOOK-3): ${bad.slice(0, 3).join(" | ")}` : "";
}

/** A new connection's fate during a drain: "refused" (it could not connect or was closed), or what its hello got. */
async function tryHello(t: TestContext): Promise<string> {
  let connection: ScriptedConnection;
  try {
    connection = await t.open();
  } catch {
    return "refused";
  }
  const id = connection.send({ case: "hello", value: { versions: [1], deviceId: "late" } });
  const answer = await Promise.race([connection.next((f) => f.requestId === id, t.timeoutMs).catch(() => undefined), connection.waitClosed(t.timeoutMs).then(() => undefined)]);
  if (answer === undefined) return "refused";
  return answer.body.case === "welcome" ? "welcome" : describe(answer);
}

