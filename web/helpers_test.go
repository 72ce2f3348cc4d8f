package web

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/nextoria/authz/apikey"
	"github.com/nextoria/authz/apps"
	"github.com/nextoria/authz/consent"
	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
)

const (
	testEmail    = "ada@example.com"
	testPassword = "correct horse battery staple"
	testUserID   = "8f5d4c1e-0000-4000-8000-000000000001"
)

// testPasswordHash is a real argon2id hash, computed once: each hash costs
// 64 MiB and a noticeable fraction of a second under the race detector.
var testPasswordHash = sync.OnceValue(func() string {
	h, err := secret.HashPassword(testPassword)
	if err != nil {
		panic(err)
	}
	return h
})

// fakeStore keeps users, login sessions, apps, logos and grants in memory.
type fakeStore struct {
	mu       sync.Mutex
	users    map[string]storage.User // by lower-case e-mail
	sessions map[string]fakeSession  // by hex of the id hash
	logos    map[string]storage.Logo
	apps     map[string]storage.App // by client_id
	grants   map[string][]storage.Grant
	created  int
	deleted  int
	logoErr  error
	lookups  int // GetUserByEmail calls: each would cost an argon2id check

	// Sign-in throttle rows by key, following storage.CountLoginAttempt on
	// a clock that runs clockShift ahead of time.Now.
	throttle    map[string]fakeThrottleRow
	counted     []string // keys counted, in order
	clockShift  time.Duration
	throttleErr error
}

type fakeThrottleRow struct {
	attempts    int
	windowStart time.Time
	lockedUntil time.Time // zero: not locked
}

type fakeSession struct {
	userID    string
	expiresAt time.Time
}

func newFakeStore() *fakeStore {
	return &fakeStore{
		users: map[string]storage.User{
			testEmail: {
				ID:           testUserID,
				Email:        testEmail,
				PasswordHash: testPasswordHash(),
				WorkspaceID:  "ws-1",
				Role:         storage.RoleAdmin,
			},
		},
		sessions: map[string]fakeSession{},
		logos:    map[string]storage.Logo{},
		apps:     map[string]storage.App{},
		grants:   map[string][]storage.Grant{},
		throttle: map[string]fakeThrottleRow{},
	}
}

func (f *fakeStore) GetUserByEmail(_ context.Context, email string) (storage.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	u, ok := f.users[strings.ToLower(email)]
	if !ok {
		return storage.User{}, storage.ErrNotFound
	}
	return u, nil
}

func (f *fakeStore) CreateLoginSession(_ context.Context, idHash []byte, userID string, expiresAt time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(idHash) != 32 {
		return errors.New("fake: id hash must be 32 bytes")
	}
	f.sessions[hex.EncodeToString(idHash)] = fakeSession{userID: userID, expiresAt: expiresAt}
	f.created++
	return nil
}

func (f *fakeStore) GetPrincipal(_ context.Context, idHash []byte) (storage.Principal, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[hex.EncodeToString(idHash)]
	if !ok || !time.Now().Before(s.expiresAt) {
		return storage.Principal{}, storage.ErrNotFound
	}
	for _, u := range f.users {
		if u.ID == s.userID {
			return storage.Principal{
				UserID:         u.ID,
				Email:          u.Email,
				Role:           u.Role,
				WorkspaceID:    u.WorkspaceID,
				WorkspaceName:  workspaceNames[u.WorkspaceID],
				Plan:           storage.PlanGrowth,
				LoginSessionID: idHash,
				SignedInAt:     s.expiresAt.Add(-time.Hour),
			}, nil
		}
	}
	return storage.Principal{}, storage.ErrNotFound
}

func (f *fakeStore) DeleteLoginSession(_ context.Context, idHash []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.sessions[hex.EncodeToString(idHash)]; ok {
		delete(f.sessions, hex.EncodeToString(idHash))
		f.deleted++
	}
	return nil
}

func (f *fakeStore) GetAppLogo(_ context.Context, clientID string) (storage.Logo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.logoErr != nil {
		return storage.Logo{}, f.logoErr
	}
	l, ok := f.logos[clientID]
	if !ok {
		return storage.Logo{}, storage.ErrNotFound
	}
	return l, nil
}

// workspaceNames names the fake workspaces.
var workspaceNames = map[string]string{"ws-1": "Acme Studio", "ws-2": "Globex"}

func (f *fakeStore) GetApp(_ context.Context, clientID string) (storage.App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.apps[clientID]
	if !ok {
		return storage.App{}, storage.ErrNotFound
	}
	return a, nil
}

