package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/jackc/pgx/v5"
	"github.com/nextoria/authz/storage"
)

// pgBouncerBinary returns Debian's pgbouncer. Without it the test is
// skipped on a workstation and fails in CI (CI=true), where
// scripts/test.sh installs it.
func pgBouncerBinary(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"pgbouncer", "/usr/sbin/pgbouncer"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("pgbouncer is not installed (scripts/test.sh installs it from Debian)")
	}
	t.Skip("pgbouncer is not installed; run bash scripts/test.sh, which installs it")
	return ""
}

// startPgBouncer runs a pgbouncer in transaction pooling mode on a free
// loopback port in front of target (host:port of PostgreSQL), serving
// every database with at most poolSize server connections each, and
// returns its address and the path of its log.
func startPgBouncer(t *testing.T, target string, poolSize int) (addr, logFile string) {
	t.Helper()
	bin := pgBouncerBinary(t)
	host, port, ok := strings.Cut(target, ":")
	if !ok {
		t.Fatalf("target %q is not host:port", target)
	}
	dir, err := os.MkdirTemp("", "nextoria-pgbouncer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	// pgbouncer refuses to run as root; it then drops to nobody, who must
	// read the configuration and write the log.
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	addr = freePort(t)
	_, listenPort, _ := strings.Cut(addr, ":")
	logFile = filepath.Join(dir, "pgbouncer.log")
	ini := fmt.Sprintf(`[databases]
* = host=%s port=%s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %s
unix_socket_dir =
auth_type = trust
auth_file = %s
pool_mode = transaction
default_pool_size = %d
max_client_conn = 200
; pgx sends statement_timeout as a startup parameter; pgbouncer refuses
; unknown ones. The server-side timeout comes from the database's own
; setting instead (ALTER DATABASE ... SET statement_timeout).
ignore_startup_parameters = statement_timeout
logfile = %s
`, host, port, listenPort, filepath.Join(dir, "users.txt"), poolSize, logFile)
	for name, content := range map[string]string{"pgbouncer.ini": ini, "users.txt": `"postgres" ""` + "\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{filepath.Join(dir, "pgbouncer.ini")}
	if os.Geteuid() == 0 {
		args = append([]string{"-u", "nobody"}, args...)
	}
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start pgbouncer: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		pool, err := storage.ConnectPool(t.Context(), "postgres://postgres@"+addr+"/postgres?sslmode=disable",
			storage.PoolOptions{MaxConns: 1, QueryExecMode: pgxExec})
		if err == nil {
			pool.Close()
			return addr, logFile
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile)
			t.Fatalf("pgbouncer did not accept connections: %v\n%s", err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pgxExec is the query execution mode the server needs behind PgBouncer.
var pgxExec, _ = storage.ParseQueryExecMode("exec")

// TestE2EThroughPgBouncer runs the server's core flows with its database
// connections going through PgBouncer in transaction pooling mode, with
// database.query_exec_mode=exec and migrations on a direct connection
// (database.migrate_url). The pooler has fewer server connections than the
// server's pool has clients, so consecutive transactions of one pgx
// connection land on different PostgreSQL sessions.
func TestE2EThroughPgBouncer(t *testing.T) {
	t.Parallel()
	var bouncerLog, dbName string
	s := startE2E(t, func(c *Config) {
		u, err := url.Parse(c.Database.URL)
		if err != nil {
			t.Fatal(err)
		}
		dbName = strings.TrimPrefix(u.Path, "/")
		// The statement timeout PgBouncer does not pass on, set where it
		// applies to every session the pooler opens.
		direct, err := storage.Connect(t.Context(), c.Database.URL, 1)
		if err != nil {
			t.Fatal(err)
		}
		_, err = direct.Exec(t.Context(), fmt.Sprintf(`ALTER DATABASE %q SET statement_timeout = '5s'`, dbName))
		direct.Close()
		if err != nil {
			t.Fatal(err)
		}
		var addr string
		addr, bouncerLog = startPgBouncer(t, u.Host, 3)
		c.Database.MigrateURL = c.Database.URL
		u.Host = addr
		c.Database.URL = u.String()
		c.Database.QueryExecMode = "exec"
		c.Database.MaxConns = 8
	})
	ctx := t.Context()
	if log, err := os.ReadFile(bouncerLog); err != nil || !strings.Contains(string(log), "db="+dbName) {
		t.Fatalf("the server's connections did not go through pgbouncer (log: %v)\n%s", err, log)
	}
	var timeout string
	if err := s.store.Pool().QueryRow(ctx, `SHOW statement_timeout`).Scan(&timeout); err != nil || timeout != "5s" {
		t.Errorf("statement_timeout through pgbouncer = %q (%v), want the database's 5s", timeout, err)
	}

	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	introspect := s.introspector(t)

	t.Run("code flow with PKCE, then refreshes on several grants at once", func(t *testing.T) {
		const grants, rounds = 4, 3
		toks := make([]*oauth2.Token, grants)
		for i := range toks {
			toks[i] = s.tokens(t, conf)
		}
		var wg sync.WaitGroup
		errs := make(chan error, grants)
		for _, tok := range toks {
			wg.Go(func() {
				rt := tok.RefreshToken
				for r := range rounds {
					resp, body := refresh(t, conf, rt)
					if resp.StatusCode != http.StatusOK {
						errs <- fmt.Errorf("refresh %d: %d %v", r, resp.StatusCode, body)
						return
					}
					rt = body["refresh_token"].(string)
					if m := introspect(body["access_token"].(string), ""); m["active"] != true {
						errs <- fmt.Errorf("fresh access token inactive: %v", m)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})

	t.Run("introspection of an access token and an API key", func(t *testing.T) {
		tok := s.tokens(t, conf)
		if m := introspect(tok.AccessToken, "access_token"); m["active"] != true || m["client_id"] != s.ClientID {
			t.Errorf("access token: %v", m)
		}
		_, raw, err := s.app.apiKeys.Create(ctx, s.WorkspaceID, s.UserID, "Through the pooler", []string{"projects:read"}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if m := introspect(raw, ""); m["active"] != true || m["token_type"] != "api_key" {
			t.Errorf("API key: %v", m)
		}
	})

	t.Run("revocation", func(t *testing.T) {
		tok := s.tokens(t, conf)
		resp, body := postForm(t, s.URL+"/v1/oauth/revoke",
			url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}}, s.ClientID, s.ClientSecret)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("revoke: %d %v", resp.StatusCode, body)
		}
		for _, tk := range []string{tok.AccessToken, tok.RefreshToken} {
			if m := introspect(tk, ""); m["active"] != false {
				t.Errorf("after revocation: %v", m)
			}
		}
	})

	t.Run("OIDC code exchange", func(t *testing.T) {
		c := s.registerOIDCApp(t, "ES256")
		nonce := "n-" + oauth2.GenerateVerifier()
		_, idt, _ := c.signIn(t, s.newBrowser(t), nonce)
		if idt.Nonce != nonce || idt.Subject != s.UserID {
			t.Errorf("ID token nonce %q sub %q", idt.Nonce, idt.Subject)
		}
	})

	t.Run("concurrent refreshes of one grant leave one live chain", func(t *testing.T) {
		const n = 8
		tok := s.tokens(t, conf)
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			ok       []string
			failures []string
		)
		start := make(chan struct{})
		for range n {
			wg.Go(func() {
				<-start
				resp, body := refresh(t, conf, tok.RefreshToken)
				mu.Lock()
				defer mu.Unlock()
				if resp.StatusCode == http.StatusOK {
					ok = append(ok, body["refresh_token"].(string))
				} else {
					failures = append(failures, fmt.Sprintf("%d %v", resp.StatusCode, body))
				}
			})
		}
		close(start)
		wg.Wait()
		if len(ok) != n {
			t.Fatalf("%d of %d concurrent refreshes succeeded: %v", len(ok), n, failures)
		}
		var live int
		for _, rt := range ok {
			if introspect(rt, "refresh_token")["active"] == true {
				live++
			}
		}
		if live != 1 {
			t.Errorf("%d live refresh tokens after the race, want exactly 1", live)
		}
	})

	// The observation that makes the setting necessary: pgx's default mode
	// prepares named statements on a session, and the pooler hands the next
	// transaction to another session that has never seen them.
	t.Run("the default query execution mode fails through the pooler", func(t *testing.T) {
		// Deterministic rather than by chance: client a prepares a statement
		// on some server session; other clients then hold server sessions
		// in open transactions until one of them holds that very session;
		// a's next execution must then go to another session, which has
		// never seen the statement. (Concurrent load alone may never show
		// it: on a slow machine the clients take turns and the pooler hands
		// every one the same, most recently used, session.)
		qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		a, err := pgx.Connect(qctx, s.cfg.Database.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close(context.Background())
		const q = `SELECT pg_backend_pid() + 0 * $1::int`
		// Each attempt: a runs the statement on some session (prepared
		// there), then one holder opens a transaction; when the pooler gave
		// the holder that very session (it hands out the most recently used
		// one first), a is pinned out of it. The pool has 3 sessions, and one
		// holder at a time leaves a a free one.
		var prepared int
		pinned := false
		for attempt := range 5 {
			if err := a.QueryRow(qctx, q, attempt).Scan(&prepared); err != nil {
				t.Fatalf("execution %d: %v", attempt, err)
			}
			h, err := pgx.Connect(qctx, s.cfg.Database.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close(context.Background())
			tx, err := h.Begin(qctx)
			if err != nil {
				t.Fatal(err)
			}
			var pid int
			if err := tx.QueryRow(qctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
				t.Fatal(err)
			}
			if pid == prepared {
				defer tx.Rollback(context.Background())
				pinned = true
				break
			}
			_ = tx.Rollback(qctx)
		}
		if !pinned {
			t.Fatalf("no holder got server session %d in 5 attempts: is pgbouncer in transaction mode?", prepared)
		}
		var again int
		err = a.QueryRow(qctx, q, 99).Scan(&again)
		t.Logf("cache_statement through pgbouncer, prepared on session %d, executed again: %v", prepared, err)
		if err == nil {
			t.Fatalf("cache_statement worked on session %d while session %d, where it was prepared, was held: is pgbouncer in transaction mode?", again, prepared)
		}
		if !strings.Contains(err.Error(), "prepared statement") {
			t.Errorf("unexpected kind of failure: %v", err)
		}
	})
}
