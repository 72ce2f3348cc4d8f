package authz

import (
	"context"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite/token/jwt"
)

// signer signs tokens with the active key of one algorithm (KeyAlg for access
// tokens, RSAKeyAlg or KeyAlg for ID tokens) and verifies them with any
// published key, chosen by the token's kid, whose type matches the token's alg. fosite's DefaultSigner verifies
// with the current key only, which would invalidate every outstanding token at
// a key rotation (fosite #786).
type signer struct {
	jwt.DefaultSigner
	keys *KeySet
}

var _ jwt.Signer = (*signer)(nil)

// newSigner returns the signer of access tokens (KeyAlg).
func newSigner(keys *KeySet) *signer { return newSignerFor(keys, KeyAlg) }

// newSignerFor returns a signer that signs with the active key of alg.
func newSignerFor(keys *KeySet, alg string) *signer {
	s := &signer{keys: keys}
	s.GetPrivateKey = func(context.Context) (interface{}, error) { return keys.ActiveFor(alg), nil }
	return s
}

var errUnknownKey = errors.New("unknown signing key")

func (s *signer) keyfunc(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (interface{}, error) {
		if t.Method != jose.ES256 && t.Method != jose.RS256 {
			return nil, fmt.Errorf("unexpected signing algorithm %q", t.Method)
		}
		kid, _ := t.Header["kid"].(string)
		pub, ok := s.keys.PublicKey(ctx, kid)
		if !ok {
			return nil, errUnknownKey
		}
		if !keyMatchesAlg(pub, string(t.Method)) {
			return nil, fmt.Errorf("signing algorithm %q does not match key %q", t.Method, kid)
		}
		return pub, nil
	}
}

// Decode parses and verifies token with the key its kid names.
func (s *signer) Decode(ctx context.Context, token string) (*jwt.Token, error) {
	return jwt.ParseWithClaims(token, jwt.MapClaims{}, s.keyfunc(ctx))
}

// Validate verifies token and returns its signature.
func (s *signer) Validate(ctx context.Context, token string) (string, error) {
	t, err := s.Decode(ctx, token)
	if err != nil {
		return "", err
	}
	if !t.Valid() {
		return "", errors.New("token is not valid")
	}
	return s.GetSignature(ctx, token)
}
