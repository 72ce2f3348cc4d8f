// Command nextoria-bench is the load benchmark of the authorization server.
//
// By default it builds nextoria-authz (and nextoria-example-api when the
// repository has it), creates and seeds a throwaway PostgreSQL database
// through the CLI's --json contract, starts `nextoria-authz serve --dev` on
// a free loopback port (with its metrics listener on another), and drives
// each scenario for a fixed time at a fixed concurrency: introspection of
// JWT access tokens and API keys, the resource-server middleware with and
// without its cache, refresh rotation, code exchange, and whole browser
// flows with and without a password sign-in. refresh-chain instead rotates
// one grant 10,000 times in a row and compares its first and last 100
// rotations. With --target it drives a server that is already running
// instead.
//
// Before the scenarios it measures PostgreSQL's own ceilings with pgbench
// (select-only, and a single-row insert per transaction) at the same
// concurrency, in a scratch database, and reports each scenario as a
// fraction of the matching ceiling. For every scenario it prints
// throughput, latency percentiles, errors, the server's and PostgreSQL's
// CPU per request (from /proc) and their sum, the PostgreSQL round trips
// per request (the server's nextoria_db_round_trips_total), peak RSS and
// the load average; it can write the results as JSON and as a Markdown
// report (docs/benchmarks.md). --concurrency takes a list (16,64) and runs
// every scenario at each; --pprof DIR saves CPU and heap profiles of the
// server during each scenario.
//
// Any unexpected status or body is an error, and a run with errors exits
// with status 1, as does a refresh-chain whose last rotations take more
// than 1.5 times as long as its first (in a full run). Every request goes
// to loopback and every run is bounded in time; the databases and the
// processes are removed at the end, also on error or interrupt.
//
//	go run ./cmd/nextoria-bench                  # every scenario, 10 s each, 16 workers
//	go run ./cmd/nextoria-bench --short          # 1 s each, 4 workers: keeps the tool working in CI
//	go run ./cmd/nextoria-bench --concurrency 16,64 --markdown docs/benchmarks.md
//	go run ./cmd/nextoria-bench --scenarios refresh,code-exchange --duration 30s --json out.json
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "nextoria-bench: %v\n", err)
		os.Exit(1)
	}
}

// listFlag collects a repeatable KEY=VALUE flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
		return fmt.Errorf("%q is not KEY=VALUE", v)
	}
	*l = append(*l, v)
	return nil
}

// intList is a comma-separated list of positive integers (--concurrency).
type intList []int

func (l *intList) String() string {
	if l == nil {
		return ""
	}
	var out []string
	for _, n := range *l {
		out = append(out, strconv.Itoa(n))
	}
	return strings.Join(out, ",")
}

func (l *intList) Set(v string) error {
	var out intList
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return fmt.Errorf("%q is not a list of numbers", v)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	*l = out
	return nil
}

