package main

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"
)

// menuLink is the XPath of a link of the settings menu, found by its
// section and label as the public documentation writes them ("API", "OAuth
// Applications"), on the home page and in the settings sidebar alike.
func menuLink(section, label string) string {
	return `//nav//div[contains(@class,"settings-nav-group")][p[normalize-space()="` + section +
		`"]]//a[normalize-space()="` + label + `"]`
}

// pageLink is the XPath of a link or button of the page's content by its text.
func pageLink(label string) string {
	return `//main//a[normalize-space()="` + label + `"]`
}

// shown reports whether the element matching the CSS selector is rendered.
func shown(ctx context.Context, t *testing.T, sel string) bool {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
		`(() => { const e = document.querySelector('`+sel+`'); return !!e && getComputedStyle(e).display !== 'none'; })()`))
	if err != nil {
		t.Fatalf("check %s: %v", sel, err)
	}
	return v
}

// TestBrowserSettingsFromHome starts at the signed-in home page and reaches
// every settings page in at most two clicks, following the documentation's
// menu paths literally ("Settings → API → OAuth Applications → Register
// App", "Settings → API → New API Key"). On the way it checks the
// confirmations of irreversible actions and the API key expiry default, and
// saves every screen at 1280×800 and 390×844 (bothWidths), which also checks
// that no page scrolls sideways on a phone.
func TestBrowserSettingsFromHome(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	// An app with a long redirect URI, which must not widen a phone's page.
	longURI := "https://integrations.acme-studio-international.example/oauth2/callbacks/nextoria-hub/production-environment?tenant=acme-studio-international&region=eu-west"
	s.registerApp(t, "Acme Studio International Reporting Dashboard", false, []string{longURI}, []string{"projects:read"})
	if _, _, err := s.app.apiKeys.Create(t.Context(), s.WorkspaceID, s.UserID, "Nightly data export to the warehouse", []string{"projects:read", "invoices:read"}, 0); err != nil {
		t.Fatal(err)
	}
	redirect, codes := callbackServer(t)
	s.allowRedirect(t, redirect)
	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	conf.RedirectURL = redirect
	verifier := oauth2.GenerateVerifier()
	ctx := newChrome(t)

	// Sign in by authorizing Test App, so that it is an authorized app.
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(desktopWidth, desktopHeight),
		chromedp.Navigate(conf.AuthCodeURL("state-home-1", oauth2.S256ChallengeOption(verifier))),
		chromedp.WaitVisible(`[data-testid="login-form"]`),
		chromedp.SendKeys(`input[name="email"]`, s.Email),
		chromedp.SendKeys(`input[name="password"]`, e2ePassword),
		chromedp.Click(`[data-testid="sign-in"]`),
		chromedp.WaitVisible(`[data-testid="consent-form"]`),
		chromedp.Click(`[data-testid="allow"]`),
	); err != nil {
		t.Fatalf("authorize: %v", err)
	}
	tok, err := conf.Exchange(t.Context(), waitCode(t, codes), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}

	home := func() chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.Navigate(s.URL+"/"),
			chromedp.WaitVisible(`[data-testid="settings-links"]`),
		)
	}
	if err := chromedp.Do(ctx, home(), bothWidths(t, "home")); err != nil {
		t.Fatalf("home: %v", err)
	}
	if got := text(ctx, t, `[data-testid="settings-links"]`); !strings.Contains(got, "Settings") {
		t.Errorf("the home page's menu = %q", got)
	}

	// Settings → API → OAuth Applications → Register App.
	if err := chromedp.Do(ctx,
		chromedp.Click(menuLink("API", "OAuth Applications")), // click 1
		chromedp.WaitVisible(`[data-testid="app-list"]`),
		bothWidths(t, "settings-apps"),
		chromedp.Click(pageLink("Register App")), // click 2
		chromedp.WaitVisible(`[data-testid="app-form"]`),
		bothWidths(t, "settings-register"),
	); err != nil {
		t.Fatalf("Settings → API → OAuth Applications → Register App: %v", err)
	}

	// Home → OAuth Applications → an app; rotating "now" and deleting ask first.
	if err := chromedp.Do(ctx,
		home(),
		chromedp.Click(menuLink("API", "OAuth Applications")),
		chromedp.WaitVisible(`[data-testid="app-list"]`),
		chromedp.Click(pageLink("Test App")),
		chromedp.WaitVisible(`[data-testid="rotate-form"]`),
		bothWidths(t, "settings-app-detail"),
		chromedp.Click(`#overlap-now`),
		chromedp.Click(`[data-testid="rotate"]`),
		chromedp.WaitVisible(`[data-testid="rotate-now-confirm"]`),
		bothWidths(t, "settings-rotate-now-confirm"),
		chromedp.Click(`[data-testid="cancel"]`),
		chromedp.WaitVisible(`[data-testid="rotate-form"]`),
	); err != nil {
		t.Fatalf("rotate now, cancelled: %v", err)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="secret-once"]').length`)); err != nil || n != 0 {
		t.Errorf("a cancelled rotation issued a secret (%d, %v)", n, err)
	}
	if _, err := conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err != nil {
		t.Errorf("the client secret stopped working after a cancelled rotation: %v", err)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(`[data-testid="delete"]`),
		chromedp.WaitVisible(`[data-testid="delete-form"]`),
		bothWidths(t, "settings-delete-confirm"),
		chromedp.Click(`[data-testid="cancel"]`),
		chromedp.WaitVisible(`[data-testid="rotate-form"]`),
	); err != nil {
		t.Fatalf("delete, cancelled: %v", err)
	}

	// Settings → API → API keys, and its New API Key button.
	if err := chromedp.Do(ctx,
		home(),
		chromedp.Click(menuLink("API", "API keys")), // click 1
		chromedp.WaitVisible(`[data-testid="key-list"]`),
		bothWidths(t, "settings-api-keys"),
		chromedp.Click(pageLink("New API Key")), // click 2
		chromedp.WaitVisible(`[data-testid="key-form"]`),
	); err != nil {
		t.Fatalf("Settings → API → API keys → New API Key: %v", err)
	}
	// Settings → API → New API Key: 30 days by default, a warning on Never.
	if err := chromedp.Do(ctx,
		home(),
		chromedp.Click(menuLink("API", "New API Key")), // click 1
		chromedp.WaitVisible(`[data-testid="key-form"]`),
		bothWidths(t, "settings-api-key-new"),
	); err != nil {
		t.Fatalf("Settings → API → New API Key: %v", err)
	}
	checked, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('input[name="expiry"]:checked').value`))
	if err != nil || checked != "30d" {
		t.Errorf("preselected expiry = %q, %v; want 30d", checked, err)
	}
	if shown(ctx, t, `[data-testid="never-warning"]`) {
		t.Error("the never-expires warning shows before Never is chosen")
	}
	if err := chromedp.Do(ctx, chromedp.Click(`#expiry-never`), bothWidths(t, "settings-api-key-never")); err != nil {
		t.Fatal(err)
	}
	if !shown(ctx, t, `[data-testid="never-warning"]`) {
		t.Error("no warning when Never is chosen")
	}

	// Revoking a key asks first.
	if err := chromedp.Do(ctx,
		home(),
		chromedp.Click(menuLink("API", "API keys")),
		chromedp.WaitVisible(`[data-testid="key-list"]`),
		chromedp.Click(`[data-testid="revoke-key"]`),
		chromedp.WaitVisible(`[data-testid="revoke-form"]`),
		bothWidths(t, "settings-api-key-revoke"),
		chromedp.Click(`[data-testid="cancel"]`),
		chromedp.WaitVisible(`[data-testid="key-list"]`),
	); err != nil {
		t.Fatalf("revoke key, cancelled: %v", err)
	}
	if status := strings.TrimSpace(text(ctx, t, `[data-testid="key-status"]`)); status != "Active" {
		t.Errorf("a cancelled revocation left the key %q", status)
	}

	// Settings → Account → Authorized apps; revoking access asks first.
	if err := chromedp.Do(ctx,
		home(),
		chromedp.Click(menuLink("Account", "Authorized apps")), // click 1
		chromedp.WaitVisible(`[data-testid="grant-list"]`),
		bothWidths(t, "settings-authorized-apps"),
		chromedp.Click(`[data-testid="revoke"]`), // click 2
		chromedp.WaitVisible(`[data-testid="grant-revoke-confirm"]`),
		bothWidths(t, "settings-authorized-app-revoke"),
		chromedp.Click(`[data-testid="cancel"]`),
		chromedp.WaitVisible(`[data-testid="grant-list"]`),
		chromedp.Click(`[data-testid="revoke"]`),
		chromedp.WaitVisible(`[data-testid="confirm-revoke"]`),
		chromedp.Click(`[data-testid="confirm-revoke"]`),
		chromedp.WaitVisible(`[data-testid="no-grants"]`),
	); err != nil {
		t.Fatalf("Settings → Account → Authorized apps: %v", err)
	}
	if flash := text(ctx, t, `[data-testid="flash"]`); !strings.Contains(flash, "Test App") {
		t.Errorf("flash = %q", flash)
	}
}
