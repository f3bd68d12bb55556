-- What a reviewer and an agent need at a glance (docs/api.md, "Diff status"): the head commit and
-- its checks, mergeability, open review threads and comments. null where the host tells nothing.
ALTER TABLE diff_statuses ADD COLUMN head_sha text;
ALTER TABLE diff_statuses ADD COLUMN checks_state text;
ALTER TABLE diff_statuses ADD COLUMN checks jsonb;
ALTER TABLE diff_statuses ADD COLUMN merge_state text;
ALTER TABLE diff_statuses ADD COLUMN merge_state_reason text;
ALTER TABLE diff_statuses ADD COLUMN unresolved_threads integer;
ALTER TABLE diff_statuses ADD COLUMN comments integer;
-- The PRs a ref followed before its current one, newest first: [{"url", "pr_number", "pull_request_state"}].
ALTER TABLE diff_statuses ADD COLUMN previous_prs jsonb NOT NULL DEFAULT '[]';
