package main

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/nextoria/authz/storage"
)

// atDesktopAndPhone saves the page as name-desktop.png at 1280×800 and as
// name-phone.png at 390×844, then returns to the desktop size.
func atDesktopAndPhone(t *testing.T, name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		for _, step := range []chromedp.Action[chromedp.Void]{
			chromedp.EmulateViewport(1280, 800),
			screenshot(t, name+"-desktop.png"),
			chromedp.EmulateViewport(390, 844),
			screenshot(t, name+"-phone.png"),
			chromedp.EmulateViewport(1280, 800),
		} {
			if _, err := step(ctx, target); err != nil {
				return err
			}
		}
		return nil
	})
}

// TestBrowserTrustScreens walks the sign-in and consent screens of an app
// with a full profile in Chromium, at desktop and phone sizes: the sign-in
// page names the app, the consent screen shows the publisher, the app's links
// and "Not you?", and on a 390×844 phone Allow and Deny are visible without
// scrolling with four scopes. A tampered consent form then shows the expired
// page, with its request reference.
func TestBrowserTrustScreens(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	ctx := t.Context()
	app, err := s.store.GetApp(ctx, s.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.UpdateApp(ctx, s.ClientID, storage.AppUpdate{
		Name: "Acme Sync", RedirectURIs: app.RedirectURIs, Scopes: app.Scopes,
		HomepageURL: "https://acme.example/", PrivacyURL: "https://acme.example/privacy",
		Description: "Keeps your Acme tasks and invoices in sync with Nextoria Hub.",
	}); err != nil {
		t.Fatal(err)
	}
	conf := s.oauthConfig(oauth2.AuthStyleInParams, "projects:read", "tasks:read", "tasks:write", "invoices:write")
	authURL := conf.AuthCodeURL("state-trust-1", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))

	cctx := newChrome(t)
	if err := chromedp.Do(cctx,
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(`[data-testid="login-app-name"]`),
		atDesktopAndPhone(t, "signin-app"),
	); err != nil {
		t.Fatal(err)
	}
	if got := text(cctx, t, `[data-testid="login-continue"]`); got != "to continue to Acme Sync" {
		t.Errorf("sign-in page says %q", got)
	}
	if err := chromedp.Do(cctx,
		chromedp.SendKeys(`input[name="email"]`, s.Email),
		chromedp.SendKeys(`input[name="password"]`, e2ePassword),
		chromedp.Click(`[data-testid="sign-in"]`),
		chromedp.WaitVisible(`[data-testid="consent-form"]`),
		atDesktopAndPhone(t, "consent"),
	); err != nil {
		t.Fatal(err)
	}
	for sel, want := range map[string]string{
		`[data-testid="consent-publisher"]`: "Published by Analytical Engines",
		`[data-testid="consent-homepage"]`:  "Website",
		`[data-testid="consent-privacy"]`:   "Privacy policy",
		`[data-testid="not-you"]`:           "Not you? Use another account",
	} {
		if got := text(cctx, t, sel); got != want {
			t.Errorf("%s = %q, want %q", sel, got, want)
		}
	}
	if got := text(cctx, t, `[data-testid="scope-group-write"]`); !strings.Contains(got, "void") {
		t.Errorf("write group %q does not state the destructive right", got)
	}

	// On a phone, Allow and Deny are in the first screenful.
	type box struct{ Allow, Deny, Height float64 }
	if err := chromedp.Do(cctx, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatal(err)
	}
	b, err := chromedp.Run(cctx, chromedp.Evaluate[box](`(() => {
		window.scrollTo(0, 0);
		const r = (id) => document.querySelector('[data-testid="' + id + '"]').getBoundingClientRect().bottom;
		return {Allow: r("allow"), Deny: r("deny"), Height: window.innerHeight};
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("phone 390x844: Allow bottom %.0fpx, Deny bottom %.0fpx, viewport %.0fpx", b.Allow, b.Deny, b.Height)
	if b.Height != 844 || b.Allow > 844 || b.Deny > 844 || b.Allow <= 0 {
		t.Errorf("Allow/Deny not visible without scrolling on a 390x844 phone: %+v", b)
	}

	// A form whose anti-forgery token was tampered with shows the expired page.
	if err := chromedp.Do(cctx,
		chromedp.EmulateViewport(1280, 800),
		chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`(() => {
				document.querySelector('[data-testid="consent-form"] input[name="csrf_token"]').value = "tampered";
				return true;
			})()`)(ctx, target)
			return err
		}),
		chromedp.Click(`[data-testid="allow"]`),
		chromedp.WaitVisible(`[data-testid="error-title"]`),
		chromedp.Click(`[data-testid="developer-details"] summary`),
		atDesktopAndPhone(t, "error-expired"),
	); err != nil {
		t.Fatal(err)
	}
	if got := text(cctx, t, `[data-testid="error-title"]`); got != "This form has expired" {
		t.Errorf("expired page title %q", got)
	}
	if got := text(cctx, t, `[data-testid="request-id"]`); len(got) != 32 {
		t.Errorf("request reference %q", got)
	}
}

// TestBrowserErrorPageClasses shows each class of authorization error page in
// Chromium at desktop and phone sizes, with its developer details open.
func TestBrowserErrorPageClasses(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	authorize := func(mut func(q url.Values)) string {
		q := url.Values{
			"client_id": {s.ClientID}, "redirect_uri": {s.RedirectURI}, "response_type": {"code"},
			"scope": {"projects:read"}, "state": {"state-12345678"},
		}
		mut(q)
		return s.URL + "/oauth/authorize?" + q.Encode()
	}
	tests := []struct {
		name, url, class, title string
	}{
		{"error-unknown-app", authorize(func(q url.Values) { q.Set("client_id", "no-such-app") }),
			"unknown_app", "We don't recognise this app"},
		{"error-redirect-not-registered", authorize(func(q url.Values) { q.Set("redirect_uri", "https://evil.example/cb") }),
			"redirect_uri_not_registered", "This app wants to send you back to an address it has not registered"},
		{"error-malformed", authorize(func(q url.Values) { q.Add("state", "second-state") }),
			"request_malformed", "This sign-in link is not complete"},
		{"error-not-found", s.URL + "/no/such/page", "", "Page not found"},
	}
	cctx := newChrome(t)
	for _, tt := range tests {
		if err := chromedp.Do(cctx,
			chromedp.Navigate(tt.url),
			chromedp.WaitVisible(`[data-testid="error-title"]`),
			chromedp.Click(`[data-testid="developer-details"] summary`),
			chromedp.WaitVisible(`[data-testid="request-id"]`),
			atDesktopAndPhone(t, tt.name),
		); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := text(cctx, t, `[data-testid="error-title"]`); got != tt.title {
			t.Errorf("%s: title %q, want %q", tt.name, got, tt.title)
		}
		class, err := chromedp.Run(cctx, chromedp.Evaluate[string](`document.querySelector('[data-testid="error-page"]').dataset.errorClass`))
		if err != nil || class != tt.class {
			t.Errorf("%s: class %q (%v), want %q", tt.name, class, err, tt.class)
		}
	}
}
