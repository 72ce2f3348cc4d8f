package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	dcr "github.com/nextoria/authz/registration"
	"github.com/nextoria/authz/storage"
)

// TestRegistrationOpenIDConnectMetadata registers clients with the OpenID
// Connect metadata, reads it back, replaces it, and signs a user in with
// the ID token algorithm the client chose.
func TestRegistrationOpenIDConnectMetadata(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	_, token := s.initialToken(t, time.Hour)
	provider, err := oidc.NewProvider(t.Context(), s.URL)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	bye := []string{"https://sync.example/signed-out", "http://127.0.0.1:9/bye"}

	for _, tc := range []struct {
		name, sent, want string
	}{
		{"default", "", storage.IDTokenRS256},
		{"RS256", storage.IDTokenRS256, storage.IDTokenRS256},
		{"ES256", storage.IDTokenES256, storage.IDTokenES256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			redirect := "http://127.0.0.1:9/oidc-" + tc.name
			md := map[string]any{
				"client_name": "Sign-in " + tc.name, "redirect_uris": []string{redirect},
				"scope": "openid profile email", "post_logout_redirect_uris": bye,
			}
			if tc.sent != "" {
				md["id_token_signed_response_alg"] = tc.sent
			}
			c := s.register(t, token, md)
			clientID := c["client_id"].(string)
			if c["id_token_signed_response_alg"] != tc.want || !sameStrings(c["post_logout_redirect_uris"], bye) {
				t.Errorf("answer: alg %v, post-logout URIs %v", c["id_token_signed_response_alg"], c["post_logout_redirect_uris"])
			}
			app, err := s.store.GetApp(t.Context(), clientID)
			if err != nil {
				t.Fatal(err)
			}
			if app.IDTokenAlg != tc.want || !slices.Equal(app.PostLogoutRedirectURIs, bye) {
				t.Errorf("stored app: alg %q, post-logout URIs %v", app.IDTokenAlg, app.PostLogoutRedirectURIs)
			}
			rat, uri := c["registration_access_token"].(string), c["registration_client_uri"].(string)
			status, _, got := regCall(t, http.MethodGet, uri, rat, "", nil)
			if status != http.StatusOK || got["id_token_signed_response_alg"] != tc.want || !sameStrings(got["post_logout_redirect_uris"], bye) {
				t.Fatalf("read: %d %v", status, got)
			}

			// A sign-in gives an ID token signed with the chosen algorithm.
			conf := &oauth2.Config{
				ClientID: clientID, ClientSecret: c["client_secret"].(string), RedirectURL: redirect,
				Endpoint: provider.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "profile", "email"},
			}
			rp := oidcClient{provider: provider, conf: conf,
				verifier: provider.Verifier(&oidc.Config{ClientID: clientID, SupportedSigningAlgs: []string{tc.want}})}
			nonce := "n-" + oauth2.GenerateVerifier()
			_, idt, raw := rp.signIn(t, s.newBrowser(t), nonce)
			if header, _ := jwtParts(t, raw); header["alg"] != tc.want || idt.Nonce != nonce || idt.Subject != s.UserID {
				t.Errorf("ID token: header %v, nonce %q, sub %q", header, idt.Nonce, idt.Subject)
			}

			// A full replacement: left out, the algorithm returns to RS256
			// and the post-logout URIs go; sent, they are replaced.
			status, _, upd := regCall(t, http.MethodPut, uri, rat, "application/json", regJSON(t, map[string]any{
				"client_id": clientID, "client_name": "Sign-in v2", "redirect_uris": []string{redirect},
			}))
			if status != http.StatusOK || upd["id_token_signed_response_alg"] != storage.IDTokenRS256 || upd["post_logout_redirect_uris"] != nil {
				t.Fatalf("update without the fields: %d %v", status, upd)
			}
			rat = upd["registration_access_token"].(string)
			status, _, upd = regCall(t, http.MethodPut, uri, rat, "application/json", regJSON(t, map[string]any{
				"client_id": clientID, "client_name": "Sign-in v3", "redirect_uris": []string{redirect},
				"id_token_signed_response_alg": storage.IDTokenES256, "post_logout_redirect_uris": bye[:1],
			}))
			if status != http.StatusOK || upd["id_token_signed_response_alg"] != storage.IDTokenES256 || !sameStrings(upd["post_logout_redirect_uris"], bye[:1]) {
				t.Fatalf("update with the fields: %d %v", status, upd)
			}
			rat = upd["registration_access_token"].(string)
			app, err = s.store.GetApp(t.Context(), clientID)
			if err != nil {
				t.Fatal(err)
			}
			if app.IDTokenAlg != storage.IDTokenES256 || !slices.Equal(app.PostLogoutRedirectURIs, bye[:1]) {
				t.Errorf("stored app after update: alg %q, post-logout URIs %v", app.IDTokenAlg, app.PostLogoutRedirectURIs)
			}

			// Bad values in an update change nothing.
			for _, bad := range []struct {
				field string
				value any
				code  string
			}{
				{"id_token_signed_response_alg", "HS256", dcr.CodeInvalidClientMetadata},
				{"post_logout_redirect_uris", []string{"https://*.sync.example/bye"}, dcr.CodeInvalidRedirectURI},
			} {
				body := map[string]any{"client_id": clientID, "client_name": "Sign-in bad", "redirect_uris": []string{redirect}}
				body[bad.field] = bad.value
				status, _, got := regCall(t, http.MethodPut, uri, rat, "application/json", regJSON(t, body))
				if status != http.StatusBadRequest || got["error"] != bad.code {
					t.Errorf("update with bad %s: %d %v, want 400 %s", bad.field, status, got, bad.code)
				}
			}
			if after, err := s.store.GetApp(t.Context(), clientID); err != nil || after.Name != "Sign-in v3" || after.IDTokenAlg != storage.IDTokenES256 {
				t.Errorf("a refused update changed the app: %+v %v", after, err)
			}
		})
	}
}

