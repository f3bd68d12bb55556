/**
 * Statements over `token_budgets`, `token_usage`, `service_usage` and `owner_pauses`: what the
 * hosts say of each token's budget, what gitsync spent of it (and of the service token on each
 * owner's behalf), and owners who paused tracking (docs/operations.md, "The owner's budget").
 * Tokens appear only as fingerprints.
 */
import type { Tx } from '../database.ts';
import type { BudgetRecord, BudgetState, OwnerSpendState, OwnerUsageRecord, UsageRecord } from '../store.ts';

/**
 * The newest observation of each (provider, token, scope) wins, whichever replica made it; a
 * pause (`paused_until`) stands until a later one or its end, and an observation without one
 * keeps it. An observation made after the known reset time that names a later one opens a new
 * window: it began at that reset (`window_start`, where each owner's service spend is counted from).
 */
export const UPSERT_BUDGETS_SQL = `
  INSERT INTO token_budgets (provider_id, token_fp, scope, budget_limit, remaining, reset_at, observed_at, paused_until)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::int[], $6::timestamptz[], $7::timestamptz[], $8::timestamptz[])
  ON CONFLICT (provider_id, token_fp, scope) DO UPDATE SET
    budget_limit = CASE WHEN EXCLUDED.observed_at >= token_budgets.observed_at
      THEN COALESCE(EXCLUDED.budget_limit, token_budgets.budget_limit) ELSE token_budgets.budget_limit END,
    remaining = CASE WHEN EXCLUDED.observed_at >= token_budgets.observed_at
      THEN COALESCE(EXCLUDED.remaining, token_budgets.remaining) ELSE token_budgets.remaining END,
    reset_at = CASE WHEN EXCLUDED.observed_at >= token_budgets.observed_at
      THEN COALESCE(EXCLUDED.reset_at, token_budgets.reset_at) ELSE token_budgets.reset_at END,
    window_start = CASE WHEN EXCLUDED.observed_at >= token_budgets.reset_at
        AND EXCLUDED.reset_at > token_budgets.reset_at
      THEN token_budgets.reset_at ELSE token_budgets.window_start END,
    observed_at = GREATEST(EXCLUDED.observed_at, token_budgets.observed_at),
    paused_until = CASE
      WHEN EXCLUDED.paused_until IS NULL THEN token_budgets.paused_until
      WHEN token_budgets.paused_until IS NULL THEN EXCLUDED.paused_until
      ELSE GREATEST(EXCLUDED.paused_until, token_budgets.paused_until) END`;

export async function upsertBudgets(q: Tx, rows: readonly BudgetRecord[]): Promise<void> {
  if (rows.length === 0) return;
  await q.query(UPSERT_BUDGETS_SQL, [
    rows.map((r) => r.provider_id),
    rows.map((r) => r.token_fp),
    rows.map((r) => r.scope),
    rows.map((r) => r.limit),
    rows.map((r) => r.remaining),
    rows.map((r) => r.reset_at),
    rows.map((r) => r.observed_at),
    rows.map((r) => r.paused_until),
  ]);
}

/** Every replica adds its spend to the same minute's row. */
export const ADD_USAGE_SQL = `
  INSERT INTO token_usage (provider_id, token_fp, scope, minute, units)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::int[])
  ON CONFLICT (provider_id, token_fp, scope, minute) DO UPDATE SET units = token_usage.units + EXCLUDED.units`;

export async function addUsage(q: Tx, rows: readonly UsageRecord[]): Promise<void> {
  if (rows.length === 0) return;
  await q.query(ADD_USAGE_SQL, [
    rows.map((r) => r.provider_id),
    rows.map((r) => r.token_fp),
    rows.map((r) => r.scope),
    rows.map((r) => r.minute),
    rows.map((r) => r.units),
  ]);
}

/** The service token's spend on each owner's behalf: every replica adds to the same minute's row. */
export const ADD_OWNER_USAGE_SQL = `
  INSERT INTO service_usage (provider_id, token_fp, owner_id, scope, minute, units)
  SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[], $5::timestamptz[], $6::int[])
  ON CONFLICT (provider_id, token_fp, owner_id, scope, minute) DO UPDATE SET units = service_usage.units + EXCLUDED.units`;

export async function addOwnerUsage(q: Tx, rows: readonly OwnerUsageRecord[]): Promise<void> {
  if (rows.length === 0) return;
  await q.query(ADD_OWNER_USAGE_SQL, [
    rows.map((r) => r.provider_id),
    rows.map((r) => r.token_fp),
    rows.map((r) => r.owner_id),
    rows.map((r) => r.scope),
    rows.map((r) => r.minute),
    rows.map((r) => r.units),
  ]);
}

/** Usage older than this is no longer asked for (an hour is the longest window shown). */
export const PRUNE_USAGE_SQL = 'DELETE FROM token_usage WHERE minute < $1';
export const PRUNE_OWNER_USAGE_SQL = 'DELETE FROM service_usage WHERE minute < $1';

export async function pruneUsage(q: Tx, before: Date): Promise<number> {
  const owners = (await q.query(PRUNE_OWNER_USAGE_SQL, [before])).rowCount;
  return (await q.query(PRUNE_USAGE_SQL, [before])).rowCount + owners;
}

/**
 * What the service token spent on these owners' behalf, per (provider, token, owner, scope): since
 * the scope's window began (`window_start`; before one is known, the last hour, `$4`), in the last
 * hour, and in the five minutes before `$5`. A minute is counted in a window when it began at or
 * after the window's start, so a minute cut by a reset is left to the window before it.
 */
