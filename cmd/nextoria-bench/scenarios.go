package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// scenario is one measured workload.
type scenario struct {
	name  string
	about string
	// flows marks scenarios whose unit is a whole authorization flow.
	flows bool
	// concurrency returns how many workers run it; nil means --concurrency.
	concurrency func(o *options) int
	// setup prepares everything the workers need before any clock starts. It
	// returns a skipError when the scenario cannot run here.
	setup func(ctx context.Context, b *bench, workers int) (workload, error)
	// sequence, instead of setup and the timed run, measures a fixed
	// sequence of requests (refresh-chain).
	sequence func(ctx context.Context, b *bench, res *result)
}

// workload performs one request (or one flow) as worker w. Workers never
// share state: w indexes each workload's per-worker slices.
type workload interface {
	do(ctx context.Context, w int) error
}

// Optional behaviours of a workload.
type (
	// preparer readies worker w's next request outside the latency clock.
	preparer interface {
		before(ctx context.Context, w int) error
	}
	// calibrator is told the warm-up's throughput before the timed run.
	calibrator interface {
		calibrate(ctx context.Context, rate float64) error
	}
	// noter adds remarks to the scenario's result after the timed run.
	noter interface {
		notes() []string
	}
	// helper is a second process the scenario starts (and measures too).
	helper interface {
		helperProcess() *process
		stop()
	}
)

// skipError means a scenario cannot run in this setup; it is reported, not failed.
type skipError struct{ reason string }

func (e skipError) Error() string { return e.reason }

func skip(format string, args ...any) error { return skipError{fmt.Sprintf(format, args...)} }

// scenarios lists every scenario in the order they run.
var scenarios = []scenario{
	{
		name:  "introspect-jwt",
		about: "POST /v1/oauth/introspect of a JWT access token (resource-server Basic auth)",
		setup: setupIntrospectJWT,
	},
	{
		name:  "introspect-apikey",
		about: "POST /v1/oauth/introspect of a workspace API key",
		setup: setupIntrospectAPIKey,
	},
	{
		name:  "middleware-cache-on",
		about: "GET /v1/projects on nextoria-example-api, introspection results cached",
		setup: func(ctx context.Context, b *bench, n int) (workload, error) { return setupMiddleware(ctx, b, n, true) },
	},
	{
		name:  "middleware-cache-off",
		about: "GET /v1/projects on nextoria-example-api, every request introspected",
		setup: func(ctx context.Context, b *bench, n int) (workload, error) { return setupMiddleware(ctx, b, n, false) },
	},
	{
		name:  "refresh",
		about: "refresh_token grant, each worker rotating its own chain (client_secret_post)",
		setup: setupRefresh,
	},
	{
		name:        "refresh-chain",
		about:       "one grant rotated sequentially by one worker: median latency of the first 100 rotations vs the last 100",
		concurrency: func(*options) int { return 1 },
		sequence:    runChain,
	},
	{
		name:  "code-exchange",
		about: "authorization_code grant alone, codes (PKCE S256) minted before the clock starts",
		setup: setupCodeExchange,
	},
	{
		name:  "flow-signed-in",
		flows: true,
		about: "GET /oauth/authorize (signed in, consent remembered) → 303 with code → token exchange",
		setup: setupFlowSignedIn,
	},
	{
		name:  "flow-password",
		flows: true,
		about: "authorize → sign-in page → POST /login (argon2id) → consent → allow → code → token exchange",
		concurrency: func(o *options) int {
			return o.passwordConcurrency
		},
		setup: setupFlowPassword,
	},
}

// workers is how many workers run sc with the options o.
func (sc scenario) workers(o *options) int {
	if sc.concurrency != nil {
		return sc.concurrency(o)
	}
	return o.concurrency
}

func scenarioNames() []string {
	out := make([]string, len(scenarios))
	for i, s := range scenarios {
		out[i] = s.name
	}
	return out
}

// parallel runs f(0) … f(n-1) at once and returns the first error (the
// others are usually the same one).
func parallel(n int, f func(i int) error) error { return parallelLimit(n, n, f) }