// options are the command-line settings.
type options struct {
	duration            time.Duration
	warmup              time.Duration
	concurrency         int // of the current round, one of concurrencies
	concurrencies       intList
	passwordConcurrency int
	scenarios           string
	short               bool
	keep                bool
	jsonPath            string
	markdownPath        string
	source              string
	adminURL            string
	serverEnv           listFlag
	apiEnv              listFlag
	apiCacheEnv         string
	apiCacheOn          string
	apiCacheOff         string
	list                bool
	pprofDir            string
	ceilings            bool
	passwordDefault     bool // --password-concurrency not given: it follows each round's concurrency
	// rows, when positive, reruns the scenarios after seeding that many
	// token rows (seed.go).
	rows int64
	// sizeRounds is how many times each scenario runs at size and on the
	// empty twin (seed.go).
	sizeRounds int

	// --target mode: a running server and credentials made beforehand.
	target         string
	clientID       string
	clientSecret   string
	redirectURI    string
	email          string
	password       string
	rsClientID     string
	rsClientSecret string
	apiKey         string
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// parseOptions reads the flags; credentials default to NEXTORIA_BENCH_*
// variables so that secrets need not appear on the command line.
func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("nextoria-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long each scenario is measured")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "how long each scenario runs unmeasured first")
	o.concurrencies = intList{16}
	fs.Var(&o.concurrencies, "concurrency", "concurrent `workers` per scenario; a list (16,64) runs every scenario at each")
	fs.IntVar(&o.passwordConcurrency, "password-concurrency", 0, "workers of flow-password (default: --concurrency, at most 2 per CPU: each sign-in holds 19 MiB of argon2id memory)")
	fs.StringVar(&o.scenarios, "scenarios", "", "comma-separated scenarios to run (default all: "+strings.Join(scenarioNames(), ",")+")")
	fs.BoolVar(&o.short, "short", false, "quick run for CI: --duration 1s --concurrency 4 --warmup 200ms unless given")
	fs.IntVar(&o.sizeRounds, "size-rounds", 3, "--rows: rounds of each scenario on the seeded database and on an empty twin, in turn; each side's figure is the median")
	fs.BoolVar(&o.keep, "keep", false, "keep the database and the temporary directory (binaries, server logs)")
	fs.StringVar(&o.jsonPath, "json", "", "write the results as JSON to `FILE`")
	fs.StringVar(&o.markdownPath, "markdown", "", "write a Markdown report to `FILE` (e.g. docs/benchmarks.md)")
	fs.StringVar(&o.source, "source", ".", "root of the repository whose commands are built and measured")
	fs.StringVar(&o.adminURL, "database-url", envOr("NEXTORIA_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"),
		"admin database `URL`; the benchmark creates and drops its own database there (env NEXTORIA_BENCH_DATABASE_URL)")
	fs.Var(&o.serverEnv, "server-env", "extra `KEY=VALUE` for nextoria-authz serve, e.g. NEXTORIA_DATABASE_MAX_CONNS=16 (repeatable)")
	fs.Var(&o.apiEnv, "api-env", "extra `KEY=VALUE` for nextoria-example-api (repeatable)")
	fs.StringVar(&o.apiCacheEnv, "api-cache-env", "", "the example API's introspection-cache TTL variable (default: found in cmd/nextoria-example-api)")
	fs.StringVar(&o.apiCacheOn, "api-cache-on", "30s", "cache TTL value for middleware-cache-on")
	fs.StringVar(&o.apiCacheOff, "api-cache-off", "0s", "cache TTL value for middleware-cache-off")
	fs.BoolVar(&o.list, "list", false, "list the scenarios and exit")
	fs.StringVar(&o.pprofDir, "pprof", "", "save a CPU profile (5 s) and a heap profile of the server during each scenario in `DIR` (starts it with metrics.pprof)")
	fs.BoolVar(&o.ceilings, "ceilings", true, "measure PostgreSQL's ceilings with "+pgbenchPath+" before the scenarios")
	fs.Int64Var(&o.rows, "rows", 0, "run the scenarios on the empty database, seed `N` token rows (COPY), run them again and report both side by side with table and index sizes")

	fs.StringVar(&o.target, "target", "", "`URL` of a running server to drive instead of starting one (loopback only)")
	fs.StringVar(&o.clientID, "client-id", envOr("NEXTORIA_BENCH_CLIENT_ID", "demo-app"), "--target: client id of a confidential app (env NEXTORIA_BENCH_CLIENT_ID)")
	fs.StringVar(&o.clientSecret, "client-secret", envOr("NEXTORIA_BENCH_CLIENT_SECRET", "demo-secret-not-for-production-use"), "--target: its client secret (env NEXTORIA_BENCH_CLIENT_SECRET)")
	fs.StringVar(&o.redirectURI, "redirect-uri", envOr("NEXTORIA_BENCH_REDIRECT_URI", "http://127.0.0.1:9999/callback"), "--target: its registered redirect URI (env NEXTORIA_BENCH_REDIRECT_URI)")
	fs.StringVar(&o.email, "email", envOr("NEXTORIA_BENCH_EMAIL", "demo@nextoria.test"), "--target: e-mail of the user who signs in (env NEXTORIA_BENCH_EMAIL)")
	fs.StringVar(&o.password, "password", envOr("NEXTORIA_BENCH_PASSWORD", "demo-password"), "--target: the user's password (env NEXTORIA_BENCH_PASSWORD)")
	fs.StringVar(&o.rsClientID, "rs-client-id", os.Getenv("NEXTORIA_BENCH_RS_CLIENT_ID"), "--target: resource-server client id for introspection (env NEXTORIA_BENCH_RS_CLIENT_ID)")
	fs.StringVar(&o.rsClientSecret, "rs-client-secret", os.Getenv("NEXTORIA_BENCH_RS_CLIENT_SECRET"), "--target: its secret (env NEXTORIA_BENCH_RS_CLIENT_SECRET)")
	fs.StringVar(&o.apiKey, "api-key", os.Getenv("NEXTORIA_BENCH_API_KEY"), "--target: a workspace API key with projects:read (env NEXTORIA_BENCH_API_KEY)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: nextoria-bench [flags]\n\nLoad benchmark of nextoria-authz. Flags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.short {
		if !set["duration"] {
			o.duration = time.Second
		}
		if !set["concurrency"] {
			o.concurrencies = intList{4}
		}
		if !set["warmup"] {
			o.warmup = 200 * time.Millisecond
		}
	}
	o.concurrency = o.concurrencies[0]
	o.passwordDefault = !set["password-concurrency"]
	if o.passwordDefault {
		o.passwordConcurrency = min(o.concurrency, 2*runtime.NumCPU())
	}
	var problems []string
	if o.duration <= 0 || o.duration > time.Hour {
		problems = append(problems, "--duration must be between 0 and 1h")
	}
	if o.warmup < 0 || o.warmup > 10*time.Minute {
		problems = append(problems, "--warmup must be between 0 and 10m")
	}
	if slices.ContainsFunc(o.concurrencies, func(n int) bool { return n < 1 || n > 1024 }) {
		problems = append(problems, "--concurrency must be between 1 and 1024")
	}
	if o.pprofDir != "" && o.target != "" {
		problems = append(problems, "--pprof needs the self-managed mode (it starts the server with metrics.pprof)")
	}
	if set["password-concurrency"] && (o.passwordConcurrency < 1 || o.passwordConcurrency > 1024) {
		problems = append(problems, "--password-concurrency must be between 1 and 1024")
	}
	if o.rows < 0 || o.rows > 1_000_000_000 {
		problems = append(problems, "--rows must be between 0 and 1000000000")
	}
	if o.sizeRounds < 1 || o.sizeRounds > 9 {
		problems = append(problems, "--size-rounds must be between 1 and 9")
	}
	if o.rows > 0 && o.target != "" {
		problems = append(problems, "--rows seeds the benchmark's own database: it does not work with --target")
	}
	if o.target != "" {
		if err := checkLoopback(o.target); err != nil {
			problems = append(problems, "--target: "+err.Error())
		}
	}
	if len(problems) > 0 {
		return o, errors.New(strings.Join(problems, "; "))
	}
	return o, nil
}

