package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nextoria/authz/apikey"
	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/storagetest"
)

func TestCLIAPIKeys(t *testing.T) {
	t.Parallel()
	env := testEnv(storagetest.NewDatabase(t))
	ws := decode[map[string]string](t, mustRun(t, env, "", "workspaces", "create", "--name", "Acme", "--plan", "growth", "--json"))["id"]
	other := decode[map[string]string](t, mustRun(t, env, "", "workspaces", "create", "--name", "Other", "--plan", "starter", "--json"))["id"]

	created := decode[map[string]string](t, mustRun(t, env, "", "api-keys", "create", "--workspace", ws,
		"--name", "Zapier Integration", "--scope", "projects:read", "--scope", "tasks:read", "--expires-in", "720h", "--json"))
	if len(created) != 2 || created["id"] == "" {
		t.Fatalf("api-keys create --json = %v, want exactly id and key", created)
	}
	if _, err := apikey.Parse(created["key"]); err != nil {
		t.Fatalf("created key %q does not parse: %v", created["key"], err)
	}

	// The server, with the same secrets.system, finds the key.
	keys, err := secret.DeriveKeys(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := storage.Connect(t.Context(), apiKeysEnvValue(env, "NEXTORIA_DATABASE_URL"), 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	svc := &apikey.Service{Store: storage.New(pool, storage.Options{}), Hasher: secret.NewHasher(keys.SecretHash)}
	found, active, err := svc.Lookup(t.Context(), created["key"])
	if err != nil || !active || found.ID != created["id"] || found.Plan != storage.PlanGrowth {
		t.Fatalf("Lookup(created key) = %+v, %t, %v", found, active, err)
	}
	if err := svc.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}

	out := mustRun(t, env, "", "api-keys", "create", "--workspace", ws, "--name", "Export", "--scope", "analytics:read", "--expires-in", "0")
	for _, want := range []string{"key:        nxh_", "expires:    never", "Warning: this key never expires", "shown only this once"} {
		if !strings.Contains(out, want) {
			t.Errorf("api-keys create printed %q, want %q in it", out, want)
		}
	}
	// Without --expires-in a key expires in 30 days, without a warning.
	out = mustRun(t, env, "", "api-keys", "create", "--workspace", other, "--name", "Default lifetime", "--scope", "analytics:read")
	if in30 := time.Now().UTC().Add(30 * 24 * time.Hour).Format(time.DateOnly); !strings.Contains(out, "expires:    "+in30) || strings.Contains(out, "Warning") {
		t.Errorf("api-keys create without --expires-in printed %q, want it to expire on %s", out, in30)
	}

	list := decode[[]apiKeyJSON](t, mustRun(t, env, "", "api-keys", "list", "--workspace", ws, "--json"))
	if len(list) != 2 || list[0].Name != "Export" || list[1].ID != created["id"] {
		t.Fatalf("api-keys list --json = %+v, want Export then Zapier Integration", list)
	}
	zapier := list[1]
	if !slices.Equal(zapier.Scopes, []string{"projects:read", "tasks:read"}) || zapier.Revoked ||
		!strings.HasPrefix(created["key"], zapier.DisplayID) || zapier.ExpiresAt == nil ||
		zapier.ExpiresAt.Sub(zapier.CreatedAt).Round(time.Hour) != 720*time.Hour || zapier.LastUsedAt == nil {
		t.Errorf("listed key = %+v", zapier)
	}
	if list[0].ExpiresAt != nil || list[0].LastUsedAt != nil {
		t.Errorf("unused key without expiry = %+v, want null times", list[0])
	}
	raw := mustRun(t, env, "", "api-keys", "list", "--workspace", ws, "--json")
	if !strings.Contains(raw, `"expires_at":null`) || strings.Contains(raw, created["key"]) {
		t.Errorf("api-keys list --json = %s", raw)
	}
	table := mustRun(t, env, "", "api-keys", "list", "--workspace", ws)
	for _, want := range []string{"DISPLAY_ID", zapier.DisplayID, "Zapier Integration", "projects:read,tasks:read", "active", "never"} {
		if !strings.Contains(table, want) {
			t.Errorf("api-keys list table lacks %q:\n%s", want, table)
		}
	}
	if strings.Contains(table, created["key"]) {
		t.Error("api-keys list shows a key")
	}

	if _, err := runCLI(t, env, "", "api-keys", "revoke", "--workspace", other, "--id", created["id"]); err == nil ||
		!strings.Contains(err.Error(), "has no API key") {
		t.Errorf("revoke from another workspace: err = %v", err)
	}
	revoked := decode[map[string]any](t, mustRun(t, env, "", "api-keys", "revoke", "--workspace", ws, "--id", created["id"], "--json"))
	if revoked["revoked"] != true || revoked["id"] != created["id"] {
		t.Errorf("api-keys revoke --json = %v", revoked)
	}
	if _, active, _ := svc.Lookup(t.Context(), created["key"]); active {
		t.Error("key still active after api-keys revoke")
	}
	list = decode[[]apiKeyJSON](t, mustRun(t, env, "", "api-keys", "list", "--workspace", ws, "--json"))
	if !list[1].Revoked || list[0].Revoked {
		t.Errorf("after revoke: %+v", list)
	}
	if out := mustRun(t, env, "", "api-keys", "revoke", "--workspace", ws, "--id", created["id"]); !strings.Contains(out, "revoked API key") {
		t.Errorf("revoking again printed %q", out)
	}
}

func TestCLIAPIKeysRejectsBadInput(t *testing.T) {
	t.Parallel()
	env := testEnv(storagetest.NewDatabase(t))
	ws := decode[map[string]string](t, mustRun(t, env, "", "workspaces", "create", "--name", "Acme", "--plan", "scale", "--json"))["id"]
	var noSecret []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "NEXTORIA_SECRETS_SYSTEM=") {
			noSecret = append(noSecret, kv)
		}
	}
	tests := []struct {
		name string
		env  []string
		args []string
		want []string
	}{
		{"bad fields", env, []string{"api-keys", "create", "--workspace", ws, "--name", " ", "--scope", "admin", "--expires-in", "-1h"},
			[]string{"invalid API key", "--expires-in:", "--name: Give the key a name", `--scope: Unknown scope "admin"`}},
		{"no scope", env, []string{"api-keys", "create", "--workspace", ws, "--name", "k"}, []string{"--scope: Select at least one scope"}},
		{"bad duration", env, []string{"api-keys", "create", "--workspace", ws, "--name", "k", "--scope", "files:read", "--expires-in", "30d"},
			[]string{"--expires-in"}},
		{"unknown workspace", env, []string{"api-keys", "create", "--workspace", "00000000-0000-0000-0000-000000000000", "--name", "k", "--scope", "files:read"},
			[]string{"--workspace", "does not exist"}},
		{"workspace not a UUID", env, []string{"api-keys", "list", "--workspace", "acme"}, []string{"--workspace", "does not exist"}},
		{"missing flags", env, []string{"api-keys", "revoke"}, []string{"required flag", "id", "workspace"}},
		{"no system secret", noSecret, []string{"api-keys", "create", "--workspace", ws, "--name", "k", "--scope", "files:read"},
			[]string{"secrets.system", "NEXTORIA_SECRETS_SYSTEM"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := runCLI(t, tt.env, "", tt.args...)
			if err == nil {
				t.Fatalf("%v succeeded", tt.args)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// apiKeysEnvValue returns the value of name in env.
func apiKeysEnvValue(env []string, name string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}
