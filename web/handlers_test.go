package web

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"

	"github.com/nextoria/authz/errpage"
	"github.com/nextoria/authz/reqid"
	"github.com/nextoria/authz/storage"
)

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	good := testConfig(t)
	if _, err := New(good, newFakeStore()); err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
	bad := good
	bad.Issuer = "auth.example.com"
	bad.Keys.CookieHash = nil
	bad.Keys.CookieBlock = []byte("short")
	bad.Keys.CSRF = nil
	bad.SessionLifetime = time.Second
	bad.Apps = nil
	bad.APIKeys = nil
	bad.LoginThrottle = LoginThrottlePolicy{IP: storage.LoginThrottleRule{Limit: 1}}
	_, err := New(bad, nil)
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"store", "apps service", "API key service", "login throttle", "issuer", "cookie hash", "cookie block", "csrf", "session lifetime"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestSessionCookieNameUnderTLS: with an https issuer the session cookie
// carries the __Host- prefix, and the server reads it back.
func TestSessionCookieNameUnderTLS(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, func(c *Config) { c.Issuer = "https://auth.example"; c.SecureCookies = true })
	b := env.browser(t)
	resp := b.login(testEmail, testPassword, "/")
	c := sessionSetCookie(resp)
	if c == nil || c.Name != "__Host-nx_session" || !c.Secure || c.Path != "/" || c.Domain != "" {
		t.Fatalf("session cookie = %+v, want __Host-nx_session, Secure, Path=/, no Domain", c)
	}
	if got := b.get("/probe/principal"); got.StatusCode != http.StatusOK || got.body != testEmail {
		t.Errorf("Principal with the __Host- cookie = %d %q", got.StatusCode, got.body)
	}
	for _, tt := range []struct {
		scheme string
		secure bool
		want   string
	}{{"https", true, SecureCookieName}, {"https", false, CookieName}, {"http", true, CookieName}} {
		if got := sessionCookieName(tt.scheme, tt.secure); got != tt.want {
			t.Errorf("sessionCookieName(%s, %v) = %s, want %s", tt.scheme, tt.secure, got, tt.want)
		}
	}
}

func TestLoginSuccess(t *testing.T) {
	t.Parallel()
	for _, secure := range []bool{true, false} {
		t.Run("secure="+map[bool]string{true: "true", false: "false"}[secure], func(t *testing.T) {
			t.Parallel()
			env := newTestEnv(t, func(c *Config) { c.SecureCookies = secure })
			b := env.browser(t)
			next := "/oauth/authorize?client_id=acme&scope=projects%3Aread+tasks%3Aread&state=xyz"
			resp := b.login(strings.ToUpper(testEmail), testPassword, next)
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("status = %d, want 303; body:\n%s", resp.StatusCode, resp.body)
			}
			if got := b.continueTarget(resp); got != next {
				t.Errorf("sign-in continues to %q, want %q", got, next)
			}
			c := sessionSetCookie(resp)
			if c == nil {
				t.Fatal("no session cookie set")
			}
			if c.Name != "nx_session" { // a plain-HTTP issuer
				t.Errorf("cookie name = %q, want nx_session", c.Name)
			}
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure != secure || c.Path != "/" || c.Domain != "" {
				t.Errorf("cookie HttpOnly=%v SameSite=%v Secure=%v Path=%q Domain=%q", c.HttpOnly, c.SameSite, c.Secure, c.Path, c.Domain)
			}
			if c.MaxAge != int((2 * time.Hour).Seconds()) {
				t.Errorf("cookie MaxAge = %d", c.MaxAge)
			}
			if live, created, _ := env.store.counts(); live != 1 || created != 1 {
				t.Errorf("login sessions live=%d created=%d, want 1, 1", live, created)
			}
			if strings.Contains(c.Value, testUserID) {
				t.Error("cookie carries the user id in clear")
			}

			home := b.get("/")
			if home.StatusCode != http.StatusOK {
				t.Fatalf("GET / status = %d", home.StatusCode)
			}
			doc := parseHTML(t, home.body)
			if got := textOf(oneByTestID(t, doc, "user-email")); got != testEmail {
				t.Errorf("home user-email = %q", got)
			}
			if got := textOf(oneByTestID(t, doc, "workspace-name")); got != "Acme Studio" {
				t.Errorf("home workspace = %q", got)
			}
			if got := b.get("/probe/principal"); got.StatusCode != http.StatusOK || got.body != testEmail {
				t.Errorf("Principal = %d %q", got.StatusCode, got.body)
			}
		})
	}
}

