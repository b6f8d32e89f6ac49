import { authTests } from "./cases/auth.js";
import { authorizationTests } from "./cases/authorization.js";
import { deliveryTests } from "./cases/delivery.js";
import { deliveryGapTests } from "./cases/gaps-delivery.js";
import { roundTwoGapTests } from "./cases/gaps-round-two.js";
import { faultTests } from "./cases/faults.js";
import { flowControlTests } from "./cases/flow-control.js";
import { envelopeTests, streamFramingTests, websocketTests } from "./cases/framing.js";
import { handshakeTests } from "./cases/handshake.js";
import { heartbeatTests } from "./cases/heartbeat.js";
import { idempotencyTests } from "./cases/idempotency.js";
import { ephemeralTests } from "./cases/ephemeral.js";
import { historyVisibilityTests } from "./cases/history-visibility.js";
import { deleteForMeTests } from "./cases/delete-for-me.js";
import { receiptTests } from "./cases/receipts.js";
import { threadTests } from "./cases/threads.js";
import { errorTests } from "./cases/errors.js";
import { lifecycleTests } from "./cases/lifecycle.js";
import { largeConversationTests } from "./cases/large-conversations.js";
import { limitTests } from "./cases/limits.js";
import { membershipTests } from "./cases/membership.js";
import { conversationGapTests } from "./cases/gaps-conversations.js";
import { messageActionTests } from "./cases/message-actions.js";
import { messagingTests } from "./cases/messaging.js";
import { settingsTests } from "./cases/settings.js";
import { syncTests } from "./cases/sync.js";
import type { ConformanceTest } from "./types.js";

/** Every test of the suite, in the order they run. Ids are stable across versions of the suite. */
export const allTests: readonly ConformanceTest[] = [
  ...handshakeTests,
  ...authTests,
  ...streamFramingTests,
  ...envelopeTests,
  ...websocketTests,
  ...messagingTests,
  ...limitTests,
  ...idempotencyTests,
  ...authorizationTests,
  ...membershipTests,
  ...conversationGapTests,
  ...deliveryTests,
  ...deliveryGapTests,
  ...roundTwoGapTests,
  ...syncTests,
  ...largeConversationTests,
  ...messageActionTests,
  ...ephemeralTests,
  ...threadTests,
  ...historyVisibilityTests,
  ...deleteForMeTests,
  ...receiptTests,
  ...settingsTests,
  ...heartbeatTests,
  ...flowControlTests,
  ...errorTests,
  ...faultTests,
  ...lifecycleTests,
];

/**
 * The suite's version: ids and verdicts are stable within a major version; a
 * minor version adds tests or checks more of what a test's requirement
 * already said. 1.1: WS-5, SEC-2, SEC-6, SYNC-7, and the close codes of WS-3
 * and WS-4. 1.2: the referee (every frame of every test checked against the
 * rules that hold for any frame), page chains, acknowledgements of cursors
 * never sent, exact limits, optional request fields, what must not happen,
 * the membership life cycle, per-device state, error frames, and the
 * operator hooks (restart, shutdown, push webhook). 1.3: what the second
 * round of mutation testing found unchecked: resume and retention edges,
 * snapshot and page limits, partial window acknowledgements, staggered
 * silent connections, frames out of order before authentication, identifier
 * bounds in hello, epochs and mentions, member counts after a leave, requests
 * while draining, subprotocol lists with spaces. 1.5: what mutation testing
 * of the shared driving loop found unchecked: FLOW-3 (a peer that never reads
 * is not read and is closed by HB-3; one that reads again is read again),
 * FLOW-4 (RATE_LIMITED with retry_after_ms), and CONN-6 over a dribbled
 * HTTP upgrade. 1.6: large conversations: EXT-5 (features in force), CONV-10
 * (member pages), CUR-7 and CUR-8 (read fan-out and the move to it), SYNC-8
 * (summaries), LIM-9 (inline member lists), and LIM-4 reached in requests
 * LIM-9 allows. 1.7: message actions (protocol version 1.1, §8.1): ACT-1 to
 * ACT-7 where FEATURE_MESSAGE_ACTIONS is in force (unsupported elsewhere),
 * EXT-5 for a hello without it, and the referee and ledger taught
 * act_on_message's send_ack, action events and tombstones. 1.8: typing and
 * presence (protocol version 1.1, §15.1): EPH-1 to EPH-5 where
 * FEATURE_EPHEMERAL is in force (unsupported elsewhere), and the referee
 * taught the ephemeral notices (request_id 0, sent only where the feature is
 * in force) and presence_sharing's answer. 1.9: threads and history
 * visibility (protocol version 1.1, §8.2 and §7.1): THR-1 to THR-4 where
 * FEATURE_THREADS is in force (THR-4 with FEATURE_MESSAGE_ACTIONS too), HIS-1
 * to HIS-3 where FEATURE_HISTORY_VISIBILITY is (unsupported elsewhere); the
 * referee taught thread pages (the root and its replies, not consecutive),
 * thread read markers, set_history_visibility's answer and joined entries
 * whose interval opens before the ADDED event, and the ledger replies' roots.
 * 1.10: delete for me (protocol version 1.1, §8.3): HID-1 to HID-3 where
 * FEATURE_DELETE_FOR_ME is in force (unsupported elsewhere). 1.11:
 * per-member receipts (protocol version 1.1, §16.1): RCPT-2 to RCPT-5 where
 * FEATURE_RECEIPTS is in force (unsupported elsewhere), RCPT-3 recommended,
 * and the profile limit receiptMembers for groups above the receipt bound.
 */
export const SUITE_VERSION = "1.11.0";

/** Tests selected by --only and --skip: each a test id, an id prefix ("CONN-2/"), a requirement id or a group. */
export function select(tests: readonly ConformanceTest[], only: readonly string[], skip: readonly string[]): ConformanceTest[] {
  const matches = (test: ConformanceTest, pattern: string) =>
    test.id === pattern || test.id.startsWith(pattern) || test.group === pattern || test.requirements.includes(pattern);
  return tests.filter((t) => (only.length === 0 || only.some((p) => matches(t, p))) && !skip.some((p) => matches(t, p)));
}
