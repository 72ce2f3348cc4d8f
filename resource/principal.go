package resource

import (
	"context"
	"slices"
)

// Token types of a Principal, as the introspection endpoint names them.
const (
	TokenTypeBearer = "Bearer"  // an OAuth access token, acting for a user
	TokenTypeAPIKey = "api_key" // a workspace API key
)

// Principal is who a request acts for, as established by introspecting its
// bearer token.
type Principal struct {
	// Subject is the user id of an OAuth access token; "" for an API key.
	Subject string
	// Username is the user's e-mail for an OAuth access token.
	Username string
	// ClientID is the OAuth app the user authorized; "" for an API key.
	ClientID string
	// WorkspaceID is the workspace whose data the request may reach, and
	// whose rate limit it counts against.
	WorkspaceID string
	// Plan is the workspace's plan: starter, growth or scale.
	Plan string
	// Scopes are the scopes granted to the token or key.
	Scopes []string
	// TokenType is TokenTypeBearer or TokenTypeAPIKey.
	TokenType string
	// KeyID and KeyName identify an API key; "" for an access token.
	KeyID   string
	KeyName string
}

// HasScope reports whether the principal was granted scope.
func (p Principal) HasScope(scope string) bool { return slices.Contains(p.Scopes, scope) }

type principalKey struct{}

// WithPrincipal returns a context carrying p. Require does this for every
// request it lets through; handler tests can use it directly.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal Require put in ctx.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	if ok {
		p.Scopes = slices.Clone(p.Scopes)
	}
	return p, ok
}
