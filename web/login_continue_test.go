package web

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var (
	metaRefresh  = regexp.MustCompile(`<meta http-equiv="refresh" content="0;url=([^"]*)"`)
	continueLink = regexp.MustCompile(`<a [^>]*href="([^"]*)"[^>]*data-testid="continue-link"`)
)

// continueTarget checks that resp, the answer to a successful sign-in form,
// ends the form's navigation on the continue page of our own origin, opens
// that page, and returns where it moves on to.
func (b *browser) continueTarget(resp response) string {
	b.t.Helper()
	if resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("sign-in status = %d, want 303; body:\n%s", resp.StatusCode, resp.body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Scheme != "" || loc.Host != "" || loc.Path != loginContinuePath {
		b.t.Fatalf("sign-in redirects to %q, want %s on our origin", resp.Header.Get("Location"), loginContinuePath)
	}
	page := b.get(loc.String())
	if page.StatusCode != http.StatusOK {
		b.t.Fatalf("GET %s = %d", loc, page.StatusCode)
	}
	m := metaRefresh.FindStringSubmatch(page.body)
	if m == nil {
		b.t.Fatalf("the continue page has no refresh:\n%s", page.body)
	}
	return html.UnescapeString(m[1])
}

// TestLoginContinue: the page a sign-in form lands on moves on to next, a
// local path only, without script, and its own forms policy stays 'self':
// the refresh is a new navigation that no form started, so the redirect to
// an app's redirect URI that may follow is not subject to form-action.
func TestLoginContinue(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	tests := []struct{ next, want string }{
		{"/oauth/authorize?client_id=a&state=b&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb", "/oauth/authorize?client_id=a&state=b&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb"},
		{"/settings/apps", "/settings/apps"},
		{"", "/"},
		{"//evil.com", "/"},
		{"https://evil.com/", "/"},
		{`/\evil.com`, "/"},
		{"javascript:alert(1)", "/"},
		{`/x";url=https://evil.com`, `/x";url=https://evil.com`},
	}
	for _, tt := range tests {
		t.Run(tt.next, func(t *testing.T) {
			t.Parallel()
			b := env.browser(t)
			resp := b.get(loginContinuePath + "?next=" + url.QueryEscape(tt.next))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d", resp.StatusCode)
			}
			m := metaRefresh.FindStringSubmatch(resp.body)
			if m == nil {
				t.Fatalf("no refresh in:\n%s", resp.body)
			}
			if got := html.UnescapeString(m[1]); got != tt.want {
				t.Errorf("refresh to %q, want %q", got, tt.want)
			}
			l := continueLink.FindStringSubmatch(resp.body)
			if l == nil || html.UnescapeString(l[1]) != tt.want {
				t.Errorf("continue link = %v, want %q", l, tt.want)
			}
			csp := resp.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "form-action 'self';") {
				t.Errorf("CSP form-action widened: %q", csp)
			}
			if strings.Contains(resp.body, "<script") {
				t.Error("the continue page runs a script")
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q", resp.Header.Get("Cache-Control"))
			}
		})
	}
}

// TestSignInFormStaysOnOrigin: whatever next is, the sign-in form's answer
// redirects only within our origin, and only the home page is reached
// directly; everything else goes through the continue page.
func TestSignInFormStaysOnOrigin(t *testing.T) {
	t.Parallel()
	tests := []struct{ next, want string }{
		{"/", "/"},
		{"/oauth/authorize?client_id=a", "/login/continue?next=%2Foauth%2Fauthorize%3Fclient_id%3Da"},
		{"/settings/apps", "/login/continue?next=%2Fsettings%2Fapps"},
	}
	for _, tt := range tests {
		if got := afterSignIn(tt.next); got != tt.want {
			t.Errorf("afterSignIn(%q) = %q, want %q", tt.next, got, tt.want)
		}
	}
}
