package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"
	"golang.org/x/net/html"

	"github.com/nextoria/authz/apikey"
	"github.com/nextoria/authz/apps"
	"github.com/nextoria/authz/apps/appstest"
	"github.com/nextoria/authz/consent"
	"github.com/nextoria/authz/errpage"
	"github.com/nextoria/authz/storage"
)

func renderString(t *testing.T, c templ.Component) string {
	t.Helper()
	var buf bytes.Buffer
	ctx := templ.WithNonce(context.Background(), "test-nonce")
	if err := c.Render(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestConsentPage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		edit        func(*consent.Prompt)
		wantLogo    string // img src, or "" for the placeholder
		wantInitial string
	}{
		{name: "with logo", wantLogo: "/apps/acme-crm/logo?v=abc123"},
		{name: "placeholder", edit: func(p *consent.Prompt) { p.LogoVersion = "" }, wantInitial: "A"},
		{
			name: "hostile app name",
			edit: func(p *consent.Prompt) {
				p.AppName = `<script>alert("x")</script>`
				p.LogoVersion = ""
			},
			wantInitial: "<",
		},
		{
			name: "lower-case placeholder initial",
			edit: func(p *consent.Prompt) {
				p.AppName = "élan"
				p.LogoVersion = ""
			},
			wantInitial: "É",
		},
		{
			name:     "hostile logo version stays inside the logo path",
			edit:     func(p *consent.Prompt) { p.LogoVersion = `javascript:alert(1)"><script>` },
			wantLogo: "/apps/acme-crm/logo?v=" + url.QueryEscape(`javascript:alert(1)"><script>`),
		},
		{name: "no scopes", edit: func(p *consent.Prompt) { p.Scopes = nil }, wantLogo: "/apps/acme-crm/logo?v=abc123"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := testPrompt()
			if tt.edit != nil {
				tt.edit(&p)
			}
			out := renderString(t, consentPage(p, "logout-tok"))
			if strings.Contains(out, "<script") {
				t.Fatalf("output contains a script element:\n%s", out)
			}
			doc := parseHTML(t, out)

			if got := textOf(oneByTestID(t, doc, "app-name")); got != p.AppName {
				t.Errorf("app-name = %q, want %q", got, p.AppName)
			}
			if !strings.Contains(textOf(doc), "wants to access your Nextoria Hub account") {
				t.Error("missing the access request sentence")
			}
			if got := textOf(oneByTestID(t, doc, "user-email")); got != p.UserEmail {
				t.Errorf("user-email = %q, want %q", got, p.UserEmail)
			}
			if got := textOf(oneByTestID(t, doc, "workspace-name")); got != p.WorkspaceName {
				t.Errorf("workspace-name = %q, want %q", got, p.WorkspaceName)
			}
			if got := textOf(oneByTestID(t, doc, "redirect-host")); got != p.RedirectHost {
				t.Errorf("redirect-host = %q, want %q", got, p.RedirectHost)
			}
			if !strings.Contains(textOf(doc), "You will be sent back to "+p.RedirectHost) {
				t.Error("missing the redirect sentence")
			}

			logo := oneByTestID(t, doc, "app-logo")
			if tt.wantInitial == "" {
				src, _ := attr(logo, "src")
				if logo.Data != "img" || src != tt.wantLogo {
					t.Errorf("logo = <%s src=%q>, want <img src=%q>", logo.Data, src, tt.wantLogo)
				}
				if alt, ok := attr(logo, "alt"); !ok || alt == "" {
					t.Error("logo has no alt text")
				}
			} else {
				if logo.Data == "img" {
					t.Fatal("placeholder expected, got an img")
				}
				if got := textOf(logo); got != tt.wantInitial {
					t.Errorf("placeholder initial = %q, want %q", got, tt.wantInitial)
				}
			}

			items := byTestID(doc, "scope-item")
			if len(items) != len(p.Scopes) {
				t.Fatalf("scope items = %d, want %d", len(items), len(p.Scopes))
			}
			for i, sc := range p.Scopes {
				if got, _ := attr(items[i], "data-scope"); got != sc.Name {
					t.Errorf("scope %d = %q, want %q", i, got, sc.Name)
				}
				if !strings.Contains(textOf(items[i]), sc.Plain) {
					t.Errorf("scope %d text %q lacks %q", i, textOf(items[i]), sc.Plain)
				}
			}

			forms := byTestID(doc, "consent-form")
			if len(forms) != 1 {
				t.Fatalf("forms = %d, want 1", len(forms))
			}
			if m, _ := attr(forms[0], "method"); m != "post" {
				t.Errorf("form method = %q", m)
			}
			if a, _ := attr(forms[0], "action"); a != p.FormAction {
				t.Errorf("form action = %q, want %q", a, p.FormAction)
			}
			hidden := url.Values{}
			for _, in := range byTag(forms[0], "input") {
				name, _ := attr(in, "name")
				val, _ := attr(in, "value")
				hidden.Set(name, val)
			}
			if hidden.Get("challenge") != p.ChallengeID || hidden.Get("csrf_token") != p.CSRFToken {
				t.Errorf("hidden fields = %v", hidden)
			}

			buttons := byTag(forms[0], "button")
			want := map[string]string{"allow": "Allow", "deny": "Deny"}
			if len(buttons) != len(want) {
				t.Fatalf("buttons = %d, want %d", len(buttons), len(want))
			}
			for _, b := range buttons {
				typ, _ := attr(b, "type")
				name, _ := attr(b, "name")
				value, _ := attr(b, "value")
				id, _ := attr(b, "data-testid")
				if typ != "submit" || name != "decision" || want[value] != textOf(b) || id != value {
					t.Errorf("button type=%q name=%q value=%q data-testid=%q text=%q", typ, name, value, id, textOf(b))
				}
				delete(want, value)
			}
			for _, button := range []string{
				`<button type="submit" name="decision" value="allow"`,
				`<button type="submit" name="decision" value="deny"`,
			} {
				if !strings.Contains(out, button) {
					t.Errorf("output lacks %s", button)
				}
			}
		})
	}
}

