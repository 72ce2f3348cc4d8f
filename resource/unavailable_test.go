package resource_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nextoria/authz/resource"
)

// TestAuthorizationServerUnavailable: when the authorization server cannot
// be reached, is too slow, or answers 5xx (as it does during its database
// outage), the token is neither valid nor invalid. The middleware answers
// 503 SERVICE_UNAVAILABLE with Retry-After, never 401, so API clients keep
// their credentials and retry.
func TestAuthorizationServerUnavailable(t *testing.T) {
	t.Parallel()
	// A port where nothing listens any more.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + ln.Addr().String() + "/v1/oauth/introspect"
	_ = ln.Close()

	answering := func(status int, retryAfter string) func(*resource.Config) {
		return func(c *resource.Config) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if retryAfter != "" {
					w.Header().Set("Retry-After", retryAfter)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				_, _ = w.Write([]byte(`{"error":"temporarily_unavailable","error_description":"retry later"}`))
			}))
			t.Cleanup(srv.Close)
			c.IntrospectionURL = srv.URL + "/v1/oauth/introspect"
		}
	}
	tests := []struct {
		name       string
		change     func(*resource.Config)
		as         func(*fakeAS)
		retryAfter string
	}{
		{name: "503 with Retry-After is passed on", change: answering(http.StatusServiceUnavailable, "7"), retryAfter: "7"},
		{name: "503 without Retry-After", change: answering(http.StatusServiceUnavailable, ""), retryAfter: "5"},
		{name: "huge Retry-After is capped", change: answering(http.StatusServiceUnavailable, "86400"), retryAfter: "300"},
		{name: "500", change: answering(http.StatusInternalServerError, ""), retryAfter: "5"},
		{name: "504 from a proxy", as: func(f *fakeAS) { f.fail(http.StatusGatewayTimeout) }, retryAfter: "5"},
		{name: "unreachable", change: func(c *resource.Config) { c.IntrospectionURL = closedURL }, retryAfter: "5"},
		{name: "too slow", as: func(f *fakeAS) { f.slow(2 * time.Second) },
			change: func(c *resource.Config) { c.IntrospectionTimeout = 200 * time.Millisecond }, retryAfter: "5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSetup(t, tt.change)
			s.as.set(tokenKey, apiKey("projects:read", "growth"))
			if tt.as != nil {
				tt.as(s.as)
			}
			rec := s.do(t, []string{"projects:read"}, "Bearer "+tokenKey)
			code, message, status := envelope(t, rec)
			if rec.Code != http.StatusServiceUnavailable || status != 503 || code != resource.CodeServiceUnavailable {
				t.Fatalf("answer %d %s (status %d in body) %q, want 503 SERVICE_UNAVAILABLE", rec.Code, code, status, message)
			}
			if got := rec.Header().Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.retryAfter)
			}
			if !strings.Contains(message, "Retry after "+tt.retryAfter+" seconds") {
				t.Errorf("message %q does not say when to retry", message)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != "" {
				t.Errorf("WWW-Authenticate = %q on a 503: the credentials were not rejected", got)
			}
			if !strings.Contains(s.logs.String(), "cannot introspect") {
				t.Errorf("outage not logged:\n%s", s.logs)
			}
		})
	}
}
