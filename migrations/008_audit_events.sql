-- The audit log: who did what, when and from where. Rows are only ever
-- inserted, by the application in the same transaction as the change they
-- record, and deleted by the cleanup once older than audit.retention.
--
-- No foreign keys: the trail outlives the workspaces, users, apps and keys it
-- names. Nothing here is a secret: no token, password, client secret, API key
-- or hash of one is ever written to these columns.
CREATE TABLE audit_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at  timestamptz NOT NULL DEFAULT now(),
    -- the workspace whose administrators see the event; NULL for none
    workspace_id uuid,
    actor_kind   text NOT NULL CHECK (actor_kind IN ('user', 'operator', 'client', 'system')),
    actor_id     text NOT NULL DEFAULT '' CHECK (length(actor_id) <= 200),
    action       text NOT NULL CHECK (action ~ '^[a-z_]+(\.[a-z_]+)?$'),
    target_kind  text NOT NULL DEFAULT '' CHECK (target_kind IN ('', 'user', 'app', 'api_key', 'signing_key')),
    target_id    text NOT NULL DEFAULT '' CHECK (length(target_id) <= 200),
    client_ip    inet,
    user_agent   text NOT NULL DEFAULT '' CHECK (length(user_agent) <= 512),
    details      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object'),
    -- user ids are UUIDs, so pages can join them to users
    CHECK (actor_kind <> 'user' OR actor_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'),
    CHECK (target_kind <> 'user' OR target_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')
);

-- The Security log page and `audit list`: a workspace's events newest first,
-- optionally of one action, or of one person (as actor or as target).
CREATE INDEX audit_events_workspace_time_idx ON audit_events (workspace_id, occurred_at DESC, id DESC);
CREATE INDEX audit_events_workspace_action_idx ON audit_events (workspace_id, action, occurred_at DESC, id DESC);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, occurred_at DESC, id DESC);
CREATE INDEX audit_events_target_idx ON audit_events (target_id, occurred_at DESC, id DESC);
-- Retention deletes the oldest rows.
CREATE INDEX audit_events_occurred_idx ON audit_events (occurred_at);

-- Append-only: an event, once written, is never changed.
CREATE FUNCTION audit_events_refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: rows cannot be updated'
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_update();
