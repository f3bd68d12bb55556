-- Code hosts such as GitHub treat owner and repository names case-insensitively, and their
-- webhooks spell them canonically: match webhook deliveries to tracked refs without case.
CREATE INDEX diff_statuses_by_repo_branch_ci ON diff_statuses (lower(git_remote_origin), git_branch);
