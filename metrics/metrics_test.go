package metrics_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/nextoria/authz/metrics"
	"github.com/nextoria/authz/metrics/metricstest"
)

func TestHandlerLabel(t *testing.T) {
	t.Parallel()
	tests := []struct{ pattern, want string }{
		{"POST /v1/oauth/token", "/v1/oauth/token"},
		{"GET /apps/{client_id}/logo", "/apps/{client_id}/logo"},
		{"GET /{$}", "/{$}"},
		{"/", "/"},
		{"GET  /spaced", "/spaced"},
		{"", metrics.Other},
		{"GET ", metrics.Other},
	}
	for _, tt := range tests {
		if got := metrics.HandlerLabel(tt.pattern); got != tt.want {
			t.Errorf("HandlerLabel(%q) = %q, want %q", tt.pattern, got, tt.want)
		}
	}
}

func TestMethodLabel(t *testing.T) {
	t.Parallel()
	tests := []struct{ method, want string }{
		{"GET", "GET"}, {"HEAD", "HEAD"}, {"POST", "POST"}, {"PUT", "PUT"}, {"PATCH", "PATCH"},
		{"DELETE", "DELETE"}, {"OPTIONS", "OPTIONS"}, {"CONNECT", "CONNECT"}, {"TRACE", "TRACE"},
		{"get", metrics.Other}, {"BREW", metrics.Other}, {"PROPFIND", metrics.Other}, {"", metrics.Other},
		{strings.Repeat("X", 1000), metrics.Other},
	}
	for _, tt := range tests {
		if got := metrics.MethodLabel(tt.method); got != tt.want {
			t.Errorf("MethodLabel(%q) = %q, want %q", tt.method, got, tt.want)
		}
	}
}

// copyingMiddleware stands for the handlers between Middleware and the mux:
// it copies the request and wraps the writer, as web's and reqid's do.
func copyingMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&wrapped{w}, r.WithContext(context.WithValue(r.Context(), struct{}{}, 1)))
	})
}

type wrapped struct{ http.ResponseWriter }

func (w *wrapped) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// TestMiddleware: requests are counted and timed by route pattern (never
// the raw path), normalised method and status code, through handlers that
// copy the request; unmatched requests count as "other".
func TestMiddleware(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /apps/{id}/logo", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("POST /v1/oauth/token", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		w.WriteHeader(http.StatusOK) // superfluous: the first code counts
	})
	mux.HandleFunc("GET /body", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	h := m.Middleware(copyingMiddleware(m.Routed(mux)))

	send := func(method, path string) {
		req := httptest.NewRequest(method, path, nil)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	send("GET", "/apps/secret-client-id/logo")
	send("GET", "/apps/another-id/logo")
	send("POST", "/v1/oauth/token")
	send("GET", "/body")
	send("GET", "/no/such/path")
	send("BREW", "/v1/oauth/token")

	// Answers given before routing have no pattern.
	early := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusForbidden) }))
	early.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/login", nil))

	want := `
# HELP nextoria_http_requests_total HTTP requests answered, by route pattern, method and status code.
# TYPE nextoria_http_requests_total counter
nextoria_http_requests_total{code="200",handler="/body",method="GET"} 1
nextoria_http_requests_total{code="204",handler="/apps/{id}/logo",method="GET"} 2
nextoria_http_requests_total{code="400",handler="/v1/oauth/token",method="POST"} 1
nextoria_http_requests_total{code="403",handler="other",method="POST"} 1
nextoria_http_requests_total{code="404",handler="other",method="GET"} 1
nextoria_http_requests_total{code="405",handler="other",method="other"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "nextoria_http_requests_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.Registry(), "nextoria_http_request_duration_seconds"); n != 6 {
		t.Errorf("%d duration series, want 6 (handler × method)", n)
	}
}

// TestNilMetrics: a nil *Metrics records nothing and does not panic, so
// handlers need no check whether metrics are on.
func TestNilMetrics(t *testing.T) {
	t.Parallel()
	var m *metrics.Metrics
	m.TokenIssued("authorization_code")
	m.TokenError("invalid_grant")
	m.Introspection(metrics.TokenTypeAccess, true)
	m.RefreshReuseDetected()
	m.SignIn(metrics.SignInSuccess)
	m.RateLimited(metrics.EndpointToken)
	m.DBRoundTrip()
	m.RegisterPool(func() metrics.PoolStats { return metrics.PoolStats{} })
	next := http.NotFoundHandler()
	if got := m.Middleware(next); got == nil {
		t.Error("Middleware returned nil")
	}
	rec := httptest.NewRecorder()
	m.Middleware(m.Routed(next)).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("status %d", rec.Code)
	}
	var r *metrics.Resource
	r.CacheHit()
	r.CacheMiss()
	r.RateLimited("starter")
	r.Introspected(time.Millisecond, nil)
}

// TestBoundedLabels: values outside a label's set are counted as "other"
// or not at all, never as themselves.
func TestBoundedLabels(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	m.TokenError("invalid_grant")
	m.TokenError("ada@example.com")
	m.TokenIssued("urn:ietf:params:oauth:grant-type:device_code")
	m.TokenIssued("refresh_token")
	m.Introspection("nxh_secret", false)
	m.SignIn("maybe")
	m.RateLimited("/v1/secret")

	tests := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"nextoria_token_request_errors_total", []string{"error", "invalid_grant"}, 1},
		{"nextoria_token_request_errors_total", []string{"error", "other"}, 1},
		{"nextoria_tokens_issued_total", []string{"grant_type", "refresh_token"}, 1},
		{"nextoria_tokens_issued_total", []string{"grant_type", "authorization_code"}, 0},
		{"nextoria_introspections_total", []string{"token_type", "unknown", "active", "false"}, 1},
	}
	gathered, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	fams := metricstest.FromSlice(gathered)
	for _, tt := range tests {
		if got := fams.Value(tt.name, tt.labels...); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	fams.CheckLabelsLack(t, "@", "nxh_", "secret", "device_code", "maybe")
}

// TestPoolCollector: the pool's statistics are read at scrape time.
func TestPoolCollector(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	stats := metrics.PoolStats{AcquiredConns: 3, IdleConns: 2, TotalConns: 5, MaxConns: 8, AcquireCount: 42,
		EmptyAcquireCount: 7, CanceledAcquireCount: 1, AcquireDuration: 1500 * time.Millisecond}
	m.RegisterPool(func() metrics.PoolStats { return stats })
	want := `
