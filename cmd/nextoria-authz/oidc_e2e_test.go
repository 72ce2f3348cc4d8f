package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/nextoria/authz/apps"
	"github.com/nextoria/authz/docs/signin"
	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
)

// oidcClient is a relying party as an app developer writes it: go-oidc's
// provider from discovery, golang.org/x/oauth2 for the code flow.
type oidcClient struct {
	provider *oidc.Provider
	conf     *oauth2.Config
	verifier *oidc.IDTokenVerifier
}

// registerOIDCApp registers a confidential app that signs its users in
// with ID tokens of alg, and a relying party for it.
func (s *e2eServer) registerOIDCApp(t *testing.T, alg string, scopes ...string) oidcClient {
	t.Helper()
	svc := apps.Service{Store: s.store, Hasher: secret.NewHasher(s.keys.SecretHash)}
	app, sec, err := svc.Register(t.Context(), apps.Registration{
		Name: "Sign-in App " + alg, RedirectURIs: []string{s.RedirectURI},
		Scopes:      []string{"openid", "profile", "email", "projects:read"},
		WorkspaceID: s.WorkspaceID, OwnerID: s.UserID, IDTokenAlg: alg,
	})
	if err != nil {
		t.Fatalf("register app: %v", err)
	}
	provider, err := oidc.NewProvider(t.Context(), s.URL)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, "profile", "email"}
	}
	return oidcClient{
		provider: provider,
		conf: &oauth2.Config{
			ClientID: app.ClientID, ClientSecret: sec, Endpoint: provider.Endpoint(),
			RedirectURL: s.RedirectURI, Scopes: scopes,
		},
		verifier: provider.Verifier(&oidc.Config{ClientID: app.ClientID, SupportedSigningAlgs: []string{alg}}),
	}
}

// authURL is the authorization URL with state, nonce, PKCE and extra parameters.
func (c oidcClient) authURL(state, nonce, verifier string, extra ...string) string {
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	if nonce != "" {
		opts = append(opts, oidc.Nonce(nonce))
	}
	for i := 0; i+1 < len(extra); i += 2 {
		opts = append(opts, oauth2.SetAuthURLParam(extra[i], extra[i+1]))
	}
	return c.conf.AuthCodeURL(state, opts...)
}

// signInOIDC runs a full sign-in with b and returns the token response and
// its verified ID token.
func (c oidcClient) signIn(t *testing.T, b *browser, nonce string, extra ...string) (*oauth2.Token, *oidc.IDToken, string) {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	state := "state-" + oauth2.GenerateVerifier()[:16]
	code := b.code(c.authURL(state, nonce, verifier, extra...), state)
	return c.exchange(t, code, verifier)
}

func (c oidcClient) exchange(t *testing.T, code, verifier string) (*oauth2.Token, *oidc.IDToken, string) {
	t.Helper()
	tok, err := c.conf.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatal("no id_token in the token response")
	}
	idt, err := c.verifier.Verify(t.Context(), raw)
	if err != nil {
		t.Fatalf("verify ID token: %v", err)
	}
	return tok, idt, raw
}

// jwtParts decodes a compact JWT's header and payload without verifying it.
func jwtParts(t *testing.T, raw string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", raw)
	}
	for i, into := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, into); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims
}