func (f *fakeStore) ListApps(_ context.Context, workspaceID string) ([]storage.App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []storage.App{}
	for _, a := range f.apps {
		if a.WorkspaceID == workspaceID {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b storage.App) int { return strings.Compare(a.ClientID, b.ClientID) })
	return out, nil
}

func (f *fakeStore) ListGrants(_ context.Context, userID string) ([]storage.GrantedApp, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []storage.GrantedApp{}
	for _, g := range f.grants[userID] {
		out = append(out, storage.GrantedApp{Grant: g, App: f.apps[g.ClientID]})
	}
	return out, nil
}

func (f *fakeStore) RevokeGrant(_ context.Context, userID, clientID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.grants[userID], func(g storage.Grant) bool { return g.ClientID == clientID })
	if i < 0 {
		return storage.ErrNotFound
	}
	f.grants[userID] = slices.Delete(f.grants[userID], i, i+1)
	return nil
}

// PrepareSignIn has nothing to read ahead: the fake answers at once.
func (f *fakeStore) PrepareSignIn(ctx context.Context, _ string) context.Context { return ctx }

// CountLoginAttempts follows storage.CountLoginAttempts: it counts the keys
// in turn and stops at the first that refuses.
func (f *fakeStore) CountLoginAttempts(ctx context.Context, keys ...storage.LoginKey) ([]storage.LoginAttempt, error) {
	var counted []storage.LoginAttempt
	for _, k := range keys {
		a, err := f.countLoginAttempt(ctx, k.Key, k.Rule)
		if err != nil {
			return nil, err
		}
		counted = append(counted, a)
		if !a.Allowed {
			break
		}
	}
	return counted, nil
}

// countLoginAttempt follows the states documented on
// storage.CountLoginAttempt.
func (f *fakeStore) countLoginAttempt(_ context.Context, key string, rule storage.LoginThrottleRule) (storage.LoginAttempt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counted = append(f.counted, key)
	if f.throttleErr != nil {
		return storage.LoginAttempt{}, f.throttleErr
	}
	now := time.Now().Add(f.clockShift)
	row, ok := f.throttle[key]
	prevLock := row.lockedUntil
	switch {
	case !ok || (!now.Before(row.windowStart.Add(rule.Window)) && !row.lockedUntil.After(now)):
		row = fakeThrottleRow{attempts: 1, windowStart: now}
	case row.lockedUntil.After(now):
		row.attempts++
	case !row.lockedUntil.IsZero():
		row.attempts++
		row.lockedUntil = time.Time{}
	default:
		row.attempts++
		if row.attempts > rule.Limit {
			delay := rule.MaxDelay
			if exp := row.attempts - rule.Limit - 1; exp < 40 && rule.BaseDelay<<exp < rule.MaxDelay {
				delay = rule.BaseDelay << exp
			}
			row.lockedUntil = now.Add(delay)
		}
	}
	f.throttle[key] = row
	a := storage.LoginAttempt{Allowed: row.lockedUntil.IsZero(), Attempts: row.attempts}
	if !a.Allowed {
		a.RetryAfter = row.lockedUntil.Sub(now)
		a.LockStarted = !row.lockedUntil.Equal(prevLock)
	}
	return a, nil
}

// SettleSignIn follows storage.SettleSignIn.
func (f *fakeStore) SettleSignIn(_ context.Context, uncount string, reset ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range reset {
		if k != uncount {
			delete(f.throttle, k)
		}
	}
	if row, ok := f.throttle[uncount]; ok && row.attempts > 1 {
		row.attempts--
		f.throttle[uncount] = row
	}
	return nil
}

// throttleRow returns the row of key, and whether there is one.
func (f *fakeStore) throttleRow(key string) (fakeThrottleRow, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.throttle[key]
	return r, ok
}

// advance moves the throttle's clock forward.
func (f *fakeStore) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clockShift += d
}

func (f *fakeStore) lookupCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookups
}

// addUser adds a user who signs in with testPassword.
func (f *fakeStore) addUser(id, email, workspaceID, role string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users[email] = storage.User{ID: id, Email: email, PasswordHash: testPasswordHash(), WorkspaceID: workspaceID, Role: role}
}

func (f *fakeStore) putApp(a storage.App) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.apps[a.ClientID] = a
}

func (f *fakeStore) app(clientID string) (storage.App, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.apps[clientID]
	return a, ok
}

// fakeApps applies the app service's writes to a fakeStore, validating like
// package apps, and records the secrets it hands out.
type fakeApps struct {
	store   *fakeStore
	mu      sync.Mutex
	n       int
	secrets []string
	calls   int
}

