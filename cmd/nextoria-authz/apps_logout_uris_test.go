package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/storagetest"
)

// TestCLIPostLogoutRedirectURIs: 'apps create' and 'apps update' take
// --post-logout-redirect-uri (repeatable), checked like redirect URIs;
// 'apps update' replaces the list, "" empties it, and 'apps list --json'
// shows it.
func TestCLIPostLogoutRedirectURIs(t *testing.T) {
	t.Parallel()
	dbURL := storagetest.NewDatabase(t)
	env := testEnv(dbURL)
	ws := decode[map[string]string](t, mustRun(t, env, "", "workspaces", "create", "--name", "Acme", "--plan", "growth", "--json"))
	mustRun(t, env, "a long enough password\n", "users", "create", "--email", "ada@acme.example", "--workspace", ws["id"], "--role", "admin")

	if _, err := runCLI(t, env, "", "apps", "create", "--name", "Bad", "--owner", "ada@acme.example",
		"--redirect-uri", "https://acme.example/cb", "--post-logout-redirect-uri", "http://acme.example/bye"); err == nil ||
		!strings.Contains(err.Error(), "--post-logout-redirect-uri") || !strings.Contains(err.Error(), "https") {
		t.Fatalf("plain-http post-logout URI: err = %v", err)
	}
	clientID := decode[map[string]string](t, mustRun(t, env, "", "apps", "create", "--name", "Acme Sync", "--owner", "ada@acme.example",
		"--redirect-uri", "https://acme.example/cb",
		"--post-logout-redirect-uri", "https://acme.example/bye", "--post-logout-redirect-uri", "http://127.0.0.1:9999/bye",
		"--json"))["client_id"]

	pool, err := storage.Connect(t.Context(), dbURL, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store := storage.New(pool, storage.Options{})
	uris := func(t *testing.T) []string {
		t.Helper()
		a, err := store.GetApp(t.Context(), clientID)
		if err != nil {
			t.Fatal(err)
		}
		return a.PostLogoutRedirectURIs
	}
	if got := uris(t); !slices.Equal(got, []string{"https://acme.example/bye", "http://127.0.0.1:9999/bye"}) {
		t.Fatalf("after create: %q", got)
	}
	list := decode[[]appJSON](t, mustRun(t, env, "", "apps", "list", "--json"))
	if len(list) != 1 || !slices.Equal(list[0].PostLogoutRedirectURIs, []string{"https://acme.example/bye", "http://127.0.0.1:9999/bye"}) {
		t.Errorf("apps list --json = %+v", list)
	}

	steps := []struct {
		name    string
		args    []string
		want    []string
		wantErr string
	}{
		{"description keeps them", []string{"--description", "Syncs."}, []string{"https://acme.example/bye", "http://127.0.0.1:9999/bye"}, ""},
		{"replace", []string{"--post-logout-redirect-uri", "https://acme.example/signed-out"}, []string{"https://acme.example/signed-out"}, ""},
		{"wildcard refused", []string{"--post-logout-redirect-uri", "https://*.acme.example/out"}, []string{"https://acme.example/signed-out"}, "wildcard"},
		{"duplicate refused", []string{"--post-logout-redirect-uri", "https://acme.example/a", "--post-logout-redirect-uri", "https://acme.example/a"},
			[]string{"https://acme.example/signed-out"}, "twice"},
		{"empty removes", []string{"--post-logout-redirect-uri", ""}, []string{}, ""},
	}
	for _, st := range steps {
		_, err := runCLI(t, env, "", append([]string{"apps", "update", clientID}, st.args...)...)
		switch {
		case st.wantErr == "" && err != nil:
			t.Fatalf("%s: %v", st.name, err)
		case st.wantErr != "" && (err == nil || !strings.Contains(err.Error(), st.wantErr) || !strings.Contains(err.Error(), "--post-logout-redirect-uri")):
			t.Errorf("%s: err = %v, want one about --post-logout-redirect-uri: %s", st.name, err, st.wantErr)
		}
		if got := uris(t); !slices.Equal(got, st.want) {
			t.Errorf("%s: %q, want %q", st.name, got, st.want)
		}
	}
	got := decode[map[string]any](t, mustRun(t, env, "", "apps", "update", clientID, "--post-logout-redirect-uri", "https://acme.example/x", "--json"))
	if l, _ := got["post_logout_redirect_uris"].([]any); len(l) != 1 || l[0] != "https://acme.example/x" {
		t.Errorf("--json printed %v", got)
	}
}