// TestOIDCGoOIDC: an unmodified go-oidc relying party discovers the
// provider, verifies RS256 and ES256 ID tokens with their claims, reads
// UserInfo, and gets a fresh ID token without a nonce on refresh.
func TestOIDCGoOIDC(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	ctx := t.Context()
	for _, alg := range []string{"RS256", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			c := s.registerOIDCApp(t, alg)
			b := s.newBrowser(t)
			nonce := "n-" + oauth2.GenerateVerifier()
			before := time.Now().Add(-time.Second)
			tok, idt, raw := c.signIn(t, b, nonce)

			if idt.Nonce != nonce {
				t.Errorf("nonce = %q, want %q", idt.Nonce, nonce)
			}
			if idt.Issuer != s.URL || idt.Subject != s.UserID || len(idt.Audience) != 1 || idt.Audience[0] != c.conf.ClientID {
				t.Errorf("iss %q sub %q aud %v", idt.Issuer, idt.Subject, idt.Audience)
			}
			if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
				t.Errorf("at_hash: %v", err)
			}
			header, claims := jwtParts(t, raw)
			if header["alg"] != alg || header["kid"] == "" {
				t.Errorf("header %v, want alg %s and a kid", header, alg)
			}
			iat, exp, authTime := claims["iat"].(float64), claims["exp"].(float64), claims["auth_time"].(float64)
			if exp-iat != 3600 || time.Unix(int64(iat), 0).Before(before) {
				t.Errorf("iat %v exp %v", iat, exp)
			}
			if at := time.Unix(int64(authTime), 0); at.Before(before.Add(-time.Minute)) || at.After(time.Now()) {
				t.Errorf("auth_time %v", at)
			}
			sid, _ := claims["sid"].(string)
			if len(sid) < 32 {
				t.Errorf("sid %q", sid)
			}
			for _, c := range b.client.Jar.Cookies(&url.URL{Scheme: "http", Host: strings.TrimPrefix(s.URL, "http://")}) {
				if strings.Contains(c.Value, sid) {
					t.Error("sid is part of the session cookie")
				}
			}
			if claims["name"] != "ada" || claims["email"] != s.Email || claims["email_verified"] != false {
				t.Errorf("identity claims %v", claims)
			}

			ui, err := c.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
			if err != nil {
				t.Fatalf("userinfo: %v", err)
			}
			var uiClaims map[string]any
			if err := ui.Claims(&uiClaims); err != nil {
				t.Fatal(err)
			}
			if ui.Subject != idt.Subject || ui.Email != s.Email || ui.EmailVerified || uiClaims["name"] != "ada" {
				t.Errorf("userinfo %v, want the ID token's sub %q and claims", uiClaims, idt.Subject)
			}

			// A refresh returns a new ID token: same user and session, no nonce.
			tok.Expiry = time.Now().Add(-time.Minute)
			refreshed, err := c.conf.TokenSource(ctx, tok).Token()
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			raw2, _ := refreshed.Extra("id_token").(string)
			idt2, err := c.verifier.Verify(ctx, raw2)
			if err != nil {
				t.Fatalf("refreshed ID token: %v", err)
			}
			_, claims2 := jwtParts(t, raw2)
			if idt2.Nonce != "" || idt2.Subject != idt.Subject || claims2["auth_time"] != claims["auth_time"] || claims2["sid"] != sid {
				t.Errorf("refreshed ID token claims %v", claims2)
			}
			if err := idt2.VerifyAccessToken(refreshed.AccessToken); err != nil {
				t.Errorf("refreshed at_hash: %v", err)
			}
		})
	}
}

