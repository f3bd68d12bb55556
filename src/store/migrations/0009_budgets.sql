-- The owner's budget on each code host, shared by every replica (docs/operations.md, "The owner's
-- budget"). Tokens are named by their fingerprint (a hash), never stored here.
-- What the host last said of a token's budget, per budget scope ('' for a host's one budget), and
-- until when the host refuses it (a rate limit seen by any replica pauses them all).
CREATE TABLE token_budgets (
  provider_id text NOT NULL,
  token_fp text NOT NULL,
  scope text NOT NULL,
  budget_limit integer,
  remaining integer,
  reset_at timestamptz,
  observed_at timestamptz NOT NULL,
  paused_until timestamptz,
  PRIMARY KEY (provider_id, token_fp, scope)
);
-- What gitsync spent of it, per minute (all replicas add to the same row).
CREATE TABLE token_usage (
  provider_id text NOT NULL,
  token_fp text NOT NULL,
  scope text NOT NULL,
  minute timestamptz NOT NULL,
  units integer NOT NULL,
  PRIMARY KEY (provider_id, token_fp, scope, minute)
);
-- Owners who paused tracking on a provider: nothing is sent with their token until they resume.
CREATE TABLE owner_pauses (
  owner_id uuid NOT NULL,
  provider_id text NOT NULL,
  paused_at timestamptz NOT NULL,
  PRIMARY KEY (owner_id, provider_id)
);
