-- Resource servers (the Hub's APIs) authenticate to the introspection
-- endpoint with their own credentials. Only a keyed hash of the secret is kept.
CREATE TABLE resource_servers (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id   text NOT NULL UNIQUE,
    secret_hash bytea NOT NULL,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at  timestamptz NOT NULL DEFAULT now()
);
