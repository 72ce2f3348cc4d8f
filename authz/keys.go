package authz

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v3"

	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
)

// KeyStore is the persistence KeySet needs; *storage.Store implements it.
type KeyStore interface {
	ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error)
	EnsureSigningKey(ctx context.Context, alg string, gen func() (storage.SigningKey, error)) (bool, error)
	RotateSigningKey(ctx context.Context, k storage.SigningKey, publishAhead time.Duration) (time.Time, error)
}

// JWKSMaxAge is the JWKS document's cache lifetime (Cache-Control max-age):
// how long a verifier may go on using a JWKS it fetched. Short, so that a
// rotation takes effect promptly.
const JWKSMaxAge = time.Minute

// KeyReloadInterval is how often every instance reloads the signing keys, so
// a rotation made elsewhere reaches it.
const KeyReloadInterval = 30 * time.Second

// KeyPublishAhead is how long a rotated-in key is published in the JWKS
// before it signs: a verifier's cached JWKS (JWKSMaxAge) and an instance's
// loaded keys (KeyReloadInterval) are both at most that old by then, plus
// 30 seconds for clock skew and slow fetches. So no verifier that honours
// max-age ever meets a token whose kid it does not know.
const KeyPublishAhead = JWKSMaxAge + KeyReloadInterval + 30*time.Second

// RetiredKeyGrace is added to the access-token lifespan to decide how long a
// retired key keeps verifying: it covers instances that signed with the key
// before they noticed a rotation, and clock skew.
const RetiredKeyGrace = 5 * time.Minute

// KeyAlg is the JWS algorithm of the key that signs access tokens (and the
// ID tokens of apps that chose ES256).
const KeyAlg = "ES256"

// RSAKeyAlg is the JWS algorithm of the RSA key that signs ID tokens by
// default: OpenID Connect requires RS256 of every provider and client.
const RSAKeyAlg = "RS256"

// rsaKeyBits is the size of the RSA signing key.
const rsaKeyBits = 2048

// KeyAlgs are the algorithms of the signing keys: each has one active key,
// and keys rotate rotates each of them.
var KeyAlgs = []string{KeyAlg, RSAKeyAlg}

// KeySet holds the signing keys in memory: per algorithm (KeyAlgs) the active
// private key that signs new tokens, and the public keys that still verify
// tokens (the active ones and retired ones whose tokens may not have expired
// yet). It reloads from
// the database periodically so that every instance picks up a rotation.
type KeySet struct {
	store  KeyStore
	seal   []byte
	retain time.Duration
	logger *slog.Logger

	// now is the clock that decides which key signs; tests replace it.
	now func() time.Time

	mu sync.RWMutex
	// signers are, per algorithm, the keys that sign or will sign, the
	// latest to activate first; ActiveFor picks the first whose time has come.
	signers map[string][]timedKey
	// public holds every verifying key by kid: *ecdsa.PublicKey or *rsa.PublicKey.
	public map[string]crypto.PublicKey
	jwks   []byte

	// missMu serialises reloads caused by unknown kids; lastMiss rate-limits them.
	missMu   sync.Mutex
	lastMiss time.Time
}

// timedKey is a private key and when it starts signing.
type timedKey struct {
	key  *jose.JSONWebKey
	from time.Time
}

// minMissReload is the least time between two reloads caused by an unknown kid.
const minMissReload = 5 * time.Second

// NewSigningKey generates a P-256 (ES256) key, its kid (the RFC 7638
// thumbprint) and its sealed private part.
func NewSigningKey(seal []byte) (storage.SigningKey, error) {
	return NewSigningKeyFor(seal, KeyAlg)
}

