package consent

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestParseScope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"projects:read", []string{"projects:read"}},
		{"projects:read tasks:read", []string{"projects:read", "tasks:read"}},
		{"  projects:read   projects:read tasks:read ", []string{"projects:read", "tasks:read"}},
	}
	for _, tt := range tests {
		if got := ParseScope(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("ParseScope(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNeedsPrompt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		remembered []string
		requested  []string
		prompt     string
		want       bool
	}{
		{"never granted", nil, []string{"projects:read"}, "", true},
		{"same scopes", []string{"projects:read"}, []string{"projects:read"}, "", false},
		{"broader grant", []string{"projects:read", "tasks:read"}, []string{"tasks:read"}, "", false},
		{"new scope", []string{"projects:read"}, []string{"projects:read", "tasks:read"}, "", true},
		{"prompt=consent forces", []string{"projects:read"}, []string{"projects:read"}, "consent", true},
		{"prompt list with consent", []string{"projects:read"}, []string{"projects:read"}, "login consent", true},
		{"prompt=login only", []string{"projects:read"}, []string{"projects:read"}, "login", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := NeedsPrompt(tt.remembered, tt.requested, tt.prompt); got != tt.want {
				t.Errorf("NeedsPrompt = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCatalogue(t *testing.T) {
	t.Parallel()
	if len(Catalogue) != 13 {
		t.Fatalf("catalogue has %d scopes, the docs list 13", len(Catalogue))
	}
	if got := Names()[:3]; !slices.Equal(got, []string{"openid", "profile", "email"}) {
		t.Errorf("the identity scopes come first: %q", got)
	}
	if got := Unknown([]string{"projects:read", "admin", "files:write"}); !slices.Equal(got, []string{"admin", "files:write"}) {
		t.Errorf("Unknown = %q", got)
	}
	d := Describe([]string{"tasks:read", "projects:read", "nope"})
	if len(d) != 2 || d[0].Name != "projects:read" || d[1].Description != "Read task data across projects" {
		t.Errorf("Describe = %+v", d)
	}
}

// TestScopeAccess: every scope says what it allows in plain words, the
// access matches its name, and the rights that delete or void are marked
// destructive.
func TestScopeAccess(t *testing.T) {
	t.Parallel()
	for _, s := range Catalogue {
		if s.Plain == "" {
			t.Errorf("%s has no plain description", s.Name)
		}
		if strings.HasSuffix(s.Name, ":read") != (s.Access == Read) {
			t.Errorf("%s has access %q", s.Name, s.Access)
		}
		mentionsDestruction := strings.Contains(s.Description, "delete") || strings.Contains(s.Description, "void")
		if mentionsDestruction != (s.Access == Destructive) {
			t.Errorf("%s (%q) has access %q", s.Name, s.Description, s.Access)
		}
	}
	read, write := Grouped(Describe([]string{"invoices:write", "email", "projects:read", "openid", "tasks:write", "files:read"}))
	names := func(ss []Scope) []string {
		var out []string
		for _, s := range ss {
			out = append(out, s.Name)
		}
		return out
	}
	if got := names(read); !slices.Equal(got, []string{"projects:read", "files:read"}) {
		t.Errorf("read group = %q (identity scopes belong to no group)", got)
	}
	if got := names(write); !slices.Equal(got, []string{"tasks:write", "invoices:write"}) {
		t.Errorf("write group = %q", got)
	}
}

// TestIdentityScopes: the OpenID Connect scopes come first in the
// catalogue, form their own group, and only a request made of them alone
// is a sign-in.
func TestIdentityScopes(t *testing.T) {
	t.Parallel()
	if got := Names()[:3]; !slices.Equal(got, []string{"openid", "profile", "email"}) {
		t.Errorf("catalogue starts with %q", got)
	}
	var ids []string
	for _, s := range Identities(Describe([]string{"tasks:write", "email", "openid", "projects:read", "profile"})) {
		ids = append(ids, s.Name)
	}
	if !slices.Equal(ids, []string{"openid", "profile", "email"}) {
		t.Errorf("Identities = %q", ids)
	}
	tests := []struct {
		scopes []string
		want   bool
	}{
		{[]string{"openid"}, true},
		{[]string{"openid", "profile", "email"}, true},
		{[]string{"email"}, true},
		{[]string{"openid", "projects:read"}, false},
		{[]string{"tasks:write"}, false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := IdentityOnly(Describe(tt.scopes)); got != tt.want {
			t.Errorf("IdentityOnly(%q) = %v, want %v", tt.scopes, got, tt.want)
		}
	}
}

// FuzzParseScope: the parser never yields empty or duplicate names, and
// joining its output parses back to the same list.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"", "projects:read tasks:read", "  a  a b ", "\x00 \xff", "a\tb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := ParseScope(s)
		seen := map[string]bool{}
		for _, n := range got {
			if n == "" || seen[n] || strings.Contains(n, " ") {
				t.Fatalf("ParseScope(%q) = %q", s, got)
			}
			seen[n] = true
		}
		if again := ParseScope(strings.Join(got, " ")); !slices.Equal(again, got) {
			t.Fatalf("round trip %q → %q", got, again)
		}
	})
}

func TestMayRemember(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		public   bool
		redirect string
		want     bool
	}{
		{"confidential https", false, "https://app.example/cb", true},
		{"confidential loopback", false, "http://127.0.0.1:9/cb", true},
		{"public https", true, "https://spa.example/cb", true},
		{"public loopback IPv4", true, "http://127.0.0.1:5173/cb", false},
		{"public loopback 127/8", true, "http://127.1.2.3:80/cb", false},
		{"public loopback IPv6", true, "http://[::1]:8080/cb", false},
		{"public localhost", true, "http://localhost:3000/cb", false},
		{"public https localhost", true, "https://localhost/cb", false},
		{"public custom scheme", true, "com.example.app:/cb", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, err := url.Parse(tt.redirect)
			if err != nil {
				t.Fatal(err)
			}
			if got := MayRemember(tt.public, u); got != tt.want {
				t.Errorf("MayRemember(%v, %s) = %v, want %v", tt.public, tt.redirect, got, tt.want)
			}
		})
	}
	if MayRemember(true, nil) {
		t.Error("MayRemember(public, nil) = true")
	}
}

// TestIdentityScopes: the identity scopes are for people signing in to
// apps; API keys never hold them, and a request for them alone is a sign-in.
func TestAPICatalogue(t *testing.T) {
	t.Parallel()
	for _, n := range APINames() {
		if s, _ := Lookup(n); s.Access == Identity {
			t.Errorf("API keys may hold %s", n)
		}
	}
	if len(APINames()) != len(Catalogue)-3 {
		t.Errorf("APINames = %q", APINames())
	}
}
