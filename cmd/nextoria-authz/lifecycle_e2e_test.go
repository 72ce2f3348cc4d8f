package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
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
func (s *e2eServer) resourceServer(t testing.TB) (string, string) {
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

// activeRefreshTokens counts the active refresh-token rows of clientID.
func (s *e2eServer) activeRefreshTokens(t *testing.T, clientID string) int {
	t.Helper()
	var n int
	if err := s.store.Pool().QueryRow(t.Context(),
		`SELECT count(*) FROM oauth_refresh_tokens WHERE client_id = $1 AND active`, clientID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestE2ERefreshGracePeriod: a refresh token redeemed again within its grace
// period answers with a working pair each time, but only the pair issued last
// survives; presenting a superseded successor, or the redeemed token after
// its grace period, revokes the grant. Introspection agrees throughout.
func TestE2ERefreshGracePeriod(t *testing.T) {
	t.Parallel()
	// server starts a server whose grace period is grace.
	server := func(t *testing.T, grace time.Duration) (*e2eServer, *oauth2.Config, func(string, string) map[string]any, func(string) bool) {
		s := startE2E(t, func(c *Config) { c.OAuth.RefreshGracePeriod = grace })
		introspect := s.introspector(t)
		active := func(tk string) bool { t.Helper(); return introspect(tk, "")["active"] == true }
		return s, s.oauthConfig(oauth2.AuthStyleInParams), introspect, active
	}

	t.Run("sequential reuse within the window", func(t *testing.T) {
		t.Parallel()
		// A window long enough for every reuse to fall inside it, even on
		// a loaded machine.
		s, conf, _, active := server(t, time.Minute)
		tok := s.tokens(t, conf)
		var pairs [][2]string // access, refresh
		for i := range 6 {    // the first use, then five reuses within the window
			resp, body := refresh(t, conf, tok.RefreshToken)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("use %d of the same refresh token: %d %v", i+1, resp.StatusCode, body)
			}
			pair := [2]string{body["access_token"].(string), body["refresh_token"].(string)}
			if !active(pair[0]) || !active(pair[1]) {
				t.Fatalf("answer %d does not work when returned", i+1)
			}
			if i > 0 {
				if prev := pairs[i-1]; active(prev[0]) || active(prev[1]) {
					t.Errorf("answer %d still works after answer %d superseded it", i, i+1)
				}
			}
			pairs = append(pairs, pair)
		}
		if !active(tok.RefreshToken) {
			t.Error("the redeemed token introspects inactive inside its grace period")
		}
		if n := s.activeRefreshTokens(t, s.ClientID); n != 1 {
			t.Errorf("%d active refresh tokens for the grant, want 1", n)
		}
		last := pairs[len(pairs)-1]
		for i, p := range pairs[:len(pairs)-1] {
			if active(p[0]) || active(p[1]) {
				t.Errorf("superseded answer %d is still active", i+1)
			}
		}
		// The survivor keeps working.
		resp, next := refresh(t, conf, last[1])
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("the last refresh token issued: %d %v", resp.StatusCode, next)
		}
		// A superseded successor is reuse, even inside the window: the grant dies.
		resp, body := refresh(t, conf, pairs[1][1])
		if resp.StatusCode != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Fatalf("superseded refresh token: %d %v", resp.StatusCode, body)
		}
		for _, tk := range []string{next["access_token"].(string), next["refresh_token"].(string), last[1], tok.RefreshToken} {
			if active(tk) {
				t.Error("a token of the grant survived the reuse of a superseded refresh token")
			}
		}
		if n := s.activeRefreshTokens(t, s.ClientID); n != 0 {
			t.Errorf("%d active refresh tokens after the grant was revoked", n)
		}
	})

	t.Run("reuse after the window", func(t *testing.T) {
		t.Parallel()
		const grace = 3 * time.Second
		s, conf, introspect, active := server(t, grace)
		tok := s.tokens(t, conf)
		resp, fresh := refresh(t, conf, tok.RefreshToken)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("refresh: %d %v", resp.StatusCode, fresh)
		}
		m := introspect(tok.RefreshToken, "refresh_token")
		if m["active"] != true || m["token_type"] != "refresh_token" {
			t.Errorf("redeemed token inside its grace period: %v", m)
		}
		if exp, _ := m["exp"].(float64); exp <= 0 || time.Unix(int64(exp), 0).After(time.Now().Add(grace+time.Second)) {
			t.Errorf("redeemed token inside its grace period: exp %v, want the end of the grace period", m["exp"])
		}
		if m := introspect(fresh["refresh_token"].(string), "refresh_token"); time.Until(time.Unix(int64(m["exp"].(float64)), 0)) < time.Hour {
			t.Errorf("the current refresh token: exp %v, want its idle expiry", m["exp"])
		}
		if active(tok.AccessToken) {
			t.Error("the access token of the redeemed refresh token is still active")
		}
		time.Sleep(grace + 500*time.Millisecond)
		if active(tok.RefreshToken) {
			t.Error("the redeemed token introspects active after its grace period")
		}
		if !active(fresh["refresh_token"].(string)) || !active(fresh["access_token"].(string)) {
			t.Fatal("the current pair died with the grace period")
		}
		resp, body := refresh(t, conf, tok.RefreshToken)
		if resp.StatusCode != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Fatalf("reuse after grace: %d %v", resp.StatusCode, body)
		}
		for _, tk := range []string{fresh["access_token"].(string), fresh["refresh_token"].(string)} {
			if active(tk) {
				t.Error("reuse after grace must revoke the whole grant")
			}
		}
		resp, body = refresh(t, conf, fresh["refresh_token"].(string))
		if resp.StatusCode != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Errorf("the revoked grant's refresh token: %d %v", resp.StatusCode, body)
		}
	})
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

