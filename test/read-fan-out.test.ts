import { describe, expect, it } from "vitest";
import { Feature } from "../src/gen/imwire/v1/connection_pb.js";
import { ConversationKind, Role, type Conversation } from "../src/gen/imwire/v1/conversation_pb.js";
import type { UserEvent } from "../src/gen/imwire/v1/delivery_pb.js";
import { ErrorCode } from "../src/gen/imwire/v1/error_pb.js";
import type { Frame } from "../src/gen/imwire/v1/frame_pb.js";
import { MembershipAction } from "../src/gen/imwire/v1/message_pb.js";
import { ReceiveMode } from "../src/gen/imwire/v1/settings_pb.js";
import { ServerHarness } from "./support/server-harness.js";

/** The server machine under read fan-out (CUR-7, CUR-8, SYNC-8) and with paged members (CONV-9, CONV-10, LIM-9), driven frame by frame. */

const text = (t: string) => ({ kind: { case: "text" as const, value: { text: t } } });

function opened(frame: Frame): Conversation {
  if (frame.body.case !== "conversationOpened") throw new Error(JSON.stringify(frame.body));
  return frame.body.value.conversation!;
}

function createGroup(h: ServerHarness, connection: number, others: string[], key = "g"): string {
  return opened(h.request(connection, { case: "openConversation", value: { kind: ConversationKind.GROUP, userIds: others, title: "g", clientConversationId: key } })).conversationId;
}

function createChannel(h: ServerHarness, connection: number, key = "c"): string {
  return opened(h.request(connection, { case: "openConversation", value: { kind: ConversationKind.CHANNEL, title: "c", clientConversationId: key } })).conversationId;
}

function post(h: ServerHarness, connection: number, conversationId: string, key: string): bigint {
  const ack = h.request(connection, { case: "sendMessage", value: { conversationId, clientMessageId: key, content: text(key) } });
  if (ack.body.case !== "sendAck") throw new Error(JSON.stringify(ack.body));
  return ack.body.value.seq;
}

function pushes(frames: Frame[]): UserEvent[] {
  return frames.flatMap((f) => (f.body.case === "deliver" ? [f.body.value] : []));
}

/** What a device learns of one conversation from entries: seqs of its events, whole or notify. */
function seqsOf(entries: UserEvent[], conversationId: string): string[] {
  return entries.flatMap((e) => {
    if (e.body.case === "event" && e.body.value.conversationId === conversationId) return [`${e.body.value.seq}`];
    if (e.body.case === "notify" && e.body.value.conversationId === conversationId) return [`notify ${e.body.value.seq}`];
    return [];
  });
}

/** Every entry of a user's stream after `after`, paged as a device would, checking the prev_cursor links (CUR-3). */
function pageAll(h: ServerHarness, connection: number, user: string, after = 0n, limit = 3): UserEvent[] {
  const entries: UserEvent[] = [];
  let cursor = after;
  for (;;) {
    const page = h.request(connection, { case: "syncUser", value: { afterCursor: cursor, epoch: h.store.epoch(user), limit } });
    if (page.body.case !== "userPage" || page.body.value.snapshot) throw new Error(JSON.stringify(page.body));
    for (const entry of page.body.value.events) {
      expect(entry.prevCursor).toBe(cursor);
      expect(entry.cursor > cursor).toBe(true);
      cursor = entry.cursor;
      entries.push(entry);
    }
    if (!page.body.value.hasMore) return entries;
  }
}

