package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/storagetest"
)

// TestCluster runs scripts/cluster.sh (three serve processes on one
// database behind HAProxy, round robin, no stickiness) and drives steady
// load through HAProxy: whole code flows with password sign-in and consent,
// refresh chains, introspections. Meanwhile it SIGKILLs instance 1 and
// restarts it, then SIGTERMs instance 2 and restarts it. It fails when a
// refresh chain broke, when a token a client holds and never saw rotated
// introspects inactive, or when a 5xx or connection error reached a client
// outside the SIGKILL phase (requests in flight on the killed process).
//
// It runs when NEXTORIA_CLUSTER_DURATION is set (CI: 20s), as it builds
// the binary and takes that long plus restarts. NEXTORIA_CLUSTER_REPORT
// names a file to append the per-phase table to.
func TestCluster(t *testing.T) {
	durEnv := os.Getenv("NEXTORIA_CLUSTER_DURATION")
	if durEnv == "" {
		t.Skip("set NEXTORIA_CLUSTER_DURATION (e.g. 20s) to run the cluster test")
	}
	total, err := time.ParseDuration(durEnv)
	if err != nil || total < 8*time.Second {
		t.Fatalf("NEXTORIA_CLUSTER_DURATION=%q: want a duration of at least 8s", durEnv)
	}
	for _, bin := range []string{"haproxy", "curl"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is not installed (scripts/test.sh installs it)", bin)
		}
	}
	c := startCluster(t)
	s := c.fixtures(t)
	rsID, rsSecret := s.resourceServer(t)
	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	lt := &loadTest{s: s, conf: conf, rsID: rsID, rsSecret: rsSecret,
		client: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
			// Idle connections close on the client's side before HAProxy's
			// keep-alive timeout closes them on its side.
			IdleConnTimeout: 10 * time.Second, MaxIdleConnsPerHost: 16,
		}}, instances: map[string]int{}}

	// Each refresh worker gets its own grant before the load starts.
	const refreshers, flowers, introspectors = 3, 2, 2
	chains := make([]*chain, refreshers)
	for i := range chains {
		tok, err := lt.flow(context.Background())
		if err != nil {
			t.Fatalf("initial flow: %v", err)
		}
		chains[i] = &chain{refresh: tok.RefreshToken, access: tok.AccessToken}
	}
	if len(lt.crossInstance) == 0 || lt.consents == 0 {
		t.Fatalf("%d of the first flows were served by more than one instance, %d showed consent; want both", len(lt.crossInstance), lt.consents)
	}

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, ch := range chains {
		wg.Go(func() { lt.refreshLoop(ctx, ch) })
	}
	for range flowers {
		wg.Go(func() { lt.flowLoop(ctx) })
	}
	for range introspectors {
		wg.Go(func() { lt.introspectLoop(ctx) })
	}

	step := total / 8
	lt.enter("steady")
	time.Sleep(2 * step)
	lt.enter("SIGKILL i1")
	c.script(t, "signal", "1", "KILL")
	time.Sleep(step)
	lt.enter("restart i1")
	c.script(t, "restart", "1")
	time.Sleep(step)
	lt.enter("SIGTERM i2")
	c.script(t, "signal", "2", "TERM")
	c.script(t, "restart", "2") // waits for the drain and exit first
	lt.enter("after restarts")
	time.Sleep(3 * step)
	stop()
	wg.Wait()

	// Every chain's final refresh must work, and its access token be active.
	for i, ch := range chains {
		tok, err := lt.refreshOnce(context.Background(), ch.refresh)
		if err != nil {
			t.Errorf("chain %d is broken: final refresh: %v", i, err)
			continue
		}
		if active, err := lt.introspect(context.Background(), tok.AccessToken); err != nil || !active {
			t.Errorf("chain %d: final access token active=%v (%v)", i, active, err)
		}
	}
	// Every token from a whole flow was never rotated: all still active.
	lt.mu.Lock()
	held := append([]string(nil), lt.flowTokens...)
	lt.mu.Unlock()
	lost := 0
	for _, at := range held {
		if active, err := lt.introspect(context.Background(), at); err != nil || !active {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d access tokens from completed flows introspect inactive", lost, len(held))
	}

	report := lt.report(total)
	t.Log("\n" + report)
	if f := os.Getenv("NEXTORIA_CLUSTER_REPORT"); f != "" {
		if err := os.WriteFile(f, []byte(report), 0o644); err != nil {
			t.Error(err)
		}
	}
	for _, p := range lt.phases {
		if p.name == "SIGKILL i1" {
			continue
		}
		if n := p.count("5xx") + p.count("conn"); n > 0 {
			t.Errorf("phase %q: %d server errors or connection errors reached clients: %v %q", p.name, n, p.errors, p.samples)
		}
	}
	for _, p := range lt.phases {
		if n := p.count("lost"); n > 0 {
			t.Errorf("phase %q: %d held tokens introspected inactive", p.name, n)
		}
		if n := p.count("broken"); n > 0 {
			t.Errorf("phase %q: %d refresh chains broke", p.name, n)
		}
	}
	if len(lt.instances) < 3 {
		t.Errorf("responses came from %v, want all three instances", lt.instances)
	}
}

