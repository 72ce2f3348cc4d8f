package main

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"golang.org/x/oauth2"
)

// TestE2EEndpointLimits: the token and introspection endpoints answer 429
// with Retry-After once a client exceeds its limit; other clients are not
// affected.
func TestE2EEndpointLimits(t *testing.T) {
	t.Parallel()
	s := startE2E(t, func(c *Config) {
		c.Limits.TokenPerMinute, c.Limits.TokenBurst = 60, 2
		c.Limits.IntrospectionPerMinute, c.Limits.IntrospectionBurst = 60, 3
	})
	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	tok := s.tokens(t, conf) // first token request of this client

	resp, body := refresh(t, conf, tok.RefreshToken) // second: the burst is 2
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("within the burst: %d %v", resp.StatusCode, body)
	}
	resp, body = refresh(t, conf, body["refresh_token"].(string))
	if resp.StatusCode != http.StatusTooManyRequests || body["error"] != "temporarily_unavailable" {
		t.Fatalf("past the burst: %d %v", resp.StatusCode, body)
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 2 {
		t.Fatalf("Retry-After = %q, want 1 or 2 seconds at 60/min", resp.Header.Get("Retry-After"))
	}
	// Another client has its own budget.
	otherID, otherSecret := s.registerApp(t, "Neighbour", false, []string{s.RedirectURI}, []string{"projects:read", "tasks:read"})
	other := s.oauthConfig(oauth2.AuthStyleInParams)
	other.ClientID, other.ClientSecret = otherID, otherSecret
	s.tokens(t, other)

	rsID, rsSecret := s.resourceServer(t)
	form := url.Values{"token": {tok.AccessToken}}
	for i := range 3 {
		if status, body := s.introspectRaw(t, rsID, rsSecret, form); status != http.StatusOK {
			t.Fatalf("introspection %d: %d %s", i+1, status, body)
		}
	}
	if status, _ := s.introspectRaw(t, rsID, rsSecret, form); status != http.StatusTooManyRequests {
		t.Fatalf("introspection past the burst: %d", status)
	}
}
