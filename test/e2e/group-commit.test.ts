import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { frame } from "../../src/codec/frame-codec.js";
import { encodeFramed } from "../../src/framing/frame-stream.js";
import { ConversationKind } from "../../src/gen/imwire/v1/conversation_pb.js";
import type { Frame, FrameSchema } from "../../src/gen/imwire/v1/frame_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { startReferenceServer, type ReferenceServer } from "../../src/server/reference-server.js";
import { SqliteStore } from "../../src/store/sqlite-store.js";
import { rawLogin, type RawClient } from "../support/raw-client.js";

/**
 * Group commit on the reference server's durable store: requests that
 * arrive together share one commit, each answer is the one it would get
 * alone (gapless seqs, a retry inside the batch answered as its first
 * attempt), and everything acknowledged is there after a restart (SEQ-2).
 */
const SECRET = "group-commit-secret";
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serverOn(path: string): Promise<{ server: ReferenceServer; store: SqliteStore }> {
  const store = new SqliteStore(path);
  const server = await startReferenceServer({ tcp: { port: 0 }, store, secret: SECRET, protocol: { rateLimits: { connection: { perSecond: 1e6, burst: 1e6 }, user: { perSecond: 1e6, burst: 1e6 } } } });
  cleanups.push(async () => {
    await server.close();
    store.close();
  });
  return { server, store };
}

async function directConversation(alice: RawClient): Promise<string> {
  alice.send({ case: "openConversation", value: { kind: ConversationKind.DIRECT, userIds: ["bob"] } }, 3);
  const opened = await alice.next((f) => f.body.case === "conversationOpened");
  return opened.body.case === "conversationOpened" ? opened.body.value.conversation!.conversationId : "";
}

const acks = async (client: RawClient, n: number): Promise<Frame[]> => {
  const answers: Frame[] = [];
  while (answers.length < n) answers.push(await client.next((f) => f.body.case === "sendAck" || f.body.case === "error"));
  return answers;
};

describe("SEQ-2 IDEM-2 with group commit: one commit for what arrives together, the same answers as one by one", () => {
  it("80 sends written at once: fewer commits than sends, gapless seqs in order, a retry in the same batch answered as its first attempt, all there after a restart", async () => {
    const dir = mkdtempSync(join(tmpdir(), "imwire-group-commit-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, "store.sqlite");
    const first = await serverOn(path);
    const url = first.server.urls.tcp!;
    const bob = await rawLogin(url, SECRET, "bob", "phone");
    const alice = await rawLogin(url, SECRET, "alice", "phone");
    cleanups.push(() => void bob.socket.destroy(), () => void alice.socket.destroy());
    const conversationId = await directConversation(alice);
    const commitsBefore = first.server.gate!.commits;

    const sends = 80;
    const bodies = Array.from({ length: sends }, (_, i) => ({ case: "sendMessage" as const, value: { conversationId, clientMessageId: `m${i}`, content: { kind: { case: "text" as const, value: { text: `message ${i}` } } } } }));
    // The retry of m5 travels in the same write as its first attempt: it must get the same answer, not a second message.
    const frames = [...bodies.map((body, i) => ({ body, requestId: 100 + i })), { body: bodies[5]!, requestId: 999 }];
    alice.socket.write(Buffer.concat(frames.map(({ body, requestId }) => Buffer.from(encode(body, requestId)))));
    const answers = await acks(alice, frames.length);
    expect(answers.every((f) => f.body.case === "sendAck")).toBe(true);
    const byRequest = new Map(answers.map((f) => [f.requestId, f.body.case === "sendAck" ? f.body.value : undefined]));
    const seqs = bodies.map((_, i) => Number(byRequest.get(100 + i)!.seq));
    // seq 1 is the conversation's creation; the sends follow, gapless, in the order they were written.
    expect(seqs).toEqual(Array.from({ length: sends }, (_, i) => i + 2));
    expect(byRequest.get(999)).toEqual(byRequest.get(105));
    const commits = first.server.gate!.commits - commitsBefore;
    expect(commits).toBeGreaterThanOrEqual(1);
    expect(commits).toBeLessThan(sends / 4);
    console.log(`${frames.length} requests in one write: ${commits} commit(s)`);

    alice.socket.destroy();
    bob.socket.destroy();
    await first.server.close();
    first.store.close();
    cleanups.shift();
    const reopened = new SqliteStore(path);
    cleanups.push(() => reopened.close());
    expect(reopened.lastSeq(conversationId)).toBe(sends + 1);
    expect(reopened.events(conversationId, 1, sends + 1, 1000).map((e) => (e.body.case === "message" && e.body.value.content?.kind.case === "text" ? e.body.value.content.kind.value.text : ""))).toEqual(bodies.map((_, i) => `message ${i}`));
  });
});

type FrameBody = MessageInitShape<typeof FrameSchema>["body"];

/** One framed request, as a client writes it. */
function encode(body: FrameBody, requestId: number): Uint8Array {
  return encodeFramed(frame({ requestId, body }));
}