// TestOIDCWithoutOpenIDScope: a request without openid gets no ID token and
// its access token cannot read UserInfo (403 insufficient_scope).
func TestOIDCWithoutOpenIDScope(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	c := s.registerOIDCApp(t, "RS256", "projects:read")
	b := s.newBrowser(t)
	verifier := oauth2.GenerateVerifier()
	code := b.code(c.authURL("state-0123456789", "", verifier), "state-0123456789")
	tok, err := c.conf.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Extra("id_token") != nil {
		t.Errorf("id_token without openid: %v", tok.Extra("id_token"))
	}
	resp, _ := userinfo(t, s, http.MethodGet, tok.AccessToken)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
		t.Errorf("userinfo without openid: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

// userinfo calls the UserInfo endpoint with a bearer token ("" for none).
func userinfo(t *testing.T, s *e2eServer, method, token string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+"/v1/oauth/userinfo", nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Origin", "https://spa.example")
	return doJSON(t, req)
}

// TestOIDCUserInfoErrors: the RFC 6750 answers of the UserInfo endpoint,
// its CORS headers and its refusal of API keys.
func TestOIDCUserInfoErrors(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	ctx := t.Context()
	c := s.registerOIDCApp(t, "RS256")
	tok, idt, _ := c.signIn(t, s.newBrowser(t), "nonce-0123456789")
	_, rawKey, err := s.app.apiKeys.Create(ctx, s.WorkspaceID, s.UserID, "Key", []string{"projects:read"}, 0)
	if err != nil {
		t.Fatal(err)
	}

	for _, method := range []string{http.MethodGet, http.MethodPost} {
		resp, body := userinfo(t, s, method, tok.AccessToken)
		if resp.StatusCode != http.StatusOK || body["sub"] != idt.Subject {
			t.Errorf("%s userinfo: %d %v", method, resp.StatusCode, body)
		}
		if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s headers %v", method, resp.Header)
		}
	}
	tests := []struct {
		name, token string
		status      int
		challenge   string
	}{
		{"no token", "", http.StatusUnauthorized, "Bearer"},
		{"garbage", "not-a-token", http.StatusUnauthorized, `error="invalid_token"`},
		{"tampered", tok.AccessToken + "x", http.StatusUnauthorized, `error="invalid_token"`},
		{"api key", rawKey, http.StatusUnauthorized, `error="invalid_token"`},
		{"refresh token", tok.RefreshToken, http.StatusUnauthorized, `error="invalid_token"`},
	}
	for _, tc := range tests {
		resp, _ := userinfo(t, s, http.MethodGet, tc.token)
		ch := resp.Header.Get("WWW-Authenticate")
		if resp.StatusCode != tc.status || (tc.token == "" && ch != "Bearer") || !strings.Contains(ch, tc.challenge) {
			t.Errorf("%s: %d %q, want %d %q", tc.name, resp.StatusCode, ch, tc.status, tc.challenge)
		}
	}

	// A revoked token is refused.
	resp, _ := postForm(t, s.URL+"/v1/oauth/revoke", url.Values{"token": {tok.AccessToken}}, c.conf.ClientID, c.conf.ClientSecret)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if resp, _ := userinfo(t, s, http.MethodGet, tok.AccessToken); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked token: %d", resp.StatusCode)
	}

	// CORS preflight from any origin.
	req, _ := http.NewRequest(http.MethodOptions, s.URL+"/v1/oauth/userinfo", nil)
	req.Header.Set("Origin", "https://spa.example")
	req.Header.Set("Access-Control-Request-Method", "GET")
	req.Header.Set("Access-Control-Request-Headers", "authorization")
	pre, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	pre.Body.Close()
	if pre.StatusCode != http.StatusNoContent || pre.Header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(pre.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight: %d %v", pre.StatusCode, pre.Header)
	}
}