func (a *fakeApps) Register(_ context.Context, r apps.Registration) (storage.App, string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	if fe := apps.Validate(r); fe != nil {
		return storage.App{}, "", fe
	}
	a.n++
	app := storage.App{
		ClientID: fmt.Sprintf("client-%d", a.n), Name: strings.TrimSpace(r.Name), RedirectURIs: r.RedirectURIs,
		Scopes: r.Scopes, Public: r.Public, WorkspaceID: r.WorkspaceID, OwnerID: r.OwnerID,
		CreatedAt: time.Now(), UpdatedAt: time.Now(),
		HomepageURL: strings.TrimSpace(r.Profile.HomepageURL), PrivacyURL: strings.TrimSpace(r.Profile.PrivacyURL),
		Description:            strings.TrimSpace(r.Profile.Description),
		PostLogoutRedirectURIs: r.PostLogoutRedirectURIs,
	}
	if r.Logo != nil {
		app.HasLogo, app.LogoSHA256 = true, "sha"
	}
	var sec string
	if !r.Public {
		sec = fmt.Sprintf("secret-%d-%d", a.n, len(a.secrets))
		a.secrets = append(a.secrets, sec)
		app.SecretHash = []byte("hash:" + sec)
	}
	a.store.putApp(app)
	return app, sec, nil
}

func (a *fakeApps) Update(_ context.Context, clientID string, u apps.Update) (storage.App, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	if fe := apps.ValidateUpdate(u); fe != nil {
		return storage.App{}, fe
	}
	app, ok := a.store.app(clientID)
	if !ok {
		return storage.App{}, storage.ErrNotFound
	}
	app.Name, app.RedirectURIs, app.Scopes = strings.TrimSpace(u.Name), u.RedirectURIs, u.Scopes
	if u.IDTokenAlg != "" {
		app.IDTokenAlg = u.IDTokenAlg
	}
	app.PostLogoutRedirectURIs = u.PostLogoutRedirectURIs
	if u.PKCEOptional != nil && !app.Public {
		app.PKCEOptional = *u.PKCEOptional
	}
	if u.RemoveLogo {
		app.HasLogo, app.LogoSHA256 = false, ""
	}
	if u.Logo != nil {
		app.HasLogo, app.LogoSHA256 = true, "sha2"
	}
	a.store.putApp(app)
	return app, nil
}

func (a *fakeApps) RotateSecret(_ context.Context, clientID string, overlap time.Duration) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	app, ok := a.store.app(clientID)
	if !ok {
		return "", storage.ErrNotFound
	}
	sec := fmt.Sprintf("rotated-%d", len(a.secrets))
	a.secrets = append(a.secrets, sec)
	if overlap > 0 {
		app.RotatedSecretHash, app.RotatedSecretExpiresAt = app.SecretHash, time.Now().Add(overlap)
	} else {
		app.RotatedSecretHash, app.RotatedSecretExpiresAt = nil, time.Time{}
	}
	app.SecretHash = []byte("hash:" + sec)
	a.store.putApp(app)
	return sec, nil
}

func (a *fakeApps) Delete(_ context.Context, clientID string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	a.store.mu.Lock()
	defer a.store.mu.Unlock()
	if _, ok := a.store.apps[clientID]; !ok {
		return storage.ErrNotFound
	}
	delete(a.store.apps, clientID)
	return nil
}

// writes counts the calls that reached the service.
func (a *fakeApps) writes() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls
}

// fakeAPIKeys keeps API keys in memory, validating like package apikey,
// and hands out real-looking keys.
type fakeAPIKeys struct {
	mu        sync.Mutex
	keys      []storage.APIKey // newest first
	n         int
	calls     int             // Create and Revoke calls
	lifetimes []time.Duration // expiresIn of each Create
	err       error
}

func (a *fakeAPIKeys) Create(_ context.Context, workspaceID, createdBy, name string, scopes []string, expiresIn time.Duration) (storage.APIKey, string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	a.lifetimes = append(a.lifetimes, expiresIn)
	name = strings.TrimSpace(name)
	fe := apikey.FieldErrors{}
	if name == "" {
		fe[apikey.FieldName] = "Give the key a name, e.g. \"Zapier Integration\"."
	}
	if len(scopes) == 0 {
		fe[apikey.FieldScopes] = "Select at least one scope."
	} else if u := consent.Unknown(scopes); len(u) > 0 {
		fe[apikey.FieldScopes] = fmt.Sprintf("Unknown scope %q.", u[0])
	}
	if expiresIn < 0 {
		fe[apikey.FieldExpiresIn] = "The lifetime cannot be negative."
	}
	if len(fe) > 0 {
		return storage.APIKey{}, "", fe
	}
	raw, err := apikey.New()
	if err != nil {
		return storage.APIKey{}, "", err
	}
	p, err := apikey.Parse(raw)
	if err != nil {
		return storage.APIKey{}, "", err
	}
	a.n++
	k := storage.APIKey{
		ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", a.n), WorkspaceID: workspaceID, CreatedBy: createdBy,
		Name: name, Scopes: slices.Clone(scopes), DisplayID: p.DisplayID, CreatedAt: time.Now(),
	}
	if expiresIn > 0 {
		k.ExpiresAt = time.Now().Add(expiresIn)
	}
	a.keys = append([]storage.APIKey{k}, a.keys...)
	return k, raw, nil
}

