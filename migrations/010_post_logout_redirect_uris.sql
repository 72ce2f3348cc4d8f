-- Post-logout redirect URIs (OpenID Connect RP-Initiated Logout 1.0): where
-- the end-session endpoint may send the browser after signing the user out,
-- matched exactly like redirect URIs. Existing apps get none, so a logout
-- request from them ends on the server's own signed-out page until they
-- register one.
ALTER TABLE oauth_apps
    ADD COLUMN post_logout_redirect_uris text[] NOT NULL DEFAULT '{}'
        CHECK (cardinality(post_logout_redirect_uris) <= 10);
