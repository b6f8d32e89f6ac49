/**
 * What a line typed at the chat prompt asks for: pure parsing, no session.
 * chat-command.ts carries the commands out.
 */

/** HIS-1's settings as typed: `/history from-join`, `/history last N`, `/history full`. */
export type HistorySetting = { readonly kind: "from-join" } | { readonly kind: "last"; readonly events: number } | { readonly kind: "full" };

export type ChatCommand =
  | { readonly kind: "say"; readonly text: string }
  | { readonly kind: "open"; readonly target: string }
  | { readonly kind: "group"; readonly title: string; readonly users: readonly string[] }
  | { readonly kind: "list" }
  | { readonly kind: "read" }
  | { readonly kind: "help" }
  | { readonly kind: "quit" }
  | { readonly kind: "nothing" }
  /** ACT-3 */
  | { readonly kind: "edit"; readonly seq: bigint; readonly text: string }
  /** ACT-4: for everyone. */
  | { readonly kind: "delete"; readonly seq: bigint }
  /** HID-1: for me. */
  | { readonly kind: "hide"; readonly seq: bigint }
  /** ACT-5 */
  | { readonly kind: "react"; readonly seq: bigint; readonly emoji: string; readonly remove: boolean }
  /** THR-1 */
  | { readonly kind: "reply"; readonly rootSeq: bigint; readonly text: string }
  /** THR-2 */
  | { readonly kind: "thread"; readonly rootSeq: bigint }
  /** HIS-2 */
  | { readonly kind: "history"; readonly setting: HistorySetting }
  /** EPH-5 */
  | { readonly kind: "invisible"; readonly hidden: boolean }
  /** RCPT-4 */
  | { readonly kind: "receipts"; readonly seq: bigint }
  /** A command typed wrongly: show `message`. */
  | { readonly kind: "mistake"; readonly message: string };

export const chatCommandsHelp = `Commands (SEQ is the #number shown before a message):
  /open USER            talk to USER (the one-to-one conversation, created if needed)
  /open ID|NAME         switch to a conversation by id, peer or group title
  /group TITLE USER...  create a group with these users and switch to it
  /list                 conversations: id, who, unread
  /read                 mark the open conversation read
  /edit SEQ TEXT        replace your message's text
  /delete SEQ           delete a message for everyone
  /hide SEQ             delete a message for you only (your other devices too)
  /react SEQ EMOJI      react to a message; /unreact SEQ EMOJI takes it back
  /reply SEQ TEXT       reply in the thread of message SEQ
  /thread SEQ           show the thread of message SEQ
  /history from-join|last N|full   what new members of a group may read (owners)
  /invisible on|off     hide your online status (and stop seeing others')
  /receipts SEQ         who holds and who has read message SEQ
  /help                 this help
  /quit                 leave (Ctrl-D too)
  anything else         sent to the open conversation ("//text" sends "/text")`;

/** ACT-5: an emoji is 1 to 64 bytes of UTF-8. */
const MAX_EMOJI_BYTES = 64;
/** HIS-1: LAST_EVENTS counts 1 to 1000 events. */
const MAX_HISTORY_EVENTS = 1000;

