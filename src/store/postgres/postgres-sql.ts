/**
 * PostgresStore's statements, one round trip each. Where SqliteStore runs
 * several statements for one write (a user row beside its entry, a counter
 * beside the row that takes its value), they are one statement here with
 * data-modifying CTEs: a round trip to the database costs what a disk read
 * costs SQLite, and one statement is atomic on its own.
 *
 * Cursors come from the one cluster-wide row `counters.cursor` (CUR-7):
 * the transaction running these has locked it (PostgresStore's writer
 * lock), so `UPDATE … RETURNING` hands out the next cursor in commit order.
 */

/** The next cursor of the server-wide order, as a CTE named `next`. */
const NEXT_CURSOR = "next AS (UPDATE counters SET value = value + 1 WHERE name = 'cursor' RETURNING value)";
/** The user row, made if missing, as a CTE named `made` (the calls that bring a user into existence, as MemoryStore). */
const MADE_USER = "made AS (INSERT INTO users (user_id) VALUES ($1) ON CONFLICT DO NOTHING)";

/**
 * In a query over memberships m joined with conversations c: the position of
 * the newest published event the membership may see (its last visible one
 * for a former member), NULL when there is none.
 */
const VISIBLE_TOP = `CASE WHEN m.last_visible_seq = 0 THEN nullif(c.last_position, 0)
  ELSE (SELECT e.position FROM events e WHERE e.conversation_id = m.conversation_id AND e.seq <= m.last_visible_seq
        AND e.position IS NOT NULL ORDER BY e.seq DESC LIMIT 1) END`;

/** A conversation's row (c), as PostgresStore's ConversationRow. */
const CONVERSATION_COLUMNS = `c.conversation_id AS "conversationId", c.kind, c.title, c.owner_user_id AS "ownerUserId",
  c.read_fan_out_from AS "readFanOutFromSeq", c.last_seq AS "lastSeq", c.member_count AS "memberCount",
  c.history_visibility AS "historyVisibility", c.history_events AS "historyEvents"`;

const MEMBERSHIP_COLUMNS = `conversation_id AS "conversationId", user_id AS "userId", role,
  first_visible_seq AS "firstVisibleSeq", last_visible_seq AS "lastVisibleSeq"`;

/**
 * A user's stream after a cursor, stored entries and published events of its
 * read-fan-out conversations together (CUR-7), in ONE statement: one
 * snapshot, so that no entry committed by another node between two reads
 * can be missing from a page that holds later cursors. kind: 0 stored, 1
 * published, 2 a summary (SYNC-8). `published` picks, per conversation that
 * moved after the floor (the cursor, or the membership's start if later),
 * the events between the floor and the newest the user may see.
 */
function userEntries(published: string): string {
  return `WITH moved AS (
      SELECT m.conversation_id, greatest($2::bigint, m.since_position) AS floor, ${VISIBLE_TOP} AS top
      FROM memberships m JOIN conversations c USING (conversation_id)
      WHERE m.user_id = $1 AND m.read_fan_out AND c.last_position > greatest($2::bigint, m.since_position)
    )
    (SELECT 0 AS kind, cursor, field, conversation_id AS "conversationId", seq, body FROM user_entries
     WHERE user_id = $1 AND cursor > $2 ORDER BY cursor LIMIT $3)
    UNION ALL
    SELECT p.kind, p.position, NULL::integer, mv.conversation_id, p.seq, NULL::bytea FROM moved mv CROSS JOIN LATERAL (${published}) p`;
}
const PUBLISHED_AFTER = "e.conversation_id = mv.conversation_id AND e.position > mv.floor AND e.position <= mv.top";

