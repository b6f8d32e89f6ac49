import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { FrameSchema, type Frame } from "../gen/imwire/v1/frame_pb.js";
import { encodeFrame } from "../codec/frame-codec.js";
import { withLengthPrefix } from "../framing/length-prefix.js";
import { isImwireError } from "../errors.js";
import { encodeText, UsageError, type CliIO } from "./io.js";
import { choiceOption, parseOptions, readOptionFile } from "./options.js";

export const encodeHelp = `Usage: imwire encode [JSON] [options]

Encode frames written as canonical Protobuf JSON (what "imwire decode"
prints) into wire bytes.

JSON is one frame. Without it, or with "-", frames are read from stdin; --file
reads them from a file. Input may be one JSON frame, a JSON array of frames,
or one frame per line.

Each frame is printed on its own line as hex (default) or base64 of the
length-prefixed frame (TCP framing, SPEC.md FRM-1), or of the bare payload
with --payload (a WebSocket message). --out binary writes the raw bytes of
all frames to stdout, ready to pipe into a socket. Whichever --out,
"imwire decode" reads the result back with its defaults (add --payload
for payloads; raw payloads, one frame only):
imwire encode ... > f; imwire decode --file f.

Frames are validated first (SPEC.md ENV-4, ENV-5); --no-validate encodes an
invalid frame on purpose, to build test input.

Options:
  --file PATH      read the JSON from PATH
  --out FORMAT     hex, base64 or binary (default hex)
  --payload        omit the length prefix
  --no-validate    do not check required fields
  -h, --help       show this help

Example:
  imwire encode '{"requestId":1,"ping":{"nonce":"7"}}'
`;

export async function encodeCommand(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseOptions(
    args,
    {
      file: { type: "string" },
      out: { type: "string" },
      payload: { type: "boolean", default: false },
      "no-validate": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    true,
  );
  if (values.help) {
    io.writeOut(encodeHelp);
    return 0;
  }
  const out = choiceOption(values.out, "--out", ["hex", "base64", "binary"], "hex");
  if (positionals.length > 1) throw new UsageError("give at most one JSON argument (quote it)");

  let text: string;
  if (positionals[0] !== undefined && positionals[0] !== "-") {
    if (values.file !== undefined) throw new UsageError("give JSON or --file, not both");
    text = positionals[0];
  } else if (values.file !== undefined) {
    text = new TextDecoder().decode(await readOptionFile(io.readFile, values.file, "--file"));
  } else {
    if (io.stdinIsTTY && positionals[0] === undefined) throw new UsageError("no input: give JSON, --file PATH, or pipe JSON into stdin");
    text = new TextDecoder().decode(await io.readStdin());
  }

  const encoded: Uint8Array[] = [];
  for (const [index, json] of parseFrames(text).entries()) {
    let frame: Frame;
    try {
      frame = fromJson(FrameSchema, json);
    } catch (error) {
      throw new UsageError(`frame ${index + 1} is not valid imwire JSON: ${(error as Error).message}`);
    }
    let payload: Uint8Array;
    try {
      payload = encodeFrame(frame, { validate: !values["no-validate"] });
    } catch (error) {
      if (!isImwireError(error)) throw error;
      throw new UsageError(`frame ${index + 1} is invalid (${error.requirement}): ${error.message}; --no-validate encodes it anyway`);
    }
    encoded.push(values.payload ? payload : withLengthPrefix(payload));
  }
  if (out === "binary" && values.payload && encoded.length > 1) {
    throw new UsageError(`--payload --out binary holds one frame, not ${encoded.length}: bare payloads have no length prefix to tell them apart (use hex or base64, one payload a line)`);
  }
  if (out === "binary") {
    for (const bytes of encoded) io.writeOut(bytes);
  } else {
    for (const bytes of encoded) io.writeOut(encodeText(bytes, out) + "\n");
  }
  return 0;
}

/** One JSON frame, a JSON array of frames, or one frame per line. */
function parseFrames(text: string): JsonValue[] {
  const trimmed = text.trim();
  if (trimmed === "") throw new UsageError("no JSON frames in the input");
  try {
    const whole = JSON.parse(trimmed) as JsonValue;
    return Array.isArray(whole) ? whole : [whole];
  } catch {
    return trimmed
      .split("\n")
      .filter((line) => line.trim() !== "")
      .map((line, i) => {
        try {
          return JSON.parse(line) as JsonValue;
        } catch (error) {
          throw new UsageError(`line ${i + 1} is not JSON: ${(error as Error).message}`);
        }
      });
  }
}