// TestConsentTrustSignals: the consent screen names the publisher, links to
// the app's homepage and privacy policy when registered, offers "Not you?",
// groups the scopes into see and change with destructive rights stated
// plainly, and gives an app without a logo a neutral avatar.
func TestConsentTrustSignals(t *testing.T) {
	t.Parallel()
	p := testPrompt()
	p.LogoVersion = ""
	p.Publisher = "Acme <Labs>"
	p.HomepageURL = "https://crm.acme.example/"
	p.PrivacyURL = "https://crm.acme.example/privacy"
	p.Description = "Your clients, in sync."
	p.ReturnTo = "/oauth/authorize?client_id=acme-crm&scope=projects%3Aread"
	p.Scopes = consent.Describe([]string{"projects:read", "tasks:write", "invoices:write", "clients:read"})
	out := renderString(t, consentPage(p, "logout-tok"))
	doc := parseHTML(t, out)

	if got := textOf(oneByTestID(t, doc, "consent-publisher")); got != "Published by Acme <Labs>" {
		t.Errorf("publisher = %q", got)
	}
	if got := textOf(oneByTestID(t, doc, "consent-description")); got != p.Description {
		t.Errorf("description = %q", got)
	}
	for id, want := range map[string]string{"consent-homepage": p.HomepageURL, "consent-privacy": p.PrivacyURL} {
		a := oneByTestID(t, doc, id)
		href, _ := attr(a, "href")
		rel, _ := attr(a, "rel")
		if href != want || !strings.Contains(rel, "noopener") {
			t.Errorf("%s: href=%q rel=%q, want %q with noopener", id, href, rel, want)
		}
	}

	form := oneByTestID(t, doc, "not-you-form")
	if action, _ := attr(form, "action"); action != "/logout" {
		t.Errorf("not-you form posts to %q", action)
	}
	fields := map[string]string{}
	for _, in := range byTag(form, "input") {
		name, _ := attr(in, "name")
		fields[name], _ = attr(in, "value")
	}
	if fields["csrf_token"] != "logout-tok" || fields["next"] != p.ReturnTo {
		t.Errorf("not-you fields = %v", fields)
	}
	if got := textOf(oneByTestID(t, doc, "not-you")); got != "Not you? Use another account" {
		t.Errorf("not-you = %q", got)
	}

	scopesOf := func(id string) []string {
		var out []string
		for _, li := range byTestID(oneByTestID(t, doc, id), "scope-item") {
			v, _ := attr(li, "data-scope")
			out = append(out, v)
		}
		return out
	}
	if got := scopesOf("scope-group-read"); strings.Join(got, " ") != "projects:read clients:read" {
		t.Errorf("read group = %q", got)
	}
	if got := scopesOf("scope-group-write"); strings.Join(got, " ") != "tasks:write invoices:write" {
		t.Errorf("write group = %q", got)
	}
	warnings := byTestID(doc, "scope-destructive")
	if len(warnings) != 1 || !strings.Contains(textOf(warnings[0].Parent), "void") {
		t.Errorf("destructive warnings = %d, want one on invoices:write", len(warnings))
	}
	if !strings.Contains(textOf(doc), "Create, send and void invoices") {
		t.Error("the destructive right is not stated plainly")
	}

	avatar := oneByTestID(t, doc, "app-logo")
	if class, _ := attr(avatar, "class"); !strings.Contains(class, "app-avatar-neutral") {
		t.Errorf("placeholder class = %q, want the neutral avatar", class)
	}
	if strings.Contains(out, "<Labs>") {
		t.Error("publisher not escaped")
	}

	// Without a profile, no empty links or lines are shown.
	bare := testPrompt()
	doc = parseHTML(t, renderString(t, consentPage(bare, "")))
	for _, id := range []string{"consent-publisher", "consent-homepage", "consent-privacy", "consent-description", "not-you", "scope-group-write"} {
		if n := len(byTestID(doc, id)); n != 0 {
			t.Errorf("%s shown without data", id)
		}
	}
}

