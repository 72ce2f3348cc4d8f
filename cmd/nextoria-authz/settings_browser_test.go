package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/nextoria/authz/consent"
)

// writeLogo writes a small PNG for the upload field and returns its path.
func writeLogo(t *testing.T) string {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 96, 96))
	for y := range 96 {
		for x := range 96 {
			c := color.NRGBA{R: 59, G: 79, B: 216, A: 255}
			if (x-48)*(x-48)+(y-48)*(y-48) < 30*30 {
				c = color.NRGBA{R: 245, G: 165, B: 36, A: 255}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "logo.png")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Review viewports: every settings screen is saved at both sizes.
const (
	desktopWidth, desktopHeight = 1280, 800
	phoneWidth, phoneHeight     = 390, 844
)

// bothWidths saves a screenshot of the page at 1280×800 and at a phone's
// 390×844 (NAME-1280x800.png, NAME-390x844.png), and checks at both that the
// page does not scroll sideways and, on the phone, that no link of the
// settings menu wraps onto a second line.
func bothWidths(t *testing.T, name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		// Phones overlay their scroll bars: lay out and capture the full
		// width. (Setting a style through the CSSOM is not inline style to
		// the CSP.)
		if _, err := chromedp.Evaluate[bool](`document.documentElement.style.setProperty('scrollbar-width', 'none'), true`)(ctx, target); err != nil {
			return err
		}
		for _, v := range []struct {
			w, h  int64
			phone bool
		}{{desktopWidth, desktopHeight, false}, {phoneWidth, phoneHeight, true}} {
			if _, err := chromedp.EmulateViewport(v.w, v.h)(ctx, target); err != nil {
				return err
			}
			if _, err := screenshot(t, fmt.Sprintf("%s-%dx%d.png", name, v.w, v.h))(ctx, target); err != nil {
				return err
			}
			// clientWidth is the viewport less any vertical scroll bar.
			widths, err := chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, document.documentElement.clientWidth, window.innerWidth]`)(ctx, target)
			if err != nil {
				return err
			}
			if len(widths) != 3 || widths[0] > widths[1] {
				t.Errorf("%s: the page scrolls sideways at %dpx (scrollWidth, clientWidth, innerWidth = %v)", name, v.w, widths)
			}
			if !v.phone {
				continue
			}
			wrapped, err := chromedp.Evaluate[[]string](`[...document.querySelectorAll('.settings-menu a')].filter(a => {
				const r = document.createRange();
				r.selectNodeContents(a);
				return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size > 1;
			}).map(a => a.textContent.trim())`)(ctx, target)
			if err != nil {
				return err
			}
			if len(wrapped) > 0 {
				t.Errorf("%s: settings menu links wrap on a phone: %q", name, wrapped)
			}
		}
		_, err := chromedp.EmulateViewport(desktopWidth, desktopHeight)(ctx, target)
		return err
	})
}

// logoLoaded waits until the first logo image of the page has loaded and
// reports its natural width.
func logoLoaded(ctx context.Context, t *testing.T) float64 {
	t.Helper()
	w, err := chromedp.Run(ctx, chromedp.Poll[float64](
		`(() => { const i = document.querySelector('img[data-testid="app-logo"]'); return i && i.complete ? i.naturalWidth : 0; })()`,
		chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil {
		t.Fatalf("logo never loaded: %v", err)
	}
	return w
}

// callbackServer stands in for the app's redirect URI and passes on codes.
func callbackServer(t *testing.T) (string, <-chan string) {
	t.Helper()
	codes := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case codes <- r.URL.Query().Get("code"):
		default:
		}
		_, _ = w.Write([]byte("authorized"))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/callback", codes
}

func waitCode(t *testing.T, codes <-chan string) string {
	t.Helper()
	select {
	case code := <-codes:
		if code == "" {
			t.Fatal("callback without a code")
		}
		return code
	case <-time.After(30 * time.Second):
		t.Fatal("the app's callback was never reached")
	}
	return ""
}

// TestBrowserSettingsApps registers an app with a logo in Chromium, sees its
// secret once, authorizes with it (its name and logo on the consent screen),
// rotates the secret with an overlap and then at once, and deletes it,
// checking the token endpoint after each step.
func TestBrowserSettingsApps(t *testing.T) {
	t.Parallel()
	s := startE2E(t, func(c *Config) { c.OAuth.RefreshGracePeriod = 0 })
	logo := writeLogo(t)
	redirect, codes := callbackServer(t)
	ctx := newChrome(t)

	// Signed out, the settings send the browser to sign in and back.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/settings/api/apps"),
		chromedp.WaitVisible(`[data-testid="login-form"]`),
		chromedp.SendKeys(`input[name="email"]`, s.Email),
		chromedp.SendKeys(`input[name="password"]`, e2ePassword),
		chromedp.Click(`[data-testid="sign-in"]`),
		chromedp.WaitVisible(`[data-testid="app-list"]`),
		chromedp.Click(`[data-testid="register-app"]`),
		chromedp.WaitVisible(`[data-testid="app-form"]`),
		bothWidths(t, "settings-register"),
		// A first try with mistakes: plain http to another host, no scope.
		chromedp.SendKeys(`#name`, "Acme Dashboard"),
		chromedp.SendKeys(`#redirect_uris`, "http://acme.example/callback"),
		chromedp.Click(`[data-testid="submit"]`),
		chromedp.WaitVisible(`[data-testid="error-summary"]`),
		bothWidths(t, "settings-register-errors"),
	); err != nil {
		t.Fatalf("register with mistakes: %v", err)
	}
	if msg := text(ctx, t, `[data-testid="redirect_uris-error"]`); !strings.Contains(msg, "must use https") {
		t.Errorf("redirect URI message = %q", msg)
	}
	if msg := text(ctx, t, `[data-testid="scopes-error"]`); !strings.Contains(msg, "At least one scope") {
		t.Errorf("scopes message = %q", msg)
	}
	if v, err := chromedp.Run(ctx, chromedp.Value(`#name`)); err != nil || v != "Acme Dashboard" {
		t.Errorf("name kept = %q, %v", v, err)
	}

	// Corrected, with a logo; submitted with the keyboard.
	if err := chromedp.Do(ctx,
		chromedp.SetValue(`#redirect_uris`, redirect), // a confidential app's redirect must match exactly
		chromedp.Click(`#scope-projects-read`),
		chromedp.Click(`#scope-tasks-read`),
		chromedp.SetUploadFiles(`#logo`, []string{logo}),
		chromedp.Focus(`[data-testid="submit"]`),
		chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(`[data-testid="secret-once"]`),
		chromedp.WaitVisible(`[data-testid="copy-secret"]`), // the script ran under the CSP
		bothWidths(t, "settings-secret-once"),
	); err != nil {
		t.Fatalf("register: %v", err)
	}
	first := text(ctx, t, `[data-testid="client-secret"]`)
	clientID := text(ctx, t, `#client-id`)
	if len(first) != 43 || len(clientID) != 24 {
		t.Fatalf("secret %q, client id %q", first, clientID)
	}
	if w := logoLoaded(ctx, t); w != 96 {
		t.Errorf("logo naturalWidth = %v, want 96", w)
	}
	if err := chromedp.Do(ctx, chromedp.Click(`[data-testid="copy-secret"]`)); err != nil {
		t.Fatal(err)
	}
	if status, err := chromedp.Run(ctx, chromedp.Poll[string](
		`document.querySelector('[data-testid="copy-status"]').textContent`, chromedp.WithPollingTimeout(5*time.Second))); err != nil || status == "" {
		t.Errorf("copy status = %q, %v", status, err)
	}

	// A reload no longer shows the secret.
	if err := chromedp.Do(ctx,
		chromedp.Reload(),
		chromedp.WaitVisible(`[data-testid="rotate-form"]`),
		chromedp.WaitNotPresent(`[data-testid="secret-once"]`),
		bothWidths(t, "settings-app-detail"),
		chromedp.Navigate(s.URL+"/settings/api/apps"),
		chromedp.WaitVisible(`[data-testid="app-list"]`),
		bothWidths(t, "settings-apps"),
	); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if strings.Contains(text(ctx, t, `body`), first) {
		t.Fatal("the secret is still on the page")
	}

	// Authorize with the new app: its name and logo are on the consent screen.
	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	conf.ClientID, conf.ClientSecret, conf.RedirectURL = clientID, first, redirect
	verifier := oauth2.GenerateVerifier()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(conf.AuthCodeURL("state-settings-1", oauth2.S256ChallengeOption(verifier))),
		chromedp.WaitVisible(`[data-testid="consent-form"]`),
	); err != nil {
		t.Fatalf("consent: %v", err)
	}
	if name := text(ctx, t, `[data-testid="app-name"]`); name != "Acme Dashboard" {
		t.Errorf("consent shows %q", name)
	}
	if w := logoLoaded(ctx, t); w != 96 {
		t.Errorf("consent logo naturalWidth = %v, want 96", w)
	}
	if err := chromedp.Do(ctx, screenshot(t, "consent-app-logo.png"), chromedp.Click(`[data-testid="allow"]`)); err != nil {
		t.Fatal(err)
	}
	tok, err := conf.Exchange(t.Context(), waitCode(t, codes), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange with the secret shown once: %v", err)
	}
	refresh := func(clientSecret string) error {
		c := *conf
		c.ClientSecret = clientSecret
		next, err := c.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err == nil {
			tok = next
		}
		return err
	}

	// Rotate, keeping the current secret for an hour.
	rotate := func(overlap string) string {
		t.Helper()
		if err := chromedp.Do(ctx,
			chromedp.Navigate(s.URL+"/settings/api/apps/"+clientID),
			chromedp.WaitVisible(`[data-testid="rotate-form"]`),
			chromedp.Click(`#overlap-`+overlap),
			chromedp.Click(`[data-testid="rotate"]`),
		); err != nil {
			t.Fatalf("rotate %s: %v", overlap, err)
		}
		if overlap == "now" {
			// Stopping the current secret at once asks first.
			if err := chromedp.Do(ctx,
				chromedp.WaitVisible(`[data-testid="rotate-now-confirm"]`),
				bothWidths(t, "settings-rotate-now-confirm"),
				chromedp.Click(`[data-testid="confirm-rotate"]`),
			); err != nil {
				t.Fatalf("confirm rotating now: %v", err)
			}
		}
		if err := chromedp.Do(ctx, chromedp.WaitVisible(`[data-testid="secret-once"]`)); err != nil {
			t.Fatalf("rotate %s: %v", overlap, err)
		}
		return text(ctx, t, `[data-testid="client-secret"]`)
	}
	second := rotate("1h")
	if second == first || len(second) != 43 {
		t.Fatalf("rotated secret %q", second)
	}
	if flash := text(ctx, t, `[data-testid="flash"]`); !strings.Contains(flash, "1 hour") {
		t.Errorf("flash = %q", flash)
	}
	if err := refresh(first); err != nil {
		t.Fatalf("the old secret must work during the overlap: %v", err)
	}
	if err := refresh(second); err != nil {
		t.Fatalf("the new secret: %v", err)
	}

	// Rotate again, ending the current secret now.
	third := rotate("now")
	if err := refresh(second); tokenError(t, err) != "invalid_client" {
		t.Fatalf("the replaced secret must fail at once: %v", err)
	}
	if err := refresh(third); err != nil {
		t.Fatalf("the newest secret: %v", err)
	}

	// Delete, with a confirmation step.
	if err := chromedp.Do(ctx,
		chromedp.Reload(),
		chromedp.WaitVisible(`[data-testid="delete"]`),
		chromedp.Click(`[data-testid="delete"]`),
		chromedp.WaitVisible(`[data-testid="delete-form"]`),
		bothWidths(t, "settings-delete-confirm"),
		chromedp.Click(`[data-testid="confirm-delete"]`),
		chromedp.WaitVisible(`[data-testid="flash"]`),
	); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if flash := text(ctx, t, `[data-testid="flash"]`); !strings.Contains(flash, "deleted") {
		t.Errorf("flash = %q", flash)
	}
	if code := tokenError(t, refresh(third)); code != "invalid_client" && code != "invalid_grant" {
		t.Fatalf("refresh after delete: %s", code)
	}
}

