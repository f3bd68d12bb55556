/**
 * Statements over `diff_statuses`, one row per tracked (chat, origin, branch). Times are
 * parameters, never `now()` (docs/architecture.md, "Time").
 */
import type { DiffStatus, PrFields } from '../../core/types.ts';
import { PR_FIELD_NAMES } from '../../core/types.ts';
import type { Tx } from '../database.ts';
import {
  type ClaimedRef,
  DIFF_STATUS_FIELDS,
  diffStatusOf,
  type RefWrite,
  type StaleMatch,
} from '../store.ts';

type Row = Record<string, unknown>;

/** The columns read back for a public `DiffStatus`. */
const STATUS_COLUMNS = DIFF_STATUS_FIELDS.join(', ');
/** The same, of `d` in a join. */
const D_STATUS_COLUMNS = DIFF_STATUS_FIELDS.map((c) => `d.${c}`).join(', ');
/** What a claim or a "refresh now" read returns: the status plus what scheduling needs. */
const CLAIMED_COLUMNS = `d.id, ${D_STATUS_COLUMNS}, d.pr_changed_at, d.signal_at, c.owner_id`;

function toClaimed(row: Row, leaseUntil: Date | null): ClaimedRef {
  return {
    ...diffStatusOf(row),
    id: String(row.id),
    owner_id: String(row.owner_id),
    pr_changed_at: (row.pr_changed_at as Date | null) ?? null,
    signal_at: (row.signal_at as Date | null) ?? null,
    lease_until: leaseUntil,
  };
}

// ---- reports ---------------------------------------------------------------------------------

/**
 * Upserts a reported ref as due at `$5` with `updated_at = $6` (the primary ref). A new ref is
 * inserted only while the chat has fewer than `$7` refs and its owner fewer than `$8`; a known one
 * is always updated. No row comes back when the chat is missing or over a quota. The owner's count
 * walks `diff_statuses_due_by_owner`, and only for a ref not tracked yet.
 */
export const RECORD_REPORT_SQL = `
  INSERT INTO diff_statuses (chat_id, owner_id, git_remote_origin, git_branch, chat_archived, provider_id,
                             stale_at, created_at, updated_at)
  SELECT c.id, c.owner_id, $2, $3, c.archived, $4, $5, $6, $6 FROM chats c WHERE c.id = $1
    AND (EXISTS (SELECT 1 FROM diff_statuses WHERE chat_id = $1 AND git_remote_origin = $2 AND git_branch = $3)
         OR ((SELECT count(*) FROM diff_statuses WHERE chat_id = $1) < $7
             AND (SELECT count(*) FROM diff_statuses WHERE owner_id = c.owner_id) < $8))
  ON CONFLICT (chat_id, git_remote_origin, git_branch) DO UPDATE
    SET stale_at = EXCLUDED.stale_at, updated_at = EXCLUDED.updated_at, provider_id = EXCLUDED.provider_id
  RETURNING ${STATUS_COLUMNS}`;

export async function recordReport(
  q: Tx,
  report: { chat_id: string; origin: string; branch: string; provider_id: string | null },
  dueAt: Date,
  now: Date,
  maxRefs: { chat: number; owner: number },
): Promise<DiffStatus | undefined> {
  const r = await q.query(RECORD_REPORT_SQL, [
    report.chat_id,
    report.origin,
    report.branch,
    report.provider_id,
    dueAt,
    now,
    maxRefs.chat,
    maxRefs.owner,
  ]);
  return r.rows[0] ? diffStatusOf(r.rows[0]) : undefined;
}

/**
 * Serialises the reports of one chat's owner until the transaction ends, so that two new refs
 * cannot both pass `refs_per_owner` (or `refs_per_chat`). Nothing is locked for a missing chat.
 */
export const LOCK_OWNER_REFS_SQL = `
  SELECT pg_advisory_xact_lock(hashtextextended('refs of ' || owner_id::text, 0)) FROM chats WHERE id = $1`;

export async function lockOwnerRefs(q: Tx, chatId: string): Promise<void> {
  await q.query(LOCK_OWNER_REFS_SQL, [chatId]);
}

/** How many refs a chat and its owner track (which quota a refused report met). */
export const COUNT_REFS_SQL = `
  SELECT (SELECT count(*) FROM diff_statuses WHERE chat_id = $1) AS chat,
         (SELECT count(*) FROM diff_statuses d JOIN chats c ON c.owner_id = d.owner_id WHERE c.id = $1) AS owner`;