func TestLoginReplacesPreviousSession(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	b := env.browser(t)
	if resp := b.login(testEmail, testPassword, ""); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first sign-in: %d", resp.StatusCode)
	}
	first := b.sessionCookie().Value
	tok := b.get("/probe/csrf/login").body
	resp := b.postForm("/login", url.Values{"csrf_token": {tok}, "email": {testEmail}, "password": {testPassword}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("second sign-in: %d", resp.StatusCode)
	}
	if b.sessionCookie().Value == first {
		t.Error("session cookie not replaced")
	}
	live, created, deleted := env.store.counts()
	if live != 1 || created != 2 || deleted != 1 {
		t.Errorf("sessions live=%d created=%d deleted=%d, want 1, 2, 1", live, created, deleted)
	}
	// The CSRF seed rotates with the sign-in.
	if got := b.get("/probe/csrf/login").body; got == tok {
		t.Error("csrf seed not rotated at sign-in")
	}
}

func TestLoginFailureIsUniform(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	b := env.browser(t)
	const unknown = "nobody@example.com"
	wrong := b.login(testEmail, "not the password", "/next")
	missing := b.login(unknown, "whatever", "/next")

	for name, r := range map[string]response{"wrong password": wrong, "unknown e-mail": missing} {
		if r.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: status = %d, want 401", name, r.StatusCode)
		}
		if sessionSetCookie(r) != nil {
			t.Errorf("%s: a cookie was set", name)
		}
		doc := parseHTML(t, r.body)
		if got := textOf(oneByTestID(t, doc, "login-error")); got != "Incorrect e-mail or password." {
			t.Errorf("%s: message = %q", name, got)
		}
		if got := hiddenFields(t, r.body).Get("next"); got != "/next" {
			t.Errorf("%s: next = %q", name, got)
		}
	}
	if got, _ := attr(oneByTestID(t, parseHTML(t, wrong.body), "email"), "value"); got != testEmail {
		t.Errorf("e-mail not kept: %q", got)
	}
	// Apart from the e-mail typed in, both answers are byte for byte the same.
	a := strings.ReplaceAll(wrong.body, testEmail, "EMAIL")
	c := strings.ReplaceAll(missing.body, unknown, "EMAIL")
	if a != c {
		t.Errorf("bodies differ:\n%s\n---\n%s", a, c)
	}
	if live, created, _ := env.store.counts(); live != 0 || created != 0 {
		t.Errorf("sessions created on failure: live=%d created=%d", live, created)
	}
}

func TestLoginRejectsBadCSRF(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	tests := []struct {
		name  string
		token func(t *testing.T, b *browser) string
		fresh bool // post from a browser that never loaded a page
	}{
		{name: "missing", token: func(*testing.T, *browser) string { return "" }},
		{name: "garbage", token: func(*testing.T, *browser) string { return "AAAA" }},
		{name: "bound to logout", token: func(_ *testing.T, b *browser) string { return b.get("/probe/csrf/logout").body }},
		{name: "other browser's token", token: func(t *testing.T, _ *browser) string {
			return env.browser(t).loginForm("").Get("csrf_token")
		}},
		{name: "no cookie", fresh: true, token: func(t *testing.T, _ *browser) string {
			return env.browser(t).loginForm("").Get("csrf_token")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := env.browser(t)
			if !tt.fresh {
				b.loginForm("")
			}
			resp := b.postForm("/login", url.Values{"csrf_token": {tt.token(t, b)}, "email": {testEmail}, "password": {testPassword}})
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status = %d, want 403", resp.StatusCode)
			}
			oneByTestID(t, parseHTML(t, resp.body), "error-title")
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Error("error page is cacheable")
			}
		})
	}
	t.Cleanup(func() {
		if live, created, _ := env.store.counts(); live != 0 || created != 0 {
			t.Errorf("sessions created despite bad csrf: live=%d created=%d", live, created)
		}
	})
}