// parallelLimit is parallel with at most limit calls at a time.
func parallelLimit(n, limit int, f func(i int) error) error {
	errs := make([]error, n)
	sem := make(chan struct{}, max(limit, 1))
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = f(i)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// --- introspection ---

type introspectWorkload struct {
	rs     *introspector
	tokens []string
}

func (l *introspectWorkload) do(ctx context.Context, w int) error {
	return l.rs.active(ctx, l.tokens[w])
}

func setupIntrospectJWT(ctx context.Context, b *bench, n int) (workload, error) {
	if b.rs == nil {
		return nil, skip("no resource-server credentials (--rs-client-id, --rs-client-secret)")
	}
	toks, err := b.workerTokens(ctx, n)
	if err != nil {
		return nil, err
	}
	l := &introspectWorkload{rs: b.rs}
	for _, t := range toks {
		l.tokens = append(l.tokens, t.AccessToken)
	}
	return l, nil
}

func setupIntrospectAPIKey(ctx context.Context, b *bench, n int) (workload, error) {
	if b.rs == nil {
		return nil, skip("no resource-server credentials (--rs-client-id, --rs-client-secret)")
	}
	keys, err := b.workerAPIKeys(ctx, n)
	if err != nil {
		return nil, err
	}
	return &introspectWorkload{rs: b.rs, tokens: keys}, nil
}

// --- resource-server middleware (nextoria-example-api) ---

type middlewareWorkload struct {
	url    string
	creds  []string
	client *http.Client
	api    *process
	kind   string
}

func (l *middlewareWorkload) do(ctx context.Context, w int) error {
	r, err := get(ctx, l.client, l.url, l.creds[w])
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		return statusError("GET /v1/projects", r)
	}
	return nil
}

func (l *middlewareWorkload) helperProcess() *process { return l.api }
func (l *middlewareWorkload) stop()                   { l.api.stop() }
func (l *middlewareWorkload) notes() []string {
	return []string{"bearer credential: " + l.kind + "; CPU and RSS columns are the authorization server's"}
}