# HELP nextoria_db_pool_acquired_conns Connections currently in use.
# TYPE nextoria_db_pool_acquired_conns gauge
nextoria_db_pool_acquired_conns 3
# HELP nextoria_db_pool_max_conns The most connections the pool may hold.
# TYPE nextoria_db_pool_max_conns gauge
nextoria_db_pool_max_conns 8
# HELP nextoria_db_pool_acquires_total Connections acquired from the pool.
# TYPE nextoria_db_pool_acquires_total counter
nextoria_db_pool_acquires_total 42
# HELP nextoria_db_pool_empty_acquires_total Acquires that had to wait for a connection because none was idle.
# TYPE nextoria_db_pool_empty_acquires_total counter
nextoria_db_pool_empty_acquires_total 7
# HELP nextoria_db_pool_acquire_duration_seconds_total Total time spent acquiring connections.
# TYPE nextoria_db_pool_acquire_duration_seconds_total counter
nextoria_db_pool_acquire_duration_seconds_total 1.5
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"nextoria_db_pool_acquired_conns", "nextoria_db_pool_max_conns", "nextoria_db_pool_acquires_total",
		"nextoria_db_pool_empty_acquires_total", "nextoria_db_pool_acquire_duration_seconds_total"); err != nil {
		t.Error(err)
	}
	stats.AcquireCount = 50
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(
		"# HELP nextoria_db_pool_acquires_total Connections acquired from the pool.\n# TYPE nextoria_db_pool_acquires_total counter\nnextoria_db_pool_acquires_total 50\n"),
		"nextoria_db_pool_acquires_total"); err != nil {
		t.Errorf("second scrape: %v", err)
	}
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "nextoria_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}

// TestServe: the metrics listener serves GET /metrics and nothing else;
// with Pprof on, Go's profiles as well.
func TestServe(t *testing.T) {
	t.Parallel()
	type probe struct {
		method, path string
		want         int
	}
	for _, tc := range []struct {
		name   string
		opts   metrics.ServeOptions
		probes []probe
	}{
		{"metrics only", metrics.ServeOptions{}, []probe{
			{"GET", "/metrics", http.StatusOK},
			{"POST", "/metrics", http.StatusMethodNotAllowed},
			{"GET", "/", http.StatusNotFound},
			{"GET", "/debug/pprof/", http.StatusNotFound},
		}},
		{"with pprof", metrics.ServeOptions{Pprof: true}, []probe{
			{"GET", "/metrics", http.StatusOK},
			{"GET", "/debug/pprof/", http.StatusOK},
			{"GET", "/debug/pprof/heap", http.StatusOK},
			{"GET", "/debug/pprof/goroutine?debug=1", http.StatusOK},
			{"GET", "/debug/pprof/profile?seconds=1", http.StatusOK},
			{"GET", "/", http.StatusNotFound},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := metrics.New()
			m.SignIn(metrics.SignInSuccess)
			addr, err := metrics.ServeWith(t.Context(), "127.0.0.1:0", m.Handler(), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			base := "http://" + addr.String()
			for _, p := range tc.probes {
				req, _ := http.NewRequestWithContext(t.Context(), p.method, base+p.path, nil)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != p.want {
					t.Errorf("%s %s = %d, want %d", p.method, p.path, resp.StatusCode, p.want)
				}
			}
		})
	}
}

// TestDBRoundTrips: each call counts one round trip, and the series exists
// at zero before the first.
func TestDBRoundTrips(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	const help = "# HELP nextoria_db_round_trips_total Network round trips to PostgreSQL: each statement sent alone, each batch once; statement preparation is not counted.\n" +
		"# TYPE nextoria_db_round_trips_total counter\n"
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(help+"nextoria_db_round_trips_total 0\n"), "nextoria_db_round_trips_total"); err != nil {
		t.Error(err)
	}
	for range 3 {
		m.DBRoundTrip()
	}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(help+"nextoria_db_round_trips_total 3\n"), "nextoria_db_round_trips_total"); err != nil {
		t.Error(err)
	}
}