describe("CUR-7: a channel's posts are stored once and still reach every subscriber's stream", () => {
  it("a connected subscriber is pushed each post; an offline one pages them all, in order, once; neither has a stored entry per post", () => {
    const h = new ServerHarness();
    const owner = h.loginAndSync("owner", "d");
    const channel = createChannel(h, owner);
    const online = h.loginAndSync("online", "d");
    const offline = h.loginAndSync("offline", "d");
    for (const c of [online, offline]) h.request(c, { case: "openConversation", value: { conversationId: channel } });
    const offlineCursor = pageAll(h, offline, "offline").at(-1)!.cursor;
    h.send(offline, { case: "deliveryAck", value: { cursor: offlineCursor } });
    h.take(online);
    const before = h.store.storedEntriesAfter("online", 0, 100);
    for (let i = 0; i < 5; i++) post(h, owner, channel, `p${i}`);
    expect(seqsOf(pushes(h.take(online)), channel)).toEqual(["2", "3", "4", "5", "6"]);
    // No stored entry per post, for anyone (CUR-7): one copy in the conversation.
    expect(h.store.storedEntriesAfter("online", 0, 100)).toBe(before);
    expect(h.store.storedEntriesAfter("owner", 0, 100)).toBe(1);
    expect(seqsOf(pageAll(h, offline, "offline", offlineCursor), channel)).toEqual(["2", "3", "4", "5", "6"]);
    expect(opened(h.request(online, { case: "openConversation", value: { conversationId: channel } })).readFanOut).toBe(true);
  });

  it("DLV-3 ACK-1: a resumed subscriber gets again what it had not acknowledged, linked to its position", () => {
    const h = new ServerHarness();
    const owner = h.loginAndSync("owner", "d");
    const channel = createChannel(h, owner);
    const sub = h.loginAndSync("sub", "d");
    h.request(sub, { case: "openConversation", value: { conversationId: channel } });
    for (let i = 0; i < 4; i++) post(h, owner, channel, `p${i}`);
    const pushed = pushes(h.take(sub)).filter((e) => e.body.case === "event");
    h.send(sub, { case: "deliveryAck", value: { cursor: pushed[1]!.cursor } });
    const again = h.login("sub", "d", { epoch: h.store.epoch("sub"), cursor: pushed[1]!.cursor });
    const resumed = pushes(h.take(again));
    expect(resumed.map((e) => [e.prevCursor, e.cursor])).toEqual([
      [pushed[1]!.cursor, pushed[2]!.cursor],
      [pushed[2]!.cursor, pushed[3]!.cursor],
    ]);
  });

  it("CUR-5: entries read from a conversation do not count against the retention bound; stored ones do", () => {
    const h = new ServerHarness({ snapshotAfterEntries: 3 });
    const owner = h.loginAndSync("owner", "d");
    const channel = createChannel(h, owner);
    const sub = h.loginAndSync("sub", "d");
    h.request(sub, { case: "openConversation", value: { conversationId: channel } });
    const position = pushes(h.take(sub)).at(-1)!.cursor;
    h.send(sub, { case: "deliveryAck", value: { cursor: position } });
    for (let i = 0; i < 10; i++) post(h, owner, channel, `p${i}`);
    expect(pageAll(h, sub, "sub", position).length).toBe(10);
    // Four stored entries (setting changes) are more than the three retained.
    const modes = [ReceiveMode.MUTED, ReceiveMode.FULL, ReceiveMode.MUTED, ReceiveMode.FULL];
    for (const mode of modes) h.request(sub, { case: "setReceiveSettings", value: { settings: { conversationId: channel, mode } } });
    const page = h.request(sub, { case: "syncUser", value: { afterCursor: position, epoch: h.store.epoch("sub") } });
    expect(page.body.case === "userPage" && page.body.value.snapshot !== undefined).toBe(true);
  });

  it("a subscriber sees the posts made after it subscribed in its stream (the earlier ones by sync_conversation), and none after it left", () => {
    const h = new ServerHarness();
    const owner = h.loginAndSync("owner", "d");
    const channel = createChannel(h, owner);
    post(h, owner, channel, "early");
    const sub = h.loginAndSync("sub", "d");
    const start = pageAll(h, sub, "sub").at(-1)?.cursor ?? 0n;
    h.request(sub, { case: "openConversation", value: { conversationId: channel } });
    post(h, owner, channel, "while");
    h.request(sub, { case: "leaveConversation", value: { conversationId: channel } });
    post(h, owner, channel, "after");
    const stream = pageAll(h, sub, "sub", start);
    expect(stream.map((e) => e.body.case)).toEqual(["joined", "event", "left"]);
    expect(seqsOf(stream, channel)).toEqual(["3"]);
  });
});

