package authz

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	fositehmac "github.com/ory/fosite/token/hmac"
)

// jwtWithPayload is a compact JWS with this payload and made-up header and
// signature: jwtTimePrefix reads only the payload.
func jwtWithPayload(payload string) string {
	return "eyJhbGciOiJFUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".c2ln"
}

func TestJWTTimePrefix(t *testing.T) {
	t.Parallel()
	v7 := "0190a3b2-c4d5-7e6f-8a9b-0c1d2e3f4a5b"
	for _, tc := range []struct {
		name, token, want string
	}{
		{"version 7 jti", jwtWithPayload(`{"aud":[],"iat":1,"jti":"` + v7 + `","sub":"u"}`), "0190a3b2c4d5"},
		{"version 4 jti", jwtWithPayload(`{"jti":"0190a3b2-c4d5-4e6f-8a9b-0c1d2e3f4a5b"}`), ""},
		{"no jti", jwtWithPayload(`{"iat":1,"sub":"u"}`), ""},
		{"jti not a string", jwtWithPayload(`{"jti":7}`), ""},
		{"short jti", jwtWithPayload(`{"jti":"0190a3b2-c4d5-7e6f"}`), ""},
		{"upper-case jti", jwtWithPayload(`{"jti":"0190A3B2-C4D5-7E6F-8A9B-0C1D2E3F4A5B"}`), ""},
		{"escaped look-alike inside a string only", jwtWithPayload(`{"x":"\"jti\":\"` + v7 + `\""}`), ""},
		{"payload not base64", "eyJhbGciOiJFUzI1NiJ9.!!!.c2ln", ""},
		{"one segment", "abc", ""},
		{"two segments", "abc.def", ""},
		{"empty", "", ""},
		{"oversized payload", jwtWithPayload(`{"jti":"` + v7 + `","pad":"` + strings.Repeat("x", maxJWTPayload) + `"}`), ""},
		{"large payload within the bound", jwtWithPayload(`{"jti":"` + v7 + `","pad":"` + strings.Repeat("x", 2000) + `"}`), "0190a3b2c4d5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := jwtTimePrefix(tc.token)
			if got != tc.want || ok != (tc.want != "") {
				t.Fatalf("jwtTimePrefix = %q, %v; want %q", got, ok, tc.want)
			}
		})
	}
}

// newTestTokenStrategy is the server's token strategy with a fixed HMAC
// secret and a rotated one.
func newTestTokenStrategy(secret, rotated []byte) *accessTokenStrategy {
	fc := &fosite.Config{GlobalSecret: secret, RotatedGlobalSecrets: [][]byte{rotated}}
	hs := oauth2.NewHMACSHAStrategyUnPrefixed(&fositehmac.HMACStrategy{Config: fc}, fc)
	return &accessTokenStrategy{
		DefaultJWTStrategy: &oauth2.DefaultJWTStrategy{HMACSHAStrategy: hs, Config: fc},
		hmacConfig:         fc,
	}
}

