-- Short-lived single-use tickets that open one event stream (the dashboard's EventSource carries a
-- ticket, not the key, in its URL). Only the ticket's SHA-256 is stored; a deleted key's go with it.
CREATE TABLE stream_tickets (
  ticket_hash text PRIMARY KEY,
  key_id      uuid REFERENCES api_keys (id) ON DELETE CASCADE,
  admin       boolean NOT NULL,
  owner_id    uuid,
  scope       text NOT NULL,
  expires_at  timestamptz NOT NULL
);
CREATE INDEX stream_tickets_by_expiry ON stream_tickets (expires_at);
