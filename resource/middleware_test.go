package resource_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nextoria/authz/ratelimit"
	"github.com/nextoria/authz/ratelimit/ratelimittest"
	"github.com/nextoria/authz/resource"
)

// Tokens used in the tests; their text does not matter to the middleware.
const (
	tokenOAuth = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiI3ZDBmIn0.c2lnbmF0dXJl"
	tokenKey   = "nxh_3kTMd0xYg3Y1cN7rZ6bM0q2Wf8hP5sJ4vL9aB1cD2eF3g0K1xq9"
)

// syncBuffer collects log output from concurrent requests.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// setup is a middleware in front of a handler that records the principal.
type setup struct {
	as   *fakeAS
	mw   *resource.Middleware
	logs *syncBuffer
	clk  *clock
}

// newSetup builds a middleware on a fresh fake authorization server; change
// adjusts the configuration.
func newSetup(t *testing.T, change func(*resource.Config)) *setup {
	t.Helper()
	s := &setup{as: newFakeAS(t), logs: &syncBuffer{}, clk: &clock{t: time.Now()}}
	cfg := resource.Config{
		IntrospectionURL: s.as.URL + "/v1/oauth/introspect",
		ClientID:         rsClientID,
		ClientSecret:     rsClientSecret,
		Limiter:          ratelimit.NewMemory(ratelimit.MemoryOptions{}),
		Logger:           slog.New(slog.NewTextHandler(s.logs, nil)),
	}
	if change != nil {
		change(&cfg)
	}
	mw, err := resource.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	resource.SetClock(mw, s.clk.Now)
	s.mw = mw
	return s
}

// principalHandler answers 200 with the request's principal as JSON.
var principalHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	p, ok := resource.PrincipalFrom(r.Context())
	if !ok {
		http.Error(w, "no principal", http.StatusInternalServerError)
		return
	}
	_ = json.NewEncoder(w).Encode(p)
})

// do sends one request through Require(scopes...) with the given
// Authorization headers.
func (s *setup) do(t *testing.T, scopes []string, auth ...string) *httptest.ResponseRecorder {
	t.Helper()
	return doWith(t, s.mw, scopes, auth...)
}

func doWith(t *testing.T, mw *resource.Middleware, scopes []string, auth ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/v1/projects", nil)
	req.Header.Set("Content-Type", "application/json")
	for _, a := range auth {
		req.Header.Add("Authorization", a)
	}
	rec := httptest.NewRecorder()
	mw.Require(scopes...)(principalHandler).ServeHTTP(rec, req)
	return rec
}

// envelope decodes a documented error body, failing on anything else.
func envelope(t *testing.T, rec *httptest.ResponseRecorder) (code, message string, status int) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error Content-Type = %q", ct)
	}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Status  int    `json:"status"`
		} `json:"error"`
	}
	dec := json.NewDecoder(rec.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("error body is not the envelope: %v", err)
	}
	return body.Error.Code, body.Error.Message, body.Error.Status
}