// checkLoopback refuses targets off this machine: a load run is not for
// other people's servers.
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an http(s) URL")
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%s is not a loopback host", host)
}

// bench is one benchmark run: the server under test, the client it plays,
// and the credentials the scenarios share.
type bench struct {
	opts   options
	stderr io.Writer
	base   string

	// Self-managed mode only.
	db          *benchDatabase
	metricsBase string // http://host:port of the server's metrics listener
	server      *process
	cli         *authzCLI
	hasAPIKeys  bool
	exampleAPI  string // binary; "" when the repository has none
	apiCacheEnv string
	tmpDir      string

	app       *oauthApp
	rs        *introspector // nil without resource-server credentials
	transport *http.Transport
	// codeLifespanNote says how long codes live, for code-exchange.
	codeLifespanNote string
	notes            []string

	// progressPrefix starts its progress lines (the empty twin of --rows).
	progressPrefix string

	mu           sync.Mutex
	browsers     []*browser
	accessTokens []tokens
	apiKeys      []string
}

func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(b.stderr, "nextoria-bench: "+b.progressPrefix+format+"\n", args...)
}

// close stops what the run started and removes what it created.
func (b *bench) close() {
	if b.transport != nil {
		b.transport.CloseIdleConnections()
	}
	if b.server != nil {
		b.server.stop()
	}
	if b.db != nil {
		if b.opts.keep {
			b.progress("kept database %s", b.db.name)
		} else if err := b.db.drop(context.Background()); err != nil {
			b.progress("%v", err)
		}
	}
	if b.tmpDir != "" {
		if b.opts.keep {
			b.progress("kept %s", b.tmpDir)
		} else {
			os.RemoveAll(b.tmpDir)
		}
	}
}