export const SELECT_OWNER_SPEND_SQL = `
  WITH wanted AS (SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[]) AS w(provider_id, token_fp, owner_id))
  SELECT u.provider_id, u.token_fp, u.owner_id, u.scope,
         sum(u.units) FILTER (WHERE u.minute >= coalesce(b.window_start, $4)) AS in_window,
         sum(u.units) FILTER (WHERE u.minute >= $4) AS hour,
         sum(u.units) FILTER (WHERE u.minute >= $5::timestamptz - interval '5 minutes') AS recent
  FROM service_usage u JOIN wanted w USING (provider_id, token_fp, owner_id)
  LEFT JOIN token_budgets b ON b.provider_id = u.provider_id AND b.token_fp = u.token_fp AND b.scope = u.scope
  WHERE u.minute >= least($4, coalesce(b.window_start, $4))
  GROUP BY u.provider_id, u.token_fp, u.owner_id, u.scope`;

export async function selectOwnerSpend(
  q: Tx,
  keys: readonly { provider_id: string; token_fp: string; owner_id: string }[],
  hourAgo: Date,
  now: Date,
): Promise<OwnerSpendState[]> {
  if (keys.length === 0) return [];
  const r = await q.query<Record<string, unknown>>(SELECT_OWNER_SPEND_SQL, [
    keys.map((k) => k.provider_id),
    keys.map((k) => k.token_fp),
    keys.map((k) => k.owner_id),
    hourAgo,
    now,
  ]);
  return r.rows.map((row) => ({
    provider_id: String(row.provider_id),
    token_fp: String(row.token_fp),
    owner_id: String(row.owner_id),
    scope: String(row.scope),
    used_in_window: Number(row.in_window ?? 0),
    used_last_hour: Number(row.hour ?? 0),
    used_recent: Number(row.recent ?? 0),
  }));
}

/**
 * The budgets of these tokens (every scope known), with gitsync's spend in the hour before `$4`
 * and in the five minutes before it; a scope with spend but no observation yet is listed too.
 */
export const SELECT_BUDGETS_SQL = `
  WITH wanted AS (SELECT * FROM unnest($1::text[], $2::text[]) AS w(provider_id, token_fp)),
  spent AS (
    SELECT u.provider_id, u.token_fp, u.scope,
           sum(u.units) FILTER (WHERE u.minute >= $3) AS hour,
           sum(u.units) FILTER (WHERE u.minute >= $4::timestamptz - interval '5 minutes') AS recent
    FROM token_usage u JOIN wanted w USING (provider_id, token_fp)
    WHERE u.minute >= $3
    GROUP BY u.provider_id, u.token_fp, u.scope)
  SELECT coalesce(b.provider_id, s.provider_id) AS provider_id, coalesce(b.token_fp, s.token_fp) AS token_fp,
         coalesce(b.scope, s.scope) AS scope, b.budget_limit, b.remaining, b.reset_at, b.observed_at,
         b.paused_until, b.window_start, coalesce(s.hour, 0) AS used_last_hour, coalesce(s.recent, 0) AS used_recent
  FROM (SELECT t.* FROM token_budgets t JOIN wanted w USING (provider_id, token_fp)) b
  FULL JOIN spent s ON s.provider_id = b.provider_id AND s.token_fp = b.token_fp AND s.scope = b.scope`;

export async function selectBudgets(
  q: Tx,
  keys: readonly { provider_id: string; token_fp: string }[],
  hourAgo: Date,
  now: Date,
): Promise<BudgetState[]> {
  if (keys.length === 0) return [];
  const r = await q.query<Record<string, unknown>>(SELECT_BUDGETS_SQL, [
    keys.map((k) => k.provider_id),
    keys.map((k) => k.token_fp),
    hourAgo,
    now,
  ]);
  return r.rows.map((row) => ({
    provider_id: String(row.provider_id),
    token_fp: String(row.token_fp),
    scope: String(row.scope),
    limit: row.budget_limit === null || row.budget_limit === undefined ? null : Number(row.budget_limit),
    remaining: row.remaining === null || row.remaining === undefined ? null : Number(row.remaining),
    reset_at: (row.reset_at as Date | null) ?? null,
    observed_at: (row.observed_at as Date | null) ?? null,
    paused_until: (row.paused_until as Date | null) ?? null,
    window_start: (row.window_start as Date | null) ?? null,
    used_last_hour: Number(row.used_last_hour),
    used_recent: Number(row.used_recent),
  }));
}

export const SET_PAUSE_SQL = `
  INSERT INTO owner_pauses (owner_id, provider_id, paused_at) VALUES ($1, $2, $3)
  ON CONFLICT (owner_id, provider_id) DO NOTHING`;
export const CLEAR_PAUSE_SQL = 'DELETE FROM owner_pauses WHERE owner_id = $1 AND provider_id = $2';

export async function setOwnerPause(
  q: Tx,
  owner: string,
  providerId: string,
  paused: boolean,
  now: Date,
): Promise<void> {
  if (paused) await q.query(SET_PAUSE_SQL, [owner, providerId, now]);
  else await q.query(CLEAR_PAUSE_SQL, [owner, providerId]);
}

export const SELECT_PAUSES_SQL = `
  SELECT p.owner_id, p.provider_id FROM owner_pauses p
  JOIN unnest($1::uuid[], $2::text[]) AS w(owner_id, provider_id)
    ON p.owner_id = w.owner_id AND p.provider_id = w.provider_id`;

export async function selectOwnerPauses(
  q: Tx,
  pairs: readonly { owner: string; provider: string }[],
): Promise<{ owner_id: string; provider_id: string }[]> {
  if (pairs.length === 0) return [];
  const r = await q.query<{ owner_id: string; provider_id: string }>(SELECT_PAUSES_SQL, [
    pairs.map((p) => p.owner),
    pairs.map((p) => p.provider),
  ]);
  return r.rows;
}
