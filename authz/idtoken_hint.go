package authz

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	jose "github.com/go-jose/go-jose/v3"
)

// MaxIDTokenHintLen bounds an id_token_hint. An ID token of ours is well
// under 2 KiB with an RSA-2048 signature; 8 KiB leaves room for larger keys
// and claims while refusing what can only be abuse.
const MaxIDTokenHintLen = 8 << 10

// ErrInvalidIDTokenHint means an id_token_hint is not an ID token this server
// issued: malformed, signed by an unknown key, forged, or from another issuer.
// An expired hint is not invalid (OpenID Connect RP-Initiated Logout 1.0 §2:
// the hint is often an old ID token).
var ErrInvalidIDTokenHint = errors.New("invalid id_token_hint")

// IDTokenHintVerifier checks the id_token_hint of an end-session request: a
// compact JWS signed (RS256 or ES256) by one of this server's published keys,
// named by its kid, with this server as its issuer.
type IDTokenHintVerifier struct {
	keys   *KeySet
	issuer string
}

// NewIDTokenHintVerifier returns a verifier for hints issued by issuer and
// signed by keys.
func NewIDTokenHintVerifier(keys *KeySet, issuer string) *IDTokenHintVerifier {
	return &IDTokenHintVerifier{keys: keys, issuer: issuer}
}

// idTokenClaims are the claims of an ID token that identify its client.
type idTokenClaims struct {
	Issuer   string       `json:"iss"`
	Subject  string       `json:"sub"`
	Audience audienceList `json:"aud"`
	Azp      string       `json:"azp"`
}

// audienceList is the aud claim: one string or an array of them (RFC 7519 §4.1.3).
type audienceList []string

func (a *audienceList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audienceList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*a = many
	return nil
}

// VerifyIDTokenHint verifies token and returns its audience (the client ids
// it was issued to) and its authorized party (azp, "" when absent). The
// expiry is not checked. Any failure is ErrInvalidIDTokenHint, wrapped with
// the reason for the log.
func (v *IDTokenHintVerifier) VerifyIDTokenHint(_ context.Context, token string) (audience []string, azp string, err error) {
	bad := func(format string, args ...any) ([]string, string, error) {
		return nil, "", fmt.Errorf("%w: "+format, append([]any{ErrInvalidIDTokenHint}, args...)...)
	}
	if token == "" || len(token) > MaxIDTokenHintLen {
		return bad("length %d", len(token))
	}
	// Only the compact serialization: ParseSigned would also take JSON.
	if strings.Count(token, ".") != 2 || strings.ContainsAny(token, " \t\r\n{") {
		return bad("not a compact JWS")
	}
	jws, err := jose.ParseSigned(token)
	if err != nil {
		return bad("parse: %v", err)
	}
	if len(jws.Signatures) != 1 {
		return bad("%d signatures", len(jws.Signatures))
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); isAccessTokenType(typ) {
		return bad("an access token, not an ID token")
	}
	if h.KeyID == "" {
		return bad("no kid")
	}
	key, ok := v.keys.VerificationKey(h.KeyID)
	if !ok {
		return bad("unknown kid")
	}
	if !keyFits(key, h.Algorithm) {
		return bad("algorithm %q does not fit the key %s", h.Algorithm, h.KeyID)
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return bad("signature: %v", err)
	}
	var c idTokenClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return bad("claims: %v", err)
	}
	if c.Issuer != v.issuer {
		return bad("issuer %q", c.Issuer)
	}
	if c.Subject == "" || len(c.Audience) == 0 {
		return bad("no subject or audience")
	}
	return c.Audience, c.Azp, nil
}

// keyFits reports whether alg is the algorithm a published key signs with:
// ES256 for a P-256 key, RS256 for an RSA key.
func keyFits(key any, alg string) bool {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		return alg == string(jose.ES256) && k.Curve == elliptic.P256()
	case *rsa.PublicKey:
		return alg == string(jose.RS256)
	}
	return false
}

// isAccessTokenType reports whether a JWS typ header names an RFC 9068
// access token, which is signed by the same keys but is no ID token.
func isAccessTokenType(typ string) bool {
	typ = strings.ToLower(typ)
	return typ == "at+jwt" || typ == "application/at+jwt"
}
