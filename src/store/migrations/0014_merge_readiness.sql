-- Whether the host says the merge waits for approvals (docs/api.md, "Merge readiness"): true,
-- false, or null where it cannot say. Readiness itself (`ready`, `blockers`) is computed when a
-- diff status is read, from this and the other PR fields.
ALTER TABLE diff_statuses ADD COLUMN awaiting_approval boolean;
