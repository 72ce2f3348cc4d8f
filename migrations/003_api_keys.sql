-- Workspace API keys for server-to-server calls. Only a keyed hash of a key is
-- stored (HMAC-SHA-256 under a key derived from secrets.system); display_id,
-- the key's prefix and first random characters, tells keys apart in lists.
CREATE TABLE api_keys (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    created_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    scopes       text[] NOT NULL CHECK (cardinality(scopes) >= 1),
    key_hash     bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    display_id   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    -- written in batches by the server, so it may lag real use by a minute
    last_used_at timestamptz
);
CREATE INDEX api_keys_workspace_idx ON api_keys (workspace_id);
-- Deleting a user sets created_by to NULL through this index.
CREATE INDEX api_keys_created_by_idx ON api_keys (created_by);