/** What a line typed at the prompt asks for. */
export function parseChatLine(line: string): ChatCommand {
  const trimmed = line.trim();
  if (trimmed === "") return { kind: "nothing" };
  if (trimmed.startsWith("//")) return { kind: "say", text: trimmed.slice(1) };
  if (!trimmed.startsWith("/")) return { kind: "say", text: trimmed };
  const [word = "", ...args] = trimmed.slice(1).split(/\s+/);
  // The text after the command word and `skip` arguments, its spacing kept: what /edit and /reply send.
  const textAfter = (skip: number) => trimmed.slice(1).replace(new RegExp(`^\\S+(\\s+\\S+){${skip}}\\s*`), "");
  switch (word) {
    case "open":
    case "o":
      return args.length === 1 ? { kind: "open", target: args[0]! } : mistake("usage: /open USER, or /open CONVERSATION-ID (/group for several users)");
    case "group":
    case "g":
      return args.length >= 2 ? { kind: "group", title: args[0]!, users: args.slice(1) } : mistake("usage: /group TITLE USER... (at least one other user)");
    case "list":
    case "ls":
    case "l":
      return { kind: "list" };
    case "read":
    case "r":
      return { kind: "read" };
    case "help":
    case "h":
    case "?":
      return { kind: "help" };
    case "quit":
    case "exit":
    case "q":
      return { kind: "quit" };
    case "edit":
    case "e":
      return withSeq(args, 2, "/edit SEQ TEXT", (seq) => ({ kind: "edit", seq, text: textAfter(1) }));
    case "delete":
    case "del":
      return withSeq(args, 1, "/delete SEQ", (seq) => (args.length === 1 ? { kind: "delete", seq } : mistake("usage: /delete SEQ")));
    case "hide":
      return withSeq(args, 1, "/hide SEQ", (seq) => (args.length === 1 ? { kind: "hide", seq } : mistake("usage: /hide SEQ")));
    case "react":
    case "unreact":
      return withSeq(args, 2, `/${word} SEQ EMOJI`, (seq) => reaction(word === "unreact", seq, args));
    case "reply":
      return withSeq(args, 2, "/reply SEQ TEXT", (rootSeq) => ({ kind: "reply", rootSeq, text: textAfter(1) }));
    case "thread":
    case "t":
      return withSeq(args, 1, "/thread SEQ", (rootSeq) => (args.length === 1 ? { kind: "thread", rootSeq } : mistake("usage: /thread SEQ")));
    case "history":
      return history(args);
    case "receipts":
      return withSeq(args, 1, "/receipts SEQ", (seq) => (args.length === 1 ? { kind: "receipts", seq } : mistake("usage: /receipts SEQ")));
    case "invisible":
      if (args.length === 1 && (args[0] === "on" || args[0] === "off")) return { kind: "invisible", hidden: args[0] === "on" };
      return mistake("usage: /invisible on|off");
    default:
      return mistake(`unknown command /${word}: try /help`);
  }
}

function mistake(message: string): ChatCommand {
  return { kind: "mistake", message };
}

/** A command whose first argument is a message's seq ("12" or "#12"), with at least `least` arguments. */
function withSeq(args: readonly string[], least: number, usage: string, make: (seq: bigint) => ChatCommand): ChatCommand {
  if (args.length < least) return mistake(`usage: ${usage}`);
  const seq = parseSeq(args[0]!);
  if (seq === undefined) return mistake(`usage: ${usage} (SEQ is a message's number, like 12 or #12; got ${args[0]})`);
  return make(seq);
}

export function parseSeq(text: string): bigint | undefined {
  const digits = text.startsWith("#") ? text.slice(1) : text;
  if (!/^[0-9]{1,20}$/.test(digits)) return undefined;
  const seq = BigInt(digits);
  // Seqs start at 1 (SEQ-1) and are uint64.
  return seq >= 1n && seq < 1n << 64n ? seq : undefined;
}

function reaction(remove: boolean, seq: bigint, args: readonly string[]): ChatCommand {
  const verb = remove ? "unreact" : "react";
  if (args.length !== 2) return mistake(`usage: /${verb} SEQ EMOJI (one emoji, no spaces)`);
  const emoji = args[1]!;
  if (Buffer.byteLength(emoji, "utf8") > MAX_EMOJI_BYTES) return mistake(`/${verb}: an emoji is at most ${MAX_EMOJI_BYTES} bytes`);
  return { kind: "react", seq, emoji, remove };
}

function history(args: readonly string[]): ChatCommand {
  const usage = mistake(`usage: /history from-join|last N|full (N from 1 to ${MAX_HISTORY_EVENTS})`);
  if (args.length === 1 && args[0] === "from-join") return { kind: "history", setting: { kind: "from-join" } };
  if (args.length === 1 && args[0] === "full") return { kind: "history", setting: { kind: "full" } };
  if (args.length !== 2 || args[0] !== "last" || !/^[0-9]{1,4}$/.test(args[1]!)) return usage;
  const events = Number(args[1]);
  if (events < 1 || events > MAX_HISTORY_EVENTS) return usage;
  return { kind: "history", setting: { kind: "last", events } };
}
