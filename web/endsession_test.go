package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/nextoria/authz/storage"
)

// fakeHints verifies the hints it was given, like an ID token signed by one
// of the server's keys; every other token is invalid.
type fakeHints map[string][2]string // token → aud, azp

func (f fakeHints) VerifyIDTokenHint(_ context.Context, token string) ([]string, string, error) {
	h, ok := f[token]
	if !ok {
		return nil, "", errors.New("invalid id_token_hint: forged")
	}
	return strings.Split(h[0], " "), h[1], nil
}

const (
	byeURI    = "https://crm.acme.example/bye"
	byeQuery  = "https://crm.acme.example/out?tenant=a"
	otherBye  = "https://other.example/bye"
	hintA     = "hint-for-app-a"
	hintB     = "hint-for-app-b"
	hintMulti = "hint-for-a-and-api"
	hintOld   = "hint-expired-for-app-a"
)

func endSessionEnv(t *testing.T) *testEnv {
	t.Helper()
	env := newTestEnv(t, func(c *Config) {
		c.IDTokenHints = fakeHints{
			hintA:     {"app-a", ""},
			hintOld:   {"app-a", ""},
			hintB:     {"app-b", ""},
			hintMulti: {"api app-a", "app-a"},
		}
	})
	env.store.putApp(storage.App{ClientID: "app-a", Name: "Acme CRM", WorkspaceID: "ws-1",
		RedirectURIs: []string{"https://crm.acme.example/cb"}, PostLogoutRedirectURIs: []string{byeURI, byeQuery}})
	env.store.putApp(storage.App{ClientID: "app-b", Name: "Other App", WorkspaceID: "ws-2",
		RedirectURIs: []string{"https://other.example/cb"}, PostLogoutRedirectURIs: []string{otherBye}})
	return env
}