// commandLine is how the run was invoked, with secrets masked.
func commandLine(args []string) string {
	out := []string{"go", "run", "./cmd/nextoria-bench"}
	masked := false
	for _, a := range args {
		if masked {
			a, masked = "***", false
		} else if name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "="); strings.HasPrefix(a, "-") &&
			(strings.Contains(name, "secret") || name == "password" || name == "api-key") {
			if hasValue {
				a = a[:strings.Index(a, "=")+1] + "***"
			} else {
				masked = true
			}
		}
		if strings.ContainsAny(a, " \t'\"$") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out = append(out, a)
	}
	return strings.Join(out, " ")
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if opts.list {
		for _, s := range scenarios {
			fmt.Fprintf(stdout, "%-22s %s\n", s.name, s.about)
		}
		return nil
	}
	selected, err := selectScenarios(opts.scenarios)
	if err != nil {
		return err
	}
	// Every step is bounded; this bounds the whole run as well.
	rounds := len(opts.concurrencies)
	perScenario := opts.warmup + opts.duration + 2*time.Minute
	limit := 5*time.Minute + time.Duration(rounds*len(selected))*perScenario
	if opts.ceilings {
		limit += time.Duration(rounds) * 2 * (opts.duration + time.Minute)
	}
	if slices.ContainsFunc(selected, func(s scenario) bool { return s.sequence != nil }) {
		limit += 10 * time.Minute // refresh-chain's rotations are counted, not timed
	}
	if opts.rows > 0 {
		limit += time.Duration(2*opts.sizeRounds*len(selected))*perScenario + seedBudget(opts.rows)
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()

	b := &bench{opts: opts, stderr: stderr, transport: newTransport(max(slices.Max(opts.concurrencies), opts.passwordConcurrency))}
	defer b.close()
	rep := &report{
		Started: time.Now(), Command: commandLine(args), Duration: opts.duration.String(), Warmup: opts.warmup.String(),
		Short: opts.short || opts.duration < 10*time.Second,
	}
	if opts.target != "" {
		rep.Mode, rep.Target = "target", opts.target
		b.useTarget()
	} else {
		rep.Mode = "self-managed"
		if err := b.startServer(ctx); err != nil {
			return err
		}
		rep.Target = b.base
	}
	rep.Machine = describeMachine(postgresVersion(ctx, opts.adminURL))
	rep.Machine.PostgreSQLSettings = postgresSettings(ctx, opts.adminURL)
	if opts.ceilings {
		cs, err := b.ceilings(ctx, opts.concurrencies)
		if err != nil {
			return fmt.Errorf("ceilings: %w", err)
		}
		rep.Ceilings = cs
		for _, c := range cs {
			b.progress("ceiling %s at %d clients: %s tps", c.Kind, c.Concurrency, rate(c.TPS))
		}
	} else {
		rep.CeilingsSkipped = "--ceilings=false"
	}

	// Each scenario at each concurrency; a scenario whose worker count does
	// not follow --concurrency (refresh-chain, a capped flow-password) runs
	// once per distinct count.
	ran := map[string]bool{}
	for _, sc := range selected {
		for _, c := range opts.concurrencies {
			if ctx.Err() != nil {
				break
			}
			b.opts.concurrency = c
			if opts.passwordDefault {
				b.opts.passwordConcurrency = min(c, 2*runtime.NumCPU())
			}
			key := fmt.Sprintf("%s@%d", sc.name, sc.workers(&b.opts))
			if ran[key] {
				continue
			}
			ran[key] = true
			res := b.run(ctx, sc)
			rep.Results = append(rep.Results, res)
			if res.Skipped == "" {
				b.progress("%s (%d workers): %s/s, p99 %s ms, %d errors", sc.name, res.Concurrency, rate(res.RequestsPerSecond), num(res.P99MS), res.TimedErrors+res.WarmupErrors)
			}
			if b.server != nil && b.server.exited() {
				return fmt.Errorf("the server exited during %s:\n%s", sc.name, b.server.logTail(20))
			}
		}
	}
	rep.setCeilingFractions()
	if b.server != nil {
		if msg := postgresCPUError(); msg != "" {
			b.notes = append(b.notes, "PostgreSQL CPU not measured: "+msg)
		}
	}
	if opts.pprofDir != "" {
		b.notes = append(b.notes, "--pprof: a CPU profile of up to 5 s and a heap profile per scenario were saved in "+opts.pprofDir+
			"; profiling costs the server CPU, so that run's throughput and CPU figures are not comparable with others")
	}
	var sizeErr error
	if opts.rows > 0 && ctx.Err() == nil {
		if sizeErr = b.runAtSize(ctx, rep, selected); sizeErr != nil {
			b.progress("%v", sizeErr)
		}
	}
	rep.Notes = b.notes

	if b.server != nil {
		if _, hwm, err := memory(b.server.pid()); err == nil {
			rep.ServerHWMMB = ptr(float64(hwm) / (1 << 20))
		}
	}
	var failed []string
	for _, r := range rep.Results {
		if r.failed() {
			failed = append(failed, r.Scenario)
		}
	}
	if rep.AtSize != nil {
		for _, r := range rep.AtSize.Results {
			if r.failed() {
				failed = append(failed, r.Scenario+" at size")
			}
		}
	}
	rep.Failed = len(failed) > 0 || ctx.Err() != nil || sizeErr != nil

	fmt.Fprintln(stdout)
	rep.writeTable(stdout)
	if opts.jsonPath != "" {
		if err := rep.writeJSON(opts.jsonPath); err != nil {
			return err
		}
	}
	if opts.markdownPath != "" {
		if err := rep.writeMarkdown(opts.markdownPath); err != nil {
			return err
		}
	}
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("run stopped before the end: %w", context.Cause(ctx))
	case len(failed) > 0:
		return fmt.Errorf("FAILED: errors in %s", strings.Join(failed, ", "))
	case sizeErr != nil:
		return sizeErr
	}
	return nil
}

// useTarget points the benchmark at a running server with the credentials
// of the flags.
func (b *bench) useTarget() {
	o := b.opts
	b.base = strings.TrimRight(o.target, "/")
	b.app = newOAuthApp(b.base, b.transport)
	b.app.clientID, b.app.clientSecret, b.app.redirectURI = o.clientID, o.clientSecret, o.redirectURI
	b.app.email, b.app.password = o.email, o.password
	if o.rsClientID != "" {
		b.rs = &introspector{url: b.base + "/v1/oauth/introspect", clientID: o.rsClientID, secret: o.rsClientSecret, client: b.app.client}
	}
	b.codeLifespanNote = "codes live as long as the target server's oauth.authorization_code_lifespan (60 s by default): a long run may see invalid_grant"
	b.notes = append(b.notes, "--target mode: the server was not started by the benchmark, so its CPU and RSS are not measured")
}