describe("CUR-8: a group moves to read fan-out at the event that takes it above the threshold", () => {
  it("every member's stream has each event exactly once, in seq order, across the move; joined comes before the ADDED event", () => {
    const h = new ServerHarness({ readFanOutMembers: 3 });
    const users = ["a", "b", "c", "d", "e"];
    const conns = new Map(users.map((u) => [u, h.loginAndSync(u, "dev")]));
    const a = conns.get("a")!;
    const id = createGroup(h, a, ["b", "c"]);
    post(h, a, id, "m1");
    expect(opened(h.request(a, { case: "openConversation", value: { conversationId: id } })).readFanOut).toBe(false);
    const added = h.request(a, { case: "openConversation", value: { conversationId: id, userIds: ["d", "e"] } });
    expect(opened(added).readFanOut).toBe(true);
    post(h, a, id, "m2");
    h.request(conns.get("c")!, { case: "leaveConversation", value: { conversationId: id } });
    post(h, a, id, "m3");
    expect(h.store.conversation(id)!.readFanOutFromSeq).toBe(3);
    const expected: Record<string, string[]> = {
      a: ["1", "2", "3", "4", "5", "6"],
      b: ["1", "2", "3", "4", "5", "6"],
      c: ["1", "2", "3", "4", "5"],
      d: ["3", "4", "5", "6"],
      e: ["3", "4", "5", "6"],
    };
    for (const user of users) {
      const c = conns.get(user)!;
      const pushed = pushes(h.take(c));
      expect(seqsOf(pushed, id), `${user} pushed`).toEqual(expected[user]);
      expect(seqsOf(pageAll(h, c, user), id), `${user} paged`).toEqual(expected[user]);
      const cursors = pushed.map((e) => e.cursor);
      expect([...cursors].sort((x, y) => (x < y ? -1 : 1)), `${user} cursor order`).toEqual(cursors);
    }
    const d = pageAll(h, conns.get("d")!, "d");
    const joined = d.findIndex((e) => e.body.case === "joined" && e.body.value.conversation?.conversationId === id);
    const addedEvent = d.findIndex((e) => e.body.case === "event" && e.body.value.body.case === "membership" && e.body.value.body.value.action === MembershipAction.ADDED);
    expect(joined).toBeGreaterThanOrEqual(0);
    expect(joined).toBeLessThan(addedEvent); // CONV-7
  });

  it("channels, and groups created above the threshold, are under read fan-out from CREATED; one-to-one conversations never are", () => {
    const h = new ServerHarness({ readFanOutMembers: 2 });
    const a = h.loginAndSync("a", "d");
    for (const u of ["b", "c"]) h.store.addUser(u);
    expect(h.store.conversation(createGroup(h, a, ["b", "c"], "big"))!.readFanOutFromSeq).toBe(1);
    expect(h.store.conversation(createGroup(h, a, ["b"], "small"))!.readFanOutFromSeq).toBe(0);
    expect(h.store.conversation(createChannel(h, a))!.readFanOutFromSeq).toBe(1);
    const direct = opened(h.request(a, { case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: ["b"] } }));
    expect(direct.readFanOut).toBe(false);
  });
});

