-- Sign-in throttling: one counter per key, counted atomically by a single
-- upsert (storage.CountLoginAttempt). Keys name what is counted:
-- 'ip:<address>', 'acct:<sha256 hex of the lower-case e-mail>' and
-- 'acctip:<sha256 hex>|<address>', so the table holds no e-mail address in
-- clear. A row whose window has passed and whose lock has ended means nothing
-- any more (the next attempt starts afresh); DeleteExpired removes such rows.
CREATE TABLE login_throttle (
    key          text PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 200),
    -- attempts counted since window_start, refused ones included
    attempts     int NOT NULL CHECK (attempts >= 1),
    window_start timestamptz NOT NULL,
    -- attempts are refused until then; NULL when the key is not locked
    locked_until timestamptz
);
-- The cleanup sweep finds old windows through this index.
CREATE INDEX login_throttle_window_start_idx ON login_throttle (window_start);
