package main

import (
	"bytes"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
	"golang.org/x/oauth2"

	"github.com/nextoria/authz/apps/appstest"
	"github.com/nextoria/authz/consent"
	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
)

// addUser creates a user who signs in with e2ePassword.
func (s *e2eServer) addUser(t *testing.T, email, workspaceID, role string) storage.User {
	t.Helper()
	hash, err := secret.HashPassword(e2ePassword)
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.store.CreateUser(t.Context(), storage.NewUser{Email: email, PasswordHash: hash, WorkspaceID: workspaceID, Role: role})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// signedInAs returns a browser signed in as email.
func (s *e2eServer) signedInAs(t *testing.T, email string) *browser {
	t.Helper()
	b := s.newBrowser(t)
	p := b.get(s.URL + "/login")
	f := hidden(p.Body)
	f.Set("email", email)
	f.Set("password", e2ePassword)
	if p := b.post(s.URL+"/login", f); p.StatusCode != http.StatusOK || p.Request.URL.Path != "/" {
		t.Fatalf("sign-in as %s: %d at %s", email, p.StatusCode, p.Request.URL)
	}
	return b
}

// postMultipart posts a form with an optional logo file, as the
// registration and settings forms do.
func (b *browser) postMultipart(u string, fields url.Values, filename string, logo []byte, header ...string) page {
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
		_, _ = fw.Write(logo)
	}
	if err := mw.Close(); err != nil {
		b.t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, u, &body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

// formToken returns the CSRF token of the form of body that posts to action
// (a path), or "" when there is none.
func formToken(t *testing.T, body, action string) string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode || n.Data != "form" || attrOf(n, "action") != action {
			continue
		}
		for in := range n.Descendants() {
			if in.Type == html.ElementNode && in.Data == "input" && attrOf(in, "name") == "csrf_token" {
				return attrOf(in, "value")
			}
		}
	}
	return ""
}

func attrOf(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// byTestID returns the text of the elements with data-testid=id.
func byTestID(t *testing.T, body, id string) []string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for n := range doc.Descendants() {
		if n.Type == html.ElementNode && attrOf(n, "data-testid") == id {
			var b strings.Builder
			for d := range n.Descendants() {
				if d.Type == html.TextNode {
					b.WriteString(d.Data)
				}
			}
			out = append(out, strings.Join(strings.Fields(b.String()), " "))
		}
	}
	return out
}

// registration is a valid registration form without its token.
func registration() url.Values {
	return url.Values{
		"name":          {"Acme Sync"},
		"redirect_uris": {"https://acme.example/callback\nhttp://127.0.0.1:9/callback"},
		"scope":         {"projects:read", "tasks:read"},
		"client_type":   {"confidential"},
	}
}

