package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"golang.org/x/oauth2"

	"github.com/nextoria/authz/authz"
	"github.com/nextoria/authz/secret"
)

// resourceServer creates introspection credentials.
func (s *e2eServer) resourceServer(t *testing.T) (string, string) {
	t.Helper()
	id, sec := "rs_"+secret.HexToken(6), secret.Token()
	if _, err := s.store.CreateResourceServer(t.Context(), id, "Hub API", secret.NewHasher(s.keys.SecretHash).Sum([]byte(sec))); err != nil {
		t.Fatal(err)
	}
	return id, sec
}

// introspectRaw calls the introspection endpoint and returns status and body.
func (s *e2eServer) introspectRaw(t *testing.T, user, pass string, form url.Values) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/v1/oauth/introspect", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// introspector returns a function that introspects a token with valid credentials.
func (s *e2eServer) introspector(t *testing.T) func(token, hint string) map[string]any {
	id, sec := s.resourceServer(t)
	return func(token, hint string) map[string]any {
		t.Helper()
		form := url.Values{"token": {token}}
		if hint != "" {
			form.Set("token_type_hint", hint)
		}
		status, body := s.introspectRaw(t, id, sec, form)
		if status != http.StatusOK {
			t.Fatalf("introspection status %d: %s", status, body)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatal(err)
		}
		if m["active"] == false && body != `{"active":false}` {
			t.Fatalf("inactive answer must be exactly {\"active\":false}, got %s", body)
		}
		return m
	}
}

