package authz

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"
)

// codecCases are sessions the binary format must carry exactly as JSON did.
func codecCases() map[string]*Session {
	at := time.Date(2026, 12, 2, 4, 5, 6, 0, time.UTC)
	kolkata := time.FixedZone("", 5*3600+1800)
	plain := benchSession()
	plain.AuthTime, plain.GrantedAt = at, at
	plain.SetExpiresAt(fosite.AuthorizeCode, at.Add(time.Minute))
	plain.SetExpiresAt(fosite.AccessToken, at.Add(time.Hour))
	plain.SetExpiresAt(fosite.RefreshToken, at.Add(30*24*time.Hour))
	plain.JTI = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
	plain.IssuedAt = at

	oidc := plain.Clone().(*Session)
	oidc.IDClaims = &jwt.IDTokenClaims{
		JTI: "id-jti", Issuer: benchIssuer, Subject: oidc.Subject, Audience: []string{"app-1", "app-2"},
		Nonce: "n-0S6_WzA2Mj", ExpiresAt: at.Add(time.Hour), IssuedAt: at, RequestedAt: at.Add(-time.Minute),
		AuthTime: at.Add(-2 * time.Minute), AccessTokenHash: "77QmUPtjPfzWtF2AnpK9RQ",
		AuthenticationContextClassReference: "urn:mace:incommon:iap:silver",
		AuthenticationMethodsReferences:     []string{"pwd", "mfa"}, CodeHash: "LDktKdoQak3Pk0cnXxCltA",
		Extra: map[string]any{
			"name": "Ada Lovelace", "email": "ada@example.com", "email_verified": true, "sid": "c2lk",
			"n": 42, "big": int64(1 << 60), "ratio": 0.25, "neg": -7.0, "negzero": -0.0, "none": nil,
			"list": []any{"a", 1, false, nil, map[string]any{"x": "y"}}, "strs": []string{"p", "q"},
			"nested":    map[string]any{"deep": map[string]any{"deeper": []any{1.5}}},
			"empty_map": map[string]any{}, "empty_list": []any{},
			"when": at, "num": json.Number("12.5"), "struct": struct{ A int }{3},
		},
	}
	oidc.IDHeaders = &jwt.Headers{Extra: map[string]any{"kid": "k1", "typ": "JWT"}}

	times := &Session{
		Subject:   "u",
		AuthTime:  time.Date(2026, 3, 4, 5, 6, 7, 891011121, kolkata),
		GrantedAt: time.Date(1969, 7, 20, 20, 17, 40, 5, time.UTC),
		IssuedAt:  time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("", -(9*3600+30*60))),
		ExpiresAt: map[fosite.TokenType]time.Time{
			fosite.AccessToken: {}, fosite.IDToken: time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC),
			"custom_token": time.Unix(1, 0).In(kolkata),
		},
		IDClaims: &jwt.IDTokenClaims{AuthTime: time.Unix(1700000000, 1).In(kolkata)},
	}
	unicode := &Session{
		Subject: "ü-ß-漢字", Username: "zoë 🦊 <script>\"'\\", WorkspaceID: "\x00\u2028",
		IDClaims:  &jwt.IDTokenClaims{Nonce: "ñ", Extra: map[string]any{"名前": "Ådå", "": ""}},
		IDHeaders: &jwt.Headers{},
	}
	empty := &Session{
		ExpiresAt: map[fosite.TokenType]time.Time{},
		IDClaims:  &jwt.IDTokenClaims{Audience: []string{}, AuthenticationMethodsReferences: []string{}, Extra: map[string]any{}},
		IDHeaders: &jwt.Headers{Extra: map[string]any{}},
	}
	return map[string]*Session{
		"zero": {}, "plain OAuth": plain, "OpenID Connect with every claim": oidc,
		"zero and non-UTC times": times, "unicode": unicode, "empty maps and lists": empty,
	}
}

