package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"

	"github.com/nextoria/authz/storage"
)

// setPostLogoutURIs registers uris as the post-logout redirect URIs of clientID.
func (s *e2eServer) setPostLogoutURIs(t testing.TB, clientID string, uris ...string) {
	t.Helper()
	app, err := s.store.GetApp(t.Context(), clientID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.UpdateApp(t.Context(), clientID, storage.AppUpdate{
		Name: app.Name, RedirectURIs: app.RedirectURIs, Scopes: app.Scopes,
		HomepageURL: app.HomepageURL, PrivacyURL: app.PrivacyURL, Description: app.Description,
		PostLogoutRedirectURIs: uris,
	}); err != nil {
		t.Fatal(err)
	}
}

// idTokenHint signs an ID-token-shaped JWT for the test user with key
// (the server's active signing key unless given), issued an hour ago and
// expired since.
func (s *e2eServer) idTokenHint(t testing.TB, aud, iss string, key *jose.JSONWebKey) string {
	t.Helper()
	if key == nil {
		key = s.app.keySet.Active()
	}
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	payload, err := json.Marshal(map[string]any{"iss": iss, "sub": s.UserID, "aud": aud,
		"iat": now.Add(-time.Hour).Unix(), "exp": now.Add(-time.Minute).Unix(), "auth_time": now.Add(-time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	jws, err := sg.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// signInDirect signs the browser in through the sign-in page.
func (b *browser) signInDirect() {
	b.t.Helper()
	p := b.get(b.s.URL + "/login")
	f := hidden(p.Body)
	f.Set("email", b.s.Email)
	f.Set("password", e2ePassword)
	if got := b.post(b.s.URL+"/login", f); got.StatusCode != http.StatusOK {
		b.t.Fatalf("sign-in: status %d", got.StatusCode)
	}
}

// signedIn reports whether the browser's session still opens the settings.
func (b *browser) signedIn() bool {
	b.t.Helper()
	p := b.get(b.s.URL + "/settings/api/apps")
	return p.StatusCode == http.StatusOK && !strings.Contains(p.Request.URL.Path, "/login")
}

// TestEndSessionE2E: RP-initiated logout against a running server, with ID
// token hints signed by the server's own key (an expired one is accepted),
// a forged one and one from another issuer (refused, nobody signed out), and
// the confirmation posted cross-site (refused by the cross-origin check).
func TestEndSessionE2E(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	const bye = "http://127.0.0.1:9/bye"
	s.setPostLogoutURIs(t, s.ClientID, bye)
	foreign, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	forgedKey := &jose.JSONWebKey{Key: foreign, KeyID: s.app.keySet.Active().KeyID, Algorithm: "ES256"}
	endSession := func(v url.Values) string { return s.URL + "/oauth/end-session?" + v.Encode() }

	t.Run("registered URI with an expired hint", func(t *testing.T) {
		t.Parallel()
		b := s.newBrowser(t)
		b.signInDirect()
		confirm := b.get(endSession(url.Values{"id_token_hint": {s.idTokenHint(t, s.ClientID, s.URL, nil)},
			"post_logout_redirect_uri": {bye}, "state": {"st-123"}}))
		if confirm.StatusCode != http.StatusOK || !strings.Contains(confirm.Body, "Sign out of Nextoria Hub?") ||
			!strings.Contains(confirm.Body, "Test App") {
			t.Fatalf("confirmation: status %d\n%.400s", confirm.StatusCode, confirm.Body)
		}
		if confirm.Header.Get("X-Frame-Options") != "DENY" || !strings.Contains(confirm.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Error("the confirmation can be framed")
		}
		if !b.signedIn() {
			t.Fatal("showing the confirmation signed out")
		}
		f := hidden(confirm.Body)
		cross := b.post(s.URL+"/oauth/end-session", f, "Sec-Fetch-Site", "cross-site")
		if cross.StatusCode != http.StatusForbidden || !b.signedIn() {
			t.Fatalf("cross-site confirmation: status %d, signed in %v", cross.StatusCode, b.signedIn())
		}
		done := b.post(s.URL+"/oauth/end-session", f, "Sec-Fetch-Site", "same-origin")
		if done.StatusCode != http.StatusSeeOther || done.Header.Get("Location") != bye+"?state=st-123" {
			t.Fatalf("confirm: %d %q", done.StatusCode, done.Header.Get("Location"))
		}
		if b.signedIn() {
			t.Error("still signed in after the sign-out")
		}
	})

	t.Run("an app's cross-site form post continues as a GET to the confirmation", func(t *testing.T) {
		t.Parallel()
		b := s.newBrowser(t)
		b.signInDirect()
		f := url.Values{"id_token_hint": {s.idTokenHint(t, s.ClientID, s.URL, nil)},
			"post_logout_redirect_uri": {bye}, "state": {"st-post"}}
		confirm := b.post(s.URL+"/oauth/end-session", f, "Sec-Fetch-Site", "cross-site", "Origin", "https://app.example")
		if confirm.StatusCode != http.StatusOK || !strings.Contains(confirm.Body, "Sign out of Nextoria Hub?") {
			t.Fatalf("cross-site request: status %d at %s\n%.400s", confirm.StatusCode, confirm.Request.URL, confirm.Body)
		}
		if confirm.Request.Method != http.MethodGet || confirm.Request.URL.Query().Get("state") != "st-post" ||
			confirm.Request.URL.Query().Get("post_logout_redirect_uri") != bye {
			t.Errorf("continued as %s %s", confirm.Request.Method, confirm.Request.URL)
		}
		if !b.signedIn() {
			t.Fatal("an app's request signed the person out without confirmation")
		}
		done := b.post(s.URL+"/oauth/end-session", hidden(confirm.Body), "Sec-Fetch-Site", "same-origin")
		if done.StatusCode != http.StatusSeeOther || done.Header.Get("Location") != bye+"?state=st-post" {
			t.Fatalf("confirm: %d %q", done.StatusCode, done.Header.Get("Location"))
		}
		if b.signedIn() {
			t.Error("still signed in after the sign-out")
		}
	})

	t.Run("unregistered URI ends on the signed-out page", func(t *testing.T) {
		t.Parallel()
		b := s.newBrowser(t)
		b.signInDirect()
		confirm := b.get(endSession(url.Values{"client_id": {s.ClientID}, "post_logout_redirect_uri": {"https://evil.example/"}, "state": {"x"}}))
		done := b.post(s.URL+"/oauth/end-session", hidden(confirm.Body))
		if done.StatusCode != http.StatusOK || done.Request.URL.Host != strings.TrimPrefix(s.URL, "http://") ||
			!strings.Contains(done.Body, "You are signed out") {
			t.Fatalf("end: %d at %s\n%.300s", done.StatusCode, done.Request.URL, done.Body)
		}
		if b.signedIn() {
			t.Error("still signed in")
		}
	})

	for _, tt := range []struct{ name, hint string }{
		{"forged hint", s.idTokenHint(t, s.ClientID, s.URL, forgedKey)},
		{"foreign issuer", s.idTokenHint(t, s.ClientID, "https://other-issuer.example", nil)},
		{"malformed hint", "eyJhbGciOiJFUzI1NiJ9.e30"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := s.newBrowser(t)
			b.signInDirect()
			p := b.get(endSession(url.Values{"id_token_hint": {tt.hint}, "post_logout_redirect_uri": {bye}, "state": {"s"}}))
			if p.StatusCode != http.StatusBadRequest || !strings.Contains(p.Body, "You have not been signed out") {
				t.Fatalf("status %d\n%.300s", p.StatusCode, p.Body)
			}
			if !b.signedIn() {
				t.Error("a refused hint signed the user out")
			}
		})
	}
}
