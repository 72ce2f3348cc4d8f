package main

import (
	"context"
	"testing"

	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/storagetest"
)

// TestCLIOpenIDConnect: users create --name/--email-verified, apps
// create/update --id-token-alg, and keys rotate rotating both keys; bad
// values are refused and change nothing.
func TestCLIOpenIDConnect(t *testing.T) {
	t.Parallel()
	dbURL := storagetest.NewDatabase(t)
	env := testEnv(dbURL)
	ws := decode[map[string]string](t, mustRun(t, env, "", "workspaces", "create", "--name", "Acme", "--plan", "growth", "--json"))
	ada := decode[map[string]string](t, mustRun(t, env, "a long enough password\n", "users", "create", "--email", "ada@acme.example",
		"--name", "Ada Lovelace", "--email-verified", "--workspace", ws["id"], "--json"))
	grace := decode[map[string]string](t, mustRun(t, env, "a long enough password\n", "users", "create", "--email", "grace@acme.example",
		"--workspace", ws["id"], "--json"))
	if _, err := runCLI(t, env, "a long enough password\n", "users", "create", "--email", "bad@acme.example",
		"--name", "tab\there", "--workspace", ws["id"]); err == nil {
		t.Error("a name with a control character was accepted")
	}
	pool, err := storage.Connect(t.Context(), dbURL, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	st := storage.New(pool, storage.Options{})
	for id, want := range map[string]storage.User{ada["id"]: {Name: "Ada Lovelace", EmailVerified: true}, grace["id"]: {Name: "grace"}} {
		u, err := st.GetUser(context.Background(), id)
		if err != nil || u.Name != want.Name || u.EmailVerified != want.EmailVerified {
			t.Errorf("user %s: %+v, %v", id, u, err)
		}
	}
	if _, err := st.GetUserByEmail(context.Background(), "bad@acme.example"); err == nil {
		t.Error("the refused user was created")
	}

	app := decode[map[string]string](t, mustRun(t, env, "", "apps", "create", "--name", "App", "--owner", "ada@acme.example",
		"--redirect-uri", "https://app.example/cb", "--id-token-alg", "ES256", "--json"))["client_id"]
	if a, _ := st.GetApp(context.Background(), app); a.IDTokenAlg != "ES256" {
		t.Errorf("created with %q", a.IDTokenAlg)
	}
	if _, err := runCLI(t, env, "", "apps", "update", app, "--id-token-alg", "HS256"); err == nil {
		t.Error("HS256 accepted")
	}
	upd := decode[map[string]any](t, mustRun(t, env, "", "apps", "update", app, "--id-token-alg", "RS256", "--json"))
	if a, _ := st.GetApp(context.Background(), app); a.IDTokenAlg != "RS256" || upd["id_token_alg"] != "RS256" {
		t.Errorf("updated to %q (%v)", a.IDTokenAlg, upd)
	}
}
