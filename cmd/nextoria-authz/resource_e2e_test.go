package main

// End-to-end tests of a resource server: the nextoria-example-api binary, run
// as its own process exactly as it is deployed (configured by NEXTORIA_API_*
// variables, rate limits in the real Redis), in front of a real
// authorization server with its own database. They replay the public
// documentation's curl examples and check its rate limits and error
// envelope byte for byte.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/nextoria/authz/apikey"
	"github.com/nextoria/authz/ratelimit/ratelimittest"
	"github.com/nextoria/authz/storage"
)

var (
	exampleAPIOnce sync.Once
	exampleAPIPath string
	exampleAPIErr  error
)

// exampleAPIBinary builds cmd/nextoria-example-api once per test run.
func exampleAPIBinary(t *testing.T) string {
	t.Helper()
	exampleAPIOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nextoria-example-api-bin")
		if err != nil {
			exampleAPIErr = err
			return
		}
		exampleAPIPath = filepath.Join(dir, "nextoria-example-api")
		out, err := exec.Command("go", "build", "-o", exampleAPIPath, "../nextoria-example-api").CombinedOutput()
		if err != nil {
			exampleAPIErr = fmt.Errorf("go build ../nextoria-example-api: %v\n%s", err, out)
		}
	})
	if exampleAPIErr != nil {
		t.Fatal(exampleAPIErr)
	}
	return exampleAPIPath
}

// lockedBuffer collects a process's output while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// logLine is what the tests read of one line of the example API's JSON log.
type logLine struct {
	Level string `json:"level"`
	Msg   string `json:"msg"`
	Addr  string `json:"addr"`
}

// lines decodes the JSON log lines written so far.
func (l *lockedBuffer) lines() []logLine {
	var out []logLine
	sc := bufio.NewScanner(strings.NewReader(l.String()))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var ll logLine
		if json.Unmarshal(sc.Bytes(), &ll) == nil {
			out = append(out, ll)
		}
	}
	return out
}

// exampleAPI is a running nextoria-example-api process.
type exampleAPI struct {
	URL  string // http://127.0.0.1:PORT
	logs *lockedBuffer
}

// startExampleAPI runs nextoria-example-api against s's introspection
// endpoint with the resource-server credentials rsID and rsSecret and the
// extra NAME=VALUE settings in env. The process sees no other variable, so
// nothing leaks in from the developer's shell. It listens on a port of its
// choosing, read from its start-up log line; when t ends it gets SIGTERM and
// must exit 0 (graceful shutdown).
func (s *e2eServer) startExampleAPI(t *testing.T, rsID, rsSecret string, env ...string) *exampleAPI {
	t.Helper()
	cmd := exec.Command(exampleAPIBinary(t))
	cmd.Env = append([]string{
		"NEXTORIA_API_LISTEN=127.0.0.1:0",
		"NEXTORIA_API_INTROSPECTION_URL=" + s.URL + "/v1/oauth/introspect",
		"NEXTORIA_API_CLIENT_ID=" + rsID,
		"NEXTORIA_API_CLIENT_SECRET=" + rsSecret,
		"NEXTORIA_API_SHUTDOWN_DRAIN=0s",
	}, env...)
	api := &exampleAPI{logs: &lockedBuffer{}}
	cmd.Stdout, cmd.Stderr = io.Discard, api.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("nextoria-example-api did not shut down cleanly: %v\n%s", err, api.logs)
			}
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("nextoria-example-api did not stop on SIGTERM")
		}
		if os.Getenv("NEXTORIA_TEST_LOG") != "" {
			t.Logf("nextoria-example-api log:\n%s", api.logs)
		}
	})
	deadline := time.After(30 * time.Second)
	for api.URL == "" {
		select {
		case err := <-exited:
			t.Fatalf("nextoria-example-api exited at start: %v\n%s", err, api.logs)
		case <-deadline:
			t.Fatalf("nextoria-example-api did not start listening:\n%s", api.logs)
		case <-time.After(20 * time.Millisecond):
		}
		for _, l := range api.logs.lines() {
			if l.Msg == "nextoria-example-api listening" && l.Addr != "" {
				api.URL = "http://" + l.Addr
			}
		}
	}
	return api
}