// NewSigningKeyFor generates a key for alg (KeyAlg: P-256, RSAKeyAlg: RSA
// 2048), its kid (the RFC 7638 thumbprint) and its sealed private part.
func NewSigningKeyFor(seal []byte, alg string) (storage.SigningKey, error) {
	var (
		priv   crypto.Signer
		public crypto.PublicKey
	)
	switch alg {
	case KeyAlg:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return storage.SigningKey{}, fmt.Errorf("authz: generate signing key: %w", err)
		}
		priv, public = k, &k.PublicKey
	case RSAKeyAlg:
		k, err := rsa.GenerateKey(rand.Reader, rsaKeyBits)
		if err != nil {
			return storage.SigningKey{}, fmt.Errorf("authz: generate signing key: %w", err)
		}
		priv, public = k, &k.PublicKey
	default:
		return storage.SigningKey{}, fmt.Errorf("authz: unsupported signing algorithm %q", alg)
	}
	pub := jose.JSONWebKey{Key: public, Algorithm: alg, Use: "sig"}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return storage.SigningKey{}, fmt.Errorf("authz: thumbprint: %w", err)
	}
	pub.KeyID = base64URL(tp)
	pubJSON, err := pub.MarshalJSON()
	if err != nil {
		return storage.SigningKey{}, fmt.Errorf("authz: marshal public key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return storage.SigningKey{}, fmt.Errorf("authz: marshal private key: %w", err)
	}
	sealed, err := secret.Seal(seal, der, []byte(pub.KeyID))
	if err != nil {
		return storage.SigningKey{}, err
	}
	return storage.SigningKey{KID: pub.KeyID, Alg: alg, PrivateEnc: sealed, PublicJWK: pubJSON, CreatedAt: time.Now()}, nil
}

// NewKeySet makes sure an active signing key of every algorithm exists
// (creating it on first start) and loads the keys. retain is how long a retired key keeps verifying:
// the access-token lifespan plus clock skew.
func NewKeySet(ctx context.Context, store KeyStore, seal []byte, retain time.Duration, logger *slog.Logger) (*KeySet, error) {
	k := &KeySet{store: store, seal: seal, retain: retain, logger: logger, now: time.Now}
	for _, alg := range KeyAlgs {
		created, err := store.EnsureSigningKey(ctx, alg, func() (storage.SigningKey, error) { return NewSigningKeyFor(seal, alg) })
		if err != nil {
			return nil, fmt.Errorf("authz: ensure %s signing key: %w", alg, err)
		}
		if created {
			logger.InfoContext(ctx, "generated a new signing key", "alg", alg)
		}
	}
	if err := k.Reload(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

// RotatedKey is a signing key that RotateKeys added.
type RotatedKey struct {
	KID, Alg    string
	ActivatesAt time.Time
}

// RotateKeys adds a new signing key for every algorithm (KeyAlgs): each is
// published in the JWKS at once and signs from publishAhead later (use
// KeyPublishAhead; 0 only where nobody verifies with a cached JWKS), when the
// previous key of its algorithm retires. The previous keys keep verifying
// until their tokens have expired.
func RotateKeys(ctx context.Context, store KeyStore, seal []byte, publishAhead time.Duration) ([]RotatedKey, error) {
	out := make([]RotatedKey, 0, len(KeyAlgs))
	for _, alg := range KeyAlgs {
		k, err := NewSigningKeyFor(seal, alg)
		if err != nil {
			return out, err
		}
		activates, err := store.RotateSigningKey(ctx, k, publishAhead)
		if err != nil {
			return out, fmt.Errorf("authz: rotate %s signing key: %w", alg, err)
		}
		out = append(out, RotatedKey{KID: k.KID, Alg: alg, ActivatesAt: activates})
	}
	return out, nil
}

// RotateKey rotates every signing key (RotateKeys) and returns the new
// access-token key's kid (KeyAlg) and when it starts signing.
func RotateKey(ctx context.Context, store KeyStore, seal []byte, publishAhead time.Duration) (string, time.Time, error) {
	keys, err := RotateKeys(ctx, store, seal, publishAhead)
	if err != nil {
		return "", time.Time{}, err
	}
	return keys[0].KID, keys[0].ActivatesAt, nil
}

// Reload reads the keys from the database.
func (k *KeySet) Reload(ctx context.Context) error {
	rows, err := k.store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("authz: list signing keys: %w", err)
	}
	signers := make(map[string][]timedKey, len(KeyAlgs))
	public := make(map[string]crypto.PublicKey, len(rows))
	var published []jose.JSONWebKey
	now := k.now()
	activeFound := make(map[string]bool, len(KeyAlgs))
	for _, row := range rows { // the latest to activate first
		if !row.RetiredAt.IsZero() && now.Sub(row.RetiredAt) > k.retain {
			continue // every token it signed has expired
		}
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(row.PublicJWK); err != nil {
			return fmt.Errorf("authz: signing key %s: public key: %w", row.KID, err)
		}
		if !keyMatchesAlg(jwk.Key, row.Alg) {
			return fmt.Errorf("authz: signing key %s: unsupported key type %T/%s", row.KID, jwk.Key, row.Alg)
		}
		public[row.KID] = jwk.Key
		published = append(published, jwk)
		if activeFound[row.Alg] {
			continue // older keys only verify
		}
		// A pending key, or the one signing now: keep its private part so
		// that the switch happens at its activation time, not at the next reload.
		der, err := secret.Open(k.seal, row.PrivateEnc, []byte(row.KID))
		if err != nil {
			return fmt.Errorf("authz: signing key %s: %w (was secrets.system changed?)", row.KID, err)
		}
		priv, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return fmt.Errorf("authz: signing key %s: %w", row.KID, err)
		}
		signers[row.Alg] = append(signers[row.Alg],
			timedKey{key: &jose.JSONWebKey{Key: priv, KeyID: row.KID, Algorithm: row.Alg, Use: "sig"}, from: row.ActivatesAt})
		activeFound[row.Alg] = !row.ActivatesAt.After(now)
	}
	for _, alg := range KeyAlgs {
		if !activeFound[alg] {
			return fmt.Errorf("authz: no active %s signing key", alg)
		}
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: published})
	if err != nil {
		return fmt.Errorf("authz: marshal JWKS: %w", err)
	}
	k.mu.Lock()
	k.signers, k.public, k.jwks = signers, public, jwks
	k.mu.Unlock()
	return nil
}