func TestLoginNextIsLocal(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	tests := []struct{ next, want string }{
		{"", "/"},
		{"/", "/"},
		{"/oauth/authorize?client_id=a&state=b", "/oauth/authorize?client_id=a&state=b"},
		{"//evil.com", "/"},
		{"//evil.com/path", "/"},
		{"https://evil.com", "/"},
		{"http://evil.com/", "/"},
		{`/\evil.com`, "/"},
		{"/\t/evil.com", "/"},
		{"javascript:alert(1)", "/"},
		{"JavaScript:alert(1)", "/"},
		{"evil.com", "/"},
	}
	for _, tt := range tests {
		t.Run(tt.next, func(t *testing.T) {
			t.Parallel()
			b := env.browser(t)
			form := b.loginForm("")
			form.Set("next", tt.next)
			form.Set("email", testEmail)
			form.Set("password", testPassword)
			resp := b.postForm("/login", form)
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("status = %d", resp.StatusCode)
			}
			want := tt.want
			if want != "/" {
				want = "/login/continue?next=" + url.QueryEscape(want)
			}
			if loc := resp.Header.Get("Location"); loc != want {
				t.Errorf("Location = %q, want %q", loc, want)
			}
		})
	}
}

func TestSafeNext(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"":                           "/",
		"/":                          "/",
		"/settings":                  "/settings",
		"/oauth/authorize?a=1&b=%2F": "/oauth/authorize?a=1&b=%2F",
		"//evil.com":                 "/",
		"///evil.com":                "/",
		`/\evil.com`:                 "/",
		`/a\b`:                       "/",
		"/\t/evil.com":               "/",
		"/\n/evil.com":               "/",
		"/ /evil.com":                "/",
		"https://evil.com":           "/",
		"https:/evil.com":            "/",
		"javascript:alert(1)":        "/",
		"data:text/html,x":           "/",
		"/caf\u00e9":                 "/",
		"/%zz":                       "/",
		"evil.com/":                  "/",
		"?next=//evil.com":           "/",
		"#frag":                      "/",
	}
	for in, want := range tests {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLoginFormLimits(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	tests := []struct {
		name        string
		contentType string
		body        func(tok string) string
		want        int
	}{
		{
			name:        "oversized body",
			contentType: "application/x-www-form-urlencoded",
			body: func(tok string) string {
				return url.Values{"csrf_token": {tok}, "email": {testEmail}, "password": {testPassword}, "pad": {strings.Repeat("a", 70<<10)}}.Encode()
			},
			want: http.StatusRequestEntityTooLarge,
		},
		{name: "json", contentType: "application/json", body: func(string) string { return `{"email":"x"}` }, want: http.StatusUnsupportedMediaType},
		{name: "multipart", contentType: "multipart/form-data; boundary=x", body: func(string) string { return "--x--" }, want: http.StatusUnsupportedMediaType},
		{name: "no content type", body: func(string) string { return "email=x" }, want: http.StatusUnsupportedMediaType},
		{name: "malformed body", contentType: "application/x-www-form-urlencoded", body: func(string) string { return "a=%zz" }, want: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := env.browser(t)
			tok := b.loginForm("").Get("csrf_token")
			resp := b.post("/login", tt.contentType, tt.body(tok))
			if resp.StatusCode != tt.want {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.want)
			}
			oneByTestID(t, parseHTML(t, resp.body), "error-title")
		})
	}
	t.Cleanup(func() {
		if _, created, _ := env.store.counts(); created != 0 {
			t.Errorf("%d sessions created", created)
		}
	})
}