func setupMiddleware(ctx context.Context, b *bench, n int, cache bool) (workload, error) {
	switch {
	case b.server == nil:
		return nil, skip("needs the self-managed mode: it starts nextoria-example-api with and without its cache")
	case b.exampleAPI == "":
		return nil, skip("cmd/nextoria-example-api does not exist yet")
	case b.apiCacheEnv == "":
		return nil, skip("cmd/nextoria-example-api reads no NEXTORIA_API_ variable that sets its introspection-cache TTL (name one with --api-cache-env)")
	case b.rs == nil:
		return nil, skip("no resource-server credentials")
	}
	creds, kind := []string(nil), "API key (one workspace per worker)"
	keys, err := b.workerAPIKeys(ctx, n)
	var se skipError
	switch {
	case errors.As(err, &se):
		toks, err := b.workerTokens(ctx, n)
		if err != nil {
			return nil, err
		}
		for _, t := range toks {
			creds = append(creds, t.AccessToken)
		}
		kind = "JWT access token (one workspace for all workers)"
	case err != nil:
		return nil, err
	default:
		creds = keys
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	ttl := b.opts.apiCacheOff
	if cache {
		ttl = b.opts.apiCacheOn
	}
	env := childEnv(append([]string{
		"NEXTORIA_API_LISTEN=" + addr,
		"NEXTORIA_API_INTROSPECTION_URL=" + b.base + "/v1/oauth/introspect",
		"NEXTORIA_API_CLIENT_ID=" + b.rs.clientID,
		"NEXTORIA_API_CLIENT_SECRET=" + b.rs.secret,
		b.apiCacheEnv + "=" + ttl,
		// The plan limits (at most 2,000 requests per workspace at once) are
		// not what this measures; the rate-limit decision has its own Go
		// benchmark in ratelimit.
		"NEXTORIA_API_RATE_LIMIT=off",
		"NEXTORIA_API_SHUTDOWN_DRAIN=0s",
	}, b.opts.apiEnv...)...)
	name := "nextoria-example-api-cache-off"
	if cache {
		name = "nextoria-example-api-cache-on"
	}
	api, err := startProcess(name, b.exampleAPI, nil, env, b.tmpDir)
	if err != nil {
		return nil, err
	}
	url := "http://" + addr + "/v1/projects"
	if err := api.waitReady(ctx, url, 30*time.Second, func(int) bool { return true }); err != nil {
		api.stop()
		return nil, err
	}
	return &middlewareWorkload{url: url, creds: creds, client: b.app.client, api: api, kind: kind + ", " + b.apiCacheEnv + "=" + ttl + ", NEXTORIA_API_RATE_LIMIT=off"}, nil
}

// --- refresh ---

type refreshWorkload struct {
	b      *bench
	chains []string // each worker's current refresh token
}

func (l *refreshWorkload) before(ctx context.Context, w int) error {
	if l.chains[w] != "" {
		return nil
	}
	// The chain broke on an error: start a new one, off the clock.
	brs, err := l.b.signedInBrowsers(ctx, w+1)
	if err != nil {
		return err
	}
	t, err := brs[w].tokensFor(ctx)
	l.chains[w] = t.RefreshToken
	return err
}

func (l *refreshWorkload) do(ctx context.Context, w int) error {
	t, err := l.b.app.refresh(ctx, l.chains[w])
	l.chains[w] = t.RefreshToken // "" on error
	return err
}

func setupRefresh(ctx context.Context, b *bench, n int) (workload, error) {
	brs, err := b.signedInBrowsers(ctx, n)
	if err != nil {
		return nil, err
	}
	l := &refreshWorkload{b: b, chains: make([]string, n)}
	err = parallel(n, func(w int) error {
		t, err := brs[w].tokensFor(ctx)
		l.chains[w] = t.RefreshToken
		return err
	})
	return l, err
}

// --- code exchange ---

type codeExchangeWorkload struct {
	b        *bench
	browsers []*browser
	queues   [][]grant
	current  []grant
	minted   atomic.Int64
	topUps   atomic.Int64
}

// topUpBatch is how many codes a worker mints when it runs out.
const topUpBatch = 32

func (l *codeExchangeWorkload) mint(ctx context.Context, w, count int) error {
	for range count {
		g, err := l.browsers[w].authorize(ctx, "")
		if err != nil {
			return fmt.Errorf("mint codes: %w", err)
		}
		l.queues[w] = append(l.queues[w], g)
		l.minted.Add(1)
	}
	return nil
}

func (l *codeExchangeWorkload) before(ctx context.Context, w int) error {
	if len(l.queues[w]) == 0 {
		l.topUps.Add(1)
		if err := l.mint(ctx, w, topUpBatch); err != nil {
			return err
		}
	}
	l.current[w], l.queues[w] = l.queues[w][0], l.queues[w][1:]
	return nil
}

func (l *codeExchangeWorkload) do(ctx context.Context, w int) error {
	g := l.current[w]
	_, err := l.b.app.exchange(ctx, g.code, g.verifier)
	return err
}

// calibrate mints enough codes for the timed run: twice the warm-up's rate
// times the duration (a short warm-up underestimates the rate of a warm
// server), plus a batch per worker.
func (l *codeExchangeWorkload) calibrate(ctx context.Context, rate float64) error {
	n := len(l.browsers)
	need := int(rate*l.b.opts.duration.Seconds()*2)/n + topUpBatch
	start := time.Now()
	err := parallel(n, func(w int) error { return l.mint(ctx, w, max(0, need-len(l.queues[w]))) })
	l.b.progress("  minted %d codes in %s for the timed run (warm-up rate %.0f/s)", l.minted.Load(), time.Since(start).Round(time.Millisecond), rate)
	l.topUps.Store(0)
	return err
}

func (l *codeExchangeWorkload) notes() []string {
	var out []string
	if k := l.topUps.Load(); k > 0 {
		out = append(out, fmt.Sprintf("workers ran out of codes %d times and minted %d more during the timed run: requests/s and server CPU include that minting", k, k*topUpBatch))
	}
	return append(out, l.b.codeLifespanNote)
}

func setupCodeExchange(ctx context.Context, b *bench, n int) (workload, error) {
	brs, err := b.signedInBrowsers(ctx, n)
	if err != nil {
		return nil, err
	}
	l := &codeExchangeWorkload{b: b, browsers: brs, queues: make([][]grant, n), current: make([]grant, n)}
	return l, parallel(n, func(w int) error { return l.mint(ctx, w, topUpBatch) })
}

// --- whole flows ---

type flowSignedInWorkload struct {
	b        *bench
	browsers []*browser
}

func (l *flowSignedInWorkload) do(ctx context.Context, w int) error {
	g, err := l.browsers[w].authorize(ctx, "")
	if err != nil {
		return err
	}
	if g.signedIn || g.consented || g.requests != 1 {
		return errors.New("flow-signed-in: the server asked to sign in or consent again")
	}
	_, err = l.b.app.exchange(ctx, g.code, g.verifier)
	return err
}

func setupFlowSignedIn(ctx context.Context, b *bench, n int) (workload, error) {
	brs, err := b.signedInBrowsers(ctx, n)
	if err != nil {
		return nil, err
	}
	return &flowSignedInWorkload{b: b, browsers: brs}, nil
}

type flowPasswordWorkload struct{ b *bench }

func (l *flowPasswordWorkload) do(ctx context.Context, _ int) error {
	br := l.b.app.newBrowser() // a fresh cookie jar: nobody is signed in
	g, err := br.authorize(ctx, "consent")
	if err != nil {
		return err
	}
	if !g.signedIn || !g.consented {
		return errors.New("flow-password: the flow skipped the sign-in or the consent screen")
	}
	_, err = l.b.app.exchange(ctx, g.code, g.verifier)
	return err
}

func (l *flowPasswordWorkload) notes() []string {
	return []string{"each flow verifies one argon2id password (19 MiB, 2 passes, at most one per core at a time) on the server"}
}

func setupFlowPassword(_ context.Context, b *bench, _ int) (workload, error) {
	if b.app.password == "" {
		return nil, skip("no password for the benchmark user (--password)")
	}
	return &flowPasswordWorkload{b: b}, nil
}

// --- the driver ---

// maxErrors stops a run early: past this many errors the numbers mean nothing.
const maxErrors = 1000

// maxErrorKinds bounds how many distinct error messages a run keeps.
const maxErrorKinds = 20

// runStats is what one timed (or warm-up) run measured.
type runStats struct {
	hist     Histogram
	ok       uint64
	errors   uint64
	elapsed  time.Duration
	busyRate float64 // Σ over workers of successes per second spent inside do
	kinds    map[string]int
	aborted  bool
}

// drive runs wl with n workers for d and measures every request. Requests
// still in flight at the deadline finish and count.
func drive(ctx context.Context, wl workload, n int, d time.Duration) *runStats {
	st := &runStats{kinds: map[string]int{}}
	prep, _ := wl.(preparer)
	hists := make([]Histogram, n)
	oks := make([]uint64, n)
	busy := make([]time.Duration, n)
	var (
		mu      sync.Mutex
		errs    atomic.Uint64
		stopped atomic.Bool
	)
	fail := func(err error) {
		msg := err.Error()
		if len(msg) > 160 {
			msg = msg[:160] + "…"
		}
		mu.Lock()
		if _, ok := st.kinds[msg]; !ok && len(st.kinds) >= maxErrorKinds {
			msg = "(other errors)"
		}
		st.kinds[msg]++
		mu.Unlock()
		if errs.Add(1) >= maxErrors {
			stopped.Store(true)
		}
	}
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() {
			for time.Now().Before(deadline) && !stopped.Load() && ctx.Err() == nil {
				if prep != nil {
					if err := prep.before(ctx, w); err != nil {
						if ctx.Err() == nil {
							fail(err)
						}
						continue
					}
				}
				t0 := time.Now()
				err := wl.do(ctx, w)
				lat := time.Since(t0)
				busy[w] += lat
				if err != nil {
					if ctx.Err() == nil {
						fail(err)
					}
					continue
				}
				hists[w].Record(lat)
				oks[w]++
			}
		})
	}
	wg.Wait()
	st.elapsed = time.Since(start)
	for w := range n {
		st.hist.Merge(&hists[w])
		st.ok += oks[w]
		if busy[w] > 0 {
			st.busyRate += float64(oks[w]) / busy[w].Seconds()
		}
	}
	st.errors = errs.Load()
	st.aborted = stopped.Load()
	return st
}

