import { create } from "@bufbuild/protobuf";
import picocolors from "picocolors";
import { describe, expect, it } from "vitest";
import { conversationLabel, findConversation, formatConversationList, formatEvent, formatStatus, parseChatLine, promptFor, unreadCount } from "../src/cli/chat-view.js";
import { eventRecord } from "../src/cli/event-record.js";
import { ConversationKind } from "../src/gen/imwire/v1/conversation_pb.js";
import { ConversationEventSchema, MembershipAction } from "../src/gen/imwire/v1/message_pb.js";
import type { ConversationView } from "../src/machines/client/conversation-state.js";
import { ReceiveMode } from "../src/gen/imwire/v1/settings_pb.js";

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