func TestLoginFormWhenSignedIn(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	b := env.browser(t)
	b.login(testEmail, testPassword, "")
	tests := map[string]string{
		"/login": "/",
		"/login?next=%2Foauth%2Fauthorize%3Fa%3D1": "/oauth/authorize?a=1",
		"/login?next=%2F%2Fevil.com":               "/",
	}
	for path, want := range tests {
		resp := b.get(path)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("GET %s = %d %q, want 303 %q", path, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}
}

func TestRedirectToLoginRoundTrip(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	b := env.browser(t)
	const authorize = "/probe/authorize?client_id=acme&scope=projects%3Aread+tasks%3Aread&state=s+1"
	resp := b.get(authorize)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Path != "/login" || loc.Query().Get("next") != authorize {
		t.Fatalf("Location = %q", resp.Header.Get("Location"))
	}
	if sessionSetCookie(resp) != nil {
		t.Error("redirect set a cookie")
	}
	form := b.loginForm(loc.Query().Get("next"))
	if form.Get("next") != authorize {
		t.Fatalf("login form next = %q", form.Get("next"))
	}
	form.Set("email", testEmail)
	form.Set("password", testPassword)
	resp = b.postForm("/login", form)
	if got := b.continueTarget(resp); got != authorize {
		t.Fatalf("sign-in continues to %q, want %q", got, authorize)
	}
	if got := b.get(authorize); got.StatusCode != http.StatusNoContent {
		t.Errorf("authorize after sign-in = %d", got.StatusCode)
	}
}

func TestRedirectToLoginRejectsForeignTargets(t *testing.T) {
	t.Parallel()
	s, err := New(testConfig(t), newFakeStore())
	if err != nil {
		t.Fatal(err)
	}
	for returnTo, want := range map[string]string{
		"/oauth/authorize?x=1": "/login?next=%2Foauth%2Fauthorize%3Fx%3D1",
		"https://evil.com/":    "/login",
		"//evil.com":           "/login",
		"/":                    "/login",
	} {
		w := httptest.NewRecorder()
		s.RedirectToLogin(w, httptest.NewRequest(http.MethodGet, "/oauth/authorize", nil), returnTo)
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != want {
			t.Errorf("RedirectToLogin(%q) = %d %q, want 303 %q", returnTo, w.Code, w.Header().Get("Location"), want)
		}
	}
}

func TestTamperedCookieIsSignedOut(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	signedIn := env.browser(t)
	signedIn.login(testEmail, testPassword, "")
	good := signedIn.sessionCookie().Value
	flipped := []byte(good)
	i := len(flipped) / 2
	if flipped[i] == 'A' {
		flipped[i] = 'B'
	} else {
		flipped[i] = 'A'
	}
	for name, value := range map[string]string{
		"flipped byte": string(flipped),
		"garbage":      "not-a-cookie",
		"truncated":    good[:len(good)/2],
	} {
		t.Run(name, func(t *testing.T) {
			b := env.browser(t)
			b.setSessionCookie(value)
			if got := b.get("/probe/principal"); got.StatusCode != http.StatusUnauthorized {
				t.Errorf("Principal status = %d, want 401", got.StatusCode)
			}
			home := b.get("/")
			if home.StatusCode != http.StatusSeeOther || home.Header.Get("Location") != "/login" {
				t.Errorf("GET / = %d %q", home.StatusCode, home.Header.Get("Location"))
			}
			login := b.get("/login")
			if login.StatusCode != http.StatusOK {
				t.Fatalf("GET /login = %d", login.StatusCode)
			}
			if sessionSetCookie(login) == nil {
				t.Error("no fresh cookie replaced the bad one")
			}
			// The replacement cookie works: signing in succeeds.
			form := hiddenFields(t, login.body)
			form.Set("email", testEmail)
			form.Set("password", testPassword)
			if resp := b.postForm("/login", form); resp.StatusCode != http.StatusSeeOther {
				t.Errorf("sign-in after tampering = %d", resp.StatusCode)
			}
		})
	}
}

func TestExpiredSessionIsSignedOut(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	b := env.browser(t)
	b.login(testEmail, testPassword, "")
	env.store.expireAll()
	if got := b.get("/probe/principal"); got.StatusCode != http.StatusUnauthorized {
		t.Errorf("Principal status = %d, want 401", got.StatusCode)
	}
	if got := b.get("/"); got.StatusCode != http.StatusSeeOther {
		t.Errorf("GET / = %d, want 303", got.StatusCode)
	}
}

func TestLogout(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	b := env.browser(t)
	b.login(testEmail, testPassword, "")
	home := b.get("/")
	tok := hiddenFields(t, home.body).Get("csrf_token")
	if tok == "" {
		t.Fatal("home page has no logout token")
	}

	for name, bad := range map[string]string{"missing": "", "login token": b.get("/probe/csrf/login").body} {
		resp := b.postForm("/logout", url.Values{"csrf_token": {bad}})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: status = %d, want 403", name, resp.StatusCode)
		}
	}
	if live, _, _ := env.store.counts(); live != 1 {
		t.Fatal("rejected sign-out ended the session")
	}

	resp := b.postForm("/logout", url.Values{"csrf_token": {tok}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("sign-out = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if live, _, deleted := env.store.counts(); live != 0 || deleted != 1 {
		t.Errorf("after sign-out live=%d deleted=%d", live, deleted)
	}
	if got := b.get("/"); got.StatusCode != http.StatusSeeOther || got.Header.Get("Location") != "/login" {
		t.Errorf("GET / after sign-out = %d", got.StatusCode)
	}
	if got := b.get("/logout"); got.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /logout = %d, want 405", got.StatusCode)
	}
}

var cspPattern = regexp.MustCompile(`^default-src 'none'; script-src 'nonce-([A-Za-z0-9+/]{22}==)'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'$`)

// TestLogoutReturnsToNext: "Not you?" signs out and goes through the sign-in
// page back to the authorization request; a foreign next is ignored.
func TestLogoutReturnsToNext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		next, want string
	}{
		{"/oauth/authorize?client_id=abc&scope=projects%3Aread", "/login?next=" + url.QueryEscape("/oauth/authorize?client_id=abc&scope=projects%3Aread")},
		{"https://evil.example/", "/login"},
		{"//evil.example/", "/login"},
		{"", "/login"},
	}
	for _, tt := range tests {
		t.Run(tt.next, func(t *testing.T) {
			t.Parallel()
			env := newTestEnv(t)
			b := env.browser(t)
			b.login(testEmail, testPassword, "")
			tok := hiddenFields(t, b.get("/").body).Get("csrf_token")
			resp := b.postForm("/logout", url.Values{"csrf_token": {tok}, "next": {tt.next}})
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != tt.want {
				t.Fatalf("sign-out = %d %q, want %q", resp.StatusCode, resp.Header.Get("Location"), tt.want)
			}
			if live, _, _ := env.store.counts(); live != 0 {
				t.Error("the session is still live")
			}
		})
	}
}