// cluster is a running scripts/cluster.sh.
type cluster struct {
	dir, lbURL, dbURL, system string
	env                       []string
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	dir, err := os.MkdirTemp("", "nextoria-cluster-")
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{dir: dir, dbURL: storagetest.NewDatabase(t), system: secret.Token()}
	c.env = append(os.Environ(),
		"NEXTORIA_DATABASE_URL="+c.dbURL, "NEXTORIA_SECRETS_SYSTEM="+c.system,
		// Every flow signs in from 127.0.0.1 as one user.
		"NEXTORIA_LIMITS_SIGNIN_PER_IP=1000000", "NEXTORIA_LIMITS_SIGNIN_PER_ACCOUNT_IP=1000000",
		"NEXTORIA_LIMITS_SIGNIN_PER_ACCOUNT=1000000",
		// One app and one resource server carry all the load: the per-client
		// limits (6,000 token requests a minute per instance) would refuse
		// the refresh workers with 429, which this test counts as a broken
		// chain; the limits have tests of their own.
		"NEXTORIA_LIMITS_TOKEN_PER_MINUTE=0", "NEXTORIA_LIMITS_INTROSPECTION_PER_MINUTE=0")
	t.Cleanup(func() {
		c.script(t, "stop")
		if t.Failed() {
			for _, f := range []string{"instance-1.log", "instance-2.log", "instance-3.log", "haproxy.log"} {
				if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil && len(b) > 0 {
					t.Logf("%s:\n%s", f, lastLines(string(b), 20))
				}
			}
		}
		_ = os.RemoveAll(dir)
	})
	c.script(t, "start")
	f, err := os.Open(filepath.Join(dir, "cluster.env"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "LB_URL="); ok {
			c.lbURL = v
		}
	}
	if c.lbURL == "" {
		t.Fatal("cluster.env has no LB_URL")
	}
	return c
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// script runs scripts/cluster.sh with args and the cluster's state dir.
func (c *cluster) script(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{"../../scripts/cluster.sh"}, append(args, c.dir)...)...)
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cluster.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// fixtures creates the workspace, user and app of the load, directly in
// the cluster's database.
func (c *cluster) fixtures(t *testing.T) *e2eServer {
	t.Helper()
	pool, err := storage.Connect(t.Context(), c.dbURL, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	keys, err := secret.DeriveKeys(c.system)
	if err != nil {
		t.Fatal(err)
	}
	s := &e2eServer{URL: c.lbURL, store: storage.New(pool, storage.Options{Audience: []string{c.lbURL}}), keys: keys, Email: "lin@example.com"}
	ws, err := s.store.CreateWorkspace(t.Context(), "Cluster", storage.PlanScale)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := secret.HashPassword(e2ePassword)
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.store.CreateUser(t.Context(), storage.NewUser{Email: s.Email, PasswordHash: hash, WorkspaceID: ws.ID})
	if err != nil {
		t.Fatal(err)
	}
	s.WorkspaceID, s.UserID, s.RedirectURI = ws.ID, u.ID, "http://127.0.0.1:9/callback"
	s.ClientID, s.ClientSecret = s.registerApp(t, "Cluster App", false, []string{s.RedirectURI}, []string{"projects:read", "tasks:read"})
	return s
}

// chain is one refresh worker's grant: its current tokens.
type chain struct{ refresh, access string }

// phase counts the outcomes of the requests started during it.
type phase struct {
	name     string
	start    time.Time
	requests int
	errors   map[string]int // by kind: 5xx, conn, 4xx, lost, broken
	samples  []string       // the first connection errors, for the failure message
}

func (p *phase) count(kind string) int { return p.errors[kind] }

// loadTest is the state shared by the workers.
type loadTest struct {
	s                *e2eServer
	conf             *oauth2.Config
	rsID, rsSecret   string
	client           *http.Client
	current          atomic.Pointer[phase]
	mu               sync.Mutex
	phases           []*phase
	flowTokens       []string       // access tokens of completed flows, never refreshed
	instances        map[string]int // responses per instance
	crossInstance    []string       // flows whose steps different instances served
	flows, refreshes int
	consents         int
}

func (lt *loadTest) enter(name string) {
	p := &phase{name: name, start: time.Now(), errors: map[string]int{}}
	lt.mu.Lock()
	lt.phases = append(lt.phases, p)
	lt.mu.Unlock()
	lt.current.Store(p)
}

// record counts one request of phase p with its outcome kind ("" for ok).
func (lt *loadTest) record(p *phase, kind string) {
	if p == nil {
		return
	}
	lt.mu.Lock()
	defer lt.mu.Unlock()
	p.requests++
	if kind != "" {
		p.errors[kind]++
	}
}

func (lt *loadTest) fail(p *phase, kind string) {
	if p == nil {
		return
	}
	lt.mu.Lock()
	defer lt.mu.Unlock()
	p.errors[kind]++
}

// errKind classifies a failed request: a connection error, a 5xx or
// another status.
type statusError struct{ status int }

func (e statusError) Error() string { return fmt.Sprintf("status %d", e.status) }

func kindOf(err error) string {
	var se statusError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &se) && se.status >= 500:
		return "5xx"
	case errors.As(err, &se):
		return "4xx"
	default:
		return "conn"
	}
}

