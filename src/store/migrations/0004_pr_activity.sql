-- When a ref's PR last changed visibly (internal): open PRs quiet for long are checked less often.
ALTER TABLE diff_statuses ADD COLUMN pr_changed_at timestamptz;