// TestNeutralAvatarStyle: the placeholder avatar is styled with the neutral
// avatar colours, not the brand's primary colour.
func TestNeutralAvatarStyle(t *testing.T) {
	t.Parallel()
	css, err := staticFiles.ReadFile("static/app.css")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(css), ".app-logo-placeholder {")
	if i < 0 {
		t.Fatal("no .app-logo-placeholder rule")
	}
	rule := string(css[i:])
	rule = rule[:strings.Index(rule, "}")]
	if strings.Contains(rule, "--primary") || !strings.Contains(rule, "var(--avatar-bg)") {
		t.Errorf("placeholder rule uses the brand colour:\n%s", rule)
	}
}

func TestLoginPage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		view loginView
	}{
		{name: "empty", view: loginView{Next: "/", CSRFToken: "tok"}},
		{name: "failed attempt", view: loginView{Email: `x"><script>alert(1)</script>`, Next: "/oauth/authorize?client_id=a&scope=b+c", CSRFToken: "tok", Error: msgBadCredentials}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := renderString(t, loginPage(tt.view))
			if strings.Contains(out, "<script") {
				t.Fatal("output contains a script element")
			}
			doc := parseHTML(t, out)
			for _, f := range []struct{ id, name, typ, autocomplete, label string }{
				{"email", "email", "email", "username", "E-mail"},
				{"password", "password", "password", "current-password", "Password"},
			} {
				in := oneByTestID(t, doc, f.id)
				for k, want := range map[string]string{"name": f.name, "type": f.typ, "autocomplete": f.autocomplete, "id": f.id} {
					if got, _ := attr(in, k); got != want {
						t.Errorf("%s %s = %q, want %q", f.id, k, got, want)
					}
				}
				labels := findAll(doc, func(n *html.Node) bool {
					v, _ := attr(n, "for")
					return n.Data == "label" && v == f.id
				})
				if len(labels) != 1 || textOf(labels[0]) != f.label {
					t.Errorf("label for %s missing or wrong", f.id)
				}
			}
			if got, _ := attr(oneByTestID(t, doc, "email"), "value"); got != tt.view.Email {
				t.Errorf("email value = %q, want %q", got, tt.view.Email)
			}
			hidden := hiddenFields(t, out)
			if hidden.Get("csrf_token") != tt.view.CSRFToken || hidden.Get("next") != tt.view.Next {
				t.Errorf("hidden fields = %v", hidden)
			}
			errs := byTestID(doc, "login-error")
			switch {
			case tt.view.Error == "" && len(errs) != 0:
				t.Error("error shown without an error")
			case tt.view.Error != "" && (len(errs) != 1 || textOf(errs[0]) != tt.view.Error):
				t.Errorf("login-error missing or wrong")
			}
			forms := byTag(doc, "form")
			if len(forms) != 1 {
				t.Fatalf("forms = %d", len(forms))
			}
			if a, _ := attr(forms[0], "action"); a != "/login" {
				t.Errorf("form action = %q", a)
			}
		})
	}
}

