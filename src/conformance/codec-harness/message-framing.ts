/**
 * The codec harness's own framing (conformance/README.md, "Codec harness
 * protocol"): every message in both directions is a 4-byte unsigned
 * big-endian length, then that many bytes of UTF-8 JSON holding one object.
 * A big-endian u32 is what the Connect conformance runner uses and what every
 * language reads in one call; it is unrelated to imwire's own varint framing.
 */

/** Larger messages are refused: a testee printing text to stdout would otherwise look like a gigabyte-long message. */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export class MessageFramingError extends Error {
  override readonly name = "MessageFramingError";
}

export function encodeMessage(message: object): Buffer {
  const body = Buffer.from(JSON.stringify(message), "utf8");
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, 4);
  return out;
}

/** Reassembles messages from a byte stream read in arbitrary pieces. */
export class MessageReader {
  #chunks: Buffer[] = [];
  #buffered = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
  }

  /** Bytes received and not yet returned as a message. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /** The next whole message, or undefined until more bytes arrive. Throws MessageFramingError for input that cannot be a message. */
  next(): Record<string, unknown> | undefined {
    if (this.#buffered < 4) return undefined;
    const head = this.#peek(4);
    const length = head.readUInt32BE(0);
    if (length === 0 || length > MAX_MESSAGE_BYTES) {
      throw new MessageFramingError(`a message length of ${length} bytes (first bytes ${describeBytes(head)}): not a harness message`);
    }
    if (this.#buffered < 4 + length) return undefined;
    const whole = this.#peek(4 + length);
    this.#consume(4 + length);
    const text = whole.subarray(4).toString("utf8");
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new MessageFramingError(`a ${length}-byte message that is not JSON: ${JSON.stringify(text.slice(0, 80))}`);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new MessageFramingError(`a message that is not a JSON object: ${text.slice(0, 80)}`);
    }
    return value as Record<string, unknown>;
  }

  #peek(length: number): Buffer {
    if (this.#chunks[0]!.length < length) this.#chunks = [Buffer.concat(this.#chunks)];
    return this.#chunks[0]!.subarray(0, length);
  }

  #consume(length: number): void {
    const first = this.#chunks[0]!;
    this.#chunks[0] = first.subarray(length);
    if (this.#chunks[0].length === 0) this.#chunks.shift();
    this.#buffered -= length;
  }
}

/** The first bytes as hex and as text, so a stray print on stdout is recognisable in a report. */
export function describeBytes(bytes: Buffer): string {
  const sample = bytes.subarray(0, 16);
  return `${sample.toString("hex")} ${JSON.stringify(sample.toString("latin1"))}`;
}
