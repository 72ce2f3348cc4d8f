package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"golang.org/x/oauth2"

	"github.com/nextoria/authz/consent"
)

// TestE2EAuthorizationCodeFlow drives the documented flow with
// golang.org/x/oauth2: S256 PKCE and state, sign-in, Allow, exchange with
// client_secret_post, JWT verification against the published JWKS, refresh.
func TestE2EAuthorizationCodeFlow(t *testing.T) {
	t.Parallel()
	s := startE2E(t, func(c *Config) { c.OAuth.RefreshGracePeriod = 0 })
	ctx := t.Context()
	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	verifier := oauth2.GenerateVerifier()
	state := "state-" + oauth2.GenerateVerifier()[:16]
	authURL := conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))

	b := s.newBrowser(t)
	consentPage := b.signIn(authURL)
	if consentPage.StatusCode != http.StatusOK {
		t.Fatalf("consent page status %d", consentPage.StatusCode)
	}
	for _, want := range []string{"Test App", s.Email, "Analytical Engines", "See your projects", "See the tasks in all your projects", "127.0.0.1:9", "Published by", "Not you? Use another account"} {
		if !strings.Contains(consentPage.Body, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	code := b.code2(b.decide(consentPage, "allow"), state)

	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if tok.TokenType != "Bearer" || tok.RefreshToken == "" {
		t.Fatalf("token_type %q, refresh token %q", tok.TokenType, tok.RefreshToken)
	}
	if got := tok.Extra("scope"); got != "projects:read tasks:read" {
		t.Errorf("scope = %v", got)
	}
	if ei, _ := tok.Extra("expires_in").(float64); ei != 3600 {
		t.Errorf("expires_in = %v, want 3600", tok.Extra("expires_in"))
	}
	claims := s.verifyJWT(t, tok.AccessToken)
	checks := map[string]any{
		"iss": s.URL, "sub": s.UserID, "client_id": s.ClientID, "scope": "projects:read tasks:read",
		"workspace_id": s.WorkspaceID,
	}
	for k, want := range checks {
		if claims[k] != want {
			t.Errorf("claim %s = %v, want %v", k, claims[k], want)
		}
	}
	if aud, _ := claims["aud"].([]any); len(aud) != 1 || aud[0] != s.URL {
		t.Errorf("aud = %v, want [%s]", claims["aud"], s.URL)
	}
	if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 3600 {
		t.Errorf("exp - iat = %v, want 3600", exp-iat)
	}
	if jti, _ := claims["jti"].(string); jti == "" {
		t.Error("no jti")
	}

	// Refresh through the token source once the access token has expired.
	tok.Expiry = time.Now().Add(-time.Minute)
	refreshed, err := conf.TokenSource(ctx, tok).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if refreshed.AccessToken == tok.AccessToken || refreshed.RefreshToken == tok.RefreshToken || refreshed.RefreshToken == "" {
		t.Fatal("refresh did not rotate both tokens")
	}
	c2 := s.verifyJWT(t, refreshed.AccessToken)
	if c2["jti"] == claims["jti"] {
		t.Error("refreshed token reuses the jti")
	}
	if c2["sub"] != s.UserID || c2["scope"] != "projects:read tasks:read" {
		t.Errorf("refreshed claims %v", c2)
	}
	// The rotated refresh token is spent (reuse is theft: it revokes the grant).
	_, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err == nil || tokenError(t, err) != "invalid_grant" {
		t.Fatalf("old refresh token after rotation: %v", err)
	}
}

// code2 extracts the code from a decision's redirect.
func (b *browser) code2(p page, state string) string {
	b.t.Helper()
	u := b.clientRedirect(p)
	q := u.Query()
	if q.Get("error") != "" || q.Get("code") == "" {
		b.t.Fatalf("no code: %s", u)
	}
	if q.Get("state") != state || q.Get("iss") != b.s.URL {
		b.t.Fatalf("state %q iss %q", q.Get("state"), q.Get("iss"))
	}
	return q.Get("code")
}

// verifyJWT checks the access token's signature against the JWKS found
// through the RFC 8414 metadata, and returns its claims.
func (s *e2eServer) verifyJWT(t *testing.T, token string) map[string]any {
	t.Helper()
	var meta struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	getJSON(t, s.URL+"/.well-known/oauth-authorization-server", &meta)
	if meta.Issuer != s.URL {
		t.Fatalf("metadata issuer %q", meta.Issuer)
	}
	var set jose.JSONWebKeySet
	getJSON(t, meta.JWKSURI, &set)
	sig, err := jose.ParseSigned(token)
	if err != nil {
		t.Fatalf("parse JWT: %v", err)
	}
	h := sig.Signatures[0].Protected
	if h.Algorithm != "ES256" || h.ExtraHeaders["typ"] != "at+jwt" {
		t.Fatalf("header alg %q typ %v", h.Algorithm, h.ExtraHeaders["typ"])
	}
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q not in JWKS", h.KeyID)
	}
	payload, err := sig.Verify(keys[0].Key)
	if err != nil {
		t.Fatalf("signature does not verify against the JWKS: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func getJSON(t *testing.T, u string, into any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// rawToken posts a token request to s and returns the response and its decoded body.
func rawToken(t *testing.T, s *e2eServer, form url.Values, basicUser, basicPass string) (*http.Response, map[string]any) {
	t.Helper()
	return postForm(t, s.URL+"/v1/oauth/token", form, basicUser, basicPass)
}

// postForm posts a URL-encoded form, with HTTP Basic credentials when
// basicUser is set, and returns the response and its decoded JSON body.
func postForm(t *testing.T, u string, form url.Values, basicUser, basicPass string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(url.QueryEscape(basicUser), url.QueryEscape(basicPass))
	}
	return doJSON(t, req)
}

// doJSON sends req and returns the response and its decoded JSON body (nil
// when the body is not JSON).
func doJSON(t *testing.T, req *http.Request) (*http.Response, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp, body
}

// TestE2ETokenResponseIsExactlyDocumented checks the raw JSON of the
// documented request (client_secret_post) and client_secret_basic.
func TestE2ETokenResponseIsExactlyDocumented(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	for _, basic := range []bool{false, true} {
		b := s.newBrowser(t)
		verifier := oauth2.GenerateVerifier()
		conf := s.oauthConfig(oauth2.AuthStyleInParams)
		code := b.code(conf.AuthCodeURL("state-1234567", oauth2.S256ChallengeOption(verifier)), "state-1234567")
		form := url.Values{
			"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {s.RedirectURI},
			"code_verifier": {verifier},
		}
		var resp *http.Response
		var body map[string]any
		if basic {
			resp, body = rawToken(t, s, form, s.ClientID, s.ClientSecret)
		} else {
			form.Set("client_id", s.ClientID)
			form.Set("client_secret", s.ClientSecret)
			resp, body = rawToken(t, s, form, "", "")
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("basic=%v: status %d: %v", basic, resp.StatusCode, body)
		}
		var keys []string
		for k := range body {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if want := []string{"access_token", "expires_in", "refresh_token", "scope", "token_type"}; !slices.Equal(keys, want) {
			t.Errorf("basic=%v: response fields %v, want %v", basic, keys, want)
		}
		if body["token_type"] != "Bearer" || body["expires_in"] != float64(3600) || body["scope"] != "projects:read tasks:read" {
			t.Errorf("basic=%v: body %v", basic, body)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control = %q", cc)
		}
	}
}

// TestE2ERememberedConsent: a second authorization with the same or fewer
// scopes skips the consent screen, unless prompt=consent; more scopes ask again.
func TestE2ERememberedConsent(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	b := s.newBrowser(t)
	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	v := oauth2.GenerateVerifier()
	b.code(conf.AuthCodeURL("state-aaaaaaa", oauth2.S256ChallengeOption(v)), "state-aaaaaaa")

	narrower := s.oauthConfig(oauth2.AuthStyleInParams, "tasks:read")
	p := b.get(narrower.AuthCodeURL("state-bbbbbbb", oauth2.S256ChallengeOption(v)))
	if p.StatusCode != http.StatusSeeOther || !strings.Contains(p.Header.Get("Location"), "code=") {
		t.Fatalf("remembered consent should redirect with a code, got %d", p.StatusCode)
	}
	p = b.get(conf.AuthCodeURL("state-ccccccc", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("prompt", "consent")))
	if p.StatusCode != http.StatusOK || !strings.Contains(p.Body, `value="allow"`) {
		t.Fatalf("prompt=consent should show the consent screen, got %d", p.StatusCode)
	}
	broader := s.oauthConfig(oauth2.AuthStyleInParams, "projects:read", "invoices:read")
	p = b.get(broader.AuthCodeURL("state-ddddddd", oauth2.S256ChallengeOption(v)))
	if p.StatusCode != http.StatusOK || !strings.Contains(p.Body, "See your invoices") {
		t.Fatalf("a new scope should ask again, got %d", p.StatusCode)
	}
}

// TestE2ETwoTabs: two authorizations started side by side both complete.
func TestE2ETwoTabs(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	b := s.newBrowser(t)
	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	v1, v2 := oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	tab1 := b.signIn(conf.AuthCodeURL("state-tab-one", oauth2.S256ChallengeOption(v1)))
	tab2 := b.get(conf.AuthCodeURL("state-tab-two", oauth2.S256ChallengeOption(v2)))
	code2 := b.code2(b.decide(tab2, "allow"), "state-tab-two")
	code1 := b.code2(b.decide(tab1, "allow"), "state-tab-one")
	for i, c := range []struct{ code, v string }{{code1, v1}, {code2, v2}} {
		if _, err := conf.Exchange(t.Context(), c.code, oauth2.VerifierOption(c.v)); err != nil {
			t.Fatalf("tab %d: %v", i+1, err)
		}
	}
}

// TestE2EPublicClient: no secret, PKCE required, CORS for its origin.
func TestE2EPublicClient(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	redirect := "http://127.0.0.1:5173/callback"
	clientID, sec := s.registerApp(t, "Single Page App", true, []string{redirect}, []string{"projects:read"})
	if sec != "" {
		t.Fatal("a public client got a secret")
	}
	conf := &oauth2.Config{ClientID: clientID, RedirectURL: redirect, Scopes: []string{"projects:read"},
		Endpoint: oauth2.Endpoint{AuthURL: s.URL + "/oauth/authorize", TokenURL: s.URL + "/v1/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
	b := s.newBrowser(t)

	// Without PKCE the request is refused at once, before sign-in.
	p := b.get(conf.AuthCodeURL("state-nopkce"))
	u := b.clientRedirect(p)
	if u.Query().Get("error") != "invalid_request" {
		t.Fatalf("public client without PKCE: %s", u)
	}

	v := oauth2.GenerateVerifier()
	code := b.code(conf.AuthCodeURL("state-public", oauth2.S256ChallengeOption(v)), "state-public")
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect},
		"client_id": {clientID}, "code_verifier": {v}}
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://127.0.0.1:5173")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("public exchange: %d", resp.StatusCode)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "http://127.0.0.1:5173" {
		t.Errorf("Access-Control-Allow-Origin = %q", got)
	}

	pre, _ := http.NewRequest(http.MethodOptions, s.URL+"/v1/oauth/token", nil)
	pre.Header.Set("Origin", "http://127.0.0.1:5173")
	pre.Header.Set("Access-Control-Request-Method", "POST")
	resp, err = http.DefaultClient.Do(pre)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Methods") != "POST" {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestE2ELoopbackPort: for a native (public) app's loopback redirect URIs
// only the port may differ (RFC 8252 §7.3); a confidential app's must match
// exactly (see TestE2ELoopbackRedirectRules).
func TestE2ELoopbackPort(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	b := s.newBrowser(t)
	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	conf.ClientID, conf.ClientSecret = s.registerApp(t, "Desktop App", true, []string{s.RedirectURI}, []string{"projects:read", "tasks:read"})
	conf.RedirectURL = "http://127.0.0.1:49152/callback"
	v := oauth2.GenerateVerifier()
	code := b.code(conf.AuthCodeURL("state-loopback", oauth2.S256ChallengeOption(v)), "state-loopback")
	if _, err := conf.Exchange(t.Context(), code, oauth2.VerifierOption(v)); err != nil {
		t.Fatalf("exchange with the loopback port: %v", err)
	}
	conf.RedirectURL = "http://127.0.0.1:49152/other"
	p := b.get(conf.AuthCodeURL("state-loopback", oauth2.S256ChallengeOption(v)))
	if p.StatusCode != http.StatusBadRequest || p.Header.Get("Location") != "" {
		t.Fatalf("another path must not match: %d %s", p.StatusCode, p.Header.Get("Location"))
	}
}

// TestE2EConcurrentCodeRedemption: one code redeemed by 20 requests at once
// yields exactly one token response.
func TestE2EConcurrentCodeRedemption(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	b := s.newBrowser(t)
	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	v := oauth2.GenerateVerifier()
	code := b.code(conf.AuthCodeURL("state-race-1", oauth2.S256ChallengeOption(v)), "state-race-1")
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	var winner *oauth2.Token
	for range 20 {
		wg.Go(func() {
			if tok, err := conf.Exchange(t.Context(), code, oauth2.VerifierOption(v)); err == nil {
				mu.Lock()
				ok++
				winner = tok
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d successful redemptions of one code, want exactly 1", ok)
	}
	// The code was used more than once: the winner's tokens are revoked too.
	introspect := s.introspector(t)
	for _, tk := range []string{winner.AccessToken, winner.RefreshToken} {
		if m := introspect(tk, ""); m["active"] != false {
			t.Errorf("token of a replayed code: %v", m)
		}
	}
}

// TestE2EHealthAndMetadata covers the operational endpoints.
func TestE2EHealthAndMetadata(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	var h map[string]string
	getJSON(t, s.URL+"/health/live", &h)
	getJSON(t, s.URL+"/health/ready", &h)
	if h["status"] != "ok" {
		t.Fatalf("ready: %v", h)
	}
	var meta map[string]any
	getJSON(t, s.URL+"/.well-known/oauth-authorization-server", &meta)
	want := map[string]any{
		"issuer":                 s.URL,
		"authorization_endpoint": s.URL + "/oauth/authorize",
		"token_endpoint":         s.URL + "/v1/oauth/token",
		"jwks_uri":               s.URL + "/.well-known/jwks.json",
		"authorization_response_iss_parameter_supported": true,
	}
	for k, v := range want {
		if meta[k] != v {
			t.Errorf("metadata %s = %v, want %v", k, meta[k], v)
		}
	}
	if m, _ := meta["code_challenge_methods_supported"].([]any); len(m) != 1 || m[0] != "S256" {
		t.Errorf("code_challenge_methods_supported = %v", meta["code_challenge_methods_supported"])
	}
	if sc, _ := meta["scopes_supported"].([]any); len(sc) != len(consent.Names()) || sc[0] != "openid" {
		t.Errorf("scopes_supported = %v", meta["scopes_supported"])
	}
}
