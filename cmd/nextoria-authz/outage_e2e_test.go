package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// pgProxy forwards TCP connections to PostgreSQL until it is cut. Cut
// closes every live connection and then refuses new ones (the database is
// down); Stall keeps every connection open but forwards nothing more, and
// accepts new connections without ever answering them (a black-holed
// network); Restore forwards again.
type pgProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	mode  proxyMode
	conns map[net.Conn]struct{}
}

type proxyMode int

const (
	proxyForward proxyMode = iota
	proxyRefuse
	proxyStall
)

func startPGProxy(t *testing.T, target string) *pgProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pgProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	var wg sync.WaitGroup
	wg.Go(p.serve)
	t.Cleanup(func() {
		_ = ln.Close()
		p.closeAll()
		wg.Wait()
	})
	return p
}

func (p *pgProxy) Addr() string { return p.ln.Addr().String() }

func (p *pgProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		mode := p.mode
		if mode == proxyRefuse {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		if mode == proxyStall {
			continue // held open, never answered
		}
		go p.forward(c)
	}
}

func (p *pgProxy) forward(c net.Conn) {
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		p.drop(c)
		return
	}
	p.mu.Lock()
	p.conns[up] = struct{}{}
	p.mu.Unlock()
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				p.mu.Lock()
				stalled := p.mode == proxyStall
				p.mu.Unlock()
				if !stalled { // stalled: swallow the bytes, answer nothing
					if _, werr := dst.Write(buf[:n]); werr != nil {
						break
					}
				}
			}
			if err != nil {
				break
			}
		}
		p.drop(dst)
		p.drop(src)
	}
	go pipe(up, c)
	pipe(c, up)
}

