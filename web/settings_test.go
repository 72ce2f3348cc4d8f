package web

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/nextoria/authz/apps/appstest"
	"github.com/nextoria/authz/storage"
)

// Users of the settings tests, besides testEmail (admin of ws-1).
const (
	ownerEmail  = "owner@example.com" // member of ws-1 who registered ownedApp
	memberEmail = "member@example.com"
	globexEmail = "admin@globex.example" // admin of ws-2
	ownedApp    = "app-owned"
	globexApp   = "app-globex"
)

// newSettingsEnv is a test server with four users and an app in each workspace.
func newSettingsEnv(t *testing.T) *testEnv {
	t.Helper()
	env := newTestEnv(t)
	env.store.addUser("u-owner", ownerEmail, "ws-1", storage.RoleMember)
	env.store.addUser("u-member", memberEmail, "ws-1", storage.RoleMember)
	env.store.addUser("u-globex", globexEmail, "ws-2", storage.RoleAdmin)
	now := time.Now()
	env.store.putApp(storage.App{
		ClientID: ownedApp, Name: "Owned App", RedirectURIs: []string{"https://owned.example/cb"},
		Scopes: []string{"projects:read"}, WorkspaceID: "ws-1", OwnerID: "u-owner", SecretHash: []byte("h"),
		CreatedAt: now, UpdatedAt: now,
	})
	env.store.putApp(storage.App{
		ClientID: globexApp, Name: "Globex App", RedirectURIs: []string{"https://globex.example/cb"},
		Scopes: []string{"tasks:read"}, WorkspaceID: "ws-2", OwnerID: "u-globex", SecretHash: []byte("h"),
		CreatedAt: now, UpdatedAt: now,
	})
	return env
}

// signedIn returns a browser signed in as email.
func (e *testEnv) signedIn(t *testing.T, email string) *browser {
	t.Helper()
	b := e.browser(t)
	if resp := b.login(email, testPassword, ""); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in as %s: %d", email, resp.StatusCode)
	}
	return b
}

// token returns this browser's CSRF token for binding.
func (b *browser) token(binding string) string {
	b.t.Helper()
	return b.get("/probe/csrf/" + url.PathEscape(binding)).body
}

