package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/nextoria/authz/authz"
	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/storagetest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// serverBinary builds nextoria-authz once per test run.
func serverBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nextoria-authz-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "nextoria-authz")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startProcess runs `nextoria-authz serve --dev` as its own process and waits
// until it is ready.
func startProcess(t *testing.T, env []string, listen string) string {
	t.Helper()
	return startServerProcess(t, env, listen, nil).URL
}

// serverProcess is a running `nextoria-authz serve --dev`.
type serverProcess struct {
	URL    string
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
	err    error         // cmd.Wait's result, once exited is closed
}

// startServerProcess is startProcess returning the process; stderr, when not
// nil, receives its log. Unless env sets NEXTORIA_SHUTDOWN_DRAIN, it stops
// without a drain. Cleanup stops it with SIGTERM if it still runs.
func startServerProcess(t *testing.T, env []string, listen string, stderr io.Writer) *serverProcess {
	t.Helper()
	cmd := exec.Command(serverBinary(t), "serve", "--dev")
	cmd.Env = append(os.Environ(), "NEXTORIA_SHUTDOWN_DRAIN=0s", "NEXTORIA_LOG_LEVEL=warn")
	cmd.Env = append(cmd.Env, append(env, "NEXTORIA_LISTEN="+listen)...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if os.Getenv("NEXTORIA_TEST_LOG") == "" {
		cmd.Stdout, cmd.Stderr = nil, nil
	}
	if stderr != nil {
		cmd.Stderr = stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serverProcess{URL: "http://" + listen, cmd: cmd, exited: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(40 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("server process did not stop on SIGTERM")
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(p.URL + "/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("server on %s did not become ready", listen)
	return nil
}

// twoInstances starts two server processes on one database. The returned
// e2eServer points at the first; the second's base URL is returned too.
func twoInstances(t *testing.T, extraEnv ...string) (*e2eServer, string) {
	t.Helper()
	s, _, urlB := twoServerProcesses(t, nil, extraEnv...)
	return s, urlB
}

// twoServerProcesses is twoInstances returning the first process, whose
// log goes to logA when it is not nil.
func twoServerProcesses(t *testing.T, logA io.Writer, extraEnv ...string) (*e2eServer, *serverProcess, string) {
	t.Helper()
	dbURL := storagetest.NewDatabase(t)
	system := secret.Token()
	first, second := freePort(t), freePort(t)
	issuer := "http://" + first
	env := append([]string{
		"NEXTORIA_DATABASE_URL=" + dbURL,
		"NEXTORIA_SECRETS_SYSTEM=" + system,
		"NEXTORIA_ISSUER=" + issuer,
	}, extraEnv...)
	procA := startServerProcess(t, env, first, logA)
	urlB := startProcess(t, env, second) // after A: demo seeding is idempotent, not concurrent

	pool, err := storage.Connect(t.Context(), dbURL, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	keys, err := secret.DeriveKeys(system)
	if err != nil {
		t.Fatal(err)
	}
	s := &e2eServer{URL: procA.URL, store: storage.New(pool, storage.Options{Audience: []string{issuer}}), keys: keys, Email: "grace@example.com"}
	ws, err := s.store.CreateWorkspace(t.Context(), "Two Instances", storage.PlanScale)
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := secret.HashPassword(e2ePassword)
	u, err := s.store.CreateUser(t.Context(), storage.NewUser{Email: s.Email, PasswordHash: hash, WorkspaceID: ws.ID})
	if err != nil {
		t.Fatal(err)
	}
	s.WorkspaceID, s.UserID, s.RedirectURI = ws.ID, u.ID, "http://127.0.0.1:9/callback"
	s.ClientID, s.ClientSecret = s.registerApp(t, "Twin App", false, []string{s.RedirectURI}, []string{"projects:read", "tasks:read"})
	return s, procA, urlB
}

// on returns conf pointed at another instance's token endpoint.
func on(conf *oauth2.Config, base string) *oauth2.Config {
	c := *conf
	c.Endpoint.TokenURL = base + "/v1/oauth/token"
	return &c
}

// TestTwoProcessesCodeRedemption: 20 parallel redemptions of one code, spread
// over two server processes, yield exactly one token response, and the tokens
// of that response are revoked as the code was replayed.
func TestTwoProcessesCodeRedemption(t *testing.T) {
	t.Parallel()
	s, urlB := twoInstances(t)
	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	v := oauth2.GenerateVerifier()
	code := s.newBrowser(t).code(conf.AuthCodeURL("state-two-procs", oauth2.S256ChallengeOption(v)), "state-two-procs")
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		winner *oauth2.Token
		wins   int
	)
	start := make(chan struct{})
	for i := range 20 {
		c := conf
		if i%2 == 1 {
			c = on(conf, urlB)
		}
		wg.Go(func() {
			<-start
			tok, err := c.Exchange(context.Background(), code, oauth2.VerifierOption(v))
			if err == nil {
				mu.Lock()
				wins++
				winner = tok
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d successful redemptions across two processes, want exactly 1", wins)
	}
	introspect := s.introspector(t)
	if m := introspect(winner.RefreshToken, ""); m["active"] != false {
		t.Errorf("the replayed code's refresh token is still active: %v", m)
	}
}

// TestTwoProcessesRefresh: 20 parallel refreshes of one token over two
// processes all succeed within the grace period, yet exactly one chain
// survives; reuse after the grace period revokes the whole grant.
func TestTwoProcessesRefresh(t *testing.T) {
	t.Parallel()
	s, urlB := twoInstances(t, "NEXTORIA_OAUTH_REFRESH_GRACE_PERIOD=5s")
	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	tok := s.tokens(t, conf)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		issued []string
		errs   []string
	)
	start := make(chan struct{})
	for i := range 20 {
		c := conf
		if i%2 == 1 {
			c = on(conf, urlB)
		}
		wg.Go(func() {
			<-start
			resp, body := refresh(t, c, tok.RefreshToken)
			mu.Lock()
			defer mu.Unlock()
			if resp.StatusCode == http.StatusOK {
				issued = append(issued, body["access_token"].(string), body["refresh_token"].(string))
			} else {
				errs = append(errs, fmt.Sprint(body["error"]))
			}
		})
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of 20 refreshes failed within the grace period: %v", len(errs), errs)
	}
	if n := s.activeRefreshTokens(t, s.ClientID); n != 1 {
		t.Errorf("%d active refresh tokens for the grant, want 1", n)
	}
	introspect := s.introspector(t)
	var live []string
	for _, tk := range issued {
		if m := introspect(tk, ""); m["active"] == true {
			live = append(live, tk)
		}
	}
	if len(live) != 2 {
		t.Fatalf("%d of the burst's tokens are live, want one access and one refresh token", len(live))
	}
	time.Sleep(5500 * time.Millisecond)
	resp, body := refresh(t, on(conf, urlB), tok.RefreshToken)
	if resp.StatusCode != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("reuse after the grace period: %d %v", resp.StatusCode, body)
	}
	for _, tk := range live {
		if m := introspect(tk, ""); m["active"] != false {
			t.Fatalf("reuse after grace must revoke every token of the grant: %v", m)
		}
	}
}

// TestTwoProcessesKeyRotation: a key rotated by the CLI is used by one
// instance and its tokens verify on the other at once.
func TestTwoProcessesKeyRotation(t *testing.T) {
	t.Parallel()
	s, urlB := twoInstances(t)
	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	before := s.tokens(t, conf)
	kid, _, err := authz.RotateKey(t.Context(), s.store, s.keys.Seal, 0)
	if err != nil {
		t.Fatal(err)
	}
	introspect := s.introspector(t)
	// Instance B picks up the rotation within its reload interval (30 s);
	// restart-free. Poll its JWKS until it publishes the new key.
	deadline := time.Now().Add(45 * time.Second)
	for time.Now().Before(deadline) {
		var set struct {
			Keys []struct {
				KID string `json:"kid"`
			} `json:"keys"`
		}
		getJSON(t, urlB+"/.well-known/jwks.json", &set)
		if len(set.Keys) == 2*len(authz.KeyAlgs) { // the retired pair and the new one
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	// Tokens issued through B now carry the new kid and introspect active on A.
	bConf := on(conf, urlB)
	resp, body := refresh(t, bConf, before.RefreshToken)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh on B: %v", body)
	}
	if got := kidOf(t, body["access_token"].(string)); got != kid {
		t.Fatalf("B signed with %s after the rotation, want %s", got, kid)
	}
	if m := introspect(body["access_token"].(string), ""); m["active"] != true {
		t.Fatalf("A rejects B's token signed with the new key: %v", m)
	}
}
