package main

import (
	"net/http"
	"testing"

	jose "github.com/go-jose/go-jose/v3"
	"golang.org/x/oauth2"

	"github.com/nextoria/authz/authz"
)

// TestE2EKeyPublishedBeforeItSigns: `keys rotate` publishes the new key in
// the JWKS at once while tokens are still signed with the old one, and the
// JWKS may be cached for a minute only, less than the publish-ahead time.
func TestE2EKeyPublishedBeforeItSigns(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	ctx := t.Context()
	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	oldKID := kidOf(t, s.tokens(t, conf).AccessToken)

	resp, err := http.Get(s.URL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Cache-Control"); got != "public, max-age=60" {
		t.Fatalf("JWKS Cache-Control = %q, want public, max-age=60", got)
	}

	newKID, _, err := authz.RotateKey(ctx, s.store, s.keys.Seal, authz.KeyPublishAhead)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.app.keySet.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	getJSON(t, s.URL+"/.well-known/jwks.json", &set)
	if len(set.Key(newKID)) != 1 || len(set.Key(oldKID)) != 1 {
		t.Fatalf("JWKS after the rotation: %d keys, want the old and the new", len(set.Keys))
	}
	if got := kidOf(t, s.tokens(t, conf).AccessToken); got != oldKID {
		t.Fatalf("a token was signed with %s before the new key's activation, want %s", got, oldKID)
	}

	// Once its activation time has passed, the new key signs.
	if _, err := s.store.Pool().Exec(ctx, `UPDATE signing_keys SET activates_at = now() WHERE kid = $1`, newKID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.Pool().Exec(ctx, `UPDATE signing_keys SET retired_at = now() WHERE kid = $1`, oldKID); err != nil {
		t.Fatal(err)
	}
	if err := s.app.keySet.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got := kidOf(t, s.tokens(t, conf).AccessToken); got != newKID {
		t.Fatalf("token kid %s after the activation, want %s", got, newKID)
	}
}
