import { create } from "@bufbuild/protobuf";
import picocolors from "picocolors";
import { describe, expect, it } from "vitest";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { messageLine, renderConversation, renderThread } from "../src/cli/chat-messages.js";
import { ChatState } from "../src/cli/chat-state.js";
import { conversationLabel, findConversation, formatConversationList, formatEvent, formatNotice, formatPresence, formatStatus, formatTyping, parseChatLine, plainColors, promptFor, unreadCount } from "../src/cli/chat-view.js";
import { eventRecord } from "../src/cli/event-record.js";
import { ConversationKind, HistoryVisibility } from "../src/gen/imwire/v1/conversation_pb.js";
import { ConversationEventSchema, MembershipAction, type MessageActionSchema } from "../src/gen/imwire/v1/message_pb.js";
import type { ConversationView } from "../src/machines/client/conversation-state.js";
import { ReceiveMode } from "../src/gen/imwire/v1/settings_pb.js";

type ConversationEventInit = MessageInitShape<typeof ConversationEventSchema>;
type MessageActionInit = MessageInitShape<typeof MessageActionSchema>;

function view(overrides: Partial<ConversationView> & { conversationId: string }): ConversationView {
  return { kind: ConversationKind.DIRECT, title: "", role: 0, firstVisibleSeq: 1n, lastVisibleSeq: 0n, members: [], receiveMode: ReceiveMode.UNSPECIFIED, readSeq: 0n, held: 0n, ...overrides };
}

const text = (seq: bigint, sender: string, body: string) =>
  create(ConversationEventSchema, { conversationId: "c1", seq, senderUserId: sender, senderDeviceId: "phone", serverTimeMs: 1_700_000_000_000n, body: { case: "message", value: { messageId: "m1", clientMessageId: "k1", content: { kind: { case: "text", value: { text: body } } } } } });

describe("parseChatLine", () => {
  it.each([
    ["hello there", { kind: "say", text: "hello there" }],
    ["  padded  ", { kind: "say", text: "padded" }],
    ["//not a command", { kind: "say", text: "/not a command" }],
    ["", { kind: "nothing" }],
    ["   ", { kind: "nothing" }],
    ["/open bob", { kind: "open", target: "bob" }],
    ["/o  bob", { kind: "open", target: "bob" }],
    ["/group team bob carol", { kind: "group", title: "team", users: ["bob", "carol"] }],
    ["/list", { kind: "list" }],
    ["/read", { kind: "read" }],
    ["/help", { kind: "help" }],
    ["/quit", { kind: "quit" }],
    ["/exit", { kind: "quit" }],
  ])("%j", (line, command) => {
    expect(parseChatLine(line)).toEqual(command);
  });

  it.each([
    ["/open", /usage: \/open USER/],
    ["/open bob carol", /usage: \/open USER/],
    ["/group team", /at least one other user/],
    ["/frobnicate now", /unknown command \/frobnicate: try \/help/],
  ])("%j is a mistake, explained", (line, message) => {
    const command = parseChatLine(line);
    expect(command.kind).toBe("mistake");
    expect(command.kind === "mistake" && command.message).toMatch(message);
  });
});

