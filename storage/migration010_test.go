package storage_test

import (
	"testing"
)

// TestMigration010 applies the migrations before 010, stores an app as an
// older server would, then applies 010: the app keeps every column and has
// no post-logout redirect URIs, and more than 10 are refused.
func TestMigration010(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	conn, apply := migratedBefore(t, "010")
	if _, err := conn.Exec(ctx, `
		WITH w AS (INSERT INTO workspaces (name, plan) VALUES ('Acme', 'growth') RETURNING id),
		     u AS (INSERT INTO users (email, name, password_hash, workspace_id) SELECT 'ada@acme.example', 'Ada', 'x', id FROM w RETURNING id, workspace_id)
		INSERT INTO oauth_apps (client_id, secret_hash, name, redirect_uris, scopes, public, workspace_id, owner_id, description)
		SELECT 'old-app', '\x01', 'Old App', ARRAY['https://app.example/cb'], ARRAY['projects:read'], false, u.workspace_id, u.id, 'Kept.'
		FROM u`); err != nil {
		t.Fatal(err)
	}
	apply("010_post_logout_redirect_uris.sql")

	var (
		uris         []string
		redirects    []string
		name, descr  string
		pkceRequired bool
	)
	if err := conn.QueryRow(ctx, `SELECT post_logout_redirect_uris, redirect_uris, name, description, pkce_required
		FROM oauth_apps WHERE client_id = 'old-app'`).Scan(&uris, &redirects, &name, &descr, &pkceRequired); err != nil {
		t.Fatal(err)
	}
	if uris == nil || len(uris) != 0 || len(redirects) != 1 || name != "Old App" || descr != "Kept." {
		t.Errorf("after 010: post-logout %q, redirects %q, name %q, description %q", uris, redirects, name, descr)
	}
	if _, err := conn.Exec(ctx, `UPDATE oauth_apps SET post_logout_redirect_uris = array_fill('https://a.example/'::text, ARRAY[11])`); err == nil {
		t.Error("11 post-logout redirect URIs were accepted")
	}
}