// do sends req, counts it in the current phase and the answering instance,
// and returns the response with its body read.
func (lt *loadTest) do(req *http.Request, client *http.Client) (*http.Response, []byte, error) {
	p := lt.current.Load()
	resp, err := client.Do(req)
	if err == nil {
		defer resp.Body.Close()
		var body []byte
		if body, err = io.ReadAll(resp.Body); err == nil {
			return lt.answered(p, resp, body)
		}
	}
	if req.Context().Err() == nil {
		// Not the end of the load cancelling it: the client saw it fail.
		lt.record(p, "conn")
		lt.mu.Lock()
		if p != nil && len(p.samples) < 5 {
			p.samples = append(p.samples, fmt.Sprintf("%s %s: %v", req.Method, req.URL.Path, err))
		}
		lt.mu.Unlock()
	}
	return nil, nil, err
}

// answered counts a response of phase p and its instance.
func (lt *loadTest) answered(p *phase, resp *http.Response, body []byte) (*http.Response, []byte, error) {
	kind := ""
	if resp.StatusCode >= 500 {
		kind = "5xx"
		lt.mu.Lock()
		if p != nil && len(p.samples) < 5 {
			p.samples = append(p.samples, fmt.Sprintf("%s %s: %d from %q: %.200s", resp.Request.Method, resp.Request.URL.Path,
				resp.StatusCode, resp.Header.Get("X-Nextoria-Instance"), body))
		}
		lt.mu.Unlock()
	}
	lt.record(p, kind)
	if inst := resp.Header.Get("X-Nextoria-Instance"); inst != "" {
		lt.mu.Lock()
		lt.instances[inst]++
		lt.mu.Unlock()
	}
	return resp, body, nil
}

