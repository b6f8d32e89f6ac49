import { toJson } from "@bufbuild/protobuf";
import { ErrorCode } from "../gen/imwire/v1/error_pb.js";
import { FrameSchema } from "../gen/imwire/v1/frame_pb.js";
import { decodeFrame } from "../codec/frame-codec.js";
import { FrameSplitter } from "../framing/frame-splitter.js";
import { ImwireError, isImwireError } from "../errors.js";
import { MAX_MAX_FRAME_SIZE } from "../limits.js";
import { decodeText, guessTextEncoding, isPrintableText, UsageError, type CliIO, type TextEncoding } from "./io.js";
import { choiceOption, integerOption, parseOptions, readOptionFile } from "./options.js";

export const decodeHelp = `Usage: imwire decode [DATA] [options]

Decode imwire frames into canonical Protobuf JSON, one frame per line.

DATA is the input as hex or base64 text (whitespace allowed). Without DATA,
or with "-", the input is read from stdin; --file reads it from a file.

Which encoding, unless --in (or --hex, --base64) says: text of hex digits
only is hex, other text is base64; text that is neither, or an odd number of
hex digits, is refused rather than guessed at. Files and stdin holding only
text (what "imwire encode" prints) are read the same way; anything else in
them is raw bytes. So "imwire encode ... > f; imwire decode --file f" round-trips.

By default the input is a byte stream of length-prefixed frames (TCP framing,
SPEC.md FRM-1). With --payload it is bare frame payloads, as carried in
WebSocket messages: raw bytes are one payload, text one payload per line.

A frame that cannot be read prints {"error":{...}} with the error code and the
SPEC.md requirement it breaks. Errors that leave the stream readable
(unknown frame, missing field) do not stop decoding; the exit status is 1 if
any frame failed.

Options:
  --file PATH          read the input from PATH
  --in FORMAT          the input is hex, base64 or binary (raw bytes; not for DATA)
  --hex, --base64      the same as --in hex, --in base64
  --payload            bare frame payloads, without length prefixes
  --max-frame-size N   reject frames longer than N bytes (default ${MAX_MAX_FRAME_SIZE})
  --pretty             indent the JSON
  -h, --help           show this help

Examples:
  imwire decode 0c08018201070a010112026431
  imwire decode --payload 32020807
  imwire encode --out binary --file frames.ndjson | imwire decode
`;

type InputFormat = TextEncoding | "binary";

export async function decodeCommand(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseOptions(
    args,
    {
      file: { type: "string" },
      in: { type: "string" },
      hex: { type: "boolean", default: false },
      base64: { type: "boolean", default: false },
      payload: { type: "boolean", default: false },
      "max-frame-size": { type: "string" },
      pretty: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    true,
  );
  if (values.help) {
    io.writeOut(decodeHelp);
    return 0;
  }
  if (positionals.length > 1) throw new UsageError("give at most one DATA argument");
  const format = inputFormat(values);
  const maxFrameSize = integerOption(values["max-frame-size"], "--max-frame-size", MAX_MAX_FRAME_SIZE);
  const payloads = await readInput(positionals[0], values.file, format, values.payload, io);
  const indent = values.pretty ? 2 : undefined;
  const print = (value: unknown) => io.writeOut(JSON.stringify(value, null, indent) + "\n");

  let failed = false;
  const decodeOne = (payload: Uint8Array): void => {
    try {
      print(toJson(FrameSchema, decodeFrame(payload)));
    } catch (error) {
      if (!isImwireError(error)) throw error;
      print(errorJson(error));
      failed = true;
    }
  };

  if (values.payload) {
    for (const payload of payloads) decodeOne(payload);
    return failed ? 1 : 0;
  }
  const splitter = new FrameSplitter({ maxFrameSize });
  for (const bytes of payloads) splitter.push(bytes);
  try {
    for (let payload = splitter.next(); payload !== undefined; payload = splitter.next()) decodeOne(payload);
  } catch (error) {
    if (!isImwireError(error)) throw error;
    print(errorJson(error));
    return 1;
  }
  if (!splitter.atFrameBoundary) {
    print(errorJson(new ImwireError(ErrorCode.MALFORMED_FRAME, `input ends inside a frame (${splitter.bufferedBytes} bytes left over)`, { requirement: "FRM-6" })));
    return 1;
  }
  return failed ? 1 : 0;
}

function errorJson(error: ImwireError): unknown {
  return {
    error: {
      code: ErrorCode[error.code] === undefined ? error.code : `ERROR_CODE_${ErrorCode[error.code]}`,
      requirement: error.requirement,
      requestId: error.requestId || undefined,
      field: error.field,
      message: error.message,
    },
  };
}

function inputFormat(values: { in?: string; hex: boolean; base64: boolean }): InputFormat | undefined {
  const chosen = [values.in === undefined ? undefined : `--in ${values.in}`, values.hex ? "--hex" : undefined, values.base64 ? "--base64" : undefined].filter((c) => c !== undefined);
  if (chosen.length > 1) throw new UsageError(`give one of ${chosen.join(", ")}`);
  if (values.hex) return "hex";
  if (values.base64) return "base64";
  return values.in === undefined ? undefined : choiceOption(values.in, "--in", ["hex", "base64", "binary"], "binary");
}

/** The input as byte chunks: one stream of frames, or (with --payload) one chunk per payload. */
async function readInput(data: string | undefined, file: string | undefined, format: InputFormat | undefined, payloadMode: boolean, io: CliIO): Promise<Uint8Array[]> {
  if (data !== undefined && data !== "-") {
    if (file !== undefined) throw new UsageError("give DATA or --file, not both");
    if (format === "binary") throw new UsageError("DATA on the command line is text: use --in hex or --in base64");
    return fromText(data, format ?? guessTextEncoding(data), payloadMode);
  }
  if (file === undefined && io.stdinIsTTY && data === undefined) {
    throw new UsageError("no input: give DATA, --file PATH, or pipe bytes into stdin");
  }
  const raw = file !== undefined ? await readOptionFile(io.readFile, file, "--file") : await io.readStdin();
  if (format === "binary" || (format === undefined && !isPrintableText(raw))) return [raw];
  const text = new TextDecoder().decode(raw);
  return fromText(text, format ?? guessTextEncoding(text), payloadMode);
}

/** With --payload each line is one payload (as "imwire encode --payload" prints them); otherwise the text is one stream. */
function fromText(text: string, encoding: TextEncoding, payloadMode: boolean): Uint8Array[] {
  if (!payloadMode) return [decodeText(text, encoding)];
  return text
    .split(/\r?\n/)
    .filter((line) => line.trim() !== "")
    .map((line) => decodeText(line, encoding));
}
