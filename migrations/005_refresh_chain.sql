-- One live refresh chain per grant: at most one active refresh token per
-- request_id (storage.RotateRefreshToken supersedes the current token before
-- the new one is stored, in the same transaction).
--
-- Grants that an earlier grace-period rule left with several active refresh
-- tokens keep the one issued last; the others are superseded exactly as a
-- rotation supersedes them now: deactivated, without a grace period (their
-- later use is reuse), and the access tokens issued with them deleted.
WITH ranked AS (
    SELECT signature, access_token_signature,
           row_number() OVER (PARTITION BY request_id ORDER BY requested_at DESC, signature DESC) AS n
    FROM oauth_refresh_tokens
    WHERE active
), superseded AS (
    UPDATE oauth_refresh_tokens t SET active = false
    FROM ranked r
    WHERE t.signature = r.signature AND r.n > 1
    RETURNING r.access_token_signature
)
DELETE FROM oauth_access_tokens a
USING superseded s
WHERE s.access_token_signature <> '' AND a.signature = s.access_token_signature;

CREATE UNIQUE INDEX oauth_refresh_tokens_one_active_idx ON oauth_refresh_tokens (request_id) WHERE active;
