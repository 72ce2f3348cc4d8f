package registration

import (
	"testing"

	"github.com/nextoria/authz/apps"
)

// TestOpenIDConnectMetadata checks the OpenID Connect fields: the ID token
// algorithm defaults to RS256 and must be RS256 or ES256; post-logout
// redirect URIs follow the rules of redirect URIs and their errors are
// invalid_redirect_uri.
func TestOpenIDConnectMetadata(t *testing.T) {
	t.Parallel()
	base := func() Metadata {
		return Metadata{ClientName: "A", RedirectURIs: []string{"https://a.example/cb"}, Scope: "openid"}
	}
	for _, tc := range []struct {
		name    string
		mut     func(*Metadata)
		code    string // "" for accepted
		wantAlg string
	}{
		{"default alg", func(*Metadata) {}, "", "RS256"},
		{"RS256", func(m *Metadata) { m.IDTokenSignedResponseAlg = "RS256" }, "", "RS256"},
		{"ES256", func(m *Metadata) { m.IDTokenSignedResponseAlg = "ES256" }, "", "ES256"},
		{"HS256", func(m *Metadata) { m.IDTokenSignedResponseAlg = "HS256" }, CodeInvalidClientMetadata, ""},
		{"none", func(m *Metadata) { m.IDTokenSignedResponseAlg = "none" }, CodeInvalidClientMetadata, ""},
		{"lower case", func(m *Metadata) { m.IDTokenSignedResponseAlg = "es256" }, CodeInvalidClientMetadata, ""},
		{"post-logout URIs", func(m *Metadata) {
			m.PostLogoutRedirectURIs = []string{"https://a.example/bye", "http://127.0.0.1:8/bye"}
		}, "", "RS256"},
		{"post-logout fragment", func(m *Metadata) { m.PostLogoutRedirectURIs = []string{"https://a.example/bye#x"} }, CodeInvalidRedirectURI, ""},
		{"post-logout twice", func(m *Metadata) {
			m.PostLogoutRedirectURIs = []string{"https://a.example/bye", "https://a.example/bye"}
		}, CodeInvalidRedirectURI, ""},
		{"post-logout too many", func(m *Metadata) { m.PostLogoutRedirectURIs = make([]string, MaxRedirectURIs+1) }, CodeInvalidRedirectURI, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := base()
			tc.mut(&m)
			var c Clients
			_, err := c.prepare(t.Context(), &m)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("prepare: %v", err)
				}
				if m.IDTokenSignedResponseAlg != tc.wantAlg {
					t.Errorf("alg = %q, want %q", m.IDTokenSignedResponseAlg, tc.wantAlg)
				}
				return
			}
			re, ok := err.(*Error)
			if !ok || re.Code != tc.code || re.Description == "" {
				t.Fatalf("prepare = %v, want %s", err, tc.code)
			}
		})
	}
	if got := fromFieldErrors(apps.FieldErrors{apps.FieldIDTokenAlg: "bad"}); got.Code != CodeInvalidClientMetadata || got.Description != "id_token_signed_response_alg: bad" {
		t.Errorf("fromFieldErrors = %+v", got)
	}
}