export async function countRefs(q: Tx, chatId: string): Promise<{ chat: number; owner: number }> {
  const row = (await q.query<{ chat: string; owner: string }>(COUNT_REFS_SQL, [chatId])).rows[0];
  return { chat: Number(row?.chat ?? 0), owner: Number(row?.owner ?? 0) };
}

// ---- claims and reads ------------------------------------------------------------------------

/**
 * How many rows a claim ranks for each it takes: a replica claiming at the same moment skips the
 * rows another holds (SKIP LOCKED), so it needs others to take. Four replicas claiming together
 * still each find a full claim.
 */
export const CLAIM_CANDIDATES_PER_ROW = 4;

/**
 * Up to this many owners with rows due, the claim finds them one index descent each and reads
 * only the rows it may take; past it, ranking every due row in one sort costs less than a descent
 * per owner (100,000 owners with one row due each: 1.2 s by descents, 0.3 s by the sort, on
 * PostgreSQL 15 — docs/benchmarks.md). Both ways take the same rows.
 */
export const CLAIM_DESCENT_OWNERS = 1000;

/**
 * The most rows of one owner a turn of the claim holds: a batch's worth (GitHub reads 49 PRs in one
 * GraphQL query), so that each owner's rows of a claim fill the batched reads of its token rather
 * than a few rows each — 100 owners in a claim of 1,000 were 10 rows each, and five times the
 * requests of one owner's path. A turn is `ceil(limit / owners)` rows rounded down to whole batches
 * when that is more (67 rows were a batch of 49 and one of 18), and this many at most a tenth of
 * the claim (`CLAIM_TURNS_AT_LEAST`): however stale one owner's rows, a claim of 50 still holds
 * ten turns.
 */
export const CLAIM_TURN_ROWS = 49;
export const CLAIM_TURNS_AT_LEAST = 10;

/**
 * One statement that shares the tick fairly between owners: every due row (no other worker holds)
 * has its rank among its owner's due rows, stalest first (`stale_at, id`); an owner's turns are
 * blocks of `turn` consecutive ranks, `turn` = `ceil($2 / owners)` rounded down to a multiple of
 * `CLAIM_TURN_ROWS`, or `CLAIM_TURN_ROWS` when that is more but at most a
 * `CLAIM_TURNS_AT_LEAST`th of the claim; and the claim takes the
 * first turn of every owner, then the second, and so on — within a turn whole blocks, the block
 * holding the stalest row first. So one owner's backlog of thousands delays another owner's few
 * rows by no more than one claim while the claim holds a turn of each owner, and otherwise the
 * owners whose rows waited longest go first; and each owner's rows of a claim come as a batch's
 * worth, not as one row per turn.
 *
 * The `$4` candidates are found without reading every due row (index `diff_statuses_due_by_owner`,
 * owner then `stale_at`):
 * - `owners`: the owners with rows due, each found by one descent from the previous one (a loose
 *   index scan), at most `CLAIM_DESCENT_OWNERS` + 1 of them.
 * - `first_turns`: each owner's first `share` rows, `share` = `$4` / owners (one owner: all `$4`)
 *   rounded up to whole turns. When they make `$4`, the best `$4` in turn order are among them:
 *   none has a turn past `share`.
 * - `first_turns`, filled: an owner whose due rows do not make whole batches (`CLAIM_TURN_ROWS`,
 *   or the turn when it is smaller) has its last one filled with its rows due by `$5` (60 rows due
 *   are claimed as 98, not as a batch of 49 and one of 11; no later than a few seconds from
 *   now, `Engine`'s `FILL_TTL_FRACTION`; none failing, and only rows on a wait of at least ten
 *   times that — a TTL, not the short retries of a PR the host is still computing or a branch
 *   waiting for its PR, which would otherwise be read several times as often): in a steady state each owner's rows come
 *   due a few at a time, and a claim every second or so found 10 rows of each of 100 owners due —
 *   a batch of 10 for each token. A row refreshed early is refreshed a little more often, never
 *   later.
 * - `later_turns`: only when some owners had fewer rows due than their share, the further rows of
 *   the owners that had a whole share due, as many as are still missing, the last batch filled
 *   as in `first_turns`.
 * - `all_turns`: only past `CLAIM_DESCENT_OWNERS` owners, every due row ranked in one sort.
 * The rows taken are locked (`FOR UPDATE SKIP LOCKED`, re-checked as still due by `$5`) and pushed a
 * lease ahead (`$3`); `updated_at` is untouched so the primary ref never changes by a claim. The
 * candidates are fetched again by id (`id = ANY`: without it the whole table was scanned to join
 * them), and the re-check is written so that no index serves it (with `stale_at <= $1` a planner
 * that expects few due rows walked the due index once per candidate — seconds with 100,000 due).
 * For the same reason the owners' reads say `chat_archived IS FALSE`, not `NOT chat_archived`:
 * the partial due index (`WHERE NOT chat_archived`) cannot serve them then, so statistics taken
 * while few rows were due (after a bulk report, an outage, or on the embedded database, which
 * never analyzes on its own) cannot send them down it once for each owner: 8.3 s for one claim
 * with 100,000 rows of 100 owners just come due, 0.23 s through the owner index.
 */