func TestPrincipal(t *testing.T) {
	t.Parallel()
	s := newSetup(t, nil)
	exp := time.Now().Add(time.Hour)
	s.as.set(tokenOAuth, accessToken("projects:read tasks:read", "growth", exp))
	s.as.set(tokenKey, apiKey("projects:read projects:write", "starter"))

	tests := []struct {
		name  string
		token string
		want  resource.Principal
		limit string
	}{
		{"OAuth access token", tokenOAuth, resource.Principal{
			Subject: "7d0f8e2a-user", Username: "ada@example.com", ClientID: "acme-sync", WorkspaceID: wsAcme,
			Plan: "growth", Scopes: []string{"projects:read", "tasks:read"}, TokenType: resource.TokenTypeBearer,
		}, "500"},
		{"API key", tokenKey, resource.Principal{
			WorkspaceID: wsGlobex, Plan: "starter", Scopes: []string{"projects:read", "projects:write"},
			TokenType: resource.TokenTypeAPIKey, KeyID: "0c8a-key", KeyName: "Zapier Integration",
		}, "100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := s.do(t, []string{"projects:read"}, "Bearer "+tt.token)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			var got resource.Principal
			if err := json.NewDecoder(rec.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("principal = %+v\nwant        %+v", got, tt.want)
			}
			if rec.Header().Get("RateLimit-Limit") != tt.limit || rec.Header().Get("RateLimit-Remaining") == "" ||
				rec.Header().Get("RateLimit-Reset") == "" || rec.Header().Get("Retry-After") != "" {
				t.Errorf("rate-limit headers: %v", rec.Header())
			}
		})
	}
	if n := s.as.badAuth.Load(); n != 0 {
		t.Errorf("%d introspection calls had wrong client credentials", n)
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	const (
		missing   = `Bearer realm="nextoria"`
		invalid   = `Bearer realm="nextoria", error="invalid_token"`
		malformed = `Bearer realm="nextoria", error="invalid_request"`
	)
	tests := []struct {
		name      string
		as        func(*fakeAS)
		scopes    []string
		auth      []string
		status    int
		code      string
		message   string // a part of it
		challenge string
		limited   bool // RateLimit-* headers expected
		logged    string
	}{
		{name: "no Authorization header", status: 401, code: "UNAUTHORIZED", message: "Missing API key", challenge: missing},
		{name: "Basic credentials", auth: []string{"Basic dXNlcjpwYXNz"}, status: 401, code: "UNAUTHORIZED", message: "Missing API key", challenge: missing},
		{name: "scheme without token", auth: []string{"Bearer"}, status: 400, code: "BAD_REQUEST", message: "Malformed Authorization", challenge: malformed},
		{name: "two Authorization headers", auth: []string{"Bearer " + tokenKey, "Bearer " + tokenKey}, status: 400, code: "BAD_REQUEST", message: "Malformed", challenge: malformed},
		{name: "invalid character", auth: []string{"Bearer nxh_abc$def"}, status: 400, code: "BAD_REQUEST", message: "Malformed", challenge: malformed},
		{name: "unknown token", auth: []string{"Bearer unknown-token"}, status: 401, code: "UNAUTHORIZED", message: "invalid, expired or revoked", challenge: invalid},
		{name: "expired though the server says active",
			as: func(f *fakeAS) {
				f.set(tokenOAuth, accessToken("projects:read", "growth", time.Now().Add(-time.Second)))
			},
			auth: []string{"Bearer " + tokenOAuth}, status: 401, code: "UNAUTHORIZED", message: "invalid, expired or revoked", challenge: invalid},
		{name: "refresh token sent as a bearer token",
			as: func(f *fakeAS) {
				resp := accessToken("projects:read", "growth", time.Now().Add(time.Hour))
				resp["token_type"] = "refresh_token"
				f.set(tokenOAuth, resp)
			},
			auth: []string{"Bearer " + tokenOAuth}, status: 401, code: "UNAUTHORIZED", message: "invalid, expired or revoked", challenge: invalid},
		{name: "token without a type",
			as: func(f *fakeAS) {
				resp := apiKey("projects:read", "growth")
				delete(resp, "token_type")
				f.set(tokenKey, resp)
			},
			auth: []string{"Bearer " + tokenKey}, status: 401, code: "UNAUTHORIZED", message: "invalid, expired or revoked", challenge: invalid},
		{name: "insufficient scope",
			as:     func(f *fakeAS) { f.set(tokenKey, apiKey("projects:read", "scale")) },
			scopes: []string{"projects:read", "projects:write"}, auth: []string{"Bearer " + tokenKey},
			status: 403, code: "FORBIDDEN", message: "lacks the scope projects:write required",
			challenge: `Bearer realm="nextoria", error="insufficient_scope", scope="projects:read projects:write"`, limited: true},
		{name: "introspection endpoint fails", as: func(f *fakeAS) { f.fail(http.StatusBadGateway) },
			auth: []string{"Bearer " + tokenKey}, status: 503, code: "SERVICE_UNAVAILABLE", message: "temporarily unavailable", logged: "status 502"},
		{name: "introspection endpoint refuses the request", as: func(f *fakeAS) { f.fail(http.StatusBadRequest) },
			auth: []string{"Bearer " + tokenKey}, status: 500, code: "INTERNAL_ERROR", message: "server error", logged: "status 400"},
		{name: "resource server credentials rejected", as: func(f *fakeAS) { f.fail(http.StatusUnauthorized) },
			auth: []string{"Bearer " + tokenKey}, status: 500, code: "INTERNAL_ERROR", message: "server error", logged: "rejected this resource server's credentials"},
		{name: "introspection answers garbage", as: func(f *fakeAS) { f.answer("<html>") },
			auth: []string{"Bearer " + tokenKey}, status: 500, code: "INTERNAL_ERROR", message: "server error", logged: "decode introspection response"},
		{name: "active token without workspace", as: func(f *fakeAS) { f.answer(`{"active":true,"scope":"projects:read","token_type":"api_key"}`) },
			auth: []string{"Bearer " + tokenKey}, status: 500, code: "INTERNAL_ERROR", message: "server error", logged: "no workspace_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSetup(t, nil)
			if tt.as != nil {
				tt.as(s.as)
			}
			scopes := tt.scopes
			if scopes == nil {
				scopes = []string{"projects:read"}
			}
			rec := s.do(t, scopes, tt.auth...)
			code, message, status := envelope(t, rec)
			if rec.Code != tt.status || status != tt.status || code != tt.code || !strings.Contains(message, tt.message) {
				t.Errorf("answer %d %s %q (status %d in body), want %d %s containing %q",
					rec.Code, code, message, status, tt.status, tt.code, tt.message)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.challenge)
			}
			if got := rec.Header().Get("RateLimit-Limit") != ""; got != tt.limited {
				t.Errorf("RateLimit headers present: %t, want %t", got, tt.limited)
			}
			if rec.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", rec.Header().Get("Cache-Control"))
			}
			logs := s.logs.String()
			if tt.logged != "" && !strings.Contains(logs, tt.logged) {
				t.Errorf("log lacks %q:\n%s", tt.logged, logs)
			}
			if tt.logged == "" && logs != "" {
				t.Errorf("unexpected log:\n%s", logs)
			}
			for _, secret := range []string{tokenKey, tokenOAuth, rsClientSecret} {
				if strings.Contains(logs, secret) || strings.Contains(message, secret) {
					t.Errorf("a secret leaked into the log or the answer")
				}
			}
		})
	}
}

