package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/storagetest"
)

// auditStory is what TestE2EAuditFullStory did and the secrets it handled.
type auditStory struct {
	s       *e2eServer
	secrets []string
}

// runAuditStory signs in with a wrong then the right password, consents,
// redeems the code, rotates the app's secret, refreshes, reuses the old
// refresh token, creates and revokes an API key, and signs out: all over
// HTTP, as a browser and an app would.
func runAuditStory(t *testing.T) auditStory {
	t.Helper()
	s := startE2E(t, func(c *Config) { c.OAuth.RefreshGracePeriod = 0 })
	story := auditStory{s: s, secrets: []string{e2ePassword, s.ClientSecret, s.cfg.Secrets.System}}
	const wrongPassword = "Tr0ub4dor&3-wrong"
	story.secrets = append(story.secrets, wrongPassword)

	conf := s.oauthConfig(oauth2.AuthStyleInHeader)
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("audit-story-state", oauth2.S256ChallengeOption(verifier))
	b := s.newBrowser(t)
	login := b.get(authURL)
	if !strings.Contains(login.Request.URL.Path, "/login") {
		t.Fatalf("expected the sign-in page, got %d at %s: %.600s", login.StatusCode, login.Request.URL, login.Body)
	}
	f := hidden(login.Body)
	f.Set("email", s.Email)
	f.Set("password", wrongPassword)
	if p := b.post(s.URL+"/login", f); p.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", p.StatusCode)
	}
	f.Set("password", e2ePassword)
	consentPage := b.post(s.URL+"/login", f)
	u := b.clientRedirect(b.decide(consentPage, "allow"))
	code := u.Query().Get("code")
	if code == "" {
		t.Fatalf("no code: %s", u)
	}
	story.secrets = append(story.secrets, code)
	tok, err := conf.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	story.secrets = append(story.secrets, tok.AccessToken, tok.RefreshToken)

	// Rotate the app's secret, keeping the old one for an hour.
	appPage := b.get(s.URL + "/settings/api/apps/" + s.ClientID)
	rotate := url.Values{"csrf_token": {formToken(t, appPage.Body, "/settings/api/apps/"+s.ClientID+"/secret")}, "overlap": {"1h"}}
	rotated := b.post(s.URL+"/settings/api/apps/"+s.ClientID+"/secret", rotate)
	newSecret := byTestID(t, rotated.Body, "client-secret")
	if rotated.StatusCode != http.StatusOK || len(newSecret) != 1 {
		t.Fatalf("rotate: %d", rotated.StatusCode)
	}
	story.secrets = append(story.secrets, newSecret[0])

	// Refresh once, then present the first refresh token again: reuse.
	next, err := conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	story.secrets = append(story.secrets, next.AccessToken, next.RefreshToken)
	_, err = conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if got := tokenError(t, err); got != "invalid_grant" {
		t.Fatalf("reuse: %s, want invalid_grant", got)
	}

	// An API key, created and revoked from the settings pages.
	newKey := b.get(s.URL + "/settings/api/keys/new")
	created := b.post(s.URL+"/settings/api/keys", url.Values{
		"csrf_token": {formToken(t, newKey.Body, "/settings/api/keys")},
		"name":       {"Audit story"}, "scope": {"projects:read"}, "expiry": {"30d"},
	})
	key := byTestID(t, created.Body, "api-key")
	if len(key) != 1 {
		t.Fatalf("create API key: %d", created.StatusCode)
	}
	story.secrets = append(story.secrets, key[0])
	keyID := regexp.MustCompile(`data-key-id="([^"]+)"`).FindStringSubmatch(created.Body)
	if keyID == nil {
		t.Fatal("no key id on the keys page")
	}
	revokePath := "/settings/api/keys/" + keyID[1] + "/revoke"
	confirm := b.get(s.URL + revokePath)
	if p := b.post(s.URL+revokePath, url.Values{"csrf_token": {formToken(t, confirm.Body, revokePath)}, "confirm": {"yes"}}); p.StatusCode != http.StatusOK {
		t.Fatalf("revoke API key: %d", p.StatusCode)
	}

	home := b.get(s.URL + "/")
	if p := b.post(s.URL+"/logout", url.Values{"csrf_token": {formToken(t, home.Body, "/logout")}}); p.StatusCode != http.StatusOK {
		t.Fatalf("sign out: %d", p.StatusCode)
	}
	return story
}

