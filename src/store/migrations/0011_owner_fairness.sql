-- Owners cannot hurt each other (docs/operations.md, "Owners share fairly").
-- Each ref carries its chat's owner (a chat never changes owner): the claim shares every tick
-- between the owners that have rows due, and `refs_per_owner` is one index count.
ALTER TABLE diff_statuses ADD COLUMN owner_id uuid;
UPDATE diff_statuses d SET owner_id = c.owner_id FROM chats c WHERE c.id = d.chat_id;
-- A row inserted without it (a bulk load) takes its chat's.
CREATE FUNCTION diff_statuses_owner_of_chat() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  SELECT owner_id INTO NEW.owner_id FROM chats WHERE id = NEW.chat_id;
  RETURN NEW;
END $$;
CREATE TRIGGER diff_statuses_owner BEFORE INSERT ON diff_statuses
  FOR EACH ROW WHEN (NEW.owner_id IS NULL) EXECUTE FUNCTION diff_statuses_owner_of_chat();
ALTER TABLE diff_statuses ALTER COLUMN owner_id SET NOT NULL;
CREATE INDEX diff_statuses_by_owner ON diff_statuses (owner_id);

-- What the service token spent on each owner's behalf, per minute (all replicas add to the same
-- row): each owner may use at most `service_per_owner` of its budget per window.
CREATE TABLE service_usage (
  provider_id text NOT NULL,
  token_fp text NOT NULL,
  scope text NOT NULL,
  owner_id uuid NOT NULL,
  minute timestamptz NOT NULL,
  units integer NOT NULL,
  PRIMARY KEY (provider_id, token_fp, owner_id, scope, minute)
);
CREATE INDEX service_usage_by_minute ON service_usage (minute);
-- When the budget's current window began: the reset time the host gave before, once an answer
-- after it gave a later one (null: not seen yet; the last hour stands in).
ALTER TABLE token_budgets ADD COLUMN window_start timestamptz;