// register posts the registration form and returns the page it leads to.
func (b *browser) register(form url.Values, filename string, logo []byte, header ...string) page {
	b.t.Helper()
	tok := formToken(b.t, b.get(b.s.URL+"/settings/api/apps/new").Body, "/settings/api/apps")
	if tok == "" {
		b.t.Fatal("the registration form has no CSRF token")
	}
	form = cloneValues(form)
	form.Set("csrf_token", tok)
	return b.postMultipart(b.s.URL+"/settings/api/apps", form, filename, logo, header...)
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

func (s *e2eServer) countApps(t *testing.T) int {
	t.Helper()
	list, err := s.store.ListApps(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

// TestE2ESettingsRegistrationRules: each rule of a registration answers 422
// with the form again, a message at the field and what was typed; nothing is
// created.
func TestE2ESettingsRegistrationRules(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	b := s.signedInAs(t, s.Email)
	before := s.countApps(t)
	tests := []struct {
		name     string
		edit     func(url.Values)
		filename string
		logo     []byte
		field    string // data-testid of the expected message
		want     string // substring of the message
	}{
		{name: "name missing", edit: func(f url.Values) { f.Set("name", "  ") }, field: "name-error", want: "App Name is required"},
		{name: "name too long", edit: func(f url.Values) { f.Set("name", strings.Repeat("n", 101)) }, field: "name-error", want: "at most 100 characters"},
		{name: "name with a control character", edit: func(f url.Values) { f.Set("name", "Acme\x07Sync") }, field: "name-error", want: "printable"},
		{name: "name with a bidi override", edit: func(f url.Values) { f.Set("name", "Acme \u202eevil") }, field: "name-error", want: "printable"},
		{name: "no redirect URI", edit: func(f url.Values) { f.Set("redirect_uris", "\n \n") }, field: "redirect_uris-error", want: "At least one redirect URI"},
		{name: "relative redirect URI", edit: func(f url.Values) { f.Set("redirect_uris", "/callback") }, field: "redirect_uris-error", want: "absolute URL"},
		{name: "redirect URI with fragment", edit: func(f url.Values) { f.Set("redirect_uris", "https://acme.example/cb#x") }, field: "redirect_uris-error", want: "fragment"},
		{name: "plain http redirect URI", edit: func(f url.Values) { f.Set("redirect_uris", "http://acme.example/cb") }, field: "redirect_uris-error", want: "must use https"},
		{name: "wildcard redirect URI", edit: func(f url.Values) { f.Set("redirect_uris", "https://*.acme.example/cb") }, field: "redirect_uris-error", want: "wildcard"},
		{name: "no scope", edit: func(f url.Values) { f.Del("scope") }, field: "scopes-error", want: "At least one scope is required"},
		{name: "unknown scope", edit: func(f url.Values) { f["scope"] = []string{"projects:read", "admin:all"} }, field: "scopes-error", want: `Unknown scope "admin:all"`},
		{name: "svg logo", filename: "logo.svg", logo: []byte(appstest.SVG), field: "logo-error", want: "PNG, JPEG or WebP"},
		{name: "png header followed by html", filename: "logo.png", logo: appstest.PNGHeaderThenHTML(), field: "logo-error", want: "PNG, JPEG or WebP"},
		{name: "decompression bomb", filename: "bomb.png", logo: appstest.PNGBomb(), field: "logo-error", want: "between 16x16 and 1024x1024 pixels"},
		{name: "logo over 256 KiB", filename: "big.png", logo: appstest.Oversized(300 << 10), field: "logo-error", want: "at most 256 KiB"},
		{name: "empty logo file", filename: "empty.png", logo: []byte{}, field: "logo-error", want: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := registration()
			if tt.edit != nil {
				tt.edit(form)
			}
			start := time.Now()
			p := b.register(form, tt.filename, tt.logo)
			if p.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status = %d, want 422", p.StatusCode)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			msgs := byTestID(t, p.Body, tt.field)
			if len(msgs) != 1 || !strings.Contains(msgs[0], tt.want) {
				t.Fatalf("%s = %q, want it to contain %q", tt.field, msgs, tt.want)
			}
			if n := len(byTestID(t, p.Body, "error-summary")); n != 1 {
				t.Error("no error summary")
			}
			if !strings.Contains(p.Body, `value="`+htmlEscape(form.Get("name"))+`"`) {
				t.Error("the name typed is not kept")
			}
			if formToken(t, p.Body, "/settings/api/apps") == "" {
				t.Error("the form came back without its CSRF token")
			}
			if p.Header.Get("Cache-Control") != "no-store" {
				t.Error("the answer may be cached")
			}
		})
	}

	t.Run("body over 1 MiB", func(t *testing.T) {
		p := b.register(registration(), "huge.png", appstest.Oversized(1100<<10))
		if p.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status = %d, want 413", p.StatusCode)
		}
		if msg := byTestID(t, p.Body, "form-notice"); len(msg) != 1 || !strings.Contains(msg[0], "256 KiB") {
			t.Errorf("notice = %q", msg)
		}
		if formToken(t, p.Body, "/settings/api/apps") == "" {
			t.Error("the form is not shown again")
		}
	})
	t.Run("cross-origin post", func(t *testing.T) {
		for _, hdr := range [][]string{{"Sec-Fetch-Site", "cross-site"}, {"Origin", "https://evil.example"}} {
			if p := b.register(registration(), "", nil, hdr...); p.StatusCode != http.StatusForbidden {
				t.Errorf("%v: status = %d, want 403", hdr, p.StatusCode)
			}
		}
	})
	t.Run("missing CSRF token", func(t *testing.T) {
		p := b.postMultipart(s.URL+"/settings/api/apps", registration(), "", nil)
		if p.StatusCode != http.StatusForbidden {
			t.Fatalf("status = %d, want 403", p.StatusCode)
		}
	})
	if after := s.countApps(t); after != before {
		t.Errorf("%d apps were created", after-before)
	}

	t.Run("loopback and https with port and query are accepted", func(t *testing.T) {
		form := registration()
		form.Set("redirect_uris", "http://[::1]:8080/cb\nhttp://127.0.0.1:3000/cb\nhttps://acme.example:8443/oauth?tenant=a")
		form.Set("client_type", "public")
		p := b.register(form, "", nil)
		if p.StatusCode != http.StatusOK || !strings.HasPrefix(p.Request.URL.Path, "/settings/api/apps/") {
			t.Fatalf("status %d at %s", p.StatusCode, p.Request.URL)
		}
	})
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", `"`, "&#34;", "<", "&lt;", ">", "&gt;", "'", "&#39;").Replace(s)
}

// TestE2ESettingsAppLifecycle: register with a logo, see the secret once,
// authorize with it, rotate with an overlap and then at once, delete, and
// check what each step does at the token endpoint.
func TestE2ESettingsAppLifecycle(t *testing.T) {
	t.Parallel()
	s := startE2E(t, func(c *Config) { c.OAuth.RefreshGracePeriod = 0 })
	ctx := t.Context()
	b := s.signedInAs(t, s.Email)

	p := b.register(registration(), "logo.png", appstest.PNG(48, 48))
	if p.StatusCode != http.StatusOK || !strings.HasPrefix(p.Request.URL.Path, "/settings/api/apps/") {
		t.Fatalf("register: %d at %s", p.StatusCode, p.Request.URL)
	}
	clientID := strings.TrimPrefix(p.Request.URL.Path, "/settings/api/apps/")
	secrets := byTestID(t, p.Body, "client-secret")
	if len(secrets) != 1 || len(secrets[0]) != 43 {
		t.Fatalf("secret shown: %q", secrets)
	}
	first := secrets[0]
	if again := b.get(p.Request.URL.String()); strings.Contains(again.Body, first) {
		t.Fatal("the secret is shown again on reload")
	}
	app, err := s.store.GetApp(ctx, clientID)
	if err != nil {
		t.Fatal(err)
	}
	if app.OwnerID != s.UserID || app.WorkspaceID != s.WorkspaceID || !app.HasLogo {
		t.Fatalf("stored app = %+v", app)
	}

	// The logo is served re-encoded, typed, not sniffable, cached by version.
	logoURL := "/apps/" + clientID + "/logo?v=" + app.LogoSHA256
	if !strings.Contains(p.Body, `src="`+htmlEscape(logoURL)+`"`) {
		t.Error("the page does not show the logo")
	}
	resp, err := http.Get(s.URL + logoURL)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(resp.Body)
	resp.Body.Close()
	if err != nil || img.Bounds().Dx() != 48 {
		t.Fatalf("logo: %v, %v", err, img)
	}
	for k, want := range map[string]string{
		"Content-Type": "image/png", "X-Content-Type-Options": "nosniff", "Cache-Control": "public, max-age=31536000, immutable",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("logo %s = %q, want %q", k, got, want)
		}
	}

	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	conf.ClientID, conf.ClientSecret = clientID, first
	tokens := func(clientSecret string) *oauth2.Token {
		t.Helper()
		c := *conf
		c.ClientSecret = clientSecret
		v := oauth2.GenerateVerifier()
		code := b.code(c.AuthCodeURL("state-lifecycle", oauth2.S256ChallengeOption(v)), "state-lifecycle")
		tok, err := c.Exchange(ctx, code, oauth2.VerifierOption(v))
		if err != nil {
			t.Fatalf("exchange with the secret: %v", err)
		}
		return tok
	}
	refresh := func(tok *oauth2.Token, clientSecret string) (*oauth2.Token, error) {
		c := *conf
		c.ClientSecret = clientSecret
		return c.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	}
	tok := tokens(first)

	// Rotate, keeping the old secret for an hour: both work.
	rotate := func(overlap string) string {
		t.Helper()
		page := b.get(s.URL + "/settings/api/apps/" + clientID)
		form := url.Values{"csrf_token": {formToken(t, page.Body, "/settings/api/apps/"+clientID+"/secret")}, "overlap": {overlap}}
		if overlap == "now" {
			// Stopping the secret at once asks first; the confirmation sends confirm=yes.
			ask := b.post(s.URL+"/settings/api/apps/"+clientID+"/secret", form)
			if ask.StatusCode != http.StatusOK || len(byTestID(t, ask.Body, "rotate-now-confirm")) != 1 {
				t.Fatalf("rotate now without confirmation: %d", ask.StatusCode)
			}
			form.Set("confirm", "yes")
		}
		p := b.post(s.URL+"/settings/api/apps/"+clientID+"/secret", form)
		got := byTestID(t, p.Body, "client-secret")
		if p.StatusCode != http.StatusOK || len(got) != 1 {
			t.Fatalf("rotate %s: %d, secret %q", overlap, p.StatusCode, got)
		}
		return got[0]
	}
	second := rotate("1h")
	if second == first {
		t.Fatal("rotation kept the secret")
	}
	if tok, err = refresh(tok, first); err != nil {
		t.Fatalf("old secret during the overlap: %v", err)
	}
	if tok, err = refresh(tok, second); err != nil {
		t.Fatalf("new secret: %v", err)
	}
	if p := b.get(s.URL + "/settings/api/apps/" + clientID); len(byTestID(t, p.Body, "previous-secret")) != 1 {
		t.Error("the page does not say the previous secret still works")
	}

	// Rotate again, ending the old secret now.
	third := rotate("now")
	if _, err := refresh(tok, second); err == nil || tokenError(t, err) != "invalid_client" {
		t.Fatalf("old secret after rotating with no overlap: %v", err)
	}
	if _, err := refresh(tok, first); err == nil || tokenError(t, err) != "invalid_client" {
		t.Fatalf("first secret: %v", err)
	}
	if tok, err = refresh(tok, third); err != nil {
		t.Fatalf("newest secret: %v", err)
	}

	// Delete, after the confirmation step: every token and consent goes.
	confirm := b.get(s.URL + "/settings/api/apps/" + clientID + "/delete")
	if confirm.StatusCode != http.StatusOK {
		t.Fatalf("confirmation: %d", confirm.StatusCode)
	}
	del := b.post(s.URL+"/settings/api/apps/"+clientID+"/delete",
		url.Values{"csrf_token": {formToken(t, confirm.Body, "/settings/api/apps/"+clientID+"/delete")}, "confirm": {"yes"}})
	if del.StatusCode != http.StatusOK || del.Request.URL.Path != "/settings/api/apps" {
		t.Fatalf("delete: %d at %s", del.StatusCode, del.Request.URL)
	}
	if flash := byTestID(t, del.Body, "flash"); len(flash) != 1 || !strings.Contains(flash[0], "deleted") {
		t.Errorf("flash = %q", flash)
	}
	_, err = refresh(tok, third)
	if code := tokenError(t, err); code != "invalid_client" && code != "invalid_grant" {
		t.Fatalf("refresh after delete: %s", code)
	}
	for _, table := range []string{"oauth_apps", "oauth_access_tokens", "oauth_refresh_tokens", "oauth_codes", "consent_grants", "consent_challenges"} {
		var n int
		if err := s.store.Pool().QueryRow(ctx, `SELECT count(*) FROM `+table+` WHERE client_id = $1`, clientID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s: %d rows of the deleted app", table, n)
		}
	}
	resp, err = http.Get(s.URL + logoURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("logo after delete: %d", resp.StatusCode)
	}
}

// TestE2ESettingsAccessRules: members register, creators and admins manage,
// other members read, other workspaces see nothing (404, not 403).
func TestE2ESettingsAccessRules(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	ctx := t.Context()
	owner := s.addUser(t, "owner@example.com", s.WorkspaceID, storage.RoleMember)
	s.addUser(t, "member@example.com", s.WorkspaceID, storage.RoleMember)
	other, err := s.store.CreateWorkspace(ctx, "Difference Engines", storage.PlanStarter)
	if err != nil {
		t.Fatal(err)
	}
	s.addUser(t, "admin@other.example", other.ID, storage.RoleAdmin)

	// The owner, a plain member, registers an app in the browser.
	ownerB := s.signedInAs(t, owner.Email)
	p := ownerB.register(registration(), "", nil)
	if p.StatusCode != http.StatusOK {
		t.Fatalf("a member could not register: %d", p.StatusCode)
	}
	clientID := strings.TrimPrefix(p.Request.URL.Path, "/settings/api/apps/")
	appPath := s.URL + "/settings/api/apps/" + clientID

	tests := []struct {
		email  string
		get    int  // the app's page
		manage bool // the page offers the forms
		post   int  // each form, posted with the best token the user can get
		listed bool
	}{
		{"member@example.com", http.StatusOK, false, http.StatusForbidden, true},
		{"admin@other.example", http.StatusNotFound, false, http.StatusNotFound, false},
		{s.Email, http.StatusOK, true, http.StatusOK, true}, // workspace admin
		{owner.Email, http.StatusOK, true, http.StatusOK, true},
	}
	for _, tt := range tests {
		t.Run(tt.email, func(t *testing.T) {
			b := ownerB
			if tt.email != owner.Email {
				b = s.signedInAs(t, tt.email)
			}
			pg := b.get(appPath)
			if pg.StatusCode != tt.get {
				t.Fatalf("GET = %d, want %d", pg.StatusCode, tt.get)
			}
			if got := len(byTestID(t, pg.Body, "app-form")) == 1; got != tt.manage {
				t.Errorf("forms offered = %v, want %v", got, tt.manage)
			}
			if got := strings.Contains(b.get(s.URL+"/settings/api/apps").Body, clientID); got != tt.listed {
				t.Errorf("listed = %v, want %v", got, tt.listed)
			}
			if tt.get == http.StatusNotFound && strings.Contains(pg.Body, "Acme Sync") {
				t.Error("the 404 names the app")
			}
			// A user who has no form has no token for it: send one of
			// theirs and none; neither may pass.
			before, _ := s.store.GetApp(ctx, clientID)
			for _, action := range []string{"", "/secret"} {
				tok := formToken(t, pg.Body, "/settings/api/apps/"+clientID+action)
				for _, token := range []string{tok, formToken(t, pg.Body, "/logout")} {
					form := registration()
					form.Set("name", "Changed by "+tt.email)
					form.Set("overlap", "now")
					form.Set("csrf_token", token)
					var got page
					if action == "" {
						got = b.postMultipart(appPath, form, "", nil)
					} else {
						got = b.post(appPath+action, form)
					}
					want := tt.post
					if token != tok && tt.post == http.StatusOK {
						want = http.StatusForbidden // a token bound to another form
					}
					if got.StatusCode != want {
						t.Errorf("POST %q with token %.6q… = %d, want %d", action, token, got.StatusCode, want)
					}
				}
			}
			after, _ := s.store.GetApp(ctx, clientID)
			if tt.post != http.StatusOK && (after.Name != before.Name || !bytes.Equal(after.SecretHash, before.SecretHash)) {
				t.Errorf("the app changed: %q → %q", before.Name, after.Name)
			}
			if tt.post != http.StatusOK {
				del := b.post(appPath+"/delete", url.Values{"csrf_token": {formToken(t, pg.Body, "/logout")}})
				if del.StatusCode != tt.post {
					t.Errorf("POST delete = %d, want %d", del.StatusCode, tt.post)
				}
				if confirm := b.get(appPath + "/delete"); confirm.StatusCode != tt.post {
					t.Errorf("GET delete confirmation = %d, want %d", confirm.StatusCode, tt.post)
				}
			}
		})
	}
	if _, err := s.store.GetApp(ctx, clientID); err != nil {
		t.Errorf("the app is gone: %v", err)
	}
}

// TestE2EAuthorizedAppsRevoke: the user sees the app they authorized with
// its scopes, and revoking kills its refresh token and the remembered consent.
func TestE2EAuthorizedAppsRevoke(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	ctx := t.Context()
	b := s.newBrowser(t)
	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	v := oauth2.GenerateVerifier()
	code := b.code(conf.AuthCodeURL("state-revoke-1", oauth2.S256ChallengeOption(v)), "state-revoke-1")
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	// A second user's grant of the same app survives the revocation.
	s.addUser(t, "grace@example.com", s.WorkspaceID, storage.RoleMember)
	other := s.signedInAs(t, "grace@example.com")
	v2 := oauth2.GenerateVerifier()
	code2 := other.code(conf.AuthCodeURL("state-revoke-2", oauth2.S256ChallengeOption(v2)), "state-revoke-2")
	otherTok, err := conf.Exchange(ctx, code2, oauth2.VerifierOption(v2))
	if err != nil {
		t.Fatal(err)
	}

	page := b.get(s.URL + "/settings/authorized-apps")
	if names := byTestID(t, page.Body, "grant-app-name"); len(names) != 1 || names[0] != "Test App" {
		t.Fatalf("authorized apps = %q", names)
	}
	scopes := byTestID(t, page.Body, "grant-scopes")
	for _, sc := range consent.Describe(conf.Scopes) {
		if !strings.Contains(scopes[0], sc.Description) {
			t.Errorf("scopes %q lack %q", scopes[0], sc.Description)
		}
	}
	action := "/settings/authorized-apps/" + s.ClientID + "/revoke"
	if p := b.post(s.URL+action, url.Values{}); p.StatusCode != http.StatusForbidden {
		t.Fatalf("revoke without a token = %d, want 403", p.StatusCode)
	}
	if _, err := s.store.GetGrant(ctx, s.UserID, s.ClientID); err != nil {
		t.Fatalf("a refused revocation removed the grant: %v", err)
	}
	confirm := b.get(s.URL + action)
	p := b.post(s.URL+action, url.Values{"csrf_token": {formToken(t, confirm.Body, action)}, "confirm": {"yes"}})
	if p.StatusCode != http.StatusOK || len(byTestID(t, p.Body, "no-grants")) != 1 {
		t.Fatalf("revoke: %d", p.StatusCode)
	}
	_, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if code := tokenError(t, err); code != "invalid_grant" {
		t.Fatalf("refresh after revoke: %s", code)
	}
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: otherTok.RefreshToken}).Token(); err != nil {
		t.Errorf("another user's token was revoked: %v", err)
	}
	var n int
	if err := s.store.Pool().QueryRow(ctx,
		`SELECT count(*) FROM oauth_access_tokens WHERE subject = $1 AND client_id = $2`, s.UserID, s.ClientID).Scan(&n); err != nil || n != 0 {
		t.Errorf("access token rows left: %d (%v)", n, err)
	}
	// The consent is forgotten: the app must ask again.
	if p := b.get(conf.AuthCodeURL("state-revoke-3", oauth2.S256ChallengeOption(v))); p.StatusCode != http.StatusOK || !strings.Contains(p.Body, `value="allow"`) {
		t.Errorf("after revoking, the next authorization must ask again, got %d", p.StatusCode)
	}
}
