-- Apps registered by API (RFC 7591) name the initial access token that
-- registered them as the actor of their app.created event: its id, never
-- the token.
ALTER TABLE audit_events DROP CONSTRAINT audit_events_actor_kind_check;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_actor_kind_check
    CHECK (actor_kind IN ('user', 'operator', 'client', 'system', 'registration_token'));

