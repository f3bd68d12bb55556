-- Chats form trees: root_chat_id is the top of the tree (itself for a root).
CREATE TABLE chats (
  id             uuid PRIMARY KEY,
  owner_id       uuid NOT NULL,
  workspace_id   uuid,
  parent_chat_id uuid REFERENCES chats (id) ON DELETE CASCADE,
  root_chat_id   uuid NOT NULL,
  title          text NOT NULL DEFAULT '',
  archived       boolean NOT NULL DEFAULT false,
  created_at     timestamptz NOT NULL,
  updated_at     timestamptz NOT NULL
);
CREATE INDEX chats_roots_by_owner ON chats (owner_id, archived, updated_at DESC, id DESC) WHERE parent_chat_id IS NULL;
CREATE INDEX chats_roots_by_recency ON chats (archived, updated_at DESC, id DESC) WHERE parent_chat_id IS NULL;
CREATE INDEX chats_by_root ON chats (root_chat_id);
CREATE INDEX chats_by_parent ON chats (parent_chat_id);
CREATE INDEX chats_by_workspace ON chats (workspace_id) WHERE workspace_id IS NOT NULL;

-- One row per tracked (chat, origin, branch).
CREATE TABLE diff_statuses (
  id                 bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  chat_id            uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
  git_remote_origin  text NOT NULL,
  git_branch         text NOT NULL,
  -- Copy of chats.archived, kept in step by the archive transactions, so the claim
  -- can use one partial index instead of joining and skipping archived rows.
  chat_archived      boolean NOT NULL DEFAULT false,
  provider_id        text,
  url                text,
  pull_request_state text CHECK (pull_request_state IN ('open', 'closed', 'merged')),
  pull_request_title text,
  pull_request_draft boolean,
  changes_requested  boolean,
  approved           boolean,
  reviewer_count     integer,
  additions          integer,
  deletions          integer,
  changed_files      integer,
  commits            integer,
  pr_number          integer,
  author_login       text,
  author_avatar_url  text,
  base_branch        text,
  head_branch        text,
  refreshed_at       timestamptz,
  stale_at           timestamptz NOT NULL,
  created_at         timestamptz NOT NULL,
  updated_at         timestamptz NOT NULL,
  last_error         text,
  last_error_at      timestamptz,
  error_count        integer NOT NULL DEFAULT 0,
  paused_until       timestamptz,
  PRIMARY KEY (chat_id, git_remote_origin, git_branch)
);
CREATE INDEX diff_statuses_due ON diff_statuses (stale_at) WHERE NOT chat_archived;
CREATE INDEX diff_statuses_by_chat ON diff_statuses (chat_id, updated_at DESC);
CREATE INDEX diff_statuses_by_repo_branch ON diff_statuses (git_remote_origin, git_branch);
CREATE INDEX diff_statuses_by_url ON diff_statuses (url) WHERE url IS NOT NULL;

-- Owners' code-host tokens; `secret` is "plain:<token>" or "aes256gcm:<base64 iv|tag|ciphertext>".
CREATE TABLE owner_tokens (
  owner_id    uuid NOT NULL,
  provider_id text NOT NULL,
  secret      text NOT NULL,
  created_at  timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL,
  PRIMARY KEY (owner_id, provider_id)
);
