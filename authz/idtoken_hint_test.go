package authz

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"

	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/storagetest"
)

const hintIssuer = "https://auth.example.test"

// signHint signs claims as a compact JWS with key (alg from the key) and the
// extra headers.
func signHint(t *testing.T, key jose.JSONWebKey, claims map[string]any, headers map[jose.HeaderKey]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	for k, v := range headers {
		opts = opts.WithHeader(k, v)
	}
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(key.Algorithm), Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := sg.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestVerifyIDTokenHint: an ID token signed by one of our keys, with our
// issuer, verifies even when expired; anything forged, foreign, malformed,
// signed by an unknown key or with the wrong algorithm does not.
func TestVerifyIDTokenHint(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := storagetest.NewStore(t, storage.Options{})
	ks, err := NewKeySet(ctx, store, testKeys(t).Seal, time.Hour, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	v := NewIDTokenHintVerifier(ks, hintIssuer)
	ours := *ks.Active()

	foreignEC, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	impostor := jose.JSONWebKey{Key: foreignEC, KeyID: ours.KeyID, Algorithm: "ES256"} // our kid, another key
	unknown := jose.JSONWebKey{Key: foreignEC, KeyID: "not-ours", Algorithm: "ES256"}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaOurKID := jose.JSONWebKey{Key: rsaKey, KeyID: ours.KeyID, Algorithm: "RS256"}

	now := time.Now()
	claims := func(edit func(map[string]any)) map[string]any {
		c := map[string]any{"iss": hintIssuer, "sub": "user-1", "aud": "client-a",
			"iat": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(), "nonce": "n-0S6_WzA2Mj"}
		if edit != nil {
			edit(c)
		}
		return c
	}
	valid := signHint(t, ours, claims(nil), nil)
	parts := strings.Split(valid, ".")
	tamperedClaims, _ := json.Marshal(claims(func(c map[string]any) { c["aud"] = "client-b" }))
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(tamperedClaims) + "." + parts[2]
	noneHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"` + ours.KeyID + `"}`))

	tests := []struct {
		name    string
		token   string
		wantAud []string
		wantAzp string
	}{
		{name: "valid", token: valid, wantAud: []string{"client-a"}},
		{name: "expired is accepted", token: signHint(t, ours, claims(func(c map[string]any) {
			c["iat"], c["exp"] = now.Add(-48*time.Hour).Unix(), now.Add(-47*time.Hour).Unix()
		}), nil), wantAud: []string{"client-a"}},
		{name: "audience array and azp", token: signHint(t, ours, claims(func(c map[string]any) {
			c["aud"], c["azp"] = []string{"client-a", "api"}, "client-a"
		}), nil), wantAud: []string{"client-a", "api"}, wantAzp: "client-a"},

		{name: "foreign issuer", token: signHint(t, ours, claims(func(c map[string]any) { c["iss"] = "https://evil.example" }), nil)},
		{name: "issuer with trailing slash", token: signHint(t, ours, claims(func(c map[string]any) { c["iss"] = hintIssuer + "/" }), nil)},
		{name: "no issuer", token: signHint(t, ours, claims(func(c map[string]any) { delete(c, "iss") }), nil)},
		{name: "no audience", token: signHint(t, ours, claims(func(c map[string]any) { delete(c, "aud") }), nil)},
		{name: "no subject", token: signHint(t, ours, claims(func(c map[string]any) { delete(c, "sub") }), nil)},
		{name: "audience of the wrong type", token: signHint(t, ours, claims(func(c map[string]any) { c["aud"] = 7 }), nil)},
		{name: "forged: our kid, another key", token: signHint(t, impostor, claims(nil), nil)},
		{name: "unknown kid", token: signHint(t, unknown, claims(nil), nil)},
		{name: "RS256 under our EC kid", token: signHint(t, rsaOurKID, claims(nil), nil)},
		{name: "tampered claims", token: tampered},
		{name: "alg none", token: noneHeader + "." + parts[1] + "."},
		{name: "access token", token: signHint(t, ours, claims(nil), map[jose.HeaderKey]any{jose.HeaderType: "at+jwt"})},
		{name: "empty", token: ""},
		{name: "garbage", token: "not.a.jwt"},
		{name: "two segments", token: parts[0] + "." + parts[1]},
		{name: "JSON serialization", token: `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`},
		{name: "oversized", token: valid + strings.Repeat("A", MaxIDTokenHintLen)},
		{name: "invalid UTF-8", token: "\xff." + parts[1] + "." + parts[2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			aud, azp, err := v.VerifyIDTokenHint(t.Context(), tt.token)
			if tt.wantAud == nil {
				if !errors.Is(err, ErrInvalidIDTokenHint) {
					t.Fatalf("err = %v, want ErrInvalidIDTokenHint (aud %q)", err, aud)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(aud, tt.wantAud) || azp != tt.wantAzp {
				t.Errorf("aud %q azp %q, want %q %q", aud, azp, tt.wantAud, tt.wantAzp)
			}
		})
	}
}

// TestKeyFits: ES256 only with a P-256 key, RS256 only with an RSA key.
func TestKeyFits(t *testing.T) {
	t.Parallel()
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	tests := []struct {
		key  any
		alg  string
		want bool
	}{
		{&p256.PublicKey, "ES256", true},
		{&p256.PublicKey, "RS256", false},
		{&p256.PublicKey, "HS256", false},
		{&p384.PublicKey, "ES256", false},
		{&rk.PublicKey, "RS256", true},
		{&rk.PublicKey, "PS256", false},
		{&rk.PublicKey, "ES256", false},
		{[]byte("secret"), "HS256", false},
	}
	for _, tt := range tests {
		if got := keyFits(tt.key, tt.alg); got != tt.want {
			t.Errorf("keyFits(%T, %s) = %v, want %v", tt.key, tt.alg, got, tt.want)
		}
	}
	if _, ok := (&KeySet{}).VerificationKey("nope"); ok {
		t.Error("VerificationKey found a key in an empty set")
	}
}
