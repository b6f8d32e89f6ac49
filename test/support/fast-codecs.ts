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
import * as auth from "../../src/gen/imwire/v1/auth_fast.js";
import * as connection from "../../src/gen/imwire/v1/connection_fast.js";
import * as content from "../../src/gen/imwire/v1/content_fast.js";
import * as conversation from "../../src/gen/imwire/v1/conversation_fast.js";
import * as delivery from "../../src/gen/imwire/v1/delivery_fast.js";
import * as error from "../../src/gen/imwire/v1/error_fast.js";
import * as frame from "../../src/gen/imwire/v1/frame_fast.js";
import * as message from "../../src/gen/imwire/v1/message_fast.js";
import * as settings from "../../src/gen/imwire/v1/settings_fast.js";
import * as sync from "../../src/gen/imwire/v1/sync_fast.js";

/** Every message type of the schema with its generated fast codec, found by the names the generator gives. */
export interface FastCodec {
  readonly desc: DescMessage;
  readonly decode: (bytes: Uint8Array) => Message;
  readonly encode: (message: Message) => Uint8Array;
  /** The generated ENV-5 check; absent when neither the type nor anything it holds has a rule. */
  readonly missingIn: ((message: Message) => string | undefined) | undefined;
}

const files: [DescFile, Record<string, unknown>][] = [
  [file_imwire_v1_auth, auth],
  [file_imwire_v1_connection, connection],
  [file_imwire_v1_content, content],
  [file_imwire_v1_conversation, conversation],
  [file_imwire_v1_delivery, delivery],
  [file_imwire_v1_error, error],
  [file_imwire_v1_frame, frame],
  [file_imwire_v1_message, message],
  [file_imwire_v1_settings, settings],
  [file_imwire_v1_sync, sync],
];

const nested = (messages: readonly DescMessage[]): DescMessage[] => messages.flatMap((m) => [m, ...nested(m.nestedMessages)]);

export const fastCodecs: readonly FastCodec[] = files.flatMap(([file, module]) =>
  nested(file.messages).map((desc) => {
    const name = desc.typeName.slice(`${file.proto.package}.`.length).replace(/\./g, "_");
    const decode = module[`decode${name}`] as FastCodec["decode"] | undefined;
    const encode = module[`encode${name}`] as FastCodec["encode"] | undefined;
    if (!decode || !encode) throw new Error(`no fast codec generated for ${desc.typeName}`);
    const missingIn = module[`missingIn${name}`] as FastCodec["missingIn"];
    return { desc, decode, encode, missingIn };
  }),
);