describe("conversation names", () => {
  const direct = view({ conversationId: "d1", members: ["alice", "bob"], held: 5n, readSeq: 2n });
  const group = view({ conversationId: "g1", kind: ConversationKind.GROUP, title: "team", members: ["alice", "bob", "carol"], held: 3n, readSeq: 3n });
  const views = new Map([direct, group].map((v) => [v.conversationId, v]));

  it("labels a one-to-one by the other member, a group by its title, anything unknown by its id", () => {
    expect(conversationLabel(direct, "d1", "alice")).toBe("bob");
    expect(conversationLabel(direct, "d1", "bob")).toBe("alice");
    expect(conversationLabel(group, "g1", "alice")).toBe("team");
    expect(conversationLabel(view({ conversationId: "g2", kind: ConversationKind.GROUP }), "g2", "alice")).toBe("g2");
    expect(conversationLabel(undefined, "zz", "alice")).toBe("zz");
  });

  it("finds a conversation by id, by peer or by title, and nothing for a user without one", () => {
    expect(findConversation(views, "g1", "alice")?.conversationId).toBe("g1");
    expect(findConversation(views, "bob", "alice")?.conversationId).toBe("d1");
    expect(findConversation(views, "team", "alice")?.conversationId).toBe("g1");
    expect(findConversation(views, "carol", "alice")).toBeUndefined();
  });

  it("counts unread events after the read marker, never below zero", () => {
    expect(unreadCount(direct)).toBe(3n);
    expect(unreadCount(group)).toBe(0n);
    expect(unreadCount(view({ conversationId: "x", held: 1n, readSeq: 4n }))).toBe(0n);
  });

  it("lists conversations with the open one marked", () => {
    expect(formatConversationList(views, "g1", "alice")).toEqual(["  d1  direct  bob  3 unread", '* g1  group  "team" alice, bob, carol  0 unread']);
    expect(formatConversationList(new Map(), undefined, "alice")).toEqual(["no conversations yet: /open USER to start one"]);
  });
});

