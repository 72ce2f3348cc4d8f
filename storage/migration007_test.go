package storage_test

import (
	"testing"
	"time"
)

// TestMigration007 applies migrations 001–006, stores apps and a signing
// key as an older server would, then applies 007: existing confidential
// apps keep working without PKCE, public apps and new apps require it, and
// existing keys have been active since they were created.
func TestMigration007(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	conn, apply := migratedBefore(t, "007")
	if _, err := conn.Exec(ctx, `
		WITH w AS (INSERT INTO workspaces (name, plan) VALUES ('Acme', 'growth') RETURNING id),
		     u AS (INSERT INTO users (email, password_hash, workspace_id) SELECT 'ada@acme.example', 'x', id FROM w RETURNING id, workspace_id)
		INSERT INTO oauth_apps (client_id, secret_hash, name, redirect_uris, scopes, public, workspace_id, owner_id)
		SELECT c.id, c.secret, c.id, ARRAY['https://app.example/cb'], ARRAY['projects:read'], c.public, u.workspace_id, u.id
		FROM u, (VALUES ('old-confidential', '\x01'::bytea, false), ('old-public', NULL::bytea, true)) AS c(id, secret, public)`); err != nil {
		t.Fatal(err)
	}
	created := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	if _, err := conn.Exec(ctx,
		`INSERT INTO signing_keys (kid, alg, private_enc, public_jwk, created_at) VALUES ('k1', 'ES256', '\x00', '{}', $1)`, created); err != nil {
		t.Fatal(err)
	}
	apply("007_pkce_required.sql")

	for clientID, want := range map[string]bool{"old-confidential": false, "old-public": true} {
		var required bool
		if err := conn.QueryRow(ctx, `SELECT pkce_required FROM oauth_apps WHERE client_id = $1`, clientID).Scan(&required); err != nil {
			t.Fatal(err)
		}
		if required != want {
			t.Errorf("%s: pkce_required = %v, want %v", clientID, required, want)
		}
	}
	var required bool
	if err := conn.QueryRow(ctx, `
		INSERT INTO oauth_apps (client_id, secret_hash, name, redirect_uris, scopes, workspace_id, owner_id)
		SELECT 'new-confidential', '\x01', 'New', ARRAY['https://app.example/cb'], ARRAY['projects:read'], workspace_id, id FROM users
		RETURNING pkce_required`).Scan(&required); err != nil || !required {
		t.Errorf("a new app: pkce_required = %v (err %v), want true", required, err)
	}
	var activates time.Time
	if err := conn.QueryRow(ctx, `SELECT activates_at FROM signing_keys WHERE kid = 'k1'`).Scan(&activates); err != nil {
		t.Fatal(err)
	}
	if !activates.Equal(created) {
		t.Errorf("existing key activates_at = %v, want its created_at %v", activates, created)
	}
}