func TestErrorPage(t *testing.T) {
	t.Parallel()
	out := renderString(t, errorPage(errpage.Problem{Title: "Unknown <app>", Message: `Ask "them" & retry.`}, ""))
	doc := parseHTML(t, out)
	if got := textOf(oneByTestID(t, doc, "error-title")); got != "Unknown <app>" {
		t.Errorf("error-title = %q", got)
	}
	if got := textOf(oneByTestID(t, doc, "error-detail")); got != `Ask "them" & retry.` {
		t.Errorf("error-detail = %q", got)
	}
	if strings.Contains(out, "<app>") {
		t.Error("title not escaped")
	}
}

// TestErrorPageClasses renders each class of problem: its plain title, the
// app's name when known, and the developer details (code, request reference,
// detail) inside a closed "Details for developers" disclosure.
func TestErrorPageClasses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		p         errpage.Problem
		wantTitle string
		wantLink  bool
	}{
		{"unknown app", errpage.Problem{Class: errpage.UnknownApp, Code: "invalid_client",
			Detail: "No app is registered with this client_id."}, "We don't recognise this app", false},
		{"redirect not registered", errpage.Problem{Class: errpage.RedirectNotRegistered, AppName: "Acme <Sync>",
			Code: "invalid_request", Detail: "redirect_uri is not registered."},
			"This app wants to send you back to an address it has not registered", false},
		{"malformed", errpage.Problem{Class: errpage.Malformed, AppName: "Acme Sync", Code: "invalid_scope",
			Detail: "Request at least one scope."}, "This sign-in link is not complete", false},
		{"expired", errpage.Problem{Status: 401, Class: errpage.Expired}, "Your sign-in has expired", false},
		{"unavailable", errpage.Problem{Status: 503, Class: errpage.Unavailable}, "Nextoria Hub is temporarily unavailable", true},
		{"plain", errpage.Problem{Status: 404, Title: "Page not found", Message: "There is nothing at this address."}, "Page not found", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := renderString(t, errorPage(tt.p, "req-0123"))
			doc := parseHTML(t, out)
			if got := textOf(oneByTestID(t, doc, "error-title")); got != tt.wantTitle {
				t.Errorf("error-title = %q, want %q", got, tt.wantTitle)
			}
			if got, _ := attr(oneByTestID(t, doc, "error-page"), "data-error-class"); got != string(tt.p.Class) {
				t.Errorf("data-error-class = %q, want %q", got, tt.p.Class)
			}
			if got := textOf(oneByTestID(t, doc, "error-detail")); got == "" {
				t.Error("no message for people")
			}
			if tt.p.AppName != "" {
				if got := textOf(oneByTestID(t, doc, "error-app-name")); got != tt.p.AppName {
					t.Errorf("error-app-name = %q, want %q", got, tt.p.AppName)
				}
			} else if n := len(byTestID(doc, "error-app")); n != 0 {
				t.Errorf("error-app shown without an app name")
			}
			details := oneByTestID(t, doc, "developer-details")
			if details.Data != "details" {
				t.Errorf("developer details in <%s>, want <details>", details.Data)
			}
			if _, open := attr(details, "open"); open {
				t.Error("developer details are open by default")
			}
			if got := textOf(oneByTestID(t, details, "request-id")); got != "req-0123" {
				t.Errorf("request-id = %q", got)
			}
			if tt.p.Code != "" {
				if got := textOf(oneByTestID(t, details, "error-code")); got != tt.p.Code {
					t.Errorf("error-code = %q, want %q", got, tt.p.Code)
				}
				if got := textOf(oneByTestID(t, details, "error-dev-detail")); got != tt.p.Detail {
					t.Errorf("error-dev-detail = %q, want %q", got, tt.p.Detail)
				}
			}
			if got := len(byTestID(doc, "home-link")) == 1; got != tt.wantLink {
				t.Errorf("home link shown = %v, want %v", got, tt.wantLink)
			}
			if strings.Contains(out, "<Sync>") {
				t.Error("app name not escaped")
			}
		})
	}
}