// TestLoginNamesTheApp: a sign-in started by an authorization request names
// the app ("to continue to Acme Sync"), also after a failed attempt; any
// other next, an unknown app or a malformed client_id names none.
func TestLoginNamesTheApp(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	env.store.putApp(storage.App{ClientID: "acme-sync", Name: "Acme <Sync>", WorkspaceID: "ws-1"})
	tests := []struct {
		name, next, want string
	}{
		{"authorization request", "/oauth/authorize?client_id=acme-sync&scope=projects%3Aread", "Acme <Sync>"},
		{"unknown app", "/oauth/authorize?client_id=nope", ""},
		{"malformed client_id", "/oauth/authorize?client_id=" + url.QueryEscape("acme sync'"), ""},
		{"other page", "/settings/apps?client_id=acme-sync", ""},
		{"no next", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := env.browser(t)
			check := func(body string) {
				t.Helper()
				got := ""
				if n := byTestID(parseHTML(t, body), "login-app-name"); len(n) == 1 {
					got = textOf(n[0])
				}
				if got != tt.want {
					t.Errorf("sign-in page names %q, want %q", got, tt.want)
				}
			}
			page := b.get("/login?next=" + url.QueryEscape(tt.next))
			check(page.body)
			failed := b.postForm("/login", url.Values{"email": {testEmail}, "password": {"wrong password"},
				"next": {tt.next}, "csrf_token": {hiddenFields(t, page.body).Get("csrf_token")}})
			if failed.StatusCode != http.StatusUnauthorized {
				t.Fatalf("failed sign-in status %d", failed.StatusCode)
			}
			check(failed.body)
		})
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	b := env.browser(t)
	seen := map[string]bool{}
	for _, path := range []string{"/login", "/login", "/probe/error", "/", stylesheetURL} {
		resp := b.get(path)
		h := resp.Header
		m := cspPattern.FindStringSubmatch(h.Get("Content-Security-Policy"))
		if m == nil {
			t.Fatalf("%s: CSP = %q", path, h.Get("Content-Security-Policy"))
		}
		if seen[m[1]] {
			t.Errorf("%s: nonce %q reused", path, m[1])
		}
		seen[m[1]] = true
		for k, want := range map[string]string{
			"X-Frame-Options":            "DENY",
			"X-Content-Type-Options":     "nosniff",
			"Referrer-Policy":            "same-origin",
			"Cross-Origin-Opener-Policy": "same-origin",
			"Strict-Transport-Security":  "",
		} {
			if got := h.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", path, k, got, want)
			}
		}
	}

	t.Run("https issuer", func(t *testing.T) {
		t.Parallel()
		s, err := New(Config{Issuer: "https://auth.example.com", Keys: testKeys(t), Apps: &fakeApps{}, APIKeys: &fakeAPIKeys{}, Audit: &fakeAudit{}}, newFakeStore())
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		s.Middleware(http.NotFoundHandler()).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/x", nil))
		if got := w.Header().Get("Strict-Transport-Security"); !strings.HasPrefix(got, "max-age=") {
			t.Errorf("HSTS = %q", got)
		}
	})
}