export const CLAIM_DUE_SQL = `
  WITH RECURSIVE owners AS (
    (SELECT owner_id, 1 AS n FROM diff_statuses
     WHERE chat_archived IS FALSE AND stale_at <= $1
     ORDER BY owner_id LIMIT 1)
    UNION ALL
    SELECT (SELECT d.owner_id FROM diff_statuses d
            WHERE d.owner_id > o.owner_id AND d.chat_archived IS FALSE AND d.stale_at <= $1
            ORDER BY d.owner_id LIMIT 1), o.n + 1
    FROM owners o WHERE o.owner_id IS NOT NULL AND o.n <= ${CLAIM_DESCENT_OWNERS}
  ), owners_count AS (
    SELECT count(owner_id) AS owners,
           greatest(${CLAIM_TURN_ROWS} * floor(ceil($2::float8 / greatest(count(owner_id), 1)) / ${CLAIM_TURN_ROWS}),
             least(${CLAIM_TURN_ROWS}, floor($2::float8 / ${CLAIM_TURNS_AT_LEAST})), 1)::int AS turn
    FROM owners
  ), owners_due AS (
    SELECT owners, turn, (turn * ceil(ceil($4::float8 / greatest(owners, 1)) / turn))::int AS share
    FROM owners_count
  ), first_reads AS (
    SELECT o.owner_id, r.id, r.stale_at, r.turn, r.due
    FROM owners_due s, owners o, LATERAL (
      SELECT id, stale_at, row_number() OVER (ORDER BY stale_at, id) AS turn,
             count(*) FILTER (WHERE stale_at <= $1) OVER () AS due FROM (
        SELECT d.id, d.stale_at FROM diff_statuses d
        WHERE d.owner_id = o.owner_id AND d.chat_archived IS FALSE AND d.stale_at <= $5
          AND (d.stale_at <= $1 OR (d.last_error IS NULL AND d.stale_at - d.refreshed_at >= ($5 - $1) * 10))
          AND d.git_remote_origin <> '' AND d.git_branch <> ''
        ORDER BY d.stale_at, d.id LIMIT s.share) x
    ) r
    WHERE s.owners <= ${CLAIM_DESCENT_OWNERS} AND o.owner_id IS NOT NULL
  ), first_turns AS (
    SELECT f.owner_id, f.id, f.stale_at, f.turn FROM owners_due s, first_reads f
    WHERE f.stale_at <= $1
       OR f.turn <= ceil(f.due::float8 / least(s.turn, ${CLAIM_TURN_ROWS})) * least(s.turn, ${CLAIM_TURN_ROWS})
  ), later_turns AS (
    SELECT f.owner_id, r.id, r.stale_at, s.share + r.turn AS turn
    FROM owners_due s, first_reads f, LATERAL (
      SELECT id, stale_at, row_number() OVER (ORDER BY stale_at, id) AS turn,
             count(*) FILTER (WHERE stale_at <= $1) OVER () AS due FROM (
        SELECT d.id, d.stale_at FROM diff_statuses d
        WHERE d.owner_id = f.owner_id AND d.chat_archived IS FALSE AND d.stale_at <= $5
          AND (d.stale_at <= $1 OR (d.last_error IS NULL AND d.stale_at - d.refreshed_at >= ($5 - $1) * 10))
          AND d.git_remote_origin <> '' AND d.git_branch <> ''
        ORDER BY d.stale_at, d.id OFFSET s.share LIMIT $4 - (SELECT count(*) FROM first_turns)) x
    ) r
    WHERE f.turn = s.share AND f.stale_at <= $1 AND (SELECT count(*) FROM first_turns) < $4
      AND (r.stale_at <= $1
        OR s.share + r.turn <= ceil((s.share + r.due)::float8 / least(s.turn, ${CLAIM_TURN_ROWS})) * least(s.turn, ${CLAIM_TURN_ROWS}))
  ), all_turns AS (
    SELECT owner_id, id, stale_at, row_number() OVER (PARTITION BY owner_id ORDER BY stale_at, id) AS turn
    FROM diff_statuses
    WHERE stale_at <= $1 AND NOT chat_archived AND git_remote_origin <> '' AND git_branch <> ''
      AND (SELECT owners FROM owners_due) > ${CLAIM_DESCENT_OWNERS}
  ), ranked AS (
    SELECT r.owner_id, r.id, r.stale_at, (r.turn - 1) / s.turn AS turn
    FROM owners_due s, (SELECT owner_id, id, turn, stale_at FROM first_turns
      UNION ALL SELECT owner_id, id, turn, stale_at FROM later_turns
      UNION ALL SELECT owner_id, id, turn, stale_at FROM all_turns) r
  ), candidates AS (
    SELECT id, turn, stale_at, first_value(stale_at) OVER w AS block_at, first_value(id) OVER w AS block_id
    FROM ranked WINDOW w AS (PARTITION BY owner_id, turn ORDER BY stale_at, id)
    ORDER BY turn, block_at, block_id, stale_at, id LIMIT $4
  ), due AS (
    SELECT d.id FROM diff_statuses d JOIN candidates w ON w.id = d.id
    WHERE d.id = ANY (ARRAY(SELECT id FROM candidates)) AND d.stale_at - $5 <= interval '0' AND NOT d.chat_archived
    ORDER BY w.turn, w.block_at, w.block_id, w.stale_at, w.id
    LIMIT $2
    FOR UPDATE OF d SKIP LOCKED
  )
  UPDATE diff_statuses d SET stale_at = $3
  FROM due, chats c
  WHERE d.id = due.id AND c.id = d.chat_id
  RETURNING ${CLAIMED_COLUMNS}`;

