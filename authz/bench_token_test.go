package authz

import (
	"crypto/sha256"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nextoria/authz/storage"
)

// benchTokenServer is a server with a workspace, a user and a confidential
// app (bench-app, secret "secret") that may request openid, profile and email.
func benchTokenServer(b *testing.B) (*Server, http.Handler, storage.Principal) {
	b.Helper()
	ks, store, keys := benchKeySet(b)
	srv, err := New(Config{
		Issuer: benchIssuer, Audience: benchIssuer, AccessTokenLifespan: time.Hour, RefreshTokenLifespan: time.Hour,
		AuthorizationCodeLifespan: time.Minute, Keys: keys, Logger: slog.New(slog.DiscardHandler),
	}, store, ks, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	ws, err := store.CreateWorkspace(ctx, "Bench", storage.PlanScale)
	if err != nil {
		b.Fatal(err)
	}
	u, err := store.CreateUser(ctx, storage.NewUser{Email: "ada@example.com", PasswordHash: "unused", WorkspaceID: ws.ID})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := store.CreateApp(ctx, storage.NewApp{
		ClientID: "bench-app", SecretHash: srv.hasher.Sum([]byte("secret")), Name: "Bench App",
		RedirectURIs: []string{"http://127.0.0.1:9/callback"},
		Scopes:       []string{"openid", "profile", "email", "projects:read", "tasks:read"},
		WorkspaceID:  ws.ID, OwnerID: u.ID,
	}); err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Routes(mux)
	p := storage.Principal{
		UserID: u.ID, Email: "ada@example.com", Name: "Ada", WorkspaceID: ws.ID,
		SignedInAt: time.Now().Add(-time.Minute), LoginSessionID: []byte("bench-login-session"),
	}
	return srv, mux, p
}

const benchVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-bench-verifier"

// benchCode runs an authorization request for scope to the point where
// fosite stores the code (what issueCode does after consent) and returns the code.
func benchCode(b *testing.B, srv *Server, p storage.Principal, scope string) string {
	b.Helper()
	sum := sha256.Sum256([]byte(benchVerifier))
	q := url.Values{
		"response_type": {"code"}, "client_id": {"bench-app"}, "redirect_uri": {"http://127.0.0.1:9/callback"},
		"scope": {scope}, "state": {"bench-state-1234"}, "nonce": {"bench-nonce-1234"},
		"code_challenge": {base64URL(sum[:])}, "code_challenge_method": {"S256"},
	}
	r := httptest.NewRequestWithContext(b.Context(), http.MethodGet, AuthorizePath+"?"+q.Encode(), nil)
	ctx := r.Context()
	ar, err := srv.provider.NewAuthorizeRequest(ctx, r)
	if err != nil {
		b.Fatal(err)
	}
	for _, sc := range ar.GetRequestedScopes() {
		ar.GrantScope(sc)
	}
	ar.GrantAudience(srv.cfg.Audience)
	sess := newSession(srv.cfg.AccessTokenLifespan)
	sess.Subject, sess.Username, sess.WorkspaceID = p.UserID, p.Email, p.WorkspaceID
	sess.ClientID = "bench-app"
	sess.AuthTime = p.SignedInAt.UTC()
	sess.GrantedAt = time.Now().UTC()
	setIDTokenClaims(sess, p, ar.GetGrantedScopes(), time.Now())
	resp, err := srv.provider.NewAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		b.Fatal(err)
	}
	return resp.GetCode()
}

// benchTokenRequest posts form to the token endpoint as bench-app and
// returns the decoded answer.
func benchTokenRequest(b *testing.B, h http.Handler, form url.Values) tokenResponse {
	req := httptest.NewRequestWithContext(b.Context(), http.MethodPost, TokenPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("bench-app", "secret")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var body tokenResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		b.Fatal(err)
	}
	return body
}

// BenchmarkTokenEndpoint answers POST /v1/oauth/token through the route
// table against PostgreSQL: the code exchange (the code is issued outside
// the timer), with and without openid (which adds an RS256 ID token), and
// the refresh grant, each iteration redeeming the refresh token the
// previous one returned.
func BenchmarkTokenEndpoint(b *testing.B) {
	srv, h, p := benchTokenServer(b)
	for _, tc := range []struct{ name, scope string }{
		{"code", "projects:read tasks:read"},
		{"code+openid", "openid profile email projects:read"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				code := benchCode(b, srv, p, tc.scope)
				b.StartTimer()
				benchTokenRequest(b, h, url.Values{
					"grant_type": {"authorization_code"}, "code": {code},
					"redirect_uri": {"http://127.0.0.1:9/callback"}, "code_verifier": {benchVerifier},
				})
			}
		})
	}
	for _, tc := range []struct{ name, scope string }{
		{"refresh", "projects:read tasks:read"},
		{"refresh+openid", "openid profile email projects:read"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			rt := benchTokenRequest(b, h, url.Values{
				"grant_type": {"authorization_code"}, "code": {benchCode(b, srv, p, tc.scope)},
				"redirect_uri": {"http://127.0.0.1:9/callback"}, "code_verifier": {benchVerifier},
			}).RefreshToken
			b.ReportAllocs()
			for b.Loop() {
				rt = benchTokenRequest(b, h, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}).RefreshToken
			}
		})
	}
}
