package web

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

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
}

// handleLoginForm shows the sign-in page, or sends a signed-in browser on to next.
func (s *Server) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if _, ok := s.Principal(r); ok {
		seeOther(w, next)
		return
	}
	s.render(w, r, http.StatusOK, loginPage(loginView{Next: next, CSRFToken: s.CSRFToken(r, bindingLogin)}))
}

// handleLogin checks the e-mail and password and starts a login session.
// Every attempt is first counted by the sign-in throttle (throttleSignIn);
// a refused one gets 429 with Retry-After and the sign-in page again.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
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
	wait, ok, err := s.throttleSignIn(r.Context(), keys)
	if err != nil {
		s.log.ErrorContext(r.Context(), "sign-in throttle", "error", err)
		s.renderInternalError(w, r)
		return
	}
	if !ok {
		// The same answer whether or not the account exists.
		seconds := retryAfterSeconds(wait)
		w.Header().Set("Retry-After", strconv.Itoa(seconds))
		view := loginView{Email: email, Next: next, CSRFToken: s.CSRFToken(r, bindingLogin), Error: msgThrottled(seconds)}
		s.render(w, r, http.StatusTooManyRequests, loginPage(view))
		return
	}
	user, ok, err := s.checkPassword(r.Context(), email, form.Get("password"))
	if err != nil {
		s.log.ErrorContext(r.Context(), "sign-in", "error", err)
		s.renderInternalError(w, r)
		return
	}
	if !ok {
		view := loginView{Email: email, Next: next, CSRFToken: s.CSRFToken(r, bindingLogin), Error: msgBadCredentials}
		s.render(w, r, http.StatusUnauthorized, loginPage(view))
		return
	}
	if err := s.signIn(w, r, user.ID); err != nil {
		s.log.ErrorContext(r.Context(), "sign-in", "user_id", user.ID, "error", err)
		s.renderInternalError(w, r)
		return
	}
	// The account's counts start again. The address's are not cleared, or
	// an attacker with one account of their own could clear them at will;
	// only this successful attempt is taken back, so that many people
	// signing in from one address (an office behind NAT) never lock it.
	if err := s.store.ResetLoginThrottle(r.Context(), keys.accountIP, keys.account); err != nil {
		s.log.ErrorContext(r.Context(), "reset sign-in throttle", "user_id", user.ID, "error", err)
	}
	if err := s.store.UncountLoginAttempt(r.Context(), keys.ip); err != nil {
		s.log.ErrorContext(r.Context(), "uncount sign-in attempt", "user_id", user.ID, "error", err)
	}
	s.log.InfoContext(r.Context(), "signed in", "user_id", user.ID)
	seeOther(w, next)
}

// checkPassword spends one argon2id verification whether or not the e-mail
// exists, so neither the answer nor its timing tells which accounts exist.
func (s *Server) checkPassword(ctx context.Context, email, password string) (storage.User, bool, error) {
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

// handleLogout ends the login session and returns to the sign-in page.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	if !s.VerifyCSRF(r, bindingLogout, r.PostForm.Get("csrf_token")) {
		s.log.WarnContext(r.Context(), "sign-out rejected: bad csrf token")
		s.renderFormExpired(w, r)
		return
	}
	if err := s.signOut(w, r); err != nil {
		s.log.ErrorContext(r.Context(), "sign-out", "error", err)
		s.renderInternalError(w, r)
		return
	}
	seeOther(w, "/login")
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

// parseForm reads a URL-encoded form body of at most maxFormBytes into
// r.PostForm, answering 415, 413 or 400 itself when it cannot.
func (s *Server) parseForm(w http.ResponseWriter, r *http.Request) bool {
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
