package storage_test

import (
	"encoding/json"
	"testing"
)

// TestMigration014 checks that session_data becomes bytea in every session
// table and that each row keeps its JSON, byte for byte.
func TestMigration014(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	conn, apply := migratedBefore(t, "014")
	tables := []string{"oauth_codes", "oauth_pkce", "oauth_access_tokens", "oauth_refresh_tokens", "oauth_oidc_sessions"}
	const session = `{"sub":"u1","username":"zoë","expires_at":{"access_token":"2031-05-06T07:08:09Z"}}`
	if _, err := conn.Exec(ctx, `
		WITH w AS (INSERT INTO workspaces (name, plan) VALUES ('Acme', 'growth') RETURNING id),
		     u AS (INSERT INTO users (email, password_hash, workspace_id, name) SELECT 'ada@acme.example', 'x', id, 'Ada' FROM w RETURNING id, workspace_id)
		INSERT INTO oauth_apps (client_id, secret_hash, name, redirect_uris, scopes, workspace_id, owner_id)
		SELECT 'c1', '\x01', 'App', ARRAY['https://app.example/cb'], ARRAY['read'], workspace_id, id FROM u`); err != nil {
		t.Fatal(err)
	}
	for _, table := range tables {
		if _, err := conn.Exec(ctx, `INSERT INTO `+table+` (signature, request_id, requested_at, client_id, scopes, granted_scopes,
		        requested_audience, granted_audience, form_data, session_data, expires_at)
		    VALUES ('s', 'r', now(), 'c1', '{}', '{}', '{}', '{}', '', $1, now() + interval '1 hour')`, session); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
	}
	apply("014_binary_session_data.sql")

	for _, table := range tables {
		var typ string
		if err := conn.QueryRow(ctx, `SELECT data_type FROM information_schema.columns
		    WHERE table_name = $1 AND column_name = 'session_data'`, table).Scan(&typ); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		if typ != "bytea" {
			t.Errorf("%s.session_data is %s, want bytea", table, typ)
		}
		var data []byte
		if err := conn.QueryRow(ctx, `SELECT session_data FROM `+table).Scan(&data); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		if string(data) != session || !json.Valid(data) {
			t.Errorf("%s: session_data = %q, want %q", table, data, session)
		}
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns
	    WHERE column_name = 'session_data' AND table_schema = 'public'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(tables) {
		t.Errorf("%d tables have session_data, the test knows %d", n, len(tables))
	}
}
