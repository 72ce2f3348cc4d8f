package web

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"unicode"

	"github.com/nextoria/authz/apps"
	"github.com/nextoria/authz/metrics"
	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
)

const (
	// maxFormBytes bounds every browser form body.
	maxFormBytes = 64 << 10

	bindingLogin  = "login"
	bindingLogout = "logout"

	// msgBadCredentials is the one answer to a failed sign-in, whether or not
	// the e-mail exists.
	msgBadCredentials = "Incorrect e-mail or password."
)

// loginView is what the sign-in page shows and posts back.
type loginView struct {
	Email     string
	Next      string
	CSRFToken string
	Error     string
	// AppName names the app the person is signing in to, when the sign-in
	// was started by its authorization request.
	AppName string
	// ClientID and LogoVersion show that app's logo as the consent screen
	// does; LogoVersion is "" when the app has no logo.
	ClientID    string
	LogoVersion string
}

// withApp returns v naming app, the one whose authorization request the
// sign-in continues (the zero App for none).
func (v loginView) withApp(app storage.App) loginView {
	v.AppName, v.ClientID, v.LogoVersion = app.Name, app.ClientID, app.LogoSHA256
	return v
}

// authorizePath is the authorization endpoint's path; a sign-in whose next
// leads there continues to an app.
const authorizePath = "/oauth/authorize"

// continuingTo returns the app whose authorization request next resumes, or
// the zero App when next is no such request or names no known app.
func (s *Server) continuingTo(ctx context.Context, next string) storage.App {
	u, err := url.Parse(next)
	if err != nil || u.Path != authorizePath {
		return storage.App{}
	}
	id := u.Query().Get("client_id")
	if !apps.ValidClientID(id) {
		return storage.App{}
	}
	app, err := s.store.GetApp(ctx, id)
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			s.log.WarnContext(ctx, "look up the app of a sign-in", "error", err)
		}
		return storage.App{}
	}
	return app
}

// maxLoginHintLen bounds a login_hint that pre-fills the e-mail: the longest
// e-mail address SMTP can carry (RFC 5321 §4.5.3.1.3).
const maxLoginHintLen = 254

// loginHint returns the login_hint of the authorization request next
// resumes (OpenID Connect Core §3.1.2.1) when it is a plausible e-mail
// address, and "" otherwise. It only pre-fills the e-mail field, which
// the person can change; nothing else trusts it.
func loginHint(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Path != authorizePath || safeNext(next) != next {
		return ""
	}
	q := u.Query()
	if len(q["login_hint"]) != 1 {
		return ""
	}
	hint := q.Get("login_hint")
	if len(hint) > maxLoginHintLen || !validText(hint) {
		return ""
	}
	addr, err := mail.ParseAddress(hint)
	if err != nil || addr.Name != "" || addr.Address != hint || strings.Count(hint, "@") != 1 {
		return ""
	}
	for _, r := range hint {
		if r <= ' ' || r == 0x7f || !unicode.IsPrint(r) {
			return ""
		}
	}
	return hint
}

// handleLoginForm shows the sign-in page, or sends a signed-in browser on to next.
// With reauth=1 (RedirectToReauth) a signed-in browser is asked for the
// password again, its e-mail filled in; signing in then starts a new login
// session, which moves the time of the last sign-in.
func (s *Server) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	p, ok, err := s.LoadPrincipal(r)
	if err != nil {
		s.log.ErrorContext(r.Context(), "load signed-in user", "error", err)
		s.renderStoreError(w, r, err)
		return
	}
	reauth := ok && r.URL.Query().Get("reauth") == "1"
	if ok && !reauth {
		seeOther(w, next)
		return
	}
	view := loginView{Email: loginHint(next), Next: next, CSRFToken: s.CSRFToken(r, bindingLogin)}
	if reauth {
		view.Email = p.Email
	}
	s.render(w, r, http.StatusOK, loginPage(view.withApp(s.continuingTo(r.Context(), next))))
}