// postMultipart posts fields and, when logo is not nil, a file named
// filename as the logo field.
func (b *browser) postMultipart(path string, fields url.Values, filename string, logo []byte, header ...string) response {
	b.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, vs := range fields {
		for _, v := range vs {
			if err := mw.WriteField(k, v); err != nil {
				b.t.Fatal(err)
			}
		}
	}
	if logo != nil {
		fw, err := mw.CreateFormFile("logo", filename)
		if err != nil {
			b.t.Fatal(err)
		}
		if _, err := fw.Write(logo); err != nil {
			b.t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		b.t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(b.t.Context(), http.MethodPost, b.env.ts.URL+path, &body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

// postFormHeaders posts a URL-encoded form with extra headers.
func (b *browser) postFormHeaders(path string, form url.Values, header ...string) response {
	b.t.Helper()
	req, err := http.NewRequestWithContext(b.t.Context(), http.MethodPost, b.env.ts.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

func validAppForm(token string) url.Values {
	return url.Values{
		"csrf_token":    {token},
		"name":          {"Acme Sync"},
		"redirect_uris": {"https://acme.example/callback\r\n\r\nhttp://127.0.0.1:9999/cb\r\n"},
		"scope":         {"projects:read", "tasks:read"},
		"client_type":   {"confidential"},
	}
}

func TestSettingsRequireSignIn(t *testing.T) {
	t.Parallel()
	env := newSettingsEnv(t)
	tests := []struct{ method, path, next string }{
		{http.MethodGet, "/settings", "/settings"},
		{http.MethodGet, "/settings/api/apps", "/settings/api/apps"},
		{http.MethodGet, "/settings/api/apps/new", "/settings/api/apps/new"},
		{http.MethodGet, "/settings/api/apps/" + ownedApp, "/settings/api/apps/" + ownedApp},
		{http.MethodGet, "/settings/api/apps/" + ownedApp + "/delete", "/settings/api/apps/" + ownedApp + "/delete"},
		{http.MethodGet, "/settings/api/keys", "/settings/api/keys"},
		{http.MethodGet, "/settings/api/keys/new", "/settings/api/keys/new"},
		{http.MethodGet, "/settings/api/keys/k1/revoke", "/settings/api/keys/k1/revoke"},
		{http.MethodGet, "/settings/authorized-apps", "/settings/authorized-apps"},
		{http.MethodPost, "/settings/api/keys", "/settings/api/keys/new"},
		{http.MethodPost, "/settings/api/keys/k1/revoke", "/settings/api/keys"},
		{http.MethodPost, "/settings/api/apps", "/settings/api/apps/new"},
		{http.MethodPost, "/settings/api/apps/" + ownedApp, "/settings/api/apps/" + ownedApp},
		{http.MethodPost, "/settings/api/apps/" + ownedApp + "/secret", "/settings/api/apps/" + ownedApp},
		{http.MethodPost, "/settings/api/apps/" + ownedApp + "/delete", "/settings/api/apps/" + ownedApp},
		{http.MethodPost, "/settings/authorized-apps/" + ownedApp + "/revoke", "/settings/authorized-apps"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			b := env.browser(t)
			var resp response
			if tt.method == http.MethodGet {
				resp = b.get(tt.path)
			} else {
				resp = b.postForm(tt.path, url.Values{"csrf_token": {"x"}})
			}
			want := "/login?next=" + url.QueryEscape(tt.next)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
				t.Errorf("= %d %q, want 303 %q", resp.StatusCode, resp.Header.Get("Location"), want)
			}
		})
	}
	if env.apps.writes() != 0 || env.keys.writes() != 0 {
		t.Error("a signed-out request reached the app or API key service")
	}
}

var nonceAttr = regexp.MustCompile(`<script src="/static/copy\.js\?v=[0-9a-f]{16}" nonce="([^"]+)" defer>`)

var previewNonceAttr = regexp.MustCompile(`<script src="/static/logo-preview\.js\?v=[0-9a-f]{16}" nonce="([^"]+)" defer>`)

// cspPreviewPattern is the CSP of the pages with a logo field: cspPattern
// with data: and blob: images for the logo preview.
var cspPreviewPattern = regexp.MustCompile(`^default-src 'none'; script-src 'nonce-([A-Za-z0-9+/]{22}==)'; style-src 'self'; img-src 'self' data: blob:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'$`)

func TestSettingsPages(t *testing.T) {
	t.Parallel()
	env := newSettingsEnv(t)
	env.store.grants["u-owner"] = []storage.Grant{{UserID: "u-owner", ClientID: globexApp, Scopes: []string{"tasks:read"}, GrantedAt: time.Now(), LastUsedAt: time.Now()}}
	b := env.signedIn(t, ownerEmail)
	tests := []struct {
		path, nav, title string
		logoField        bool // the page has the logo field, its preview and their CSP
	}{
		{"/settings/api/apps", "nav-apps", "OAuth Applications", false},
		{"/settings/api/apps/new", "nav-apps", "Register App", true},
		{"/settings/api/apps/" + ownedApp, "nav-apps", "Owned App", true},
		{"/settings/api/apps/" + ownedApp + "/delete", "nav-apps", "Delete “Owned App”?", false},
		{"/settings/api/keys", "nav-api-keys", "API keys", false},
		{"/settings/api/keys/new", "nav-new-api-key", "New API Key", false},
		{"/settings/authorized-apps", "nav-authorized-apps", "Authorized apps", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp := b.get(tt.path)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d", resp.StatusCode)
			}
			if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("X-Frame-Options") != "DENY" {
				t.Errorf("headers = %v", resp.Header)
			}
			// Only the pages with the logo field allow data: and blob: images.
			pattern, scripts := cspPattern, 1
			if tt.logoField {
				pattern, scripts = cspPreviewPattern, 2
			}
			csp := pattern.FindStringSubmatch(resp.Header.Get("Content-Security-Policy"))
			if csp == nil {
				t.Fatalf("CSP = %q", resp.Header.Get("Content-Security-Policy"))
			}
			// The copy script (and the logo preview script) carry this
			// response's nonce; nothing else is script.
			m := nonceAttr.FindStringSubmatch(resp.body)
			if m == nil || m[1] != csp[1] || strings.Count(resp.body, "<script") != scripts {
				t.Errorf("script tag %q does not carry the CSP nonce %q", m, csp[1])
			}
			if tt.logoField {
				if m := previewNonceAttr.FindStringSubmatch(resp.body); m == nil || m[1] != csp[1] {
					t.Errorf("logo preview script %q does not carry the CSP nonce %q", m, csp[1])
				}
			}
			doc := parseHTML(t, resp.body)
			if got := textOf(byTag(doc, "h1")[0]); got != tt.title {
				t.Errorf("h1 = %q, want %q", got, tt.title)
			}
			current := findAll(doc, func(n *html.Node) bool { v, _ := attr(n, "aria-current"); return v == "page" })
			if len(current) != 1 {
				t.Fatalf("%d navigation entries are current", len(current))
			}
			if id, _ := attr(current[0], "data-testid"); id != tt.nav {
				t.Errorf("current navigation entry = %q, want %q", id, tt.nav)
			}
			if got := textOf(oneByTestID(t, doc, "user-email")); got != ownerEmail {
				t.Errorf("account = %q", got)
			}
			if got := textOf(oneByTestID(t, doc, "workspace-name")); got != "Acme Studio" {
				t.Errorf("workspace = %q", got)
			}
			logout := oneByTestID(t, doc, "logout-form")
			if a, _ := attr(logout, "action"); a != "/logout" {
				t.Errorf("logout action = %q", a)
			}
			// Every form carries a CSRF token.
			for _, form := range byTag(doc, "form") {
				var tok string
				for _, in := range byTag(form, "input") {
					if n, _ := attr(in, "name"); n == "csrf_token" {
						tok, _ = attr(in, "value")
					}
				}
				if tok == "" {
					a, _ := attr(form, "action")
					t.Errorf("form %s has no CSRF token", a)
				}
			}
		})
	}

	// Sign-out from the settings layout works.
	hidden := hiddenFields(t, b.get("/settings/api/keys").body)
	if resp := b.postForm("/logout", url.Values{"csrf_token": {hidden.Get("csrf_token")}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("sign-out = %d", resp.StatusCode)
	}
	if resp := b.get("/settings/api/apps"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after sign-out = %d", resp.StatusCode)
	}
}

func TestSettingsAccessRules(t *testing.T) {
	t.Parallel()
	type want struct {
		get    int  // GET of the app page
		form   bool // the page offers the settings form
		post   int  // each POST about the app, with a valid token
		listed bool // the app is in the user's list
	}
	tests := []struct {
		user string
		app  string
		want want
	}{
		{ownerEmail, ownedApp, want{http.StatusOK, true, http.StatusSeeOther, true}},
		{testEmail, ownedApp, want{http.StatusOK, true, http.StatusSeeOther, true}}, // workspace admin
		{memberEmail, ownedApp, want{http.StatusOK, false, http.StatusForbidden, true}},
		{globexEmail, ownedApp, want{http.StatusNotFound, false, http.StatusNotFound, false}},
		{testEmail, globexApp, want{http.StatusNotFound, false, http.StatusNotFound, false}},
		{ownerEmail, "no-such-app", want{http.StatusNotFound, false, http.StatusNotFound, false}},
	}
	for _, tt := range tests {
		t.Run(tt.user+" on "+tt.app, func(t *testing.T) {
			t.Parallel()
			env := newSettingsEnv(t)
			b := env.signedIn(t, tt.user)
			page := b.get("/settings/api/apps/" + tt.app)
			if page.StatusCode != tt.want.get {
				t.Fatalf("GET = %d, want %d", page.StatusCode, tt.want.get)
			}
			if got := len(byTestID(parseHTML(t, page.body), "app-form")) == 1; got != tt.want.form {
				t.Errorf("settings form offered = %v, want %v", got, tt.want.form)
			}
			if tt.want.get == http.StatusNotFound && strings.Contains(page.body, "Owned App") {
				t.Error("the 404 page names the app")
			}
			if confirm := b.get("/settings/api/apps/" + tt.app + "/delete"); tt.want.post != http.StatusSeeOther && confirm.StatusCode != tt.want.post {
				t.Errorf("GET delete confirmation = %d, want %d", confirm.StatusCode, tt.want.post)
			}
			listed := strings.Contains(b.get("/settings/api/apps").body, `data-client-id="`+tt.app+`"`)
			if listed != tt.want.listed {
				t.Errorf("listed = %v, want %v", listed, tt.want.listed)
			}

			before, _ := env.store.app(tt.app)
			posts := []struct {
				path    string
				binding string
				form    url.Values
			}{
				{"", "update", validAppForm("")},
				{"/secret", "rotate", url.Values{"overlap": {"now"}, "confirm": {"yes"}}},
				{"/delete", "delete", url.Values{"confirm": {"yes"}}},
			}
			for _, p := range posts {
				p.form.Set("csrf_token", b.token(appBinding(p.binding, tt.app)))
				resp := b.postForm("/settings/api/apps/"+tt.app+p.path, p.form)
				if resp.StatusCode != tt.want.post {
					t.Errorf("POST %s = %d, want %d", p.binding, resp.StatusCode, tt.want.post)
				}
				if tt.want.post == http.StatusNotFound {
					// Another workspace's app is a 404 whatever the token.
					p.form.Set("csrf_token", "")
					if resp := b.postForm("/settings/api/apps/"+tt.app+p.path, p.form); resp.StatusCode != http.StatusNotFound {
						t.Errorf("POST %s without a token = %d, want 404", p.binding, resp.StatusCode)
					}
				}
			}
			after, _ := env.store.app(tt.app)
			if tt.want.post != http.StatusSeeOther && !appsEqual(before, after) {
				t.Errorf("the app changed: %+v → %+v", before, after)
			}
		})
	}
}

func appsEqual(a, b storage.App) bool {
	return a.Name == b.Name && slices.Equal(a.RedirectURIs, b.RedirectURIs) && slices.Equal(a.Scopes, b.Scopes) &&
		bytes.Equal(a.SecretHash, b.SecretHash) && a.HasLogo == b.HasLogo
}

func TestSettingsFormsNeedCSRF(t *testing.T) {
	t.Parallel()
	env := newSettingsEnv(t)
	b := env.signedIn(t, ownerEmail)
	env.store.grants["u-owner"] = []storage.Grant{{UserID: "u-owner", ClientID: ownedApp, Scopes: []string{"projects:read"}}}
	other := env.browser(t)
	other.login(testEmail, testPassword, "")
	tests := []struct {
		name   string
		path   string
		token  string
		form   url.Values
		upload bool
	}{
		{"register without token", "/settings/api/apps", "", validAppForm(""), true},
		{"register with another purpose's token", "/settings/api/apps", b.token(appBinding("update", ownedApp)), validAppForm(""), true},
		{"register with another browser's token", "/settings/api/apps", other.token(bindingAppRegister), validAppForm(""), true},
		{"update without token", "/settings/api/apps/" + ownedApp, "", validAppForm(""), true},
		{"update with another app's token", "/settings/api/apps/" + ownedApp, b.token(appBinding("update", "other")), validAppForm(""), true},
		{"rotate with the update token", "/settings/api/apps/" + ownedApp + "/secret", b.token(appBinding("update", ownedApp)), url.Values{"overlap": {"now"}}, false},
		{"delete with the rotate token", "/settings/api/apps/" + ownedApp + "/delete", b.token(appBinding("rotate", ownedApp)), url.Values{}, false},
		{"revoke without token", "/settings/authorized-apps/" + ownedApp + "/revoke", "", url.Values{}, false},
		{"revoke with the delete token", "/settings/authorized-apps/" + ownedApp + "/revoke", b.token(appBinding("delete", ownedApp)), url.Values{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.form.Set("csrf_token", tt.token)
			var resp response
			if tt.upload {
				resp = b.postMultipart(tt.path, tt.form, "logo.png", appstest.PNG(32, 32))
			} else {
				resp = b.postForm(tt.path, tt.form)
			}
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("status = %d, want 403", resp.StatusCode)
			}
			oneByTestID(t, parseHTML(t, resp.body), "error-title")
		})
	}
	if n := env.apps.writes(); n != 0 {
		t.Errorf("%d writes reached the app service", n)
	}
	if len(env.store.grants["u-owner"]) != 1 {
		t.Error("the grant was revoked")
	}
}

func TestSettingsRefuseCrossOriginPosts(t *testing.T) {
	t.Parallel()
	env := newSettingsEnv(t)
	b := env.signedIn(t, ownerEmail)
	for _, hdr := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "same-site"},
		{"Origin", "https://evil.example"},
	} {
		t.Run(strings.Join(hdr, "="), func(t *testing.T) {
			form := validAppForm(b.token(bindingAppRegister))
			if resp := b.postMultipart("/settings/api/apps", form, "", nil, hdr...); resp.StatusCode != http.StatusForbidden {
				t.Errorf("register = %d, want 403", resp.StatusCode)
			}
			del := url.Values{"csrf_token": {b.token(appBinding("delete", ownedApp))}}
			if resp := b.postFormHeaders("/settings/api/apps/"+ownedApp+"/delete", del, hdr...); resp.StatusCode != http.StatusForbidden {
				t.Errorf("delete = %d, want 403", resp.StatusCode)
			}
		})
	}
	if n := env.apps.writes(); n != 0 {
		t.Errorf("%d writes reached the app service", n)
	}
	// The same forms from this origin pass.
	resp := b.postFormHeaders("/settings/api/apps/"+ownedApp+"/delete",
		url.Values{"csrf_token": {b.token(appBinding("delete", ownedApp))}, "confirm": {"yes"}}, "Sec-Fetch-Site", "same-origin")
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("same-origin delete = %d", resp.StatusCode)
	}
}

