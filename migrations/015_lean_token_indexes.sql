-- Every index of a token table is written by every issuance, and at tens of
-- millions of rows each one keyed by random values costs a page that is
-- rarely in memory. The token tables keep only the indexes a statement uses:
--
--   signature (primary key)   every lookup and conditional write;
--   request_id                revoking a grant, rotating a refresh token;
--   expires_at                cleanup;
--   (client_id, subject)      revoking a user's grant of an app, and deleting
--                             an app (client_id alone is its leading column).
--
-- Dropped: the (subject, client_id) and (client_id) pairs that the one
-- (client_id, subject) index replaces, and two duplicates: migration 013's
-- request_id index on access tokens (LIKE ... INCLUDING ALL had already
-- copied oauth_codes' one) and the second client_id index of OIDC sessions.
--
-- Building an index blocks writes to its table until it is built (about
-- 25 s for 13.6 million access tokens, 10 s for 6 million refresh tokens,
-- measured on the benchmark machine). On a large deployment, build the two
-- new indexes beforehand, without blocking, and this migration finds them:
--   CREATE INDEX CONCURRENTLY IF NOT EXISTS oauth_access_tokens_client_subject_idx
--       ON oauth_access_tokens (client_id, subject);
--   CREATE INDEX CONCURRENTLY IF NOT EXISTS oauth_refresh_tokens_client_subject_idx
--       ON oauth_refresh_tokens (client_id, subject);
CREATE INDEX IF NOT EXISTS oauth_access_tokens_client_subject_idx ON oauth_access_tokens (client_id, subject);
DROP INDEX IF EXISTS oauth_access_tokens_subject_idx;
DROP INDEX IF EXISTS oauth_access_tokens_client_idx;
DROP INDEX IF EXISTS oauth_access_tokens_request_idx;

CREATE INDEX IF NOT EXISTS oauth_refresh_tokens_client_subject_idx ON oauth_refresh_tokens (client_id, subject);
DROP INDEX IF EXISTS oauth_refresh_tokens_subject_idx;
DROP INDEX IF EXISTS oauth_refresh_tokens_client_idx;

DROP INDEX IF EXISTS oauth_oidc_sessions_client_idx;
