-- Workspaces, users, OAuth apps, fosite token sessions, consent and signing keys.

CREATE TABLE workspaces (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    plan       text NOT NULL CHECK (plan IN ('starter', 'growth', 'scale')),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
    password_hash text NOT NULL,
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    role          text NOT NULL DEFAULT 'member' CHECK (role IN ('admin', 'member')),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_workspace_idx ON users (workspace_id);

-- Browser sign-in sessions. The cookie carries a random id; only its SHA-256 is stored.
CREATE TABLE login_sessions (
    id_hash    bytea PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX login_sessions_user_idx ON login_sessions (user_id);
CREATE INDEX login_sessions_expires_idx ON login_sessions (expires_at);

CREATE TABLE oauth_apps (
    id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id                 text NOT NULL UNIQUE,
    -- keyed hash (HMAC-SHA-256) of the client secret; NULL for public clients
    secret_hash               bytea,
    -- the previous secret's hash stays valid until rotated_secret_expires_at
    rotated_secret_hash       bytea,
    rotated_secret_expires_at timestamptz,
    name                      text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    redirect_uris             text[] NOT NULL CHECK (cardinality(redirect_uris) >= 1),
    scopes                    text[] NOT NULL,
    public                    boolean NOT NULL DEFAULT false,
    workspace_id              uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    owner_id                  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    CHECK (public OR secret_hash IS NOT NULL)
);
CREATE INDEX oauth_apps_workspace_idx ON oauth_apps (workspace_id);

-- Logos live apart from apps so that loading a client never reads image bytes.
CREATE TABLE oauth_app_logos (
    app_id       uuid PRIMARY KEY REFERENCES oauth_apps (id) ON DELETE CASCADE,
    content_type text NOT NULL,
    data         bytea NOT NULL,
    sha256       text NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- fosite request sessions. One shape for every kind; rows are keyed by the SHA-256
-- (hex) of the token signature, never by the token or the raw signature.
CREATE TABLE oauth_codes (
    signature          text PRIMARY KEY,
    request_id         text NOT NULL,
    requested_at       timestamptz NOT NULL,
    client_id          text NOT NULL REFERENCES oauth_apps (client_id) ON DELETE CASCADE,
    subject            text NOT NULL DEFAULT '',
    scopes             text[] NOT NULL,
    granted_scopes     text[] NOT NULL,
    requested_audience text[] NOT NULL,
    granted_audience   text[] NOT NULL,
    form_data          text NOT NULL,
    session_data       json NOT NULL,
    active             boolean NOT NULL DEFAULT true,
    expires_at         timestamptz NOT NULL
);
CREATE INDEX oauth_codes_request_idx ON oauth_codes (request_id);
CREATE INDEX oauth_codes_expires_idx ON oauth_codes (expires_at);

CREATE TABLE oauth_pkce (LIKE oauth_codes INCLUDING ALL);
ALTER TABLE oauth_pkce ADD FOREIGN KEY (client_id) REFERENCES oauth_apps (client_id) ON DELETE CASCADE;

CREATE TABLE oauth_access_tokens (LIKE oauth_codes INCLUDING ALL);
ALTER TABLE oauth_access_tokens ADD FOREIGN KEY (client_id) REFERENCES oauth_apps (client_id) ON DELETE CASCADE;
CREATE INDEX oauth_access_tokens_subject_idx ON oauth_access_tokens (subject, client_id);

CREATE TABLE oauth_refresh_tokens (LIKE oauth_codes INCLUDING ALL);
ALTER TABLE oauth_refresh_tokens ADD FOREIGN KEY (client_id) REFERENCES oauth_apps (client_id) ON DELETE CASCADE;
ALTER TABLE oauth_refresh_tokens
    ADD COLUMN access_token_signature text NOT NULL DEFAULT '',
    ADD COLUMN first_used_at timestamptz;
CREATE INDEX oauth_refresh_tokens_subject_idx ON oauth_refresh_tokens (subject, client_id);

-- A pending authorization waiting for the user's decision on the consent screen.
-- Single use, bound to the login session that saw it.
CREATE TABLE consent_challenges (
    id_hash          bytea PRIMARY KEY,
    login_session_id bytea NOT NULL REFERENCES login_sessions (id_hash) ON DELETE CASCADE,
    client_id        text NOT NULL REFERENCES oauth_apps (client_id) ON DELETE CASCADE,
    request_query    text NOT NULL,
    scopes           text[] NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL
);
CREATE INDEX consent_challenges_expires_idx ON consent_challenges (expires_at);

-- Remembered consent: a user granted these scopes to this app.
CREATE TABLE consent_grants (
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id    text NOT NULL REFERENCES oauth_apps (client_id) ON DELETE CASCADE,
    scopes       text[] NOT NULL,
    granted_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, client_id)
);

-- Asymmetric keys that sign access tokens. The private key is sealed with
-- AES-256-GCM under a key derived from secrets.system.
CREATE TABLE signing_keys (
    kid         text PRIMARY KEY,
    alg         text NOT NULL,
    private_enc bytea NOT NULL,
    public_jwk  jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- set when a newer key takes over; the key keeps verifying until every token
    -- it signed has expired
    retired_at  timestamptz
);

-- Foreign keys that deletes cascade through (app deletion, sign-out, cleanup).
CREATE INDEX oauth_codes_client_idx ON oauth_codes (client_id);
CREATE INDEX oauth_pkce_client_idx ON oauth_pkce (client_id);
CREATE INDEX oauth_access_tokens_client_idx ON oauth_access_tokens (client_id);
CREATE INDEX oauth_refresh_tokens_client_idx ON oauth_refresh_tokens (client_id);
CREATE INDEX consent_challenges_client_idx ON consent_challenges (client_id);
CREATE INDEX consent_challenges_session_idx ON consent_challenges (login_session_id);
CREATE INDEX consent_grants_client_idx ON consent_grants (client_id);
CREATE INDEX oauth_apps_owner_idx ON oauth_apps (owner_id);

-- At most one active signing key.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys ((true)) WHERE retired_at IS NULL;