// tokens runs a whole flow and returns the token.
func (s *e2eServer) tokens(t *testing.T, conf *oauth2.Config) *oauth2.Token {
	t.Helper()
	v := oauth2.GenerateVerifier()
	code := s.newBrowser(t).code(conf.AuthCodeURL("state-tokens-1", oauth2.S256ChallengeOption(v)), "state-tokens-1")
	tok, err := conf.Exchange(t.Context(), code, oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// refresh spends a refresh token.
func refresh(t *testing.T, conf *oauth2.Config, rt string, opts ...string) (*http.Response, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {conf.ClientID}, "client_secret": {conf.ClientSecret}}
	for i := 0; i+1 < len(opts); i += 2 {
		form.Set(opts[i], opts[i+1])
	}
	return postForm(t, conf.Endpoint.TokenURL, form, "", "")
}

func TestE2EIntrospection(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	ctx := t.Context()
	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	tok := s.tokens(t, conf)
	introspect := s.introspector(t)
	rsID, rsSecret := s.resourceServer(t)

	t.Run("resource-server authentication", func(t *testing.T) {
		form := url.Values{"token": {tok.AccessToken}}
		for name, cred := range map[string][2]string{
			"none":                 {"", ""},
			"wrong secret":         {rsID, "wrong"},
			"unknown id":           {"rs_nope", rsSecret},
			"an OAuth app's creds": {s.ClientID, s.ClientSecret},
		} {
			status, body := s.introspectRaw(t, cred[0], cred[1], form)
			if status != http.StatusUnauthorized || strings.Contains(body, "active") {
				t.Errorf("%s: status %d body %s", name, status, body)
			}
		}
	})

	t.Run("active access token", func(t *testing.T) {
		m := introspect(tok.AccessToken, "")
		claims := s.verifyJWT(t, tok.AccessToken)
		want := map[string]any{
			"active": true, "scope": "projects:read tasks:read", "client_id": s.ClientID, "sub": s.UserID,
			"username": s.Email, "token_type": "Bearer", "iss": s.URL, "workspace_id": s.WorkspaceID,
			"plan": "growth", "jti": claims["jti"], "exp": claims["exp"], "iat": claims["iat"],
		}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("%s = %v, want %v", k, m[k], v)
			}
		}
		if aud, _ := m["aud"].([]any); len(aud) != 1 || aud[0] != s.URL {
			t.Errorf("aud = %v", m["aud"])
		}
		// The hint orders lookups but is never trusted.
		if m := introspect(tok.AccessToken, "refresh_token"); m["active"] != true || m["token_type"] != "Bearer" {
			t.Errorf("access token with a refresh hint: %v", m)
		}
	})

	t.Run("refresh token", func(t *testing.T) {
		m := introspect(tok.RefreshToken, "refresh_token")
		if m["active"] != true || m["token_type"] != "refresh_token" || m["sub"] != s.UserID {
			t.Fatalf("refresh token: %v", m)
		}
		exp := time.Unix(int64(m["exp"].(float64)), 0)
		if d := time.Until(exp); d < 335*time.Hour || d > 337*time.Hour {
			t.Errorf("refresh exp in %v, want the 336h idle timeout", d)
		}
		if m := introspect(tok.RefreshToken, ""); m["active"] != true {
			t.Errorf("refresh token without hint: %v", m)
		}
	})

	t.Run("inactive", func(t *testing.T) {
		parts := strings.Split(tok.AccessToken, ".")
		var claims map[string]any
		raw, _ := jose.ParseSigned(tok.AccessToken)
		_ = json.Unmarshal(raw.UnsafePayloadWithoutVerification(), &claims)
		claims["scope"] = "projects:read projects:write invoices:write"
		payload, _ := json.Marshal(claims)
		tampered := parts[0] + "." + b64(payload) + "." + parts[2]

		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		sg, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: &jose.JSONWebKey{Key: key, KeyID: "unknown-key"}},
			(&jose.SignerOptions{}).WithType("at+jwt"))
		obj, _ := sg.Sign([]byte(raw.UnsafePayloadWithoutVerification()))
		foreign, _ := obj.CompactSerialize()

		for name, token := range map[string]string{
			"garbage":               "not-a-token",
			"empty segments":        "..",
			"tampered JWT":          tampered,
			"signed by unknown key": foreign,
			"alg none":              b64([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + parts[1] + ".",
			"unknown opaque token":  secret.Token() + "." + secret.Token(),
			"API-key-shaped":        "nxh_" + secret.Token(),
		} {
			if m := introspect(token, ""); m["active"] != false {
				t.Errorf("%s: %v", name, m)
			}
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		status, body := s.introspectRaw(t, rsID, rsSecret, url.Values{})
		if status != http.StatusBadRequest || !strings.Contains(body, "invalid_request") {
			t.Errorf("missing token: %d %s", status, body)
		}
		status, _ = s.introspectRaw(t, rsID, rsSecret, url.Values{"token": {"a", "b"}})
		if status != http.StatusBadRequest {
			t.Errorf("repeated token: %d", status)
		}
	})

	t.Run("token of a deleted app", func(t *testing.T) {
		otherID, otherSecret := s.registerApp(t, "Doomed App", false, []string{s.RedirectURI}, []string{"projects:read", "tasks:read"})
		other := s.oauthConfig(oauth2.AuthStyleInParams)
		other.ClientID, other.ClientSecret = otherID, otherSecret
		ot := s.tokens(t, other)
		if m := introspect(ot.AccessToken, ""); m["active"] != true {
			t.Fatalf("before delete: %v", m)
		}
		if err := s.store.DeleteApp(ctx, otherID); err != nil {
			t.Fatal(err)
		}
		for _, tk := range []string{ot.AccessToken, ot.RefreshToken} {
			if m := introspect(tk, ""); m["active"] != false {
				t.Errorf("token of a deleted app: %v", m)
			}
		}
	})
}

func b64(b []byte) string {
	return strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(stdB64(b)), "=")
}

// TestE2EExpiredAccessToken: an expired JWT introspects inactive.
func TestE2EExpiredAccessToken(t *testing.T) {
	t.Parallel()
	s := startE2E(t, func(c *Config) { c.OAuth.AccessTokenLifespan = time.Second })
	tok := s.tokens(t, s.oauthConfig(oauth2.AuthStyleInParams))
	introspect := s.introspector(t)
	if m := introspect(tok.AccessToken, ""); m["active"] != true {
		t.Fatalf("fresh token: %v", m)
	}
	time.Sleep(2100 * time.Millisecond)
	if m := introspect(tok.AccessToken, ""); m["active"] != false {
		t.Fatalf("expired token: %v", m)
	}
}

