package web

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/nextoria/authz/consent"
)

// TestConsentIdentity: a request for identity scopes only reads as a
// sign-in to the app and lists what the app will know about the person; a
// request that mixes identity and API access lists the identity items as a
// group of their own above the access it asks for, as before.
func TestConsentIdentity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		scopes       []string
		wantSignIn   bool
		wantIdentity []string
		wantRead     []string
		wantWrite    []string
	}{
		{"openid only", []string{"openid"}, true, []string{"openid"}, nil, nil},
		{"openid profile email", []string{"email", "openid", "profile"}, true, []string{"openid", "profile", "email"}, nil, nil},
		{"mixed", []string{"openid", "email", "projects:read", "tasks:write"}, false, []string{"openid", "email"}, []string{"projects:read"}, []string{"tasks:write"}},
		{"API access only", []string{"projects:read"}, false, nil, []string{"projects:read"}, nil},
	}
	group := func(t *testing.T, doc, id string) []string {
		t.Helper()
		var names []string
		for _, g := range byTestID(parseHTML(t, doc), id) {
			for _, item := range byTestID(g, "scope-item") {
				n, _ := attr(item, "data-scope")
				names = append(names, n)
			}
		}
		return names
	}
	s, err := New(testConfig(t), newFakeStore())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := testPrompt()
			p.Scopes = consent.Describe(tt.scopes)
			w := httptest.NewRecorder()
			s.RenderConsent(w, httptest.NewRequest(http.MethodGet, "/oauth/authorize", nil), p)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d", w.Code)
			}
			out := w.Body.String()
			doc := parseHTML(t, out)
			title := textOf(oneByTestID(t, doc, "app-name").Parent)
			if tt.wantSignIn {
				if title != "Sign in to Acme CRM with Nextoria Hub" {
					t.Errorf("heading = %q, want a sign-in", title)
				}
				if len(byTestID(doc, "consent-sign-in")) != 1 || !strings.Contains(out, "<title>Sign in to Acme CRM") {
					t.Error("the page does not read as a sign-in")
				}
				if got := textOf(oneByTestID(t, doc, "allow")); got != "Continue" {
					t.Errorf("allow button = %q", got)
				}
			} else {
				if title != "Acme CRM wants to access your Nextoria Hub account" {
					t.Errorf("heading = %q, want the access request", title)
				}
				if got := textOf(oneByTestID(t, doc, "allow")); got != "Allow" {
					t.Errorf("allow button = %q", got)
				}
			}
			for _, g := range []struct {
				id   string
				want []string
			}{
				{"scope-group-identity", tt.wantIdentity},
				{"scope-group-read", tt.wantRead},
				{"scope-group-write", tt.wantWrite},
			} {
				if got := group(t, out, g.id); !slices.Equal(got, g.want) {
					t.Errorf("%s = %q, want %q", g.id, got, g.want)
				}
			}
			text := textOf(doc)
			for _, sc := range p.Scopes {
				if !strings.Contains(text, sc.Plain) {
					t.Errorf("page lacks %q", sc.Plain)
				}
			}
			if slices.Contains(tt.scopes, "email") && !strings.Contains(text, "See your e-mail address") {
				t.Error("e-mail not listed")
			}
			if w.Header().Get("X-Frame-Options") != "DENY" || !strings.Contains(w.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'") {
				t.Error("frame-busting headers missing")
			}
		})
	}
}