func TestExactEnvelope(t *testing.T) {
	t.Parallel()
	s := newSetup(t, nil)
	rec := s.do(t, []string{"projects:read"}, "Bearer unknown")
	want := `{"error":{"code":"UNAUTHORIZED","message":"The API key or access token is invalid, expired or revoked.","status":401}}` + "\n"
	if rec.Body.String() != want {
		t.Errorf("body = %s, want %s", rec.Body, want)
	}
}

func TestCacheHit(t *testing.T) {
	t.Parallel()
	s := newSetup(t, nil)
	s.as.set(tokenKey, apiKey("projects:read", "growth"))
	for range 5 {
		if rec := s.do(t, []string{"projects:read"}, "Bearer "+tokenKey); rec.Code != 200 {
			t.Fatalf("status %d", rec.Code)
		}
	}
	if n := s.as.calls.Load(); n != 1 {
		t.Errorf("%d introspection calls for 5 requests with one token, want 1", n)
	}
	s.as.set(tokenOAuth, accessToken("projects:read", "growth", time.Now().Add(time.Hour)))
	s.do(t, []string{"projects:read"}, "Bearer "+tokenOAuth)
	if n := s.as.calls.Load(); n != 2 {
		t.Errorf("another token: %d calls in all, want 2", n)
	}
	// Inactive answers are kept for NegativeCacheTTL only.
	s.do(t, nil, "Bearer unknown")
	s.do(t, nil, "Bearer unknown")
	if n := s.as.calls.Load(); n != 3 {
		t.Errorf("inactive token twice: %d calls in all, want 3", n)
	}
	s.clk.Advance(resource.NegativeCacheTTL)
	s.do(t, nil, "Bearer unknown")
	if n := s.as.calls.Load(); n != 4 {
		t.Errorf("inactive token after NegativeCacheTTL: %d calls in all, want 4", n)
	}
}

