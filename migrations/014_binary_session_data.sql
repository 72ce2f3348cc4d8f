-- The session stored with every code and token (session_data) becomes bytes:
-- the server now writes sessions in a compact binary format, which is not
-- JSON. Existing rows keep their JSON text, as UTF-8 bytes; the server reads
-- both kinds, told apart by the first byte (see storage/session_codec.go).
-- Nothing reads session_data in SQL.
ALTER TABLE oauth_codes
    ALTER COLUMN session_data TYPE bytea USING convert_to(session_data::text, 'UTF8');
ALTER TABLE oauth_pkce
    ALTER COLUMN session_data TYPE bytea USING convert_to(session_data::text, 'UTF8');
ALTER TABLE oauth_access_tokens
    ALTER COLUMN session_data TYPE bytea USING convert_to(session_data::text, 'UTF8');
ALTER TABLE oauth_refresh_tokens
    ALTER COLUMN session_data TYPE bytea USING convert_to(session_data::text, 'UTF8');
ALTER TABLE oauth_oidc_sessions
    ALTER COLUMN session_data TYPE bytea USING convert_to(session_data::text, 'UTF8');
