package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"slices"
	"testing"

	"github.com/nextoria/authz/consent"
	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/storagetest"
)

func TestSeedDemo(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := storagetest.NewStore(t, storage.Options{})
	hasher := secret.NewHasher(bytes.Repeat([]byte{1}, 32))

	first, err := seedDemo(ctx, store, hasher, "http://127.0.0.1:8080/")
	if err != nil {
		t.Fatal(err)
	}
	user, err := store.GetUserByEmail(ctx, "demo@nextoria.test")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := secret.VerifyPassword(user.PasswordHash, "demo-password"); !ok || user.Role != storage.RoleAdmin {
		t.Errorf("demo user = %+v", user)
	}
	ws, err := store.GetWorkspace(ctx, user.WorkspaceID)
	if err != nil {
		t.Fatal(err)
	}
	if ws.Name != "Demo Workspace" || ws.Plan != storage.PlanGrowth {
		t.Errorf("demo workspace = %+v", ws)
	}
	app, err := store.GetApp(ctx, "demo-app")
	if err != nil {
		t.Fatal(err)
	}
	if app.Name != "Demo App" || app.Public || app.OwnerID != user.ID ||
		!slices.Equal(app.RedirectURIs, []string{"http://127.0.0.1:9999/callback"}) ||
		!slices.Equal(app.Scopes, consent.Names()) {
		t.Errorf("demo app = %+v", app)
	}
	if !bytes.Equal(app.SecretHash, hasher.Sum([]byte("demo-secret-not-for-production-use"))) {
		t.Error("demo app's secret hash does not match the published demo secret")
	}

	want := Demo{
		Email: "demo@nextoria.test", Password: "demo-password", ClientID: "demo-app",
		ClientSecret: "demo-secret-not-for-production-use", RedirectURI: "http://127.0.0.1:9999/callback",
	}
	got := first
	got.AuthorizeURL, got.State, got.Verifier = "", "", ""
	if got != want {
		t.Errorf("demo = %+v, want %+v", got, want)
	}

	u, err := url.Parse(first.AuthorizeURL)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme+"://"+u.Host+u.Path != "http://127.0.0.1:8080/oauth/authorize" {
		t.Errorf("authorize URL %q", first.AuthorizeURL)
	}
	q := u.Query()
	sum := sha256.Sum256([]byte(first.Verifier))
	for k, v := range map[string]string{
		"client_id":             "demo-app",
		"redirect_uri":          "http://127.0.0.1:9999/callback",
		"response_type":         "code",
		"scope":                 "projects:read tasks:read",
		"state":                 first.State,
		"code_challenge":        base64.RawURLEncoding.EncodeToString(sum[:]),
		"code_challenge_method": "S256",
	} {
		if q.Get(k) != v {
			t.Errorf("authorize URL %s = %q, want %q", k, q.Get(k), v)
		}
	}
	if len(first.Verifier) < 43 || len(first.State) < 16 {
		t.Errorf("verifier %q or state %q too short", first.Verifier, first.State)
	}

	// Seeding again creates nothing and keeps the same rows.
	second, err := seedDemo(ctx, store, hasher, "http://127.0.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	if second.State == first.State || second.Verifier == first.Verifier {
		t.Error("state and verifier must be fresh on every run")
	}
	again, err := store.GetApp(ctx, "demo-app")
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != app.ID {
		t.Error("the demo app was recreated")
	}
	if u2, err := store.GetUserByEmail(ctx, "demo@nextoria.test"); err != nil || u2.ID != user.ID {
		t.Errorf("the demo user changed: %v", err)
	}
	all, err := store.ListApps(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 {
		t.Errorf("%d apps after seeding twice, want 1", len(all))
	}

	// With another system secret the app is replaced so the demo secret works.
	other := secret.NewHasher(bytes.Repeat([]byte{2}, 32))
	if _, err := seedDemo(ctx, store, other, "http://127.0.0.1:8080"); err != nil {
		t.Fatal(err)
	}
	replaced, err := store.GetApp(ctx, "demo-app")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(replaced.SecretHash, other.Sum([]byte("demo-secret-not-for-production-use"))) {
		t.Error("demo app still carries the hash made with the old system secret")
	}
}
