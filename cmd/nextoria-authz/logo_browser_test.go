package main

import (
	"bytes"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// previewJS reports the logo preview as "scheme naturalWidth visible", or ""
// while there is no loaded preview.
const previewJS = `(() => {
	const i = document.querySelector('img[data-testid="logo-preview"]');
	if (!i || !i.complete || i.naturalWidth === 0) return "";
	return i.src.split(":")[0] + " " + i.naturalWidth + " " + (i.offsetWidth > 0);
})()`

// TestBrowserLogoPreview chooses a logo in Chromium and sees its preview
// (a blob: image the page's CSP allows), sends the form with a blank name and
// finds the logo still there (now a data: image of the kept logo) with the
// error, then fixes the name without choosing the file again: the app is
// registered with the logo.
func TestBrowserLogoPreview(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	logo := writeLogo(t)
	ctx := newChrome(t)
	preview := func(step, want string) {
		t.Helper()
		got, err := chromedp.Run(ctx, chromedp.Poll[string](previewJS, chromedp.WithPollingTimeout(10*time.Second)))
		if err != nil || got != want {
			t.Errorf("%s: preview = %q, %v; want %q", step, got, err, want)
		}
	}

	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/settings/api/apps/new"),
		chromedp.WaitVisible(`[data-testid="login-form"]`),
		chromedp.SendKeys(`input[name="email"]`, s.Email),
		chromedp.SendKeys(`input[name="password"]`, e2ePassword),
		chromedp.Click(`[data-testid="sign-in"]`),
		chromedp.WaitVisible(`[data-testid="app-form"]`),
	); err != nil {
		t.Fatalf("sign in: %v", err)
	}
	if v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('img[data-testid="logo-preview"]').hidden`)); err != nil || !v {
		t.Errorf("the preview shows before a file is chosen (hidden = %v, %v)", v, err)
	}

	// Choosing a file previews it.
	if err := chromedp.Do(ctx,
		chromedp.SetUploadFiles(`#logo`, []string{logo}),
	); err != nil {
		t.Fatalf("choose the logo: %v", err)
	}
	preview("chosen", "blob 96 true")
	if err := chromedp.Do(ctx, bothWidths(t, "settings-logo-preview")); err != nil {
		t.Fatal(err)
	}

	// A blank name: the form comes back with the error and the logo kept.
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(`#name`, "   "), // passes the browser's required check
		chromedp.SendKeys(`#redirect_uris`, s.RedirectURI),
		chromedp.Click(`#scope-projects-read`),
		chromedp.Click(`[data-testid="submit"]`),
		chromedp.WaitVisible(`[data-testid="error-summary"]`),
	); err != nil {
		t.Fatalf("submit with a blank name: %v", err)
	}
	if msg := text(ctx, t, `[data-testid="name-error"]`); !strings.Contains(msg, "App Name is required") {
		t.Errorf("name message = %q", msg)
	}
	preview("kept", "data 96 true")
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(`[data-testid="remove-kept-logo"]`),
		bothWidths(t, "settings-logo-kept"),
	); err != nil {
		t.Fatal(err)
	}

	// The name fixed, no file chosen again: registered with the logo.
	if err := chromedp.Do(ctx,
		chromedp.SetValue(`#name`, "Kept Logo App"),
		chromedp.Click(`[data-testid="submit"]`),
		chromedp.WaitVisible(`[data-testid="secret-once"]`),
	); err != nil {
		t.Fatalf("submit again: %v", err)
	}
	if w := logoLoaded(ctx, t); w != 96 {
		t.Errorf("app logo naturalWidth = %v, want 96", w)
	}
	clientID := text(ctx, t, `#client-id`)
	stored, err := s.store.GetAppLogo(t.Context(), clientID)
	if err != nil {
		t.Fatalf("the app has no logo: %v", err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(stored.Data))
	if err != nil || cfg.Width != 96 || cfg.Height != 96 {
		t.Errorf("stored logo = %+v, %v; want a 96x96 PNG", cfg, err)
	}
}