/** The claim before owners shared it: the stalest due rows whoever owns them (kept for the benchmark). */
export const CLAIM_STALEST_SQL = `
  WITH due AS (
    SELECT id FROM diff_statuses
    WHERE stale_at <= $1 AND NOT chat_archived AND git_remote_origin <> '' AND git_branch <> ''
    ORDER BY stale_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
  )
  UPDATE diff_statuses d SET stale_at = $3
  FROM due, chats c
  WHERE d.id = due.id AND c.id = d.chat_id
  RETURNING ${CLAIMED_COLUMNS}`;

/** `fillUntil`: see `CLAIM_DUE_SQL`'s filled turns (`$5`); by default nothing is claimed before it is due. */
export async function claimDueRefs(
  q: Tx,
  now: Date,
  limit: number,
  leaseUntil: Date,
  statement: 'fair' | 'stalest' = 'fair',
  fillUntil: Date = now,
): Promise<ClaimedRef[]> {
  const r =
    statement === 'fair'
      ? await q.query(CLAIM_DUE_SQL, [now, limit, leaseUntil, limit * CLAIM_CANDIDATES_PER_ROW, fillUntil])
      : await q.query(CLAIM_STALEST_SQL, [now, limit, leaseUntil]);
  return r.rows.map((row) => toClaimed(row, leaseUntil));
}

/** The chat's ref by origin and branch (each optional), primary first. */
export const SELECT_REF_SQL = `
  SELECT ${CLAIMED_COLUMNS} FROM diff_statuses d JOIN chats c ON c.id = d.chat_id
  WHERE d.chat_id = $1 AND ($2::text IS NULL OR d.git_remote_origin = $2) AND ($3::text IS NULL OR d.git_branch = $3)
  ORDER BY d.updated_at DESC, d.git_remote_origin, d.git_branch LIMIT 1`;

/** Read, not claimed: `lease_until` is null, and a write planned from it is unconditional. */
export async function selectRef(
  q: Tx,
  chatId: string,
  origin: string | null,
  branch: string | null,
): Promise<ClaimedRef | undefined> {
  const r = await q.query(SELECT_REF_SQL, [chatId, origin, branch]);
  return r.rows[0] ? toClaimed(r.rows[0], null) : undefined;
}