func TestCacheNeverOutlivesExpiry(t *testing.T) {
	t.Parallel()
	s := newSetup(t, func(c *resource.Config) { c.CacheTTL = time.Hour })
	s.as.set(tokenOAuth, accessToken("projects:read", "growth", s.clk.Now().Add(3*time.Second)))
	if rec := s.do(t, []string{"projects:read"}, "Bearer "+tokenOAuth); rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	s.clk.Advance(2 * time.Second)
	if rec := s.do(t, []string{"projects:read"}, "Bearer "+tokenOAuth); rec.Code != 200 || s.as.calls.Load() != 1 {
		t.Fatalf("before exp: status %d, %d calls; want 200 from the cache", rec.Code, s.as.calls.Load())
	}
	s.clk.Advance(time.Second)
	rec := s.do(t, []string{"projects:read"}, "Bearer "+tokenOAuth)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("at exp, within CacheTTL: status %d, want 401", rec.Code)
	}
	if n := s.as.calls.Load(); n != 2 {
		t.Errorf("at exp: %d introspection calls, want the cache entry dropped and a second call", n)
	}
}

func TestRevocationVisibleAfterTTL(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name         string
		ttl          time.Duration
		staleAllowed bool
	}{
		{"default lifetime", 0, true},
		{"cache off", -1, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSetup(t, func(c *resource.Config) { c.CacheTTL = tt.ttl })
			s.as.set(tokenKey, apiKey("projects:read", "growth"))
			if rec := s.do(t, nil, "Bearer "+tokenKey); rec.Code != 200 {
				t.Fatalf("status %d", rec.Code)
			}
			s.as.set(tokenKey, nil) // revoked at the authorization server
			s.clk.Advance(resource.DefaultCacheTTL - time.Millisecond)
			if rec := s.do(t, nil, "Bearer "+tokenKey); (rec.Code == 200) != tt.staleAllowed {
				t.Fatalf("just within the cache lifetime: status %d", rec.Code)
			}
			s.clk.Advance(time.Millisecond)
			if rec := s.do(t, nil, "Bearer "+tokenKey); rec.Code != http.StatusUnauthorized {
				t.Fatalf("after the cache lifetime: status %d, want 401", rec.Code)
			}
		})
	}
}

func TestConcurrentLookupsCollapse(t *testing.T) {
	t.Parallel()
	s := newSetup(t, nil)
	s.as.set(tokenKey, apiKey("projects:read", "scale"))
	s.as.slow(200 * time.Millisecond)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if rec := s.do(t, []string{"projects:read"}, "Bearer "+tokenKey); rec.Code != 200 {
				t.Errorf("status %d", rec.Code)
			}
		})
	}
	wg.Wait()
	if n := s.as.calls.Load(); n != 1 {
		t.Errorf("%d introspection calls for 20 concurrent requests with one token, want 1", n)
	}
}

// A client that gives up does not fail the others waiting for the same
// introspection.
func TestCancelledWaiterDoesNotFailOthers(t *testing.T) {
	t.Parallel()
	s := newSetup(t, nil)
	s.as.set(tokenKey, apiKey("projects:read", "scale"))
	s.as.slow(200 * time.Millisecond)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int)
	go func() {
		req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
		req.Header.Set("Authorization", "Bearer "+tokenKey)
		rec := httptest.NewRecorder()
		s.mw.Require()(principalHandler).ServeHTTP(rec, req)
		done <- rec.Code
	}()
	time.Sleep(50 * time.Millisecond)
	second := make(chan int)
	go func() { second <- s.do(t, nil, "Bearer "+tokenKey).Code }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	<-done
	if code := <-second; code != 200 {
		t.Errorf("second waiter: status %d, want 200", code)
	}
}