describe("SYNC-8: summaries of read-fan-out conversations, with FEATURE_CONVERSATION_SUMMARIES", () => {
  function setting(withSummaries: boolean) {
    const h = new ServerHarness({ readFanOutMembers: 2 });
    h.features = withSummaries ? [Feature.CONVERSATION_SUMMARIES] : [];
    const owner = h.loginAndSync("owner", "d");
    const channels = [createChannel(h, owner, "c1"), createChannel(h, owner, "c2"), createChannel(h, owner, "c3")];
    const reader = h.loginAndSync("reader", "d");
    for (const channel of channels) h.request(reader, { case: "openConversation", value: { conversationId: channel } });
    h.store.addUser("peer");
    const direct = opened(h.request(owner, { case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: ["reader"] } })).conversationId;
    const start = pageAll(h, reader, "reader").at(-1)!.cursor;
    h.send(reader, { case: "deliveryAck", value: { cursor: start } });
    h.take(reader);
    return { h, owner, reader, channels, direct, start };
  }

  it("a page gives one notify per conversation that moved more than once (its newest seq), a lone event whole, write fan-out entries as ever", () => {
    const { h, owner, reader, channels, direct, start } = setting(true);
    for (let i = 0; i < 30; i++) post(h, owner, channels[0]!, `a${i}`);
    post(h, owner, direct, "hello");
    for (let i = 0; i < 7; i++) post(h, owner, channels[1]!, `b${i}`);
    post(h, owner, channels[2]!, "lone");
    const page = h.request(reader, { case: "syncUser", value: { afterCursor: start, epoch: h.store.epoch("reader") } });
    if (page.body.case !== "userPage") throw new Error("no page");
    const events = page.body.value.events;
    expect(events).toHaveLength(4);
    expect(seqsOf(events, channels[0]!)).toEqual(["notify 31"]);
    expect(seqsOf(events, channels[1]!)).toEqual(["notify 8"]);
    expect(seqsOf(events, channels[2]!)).toEqual(["2"]);
    expect(seqsOf(events, direct)).toEqual(["2"]);
    expect(page.body.value.hasMore).toBe(false);
    // In cursor order, linked from the request's cursor.
    expect(events[0]!.prevCursor).toBe(start);
    for (let i = 1; i < events.length; i++) expect(events[i]!.prevCursor).toBe(events[i - 1]!.cursor);
  });

  it("without the feature, the same page carries every event (SYNC-3), as a version 1 device expects", () => {
    const { h, owner, reader, channels, start } = setting(false);
    for (let i = 0; i < 30; i++) post(h, owner, channels[0]!, `a${i}`);
    const all = pageAll(h, reader, "reader", start, 7);
    expect(seqsOf(all, channels[0]!)).toEqual(Array.from({ length: 30 }, (_, i) => `${i + 2}`));
  });

  it("live pushes stay whole, one per post; a resumed device's backlog comes summarised", () => {
    const { h, owner, reader, channels } = setting(true);
    post(h, owner, channels[0]!, "live");
    const live = pushes(h.take(reader));
    expect(seqsOf(live, channels[0]!)).toEqual(["2"]);
    h.send(reader, { case: "deliveryAck", value: { cursor: live[0]!.cursor } });
    for (let i = 0; i < 20; i++) post(h, owner, channels[1]!, `b${i}`);
    // While the device is away, its window is not what bounds the backlog: the summary is.
    const again = h.login("reader", "d", { epoch: h.store.epoch("reader"), cursor: live[0]!.cursor });
    expect(seqsOf(pushes(h.take(again)), channels[1]!)).toEqual(["notify 21"]);
  });
});

describe("EXT-5: features are negotiated in the handshake", () => {
  it("welcome lists the offered features the server implements, once, and ignores numbers it does not know", () => {
    const h = new ServerHarness();
    const welcome = (features: number[]) => {
      const frame = h.request(h.open(), { case: "hello", value: { versions: [1], deviceId: "d", features } });
      return frame.body.case === "welcome" ? frame.body.value.features : undefined;
    };
    expect(welcome([])).toEqual([]);
    expect(welcome([Feature.MEMBER_PAGES, 99, Feature.MEMBER_PAGES])).toEqual([Feature.MEMBER_PAGES]);
    expect(welcome([Feature.MEMBER_PAGES, Feature.CONVERSATION_SUMMARIES])).toEqual([Feature.CONVERSATION_SUMMARIES, Feature.MEMBER_PAGES]);
  });
});

