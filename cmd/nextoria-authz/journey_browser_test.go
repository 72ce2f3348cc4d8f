package main

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"
)

// journeyApp is the third-party app of a browser journey: a loopback server
// whose callback records every query it receives and shows a page of its own.
type journeyApp struct {
	name string
	srv  *httptest.Server
	conf *oauth2.Config

	mu   sync.Mutex
	hits []url.Values
}

// newJourneyApp registers an app named name whose only redirect URI is the
// callback of a new loopback server, so each journey starts with no consent.
func newJourneyApp(t *testing.T, s *e2eServer, name string) *journeyApp {
	t.Helper()
	a := &journeyApp{name: name}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		a.mu.Lock()
		a.hits = append(a.hits, r.URL.Query())
		a.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!DOCTYPE html><title>%[1]s</title><h1 data-testid="app-callback">%[1]s</h1><p data-testid="app-query">%[2]s</p>`,
			html.EscapeString(name), html.EscapeString(r.URL.RawQuery))
	}))
	t.Cleanup(a.srv.Close)
	redirect := a.srv.URL + "/callback"
	clientID, clientSecret := s.registerApp(t, name, false, []string{redirect}, []string{"projects:read", "tasks:read"})
	a.conf = &oauth2.Config{
		ClientID:     clientID,
		ClientSecret: clientSecret,
		Endpoint: oauth2.Endpoint{
			AuthURL:   s.URL + "/oauth/authorize",
			TokenURL:  s.URL + "/v1/oauth/token",
			AuthStyle: oauth2.AuthStyleInParams,
		},
		RedirectURL: redirect,
		Scopes:      []string{"projects:read", "tasks:read"},
	}
	return a
}

// authURL is the link the app sends the browser to; it returns the PKCE
// verifier with it.
func (a *journeyApp) authURL(state string, opts ...oauth2.AuthCodeOption) (string, string) {
	v := oauth2.GenerateVerifier()
	return a.conf.AuthCodeURL(state, append(opts, oauth2.S256ChallengeOption(v))...), v
}

// queries returns a copy of the callback queries received so far.
func (a *journeyApp) queries() []url.Values {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]url.Values(nil), a.hits...)
}

// journey is one browser journey: a fresh Chromium profile (newChrome gives
// each call its own user-data-dir) against a shared server.
type journey struct {
	t   *testing.T
	s   *e2eServer
	ctx context.Context
}

func newJourney(t *testing.T, s *e2eServer) *journey {
	t.Helper()
	j := &journey{t: t, s: s, ctx: newChrome(t)}
	j.run("set the desktop viewport", chromedp.EmulateViewport(1280, 800))
	return j
}

// run performs actions in the journey's tab and fails the test on error.
func (j *journey) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	j.t.Helper()
	if err := chromedp.Do(j.ctx, actions...); err != nil {
		j.t.Fatalf("%s: %v (browser at %s)", what, err, j.location())
	}
}

// within runs actions with a shorter deadline, so that a page that never
// comes fails the journey quickly with the place the browser got stuck.
func (j *journey) within(d time.Duration, what string, actions ...chromedp.Action[chromedp.Void]) {
	j.t.Helper()
	ctx, cancel := context.WithTimeout(j.ctx, d)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		j.t.Fatalf("%s: %v (browser at %s)", what, err, j.location())
	}
}

// waitJS waits until the JavaScript expression cond is true in the page.
func (j *journey) waitJS(what, cond string) {
	j.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(j.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			j.t.Fatalf("%s: not after 30s (last error %v; browser at %s)", what, err, j.location())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// location is the URL of the page the browser shows.
func (j *journey) location() string {
	ctx, cancel := context.WithTimeout(j.ctx, 5*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "unknown: " + err.Error()
	}
	return loc
}

// text is the visible text of the first element with data-testid id.
func (j *journey) text(id string) string {
	j.t.Helper()
	ctx, cancel := context.WithTimeout(j.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Text(testID(id)))
	if err != nil {
		j.t.Fatalf("read %s: %v (browser at %s)", id, err, j.location())
	}
	return strings.TrimSpace(v)
}

// shots saves the current screen at 1280×800 and 390×844 as
// journey-<name>-desktop.png and journey-<name>-phone.png.
func (j *journey) shots(name string) {
	j.t.Helper()
	j.run("screenshot "+name,
		chromedp.EmulateViewport(1280, 800),
		screenshot(j.t, "journey-"+name+"-desktop.png"),
		chromedp.EmulateViewport(390, 844),
		screenshot(j.t, "journey-"+name+"-phone.png"),
		chromedp.EmulateViewport(1280, 800),
	)
}

func testID(id string) string { return `[data-testid="` + id + `"]` }

// open navigates to u and waits for the element with data-testid id.
func (j *journey) open(u, id string) {
	j.t.Helper()
	j.within(30*time.Second, "open "+id, chromedp.Navigate(u), chromedp.WaitVisible(testID(id)))
}

// signIn fills the sign-in form shown and submits it.
func (j *journey) signIn(email, password string) {
	j.t.Helper()
	j.run("sign in",
		chromedp.WaitVisible(testID("login-form")),
		// SetValue replaces what the page filled in (the e-mail is kept
		// after a failed attempt); the password is typed as a person would.
		chromedp.SetValue(testID("email"), email),
		chromedp.SendKeys(testID("password"), password),
		chromedp.Click(testID("sign-in")),
	)
}

// waitFor waits for the element with data-testid id to show.
func (j *journey) waitFor(id string) {
	j.t.Helper()
	j.within(30*time.Second, "wait for "+id, chromedp.WaitVisible(testID(id)))
}

// callback waits for the browser to show the app's callback page and
// returns the query the browser ended up with there.
func (j *journey) callback(a *journeyApp) url.Values {
	j.t.Helper()
	j.within(30*time.Second, "reach the app's callback", chromedp.WaitVisible(testID("app-callback")))
	loc, err := url.Parse(j.location())
	if err != nil {
		j.t.Fatal(err)
	}
	if got, want := loc.Scheme+"://"+loc.Host+loc.Path, a.conf.RedirectURL; got != want {
		j.t.Fatalf("browser ended at %s, want the app's redirect URI %s", loc, want)
	}
	return loc.Query()
}

// wantCode checks a successful callback query (code, state, iss) and
// exchanges the code, as the app would.
func (j *journey) wantCode(a *journeyApp, q url.Values, state, verifier string) {
	j.t.Helper()
	if e := q.Get("error"); e != "" {
		j.t.Fatalf("callback error %q: %s", e, q.Get("error_description"))
	}
	if q.Get("state") != state {
		j.t.Errorf("callback state = %q, want %q", q.Get("state"), state)
	}
	if q.Get("iss") != j.s.URL {
		j.t.Errorf("callback iss = %q, want %q", q.Get("iss"), j.s.URL)
	}
	if q.Get("code") == "" {
		j.t.Fatal("callback without a code")
	}
	tok, err := a.conf.Exchange(j.t.Context(), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		j.t.Fatalf("exchange the callback's code: %v", err)
	}
	j.s.verifyJWT(j.t, tok.AccessToken)
}

// consentFor checks that the consent screen shown is for app a.
func (j *journey) consentFor(a *journeyApp) {
	j.t.Helper()
	j.waitFor("consent-form")
	if got := j.text("app-name"); !strings.Contains(got, a.name) {
		j.t.Errorf("consent names app %q, want %q", got, a.name)
	}
}

// TestBrowserJourneys walks every journey of the authorization flow in
// headless Chromium, each on a fresh browser profile, and checks what the
// page shows and where the browser ends up. Screenshots of each screen are
// saved at 1280×800 and 390×844.
func TestBrowserJourneys(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	start := time.Now()
	t.Cleanup(func() { t.Logf("journeys took %s", time.Since(start).Round(time.Millisecond)) })

	t.Run("FirstSignInConsentCallback", func(t *testing.T) {
		a := newJourneyApp(t, s, "Journey Planner")
		j := newJourney(t, s)
		authURL, verifier := a.authURL("state-first-0001")
		j.open(authURL, "login-form")
		j.shots("sign-in")
		j.signIn(s.Email, e2ePassword)
		j.consentFor(a)
		if got := j.text("user-email"); !strings.Contains(got, s.Email) {
			t.Errorf("consent shows account %q", got)
		}
		j.shots("consent")
		j.run("allow", chromedp.Click(testID("allow")))
		j.wantCode(a, j.callback(a), "state-first-0001", verifier)
		j.shots("callback")
	})

	t.Run("ReturningUserFreshProfile", func(t *testing.T) {
		// The user authorized the app on another device: this profile has
		// no cookies, the server remembers the consent.
		a := newJourneyApp(t, s, "Returning Reader")
		if err := s.store.SaveGrant(t.Context(), s.UserID, a.conf.ClientID, a.conf.Scopes); err != nil {
			t.Fatal(err)
		}
		j := newJourney(t, s)
		authURL, verifier := a.authURL("state-return-0001")
		j.open(authURL, "login-form")
		j.signIn(s.Email, e2ePassword)
		// Before the sign-in form's navigation ended on a page of our own,
		// Chromium aborted it at the redirect to the app (form-action
		// 'self') and the browser stayed on the sign-in page.
		j.wantCode(a, j.callback(a), "state-return-0001", verifier)
		if n := len(a.queries()); n != 1 {
			t.Errorf("the app's callback was called %d times, want 1", n)
		}
	})

	t.Run("WrongPasswordThenRight", func(t *testing.T) {
		a := newJourneyApp(t, s, "Second Try")
		j := newJourney(t, s)
		authURL, verifier := a.authURL("state-wrong-0001")
		j.open(authURL, "login-form")
		j.signIn(s.Email, "not the password")
		j.waitFor("login-error")
		if got := j.text("login-error"); got == "" {
			t.Error("the sign-in error is empty")
		}
		email, err := chromedp.Run(j.ctx, chromedp.Value(testID("email")))
		if err != nil {
			t.Fatal(err)
		}
		if email != s.Email {
			t.Errorf("the e-mail field holds %q after a failed sign-in, want %q", email, s.Email)
		}
		j.shots("sign-in-error")
		j.signIn(s.Email, e2ePassword)
		j.consentFor(a)
		j.run("allow", chromedp.Click(testID("allow")))
		j.wantCode(a, j.callback(a), "state-wrong-0001", verifier)
	})

	t.Run("PromptConsentAsksAgain", func(t *testing.T) {
		a := newJourneyApp(t, s, "Prompt Again")
		if err := s.store.SaveGrant(t.Context(), s.UserID, a.conf.ClientID, a.conf.Scopes); err != nil {
			t.Fatal(err)
		}
		j := newJourney(t, s)
		authURL, verifier := a.authURL("state-prompt-0001", oauth2.SetAuthURLParam("prompt", "consent"))
		j.open(authURL, "login-form")
		j.signIn(s.Email, e2ePassword)
		j.consentFor(a)
		if n := len(a.queries()); n != 0 {
			t.Fatalf("prompt=consent reached the app %d times before the user answered", n)
		}
		j.run("allow", chromedp.Click(testID("allow")))
		j.wantCode(a, j.callback(a), "state-prompt-0001", verifier)
	})

	t.Run("Deny", func(t *testing.T) {
		a := newJourneyApp(t, s, "Denied App")
		j := newJourney(t, s)
		authURL, _ := a.authURL("state-deny-0001")
		j.open(authURL, "login-form")
		j.signIn(s.Email, e2ePassword)
		j.consentFor(a)
		j.run("deny", chromedp.Click(testID("deny")))
		q := j.callback(a)
		if q.Get("error") != "access_denied" || q.Get("state") != "state-deny-0001" || q.Get("iss") != s.URL {
			t.Errorf("Deny reached the app with %v, want error=access_denied, the state and iss", q)
		}
		if q.Get("code") != "" {
			t.Error("Deny sent a code")
		}
	})

	t.Run("ConsentLeftOpenTooLong", func(t *testing.T) {
		a := newJourneyApp(t, s, "Slow Answer")
		j := newJourney(t, s)
		authURL, _ := a.authURL("state-stale-0001")
		j.open(authURL, "login-form")
		j.signIn(s.Email, e2ePassword)
		j.consentFor(a)
		// The consent screen outlives its challenge.
		if _, err := s.store.Pool().Exec(t.Context(),
			`UPDATE consent_challenges SET expires_at = now() - interval '1 second' WHERE client_id = $1`, a.conf.ClientID); err != nil {
			t.Fatal(err)
		}
		j.run("allow", chromedp.Click(testID("allow")))
		j.waitFor("error-title")
		if loc := j.location(); !strings.HasPrefix(loc, s.URL+"/") {
			t.Errorf("an expired consent left the server for %s", loc)
		}
		if n := len(a.queries()); n != 0 {
			t.Errorf("an expired consent reached the app %d times", n)
		}
		if got := j.text("error-title"); got == "" {
			t.Error("the expired-consent page has no title")
		}
		j.shots("consent-expired")
	})

	t.Run("SessionExpiresMidFlow", func(t *testing.T) {
		a := newJourneyApp(t, s, "Long Lunch")
		j := newJourney(t, s)
		authURL, verifier := a.authURL("state-session-0001")
		j.open(authURL, "login-form")
		j.signIn(s.Email, e2ePassword)
		j.consentFor(a)
		// The sign-in ends (expired or ended elsewhere) while the consent
		// screen is open.
		if _, err := s.store.Pool().Exec(t.Context(), `DELETE FROM login_sessions WHERE user_id = $1`, s.UserID); err != nil {
			t.Fatal(err)
		}
		j.run("allow", chromedp.Click(testID("allow")))
		j.waitFor("error-title")
		if n := len(a.queries()); n != 0 {
			t.Errorf("an expired sign-in reached the app %d times", n)
		}
		j.shots("session-expired")
		// Starting again from the app asks to sign in, then completes.
		authURL, verifier = a.authURL("state-session-0002")
		j.open(authURL, "login-form")
		j.signIn(s.Email, e2ePassword)
		j.consentFor(a)
		j.run("allow", chromedp.Click(testID("allow")))
		j.wantCode(a, j.callback(a), "state-session-0002", verifier)
	})

	t.Run("TwoTabs", func(t *testing.T) {
		a := newJourneyApp(t, s, "Two Tabs")
		j := newJourney(t, s)
		urlA, verifierA := a.authURL("state-tab-a-0001")
		j.open(urlA, "login-form")
		j.signIn(s.Email, e2ePassword)
		j.consentFor(a)

		tabB, cancel := chromedp.NewContext(j.ctx)
		defer cancel()
		jb := &journey{t: t, s: s, ctx: tabB}
		urlB, verifierB := a.authURL("state-tab-b-0001")
		jb.run("set the desktop viewport", chromedp.EmulateViewport(1280, 800))
		jb.open(urlB, "consent-form")
		jb.run("allow in tab B", chromedp.Click(testID("allow")))
		jb.wantCode(a, jb.callback(a), "state-tab-b-0001", verifierB)

		j.run("allow in tab A", chromedp.Click(testID("allow")))
		j.wantCode(a, j.callback(a), "state-tab-a-0001", verifierA)
	})

	t.Run("BackAfterAllow", func(t *testing.T) {
		a := newJourneyApp(t, s, "Back Button")
		j := newJourney(t, s)
		authURL, verifier := a.authURL("state-back-0001")
		j.open(authURL, "login-form")
		j.signIn(s.Email, e2ePassword)
		j.consentFor(a)
		j.run("allow", chromedp.Click(testID("allow")))
		first := j.callback(a)
		j.wantCode(a, first, "state-back-0001", verifier)

		// history.back() rather than chromedp.NavigateBack, which waits for
		// a load event of the page it left when Back ends on another origin.
		if _, err := chromedp.Run(j.ctx, chromedp.Evaluate[any]("history.back()")); err != nil {
			t.Fatalf("go back: %v", err)
		}
		// Chromium shows the consent screen again from its history. It
		// must not have asked the server again (the consent is remembered
		// now, so that would send the app a second code without a word),
		// and answering it again must not either: its challenge was used.
		// chromedp's DOM queries do not follow a page restored from the
		// back/forward cache, so this part asks the page itself.
		j.waitJS("consent-form shown", `document.querySelector('[data-testid="consent-form"]') !== null`)
		if loc := j.location(); !strings.HasPrefix(loc, s.URL+"/oauth/authorize?") {
			t.Errorf("after Back the browser shows %s, want the consent screen", loc)
		}
		if n := len(a.queries()); n != 1 {
			t.Fatalf("after Back the app was called %d times, want 1", n)
		}
		if _, err := chromedp.Run(j.ctx, chromedp.Evaluate[any](`document.querySelector('[data-testid="allow"]').click()`)); err != nil {
			t.Fatalf("allow again: %v", err)
		}
		j.waitJS("error page shown", `document.querySelector('[data-testid="error-title"]') !== null`)
		if loc := j.location(); !strings.HasPrefix(loc, s.URL+"/") {
			t.Errorf("a second Allow left for %s", loc)
		}
		if n := len(a.queries()); n != 1 {
			t.Errorf("a second Allow reached the app: %d calls, want 1", n)
		}
		j.shots("allow-again")
	})

	t.Run("SignOut", func(t *testing.T) {
		a := newJourneyApp(t, s, "After Sign Out")
		j := newJourney(t, s)
		j.open(s.URL+"/login", "login-form")
		j.signIn(s.Email, e2ePassword)
		j.waitFor("user-email")
		if got := j.text("user-email"); !strings.Contains(got, s.Email) {
			t.Errorf("home shows %q", got)
		}
		j.shots("home")
		j.run("sign out", chromedp.Click(testID("sign-out")))
		j.waitFor("login-form")
		j.shots("signed-out")
		j.open(s.URL+"/", "login-form")
		authURL, _ := a.authURL("state-out-0001")
		j.open(authURL, "login-form")
		if loc := j.location(); !strings.HasPrefix(loc, s.URL+"/login") {
			t.Errorf("after sign-out the authorization request shows %s, want the sign-in page", loc)
		}
		if n := len(a.queries()); n != 0 {
			t.Errorf("after sign-out the app was called %d times", n)
		}
	})
}
