import type { Readable, Writable } from "node:stream";
import { encodeMessage, MessageFramingError, MessageReader } from "./message-framing.js";
import type { Answer, HarnessHello, Request } from "./protocol.js";
import type { Testee } from "./session.js";

/**
 * The testee's side of the harness protocol: read length-prefixed JSON
 * messages from `input`, answer hello, then each request in turn, until
 * shutdown or the end of input. Resolves to the process exit status. Nothing
 * else may write to `output`: it carries only protocol messages.
 */
export async function serveTestee(input: Readable, output: Writable, testee: Testee, log: (text: string) => void = (t) => process.stderr.write(t)): Promise<number> {
  const reader = new MessageReader();
  let greeted = false;
  for await (const chunk of input) {
    reader.push(chunk as Buffer);
    try {
      for (let message = reader.next(); message !== undefined; message = reader.next()) {
        if (!greeted) {
          if (message.type !== "hello") {
            log(`imwire testee: expected the harness's hello, got ${JSON.stringify(message).slice(0, 100)}\n`);
            return 1;
          }
          greeted = true;
          output.write(encodeMessage(testee.hello(message as unknown as HarnessHello)));
          continue;
        }
        if (message.type === "shutdown") {
          await new Promise<void>((resolve) => output.write("", () => resolve()));
          return 0;
        }
        output.write(encodeMessage(await answerSafely(testee, message as unknown as Request)));
      }
    } catch (error) {
      if (!(error instanceof MessageFramingError)) throw error;
      log(`imwire testee: ${error.message}\n`);
      return 1;
    }
  }
  return 0;
}

/** A bug in the testee becomes a "failure" answer, so the harness reports it against the vector and carries on. */
async function answerSafely(testee: Testee, request: Request): Promise<Answer> {
  try {
    return await testee.answer(request);
  } catch (error) {
    return { id: request.id, result: "failure", message: (error as Error).stack ?? String(error) };
  }
}
