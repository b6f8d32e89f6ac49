import { Feature } from "../../gen/imwire/v1/connection_pb.js";
import type { Member, MemberPage } from "../../gen/imwire/v1/conversation_pb.js";
import { ErrorCode } from "../../gen/imwire/v1/error_pb.js";
import type { Frame } from "../../gen/imwire/v1/frame_pb.js";
import type { ClientContext } from "./context.js";
import { featureName } from "./features.js";
import type { Operations } from "./operations.js";

/** One listing under way: the pages so far, and where the next starts. */
interface Listing {
  readonly id: string;
  readonly conversationId: string;
  readonly limit: number;
  readonly members: Map<string, Member>;
  first: MemberPage | undefined;
  after: string;
}

/**
 * CONV-10: a conversation's members read in pages with list_members, each
 * page an operation of the outbox (sent again after a lost connection, from
 * the same boundary: pages follow user ids, so a boundary stays put).
 */
export class MemberLists {
  readonly #ctx: ClientContext;
  readonly #operations: Operations;

  constructor(ctx: ClientContext, operations: Operations) {
    this.#ctx = ctx;
    this.#operations = operations;
  }

  /** Every page, following continue_after; the outcome is one "members" or "failed" event named `id`. */
  list(id: string, conversationId: string, limit: number): void {
    if (this.#neverInForce(id)) return;
    this.#next({ id, conversationId, limit, members: new Map(), first: undefined, after: "" });
  }

  /** One page; the outcome is the usual "done" (its answer a memberPage) or "failed" event named `id`. */
  page(id: string, conversationId: string, afterUserId: string, limit: number): void {
    if (this.#neverInForce(id)) return;
    this.#operations.add(id, { case: "listMembers", value: { conversationId, afterUserId, limit } });
  }

  /** EXT-5: a client that does not offer the feature can never have it in force; it fails at once, even offline. */
  #neverInForce(id: string): boolean {
    if (this.#ctx.options.features.includes(Feature.MEMBER_PAGES)) return false;
    const message = `list_members needs ${featureName(Feature.MEMBER_PAGES)}, which this client does not offer (EXT-5)`;
    this.#ctx.emit({ kind: "failed", operationId: id, code: ErrorCode.UNKNOWN_FRAME, message });
    return true;
  }

  #next(listing: Listing): void {
    const body = { case: "listMembers" as const, value: { conversationId: listing.conversationId, afterUserId: listing.after, limit: listing.limit } };
    this.#operations.add(this.#ctx.deps.newId(), body, {
      answered: (answer) => this.#answered(listing, answer),
      failed: (code, message) => this.#ctx.emit({ kind: "failed", operationId: listing.id, code, message }),
    });
  }

  #answered(listing: Listing, answer: Frame["body"]): void {
    if (answer.case !== "memberPage") {
      this.#ctx.emit({ kind: "failed", operationId: listing.id, code: ErrorCode.PROTOCOL_VIOLATION, message: `list_members answered with ${answer.case ?? "nothing"} (CONV-10)` });
      return;
    }
    const page = answer.value;
    listing.first ??= page;
    for (const member of page.members) listing.members.set(member.userId, member);
    if (page.continueAfter !== "") {
      // A page that does not move past its boundary would be asked for again and again.
      if (compareUtf8(page.continueAfter, listing.after) <= 0) {
        const message = `member_page continue_after "${page.continueAfter}" does not sort after "${listing.after}" (CONV-10)`;
        this.#ctx.emit({ kind: "failed", operationId: listing.id, code: ErrorCode.PROTOCOL_VIOLATION, message });
        return;
      }
      listing.after = page.continueAfter;
      this.#next(listing);
      return;
    }
    const first = listing.first;
    const members = [...listing.members.values()].sort((a, b) => compareUtf8(a.userId, b.userId));
    this.#ctx.emit({
      kind: "members",
      operationId: listing.id,
      list: { conversationId: listing.conversationId, members, memberCount: first.memberCount, lastSeq: first.lastSeq },
    });
  }
}

/** CONV-10 orders user ids as UTF-8 bytes: the same order as code points, which JavaScript's `<` on UTF-16 is not. */
export function compareUtf8(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}
