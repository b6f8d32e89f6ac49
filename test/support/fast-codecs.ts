import type { DescFile, DescMessage, Message } from "@bufbuild/protobuf";
import { file_imwire_v1_auth } from "../../src/gen/imwire/v1/auth_pb.js";
import { file_imwire_v1_connection } from "../../src/gen/imwire/v1/connection_pb.js";
import { file_imwire_v1_content } from "../../src/gen/imwire/v1/content_pb.js";
import { file_imwire_v1_conversation } from "../../src/gen/imwire/v1/conversation_pb.js";
import { file_imwire_v1_delivery } from "../../src/gen/imwire/v1/delivery_pb.js";
import { file_imwire_v1_error } from "../../src/gen/imwire/v1/error_pb.js";
import { file_imwire_v1_frame } from "../../src/gen/imwire/v1/frame_pb.js";
import { file_imwire_v1_message } from "../../src/gen/imwire/v1/message_pb.js";
import { file_imwire_v1_settings } from "../../src/gen/imwire/v1/settings_pb.js";
import { file_imwire_v1_sync } from "../../src/gen/imwire/v1/sync_pb.js";
import * as fast from "../../src/fast.js";

/** Every message type of the schema with its generated fast codec, found in the imwire/fast module by the names the generator gives. */
export interface FastCodec {
  readonly desc: DescMessage;
  readonly decode: (bytes: Uint8Array) => Message;
  readonly encode: (message: Message, prefixed?: boolean) => Uint8Array;
  readonly size: (message: Message) => number;
  /** The generated ENV-5 check; absent when neither the type nor anything it holds has a rule. */
  readonly missingIn: ((message: Message) => string | undefined) | undefined;
}

const files: DescFile[] = [
  file_imwire_v1_auth,
  file_imwire_v1_connection,
  file_imwire_v1_content,
  file_imwire_v1_conversation,
  file_imwire_v1_delivery,
  file_imwire_v1_error,
  file_imwire_v1_frame,
  file_imwire_v1_message,
  file_imwire_v1_settings,
  file_imwire_v1_sync,
];
const module = fast as Record<string, unknown>;

const nested = (messages: readonly DescMessage[]): DescMessage[] => messages.flatMap((m) => [m, ...nested(m.nestedMessages)]);

export const fastCodecs: readonly FastCodec[] = files.flatMap((file) =>
  nested(file.messages).map((desc) => {
    const name = desc.typeName.slice(`${file.proto.package}.`.length).replace(/\./g, "_");
    const decode = module[`decode${name}`] as FastCodec["decode"] | undefined;
    const encode = module[`encode${name}`] as FastCodec["encode"] | undefined;
    const size = module[`size${name}`] as FastCodec["size"] | undefined;
    if (!decode || !encode || !size) throw new Error(`no fast codec generated for ${desc.typeName}`);
    const missingIn = module[`missingIn${name}`] as FastCodec["missingIn"];
    return { desc, decode, encode, size, missingIn };
  }),
);