// Run reloads the keys every interval until ctx ends, so a rotation made by
// any instance (or the CLI) reaches this one within interval.
func (k *KeySet) Run(ctx context.Context, interval time.Duration) {
	every(ctx, interval, k.logger, "reload signing keys", k.Reload)
}

// Active returns the key that signs new access tokens (KeyAlg); see ActiveFor.
func (k *KeySet) Active() *jose.JSONWebKey { return k.ActiveFor(KeyAlg) }

// ActiveFor returns the key of algorithm alg (one of KeyAlgs) that signs new
// tokens: the latest whose activation time has come. A key that is still
// pending is published but never signs.
func (k *KeySet) ActiveFor(alg string) *jose.JSONWebKey {
	now := k.now()
	k.mu.RLock()
	defer k.mu.RUnlock()
	list := k.signers[alg]
	for _, s := range list {
		if !s.from.After(now) {
			return s.key
		}
	}
	return list[len(list)-1].key // unreachable after a successful Reload
}

// keyMatchesAlg reports whether pub is a public key of the kind alg signs with.
func keyMatchesAlg(pub crypto.PublicKey, alg string) bool {
	switch pub.(type) {
	case *ecdsa.PublicKey:
		return alg == KeyAlg
	case *rsa.PublicKey:
		return alg == RSAKeyAlg
	}
	return false
}

// PublicKey returns the verification key for kid. A kid this instance has not
// seen makes it reload the keys (at most once per minMissReload), so a token
// signed with a key that another instance rotated in verifies at once.
// The key is an *ecdsa.PublicKey (ES256) or an *rsa.PublicKey (RS256).
func (k *KeySet) PublicKey(ctx context.Context, kid string) (crypto.PublicKey, bool) {
	if p, ok := k.lookup(kid); ok || kid == "" {
		return p, ok
	}
	k.missMu.Lock()
	defer k.missMu.Unlock()
	if p, ok := k.lookup(kid); ok {
		return p, true
	}
	if time.Since(k.lastMiss) < minMissReload {
		return nil, false
	}
	k.lastMiss = time.Now()
	if err := k.Reload(ctx); err != nil {
		k.logger.ErrorContext(ctx, "reload signing keys", "error", err)
		return nil, false
	}
	return k.lookup(kid)
}

func (k *KeySet) lookup(kid string) (crypto.PublicKey, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	p, ok := k.public[kid]
	return p, ok
}

// JWKS returns the JSON Web Key Set document of every verifying key,
// including a pending key that does not sign yet.
func (k *KeySet) JWKS() []byte {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.jwks
}
