-- An app's public profile, shown on the consent screen and in the
-- authorized-apps list: its homepage, its privacy policy (https URLs) and a
-- one-line description. Empty when the developer did not give one.
ALTER TABLE oauth_apps
    ADD COLUMN homepage_url text NOT NULL DEFAULT '' CHECK (length(homepage_url) <= 2000),
    ADD COLUMN privacy_url  text NOT NULL DEFAULT '' CHECK (length(privacy_url) <= 2000),
    ADD COLUMN description  text NOT NULL DEFAULT '' CHECK (length(description) <= 1000);
