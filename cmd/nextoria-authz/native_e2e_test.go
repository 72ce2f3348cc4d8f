package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// TestE2ELoopbackRedirectRules: the any-port loopback rule (RFC 8252 §7.3)
// serves public clients only, and a loopback redirect with userinfo is
// refused with the error page, never followed.
func TestE2ELoopbackRedirectRules(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	publicID, _ := s.registerApp(t, "Desktop App", true, []string{"http://127.0.0.1/callback"}, []string{"projects:read"})
	v := oauth2.GenerateVerifier()
	build := func(clientID, redirect string) string {
		q := url.Values{
			"client_id": {clientID}, "redirect_uri": {redirect}, "response_type": {"code"},
			"scope": {"projects:read"}, "state": {"state-12345678"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(v)}, "code_challenge_method": {"S256"},
		}
		return s.URL + "/oauth/authorize?" + q.Encode()
	}
	refused := []struct{ name, url string }{
		// s.RedirectURI is http://127.0.0.1:9/callback, registered by a confidential app.
		{"confidential client on another loopback port", build(s.ClientID, "http://127.0.0.1:4444/callback")},
		{"public client with userinfo", build(publicID, "http://evil@127.0.0.1:1234/callback")},
		{"confidential client with userinfo", build(s.ClientID, "http://evil@127.0.0.1:9/callback")},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := s.newBrowser(t).get(tt.url)
			if p.StatusCode != http.StatusBadRequest || p.Header.Get("Location") != "" {
				t.Fatalf("status %d, Location %q; want the 400 error page", p.StatusCode, p.Header.Get("Location"))
			}
			if !strings.Contains(p.Body, `data-error-class="redirect_uri_not_registered"`) {
				t.Fatalf("not the unregistered-redirect error page: %.200s", p.Body)
			}
		})
	}
	t.Run("public client on any loopback port", func(t *testing.T) {
		t.Parallel()
		b := s.newBrowser(t)
		p := b.signIn(build(publicID, "http://127.0.0.1:4444/callback"))
		u := b.clientRedirect(b.decide(p, "allow"))
		if u.Host != "127.0.0.1:4444" || u.Query().Get("code") == "" {
			t.Fatalf("redirect = %s", u)
		}
	})
}

// TestE2EPublicLoopbackConsentNotRemembered: a public client on a loopback
// redirect gets the consent screen every time, even after the user allowed
// it (RFC 8252 §8.6), and prompt=none answers consent_required. A
// confidential client's remembered consent still skips the screen.
func TestE2EPublicLoopbackConsentNotRemembered(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	redirect := "http://127.0.0.1/callback"
	publicID, _ := s.registerApp(t, "CLI Tool", true, []string{redirect}, []string{"projects:read"})
	v := oauth2.GenerateVerifier()
	build := func(clientID, redirect, prompt string) string {
		q := url.Values{
			"client_id": {clientID}, "redirect_uri": {redirect}, "response_type": {"code"},
			"scope": {"projects:read"}, "state": {"state-12345678"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(v)}, "code_challenge_method": {"S256"},
		}
		if prompt != "" {
			q.Set("prompt", prompt)
		}
		return s.URL + "/oauth/authorize?" + q.Encode()
	}
	b := s.newBrowser(t)
	first := b.clientRedirect(b.decide(b.signIn(build(publicID, "http://127.0.0.1:5000/callback", "")), "allow"))
	if first.Query().Get("code") == "" {
		t.Fatalf("first authorization: %s", first)
	}
	// Same client, same scopes, another local port: asked again.
	p := b.get(build(publicID, "http://127.0.0.1:6000/callback", ""))
	if p.StatusCode != http.StatusOK || hidden(p.Body).Get("challenge") == "" {
		t.Fatalf("remembered consent re-authorized a public loopback client: %d %s", p.StatusCode, p.Header.Get("Location"))
	}
	u := b.clientRedirect(b.get(build(publicID, "http://127.0.0.1:6000/callback", "none")))
	if u.Query().Get("error") != "consent_required" || u.Query().Get("code") != "" {
		t.Fatalf("prompt=none: %s", u)
	}

	// The confidential app's remembered consent is honoured.
	b.clientRedirect(b.decide(b.get(build(s.ClientID, s.RedirectURI, "")), "allow"))
	if u := b.clientRedirect(b.get(build(s.ClientID, s.RedirectURI, "none"))); u.Query().Get("code") == "" {
		t.Fatalf("confidential remembered consent: %s", u)
	}
}
