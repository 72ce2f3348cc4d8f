package main

import (
	"strings"
	"testing"

	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/storagetest"
)

// TestCLIAppsUpdateProfile: 'apps update' changes only the fields whose
// flags are given; an empty value given explicitly clears an optional field,
// and invalid values are reported by flag with nothing changed.
func TestCLIAppsUpdateProfile(t *testing.T) {
	t.Parallel()
	dbURL := storagetest.NewDatabase(t)
	env := testEnv(dbURL)
	ws := decode[map[string]string](t, mustRun(t, env, "", "workspaces", "create", "--name", "Acme", "--plan", "growth", "--json"))
	mustRun(t, env, "a long enough password\n", "users", "create", "--email", "ada@acme.example", "--workspace", ws["id"], "--role", "admin")
	clientID := decode[map[string]string](t, mustRun(t, env, "", "apps", "create", "--name", "Acme Sync", "--owner", "ada@acme.example",
		"--redirect-uri", "https://acme.example/cb", "--pkce", "optional",
		"--homepage-url", "https://acme.example/", "--privacy-url", "https://acme.example/privacy", "--description", "Keeps Acme in sync.",
		"--json"))["client_id"]

	pool, err := storage.Connect(t.Context(), dbURL, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store := storage.New(pool, storage.Options{})
	type profile struct{ name, homepage, privacy, description, pkce string }
	get := func(t *testing.T) profile {
		t.Helper()
		a, err := store.GetApp(t.Context(), clientID)
		if err != nil {
			t.Fatal(err)
		}
		return profile{a.Name, a.HomepageURL, a.PrivacyURL, a.Description, pkceLabel(a)}
	}

	// The steps run in order, each on the result of the previous one.
	steps := []struct {
		name    string
		args    []string
		want    profile
		wantErr []string
	}{
		{"description only", []string{"--description", "Syncs Acme projects."},
			profile{"Acme Sync", "https://acme.example/", "https://acme.example/privacy", "Syncs Acme projects.", "optional"}, nil},
		{"name and homepage", []string{"--name", "  Acme Sync 2 ", "--homepage-url", "https://sync.acme.example/"},
			profile{"Acme Sync 2", "https://sync.acme.example/", "https://acme.example/privacy", "Syncs Acme projects.", "optional"}, nil},
		{"an empty description clears it", []string{"--description", ""},
			profile{"Acme Sync 2", "https://sync.acme.example/", "https://acme.example/privacy", "", "optional"}, nil},
		{"privacy cleared, PKCE required", []string{"--privacy-url=", "--pkce", "required"},
			profile{"Acme Sync 2", "https://sync.acme.example/", "", "", "required"}, nil},
		{"PKCE alone", []string{"--pkce=optional"},
			profile{"Acme Sync 2", "https://sync.acme.example/", "", "", "optional"}, nil},
		{"invalid values change nothing", []string{"--name", " ", "--homepage-url", "http://acme.example/", "--description", "two\nlines"},
			profile{"Acme Sync 2", "https://sync.acme.example/", "", "", "optional"},
			[]string{"--name: is required", "--homepage-url: must be an https://", "--description: must be a single line"}},
		{"no flag", nil,
			profile{"Acme Sync 2", "https://sync.acme.example/", "", "", "optional"}, []string{"nothing to change", "--description"}},
		{"bad pkce", []string{"--pkce", "sometimes", "--name", "X"},
			profile{"Acme Sync 2", "https://sync.acme.example/", "", "", "optional"}, []string{"--pkce"}},
	}
	for _, st := range steps {
		args := append([]string{"apps", "update", clientID}, st.args...)
		out, err := runCLI(t, env, "", args...)
		switch {
		case st.wantErr == nil && err != nil:
			t.Fatalf("%s: %v", st.name, err)
		case st.wantErr != nil && err == nil:
			t.Errorf("%s: succeeded, want an error", st.name)
		case st.wantErr != nil:
			for _, w := range st.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: error %q, want it to contain %q", st.name, err, w)
				}
			}
		case !strings.Contains(out, clientID+": "+st.want.name):
			t.Errorf("%s: printed %q", st.name, out)
		}
		if got := get(t); got != st.want {
			t.Errorf("%s: app = %+v, want %+v", st.name, got, st.want)
		}
	}

	got := decode[map[string]any](t, mustRun(t, env, "", "apps", "update", clientID, "--description", "Back again.", "--json"))
	if got["client_id"] != clientID || got["description"] != "Back again." || got["homepage_url"] != "https://sync.acme.example/" || got["pkce"] != "optional" {
		t.Errorf("--json printed %v", got)
	}
	if _, err := runCLI(t, env, "", "apps", "update", "no-such-app", "--name", "X"); err == nil || !strings.Contains(err.Error(), "no app with client_id") {
		t.Errorf("unknown app: err = %v", err)
	}
}
