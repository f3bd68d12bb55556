-- Key scopes: an admin key may do everything, an owner key acts for its owner, a report key may
-- only post ref reports for its owner's chats (safe to leave in a checkout's git config).
ALTER TABLE api_keys ADD COLUMN scope text NOT NULL DEFAULT 'owner';
UPDATE api_keys SET scope = 'admin' WHERE admin;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_scope
  CHECK (scope IN ('admin', 'owner', 'report') AND (scope = 'admin') = admin);

-- Owner quotas count chats by owner.
CREATE INDEX chats_by_owner ON chats (owner_id);
