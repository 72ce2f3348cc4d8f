-- OpenID Connect: who the user is (display name, verified e-mail), which
-- algorithm signs an app's ID tokens, an RSA signing key beside the EC one,
-- and the OpenID Connect request sessions fosite keeps between the
-- authorization response and the code exchange.

-- name: shown to apps granted the profile scope. Existing users get the part
-- of their e-mail before the @. email_verified: nobody has verified an
-- existing address, so it starts false.
ALTER TABLE users ADD COLUMN name text;
UPDATE users SET name = split_part(email, '@', 1);
UPDATE users SET name = email WHERE name = '';
ALTER TABLE users ALTER COLUMN name SET NOT NULL;
ALTER TABLE users ADD CONSTRAINT users_name_length CHECK (length(name) BETWEEN 1 AND 200);
ALTER TABLE users ADD COLUMN email_verified boolean NOT NULL DEFAULT false;

-- id_token_alg: RS256 (what OpenID Connect requires every client to accept)
-- unless the app chose ES256. Apps registered before get RS256.
ALTER TABLE oauth_apps ADD COLUMN id_token_alg text NOT NULL DEFAULT 'RS256'
    CHECK (id_token_alg IN ('RS256', 'ES256'));

-- One active key per algorithm (ES256 signs access tokens and ES256 ID
-- tokens, RS256 signs RS256 ID tokens), instead of one in all.
DROP INDEX signing_keys_one_active;
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (alg) WHERE retired_at IS NULL;

-- OpenID Connect request sessions, keyed by the SHA-256 (hex) of the
-- authorization code they belong to; the row goes when the code is
-- exchanged, and expires with the code otherwise.
CREATE TABLE oauth_oidc_sessions (LIKE oauth_codes INCLUDING ALL);
ALTER TABLE oauth_oidc_sessions ADD FOREIGN KEY (client_id) REFERENCES oauth_apps (client_id) ON DELETE CASCADE;
CREATE INDEX oauth_oidc_sessions_client_idx ON oauth_oidc_sessions (client_id);
