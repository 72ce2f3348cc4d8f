package authz

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	fositehmac "github.com/ory/fosite/token/hmac"
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
	// hmacConfig signs refresh tokens the way fosite's HMAC strategy
	// checks them (GenerateRefreshToken).
	hmacConfig fositehmac.HMACStrategyConfigurator
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

// Token keys in time order.
//
// The store keys every token row by a hash of its signature. A hash alone
// scatters each new row's primary-key entry over the whole index, which at
// tens of millions of rows means a write to a page that is rarely in memory
// for every token issued. So the signature of a token that carries its time
// of issue starts with that time: 12 hex digits of milliseconds since the
// epoch, then ':' (a character no fosite signature contains), then the
// signature proper. The store keeps the prefix in front of the hash
// (storage.hashSignature), and new rows land next to each other at the end
// of the index. Access tokens carry the time in their jti, a version 7 UUID
// (Session.GetJWTClaims); refresh tokens in the first 6 bytes of their key
// (GenerateRefreshToken). Tokens issued before either had it keep the plain
// signature, and with it the key they were stored under.
const (
	timePrefixLen  = 12 // hex digits: 48 bits of milliseconds
	refreshTimeLen = 6  // bytes of a refresh token's key that hold the time
	refreshRandLen = 32 // random bytes after them: fosite's minimum entropy
)

var tokenB64 = base64.RawURLEncoding

// AccessTokenSignature is the token itself, which the store hashes, behind
// the time of issue when the token's jti holds it.
func (a *accessTokenStrategy) AccessTokenSignature(_ context.Context, token string) string {
	if prefix, ok := jwtTimePrefix(token); ok {
		return prefix + ":" + token
	}
	return token
}

// GenerateAccessToken signs a JWT; its "signature" is the whole token.
func (a *accessTokenStrategy) GenerateAccessToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	token, _, err := a.DefaultJWTStrategy.GenerateAccessToken(ctx, r)
	if err != nil {
		return "", "", err
	}
	return token, a.AccessTokenSignature(ctx, token), nil
}

// jwtTimePrefix reads the time prefix from a JWT's jti when the jti is a
// version 7 UUID. It verifies nothing: the prefix only chooses where the
// store looks, and a token this server did not issue is found nowhere. The
// claims are JSON that this server wrote, in which a quote inside a string
// is escaped, so the first `"jti":"` is the claim.
func jwtTimePrefix(token string) (string, bool) {
	_, rest, ok := strings.Cut(token, ".")
	if !ok {
		return "", false
	}
	payload, _, ok := strings.Cut(rest, ".")
	if !ok || len(payload) > maxJWTPayload {
		return "", false
	}
	var buf [768]byte
	raw := buf[:0]
	if n := tokenB64.DecodedLen(len(payload)); n > len(buf) {
		raw = make([]byte, 0, n)
	}
	raw, err := tokenB64.AppendDecode(raw, []byte(payload))
	if err != nil {
		return "", false
	}
	const claim = `"jti":"`
	i := bytes.Index(raw, []byte(claim))
	if i < 0 {
		return "", false
	}
	return uuidV7TimePrefix(raw[i+len(claim):])
}

// maxJWTPayload bounds the payload jwtTimePrefix decodes; this server's
// access tokens are far smaller.
const maxJWTPayload = 8 << 10

// uuidV7TimePrefix returns the 12 hex digits of a version 7 UUID's time, if
// b starts with one in its canonical form.
func uuidV7TimePrefix(b []byte) (string, bool) {
	if len(b) < 36 || b[8] != '-' || b[13] != '-' || b[14] != '7' || b[18] != '-' || b[23] != '-' {
		return "", false
	}
	var prefix [timePrefixLen]byte
	copy(prefix[:8], b[:8])
	copy(prefix[8:], b[9:13])
	if !isLowerHex(prefix[:]) {
		return "", false
	}
	return string(prefix[:]), true
}

func isLowerHex(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// GenerateRefreshToken makes a refresh token in fosite's HMAC form,
// base64url(key) "." base64url(HMAC(key)), whose key is the time of issue
// (6 bytes of milliseconds) followed by 32 random bytes. fosite's HMAC
// strategy validates it like any other (its check does not depend on the
// key's length), and old tokens, whose key is 32 random bytes, stay valid.
func (a *accessTokenStrategy) GenerateRefreshToken(ctx context.Context, _ fosite.Requester) (string, string, error) {
	secret, err := a.hmacConfig.GetGlobalSecret(ctx)
	if err != nil {
		return "", "", err
	}
	if len(secret) < 32 {
		return "", "", errors.New("authz: the token HMAC secret must be at least 32 bytes long")
	}
	var key [refreshTimeLen + refreshRandLen]byte
	ms := uint64(time.Now().UnixMilli())
	for i := refreshTimeLen - 1; i >= 0; i-- {
		key[i] = byte(ms)
		ms >>= 8
	}
	if _, err := rand.Read(key[refreshTimeLen:]); err != nil {
		return "", "", err
	}
	hasher := a.hmacConfig.GetHMACHasher(ctx)
	if hasher == nil {
		hasher = sha512.New512_256 // fosite's default
	}
	mac := hmac.New(hasher, secret[:32])
	mac.Write(key[:])
	token := tokenB64.EncodeToString(key[:]) + "." + tokenB64.EncodeToString(mac.Sum(nil))
	return token, a.RefreshTokenSignature(ctx, token), nil
}

// RefreshTokenSignature is fosite's (the HMAC after the dot), behind the
// time of issue for a token whose key holds it.
func (a *accessTokenStrategy) RefreshTokenSignature(ctx context.Context, token string) string {
	sig := a.DefaultJWTStrategy.RefreshTokenSignature(ctx, token)
	key, _, _ := strings.Cut(token, ".")
	if sig == "" || len(key) != tokenB64.EncodedLen(refreshTimeLen+refreshRandLen) {
		return sig
	}
	// 6 bytes are exactly the first 8 base64 characters.
	var t [refreshTimeLen]byte
	if n, err := tokenB64.Decode(t[:], []byte(key[:8])); err != nil || n != refreshTimeLen {
		return sig
	}
	return hex.EncodeToString(t[:]) + ":" + sig
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