// TestEndSession drives every branch of the end-session endpoint: who the
// request identifies, whether the post-logout redirect URI is registered for
// it, the hint's verification, and bad input. Signing out happens only on
// the confirmation's POST; a redirect goes only to a URI the identified app
// registered, with state.
func TestEndSession(t *testing.T) {
	t.Parallel()
	const signedOut = endSessionPath // where a sign-out with nowhere to go ends
	tests := []struct {
		name     string
		signedIn bool
		method   string // GET (default) or POST
		params   string // raw query or form
		// wantStatus is the first answer's status: 200 asks to confirm
		// (signed in) or is the signed-out page (not signed in), 303 goes
		// straight to wantLocation, 400 refuses.
		wantStatus int
		// wantApp is the app the confirmation names.
		wantApp string
		// wantLocation is where the browser goes after confirming (or at
		// once, with 303); signedOut for our own page.
		wantLocation string
	}{
		{name: "registered by client_id", signedIn: true, params: "client_id=app-a&post_logout_redirect_uri=" + url.QueryEscape(byeURI) + "&state=s-1",
			wantStatus: 200, wantApp: "Acme CRM", wantLocation: byeURI + "?state=s-1"},
		{name: "registered by hint", signedIn: true, params: "id_token_hint=" + hintA + "&post_logout_redirect_uri=" + url.QueryEscape(byeURI) + "&state=s-2",
			wantStatus: 200, wantApp: "Acme CRM", wantLocation: byeURI + "?state=s-2"},
		{name: "expired hint is accepted", signedIn: true, params: "id_token_hint=" + hintOld + "&post_logout_redirect_uri=" + url.QueryEscape(byeURI),
			wantStatus: 200, wantApp: "Acme CRM", wantLocation: byeURI},
		{name: "hint and client_id agree", signedIn: true, params: "id_token_hint=" + hintA + "&client_id=app-a&post_logout_redirect_uri=" + url.QueryEscape(byeURI) + "&state=s",
			wantStatus: 200, wantApp: "Acme CRM", wantLocation: byeURI + "?state=s"},
		{name: "hint with several audiences names its azp", signedIn: true, params: "id_token_hint=" + hintMulti + "&post_logout_redirect_uri=" + url.QueryEscape(byeURI),
			wantStatus: 200, wantApp: "Acme CRM", wantLocation: byeURI},
		{name: "state is escaped, the URI's query kept", signedIn: true,
			params:     "client_id=app-a&post_logout_redirect_uri=" + url.QueryEscape(byeQuery) + "&state=" + url.QueryEscape("a b&c=d#e"),
			wantStatus: 200, wantApp: "Acme CRM", wantLocation: byeQuery + "&state=a+b%26c%3Dd%23e"},
		{name: "POST from the app", signedIn: true, method: http.MethodPost, params: "client_id=app-a&post_logout_redirect_uri=" + url.QueryEscape(byeURI) + "&state=p",
			wantStatus: 200, wantApp: "Acme CRM", wantLocation: byeURI + "?state=p"},
		{name: "ui_locales and unknown parameters are ignored", signedIn: true, params: "client_id=app-a&post_logout_redirect_uri=" + url.QueryEscape(byeURI) + "&ui_locales=fr&foo=bar",
			wantStatus: 200, wantApp: "Acme CRM", wantLocation: byeURI},

		{name: "unregistered URI", signedIn: true, params: "client_id=app-a&post_logout_redirect_uri=" + url.QueryEscape("https://evil.example/") + "&state=s",
			wantStatus: 200, wantApp: "Acme CRM", wantLocation: signedOut},
		{name: "URI registered by another app", signedIn: true, params: "client_id=app-a&post_logout_redirect_uri=" + url.QueryEscape(otherBye),
			wantStatus: 200, wantApp: "Acme CRM", wantLocation: signedOut},
		{name: "URI differs by a trailing slash", signedIn: true, params: "client_id=app-a&post_logout_redirect_uri=" + url.QueryEscape(byeURI+"/"),
			wantStatus: 200, wantApp: "Acme CRM", wantLocation: signedOut},
		{name: "no URI", signedIn: true, params: "client_id=app-a&state=s",
			wantStatus: 200, wantApp: "Acme CRM", wantLocation: signedOut},
		{name: "URI without a client", signedIn: true, params: "post_logout_redirect_uri=" + url.QueryEscape(byeURI),
			wantStatus: 200, wantLocation: signedOut},
		{name: "unknown client", signedIn: true, params: "client_id=app-zzz&post_logout_redirect_uri=" + url.QueryEscape(byeURI),
			wantStatus: 200, wantLocation: signedOut},
		{name: "no parameters", signedIn: true, wantStatus: 200, wantLocation: signedOut},

		{name: "not signed in, registered URI", params: "client_id=app-a&post_logout_redirect_uri=" + url.QueryEscape(byeURI) + "&state=n",
			wantStatus: 303, wantLocation: byeURI + "?state=n"},
		{name: "not signed in, unregistered URI", params: "client_id=app-a&post_logout_redirect_uri=" + url.QueryEscape("https://evil.example/"),
			wantStatus: 200},
		{name: "not signed in, forged hint", params: "id_token_hint=forged&post_logout_redirect_uri=" + url.QueryEscape(byeURI), wantStatus: 400},

		{name: "forged hint", signedIn: true, params: "id_token_hint=forged&post_logout_redirect_uri=" + url.QueryEscape(byeURI) + "&state=s", wantStatus: 400},
		{name: "hint and client_id disagree", signedIn: true, params: "id_token_hint=" + hintB + "&client_id=app-a&post_logout_redirect_uri=" + url.QueryEscape(byeURI), wantStatus: 400},
		{name: "duplicated client_id", signedIn: true, params: "client_id=app-a&client_id=app-b&post_logout_redirect_uri=" + url.QueryEscape(otherBye), wantStatus: 400},
		{name: "duplicated post_logout_redirect_uri", signedIn: true, params: "client_id=app-a&post_logout_redirect_uri=" + url.QueryEscape(byeURI) + "&post_logout_redirect_uri=" + url.QueryEscape(otherBye), wantStatus: 400},
		{name: "duplicated state", signedIn: true, params: "client_id=app-a&state=a&state=b", wantStatus: 400},
		{name: "duplicated hint", signedIn: true, params: "id_token_hint=" + hintA + "&id_token_hint=" + hintB, wantStatus: 400},
		{name: "oversized hint", signedIn: true, params: "id_token_hint=" + strings.Repeat("a", maxIDTokenHintLen+1), wantStatus: 400},
		{name: "oversized state", signedIn: true, params: "client_id=app-a&state=" + strings.Repeat("s", maxLogoutStateLen+1), wantStatus: 400},
		{name: "oversized URI", signedIn: true, params: "client_id=app-a&post_logout_redirect_uri=https://a.example/" + strings.Repeat("x", maxLogoutURILen), wantStatus: 400},
		{name: "malformed client_id", signedIn: true, params: "client_id=" + url.QueryEscape("app a<>"), wantStatus: 400},
		{name: "invalid UTF-8 state", signedIn: true, params: "client_id=app-a&state=%FF%FE", wantStatus: 400},
		{name: "NUL in the URI", signedIn: true, params: "client_id=app-a&post_logout_redirect_uri=https://crm.acme.example/bye%00", wantStatus: 400},
		{name: "bad escape", signedIn: true, params: "client_id=app-a&state=%zz", wantStatus: 400},
		{name: "invalid UTF-8 in a POST", signedIn: true, method: http.MethodPost, params: "client_id=app-a&state=%C0%AF", wantStatus: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := endSessionEnv(t)
			b := env.browser(t)
			if tt.signedIn {
				if resp := b.login(testEmail, testPassword, ""); resp.StatusCode != http.StatusSeeOther {
					t.Fatalf("sign-in: status %d", resp.StatusCode)
				}
			}
			var resp response
			if tt.method == http.MethodPost {
				resp = b.post(endSessionPath, "application/x-www-form-urlencoded", tt.params)
			} else {
				resp = b.get(endSessionPath + "?" + tt.params)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d\n%s", resp.StatusCode, tt.wantStatus, resp.body)
			}
			if resp.Header.Get("X-Frame-Options") != "DENY" && resp.StatusCode != http.StatusSeeOther {
				t.Error("no X-Frame-Options")
			}
			stillSignedIn := func() bool { return b.get("/probe/principal").StatusCode == http.StatusOK }
			switch {
			case tt.wantStatus == http.StatusBadRequest:
				if !strings.Contains(resp.body, "You have not been signed out") {
					t.Errorf("400 page does not say so:\n%s", resp.body)
				}
				if tt.signedIn && !stillSignedIn() {
					t.Error("a refused request signed the user out")
				}
				return
			case tt.wantStatus == http.StatusSeeOther:
				if got := resp.Header.Get("Location"); got != tt.wantLocation {
					t.Errorf("Location %q, want %q", got, tt.wantLocation)
				}
				return
			case !tt.signedIn:
				doc := parseHTML(t, resp.body)
				oneByTestID(t, doc, "signed-out")
				return
			}

			// Signed in: the confirmation, which has not signed anyone out yet.
			doc := parseHTML(t, resp.body)
			oneByTestID(t, doc, "end-session")
			if !strings.Contains(textOf(doc), "Sign out of Nextoria Hub?") || textOf(oneByTestID(t, doc, "user-email")) != testEmail {
				t.Error("the confirmation does not ask or does not say who is signed in")
			}
			apps := byTestID(doc, "end-session-app-name")
			switch {
			case tt.wantApp == "" && len(apps) != 0:
				t.Errorf("confirmation names an app: %q", textOf(apps[0]))
			case tt.wantApp != "" && (len(apps) != 1 || textOf(apps[0]) != tt.wantApp):
				t.Errorf("confirmation does not name %q", tt.wantApp)
			}
			csp := resp.Header.Get("Content-Security-Policy")
			if tt.wantLocation != signedOut && !strings.Contains(csp, "form-action 'self' "+originOf(tt.wantLocation)+";") {
				t.Errorf("CSP %q does not let the form redirect to %s", csp, tt.wantLocation)
			}
			if tt.wantLocation == signedOut && !strings.Contains(csp, "form-action 'self';") {
				t.Errorf("CSP %q widens form-action with nowhere to go", csp)
			}
			if !stillSignedIn() {
				t.Fatal("showing the confirmation signed the user out")
			}
			form := hiddenFields(t, resp.body)

			// A confirmation without the anti-forgery token changes nothing.
			forged := url.Values{}
			for k, v := range form {
				forged[k] = v
			}
			forged.Set("csrf_token", "forged")
			if r := b.postForm(endSessionPath, forged); r.StatusCode != http.StatusForbidden || !stillSignedIn() {
				t.Fatalf("forged confirmation: status %d, signed in %v", r.StatusCode, stillSignedIn())
			}

			_, _, deletedBefore := env.store.counts()
			done := b.postForm(endSessionPath, form)
			if done.StatusCode != http.StatusSeeOther || done.Header.Get("Location") != tt.wantLocation {
				t.Fatalf("confirm: status %d, Location %q, want 303 to %q", done.StatusCode, done.Header.Get("Location"), tt.wantLocation)
			}
			if _, _, deleted := env.store.counts(); deleted != deletedBefore+1 {
				t.Error("the login session was not deleted server-side")
			}
			if stillSignedIn() {
				t.Error("still signed in after confirming")
			}
			if tt.wantLocation == signedOut {
				page := b.get(signedOut)
				if page.StatusCode != http.StatusOK || len(byTestID(parseHTML(t, page.body), "signed-out")) != 1 {
					t.Errorf("signed-out page: status %d", page.StatusCode)
				}
			}
		})
	}
}

// TestEndSessionWithoutVerifier: a server without a hint verifier refuses
// every hint rather than trusting it.
func TestEndSessionWithoutVerifier(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	b := env.browser(t)
	b.login(testEmail, testPassword, "")
	if r := b.get(endSessionPath + "?id_token_hint=x"); r.StatusCode != http.StatusBadRequest {
		t.Errorf("status %d, want 400", r.StatusCode)
	}
}