// count returns how many log lines have level and a message starting with
// prefix.
func (a *exampleAPI) count(level, prefix string) int {
	n := 0
	for _, l := range a.logs.lines() {
		if l.Level == level && strings.HasPrefix(l.Msg, prefix) {
			n++
		}
	}
	return n
}

// checkLogLacks fails if the example API's log holds any of secrets.
func (a *exampleAPI) checkLogLacks(t *testing.T, secrets ...string) {
	t.Helper()
	out := a.logs.String()
	for _, s := range secrets {
		if s != "" && strings.Contains(out, s) {
			t.Errorf("a credential is in the example API's log")
		}
	}
}

// apiResponse is an answer of the example API with its body read.
type apiResponse struct {
	Status int
	Header http.Header
	Body   string
}

// apiRequest is one request, sent the way the documentation's curl examples
// send it: "Authorization: Bearer <token>" when Token is set, and the
// Content-Type header when ContentType is set.
type apiRequest struct {
	Method, URL, Token, ContentType, Body string
}

func (r apiRequest) send(ctx context.Context, client *http.Client) (apiResponse, error) {
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, strings.NewReader(r.Body))
	if err != nil {
		return apiResponse{}, err
	}
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	if r.ContentType != "" {
		req.Header.Set("Content-Type", r.ContentType)
	}
	resp, err := client.Do(req)
	if err != nil {
		return apiResponse{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return apiResponse{}, err
	}
	return apiResponse{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}, nil
}

// do sends r and fails the test when no answer comes.
func (r apiRequest) do(t *testing.T, client *http.Client) apiResponse {
	t.Helper()
	resp, err := r.send(t.Context(), client)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.URL, err)
	}
	return resp
}

// newAPIClient returns an HTTP client for loopback load.
func newAPIClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 15 * time.Second}
}

// checkRateLimitHeaders checks the RateLimit-* headers of a response that
// reached the limiter of a plan with the given burst.
func checkRateLimitHeaders(t *testing.T, what string, r apiResponse, burst int) {
	t.Helper()
	num := func(name string) int {
		v := r.Header.Get(name)
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			t.Errorf("%s: %s = %q, want a non-negative integer", what, name, v)
		}
		return n
	}
	if v := r.Header.Get("RateLimit-Limit"); v != strconv.Itoa(burst) {
		t.Errorf("%s: RateLimit-Limit = %q, want %d", what, v, burst)
	}
	if rem := num("RateLimit-Remaining"); rem >= burst {
		t.Errorf("%s: RateLimit-Remaining = %d after a request, want < %d", what, rem, burst)
	}
	if reset := num("RateLimit-Reset"); reset < 1 || reset > 2*60*burst {
		t.Errorf("%s: RateLimit-Reset = %d, want whole seconds until the bucket is full", what, reset)
	}
}

// checkNoRateLimitHeaders checks a response that never reached the limiter.
func checkNoRateLimitHeaders(t *testing.T, what string, r apiResponse) {
	t.Helper()
	for _, h := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After"} {
		if v := r.Header.Get(h); v != "" {
			t.Errorf("%s: %s = %q on a response that did not reach the limiter", what, h, v)
		}
	}
}

