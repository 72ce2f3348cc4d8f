package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/nextoria/authz/reqid"
)

// reqidCase is one request of the request-id tests and what its answer is.
type reqidCase struct {
	name     string
	method   string
	path     string
	body     url.Values
	header   map[string]string
	status   int
	htmlPage bool // an error page, which must show the id under "Details for developers"
}

// sendWithID sends c to base with the incoming X-Request-Id in (if any)
// and returns the answer's status, X-Request-Id and body.
func sendWithID(t *testing.T, base string, c reqidCase, in string) (int, string, string) {
	t.Helper()
	var body io.Reader
	if c.body != nil {
		body = strings.NewReader(c.body.Encode())
	}
	req, err := http.NewRequestWithContext(t.Context(), c.method, base+c.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	if in != "" {
		req.Header.Set(reqid.Header, in)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get(reqid.Header), string(b)
}

// checkIDs sends every case with an incoming id and checks the answer's
// status and X-Request-Id: the incoming one when keep, a fresh valid one
// otherwise, and shown on error pages.
func checkIDs(t *testing.T, base string, cases []reqidCase, in string, keep bool) {
	t.Helper()
	seen := map[string]bool{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, id, body := sendWithID(t, base, c, in)
			if status != c.status {
				t.Fatalf("status %d, want %d: %.300s", status, c.status, body)
			}
			switch {
			case id == "":
				t.Fatal("no X-Request-Id")
			case keep && id != in:
				t.Errorf("X-Request-Id = %q, want the trusted proxy's %q", id, in)
			case !keep && id == in:
				t.Errorf("X-Request-Id = %q: the client chose it", id)
			case !reqid.Valid(id):
				t.Errorf("X-Request-Id %q is not a valid id", id)
			}
			if !keep {
				if seen[id] {
					t.Errorf("X-Request-Id %q given twice", id)
				}
				seen[id] = true
			}
			if c.htmlPage && !strings.Contains(body, `data-testid="request-id">`+id+`<`) {
				t.Errorf("the error page does not show the request id %q", id)
			}
		})
	}
}

// TestE2ERequestIDs: every answer carries X-Request-Id (pages, JSON
// errors, protocol errors, 404s, refused cross-origin forms, health
// checks), the error pages show it under "Details for developers", and an
// incoming id is kept only behind a trusted proxy and only when it is sane.
func TestE2ERequestIDs(t *testing.T) {
	t.Parallel()
	cases := []reqidCase{
		{name: "health", method: "GET", path: "/health/live", status: http.StatusOK},
		{name: "sign-in page", method: "GET", path: "/login", status: http.StatusOK},
		{name: "404 page", method: "GET", path: "/no-such-page", status: http.StatusNotFound, htmlPage: true},
		{name: "404 API", method: "GET", path: "/v1/no-such-endpoint", status: http.StatusNotFound},
		{name: "unknown method", method: "BREW", path: "/v1/oauth/token", status: http.StatusNotFound},
		{name: "token protocol error", method: "POST", path: "/v1/oauth/token", body: url.Values{"grant_type": {"password"}}, status: http.StatusBadRequest},
		{name: "introspection without credentials", method: "POST", path: "/v1/oauth/introspect", body: url.Values{"token": {"x"}}, status: http.StatusUnauthorized},
		{name: "authorize error page", method: "GET", path: "/oauth/authorize?client_id=no-such-client&response_type=code", status: http.StatusBadRequest, htmlPage: true},
		{name: "cross-origin form", method: "POST", path: "/login", body: url.Values{"email": {"a@example.com"}},
			header: map[string]string{"Sec-Fetch-Site": "cross-site"}, status: http.StatusForbidden, htmlPage: true},
		{name: "expired form", method: "POST", path: "/login", body: url.Values{"email": {"a@example.com"}, "password": {"x"}}, status: http.StatusForbidden, htmlPage: true},
	}

	t.Run("untrusted", func(t *testing.T) {
		t.Parallel()
		s := startE2E(t)
		checkIDs(t, s.URL, cases, "client-chosen-id", false)
	})

	t.Run("trusted proxy", func(t *testing.T) {
		t.Parallel()
		s := startE2E(t, func(c *Config) { c.Proxy.Trusted = true })
		behindProxy := make([]reqidCase, 0, len(cases)+1)
		for _, c := range cases {
			c.header = map[string]string{"X-Forwarded-Proto": "https"}
			if c.name == "cross-origin form" {
				c.header["Sec-Fetch-Site"] = "cross-site"
			}
			behindProxy = append(behindProxy, c)
		}
		// Refused before routing: plain HTTP behind the proxy.
		noTLS := reqidCase{name: "plain HTTP refused", method: "GET", path: "/login", status: http.StatusForbidden}
		checkIDs(t, s.URL, append(behindProxy, noTLS), "edge-4f2a.1_B", true)
		// An id that could forge log lines or page content is replaced.
		for _, bad := range []string{"has space", "<script>", strings.Repeat("a", 65)} {
			checkIDs(t, s.URL, behindProxy[:1], bad, false)
		}
	})

	t.Run("database down", func(t *testing.T) {
		t.Parallel()
		s, proxy := startE2EBehindPGProxy(t)
		proxy.Cut()
		authorize := "/oauth/authorize?" + url.Values{"client_id": {s.ClientID}, "response_type": {"code"},
			"redirect_uri": {s.RedirectURI}, "scope": {"projects:read"}, "state": {"state-12345678"},
			"code_challenge": {"E9Melhoe2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}.Encode()
		checkIDs(t, s.URL, []reqidCase{
			{name: "readiness", method: "GET", path: "/health/ready", status: http.StatusServiceUnavailable},
			{name: "token endpoint", method: "POST", path: "/v1/oauth/token", status: http.StatusServiceUnavailable,
				body: url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "client_id": {s.ClientID}, "client_secret": {s.ClientSecret}}},
			{name: "authorize page", method: "GET", path: authorize, status: http.StatusServiceUnavailable, htmlPage: true},
		}, "client-chosen-id", false)
	})
}