func (p *pgProxy) drop(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

func (p *pgProxy) closeAll() {
	p.mu.Lock()
	conns := p.conns
	p.conns = map[net.Conn]struct{}{}
	p.mu.Unlock()
	for c := range conns {
		_ = c.Close()
	}
}

// Cut takes the database away: live connections are closed, new ones refused.
func (p *pgProxy) Cut() {
	p.mu.Lock()
	p.mode = proxyRefuse
	p.mu.Unlock()
	p.closeAll()
}

// Stall black-holes the database: nothing is answered any more, on live
// connections or new ones, and nothing is closed.
func (p *pgProxy) Stall() {
	p.mu.Lock()
	p.mode = proxyStall
	p.mu.Unlock()
}

// Restore brings the database back. Connections opened or swallowed during
// a stall are closed: they would carry half a conversation.
func (p *pgProxy) Restore() {
	p.mu.Lock()
	p.mode = proxyForward
	p.mu.Unlock()
	p.closeAll()
}

// startE2EBehindPGProxy starts a server whose database connections go
// through a pgProxy, with outageTimeout as its connect and statement timeout.
func startE2EBehindPGProxy(t *testing.T) (*e2eServer, *pgProxy) {
	t.Helper()
	var proxy *pgProxy
	s := startE2E(t, func(c *Config) {
		u, err := url.Parse(c.Database.URL)
		if err != nil {
			t.Fatal(err)
		}
		proxy = startPGProxy(t, u.Host)
		u.Host = proxy.Addr()
		c.Database.URL = u.String()
		c.Database.ConnectTimeout = outageTimeout
		c.Database.StatementTimeout = outageTimeout
	})
	return s, proxy
}

// outageTimeout is the connect and statement timeout of the outage test; a
// request must be answered well within outageAnswerBound of the failure.
const (
	outageTimeout     = time.Second
	outageAnswerBound = 10 * time.Second
)

// TestDatabaseOutage puts a TCP proxy between the server and PostgreSQL and
// cuts it, then black-holes it. During either outage every endpoint answers
// 503 with Retry-After, fast, in its own shape: temporarily_unavailable JSON
// on the OAuth API (never invalid_client or 401, so clients keep valid
// credentials), the "try again" page in the browser (never "client does not
// exist", never the sign-in page for a signed-in user, never a 500). Once
// the proxy is restored the pool reconnects and the same requests succeed.
func TestDatabaseOutage(t *testing.T) {
	s, proxy := startE2EBehindPGProxy(t)
	rs1ID, rs1Secret := s.resourceServer(t) // used before the outage: cached
	rs2ID, rs2Secret := s.resourceServer(t) // first used during it
	otherID, _ := s.registerApp(t, "Other App", false, []string{s.RedirectURI}, []string{"projects:read"})
	conf := s.oauthConfig(oauth2.AuthStyleInHeader)
	b := s.newBrowser(t) // signed in, has consented to the test app

	for _, outage := range []struct {
		name  string
		start func()
	}{
		{"database down", proxy.Cut},
		{"database black-holed", proxy.Stall},
	} {
		t.Run(outage.name, func(t *testing.T) {
			// Prepared while the database is up: an unredeemed code, a
			// token pair, a pending consent screen, a sign-in form.
			verifier := oauth2.GenerateVerifier()
			code := b.code(conf.AuthCodeURL("state-outage1", oauth2.S256ChallengeOption(verifier)), "state-outage1")
			v2 := oauth2.GenerateVerifier()
			tok, err := conf.Exchange(t.Context(), b.code(conf.AuthCodeURL("state-outage2", oauth2.S256ChallengeOption(v2)), "state-outage2"), oauth2.VerifierOption(v2))
			if err != nil {
				t.Fatal(err)
			}
			if st, body := s.introspectRaw(t, rs1ID, rs1Secret, url.Values{"token": {tok.AccessToken}}); st != http.StatusOK {
				t.Fatalf("introspection before the outage: %d %s", st, body)
			}
			otherConf := *conf
			otherConf.ClientID = otherID
			otherConf.Scopes = []string{"projects:read"}
			otherURL := otherConf.AuthCodeURL("state-outage3", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()),
				oauth2.SetAuthURLParam("prompt", "consent"))
			consentPage := b.get(otherURL)
			consentForm := hidden(consentPage.Body)
			if consentForm.Get("challenge") == "" {
				t.Fatalf("no consent screen (status %d)", consentPage.StatusCode)
			}
			consentForm.Set("decision", "allow")
			visitor := s.newBrowser(t)
			loginPage := visitor.get(s.URL + "/login")
			loginForm := hidden(loginPage.Body)
			loginForm.Set("email", s.Email)
			loginForm.Set("password", e2ePassword)
			authURL := conf.AuthCodeURL("state-outage4", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))

			tokenForm := func(grant string) url.Values {
				if grant == "authorization_code" {
					return url.Values{"grant_type": {grant}, "code": {code}, "redirect_uri": {s.RedirectURI}, "code_verifier": {verifier}}
				}
				return url.Values{"grant_type": {grant}, "refresh_token": {tok.RefreshToken}}
			}
			type check struct {
				name string
				do   func() (int, http.Header, string)
				// up checks the answer once the database is back.
				up func(status int, body string) bool
			}
			api := func(path string, form url.Values, user, pass string) func() (int, http.Header, string) {
				return func() (int, http.Header, string) { return s.postForm(t, path, form, user, pass) }
			}
			browse := func(f func() page) func() (int, http.Header, string) {
				return func() (int, http.Header, string) { p := f(); return p.StatusCode, p.Header, p.Body }
			}
			checks := []check{
				{"token, authorization_code grant", api("/v1/oauth/token", tokenForm("authorization_code"), s.ClientID, s.ClientSecret),
					func(st int, body string) bool { return st == 200 && strings.Contains(body, "access_token") }},
				{"token, refresh_token grant", api("/v1/oauth/token", tokenForm("refresh_token"), s.ClientID, s.ClientSecret),
					func(st int, body string) bool { return st == 200 && strings.Contains(body, "access_token") }},
				{"introspection", api("/v1/oauth/introspect", url.Values{"token": {tok.AccessToken}}, rs1ID, rs1Secret),
					func(st int, body string) bool { return st == 200 && strings.Contains(body, `"active"`) }},
				{"introspection, credentials not cached", api("/v1/oauth/introspect", url.Values{"token": {tok.AccessToken}}, rs2ID, rs2Secret),
					func(st int, body string) bool { return st == 200 && strings.Contains(body, `"active"`) }},
				{"revocation", api("/v1/oauth/revoke", url.Values{"token": {tok.AccessToken}}, s.ClientID, s.ClientSecret),
					func(st int, _ string) bool { return st == 200 }},
				{"authorize, signed in", browse(func() page { return b.get(authURL) }),
					func(st int, _ string) bool { return st == http.StatusSeeOther }},
				{"authorize, signed out", browse(func() page { return s.newBrowser(t).get(authURL) }),
					func(st int, body string) bool { return st == 200 && strings.Contains(body, `name="password"`) }},
				{"consent decision", browse(func() page { return b.post(s.URL+"/oauth/authorize", consentForm) }),
					func(st int, _ string) bool { return st == http.StatusSeeOther }},
				{"sign-in", browse(func() page {
					// Stop at the sign-in's own answer.
					c := *visitor.client
					c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
					vb := &browser{t: t, s: s, client: &c}
					return vb.post(s.URL+"/login", loginForm)
				}),
					func(st int, _ string) bool { return st == http.StatusSeeOther }},
				{"settings page", browse(func() page { return b.get(s.URL + "/settings/api/apps") }),
					func(st int, body string) bool { return st == 200 && strings.Contains(body, "Test App") }},
				{"app logo", browse(func() page { return b.get(s.URL + "/apps/" + url.PathEscape(s.ClientID) + "/logo") }),
					func(st int, _ string) bool { return st == http.StatusNotFound }}, // the test app has no logo
				{"readiness", browse(func() page { return b.get(s.URL + "/health/ready") }),
					func(st int, _ string) bool { return st == 200 }},
			}

			outage.start()
			var slowest time.Duration
			for _, c := range checks {
				start := time.Now()
				status, h, body := c.do()
				took := time.Since(start)
				slowest = max(slowest, took)
				if took > outageAnswerBound {
					t.Errorf("%s: answered after %v, want within %v (timeouts %v)", c.name, took, outageAnswerBound, outageTimeout)
				}
				if status != http.StatusServiceUnavailable {
					t.Errorf("%s: status %d, want 503: %.300s", c.name, status, body)
					continue
				}
				if c.name == "readiness" {
					continue // its own body, as before
				}
				if got := h.Get("Retry-After"); got != "5" {
					t.Errorf("%s: Retry-After = %q, want 5", c.name, got)
				}
				if h.Get("WWW-Authenticate") != "" {
					t.Errorf("%s: WWW-Authenticate %q on a 503", c.name, h.Get("WWW-Authenticate"))
				}
				if strings.HasPrefix(h.Get("Content-Type"), "application/json") {
					var e struct {
						Error       string `json:"error"`
						Description string `json:"error_description"`
					}
					if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error != "temporarily_unavailable" || e.Description == "" {
						t.Errorf("%s: body %s, want error temporarily_unavailable with a description", c.name, body)
					}
					continue
				}
				if c.name == "app logo" {
					continue // an image, not a page
				}
				if !strings.Contains(body, "temporarily unavailable") || !strings.Contains(body, "try again") ||
					strings.Contains(body, "does not exist") {
					t.Errorf("%s: not the try-again page: %.400s", c.name, body)
				}
			}
			t.Logf("%s: slowest answer %v (connect and statement timeouts %v)", outage.name, slowest, outageTimeout)

			proxy.Restore()
			waitReady(t, s)
			for _, c := range checks {
				status, _, body := c.do()
				if !c.up(status, body) {
					t.Errorf("%s after the outage: status %d: %.300s", c.name, status, body)
				}
			}
		})
	}

	t.Run("unknown client while the database is up", func(t *testing.T) {
		status, _, body := s.postForm(t, "/v1/oauth/token",
			url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, "no-such-client", "secret")
		if status != http.StatusUnauthorized || !strings.Contains(body, `"invalid_client"`) {
			t.Errorf("token with an unknown client: %d %s, want 401 invalid_client", status, body)
		}
		status, _, body = s.postForm(t, "/v1/oauth/revoke", url.Values{"token": {"x"}}, "no-such-client", "secret")
		if status != http.StatusUnauthorized || !strings.Contains(body, `"invalid_client"`) {
			t.Errorf("revocation with an unknown client: %d %s, want 401 invalid_client", status, body)
		}
		status, _, body = s.postForm(t, "/v1/oauth/introspect", url.Values{"token": {"x"}}, "no-such-rs", "secret")
		if status != http.StatusUnauthorized || !strings.Contains(body, `"invalid_client"`) {
			t.Errorf("introspection by an unknown resource server: %d %s, want 401 invalid_client", status, body)
		}
		unknown := *conf
		unknown.ClientID = "no-such-client"
		p := b.get(unknown.AuthCodeURL("state-unknown", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		if p.StatusCode != http.StatusBadRequest || !strings.Contains(p.Body, "recognise this app") || p.Header.Get("Retry-After") != "" {
			t.Errorf("authorize with an unknown client: %d, Retry-After %q: %.300s", p.StatusCode, p.Header.Get("Retry-After"), p.Body)
		}
	})
}

// postForm posts a form to the server with HTTP Basic client credentials
// (form-encoded, RFC 6749 §2.3.1) and returns status, headers and body.
func (s *e2eServer) postForm(t *testing.T, path string, form url.Values, user, pass string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

// waitReady waits until the readiness probe passes, and a little longer, so
// the pool has noticed that its old connections are gone.
func waitReady(t *testing.T, s *e2eServer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the server did not become ready after the database came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(1100 * time.Millisecond) // pgxpool pings connections idle for over a second
}
