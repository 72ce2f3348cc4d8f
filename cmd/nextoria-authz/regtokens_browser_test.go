package main

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	dcr "github.com/nextoria/authz/registration"
)

// TestBrowserRegistrationTokens creates a registration token in Chromium
// (Settings → API → Registration tokens), sees it once, registers a client
// with it, and revokes it.
func TestBrowserRegistrationTokens(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	ctx := newChrome(t)

	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/settings/api/registration-tokens"),
		chromedp.WaitVisible(`[data-testid="login-form"]`),
		chromedp.SendKeys(`input[name="email"]`, s.Email),
		chromedp.SendKeys(`input[name="password"]`, e2ePassword),
		chromedp.Click(`[data-testid="sign-in"]`),
		chromedp.WaitVisible(`[data-testid="no-tokens"]`),
		chromedp.SendKeys(`#name`, "Partner marketplace"),
		chromedp.Click(`#expiry-90d`),
		bothWidths(t, "settings-registration-tokens-empty"),
		chromedp.Click(`[data-testid="submit"]`),
		chromedp.WaitVisible(`[data-testid="token-once"]`),
		chromedp.WaitVisible(`[data-testid="copy-token"]`), // the script ran under the CSP
		bothWidths(t, "settings-registration-token-once"),
	); err != nil {
		t.Fatalf("create: %v", err)
	}
	token := text(ctx, t, `[data-testid="registration-token"]`)
	if !regexp.MustCompile(`^` + dcr.TokenFormat.Pattern() + `$`).MatchString(token) {
		t.Fatalf("the token shown, %q, does not match %s", token, dcr.TokenFormat.Pattern())
	}
	c := s.register(t, token, map[string]any{"client_name": "Customer 1", "redirect_uris": []string{"https://c1.example/cb"}})

	// A reload no longer shows it; the list tells the token apart without it.
	if err := chromedp.Do(ctx,
		chromedp.Reload(),
		chromedp.WaitVisible(`[data-testid="token-list"]`),
		chromedp.WaitNotPresent(`[data-testid="token-once"]`),
		bothWidths(t, "settings-registration-tokens"),
	); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if strings.Contains(text(ctx, t, `body`), token) {
		t.Fatal("the token is still on the page")
	}
	for sel, want := range map[string]string{
		`[data-testid="token-name"]`:       "Partner marketplace",
		`[data-testid="token-display-id"]`: token[:len(dcr.TokenFormat.Prefix)+8],
		`[data-testid="token-status"]`:     "Active",
	} {
		if got := strings.TrimSpace(text(ctx, t, sel)); got != want {
			t.Errorf("%s = %q, want %q", sel, got, want)
		}
	}
	if used := text(ctx, t, `[data-testid="token-last-used"]`); strings.Contains(used, "Never") {
		t.Errorf("last used = %q after a registration", used)
	}

	// The registered client is an ordinary app of the workspace.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/settings/api/apps"),
		chromedp.WaitVisible(`body`),
	); err != nil {
		t.Fatal(err)
	}
	if body := text(ctx, t, `body`); !strings.Contains(body, "Customer 1") || !strings.Contains(body, c["client_id"].(string)) {
		t.Error("the registered client is not in the OAuth applications list")
	}

	// Revoke it, with a confirmation step.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/settings/api/registration-tokens"),
		chromedp.Click(`[data-testid="revoke-token"]`),
		chromedp.WaitVisible(`[data-testid="revoke-form"]`),
		bothWidths(t, "settings-registration-token-revoke"),
		chromedp.Click(`[data-testid="confirm-revoke"]`),
		chromedp.WaitVisible(`[data-testid="flash"]`),
	); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if status := strings.TrimSpace(text(ctx, t, `[data-testid="token-status"]`)); status != "Revoked" {
		t.Errorf("status after revoking = %q", status)
	}
	status, h, _ := regCall(t, http.MethodPost, s.URL+dcr.Path, token, "application/json",
		regJSON(t, map[string]any{"client_name": "Customer 2", "redirect_uris": []string{"https://c2.example/cb"}}))
	if status != http.StatusUnauthorized || !strings.Contains(h.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("registration with the revoked token: %d %q", status, h.Get("WWW-Authenticate"))
	}
}
