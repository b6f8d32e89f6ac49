import { clearLine, createInterface, cursorTo } from "node:readline";
import picocolors from "picocolors";
import { parseOptions } from "./options.js";
import { chatCommandsHelp } from "./chat-commands.js";
import { Chat } from "./chat-screen.js";
import { promptFor } from "./chat-view.js";
import { ClientSession, sessionHelp, sessionOptionConfig, sessionSettings, type TerminalIO } from "./client-session.js";

export const chatHelp = `Usage: imwire chat --user NAME [options]

Chat from the terminal. Start a server and two chats, each in its own terminal:
  imwire serve --memory
  imwire chat --user alice
  imwire chat --user bob
then, in alice's:  /open bob   and type.

Every conversation's messages are printed as they arrive ("#12 [bob] alice: hi",
12 being the number the commands below take); an edit, deletion or reaction
prints the message again as it now is ("#12 [bob] alice: hello (edited)  👍 2"),
thread replies are tagged with their root ("#14 [bob] ↳#12 bob: sure"), and
/open shows the conversation's last 20 entries, replies under their root.
Who is typing shows in the prompt; contacts' presence as "-- bob is online".
A fresh device (this command keeps no state between runs) first shows the
history it synchronises (SPEC.md SYNC-4). Text typed without a command goes
to the open conversation; your own messages appear once the server has
stored them. Reconnects by itself after a lost connection.

${chatCommandsHelp}

Options:
  --no-color          no colours (also when NO_COLOR is set or output is not a terminal)
  (--device defaults to "cli-chat": a second chat of the same user needs its
  own --device, else it takes over the first, AUTH-4)

${sessionHelp}

Examples:
  imwire chat --user alice
  imwire chat --server ws://127.0.0.1:5301 --user bob --device laptop
  printf '/open bob\nhi bob\n' | imwire chat --user alice
`;

/** Keys that move about or send rather than write: not typing. (Enter sends: the line handler stops the indicator.) */
const NOT_TYPING_KEYS = new Set(["return", "enter", "up", "down", "left", "right", "home", "end", "pageup", "pagedown", "tab", "escape"]);

export async function chatCommand(args: string[], io: TerminalIO): Promise<number> {
  const { values } = parseOptions(args, { ...sessionOptionConfig, "no-color": { type: "boolean", default: false } });
  if (values.help) {
    io.writeOut(chatHelp);
    return 0;
  }
  const settings = await sessionSettings(values, io, "cli-chat");
  const input = io.input ?? process.stdin;
  const terminal = io.input === undefined && process.stdin.isTTY === true && process.stdout.isTTY === true;
  const colors = picocolors.createColors(terminal && (io.colour ?? picocolors.isColorSupported) && !values["no-color"]);
  const rl = createInterface({ input, output: terminal ? process.stdout : undefined, terminal, prompt: promptFor(undefined, colors) });
  // Prompting resumes the input, which would keep the process alive after the end.
  let closed = false;
  rl.on("close", () => (closed = true));
  const print = (line: string) => {
    if (!terminal || closed) return io.writeOut(`${line}\n`);
    // Above the prompt, then the prompt again with what was being typed (readline keeps the line).
    clearLine(process.stdout, 0);
    cursorTo(process.stdout, 0);
    io.writeOut(`${line}\n`);
    rl.prompt(true);
  };
  const chat = new Chat(new ClientSession(settings), rl, { colors, print, typingInPrompt: terminal });
  // EPH-3: keys typed at a terminal say the user is typing (readline emits them on a terminal's input).
  const onKeypress = (_: string | undefined, key: { name?: string; ctrl?: boolean; meta?: boolean } | undefined) => {
    if (key?.ctrl || key?.meta || (key?.name !== undefined && NOT_TYPING_KEYS.has(key.name))) return;
    // readline has taken the key in already: its line is what is typed so far.
    chat.keypress(rl.line);
  };
  if (terminal) input.on("keypress", onKeypress);
  const interrupts = io.interrupts ?? process;
  const onInterrupt = () => chat.quit();
  interrupts.on("SIGINT", onInterrupt);
  rl.on("SIGINT", onInterrupt);
  try {
    return await chat.run();
  } finally {
    input.off("keypress", onKeypress);
    interrupts.off("SIGINT", onInterrupt);
    rl.close();
  }
}