func TestMiddlewareNonceReachesTempl(t *testing.T) {
	t.Parallel()
	s, err := New(testConfig(t), newFakeStore())
	if err != nil {
		t.Fatal(err)
	}
	var inner string
	h := s.Middleware(s.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner = templ.GetNonce(r.Context())
	})))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	m := cspPattern.FindStringSubmatch(w.Header().Get("Content-Security-Policy"))
	if m == nil || inner != m[1] {
		t.Errorf("nonce in context %q, header %q", inner, w.Header().Get("Content-Security-Policy"))
	}
}

func TestConsentFormAction(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	tests := []struct{ origin, want string }{
		{"https://crm.acme.example:8443", "form-action 'self' https://crm.acme.example:8443;"},
		{"http://127.0.0.1:53682", "form-action 'self' http://127.0.0.1:53682;"},
		{"com.example.app:", "form-action 'self' com.example.app:;"},
		{"", "form-action 'self';"},
		{"https://x.example; script-src *", "form-action 'self';"},
		{"https://x.example/path", "form-action 'self';"},
		{"javascript:", "form-action 'self';"},
		{"https:", "form-action 'self';"},
		{"*", "form-action 'self';"},
	}
	for _, tt := range tests {
		t.Run(tt.origin, func(t *testing.T) {
			t.Parallel()
			b := env.browser(t)
			resp := b.get("/probe/consent?origin=" + url.QueryEscape(tt.origin))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d", resp.StatusCode)
			}
			csp := resp.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, tt.want) || !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'nonce-") {
				t.Errorf("CSP = %q, want it to contain %q", csp, tt.want)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q", resp.Header.Get("Cache-Control"))
			}
			if resp.Header.Get("X-Frame-Options") != "DENY" {
				t.Error("consent page can be framed")
			}
			doc := parseHTML(t, resp.body)
			oneByTestID(t, doc, "allow")
			oneByTestID(t, doc, "deny")
		})
	}
}

