-- Seeds a migrated database with expired rows for cleanup measurements:
-- :rows expired rows split over the token tables (about 40% access tokens,
-- 40% refresh tokens, 10% codes, 10% PKCE), expiry spread over the past day,
-- plus :live unexpired access tokens. Rows are about the size the server
-- writes (a ~600-byte session). Used by scripts/cleanup-experiment.sh.
--   psql -v rows=2000000 -v live=100000 -f scripts/cleanup-seed.sql DB
\set ON_ERROR_STOP on
INSERT INTO workspaces (id, name, plan)
VALUES ('00000000-0000-0000-0000-00000000c1ea', 'cleanup-seed', 'growth')
ON CONFLICT DO NOTHING;
INSERT INTO oauth_apps (client_id, name, redirect_uris, scopes, workspace_id, public)
VALUES ('cleanup-seed', 'cleanup seed', '{https://seed.example/cb}', '{openid}',
        '00000000-0000-0000-0000-00000000c1ea', true)
ON CONFLICT DO NOTHING;

CREATE TEMP VIEW seed_rows AS
SELECT g,
       md5('sig' || g) || md5('sig2' || g) AS signature,
       md5('req' || g) AS request_id,
       now() - interval '2 days' AS requested_at,
       'cleanup-seed'::text AS client_id,
       'subject-' || (g % 1000) AS subject,
       '{openid,profile}'::text[] AS scopes,
       '{https://api.example}'::text[] AS aud,
       'grant_type=refresh_token' AS form_data,
       convert_to(json_build_object('pad', repeat('x', 600))::text, 'UTF8') AS session_data
FROM generate_series(1, :rows) g;

INSERT INTO oauth_access_tokens (signature, request_id, requested_at, client_id, subject, scopes,
    granted_scopes, requested_audience, granted_audience, form_data, session_data, expires_at)
SELECT 'a' || signature, request_id, requested_at, client_id, subject, scopes, scopes, aud, aud,
       form_data, session_data, now() - interval '1 minute' - (g % 86400) * interval '1 second'
FROM seed_rows WHERE g % 10 < 4;

INSERT INTO oauth_refresh_tokens (signature, request_id, requested_at, client_id, subject, scopes,
    granted_scopes, requested_audience, granted_audience, form_data, session_data, expires_at, active)
SELECT 'r' || signature, request_id, requested_at, client_id, subject, scopes, scopes, aud, aud,
       form_data, session_data, now() - interval '1 minute' - (g % 86400) * interval '1 second', false
FROM seed_rows WHERE g % 10 BETWEEN 4 AND 7;

INSERT INTO oauth_codes (signature, request_id, requested_at, client_id, subject, scopes,
    granted_scopes, requested_audience, granted_audience, form_data, session_data, expires_at)
SELECT 'c' || signature, request_id, requested_at, client_id, subject, scopes, scopes, aud, aud,
       form_data, session_data, now() - interval '1 minute' - (g % 86400) * interval '1 second'
FROM seed_rows WHERE g % 10 = 8;

INSERT INTO oauth_pkce (signature, request_id, requested_at, client_id, subject, scopes,
    granted_scopes, requested_audience, granted_audience, form_data, session_data, expires_at)
SELECT 'p' || signature, request_id, requested_at, client_id, subject, scopes, scopes, aud, aud,
       form_data, session_data, now() - interval '1 minute' - (g % 86400) * interval '1 second'
FROM seed_rows WHERE g % 10 = 9;

INSERT INTO oauth_access_tokens (signature, request_id, requested_at, client_id, subject, scopes,
    granted_scopes, requested_audience, granted_audience, form_data, session_data, expires_at)
SELECT 'live' || md5('live' || g), md5('livereq' || g), now(), 'cleanup-seed', 's', '{openid}',
       '{openid}', '{}', '{}', '', '{}', now() + interval '1 hour'
FROM generate_series(1, :live) g;

VACUUM ANALYZE oauth_access_tokens, oauth_refresh_tokens, oauth_codes, oauth_pkce;
