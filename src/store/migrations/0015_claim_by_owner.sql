-- The claim finds the owners with rows due and takes each one's stalest rows by walking this index
-- (src/store/sql/refs.ts, CLAIM_DUE_SQL) instead of ranking every due row: its cost follows the
-- claim, not the backlog. It replaces `diff_statuses_by_owner`, whose work it also does (an
-- owner's count for `refs_per_owner` reads its leading column), so a refresh, which moves
-- `stale_at` and so writes every index of the row, writes no more index entries than before.
-- `chat_archived` comes second, not as a partial predicate, for that count (archived refs count).
CREATE INDEX diff_statuses_due_by_owner ON diff_statuses (owner_id, chat_archived, stale_at, id);
DROP INDEX diff_statuses_by_owner;