func TestRefreshTokensCarryTheirTime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	secret := []byte(strings.Repeat("s", 32))
	s := newTestTokenStrategy(secret, []byte(strings.Repeat("r", 32)))
	req := &fosite.Request{Session: &Session{}}
	req.Session.SetExpiresAt(fosite.RefreshToken, time.Now().Add(time.Hour))

	before := time.Now().UnixMilli()
	token, sig, err := s.GenerateRefreshToken(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now().UnixMilli()
	key, mac, ok := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(key)
	if !ok || err != nil || len(raw) != refreshTimeLen+refreshRandLen {
		t.Fatalf("token %q: key of %d bytes (%v), want %d", token, len(raw), err, refreshTimeLen+refreshRandLen)
	}
	// fosite's own HMAC strategy accepts it, and a tampered one is refused.
	if err := s.ValidateRefreshToken(ctx, req, token); err != nil {
		t.Fatalf("fosite refuses the token: %v", err)
	}
	tampered := []byte(token)
	tampered[3] ^= 1
	if err := s.ValidateRefreshToken(ctx, req, string(tampered)); err == nil {
		t.Fatal("a token with an altered key validates")
	}
	// Its signature is the time, ':' and fosite's signature.
	if sig != s.RefreshTokenSignature(ctx, token) {
		t.Fatalf("generated signature %q differs from RefreshTokenSignature %q", sig, s.RefreshTokenSignature(ctx, token))
	}
	prefix, rest, ok := strings.Cut(sig, ":")
	if !ok || rest != mac || len(prefix) != timePrefixLen {
		t.Fatalf("signature %q, want 12 hex digits, ':' and %q", sig, mac)
	}
	var ms int64
	for _, c := range prefix {
		ms = ms<<4 | int64(strings.IndexRune("0123456789abcdef", c))
	}
	if ms < before || ms > after {
		t.Fatalf("time prefix %d ms, want within [%d, %d]", ms, before, after)
	}

	// A second token sorts after the first.
	time.Sleep(2 * time.Millisecond)
	_, sig2, err := s.GenerateRefreshToken(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if sig2 <= sig {
		t.Fatalf("a later token's signature %q does not sort after %q", sig2, sig)
	}

	// Tokens made before (fosite's form: a 32-byte key) keep fosite's
	// signature, and so the key they were stored under.
	legacy, legacySig, err := s.DefaultJWTStrategy.HMACSHAStrategy.GenerateRefreshToken(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.RefreshTokenSignature(ctx, legacy); got != legacySig {
		t.Fatalf("signature of an earlier token = %q, want fosite's %q", got, legacySig)
	}
	if err := s.ValidateRefreshToken(ctx, req, legacy); err != nil {
		t.Fatalf("an earlier token no longer validates: %v", err)
	}
	for _, bad := range []string{"", "abc", "a.b.c", strings.Repeat("A", 51) + ".", "." + mac} {
		if got := s.RefreshTokenSignature(ctx, bad); strings.Contains(got, ":") {
			t.Errorf("RefreshTokenSignature(%q) = %q, a time prefix from a malformed token", bad, got)
		}
	}
}

// A token signed before a secret rotation, with the secret now rotated out
// to RotatedGlobalSecrets, still validates: the time-carrying form is
// fosite's HMAC form.
func TestRefreshTokenSurvivesSecretRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	oldSecret := []byte(strings.Repeat("o", 32))
	token, _, err := newTestTokenStrategy(oldSecret, []byte(strings.Repeat("x", 32))).GenerateRefreshToken(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	req := &fosite.Request{Session: &Session{}}
	rotated := newTestTokenStrategy([]byte(strings.Repeat("n", 32)), oldSecret)
	if err := rotated.ValidateRefreshToken(ctx, req, token); err != nil {
		t.Fatalf("validation with the secret rotated out: %v", err)
	}
	other := newTestTokenStrategy([]byte(strings.Repeat("n", 32)), []byte(strings.Repeat("y", 32)))
	if err := other.ValidateRefreshToken(ctx, req, token); err == nil {
		t.Fatal("a token validates under secrets that never signed it")
	}
}

func TestAccessTokenJTIsAreVersion7(t *testing.T) {
	t.Parallel()
	s := &Session{Subject: "u1"}
	s.GetJWTClaims()
	u, err := uuid.Parse(s.JTI)
	if err != nil || u.Version() != 7 {
		t.Fatalf("jti %q is not a version 7 UUID (%v)", s.JTI, err)
	}
}

func BenchmarkJWTTimePrefix(b *testing.B) {
	token := jwtWithPayload(`{"aud":["https://api.nextoria.test"],"client_id":"5a3a7c271ac5e5e28d13d681","exp":1764900000,` +
		`"ext":{"workspace_id":"c57c36a7-2a46-488b-91b0-bc365a7a627b"},"iat":1764896400,"iss":"https://auth.nextoria.test",` +
		`"jti":"0190a3b2-c4d5-7e6f-8a9b-0c1d2e3f4a5b","scp":["projects:read","projects:write"],"sub":"e783c236-7293-411a-a965-c878b868a111"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := jwtTimePrefix(token); !ok {
			b.Fatal("no prefix")
		}
	}
}
