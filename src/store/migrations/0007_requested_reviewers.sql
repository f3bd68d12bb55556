-- Who was asked to review a PR and has not yet: [{"kind": "user" | "team", "name"}], null while no PR is known.
ALTER TABLE diff_statuses ADD COLUMN requested_reviewers jsonb;