// sameStrings reports whether a decoded JSON array holds exactly want.
func sameStrings(v any, want []string) bool {
	list, ok := v.([]any)
	if !ok || len(list) != len(want) {
		return false
	}
	for i, w := range want {
		if list[i] != w {
			return false
		}
	}
	return true
}

// TestRegistrationAudit: registering, updating and deleting a client by API
// are in the workspace's audit log, with the registration API as the actor
// (the initial access token's id, then the client), the client address and
// the User-Agent, and no credential anywhere in the log.
func TestRegistrationAudit(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	tokenID, token := s.initialToken(t, time.Hour)
	c := s.register(t, token, map[string]any{"client_name": "Audited sync", "redirect_uris": []string{"http://127.0.0.1:9/audit"}})
	clientID := c["client_id"].(string)
	rat, uri := c["registration_access_token"].(string), c["registration_client_uri"].(string)
	status, _, upd := regCall(t, http.MethodPut, uri, rat, "application/json", regJSON(t, map[string]any{
		"client_id": clientID, "client_name": "Audited sync v2", "redirect_uris": []string{"http://127.0.0.1:9/audit"},
	}))
	if status != http.StatusOK {
		t.Fatalf("update: %d %v", status, upd)
	}
	newRAT := upd["registration_access_token"].(string)
	// A refused update records nothing.
	if status, _, _ := regCall(t, http.MethodPut, uri, newRAT, "application/json", regJSON(t, map[string]any{
		"client_id": clientID, "client_name": "", "redirect_uris": []string{"http://127.0.0.1:9/audit"},
	})); status != http.StatusBadRequest {
		t.Fatalf("bad update: %d", status)
	}
	if status, _, body := regCall(t, http.MethodDelete, uri, newRAT, "", nil); status != http.StatusNoContent {
		t.Fatalf("delete: %d %v", status, body)
	}

	out := mustRun(t, testEnv(s.cfg.Database.URL), "", "audit", "list", "--workspace", s.WorkspaceID, "--json")
	type want struct{ kind, id, name string }
	wants := map[string]want{
		storage.AuditAppCreated: {storage.ActorRegistrationToken, tokenID, "Audited sync"},
		storage.AuditAppUpdated: {storage.ActorClient, clientID, "Audited sync v2"},
		storage.AuditAppDeleted: {storage.ActorClient, clientID, "Audited sync v2"},
	}
	seen := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var ev auditEventJSON
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("not a JSON line: %v: %s", err, sc.Text())
		}
		w, ok := wants[ev.Action]
		if !ok || ev.TargetID != clientID {
			continue
		}
		seen[ev.Action]++
		if ev.ActorKind != w.kind || ev.ActorID != w.id || ev.TargetKind != storage.TargetApp {
			t.Errorf("%s: actor %s:%s target %s, want %s:%s app", ev.Action, ev.ActorKind, ev.ActorID, ev.TargetKind, w.kind, w.id)
		}
		if ev.Details["via"] != "registration_api" || ev.Details["app_name"] != w.name {
			t.Errorf("%s: details %v", ev.Action, ev.Details)
		}
		if ev.ClientIP != "127.0.0.1" || !strings.HasPrefix(ev.UserAgent, "Go-http-client/") {
			t.Errorf("%s: client ip %q, user agent %q", ev.Action, ev.ClientIP, ev.UserAgent)
		}
	}
	for action := range wants {
		if seen[action] != 1 {
			t.Errorf("%s recorded %d times, want once; log:\n%s", action, seen[action], out)
		}
	}
	var leaks int
	if err := s.store.Pool().QueryRow(t.Context(),
		`SELECT count(*) FROM audit_events WHERE details::text LIKE '%' || $1 || '%' OR details::text LIKE '%' || $2 || '%'
		    OR details::text LIKE '%' || $3 || '%' OR actor_id IN ($1, $2, $3)`,
		token, rat, newRAT).Scan(&leaks); err != nil {
		t.Fatal(err)
	}
	if leaks != 0 {
		t.Errorf("%d audit events hold a token", leaks)
	}
}