// run prepares, warms up and measures one scenario.
func (b *bench) run(ctx context.Context, sc scenario) result {
	n := sc.workers(&b.opts)
	res := result{Scenario: sc.name, About: sc.about, Concurrency: n, Flows: sc.flows, Errors: map[string]int{}}
	res.LoadAverage = loadAverage()
	if sc.sequence != nil {
		sc.sequence(ctx, b, &res)
		return res
	}
	b.progress("%s: preparing (%d workers)", sc.name, n)
	wl, err := sc.setup(ctx, b, n)
	var se skipError
	if errors.As(err, &se) {
		res.Skipped = se.reason
		b.progress("%s: skipped: %s", sc.name, se.reason)
		return res
	}
	if err != nil {
		res.Failed = "setup: " + err.Error()
		b.progress("%s: setup failed: %v", sc.name, err)
		return res
	}
	var api *process
	if h, ok := wl.(helper); ok {
		api = h.helperProcess()
		defer h.stop()
	}
	var warmRate float64
	if b.opts.warmup > 0 {
		warm := drive(ctx, wl, n, b.opts.warmup)
		warmRate = warm.busyRate
		res.WarmupErrors = warm.errors
		for k, v := range warm.kinds {
			res.Errors["warm-up: "+k] += v
		}
	}
	if c, ok := wl.(calibrator); ok && ctx.Err() == nil {
		if err := c.calibrate(ctx, warmRate); err != nil {
			res.Failed = "calibration: " + err.Error()
			return res
		}
	}
	if ctx.Err() != nil {
		res.Failed = "interrupted"
		return res
	}
	b.progress("%s: measuring for %s", sc.name, b.opts.duration)
	rt := b.startRoundTrips(ctx)
	prof := b.startProfile(ctx, fmt.Sprintf("%s-c%d", sc.name, n))
	serverMeter, apiMeter, pgMeter := startMeter(b.server), startMeter(api), b.startPostgres(ctx)
	st := drive(ctx, wl, n, b.opts.duration)
	res.fill(st)
	b.finishMeters(ctx, &res, st.ok, serverMeter, apiMeter, pgMeter, rt)
	if err := prof.finish(ctx); err != nil {
		res.Notes = append(res.Notes, "profiles not saved: "+err.Error())
	}
	if nt, ok := wl.(noter); ok {
		for _, s := range nt.notes() {
			if s != "" {
				res.Notes = append(res.Notes, s)
			}
		}
	}
	for msg := range res.Errors {
		if strings.Contains(msg, "status 429") {
			res.Notes = append(res.Notes, "429 is a rate limit of the server answering (the example API limits each workspace by its plan; "+
				"every worker has a workspace of its own when API keys are available): a shorter --duration or fewer workers stay under it")
			break
		}
	}
	if st.aborted {
		res.Notes = append(res.Notes, fmt.Sprintf("stopped early after %d errors", maxErrors))
	}
	if ctx.Err() != nil {
		res.Failed = "interrupted"
	}
	return res
}