func TestRegisterShowsSecretOnce(t *testing.T) {
	t.Parallel()
	env := newSettingsEnv(t)
	b := env.signedIn(t, memberEmail) // any member may register
	form := validAppForm(hiddenFields(t, b.get("/settings/api/apps/new").body).Get("csrf_token"))
	resp := b.postMultipart("/settings/api/apps", form, "logo.png", appstest.PNG(32, 32))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/settings/api/apps/client-1" {
		t.Fatalf("register = %d %q: %s", resp.StatusCode, resp.Header.Get("Location"), resp.body)
	}
	sec := env.apps.secrets[0]
	if strings.Contains(resp.Header.Get("Location"), sec) {
		t.Fatal("the secret is in the URL")
	}
	app, ok := env.store.app("client-1")
	if !ok || app.OwnerID != "u-member" || app.WorkspaceID != "ws-1" || !app.HasLogo ||
		!slices.Equal(app.RedirectURIs, []string{"https://acme.example/callback", "http://127.0.0.1:9999/cb"}) {
		t.Fatalf("registered app = %+v", app)
	}

	head, err := http.NewRequestWithContext(t.Context(), http.MethodHead, env.ts.URL+"/settings/api/apps/client-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp := b.do(head); resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD = %d", resp.StatusCode)
	}
	page := b.get("/settings/api/apps/client-1") // the HEAD consumed nothing
	doc := parseHTML(t, page.body)
	if got := textOf(oneByTestID(t, doc, "client-secret")); got != sec {
		t.Errorf("secret shown = %q, want %q", got, sec)
	}
	if _, hidden := attr(oneByTestID(t, doc, "copy-secret"), "hidden"); !hidden {
		t.Error("the copy button is visible without its script")
	}
	if got := textOf(oneByTestID(t, doc, "flash")); !strings.Contains(got, "Acme Sync") {
		t.Errorf("flash = %q", got)
	}
	if page.Header.Get("Cache-Control") != "no-store" {
		t.Error("the page with the secret may be cached")
	}
	// The creator may manage the app.
	oneByTestID(t, doc, "app-form")

	again := b.get("/settings/api/apps/client-1")
	if strings.Contains(again.body, sec) || len(byTestID(parseHTML(t, again.body), "secret-once")) != 0 {
		t.Error("the secret is shown again after a reload")
	}
	if len(byTestID(parseHTML(t, again.body), "flash")) != 0 {
		t.Error("the flash is shown twice")
	}

	t.Run("another page first consumes it", func(t *testing.T) {
		form := validAppForm(b.token(bindingAppRegister))
		if resp := b.postMultipart("/settings/api/apps", form, "", nil); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("register = %d", resp.StatusCode)
		}
		b.get("/settings/api/apps")
		if strings.Contains(b.get("/settings/api/apps/client-2").body, env.apps.secrets[1]) {
			t.Error("the secret waited for its page")
		}
	})
	t.Run("public apps get no secret", func(t *testing.T) {
		form := validAppForm(b.token(bindingAppRegister))
		form.Set("client_type", "public")
		resp := b.postMultipart("/settings/api/apps", form, "", nil)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("register = %d", resp.StatusCode)
		}
		doc := parseHTML(t, b.get(resp.Header.Get("Location")).body)
		if len(byTestID(doc, "secret-once")) != 0 || len(byTestID(doc, "rotate-form")) != 0 {
			t.Error("a public app shows a secret or rotation")
		}
		oneByTestID(t, doc, "flash")
	})
}