// starterKey creates a workspace on the Starter plan (60 requests per
// minute, bursts of 100) and an API key of it that may read projects.
func (s *e2eServer) starterKey(t *testing.T) (workspaceID, key string) {
	t.Helper()
	ws, err := s.store.CreateWorkspace(t.Context(), "Starter Co", storage.PlanStarter)
	if err != nil {
		t.Fatal(err)
	}
	_, key, err = s.app.apiKeys.Create(t.Context(), ws.ID, "", "Load test", []string{"projects:read"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ws.ID, key
}

// hit is one request of hammer and its answer.
type hit struct {
	instance int // index of the base URL it went to
	resp     apiResponse
}

// hammer sends GET /v1/projects with key from one worker per base URL,
// each pausing pace between requests, until maxRequests have been sent or,
// when until is not zero, each worker has sent one request at or after
// until. It returns every answer, and how long it took from the first
// request sent to the last answer.
func hammer(t *testing.T, client *http.Client, bases []string, key string, pace time.Duration, until time.Time, maxRequests int) ([]hit, time.Duration) {
	t.Helper()
	var (
		mu      sync.Mutex
		hits    []hit
		sent    atomic.Int64
		failure atomic.Pointer[error]
		wg      sync.WaitGroup
	)
	start := time.Now()
	for i, base := range bases {
		wg.Go(func() {
			for sent.Add(1) <= int64(maxRequests) {
				at := time.Now()
				resp, err := apiRequest{Method: "GET", URL: base + "/v1/projects", Token: key, ContentType: "application/json"}.send(t.Context(), client)
				if err != nil {
					failure.CompareAndSwap(nil, &err)
					return
				}
				mu.Lock()
				hits = append(hits, hit{instance: i, resp: resp})
				mu.Unlock()
				if !until.IsZero() && !at.Before(until) {
					return
				}
				time.Sleep(pace)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := failure.Load(); err != nil {
		t.Fatalf("hammer: %v", *err)
	}
	return hits, elapsed
}

// tally counts 200s and 429s per instance and fails on any other status.
func tally(t *testing.T, hits []hit, instances int) (accepted, refused []int) {
	t.Helper()
	accepted, refused = make([]int, instances), make([]int, instances)
	for _, h := range hits {
		switch h.resp.Status {
		case http.StatusOK:
			accepted[h.instance]++
		case http.StatusTooManyRequests:
			refused[h.instance]++
		default:
			t.Fatalf("GET /v1/projects = %d %s", h.resp.Status, h.resp.Body)
		}
	}
	return accepted, refused
}

func sum(ns []int) int {
	total := 0
	for _, n := range ns {
		total += n
	}
	return total
}

// starterRefusal is the exact body of a 429 on the Starter plan with
// Retry-After: 1.
const starterRefusal = `{"error":{"code":"RATE_LIMITED","message":"Rate limit exceeded: this workspace's plan allows 60 requests per minute, in bursts of up to 100. Retry after 1 second.","status":429}}` + "\n"

// checkStarterRefusal checks a 429 of a drained Starter bucket: at 60
// requests per minute one request's allowance refills in 1 s, so
// Retry-After is 1 (whole seconds, rounded up).
func checkStarterRefusal(t *testing.T, r apiResponse) {
	t.Helper()
	if r.Body != starterRefusal || r.Header.Get("Retry-After") != "1" || r.Header.Get("RateLimit-Remaining") != "0" {
		t.Fatalf("429 = Retry-After %q, RateLimit-Remaining %q, body %s; want Retry-After 1, 0 remaining, body %s",
			r.Header.Get("Retry-After"), r.Header.Get("RateLimit-Remaining"), r.Body, starterRefusal)
	}
	// Refilling all 100 requests takes 100 s less what refilled meanwhile.
	if reset, _ := strconv.Atoi(r.Header.Get("RateLimit-Reset")); reset < 90 || reset > 100 {
		t.Fatalf("429: RateLimit-Reset = %q, want about 100 s", r.Header.Get("RateLimit-Reset"))
	}
}

// TestE2EResourceDocsExamples replays the documentation's curl examples and
// error table against the example API and a real authorization server.
func TestE2EResourceDocsExamples(t *testing.T) {
	t.Parallel()
	s := startE2E(t) // a workspace on the Growth plan: bursts of 500
	ctx := t.Context()
	const ttl = time.Second
	rsID, rsSecret := s.resourceServer(t)
	api := s.startExampleAPI(t, rsID, rsSecret,
		"NEXTORIA_API_REDIS_URL="+ratelimittest.URL(),
		"NEXTORIA_API_REDIS_PREFIX="+ratelimittest.NewPrefix(t),
		"NEXTORIA_API_CACHE_TTL="+ttl.String())
	client := newAPIClient(t)

	_, key, err := s.app.apiKeys.Create(ctx, s.WorkspaceID, s.UserID, "Zapier Integration", []string{"projects:read", "projects:write"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, readKey, err := s.app.apiKeys.Create(ctx, s.WorkspaceID, s.UserID, "Reporting", []string{"projects:read"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	unknownKey, err := apikey.New()
	if err != nil {
		t.Fatal(err)
	}
	// The documented flow: client id and secret in the token request's body.
	tok := s.tokens(t, s.oauthConfig(oauth2.AuthStyleInParams, "projects:read", "projects:write"))
	readTok := s.tokens(t, s.oauthConfig(oauth2.AuthStyleInParams, "projects:read", "tasks:read"))
	defer api.checkLogLacks(t, key, readKey, tok.AccessToken, readTok.AccessToken, rsSecret)

	checkOK := func(t *testing.T, what string, r apiResponse, status int) {
		t.Helper()
		if r.Status != status {
			t.Fatalf("%s = %d %s, want %d", what, r.Status, r.Body, status)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", what, ct)
		}
		checkRateLimitHeaders(t, what, r, 500)
	}

	t.Run("API key, as in the docs", func(t *testing.T) {
		// curl https://api.nextoriahub.com/v1/projects \
		//   -H "Authorization: Bearer YOUR_API_KEY" \
		//   -H "Content-Type: application/json"
		r := apiRequest{Method: "GET", URL: api.URL + "/v1/projects", Token: key, ContentType: "application/json"}.do(t, client)
		checkOK(t, "GET /v1/projects with an API key", r, http.StatusOK)
		if r.Body != `{"data":[]}`+"\n" {
			t.Errorf("body %q, want no projects yet", r.Body)
		}
	})

	var created map[string]any
	t.Run("OAuth access token, as in the docs", func(t *testing.T) {
		// curl https://api.nextoriahub.com/v1/projects \
		//   -H "Authorization: Bearer ACCESS_TOKEN"
		r := apiRequest{Method: "GET", URL: api.URL + "/v1/projects", Token: tok.AccessToken}.do(t, client)
		checkOK(t, "GET /v1/projects with an access token", r, http.StatusOK)
		if r.Body != `{"data":[]}`+"\n" {
			t.Errorf("body %q, want no projects yet", r.Body)
		}

		post := apiRequest{Method: "POST", URL: api.URL + "/v1/projects", Token: tok.AccessToken,
			ContentType: "application/json", Body: `{"name":"Website redesign","description":"Launch in Q3"}`}.do(t, client)
		checkOK(t, "POST /v1/projects", post, http.StatusCreated)
		if err := json.Unmarshal([]byte(post.Body), &created); err != nil {
			t.Fatal(err)
		}
		id, _ := created["id"].(string)
		if !strings.HasPrefix(id, "proj_") || created["name"] != "Website redesign" || created["description"] != "Launch in Q3" {
			t.Fatalf("created project %s", post.Body)
		}
		if loc := post.Header.Get("Location"); loc != "/v1/projects/"+id {
			t.Errorf("Location = %q, want /v1/projects/%s", loc, id)
		}
		// Read back with the token, then with the workspace's API key: both
		// act on the same workspace's data.
		for _, cred := range []string{tok.AccessToken, key} {
			got := apiRequest{Method: "GET", URL: api.URL + "/v1/projects/" + id, Token: cred}.do(t, client)
			checkOK(t, "GET /v1/projects/{id}", got, http.StatusOK)
			if got.Body != post.Body {
				t.Errorf("GET /v1/projects/%s = %s, want what POST returned: %s", id, got.Body, post.Body)
			}
		}
		list := apiRequest{Method: "GET", URL: api.URL + "/v1/projects", Token: key, ContentType: "application/json"}.do(t, client)
		checkOK(t, "GET /v1/projects", list, http.StatusOK)
		if list.Body != `{"data":[`+strings.TrimSuffix(post.Body, "\n")+"]}\n" {
			t.Errorf("GET /v1/projects = %s, want the new project alone", list.Body)
		}
	})

	t.Run("error envelope", func(t *testing.T) {
		const (
			noAuth       = `{"error":{"code":"UNAUTHORIZED","message":"Missing API key or access token: send it as \"Authorization: Bearer <token>\".","status":401}}`
			noWriteScope = `{"error":{"code":"FORBIDDEN","message":"This API key or access token lacks the scope projects:write required here.","status":403}}`
			insufficient = `Bearer realm="nextoria", error="insufficient_scope", scope="projects:write"`
		)
		tests := []struct {
			name                      string
			method, path, token, body string
			status                    int
			wantBody                  string
			wantChallenge             string // exact WWW-Authenticate; "" for none
			limited                   bool   // reached the rate limiter
		}{
			{"no Authorization header", "GET", "/v1/projects", "", "", 401, noAuth, `Bearer realm="nextoria"`, false},
			{"unknown API key", "GET", "/v1/projects", unknownKey, "", 401, invalidEnvelope, `Bearer realm="nextoria", error="invalid_token"`, false},
			{"refresh token as bearer", "GET", "/v1/projects", tok.RefreshToken, "", 401, invalidEnvelope, `Bearer realm="nextoria", error="invalid_token"`, false},
			{"access token lacking projects:write", "POST", "/v1/projects", readTok.AccessToken, `{"name":"x"}`, 403, noWriteScope, insufficient, true},
			{"API key lacking projects:write", "POST", "/v1/projects", readKey, `{"name":"x"}`, 403, noWriteScope, insufficient, true},
			{"unknown resource", "GET", "/v1/invoices", key, "", 404,
				`{"error":{"code":"NOT_FOUND","message":"No resource at GET /v1/invoices.","status":404}}`, "", true},
			{"unknown project, the docs' example", "GET", "/v1/projects/proj_abc123", key, "", 404,
				`{"error":{"code":"NOT_FOUND","message":"Project with ID proj_abc123 was not found.","status":404}}`, "", true},
			{"bad JSON", "POST", "/v1/projects", key, `{"name":`, 400,
				`{"error":{"code":"BAD_REQUEST","message":"The request body is not valid JSON.","status":400}}`, "", true},
			{"validation", "POST", "/v1/projects", tok.AccessToken, `{"name":"   "}`, 422,
				`{"error":{"code":"UNPROCESSABLE","message":"Validation failed: name is required.","status":422}}`, "", true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := apiRequest{Method: tt.method, URL: api.URL + tt.path, Token: tt.token, ContentType: "application/json", Body: tt.body}.do(t, client)
				if r.Status != tt.status || r.Body != tt.wantBody+"\n" {
					t.Errorf("%s %s = %d %s, want %d %s", tt.method, tt.path, r.Status, r.Body, tt.status, tt.wantBody)
				}
				if got := r.Header.Get("WWW-Authenticate"); got != tt.wantChallenge {
					t.Errorf("WWW-Authenticate = %q, want %q", got, tt.wantChallenge)
				}
				for h, want := range map[string]string{
					"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
				} {
					if got := r.Header.Get(h); got != want {
						t.Errorf("%s = %q, want %q", h, got, want)
					}
				}
				if tt.limited {
					checkRateLimitHeaders(t, tt.name, r, 500)
				} else {
					checkNoRateLimitHeaders(t, tt.name, r)
				}
			})
		}
	})

	t.Run("revoked API key within the cache TTL", func(t *testing.T) {
		k, raw, err := s.app.apiKeys.Create(ctx, s.WorkspaceID, s.UserID, "Soon revoked", []string{"projects:read"}, 0)
		if err != nil {
			t.Fatal(err)
		}
		req := apiRequest{Method: "GET", URL: api.URL + "/v1/projects", Token: raw, ContentType: "application/json"}
		if r := req.do(t, client); r.Status != http.StatusOK {
			t.Fatalf("fresh key: %d %s", r.Status, r.Body)
		}
		if err := s.app.apiKeys.Revoke(ctx, s.WorkspaceID, k.ID); err != nil {
			t.Fatal(err)
		}
		revoked := time.Now()
		var r apiResponse
		for {
			r = req.do(t, client)
			if r.Status != http.StatusOK || time.Since(revoked) > 3*ttl {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		took := time.Since(revoked)
		t.Logf("revoked key refused %v after revocation (cache TTL %v)", took.Round(time.Millisecond), ttl)
		if r.Status != http.StatusUnauthorized || r.Body != invalidEnvelope+"\n" {
			t.Fatalf("revoked key: %d %s", r.Status, r.Body)
		}
		// The result was cached before the revocation, for at most ttl.
		if took > ttl+500*time.Millisecond {
			t.Errorf("revoked key still worked %v after revocation, past the cache TTL %v", took, ttl)
		}
		if got := r.Header.Get("WWW-Authenticate"); got != `Bearer realm="nextoria", error="invalid_token"` {
			t.Errorf("WWW-Authenticate = %q", got)
		}
		checkNoRateLimitHeaders(t, "revoked key", r)
		api.checkLogLacks(t, raw)
	})
}

// invalidEnvelope is the 401 of an inactive token or key.
const invalidEnvelope = `{"error":{"code":"UNAUTHORIZED","message":"The API key or access token is invalid, expired or revoked.","status":401}}`

// TestE2EResourceStarterPlanLimit hammers a Starter workspace for 10 s: it
// gets its burst of 100 plus the refill of 60 a minute, 10 in 10 s, and not
// one request more; every refusal says to retry after 1 s, and doing so
// works.
func TestE2EResourceStarterPlanLimit(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	_, key := s.starterKey(t)
	rsID, rsSecret := s.resourceServer(t)
	api := s.startExampleAPI(t, rsID, rsSecret,
		"NEXTORIA_API_REDIS_URL="+ratelimittest.URL(),
		"NEXTORIA_API_REDIS_PREFIX="+ratelimittest.NewPrefix(t),
		"NEXTORIA_API_CACHE_TTL=1m") // one introspection: the test is about the limiter
	client := newAPIClient(t)

	// The first request (introspected, then cached) starts the bucket's
	// clock; the window starts when its answer arrives, so the refills of
	// the full 10 s fall inside it.
	first := apiRequest{Method: "GET", URL: api.URL + "/v1/projects", Token: key, ContentType: "application/json"}.do(t, client)
	if first.Status != http.StatusOK || first.Header.Get("RateLimit-Remaining") != "99" {
		t.Fatalf("first request: %d, RateLimit-Remaining %q", first.Status, first.Header.Get("RateLimit-Remaining"))
	}
	checkRateLimitHeaders(t, "first request", first, 100)
	const window = 10 * time.Second
	// Three workers, one request each per 10 ms: about 3,000 requests.
	hits, _ := hammer(t, client, []string{api.URL, api.URL, api.URL}, key, 10*time.Millisecond, time.Now().Add(window), 5000)
	ok, refused := tally(t, hits, 3)
	accepted := 1 + sum(ok)
	want := 100 + int(60*window/time.Minute) // burst + 60 a minute × 10 s = 110
	t.Logf("Starter plan hammered for %v: %d requests, %d accepted, %d refused (want %d accepted)", window, len(hits)+1, accepted, sum(refused), want)
	if accepted < want-1 || accepted > want+1 {
		t.Errorf("%d requests accepted in %v on the Starter plan, want %d (100 burst + 10 refilled) ± 1", accepted, window, want)
	}
	for _, h := range hits {
		if h.resp.Status == http.StatusTooManyRequests {
			checkStarterRefusal(t, h.resp)
		} else {
			checkRateLimitHeaders(t, "accepted request", h.resp, 100)
			if ra := h.resp.Header.Get("Retry-After"); ra != "" {
				t.Fatalf("accepted request with Retry-After %q", ra)
			}
		}
	}

	// Honouring Retry-After is enough to be let through again.
	req := apiRequest{Method: "GET", URL: api.URL + "/v1/projects", Token: key, ContentType: "application/json"}
	r := req.do(t, client)
	if r.Status == http.StatusTooManyRequests {
		checkStarterRefusal(t, r)
		time.Sleep(time.Second)
		r = req.do(t, client)
	}
	if r.Status != http.StatusOK {
		t.Errorf("after waiting Retry-After: %d %s", r.Status, r.Body)
	}
	api.checkLogLacks(t, key, rsSecret)
}

// TestE2EResourceSharedBucket: two example API processes on one Redis count
// a workspace's requests in one bucket, so together they accept what one
// would.
func TestE2EResourceSharedBucket(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	_, key := s.starterKey(t)
	rsID, rsSecret := s.resourceServer(t)
	env := []string{"NEXTORIA_API_REDIS_URL=" + ratelimittest.URL(), "NEXTORIA_API_REDIS_PREFIX=" + ratelimittest.NewPrefix(t)}
	a := s.startExampleAPI(t, rsID, rsSecret, env...)
	b := s.startExampleAPI(t, rsID, rsSecret, env...)
	client := newAPIClient(t)

	// One request to each first, so that both have the key's introspection
	// cached and neither waits on it while the other drains the bucket.
	start := time.Now()
	for _, api := range []*exampleAPI{a, b} {
		r := apiRequest{Method: "GET", URL: api.URL + "/v1/projects", Token: key, ContentType: "application/json"}.do(t, client)
		if r.Status != http.StatusOK {
			t.Fatalf("first request: %d %s", r.Status, r.Body)
		}
	}
	// Then two workers per instance, as fast as they can: 300 requests.
	hits, _ := hammer(t, client, []string{a.URL, b.URL, a.URL, b.URL}, key, 0, time.Time{}, 300)
	elapsed := time.Since(start)
	ok, refused := tally(t, hits, 4)
	perInstance := [2]int{1 + ok[0] + ok[2], 1 + ok[1] + ok[3]}
	accepted := perInstance[0] + perInstance[1]
	// One bucket: the burst, plus what refilled while the requests ran.
	most := 100 + int((elapsed+time.Second-1)/time.Second)
	t.Logf("two instances, one bucket: %d requests in %v, %d accepted (%d + %d), %d refused",
		len(hits)+2, elapsed.Round(time.Millisecond), accepted, perInstance[0], perInstance[1], sum(refused))
	if accepted < 100 || accepted > most {
		t.Errorf("the two instances accepted %d requests in %v, want one bucket's 100 (at most %d with the refill)", accepted, elapsed, most)
	}
	if min(perInstance[0], perInstance[1]) < 10 {
		t.Errorf("accepted per instance = %v: both should have served part of the burst", perInstance)
	}
	for _, h := range hits {
		if h.resp.Status == http.StatusTooManyRequests {
			checkStarterRefusal(t, h.resp)
		}
	}
}

// TestE2EResourceRedisDown: with Redis unreachable the example API does
// what NEXTORIA_API_REDIS_FAIL_OPEN says, and logs the outage once, not
// once per request.
func TestE2EResourceRedisDown(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	_, key := s.starterKey(t)
	rsID, rsSecret := s.resourceServer(t)
	const unreachable = "NEXTORIA_API_REDIS_URL=redis://127.0.0.1:1/0"

	t.Run("failing open", func(t *testing.T) {
		t.Parallel()
		api := s.startExampleAPI(t, rsID, rsSecret, unreachable) // NEXTORIA_API_REDIS_FAIL_OPEN defaults to true
		client := newAPIClient(t)
		// Each instance still enforces the plan alone, in memory.
		hits, elapsed := hammer(t, client, []string{api.URL}, key, 0, time.Time{}, 120)
		ok, refused := tally(t, hits, 1)
		most := 100 + int((elapsed+time.Second-1)/time.Second)
		if ok[0] < 100 || ok[0] > most {
			t.Errorf("failing open: %d of %d requests accepted in %v, want the in-memory Starter limit: 100 (at most %d)", ok[0], len(hits), elapsed, most)
		}
		if refused[0] == 0 {
			t.Error("failing open: the in-memory fallback refused nothing")
		}
		for _, h := range hits {
			if h.resp.Status == http.StatusTooManyRequests {
				checkStarterRefusal(t, h.resp)
			} else {
				checkRateLimitHeaders(t, "failing open", h.resp, 100)
			}
		}
		if n := api.count("ERROR", "ratelimit: limiter unavailable, failing open"); n != 1 {
			t.Errorf("%d log lines about the outage after %d requests, want 1:\n%s", n, len(hits), api.logs)
		}
		api.checkLogLacks(t, key, rsSecret)
	})

	t.Run("failing closed", func(t *testing.T) {
		t.Parallel()
		api := s.startExampleAPI(t, rsID, rsSecret, unreachable, "NEXTORIA_API_REDIS_FAIL_OPEN=false")
		client := newAPIClient(t)
		for i := range 3 {
			r := apiRequest{Method: "GET", URL: api.URL + "/v1/projects", Token: key, ContentType: "application/json"}.do(t, client)
			want := `{"error":{"code":"RATE_LIMITED","message":"Rate limit exceeded: this workspace's plan allows 60 requests per minute, in bursts of up to 100. Retry after 5 seconds.","status":429}}` + "\n"
			if r.Status != http.StatusTooManyRequests || r.Body != want || r.Header.Get("Retry-After") != "5" ||
				r.Header.Get("RateLimit-Limit") != "100" || r.Header.Get("RateLimit-Remaining") != "0" || r.Header.Get("RateLimit-Reset") != "5" {
				t.Errorf("request %d failing closed: %d %v %s", i+1, r.Status, r.Header, r.Body)
			}
		}
		if n := api.count("ERROR", "ratelimit: limiter unavailable, failing closed"); n != 1 {
			t.Errorf("%d log lines about the outage, want 1:\n%s", n, api.logs)
		}
		api.checkLogLacks(t, key, rsSecret)
	})
}