func TestRateLimited(t *testing.T) {
	t.Parallel()
	s := newSetup(t, nil)
	s.as.set(tokenKey, apiKey("projects:read", "starter"))
	for i := range 100 {
		rec := s.do(t, []string{"projects:read"}, "Bearer "+tokenKey)
		if rec.Code != 200 || rec.Header().Get("RateLimit-Limit") != "100" {
			t.Fatalf("request %d: status %d, headers %v", i+1, rec.Code, rec.Header())
		}
	}
	rec := s.do(t, []string{"projects:read"}, "Bearer "+tokenKey)
	code, message, status := envelope(t, rec)
	if rec.Code != http.StatusTooManyRequests || status != 429 || code != "RATE_LIMITED" ||
		!strings.Contains(message, "60 requests per minute") || !strings.Contains(message, "Retry after 1 second.") {
		t.Fatalf("101st request: %d %s %q", rec.Code, code, message)
	}
	if h := rec.Header(); h.Get("Retry-After") != "1" || h.Get("RateLimit-Remaining") != "0" || h.Get("RateLimit-Limit") != "100" {
		t.Errorf("101st request headers: %v", h)
	}
	// Insufficient scope still counts against the limit.
	if rec := s.do(t, []string{"projects:write"}, "Bearer "+tokenKey); rec.Code != http.StatusTooManyRequests {
		t.Errorf("request lacking scope past the limit: status %d, want 429", rec.Code)
	}
}

// failingLimiter always fails.
type failingLimiter struct{}

func (failingLimiter) Allow(context.Context, string, string) (ratelimit.Result, error) {
	return ratelimit.Result{}, errors.New("limiter down")
}

func TestLimiterFailure(t *testing.T) {
	t.Parallel()
	s := newSetup(t, func(c *resource.Config) { c.Limiter = failingLimiter{} })
	s.as.set(tokenKey, apiKey("projects:read", "starter"))
	rec := s.do(t, nil, "Bearer "+tokenKey)
	if code, _, _ := envelope(t, rec); rec.Code != 500 || code != "INTERNAL_ERROR" {
		t.Errorf("status %d %s, want 500 INTERNAL_ERROR", rec.Code, code)
	}
	if !strings.Contains(s.logs.String(), "limiter down") {
		t.Errorf("limiter failure not logged:\n%s", s.logs)
	}
}

// TestSharedRedisBucket runs two middleware instances, as two API servers,
// on one Redis: together they allow one burst per workspace.
func TestSharedRedisBucket(t *testing.T) {
	t.Parallel()
	prefix := ratelimittest.NewPrefix(t)
	a := newSetup(t, func(c *resource.Config) { c.Limiter = ratelimit.NewRedis(ratelimittest.NewClient(t), prefix) })
	b := newSetup(t, func(c *resource.Config) { c.Limiter = ratelimit.NewRedis(ratelimittest.NewClient(t), prefix) })
	for _, s := range []*setup{a, b} {
		s.as.set(tokenKey, apiKey("projects:read", "starter"))
	}
	allowed := 0
	var last *httptest.ResponseRecorder
	for i := range 120 {
		s := a
		if i%2 == 1 {
			s = b
		}
		last = s.do(t, nil, "Bearer "+tokenKey)
		if last.Code == 200 {
			allowed++
		}
	}
	if allowed < 100 || allowed > 102 {
		t.Errorf("%d of 120 requests allowed across two instances, want the shared burst of 100", allowed)
	}
	if last.Code != 429 || last.Header().Get("Retry-After") == "" {
		t.Errorf("last request: status %d, Retry-After %q", last.Code, last.Header().Get("Retry-After"))
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	_, err := resource.New(resource.Config{IntrospectionURL: "/relative"})
	for _, want := range []string{"IntrospectionURL", "ClientID", "ClientSecret", "Limiter"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New(empty config): err = %v, want it to mention %s", err, want)
		}
	}
}

func TestRequirePanicsOnInvalidScope(t *testing.T) {
	t.Parallel()
	s := newSetup(t, nil)
	defer func() {
		if recover() == nil {
			t.Error("Require accepted the scope \"projects read\"")
		}
	}()
	s.mw.Require("projects read")
}