// jsonRoundTrip is what the store returned before the binary format.
func jsonRoundTrip(t testing.TB, s *Session) *Session {
	t.Helper()
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	out := newSession(s.accessLifespan)
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSessionBinaryRoundTrip(t *testing.T) {
	t.Parallel()
	for name, s := range codecCases() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data, err := s.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if data[0] != sessionFormatV1 {
				t.Fatalf("first byte %#x, want the format version", data[0])
			}
			got := newSession(time.Hour)
			if err := got.UnmarshalBinary(data); err != nil {
				t.Fatal(err)
			}
			if got.accessLifespan != time.Hour {
				t.Error("decoding lost the access-token lifespan")
			}
			got.accessLifespan = s.accessLifespan
			// Exactly what a JSON round trip gives (numbers as float64,
			// other types as JSON decodes them), apart from times, which
			// keep their nanoseconds and zone offsets in both.
			if want := jsonRoundTrip(t, s); !reflect.DeepEqual(got, want) {
				gj, _ := json.Marshal(got)
				wj, _ := json.Marshal(want)
				t.Errorf("binary round trip differs from JSON's:\n got %s\nwant %s\n%#v\n%#v", gj, wj, got, want)
			}
			again, err := got.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			// Types stored as JSON come back as what JSON decodes them to, so
			// the bytes may differ once; the session may not.
			twice := newSession(s.accessLifespan)
			if err := twice.UnmarshalBinary(again); err != nil || !reflect.DeepEqual(twice, got) {
				t.Errorf("a decoded session does not survive another round trip (err %v)", err)
			}
			// Every truncation is an error, never a shorter session.
			for n := range len(data) {
				if err := newSession(0).UnmarshalBinary(data[:n]); !errors.Is(err, errSessionData) {
					t.Fatalf("decoding the first %d of %d bytes: err = %v", n, len(data), err)
				}
			}
			if err := newSession(0).UnmarshalBinary(append(data, 0)); !errors.Is(err, errSessionData) {
				t.Errorf("trailing byte: err = %v", err)
			}
		})
	}
}

func TestSessionBinaryKeepsZones(t *testing.T) {
	t.Parallel()
	s := codecCases()["zero and non-UTC times"]
	data, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	got := &Session{}
	if err := got.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ got, want time.Time }{
		{got.AuthTime, s.AuthTime}, {got.GrantedAt, s.GrantedAt}, {got.IssuedAt, s.IssuedAt},
		{got.ExpiresAt["custom_token"], s.ExpiresAt["custom_token"]}, {got.IDClaims.AuthTime, s.IDClaims.AuthTime},
	} {
		_, gotOff := tc.got.Zone()
		_, wantOff := tc.want.Zone()
		if !tc.got.Equal(tc.want) || gotOff != wantOff {
			t.Errorf("time %v, want %v", tc.got, tc.want)
		}
	}
	if !got.ExpiresAt[fosite.AccessToken].IsZero() {
		t.Error("a zero expiry came back set")
	}
}

