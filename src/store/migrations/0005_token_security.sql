-- Generated admin keys are marked, and at most one may exist: replicas starting together on an
-- empty database all try to insert one, and only the one whose insert lands shows its key.
ALTER TABLE api_keys ADD COLUMN generated boolean NOT NULL DEFAULT false;
-- Until now every stored admin key was a generated one; the oldest becomes "the" generated key and
-- any others from an earlier race stay valid (revoked by setting GITSYNC_ADMIN_TOKEN).
UPDATE api_keys SET generated = true
 WHERE id = (SELECT id FROM api_keys WHERE admin ORDER BY created_at, id LIMIT 1);
CREATE UNIQUE INDEX api_keys_one_generated_admin ON api_keys ((true)) WHERE generated;
