package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
)

// flow is one authorization request of an OIDC client: its URL, state and
// PKCE verifier.
type flow struct {
	url, state, verifier string
}

func (c oidcClient) newFlow(nonce string, extra ...string) flow {
	f := flow{state: "state-" + oauth2.GenerateVerifier()[:16], verifier: oauth2.GenerateVerifier()}
	f.url = c.authURL(f.state, nonce, f.verifier, extra...)
	return f
}

// authTime returns the auth_time claim of a raw ID token.
func authTime(t *testing.T, raw string) int64 {
	t.Helper()
	_, claims := jwtParts(t, raw)
	at, _ := claims["auth_time"].(float64)
	return int64(at)
}

// redirectError asserts that p redirects to the client with error code,
// state and iss.
func redirectError(t *testing.T, b *browser, p page, f flow, code string) {
	t.Helper()
	u := b.clientRedirect(p)
	q := u.Query()
	if q.Get("error") != code || q.Get("state") != f.state || q.Get("iss") != b.s.URL || q.Get("code") != "" {
		t.Fatalf("redirect %s, want error=%s with state and iss", u, code)
	}
}

// TestOIDCPromptNone: prompt=none never shows a page: login_required when
// signed out, consent_required when consent is needed, and a code at once
// when it is remembered.
func TestOIDCPromptNone(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	c := s.registerOIDCApp(t, "RS256")
	b := s.newBrowser(t)

	f := c.newFlow("nonce-0123456789", "prompt", "none")
	redirectError(t, b, b.get(f.url), f, "login_required")

	// Signed in (through another app), no consent for this one yet.
	other := s.oauthConfig(oauth2.AuthStyleInParams)
	b.authorize(other.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	f = c.newFlow("nonce-0123456789", "prompt", "none")
	redirectError(t, b, b.get(f.url), f, "consent_required")

	// Consent given once, prompt=none answers with a code and no page.
	c.signIn(t, b, "nonce-0123456789")
	f = c.newFlow("nonce-abcdefghij", "prompt", "none")
	_, idt, _ := c.exchange(t, b.code2(b.get(f.url), f.state), f.verifier)
	if idt.Nonce != "nonce-abcdefghij" {
		t.Errorf("nonce %q", idt.Nonce)
	}
}

// TestOIDCMaxAgeAndPromptLogin: max_age within the last sign-in changes
// nothing; an older sign-in, max_age=0 or prompt=login ask for the password
// again, and auth_time moves to that sign-in.
func TestOIDCMaxAgeAndPromptLogin(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	c := s.registerOIDCApp(t, "RS256")
	b := s.newBrowser(t)
	_, _, raw := c.signIn(t, b, "nonce-0123456789")
	first := authTime(t, raw)

	f := c.newFlow("nonce-0123456789", "max_age", "3600")
	_, _, raw = c.exchange(t, b.code2(b.get(f.url), f.state), f.verifier)
	if got := authTime(t, raw); got != first {
		t.Errorf("max_age=3600: auth_time %d, want %d", got, first)
	}

	time.Sleep(2100 * time.Millisecond) // auth_time has a resolution of one second
	// prompt=none cannot ask: login_required.
	f = c.newFlow("nonce-0123456789", "max_age", "1", "prompt", "none")
	redirectError(t, b, b.get(f.url), f, "login_required")

	previous := first
	for _, extra := range [][]string{{"max_age", "1"}, {"max_age", "0"}, {"prompt", "login"}} {
		f := c.newFlow("nonce-0123456789", extra...)
		p := b.get(f.url)
		if p.StatusCode != http.StatusOK || p.Request.URL.Path != "/login" || p.Request.URL.Query().Get("reauth") != "1" {
			t.Fatalf("%v: expected the sign-in page again, got %d at %s", extra, p.StatusCode, p.Request.URL)
		}
		if !strings.Contains(p.Body, `value="`+s.Email+`"`) {
			t.Errorf("%v: the e-mail is not filled in", extra)
		}
		_, _, raw := c.exchange(t, b.code2(b.signIn(f.url), f.state), f.verifier)
		at := authTime(t, raw)
		if at <= previous {
			t.Errorf("%v: auth_time %d did not move past %d", extra, at, previous)
		}
		previous = at
		time.Sleep(1100 * time.Millisecond)
	}
}

// TestOIDCPromptLoginSignedOut: a signed-out browser with prompt=login or
// max_age=0 enters the password once, not twice.
func TestOIDCPromptLoginSignedOut(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	c := s.registerOIDCApp(t, "RS256")
	for _, extra := range [][]string{{"prompt", "login"}, {"max_age", "0"}} {
		before := time.Now().Add(-time.Second).Unix()
		_, _, raw := c.signIn(t, s.newBrowser(t), "nonce-0123456789", extra...)
		if at := authTime(t, raw); at < before {
			t.Errorf("%v: auth_time %d before the sign-in", extra, at)
		}
	}
}

// TestOIDCPromptConsent: prompt=consent shows the consent screen although
// consent is remembered.
func TestOIDCPromptConsent(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	c := s.registerOIDCApp(t, "RS256")
	b := s.newBrowser(t)
	c.signIn(t, b, "nonce-0123456789")
	f := c.newFlow("nonce-0123456789", "prompt", "consent")
	p := b.get(f.url)
	if p.StatusCode != http.StatusOK || hidden(p.Body).Get("challenge") == "" {
		t.Fatalf("prompt=consent: %d at %s, want the consent screen", p.StatusCode, p.Request.URL)
	}
	c.exchange(t, b.code2(b.decide(p, "allow"), f.state), f.verifier)
}

// TestOIDCIDTokenHint: an id_token_hint of the signed-in user is accepted,
// another user's gets login_required with prompt=none, and one that fails
// verification gets invalid_request.
func TestOIDCIDTokenHint(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	c := s.registerOIDCApp(t, "ES256")
	b := s.newBrowser(t)
	_, _, own := c.signIn(t, b, "nonce-0123456789")

	// Grace signs in to the same app in her own browser.
	hash, err := secret.HashPassword(e2ePassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.CreateUser(t.Context(), storage.NewUser{Email: "grace@example.com", PasswordHash: hash, WorkspaceID: s.WorkspaceID}); err != nil {
		t.Fatal(err)
	}
	gs := *s
	gs.Email = "grace@example.com"
	_, _, graces := c.signIn(t, gs.newBrowser(t), "nonce-0123456789")

	f := c.newFlow("nonce-0123456789", "prompt", "none", "id_token_hint", own)
	c.exchange(t, b.code2(b.get(f.url), f.state), f.verifier)

	f = c.newFlow("nonce-0123456789", "prompt", "none", "id_token_hint", graces)
	redirectError(t, b, b.get(f.url), f, "login_required")

	parts := strings.Split(own, ".")
	forged := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
	f = c.newFlow("nonce-0123456789", "prompt", "none", "id_token_hint", forged)
	redirectError(t, b, b.get(f.url), f, "invalid_request")
}

// TestOIDCCodeReuseRevokesTokens: a code exchanged twice gets invalid_grant,
// and the tokens of the first exchange stop working, UserInfo included.
func TestOIDCCodeReuseRevokesTokens(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	c := s.registerOIDCApp(t, "RS256")
	b := s.newBrowser(t)
	f := c.newFlow("nonce-0123456789")
	code := b.code(f.url, f.state)
	tok, _, _ := c.exchange(t, code, f.verifier)
	if resp, _ := userinfo(t, s, http.MethodGet, tok.AccessToken); resp.StatusCode != http.StatusOK {
		t.Fatalf("userinfo: %d", resp.StatusCode)
	}
	_, err := c.conf.Exchange(t.Context(), code, oauth2.VerifierOption(f.verifier))
	if err == nil || tokenError(t, err) != "invalid_grant" {
		t.Fatalf("second exchange: %v", err)
	}
	if resp, _ := userinfo(t, s, http.MethodGet, tok.AccessToken); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("userinfo after code reuse: %d, want 401", resp.StatusCode)
	}
	if _, err := c.conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
		t.Error("refresh token of a replayed code still works")
	}
}

