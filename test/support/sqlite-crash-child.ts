// A server process that dies right after acknowledging a send (SEQ-2): run as
// `node --import tsx test/support/sqlite-crash-child.ts <database file>`.
// It prints what it acknowledged as one JSON line, then kills itself without
// closing the database, as a crash would.
import { writeSync } from "node:fs";
import { ConversationKind } from "../../src/gen/imwire/v1/conversation_pb.js";
import { SqliteStore } from "../../src/store/sqlite-store.js";
import { ServerHarness } from "./server-harness.js";

const store = new SqliteStore(process.argv[2]!);
const harness = new ServerHarness({}, undefined, store);
harness.now = 1_000;
const alice = harness.login("alice", "a1");
harness.login("bob", "b1");
const opened = harness.request(alice, { case: "openConversation", value: { kind: ConversationKind.GROUP, userIds: ["bob"], clientConversationId: "create-1" } });
const conversationId = opened.body.case === "conversationOpened" ? opened.body.value.conversation!.conversationId : "";
const answer = harness.request(alice, { case: "sendMessage", value: { conversationId, clientMessageId: "k1", content: { kind: { case: "text", value: { text: "last words" } } } } });
if (answer.body.case !== "sendAck") throw new Error(`no send_ack: ${answer.body.case}`);
const ack = answer.body.value;
writeSync(1, `${JSON.stringify({ conversationId, seq: Number(ack.seq), messageId: ack.messageId, serverTimeMs: Number(ack.serverTimeMs), epoch: store.epoch("alice") })}\n`);
process.kill(process.pid, "SIGKILL");
