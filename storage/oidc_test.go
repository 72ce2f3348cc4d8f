package storage_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"

	"github.com/nextoria/authz/storage"
)

// TestOpenIDConnectSession: the OIDC request of a code is stored under the
// code's hash (never the code), read back into the given session, deleted
// at exchange so a code yields one ID token, and swept when expired.
func TestOpenIDConnectSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()
	req := f.newRequest(t)
	req.Form.Set("nonce", "n-0123456789")
	const code = "raw-authorization-code.with-signature"

	if _, err := f.st.GetOpenIDConnectSession(ctx, code, req); !errors.Is(err, openid.ErrNoSessionFound) {
		t.Fatalf("missing session: %v, want ErrNoSessionFound", err)
	}
	if err := f.st.CreateOpenIDConnectSession(ctx, code, req); err != nil {
		t.Fatalf("CreateOpenIDConnectSession: %v", err)
	}
	if n := countRows(t, f.st, "oauth_oidc_sessions", "signature = $1", code); n != 0 {
		t.Error("the raw code is stored")
	}
	into := &fosite.Request{Session: &fosite.DefaultSession{}}
	got, err := f.st.GetOpenIDConnectSession(ctx, code, into)
	if err != nil {
		t.Fatalf("GetOpenIDConnectSession: %v", err)
	}
	assertSameRequest(t, got, req)
	if got.GetSession().GetSubject() != req.GetSession().GetSubject() || got.GetSession() != into.Session {
		t.Errorf("session not read into the given one: %+v", got.GetSession())
	}
	if err := f.st.DeleteOpenIDConnectSession(ctx, code); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.GetOpenIDConnectSession(ctx, code, into); !errors.Is(err, fosite.ErrNotFound) {
		t.Fatalf("after delete: %v, want ErrNotFound", err)
	}
	if err := f.st.DeleteOpenIDConnectSession(ctx, code); err != nil {
		t.Errorf("deleting nothing: %v", err)
	}

	// An expired one goes with the cleanup.
	old := f.newRequest(t)
	old.Session.SetExpiresAt(fosite.AuthorizeCode, time.Now().Add(-time.Minute))
	if err := f.st.CreateOpenIDConnectSession(ctx, "expired-code", old); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.DeleteExpired(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, f.st, "oauth_oidc_sessions", "true"); n != 0 {
		t.Errorf("%d OIDC sessions after cleanup", n)
	}
}

// TestUserIdentity: a user's display name defaults to the e-mail's local
// part and the verified flag to false; both reach the signed-in principal.
func TestUserIdentity(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()
	u, err := f.st.CreateUser(ctx, storage.NewUser{Email: "grace@example.com", PasswordHash: "x", WorkspaceID: f.ws.ID})
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "grace" || u.EmailVerified {
		t.Errorf("defaults: name %q verified %v", u.Name, u.EmailVerified)
	}
	v, err := f.st.CreateUser(ctx, storage.NewUser{Email: "ada.l@example.com", PasswordHash: "x", WorkspaceID: f.ws.ID,
		Name: "Ada Lovelace", EmailVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.CreateLoginSession(ctx, []byte("sid-hash"), v.ID, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	p, err := f.st.GetPrincipal(ctx, []byte("sid-hash"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "Ada Lovelace" || !p.EmailVerified {
		t.Errorf("principal name %q verified %v", p.Name, p.EmailVerified)
	}
}

// TestMigration009 applies migrations up to 007 (and 008 when present),
// stores users, apps, a grant, tokens, a login session and a signing key as
// an older server would, then applies 009: they all survive, users get their
// e-mail's local part as name and an unverified e-mail, apps get RS256 ID
// tokens, and a second active key of another algorithm can be added.
func TestMigration009(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	conn, apply := migratedBefore(t, "009")
	if _, err := conn.Exec(ctx, `
		WITH w AS (INSERT INTO workspaces (name, plan) VALUES ('Acme', 'growth') RETURNING id),
		     u AS (INSERT INTO users (email, password_hash, workspace_id) SELECT 'ada.lovelace@acme.example', 'x', id FROM w RETURNING id, workspace_id),
		     a AS (INSERT INTO oauth_apps (client_id, secret_hash, name, redirect_uris, scopes, workspace_id, owner_id)
		           SELECT 'old-app', '\x01', 'Old', ARRAY['https://app.example/cb'], ARRAY['projects:read'], workspace_id, id FROM u RETURNING client_id),
		     g AS (INSERT INTO consent_grants (user_id, client_id, scopes) SELECT u.id, a.client_id, ARRAY['projects:read'] FROM u, a),
		     s AS (INSERT INTO login_sessions (id_hash, user_id, expires_at) SELECT '\x0102', id, now() + interval '1 day' FROM u)
		INSERT INTO oauth_refresh_tokens (signature, request_id, requested_at, client_id, subject, scopes, granted_scopes,
		                                  requested_audience, granted_audience, form_data, session_data, expires_at)
		SELECT 'rt', 'req', now(), a.client_id, u.id::text, ARRAY['projects:read'], ARRAY['projects:read'], '{}', '{}', '', '{}', now() + interval '1 day'
		FROM u, a`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx,
		`INSERT INTO signing_keys (kid, alg, private_enc, public_jwk) VALUES ('ec1', 'ES256', '\x00', '{}')`); err != nil {
		t.Fatal(err)
	}
	apply("009_openid_connect.sql")

	var (
		name     string
		verified bool
		alg      string
	)
	if err := conn.QueryRow(ctx, `SELECT name, email_verified FROM users`).Scan(&name, &verified); err != nil {
		t.Fatal(err)
	}
	if name != "ada.lovelace" || verified {
		t.Errorf("existing user: name %q verified %v", name, verified)
	}
	if err := conn.QueryRow(ctx, `SELECT id_token_alg FROM oauth_apps WHERE client_id = 'old-app'`).Scan(&alg); err != nil || alg != "RS256" {
		t.Errorf("existing app: id_token_alg %q (%v)", alg, err)
	}
	for _, table := range []string{"consent_grants", "login_sessions", "oauth_refresh_tokens", "signing_keys"} {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil || n != 1 {
			t.Errorf("%s: %d rows (%v) after the migration, want 1", table, n, err)
		}
	}
	if _, err := conn.Exec(ctx,
		`INSERT INTO signing_keys (kid, alg, private_enc, public_jwk) VALUES ('rsa1', 'RS256', '\x00', '{}')`); err != nil {
		t.Errorf("an active RS256 key beside the ES256 one: %v", err)
	}
	if _, err := conn.Exec(ctx,
		`INSERT INTO signing_keys (kid, alg, private_enc, public_jwk) VALUES ('ec2', 'ES256', '\x00', '{}')`); err == nil {
		t.Error("two active ES256 keys")
	}
	if _, err := conn.Exec(ctx, `UPDATE oauth_apps SET id_token_alg = 'HS256'`); err == nil {
		t.Error("id_token_alg HS256 accepted")
	}
}
