package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// codeLifespan is the authorization-code lifespan the benchmark gives its
// server, so that codes minted before the clock starts outlive the run
// (the default, 60 s, is shorter than a calibrated batch may need).
const codeLifespan = "10m"

// startServer builds the commands, creates a database, seeds it through the
// CLI's --json contract and starts `nextoria-authz serve --dev`.
func (b *bench) startServer(ctx context.Context) error {
	o := b.opts
	tmp, err := os.MkdirTemp("", "nextoria-bench-")
	if err != nil {
		return err
	}
	b.tmpDir = tmp
	b.progress("building ./cmd/nextoria-authz")
	bin, err := buildCommand(ctx, o.source, "nextoria-authz", tmp)
	if err != nil {
		return err
	}
	if err := b.findExampleAPI(ctx); err != nil {
		return err
	}
	b.db, err = createDatabase(ctx, o.adminURL)
	if err != nil {
		return err
	}
	b.progress("created database %s", b.db.name)
	addr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	b.base = "http://" + addr
	env := childEnv(
		"NEXTORIA_DATABASE_URL="+b.db.url,
		"NEXTORIA_SECRETS_SYSTEM="+base64.RawURLEncoding.EncodeToString(random(48)),
		"NEXTORIA_ISSUER="+b.base,
		"NEXTORIA_LISTEN="+addr,
		"NEXTORIA_LOG_LEVEL=warn",
		// no load balancer waits for the server to leave rotation
		"NEXTORIA_SHUTDOWN_DRAIN=0s",
		"NEXTORIA_OAUTH_AUTHORIZATION_CODE_LIFESPAN="+codeLifespan,
		// every worker uses one app and one resource server, far past the
		// per-client protective limits, which are not what is measured
		"NEXTORIA_LIMITS_TOKEN_PER_MINUTE=0",
		"NEXTORIA_LIMITS_INTROSPECTION_PER_MINUTE=0",
		// flow-password signs in hundreds of times from one address
		"NEXTORIA_LIMITS_SIGNIN_PER_IP=1000000000",
		"NEXTORIA_LIMITS_SIGNIN_PER_ACCOUNT_IP=1000000000",
		"NEXTORIA_LIMITS_SIGNIN_PER_ACCOUNT=1000000000",
	)
	metricsAddr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	b.metricsBase = "http://" + metricsAddr
	// The metrics give the round trips per request
	// (nextoria_db_round_trips_total); they cost about a microsecond and
	// one atomic add per statement.
	serveEnv := []string{"NEXTORIA_METRICS_LISTEN=" + metricsAddr}
	if o.pprofDir != "" {
		if err := os.MkdirAll(o.pprofDir, 0o755); err != nil {
			return err
		}
		serveEnv = append(serveEnv, "NEXTORIA_METRICS_PPROF=true")
	}
	b.cli = &authzCLI{bin: bin, env: env}
	if err := b.cli.run(ctx, "", nil, "migrate", "up"); err != nil {
		return err
	}
	if err := b.seed(ctx); err != nil {
		return err
	}
	b.progress("starting nextoria-authz serve --dev on %s", addr)
	b.server, err = startProcess("nextoria-authz", bin, []string{"serve", "--dev"}, slices.Concat(env, serveEnv, o.serverEnv), tmp)
	if err != nil {
		return err
	}
	if err := b.server.waitReady(ctx, b.base+"/health/ready", time.Minute, func(s int) bool { return s == http.StatusOK }); err != nil {
		return err
	}
	b.codeLifespanNote = "the server ran with NEXTORIA_OAUTH_AUTHORIZATION_CODE_LIFESPAN=" + codeLifespan +
		" so that codes minted before the clock starts outlive the run"
	b.notes = append(b.notes, "server: nextoria-authz serve --dev, NEXTORIA_LOG_LEVEL=warn, NEXTORIA_OAUTH_AUTHORIZATION_CODE_LIFESPAN="+codeLifespan+
		", NEXTORIA_LIMITS_TOKEN_PER_MINUTE=0, NEXTORIA_LIMITS_INTROSPECTION_PER_MINUTE=0 (one app and one resource server carry all the load), sign-in throttling raised out of reach, NEXTORIA_METRICS_LISTEN on loopback (for the round-trip counter), other settings default"+strings.Join(append([]string{""}, o.serverEnv...), ", "))
	return nil
}

