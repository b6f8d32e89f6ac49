import { Feature as WireFeature } from "../../../gen/imwire/v1/connection_pb.js";
import type { UserEvent } from "../../../gen/imwire/v1/delivery_pb.js";
import { ErrorCode } from "../../../gen/imwire/v1/error_pb.js";
import type { Session, TestContext } from "../context.js";
import { Unsupported, type ConformanceTest } from "../types.js";
import { check, group as newGroup, push, send, text } from "./helpers.js";

/**
 * Delete for me (SPEC.md §8.3, version 1.1): an event hidden from the
 * user's own devices (HID-1), told to its other devices by the stream
 * (HID-2) and listed in its conversation pages (HID-3); negotiated as
 * FEATURE_DELETE_FOR_ME (EXT-5). Unsupported where not in force.
 */

const groupName = "delete-for-me";
const HIDE = WireFeature.DELETE_FOR_ME;

async function featured(t: TestContext, ...names: string[]): Promise<Session[]> {
  const sessions = await Promise.all(names.map((name) => t.connect(t.user(name), "d1", { features: [HIDE] })));
  if (!sessions[0]!.welcome.features.includes(HIDE)) throw new Unsupported("the server does not put FEATURE_DELETE_FOR_ME in force (EXT-5)");
  return sessions;
}

async function page(t: TestContext, session: Session, conversationId: string) {
  return t.ask(session, { case: "syncConversation", value: { conversationId } }, "conversationPage", "SYNC-1");
}

