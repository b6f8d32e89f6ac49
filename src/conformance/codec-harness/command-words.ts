/**
 * Split a command line into words the way a POSIX shell does for quoting
 * only: whitespace separates words, '…' keeps everything literally, "…"
 * keeps everything but \" and \\, and a backslash outside quotes escapes the
 * next character. Nothing is expanded (no variables, globs, pipes or
 * redirections), and the words are run without a shell, so no part of the
 * command is ever interpreted twice. Wrap the command in sh -c '…' to use a
 * shell on purpose.
 */
export function splitCommandWords(command: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < command.length; i++) {
    const c = command[i]!;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === "\\" && (command[i + 1] === '"' || command[i + 1] === "\\")) word += command[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === "\\") {
      if (i + 1 >= command.length) throw new Error("the command ends with a lone backslash");
      word += command[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote !== undefined) throw new Error(`unterminated ${quote} quote in the command`);
  if (inWord) words.push(word);
  return words;
}