// handleLogin checks the e-mail and password and starts a login session.
// Every attempt is first counted by the sign-in throttle (throttleSignIn);
// a refused one gets 429 with Retry-After and the sign-in page again.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r, "email", "password") {
		return
	}
	form := r.PostForm
	next := safeNext(form.Get("next"))
	if !s.VerifyCSRF(r, bindingLogin, form.Get("csrf_token")) {
		s.log.WarnContext(r.Context(), "sign-in rejected: bad csrf token")
		s.renderFormExpired(w, r)
		return
	}
	email := strings.TrimSpace(form.Get("email"))
	keys := newThrottleKeys(email, s.clientAddr(r))
	// The account is read with the throttle's counts, in one round trip.
	ctx := r.Context()
	if validText(email) {
		ctx = s.store.PrepareSignIn(ctx, email)
	}
	wait, ok, lockStarted, err := s.throttleSignIn(ctx, keys)
	if err != nil {
		s.log.ErrorContext(r.Context(), "sign-in throttle", "error", err)
		s.renderStoreError(w, r, err)
		return
	}
	if !ok {
		s.metrics.SignIn(metrics.SignInThrottled)
		// The same answer whether or not the account exists.
		seconds := retryAfterSeconds(wait)
		if lockStarted != "" {
			s.recordSignInEvent(r.Context(), storage.AuditSignInThrottled, email,
				map[string]any{"limit": lockStarted, "retry_after_seconds": seconds})
		}
		w.Header().Set("Retry-After", strconv.Itoa(seconds))
		view := loginView{Email: displayText(email), Next: next, CSRFToken: s.CSRFToken(r, bindingLogin), Error: msgThrottled(seconds)}
		s.render(w, r, http.StatusTooManyRequests, loginPage(view.withApp(s.continuingTo(r.Context(), next))))
		return
	}
	user, ok, err := s.checkPassword(ctx, email, form.Get("password"))
	if err != nil {
		s.log.ErrorContext(r.Context(), "sign-in", "error", err)
		s.renderStoreError(w, r, err)
		return
	}
	if !ok {
		s.metrics.SignIn(metrics.SignInFailure)
		s.recordSignInEvent(r.Context(), storage.AuditSignInFailed, email, nil)
		view := loginView{Email: displayText(email), Next: next, CSRFToken: s.CSRFToken(r, bindingLogin), Error: msgBadCredentials}
		s.render(w, r, http.StatusUnauthorized, loginPage(view.withApp(s.continuingTo(r.Context(), next))))
		return
	}
	if err := s.signIn(w, r, user.ID, user.WorkspaceID, keys); err != nil {
		s.log.ErrorContext(r.Context(), "sign-in", "user_id", user.ID, "error", err)
		s.renderStoreError(w, r, err)
		return
	}
	s.metrics.SignIn(metrics.SignInSuccess)
	s.log.InfoContext(r.Context(), "signed in", "user_id", user.ID)
	seeOther(w, afterSignIn(next))
}

// loginContinuePath is the page a successful sign-in lands on before it goes
// on to next.
const loginContinuePath = "/login/continue"

// afterSignIn is where a successful sign-in form is redirected for next.
//
// Browsers apply the sign-in page's CSP form-action ('self' only) to every
// redirect of the navigation the form submission starts, and Chromium aborts
// the navigation (net::ERR_ABORTED) at the first redirect to another origin.
// next is always a local path, but the page there may redirect onwards: the
// authorization endpoint answers a returning user, whose consent is
// remembered, with a redirect to the app's redirect URI. So the form's
// navigation ends on a page of our own, loginContinuePage, which then moves
// on to next with a meta refresh: a new navigation that no form started, to
// which form-action does not apply.
//
// This keeps form-action 'self' on the page that holds the password: adding
// the app's origin there instead would let anyone who registers an app, and
// links to it, widen where that page's forms may post. Only the home page
// is reached directly, as it never redirects off our origin.
func afterSignIn(next string) string {
	if next == "/" {
		return next
	}
	return loginContinuePath + "?next=" + url.QueryEscape(next)
}

// handleLoginContinue shows loginContinuePage, which moves on to next (a
// local path; anything else goes to the home page). It needs no sign-in:
// the page at next decides what to show.
func (s *Server) handleLoginContinue(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, loginContinuePage(safeNext(r.URL.Query().Get("next"))))
}

// checkPassword spends one argon2id verification whether or not the e-mail
// exists, so neither the answer nor its timing tells which accounts exist.
// An e-mail that is not valid text (invalid UTF-8, NUL) names no account and
// is answered like an unknown one, without a query; it has been counted by
// the throttle like any other attempt.
func (s *Server) checkPassword(ctx context.Context, email, password string) (storage.User, bool, error) {
	if !validText(email) {
		secret.BurnPasswordCheck(password)
		s.log.InfoContext(ctx, "sign-in failed", "reason", "malformed_email")
		return storage.User{}, false, nil
	}
	user, err := s.store.GetUserByEmail(ctx, email)
	if errors.Is(err, storage.ErrNotFound) {
		secret.BurnPasswordCheck(password)
		s.log.InfoContext(ctx, "sign-in failed", "reason", "unknown_email")
		return storage.User{}, false, nil
	}
	if err != nil {
		return storage.User{}, false, err
	}
	ok, err := secret.VerifyPassword(user.PasswordHash, password)
	if err != nil {
		// A stored hash we cannot parse locks the account out; it is not the
		// visitor's fault and must not look different to them.
		s.log.ErrorContext(ctx, "verify password", "user_id", user.ID, "error", err)
		return storage.User{}, false, nil
	}
	if !ok {
		s.log.InfoContext(ctx, "sign-in failed", "reason", "wrong_password", "user_id", user.ID)
		return storage.User{}, false, nil
	}
	return user, true, nil
}

// handleLogout ends the login session and returns to the sign-in page, which
// then continues to next (a local path) once someone signs in: "Not you?"
// on the consent screen comes back to the same authorization request.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	if !s.signOutForm(w, r, bindingLogout) {
		return
	}
	loc := "/login"
	if next := safeNext(r.PostForm.Get("next")); next != "/" {
		loc += "?next=" + url.QueryEscape(next)
	}
	seeOther(w, loc)
}