export const SQL = {
  epoch: "SELECT value FROM meta WHERE key = 'epoch'",

  addUser: "INSERT INTO users (user_id) VALUES ($1) ON CONFLICT DO NOTHING",
  hasUser: "SELECT 1 FROM users WHERE user_id = $1",
  storedHead: "SELECT head_cursor AS head FROM users WHERE user_id = $1",
  // The newest of the stored entries' head and, per read-fan-out membership, its newest visible published event.
  headCursor: `SELECT greatest(coalesce((SELECT head_cursor FROM users WHERE user_id = $1), 0), coalesce(max(v.top), 0)) AS head FROM (
      SELECT ${VISIBLE_TOP} AS top, m.since_position AS since
      FROM memberships m JOIN conversations c USING (conversation_id) WHERE m.user_id = $1 AND m.read_fan_out
    ) v WHERE v.top > v.since`,
  storedEntriesAfter: "SELECT count(*) AS n FROM (SELECT 1 FROM user_entries WHERE user_id = $1 AND cursor > $2 LIMIT $3) s",
  userEntries: userEntries(`SELECT 1 AS kind, e.seq, e.position FROM events e WHERE ${PUBLISHED_AFTER} ORDER BY e.position LIMIT $3`),
  // SYNC-8: per conversation its newest event, a summary when there are several.
  summarizedUserEntries: userEntries(
    `SELECT CASE WHEN count(*) OVER () > 1 THEN 2 ELSE 1 END AS kind, n.seq, n.position
     FROM (SELECT e.seq, e.position FROM events e WHERE ${PUBLISHED_AFTER} ORDER BY e.position DESC LIMIT 2) n
     ORDER BY n.position DESC LIMIT 1`,
  ),
  appendUserEntry: `WITH ${NEXT_CURSOR},
      head AS (INSERT INTO users (user_id, head_cursor) SELECT $1, value FROM next
               ON CONFLICT (user_id) DO UPDATE SET head_cursor = excluded.head_cursor)
    INSERT INTO user_entries (user_id, cursor, field, conversation_id, seq, body) SELECT $1, value, $2, $3, $4, $5 FROM next
    RETURNING cursor`,

  insertConversation: `INSERT INTO conversations (conversation_id, kind, title, owner_user_id, read_fan_out_from)
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
  // Everything the Store reads of a conversation's row, in one read: conversation(), lastSeq(), memberCount(), historyVisibility().
  conversationRow: `SELECT ${CONVERSATION_COLUMNS} FROM conversations c WHERE c.conversation_id = $1`,
  conversationExists: "SELECT 1 FROM conversations WHERE conversation_id = $1",
  startReadFanOut: `WITH moved AS (
      UPDATE conversations SET read_fan_out_from = $2 WHERE conversation_id = $1 AND read_fan_out_from = 0 RETURNING conversation_id
    ) UPDATE memberships SET read_fan_out = true WHERE conversation_id IN (SELECT conversation_id FROM moved)`,
  publishEvent: `WITH ${NEXT_CURSOR},
      published AS (UPDATE events SET position = next.value FROM next WHERE conversation_id = $1 AND seq = $2),
      latest AS (UPDATE conversations SET last_position = next.value FROM next WHERE conversation_id = $1)
    SELECT value AS position FROM next`,
  // SEQ-1: the gapless counter, taken in the transaction that inserts the event.
  nextSeq: "UPDATE conversations SET last_seq = last_seq + 1 WHERE conversation_id = $1 RETURNING last_seq AS seq",
  directPair: `SELECT conversation_id AS "conversationId" FROM direct_pairs WHERE user_low = $1 AND user_high = $2`,
  setDirectPair: `INSERT INTO direct_pairs (user_low, user_high, conversation_id) VALUES ($1, $2, $3)
    ON CONFLICT (user_low, user_high) DO UPDATE SET conversation_id = excluded.conversation_id`,

  // What setMembership decides from, in one read: the conversation, the record it replaces, and the position now.
  membershipBefore: `SELECT c.kind, c.read_fan_out_from AS "readFanOutFrom", m.first_visible_seq AS "firstVisibleSeq",
      m.last_visible_seq AS "lastVisibleSeq", m.since_position AS since, (SELECT value FROM counters WHERE name = 'cursor') AS position
    FROM conversations c LEFT JOIN memberships m ON m.conversation_id = c.conversation_id AND m.user_id = $2
    WHERE c.conversation_id = $1`,
  // $8: the change in the current member count (CONV-9).
  upsertMembership: `WITH made AS (INSERT INTO users (user_id) VALUES ($2) ON CONFLICT DO NOTHING),
      counted AS (UPDATE conversations SET member_count = member_count + $8 WHERE conversation_id = $1 AND $8::bigint <> 0)
    INSERT INTO memberships (conversation_id, user_id, role, first_visible_seq, last_visible_seq, since_position, read_fan_out)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (conversation_id, user_id) DO UPDATE
    SET role = excluded.role, first_visible_seq = excluded.first_visible_seq, last_visible_seq = excluded.last_visible_seq,
      since_position = excluded.since_position, read_fan_out = excluded.read_fan_out`,
  membersPage: `SELECT ${MEMBERSHIP_COLUMNS} FROM memberships
    WHERE conversation_id = $1 AND user_id > $2 AND last_visible_seq = 0 ORDER BY user_id LIMIT $3`,
  membership: `SELECT ${MEMBERSHIP_COLUMNS} FROM memberships WHERE conversation_id = $1 AND user_id = $2`,
  members: `SELECT ${MEMBERSHIP_COLUMNS} FROM memberships WHERE conversation_id = $1 AND last_visible_seq = 0 ORDER BY id`,
  firstMembers: `SELECT user_id AS "userId" FROM memberships WHERE conversation_id = $1 ORDER BY id LIMIT 3`,
  membershipsOf: `SELECT ${MEMBERSHIP_COLUMNS} FROM memberships WHERE user_id = $1 ORDER BY id`,
  // The same, each with its conversation's row, the user's receive mode and read marker in it, and, if the user is
  // a current member and there are at most $2, the current members in join order (PostgresStore.membershipsOf).
  membershipViewsOf: `SELECT m.user_id AS "userId", m.role,
      m.first_visible_seq AS "firstVisibleSeq", m.last_visible_seq AS "lastVisibleSeq", ${CONVERSATION_COLUMNS},
      coalesce(rm.mode, 0) AS "receiveMode", coalesce(r.seq, 0) AS "readSeq",
      CASE WHEN m.last_visible_seq = 0 AND c.member_count <= $2 THEN (
        SELECT json_agg(json_build_object('conversationId', o.conversation_id, 'userId', o.user_id, 'role', o.role,
          'firstVisibleSeq', o.first_visible_seq, 'lastVisibleSeq', o.last_visible_seq) ORDER BY o.id)
        FROM memberships o WHERE o.conversation_id = m.conversation_id AND o.last_visible_seq = 0) END AS members
    FROM memberships m JOIN conversations c ON c.conversation_id = m.conversation_id
    LEFT JOIN receive_modes rm ON rm.user_id = m.user_id AND rm.conversation_id = m.conversation_id
    LEFT JOIN read_markers r ON r.user_id = m.user_id AND r.conversation_id = m.conversation_id AND r.marker = ''
    WHERE m.user_id = $1 ORDER BY m.id`,

  insertEvent: "INSERT INTO events (conversation_id, seq, event, edit_target, thread_root) VALUES ($1, $2, $3, $4, $5)",
  threadEvents: `SELECT event FROM events WHERE conversation_id = $1 AND (seq = $2 OR thread_root = $2) AND seq > $3 AND seq <= $4
    ORDER BY seq LIMIT $5`,
  events: "SELECT event FROM events WHERE conversation_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4",
  event: "SELECT event FROM events WHERE conversation_id = $1 AND seq = $2",
  redactedSeqs: "SELECT seq, event FROM events WHERE conversation_id = $1 AND (seq = $2 OR edit_target = $2) ORDER BY seq",
  replaceEvent: "UPDATE events SET event = $3, edit_target = NULL WHERE conversation_id = $1 AND seq = $2",

  hide: `WITH ${MADE_USER} INSERT INTO hidden_events (user_id, conversation_id, seq) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
  hiddenSeqs: "SELECT seq FROM hidden_events WHERE user_id = $1 AND conversation_id = $2 AND seq > $3 AND seq <= $4 ORDER BY seq",
  pushRegistrations: `SELECT device_id AS "deviceId", push_service AS "pushService", push_token AS "pushToken"
    FROM push_registrations WHERE user_id = $1 ORDER BY device_id`,
  setPushRegistration: `WITH ${MADE_USER} INSERT INTO push_registrations (user_id, device_id, push_service, push_token) VALUES ($1, $2, $3, $4)
    ON CONFLICT (user_id, device_id) DO UPDATE SET push_service = excluded.push_service, push_token = excluded.push_token`,
  setHistoryVisibility: "UPDATE conversations SET history_visibility = $2, history_events = $3 WHERE conversation_id = $1",
  presenceHidden: `SELECT presence_hidden AS hidden FROM users WHERE user_id = $1`,
  setPresenceHidden: `INSERT INTO users (user_id, presence_hidden) VALUES ($1, $2)
    ON CONFLICT (user_id) DO UPDATE SET presence_hidden = excluded.presence_hidden`,

  dedup: `SELECT conversation_id AS "conversationId", seq, message_id AS "messageId", server_time_ms AS "serverTimeMs"
    FROM dedup_keys WHERE scope = $1 AND user_id = $2 AND device_id = $3 AND key = $4`,
  // IDEM-2: the primary key is the dedup; the server never records a key twice, but a second record replaces, as a map would.
  recordDedup: `INSERT INTO dedup_keys (scope, user_id, device_id, key, conversation_id, seq, message_id, server_time_ms, created_at_ms)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
    ON CONFLICT (scope, user_id, device_id, key) DO UPDATE SET conversation_id = excluded.conversation_id, seq = excluded.seq,
      message_id = excluded.message_id, server_time_ms = excluded.server_time_ms, created_at_ms = excluded.created_at_ms`,
  forgetDedupBefore: `DELETE FROM dedup_keys WHERE (scope, user_id, device_id, key) IN (
      SELECT scope, user_id, device_id, key FROM dedup_keys WHERE server_time_ms < $1 ORDER BY server_time_ms LIMIT $2)`,

  receiveMode: "SELECT mode FROM receive_modes WHERE user_id = $1 AND conversation_id = $2",
  setReceiveMode: `WITH ${MADE_USER} INSERT INTO receive_modes (user_id, conversation_id, mode) VALUES ($1, $2, $3)
    ON CONFLICT (user_id, conversation_id) DO UPDATE SET mode = excluded.mode`,
  clearReceiveMode: `WITH ${MADE_USER} DELETE FROM receive_modes WHERE user_id = $1 AND conversation_id = $2`,
  readMarker: "SELECT seq FROM read_markers WHERE user_id = $1 AND conversation_id = $2 AND marker = $3",
  setReadMarker: `WITH ${MADE_USER} INSERT INTO read_markers (user_id, conversation_id, marker, seq) VALUES ($1, $2, $3, $4)
    ON CONFLICT (user_id, conversation_id, marker) DO UPDATE SET seq = excluded.seq`,
  // RCPT-4: one pass over the conversation's current members, their read marker and delivered position beside ($4: the delivered marker).
  receiptCounts: `SELECT count(*) AS eligible,
      count(*) FILTER (WHERE coalesce(r.seq, 0) >= $2 OR coalesce(d.seq, 0) >= $2) AS delivered,
      count(*) FILTER (WHERE coalesce(r.seq, 0) >= $2) AS read
    FROM memberships m
    LEFT JOIN read_markers r ON r.user_id = m.user_id AND r.conversation_id = m.conversation_id AND r.marker = ''
    LEFT JOIN read_markers d ON d.user_id = m.user_id AND d.conversation_id = m.conversation_id AND d.marker = $4
    WHERE m.conversation_id = $1 AND m.last_visible_seq = 0 AND m.user_id <> ALL ($3::text[]) AND m.first_visible_seq <= $5`,
} as const;
