package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/nextoria/authz/storage"
)

// TestLoginHint: the login_hint of the authorization request a sign-in
// resumes pre-fills the e-mail only when it is a plausible e-mail address,
// escaped; anything else leaves the field empty. It never changes where the
// sign-in goes.
func TestLoginHint(t *testing.T) {
	t.Parallel()
	authorize := func(hint string) string {
		return "/oauth/authorize?client_id=acme-sync&login_hint=" + url.QueryEscape(hint)
	}
	tests := []struct {
		name, next, want string
	}{
		{"e-mail", authorize("ada@acme.example"), "ada@acme.example"},
		{"plus address", authorize("ada+hub@acme.example"), "ada+hub@acme.example"},
		{"markup", authorize(`"><script>alert(1)</script>@x.example`), ""},
		{"quote in the local part", authorize(`a"b@acme.example`), ""},
		{"display name", authorize("Ada <ada@acme.example>"), ""},
		{"two at signs", authorize("a@b@acme.example"), ""},
		{"no at sign", authorize("ada"), ""},
		{"space", authorize("ada @acme.example"), ""},
		{"control character", authorize("ada\x01@acme.example"), ""},
		{"bidi override", authorize("ada\u202e@acme.example"), ""},
		{"invalid UTF-8", "/oauth/authorize?client_id=acme-sync&login_hint=ada%FF@acme.example", ""},
		{"too long", authorize(strings.Repeat("a", 250) + "@acme.example"), ""},
		{"given twice", authorize("ada@acme.example") + "&login_hint=eve@acme.example", ""},
		{"not an authorization request", "/settings?login_hint=ada%40acme.example", ""},
		{"absolute next", "https://evil.example/oauth/authorize?login_hint=ada%40acme.example", ""},
	}
	env := newTestEnv(t)
	env.store.putApp(storage.App{ClientID: "acme-sync", Name: "Acme Sync", WorkspaceID: "ws-1"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := loginHint(tt.next); got != tt.want {
				t.Errorf("loginHint = %q, want %q", got, tt.want)
			}
			b := env.browser(t)
			page := b.get("/login?next=" + url.QueryEscape(tt.next))
			if page.StatusCode != http.StatusOK {
				t.Fatalf("status %d", page.StatusCode)
			}
			if strings.Contains(page.body, "<script>alert") {
				t.Fatal("the hint reached the page unescaped")
			}
			doc := parseHTML(t, page.body)
			email := oneByTestID(t, doc, "email")
			if got, _ := attr(email, "value"); got != tt.want {
				t.Errorf("e-mail field = %q, want %q", got, tt.want)
			}
			_, emailFocus := attr(email, "autofocus")
			_, passwordFocus := attr(oneByTestID(t, doc, "password"), "autofocus")
			if emailFocus == (tt.want != "") || passwordFocus != (tt.want != "") {
				t.Errorf("autofocus on e-mail %v, password %v", emailFocus, passwordFocus)
			}
			if got := hiddenFields(t, page.body).Get("next"); got != safeNext(tt.next) {
				t.Errorf("next = %q, want %q", got, safeNext(tt.next))
			}
		})
	}
}

// TestLoginShowsTheAppLogo: a sign-in started by an authorization request
// shows the app's logo as the consent screen does, or its neutral
// placeholder; other sign-ins show none.
func TestLoginShowsTheAppLogo(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	env.store.putApp(storage.App{ClientID: "with-logo", Name: "Acme Sync", WorkspaceID: "ws-1", HasLogo: true, LogoSHA256: "abc"})
	env.store.putApp(storage.App{ClientID: "no-logo", Name: "globex", WorkspaceID: "ws-1"})
	tests := []struct {
		name, next string
		wantSrc    string // "" with wantInitial: the placeholder
		wantInit   string
		wantNone   bool
	}{
		{name: "logo", next: "/oauth/authorize?client_id=with-logo", wantSrc: "/apps/with-logo/logo?v=abc"},
		{name: "placeholder", next: "/oauth/authorize?client_id=no-logo", wantInit: "G"},
		{name: "unknown app", next: "/oauth/authorize?client_id=nope", wantNone: true},
		{name: "no app", next: "/", wantNone: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc := parseHTML(t, env.browser(t).get("/login?next="+url.QueryEscape(tt.next)).body)
			logos := byTestID(doc, "login-app-logo")
			if tt.wantNone {
				if len(logos) != 0 {
					t.Error("a logo is shown without an app")
				}
				return
			}
			if len(logos) != 1 {
				t.Fatalf("%d logos", len(logos))
			}
			if tt.wantSrc != "" {
				if src, _ := attr(logos[0], "src"); logos[0].Data != "img" || src != tt.wantSrc {
					t.Errorf("logo <%s src=%q>, want %q", logos[0].Data, src, tt.wantSrc)
				}
				return
			}
			if logos[0].Data == "img" || textOf(logos[0]) != tt.wantInit {
				t.Errorf("placeholder <%s>%q, want %q", logos[0].Data, textOf(logos[0]), tt.wantInit)
			}
		})
	}
}
