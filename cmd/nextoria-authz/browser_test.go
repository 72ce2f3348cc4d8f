package main

import (
	"context"
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

// artifactsDir is where browser tests save screenshots (git-ignored).
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("NEXTORIA_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "artifacts", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// newChrome starts Debian's headless Chromium for one test.
func newChrome(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("NEXTORIA_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("Chromium not found at %s (bash scripts/test.sh installs it): %v", path, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// screenshot saves the whole page as a PNG under the artefacts folder.
func screenshot(t *testing.T, name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		buf, err := chromedp.FullScreenshot(100)(ctx, target)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(artifactsDir(t), name), buf, 0o644)
	})
}

// text reads the visible text of the first element matching sel.
func text(ctx context.Context, t *testing.T, sel string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		t.Fatalf("read %s: %v", sel, err)
	}
	return v
}

// TestBrowserSignInAndConsent signs in and clicks Allow in headless
// Chromium, then exchanges the code the app's callback received.
func TestBrowserSignInAndConsent(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	codes := make(chan string, 1)
	callback := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case codes <- r.URL.Query().Get("code"):
		default:
		}
		_, _ = w.Write([]byte("signed in"))
	}))
	t.Cleanup(callback.Close)

	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	// A confidential app's redirect URI must match a registered one exactly.
	conf.ClientID, conf.ClientSecret = s.registerApp(t, "Test App", false, []string{callback.URL + "/callback"}, consent.Names())
	conf.RedirectURL = callback.URL + "/callback"
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("state-browser-1", oauth2.S256ChallengeOption(verifier))

	ctx := newChrome(t)
	err := chromedp.Do(ctx,
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(`[data-testid="login-form"]`),
		screenshot(t, "login.png"),
		chromedp.EmulateViewport(390, 844),
		screenshot(t, "login-phone.png"),
		chromedp.EmulateViewport(1280, 900),
		chromedp.SendKeys(`input[name="email"]`, s.Email),
		chromedp.SendKeys(`input[name="password"]`, e2ePassword),
		chromedp.Click(`[data-testid="sign-in"]`),
		chromedp.WaitVisible(`[data-testid="consent-form"]`),
	)
	if err != nil {
		t.Fatalf("sign-in: %v", err)
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	appName := text(ctx, t, `[data-testid="app-name"]`)
	scopes := text(ctx, t, `[data-testid="scope-list"]`)
	err = chromedp.Do(ctx,
		screenshot(t, "consent.png"),
		chromedp.EmulateViewport(390, 844),
		screenshot(t, "consent-phone.png"),
		chromedp.EmulateViewport(1280, 900),
		chromedp.Click(`[data-testid="allow"]`),
	)
	if err != nil {
		t.Fatalf("consent: %v", err)
	}
	if title == "" {
		t.Error("the sign-in page has no title")
	}
	if appName != "Test App" {
		t.Errorf("consent shows app %q", appName)
	}
	for _, want := range []string{"See your projects", "See the tasks in all your projects", "projects:read"} {
		if !strings.Contains(scopes, want) {
			t.Errorf("consent scopes %q lack %q", scopes, want)
		}
	}
	var code string
	select {
	case code = <-codes:
	case <-time.After(30 * time.Second):
		t.Fatal("the app's callback was never reached")
	}
	if code == "" {
		t.Fatal("callback without a code")
	}
	tok, err := conf.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	s.verifyJWT(t, tok.AccessToken)
}

// TestBrowserErrorAndKeyboard: an invalid request shows the error page, and
// the consent decision can be made with the keyboard alone.
func TestBrowserErrorAndKeyboard(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	ctx := newChrome(t)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/oauth/authorize?client_id=nope&response_type=code&scope=projects:read&state=state-12345678"),
		chromedp.WaitVisible(`[data-testid="error-title"]`),
		screenshot(t, "error.png"),
	); err != nil {
		t.Fatal(err)
	}
	if errTitle := text(ctx, t, `[data-testid="error-title"]`); errTitle == "" {
		t.Fatal("error page without a title")
	}

	denied := make(chan string, 1)
	callback := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case denied <- r.URL.Query().Get("error"):
		default:
		}
	}))
	t.Cleanup(callback.Close)
	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	conf.ClientID, conf.ClientSecret = s.registerApp(t, "Test App", false, []string{callback.URL + "/callback"}, consent.Names())
	conf.RedirectURL = callback.URL + "/callback"
	v := oauth2.GenerateVerifier()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(conf.AuthCodeURL("state-keyboard", oauth2.S256ChallengeOption(v))),
		chromedp.WaitVisible(`input[name="email"]`),
		chromedp.Focus(`input[name="email"]`),
		chromedp.KeyEvent(s.Email),
		chromedp.KeyEvent("\t"),
		chromedp.KeyEvent(e2ePassword),
		chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(`[data-testid="consent-form"]`),
		chromedp.Focus(`[data-testid="deny"]`),
		chromedp.KeyEvent("\r"),
	); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-denied:
		if e != "access_denied" {
			t.Fatalf("keyboard Deny answered %q", e)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("keyboard Deny never reached the app")
	}
}
