package authz

import (
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"
)

// Session is what fosite stores with every code and token: who authorized
// which client, and when each token expires. It builds the claims of the RFC
// 9068 access-token JWT.
type Session struct {
	Subject     string    `json:"sub"`
	Username    string    `json:"username"`
	WorkspaceID string    `json:"workspace_id"`
	ClientID    string    `json:"client_id"`
	AuthTime    time.Time `json:"auth_time"`
	// GrantedAt is when the user authorized the grant; the absolute refresh
	// limit counts from it and survives rotations.
	GrantedAt time.Time                      `json:"granted_at"`
	ExpiresAt map[fosite.TokenType]time.Time `json:"expires_at"`
	// JTI and IssuedAt are those of the latest access token minted from this session.
	JTI      string    `json:"jti,omitempty"`
	IssuedAt time.Time `json:"iat,omitzero"`
	// IDClaims and IDHeaders are the ID token's claims and header when the
	// grant includes openid (fosite's openid.Session); nil otherwise.
	IDClaims  *jwt.IDTokenClaims `json:"id_token_claims,omitempty"`
	IDHeaders *jwt.Headers       `json:"id_token_headers,omitempty"`

	// accessLifespan is the access-token lifespan; GetJWTClaims sets the
	// expiry from it. Not stored.
	accessLifespan time.Duration
}

// newSession returns an empty session for fosite to fill from storage.
func newSession(accessLifespan time.Duration) *Session {
	return &Session{accessLifespan: accessLifespan}
}

var (
	_ fosite.Session             = (*Session)(nil)
	_ oauth2.JWTSessionContainer = (*Session)(nil)
	_ fosite.ExtraClaimsSession  = (*Session)(nil)
	_ openid.Session             = (*Session)(nil)
)

// SetExpiresAt implements fosite.Session.
func (s *Session) SetExpiresAt(key fosite.TokenType, exp time.Time) {
	if s.ExpiresAt == nil {
		s.ExpiresAt = make(map[fosite.TokenType]time.Time)
	}
	s.ExpiresAt[key] = exp
}

// GetExpiresAt implements fosite.Session.
func (s *Session) GetExpiresAt(key fosite.TokenType) time.Time {
	if s.ExpiresAt == nil {
		return time.Time{}
	}
	return s.ExpiresAt[key]
}

// GetUsername implements fosite.Session.
func (s *Session) GetUsername() string { return s.Username }

// GetSubject implements fosite.Session.
func (s *Session) GetSubject() string { return s.Subject }

// Clone implements fosite.Session.
func (s *Session) Clone() fosite.Session {
	c := *s
	c.ExpiresAt = make(map[fosite.TokenType]time.Time, len(s.ExpiresAt))
	for k, v := range s.ExpiresAt {
		c.ExpiresAt[k] = v
	}
	if s.IDClaims != nil {
		claims := *s.IDClaims
		claims.Audience = slices.Clone(s.IDClaims.Audience)
		claims.AuthenticationMethodsReferences = slices.Clone(s.IDClaims.AuthenticationMethodsReferences)
		claims.Extra = maps.Clone(s.IDClaims.Extra)
		c.IDClaims = &claims
	}
	if s.IDHeaders != nil {
		c.IDHeaders = &jwt.Headers{Extra: maps.Clone(s.IDHeaders.Extra)}
	}
	return &c
}

// IDTokenClaims implements openid.Session: the claims of the next ID token,
// which fosite completes (iss, aud, exp, iat, nonce, at_hash) and signs.
func (s *Session) IDTokenClaims() *jwt.IDTokenClaims {
	if s.IDClaims == nil {
		s.IDClaims = &jwt.IDTokenClaims{}
	}
	return s.IDClaims
}

// IDTokenHeaders implements openid.Session.
func (s *Session) IDTokenHeaders() *jwt.Headers {
	if s.IDHeaders == nil {
		s.IDHeaders = &jwt.Headers{}
	}
	return s.IDHeaders
}

// GetJWTClaims builds fresh claims for each new access token, so that a
// refreshed token gets its own iat and jti (fosite #774). fosite then fills
// exp (from the session), scope, aud and iss. The jti and iat used last are kept in the session, which
// fosite stores with the token.
func (s *Session) GetJWTClaims() jwt.JWTClaimsContainer {
	// A version 7 UUID: the store keeps the token's row in time order by it
	// (accessTokenStrategy.AccessTokenSignature).
	s.JTI = uuid.Must(uuid.NewV7()).String()
	s.IssuedAt = time.Now().UTC().Truncate(time.Second)
	if s.accessLifespan > 0 {
		// fosite reads the expiry after this call: pin it to iat + lifespan so
		// that exp - iat is exactly the lifespan and iat is never in the future.
		s.SetExpiresAt(fosite.AccessToken, s.IssuedAt.Add(s.accessLifespan))
	}
	return &jwt.JWTClaims{
		Subject:  s.Subject,
		JTI:      s.JTI,
		IssuedAt: s.IssuedAt,
		Extra: map[string]interface{}{
			"client_id":    s.ClientID,
			"workspace_id": s.WorkspaceID,
		},
	}
}

// GetJWTHeader sets the RFC 9068 media type.
func (s *Session) GetJWTHeader() *jwt.Headers {
	return &jwt.Headers{Extra: map[string]interface{}{"typ": "at+jwt"}}
}

// GetExtraClaims implements fosite.ExtraClaimsSession for introspection.
func (s *Session) GetExtraClaims() map[string]interface{} {
	return map[string]interface{}{"workspace_id": s.WorkspaceID}
}
