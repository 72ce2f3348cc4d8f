package authz

import (
	"net/url"
	"testing"

	"github.com/ory/fosite"
)

func TestCheckAuthorizeRequest(t *testing.T) {
	t.Parallel()
	const challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	tests := []struct {
		name    string
		public  bool
		types   []string
		scopes  []string
		form    url.Values
		wantErr *fosite.RFC6749Error
	}{
		{"confidential without PKCE", false, []string{"code"}, []string{"projects:read"}, url.Values{}, fosite.ErrInvalidRequest},
		{"S256", false, []string{"code"}, []string{"projects:read"},
			url.Values{"code_challenge": {challenge}, "code_challenge_method": {"S256"}}, nil},
		{"public with S256", true, []string{"code"}, []string{"projects:read"},
			url.Values{"code_challenge": {challenge}, "code_challenge_method": {"S256"}}, nil},
		{"public without PKCE", true, []string{"code"}, []string{"projects:read"}, url.Values{}, fosite.ErrInvalidRequest},
		{"plain refused", false, []string{"code"}, []string{"projects:read"},
			url.Values{"code_challenge": {challenge}, "code_challenge_method": {"plain"}}, fosite.ErrInvalidRequest},
		{"missing method means plain", false, []string{"code"}, []string{"projects:read"},
			url.Values{"code_challenge": {challenge}}, fosite.ErrInvalidRequest},
		{"method without challenge", false, []string{"code"}, []string{"projects:read"},
			url.Values{"code_challenge_method": {"S256"}}, fosite.ErrInvalidRequest},
		{"short challenge", false, []string{"code"}, []string{"projects:read"},
			url.Values{"code_challenge": {"abc"}, "code_challenge_method": {"S256"}}, fosite.ErrInvalidRequest},
		{"token response type", false, []string{"token"}, []string{"projects:read"}, url.Values{}, fosite.ErrUnsupportedResponseType},
		{"code and token", false, []string{"code", "token"}, []string{"projects:read"}, url.Values{}, fosite.ErrUnsupportedResponseType},
		{"fragment mode", false, []string{"code"}, []string{"projects:read"},
			url.Values{"response_mode": {"fragment"}}, fosite.ErrUnsupportedResponseMode},
		{"no scope", false, []string{"code"}, nil, url.Values{}, fosite.ErrInvalidScope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ar := fosite.NewAuthorizeRequest()
			ar.Client = &fosite.DefaultClient{ID: "c", Public: tt.public}
			ar.ResponseTypes = tt.types
			ar.RequestedScope = tt.scopes
			ar.Form = tt.form
			err := checkAuthorizeRequest(ar)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if got := fosite.ErrorToRFC6749Error(err).ErrorField; got != tt.wantErr.ErrorField {
				t.Fatalf("error = %q (%v), want %q", got, err, tt.wantErr.ErrorField)
			}
		})
	}
}

// optOutClient is a confidential client whose app does not require PKCE.
type optOutClient struct{ fosite.DefaultClient }

func (optOutClient) PKCERequired() bool { return false }

func TestRequiresPKCE(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		client fosite.Client
		want   bool
	}{
		{"public", &fosite.DefaultClient{Public: true}, true},
		{"confidential, no setting", &fosite.DefaultClient{}, true},
		{"confidential, opted out", &optOutClient{}, false},
		{"public cannot opt out", &optOutClient{fosite.DefaultClient{Public: true}}, true},
	}
	for _, tt := range tests {
		if got := requiresPKCE(tt.client); got != tt.want {
			t.Errorf("%s: requiresPKCE = %v, want %v", tt.name, got, tt.want)
		}
	}
	ar := fosite.NewAuthorizeRequest()
	ar.Client = &optOutClient{}
	ar.ResponseTypes = []string{"code"}
	ar.RequestedScope = []string{"projects:read"}
	if err := checkAuthorizeRequest(ar); err != nil {
		t.Errorf("opted-out confidential client without PKCE: %v", err)
	}
}

func TestOriginAndHost(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, origin, host string }{
		{"https://yourapp.com/callback", "https://yourapp.com", "yourapp.com"},
		{"http://127.0.0.1:9999/cb?x=1", "http://127.0.0.1:9999", "127.0.0.1:9999"},
		{"http://[::1]:80/", "http://[::1]:80", "[::1]:80"},
	}
	for _, tt := range tests {
		if got := originOf(tt.in); got != tt.origin {
			t.Errorf("originOf(%q) = %q, want %q", tt.in, got, tt.origin)
		}
		if got := hostOf(tt.in); got != tt.host {
			t.Errorf("hostOf(%q) = %q, want %q", tt.in, got, tt.host)
		}
	}
}

func TestCheckRedirectURI(t *testing.T) {
	t.Parallel()
	registered := []string{"http://127.0.0.1/cb", "https://app.example/cb"}
	tests := []struct {
		name    string
		public  bool
		raw     string // the redirect_uri parameter; "" when omitted
		wantErr bool
	}{
		{"confidential exact loopback", false, "http://127.0.0.1/cb", false},
		{"confidential exact https", false, "https://app.example/cb", false},
		{"confidential omitted", false, "", false},
		{"confidential other loopback port", false, "http://127.0.0.1:4444/cb", true},
		{"public other loopback port", true, "http://127.0.0.1:4444/cb", false},
		{"public loopback with userinfo", true, "http://evil@127.0.0.1:4444/cb", true},
		{"confidential with userinfo", false, "http://evil:pw@127.0.0.1/cb", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ar := fosite.NewAuthorizeRequest()
			ar.Client = &fosite.DefaultClient{ID: "c", Public: tt.public, RedirectURIs: registered}
			ar.Form = url.Values{}
			effective := tt.raw
			if tt.raw != "" {
				ar.Form.Set("redirect_uri", tt.raw)
			} else {
				effective = registered[0]
			}
			u, err := url.Parse(effective)
			if err != nil {
				t.Fatal(err)
			}
			ar.RedirectURI = u
			if err := checkRedirectURI(ar); (err != nil) != tt.wantErr {
				t.Fatalf("checkRedirectURI(%q) = %v, want error %v", tt.raw, err, tt.wantErr)
			}
		})
	}
}
