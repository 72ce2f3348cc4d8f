package authz

import (
	"context"
	"strings"

	"github.com/nextoria/authz/apikey"
)

// apiKeyIntrospector answers introspection for workspace API keys.
type apiKeyIntrospector struct {
	keys   *apikey.Service
	issuer string
}

// NewAPIKeyIntrospector makes introspection answer for API keys looked up
// through keys.
func NewAPIKeyIntrospector(keys *apikey.Service, issuer string) APIKeyIntrospector {
	return &apiKeyIntrospector{keys: keys, issuer: issuer}
}

// IntrospectAPIKey claims every token with the API-key prefix: a malformed,
// unknown, revoked or expired key is inactive, never tried as another kind.
func (a *apiKeyIntrospector) IntrospectAPIKey(ctx context.Context, token string) (Introspection, bool, error) {
	if !strings.HasPrefix(token, apikey.Prefix) {
		return Introspection{}, false, nil
	}
	k, active, err := a.keys.Lookup(ctx, token)
	if err != nil || !active {
		return Introspection{Active: false}, true, err
	}
	res := Introspection{
		Active:      true,
		Scope:       strings.Join(k.Scopes, " "),
		TokenType:   TokenTypeAPIKey,
		IssuedAt:    k.CreatedAt.Unix(),
		Issuer:      a.issuer,
		WorkspaceID: k.WorkspaceID,
		Plan:        k.Plan,
		KeyID:       k.ID,
		KeyName:     k.Name,
	}
	if !k.ExpiresAt.IsZero() {
		res.ExpiresAt = k.ExpiresAt.Unix()
	}
	return res, true, nil
}