// TestE2EKeyRotation: tokens signed before a rotation stay valid until the
// old key's retention ends; new tokens use the new key; the JWKS has both.
func TestE2EKeyRotation(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	ctx := t.Context()
	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	introspect := s.introspector(t)
	before := s.tokens(t, conf)
	oldKID := kidOf(t, before.AccessToken)

	newKID, _, err := authz.RotateKey(ctx, s.store, s.keys.Seal, 0) // signs at once
	if err != nil {
		t.Fatal(err)
	}
	// A token signed with the new key by another instance verifies here at
	// once, although this instance has not reloaded its keys yet.
	if err := s.app.keySet.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	after := s.tokens(t, conf)
	if got := kidOf(t, after.AccessToken); got != newKID || got == oldKID {
		t.Fatalf("new token kid %s, want %s", got, newKID)
	}
	for name, tk := range map[string]string{"old-key token": before.AccessToken, "new-key token": after.AccessToken} {
		if m := introspect(tk, ""); m["active"] != true {
			t.Errorf("%s after rotation: %v", name, m)
		}
		s.verifyJWT(t, tk) // both keys are in the JWKS
	}
	// Once the old key's retention has passed it is rotated out entirely.
	if _, err := s.store.Pool().Exec(ctx, `UPDATE signing_keys SET retired_at = now() - interval '3 hours' WHERE kid = $1`, oldKID); err != nil {
		t.Fatal(err)
	}
	if err := s.app.keySet.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if m := introspect(before.AccessToken, ""); m["active"] != false {
		t.Errorf("token of a rotated-out key: %v", m)
	}
	var set jose.JSONWebKeySet
	getJSON(t, s.URL+"/.well-known/jwks.json", &set)
	if len(set.Key(oldKID)) != 0 || len(set.Key(newKID)) != 1 {
		t.Errorf("JWKS after the old key expired: %d keys", len(set.Keys))
	}
}

func kidOf(t *testing.T, token string) string {
	t.Helper()
	sig, err := jose.ParseSigned(token)
	if err != nil {
		t.Fatal(err)
	}
	return sig.Signatures[0].Protected.KeyID
}

func TestE2ERevocation(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	introspect := s.introspector(t)
	revoke := func(t *testing.T, user, pass string, form url.Values) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1/oauth/revoke", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if user != "" {
			req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	t.Run("refresh token revokes the grant", func(t *testing.T) {
		tok := s.tokens(t, conf)
		if st := revoke(t, s.ClientID, s.ClientSecret, url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}}); st != 200 {
			t.Fatalf("status %d", st)
		}
		for _, tk := range []string{tok.AccessToken, tok.RefreshToken} {
			if m := introspect(tk, ""); m["active"] != false {
				t.Errorf("after revoking the refresh token: %v", m)
			}
		}
		if resp, body := refresh(t, conf, tok.RefreshToken); resp.StatusCode != 400 || body["error"] != "invalid_grant" {
			t.Errorf("refresh after revocation: %d %v", resp.StatusCode, body)
		}
	})
	t.Run("access token revokes only itself", func(t *testing.T) {
		tok := s.tokens(t, conf)
		if st := revoke(t, "", "", url.Values{"token": {tok.AccessToken}, "client_id": {s.ClientID}, "client_secret": {s.ClientSecret}}); st != 200 {
			t.Fatalf("status %d", st)
		}
		if m := introspect(tok.AccessToken, ""); m["active"] != false {
			t.Errorf("revoked access token: %v", m)
		}
		if m := introspect(tok.RefreshToken, ""); m["active"] != true {
			t.Errorf("its refresh token should live on: %v", m)
		}
	})
	t.Run("unknown token answers 200", func(t *testing.T) {
		if st := revoke(t, s.ClientID, s.ClientSecret, url.Values{"token": {"no-such-token"}}); st != 200 {
			t.Fatalf("status %d", st)
		}
	})
	t.Run("another client's token is untouched", func(t *testing.T) {
		tok := s.tokens(t, conf)
		otherID, otherSecret := s.registerApp(t, "Meddler", false, []string{s.RedirectURI}, []string{"projects:read"})
		if st := revoke(t, otherID, otherSecret, url.Values{"token": {tok.RefreshToken}}); st != 200 {
			t.Fatalf("status %d", st)
		}
		if m := introspect(tok.RefreshToken, ""); m["active"] != true {
			t.Errorf("another client revoked the token: %v", m)
		}
	})
	t.Run("client authentication required", func(t *testing.T) {
		tok := s.tokens(t, conf)
		if st := revoke(t, s.ClientID, "wrong", url.Values{"token": {tok.RefreshToken}}); st != 401 {
			t.Fatalf("wrong secret: status %d", st)
		}
		if st := revoke(t, "", "", url.Values{"token": {tok.RefreshToken}}); st != 401 {
			t.Fatalf("no credentials: status %d", st)
		}
		if m := introspect(tok.RefreshToken, ""); m["active"] != true {
			t.Error("an unauthenticated revocation took effect")
		}
	})
}