// seed creates a workspace on the scale plan, a user, a confidential app and
// resource-server credentials.
func (b *bench) seed(ctx context.Context) error {
	var ws struct{ ID string }
	if err := b.cli.run(ctx, "", &ws, "workspaces", "create", "--name", "Bench", "--plan", "scale"); err != nil {
		return err
	}
	email := "bench@nextoria.test"
	password := base64.RawURLEncoding.EncodeToString(random(18))
	var user struct{ ID string }
	if err := b.cli.run(ctx, password+"\n", &user, "users", "create", "--email", email, "--workspace", ws.ID); err != nil {
		return err
	}
	var app struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	redirect := "http://127.0.0.1:9/callback"
	if err := b.cli.run(ctx, "", &app, "apps", "create", "--name", "Bench App", "--redirect-uri", redirect, "--owner", email); err != nil {
		return err
	}
	var rs struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := b.cli.run(ctx, "", &rs, "resource-servers", "create", "--name", "Bench API"); err != nil {
		return err
	}
	if ws.ID == "" || user.ID == "" || app.ClientID == "" || app.ClientSecret == "" || rs.ClientID == "" || rs.ClientSecret == "" {
		return errors.New("seeding: the CLI printed an empty id or secret")
	}
	b.app = newOAuthApp(b.base, b.transport)
	b.app.clientID, b.app.clientSecret, b.app.redirectURI = app.ClientID, app.ClientSecret, redirect
	b.app.email, b.app.password = email, password
	b.rs = &introspector{url: b.base + "/v1/oauth/introspect", clientID: rs.ClientID, secret: rs.ClientSecret, client: b.app.client}
	b.hasAPIKeys = b.cli.has(ctx, "api-keys")
	return nil
}

// cacheEnvPattern matches the example API's cache variables in its source.
var cacheEnvPattern = regexp.MustCompile(`NEXTORIA_API_[A-Z0-9_]*CACHE[A-Z0-9_]*`)

// findExampleAPI builds cmd/nextoria-example-api when the repository has it
// and finds the variable that sets its introspection-cache TTL.
func (b *bench) findExampleAPI(ctx context.Context) error {
	dir := filepath.Join(b.opts.source, "cmd", "nextoria-example-api")
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	if len(files) == 0 {
		return nil
	}
	b.progress("building ./cmd/nextoria-example-api")
	bin, err := buildCommand(ctx, b.opts.source, "nextoria-example-api", b.tmpDir)
	if err != nil {
		return err
	}
	b.exampleAPI = bin
	b.apiCacheEnv = b.opts.apiCacheEnv
	if b.apiCacheEnv != "" {
		return nil
	}
	var names []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		for _, m := range cacheEnvPattern.FindAllString(string(src), -1) {
			if !slices.Contains(names, m) {
				names = append(names, m)
			}
		}
	}
	// Prefer a TTL among several cache settings (e.g. a size).
	for _, n := range names {
		if strings.Contains(n, "TTL") {
			b.apiCacheEnv = n
			return nil
		}
	}
	if len(names) == 1 {
		b.apiCacheEnv = names[0]
	}
	return nil
}

// benchDatabase is the throwaway database a self-managed run seeds.
type benchDatabase struct {
	admin string // URL of the admin database (CREATE and DROP run there)
	name  string
	url   string
}

// createDatabase creates an empty database nextoria_bench_<random> on the
// server of adminURL.
func createDatabase(ctx context.Context, adminURL string) (*benchDatabase, error) {
	u, err := url.Parse(adminURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, errors.New("the admin database URL must be a postgres:// URL")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL at %s: %w", u.Redacted(), err)
	}
	defer conn.Close(context.Background())
	name := "nextoria_bench_" + strings.ToLower(rand.Text()[:12])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return nil, fmt.Errorf("create database %s: %w", name, err)
	}
	db := *u
	db.Path, db.RawPath = "/"+name, ""
	return &benchDatabase{admin: adminURL, name: name, url: db.String()}, nil
}

// drop removes the database, disconnecting whoever is still connected.
func (d *benchDatabase) drop(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, d.admin)
	if err != nil {
		return fmt.Errorf("drop database %s: %w", d.name, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{d.name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", d.name, err)
	}
	return nil
}

// postgresVersion asks the server for SELECT version(); it returns "unknown"
// when the server cannot be reached.
func postgresVersion(ctx context.Context, adminURL string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "unknown"
	}
	defer conn.Close(context.Background())
	var v string
	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&v); err != nil {
		return "unknown"
	}
	return v
}

// reportedSettings are the PostgreSQL settings the report shows.
var reportedSettings = []string{"autovacuum", "synchronous_commit", "fsync", "shared_buffers", "max_connections"}

// postgresSettings reads reportedSettings as "name=value"; nil when the
// server cannot be reached.
func postgresSettings(ctx context.Context, adminURL string) []string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return nil
	}
	defer conn.Close(context.Background())
	var out []string
	for _, name := range reportedSettings {
		var v string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&v); err == nil {
			out = append(out, name+"="+v)
		}
	}
	return out
}