func TestRenderError(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	resp := env.browser(t).get("/probe/error")
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status = %d", resp.StatusCode)
	}
	if resp.Header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("headers = %v", resp.Header)
	}
	doc := parseHTML(t, resp.body)
	if got := textOf(oneByTestID(t, doc, "error-title")); got != "Unknown app" {
		t.Errorf("error-title = %q", got)
	}
	// Without reqid.Middleware in front there is no reference to show.
	if n := len(byTestID(doc, "request-id")); n != 0 {
		t.Errorf("request-id shown without a request id")
	}
}

// TestRenderErrorShowsRequestID: behind reqid.Middleware the error page shows
// the same id as the X-Request-Id header (and the logs).
func TestRenderErrorShowsRequestID(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	h := reqid.Middleware(false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		env.srv.RenderError(w, r, http.StatusServiceUnavailable, "Try later", "The database is busy.")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	id := rec.Header().Get(reqid.Header)
	doc := parseHTML(t, rec.Body.String())
	if rec.Code != http.StatusServiceUnavailable || id == "" {
		t.Fatalf("status %d, id %q", rec.Code, id)
	}
	if got := textOf(oneByTestID(t, doc, "request-id")); got != id {
		t.Errorf("request-id = %q, want the header's %q", got, id)
	}
	if got, _ := attr(oneByTestID(t, doc, "error-page"), "data-error-class"); got != string(errpage.Unavailable) {
		t.Errorf("503 rendered as class %q", got)
	}
}

func TestRenderOutsideMiddlewareStillSetsHeaders(t *testing.T) {
	t.Parallel()
	s, err := New(testConfig(t), newFakeStore())
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	p := testPrompt()
	s.RenderConsent(w, httptest.NewRequest(http.MethodGet, "/oauth/authorize", nil), p)
	csp := w.Header().Get("Content-Security-Policy")
	if w.Code != http.StatusOK || !strings.Contains(csp, "form-action 'self' "+p.RedirectOrigin+";") || w.Header().Get("X-Frame-Options") != "DENY" {
		t.Errorf("status %d, CSP %q", w.Code, csp)
	}
}

func TestCSRFTokens(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	b := env.browser(t)

	first := b.get("/probe/csrf/challenge-1")
	if first.body == "" || sessionSetCookie(first) == nil {
		t.Fatalf("first token %q; cookie set: %v", first.body, sessionSetCookie(first) != nil)
	}
	again := b.get("/probe/csrf/challenge-1")
	if again.body != first.body {
		t.Error("token changed between requests with the same cookie")
	}
	if sessionSetCookie(again) != nil {
		t.Error("cookie set again although the seed exists")
	}
	if other := b.get("/probe/csrf/challenge-2").body; other == first.body {
		t.Error("tokens of different bindings are equal")
	}

	tests := []struct {
		name    string
		binding string
		token   string
		want    int
	}{
		{"round trip", "challenge-1", first.body, http.StatusNoContent},
		{"other binding", "challenge-2", first.body, http.StatusForbidden},
		{"binding prefix", "challenge-", first.body, http.StatusForbidden},
		{"empty", "challenge-1", "", http.StatusForbidden},
		{"truncated", "challenge-1", first.body[:len(first.body)-1], http.StatusForbidden},
		{"other browser", "challenge-1", env.browser(t).get("/probe/csrf/challenge-1").body, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := b.postForm("/probe/verify/"+tt.binding, url.Values{"csrf_token": {tt.token}})
			if resp.StatusCode != tt.want {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}

	t.Run("no seed", func(t *testing.T) {
		resp := env.browser(t).postForm("/probe/verify/challenge-1", url.Values{"csrf_token": {first.body}})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("status = %d, want 403", resp.StatusCode)
		}
	})

	t.Run("outside middleware", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if tok := env.srv.CSRFToken(r, "x"); tok != "" {
			t.Errorf("token without a seed or middleware = %q", tok)
		}
		if env.srv.VerifyCSRF(r, "x", "") {
			t.Error("empty token verified")
		}
	})
}

func TestStaticAssets(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	b := env.browser(t)
	resp := b.get(stylesheetURL)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("Content-Type = %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=31536000") {
		t.Errorf("Cache-Control = %q", cc)
	}
	if sessionSetCookie(resp) != nil {
		t.Error("static file sets a cookie")
	}
	if !strings.Contains(resp.body, ".card") {
		t.Error("stylesheet content missing")
	}
	for _, path := range []string{"/static/", "/static/missing.css", "/static/%2e%2e/web.go"} {
		if got := b.get(path); got.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, got.StatusCode)
		}
	}
}

