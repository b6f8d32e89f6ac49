import type { MessageInitShape } from "@bufbuild/protobuf";
import { ConversationKind } from "../../../gen/imwire/v1/conversation_pb.js";
import type { MessageContentSchema } from "../../../gen/imwire/v1/content_pb.js";
import type { UserEvent } from "../../../gen/imwire/v1/delivery_pb.js";
import type { SendAck } from "../../../gen/imwire/v1/message_pb.js";
import type { Session, TestContext } from "../context.js";
import { Violation } from "../types.js";

export type Content = MessageInitShape<typeof MessageContentSchema>;

export const text = (value: string): Content => ({ kind: { case: "text", value: { text: value } } });

let keys = 0;
/** A fresh idempotency key (IDEM-1). */
export function freshKey(prefix = "k"): string {
  return `${prefix}-${Date.now().toString(36)}-${++keys}`;
}

/** Create a group owned by `owner` with `members`; returns its id. */
export async function group(t: TestContext, owner: Session, members: readonly Session[]): Promise<string> {
  const opened = await t.ask(owner, { case: "openConversation", value: { kind: ConversationKind.GROUP, userIds: members.map((m) => m.userId), title: "conformance", clientConversationId: freshKey("g") } }, "conversationOpened", "CONV-3");
  return opened.conversation!.conversationId;
}

/** The one-to-one conversation of two users; returns its id. */
export async function direct(t: TestContext, a: Session, b: Session): Promise<string> {
  const opened = await t.ask(a, { case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: [b.userId] } }, "conversationOpened", "CONV-2");
  return opened.conversation!.conversationId;
}

export async function send(t: TestContext, session: Session, conversationId: string, content: Content = text("hello"), clientMessageId = freshKey()): Promise<SendAck> {
  return t.ask(session, { case: "sendMessage", value: { conversationId, clientMessageId, content } }, "sendAck", "MSG-1");
}

/** The next push to a session that satisfies `match`. */
export async function push(t: TestContext, session: Session, match: (event: UserEvent) => boolean, requirement: string, acceptable: string): Promise<UserEvent> {
  const frame = await t.nextOrViolation(session.conn, (f) => f.body.case === "deliver" && match(f.body.value), requirement, [acceptable]);
  return frame.body.value as UserEvent;
}

/** The push of conversation event `seq` (whole or in notify form). */
export function eventPush(conversationId: string, seq: bigint) {
  return (e: UserEvent): boolean =>
    (e.body.case === "event" && e.body.value.conversationId === conversationId && e.body.value.seq === seq) ||
    (e.body.case === "notify" && e.body.value.conversationId === conversationId && e.body.value.seq >= seq);
}

/** Acknowledge everything pushed so far (ACK-1). */
export function ackUpTo(session: Session, cursor: bigint): void {
  session.conn.send({ case: "deliveryAck", value: { cursor } }, 0);
}

/** Log users in (each a session with its position set) under names unique to this run. */
export async function users(t: TestContext, ...names: string[]): Promise<Session[]> {
  return Promise.all(names.map((name) => t.connect(t.user(name), "d1")));
}

export function check(condition: boolean, requirement: string, acceptable: string, actual: () => string): void {
  if (!condition) throw new Violation(`${requirement}: expected ${acceptable}`, [acceptable], actual());
}