func TestRegisterFormErrors(t *testing.T) {
	t.Parallel()
	env := newSettingsEnv(t)
	b := env.signedIn(t, ownerEmail)
	form := validAppForm(b.token(bindingAppRegister))
	form.Set("name", "")
	form.Set("redirect_uris", "https://acme.example/cb#frag\nhttp://evil.example/cb")
	form.Del("scope")
	form.Set("client_type", "public")
	resp := b.postMultipart("/settings/api/apps", form, "logo.svg", []byte(appstest.SVG))
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("status = %d, want 422", resp.StatusCode)
	}
	doc := parseHTML(t, resp.body)
	for field, want := range map[string]string{
		"name":          "App Name is required.",
		"redirect_uris": "fragment",
		"scopes":        "At least one scope is required.",
		"logo":          "PNG, JPEG or WebP",
	} {
		msg := oneByTestID(t, doc, field+"-error")
		if got := textOf(msg); !strings.Contains(got, want) {
			t.Errorf("%s error = %q, want it to contain %q", field, got, want)
		}
		if id, _ := attr(msg, "id"); id != field+"-error" {
			t.Errorf("%s error id = %q", field, id)
		}
	}
	for _, id := range []string{"name", "redirect-uris", "logo"} {
		in := oneByTestID(t, doc, id)
		if v, _ := attr(in, "aria-invalid"); v != "true" {
			t.Errorf("%s is not marked invalid", id)
		}
		if v, _ := attr(in, "aria-describedby"); !strings.HasSuffix(v, "-error") {
			t.Errorf("%s aria-describedby = %q", id, v)
		}
	}
	if got := len(byTag(oneByTestID(t, doc, "error-summary"), "li")); got != 4 {
		t.Errorf("error summary lists %d problems, want 4", got)
	}
	// What was typed is kept.
	if got := textOf(oneByTestID(t, doc, "redirect-uris")); !strings.Contains(got, "http://evil.example/cb") {
		t.Errorf("redirect URIs not kept: %q", got)
	}
	if _, checked := attr(oneByTestID(t, doc, "type-public"), "checked"); !checked {
		t.Error("client type not kept")
	}
	if hiddenFields(t, resp.body).Get("csrf_token") == "" {
		t.Error("the form lost its CSRF token")
	}
	if n := len(env.store.apps); n != 2 {
		t.Errorf("%d apps, want the 2 of the fixture", n)
	}
}

