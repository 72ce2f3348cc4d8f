package authz

import (
	"net/http"

	"github.com/ory/fosite"
)

// ErrorCode is one RFC 6749 §5.2 error of the token, revocation and
// introspection endpoints, with its HTTP status and what it tells a client.
type ErrorCode struct {
	Status  int
	Code    string
	Meaning string
}

// TokenErrors lists the errors the token, revocation and introspection
// endpoints answer, as the developer documentation shows them. The codes
// and statuses are those of the fosite errors the endpoints return, and of
// the endpoints' own answers for rate limits and outages.
var TokenErrors = []ErrorCode{
	fositeCode(fosite.ErrInvalidRequest, "A parameter is missing, repeated or malformed (also: the body is not form-encoded, or parameters were sent in the URL)."),
	fositeCode(fosite.ErrInvalidClient, "Client authentication failed: unknown client, wrong secret, a secret sent by a public client, or none at all where one is required."),
	fositeCode(fosite.ErrInvalidGrant, "The code or refresh token is invalid, expired, revoked, already used, or was issued to another client or redirect URI; or the PKCE verifier does not match."),
	fositeCode(fosite.ErrUnauthorizedClient, "The client may not use this grant type."),
	fositeCode(fosite.ErrUnsupportedGrantType, "The grant type is neither authorization_code nor refresh_token."),
	fositeCode(fosite.ErrInvalidScope, "A refresh asked for a scope the grant does not have: scopes can be narrowed, never widened."),
	{http.StatusTooManyRequests, "temporarily_unavailable", "Too many requests from this client; wait for Retry-After seconds."},
	{http.StatusServiceUnavailable, "temporarily_unavailable", "The server cannot reach its database; retry after Retry-After seconds with the same credentials."},
}

func fositeCode(e *fosite.RFC6749Error, meaning string) ErrorCode {
	return ErrorCode{Status: e.CodeField, Code: e.ErrorField, Meaning: meaning}
}