export const SELECT_REFS_OF_CHATS_SQL = `SELECT ${STATUS_COLUMNS} FROM diff_statuses WHERE chat_id = ANY($1::uuid[])`;

export async function selectRefsOfChats(q: Tx, chatIds: readonly string[]): Promise<DiffStatus[]> {
  return (await q.query(SELECT_REFS_OF_CHATS_SQL, [chatIds])).rows.map(diffStatusOf);
}

// ---- the refresh write -----------------------------------------------------------------------

/** Element types of the arrays the batched write unnests. */
type SqlArrayType = 'bigint' | 'int' | 'text' | 'boolean' | 'timestamptz';

/**
 * The SQL type of each PR field. A `Record` over `PrFields`, so a field added there is a compile
 * error here until it has its entry (and then the write carries it). A `jsonb` value travels as
 * its JSON text in a `text[]` and is cast in the SET, so `pg` and PGlite send the same plain text
 * arrays and neither's own handling of JS values in a `jsonb[]` parameter is relied on; both
 * read `jsonb` back parsed (test/store.test.ts checks the round trip on each).
 */
const PR_COLUMN_TYPES: Record<keyof PrFields, SqlArrayType | 'jsonb'> = {
  url: 'text',
  pull_request_state: 'text',
  pull_request_title: 'text',
  pull_request_draft: 'boolean',
  changes_requested: 'boolean',
  approved: 'boolean',
  reviewer_count: 'int',
  additions: 'int',
  deletions: 'int',
  changed_files: 'int',
  commits: 'int',
  pr_number: 'int',
  author_login: 'text',
  author_avatar_url: 'text',
  base_branch: 'text',
  head_branch: 'text',
  requested_reviewers: 'jsonb',
  head_sha: 'text',
  checks_state: 'text',
  checks: 'jsonb',
  merge_state: 'text',
  merge_state_reason: 'text',
  awaiting_approval: 'boolean',
  unresolved_threads: 'int',
  comments: 'int',
};

interface WriteColumn {
  /** The column (and the name of its unnested value `v.<name>`). */
  name: string;
  type: SqlArrayType;
  read: (w: RefWrite) => unknown;
  /** The SET expression; default `v.<name>`; `null`: read only, not assigned (keys, conditions). */
  set?: string | null;
}

/** Every value a refresh write carries, in one place: the statement and its parameters follow from it. */
const WRITE_COLUMNS: readonly WriteColumn[] = [
  { name: 'id', type: 'bigint', read: (w) => w.id, set: null },
  { name: 'lease_until', type: 'timestamptz', read: (w) => w.lease_until, set: null },
  ...PR_FIELD_NAMES.map((f): WriteColumn => {
    const type = PR_COLUMN_TYPES[f];
    if (type !== 'jsonb') return { name: f, type, read: (w) => w.pr[f] };
    return {
      name: f,
      type: 'text',
      read: (w) => (w.pr[f] === null ? null : JSON.stringify(w.pr[f])),
      set: `v.${f}::jsonb`,
    };
  }),
  { name: 'provider_id', type: 'text', read: (w) => w.provider_id },
  { name: 'refreshed_at', type: 'timestamptz', read: (w) => w.refreshed_at },
  { name: 'last_error', type: 'text', read: (w) => w.last_error },
  { name: 'last_error_at', type: 'timestamptz', read: (w) => w.last_error_at },
  { name: 'error_count', type: 'int', read: (w) => w.error_count },
  { name: 'paused_until', type: 'timestamptz', read: (w) => w.paused_until },
  { name: 'pr_changed_at', type: 'timestamptz', read: (w) => w.pr_changed_at },
  {
    name: 'previous_prs',
    type: 'text',
    read: (w) => JSON.stringify(w.previous_prs),
    set: 'v.previous_prs::jsonb',
  },
  {
    // The signal this refresh answered (RefWrite.signal_at): cleared unless a later one came meanwhile.
    name: 'signal_at',
    type: 'timestamptz',
    read: (w) => w.signal_at ?? null,
    set: 'CASE WHEN v.signal_at IS NOT NULL AND d.signal_at <= v.signal_at THEN NULL ELSE d.signal_at END',
  },
  {
    name: 'stale_at',
    type: 'timestamptz',
    read: (w) => w.stale_at,
    // A claimed row still holds its lease unless a report made it due now during the refresh:
    // then the report's "check now" stands (see RefWrite.lease_until).
    set: 'CASE WHEN v.lease_until IS NULL OR d.stale_at = v.lease_until THEN v.stale_at ELSE d.stale_at END',
  },
];