func TestAppLogo(t *testing.T) {
	t.Parallel()
	png := []byte("\x89PNG\r\n\x1a\nfake")
	sum := sha256.Sum256(png)
	version := hex.EncodeToString(sum[:])
	tests := []struct {
		name      string
		logos     map[string]storage.Logo
		err       error
		query     string
		header    map[string]string
		want      int
		wantType  string
		wantCache string
	}{
		{name: "current version", logos: map[string]storage.Logo{"acme": {ContentType: "image/png", Data: png}}, query: "?v=" + version,
			want: http.StatusOK, wantType: "image/png", wantCache: "public, max-age=31536000, immutable"},
		{name: "old version", logos: map[string]storage.Logo{"acme": {ContentType: "image/png", Data: png}}, query: "?v=0123abcd",
			want: http.StatusOK, wantType: "image/png", wantCache: "public, no-cache"},
		{name: "no version", logos: map[string]storage.Logo{"acme": {ContentType: "image/png", Data: png}},
			want: http.StatusOK, wantType: "image/png", wantCache: "public, no-cache"},
		{name: "revalidated", logos: map[string]storage.Logo{"acme": {ContentType: "image/png", Data: png}},
			header: map[string]string{"If-None-Match": `W/"x", "` + version + `"`}, want: http.StatusNotModified, wantCache: "public, no-cache"},
		{name: "none", want: http.StatusNotFound},
		{name: "not an image", logos: map[string]storage.Logo{"acme": {ContentType: "text/html", Data: []byte("<p>")}}, want: http.StatusNotFound},
		{name: "store failure", err: errors.New("db down"), want: http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := newTestEnv(t)
			env.store.logos = tt.logos
			env.store.logoErr = tt.err
			b := env.browser(t)
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, env.ts.URL+"/apps/acme/logo"+tt.query, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp := b.do(req)
			if resp.StatusCode != tt.want {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.want)
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no nosniff")
			}
			if sessionSetCookie(resp) != nil {
				t.Error("logo sets a cookie")
			}
			if tt.wantCache != "" {
				if got := resp.Header.Get("Cache-Control"); got != tt.wantCache {
					t.Errorf("Cache-Control = %q, want %q", got, tt.wantCache)
				}
				if got := resp.Header.Get("ETag"); got != `"`+version+`"` {
					t.Errorf("ETag = %q", got)
				}
			}
			if tt.want != http.StatusOK {
				return
			}
			if got := resp.Header.Get("Content-Type"); got != tt.wantType {
				t.Errorf("Content-Type = %q", got)
			}
			if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "sandbox") {
				t.Errorf("CSP = %q", resp.Header.Get("Content-Security-Policy"))
			}
			if resp.body != string(png) {
				t.Error("body differs")
			}
		})
	}
}

func TestFormActionSource(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"https://a.example":        "https://a.example",
		"https://a.example:8443":   "https://a.example:8443",
		"HTTPS://A.example":        "https://A.example",
		"http://[::1]:8080":        "http://[::1]:8080",
		"com.example.app:":         "com.example.app:",
		"https://a.example/":       "",
		"https://a.example?x":      "",
		"https://u@a.example":      "",
		"https://a.example 'self'": "",
		"data:":                    "",
		"ftp://a.example":          "",
		"a.example":                "",
	}
	for in, want := range tests {
		got, ok := formActionSource(in)
		if ok != (want != "") || got != want {
			t.Errorf("formActionSource(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