export const deleteForMeTests: ConformanceTest[] = [
  {
    id: "HID-1/hidden-for-me-only",
    requirements: ["HID-1", "HID-3", "SEQ-1"],
    level: "required",
    group: groupName,
    title: "hide_message is answered message_hidden; the hider's pages list the seq in hidden_seqs, another member's do not, and the sequence is unchanged for both",
    async run(t) {
      const [a, b] = await featured(t, "a", "b");
      const id = await newGroup(t, a!, [b!]);
      const first = await send(t, a!, id, text("one"));
      await send(t, a!, id, text("two"));
      const before = await page(t, b!, id);
      const answer = await t.ask(a!, { case: "hideMessage", value: { conversationId: id, seq: first.seq } }, "messageHidden", "HID-1");
      check(answer.conversationId === id && answer.seq === first.seq, "HID-1", `message_hidden for ${id}#${first.seq}`, () => `${answer.conversationId}#${answer.seq}`);
      const mine = await page(t, a!, id);
      check(mine.hiddenSeqs.length === 1 && mine.hiddenSeqs[0] === first.seq, "HID-3", `the hider's page lists [${first.seq}]`, () => `[${mine.hiddenSeqs.join(", ")}]`);
      const theirs = await page(t, b!, id);
      check(theirs.hiddenSeqs.length === 0, "HID-1", "another member's page lists nothing hidden", () => `[${theirs.hiddenSeqs.join(", ")}]`);
      check(theirs.events.map((e) => e.seq).join(",") === before.events.map((e) => e.seq).join(","), "HID-1", "the other member's events unchanged", () => theirs.events.map((e) => e.seq).join(","));
      check(mine.events.length === theirs.events.length && mine.lastSeq === theirs.lastSeq, "HID-1", "the hider still reads every event (hidden is the device's business)", () => `${mine.events.length} events, last_seq ${mine.lastSeq}`);
      // HID-3: hidden_seqs lists seqs among the page's events only: none in a page after the hidden one, none in an empty page.
      for (const [afterSeq, what] of [[first.seq, `a page after #${first.seq}`], [mine.lastSeq, "an empty page after last_seq"]] as const) {
        const later = await t.ask(a!, { case: "syncConversation", value: { conversationId: id, afterSeq } }, "conversationPage", "SYNC-1");
        check(later.hiddenSeqs.length === 0, "HID-3", `${what}: hidden_seqs empty (#${first.seq} is not among its events)`, () => `[${later.hiddenSeqs.join(", ")}] with events #${later.events.map((e) => e.seq).join(",")}`);
      }
    },
  },
  {
    id: "HID-2/other-devices-told-by-the-stream",
    requirements: ["HID-2", "CUR-1"],
    level: "required",
    group: groupName,
    title: "a newly hidden event reaches the user's other device as a `hidden` entry of its stream",
    async run(t) {
      const [a, b] = await featured(t, "a", "b");
      const id = await newGroup(t, a!, [b!]);
      const sent = await send(t, b!, id, text("from b"));
      const other = await t.connect(a!.userId, "d2", { features: [HIDE] });
      await t.ask(a!, { case: "hideMessage", value: { conversationId: id, seq: sent.seq } }, "messageHidden", "HID-1");
      const hiddenEntry = (e: UserEvent) => e.body.case === "hidden" && e.body.value.conversationId === id;
      await push(t, other, (e) => hiddenEntry(e) && e.body.case === "hidden" && e.body.value.seq === sent.seq, "HID-2", `a hidden entry for ${id}#${sent.seq}`);
      // Hiding it again hides nothing new: no second entry; the next one the other device sees is for the next event hidden.
      const again = await t.ask(a!, { case: "hideMessage", value: { conversationId: id, seq: sent.seq } }, "messageHidden", "HID-1");
      check(again.seq === sent.seq, "HID-1", `message_hidden for ${id}#${sent.seq} again`, () => `${again.conversationId}#${again.seq}`);
      const next = await send(t, b!, id, text("also from b"));
      await t.ask(a!, { case: "hideMessage", value: { conversationId: id, seq: next.seq } }, "messageHidden", "HID-1");
      const entry = await push(t, other, hiddenEntry, "HID-2", `a hidden entry for ${id}#${next.seq}`);
      check(entry.body.case === "hidden" && entry.body.value.seq === next.seq, "HID-2", `the next hidden entry is for #${next.seq}: hiding #${sent.seq} again appended nothing`, () => (entry.body.case === "hidden" ? `#${entry.body.value.seq}` : entry.body.case ?? "none"));
    },
  },
  {
    id: "HID-1/only-what-the-user-may-read",
    requirements: ["HID-1"],
    level: "required",
    group: groupName,
    title: "a seq beyond the newest is INVALID_ARGUMENT, a user who never belonged PERMISSION_DENIED, an unknown conversation NOT_FOUND",
    async run(t) {
      const [a, b, outsider] = await featured(t, "a", "b", "out");
      const id = await newGroup(t, a!, [b!]);
      const sent = await send(t, a!, id, text("hi"));
      const refuse = async (session: Session, conversationId: string, seq: bigint, code: ErrorCode) => {
        const requestId = session.conn.send({ case: "hideMessage", value: { conversationId, seq } });
        await t.expectErrorFrom(session.conn, [code], "HID-1", { requestId, closing: false });
      };
      await refuse(a!, id, sent.seq + 10n, ErrorCode.INVALID_ARGUMENT);
      await refuse(outsider!, id, sent.seq, ErrorCode.PERMISSION_DENIED);
      await refuse(a!, `no-such-${id}`, 1n, ErrorCode.NOT_FOUND);
      // A member added later may not hide what came before its first_visible_seq (CONV-8), whatever the group's setting.
      const late = (await featured(t, "late"))[0]!;
      await t.ask(a!, { case: "openConversation", value: { conversationId: id, userIds: [late.userId] } }, "conversationOpened", "CONV-4");
      const view = (await t.ask(late, { case: "openConversation", value: { conversationId: id } }, "conversationOpened", "CONV-4")).conversation!;
      if (view.firstVisibleSeq > 1n) await refuse(late, id, view.firstVisibleSeq - 1n, ErrorCode.INVALID_ARGUMENT);
    },
  },
];