// TestRegisterProfileFields: the registration form asks for the client type
// first, then the app's description, homepage and privacy policy; valid
// values are registered, invalid ones are reported by field and kept.
func TestRegisterProfileFields(t *testing.T) {
	t.Parallel()
	env := newSettingsEnv(t)
	b := env.signedIn(t, ownerEmail)
	page := b.get("/settings/api/apps/new").body
	if i, j := strings.Index(page, `data-testid="type-confidential"`), strings.Index(page, `data-testid="name"`); i < 0 || j < 0 || i > j {
		t.Error("the client type does not come first")
	}
	for _, id := range []string{"description", "homepage-url", "privacy-url"} {
		oneByTestID(t, parseHTML(t, page), id)
	}

	form := validAppForm(b.token(bindingAppRegister))
	form.Set("description", "Keeps Acme in sync.")
	form.Set("homepage_url", "https://acme.example/")
	form.Set("privacy_url", "https://acme.example/privacy")
	resp := b.postMultipart("/settings/api/apps", form, "", nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("register = %d: %s", resp.StatusCode, resp.body)
	}
	app, ok := env.store.app(strings.TrimPrefix(resp.Header.Get("Location"), "/settings/api/apps/"))
	if !ok || app.Description != "Keeps Acme in sync." || app.HomepageURL != "https://acme.example/" ||
		app.PrivacyURL != "https://acme.example/privacy" {
		t.Fatalf("registered app = %+v", app)
	}
	// The app's settings form shows the stored profile.
	doc := parseHTML(t, b.get(resp.Header.Get("Location")).body)
	if v, _ := attr(oneByTestID(t, doc, "homepage-url"), "value"); v != "https://acme.example/" {
		t.Errorf("settings form homepage = %q", v)
	}

	form = validAppForm(b.token(bindingAppRegister))
	form.Set("description", "two\nlines")
	form.Set("homepage_url", "http://acme.example/")
	form.Set("privacy_url", "javascript:alert(1)")
	resp = b.postMultipart("/settings/api/apps", form, "", nil)
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("status = %d, want 422", resp.StatusCode)
	}
	doc = parseHTML(t, resp.body)
	for field, want := range map[string]string{
		"description":  "Description must be a single line",
		"homepage_url": "Homepage URL must be an https://",
		"privacy_url":  "Privacy policy URL must be an https://",
	} {
		if got := textOf(oneByTestID(t, doc, field+"-error")); !strings.Contains(got, want) {
			t.Errorf("%s error = %q, want %q", field, got, want)
		}
	}
	if v, _ := attr(oneByTestID(t, doc, "homepage-url"), "value"); v != "http://acme.example/" {
		t.Errorf("typed homepage not kept: %q", v)
	}
}

