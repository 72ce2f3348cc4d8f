package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/nextoria/authz/metrics"
)

// BenchmarkMiddleware is the cost the metrics add to every request: the
// route table and a handler that does nothing, with metrics off and on.
func BenchmarkMiddleware(b *testing.B) {
	for _, on := range []bool{false, true} {
		var m *metrics.Metrics
		name := "metrics=off"
		if on {
			m, name = metrics.New(), "metrics=on"
		}
		mux := http.NewServeMux()
		mux.HandleFunc("POST /v1/oauth/introspect", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
		h := m.Middleware(m.Routed(mux))
		req := httptest.NewRequest(http.MethodPost, "/v1/oauth/introspect", nil)
		w := httptest.NewRecorder()
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
		})
	}
}

// BenchmarkCounters is the cost of one recording call on a pre-resolved
// child.
func BenchmarkCounters(b *testing.B) {
	m := metrics.New()
	b.ReportAllocs()
	for b.Loop() {
		m.Introspection(metrics.TokenTypeAccess, true)
		m.TokenError("invalid_grant")
	}
}
