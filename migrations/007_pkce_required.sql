-- PKCE for confidential clients too (RFC 9700 §2.1.1), and signing keys that
-- are published before they sign.

-- pkce_required: the authorization endpoint refuses a request without a
-- code_challenge (S256). Public clients always need PKCE, whatever this says.
-- New apps require it. Existing confidential apps keep working as they do:
-- nothing tells whether they send a code_challenge, and refusing them would
-- break their sign-in, so they start with pkce_required = false and an
-- administrator turns it on (apps update --pkce=required or the settings page)
-- once the app is known to use PKCE.
ALTER TABLE oauth_apps ADD COLUMN pkce_required boolean NOT NULL DEFAULT true;
UPDATE oauth_apps SET pkce_required = false WHERE NOT public;

-- activates_at: when a key starts signing. A rotated-in key is published in
-- the JWKS at once but signs only from activates_at, at least the JWKS cache
-- lifetime later, so that no verifier meets a kid it has not fetched. The key
-- it replaces gets retired_at = the new key's activates_at. Existing keys
-- have been signing since they were created.
ALTER TABLE signing_keys ADD COLUMN activates_at timestamptz;
UPDATE signing_keys SET activates_at = created_at;
ALTER TABLE signing_keys ALTER COLUMN activates_at SET DEFAULT now();
ALTER TABLE signing_keys ALTER COLUMN activates_at SET NOT NULL;