func TestHomePage(t *testing.T) {
	t.Parallel()
	p := storage.Principal{Email: "ada@example.com", WorkspaceName: "Acme <Studio>", Role: storage.RoleAdmin}
	out := renderString(t, homePage(p, "logout-token"))
	doc := parseHTML(t, out)
	if got := textOf(oneByTestID(t, doc, "user-email")); got != p.Email {
		t.Errorf("user-email = %q", got)
	}
	if got := textOf(oneByTestID(t, doc, "workspace-name")); got != p.WorkspaceName {
		t.Errorf("workspace-name = %q", got)
	}
	if got := textOf(oneByTestID(t, doc, "role")); got != "Administrator" {
		t.Errorf("role = %q", got)
	}
	form := oneByTestID(t, doc, "logout-form")
	if a, _ := attr(form, "action"); a != "/logout" {
		t.Errorf("logout action = %q", a)
	}
	if got := hiddenFields(t, out).Get("csrf_token"); got != "logout-token" {
		t.Errorf("csrf_token = %q", got)
	}
	oneByTestID(t, doc, "sign-out")
}

// TestPagesShareLayout checks what every page must have: the product frame,
// a phone viewport, the embedded stylesheet, and nothing the strict CSP
// would block (inline styles or scripts, other origins).
func TestPagesShareLayout(t *testing.T) {
	t.Parallel()
	pages := map[string]templ.Component{
		"login":   loginPage(loginView{CSRFToken: "t", Next: "/"}),
		"consent": consentPage(testPrompt(), "t"),
		"error":   errorPage(errpage.Problem{Title: "Oops", Message: "Detail"}, "id"),
		"home":    homePage(storage.Principal{Email: "a@b.c"}, "t"),
	}
	for name, c := range pages {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out := renderString(t, c)
			if !strings.HasPrefix(strings.ToLower(out), "<!doctype html>") {
				t.Errorf("missing doctype: %.40q", out)
			}
			for _, bad := range []string{"<script", "<style", " style=", "http://", "https://", "//fonts."} {
				if strings.Contains(out, bad) {
					t.Errorf("page contains %q", bad)
				}
			}
			doc := parseHTML(t, out)
			htmlEl := byTag(doc, "html")[0]
			if lang, _ := attr(htmlEl, "lang"); lang != "en" {
				t.Errorf("lang = %q", lang)
			}
			viewport := findAll(doc, func(n *html.Node) bool {
				v, _ := attr(n, "name")
				return n.Data == "meta" && v == "viewport"
			})
			if len(viewport) != 1 {
				t.Error("no viewport meta")
			}
			links := findAll(doc, func(n *html.Node) bool {
				v, _ := attr(n, "rel")
				return n.Data == "link" && v == "stylesheet"
			})
			if len(links) != 1 {
				t.Fatalf("stylesheets = %d", len(links))
			}
			if href, _ := attr(links[0], "href"); href != stylesheetURL || !strings.HasPrefix(href, "/static/app.css?v=") {
				t.Errorf("stylesheet href = %q", href)
			}
			for _, tag := range []string{"header", "main", "footer", "h1"} {
				if len(byTag(doc, tag)) != 1 {
					t.Errorf("want exactly one <%s>", tag)
				}
			}
			if !strings.Contains(textOf(byTag(doc, "header")[0]), "Nextoria Hub") {
				t.Error("header lacks the product name")
			}
		})
	}
}

func TestInitial(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"acme": "A", "  zed": "Z", "": "?", "\x00x": "?", "日本": "日", "\xff": "?"} {
		if got := initial(in); got != want {
			t.Errorf("initial(%q) = %q, want %q", in, got, want)
		}
	}
}