/** Every row of a batch in one statement: `UPDATE … FROM unnest(…)`, one array per column. */
export const WRITE_REFRESHES_SQL = `
  UPDATE diff_statuses d SET
    ${WRITE_COLUMNS.filter((c) => c.set !== null)
      .map((c) => `${c.name} = ${c.set ?? `v.${c.name}`}`)
      .join(',\n    ')}
  FROM unnest(${WRITE_COLUMNS.map((c, i) => `$${i + 1}::${c.type}[]`).join(', ')})
    AS v(${WRITE_COLUMNS.map((c) => c.name).join(', ')})
  WHERE d.id = v.id
  RETURNING d.id, ${D_STATUS_COLUMNS}`;

/** Writes the rows; returns those written (a row deleted meanwhile is not), as they now are. */
export async function writeRefreshes(
  q: Tx,
  writes: readonly RefWrite[],
): Promise<{ id: string; status: DiffStatus }[]> {
  const r = await q.query(
    WRITE_REFRESHES_SQL,
    WRITE_COLUMNS.map((c) => writes.map(c.read)),
  );
  return r.rows.map((row) => ({ id: String(row.id), status: diffStatusOf(row) }));
}

// ---- due marks and counts --------------------------------------------------------------------

/**
 * Marks due at `$4` the tracked refs of a repository branch (origin without case), of a PR URL,
 * or whose stored head commit is `$5` (index `diff_statuses_by_head_sha`), and signalled: their
 * next refresh reads the host with nothing kept standing in (`signal_at`). A ref already due keeps
 * its place in the queue but is signalled all the same, and a later signal replaces an earlier
 * one (a refresh under way — "refresh now" — answers only the signal it saw).
 */
export const MARK_DUE_SQL = `
  UPDATE diff_statuses SET stale_at = LEAST(stale_at, $4), signal_at = GREATEST(signal_at, $4)
  WHERE NOT chat_archived AND (stale_at > $4 OR signal_at IS NULL OR signal_at < $4)
    AND ((lower(git_remote_origin) = lower($1) AND git_branch = $2) OR ($3::text IS NOT NULL AND url = $3)
      OR ($5::text IS NOT NULL AND head_sha = $5))
  RETURNING ${STATUS_COLUMNS}`;

export async function markRefsDue(q: Tx, match: StaleMatch, now: Date): Promise<DiffStatus[]> {
  const r = await q.query(MARK_DUE_SQL, [
    match.origin,
    match.branch ?? null,
    match.url ?? null,
    now,
    match.head_sha ?? null,
  ]);
  return r.rows.map(diffStatusOf);
}

/**
 * A webhook delivery's matches, marked due at `$6` in one statement (one UPDATE per match held the
 * embedded database for seconds on a push of thousands of branches): each form of match is one
 * join on its own index — branch (`diff_statuses_by_repo_branch_ci`), PR URL (`diff_statuses_by_url`),
 * head commit (`diff_statuses_by_head_sha`) — and only refs of the provider `$1` the delivery came
 * to are marked: a delivery to one provider says nothing of another's refs. Each is signalled as
 * `MARK_DUE_SQL` says.
 */
export const MARK_DELIVERY_DUE_SQL = `
  UPDATE diff_statuses d SET stale_at = LEAST(d.stale_at, $6), signal_at = GREATEST(d.signal_at, $6)
  FROM (
    SELECT r.id FROM diff_statuses r
      JOIN unnest($2::text[], $3::text[]) AS b(origin, branch)
        ON lower(r.git_remote_origin) = lower(b.origin) AND r.git_branch = b.branch
    UNION SELECT r.id FROM diff_statuses r JOIN unnest($4::text[]) AS u(url) ON r.url = u.url
    UNION SELECT r.id FROM diff_statuses r JOIN unnest($5::text[]) AS h(sha) ON r.head_sha = h.sha
  ) hit
  WHERE d.id = hit.id AND d.provider_id = $1 AND NOT d.chat_archived
    AND (d.stale_at > $6 OR d.signal_at IS NULL OR d.signal_at < $6)
  RETURNING ${D_STATUS_COLUMNS}`;

