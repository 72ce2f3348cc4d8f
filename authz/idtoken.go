package authz

import (
	"context"
	"crypto/sha256"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"

	"github.com/nextoria/authz/storage"
)

// IDTokenLifespan is how long an ID token is valid.
const IDTokenLifespan = time.Hour

// Identity scopes and the claims they release (OpenID Connect Core §5.4).
const (
	scopeOpenID  = "openid"
	scopeProfile = "profile"
	scopeEmail   = "email"
)

// strategy is what the fosite provider is composed with: the access-token,
// code and refresh-token strategies, the ID token strategy, and the signer
// that fosite's OpenID Connect request validator decodes an id_token_hint
// with (any published key, chosen by kid).
type strategy struct {
	*accessTokenStrategy
	openid.OpenIDConnectTokenStrategy
	jwt.Signer
}

var (
	_ oauth2.CoreStrategy               = strategy{}
	_ openid.OpenIDConnectTokenStrategy = strategy{}
	_ jwt.Signer                        = strategy{}
)

// idTokenStrategy signs each ID token with the algorithm its app chose:
// RS256 unless the app picked ES256. fosite's DefaultStrategy does the rest
// (the prompt, max_age and id_token_hint checks, iss, aud, exp, iat, nonce).
type idTokenStrategy struct {
	rs256, es256 openid.DefaultStrategy
}

func newIDTokenStrategy(keys *KeySet, cfg *fosite.Config) idTokenStrategy {
	return idTokenStrategy{
		rs256: openid.DefaultStrategy{Signer: newSignerFor(keys, RSAKeyAlg), Config: cfg},
		es256: openid.DefaultStrategy{Signer: newSignerFor(keys, KeyAlg), Config: cfg},
	}
}

// idTokenAlg is the algorithm of c's ID tokens.
func idTokenAlg(c fosite.Client) string {
	if sc, ok := c.(*storage.Client); ok && sc.App().IDTokenAlg == storage.IDTokenES256 {
		return KeyAlg
	}
	return RSAKeyAlg
}

// GenerateIDToken implements openid.OpenIDConnectTokenStrategy. A refreshed
// ID token never carries a nonce (OpenID Connect Core §12.2): the one sent
// with the authorization request belongs to the first ID token only, and a
// nonce in the refresh request is ignored.
func (s idTokenStrategy) GenerateIDToken(ctx context.Context, lifespan time.Duration, r fosite.Requester) (string, error) {
	if r.GetRequestForm().Get("grant_type") == "refresh_token" {
		r = r.Sanitize([]string{"grant_type"})
		if sess, ok := r.GetSession().(openid.Session); ok {
			sess.IDTokenClaims().Nonce = ""
		}
	}
	if idTokenAlg(r.GetClient()) == KeyAlg {
		return s.es256.GenerateIDToken(ctx, lifespan, r)
	}
	return s.rs256.GenerateIDToken(ctx, lifespan, r)
}

// sessionID is the ID token's sid: a stable, opaque identifier of the login
// session, derived from (and not revealing) the hash its row is kept under,
// which itself is the hash of the cookie's secret.
func sessionID(loginSessionID []byte) string {
	h := sha256.New()
	h.Write([]byte("nextoria-authz sid\x00"))
	h.Write(loginSessionID)
	return base64URL(h.Sum(nil))
}

// identityClaims are the claims about p that the granted scopes release, in
// the ID token and at the UserInfo endpoint alike.
func identityClaims(p storage.Principal, granted fosite.Arguments) map[string]any {
	claims := map[string]any{}
	if granted.Has(scopeProfile) {
		claims["name"] = p.Name
	}
	if granted.Has(scopeEmail) {
		claims["email"] = p.Email
		claims["email_verified"] = p.EmailVerified
	}
	return claims
}

// setIDTokenClaims prepares sess for an ID token when openid is granted:
// who (sub), when the user last entered the password (auth_time), when the
// authorization request was made (requestedAt, which fosite's prompt and
// max_age checks compare against), the login session (sid), and the claims
// of profile and email.
func setIDTokenClaims(sess *Session, p storage.Principal, granted fosite.Arguments, requestedAt time.Time) {
	if !granted.Has(scopeOpenID) {
		return
	}
	extra := identityClaims(p, granted)
	extra["sid"] = sessionID(p.LoginSessionID)
	sess.IDClaims = &jwt.IDTokenClaims{
		Subject:     p.UserID,
		AuthTime:    p.SignedInAt.UTC().Truncate(time.Second),
		RequestedAt: requestedAt.UTC().Truncate(time.Second),
		Extra:       extra,
	}
}
