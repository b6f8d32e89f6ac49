import { create } from "@bufbuild/protobuf";
import { ConversationKind, MemberPageSchema, Role, type ListMembers, type MemberPage } from "../../gen/imwire/v1/conversation_pb.js";
import { sizeMember } from "../../gen/imwire/v1/conversation_fast.js";
import { ErrorCode } from "../../gen/imwire/v1/error_pb.js";
import { MAX_ID_BYTES } from "../../limits.js";
import type { Connection } from "./connection.js";
import type { ServerCore } from "./core.js";
import { checkId } from "./ids.js";
import { RequestError } from "./request-error.js";

/** Room kept in a page for its own fields (two identifiers, two varints) and each member's tag and length. */
const PAGE_OVERHEAD = 2 * (MAX_ID_BYTES + 3) + 32;
const PER_MEMBER_OVERHEAD = 6;

/** ListMembers (CONV-10). */
export function listMembers(core: ServerCore, connection: Connection, request: ListMembers): MemberPage {
  const { store, options } = core;
  checkId(request.conversationId, "conversation_id");
  if (request.afterUserId !== "") checkId(request.afterUserId, "after_user_id");
  const conversation = store.conversation(request.conversationId);
  if (!conversation) throw new RequestError(ErrorCode.NOT_FOUND, `no conversation ${request.conversationId}`, "CONV-10");
  const { conversationId } = conversation;
  const mine = store.membership(conversationId, connection.userId);
  // SEC-7: subscribers would learn of each other, former members of who joined since.
  const allowed = mine !== undefined && mine.lastVisibleSeq === 0 && (conversation.kind !== ConversationKind.CHANNEL || mine.role === Role.OWNER);
  if (!allowed) throw new RequestError(ErrorCode.PERMISSION_DENIED, "only current members (a channel's owner) may list its members", "CONV-10");

  const limit = Math.min(request.limit === 0 ? options.memberPageDefault : request.limit, options.memberPageMax);
  // One more than asked tells whether more follow.
  const candidates = store.membersPage(conversationId, request.afterUserId, limit + 1);
  const members = [];
  let total = PAGE_OVERHEAD;
  for (const m of candidates.slice(0, limit)) {
    const member = { $typeName: "imwire.v1.Member" as const, userId: m.userId, role: m.role, joinedSeq: BigInt(conversation.kind === ConversationKind.CHANNEL ? 0 : m.firstVisibleSeq) };
    total += sizeMember(member) + PER_MEMBER_OVERHEAD;
    if (total > options.maxFrameSize && members.length > 0) break;
    members.push(member);
  }
  const more = members.length < candidates.length;
  return create(MemberPageSchema, {
    conversationId,
    members,
    continueAfter: more ? members[members.length - 1]!.userId : "",
    memberCount: store.memberCount(conversationId),
    lastSeq: BigInt(store.lastSeq(conversationId)),
  });
}
