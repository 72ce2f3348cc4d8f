package authz

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"

	"github.com/nextoria/authz/metrics"
	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/storagetest"
)

const benchIssuer = "https://auth.example.com"

// benchKeySet loads an ES256 key set from a fresh database, as the server does.
func benchKeySet(b *testing.B) (*KeySet, *storage.Store, secret.Keys) {
	b.Helper()
	keys, err := secret.DeriveKeys(strings.Repeat("k", 40))
	if err != nil {
		b.Fatal(err)
	}
	store := storagetest.NewStore(b, storage.Options{Audience: []string{benchIssuer}})
	ks, err := NewKeySet(b.Context(), store, keys.Seal, time.Hour, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	return ks, store, keys
}

// benchSession is a session as issueCode fills it.
func benchSession() *Session {
	s := newSession(time.Hour)
	s.Subject = "6f1c2f9e-2b7a-4f43-9d6a-0b6d1f1e8a11"
	s.Username = "ada@example.com"
	s.WorkspaceID = "0d4e7a52-9f0b-4b8e-8f55-5f2f6f0c9c3e"
	s.ClientID = "b3c1d6f0e2a94c7d"
	s.AuthTime = time.Now().UTC()
	s.GrantedAt = time.Now().UTC()
	return s
}

// accessClaims are the claims of an access token as fosite assembles them.
func accessClaims(s *Session) jwt.MapClaims {
	return s.GetJWTClaims().
		With(s.GetExpiresAt(fosite.AccessToken), []string{"projects:read", "tasks:read"}, []string{benchIssuer}).
		WithDefaults(time.Now().UTC(), benchIssuer).
		WithScopeField(jwt.JWTScopeFieldString).
		ToMapClaims()
}

// BenchmarkSignerGenerate signs one access token with the active ES256 key:
// the signing cost of every code exchange and refresh.
func BenchmarkSignerGenerate(b *testing.B) {
	ks, _, _ := benchKeySet(b)
	sg := newSigner(ks)
	sess := benchSession()
	claims, headers := accessClaims(sess), sess.GetJWTHeader()
	ctx := b.Context()
	for b.Loop() {
		if _, _, err := sg.Generate(ctx, claims, headers); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignerValidate verifies an access token's ES256 signature and
// claims: the signature cost of every introspection of a JWT.
func BenchmarkSignerValidate(b *testing.B) {
	ks, _, _ := benchKeySet(b)
	sg := newSigner(ks)
	sess := benchSession()
	token, _, err := sg.Generate(b.Context(), accessClaims(sess), sess.GetJWTHeader())
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	b.Run("Validate", func(b *testing.B) {
		for b.Loop() {
			if _, err := sg.Validate(ctx, token); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Decode", func(b *testing.B) {
		for b.Loop() {
			if _, err := sg.Decode(ctx, token); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSessionClaims builds the claims of a new access token.
func BenchmarkSessionClaims(b *testing.B) {
	sess := benchSession()
	for b.Loop() {
		sess.GetJWTClaims().ToMapClaims()
	}
}

// BenchmarkCheckAuthorizeRequest applies our rules on top of fosite's to an
// authorization request with PKCE.
func BenchmarkCheckAuthorizeRequest(b *testing.B) {
	ar := fosite.NewAuthorizeRequest()
	ar.Client = &fosite.DefaultClient{ID: "c"}
	ar.ResponseTypes = fosite.Arguments{"code"}
	ar.RequestedScope = fosite.Arguments{"projects:read", "tasks:read"}
	ar.Form = url.Values{
		"code_challenge":        {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"},
		"code_challenge_method": {"S256"},
	}
	for b.Loop() {
		if err := checkAuthorizeRequest(ar); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIntrospect answers introspection of a valid JWT access token
// through Server.Introspect: signature check, the token's row and the
// workspace's plan, both read from PostgreSQL. It is the server-side cost of
// the introspect-jwt load scenario without HTTP and client authentication.
func BenchmarkIntrospect(b *testing.B) {
	ks, store, keys := benchKeySet(b)
	srv, err := New(Config{
		Issuer:                    benchIssuer,
		Audience:                  benchIssuer,
		AccessTokenLifespan:       time.Hour,
		RefreshTokenLifespan:      time.Hour,
		AuthorizationCodeLifespan: time.Minute,
		Keys:                      keys,
		Logger:                    slog.New(slog.DiscardHandler),
	}, store, ks, nil)
	if err != nil {
		b.Fatal(err)
	}
	token := benchAccessToken(b, srv, store)
	ctx := b.Context()
	for b.Loop() {
		res, err := srv.Introspect(ctx, token, "")
		if err != nil {
			b.Fatal(err)
		}
		if !res.Active {
			b.Fatal("the token is not active")
		}
	}
}

// benchAccessToken stores a workspace, user and app, and issues an access
// token for them as the token endpoint would.
func benchAccessToken(b *testing.B, srv *Server, store *storage.Store) string {
	b.Helper()
	ctx := context.Background()
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
		RedirectURIs: []string{"http://127.0.0.1:9/callback"}, Scopes: []string{"projects:read", "tasks:read"},
		WorkspaceID: ws.ID, OwnerID: u.ID,
	}); err != nil {
		b.Fatal(err)
	}
	client, err := store.GetClient(ctx, "bench-app")
	if err != nil {
		b.Fatal(err)
	}
	sess := benchSession()
	sess.Subject, sess.WorkspaceID, sess.ClientID = u.ID, ws.ID, "bench-app"
	req := fosite.NewRequest()
	req.Client = client
	req.Session = sess
	req.GrantScope("projects:read")
	req.GrantScope("tasks:read")
	req.GrantAudience(benchIssuer)
	token, signature, err := srv.accessStrategy.GenerateAccessToken(ctx, req)
	if err != nil {
		b.Fatal(err)
	}
	if err := store.CreateAccessTokenSession(ctx, signature, req); err != nil {
		b.Fatal(err)
	}
	return token
}

// BenchmarkIntrospectEndpoint answers POST /v1/oauth/introspect through the
// route table, resource-server authentication included, with metrics off
// and on (the HTTP middleware and the introspection counter): the metrics'
// cost on the busiest endpoint.
func BenchmarkIntrospectEndpoint(b *testing.B) {
	ks, store, keys := benchKeySet(b)
	token := ""
	for _, on := range []bool{false, true} {
		var m *metrics.Metrics
		name := "metrics=off"
		if on {
			m, name = metrics.New(), "metrics=on"
		}
		srv, err := New(Config{
			Issuer: benchIssuer, Audience: benchIssuer, AccessTokenLifespan: time.Hour, RefreshTokenLifespan: time.Hour,
			AuthorizationCodeLifespan: time.Minute, Keys: keys, Logger: slog.New(slog.DiscardHandler), Metrics: m,
		}, store, ks, nil)
		if err != nil {
			b.Fatal(err)
		}
		if token == "" {
			token = benchAccessToken(b, srv, store)
			if _, err := store.CreateResourceServer(b.Context(), "rs-bench", "Bench API", srv.hasher.Sum([]byte("rs-secret"))); err != nil {
				b.Fatal(err)
			}
		}
		mux := http.NewServeMux()
		srv.Routes(mux)
		h := m.Middleware(m.Routed(mux))
		body := url.Values{"token": {token}}.Encode()
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, IntrospectPath, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth("rs-bench", "rs-secret")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Body.String(), `{"active":true`) {
					b.Fatalf("%d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