// flow runs a whole authorization code flow with PKCE through the load
// balancer with a fresh browser: authorize, sign in, consent, token.
func (lt *loadTest) flow(ctx context.Context) (*oauth2.Token, error) {
	jar, _ := cookiejar.New(nil)
	base := lt.s.URL
	seen := map[string]bool{}
	browser := &http.Client{Jar: jar, Timeout: 20 * time.Second, Transport: lt.client.Transport, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), base+"/") {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	get := func(u string) (*http.Response, string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, body, err := lt.do(req, browser)
		if err != nil {
			return nil, "", err
		}
		seen[resp.Header.Get("X-Nextoria-Instance")] = true
		return resp, string(body), nil
	}
	post := func(u string, form url.Values) (*http.Response, string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if strings.HasSuffix(u, "/login") {
			replayable(req)
		}
		resp, body, err := lt.do(req, browser)
		if err != nil {
			return nil, "", err
		}
		seen[resp.Header.Get("X-Nextoria-Instance")] = true
		return resp, string(body), nil
	}
	verifier := oauth2.GenerateVerifier()
	state := secret.HexToken(8)
	// prompt=consent: the consent screen every time, not only the first.
	resp, body, err := get(lt.conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "consent")))
	if err != nil {
		return nil, err
	}
	if !strings.Contains(resp.Request.URL.Path, "/login") {
		return nil, fmt.Errorf("authorize: expected the sign-in page, got %d at %s", resp.StatusCode, resp.Request.URL)
	}
	f := hidden(body)
	f.Set("email", lt.s.Email)
	f.Set("password", e2ePassword)
	resp, body, err = post(base+"/login", f)
	if err != nil {
		return nil, err
	}
	if m := metaRefresh.FindStringSubmatch(body); m != nil && resp.StatusCode == http.StatusOK {
		next, _ := resp.Request.URL.Parse(htmlUnescape(m[1]))
		if resp, body, err = get(next.String()); err != nil {
			return nil, err
		}
	}
	if resp.StatusCode == http.StatusOK {
		f = hidden(body)
		if f.Get("challenge") == "" {
			return nil, fmt.Errorf("no consent page after sign-in: %.200s", body)
		}
		f.Set("decision", "allow")
		if resp, _, err = post(base+"/oauth/authorize", f); err != nil {
			return nil, err
		}
		lt.mu.Lock()
		lt.consents++
		lt.mu.Unlock()
	}
	if resp.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("sign-in or consent: %w", statusError{resp.StatusCode})
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" || loc.Query().Get("state") != state {
		return nil, fmt.Errorf("consent redirect %q", resp.Header.Get("Location"))
	}
	p := lt.current.Load()
	tok, err := lt.conf.Exchange(context.WithValue(ctx, oauth2.HTTPClient, lt.client), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			lt.record(p, kindOf(statusError{re.Response.StatusCode}))
			return nil, fmt.Errorf("exchange: %w", statusError{re.Response.StatusCode})
		}
		if ctx.Err() == nil {
			lt.record(p, "conn")
		}
		return nil, err
	}
	lt.record(p, "")
	delete(seen, "")
	if len(seen) > 1 {
		lt.mu.Lock()
		lt.crossInstance = append(lt.crossInstance, fmt.Sprint(seen))
		lt.mu.Unlock()
	}
	return tok, nil
}

func (lt *loadTest) flowLoop(ctx context.Context) {
	for ctx.Err() == nil {
		tok, err := lt.flow(ctx)
		if err != nil {
			continue // counted by do
		}
		lt.mu.Lock()
		lt.flowTokens = append(lt.flowTokens, tok.AccessToken)
		lt.flows++
		lt.mu.Unlock()
	}
}

