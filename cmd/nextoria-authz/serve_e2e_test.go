package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage/storagetest"
)

// TestE2ENotFound: unknown API paths answer in the documented envelope,
// unknown pages with the HTML error page.
func TestE2ENotFound(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	resp, err := http.Get(s.URL + "/v1/nothing-here")
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Status  int    `json:"status"`
		} `json:"error"`
	}
	if err := jsonDecode(resp, &env); err != nil || resp.StatusCode != 404 || env.Error.Code != "NOT_FOUND" || env.Error.Status != 404 || env.Error.Message == "" {
		t.Fatalf("API 404: %d %+v %v", resp.StatusCode, env, err)
	}
	p := s.newBrowser(t).get(s.URL + "/no-such-page")
	if p.StatusCode != 404 || !strings.Contains(p.Header.Get("Content-Type"), "text/html") || !strings.Contains(p.Body, `data-testid="error-title"`) {
		t.Fatalf("page 404: %d %.200s", p.StatusCode, p.Body)
	}
}

// runApp runs the server with cfg (not in dev mode unless dev) on ln.
func runApp(t *testing.T, cfg Config, dev bool, ln net.Listener) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := newApp(ctx, cfg, dev, slog.New(slog.DiscardHandler))
	if err != nil {
		cancel()
		t.Fatalf("start server: %v", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = a.run(ctx, ln) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		a.close()
	})
}

// TestServeTLS: with tls.cert_file and tls.key_file the server speaks HTTPS
// and nothing else.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile := writeTestCert(t, t.TempDir())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	cfg.Listen = ln.Addr().String()
	cfg.Issuer = "https://auth.example.com"
	cfg.OAuth.Audience = cfg.Issuer
	cfg.Database.URL = storagetest.NewDatabase(t)
	cfg.Secrets.System = secret.Token()
	cfg.TLS.CertFile, cfg.TLS.KeyFile = certFile, keyFile
	runApp(t, cfg, false, ln)

	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "auth.example.com"}}}
	resp, err := client.Get("https://" + cfg.Listen + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatalf("HTTPS request: %v", err)
	}
	var meta map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if resp.StatusCode != 200 || meta["issuer"] != "https://auth.example.com" || resp.TLS == nil {
		t.Fatalf("metadata over HTTPS: %d %v", resp.StatusCode, meta)
	}
	if resp, err := http.Get("http://" + cfg.Listen + "/health/live"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 && strings.Contains(string(body), "ok") {
			t.Fatal("plain HTTP was served")
		}
	}
}

// TestServeBehindProxy: behind a TLS-terminating proxy a request whose
// forwarded protocol is not https is refused; health checks are exempt.
func TestServeBehindProxy(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	cfg.Listen = ln.Addr().String()
	cfg.Issuer = "https://auth.example.com"
	cfg.OAuth.Audience = cfg.Issuer
	cfg.Database.URL = storagetest.NewDatabase(t)
	cfg.Secrets.System = secret.Token()
	cfg.Proxy.Trusted = true
	runApp(t, cfg, false, ln)
	base := "http://" + cfg.Listen
	get := func(path, proto string) int {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if proto != "" {
			req.Header.Set("X-Forwarded-Proto", proto)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		path, proto string
		want        int
	}{
		{"/login", "", http.StatusForbidden},
		{"/login", "http", http.StatusForbidden},
		{"/login", "https", http.StatusOK},
		{"/.well-known/oauth-authorization-server", "https", http.StatusOK},
		{"/health/live", "", http.StatusOK},
	} {
		if got := get(tc.path, tc.proto); got != tc.want {
			t.Errorf("GET %s with X-Forwarded-Proto %q: %d, want %d", tc.path, tc.proto, got, tc.want)
		}
	}
}

// TestServeRefusesPlainHTTP: without TLS, a proxy or --dev the server does not start.
func TestServeRefusesPlainHTTP(t *testing.T) {
	t.Parallel()
	cfg := defaultConfig()
	cfg.Secrets.System = secret.Token()
	cfg.OAuth.Audience = cfg.Issuer
	_, err := newApp(t.Context(), cfg, false, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "TLS") {
		t.Fatalf("plain HTTP without --dev: %v", err)
	}
}
