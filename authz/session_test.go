package authz

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/ory/fosite"
)

func TestSessionClaimsAreFreshPerToken(t *testing.T) {
	t.Parallel()
	s := &Session{Subject: "u1", ClientID: "c1", WorkspaceID: "w1"}
	first := s.GetJWTClaims().ToMapClaims()
	firstJTI := s.JTI
	second := s.GetJWTClaims().ToMapClaims()
	if first["jti"] == second["jti"] {
		t.Fatal("two tokens from one session share a jti")
	}
	if s.JTI != second["jti"] || s.JTI == firstJTI {
		t.Fatalf("session keeps jti %q, want the latest %q", s.JTI, second["jti"])
	}
	for _, k := range []string{"sub", "client_id", "workspace_id", "iat", "jti"} {
		if _, ok := second[k]; !ok {
			t.Errorf("claim %q missing", k)
		}
	}
	if got := s.GetJWTHeader().Extra["typ"]; got != "at+jwt" {
		t.Errorf("typ header = %v, want at+jwt", got)
	}
}

func TestSessionJSONRoundTripKeepsExpiry(t *testing.T) {
	t.Parallel()
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	s := &Session{Subject: "u1", Username: "a@b.c"}
	s.SetExpiresAt(fosite.RefreshToken, exp)
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var got Session
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !got.GetExpiresAt(fosite.RefreshToken).Equal(exp) {
		t.Fatalf("expiry %v after round trip, want %v", got.GetExpiresAt(fosite.RefreshToken), exp)
	}
	c := got.Clone().(*Session)
	c.SetExpiresAt(fosite.RefreshToken, exp.Add(time.Hour))
	if !got.GetExpiresAt(fosite.RefreshToken).Equal(exp) {
		t.Fatal("Clone shares the expiry map")
	}
}
