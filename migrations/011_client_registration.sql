-- Dynamic client registration (RFC 7591) and its management protocol (RFC 7592).

-- registration_tokens: initial access tokens. A workspace administrator makes
-- one (settings page or CLI) and gives it to a platform that registers apps
-- into the workspace by API. Only a keyed hash is stored (HMAC-SHA-256 under a
-- key derived from secrets.system), as for API keys; display_id, the token's
-- prefix and first random characters, tells tokens apart in lists.
CREATE TABLE registration_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    created_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_hash   bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    display_id   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz
);
CREATE INDEX registration_tokens_workspace_idx ON registration_tokens (workspace_id);
CREATE INDEX registration_tokens_created_by_idx ON registration_tokens (created_by);

-- An app registered by API has no owner when its initial access token has no
-- creator (made with the CLI) or registration is open; the workspace's
-- administrators manage it then. Existing apps keep their owners.
ALTER TABLE oauth_apps ALTER COLUMN owner_id DROP NOT NULL;

-- client_registrations: what an app registered by API needs beyond the app
-- itself. access_token_hash is the keyed hash of its registration access
-- token (RFC 7592), replaced on every update. The metadata columns keep what
-- the client registered that oauth_apps does not hold (one column per field),
-- to answer it back. Deleting the app deletes this row.
CREATE TABLE client_registrations (
    app_id                     uuid PRIMARY KEY REFERENCES oauth_apps (id) ON DELETE CASCADE,
    access_token_hash          bytea NOT NULL UNIQUE CHECK (length(access_token_hash) = 32),
    token_endpoint_auth_method text NOT NULL
        CHECK (token_endpoint_auth_method IN ('client_secret_basic', 'client_secret_post', 'none')),
    logo_uri                   text NOT NULL DEFAULT '' CHECK (length(logo_uri) <= 2000),
    registration_token_id      uuid REFERENCES registration_tokens (id) ON DELETE SET NULL,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX client_registrations_token_idx ON client_registrations (registration_token_id);
