package authz

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite/token/jwt"

	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/storagetest"
)

func testKeys(t *testing.T) secret.Keys {
	t.Helper()
	k, err := secret.DeriveKeys(strings.Repeat("k", 40))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeySetRotation(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := storagetest.NewStore(t, storage.Options{})
	keys := testKeys(t)
	ks, err := NewKeySet(ctx, store, keys.Seal, time.Hour, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	sg := newSigner(ks)
	claims := jwt.MapClaims{"sub": "u1", "exp": time.Now().Add(time.Hour).Unix()}
	oldToken, _, err := sg.Generate(ctx, claims, &jwt.Headers{})
	if err != nil {
		t.Fatal(err)
	}
	oldKID := ks.Active().KeyID

	newKID, activates, err := RotateKey(ctx, store, keys.Seal, KeyPublishAhead)
	if err != nil {
		t.Fatal(err)
	}
	if newKID == oldKID {
		t.Fatal("rotation kept the kid")
	}
	if d := time.Until(activates); d < KeyPublishAhead-10*time.Second || d > KeyPublishAhead+10*time.Second {
		t.Fatalf("the new key activates in %v, want %v", d, KeyPublishAhead)
	}
	if KeyPublishAhead < JWKSMaxAge+KeyReloadInterval {
		t.Fatalf("KeyPublishAhead %v is shorter than the JWKS max-age plus the reload interval", KeyPublishAhead)
	}
	if err := ks.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	// Published at once, before it signs anything.
	jwks := string(ks.JWKS())
	if !strings.Contains(jwks, oldKID) || !strings.Contains(jwks, newKID) {
		t.Fatalf("JWKS must publish both keys: %s", jwks)
	}
	if strings.Contains(jwks, `"d"`) {
		t.Fatal("JWKS leaks a private key")
	}
	kidOf := func(token string) string {
		t.Helper()
		tok, err := sg.Decode(ctx, token)
		if err != nil {
			t.Fatal(err)
		}
		kid, _ := tok.Header["kid"].(string)
		return kid
	}
	pendingToken, _, err := sg.Generate(ctx, claims, &jwt.Headers{})
	if err != nil {
		t.Fatal(err)
	}
	if got := kidOf(pendingToken); got != oldKID || ks.Active().KeyID != oldKID {
		t.Fatalf("signed with %s before the new key's activation, want %s", got, oldKID)
	}
	// From its activation time the new key signs, without another reload.
	ks.now = func() time.Time { return activates.Add(time.Second) }
	if ks.Active().KeyID != newKID {
		t.Fatalf("active kid = %s after the activation time, want %s", ks.Active().KeyID, newKID)
	}
	if _, err := sg.Validate(ctx, oldToken); err != nil {
		t.Fatalf("token signed before the rotation no longer verifies: %v", err)
	}
	newToken, _, err := sg.Generate(ctx, claims, &jwt.Headers{})
	if err != nil {
		t.Fatal(err)
	}
	if got := kidOf(newToken); got != newKID {
		t.Fatalf("new token kid = %v, want %s", got, newKID)
	}
	// Move the activation (and the old key's retirement) into the past.
	if _, err := store.Pool().Exec(ctx, `UPDATE signing_keys SET activates_at = now() - interval '1 second' WHERE kid = $1`, newKID); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Pool().Exec(ctx, `UPDATE signing_keys SET retired_at = now() - interval '1 second' WHERE kid = $1`, oldKID); err != nil {
		t.Fatal(err)
	}

	// A key retired longer ago than the retention stops verifying.
	short, err := NewKeySet(ctx, store, keys.Seal, 0, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newSigner(short).Validate(ctx, oldToken); err == nil {
		t.Fatal("token of an expired retired key still verifies")
	}
	if strings.Contains(string(short.JWKS()), oldKID) {
		t.Fatal("expired retired key still published")
	}
}

func TestSignerRejectsForgedTokens(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := storagetest.NewStore(t, storage.Options{})
	keys := testKeys(t)
	ks, err := NewKeySet(ctx, store, keys.Seal, time.Hour, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	sg := newSigner(ks)
	good, _, err := sg.Generate(ctx, jwt.MapClaims{"sub": "u1", "exp": time.Now().Add(time.Hour).Unix()}, &jwt.Headers{})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	// the right kid, but signed by a key the server never published
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	impostor := &jwt.DefaultSigner{GetPrivateKey: func(context.Context) (interface{}, error) {
		return &jose.JSONWebKey{Key: priv, KeyID: ks.Active().KeyID, Algorithm: KeyAlg}, nil
	}}
	forged, _, err := impostor.Generate(ctx, jwt.MapClaims{"sub": "u1", "exp": time.Now().Add(time.Hour).Unix()}, &jwt.Headers{})
	if err != nil {
		t.Fatal(err)
	}

	expired, _, err := sg.Generate(ctx, jwt.MapClaims{"sub": "u1", "exp": time.Now().Add(-time.Minute).Unix()}, &jwt.Headers{})
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]string{
		"tampered payload": parts[0] + "." + base64URL([]byte(`{"sub":"admin","exp":9999999999}`)) + "." + parts[2],
		"alg none":         base64URL([]byte(`{"alg":"none","kid":"`+ks.Active().KeyID+`"}`)) + "." + parts[1] + ".",
		"unknown kid":      base64URL([]byte(`{"alg":"ES256","kid":"nope"}`)) + "." + parts[1] + "." + parts[2],
		"expired":          expired,
		"garbage":          "not-a-jwt",
		"foreign key":      forged,
	}
	for name, tok := range tests {
		if _, err := sg.Validate(ctx, tok); err == nil {
			t.Errorf("%s: token verified", name)
		}
	}
	if _, err := sg.Validate(ctx, good); err != nil {
		t.Fatalf("good token rejected: %v", err)
	}
}

func TestNewKeySetConcurrentStartCreatesOneKey(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := storagetest.NewStore(t, storage.Options{})
	keys := testKeys(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			_, err := NewKeySet(ctx, store, keys.Seal, time.Hour, slog.New(slog.DiscardHandler))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	rows, err := store.ListSigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// One key per algorithm: ES256 (access tokens) and RS256 (ID tokens).
	algs := map[string]int{}
	for _, r := range rows {
		algs[r.Alg]++
	}
	if len(rows) != len(KeyAlgs) || algs[KeyAlg] != 1 || algs[RSAKeyAlg] != 1 {
		t.Fatalf("%d keys after concurrent start (%v), want one per algorithm", len(rows), algs)
	}
}