// startPostgres measures PostgreSQL's CPU when the benchmark started the
// server (in --target mode its database may be anywhere).
func (b *bench) startPostgres(ctx context.Context) *postgresMeter {
	if b.server == nil {
		return nil
	}
	return startPostgresMeter(ctx, b.opts.adminURL)
}

// finishMeters ends the measurements of a timed run of ok requests and
// fills res's CPU, memory and round-trip columns.
func (b *bench) finishMeters(ctx context.Context, res *result, ok uint64, server, api *meter, pg *postgresMeter, rt *roundTripMeter) {
	if server != nil {
		cpu, peak, err := server.finish()
		if err == nil && ok > 0 {
			res.ServerCPUPerRequest = ptr(msPer(cpu, ok))
		}
		res.PeakRSSMB = ptr(float64(peak) / (1 << 20))
	}
	if api != nil {
		cpu, peak, err := api.finish()
		if err == nil && ok > 0 {
			res.HelperCPUPerRequest = ptr(msPer(cpu, ok))
			res.HelperPeakRSSMB = ptr(float64(peak) / (1 << 20))
		}
	}
	if cpu, measured := pg.finish(); measured && ok > 0 {
		res.PostgresCPUPerRequest = ptr(msPer(cpu, ok))
		if res.ServerCPUPerRequest != nil {
			res.TotalCPUPerRequest = ptr(*res.ServerCPUPerRequest + *res.PostgresCPUPerRequest)
		}
	}
	res.RoundTripsPerRequest = rt.perRequest(ctx, ok)
}

