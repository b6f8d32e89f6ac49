import { parseArgs } from "node:util";
import { toJson } from "@bufbuild/protobuf";
import { ErrorCode } from "../gen/imwire/v1/error_pb.js";
import { FrameSchema } from "../gen/imwire/v1/frame_pb.js";
import { decodeFrame } from "../codec/frame-codec.js";
import { FrameSplitter } from "../framing/frame-splitter.js";
import { ImwireError, isImwireError } from "../errors.js";
import { MAX_MAX_FRAME_SIZE } from "../limits.js";
import { decodeText, guessTextEncoding, UsageError, type CliIO, type TextEncoding } from "./io.js";

export const decodeHelp = `Usage: imwire decode [DATA] [options]

Decode imwire frames into canonical Protobuf JSON, one frame per line.

DATA is the input as hex or base64 text (whitespace allowed). Without DATA,
or with "-", the input is read from stdin; --file reads it from a file.
Text given as DATA is hex when it could be, else base64; stdin and files are
raw bytes unless --in says otherwise.

By default the input is a byte stream of length-prefixed frames (TCP framing,
SPEC.md FRM-1). With --payload it is one bare frame payload, as carried in a
WebSocket message.

A frame that cannot be read prints {"error":{...}} with the error code and the
SPEC.md requirement it breaks. Errors that leave the stream readable
(unknown frame, missing field) do not stop decoding; the exit status is 1 if
any frame failed.

Options:
  --file PATH          read the input from PATH
  --in FORMAT          input format: hex, base64 or binary
  --payload            the input is one frame payload without length prefix
  --max-frame-size N   reject frames longer than N bytes (default ${MAX_MAX_FRAME_SIZE})
  --pretty             indent the JSON
  -h, --help           show this help
`;

export async function decodeCommand(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      file: { type: "string" },
      in: { type: "string" },
      payload: { type: "boolean", default: false },
      "max-frame-size": { type: "string" },
      pretty: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    io.writeOut(decodeHelp);
    return 0;
  }
  if (positionals.length > 1) throw new UsageError("give at most one DATA argument");
  const format = parseFormat(values.in);
  const maxFrameSize = parseSize(values["max-frame-size"] ?? String(MAX_MAX_FRAME_SIZE));
  const input = await readInput(positionals[0], values.file, format, io);
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
    decodeOne(input);
    return failed ? 1 : 0;
  }
  const splitter = new FrameSplitter({ maxFrameSize });
  splitter.push(input);
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

type InputFormat = TextEncoding | "binary";

function parseFormat(value: string | undefined): InputFormat | undefined {
  if (value === undefined) return undefined;
  if (value === "hex" || value === "base64" || value === "binary") return value;
  throw new UsageError(`--in must be hex, base64 or binary, not ${value}`);
}

export function parseSize(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`not a size in bytes: ${text}`);
  return n;
}

async function readInput(data: string | undefined, file: string | undefined, format: InputFormat | undefined, io: CliIO): Promise<Uint8Array> {
  if (data !== undefined && data !== "-") {
    if (file !== undefined) throw new UsageError("give DATA or --file, not both");
    if (format === "binary") throw new UsageError("DATA on the command line is text: use --in hex or --in base64");
    return decodeText(data, format ?? guessTextEncoding(data));
  }
  if (file === undefined && io.stdinIsTTY && data === undefined) {
    throw new UsageError("no input: give DATA, --file PATH, or pipe bytes into stdin");
  }
  const raw = file !== undefined ? await io.readFile(file) : await io.readStdin();
  if (format === undefined || format === "binary") return raw;
  return decodeText(new TextDecoder().decode(raw), format);
}
