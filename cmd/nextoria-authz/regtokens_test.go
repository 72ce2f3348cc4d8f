package main

import (
	"strings"
	"testing"
	"time"

	dcr "github.com/nextoria/authz/registration"
	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/storagetest"
)

func TestCLIRegistrationTokens(t *testing.T) {
	t.Parallel()
	env := testEnv(storagetest.NewDatabase(t))
	ws := decode[map[string]string](t, mustRun(t, env, "", "workspaces", "create", "--name", "Acme", "--plan", "growth", "--json"))["id"]

	created := decode[map[string]string](t, mustRun(t, env, "", "registration-tokens", "create", "--workspace", ws,
		"--name", "Partner marketplace", "--expires-in", "720h", "--json"))
	if len(created) != 2 || created["id"] == "" {
		t.Fatalf("create --json = %v, want exactly id and token", created)
	}
	if _, err := dcr.TokenFormat.Parse(created["token"]); err != nil {
		t.Fatalf("token %q does not parse: %v", created["token"], err)
	}

	// The server, with the same secrets.system, accepts the token.
	keys, err := secret.DeriveKeys(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := storage.Connect(t.Context(), apiKeysEnvValue(env, "NEXTORIA_DATABASE_URL"), 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	svc := dcr.Tokens{Store: storage.New(pool, storage.Options{}), Hasher: secret.NewHasher(keys.SecretHash)}
	tok, ok, err := svc.Authenticate(t.Context(), created["token"])
	if err != nil || !ok || tok.ID != created["id"] || tok.WorkspaceID != ws {
		t.Fatalf("Authenticate(created token) = %+v, %t, %v", tok, ok, err)
	}
	if d := time.Until(tok.ExpiresAt); d < 719*time.Hour || d > 720*time.Hour {
		t.Errorf("expires in %v, want 720h", d)
	}

	out := mustRun(t, env, "", "registration-tokens", "list", "--workspace", ws, "--json")
	if strings.Contains(out, created["token"]) || strings.Contains(out, created["token"][len(dcr.TokenFormat.Prefix)+8:]) {
		t.Fatal("list shows the token")
	}
	list := decode[[]map[string]any](t, out)
	if len(list) != 1 || list[0]["id"] != created["id"] || list[0]["name"] != "Partner marketplace" || list[0]["revoked"] != false ||
		list[0]["display_id"] != created["token"][:len(dcr.TokenFormat.Prefix)+8] {
		t.Fatalf("list = %v", list)
	}

	revoked := decode[map[string]any](t, mustRun(t, env, "", "registration-tokens", "revoke", created["id"], "--json"))
	if revoked["id"] != created["id"] || revoked["revoked"] != true {
		t.Errorf("revoke --json = %v", revoked)
	}
	if _, ok, err := svc.Authenticate(t.Context(), created["token"]); ok || err != nil {
		t.Errorf("revoked token: ok=%v err=%v", ok, err)
	}
	if list := decode[[]map[string]any](t, mustRun(t, env, "", "registration-tokens", "list", "--workspace", ws, "--json")); list[0]["revoked"] != true {
		t.Errorf("list after revoke = %v", list)
	}

	// Bad input: clear errors, nothing created.
	for _, args := range [][]string{
		{"create", "--workspace", ws, "--name", " ", "--json"},
		{"create", "--workspace", ws, "--name", "X", "--expires-in", "0"},
		{"create", "--workspace", ws, "--name", "X", "--expires-in", "9000h"},
		{"create", "--workspace", "00000000-0000-0000-0000-000000000000", "--name", "X"},
		{"create", "--workspace", "not-a-uuid", "--name", "X"},
		{"revoke", "00000000-0000-0000-0000-000000000000"},
		{"revoke", "not-a-uuid"},
	} {
		if _, err := runCLI(t, env, "", append([]string{"registration-tokens"}, args...)...); err == nil {
			t.Errorf("registration-tokens %v succeeded", args)
		}
	}
	if list := decode[[]map[string]any](t, mustRun(t, env, "", "registration-tokens", "list", "--workspace", ws, "--json")); len(list) != 1 {
		t.Errorf("bad input created tokens: %v", list)
	}
}