func TestUploadLimits(t *testing.T) {
	t.Parallel()
	env := newSettingsEnv(t)
	b := env.signedIn(t, ownerEmail)
	tests := []struct {
		name   string
		path   string
		req    func(t *testing.T) *http.Request
		want   int
		notice bool // the form is shown again with a notice
	}{
		{
			name: "body over the limit", path: "/settings/api/apps",
			req: func(t *testing.T) *http.Request {
				return multipartRequest(t, env.ts.URL+"/settings/api/apps", validAppForm(b.token(bindingAppRegister)), appstest.Oversized(1100<<10), false)
			},
			want: http.StatusRequestEntityTooLarge, notice: true,
		},
		{
			name: "body over the limit, without a length", path: "/settings/api/apps",
			req: func(t *testing.T) *http.Request {
				return multipartRequest(t, env.ts.URL+"/settings/api/apps", validAppForm(b.token(bindingAppRegister)), appstest.Oversized(1100<<10), true)
			},
			want: http.StatusRequestEntityTooLarge, notice: true,
		},
		{
			name: "update over the limit", path: "/settings/api/apps/" + ownedApp,
			req: func(t *testing.T) *http.Request {
				return multipartRequest(t, env.ts.URL+"/settings/api/apps/"+ownedApp, validAppForm(b.token(appBinding("update", ownedApp))), appstest.Oversized(1100<<10), false)
			},
			want: http.StatusRequestEntityTooLarge, notice: true,
		},
		{
			name: "json",
			req: func(t *testing.T) *http.Request {
				r, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, env.ts.URL+"/settings/api/apps", strings.NewReader(`{"name":"x"}`))
				r.Header.Set("Content-Type", "application/json")
				return r
			},
			want: http.StatusUnsupportedMediaType,
		},
		{
			name: "malformed multipart",
			req: func(t *testing.T) *http.Request {
				r, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, env.ts.URL+"/settings/api/apps", strings.NewReader("--x\r\nnonsense"))
				r.Header.Set("Content-Type", "multipart/form-data; boundary=x")
				return r
			},
			want: http.StatusBadRequest,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := b.do(tt.req(t))
			if resp.StatusCode != tt.want {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.want)
			}
			doc := parseHTML(t, resp.body)
			if tt.notice {
				if got := textOf(oneByTestID(t, doc, "form-notice")); !strings.Contains(got, "256 KiB") {
					t.Errorf("notice = %q", got)
				}
				oneByTestID(t, doc, "app-form")
			} else {
				oneByTestID(t, doc, "error-title")
			}
		})
	}
	if n := env.apps.writes(); n != 0 {
		t.Errorf("%d writes reached the app service", n)
	}
}