describe("formatting", () => {
  it("shows a message as [conversation] sender: text", () => {
    expect(formatEvent(text(2n, "alice", "hi bob"), "bob", "alice")).toBe("[bob] alice: hi bob");
  });

  it("shows membership changes and media", () => {
    const created = create(ConversationEventSchema, { conversationId: "c1", seq: 1n, senderUserId: "alice", body: { case: "membership", value: { action: MembershipAction.CREATED, userIds: ["alice", "bob"], title: "team" } } });
    expect(formatEvent(created, "team", "bob")).toBe('[team] * alice created "team": alice, bob');
    const image = create(ConversationEventSchema, { conversationId: "c1", seq: 3n, senderUserId: "bob", body: { case: "message", value: { messageId: "m", content: { kind: { case: "image", value: { caption: "cat", media: { uri: "https://x/cat.png", byteSize: 1234n } } } } } } });
    expect(formatEvent(image, "team", "alice")).toBe("[team] bob: (image: cat)");
  });

  it("colours only when asked", () => {
    const colors = picocolors.createColors(true);
    const line = formatEvent(text(2n, "alice", "hi"), "bob", "carol", colors);
    expect(line).toContain("\u001b[");
    expect(line.replace(/\u001b\[\d+m/g, "")).toBe("[bob] alice: hi");
  });

  it("shows any status name, known or not", () => {
    expect(formatStatus("ready")).toBe("-- ready");
    expect(formatStatus("handshake")).toBe("-- handshake");
    expect(formatStatus("some-future-state")).toBe("-- some-future-state");
  });

  it("prompts with the open conversation", () => {
    expect(promptFor(undefined)).toBe("> ");
    expect(promptFor("bob")).toBe("bob> ");
  });
});

describe("eventRecord: a conversation event as one NDJSON object", () => {
  it("flattens a text message, 64-bit numbers as strings", () => {
    expect(eventRecord(text(2n, "alice", "hello"))).toEqual({
      conversation: "c1",
      seq: "2",
      sender: "alice",
      sender_device: "phone",
      sent_at: "2023-11-14T22:13:20.000Z",
      message_id: "m1",
      client_message_id: "k1",
      kind: "text",
      text: "hello",
    });
  });

  it("gives media its size and mime type, and the whole content in protobuf JSON", () => {
    const file = create(ConversationEventSchema, { conversationId: "c1", seq: 9n, senderUserId: "bob", body: { case: "message", value: { messageId: "m9", replyToSeq: 2n, content: { kind: { case: "file", value: { fileName: "a.pdf", media: { uri: "https://x/a.pdf", mimeType: "application/pdf", byteSize: 18_446_744_073_709_551_615n } } } } } } });
    const record = eventRecord(file);
    expect(record).toMatchObject({ kind: "file", text: "a.pdf", size: "18446744073709551615", mime_type: "application/pdf", reply_to_seq: "2", sent_at: null });
    expect(record.content).toEqual({ file: { media: { uri: "https://x/a.pdf", mime_type: "application/pdf", byte_size: "18446744073709551615" }, file_name: "a.pdf" } });
  });

  it("names membership actions", () => {
    const left = create(ConversationEventSchema, { conversationId: "g", seq: 4n, senderUserId: "carol", body: { case: "membership", value: { action: MembershipAction.LEFT, userIds: ["carol"] } } });
    expect(eventRecord(left)).toMatchObject({ kind: "membership", action: "left", users: ["carol"] });
  });
});

// ---- protocol 1.1: the view of a conversation (ACT-7, THR-1, HID-2, EPH-2, EPH-4) ----

const at = (seq: number, sender: string, body: ConversationEventInit["body"]) => create(ConversationEventSchema, { conversationId: "c1", seq: BigInt(seq), senderUserId: sender, body });
const say = (seq: number, sender: string, body: string, threadRootSeq = 0) =>
  at(seq, sender, { case: "message", value: { messageId: `m${seq}`, content: { kind: { case: "text", value: { text: body } } }, threadRootSeq: BigInt(threadRootSeq) } });
const act = (seq: number, sender: string, targetSeq: number, action: MessageActionInit["action"]) => at(seq, sender, { case: "action", value: { messageId: `a${seq}`, targetSeq: BigInt(targetSeq), action } });
const edit = (seq: number, sender: string, target: number, text: string) => act(seq, sender, target, { case: "edit", value: { kind: { case: "text", value: { text } } } });
const react = (seq: number, sender: string, target: number, emoji: string, remove = false) => act(seq, sender, target, { case: "react", value: { emoji, remove } });

/** The chat state after these events, in order, at time 0. */
function stateOf(...events: ReturnType<typeof at>[]): ChatState {
  const state = new ChatState();
  for (const event of events) state.apply({ kind: "event", conversationId: "c1", event }, 0);
  return state;
}

const lineOf = (state: ChatState, seq: number, self = "bob") => messageLine(state.log("c1"), seq, "team", self);
const render = (state: ChatState, limit = 20) => renderConversation(state.log("c1"), { label: "team", self: "bob", limit });

describe("messages through MessageView", () => {
  it("prefixes every message with its seq, the number the commands take", () => {
    expect(lineOf(stateOf(say(2, "alice", "hi")), 2)).toBe("#2 [team] alice: hi");
  });

  it("ACT-3: an edited message shows its newest text, marked (edited)", () => {
    const state = stateOf(say(2, "alice", "helo"), edit(3, "alice", 2, "hello"), edit(4, "alice", 2, "hello!"));
    expect(lineOf(state, 2)).toBe("#2 [team] alice: hello! (edited)");
    expect(render(state)).toEqual(["#2 [team] alice: hello! (edited)"]);
  });

  it("ACT-4: a redacted message shows as deleted, whether by its redact action or by tombstones", () => {
    const byAction = stateOf(say(2, "alice", "oops"), edit(3, "alice", 2, "oops!"), act(4, "alice", 2, { case: "redact", value: {} }));
    expect(lineOf(byAction, 2)).toBe("#2 [team] alice: message deleted");
    const byTombstones = stateOf(at(2, "alice", { case: "redacted", value: { messageId: "m2", redactionSeq: 4n } }), at(3, "alice", { case: "redacted", value: { messageId: "a3", redactionSeq: 4n, editOf: 2n } }));
    expect(render(byTombstones)).toEqual(["#2 [team] alice: message deleted"]);
    // The edit's tombstone belongs to the message already shown as deleted: nothing new to print.
    const state = stateOf(at(2, "alice", { case: "redacted", value: { messageId: "m2", redactionSeq: 4n } }));
    const editTombstone = at(3, "alice", { case: "redacted", value: { messageId: "a3", redactionSeq: 4n, editOf: 2n } });
    expect(state.apply({ kind: "event", conversationId: "c1", event: editTombstone }, 0)).toBeUndefined();
  });

  it("ACT-5: reactions are aggregated after the message, per emoji in the order first used; a removed one goes", () => {
    const state = stateOf(say(2, "alice", "lunch?"), react(3, "bob", 2, "👍"), react(4, "carol", 2, "❤"), react(5, "carol", 2, "👍"), react(6, "dave", 2, "🎉"), react(7, "dave", 2, "🎉", true));
    expect(lineOf(state, 2)).toBe("#2 [team] alice: lunch?  👍 2  ❤ 1");
  });

  it("ACT-7: what an action changes is the message it targets; an action on a message not held changes nothing shown", () => {
    const state = new ChatState();
    expect(state.apply({ kind: "event", conversationId: "c1", event: say(2, "alice", "hi") }, 0)).toEqual({ kind: "message", conversationId: "c1", seq: 2 });
    expect(state.apply({ kind: "event", conversationId: "c1", event: react(3, "bob", 2, "👍") }, 0)).toEqual({ kind: "updated", conversationId: "c1", seq: 2 });
    expect(state.apply({ kind: "event", conversationId: "c1", event: react(4, "bob", 1, "👍") }, 0)).toBeUndefined();
    expect(state.apply({ kind: "event", conversationId: "c1", event: react(4, "bob", 2, "👍") }, 0)).toBeUndefined(); // applied once only
  });

  it("THR-1: a reply is tagged with its root; the conversation shows replies indented under the root, with their count", () => {
    const state = stateOf(say(2, "alice", "plan?"), say(3, "carol", "elsewhere"), say(4, "bob", "sure", 2), edit(5, "bob", 4, "sure!"), say(6, "carol", "me too", 2));
    expect(lineOf(state, 4)).toBe("#4 [team] ↳#2 bob: sure! (edited)");
    expect(lineOf(state, 2)).toBe("#2 [team] alice: plan?  [2 replies]");
    expect(render(state)).toEqual(["#2 [team] alice: plan?  [2 replies]", "    #4 ↳ bob: sure! (edited)", "    #6 ↳ carol: me too", "#3 [team] carol: elsewhere"]);
  });

  it("HID-2: a message hidden for me is not shown, nor counted as a reply; a reply whose root is hidden stands alone, tagged", () => {
    const state = stateOf(say(2, "alice", "root"), say(3, "bob", "one", 2), say(4, "carol", "two", 2), say(5, "alice", "after"));
    expect(state.apply({ kind: "hidden", conversationId: "c1", seq: 3n }, 0)).toEqual({ kind: "hidden", conversationId: "c1", seq: 3 });
    expect(state.apply({ kind: "hidden", conversationId: "c1", seq: 3n }, 0)).toBeUndefined();
    expect(lineOf(state, 3)).toBeUndefined();
    expect(render(state)).toEqual(["#2 [team] alice: root  [1 reply]", "    #4 ↳ carol: two", "#5 [team] alice: after"]);
    state.apply({ kind: "hidden", conversationId: "c1", seq: 2n }, 0);
    expect(render(state)).toEqual(["#4 [team] ↳#2 carol: two", "#5 [team] alice: after"]);
  });

  it("HIS-2: shows a change of history visibility as a notice with its seq", () => {
    const change = (visibility: HistoryVisibility, historyEvents = 0) => at(7, "alice", { case: "historyVisibility", value: { visibility, historyEvents } });
    expect(formatNotice(change(HistoryVisibility.FULL), "team", "bob")).toBe("#7 [team] * alice let new members read the whole history");
    expect(formatNotice(change(HistoryVisibility.LAST_EVENTS, 50), "team", "bob")).toBe("#7 [team] * alice let new members read the last 50 events before they join");
    expect(formatNotice(change(HistoryVisibility.FROM_JOIN), "team", "bob")).toBe("#7 [team] * alice let new members read only from when they join");
  });

  it("shows membership changes in order with the messages, and only the last entries when there are many", () => {
    const created = at(1, "alice", { case: "membership", value: { action: MembershipAction.CREATED, userIds: ["alice", "bob"], title: "team" } });
    const state = stateOf(created, say(2, "alice", "a"), say(3, "bob", "b"), say(4, "alice", "c"));
    expect(render(state)).toEqual(['#1 [team] * alice created "team": alice, bob', "#2 [team] alice: a", "#3 [team] bob: b", "#4 [team] alice: c"]);
    expect(render(state, 2)).toEqual(["[team] … 2 earlier not shown", "#3 [team] bob: b", "#4 [team] alice: c"]);
    expect(render(new ChatState())).toEqual(["[team] no messages yet"]);
  });

  it("THR-2: a thread from the server's page, each message as this device's view has it, hidden ones left out", () => {
    const state = stateOf(say(2, "alice", "plan?"), say(3, "bob", "sure", 2), react(4, "alice", 3, "👍"));
    // The page has the root and replies only (no actions), one reply this device does not hold yet, and one hidden.
    const page = [say(2, "alice", "plan?"), say(3, "bob", "sure", 2), say(5, "carol", "later", 2), say(6, "dave", "secret", 2)];
    expect(renderThread(2, page, [6n], state.log("c1"), "team", "bob")).toEqual(["#2 [team] alice: plan?  [2 replies]", "    #3 ↳ bob: sure  👍 1", "    #5 ↳ carol: later"]);
    expect(renderThread(2, [say(2, "alice", "plan?")], [], new ChatState().log("c1"), "team", "bob")).toEqual(["#2 [team] alice: plan?", "    no replies yet"]);
  });
});

describe("typing and presence", () => {
  it("EPH-2: a typing indicator lasts until typing false or expires_in_ms, whichever first", () => {
    const state = new ChatState();
    const typing = (userId: string, on: boolean, now: number, expiresInMs = 6_000) => state.apply({ kind: "typing", conversationId: "c1", userId, typing: on, expiresInMs }, now);
    expect(typing("alice", true, 1_000)).toEqual({ kind: "typing", conversationId: "c1" });
    typing("carol", true, 2_000, 3_000);
    expect(state.typing("c1", 2_000)).toEqual(["alice", "carol"]);
    expect(state.nextTypingExpiry("c1", 2_000)).toBe(5_000);
    expect(state.typing("c1", 4_999)).toEqual(["alice", "carol"]);
    expect(state.typing("c1", 5_000)).toEqual(["alice"]);
    expect(state.typing("other", 2_000)).toEqual([]);
    typing("alice", false, 5_500);
    expect(state.typing("c1", 5_500)).toEqual([]);
    expect(state.nextTypingExpiry("c1", 5_500)).toBeUndefined();
  });

  it("EPH-2: names who is typing", () => {
    expect(formatTyping([])).toBeUndefined();
    expect(formatTyping(["alice"])).toBe("alice is typing…");
    expect(formatTyping(["alice", "bob"])).toBe("alice and bob are typing…");
    expect(formatTyping(["alice", "bob", "carol"])).toBe("alice, bob and carol are typing…");
    expect(formatTyping(["a", "b", "c", "d"])).toBe("4 people are typing…");
    expect(promptFor("team", plainColors, "alice is typing…")).toBe("(alice is typing…) team> ");
  });

  it("EPH-4, EPH-5: presence as online, last seen (relative), or offline without a time", () => {
    const state = new ChatState();
    expect(state.apply({ kind: "presence", userId: "alice", online: true, lastSeenMs: 0n }, 0)).toEqual({ kind: "presence", userId: "alice" });
    expect(formatPresence("alice", state.presence("alice")!, 0)).toBe("alice is online");
    state.apply({ kind: "presence", userId: "alice", online: false, lastSeenMs: 1_000_000n }, 0);
    expect(formatPresence("alice", state.presence("alice")!, 1_000_000 + 30_000)).toBe("alice was last seen just now");
    expect(formatPresence("alice", state.presence("alice")!, 1_000_000 + 5 * 60_000)).toBe("alice was last seen 5 min ago");
    expect(formatPresence("alice", state.presence("alice")!, 1_000_000 + 3 * 3_600_000)).toBe("alice was last seen 3 h ago");
    expect(formatPresence("alice", state.presence("alice")!, 1_000_000 + 48 * 3_600_000)).toBe("alice was last seen 2 days ago");
    expect(formatPresence("bob", { online: false, lastSeenMs: 0 }, 5)).toBe("bob is offline");
    state.forgetPresence();
    expect(state.presence("alice")).toBeUndefined();
  });
});