// TestOIDCBadAuthorizeInput: bad OpenID Connect parameters get the
// documented error: a redirect with invalid_request when the redirect URI is
// registered, an error page (never a redirect, never a 5xx) otherwise.
func TestOIDCBadAuthorizeInput(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	c := s.registerOIDCApp(t, "RS256")
	publicID, _ := s.registerApp(t, "Public SPA", true, []string{s.RedirectURI}, []string{"openid", "profile"})
	b := s.newBrowser(t)
	c.signIn(t, b, "nonce-0123456789")

	public := c
	public.conf = &oauth2.Config{ClientID: publicID, Endpoint: c.conf.Endpoint, RedirectURL: s.RedirectURI, Scopes: []string{"openid"}}

	long := strings.Repeat("n", 513)
	redirects := []struct {
		name   string
		client oidcClient
		nonce  string
		extra  []string
		code   string
	}{
		{"unsupported prompt", c, "nonce-0123456789", []string{"prompt", "select_account"}, "invalid_request"},
		{"prompt none with login", c, "nonce-0123456789", []string{"prompt", "none login"}, "invalid_request"},
		{"nonce over 512 bytes", c, long, nil, "invalid_request"},
		{"negative max_age", c, "nonce-0123456789", []string{"max_age", "-1"}, "invalid_request"},
		{"max_age not a number", c, "nonce-0123456789", []string{"max_age", "1h"}, "invalid_request"},
		{"public client without nonce", public, "", nil, "invalid_request"},
	}
	for _, tc := range redirects {
		f := tc.client.newFlow(tc.nonce, tc.extra...)
		p := b.get(f.url)
		if p.StatusCode != http.StatusSeeOther {
			t.Errorf("%s: %d at %s, want a redirect with %s", tc.name, p.StatusCode, p.Request.URL, tc.code)
			continue
		}
		redirectError(t, b, p, f, tc.code)
	}

	pages := []struct {
		name, query string
		status      int
	}{
		{"duplicated nonce", "&nonce=aaaaaaaaaa&nonce=bbbbbbbbbb", http.StatusBadRequest},
		{"duplicated max_age", "&nonce=aaaaaaaaaa&max_age=1&max_age=2", http.StatusBadRequest},
		{"duplicated id_token_hint", "&nonce=aaaaaaaaaa&id_token_hint=a&id_token_hint=b", http.StatusBadRequest},
	}
	for _, tc := range pages {
		f := c.newFlow("")
		p := b.get(f.url + tc.query)
		if p.StatusCode != tc.status || p.Header.Get("Location") != "" {
			t.Errorf("%s: %d %q, want %d and no redirect", tc.name, p.StatusCode, p.Header.Get("Location"), tc.status)
		}
	}
	// An unregistered redirect URI never gets the error.
	f := c.newFlow("nonce-0123456789", "prompt", "select_account")
	p := b.get(strings.Replace(f.url, "127.0.0.1%3A9", "evil.example", 1))
	if p.StatusCode < 400 || p.StatusCode >= 500 || p.Header.Get("Location") != "" {
		t.Errorf("unregistered redirect URI: %d %q", p.StatusCode, p.Header.Get("Location"))
	}
}
