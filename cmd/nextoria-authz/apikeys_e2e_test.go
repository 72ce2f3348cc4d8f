package main

import (
	"testing"
	"time"

	"github.com/nextoria/authz/apikey"
)

// TestE2EAPIKeyIntrospection: API keys introspect with their workspace, plan
// and scopes; revoked, expired, unknown and malformed keys are inactive.
func TestE2EAPIKeyIntrospection(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	ctx := t.Context()
	introspect := s.introspector(t)
	key, raw, err := s.app.apiKeys.Create(ctx, s.WorkspaceID, s.UserID, "Zapier Integration", []string{"projects:read", "tasks:read"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	m := introspect(raw, "")
	want := map[string]any{
		"active": true, "scope": "projects:read tasks:read", "token_type": "api_key",
		"workspace_id": s.WorkspaceID, "plan": "growth", "key_id": key.ID, "key_name": "Zapier Integration",
		"iss": s.URL,
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	if _, ok := m["exp"]; ok {
		t.Error("a key without expiry reports exp")
	}
	if _, ok := m["sub"]; ok {
		t.Error("an API key acts for its workspace, not a user: no sub")
	}

	_, short, err := s.app.apiKeys.Create(ctx, s.WorkspaceID, s.UserID, "Short-lived", []string{"projects:read"}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m := introspect(short, ""); m["active"] != true || m["exp"] == nil {
		t.Fatalf("fresh expiring key: %v", m)
	}
	revokedKey, revoked, err := s.app.apiKeys.Create(ctx, s.WorkspaceID, s.UserID, "Revoked", []string{"projects:read"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.app.apiKeys.Revoke(ctx, s.WorkspaceID, revokedKey.ID); err != nil {
		t.Fatal(err)
	}
	unknown, err := apikey.New()
	if err != nil {
		t.Fatal(err)
	}
	mistyped := []byte(raw)
	mistyped[10] ^= 1
	time.Sleep(1100 * time.Millisecond)
	for name, k := range map[string]string{
		"expired":    short,
		"revoked":    revoked,
		"unknown":    unknown,
		"mistyped":   string(mistyped),
		"truncated":  raw[:len(raw)-1],
		"prefixonly": apikey.Prefix,
	} {
		if m := introspect(k, ""); m["active"] != false {
			t.Errorf("%s key: %v", name, m)
		}
	}
	// Last use is recorded without a write per request: it reaches the
	// database on the next flush.
	if err := s.app.apiKeys.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	list, err := s.app.apiKeys.List(ctx, s.WorkspaceID)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range list {
		if k.ID == key.ID && k.LastUsedAt.IsZero() {
			t.Error("last use of an introspected key was not recorded")
		}
	}
}
