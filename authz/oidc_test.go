package authz

import (
	"crypto/rsa"
	"encoding/json"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"

	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/storagetest"
)

// TestRotateKeysRotatesBoth: a rotation adds an RSA and an EC key, both
// published at once; each algorithm then signs with its new key, and tokens
// of the retired keys keep verifying.
func TestRotateKeysRotatesBoth(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := storagetest.NewStore(t, storage.Options{})
	keys := testKeys(t)
	ks, err := NewKeySet(ctx, store, keys.Seal, time.Hour, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ks.ActiveFor(RSAKeyAlg).Key.(*rsa.PrivateKey); !ok {
		t.Fatalf("RS256 key is %T", ks.ActiveFor(RSAKeyAlg).Key)
	}
	claims := jwt.MapClaims{"sub": "u1", "exp": time.Now().Add(time.Hour).Unix()}
	old := map[string]string{}
	for _, alg := range KeyAlgs {
		tok, _, err := newSignerFor(ks, alg).Generate(ctx, claims, &jwt.Headers{})
		if err != nil {
			t.Fatal(err)
		}
		old[alg] = tok
	}

	rotated, err := RotateKeys(ctx, store, keys.Seal, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(rotated) != 2 || rotated[0].Alg != KeyAlg || rotated[1].Alg != RSAKeyAlg {
		t.Fatalf("rotated %+v", rotated)
	}
	if err := ks.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range rotated {
		if got := ks.ActiveFor(r.Alg).KeyID; got != r.KID {
			t.Errorf("%s signs with %s, want the new %s", r.Alg, got, r.KID)
		}
	}
	var set struct{ Keys []map[string]any }
	if err := json.Unmarshal(ks.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 4 {
		t.Errorf("JWKS has %d keys, want the 2 new and the 2 retired", len(set.Keys))
	}
	for _, k := range set.Keys {
		if k["use"] != "sig" || k["kid"] == "" || (k["alg"] != "ES256" && k["alg"] != "RS256") {
			t.Errorf("JWK %v", k)
		}
	}
	for alg, tok := range old {
		if _, err := newSigner(ks).Validate(ctx, tok); err != nil {
			t.Errorf("%s token of the retired key: %v", alg, err)
		}
	}
	// An RS256 header on a token signed with the EC key is refused.
	parts := strings.Split(old[KeyAlg], ".")
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": ks.ActiveFor(KeyAlg).KeyID})
	if _, err := newSigner(ks).Validate(ctx, base64URL(h)+"."+parts[1]+"."+parts[2]); err == nil {
		t.Error("alg/key mismatch verified")
	}
}

// authorizeRequest builds an authorization request as fosite parses it.
func authorizeRequest(public bool, query string) *fosite.AuthorizeRequest {
	q, _ := url.ParseQuery(query)
	ar := fosite.NewAuthorizeRequest()
	ar.Form = q
	ar.RequestedScope = fosite.Arguments(strings.Fields(q.Get("scope")))
	ar.Client = &fosite.DefaultClient{ID: "c", Public: public}
	return ar
}

// TestCheckOIDCRequest: bad OpenID Connect parameters get invalid_request
// before anything is shown.
func TestCheckOIDCRequest(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("n", 513)
	tests := []struct {
		name   string
		public bool
		query  string
		want   string // hint fragment, "" for accepted
	}{
		{"plain oauth", false, "scope=projects:read", ""},
		{"openid", false, "scope=openid&redirect_uri=https://a.example/cb", ""},
		{"openid public with nonce", true, "scope=openid&redirect_uri=https://a.example/cb&nonce=0123456789", ""},
		{"openid public without nonce", true, "scope=openid&redirect_uri=https://a.example/cb", "nonce"},
		{"openid without redirect_uri", false, "scope=openid", "redirect_uri"},
		{"nonce too long", false, "scope=openid&redirect_uri=x&nonce=" + long, "512"},
		{"nonce 512", false, "scope=openid&redirect_uri=x&nonce=" + long[:512], ""},
		{"nonce too short", false, "scope=openid&redirect_uri=x&nonce=abc", "at least"},
		{"unknown prompt", false, "scope=openid&redirect_uri=x&prompt=select_account", "prompt"},
		{"prompt none plus login", false, "scope=openid&redirect_uri=x&prompt=none+login", "none"},
		{"prompt login consent", false, "scope=openid&redirect_uri=x&prompt=login+consent", ""},
		{"max_age negative", false, "scope=openid&redirect_uri=x&max_age=-1", "max_age"},
		{"max_age text", false, "scope=openid&redirect_uri=x&max_age=ten", "max_age"},
		{"max_age empty", false, "scope=openid&redirect_uri=x&max_age=", "max_age"},
		{"max_age huge", false, "scope=openid&redirect_uri=x&max_age=99999999999999999999", "max_age"},
		{"max_age zero", false, "scope=openid&redirect_uri=x&max_age=0", ""},
		{"max_age", false, "scope=openid&redirect_uri=x&max_age=3600", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := checkOIDCRequest(authorizeRequest(tt.public, tt.query))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			code, desc := describe(err)
			if code != "invalid_request" || !strings.Contains(desc, tt.want) {
				t.Fatalf("got %s %q, want invalid_request about %q", code, desc, tt.want)
			}
		})
	}
}

// TestReauthMarker: the marker a re-authentication comes back with counts
// only unaltered, for the same request, and while fresh.
func TestReauthMarker(t *testing.T) {
	t.Parallel()
	s := &Server{cfg: Config{Keys: testKeys(t)}}
	q := "client_id=c&scope=openid&prompt=login"
	now := time.Now().Truncate(time.Second)
	marked := s.withReauthMarker(q, now)
	if at, ok := s.reauthStart(marked, reauthWindow); !ok || !at.Equal(now) {
		t.Fatalf("valid marker: %v %v", at, ok)
	}
	forged := strings.Replace(marked, "nx_reauth="+strconv.FormatInt(now.Unix(), 10), "nx_reauth="+strconv.FormatInt(now.Unix()-3600, 10), 1)
	stale := s.withReauthMarker(q, now.Add(-2*reauthWindow))
	tests := map[string]string{
		"none":          q,
		"forged time":   forged,
		"other request": strings.Replace(marked, "prompt=login", "prompt=consent", 1),
		"stale":         stale,
		"no mac":        q + "&nx_reauth=" + strconv.FormatInt(now.Unix(), 10),
	}
	for name, query := range tests {
		if _, ok := s.reauthStart(query, reauthWindow); ok {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, ok := s.reauthStart(stale, 0); !ok {
		t.Error("a stale marker is still authentic without a window")
	}
}

// TestNeedsReauth: prompt=login, max_age=0 and an old sign-in ask for the
// password, unless the browser signed in after the request was first made.
func TestNeedsReauth(t *testing.T) {
	t.Parallel()
	now := time.Now()
	p := storage.Principal{SignedInAt: now.Add(-10 * time.Minute)}
	start := now.Add(-time.Minute)
	tests := []struct {
		name   string
		query  string
		p      storage.Principal
		marked bool
		want   bool
	}{
		{"nothing", "scope=openid", p, false, false},
		{"prompt login", "prompt=login", p, false, true},
		{"prompt login after reauth", "prompt=login", storage.Principal{SignedInAt: now}, true, false},
		{"prompt login, sign-in before marker", "prompt=login", p, true, true},
		{"max_age satisfied", "max_age=3600", p, false, false},
		{"max_age exceeded", "max_age=60", p, false, true},
		{"max_age zero", "max_age=0", p, false, true},
		{"max_age zero after reauth", "max_age=0", storage.Principal{SignedInAt: now}, true, false},
		{"prompt consent", "prompt=consent", p, false, false},
	}
	for _, tt := range tests {
		if got := needsReauth(authorizeRequest(false, tt.query), tt.p, start, tt.marked, now); got != tt.want {
			t.Errorf("%s: needsReauth = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestSessionIDIsOpaque: sid is stable for a login session, differs between
// sessions and is not the stored hash.
func TestSessionIDIsOpaque(t *testing.T) {
	t.Parallel()
	a, b := []byte("session-a-hash"), []byte("session-b-hash")
	if sessionID(a) != sessionID(a) || sessionID(a) == sessionID(b) || strings.Contains(sessionID(a), base64URL(a)) {
		t.Errorf("sid %q %q", sessionID(a), sessionID(b))
	}
}