export async function markDeliveryRefsDue(
  q: Tx,
  providerId: string,
  matches: readonly StaleMatch[],
  now: Date,
): Promise<DiffStatus[]> {
  if (matches.length === 0) return [];
  const branches = matches.filter((m) => m.branch !== undefined && m.origin !== '');
  const r = await q.query(MARK_DELIVERY_DUE_SQL, [
    providerId,
    branches.map((m) => m.origin),
    branches.map((m) => m.branch),
    matches.flatMap((m) => (m.url === undefined ? [] : [m.url])),
    matches.flatMap((m) => (m.head_sha === undefined ? [] : [m.head_sha])),
    now,
  ]);
  return r.rows.map(diffStatusOf);
}

/** Marks due at `$3` an owner's tracked refs on one provider (a token linked, tracking resumed). */
export const MARK_OWNER_DUE_SQL = `
  UPDATE diff_statuses d SET stale_at = $3
  FROM chats c
  WHERE c.id = d.chat_id AND c.owner_id = $1 AND d.provider_id = $2 AND NOT d.chat_archived AND d.stale_at > $3`;

export async function markOwnerRefsDue(q: Tx, owner: string, providerId: string, now: Date): Promise<number> {
  return (await q.query(MARK_OWNER_DUE_SQL, [owner, providerId, now])).rowCount;
}

export const COUNT_DUE_SQL = `
  SELECT count(*) AS due, count(*) FILTER (WHERE stale_at < $2) AS overdue
  FROM diff_statuses WHERE stale_at <= $1 AND NOT chat_archived`;

export async function countDueRefs(
  q: Tx,
  now: Date,
  overdueBefore: Date,
): Promise<{ due: number; overdue: number }> {
  const r = await q.query<{ due: string; overdue: string }>(COUNT_DUE_SQL, [now, overdueBefore]);
  return { due: Number(r.rows[0]?.due ?? 0), overdue: Number(r.rows[0]?.overdue ?? 0) };
}

/** Copies a chat subtree's archived state onto its refs, so the claim walks one partial index. */
export const SET_SUBTREE_REFS_ARCHIVED_SQL = `
  WITH RECURSIVE subtree AS (
    SELECT id FROM chats WHERE id = $1
    UNION ALL SELECT c.id FROM chats c JOIN subtree s ON c.parent_chat_id = s.id)
  UPDATE diff_statuses SET chat_archived = $2
  WHERE chat_id IN (SELECT id FROM subtree) AND chat_archived <> $2`;

export async function setSubtreeRefsArchived(q: Tx, chatId: string, archived: boolean): Promise<void> {
  await q.query(SET_SUBTREE_REFS_ARCHIVED_SQL, [chatId, archived]);
}

// ---- stored origins --------------------------------------------------------------------------

export const DISTINCT_ORIGINS_SQL = `
  SELECT DISTINCT git_remote_origin AS origin, provider_id FROM diff_statuses`;

export async function distinctOrigins(q: Tx): Promise<{ origin: string; provider_id: string | null }[]> {
  return (await q.query<{ origin: string; provider_id: string | null }>(DISTINCT_ORIGINS_SQL)).rows;
}

/**
 * Moves every ref of origin `$1` to origin `$2` and provider `$3`, due at `$4`; where the chat
 * already tracks the branch under the new origin, that row stands and the old one goes.
 */
export const DROP_SHADOWED_ORIGIN_SQL = `
  DELETE FROM diff_statuses old USING diff_statuses cur
  WHERE old.git_remote_origin = $1 AND cur.git_remote_origin = $2
    AND cur.chat_id = old.chat_id AND cur.git_branch = old.git_branch`;
export const RENAME_ORIGIN_SQL = `
  UPDATE diff_statuses SET git_remote_origin = $2, provider_id = $3, stale_at = LEAST(stale_at, $4)
  WHERE git_remote_origin = $1`;

export async function renameOrigin(
  q: Tx,
  from: string,
  to: string,
  providerId: string | null,
  now: Date,
): Promise<number> {
  if (from !== to) await q.query(DROP_SHADOWED_ORIGIN_SQL, [from, to]);
  return (await q.query(RENAME_ORIGIN_SQL, [from, to, providerId, now])).rowCount;
}