// TestBrowserAuthorizedApps authorizes an app in Chromium, lists it on the
// authorized-apps page and revokes it, confirming, with the keyboard alone.
func TestBrowserAuthorizedApps(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	redirect, codes := callbackServer(t)
	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	// A confidential app's redirect URI must match a registered one exactly.
	conf.ClientID, conf.ClientSecret = s.registerApp(t, "Test App", false, []string{redirect}, consent.Names())
	conf.RedirectURL = redirect
	verifier := oauth2.GenerateVerifier()
	ctx := newChrome(t)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(conf.AuthCodeURL("state-granted-1", oauth2.S256ChallengeOption(verifier))),
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
	introspect := s.introspector(t)
	if m := introspect(tok.AccessToken, ""); m["active"] != true {
		t.Fatalf("before revoking: %v", m)
	}

	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/settings/authorized-apps"),
		chromedp.WaitVisible(`[data-testid="grant-list"]`),
		bothWidths(t, "settings-authorized-apps"),
	); err != nil {
		t.Fatal(err)
	}
	if name := text(ctx, t, `[data-testid="grant-app-name"]`); name != "Test App" {
		t.Errorf("authorized app = %q", name)
	}
	scopes := text(ctx, t, `[data-testid="grant-scopes"]`)
	for _, want := range []string{"List and read project data", "Read task data across projects"} {
		if !strings.Contains(scopes, want) {
			t.Errorf("scopes %q lack %q", scopes, want)
		}
	}
	if err := chromedp.Do(ctx,
		chromedp.Focus(`[data-testid="revoke"]`),
		chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(`[data-testid="grant-revoke-confirm"]`),
		chromedp.Focus(`[data-testid="confirm-revoke"]`),
		chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(`[data-testid="no-grants"]`),
		screenshot(t, "settings-authorized-apps-revoked.png"),
	); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	for _, tk := range []string{tok.AccessToken, tok.RefreshToken} {
		if m := introspect(tk, ""); m["active"] != false {
			t.Errorf("after revoking in the browser the app's token introspects %v", m)
		}
	}
	_, err = conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if code := tokenError(t, err); code != "invalid_grant" {
		t.Fatalf("refresh after revoking = %s, want invalid_grant", code)
	}
}