// multipartRequest builds a registration post with a logo; chunked hides
// the length, as a streaming client would.
func multipartRequest(t *testing.T, u string, fields url.Values, logo []byte, chunked bool) *http.Request {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, vs := range fields {
		for _, v := range vs {
			_ = mw.WriteField(k, v)
		}
	}
	fw, _ := mw.CreateFormFile("logo", "big.png")
	_, _ = fw.Write(logo)
	_ = mw.Close()
	var r io.Reader = &body
	if chunked {
		r = io.MultiReader(&body) // not a *bytes.Buffer: no ContentLength
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, u, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return req
}

func TestUpdateRotateDelete(t *testing.T) {
	t.Parallel()
	env := newSettingsEnv(t)
	b := env.signedIn(t, ownerEmail)
	path := "/settings/api/apps/" + ownedApp

	t.Run("update", func(t *testing.T) {
		form := validAppForm(b.token(appBinding("update", ownedApp)))
		form.Set("name", "  Renamed  ")
		resp := b.postMultipart(path, form, "new.png", appstest.PNG(20, 20))
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != path {
			t.Fatalf("update = %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		app, _ := env.store.app(ownedApp)
		if app.Name != "Renamed" || !app.HasLogo || !slices.Equal(app.Scopes, []string{"projects:read", "tasks:read"}) {
			t.Errorf("app = %+v", app)
		}
		if app.Public {
			t.Error("the client type changed")
		}
	})
	t.Run("PKCE checkbox", func(t *testing.T) {
		for _, required := range []bool{true, false, true} {
			form := validAppForm(b.token(appBinding("update", ownedApp)))
			if required {
				form.Set("pkce_required", "on")
			}
			if resp := b.postMultipart(path, form, "", nil); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("update = %d", resp.StatusCode)
			}
			if app, _ := env.store.app(ownedApp); app.PKCEOptional == required {
				t.Fatalf("pkce_required=%v stored PKCEOptional=%v", required, app.PKCEOptional)
			}
			doc := parseHTML(t, b.get(path).body)
			if _, checked := attr(oneByTestID(t, doc, "pkce-required"), "checked"); checked != required {
				t.Fatalf("checkbox checked = %v, want %v", checked, required)
			}
		}
	})
	t.Run("ID token algorithm select", func(t *testing.T) {
		doc := parseHTML(t, b.get(path).body)
		if got, _ := attr(byTag(oneByTestID(t, doc, "id-token-alg"), "option")[0], "selected"); got != "" || !strings.Contains(textOf(oneByTestID(t, doc, "id-token-alg-field")), "RS256 (default)") {
			t.Errorf("default option")
		}
		for _, alg := range []string{"ES256", "", "RS256"} {
			form := validAppForm(b.token(appBinding("update", ownedApp)))
			form.Set("pkce_required", "on")
			if alg != "" {
				form.Set("id_token_alg", alg)
			}
			if resp := b.postMultipart(path, form, "", nil); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("update = %d", resp.StatusCode)
			}
			want := alg
			if alg == "" {
				want = "ES256" // not sent: kept
			}
			if app, _ := env.store.app(ownedApp); app.IDTokenAlg != want {
				t.Fatalf("id_token_alg=%q stored %q, want %q", alg, app.IDTokenAlg, want)
			}
			doc := parseHTML(t, b.get(path).body)
			for _, opt := range byTag(oneByTestID(t, doc, "id-token-alg"), "option") {
				v, _ := attr(opt, "value")
				if _, selected := attr(opt, "selected"); selected != (v == want) {
					t.Errorf("option %s selected = %v, want %s selected", v, selected, want)
				}
			}
		}
		form := validAppForm(b.token(appBinding("update", ownedApp)))
		form.Set("id_token_alg", "HS256")
		resp := b.postMultipart(path, form, "", nil)
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("HS256: status %d", resp.StatusCode)
		}
		if got := textOf(oneByTestID(t, parseHTML(t, resp.body), "id_token_alg-error")); !strings.Contains(got, "RS256") {
			t.Errorf("error = %q", got)
		}
		if app, _ := env.store.app(ownedApp); app.IDTokenAlg != storage.IDTokenRS256 {
			t.Errorf("a refused update changed id_token_alg to %q", app.IDTokenAlg)
		}
	})
	t.Run("update errors keep the values", func(t *testing.T) {
		form := validAppForm(b.token(appBinding("update", ownedApp)))
		form.Set("redirect_uris", "https://*.acme.example/cb")
		resp := b.postMultipart(path, form, "", nil)
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("status = %d", resp.StatusCode)
		}
		doc := parseHTML(t, resp.body)
		if got := textOf(oneByTestID(t, doc, "redirect_uris-error")); !strings.Contains(got, "wildcard") {
			t.Errorf("error = %q", got)
		}
		if got, _ := attr(oneByTestID(t, doc, "name"), "value"); got != "Acme Sync" {
			t.Errorf("name = %q", got)
		}
	})
	t.Run("rotate", func(t *testing.T) {
		doc := parseHTML(t, b.get(path).body)
		if _, checked := attr(oneByTestID(t, doc, "overlap-"+defaultOverlap), "checked"); !checked {
			t.Errorf("%s is not preselected", defaultOverlap)
		}
		resp := b.postForm(path+"/secret", url.Values{"csrf_token": {b.token(appBinding("rotate", ownedApp))}, "overlap": {"1h"}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("rotate = %d", resp.StatusCode)
		}
		page := parseHTML(t, b.get(path).body)
		sec := env.apps.secrets[len(env.apps.secrets)-1]
		if got := textOf(oneByTestID(t, page, "client-secret")); got != sec {
			t.Errorf("secret = %q, want %q", got, sec)
		}
		if got := textOf(oneByTestID(t, page, "flash")); !strings.Contains(got, "1 hour") {
			t.Errorf("flash = %q", got)
		}
		if got := textOf(oneByTestID(t, page, "previous-secret")); !strings.Contains(got, "also works until") {
			t.Errorf("previous secret = %q", got)
		}
		bad := b.postForm(path+"/secret", url.Values{"csrf_token": {b.token(appBinding("rotate", ownedApp))}, "overlap": {"forever"}})
		if bad.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("unknown overlap = %d", bad.StatusCode)
		}
		oneByTestID(t, parseHTML(t, bad.body), "overlap-error")
	})
	t.Run("delete", func(t *testing.T) {
		confirm := b.get(path + "/delete")
		resp := b.postForm(path+"/delete", hiddenFields(t, confirm.body))
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/settings/api/apps" {
			t.Fatalf("delete = %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if _, ok := env.store.app(ownedApp); ok {
			t.Error("the app still exists")
		}
		list := parseHTML(t, b.get("/settings/api/apps").body)
		if got := textOf(oneByTestID(t, list, "flash")); !strings.Contains(got, "deleted") {
			t.Errorf("flash = %q", got)
		}
		if resp := b.get(path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("deleted app page = %d", resp.StatusCode)
		}
	})
}