func (a *fakeAPIKeys) List(_ context.Context, workspaceID string) ([]storage.APIKey, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return nil, a.err
	}
	out := []storage.APIKey{}
	for _, k := range a.keys {
		if k.WorkspaceID == workspaceID {
			out = append(out, k)
		}
	}
	return out, nil
}

func (a *fakeAPIKeys) Revoke(_ context.Context, workspaceID, id string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	for i, k := range a.keys {
		if k.ID == id && k.WorkspaceID == workspaceID {
			if k.RevokedAt.IsZero() {
				a.keys[i].RevokedAt = time.Now()
			}
			return nil
		}
	}
	return storage.ErrNotFound
}

// put stores k as the newest key.
func (a *fakeAPIKeys) put(k storage.APIKey) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.keys = append([]storage.APIKey{k}, a.keys...)
}

func (a *fakeAPIKeys) get(id string) (storage.APIKey, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, k := range a.keys {
		if k.ID == id {
			return k, true
		}
	}
	return storage.APIKey{}, false
}

func (a *fakeAPIKeys) writes() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls
}

func (f *fakeStore) counts() (live, created, deleted int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sessions), f.created, f.deleted
}

func (f *fakeStore) expireAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, s := range f.sessions {
		s.expiresAt = time.Now().Add(-time.Second)
		f.sessions[k] = s
	}
}

