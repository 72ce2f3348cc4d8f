package authz

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ory/fosite"

	"github.com/nextoria/authz/metrics"
)

func TestIntrospectedType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		res   Introspection
		token string
		want  string
	}{
		{"active access token", Introspection{Active: true, TokenType: TokenTypeBearer}, "a.b.c", metrics.TokenTypeAccess},
		{"active refresh token", Introspection{Active: true, TokenType: TokenTypeRefresh}, "a.b", metrics.TokenTypeRefresh},
		{"active API key", Introspection{Active: true, TokenType: TokenTypeAPIKey}, "nxh_x", metrics.TokenTypeAPIKey},
		{"inactive API key", Introspection{}, "nxh_revokedrevokedrevoked", metrics.TokenTypeAPIKey},
		{"inactive JWT", Introspection{}, "eyJ.eyJ.sig", metrics.TokenTypeAccess},
		{"inactive HMAC token", Introspection{}, "key.signature", metrics.TokenTypeRefresh},
		{"garbage", Introspection{}, "not-a-token", metrics.TokenTypeUnknown},
		{"many dots", Introspection{}, "a.b.c.d", metrics.TokenTypeUnknown},
	}
	for _, tt := range tests {
		if got := introspectedType(tt.res, tt.token); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestRefreshReused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"reuse", fosite.ErrInvalidGrant.WithWrap(fmt.Errorf("storage: %w", fosite.ErrInactiveToken)).WithHint("The refresh token was already used."), true},
		{"unknown token", fosite.ErrInvalidGrant.WithWrap(fosite.ErrNotFound), false},
		{"inactive alone", fosite.ErrInactiveToken, false},
		{"other error", errors.New("boom"), false},
	}
	for _, tt := range tests {
		if got := refreshReused(tt.err); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
