package web

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"maps"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nextoria/authz/apikey"
	"github.com/nextoria/authz/apps"
	"github.com/nextoria/authz/ratelimit"
	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/storagetest"
)

// errorLog records the log records at ERROR level or above.
type errorLog struct {
	mu   sync.Mutex
	msgs []string
}

func (l *errorLog) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelError }

func (l *errorLog) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, b.String())
	return nil
}

func (l *errorLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *errorLog) WithGroup(string) slog.Handler      { return l }

// since returns the records logged after the first n.
func (l *errorLog) since(n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.msgs[n:]...)
}

func (l *errorLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.msgs)
}

// dbEnv is the browser surface over a real database, with the real app and
// API key services, and a browser signed in as an admin whose workspace has
// an app, an API key and a grant.
type dbEnv struct {
	srv      *Server
	store    *storage.Store
	ts       *httptest.Server
	logs     *errorLog
	client   *http.Client
	email    string
	clientID string // an app of the workspace, also authorized by the user
	keyID    string
}

func newDBEnv(tb testing.TB, mutate ...func(*Config)) *dbEnv {
	tb.Helper()
	ctx := context.Background()
	store := storagetest.NewStore(tb, storage.Options{})
	keys, err := secret.DeriveKeys("test-system-secret-0123456789-abcdefghij")
	if err != nil {
		tb.Fatal(err)
	}
	hasher := secret.NewHasher(keys.SecretHash)
	logs := &errorLog{}
	cfg := Config{
		Issuer:          "http://127.0.0.1:8080",
		Keys:            keys,
		SessionLifetime: time.Hour,
		Logger:          slog.New(logs),
		Apps:            apps.Service{Store: store, Hasher: hasher},
		APIKeys:         &apikey.Service{Store: store, Hasher: hasher, Logger: slog.New(logs)},
		Audit:           store,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	s, err := New(cfg, store)
	if err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Routes(mux)
	mux.HandleFunc("GET /probe/csrf", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, s.CSRFToken(r, r.URL.Query().Get("binding")))
	})
	ts := httptest.NewServer(s.Middleware(mux))
	tb.Cleanup(ts.Close)

	e := &dbEnv{srv: s, store: store, ts: ts, logs: logs, email: "ada@example.com"}
	ws, err := store.CreateWorkspace(ctx, "Analytical Engines", storage.PlanGrowth)
	if err != nil {
		tb.Fatal(err)
	}
	u, err := store.CreateUser(ctx, storage.NewUser{Email: e.email, PasswordHash: testPasswordHash(), WorkspaceID: ws.ID, Role: storage.RoleAdmin})
	if err != nil {
		tb.Fatal(err)
	}
	app, _, err := apps.Service{Store: store, Hasher: hasher}.Register(ctx, apps.Registration{
		Name: "Acme Sync", RedirectURIs: []string{"https://acme.example/cb"}, Scopes: []string{"projects:read"},
		WorkspaceID: ws.ID, OwnerID: u.ID,
	})
	if err != nil {
		tb.Fatal(err)
	}
	e.clientID = app.ClientID
	if err := store.SaveGrant(ctx, u.ID, app.ClientID, []string{"projects:read"}); err != nil {
		tb.Fatal(err)
	}
	k, _, err := (&apikey.Service{Store: store, Hasher: hasher}).Create(ctx, ws.ID, u.ID, "Zapier", []string{"projects:read"}, 0)
	if err != nil {
		tb.Fatal(err)
	}
	e.keyID = k.ID

	jar, err := cookiejar.New(nil)
	if err != nil {
		tb.Fatal(err)
	}
	e.client = &http.Client{Jar: jar, Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	form := url.Values{"csrf_token": {e.token(tb, bindingLogin)}, "email": {e.email}, "password": {testPassword}}
	if status, body := e.send(tb, http.MethodPost, "/login", "application/x-www-form-urlencoded", strings.NewReader(form.Encode())); status != http.StatusSeeOther {
		tb.Fatalf("sign-in: %d %.300s", status, body)
	}
	return e
}

