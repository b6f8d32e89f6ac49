import { ConversationKind } from "../gen/imwire/v1/conversation_pb.js";
import { ErrorCode } from "../gen/imwire/v1/error_pb.js";
import type { SendAck } from "../gen/imwire/v1/message_pb.js";
import { CliError, UsageError, type CliIO } from "./io.js";
import { integerOption, parseOptions } from "./options.js";
import { ClientSession, deadline, failureText, oneOffDevice, sessionHelp, sessionOptionConfig, sessionSettings } from "./client-session.js";
import { ndjson } from "./event-record.js";

export const sendHelp = `Usage: imwire send --user NAME (--to USER | --conversation ID) TEXT...
       imwire send --user NAME (--to USER | --conversation ID) -

Send text messages and wait until the server has stored each one (its
send_ack). Prints one JSON line per message, in order:
  {"conversation":"…","seq":"2","client_message_id":"…"}
Exit status 0 when every message was acknowledged, 2 otherwise (one line on
stderr: unreachable server, refused token, unknown user, timeout). A lost
connection is retried with the same client_message_id, so a message is
stored once however often it is sent.

The words after the options are one message; "-" reads stdin instead, one
message per non-empty line.

Options:
  --to USER           the one-to-one conversation with USER (created if needed;
                      USER must have connected once, SPEC.md AUTH-7)
  --conversation ID   a conversation by id (from "imwire tail" or /list in chat)
  --timeout-ms N      give up after N ms in all (default 10000)
  (--device defaults to a new cli-send-XXXXXX per run)

${sessionHelp}

Examples:
  imwire send --user alice --to bob "hello bob"
  printf 'one\\ntwo\\n' | imwire send --user alice --to bob -
  imwire send --server ws://127.0.0.1:5301 --user alice --conversation Q2x… "hi all"
`;

const DEFAULT_TIMEOUT_MS = 10_000;

export async function sendCommand(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseOptions(args, { ...sessionOptionConfig, to: { type: "string" }, conversation: { type: "string" }, "timeout-ms": { type: "string" } }, true);
  if (values.help) {
    io.writeOut(sendHelp);
    return 0;
  }
  if ((values.to === undefined) === (values.conversation === undefined)) throw new UsageError("give --to USER or --conversation ID (one of them)");
  const timeoutMs = integerOption(values["timeout-ms"], "--timeout-ms", DEFAULT_TIMEOUT_MS, { min: 1 });
  const texts = await messagesToSend(positionals, io);
  const settings = await sessionSettings(values, io, oneOffDevice("send"));

  const session = new ClientSession(settings);
  const acks = new Map<string, SendAck>();
  let failure: CliError | undefined;
  let progress = () => {};
  session.onEvent((event) => {
    if (event.kind === "sent") acks.set(event.clientMessageId, event.ack);
    else if (event.kind === "failed" && failure === undefined && ids.includes(event.operationId)) {
      failure = new CliError(`message ${ids.indexOf(event.operationId) + 1} was refused: ${failureText(event.code, event.message)}`);
    } else return;
    progress();
  });
  const ids: string[] = [];
  let printed = 0;
  const timer = deadline(timeoutMs, () => `timed out after ${timeoutMs} ms: ${printed} of ${texts.length} messages acknowledged (connection ${session.machine.status})`);
  session.start();
  try {
    const conversationId = await Promise.race([conversationFor(session, values.to, values.conversation), session.ended, timer.expired]);
    for (const text of texts) ids.push(session.runner.act((machine, now) => machine.send(conversationId, { kind: { case: "text", value: { text } } }, now)));
    const allAcknowledged = new Promise<void>((resolve, reject) => {
      progress = () => {
        // In input order, whatever order the answers come in.
        for (let ack = acks.get(ids[printed]!); ack !== undefined; ack = acks.get(ids[printed]!)) {
          io.writeOut(ndjson({ conversation: ack.conversationId, seq: ack.seq.toString(), client_message_id: ack.clientMessageId }));
          printed++;
          if (printed === ids.length) return resolve();
        }
        if (failure) reject(failure);
      };
      progress();
    });
    await Promise.race([allAcknowledged, session.ended, timer.expired]);
    return 0;
  } finally {
    timer.cancel();
    session.stop();
  }
}

async function messagesToSend(positionals: string[], io: CliIO): Promise<string[]> {
  if (positionals.length === 1 && positionals[0] === "-") {
    const text = Buffer.from(await io.readStdin()).toString("utf8");
    const lines = text.split(/\r?\n/).filter((line) => line !== "");
    if (lines.length === 0) throw new UsageError("stdin held no message (one message per non-empty line)");
    return lines;
  }
  const text = positionals.join(" ");
  if (text === "") throw new UsageError('give the message text, or "-" to read messages from stdin');
  return [text];
}

/** The conversation to send to: given by id, or the one-to-one conversation with --to (CONV-2: created once per pair). */
async function conversationFor(session: ClientSession, peer: string | undefined, conversationId: string | undefined): Promise<string> {
  if (conversationId !== undefined) return conversationId;
  const peerId = peer!;
  if (peerId === session.settings.userId) throw new CliError(`--to ${peerId}: that is you; a one-to-one conversation needs another user (CONV-2)`);
  const operation = session.runner.act((machine, now) => machine.open({ kind: ConversationKind.DIRECT, userIds: [peerId] }, now));
  const done = await session.outcome(operation);
  if (done.kind === "failed") {
    // AUTH-7: users exist from their first authenticate.
    if (done.code === ErrorCode.NOT_FOUND) throw new CliError(`--to ${peerId}: no such user on ${session.settings.url} (a user exists once it has connected)`);
    throw new CliError(`--to ${peerId}: ${failureText(done.code, done.message)}`);
  }
  if (done.answer.case !== "conversationOpened" || done.answer.value.conversation === undefined) throw new CliError(`--to ${peerId}: the server answered ${done.answer.case ?? "nothing"} to open_conversation`);
  return done.answer.value.conversation.conversationId;
}