func TestSessionBinaryRejects(t *testing.T) {
	t.Parallel()
	s := &Session{Subject: "keep"}
	for name, data := range map[string][]byte{
		"empty":           nil,
		"JSON":            []byte(`{"sub":"x"}`),
		"unknown version": {0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		"long string":     {0x01, 0x7f, 'a'},
		"huge count":      append([]byte{0x01, 0, 0, 0, 0, 0, 0}, 0xff, 0xff, 0xff, 0xff, 0x0f),
		"varint overflow": {0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
		"bad time flags":  {0x01, 0, 0, 0, 0, 0x09},
		"bad nanos":       {0x01, 0, 0, 0, 0, 0x03, 0x02, 0x80, 0x94, 0xeb, 0xdc, 0x03},
		"unknown flags":   {0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x04},
		"unknown tag":     {0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x02, 0x00, 0x63},
		"too deep":        deepValue(maxValueDepth + 2),
	} {
		if err := s.UnmarshalBinary(data); !errors.Is(err, errSessionData) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if s.Subject != "keep" {
		t.Error("a failed decode changed the session")
	}
	if err := newSession(0).UnmarshalBinary(deepValue(maxValueDepth - 2)); err != nil {
		t.Errorf("nesting within the limit: %v", err)
	}
}

// deepValue encodes a session whose ID-token headers hold lists nested depth deep.
func deepValue(depth int) []byte {
	b := []byte{sessionFormatV1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x02, 0x00}
	for range depth {
		b = append(b, byte(tagList), 1)
	}
	return append(b, byte(tagNull))
}

// FuzzSessionDecode feeds arbitrary bytes to the decoder: it must never
// panic, must reject anything that is not the format, and whatever it
// accepts must encode back to a session that decodes the same.
func FuzzSessionDecode(f *testing.F) {
	for _, s := range codecCases() {
		data, err := s.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"sub":"u1","expires_at":{"access_token":"2026-01-01T00:00:00Z"}}`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &Session{}
		err := s.UnmarshalBinary(data)
		if len(data) == 0 || data[0] != sessionFormatV1 {
			if err == nil {
				t.Fatal("accepted data without the format version")
			}
			return
		}
		if err != nil {
			if !errors.Is(err, errSessionData) {
				t.Fatalf("error not marked as malformed data: %v", err)
			}
			return
		}
		again, err := s.MarshalBinary()
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		s2 := &Session{}
		if err := s2.UnmarshalBinary(again); err != nil {
			t.Fatalf("decode re-encoded: %v", err)
		}
		if again2, _ := s2.MarshalBinary(); string(again2) != string(again) {
			t.Fatal("encoding is not stable")
		}
	})
}

// BenchmarkSessionCodec compares JSON with the binary format on the sessions
// stored with an access or refresh token (plain OAuth) and an OpenID Connect
// code; "bytes" is the encoded size.
func BenchmarkSessionCodec(b *testing.B) {
	cases := codecCases()
	oidc := cases["OpenID Connect with every claim"]
	// The claims the server itself sets (setIDTokenClaims), not the test's zoo.
	oidc.IDClaims.Extra = map[string]any{"name": "Ada Lovelace", "email": "ada@example.com", "email_verified": true, "sid": "c2lkLXNpZC1zaWQtc2lkLXNpZC1zaWQtc2lkLXNpZA"}
	for _, c := range []struct {
		name string
		s    *Session
	}{{"oauth", cases["plain OAuth"]}, {"oidc", oidc}} {
		js, err := json.Marshal(c.s)
		if err != nil {
			b.Fatal(err)
		}
		bin, err := c.s.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name+"/json/encode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := json.Marshal(c.s); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(js)), "bytes")
		})
		b.Run(c.name+"/binary/encode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.s.MarshalBinary(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(bin)), "bytes")
		})
		b.Run(c.name+"/json/decode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := json.Unmarshal(js, newSession(time.Hour)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(js)), "bytes")
		})
		b.Run(c.name+"/binary/decode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := newSession(time.Hour).UnmarshalBinary(bin); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(bin)), "bytes")
		})
	}
}

// TestSessionBinaryDecodesLikeJSONIntoFilledSession: fosite reads a code
// twice in one exchange into the same session, after setting the new
// tokens' expiries on it in between. Decoding must keep them, as JSON
// decoding does (it merges maps and leaves absent fields alone); replacing
// the session lost the access and refresh token expiries.
func TestSessionBinaryDecodesLikeJSONIntoFilledSession(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)
	stored := &Session{Subject: "u1", ClientID: "c1", ExpiresAt: map[fosite.TokenType]time.Time{fosite.AuthorizeCode: now.Add(time.Minute)}}
	fill := func() *Session {
		s := newSession(time.Hour)
		s.Subject = "u1"
		s.ExpiresAt = map[fosite.TokenType]time.Time{
			fosite.AccessToken:  now.Add(time.Hour),
			fosite.RefreshToken: now.Add(14 * 24 * time.Hour),
		}
		s.JTI = "jti-1"
		s.IssuedAt = now
		return s
	}
	data, err := stored.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(stored)
	if err != nil {
		t.Fatal(err)
	}
	got, want := fill(), fill()
	if err := got.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("binary decoding into a filled session differs from JSON's:\n got %#v\nwant %#v", got, want)
	}
	for _, tt := range []fosite.TokenType{fosite.AccessToken, fosite.RefreshToken, fosite.AuthorizeCode} {
		if got.GetExpiresAt(tt).IsZero() {
			t.Errorf("expiry of %s lost", tt)
		}
	}
}