func testKeys(t *testing.T) secret.Keys {
	t.Helper()
	k, err := secret.DeriveKeys("test-system-secret-0123456789-abcdefghij")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testConfig(t *testing.T) Config {
	t.Helper()
	return Config{
		Issuer:          "http://127.0.0.1:8080",
		Keys:            testKeys(t),
		SecureCookies:   true,
		SessionLifetime: 2 * time.Hour,
		Apps:            &fakeApps{store: newFakeStore()},
		APIKeys:         &fakeAPIKeys{},
		Audit:           &fakeAudit{},
	}
}

func testPrompt() consent.Prompt {
	return consent.Prompt{
		ChallengeID:    "chal-123",
		CSRFToken:      "tok-456",
		FormAction:     "/oauth/authorize",
		ClientID:       "acme-crm",
		AppName:        "Acme CRM",
		LogoVersion:    "abc123",
		RedirectHost:   "crm.acme.example",
		RedirectOrigin: "https://crm.acme.example:8443",
		Scopes:         consent.Describe([]string{"projects:read", "tasks:read"}),
		UserEmail:      testEmail,
		WorkspaceName:  "Acme Studio",
	}
}

// testEnv is a running server with the web routes and a few probe routes
// standing in for the authorization endpoint.
type testEnv struct {
	srv   *Server
	store *fakeStore
	apps  *fakeApps
	keys  *fakeAPIKeys
	audit *fakeAudit
	ts    *httptest.Server
}

func newTestEnv(t *testing.T, mutate ...func(*Config)) *testEnv {
	t.Helper()
	cfg := testConfig(t)
	for _, m := range mutate {
		m(&cfg)
	}
	store := newFakeStore()
	fa := &fakeApps{store: store}
	cfg.Apps = fa
	fk := &fakeAPIKeys{}
	cfg.APIKeys = fk
	fau, _ := cfg.Audit.(*fakeAudit)
	if fau != nil {
		fau.store = store
	}
	s, err := New(cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Routes(mux)
	mux.HandleFunc("GET /probe/csrf/{binding}", func(w http.ResponseWriter, r *http.Request) {
		tok := s.CSRFToken(r, r.PathValue("binding"))
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, tok)
	})
	mux.HandleFunc("POST /probe/verify/{binding}", func(w http.ResponseWriter, r *http.Request) {
		if !s.VerifyCSRF(r, r.PathValue("binding"), r.PostFormValue("csrf_token")) {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /probe/principal", func(w http.ResponseWriter, r *http.Request) {
		p, ok, err := s.LoadPrincipal(r)
		if err != nil || !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, p.Email)
	})
	mux.HandleFunc("GET /probe/authorize", func(w http.ResponseWriter, r *http.Request) {
		if _, ok, err := s.LoadPrincipal(r); err != nil || !ok {
			s.RedirectToLogin(w, r, r.URL.RequestURI())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /probe/consent", func(w http.ResponseWriter, r *http.Request) {
		p := testPrompt()
		if o, ok := r.URL.Query()["origin"]; ok {
			p.RedirectOrigin = o[0]
		}
		s.RenderConsent(w, r, p)
	})
	mux.HandleFunc("GET /probe/error", func(w http.ResponseWriter, r *http.Request) {
		s.RenderError(w, r, http.StatusBadRequest, "Unknown app", "The app that sent you here is not registered.")
	})
	ts := httptest.NewServer(s.Middleware(mux))
	t.Cleanup(ts.Close)
	return &testEnv{srv: s, store: store, apps: fa, keys: fk, audit: fau, ts: ts}
}

// browser is an HTTP client with a cookie jar that does not follow redirects.
type browser struct {
	t    *testing.T
	env  *testEnv
	jar  *cookiejar.Jar
	http *http.Client
}

func (e *testEnv) browser(t *testing.T) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, env: e, jar: jar, http: &http.Client{
		Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

type response struct {
	*http.Response
	body string
}

func (b *browser) do(req *http.Request) response {
	b.t.Helper()
	resp, err := b.http.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return response{Response: resp, body: string(body)}
}

func (b *browser) get(path string) response {
	b.t.Helper()
	req, err := http.NewRequestWithContext(b.t.Context(), http.MethodGet, b.env.ts.URL+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

func (b *browser) post(path, contentType, body string) response {
	b.t.Helper()
	req, err := http.NewRequestWithContext(b.t.Context(), http.MethodPost, b.env.ts.URL+path, strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return b.do(req)
}

func (b *browser) postForm(path string, form url.Values) response {
	b.t.Helper()
	return b.post(path, "application/x-www-form-urlencoded", form.Encode())
}

// loginForm loads the sign-in page and returns its hidden fields.
func (b *browser) loginForm(next string) url.Values {
	b.t.Helper()
	path := "/login"
	if next != "" {
		path += "?next=" + url.QueryEscape(next)
	}
	resp := b.get(path)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("GET %s: status %d", path, resp.StatusCode)
	}
	return hiddenFields(b.t, resp.body)
}

// login signs in through the form and returns the answer to the POST.
func (b *browser) login(email, password, next string) response {
	b.t.Helper()
	form := b.loginForm(next)
	form.Set("email", email)
	form.Set("password", password)
	return b.postForm("/login", form)
}

func (b *browser) sessionCookie() *http.Cookie {
	u, _ := url.Parse(b.env.ts.URL)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == CookieName {
			return c
		}
	}
	return nil
}

func (b *browser) setSessionCookie(value string) {
	u, _ := url.Parse(b.env.ts.URL)
	b.jar.SetCookies(u, []*http.Cookie{{Name: CookieName, Value: value, Path: "/"}})
}

// sessionSetCookie returns the session cookie a response sets, under
// either name (SecureCookieName under TLS, else CookieName).
func sessionSetCookie(resp response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == SecureCookieName || c.Name == CookieName {
			return c
		}
	}
	return nil
}

// HTML helpers.

func parseHTML(t *testing.T, s string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && match(d) {
			out = append(out, d)
		}
	}
	return out
}

func byTestID(n *html.Node, id string) []*html.Node {
	return findAll(n, func(e *html.Node) bool {
		v, ok := attr(e, "data-testid")
		return ok && v == id
	})
}

func byTag(n *html.Node, tag string) []*html.Node {
	return findAll(n, func(e *html.Node) bool { return e.Data == tag })
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

// textOf returns n's text with runs of white space collapsed.
func textOf(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

func hiddenFields(t *testing.T, page string) url.Values {
	t.Helper()
	v := url.Values{}
	for _, in := range byTag(parseHTML(t, page), "input") {
		if typ, _ := attr(in, "type"); typ == "hidden" {
			name, _ := attr(in, "name")
			val, _ := attr(in, "value")
			v.Set(name, val)
		}
	}
	return v
}

func oneByTestID(t *testing.T, n *html.Node, id string) *html.Node {
	t.Helper()
	got := byTestID(n, id)
	if len(got) != 1 {
		t.Fatalf("data-testid=%q: found %d elements, want 1", id, len(got))
	}
	return got[0]
}