func TestE2ERefreshRotationStrict(t *testing.T) {
	t.Parallel()
	s := startE2E(t, func(c *Config) { c.OAuth.RefreshGracePeriod = 0 })
	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	introspect := s.introspector(t)
	tok := s.tokens(t, conf)
	resp, fresh := refresh(t, conf, tok.RefreshToken)
	if resp.StatusCode != 200 {
		t.Fatalf("refresh: %v", fresh)
	}
	if m := introspect(tok.AccessToken, ""); m["active"] != false {
		t.Error("the access token of a rotated refresh token is still active")
	}
	// Reuse of the rotated token is theft: the whole family dies.
	resp, body := refresh(t, conf, tok.RefreshToken)
	if resp.StatusCode != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("reuse: %d %v", resp.StatusCode, body)
	}
	for _, tk := range []string{fresh["access_token"].(string), fresh["refresh_token"].(string)} {
		if m := introspect(tk, ""); m["active"] != false {
			t.Errorf("descendant after reuse: %v", m)
		}
	}
}

func TestE2ERefreshGracePeriod(t *testing.T) {
	t.Parallel()
	s := startE2E(t, func(c *Config) { c.OAuth.RefreshGracePeriod = 2 * time.Second })
	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	introspect := s.introspector(t)
	tok := s.tokens(t, conf)
	_, first := refresh(t, conf, tok.RefreshToken)
	resp, second := refresh(t, conf, tok.RefreshToken) // a retry within the grace period
	if resp.StatusCode != 200 {
		t.Fatalf("reuse within grace: %d %v", resp.StatusCode, second)
	}
	for _, tk := range []any{first["access_token"], second["access_token"], second["refresh_token"]} {
		if m := introspect(tk.(string), ""); m["active"] != true {
			t.Errorf("within grace the grant must survive: %v", m)
		}
	}
	time.Sleep(2500 * time.Millisecond)
	resp, body := refresh(t, conf, tok.RefreshToken)
	if resp.StatusCode != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("reuse after grace: %d %v", resp.StatusCode, body)
	}
	for _, tk := range []any{first["access_token"], first["refresh_token"], second["access_token"], second["refresh_token"]} {
		if m := introspect(tk.(string), ""); m["active"] != false {
			t.Errorf("reuse after grace must revoke the family: %v", m)
		}
	}
}

