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
		{"confidential without PKCE", false, []string{"code"}, []string{"projects:read"}, url.Values{}, nil},
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
