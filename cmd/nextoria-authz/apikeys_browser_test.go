package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nextoria/authz/apikey"
)

// TestBrowserAPIKeys creates an API key in Chromium the way the docs say
// (Settings → API → New API Key), sees it once, uses it, and revokes it.
func TestBrowserAPIKeys(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	introspect := s.introspector(t)
	ctx := newChrome(t)

	// Signed out, the page sends the browser to sign in and back.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/settings/api/keys"),
		chromedp.WaitVisible(`[data-testid="login-form"]`),
		chromedp.SendKeys(`input[name="email"]`, s.Email),
		chromedp.SendKeys(`input[name="password"]`, e2ePassword),
		chromedp.Click(`[data-testid="sign-in"]`),
		chromedp.WaitVisible(`[data-testid="no-keys"]`),
		chromedp.Click(`[data-testid="new-key"]`),
		chromedp.WaitVisible(`[data-testid="key-form"]`),
		chromedp.SendKeys(`#name`, "Zapier Integration"),
		chromedp.Click(`#scope-projects-read`),
		bothWidths(t, "settings-api-key-new"),
		chromedp.Click(`[data-testid="submit"]`),
		chromedp.WaitVisible(`[data-testid="key-once"]`),
		chromedp.WaitVisible(`[data-testid="copy-key"]`), // the script ran under the CSP
		bothWidths(t, "settings-api-key-once"),
	); err != nil {
		t.Fatalf("create: %v", err)
	}
	key := text(ctx, t, `[data-testid="api-key"]`)
	if !regexp.MustCompile(`^` + apikey.Pattern + `$`).MatchString(key) {
		t.Fatalf("the key shown, %q, does not match %s", key, apikey.Pattern)
	}
	warning := text(ctx, t, `[data-testid="key-warning"]`)
	if !strings.Contains(warning, "shown only once") || !strings.Contains(warning, "never commit it to source control") {
		t.Errorf("warning = %q", warning)
	}
	if err := chromedp.Do(ctx, chromedp.Click(`[data-testid="copy-key"]`)); err != nil {
		t.Fatal(err)
	}
	if status, err := chromedp.Run(ctx, chromedp.Poll[string](
		`document.querySelector('[data-testid="copy-status"]').textContent`, chromedp.WithPollingTimeout(5*time.Second))); err != nil || status == "" {
		t.Errorf("copy status = %q, %v", status, err)
	}

	// A reload no longer shows it; the list tells the key apart without it.
	if err := chromedp.Do(ctx,
		chromedp.Reload(),
		chromedp.WaitVisible(`[data-testid="key-list"]`),
		chromedp.WaitNotPresent(`[data-testid="key-once"]`),
		bothWidths(t, "settings-api-keys"),
	); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if strings.Contains(text(ctx, t, `body`), key) {
		t.Fatal("the key is still on the page")
	}
	for sel, want := range map[string]string{
		`[data-testid="key-name"]`:       "Zapier Integration",
		`[data-testid="key-display-id"]`: key[:len(apikey.Prefix)+8],
		`[data-testid="key-status"]`:     "Active",
	} {
		if got := strings.TrimSpace(text(ctx, t, sel)); got != want {
			t.Errorf("%s = %q, want %q", sel, got, want)
		}
	}
	if scopes := text(ctx, t, `[data-testid="key-scopes"]`); !strings.Contains(scopes, "projects:read") || strings.Contains(scopes, "tasks:read") {
		t.Errorf("scopes = %q", scopes)
	}

	m := introspect(key, "")
	if m["active"] != true || m["scope"] != "projects:read" || m["key_name"] != "Zapier Integration" || m["workspace_id"] != s.WorkspaceID {
		t.Fatalf("introspection of the new key: %v", m)
	}

	// Revoke it, with a confirmation step.
	if err := chromedp.Do(ctx,
		chromedp.Click(`[data-testid="revoke-key"]`),
		chromedp.WaitVisible(`[data-testid="revoke-form"]`),
		bothWidths(t, "settings-api-key-revoke"),
		chromedp.Click(`[data-testid="confirm-revoke"]`),
		chromedp.WaitVisible(`[data-testid="flash"]`),
	); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if flash := text(ctx, t, `[data-testid="flash"]`); !strings.Contains(flash, "revoked") {
		t.Errorf("flash = %q", flash)
	}
	if status := strings.TrimSpace(text(ctx, t, `[data-testid="key-status"]`)); status != "Revoked" {
		t.Errorf("status after revoking = %q", status)
	}
	if m := introspect(key, ""); m["active"] != false {
		t.Fatalf("introspection of the revoked key: %v", m)
	}
}