// settingsPages renders every settings page with sample data, including
// hostile text.
func settingsPages() map[string]templ.Component {
	c := settingsChrome{
		Principal:   storage.Principal{UserID: "u1", Email: "ada@example.com", WorkspaceID: "ws-1", WorkspaceName: "Acme <Studio>", Role: storage.RoleAdmin},
		Section:     navApps,
		LogoutToken: "logout-token",
		Flash:       "Saved.",
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	app := storage.App{
		ClientID: "abc123", Name: `<script>alert("x")</script>`, RedirectURIs: []string{"https://a.example/cb"},
		Scopes: []string{"projects:read"}, WorkspaceID: "ws-1", OwnerID: "u1", SecretHash: []byte("h"),
		HasLogo: true, LogoSHA256: "f00d", CreatedAt: now, UpdatedAt: now,
	}
	form := formOf(app)
	form.CSRFToken = "tok"
	form.Errors = apps.FieldErrors{apps.FieldName: "is required", apps.FieldScopes: "at least one scope is required"}
	detail := appDetailView{App: app, CanManage: true, NewSecret: "s3cret", Form: form, Overlap: defaultOverlap, RotateToken: "tok2"}
	readOnly := appDetailView{App: app}
	grants := []grantView{{
		GrantedApp:  storage.GrantedApp{Grant: storage.Grant{ClientID: "abc123", Scopes: []string{"projects:read"}, GrantedAt: now, LastUsedAt: now}, App: app},
		Scopes:      consent.Describe([]string{"projects:read"}),
		RevokeToken: "tok3",
	}}
	return map[string]templ.Component{
		"apps list":       appsListPage(c, []storage.App{app, {ClientID: "p", Name: "plain", Public: true, CreatedAt: now}}),
		"apps list empty": appsListPage(c, nil),
		"register":        appNewPage(c, appFormView{CSRFToken: "tok"}),
		"register errors": appNewPage(c, form),
		"register kept":   appNewPage(c, appFormView{CSRFToken: "tok", KeptLogo: base64.StdEncoding.EncodeToString(appstest.PNG(32, 32)), Errors: apps.FieldErrors{apps.FieldName: "is required"}}),
		"detail":          appDetailPage(c, detail),
		"detail readonly": appDetailPage(c, readOnly),
		"delete":          appDeletePage(c, app, "tok"),
		"grants":          grantsPage(c, grants),
		"grants empty":    grantsPage(c, nil),
		"keys":            keysPage(c, sampleKeys(now)),
		"keys empty":      keysPage(c, keysView{}),
		"key new":         keyNewPage(c, keyFormView{Expiry: defaultExpiry, CSRFToken: "tok", MinDate: "2026-03-02", MaxDate: "2036-03-01"}),
		"key new errors": keyNewPage(c, keyFormView{Name: `<b>x</b>`, Expiry: expiryDate, ExpiresOn: "2020-01-01", CSRFToken: "tok", Errors: apikey.FieldErrors{
			apikey.FieldName: "Give the key a name.", apikey.FieldScopes: "Select at least one scope.", apikey.FieldExpiresIn: "The expiry date must be in the future.",
		}}),
		"key revoke":   keyRevokePage(c, sampleKeys(now).Keys[0].APIKey, "tok"),
		"rotate now":   appRotateNowPage(c, app, "tok"),
		"grant revoke": grantRevokePage(c, grants[0]),
	}
}

// sampleKeys is a key list with one key of each status, the first just
// created and shown once.
func sampleKeys(now time.Time) keysView {
	key := func(id, name, status string) keyView {
		k := storage.APIKey{
			ID: id, WorkspaceID: "ws-1", CreatedBy: "u1", Name: name, Scopes: []string{"projects:read", "tasks:write"},
			DisplayID: "nxh_ukmov5Ui", CreatedAt: now,
		}
		switch status {
		case keyExpired:
			k.ExpiresAt = now.Add(-time.Hour)
		case keyRevoked:
			k.RevokedAt = now
		default:
			k.ExpiresAt, k.LastUsedAt = now.Add(90*24*time.Hour), now
		}
		return keyView{APIKey: k, Status: status, Scopes: consent.Describe(k.Scopes), CanRevoke: status != keyExpired, ByYou: true}
	}
	return keysView{
		Keys:   []keyView{key("k1", `<script>alert("k")</script>`, keyActive), key("k2", "Old export", keyExpired), key("k3", "Zapier Integration", keyRevoked)},
		NewKey: &newKeyView{Name: "Zapier Integration", Secret: "nxh_ukmov5UiaP4cfy7SJT94ztRISoFrrdUKTquxIMqJTXr0jO8uv"},
	}
}

// TestSettingsPagesShareLayout checks what every settings page must have:
// the frame, one h1, labelled controls, and nothing the CSP would block but
// the nonce-bearing copy script.
func TestSettingsPagesShareLayout(t *testing.T) {
	t.Parallel()
	for name, c := range settingsPages() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out := renderString(t, c)
			if !strings.HasPrefix(out, "<!doctype html>") {
				t.Errorf("missing doctype: %.40q", out)
			}
			// The pages with a logo field also have the logo preview script.
			scripts := 1
			if strings.HasPrefix(name, "register") || name == "detail" {
				scripts = 2
				if !strings.Contains(out, `<script src="`+logoPreviewScriptURL+`" nonce="test-nonce" defer></script>`) {
					t.Error("the logo preview script is missing, or lacks the nonce")
				}
			}
			if strings.Count(out, "<script") != scripts || !strings.Contains(out, `<script src="`+copyScriptURL+`" nonce="test-nonce" defer></script>`) {
				t.Errorf("want exactly the copy script (and on the app forms the preview script), with the nonce")
			}
			for _, bad := range []string{"<style", " style=", "http://", "//fonts.", `<script>alert`} {
				if strings.Contains(out, bad) {
					t.Errorf("page contains %q", bad)
				}
			}
			doc := parseHTML(t, out)
			for _, tag := range []string{"header", "main", "footer", "h1", "nav"} {
				if len(byTag(doc, tag)) != 1 {
					t.Errorf("want exactly one <%s>", tag)
				}
			}
			// Every control has a label, every id is unique.
			ids := map[string]bool{}
			for _, n := range findAll(doc, func(n *html.Node) bool { _, ok := attr(n, "id"); return ok }) {
				id, _ := attr(n, "id")
				if ids[id] {
					t.Errorf("id %q used twice", id)
				}
				ids[id] = true
			}
			for _, in := range findAll(doc, func(n *html.Node) bool { return n.Data == "input" || n.Data == "textarea" }) {
				if typ, _ := attr(in, "type"); typ == "hidden" {
					continue
				}
				id, _ := attr(in, "id")
				labels := findAll(doc, func(n *html.Node) bool { v, _ := attr(n, "for"); return n.Data == "label" && v == id })
				if id == "" || len(labels) != 1 || textOf(labels[0]) == "" {
					t.Errorf("control %q has no label", id)
				}
				if d, ok := attr(in, "aria-describedby"); ok {
					for _, ref := range strings.Fields(d) {
						if !ids[ref] {
							t.Errorf("control %q is described by missing %q", id, ref)
						}
					}
				}
			}
			for _, b := range byTag(doc, "button") {
				if textOf(b) == "" {
					t.Error("a button has no text")
				}
			}
			if got := textOf(oneByTestID(t, doc, "workspace-name")); got != "Acme <Studio>" {
				t.Errorf("workspace = %q", got)
			}
		})
	}
}

