package authz

import (
	"context"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite/token/jwt"
)

// signer signs access tokens with the active key and verifies them with any
// published key, chosen by the token's kid. fosite's DefaultSigner verifies
// with the current key only, which would invalidate every outstanding token at
// a key rotation (fosite #786).
type signer struct {
	jwt.DefaultSigner
	keys *KeySet
}

var _ jwt.Signer = (*signer)(nil)

func newSigner(keys *KeySet) *signer {
	s := &signer{keys: keys}
	s.GetPrivateKey = func(context.Context) (interface{}, error) { return keys.Active(), nil }
	return s
}

var errUnknownKey = errors.New("unknown signing key")

func (s *signer) keyfunc(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (interface{}, error) {
		if t.Method != jose.ES256 {
			return nil, fmt.Errorf("unexpected signing algorithm %q", t.Method)
		}
		kid, _ := t.Header["kid"].(string)
		pub, ok := s.keys.PublicKey(ctx, kid)
		if !ok {
			return nil, errUnknownKey
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
