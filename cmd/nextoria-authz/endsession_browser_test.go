package main

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"
)

// recordingApp is an app's web server: it answers every request and sends
// the first request's query parameter param on the channel (the browser's
// own favicon request excepted).
func recordingApp(t *testing.T, param string) (*httptest.Server, <-chan string) {
	t.Helper()
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/favicon.ico" { // asked for by the browser, not sent by the server
			http.NotFound(w, r)
			return
		}
		select {
		case got <- r.URL.Query().Get(param):
		default:
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

// TestBrowserSignInAsIdentity: in Chromium, an authorization request for
// identity scopes only, with a login_hint, lands on a sign-in page that names
// the app, shows its placeholder logo and has the e-mail filled in; the
// consent screen reads as a sign-in to the app, and Continue reaches the
// app's callback.
func TestBrowserSignInAsIdentity(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	callback, codes := recordingApp(t, "code")
	conf := s.oauthConfig(oauth2.AuthStyleInParams, "openid", "profile", "email")
	conf.ClientID, conf.ClientSecret = s.registerApp(t, "Lovelace Notes", false, []string{callback.URL + "/callback"}, []string{"openid", "profile", "email"})
	conf.RedirectURL = callback.URL + "/callback"
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("state-identity-1", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("login_hint", s.Email))

	ctx := newChrome(t)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(testID("login-form")),
		bothWidths(t, "login-for-app"),
	); err != nil {
		t.Fatalf("sign-in page: %v", err)
	}
	if got := text(ctx, t, testID("login-continue")); got != "to continue to Lovelace Notes" {
		t.Errorf("sign-in page says %q", got)
	}
	if got := text(ctx, t, testID("login-app-logo")); got != "L" {
		t.Errorf("placeholder logo %q", got)
	}
	if email, err := chromedp.Run(ctx, chromedp.Value(testID("email"))); err != nil || email != s.Email {
		t.Errorf("e-mail field = %q (%v), want the login_hint", email, err)
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(testID("password"), e2ePassword),
		chromedp.Click(testID("sign-in")),
		chromedp.WaitVisible(testID("consent-form")),
		bothWidths(t, "consent-sign-in"),
	); err != nil {
		t.Fatalf("sign-in: %v", err)
	}
	heading := text(ctx, t, "#consent-title")
	if strings.Join(strings.Fields(heading), " ") != "Sign in to Lovelace Notes with Nextoria Hub" {
		t.Errorf("consent heading %q", heading)
	}
	identity := text(ctx, t, testID("scope-group-identity"))
	for _, want := range []string{"See your name", "See your e-mail address"} {
		if !strings.Contains(identity, want) {
			t.Errorf("identity group %q lacks %q", identity, want)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Click(testID("allow"))); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-codes:
		if code == "" {
			t.Error("callback without a code")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the app's callback was never reached")
	}
}

// TestBrowserEndSession: in Chromium, RP-initiated logout with a registered
// post-logout URI confirms, signs out and lands on the app's URI with state
// (the settings then ask to sign in again); with an unregistered URI it
// lands on the server's own signed-out page.
func TestBrowserEndSession(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	app, states := recordingApp(t, "state")
	bye := app.URL + "/bye"
	s.setPostLogoutURIs(t, s.ClientID, bye)

	ctx := newChrome(t)

	chromeSignIn(ctx, t, s)
	q := url.Values{"id_token_hint": {s.idTokenHint(t, s.ClientID, s.URL, nil)}, "post_logout_redirect_uri": {bye}, "state": {"bye-state-1"}}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/oauth/end-session?"+q.Encode()),
		chromedp.WaitVisible(testID("end-session-form")),
		bothWidths(t, "end-session"),
	); err != nil {
		t.Fatalf("confirmation: %v", err)
	}
	confirmSignOut(ctx, t, s, states, "bye-state-1")

	chromeSignIn(ctx, t, s)
	q = url.Values{"client_id": {s.ClientID}, "post_logout_redirect_uri": {app.URL + "/not-registered"}, "state": {"x"}}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/oauth/end-session?"+q.Encode()),
		chromedp.WaitVisible(testID("end-session-form")),
		chromedp.Click(testID("confirm-sign-out")),
		chromedp.WaitVisible(testID("signed-out")),
		bothWidths(t, "signed-out"),
	); err != nil {
		t.Fatalf("unregistered URI: %v", err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || !strings.HasPrefix(loc, s.URL+"/oauth/end-session") {
		t.Errorf("ended at %q (%v), want our signed-out page", loc, err)
	}
	select {
	case st := <-states:
		t.Errorf("the unregistered URI was reached (state %q)", st)
	default:
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/settings"),
		chromedp.WaitVisible(testID("login-form")),
	); err != nil {
		t.Fatalf("still signed in: %v", err)
	}
}

// TestBrowserEndSessionFormPost: in Chromium, an app's page on its own site
// posts the end-session request as a form. The browser lands on the
// confirmation still signed in (the server continued the post as a GET, which
// carries the session cookie), and confirming reaches the app's post-logout
// URI with its state.
func TestBrowserEndSessionFormPost(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	landing, states := recordingApp(t, "state")
	bye := landing.URL + "/bye"
	s.setPostLogoutURIs(t, s.ClientID, bye)
	hint := s.idTokenHint(t, s.ClientID, s.URL, nil)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><form method="post" action="%s/oauth/end-session">
<input type="hidden" name="id_token_hint" value="%s">
<input type="hidden" name="post_logout_redirect_uri" value="%s">
<input type="hidden" name="state" value="posted-state">
<button type="submit" data-testid="app-sign-out">Sign out</button></form>`,
			html.EscapeString(s.URL), html.EscapeString(hint), html.EscapeString(bye))
	}))
	t.Cleanup(app.Close)

	ctx := newChrome(t)
	chromeSignIn(ctx, t, s)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(app.URL),
		chromedp.Click(testID("app-sign-out")),
		chromedp.WaitVisible(testID("end-session-form")),
	); err != nil {
		t.Fatalf("the app's form post did not reach the confirmation: %v", err)
	}
	confirmSignOut(ctx, t, s, states, "posted-state")
}

// chromeSignIn signs the test user in on the sign-in page.
func chromeSignIn(ctx context.Context, t *testing.T, s *e2eServer) {
	t.Helper()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/login"),
		chromedp.WaitVisible(testID("login-form")),
		chromedp.SendKeys(testID("email"), s.Email),
		chromedp.SendKeys(testID("password"), e2ePassword),
		chromedp.Click(testID("sign-in")),
		chromedp.WaitVisible(testID("settings-links")),
	); err != nil {
		t.Fatalf("sign-in: %v", err)
	}
}

// confirmSignOut checks that the end-session confirmation names the test app,
// confirms it, and checks that the browser reached the app's post-logout URI
// with state and that the login session is gone.
func confirmSignOut(ctx context.Context, t *testing.T, s *e2eServer, states <-chan string, state string) {
	t.Helper()
	if got := text(ctx, t, testID("end-session-app-name")); got != "Test App" {
		t.Errorf("confirmation names %q", got)
	}
	if err := chromedp.Do(ctx, chromedp.Click(testID("confirm-sign-out"))); err != nil {
		t.Fatal(err)
	}
	select {
	case st := <-states:
		if st != state {
			t.Errorf("state %q, want %q", st, state)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the browser never reached the post-logout URI")
	}
	// The app has answered; wait until the browser has shown its page, or
	// the next navigation would abort that one and itself (ERR_ABORTED).
	waitLoadedOffServer(ctx, t, s.URL)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.URL+"/settings"),
		chromedp.WaitVisible(testID("login-form")),
	); err != nil {
		t.Fatalf("after the sign-out /settings does not ask to sign in: %v", err)
	}
}

// waitLoadedOffServer waits until the browser has finished loading a page
// that is not served by the server at serverURL.
func waitLoadedOffServer(ctx context.Context, t *testing.T, serverURL string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		page, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[location.href, document.readyState]`))
		if err == nil && len(page) == 2 && !strings.HasPrefix(page[0], serverURL) && page[1] == "complete" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the browser is still at %q (%v)", page, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
