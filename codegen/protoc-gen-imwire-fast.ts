// protoc-gen-imwire-fast: a buf/protoc plugin that writes, for every message
// in proto/, specialised binary decode, measure and write functions that
// produce and accept the very objects protobuf-es does ($typeName included).
// buf generate runs it after protoc-gen-es (buf.gen.yaml); its output is
// src/gen/**/*_fast.ts, next to the *_pb.ts files whose types it uses, and
// the runtime it calls is src/codec/fast. Messages with ENV-5 rules also
// get a required-field check.
import { createEcmaScriptPlugin, runNodeJs, type GeneratedFile, type Schema } from "@bufbuild/protoplugin";
import type { DescFile, DescMessage } from "./descriptors.js";
import { classify } from "./members.js";
import { decoderLines } from "./decoder.js";
import { measureLines, writeLines } from "./encoder.js";
import { namesFor } from "./names.js";
import { hasRules, validatorLines } from "./validator.js";

function generateTs(schema: Schema): void {
  for (const file of schema.files) {
    const messages = allMessages(file.messages);
    if (messages.length === 0) continue;
    const f = schema.generateFile(`${file.name}_fast.ts`);
    f.preamble(file);
    for (const message of messages) generateMessage(f, file, message);
  }
}

function allMessages(messages: readonly DescMessage[]): DescMessage[] {
  return messages.flatMap((m) => [m, ...allMessages(m.nestedMessages)]);
}

function generateMessage(f: GeneratedFile, file: DescFile, message: DescMessage): void {
  const names = namesFor(f, file);
  const members = classify(message);
  const shape = names.shape(message);
  const name = names.shapeName(message);
  f.print(f.jsDoc(`Decode ${message.typeName} from the bytes of one message. Throws ImwireError MALFORMED_FRAME (ENV-3).`));
  f.print(names.exported(`decode${name}`), "(bytes: Uint8Array): ", shape, " {");
  f.print("  return read", name, "(new ", names.runtime("WireReader", "wire-reader"), "(bytes), bytes.length, 1);");
  f.print("}");
  f.print();
  f.print(f.jsDoc(`Encode ${message.typeName} to the bytes protobuf-es toBinary writes, after a length prefix when \`prefixed\` (FRM-2).`));
  f.print(names.exported(`encode${name}`), "(message: ", shape, ", prefixed = false): Uint8Array {");
  f.print("  return ", names.runtime("encodeMessage", "wire-writer"), "(message, measure", name, ", write", name, ", prefixed);");
  f.print("}");
  f.print();
  f.print(f.jsDoc(`The size of ${message.typeName} encoded (without a length prefix), computed without encoding it.`));
  f.print(names.exported(`size${name}`), "(message: ", shape, "): number {");
  f.print("  return ", names.runtime("messageSize", "wire-writer"), "(message, measure", name, ");");
  f.print("}");
  f.print();
  for (const line of decoderLines(message, members, names, shape)) f.print(...line);
  f.print();
  for (const line of measureLines(message, members, names, shape)) f.print(...line);
  f.print();
  for (const line of writeLines(message, members, names, shape, names.runtime("WireWriter", "wire-writer", true))) f.print(...line);
  f.print();
  if (!hasRules(message)) return;
  f.print(f.jsDoc(`The first field of ${message.typeName} that ENV-5 requires and is missing, as a path of Protobuf field names ("send_message.content.kind"), or undefined when every rule is met.`));
  for (const line of validatorLines(message, names, shape)) f.print(...line);
  f.print();
}

runNodeJs(
  createEcmaScriptPlugin({
    name: "protoc-gen-imwire-fast",
    version: "v1",
    generateTs,
  }),
);
