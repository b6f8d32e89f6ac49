import { integerOption, parseOptions } from "./options.js";
import { ClientSession, oneOffDevice, sessionHelp, sessionOptionConfig, sessionSettings, stopRequests, type TerminalIO } from "./client-session.js";
import { eventRecord, ndjson } from "./event-record.js";

export const tailHelp = `Usage: imwire tail --user NAME [options]

Print the user's conversation events as they arrive, one JSON line each, in
order per conversation and each exactly once (SEQ-4), across reconnects:
  {"conversation":"…","seq":"2","sender":"alice","sender_device":"…",
   "sent_at":"2026-…Z","message_id":"…","kind":"text","text":"hello"}
kind is "text", a media kind ("image", "file", … with "size", "mime_type"
and the whole "content" in protobuf JSON, proto field names) or "membership" (with "action"
and "users"). 64-bit numbers are strings.

Where it starts: this command keeps no state between runs, so every run is
a fresh device, which synchronises as SPEC.md says (SYNC-4, SYNC-5): it
prints every event the user may read, oldest first per conversation, then
new events as they come. Use --count, --conversation and --messages to
bound it. It acknowledges what it has printed as any client does
(cumulatively, ACK-1).

Stops on Ctrl-C (SIGINT), after --count events, or when stdin (a pipe or a
file, not a terminal) ends: a script that started it closes its stdin, or
exits, and tail ends too.

Options:
  --conversation ID   only this conversation
  --messages          only messages, not membership changes
  --count N           stop after printing N events
  --ignore-stdin      keep going when stdin ends (needed under nohup, or with
                      stdin from /dev/null)
  -v, --verbose       report connection status changes on stderr
  (--device defaults to a new cli-tail-XXXXXX per run)

${sessionHelp}

Examples:
  imwire tail --user bob
  imwire tail --user bob --messages --count 1 | jq -r .text
`;

export async function tailCommand(args: string[], io: TerminalIO): Promise<number> {
  const { values } = parseOptions(args, {
    ...sessionOptionConfig,
    conversation: { type: "string" },
    messages: { type: "boolean", default: false },
    count: { type: "string" },
    "ignore-stdin": { type: "boolean", default: false },
    verbose: { type: "boolean", short: "v", default: false },
  });
  if (values.help) {
    io.writeOut(tailHelp);
    return 0;
  }
  const count = integerOption(values.count, "--count", undefined, { min: 1 });
  const settings = await sessionSettings(values, io, oneOffDevice("tail"));

  const session = new ClientSession(settings);
  let printed = 0;
  let reachedCount!: () => void;
  const counted = new Promise<void>((resolve) => (reachedCount = resolve));
  session.onEvent((event) => {
    if (event.kind === "status") {
      if (values.verbose) io.writeErr(`imwire tail: ${event.status}\n`);
      return;
    }
    if (event.kind !== "event" || (count !== undefined && printed >= count)) return;
    if (values.conversation !== undefined && event.conversationId !== values.conversation) return;
    if (values.messages && event.event.body.case !== "message") return;
    io.writeOut(ndjson(eventRecord(event.event)));
    printed++;
    if (printed === count) reachedCount();
  });
  // Reading a terminal would stop a background job (SIGTTIN): there, Ctrl-C is the way out.
  const stop = stopRequests(io, { watchInput: !values["ignore-stdin"] && !io.stdinIsTTY });
  session.start();
  try {
    await Promise.race([counted, stop.requested, session.ended]);
    return 0;
  } finally {
    stop.stop();
    session.stop();
  }
}
