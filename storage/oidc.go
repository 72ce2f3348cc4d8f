package storage

import (
	"context"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
)

var _ openid.OpenIDConnectRequestStorage = (*Store)(nil)

// oidcSessions holds the OpenID Connect part of an authorization request
// between the authorization response and the code exchange. fosite keys it
// by the authorization code itself, not by a signature, so the row key is
// the code's hash like every other (hashSignature): the database never holds
// a usable code. A row lives as long as its code.
var oidcSessions = sessionTable{
	name: "oauth_oidc_sessions", what: "openid connect session", tokenType: fosite.AuthorizeCode,
	fallback: 24 * time.Hour, inactive: fosite.ErrNotFound,
}

// CreateOpenIDConnectSession stores the OpenID Connect request (nonce,
// max_age, prompt, id_token_hint) of the authorization that issued code.
func (s *Store) CreateOpenIDConnectSession(ctx context.Context, code string, r fosite.Requester) error {
	return s.createSession(ctx, oidcSessions, code, "", r)
}

// GetOpenIDConnectSession loads the OpenID Connect request of code into
// r's session; openid.ErrNoSessionFound (fosite.ErrNotFound) when there is
// none: the code was issued without the openid scope, was exchanged already
// or has expired.
func (s *Store) GetOpenIDConnectSession(ctx context.Context, code string, r fosite.Requester) (fosite.Requester, error) {
	return s.getSession(ctx, oidcSessions, code, r.GetSession())
}

// DeleteOpenIDConnectSession removes the OpenID Connect request of code once
// its ID token is issued, so a code yields at most one ID token. Deleting
// nothing is not an error.
func (s *Store) DeleteOpenIDConnectSession(ctx context.Context, code string) error {
	if memoFrom(ctx).oidcGoneWithCode(hashSignature(code)) {
		return nil // deleted with the code's redemption (InvalidateAuthorizeCodeSession)
	}
	return s.deleteSession(ctx, oidcSessions, code)
}