// refreshOnce spends rt once; 5xx and connection errors come back as errors.
func (lt *loadTest) refreshOnce(ctx context.Context, rt string) (*oauth2.Token, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
		"client_id": {lt.conf.ClientID}, "client_secret": {lt.conf.ClientSecret}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, lt.conf.Endpoint.TokenURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body, err := lt.do(req, lt.client)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("refresh: %w: %s", statusError{resp.StatusCode}, body)
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil {
		return nil, err
	}
	return &oauth2.Token{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken}, nil
}

// refreshLoop keeps one chain going: on a 5xx or a connection error it
// retries with the same refresh token, as a client that lost the answer
// does (the grace period allows it); a 4xx means the chain broke.
func (lt *loadTest) refreshLoop(ctx context.Context, ch *chain) {
	for ctx.Err() == nil {
		tok, err := lt.refreshOnce(ctx, ch.refresh)
		switch k := kindOf(err); {
		case err == nil:
			ch.refresh, ch.access = tok.RefreshToken, tok.AccessToken
			lt.mu.Lock()
			lt.refreshes++
			lt.mu.Unlock()
		case ctx.Err() != nil:
			return
		case k == "4xx":
			lt.fail(lt.current.Load(), "broken")
			return
		default:
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// replayable marks a POST that is safe to send twice (a sign-in, an
// introspection) with an Idempotency-Key, so that Go's transport resends it
// once when a kept-alive connection turns out to be closed before any
// answer, as browsers do with any request: otherwise a POST that races a
// connection closing at the other end fails with EOF although no server
// ever read it. Code exchanges and consent are single-use and are not
// marked; refreshes retry on their own (the grace period allows it).
func replayable(req *http.Request) {
	req.Header.Set("Idempotency-Key", secret.HexToken(8))
}

// introspect reports whether token is active.
func (lt *loadTest) introspect(ctx context.Context, token string) (bool, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, lt.s.URL+"/v1/oauth/introspect",
		strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(lt.rsID), url.QueryEscape(lt.rsSecret))
	replayable(req)
	resp, body, err := lt.do(req, lt.client)
	if err != nil {
		return false, err
	}
	if resp.StatusCode != http.StatusOK {
		return false, statusError{resp.StatusCode}
	}
	var m struct {
		Active bool `json:"active"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return false, err
	}
	return m.Active, nil
}

// introspectLoop introspects the access tokens of completed flows, which
// nothing rotates: each must be active.
func (lt *loadTest) introspectLoop(ctx context.Context) {
	i := 0
	for ctx.Err() == nil {
		lt.mu.Lock()
		var tok string
		if n := len(lt.flowTokens); n > 0 {
			tok = lt.flowTokens[i%n]
		}
		lt.mu.Unlock()
		i++
		if tok == "" {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		p := lt.current.Load()
		active, err := lt.introspect(ctx, tok)
		if err == nil && !active {
			lt.fail(p, "lost")
		}
	}
}

// report is the per-phase table, in the Markdown of docs/benchmarks.md.
func (lt *loadTest) report(total time.Duration) string {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "Cluster run: %s, 3 instances behind HAProxy; %d whole flows (%d through the consent screen, %d served by more than one instance), %d refreshes; responses per instance: %v.\n\n",
		total, lt.flows, lt.consents, len(lt.crossInstance), lt.refreshes, sortedCounts(lt.instances))
	b.WriteString("| phase | duration | requests | 5xx | connection errors | 4xx | held tokens inactive | broken chains |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for i, p := range lt.phases {
		end := time.Now()
		if i+1 < len(lt.phases) {
			end = lt.phases[i+1].start
		}
		fmt.Fprintf(&b, "| %s | %.1fs | %d | %d | %d | %d | %d | %d |\n", p.name, end.Sub(p.start).Seconds(), p.requests,
			p.count("5xx"), p.count("conn"), p.count("4xx"), p.count("lost"), p.count("broken"))
	}
	return b.String()
}

func sortedCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