func msPer(d time.Duration, n uint64) float64 {
	return float64(d) / float64(time.Millisecond) / float64(n)
}

func ptr[T any](v T) *T { return &v }

// --- what the scenarios share ---

// signedInBrowsers returns n browsers, each signed in as the benchmark user
// with consent remembered, signing in the ones that are missing.
func (b *bench) signedInBrowsers(ctx context.Context, n int) ([]*browser, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.browsers) >= n {
		return b.browsers[:n], nil
	}
	if b.app.password == "" {
		return nil, skip("no password for the benchmark user (--password)")
	}
	have := len(b.browsers)
	if have == 0 {
		// The first browser answers the consent screen; the others then find
		// their consent remembered.
		br := b.app.newBrowser()
		if _, err := br.authorize(ctx, ""); err != nil {
			return nil, fmt.Errorf("sign in: %w", err)
		}
		b.browsers = append(b.browsers, br)
		have = 1
	}
	// Sign-ins are argon2id-bound: more at once than there are CPUs only
	// queues, and each holds 19 MiB of the server's memory, which the Go
	// runtime keeps for a while and the RSS columns would show.
	more := make([]*browser, n-have)
	err := parallelLimit(len(more), runtime.NumCPU(), func(i int) error {
		more[i] = b.app.newBrowser()
		_, err := more[i].authorize(ctx, "")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	b.browsers = append(b.browsers, more...)
	return b.browsers[:n], nil
}

// workerTokens returns one token response per worker, each from a real code flow.
func (b *bench) workerTokens(ctx context.Context, n int) ([]tokens, error) {
	brs, err := b.signedInBrowsers(ctx, n)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.accessTokens) < n {
		more := make([]tokens, n-len(b.accessTokens))
		have := len(b.accessTokens)
		err := parallel(len(more), func(i int) error {
			var err error
			more[i], err = brs[have+i].tokensFor(ctx)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("get tokens: %w", err)
		}
		b.accessTokens = append(b.accessTokens, more...)
	}
	return b.accessTokens[:n], nil
}

// workerAPIKeys returns one API key per worker, each in a workspace of its
// own so that per-workspace rate limits of a resource server do not couple
// the workers. With --target, every worker uses the --api-key given.
func (b *bench) workerAPIKeys(ctx context.Context, n int) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.server == nil {
		if b.opts.apiKey == "" {
			return nil, skip("no API key (--api-key)")
		}
		keys := make([]string, n)
		for i := range keys {
			keys[i] = b.opts.apiKey
		}
		return keys, nil
	}
	if !b.hasAPIKeys {
		return nil, skip("this nextoria-authz has no api-keys command")
	}
	for len(b.apiKeys) < n {
		i := len(b.apiKeys)
		var ws struct{ ID string }
		if err := b.cli.run(ctx, "", &ws, "workspaces", "create", "--name", fmt.Sprintf("Bench Keys %d", i), "--plan", "scale"); err != nil {
			return nil, err
		}
		var key struct{ ID, Key string }
		if err := b.cli.run(ctx, "", &key, "api-keys", "create", "--workspace", ws.ID, "--name", fmt.Sprintf("bench-%d", i), "--scope", "projects:read"); err != nil {
			return nil, err
		}
		if key.Key == "" {
			return nil, errors.New("api-keys create printed no key")
		}
		b.apiKeys = append(b.apiKeys, key.Key)
	}
	return b.apiKeys[:n], nil
}

// selectScenarios resolves --scenarios ("" means all) in the canonical order.
func selectScenarios(list string) ([]scenario, error) {
	if strings.TrimSpace(list) == "" || list == "all" {
		return scenarios, nil
	}
	want := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		found := false
		for _, s := range scenarios {
			found = found || s.name == name
		}
		if !found {
			return nil, fmt.Errorf("unknown scenario %q (known: %s)", name, strings.Join(scenarioNames(), ", "))
		}
		want[name] = true
	}
	var out []scenario
	for _, s := range scenarios {
		if want[s.name] {
			out = append(out, s)
		}
	}
	return out, nil
}
