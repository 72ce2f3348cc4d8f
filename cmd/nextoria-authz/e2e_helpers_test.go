package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/nextoria/authz/apps"
	"github.com/nextoria/authz/consent"
	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/storagetest"
)

const e2ePassword = "correct horse battery staple"

// e2eServer is a real server on a loopback port with its own database,
// a workspace, a user and a confidential app.
type e2eServer struct {
	URL          string
	cfg          Config
	app          *app
	store        *storage.Store
	keys         secret.Keys
	UserID       string
	WorkspaceID  string
	Email        string
	ClientID     string
	ClientSecret string
	RedirectURI  string
}

// startE2E starts the server as `serve --dev` would, minus the demo data.
func startE2E(t testing.TB, mutate ...func(*Config)) *e2eServer {
	t.Helper()
	return startE2EWrapped(t, nil, mutate...)
}

// startE2EWrapped is startE2E with the server's handler wrapped in wrap
// (when not nil), outermost.
func startE2EWrapped(t testing.TB, wrap func(http.Handler) http.Handler, mutate ...func(*Config)) *e2eServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	cfg.Listen = ln.Addr().String()
	cfg.Issuer = "http://" + ln.Addr().String()
	cfg.OAuth.Audience = cfg.Issuer
	cfg.Database.URL = storagetest.NewDatabase(t)
	cfg.Secrets.System = secret.Token()
	cfg.Shutdown.Drain = 0 // no load balancer to wait for
	for _, m := range mutate {
		m(&cfg)
	}
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("NEXTORIA_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := newApp(ctx, cfg, true, logger)
	if err != nil {
		cancel()
		t.Fatalf("start server: %v", err)
	}
	if wrap != nil {
		a.handler = wrap(a.handler)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := a.run(ctx, ln); err != nil {
			t.Errorf("server stopped: %v", err)
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		a.close()
	})
	s := &e2eServer{URL: cfg.Issuer, cfg: cfg, app: a, store: a.store, keys: a.keys, Email: "ada@example.com"}
	ws, err := a.store.CreateWorkspace(t.Context(), "Analytical Engines", storage.PlanGrowth)
	if err != nil {
		t.Fatal(err)
	}
	s.WorkspaceID = ws.ID
	hash, err := secret.HashPassword(e2ePassword)
	if err != nil {
		t.Fatal(err)
	}
	u, err := a.store.CreateUser(t.Context(), storage.NewUser{Email: s.Email, PasswordHash: hash, WorkspaceID: ws.ID, Role: storage.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	s.UserID = u.ID
	s.RedirectURI = "http://127.0.0.1:9/callback"
	s.ClientID, s.ClientSecret = s.registerApp(t, "Test App", false, []string{s.RedirectURI}, consent.Names())
	return s
}

// allowRedirect adds uri to the redirect URIs of the test workspace's "Test
// App": a confidential app's redirect URI must match a registered one exactly.
func (s *e2eServer) allowRedirect(t *testing.T, uri string) {
	t.Helper()
	app, err := s.store.GetApp(t.Context(), s.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.UpdateApp(t.Context(), s.ClientID, storage.AppUpdate{
		Name: app.Name, RedirectURIs: append(app.RedirectURIs, uri), Scopes: app.Scopes,
		HomepageURL: app.HomepageURL, PrivacyURL: app.PrivacyURL, Description: app.Description,
		PostLogoutRedirectURIs: app.PostLogoutRedirectURIs,
	}); err != nil {
		t.Fatal(err)
	}
}

// registerApp registers an app in the test workspace and returns its credentials.
func (s *e2eServer) registerApp(t testing.TB, name string, public bool, redirects, scopes []string) (string, string) {
	t.Helper()
	svc := apps.Service{Store: s.store, Hasher: secret.NewHasher(s.keys.SecretHash)}
	app, sec, err := svc.Register(t.Context(), apps.Registration{
		Name: name, RedirectURIs: redirects, Scopes: scopes, Public: public,
		WorkspaceID: s.WorkspaceID, OwnerID: s.UserID,
	})
	if err != nil {
		t.Fatalf("register app: %v", err)
	}
	return app.ClientID, sec
}

// oauthConfig is how a third-party app configures golang.org/x/oauth2.
func (s *e2eServer) oauthConfig(style oauth2.AuthStyle, scopes ...string) *oauth2.Config {
	if len(scopes) == 0 {
		scopes = []string{"projects:read", "tasks:read"}
	}
	return &oauth2.Config{
		ClientID:     s.ClientID,
		ClientSecret: s.ClientSecret,
		Endpoint: oauth2.Endpoint{
			AuthURL:   s.URL + "/oauth/authorize",
			TokenURL:  s.URL + "/v1/oauth/token",
			AuthStyle: style,
		},
		RedirectURL: s.RedirectURI,
		Scopes:      scopes,
	}
}

// browser is a cookie-keeping HTTP client that follows redirects within the
// server and stops at the first redirect that leaves it.
type browser struct {
	t      *testing.T
	s      *e2eServer
	client *http.Client
}

func (s *e2eServer) newBrowser(t *testing.T) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if !strings.HasPrefix(req.URL.String(), s.URL+"/") {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	return &browser{t: t, s: s, client: c}
}

// page is a fetched response with its body read.
type page struct {
	*http.Response
	Body string
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	p := page{Response: resp, Body: string(body)}
	if m := metaRefresh.FindStringSubmatch(p.Body); m != nil && resp.StatusCode == http.StatusOK {
		// Like a browser, follow the refresh of the page a sign-in lands on.
		next, err := resp.Request.URL.Parse(htmlUnescape(m[1]))
		if err != nil {
			b.t.Fatal(err)
		}
		return b.get(next.String())
	}
	return p
}

// metaRefresh finds a page's immediate meta refresh.
var metaRefresh = regexp.MustCompile(`<meta http-equiv="refresh" content="0;url=([^"]*)"`)

func (b *browser) get(u string) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

func (b *browser) post(u string, form url.Values, header ...string) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

var hiddenInput = regexp.MustCompile(`name="([a-z_]+)" value="([^"]*)"`)

// hidden returns the hidden form fields of a page.
func hidden(body string) url.Values {
	v := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(body, -1) {
		v.Set(m[1], htmlUnescape(m[2]))
	}
	return v
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">").Replace(s)
}

// signIn opens authURL, lands on the sign-in page and signs in; it returns
// the page the sign-in leads to (consent, or a redirect to the client).
func (b *browser) signIn(authURL string) page {
	b.t.Helper()
	p := b.get(authURL)
	if p.StatusCode != http.StatusOK || !strings.Contains(p.Request.URL.Path, "/login") {
		b.t.Fatalf("expected the sign-in page, got %d at %s", p.StatusCode, p.Request.URL)
	}
	f := hidden(p.Body)
	f.Set("email", b.s.Email)
	f.Set("password", e2ePassword)
	return b.post(b.s.URL+"/login", f)
}

// decide answers a consent page.
func (b *browser) decide(consentPage page, decision string) page {
	b.t.Helper()
	f := hidden(consentPage.Body)
	if f.Get("challenge") == "" {
		b.t.Fatalf("not a consent page (status %d): %.300s", consentPage.StatusCode, consentPage.Body)
	}
	f.Set("decision", decision)
	return b.post(b.s.URL+"/oauth/authorize", f)
}

// authorize runs the browser part of the flow (sign-in if needed, Allow)
// and returns the redirect to the client.
func (b *browser) authorize(authURL string) *url.URL {
	b.t.Helper()
	p := b.get(authURL)
	if strings.Contains(p.Request.URL.Path, "/login") {
		p = b.signIn(authURL)
	}
	if p.StatusCode == http.StatusOK {
		p = b.decide(p, "allow")
	}
	return b.clientRedirect(p)
}

// clientRedirect asserts that p redirects to the app with 303 and returns the target.
func (b *browser) clientRedirect(p page) *url.URL {
	b.t.Helper()
	if p.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("expected 303 to the client, got %d: %.300s", p.StatusCode, p.Body)
	}
	u, err := url.Parse(p.Header.Get("Location"))
	if err != nil {
		b.t.Fatal(err)
	}
	if !strings.HasPrefix(u.String(), b.s.RedirectURI) && !strings.HasPrefix(u.Scheme+"://"+u.Host, "http://127.0.0.1") {
		b.t.Fatalf("redirect leaves to %s", u)
	}
	return u
}

// code runs the flow and returns the code, checking state and iss.
func (b *browser) code(authURL, state string) string {
	b.t.Helper()
	u := b.authorize(authURL)
	q := u.Query()
	if q.Get("error") != "" {
		b.t.Fatalf("authorization failed: %s: %s", q.Get("error"), q.Get("error_description"))
	}
	if q.Get("state") != state {
		b.t.Fatalf("state = %q, want %q", q.Get("state"), state)
	}
	if q.Get("iss") != b.s.URL {
		b.t.Fatalf("iss = %q, want %q", q.Get("iss"), b.s.URL)
	}
	if q.Get("code") == "" {
		b.t.Fatal("no code in the redirect")
	}
	return q.Get("code")
}

// tokenError extracts the RFC 6749 error code from an oauth2 error.
func tokenError(t *testing.T, err error) string {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("expected a token endpoint error, got %v", err)
	}
	return re.ErrorCode
}