// TestE2EConcurrentRefresh: 10 parallel refreshes of one token within the
// grace period all get an answer, but exactly one chain survives: one
// returned refresh token works, the others are superseded, and presenting one
// of those revokes the grant.
func TestE2EConcurrentRefresh(t *testing.T) {
	t.Parallel()
	const n = 10
	s := startE2E(t, func(c *Config) { c.OAuth.RefreshGracePeriod = 5 * time.Second })
	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	introspect := s.introspector(t)
	tok := s.tokens(t, conf)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		pairs    [][2]string // access, refresh
		failures = map[string]int{}
	)
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			resp, body := refresh(t, conf, tok.RefreshToken)
			mu.Lock()
			defer mu.Unlock()
			if resp.StatusCode == http.StatusOK {
				pairs = append(pairs, [2]string{body["access_token"].(string), body["refresh_token"].(string)})
			} else {
				failures[fmt.Sprint(body["error"])]++
			}
		})
	}
	close(start)
	wg.Wait()
	if len(pairs) != n {
		t.Fatalf("%d of %d concurrent refreshes succeeded; failures %v", len(pairs), n, failures)
	}
	if got := s.activeRefreshTokens(t, s.ClientID); got != 1 {
		t.Errorf("%d active refresh tokens for the grant, want 1", got)
	}
	survivor := -1
	for i, p := range pairs {
		at, rt := introspect(p[0], "")["active"] == true, introspect(p[1], "")["active"] == true
		if at != rt {
			t.Errorf("answer %d: access token active %v, refresh token active %v", i, at, rt)
		}
		if rt {
			if survivor >= 0 {
				t.Fatalf("answers %d and %d both live", survivor, i)
			}
			survivor = i
		}
	}
	if survivor < 0 {
		t.Fatal("no chain survived the burst")
	}
	resp, next := refresh(t, conf, pairs[survivor][1])
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the surviving refresh token: %d %v", resp.StatusCode, next)
	}
	loser := pairs[(survivor+1)%n][1]
	resp, body := refresh(t, conf, loser)
	if resp.StatusCode != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("a superseded refresh token from the burst: %d %v", resp.StatusCode, body)
	}
	for _, tk := range []string{next["access_token"].(string), next["refresh_token"].(string)} {
		if m := introspect(tk, ""); m["active"] != false {
			t.Errorf("the grant survived the reuse of a superseded token: %v", m)
		}
	}
}

func stdB64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