func TestE2ERefreshRules(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	introspect := s.introspector(t)

	t.Run("narrow scopes", func(t *testing.T) {
		tok := s.tokens(t, conf)
		resp, body := refresh(t, conf, tok.RefreshToken, "scope", "projects:read")
		if resp.StatusCode != 200 || body["scope"] != "projects:read" {
			t.Fatalf("narrowing: %d %v", resp.StatusCode, body)
		}
		if m := introspect(body["access_token"].(string), ""); m["scope"] != "projects:read" {
			t.Errorf("narrowed token scope %v", m["scope"])
		}
	})
	t.Run("widen scopes", func(t *testing.T) {
		tok := s.tokens(t, conf)
		resp, body := refresh(t, conf, tok.RefreshToken, "scope", "projects:read invoices:write")
		if resp.StatusCode != 400 || body["error"] != "invalid_scope" {
			t.Fatalf("widening: %d %v", resp.StatusCode, body)
		}
	})
	t.Run("bound to its client", func(t *testing.T) {
		tok := s.tokens(t, conf)
		otherID, otherSecret := s.registerApp(t, "Thief", false, []string{s.RedirectURI}, []string{"projects:read", "tasks:read"})
		other := *conf
		other.ClientID, other.ClientSecret = otherID, otherSecret
		resp, body := refresh(t, &other, tok.RefreshToken)
		if resp.StatusCode != 400 || body["error"] != "invalid_grant" {
			t.Fatalf("other client: %d %v", resp.StatusCode, body)
		}
	})
}

func TestE2ERefreshLifetimes(t *testing.T) {
	t.Parallel()
	t.Run("absolute", func(t *testing.T) {
		t.Parallel()
		s := startE2E(t, func(c *Config) { c.OAuth.RefreshTokenLifespan = 2 * time.Second })
		conf := s.oauthConfig(oauth2.AuthStyleInParams)
		tok := s.tokens(t, conf)
		resp, body := refresh(t, conf, tok.RefreshToken) // rotation does not extend the limit
		if resp.StatusCode != 200 {
			t.Fatalf("first refresh: %v", body)
		}
		time.Sleep(2500 * time.Millisecond)
		resp, body = refresh(t, conf, body["refresh_token"].(string))
		if resp.StatusCode != 400 || body["error"] != "invalid_grant" {
			t.Fatalf("past the absolute lifetime: %d %v", resp.StatusCode, body)
		}
	})
	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		s := startE2E(t, func(c *Config) { c.OAuth.RefreshTokenIdleTimeout = time.Second })
		conf := s.oauthConfig(oauth2.AuthStyleInParams)
		tok := s.tokens(t, conf)
		time.Sleep(2100 * time.Millisecond)
		resp, body := refresh(t, conf, tok.RefreshToken)
		if resp.StatusCode != 400 || body["error"] != "invalid_grant" {
			t.Fatalf("idle refresh token: %d %v", resp.StatusCode, body)
		}
	})
}

// TestE2EConcurrentRefresh: 20 parallel refreshes of one token within the
// grace period all get tokens and the grant survives.
func TestE2EConcurrentRefresh(t *testing.T) {
	t.Parallel()
	s := startE2E(t, func(c *Config) { c.OAuth.RefreshGracePeriod = 5 * time.Second })
	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	introspect := s.introspector(t)
	tok := s.tokens(t, conf)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok []string
	failures := map[string]int{}
	for range 20 {
		wg.Go(func() {
			resp, body := refresh(t, conf, tok.RefreshToken)
			mu.Lock()
			defer mu.Unlock()
			if resp.StatusCode == 200 {
				ok = append(ok, body["refresh_token"].(string))
			} else {
				failures[body["error"].(string)]++
			}
		})
	}
	wg.Wait()
	if len(ok) != 20 {
		t.Fatalf("%d of 20 concurrent refreshes succeeded; failures %v", len(ok), failures)
	}
	for _, rt := range ok {
		if m := introspect(rt, ""); m["active"] != true {
			t.Fatalf("a refresh token from the burst is inactive: %v", m)
		}
	}
}

func stdB64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
