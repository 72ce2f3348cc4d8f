package authz

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
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
	EnsureSigningKey(ctx context.Context, gen func() (storage.SigningKey, error)) (bool, error)
	RotateSigningKey(ctx context.Context, k storage.SigningKey) error
}

// RetiredKeyGrace is added to the access-token lifespan to decide how long a
// retired key keeps verifying: it covers instances that signed with the key
// before they noticed a rotation, and clock skew.
const RetiredKeyGrace = 5 * time.Minute

// KeyAlg is the JWS algorithm of every signing key.
const KeyAlg = "ES256"

// KeySet holds the signing keys in memory: the active private key that signs
// new access tokens, and the public keys that still verify tokens (the active
// one and retired ones whose tokens may not have expired yet). It reloads from
// the database periodically so that every instance picks up a rotation.
type KeySet struct {
	store  KeyStore
	seal   []byte
	retain time.Duration
	logger *slog.Logger

	mu     sync.RWMutex
	active *jose.JSONWebKey
	public map[string]*ecdsa.PublicKey
	jwks   []byte

	// missMu serialises reloads caused by unknown kids; lastMiss rate-limits them.
	missMu   sync.Mutex
	lastMiss time.Time
}

// minMissReload is the least time between two reloads caused by an unknown kid.
const minMissReload = 5 * time.Second

// NewSigningKey generates a P-256 key, its kid (the RFC 7638 thumbprint) and
// its sealed private part.
func NewSigningKey(seal []byte) (storage.SigningKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return storage.SigningKey{}, fmt.Errorf("authz: generate signing key: %w", err)
	}
	pub := jose.JSONWebKey{Key: &priv.PublicKey, Algorithm: KeyAlg, Use: "sig"}
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
	return storage.SigningKey{KID: pub.KeyID, Alg: KeyAlg, PrivateEnc: sealed, PublicJWK: pubJSON, CreatedAt: time.Now()}, nil
}

// NewKeySet makes sure an active signing key exists (creating one on first
// start) and loads the keys. retain is how long a retired key keeps verifying:
// the access-token lifespan plus clock skew.
func NewKeySet(ctx context.Context, store KeyStore, seal []byte, retain time.Duration, logger *slog.Logger) (*KeySet, error) {
	k := &KeySet{store: store, seal: seal, retain: retain, logger: logger}
	created, err := store.EnsureSigningKey(ctx, func() (storage.SigningKey, error) { return NewSigningKey(seal) })
	if err != nil {
		return nil, fmt.Errorf("authz: ensure signing key: %w", err)
	}
	if created {
		logger.InfoContext(ctx, "generated a new signing key")
	}
	if err := k.Reload(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

// RotateKey makes a new key active; the previous key keeps verifying until
// its tokens have expired. It returns the new kid.
func RotateKey(ctx context.Context, store KeyStore, seal []byte) (string, error) {
	k, err := NewSigningKey(seal)
	if err != nil {
		return "", err
	}
	if err := store.RotateSigningKey(ctx, k); err != nil {
		return "", fmt.Errorf("authz: rotate signing key: %w", err)
	}
	return k.KID, nil
}

// Reload reads the keys from the database.
func (k *KeySet) Reload(ctx context.Context) error {
	rows, err := k.store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("authz: list signing keys: %w", err)
	}
	var active *jose.JSONWebKey
	public := make(map[string]*ecdsa.PublicKey, len(rows))
	var published []jose.JSONWebKey
	now := time.Now()
	for _, row := range rows {
		if !row.RetiredAt.IsZero() && now.Sub(row.RetiredAt) > k.retain {
			continue // every token it signed has expired
		}
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(row.PublicJWK); err != nil {
			return fmt.Errorf("authz: signing key %s: public key: %w", row.KID, err)
		}
		pub, ok := jwk.Key.(*ecdsa.PublicKey)
		if !ok || row.Alg != KeyAlg {
			return fmt.Errorf("authz: signing key %s: unsupported key type %T/%s", row.KID, jwk.Key, row.Alg)
		}
		public[row.KID] = pub
		published = append(published, jwk)
		if row.RetiredAt.IsZero() && active == nil {
			der, err := secret.Open(k.seal, row.PrivateEnc, []byte(row.KID))
			if err != nil {
				return fmt.Errorf("authz: signing key %s: %w (was secrets.system changed?)", row.KID, err)
			}
			priv, err := x509.ParsePKCS8PrivateKey(der)
			if err != nil {
				return fmt.Errorf("authz: signing key %s: %w", row.KID, err)
			}
			active = &jose.JSONWebKey{Key: priv, KeyID: row.KID, Algorithm: KeyAlg, Use: "sig"}
		}
	}
	if active == nil {
		return errors.New("authz: no active signing key")
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: published})
	if err != nil {
		return fmt.Errorf("authz: marshal JWKS: %w", err)
	}
	k.mu.Lock()
	k.active, k.public, k.jwks = active, public, jwks
	k.mu.Unlock()
	return nil
}

// Run reloads the keys every interval until ctx ends, so a rotation made by
// any instance (or the CLI) reaches this one within interval.
func (k *KeySet) Run(ctx context.Context, interval time.Duration) {
	every(ctx, interval, k.logger, "reload signing keys", k.Reload)
}

// Active returns the key that signs new tokens.
func (k *KeySet) Active() *jose.JSONWebKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.active
}

// PublicKey returns the verification key for kid. A kid this instance has not
// seen makes it reload the keys (at most once per minMissReload), so a token
// signed with a key that another instance rotated in verifies at once.
func (k *KeySet) PublicKey(ctx context.Context, kid string) (*ecdsa.PublicKey, bool) {
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

func (k *KeySet) lookup(kid string) (*ecdsa.PublicKey, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	p, ok := k.public[kid]
	return p, ok
}

// JWKS returns the JSON Web Key Set document of every verifying key.
func (k *KeySet) JWKS() []byte {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.jwks
}
