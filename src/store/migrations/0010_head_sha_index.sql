-- Commit-status webhooks name a commit, not a branch: the refs whose PR head is that commit are
-- found by it (src/store/sql/refs.ts, MARK_DUE_SQL).
CREATE INDEX diff_statuses_by_head_sha ON diff_statuses (head_sha) WHERE head_sha IS NOT NULL;