// TestOIDCDiscovery: the discovery document lists what the issue asks for,
// and the RFC 8414 document names the same endpoints.
func TestOIDCDiscovery(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	var doc, meta map[string]any
	getJSON(t, s.URL+"/.well-known/openid-configuration", &doc)
	getJSON(t, s.URL+"/.well-known/oauth-authorization-server", &meta)
	want := map[string]any{
		"issuer":                 s.URL,
		"authorization_endpoint": s.URL + "/oauth/authorize",
		"token_endpoint":         s.URL + "/v1/oauth/token",
		"userinfo_endpoint":      s.URL + "/v1/oauth/userinfo",
		"jwks_uri":               s.URL + "/.well-known/jwks.json",
		"end_session_endpoint":   s.URL + "/oauth/end-session",
		"authorization_response_iss_parameter_supported": true,
		"request_parameter_supported":                    false,
		"claims_parameter_supported":                     false,
	}
	for k, v := range want {
		if doc[k] != v {
			t.Errorf("discovery %s = %v, want %v", k, doc[k], v)
		}
		if k != "request_parameter_supported" && k != "claims_parameter_supported" && meta[k] != v {
			t.Errorf("RFC 8414 %s = %v, want %v", k, meta[k], v)
		}
	}
	lists := map[string][]string{
		"response_types_supported":              {"code"},
		"subject_types_supported":               {"public"},
		"id_token_signing_alg_values_supported": {"RS256", "ES256"},
		"code_challenge_methods_supported":      {"S256"},
		"prompt_values_supported":               {"none", "login", "consent"},
		"scopes_supported":                      {"openid", "profile", "email", "projects:read"},
		"claims_supported":                      {"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid", "name", "email", "email_verified"},
		"grant_types_supported":                 {"authorization_code", "refresh_token"},
		"response_modes_supported":              {"query"},
		"token_endpoint_auth_methods_supported": {"client_secret_basic", "client_secret_post", "none"},
	}
	for k, wantAll := range lists {
		got, _ := doc[k].([]any)
		for _, w := range wantAll {
			found := false
			for _, g := range got {
				found = found || g == w
			}
			if !found {
				t.Errorf("discovery %s = %v, lacks %q", k, got, w)
			}
		}
	}

	// The JWKS publishes an RSA and an EC key, each with kid, use and alg.
	var jwks struct {
		Keys []map[string]any `json:"keys"`
	}
	getJSON(t, s.URL+"/.well-known/jwks.json", &jwks)
	kinds := map[string]bool{}
	for _, k := range jwks.Keys {
		if k["kid"] == "" || k["use"] != "sig" {
			t.Errorf("key %v", k)
		}
		kinds[k["kty"].(string)+"/"+k["alg"].(string)] = true
	}
	if !kinds["RSA/RS256"] || !kinds["EC/ES256"] || len(jwks.Keys) != 2 {
		t.Errorf("JWKS keys %v", jwks.Keys)
	}
}

// TestOIDCMigratedAppsUseRS256: an app registered without choosing gets
// RS256 ID tokens; storage keeps the choice.
func TestOIDCMigratedAppsUseRS256(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	app, err := s.store.GetApp(t.Context(), s.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if app.IDTokenAlg != storage.IDTokenRS256 {
		t.Errorf("default id_token_alg %q", app.IDTokenAlg)
	}
}

// TestREADMESignInExample runs the README's "Sign in with Nextoria Hub"
// example (docs/signin) against a running server.
func TestREADMESignInExample(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	svc := apps.Service{Store: s.store, Hasher: secret.NewHasher(s.keys.SecretHash)}
	app, sec, err := svc.Register(t.Context(), apps.Registration{
		Name: "Example", RedirectURIs: []string{s.RedirectURI}, Scopes: []string{"openid", "profile", "email"},
		WorkspaceID: s.WorkspaceID, OwnerID: s.UserID,
	})
	if err != nil {
		t.Fatal(err)
	}
	rp, err := signin.New(t.Context(), s.URL, app.ClientID, sec, s.RedirectURI)
	if err != nil {
		t.Fatal(err)
	}
	authURL, pending := rp.Start()
	callback := s.newBrowser(t).authorize(authURL)
	user, tok, err := rp.Finish(t.Context(), pending, callback.Query())
	if err != nil {
		t.Fatal(err)
	}
	if user.Subject != s.UserID || user.Email != s.Email || user.Name != "ada" || user.EmailVerified {
		t.Errorf("user %+v", user)
	}
	info, err := rp.Provider.UserInfo(t.Context(), oauth2.StaticTokenSource(tok))
	if err != nil || info.Subject != user.Subject {
		t.Errorf("userinfo %+v, %v", info, err)
	}
	if _, _, err := rp.Finish(t.Context(), pending, url.Values{"state": {"forged"}, "code": {"x"}}); err == nil {
		t.Error("a forged state was accepted")
	}
}