func TestAppDetailPage(t *testing.T) {
	t.Parallel()
	pages := settingsPages()
	doc := parseHTML(t, renderString(t, pages["detail"]))
	if got := textOf(oneByTestID(t, doc, "client-secret")); got != "s3cret" {
		t.Errorf("secret = %q", got)
	}
	if got := textOf(oneByTestID(t, doc, "app-name")); got != `<script>alert("x")</script>` {
		t.Errorf("name = %q", got)
	}
	logos := byTestID(doc, "app-logo") // the header's, and the form's current logo
	if len(logos) != 2 {
		t.Fatalf("%d logos", len(logos))
	}
	if src, _ := attr(logos[0], "src"); src != "/apps/abc123/logo?v=f00d" {
		t.Errorf("logo src = %q", src)
	}
	for _, id := range []string{"app-form", "rotate-form", "delete", "remove-logo", "error-summary"} {
		oneByTestID(t, doc, id)
	}
	if n := len(byTestID(doc, "scope")); n != len(consent.Catalogue) {
		t.Errorf("%d scope checkboxes, want %d", n, len(consent.Catalogue))
	}
	if !strings.Contains(textOf(oneByTestID(t, doc, "scopes")), "Create, send, and void invoices") {
		t.Error("scope descriptions missing")
	}

	if !strings.Contains(textOf(doc), "Confidential app · registered 1 Mar 2026, 12:00 UTC") {
		t.Error("registration date missing or run together")
	}
	grants := parseHTML(t, renderString(t, pages["grants"]))
	if !strings.Contains(textOf(grants), "Authorized 1 Mar 2026, 12:00 UTC · last used 1 Mar 2026, 12:00 UTC") {
		t.Errorf("grant dates: %q", textOf(grants))
	}

	ro := parseHTML(t, renderString(t, pages["detail readonly"]))
	oneByTestID(t, ro, "read-only")
	for _, id := range []string{"app-form", "rotate-form", "delete", "secret-once"} {
		if len(byTestID(ro, id)) != 0 {
			t.Errorf("read-only page has %s", id)
		}
	}
}