// signOutForm checks the anti-forgery token of a sign-out form bound to
// binding and ends the login session. When either fails it answers the
// request itself (403 "form expired", or the store's error page) and
// reports false.
func (s *Server) signOutForm(w http.ResponseWriter, r *http.Request, binding string) bool {
	if !s.VerifyCSRF(r, binding, r.PostForm.Get("csrf_token")) {
		s.log.WarnContext(r.Context(), "sign-out rejected: bad csrf token", "form", binding)
		s.renderFormExpired(w, r)
		return false
	}
	if err := s.signOut(w, r); err != nil {
		s.log.ErrorContext(r.Context(), "sign-out", "form", binding, "error", err)
		s.renderStoreError(w, r, err)
		return false
	}
	return true
}

// RedirectToLogin sends the browser to the sign-in page with a 303; after
// signing in it comes back to returnTo, a local path and query such as
// /oauth/authorize?client_id=…. Anything that is not a local path returns to
// the home page instead.
func (s *Server) RedirectToLogin(w http.ResponseWriter, r *http.Request, returnTo string) {
	loc := "/login"
	if next := safeNext(returnTo); next != "/" {
		loc += "?next=" + url.QueryEscape(next)
	}
	seeOther(w, loc)
}

// RedirectToReauth sends a signed-in browser to the sign-in page to enter
// the password again (OpenID Connect prompt=login or max_age), then on to
// returnTo like RedirectToLogin.
func (s *Server) RedirectToReauth(w http.ResponseWriter, r *http.Request, returnTo string) {
	loc := "/login?reauth=1"
	if next := safeNext(returnTo); next != "/" {
		loc += "&next=" + url.QueryEscape(next)
	}
	seeOther(w, loc)
}

// parseForm reads a URL-encoded form body of at most maxFormBytes into
// r.PostForm, answering 415, 413 or 400 itself when it cannot. A field (of
// the body or the query) that is not valid text (see validText) gets 400
// too, unless it is one of checked, which the handler validates itself.
func (s *Server) parseForm(w http.ResponseWriter, r *http.Request, checked ...string) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		s.RenderError(w, r, http.StatusUnsupportedMediaType, "Unsupported form",
			"This form can only be sent from its page in a web browser.")
		return false
	}
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.RenderError(w, r, http.StatusRequestEntityTooLarge, "Form too large",
				"The form sent more data than it should. Go back and try again.")
			return false
		}
		s.RenderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read. Go back and try again.")
		return false
	}
	return s.checkFormText(w, r, checked...)
}

// checkFormText answers 400 with the error page, and reports false, when a
// field of the parsed form other than checked is not valid text.
func (s *Server) checkFormText(w http.ResponseWriter, r *http.Request, checked ...string) bool {
	if field, bad := invalidField(r.Form, checked...); bad {
		s.log.InfoContext(r.Context(), "form refused: invalid text", "field", displayText(field))
		s.RenderError(w, r, http.StatusBadRequest, "Bad request",
			"The form contained characters that are not valid text. Go back and try again.")
		return false
	}
	return true
}

func (s *Server) renderFormExpired(w http.ResponseWriter, r *http.Request) {
	s.RenderError(w, r, http.StatusForbidden, "This form has expired",
		"For your security the form could not be accepted. Reload the page and try again, and make sure cookies are enabled.")
}

func (s *Server) renderInternalError(w http.ResponseWriter, r *http.Request) {
	s.RenderError(w, r, http.StatusInternalServerError, "Something went wrong",
		"We could not complete your request. Please try again in a moment.")
}

// unavailableRetryAfter is the Retry-After, in seconds, of the page shown
// while the database is unavailable.
const unavailableRetryAfter = "5"

// renderUnavailable shows the "try again" page with 503 and Retry-After:
// the database is unavailable, and nothing is wrong with the request.
func (s *Server) renderUnavailable(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", unavailableRetryAfter)
	s.RenderError(w, r, http.StatusServiceUnavailable, "Nextoria Hub is temporarily unavailable",
		"Please try again in a moment.")
}

// renderStoreError answers a request whose store call failed with err (the
// caller has logged it): the "try again" page during a database outage, the
// generic error page otherwise.
func (s *Server) renderStoreError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, storage.ErrUnavailable) {
		s.renderUnavailable(w, r)
		return
	}
	s.renderInternalError(w, r)
}

// safeNext returns next when it is a local path (with an optional query) and
// "/" otherwise. It refuses anything a browser could resolve to another
// origin: scheme-relative "//host", "/\host" (browsers read "\" as "/"),
// absolute URLs, and control characters or spaces, which browsers strip
// (so "/\t/host" would become "//host").
func safeNext(next string) string {
	if len(next) == 0 || next[0] != '/' {
		return "/"
	}
	if len(next) > 1 && (next[1] == '/' || next[1] == '\\') {
		return "/"
	}
	for i := 0; i < len(next); i++ {
		if c := next[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	return next
}

// seeOther answers with 303, the status that turns a form POST into a GET.
func seeOther(w http.ResponseWriter, location string) {
	w.Header().Set("Location", location)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusSeeOther)
}