func TestGrantsPageAndRevoke(t *testing.T) {
	t.Parallel()
	env := newSettingsEnv(t)
	now := time.Now()
	env.store.grants["u-member"] = []storage.Grant{
		{UserID: "u-member", ClientID: globexApp, Scopes: []string{"tasks:read", "projects:read"}, GrantedAt: now, LastUsedAt: now},
	}
	b := env.signedIn(t, memberEmail)
	page := b.get("/settings/authorized-apps")
	doc := parseHTML(t, page.body)
	row := oneByTestID(t, doc, "grant-row")
	if got := textOf(oneByTestID(t, row, "grant-app-name")); got != "Globex App" {
		t.Errorf("app = %q (apps of other workspaces are listed too)", got)
	}
	if n := len(byTestID(row, "grant-app-description")); n != 0 {
		t.Error("a description is shown for an app without one")
	}
	globex, _ := env.store.app(globexApp)
	globex.Description = "Globex's <planner>."
	env.store.putApp(globex)
	described := oneByTestID(t, parseHTML(t, b.get("/settings/authorized-apps").body), "grant-app-description")
	if got := textOf(described); got != "Globex's <planner>." {
		t.Errorf("description = %q", got)
	}
	text := textOf(oneByTestID(t, row, "grant-scopes"))
	for _, want := range []string{"List and read project data", "Read task data across projects"} {
		if !strings.Contains(text, want) {
			t.Errorf("scopes %q lack %q", text, want)
		}
	}
	revoke := oneByTestID(t, row, "revoke")
	if got := textOf(revoke); got != "Revoke access… of Globex App" {
		t.Errorf("link = %q", got)
	}
	href, _ := attr(revoke, "href")
	confirm := b.get(href)
	if confirm.StatusCode != http.StatusOK {
		t.Fatalf("confirmation page %s = %d", href, confirm.StatusCode)
	}
	form := hiddenFields(t, confirm.body)
	if form.Get("confirm") != "yes" {
		t.Errorf("the confirmation form sends %v", form)
	}
	resp := b.postForm("/settings/authorized-apps/"+globexApp+"/revoke", form)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/settings/authorized-apps" {
		t.Fatalf("revoke = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	after := parseHTML(t, b.get("/settings/authorized-apps").body)
	oneByTestID(t, after, "no-grants")
	if got := textOf(oneByTestID(t, after, "flash")); !strings.Contains(got, "Globex App") {
		t.Errorf("flash = %q", got)
	}
	if resp := b.postForm("/settings/authorized-apps/"+globexApp+"/revoke", form); resp.StatusCode != http.StatusNotFound {
		t.Errorf("second revoke = %d, want 404", resp.StatusCode)
	}
}

func TestReturnPath(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ method, target, want string }{
		{http.MethodGet, "/settings/api/apps?x=1", "/settings/api/apps?x=1"},
		{http.MethodPost, "/settings/api/apps", "/settings/api/apps/new"},
		{http.MethodPost, "/settings/api/apps/abc", "/settings/api/apps/abc"},
		{http.MethodPost, "/settings/api/apps/abc/secret", "/settings/api/apps/abc"},
		{http.MethodPost, "/settings/api/apps/abc/delete", "/settings/api/apps/abc"},
		{http.MethodPost, "/settings/authorized-apps/abc/revoke", "/settings/authorized-apps"},
		{http.MethodPost, "/settings/api/keys", "/settings/api/keys/new"},
		{http.MethodPost, "/settings/api/keys/abc/revoke", "/settings/api/keys"},
	} {
		r, err := http.NewRequest(tt.method, tt.target, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := returnPath(r); got != tt.want {
			t.Errorf("returnPath(%s %s) = %q, want %q", tt.method, tt.target, got, tt.want)
		}
	}
}

func TestRedirectURIs(t *testing.T) {
	t.Parallel()
	got := redirectURIs(" https://a.example/cb \r\n\r\n\thttp://127.0.0.1/cb\n\n")
	if !slices.Equal(got, []string{"https://a.example/cb", "http://127.0.0.1/cb"}) {
		t.Errorf("redirectURIs = %q", got)
	}
	if got := redirectURIs(" \n "); got != nil {
		t.Errorf("blank text = %q", got)
	}
}

func TestFieldMessage(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ field, msg, want string }{
		{"name", "is required", "App Name is required."},
		{"name", "must be at most 100 characters", "App Name must be at most 100 characters."},
		{"scopes", "at least one scope is required", "At least one scope is required."},
		{"redirect_uris", `redirect URI "x": must use https`, `Redirect URI "x": must use https.`},
		{"logo", "logo must be at most 256 KiB", "Logo must be at most 256 KiB."},
	} {
		if got := fieldMessage(tt.field, tt.msg); got != tt.want {
			t.Errorf("fieldMessage(%q, %q) = %q, want %q", tt.field, tt.msg, got, tt.want)
		}
	}
}
