package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nextoria/authz/graceful"
	"github.com/nextoria/authz/ratelimit"
	"github.com/nextoria/authz/ratelimit/ratelimittest"
	"github.com/nextoria/authz/resource"
)

// Credentials of the example API at the fake authorization server.
const (
	testClientID     = "example-api"
	testClientSecret = "example+secret/=="
)

// Tokens the fake authorization server knows.
const (
	tokenReadOnly  = "nxh_readonlyreadonlyreadonlyreadonlyreadonlyreadonly1"
	tokenReadWrite = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2ln"
	tokenOther     = "nxh_otherworkspaceotherworkspaceotherworkspaceother1"
	tokenTasks     = "nxh_tasksonlytasksonlytasksonlytasksonlytasksonlytas"
	wsAcme         = "11111111-1111-4111-8111-111111111111"
	wsGlobex       = "22222222-2222-4222-8222-222222222222"
)

// fakeIntrospection stands in for Nextoria Authz's introspection endpoint.
type fakeIntrospection struct {
	*httptest.Server
	calls atomic.Int64
}

func newFakeIntrospection(t *testing.T) *fakeIntrospection {
	t.Helper()
	responses := map[string]map[string]any{
		tokenReadOnly: {"active": true, "scope": "projects:read clients:read", "token_type": "api_key",
			"workspace_id": wsAcme, "plan": "starter", "key_id": "k1", "key_name": "Read-only"},
		tokenReadWrite: {"active": true, "scope": "projects:read projects:write tasks:read", "token_type": "Bearer",
			"client_id": "acme-sync", "sub": "user-1", "username": "ada@acme.example", "workspace_id": wsAcme,
			"plan": "growth", "exp": time.Now().Add(time.Hour).Unix()},
		tokenOther: {"active": true, "scope": "projects:read projects:write", "token_type": "api_key",
			"workspace_id": wsGlobex, "plan": "scale", "key_id": "k2", "key_name": "Globex"},
		tokenTasks: {"active": true, "scope": "tasks:read", "token_type": "api_key",
			"workspace_id": wsGlobex, "plan": "scale", "key_id": "k3", "key_name": "Tasks"},
	}
	f := &fakeIntrospection{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		id, secret, ok := r.BasicAuth()
		if !ok || id != url.QueryEscape(testClientID) || secret != url.QueryEscape(testClientSecret) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		resp, ok := responses[r.PostFormValue("token")]
		if !ok {
			resp = map[string]any{"active": false}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(f.Close)
	return f
}

// newTestHandler builds the API's handler against a fake introspection
// endpoint, with an in-process limiter unless one is given.
func newTestHandler(t *testing.T, limiter ratelimit.Limiter) (http.Handler, *fakeIntrospection) {
	t.Helper()
	as := newFakeIntrospection(t)
	if limiter == nil {
		limiter = ratelimit.NewMemory(ratelimit.MemoryOptions{})
	}
	mw, err := resource.New(resource.Config{
		IntrospectionURL: as.URL + "/v1/oauth/introspect",
		ClientID:         testClientID,
		ClientSecret:     testClientSecret,
		Limiter:          limiter,
		Logger:           slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return newHandler(mw, &graceful.State{}), as
}

// call sends a request the way the documentation's curl examples do:
// Authorization: Bearer and Content-Type: application/json.
func call(t *testing.T, h http.Handler, method, path, token, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// apiError decodes the documented error envelope.
func apiError(t *testing.T, rec *httptest.ResponseRecorder) (code, message string) {
	t.Helper()
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Status  int    `json:"status"`
		} `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Status != rec.Code {
		t.Fatalf("status %d with body %s: not the error envelope (%v)", rec.Code, rec.Body, err)
	}
	return body.Error.Code, body.Error.Message
}

func decodeBody[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("body %s: %v", rec.Body, err)
	}
	return v
}

func TestProjectsLifecycle(t *testing.T) {
	t.Parallel()
	h, _ := newTestHandler(t, nil)

	// The documentation's first example.
	rec := call(t, h, "GET", "/v1/projects", tokenReadOnly, "")
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"data":[]}` {
		t.Fatalf("GET /v1/projects = %d %s", rec.Code, rec.Body)
	}
	if rec.Header().Get("RateLimit-Limit") != "100" || rec.Header().Get("RateLimit-Remaining") != "99" {
		t.Errorf("rate-limit headers: %v", rec.Header())
	}

	rec = call(t, h, "POST", "/v1/projects", tokenReadWrite, `{"name":"  Website redesign ","description":"Q3"}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("POST /v1/projects = %d %s", rec.Code, rec.Body)
	}
	p := decodeBody[project](t, rec)
	if !strings.HasPrefix(p.ID, "proj_") || p.Name != "Website redesign" || p.Description != "Q3" ||
		rec.Header().Get("Location") != "/v1/projects/"+p.ID {
		t.Fatalf("created %+v, Location %q", p, rec.Header().Get("Location"))
	}

	// Anyone in the workspace sees it; another workspace does not.
	if got := decodeBody[project](t, call(t, h, "GET", "/v1/projects/"+p.ID, tokenReadOnly, "")); got.ID != p.ID {
		t.Errorf("GET by id = %+v", got)
	}
	if l := decodeBody[list[project]](t, call(t, h, "GET", "/v1/projects", tokenReadOnly, "")); len(l.Data) != 1 {
		t.Errorf("list after create = %+v", l)
	}
	rec = call(t, h, "GET", "/v1/projects/"+p.ID, tokenOther, "")
	if code, msg := apiError(t, rec); rec.Code != 404 || code != "NOT_FOUND" || msg != "Project with ID "+p.ID+" was not found." {
		t.Errorf("other workspace: %d %s %q", rec.Code, code, msg)
	}
	if l := decodeBody[list[project]](t, call(t, h, "GET", "/v1/projects", tokenOther, "")); len(l.Data) != 0 {
		t.Errorf("other workspace's list = %+v", l)
	}

	rec = call(t, h, "PATCH", "/v1/projects/"+p.ID, tokenReadWrite, `{"description":"Q4"}`)
	if got := decodeBody[project](t, rec); rec.Code != 200 || got.Name != "Website redesign" || got.Description != "Q4" || !got.UpdatedAt.After(p.UpdatedAt) && !got.UpdatedAt.Equal(p.UpdatedAt) {
		t.Errorf("PATCH = %d %+v", rec.Code, got)
	}
	if rec := call(t, h, "DELETE", "/v1/projects/"+p.ID, tokenReadWrite, ""); rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
		t.Errorf("DELETE = %d %s", rec.Code, rec.Body)
	}
	for _, method := range []string{"GET", "PATCH", "DELETE"} {
		rec := call(t, h, method, "/v1/projects/"+p.ID, tokenReadWrite, `{}`)
		if code, msg := apiError(t, rec); rec.Code != 404 || code != "NOT_FOUND" || !strings.Contains(msg, p.ID) {
			t.Errorf("%s after DELETE = %d %s %q", method, rec.Code, code, msg)
		}
	}
	rec = call(t, h, "GET", "/v1/projects/proj_abc123", tokenReadOnly, "")
	if _, msg := apiError(t, rec); msg != "Project with ID proj_abc123 was not found." {
		t.Errorf("documented 404 message = %q", msg)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	h, _ := newTestHandler(t, nil)
	long := strings.Repeat("é", 201)
	tests := []struct {
		name, method, path, token, contentType, body string
		status                                       int
		code, message                                string
	}{
		{"no token", "GET", "/v1/projects", "", "", "", 401, "UNAUTHORIZED", "Missing API key"},
		{"revoked or unknown token", "GET", "/v1/projects", "nxh_unknown", "", "", 401, "UNAUTHORIZED", "invalid, expired or revoked"},
		{"read-only key writes", "POST", "/v1/projects", tokenReadOnly, "", `{"name":"x"}`, 403, "FORBIDDEN", "projects:write"},
		{"tasks key reads projects", "GET", "/v1/projects", tokenTasks, "", "", 403, "FORBIDDEN", "projects:read"},
		{"unknown resource", "GET", "/v1/invoices", tokenReadOnly, "", "", 404, "NOT_FOUND", "GET /v1/invoices"},
		{"unknown nested path", "GET", "/v1/projects/proj_1/members", tokenReadOnly, "", "", 404, "NOT_FOUND", ""},
		{"unsupported method", "PUT", "/v1/projects", tokenReadWrite, "", `{}`, 404, "NOT_FOUND", "PUT /v1/projects"},
		{"unknown path needs a token", "GET", "/v1/invoices", "", "", "", 401, "UNAUTHORIZED", ""},
		{"outside /v1", "GET", "/admin", "", "", "", 404, "NOT_FOUND", ""},
		{"bad JSON", "POST", "/v1/projects", tokenReadWrite, "", `{"name":`, 400, "BAD_REQUEST", "not valid JSON"},
		{"not an object", "POST", "/v1/projects", tokenReadWrite, "", `["x"]`, 400, "BAD_REQUEST", "one JSON object"},
		{"two objects", "POST", "/v1/projects", tokenReadWrite, "", `{"name":"a"}{"name":"b"}`, 400, "BAD_REQUEST", "one JSON object"},
		{"empty body", "POST", "/v1/projects", tokenReadWrite, "", ``, 400, "BAD_REQUEST", "not valid JSON"},
		{"wrong type", "POST", "/v1/projects", tokenReadWrite, "", `{"name":42}`, 400, "BAD_REQUEST", `Field "name" must be a string`},
		{"unknown field", "POST", "/v1/projects", tokenReadWrite, "", `{"name":"a","owner":"b"}`, 400, "BAD_REQUEST", `Unknown field "owner"`},
		{"form content type", "POST", "/v1/projects", tokenReadWrite, "application/x-www-form-urlencoded", `name=a`, 400, "BAD_REQUEST", "Content-Type must be application/json"},
		{"no content type", "POST", "/v1/projects", tokenReadWrite, "-", `{"name":"a"}`, 400, "BAD_REQUEST", "Content-Type"},
		{"latin-1 charset", "POST", "/v1/projects", tokenReadWrite, "application/json; charset=latin1", `{"name":"a"}`, 400, "BAD_REQUEST", "Content-Type"},
		{"too large", "POST", "/v1/projects", tokenReadWrite, "", `{"name":"` + strings.Repeat("a", 70<<10) + `"}`, 400, "BAD_REQUEST", "at most 64 KiB"},
		{"missing name", "POST", "/v1/projects", tokenReadWrite, "", `{}`, 422, "UNPROCESSABLE", "name is required"},
		{"blank name", "POST", "/v1/projects", tokenReadWrite, "", `{"name":"   "}`, 422, "UNPROCESSABLE", "name is required"},
		{"long name", "POST", "/v1/projects", tokenReadWrite, "", `{"name":"` + long + `"}`, 422, "UNPROCESSABLE", "at most 200 characters"},
		{"control character", "POST", "/v1/projects", tokenReadWrite, "", `{"name":"a\u0000b"}`, 422, "UNPROCESSABLE", "control characters"},
		{"long description", "POST", "/v1/projects", tokenReadWrite, "", `{"name":"a","description":"` + strings.Repeat("d", 2001) + `"}`, 422, "UNPROCESSABLE", "description must be at most 2000"},
		{"id unsafe to echo", "GET", "/v1/projects/%3Cscript%3E", tokenReadOnly, "", "", 404, "NOT_FOUND", "Project was not found."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequestWithContext(t.Context(), tt.method, tt.path, strings.NewReader(tt.body))
			switch tt.contentType {
			case "":
				req.Header.Set("Content-Type", "application/json")
			case "-":
			default:
				req.Header.Set("Content-Type", tt.contentType)
			}
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			code, msg := apiError(t, rec)
			if rec.Code != tt.status || code != tt.code || !strings.Contains(msg, tt.message) {
				t.Errorf("%s %s = %d %s %q, want %d %s containing %q", tt.method, tt.path, rec.Code, code, msg, tt.status, tt.code, tt.message)
			}
		})
	}
	// A name of exactly 200 characters is fine.
	if rec := call(t, h, "POST", "/v1/projects", tokenReadWrite, `{"name":"`+strings.Repeat("é", 200)+`"}`); rec.Code != http.StatusCreated {
		t.Errorf("200-character name: %d %s", rec.Code, rec.Body)
	}
}

func TestSiblingResources(t *testing.T) {
	t.Parallel()
	h, _ := newTestHandler(t, nil)
	if rec := call(t, h, "GET", "/v1/tasks", tokenTasks, ""); rec.Code != 200 || len(decodeBody[list[task]](t, rec).Data) == 0 {
		t.Errorf("GET /v1/tasks = %d %s", rec.Code, rec.Body)
	}
	if rec := call(t, h, "GET", "/v1/clients", tokenReadOnly, ""); rec.Code != 200 || len(decodeBody[list[client]](t, rec).Data) == 0 {
		t.Errorf("GET /v1/clients = %d %s", rec.Code, rec.Body)
	}
	if rec := call(t, h, "GET", "/v1/clients", tokenTasks, ""); rec.Code != 403 {
		t.Errorf("GET /v1/clients without clients:read = %d", rec.Code)
	}
	if rec := call(t, h, "GET", "/healthz", "", ""); rec.Code != 200 {
		t.Errorf("GET /healthz = %d", rec.Code)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	h, as := newTestHandler(t, nil)
	for i := range 100 {
		if rec := call(t, h, "GET", "/v1/projects", tokenReadOnly, ""); rec.Code != 200 {
			t.Fatalf("request %d: %d", i+1, rec.Code)
		}
	}
	rec := call(t, h, "GET", "/v1/projects", tokenReadOnly, "")
	if code, _ := apiError(t, rec); rec.Code != 429 || code != "RATE_LIMITED" || rec.Header().Get("Retry-After") != "1" {
		t.Errorf("101st request on the starter plan: %d %s, Retry-After %q", rec.Code, code, rec.Header().Get("Retry-After"))
	}
	// The same workspace through another credential shares the bucket.
	if rec := call(t, h, "GET", "/v1/projects", tokenReadWrite, ""); rec.Code != 429 {
		t.Errorf("another token of the same workspace: %d, want 429", rec.Code)
	}
	if n := as.calls.Load(); n != 2 {
		t.Errorf("%d introspection calls for 102 requests with 2 tokens, want 2 (cached)", n)
	}
}

// TestRun starts the real server on a free port, talks to it over HTTP and
// shuts it down, once with in-process limits, once with shared limits in
// Redis, and once with Redis unreachable (failing open).
func TestRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
	}{
		{"in-process limits", nil},
		{"Redis", map[string]string{"NEXTORIA_API_REDIS_URL": ratelimittest.URL()}},
		{"Redis unreachable, failing open", map[string]string{"NEXTORIA_API_REDIS_URL": "redis://127.0.0.1:1/0"}},
		{"Redis unreachable, failing closed", map[string]string{"NEXTORIA_API_REDIS_URL": "redis://127.0.0.1:1/0", "NEXTORIA_API_REDIS_FAIL_OPEN": "false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			as := newFakeIntrospection(t)
			env := map[string]string{
				"NEXTORIA_API_LISTEN":            "127.0.0.1:0",
				"NEXTORIA_API_INTROSPECTION_URL": as.URL + "/v1/oauth/introspect",
				"NEXTORIA_API_CLIENT_ID":         testClientID,
				"NEXTORIA_API_CLIENT_SECRET":     testClientSecret,
			}
			for k, v := range tt.env {
				env[k] = v
			}
			if env["NEXTORIA_API_REDIS_URL"] == ratelimittest.URL() {
				env["NEXTORIA_API_REDIS_PREFIX"] = ratelimittest.NewPrefix(t)
			}
			base, logs, stop := startRun(t, env)

			req, _ := http.NewRequestWithContext(t.Context(), "GET", base+"/v1/projects", nil)
			req.Header.Set("Authorization", "Bearer "+tokenReadOnly)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := 200
			if env["NEXTORIA_API_REDIS_FAIL_OPEN"] == "false" {
				want = 429
			}
			if resp.StatusCode != want || resp.Header.Get("RateLimit-Limit") != "100" {
				t.Errorf("GET /v1/projects = %d %s %v, want %d", resp.StatusCode, body, resp.Header, want)
			}

			if err := stop(); err != nil {
				t.Errorf("run after cancel: %v", err)
			}
			out := logs.String()
			for _, secret := range []string{tokenReadOnly, testClientSecret} {
				if strings.Contains(out, secret) {
					t.Errorf("a secret is in the log:\n%s", out)
				}
			}
			if !strings.Contains(out, `"path":"/v1/projects"`) || !strings.Contains(out, "shutting down") {
				t.Errorf("log lacks the request or the shutdown:\n%s", out)
			}
			if strings.Contains(tt.name, "unreachable") && !strings.Contains(out, "limiter unavailable") {
				t.Errorf("Redis outage not logged:\n%s", out)
			}
		})
	}
}

// startRun runs the server with env until the returned stop is called,
// which returns run's error. logs collects its JSON log.
func startRun(t *testing.T, env map[string]string) (base string, logs *syncBuffer, stop func() error) {
	t.Helper()
	if _, ok := env["NEXTORIA_API_SHUTDOWN_DRAIN"]; !ok {
		env = maps.Clone(env)
		env["NEXTORIA_API_SHUTDOWN_DRAIN"] = "0s" // no load balancer to wait for
	}
	logs = &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	ctx, cancel := context.WithCancel(t.Context())
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, func(k string) string { return env[k] }, logger, func(a net.Addr) { addr <- a })
	}()
	select {
	case a := <-addr:
		base = "http://" + a.String()
	case err := <-done:
		cancel()
		t.Fatalf("run: %v", err)
	}
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return base, logs, stop
}

// TestRunCacheTTL: NEXTORIA_API_CACHE_TTL reaches the middleware, and 0s
// means every request is introspected.
func TestRunCacheTTL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ttl       string
		wantCalls int64
		wantLog   string
	}{
		{"", 1, `"introspection_cache_ttl":"10s"`},
		{"1m", 1, `"introspection_cache_ttl":"1m0s"`},
		{"0s", 5, `"introspection_cache_ttl":"0s"`},
	}
	for _, tt := range tests {
		t.Run("NEXTORIA_API_CACHE_TTL="+tt.ttl, func(t *testing.T) {
			t.Parallel()
			as := newFakeIntrospection(t)
			base, logs, stop := startRun(t, map[string]string{
				"NEXTORIA_API_LISTEN":            "127.0.0.1:0",
				"NEXTORIA_API_INTROSPECTION_URL": as.URL + "/v1/oauth/introspect",
				"NEXTORIA_API_CLIENT_ID":         testClientID,
				"NEXTORIA_API_CLIENT_SECRET":     testClientSecret,
				"NEXTORIA_API_CACHE_TTL":         tt.ttl,
			})
			for range 5 {
				req, _ := http.NewRequestWithContext(t.Context(), "GET", base+"/v1/projects", nil)
				req.Header.Set("Authorization", "Bearer "+tokenReadOnly)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("GET /v1/projects = %d", resp.StatusCode)
				}
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if n := as.calls.Load(); n != tt.wantCalls {
				t.Errorf("%d introspection calls for 5 requests, want %d", n, tt.wantCalls)
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("start-up log lacks %s:\n%s", tt.wantLog, logs)
			}
		})
	}
}

func TestLoadConfigCacheTTL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value   string
		want    time.Duration
		wantErr bool
	}{
		{"", 0, false}, // resource.DefaultCacheTTL
		{"0s", -1, false},
		{"0", -1, false},
		{"250ms", 250 * time.Millisecond, false},
		{"30s", 30 * time.Second, false},
		{"-1s", 0, true},
		{"10", 0, true},
		{"forever", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{
				"NEXTORIA_API_INTROSPECTION_URL": "https://api.nextoriahub.com/v1/oauth/introspect",
				"NEXTORIA_API_CLIENT_ID":         "id",
				"NEXTORIA_API_CLIENT_SECRET":     "secret",
				"NEXTORIA_API_CACHE_TTL":         tt.value,
			}
			cfg, err := loadConfig(func(k string) string { return env[k] })
			switch {
			case tt.wantErr:
				if err == nil || !strings.Contains(err.Error(), "NEXTORIA_API_CACHE_TTL") {
					t.Errorf("err = %v, want one naming NEXTORIA_API_CACHE_TTL", err)
				}
			case err != nil:
				t.Fatal(err)
			case tt.want < 0 && cfg.CacheTTL >= 0, tt.want >= 0 && cfg.CacheTTL != tt.want:
				t.Errorf("CacheTTL = %v, want %v", cfg.CacheTTL, tt.want)
			}
		})
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"NEXTORIA_API_LISTEN":            "8081",
		"NEXTORIA_API_INTROSPECTION_URL": "http://auth.example.com/v1/oauth/introspect",
		"NEXTORIA_API_REDIS_URL":         "mysql://x",
		"NEXTORIA_API_REDIS_FAIL_OPEN":   "sometimes",
		"NEXTORIA_API_CACHE_TTL":         "forever",
		"NEXTORIA_API_SHUTDOWN_DRAIN":    "-1s",
		"NEXTORIA_API_SHUTDOWN_TIMEOUT":  "0s",
	}
	err := run(t.Context(), func(k string) string { return env[k] }, slog.New(slog.DiscardHandler), nil)
	for _, want := range []string{"invalid configuration", "NEXTORIA_API_LISTEN", "must be an https URL", "NEXTORIA_API_CLIENT_ID is required",
		"NEXTORIA_API_CLIENT_SECRET is required", "NEXTORIA_API_REDIS_URL", "NEXTORIA_API_REDIS_FAIL_OPEN", "NEXTORIA_API_CACHE_TTL",
		"NEXTORIA_API_SHUTDOWN_DRAIN", "NEXTORIA_API_SHUTDOWN_TIMEOUT"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("run with a bad configuration: err = %v, want it to mention %q", err, want)
		}
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"NEXTORIA_API_INTROSPECTION_URL": "https://api.nextoriahub.com/v1/oauth/introspect",
		"NEXTORIA_API_CLIENT_ID":         "id",
		"NEXTORIA_API_CLIENT_SECRET":     "secret",
	}
	cfg, err := loadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:8081" || !cfg.RedisFailOpen || cfg.RedisURL != "" ||
		cfg.RedisPrefix != ratelimit.DefaultRedisPrefix || cfg.CacheTTL != 0 ||
		cfg.ShutdownDrain != 5*time.Second || cfg.ShutdownTimeout != 25*time.Second || cfg.MetricsListen != "" {
		t.Errorf("defaults = %+v", cfg)
	}
	env["NEXTORIA_API_INTROSPECTION_URL"] = "http://[::1]:8080/v1/oauth/introspect"
	if _, err := loadConfig(func(k string) string { return env[k] }); err != nil {
		t.Errorf("plain HTTP on loopback refused: %v", err)
	}
}

// TestRunDrain: on shutdown /healthz answers 503 at once while the API
// keeps serving for NEXTORIA_API_SHUTDOWN_DRAIN; then it refuses
// connections and run returns nil.
func TestRunDrain(t *testing.T) {
	t.Parallel()
	as := newFakeIntrospection(t)
	const drain = 800 * time.Millisecond
	base, _, stop := startRun(t, map[string]string{
		"NEXTORIA_API_LISTEN":            "127.0.0.1:0",
		"NEXTORIA_API_INTROSPECTION_URL": as.URL + "/v1/oauth/introspect",
		"NEXTORIA_API_CLIENT_ID":         testClientID,
		"NEXTORIA_API_CLIENT_SECRET":     testClientSecret,
		"NEXTORIA_API_SHUTDOWN_DRAIN":    drain.String(),
	})
	get := func(path string) (int, error) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if path != "/healthz" {
			req.Header.Set("Authorization", "Bearer "+tokenReadOnly)
		}
		resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := get("/healthz"); err != nil || code != 200 {
		t.Fatalf("GET /healthz before shutdown = %d, %v", code, err)
	}
	stopped := make(chan error, 1)
	start := time.Now()
	go func() { stopped <- stop() }()
	deadline := time.Now().Add(drain / 2)
	for {
		code, err := get("/healthz")
		if err == nil && code == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /healthz during the drain = %d, %v; want 503 at once", code, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, err := get("/v1/projects"); err != nil || code != 200 {
		t.Errorf("GET /v1/projects during the drain = %d, %v; want 200", code, err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("run after the drain: %v", err)
	}
	if took := time.Since(start); took < drain {
		t.Errorf("run returned after %s, before the %s drain ended", took, drain)
	}
	if _, err := get("/healthz"); err == nil {
		t.Error("a connection after shutdown was accepted")
	}
}

func TestLoadConfigShutdown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		drain, timeout         string
		wantDrain, wantTimeout time.Duration
		wantErr                string
	}{
		{"", "", 5 * time.Second, 25 * time.Second, ""},
		{"0s", "1m", 0, time.Minute, ""},
		{"15s", "5s", 15 * time.Second, 5 * time.Second, ""},
		{"-1s", "", 0, 0, "NEXTORIA_API_SHUTDOWN_DRAIN"},
		{"5", "", 0, 0, "NEXTORIA_API_SHUTDOWN_DRAIN"},
		{"", "0s", 0, 0, "NEXTORIA_API_SHUTDOWN_TIMEOUT"},
		{"", "soon", 0, 0, "NEXTORIA_API_SHUTDOWN_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.drain+"/"+tt.timeout, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{
				"NEXTORIA_API_INTROSPECTION_URL": "https://api.nextoriahub.com/v1/oauth/introspect",
				"NEXTORIA_API_CLIENT_ID":         "id",
				"NEXTORIA_API_CLIENT_SECRET":     "secret",
				"NEXTORIA_API_SHUTDOWN_DRAIN":    tt.drain,
				"NEXTORIA_API_SHUTDOWN_TIMEOUT":  tt.timeout,
			}
			cfg, err := loadConfig(func(k string) string { return env[k] })
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %v, want one naming %s", err, tt.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case cfg.ShutdownDrain != tt.wantDrain || cfg.ShutdownTimeout != tt.wantTimeout:
				t.Errorf("drain, timeout = %v, %v; want %v, %v", cfg.ShutdownDrain, cfg.ShutdownTimeout, tt.wantDrain, tt.wantTimeout)
			}
		})
	}
}

// syncBuffer collects log output written concurrently.
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
