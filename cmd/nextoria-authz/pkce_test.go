package main

import (
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/nextoria/authz/storage/storagetest"
)

// TestCLIAppsPKCE: new apps require PKCE; --pkce=optional opts a
// confidential app out at creation or later, and never a public app.
func TestCLIAppsPKCE(t *testing.T) {
	t.Parallel()
	env := testEnv(storagetest.NewDatabase(t))
	ws := decode[map[string]string](t, mustRun(t, env, "", "workspaces", "create", "--name", "Acme", "--plan", "growth", "--json"))
	mustRun(t, env, "a long enough password\n", "users", "create", "--email", "ada@acme.example", "--workspace", ws["id"], "--role", "admin")
	create := func(extra ...string) (string, error) {
		args := append([]string{"apps", "create", "--name", "App", "--owner", "ada@acme.example",
			"--redirect-uri", "https://app.example/cb", "--json"}, extra...)
		out, err := runCLI(t, env, "", args...)
		if err != nil {
			return "", err
		}
		return decode[map[string]string](t, out)["client_id"], nil
	}
	pkceOf := func(clientID string) string {
		for _, a := range decode[[]appJSON](t, mustRun(t, env, "", "apps", "list", "--json")) {
			if a.ClientID == clientID {
				return a.PKCE
			}
		}
		t.Fatalf("app %s not listed", clientID)
		return ""
	}
	def, err := create()
	if err != nil {
		t.Fatal(err)
	}
	opt, err := create("--pkce", "optional")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := create("--public")
	if err != nil {
		t.Fatal(err)
	}
	if pkceOf(def) != "required" || pkceOf(opt) != "optional" || pkceOf(pub) != "required" {
		t.Fatalf("pkce = %s, %s, %s; want required, optional, required", pkceOf(def), pkceOf(opt), pkceOf(pub))
	}
	if _, err := create("--public", "--pkce", "optional"); err == nil {
		t.Error("a public app was created with optional PKCE")
	}
	if _, err := create("--pkce", "sometimes"); err == nil || !strings.Contains(err.Error(), "--pkce") {
		t.Errorf("bad --pkce value: err = %v", err)
	}
	mustRun(t, env, "", "apps", "update", def, "--pkce=optional")
	mustRun(t, env, "", "apps", "update", opt, "--pkce=required")
	if pkceOf(def) != "optional" || pkceOf(opt) != "required" {
		t.Fatalf("after update: pkce = %s, %s; want optional, required", pkceOf(def), pkceOf(opt))
	}
	if _, err := runCLI(t, env, "", "apps", "update", pub, "--pkce=optional"); err == nil {
		t.Error("a public app was switched to optional PKCE")
	}
	if _, err := runCLI(t, env, "", "apps", "update", "no-such-app", "--pkce=optional"); err == nil {
		t.Error("updating an unknown app succeeded")
	}
}

// TestE2EConfidentialClientNeedsPKCE: a confidential app must send a PKCE
// code_challenge (RFC 9700 §2.1.1) unless it opted out; the refusal comes
// before sign-in, as a redirect with invalid_request.
func TestE2EConfidentialClientNeedsPKCE(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	b := s.newBrowser(t)
	u := b.clientRedirect(b.get(conf.AuthCodeURL("state-nopkce-1")))
	if u.Query().Get("error") != "invalid_request" || u.Query().Get("code") != "" {
		t.Fatalf("confidential client without PKCE: %s", u)
	}

	if _, err := s.store.SetAppPKCEOptional(t.Context(), s.ClientID, true); err != nil {
		t.Fatal(err)
	}
	code := b.code(conf.AuthCodeURL("state-nopkce-2"), "state-nopkce-2")
	tok, err := conf.Exchange(t.Context(), code)
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("opted-out app without PKCE: %v", err)
	}
	// An opted-out app may still use PKCE, and then the verifier is checked.
	v := oauth2.GenerateVerifier()
	code = b.code(conf.AuthCodeURL("state-pkce-3", oauth2.S256ChallengeOption(v)), "state-pkce-3")
	if _, err := conf.Exchange(t.Context(), code, oauth2.SetAuthURLParam("code_verifier", oauth2.GenerateVerifier())); err == nil {
		t.Fatal("a wrong code_verifier was accepted")
	}
}