describe("CONV-9 CONV-10 LIM-9: paged members", () => {
  it("list_members pages current members by user id (UTF-8 order), with continue_after, count and last_seq", () => {
    const h = new ServerHarness();
    const ids = ["zed", "alice", "ｚ", "é", "\u{1F600}", "bob"];
    const owner = h.loginAndSync("owner", "d");
    for (const u of ids) h.store.addUser(u);
    const id = createGroup(h, owner, ids);
    const seen: string[] = [];
    let after = "";
    for (let pages = 0; pages < 10; pages++) {
      const answer = h.request(owner, { case: "listMembers", value: { conversationId: id, afterUserId: after, limit: 3 } });
      if (answer.body.case !== "memberPage") throw new Error(JSON.stringify(answer.body));
      const page = answer.body.value;
      expect(page.memberCount).toBe(7);
      expect(page.lastSeq).toBe(1n);
      seen.push(...page.members.map((m) => m.userId));
      for (const m of page.members) expect(m.joinedSeq).toBe(1n);
      expect(page.members.find((m) => m.userId === "owner")?.role ?? Role.MEMBER).toBe(page.members.some((m) => m.userId === "owner") ? Role.OWNER : Role.MEMBER);
      after = page.continueAfter;
      if (after === "") break;
    }
    const utf8 = (s: string) => Buffer.from(s, "utf8");
    expect(seen).toEqual([...ids, "owner"].sort((x, y) => Buffer.compare(utf8(x), utf8(y))));
  });

  it("only current members, and a channel's owner, may list; an unknown conversation is NOT_FOUND", () => {
    const h = new ServerHarness();
    const owner = h.loginAndSync("owner", "d");
    const sub = h.loginAndSync("sub", "d");
    const channel = createChannel(h, owner);
    h.request(sub, { case: "openConversation", value: { conversationId: channel } });
    const code = (c: number, conversationId: string) => {
      const answer = h.request(c, { case: "listMembers", value: { conversationId } });
      return answer.body.case === "error" ? answer.body.value.code : answer.body.case;
    };
    expect(code(owner, channel)).toBe("memberPage");
    expect(code(sub, channel)).toBe(ErrorCode.PERMISSION_DENIED);
    const group = createGroup(h, owner, ["sub"]);
    h.request(sub, { case: "leaveConversation", value: { conversationId: group } });
    expect(code(sub, group)).toBe(ErrorCode.PERMISSION_DENIED);
    expect(code(owner, "nope")).toBe(ErrorCode.NOT_FOUND);
  });

  it("a group above the inline limit has members_paged and no list; a former member sees count 0; one request brings in at most the inline limit", () => {
    const h = new ServerHarness({ maxInlineMembers: 3 });
    const owner = h.loginAndSync("owner", "d");
    for (const u of ["b", "c", "d", "e"]) h.store.addUser(u);
    const tooMany = h.request(owner, { case: "openConversation", value: { kind: ConversationKind.GROUP, userIds: ["b", "c", "d"], title: "g", clientConversationId: "x" } });
    expect(tooMany.body.case === "error" && tooMany.body.value.requirement).toBe("LIM-9");
    const id = createGroup(h, owner, ["b", "c"]);
    const small = opened(h.request(owner, { case: "openConversation", value: { conversationId: id } }));
    expect([small.membersPaged, small.memberUserIds.length, small.memberCount]).toEqual([false, 3, 3]);
    const large = opened(h.request(owner, { case: "openConversation", value: { conversationId: id, userIds: ["d", "e"] } }));
    expect([large.membersPaged, large.memberUserIds.length, large.memberCount]).toEqual([true, 0, 5]);
    const b = h.loginAndSync("b", "d");
    h.request(b, { case: "leaveConversation", value: { conversationId: id } });
    const former = opened(h.request(b, { case: "openConversation", value: { conversationId: id } }));
    expect([former.membersPaged, former.memberUserIds.length, former.memberCount]).toEqual([true, 0, 0]);
  });
});

describe("pushes to many connected readers go after the answer", () => {
  it("a post to a channel with 1,500 connected subscribers is answered in the input's own outputs; the pushes follow on ticks due at once", () => {
    const h = new ServerHarness();
    const owner = h.loginAndSync("owner", "d");
    const channel = createChannel(h, owner);
    const subs = Array.from({ length: 1_500 }, (_, i) => {
      const c = h.loginAndSync(`s${i}`, "d");
      h.request(c, { case: "openConversation", value: { conversationId: channel } });
      h.take(c);
      return c;
    });
    post(h, owner, channel, "big");
    const first = subs.filter((c) => pushes(h.inbox.get(c)!).length > 0).length;
    expect(first).toBeLessThan(subs.length);
    expect(h.server.nextWakeup()).toBe(h.now);
    for (let i = 0; i < 20 && h.server.nextWakeup() === h.now; i++) h.advance(0);
    expect(subs.every((c) => seqsOf(pushes(h.take(c)), channel).join() === "2")).toBe(true);
  });

  it("with more users connected than the channel has members, the walk goes over the members in pages, and every connected one is pushed", () => {
    const h = new ServerHarness();
    const owner = h.loginAndSync("owner", "d");
    const channel = createChannel(h, owner);
    // 700 subscribers (more than one page of the walk), 1,000 more users connected who are not.
    const subs = Array.from({ length: 700 }, (_, i) => {
      const c = h.loginAndSync(`s${String(i).padStart(4, "0")}`, "d");
      h.request(c, { case: "openConversation", value: { conversationId: channel } });
      h.take(c);
      return c;
    });
    const others = Array.from({ length: 1_000 }, (_, i) => h.loginAndSync(`x${i}`, "d"));
    post(h, owner, channel, "paged walk");
    for (let i = 0; i < 40 && h.server.nextWakeup() === h.now; i++) h.advance(0);
    expect(subs.filter((c) => seqsOf(pushes(h.take(c)), channel).join() === "2").length).toBe(700);
    expect(others.every((c) => pushes(h.take(c)).length === 0)).toBe(true);
  });
});