// TestE2EAuditFullStory reads the trail of a full story through the CLI:
// every event exactly once, with its actor and client address, and none of
// the story's secrets anywhere in the audit_events table.
func TestE2EAuditFullStory(t *testing.T) {
	t.Parallel()
	story := runAuditStory(t)
	s := story.s

	out := mustRun(t, testEnv(s.cfg.Database.URL), "", "audit", "list", "--workspace", s.WorkspaceID, "--json")
	counts := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var ev auditEventJSON
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("not a JSON line: %v: %s", err, sc.Text())
		}
		counts[ev.Action]++
		wantActor, wantKind := s.UserID, storage.ActorUser
		if ev.Action == storage.AuditTokenReuseDetected {
			wantActor, wantKind = s.ClientID, storage.ActorClient
		}
		if ev.ActorKind != wantKind || ev.ActorID != wantActor {
			t.Errorf("%s: actor %s:%s, want %s:%s", ev.Action, ev.ActorKind, ev.ActorID, wantKind, wantActor)
		}
		if ev.ClientIP != "127.0.0.1" || ev.UserAgent == "" {
			t.Errorf("%s: client ip %q, user agent %q", ev.Action, ev.ClientIP, ev.UserAgent)
		}
		if ev.WorkspaceID != s.WorkspaceID {
			t.Errorf("%s: workspace %q", ev.Action, ev.WorkspaceID)
		}
	}
	for _, action := range []string{
		storage.AuditSignInFailed, storage.AuditSignInSucceeded, storage.AuditConsentGranted,
		storage.AuditAppSecretRotated, storage.AuditTokenReuseDetected, storage.AuditAPIKeyCreated,
		storage.AuditAPIKeyRevoked, storage.AuditSignOut,
	} {
		if counts[action] != 1 {
			t.Errorf("%s recorded %d times, want once", action, counts[action])
		}
	}
	if len(counts) != 8 {
		t.Errorf("actions recorded: %v", counts)
	}

	// --action filters; the table form names the actor by e-mail.
	failed := mustRun(t, testEnv(s.cfg.Database.URL), "", "audit", "list", "--workspace", s.WorkspaceID, "--action", "signin.failed", "--since", "1h", "--json")
	if n := strings.Count(failed, "\n"); n != 1 || !strings.Contains(failed, `"signin.failed"`) {
		t.Errorf("--action signin.failed printed %d lines: %s", n, failed)
	}
	table := mustRun(t, testEnv(s.cfg.Database.URL), "", "audit", "list", "--workspace", s.WorkspaceID)
	if !strings.HasPrefix(table, "TIME") || !strings.Contains(table, "user:"+s.Email) || !strings.Contains(table, "client:"+s.ClientID) {
		t.Errorf("table:\n%s", table)
	}

	// The Security log is for administrators: a member gets 403.
	s.addUser(t, "member@example.com", s.WorkspaceID, storage.RoleMember)
	if p := s.signedInAs(t, "member@example.com").get(s.URL + "/settings/security-log"); p.StatusCode != http.StatusForbidden {
		t.Errorf("member: security log status %d, want 403", p.StatusCode)
	}

	// No secret of the story, nor any long part of one, in any column.
	var needles []string
	for _, sec := range story.secrets {
		needles = append(needles, sec)
		for _, part := range strings.FieldsFunc(sec, func(r rune) bool { return r == '.' || r == '_' }) {
			if len(part) >= 16 {
				needles = append(needles, part)
			}
		}
	}
	rows, err := s.store.Pool().Query(t.Context(), `SELECT e::text FROM audit_events e`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var n int
	for rows.Next() {
		var row string
		if err := rows.Scan(&row); err != nil {
			t.Fatal(err)
		}
		n++
		for _, needle := range needles {
			if strings.Contains(row, needle) {
				t.Errorf("a secret of the story is in audit_events: %.60s… in %s", needle, row)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 8 {
		t.Errorf("scanned %d rows, want at least 8", n)
	}
}

// TestCLIAuditListRejectsBadInput: bad flags get a clear error.
func TestCLIAuditListRejectsBadInput(t *testing.T) {
	t.Parallel()
	env := testEnv(storagetest.NewDatabase(t))
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--action", "app.exploded"}, "--action"},
		{[]string{"--since", "-1h"}, "--since"},
		{[]string{"--limit", "0"}, "--limit"},
		{[]string{"--workspace", "00000000-0000-4000-8000-000000000000"}, "no workspace"},
		{[]string{"--workspace", "not-a-uuid"}, "no workspace"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := runCLI(t, env, "", append([]string{"audit", "list"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one naming %q", err, tt.want)
			}
		})
	}
}
