-- Token fingerprints become HMACs under a deployment key (src/core/fingerprint.ts) instead of plain
-- SHA-256 hashes, which anyone could compute from a guessed token. Rows keyed by the old
-- fingerprints are dropped rather than converted (a hash cannot be turned into an HMAC without the
-- token): each host's next answer re-creates the budget rows, a rate limit still in force pauses
-- the token again at its next request, and spend starts counting afresh.
DELETE FROM token_budgets;
DELETE FROM token_usage;
DELETE FROM service_usage;
-- Where the key comes from when there is no encryption key to derive it from (PostgreSQL without
-- GITSYNC_ENCRYPTION_KEY): generated once, shared by every replica.
CREATE TABLE deployment_secrets (
  name text PRIMARY KEY,
  value bytea NOT NULL
);