// buildCommand compiles the package ./cmd/<name> of the module in srcDir
// into dir and returns the binary's path.
func buildCommand(ctx context.Context, srcDir, name, dir string) (string, error) {
	out := filepath.Join(dir, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/"+name)
	cmd.Dir = srcDir
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/%s: %w\n%s", name, err, b)
	}
	return out, nil
}

// childEnv is the environment of the processes the benchmark starts: ours
// without any NEXTORIA_ variable (a developer's shell settings must not leak
// into the measured configuration, nor the benchmark's own credentials),
// plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NEXTORIA_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// authzCLI runs the nextoria-authz administration commands through their
// scriptable contract (--json).
type authzCLI struct {
	bin string
	env []string
}

// run executes the command with stdin and decodes its JSON output into out.
func (c authzCLI) run(ctx context.Context, stdin string, out any, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, append([]string{"--json"}, args...)...)
	cmd.Env = c.env
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// args hold names and ids only: passwords go through stdin.
	what := "nextoria-authz " + strings.Join(args[:min(2, len(args))], " ")
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", what, err, strings.TrimSpace(stderr.String()))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		return fmt.Errorf("%s: unexpected output: %w", what, err)
	}
	return nil
}

// has reports whether the CLI knows the command `name` (its --help succeeds).
func (c authzCLI) has(ctx context.Context, name string) bool {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, name, "--help")
	cmd.Env = c.env
	return cmd.Run() == nil
}

// process is a server the benchmark started and measures.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	waitErr error
	stopped sync.Once
}

// startProcess starts bin with args and env, its output going to a log
// file in logDir. The child receives SIGTERM if the benchmark dies first.
func startProcess(name, bin string, args, env []string, logDir string) (*process, error) {
	logPath := filepath.Join(logDir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// pid is the process id, read by the /proc samplers.
func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits for a graceful exit, then kills.
func (p *process) stop() {
	p.stopped.Do(func() {
		if p.exited() {
			return
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
}

// logTail returns the last lines of the process's output, for error reports.
func (p *process) logTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// waitReady polls url until it answers ready(status), the process exits or
// the timeout passes.
func (p *process) waitReady(ctx context.Context, url string, timeout time.Duration, ready func(status int) bool) error {
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s exited during start-up (%v):\n%s", p.name, p.waitErr, p.logTail(20))
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
			if ready(resp.StatusCode) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not become ready within %s:\n%s", p.name, timeout, p.logTail(20))
}

// freeLoopbackAddr returns a loopback address with a port nobody listens on.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat times.
var clockTicks = sync.OnceValue(func() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if hz, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err == nil && hz > 0 {
			return hz
		}
	}
	return 100
})

// cpuTime returns the CPU time (user plus system) pid has used so far.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// fields 14 and 15, utime and stime, count from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return time.Duration(float64(utime+stime) / clockTicks() * float64(time.Second)), nil
}

// memory returns VmRSS (resident now) and VmHWM (peak resident) of pid, in bytes.
func memory(pid int) (rss, hwm uint64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status: %s: %w", pid, key, err)
		}
		if key == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	return rss, hwm, sc.Err()
}

// rssSampler records the highest VmRSS of a process, read every 100 ms.
type rssSampler struct {
	stop chan struct{}
	done chan struct{}
	peak uint64
}

func sampleRSS(pid int) *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan struct{})}
	read := func() {
		if rss, _, err := memory(pid); err == nil {
			s.peak = max(s.peak, rss)
		}
	}
	go func() {
		defer close(s.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		read()
		for {
			select {
			case <-s.stop:
				read()
				return
			case <-t.C:
				read()
			}
		}
	}()
	return s
}

// finish stops sampling and returns the peak in bytes.
func (s *rssSampler) finish() uint64 {
	close(s.stop)
	<-s.done
	return s.peak
}

// meter measures one process over a timed run: CPU time used and peak RSS.
type meter struct {
	pid     int
	cpu0    time.Duration
	sampler *rssSampler
}

func startMeter(p *process) *meter {
	if p == nil {
		return nil
	}
	m := &meter{pid: p.pid()}
	m.cpu0, _ = cpuTime(m.pid)
	m.sampler = sampleRSS(m.pid)
	return m
}

// finish returns the CPU time used since startMeter and the peak RSS.
func (m *meter) finish() (time.Duration, uint64, error) {
	peak := m.sampler.finish()
	cpu1, err := cpuTime(m.pid)
	if err != nil {
		return 0, peak, err
	}
	return cpu1 - m.cpu0, peak, nil
}