// token returns the signed-in browser's CSRF token for binding.
func (e *dbEnv) token(tb testing.TB, binding string) string {
	tb.Helper()
	_, body := e.send(tb, http.MethodGet, "/probe/csrf?binding="+url.QueryEscape(binding), "", nil)
	return body
}

func (e *dbEnv) send(tb testing.TB, method, path, contentType string, body io.Reader) (int, string) {
	tb.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, body)
	if err != nil {
		tb.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// postFields posts fields URL-encoded, or as multipart with logo as the logo
// file when multipartForm is set.
func (e *dbEnv) postFields(tb testing.TB, path string, fields url.Values, multipartForm bool, logo []byte) (int, string) {
	tb.Helper()
	if !multipartForm {
		return e.send(tb, http.MethodPost, path, "application/x-www-form-urlencoded", strings.NewReader(fields.Encode()))
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, vs := range fields {
		for _, v := range vs {
			if err := mw.WriteField(k, v); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if logo != nil {
		fw, err := mw.CreateFormFile("logo", "logo.png")
		if err != nil {
			tb.Fatal(err)
		}
		_, _ = fw.Write(logo)
	}
	if err := mw.Close(); err != nil {
		tb.Fatal(err)
	}
	return e.send(tb, http.MethodPost, path, mw.FormDataContentType(), &body)
}

// inputRoute is a browser route and the inputs it reads: path parameters and
// form fields, each with a valid value.
type inputRoute struct {
	method, pattern string
	// path are the values of the pattern's wildcards, in order.
	path []string
	// fields are the form fields (or, for GET, the query), valid values.
	fields url.Values
	// binding is the CSRF binding of the form, given its path values; nil
	// for a GET.
	binding   func(path []string) string
	multipart bool
}

// inputRoutes lists every browser route that reads input, with valid
// values for all of it.
func (e *dbEnv) inputRoutes() []inputRoute {
	appForm := func() url.Values {
		return url.Values{"name": {"Globex"}, "redirect_uris": {"https://globex.example/cb"},
			"scope": {"projects:read"}, "client_type": {"confidential"}, "remove_logo": {""},
			"kept_logo": {""}, "remove_kept_logo": {""}}
	}
	id := func(p []string) string { return p[0] }
	return []inputRoute{
		{method: "GET", pattern: "/login", fields: url.Values{"next": {"/settings"}}},
		{method: "POST", pattern: "/login", fields: url.Values{"email": {e.email}, "password": {"wrong password"}, "next": {"/"}},
			binding: func([]string) string { return bindingLogin }},
		{method: "GET", pattern: "/apps/{client_id}/logo", path: []string{e.clientID}, fields: url.Values{"v": {"abc"}}},
		{method: "GET", pattern: "/settings/api/apps/{client_id}", path: []string{e.clientID}},
		{method: "GET", pattern: "/settings/api/apps/{client_id}/delete", path: []string{e.clientID}},
		{method: "POST", pattern: "/settings/api/apps", fields: appForm(), multipart: true,
			binding: func([]string) string { return bindingAppRegister }},
		{method: "POST", pattern: "/settings/api/apps/{client_id}", path: []string{e.clientID}, fields: appForm(), multipart: true,
			binding: func(p []string) string { return appBinding("update", p[0]) }},
		{method: "POST", pattern: "/settings/api/apps/{client_id}/secret", path: []string{e.clientID}, fields: url.Values{"overlap": {"0"}},
			binding: func(p []string) string { return appBinding("rotate", p[0]) }},
		{method: "POST", pattern: "/settings/api/apps/{client_id}/delete", path: []string{"0123456789abcdef01234567"},
			binding: func(p []string) string { return appBinding("delete", p[0]) }},
		{method: "POST", pattern: "/settings/api/keys", fields: url.Values{"name": {"CI"}, "scope": {"projects:read"}, "expiry": {"30d"}, "expires_on": {""}},
			binding: func([]string) string { return bindingKeyCreate }},
		{method: "GET", pattern: "/settings/api/keys/{id}/revoke", path: []string{e.keyID}},
		{method: "POST", pattern: "/settings/api/keys/{id}/revoke", path: []string{"00000000-0000-4000-8000-000000000000"},
			binding: func(p []string) string { return keyRevokeBinding(id(p)) }},
		{method: "POST", pattern: "/settings/authorized-apps/{client_id}/revoke", path: []string{"0123456789abcdef01234567"},
			binding: func(p []string) string { return grantBinding(p[0]) }},
	}
}

// inputs counts the inputs of rt: path values first, then form fields in
// sorted order, then the logo file of a multipart form.
func (rt inputRoute) inputs() []string {
	var names []string
	for i := range rt.path {
		names = append(names, "path"+string(rune('0'+i)))
	}
	names = append(names, slices.Sorted(maps.Keys(rt.fields))...)
	if rt.multipart {
		names = append(names, "logo")
	}
	return names
}

// try sends rt with value in its input number input (modulo their count)
// and a valid CSRF token, and returns the status and body.
func (e *dbEnv) try(tb testing.TB, rt inputRoute, input int, value string) (int, string) {
	tb.Helper()
	names := rt.inputs()
	target := names[input%len(names)]
	pathVals := append([]string(nil), rt.path...)
	fields := url.Values{}
	for k, v := range rt.fields {
		fields[k] = append([]string(nil), v...)
	}
	var logo []byte
	switch {
	case strings.HasPrefix(target, "path"):
		pathVals[int(target[4]-'0')] = value
	case target == "logo":
		logo = []byte(value)
	default:
		fields.Set(target, value)
	}
	p := rt.pattern
	for _, v := range pathVals {
		i, j := strings.Index(p, "{"), strings.Index(p, "}")
		p = p[:i] + url.PathEscape(v) + p[j+1:]
	}
	if rt.binding == nil {
		if len(fields) > 0 {
			p += "?" + fields.Encode()
		}
		return e.send(tb, rt.method, p, "", nil)
	}
	if target != "csrf_token" {
		fields.Set("csrf_token", e.token(tb, rt.binding(pathVals)))
	}
	return e.postFields(tb, p, fields, rt.multipart, logo)
}

// badBytes are the values no input may turn into a 500.
var badBytes = []string{
	"\xff", "%ff", "a\x00b", "\x00", "\ufffd", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80",
	"\xf4\x90\x80\x80", "caf\xe9", "\u202e", "Acme\r\nX-Injected: 1", "../../etc/passwd",
	strings.Repeat("a", 70<<10), strings.Repeat("\xff", 3000), "",
}

// TestBadBytesAnsweredAtTheEdge: invalid UTF-8 and NUL in the inputs that
// reach the database are answered with the usual 4xx, never with a 500 or an
// ERROR log line.
func TestBadBytesAnsweredAtTheEdge(t *testing.T) {
	t.Parallel()
	e := newDBEnv(t)
	loginForm := func(email string) url.Values {
		return url.Values{"csrf_token": {e.token(t, bindingLogin)}, "email": {email}, "password": {"not the password"}}
	}
	appForm := func(name, redirect string) url.Values {
		return url.Values{"csrf_token": {e.token(t, bindingAppRegister)}, "name": {name}, "redirect_uris": {redirect},
			"scope": {"projects:read"}, "client_type": {"confidential"}}
	}
	tests := []struct {
		name       string
		do         func() (int, string)
		wantStatus int
		wantBody   string
	}{
		{"logo of invalid UTF-8 client", func() (int, string) { return e.send(t, "GET", "/apps/%ff/logo", "", nil) }, 404, "not found"},
		{"logo of NUL client", func() (int, string) { return e.send(t, "GET", "/apps/a%00b/logo", "", nil) }, 404, "not found"},
		{"sign-in with invalid UTF-8 e-mail", func() (int, string) {
			return e.postFields(t, "/login", loginForm("\xff"), false, nil)
		}, 401, msgBadCredentials},
		{"sign-in with NUL in e-mail", func() (int, string) {
			return e.postFields(t, "/login", loginForm("a\x00b"), false, nil)
		}, 401, msgBadCredentials},
		{"app page of invalid UTF-8 client", func() (int, string) { return e.send(t, "GET", "/settings/api/apps/%ff", "", nil) }, 404, "no such app"},
		{"delete page of NUL client", func() (int, string) { return e.send(t, "GET", "/settings/api/apps/%00/delete", "", nil) }, 404, "no such app"},
		{"revoke grant of invalid UTF-8 client", func() (int, string) {
			return e.postFields(t, "/settings/authorized-apps/%ff/revoke", url.Values{"csrf_token": {e.token(t, grantBinding("\xff"))}}, false, nil)
		}, 404, "You have not authorized this app"},
		{"revoke key of invalid UTF-8 id", func() (int, string) {
			return e.postFields(t, "/settings/api/keys/%ff/revoke", url.Values{"csrf_token": {e.token(t, keyRevokeBinding("\xff"))}}, false, nil)
		}, 404, "no such API key"},
		{"register with invalid UTF-8 redirect URI", func() (int, string) {
			return e.postFields(t, "/settings/api/apps", appForm("Globex", "https://globex.example/\xff"), true, nil)
		}, 422, "UTF-8"},
		{"register with U+FFFD in name", func() (int, string) {
			return e.postFields(t, "/settings/api/apps", appForm("Globex \ufffd", "https://globex.example/cb"), true, nil)
		}, 422, "printable"},
		{"register with invalid UTF-8 client type", func() (int, string) {
			f := appForm("Globex", "https://globex.example/cb")
			f.Set("client_type", "\xff")
			return e.postFields(t, "/settings/api/apps", f, true, nil)
		}, 400, "not valid text"},
		{"API key with NUL expiry", func() (int, string) {
			f := url.Values{"csrf_token": {e.token(t, bindingKeyCreate)}, "name": {"CI"}, "scope": {"projects:read"}, "expiry": {"30d\x00"}}
			return e.postFields(t, "/settings/api/keys", f, false, nil)
		}, 400, "not valid text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.logs.count()
			status, body := tt.do()
			if status != tt.wantStatus || !strings.Contains(body, htmlEscapeText(tt.wantBody)) {
				t.Errorf("status %d, want %d with %q; body %.400s", status, tt.wantStatus, tt.wantBody, body)
			}
			if errs := e.logs.since(before); len(errs) > 0 {
				t.Errorf("ERROR logged: %q", errs)
			}
		})
	}
	list, err := e.store.ListApps(t.Context(), mustApp(t, e).WorkspaceID)
	if err != nil || len(list) != 1 {
		t.Errorf("apps after the refused registrations: %d (%v), want 1", len(list), err)
	}
}

func mustApp(t *testing.T, e *dbEnv) storage.App {
	t.Helper()
	app, err := e.store.GetApp(t.Context(), e.clientID)
	if err != nil {
		t.Fatal(err)
	}
	return app
}

func htmlEscapeText(s string) string {
	return strings.NewReplacer("&", "&amp;", `"`, "&#34;", "'", "&#39;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// FuzzInputs puts arbitrary bytes into each input (path value, form field,
// query parameter, logo file) of each browser route, the others valid and
// the CSRF token right, against a real database: no answer may be a 5xx,
// and nothing may be logged at ERROR level.
func FuzzInputs(f *testing.F) {
	// Uploads are limited per user; the fuzzer is one user uploading a lot.
	e := newDBEnv(f, func(c *Config) { c.LogoUploads = ratelimit.Limit{Rate: 1 << 20, Burst: 1 << 20} })
	routes := e.inputRoutes()
	for ri, rt := range routes {
		for ii := range rt.inputs() {
			for _, v := range badBytes {
				f.Add(uint8(ri), uint8(ii), v)
			}
		}
	}
	f.Fuzz(func(t *testing.T, route, input uint8, value string) {
		rt := routes[int(route)%len(routes)]
		before := e.logs.count()
		status, body := e.try(t, rt, int(input), value)
		if status >= 500 {
			t.Errorf("%s %s, input %d = %q: status %d: %.300s", rt.method, rt.pattern, input, value, status, body)
		}
		if errs := e.logs.since(before); len(errs) > 0 {
			t.Errorf("%s %s, input %d = %q: ERROR logged: %q", rt.method, rt.pattern, input, value, errs)
		}
	})
}
