-- API keys, stored as SHA-256 of the key (keys are 256-bit random, so a fast hash is enough).
-- owner_id NULL with admin = true is an admin key.
CREATE TABLE api_keys (
  id         uuid PRIMARY KEY,
  name       text NOT NULL,
  owner_id   uuid,
  admin      boolean NOT NULL DEFAULT false,
  key_hash   text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL,
  CHECK (admin OR owner_id IS NOT NULL)
);

-- Change events, kept for a bounded window so SSE clients can resume with Last-Event-ID on any replica.
CREATE TABLE events (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  owner_id   uuid NOT NULL,
  kind       text NOT NULL,
  payload    text NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE INDEX events_by_owner ON events (owner_id, id);
CREATE INDEX events_by_age ON events (created_at);

-- Webhook delivery ids already handled (code hosts retry deliveries).
CREATE TABLE webhook_deliveries (
  provider_id text NOT NULL,
  delivery_id text NOT NULL,
  received_at timestamptz NOT NULL,
  PRIMARY KEY (provider_id, delivery_id)
);
CREATE INDEX webhook_deliveries_by_age ON webhook_deliveries (received_at);
