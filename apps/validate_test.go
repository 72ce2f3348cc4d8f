package apps

import (
	"strings"
	"testing"
)

func TestValidateRedirectURI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		uri     string
		wantErr string // substring of the error; "" means valid
	}{
		{"https://yourapp.com/callback", ""},
		{"https://yourapp.com:8443/oauth/callback?tenant=a", ""},
		{"https://sub.yourapp.com", ""},
		{"http://127.0.0.1:9999/callback", ""},
		{"http://127.0.0.1/callback", ""},
		{"http://[::1]:8080/callback", ""},
		{"https://localhost/cb", ""},
		{"https://example.com/café", ""},

		{"", "must not be empty"},
		{"http://yourapp.com/callback", "must use https"},
		{"http://10.0.0.1/callback", "must use https"},
		{"http://127.0.0.1.evil.com/cb", "must use https"},
		{"http://localhost.evil.com/cb", "must use https"},
		{"http://[::2]/cb", "must use https"},
		{"ftp://yourapp.com/cb", "must use https"},
		{"com.yourapp:/callback", "absolute URL"},
		{"javascript:alert(1)", "absolute URL"},
		{"/callback", "absolute URL"},
		{"yourapp.com/callback", "absolute URL"},
		{"https:///callback", "absolute URL"},
		{"https://yourapp.com/callback#frag", "fragment"},
		{"https://yourapp.com/callback#", "fragment"},
		{"https://*.yourapp.com/callback", "wildcard"},
		{"https://yourapp.com/*", "wildcard"},
		{"https://user:pass@yourapp.com/cb", "user information"},
		{"https://user@yourapp.com/cb", "user information"},
		{"http://localhost@evil.com/cb", "user information"},
		{"http://evil@127.0.0.1:1234/callback", "user information"},
		{"http://@127.0.0.1:1234/callback", "user information"},
		{"http://evil:pw@[::1]:1234/callback", "user information"},
		{"http://localhost:3000/cb", "use http://127.0.0.1 or http://[::1]"},
		{"http://localhost/cb", "use http://127.0.0.1 or http://[::1]"},
		{"http://LocalHost:3000/cb", "use http://127.0.0.1 or http://[::1]"},
		{"https://example.com/\xff", "UTF-8"},
		{"http://127.0.0.1:1234/cb\xc0\xaf", "UTF-8"},
		{"https://example.com/\ufffd", "control"},
		{"https://example.com/a\x00b", "control"},
		{"https://yourapp.com/call back", "spaces"},
		{"https://yourapp.com/cb\n", "control"},
		{"https://yourapp.com/\u202ecb", "control"},
		{`https://evil.com\@yourapp.com/cb`, "backslash"},
		{"https://yourapp.com:99999999999/cb", "invalid port"},
		{"https://yourapp.com:0/cb", "invalid port"},
		{"https://yourapp.com:8x/cb", "not a valid URL"},
		{"https://" + strings.Repeat("a", 2000) + ".com/", "at most"},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			t.Parallel()
			err := ValidateRedirectURI(tt.uri)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("ValidateRedirectURI(%q) = %v, want nil", tt.uri, err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("ValidateRedirectURI(%q) = nil, want error containing %q", tt.uri, tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("ValidateRedirectURI(%q) = %q, want it to contain %q", tt.uri, err, tt.wantErr)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	valid := func() Registration {
		return Registration{
			Name:         "Acme Sync",
			RedirectURIs: []string{"https://acme.example/callback"},
			Scopes:       []string{"projects:read", "tasks:read"},
		}
	}
	tests := []struct {
		name   string
		modify func(r *Registration)
		want   map[string]string // field → substring of its message; nil means valid
	}{
		{"valid", func(r *Registration) {}, nil},
		{"valid public with loopback", func(r *Registration) {
			r.Public = true
			r.RedirectURIs = []string{"http://127.0.0.1:9999/callback", "http://[::1]:9999/callback"}
		}, nil},
		{"name trimmed to 100", func(r *Registration) { r.Name = "  " + strings.Repeat("é", 100) + "  " }, nil},
		{"name with unicode", func(r *Registration) { r.Name = "Zürich Tâches 任务" }, nil},
		{"valid logo", func(r *Registration) { r.Logo = encodePNG(t, solid(32, 32)) }, nil},

		{"empty name", func(r *Registration) { r.Name = "" }, map[string]string{"name": "required"}},
		{"blank name", func(r *Registration) { r.Name = " \t " }, map[string]string{"name": "required"}},
		{"long name", func(r *Registration) { r.Name = strings.Repeat("a", 101) }, map[string]string{"name": "at most 100"}},
		{"control char in name", func(r *Registration) { r.Name = "Acme\x00Sync" }, map[string]string{"name": "printable"}},
		{"newline in name", func(r *Registration) { r.Name = "Acme\nSync" }, map[string]string{"name": "printable"}},
		{"bidi override in name", func(r *Registration) { r.Name = "Acme \u202eevil" }, map[string]string{"name": "printable"}},
		{"invalid UTF-8 name", func(r *Registration) { r.Name = "Acme \xff" }, map[string]string{"name": "UTF-8"}},
		{"replacement character in name", func(r *Registration) { r.Name = "Acme \ufffd" }, map[string]string{"name": "printable"}},
		{"invalid UTF-8 redirect URI", func(r *Registration) { r.RedirectURIs = []string{"https://acme.example/\xff"} }, map[string]string{"redirect_uris": "UTF-8"}},
		{"localhost redirect URI", func(r *Registration) { r.RedirectURIs = []string{"http://localhost:9999/callback"} }, map[string]string{"redirect_uris": "127.0.0.1"}},

		{"no redirect URIs", func(r *Registration) { r.RedirectURIs = nil }, map[string]string{"redirect_uris": "at least one"}},
		{"too many redirect URIs", func(r *Registration) {
			r.RedirectURIs = nil
			for i := range 11 {
				r.RedirectURIs = append(r.RedirectURIs, "https://acme.example/cb"+strings.Repeat("x", i))
			}
		}, map[string]string{"redirect_uris": "at most 10"}},
		{"duplicate redirect URI", func(r *Registration) {
			r.RedirectURIs = []string{"https://acme.example/cb", "https://acme.example/cb"}
		}, map[string]string{"redirect_uris": "twice"}},
		{"bad redirect URI", func(r *Registration) {
			r.RedirectURIs = []string{"https://acme.example/cb", "http://acme.example/cb"}
		}, map[string]string{"redirect_uris": "https"}},

		{"post-logout redirect URIs", func(r *Registration) {
			r.PostLogoutRedirectURIs = []string{"https://acme.example/signed-out", "http://127.0.0.1:9999/bye"}
		}, nil},
		{"post-logout redirect URI over http", func(r *Registration) {
			r.PostLogoutRedirectURIs = []string{"http://acme.example/signed-out"}
		}, map[string]string{"post_logout_redirect_uris": "post-logout redirect URI"}},
		{"post-logout redirect URI with fragment", func(r *Registration) {
			r.PostLogoutRedirectURIs = []string{"https://acme.example/bye#x"}
		}, map[string]string{"post_logout_redirect_uris": "fragment"}},
		{"post-logout redirect URI with wildcard", func(r *Registration) {
			r.PostLogoutRedirectURIs = []string{"https://*.acme.example/bye"}
		}, map[string]string{"post_logout_redirect_uris": "wildcard"}},
		{"duplicate post-logout redirect URI", func(r *Registration) {
			r.PostLogoutRedirectURIs = []string{"https://acme.example/bye", "https://acme.example/bye"}
		}, map[string]string{"post_logout_redirect_uris": "twice"}},
		{"too many post-logout redirect URIs", func(r *Registration) {
			for i := range 11 {
				r.PostLogoutRedirectURIs = append(r.PostLogoutRedirectURIs, "https://acme.example/bye"+strings.Repeat("x", i))
			}
		}, map[string]string{"post_logout_redirect_uris": "at most 10"}},
		{"invalid UTF-8 post-logout redirect URI", func(r *Registration) {
			r.PostLogoutRedirectURIs = []string{"https://acme.example/\xff"}
		}, map[string]string{"post_logout_redirect_uris": "UTF-8"}},

		{"no scopes", func(r *Registration) { r.Scopes = nil }, map[string]string{"scopes": "at least one"}},
		{"unknown scope", func(r *Registration) { r.Scopes = []string{"projects:read", "admin"} }, map[string]string{"scopes": `unknown scope "admin"`}},
		{"duplicate scope", func(r *Registration) { r.Scopes = []string{"tasks:read", "tasks:read"} }, map[string]string{"scopes": "twice"}},

		{"bad logo", func(r *Registration) { r.Logo = []byte("<svg xmlns='http://www.w3.org/2000/svg'/>") }, map[string]string{"logo": "PNG, JPEG or WebP"}},
		{"empty logo", func(r *Registration) { r.Logo = []byte{} }, map[string]string{"logo": "empty"}},

		{"everything wrong at once", func(r *Registration) {
			r.Name = ""
			r.RedirectURIs = []string{"https://*.acme.example/cb"}
			r.Scopes = []string{"root"}
			r.Logo = []byte("GIF89a")
		}, map[string]string{"name": "required", "redirect_uris": "wildcard", "scopes": "unknown", "logo": "PNG"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := valid()
			tt.modify(&r)
			got := Validate(r)
			if tt.want == nil {
				if got != nil {
					t.Fatalf("Validate() = %v, want nil", got)
				}
				return
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Validate() = %v, want errors on fields %v", got, tt.want)
			}
			for field, sub := range tt.want {
				if !strings.Contains(got[field], sub) {
					t.Errorf("field %q: message %q, want it to contain %q", field, got[field], sub)
				}
			}
		})
	}
}

func TestFieldErrorsError(t *testing.T) {
	t.Parallel()
	fe := FieldErrors{"scopes": "is required", "name": "is required"}
	want := "invalid app registration: name: is required; scopes: is required"
	if fe.Error() != want {
		t.Fatalf("Error() = %q, want %q", fe.Error(), want)
	}
}
