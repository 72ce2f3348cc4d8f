package authz

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
)

// accessTokenStrategy issues RFC 9068 JWT access tokens that resource servers
// may verify on their own, while this server keeps a record of every token
// keyed by (the SHA-256 of) the whole token rather than by its signature.
// Introspection then needs no signature check: only a token this server
// issued, unaltered, is found, and a tampered header or payload is simply
// unknown. What remains is cheap: the stored expiry, and that the signing
// key is still published.
type accessTokenStrategy struct {
	*oauth2.DefaultJWTStrategy
	keys *KeySet
	// headers remembers the kid of header segments already seen: every
	// token one key signs has the same header, so introspection decodes
	// each header once rather than once per token.
	headers headerKIDs
}

// headerKIDs maps a JWS header segment to its kid. It holds at most
// maxHeaderKIDs entries, and only headers whose kid was published when they
// were added, so tokens cannot fill it.
type headerKIDs struct {
	mu sync.RWMutex
	m  map[string]string
}

const maxHeaderKIDs = 16

func (h *headerKIDs) get(head string) (string, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	kid, ok := h.m[head]
	return kid, ok
}

func (h *headerKIDs) put(head, kid string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil || len(h.m) >= maxHeaderKIDs {
		h.m = make(map[string]string, maxHeaderKIDs)
	}
	h.m[head] = kid
}

var _ oauth2.CoreStrategy = (*accessTokenStrategy)(nil)

// AccessTokenSignature is the token itself; the store hashes it.
func (a *accessTokenStrategy) AccessTokenSignature(_ context.Context, token string) string {
	return token
}

// GenerateAccessToken signs a JWT and returns it as its own "signature".
func (a *accessTokenStrategy) GenerateAccessToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	token, _, err := a.DefaultJWTStrategy.GenerateAccessToken(ctx, r)
	return token, token, err
}

// ValidateAccessToken runs after the token was found by its exact value. It
// checks the stored expiry and that the token's key is still published (a
// key rotated out entirely takes its tokens with it).
func (a *accessTokenStrategy) ValidateAccessToken(ctx context.Context, r fosite.Requester, token string) error {
	if exp := r.GetSession().GetExpiresAt(fosite.AccessToken); !exp.IsZero() && !time.Now().Before(exp) {
		return fosite.ErrTokenExpired.WithHint("The access token expired.")
	}
	head, _, _ := strings.Cut(token, ".")
	kid, cached := a.headers.get(head)
	if !cached {
		var ok bool
		if kid, ok = headerKID(token); !ok {
			return fosite.ErrInvalidTokenFormat
		}
	}
	// The key is looked up every time: a key rotated out takes its tokens
	// with it, cached header or not.
	if _, ok := a.keys.PublicKey(ctx, kid); !ok {
		return fosite.ErrTokenSignatureMismatch.WithHint("The token's signing key is no longer trusted.")
	}
	if !cached {
		a.headers.put(head, kid)
	}
	return nil
}

// headerKID reads the kid of a compact JWS without verifying anything.
func headerKID(token string) (string, bool) {
	head, _, ok := strings.Cut(token, ".")
	if !ok {
		return "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return "", false
	}
	var h struct {
		KID string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h); err != nil || h.KID == "" {
		return "", false
	}
	return h.KID, true
}
