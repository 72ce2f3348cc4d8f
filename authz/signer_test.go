package authz

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite/token/jwt"

	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/storagetest"
)

// decodeJWTPart decodes a base64url JSON object of a compact JWS, keeping
// numbers as written.
func decodeJWTPart(t *testing.T, part string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		t.Fatal(err)
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// The signer's own Generate makes the tokens fosite's DefaultSigner (through
// go-jose) made: the same header and claims, a signature every verifier
// accepts, and, for deterministic RS256, the same bytes.
func TestSignerGenerateMatchesFosite(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	ks, err := NewKeySet(ctx, storagetest.NewStore(t, storage.Options{}), testKeys(t).Seal, time.Hour, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	sess := benchSession()
	idClaims := (&jwt.IDTokenClaims{
		Subject: "u1", Audience: []string{"app"}, Nonce: "n<&>", AuthTime: time.Unix(1700000000, 0),
		ExpiresAt: time.Now().Add(time.Hour), IssuedAt: time.Now(), Extra: map[string]any{"name": "Zoë", "email_verified": true},
	}).ToMapClaims()
	for _, alg := range KeyAlgs {
		sg := newSignerFor(ks, alg)
		reference := &jwt.DefaultSigner{GetPrivateKey: sg.GetPrivateKey}
		for name, tc := range map[string]struct {
			claims jwt.MapClaims
			header jwt.Mapper
		}{
			"access token": {accessClaims(sess), sess.GetJWTHeader()},
			"id token":     {idClaims, &jwt.Headers{}},
			"header kid":   {jwt.MapClaims{"sub": "x"}, &jwt.Headers{Extra: map[string]any{"kid": "override", "typ": "x+jwt"}}},
		} {
			got, gotSig, err := sg.Generate(ctx, tc.claims, tc.header)
			if err != nil {
				t.Fatalf("%s %s: %v", alg, name, err)
			}
			want, wantSig, err := reference.Generate(ctx, tc.claims, tc.header)
			if err != nil {
				t.Fatalf("%s %s: reference: %v", alg, name, err)
			}
			g, w := strings.Split(got, "."), strings.Split(want, ".")
			if len(g) != 3 || gotSig != g[2] || wantSig != w[2] {
				t.Fatalf("%s %s: token %q, signature %q", alg, name, got, gotSig)
			}
			for i, part := range []string{"header", "claims"} {
				if gm, wm := decodeJWTPart(t, g[i]), decodeJWTPart(t, w[i]); !reflect.DeepEqual(gm, wm) {
					t.Errorf("%s %s: %s %v, fosite's %v", alg, name, part, gm, wm)
				}
			}
			if alg == RSAKeyAlg && got != want {
				t.Errorf("%s %s: RS256 token differs from fosite's:\n%s\n%s", alg, name, got, want)
			}
			if name == "header kid" {
				continue // signed by a key the header does not name
			}
			if _, err := sg.Validate(ctx, got); err != nil {
				t.Errorf("%s %s: own token rejected: %v", alg, name, err)
			}
			jws, err := jose.ParseSigned(got)
			if err != nil {
				t.Fatalf("%s %s: go-jose: %v", alg, name, err)
			}
			pub, _ := ks.PublicKey(ctx, jws.Signatures[0].Header.KeyID)
			if _, err := jws.Verify(pub); err != nil {
				t.Errorf("%s %s: go-jose verification: %v", alg, name, err)
			}
		}
	}
	// As fosite's: nil claims or header are refused.
	if _, _, err := newSigner(ks).Generate(context.Background(), nil, &jwt.Headers{}); err == nil {
		t.Error("nil claims signed")
	}
}
