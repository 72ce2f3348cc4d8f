package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/nextoria/authz/metrics/metricstest"
	"github.com/nextoria/authz/secret"
)

// TestE2EMetrics drives real traffic through a server with metrics on,
// scrapes its metrics listener before and after, and checks that every
// metric of the documented set is there with its labels and moved by
// exactly what the traffic did; that no label holds a token, secret, client
// id or e-mail of the traffic; and that /metrics is not on the public
// listener, nor the profiles that metrics.pprof adds to the metrics
// listener.
func TestE2EMetrics(t *testing.T) {
	t.Parallel()
	s := startE2E(t, func(c *Config) {
		c.Metrics.Listen = "127.0.0.1:0"
		c.Metrics.Pprof = true
		c.OAuth.RefreshGracePeriod = 0   // a second use of a refresh token is reuse
		c.Limits.RevocationPerMinute = 1 // the second revocation is refused
		c.Limits.RevocationBurst = 1     //
		c.Limits.SignInPerAccountIP = 2  // the third wrong password is throttled
	})
	addr, err := s.app.serveMetrics(t.Context(), s.cfg.Metrics.Listen)
	if err != nil {
		t.Fatal(err)
	}
	metricsURL := "http://" + addr.String() + "/metrics"
	before := metricstest.Scrape(t, metricsURL)

	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	introspect := s.introspector(t)

	// Code flow (a successful sign-in), then refresh, then reuse.
	tok := s.tokens(t, conf)
	if m := introspect(tok.AccessToken, ""); m["active"] != true {
		t.Fatalf("access token: %v", m)
	}
	resp, fresh := refresh(t, conf, tok.RefreshToken)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh: %d %v", resp.StatusCode, fresh)
	}
	if m := introspect(tok.AccessToken, ""); m["active"] != false {
		t.Fatalf("rotated access token: %v", m)
	}
	resp, body := refresh(t, conf, tok.RefreshToken)
	if resp.StatusCode != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("reuse: %d %v", resp.StatusCode, body)
	}
	freshRefresh, _ := fresh["refresh_token"].(string)
	if m := introspect(freshRefresh, "refresh_token"); m["active"] != false {
		t.Fatalf("refresh token after reuse: %v", m)
	}

	// A token error: wrong client secret.
	resp, body = rawToken(t, s, url.Values{"grant_type": {"authorization_code"}, "code": {"nope"},
		"redirect_uri": {s.RedirectURI}, "code_verifier": {oauth2.GenerateVerifier()}}, s.ClientID, "wrong-"+s.ClientSecret)
	if resp.StatusCode != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Fatalf("wrong secret: %d %v", resp.StatusCode, body)
	}

	// API keys: active, then revoked.
	key, rawKey, err := s.app.apiKeys.Create(t.Context(), s.WorkspaceID, s.UserID, "Metrics", []string{"projects:read"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if m := introspect(rawKey, ""); m["active"] != true {
		t.Fatalf("API key: %v", m)
	}
	if err := s.app.apiKeys.Revoke(t.Context(), s.WorkspaceID, key.ID); err != nil {
		t.Fatal(err)
	}
	if m := introspect(rawKey, ""); m["active"] != false {
		t.Fatalf("revoked API key: %v", m)
	}

	// Two wrong passwords for an account, then a throttled attempt.
	const otherEmail = "mallory.metrics@example.com"
	const wrongPassword = "wrong password of mallory"
	b := s.newBrowser(t)
	form := hidden(b.get(s.URL + "/login").Body)
	for i, want := range []int{http.StatusUnauthorized, http.StatusUnauthorized, http.StatusTooManyRequests} {
		if a := b.postSignIn(form, otherEmail, wrongPassword); a.err != nil || a.status != want {
			t.Fatalf("sign-in attempt %d: %d %v, want %d", i+1, a.status, a.err, want)
		}
	}

	// A rate-limited revocation.
	for i, want := range []int{http.StatusOK, http.StatusTooManyRequests} {
		resp, _ := postForm(t, s.URL+"/v1/oauth/revoke", url.Values{"token": {"not-a-token"}}, s.ClientID, s.ClientSecret)
		if resp.StatusCode != want {
			t.Fatalf("revocation %d: %d, want %d", i+1, resp.StatusCode, want)
		}
	}

	// Unmatched paths, an unknown method, and /metrics on the public listener.
	probe := "no-such-page-" + secret.HexToken(8)
	for _, tt := range []struct{ method, path string }{
		{http.MethodGet, "/" + probe},
		{http.MethodGet, "/metrics"},
		{http.MethodGet, "/debug/pprof/"},
		{http.MethodGet, "/debug/pprof/heap"},
		{"BREW", "/" + probe},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), tt.method, s.URL+tt.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s %s on the public listener = %d, want 404", tt.method, tt.path, resp.StatusCode)
		}
	}

	// The profiles are on the metrics listener.
	resp, err = http.Get("http://" + addr.String() + "/debug/pprof/heap")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/debug/pprof/heap on the metrics listener = %d, want 200", resp.StatusCode)
	}

	after := metricstest.Scrape(t, metricsURL)
	delta := func(name string, pairs ...string) float64 {
		return after.Value(name, pairs...) - before.Value(name, pairs...)
	}
	tests := []struct {
		name  string
		pairs []string
		want  float64
	}{
		{"nextoria_tokens_issued_total", []string{"grant_type", "authorization_code"}, 1},
		{"nextoria_tokens_issued_total", []string{"grant_type", "refresh_token"}, 1},
		{"nextoria_token_request_errors_total", []string{"error", "invalid_grant"}, 1},
		{"nextoria_token_request_errors_total", []string{"error", "invalid_client"}, 1},
		{"nextoria_token_request_errors_total", []string{"error", "invalid_request"}, 0},
		{"nextoria_introspections_total", []string{"token_type", "access_token", "active", "true"}, 1},
		{"nextoria_introspections_total", []string{"token_type", "access_token", "active", "false"}, 1},
		{"nextoria_introspections_total", []string{"token_type", "refresh_token", "active", "false"}, 1},
		{"nextoria_introspections_total", []string{"token_type", "api_key", "active", "true"}, 1},
		{"nextoria_introspections_total", []string{"token_type", "api_key", "active", "false"}, 1},
		{"nextoria_refresh_reuse_detected_total", nil, 1},
		{"nextoria_signin_attempts_total", []string{"result", "success"}, 1},
		{"nextoria_signin_attempts_total", []string{"result", "failure"}, 2},
		{"nextoria_signin_attempts_total", []string{"result", "throttled"}, 1},
		{"nextoria_rate_limited_total", []string{"endpoint", "revocation"}, 1},
		{"nextoria_rate_limited_total", []string{"endpoint", "token"}, 0},
		{"nextoria_rate_limited_total", []string{"endpoint", "introspection"}, 0},
		{"nextoria_http_requests_total", []string{"handler", "/v1/oauth/token", "method", "POST", "code", "200"}, 2},
		{"nextoria_http_requests_total", []string{"handler", "/v1/oauth/token", "method", "POST", "code", "400"}, 1},
		{"nextoria_http_requests_total", []string{"handler", "/v1/oauth/token", "method", "POST", "code", "401"}, 1},
		{"nextoria_http_requests_total", []string{"handler", "/v1/oauth/introspect", "method", "POST", "code", "200"}, 5},
		{"nextoria_http_requests_total", []string{"handler", "/v1/oauth/revoke", "method", "POST", "code", "429"}, 1},
		{"nextoria_http_requests_total", []string{"handler", "/login", "method", "POST", "code", "401"}, 2},
		{"nextoria_http_requests_total", []string{"handler", "/login", "method", "POST", "code", "429"}, 1},
		{"nextoria_http_requests_total", []string{"handler", "/login", "method", "POST", "code", "303"}, 1},
		{"nextoria_http_requests_total", []string{"handler", "/", "method", "GET", "code", "404"}, 4},
		{"nextoria_http_requests_total", []string{"handler", "/", "method", "other", "code", "404"}, 1},
		{"nextoria_http_request_duration_seconds", []string{"handler", "/v1/oauth/token", "method", "POST"}, 4},
		{"nextoria_http_request_duration_seconds", []string{"handler", "/v1/oauth/introspect", "method", "POST"}, 5},
	}
	for _, tt := range tests {
		if got := delta(tt.name, tt.pairs...); got != tt.want {
			t.Errorf("%s%v moved by %v, want %v", tt.name, tt.pairs, got, tt.want)
		}
	}
	if got := after.Value("nextoria_http_requests_total", "handler", "/oauth/authorize", "method", "GET"); got < 1 {
		t.Errorf("authorization requests counted: %v", got)
	}
	// Every request above reached the database at least once.
	if got := delta("nextoria_db_round_trips_total"); got < 10 {
		t.Errorf("nextoria_db_round_trips_total moved by %v, want at least 10", got)
	}
	if delta("nextoria_db_pool_acquires_total") <= 0 {
		t.Error("nextoria_db_pool_acquires_total did not move")
	}
	if got := after.Value("nextoria_db_pool_max_conns"); got <= 0 {
		t.Errorf("nextoria_db_pool_max_conns = %v", got)
	}
	for _, name := range []string{
		"nextoria_db_pool_acquired_conns", "nextoria_db_pool_idle_conns", "nextoria_db_pool_total_conns",
		"nextoria_db_pool_empty_acquires_total", "nextoria_db_pool_canceled_acquires_total",
		"nextoria_db_pool_acquire_duration_seconds_total",
		"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes",
	} {
		if _, ok := after[name]; !ok {
			t.Errorf("metric %s is missing", name)
		}
	}
	// Only normalised methods and known handlers: no label holds the probe path.
	after.CheckLabelsLack(t, tok.AccessToken, tok.RefreshToken, freshRefresh, rawKey, s.ClientSecret, s.ClientID,
		s.Email, otherEmail, e2ePassword, wrongPassword, probe, "BREW", "@")
}

// TestE2EMetricsOffByDefault: without metrics.listen no metrics are kept,
// and /metrics on the public listener is the 404 page.
func TestE2EMetricsOffByDefault(t *testing.T) {
	t.Parallel()
	if l := defaultConfig().Metrics.Listen; l != "" {
		t.Fatalf("metrics.listen defaults to %q", l)
	}
	s := startE2E(t)
	if s.app.metrics != nil {
		t.Error("metrics are kept with metrics.listen empty")
	}
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("/metrics on the public listener: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
