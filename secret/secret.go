// Package secret owns how the server handles secrets: keys derived from the one
// system secret, random identifiers with 256 bits of entropy, keyed hashes of
// high-entropy secrets (client secrets, API keys, session ids), argon2id
// password hashes, and sealing of data at rest.
//
// Server-generated secrets carry 256 bits of entropy, so an HMAC keyed with a
// server-side key protects them as well as any slow hash would; only passwords,
// which people choose, pay for argon2id.
package secret

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"sync"
)

// MinSystemSecretLen is the shortest system secret accepted, in bytes.
const MinSystemSecretLen = 32

// Keys are the purpose-bound keys derived from the system secret. Deriving one
// key per purpose means a leak of one cannot be replayed against another.
type Keys struct {
	// TokenHMAC keys fosite's HMAC strategy for authorization codes and refresh tokens.
	TokenHMAC []byte
	// SecretHash keys the hash of client secrets and other high-entropy credentials.
	SecretHash []byte
	// Seal encrypts signing keys at rest (AES-256-GCM).
	Seal []byte
	// CookieHash and CookieBlock authenticate and encrypt the browser session cookie.
	CookieHash  []byte
	CookieBlock []byte
	// CSRF keys the anti-forgery tokens of browser forms.
	CSRF []byte
}

// DeriveKeys derives every purpose key from the system secret with HKDF-SHA-256.
func DeriveKeys(system string) (Keys, error) {
	if len(system) < MinSystemSecretLen {
		return Keys{}, fmt.Errorf("secret: system secret must be at least %d bytes, got %d", MinSystemSecretLen, len(system))
	}
	derive := func(purpose string, n int) []byte {
		k, err := hkdf.Key(sha256.New, []byte(system), []byte("nextoria-authz"), purpose, n)
		if err != nil {
			panic(err) // only for lengths beyond 255*32 bytes
		}
		return k
	}
	return Keys{
		TokenHMAC:   derive("token-hmac", 32),
		SecretHash:  derive("secret-hash", 32),
		Seal:        derive("seal", 32),
		CookieHash:  derive("cookie-hash", 32),
		CookieBlock: derive("cookie-block", 32),
		CSRF:        derive("csrf", 32),
	}, nil
}

// Random returns n bytes from the system CSPRNG.
func Random(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails on supported platforms (Go 1.24+ crashes instead)
	return b
}

// Token returns a URL-safe random string carrying 256 bits of entropy. Hex or
// base64url avoids the '+' that HTTP Basic decoding would turn into a space.
func Token() string {
	return base64.RawURLEncoding.EncodeToString(Random(32))
}

// HexToken returns n random bytes as lower-case hex.
func HexToken(n int) string {
	return hex.EncodeToString(Random(n))
}

// Hasher computes keyed hashes of high-entropy secrets. It satisfies
// fosite.Hasher, so the token endpoint verifies client secrets in microseconds.
type Hasher struct {
	key []byte
	// macs holds keyed HMAC states for reuse: every client authentication
	// and introspection hashes a secret, and a new HMAC costs five
	// allocations and two key-block compressions.
	macs sync.Pool
}

// NewHasher returns a Hasher keyed with key (Keys.SecretHash).
func NewHasher(key []byte) *Hasher {
	h := &Hasher{key: append([]byte(nil), key...)}
	h.macs.New = func() any { return hmac.New(sha256.New, h.key) }
	return h
}

// Sum returns HMAC-SHA-256(key, data).
func (h *Hasher) Sum(data []byte) []byte {
	m := h.macs.Get().(hash.Hash)
	m.Write(data)
	sum := m.Sum(make([]byte, 0, sha256.Size))
	m.Reset()
	h.macs.Put(m)
	return sum
}

// ErrMismatch is returned when a secret does not match its hash.
var ErrMismatch = errors.New("secret: mismatch")

// Hash implements fosite.Hasher.
func (h *Hasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	return h.Sum(data), nil
}

// Compare implements fosite.Hasher in constant time. An empty stored hash never matches.
func (h *Hasher) Compare(_ context.Context, hash, data []byte) error {
	if len(hash) == 0 {
		return ErrMismatch
	}
	if subtle.ConstantTimeCompare(hash, h.Sum(data)) != 1 {
		return ErrMismatch
	}
	return nil
}

// SHA256 returns the SHA-256 of b. Used to key rows by unguessable values such
// as session ids, where the value itself already carries 256 bits of entropy.
func SHA256(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// Seal encrypts plaintext with AES-256-GCM; additional data binds the
// ciphertext to its purpose (e.g. the key id).
func Seal(key, plaintext, additional []byte) ([]byte, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := Random(gcm.NonceSize())
	return gcm.Seal(nonce, nonce, plaintext, additional), nil
}

// Open reverses Seal.
func Open(key, sealed, additional []byte) ([]byte, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < gcm.NonceSize() {
		return nil, errors.New("secret: sealed data too short")
	}
	nonce, ct := sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():]
	pt, err := gcm.Open(nil, nonce, ct, additional)
	if err != nil {
		return nil, fmt.Errorf("secret: open sealed data: %w", err)
	}
	return pt, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	return cipher.NewGCM(block)
}
