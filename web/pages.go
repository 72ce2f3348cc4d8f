package web

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/a-h/templ"

	"github.com/nextoria/authz/consent"
	"github.com/nextoria/authz/errpage"
	"github.com/nextoria/authz/reqid"
	"github.com/nextoria/authz/storage"
)

// render writes a page: the component is rendered into a buffer first, so a
// rendering failure still becomes a clean 500, and the headers (CSP with any
// extra form-action sources, no-store) are final before anything is written.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component, formAction ...string) {
	s.renderPolicy(w, r, status, c, policy{formAction: formAction})
}

// renderPolicy is render with the additions p to the page's CSP.
func (s *Server) renderPolicy(w http.ResponseWriter, r *http.Request, status int, c templ.Component, p policy) {
	ctx, nonce := s.pageContext(w, r)
	var buf bytes.Buffer
	if err := c.Render(ctx, &buf); err != nil {
		s.log.ErrorContext(ctx, "render page", "error", err)
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy(nonce, p))
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// RenderConsent shows the consent screen for p with status 200. When
// p.ReturnTo is a local path, "Not you? Use another account" signs out and
// comes back there through the sign-in page. Its
// form-action also allows p.RedirectOrigin: the decision is answered with a
// 303 to the client's redirect URI, and browsers apply form-action to
// redirects that follow a form submission.
func (s *Server) RenderConsent(w http.ResponseWriter, r *http.Request, p consent.Prompt) {
	var extra []string
	if src, ok := formActionSource(p.RedirectOrigin); ok {
		extra = append(extra, src)
	} else if p.RedirectOrigin != "" {
		s.log.WarnContext(r.Context(), "consent redirect origin not usable in form-action", "client_id", p.ClientID)
	}
	var logoutToken string
	if p.ReturnTo == safeNext(p.ReturnTo) && p.ReturnTo != "/" {
		logoutToken = s.CSRFToken(r, bindingLogout)
	}
	s.render(w, r, http.StatusOK, consentPage(p, logoutToken), extra...)
}

// RenderError shows the error page with status, a short title and a detail
// sentence meant for the person at the browser (never internal error text).
// A 503 is shown as the Unavailable class, a 500 as Internal.
func (s *Server) RenderError(w http.ResponseWriter, r *http.Request, status int, title, detail string) {
	p := errpage.Problem{Status: status, Title: title, Message: detail}
	switch status {
	case http.StatusServiceUnavailable:
		p.Class = errpage.Unavailable
	case http.StatusInternalServerError:
		p.Class = errpage.Internal
	}
	s.RenderProblem(w, r, p)
}

// RenderProblem shows the error page for p, with the request's id (package
// reqid) as the reference under "Details for developers".
func (s *Server) RenderProblem(w http.ResponseWriter, r *http.Request, p errpage.Problem) {
	s.render(w, r, p.StatusCode(), errorPage(p, reqid.FromContext(r.Context())))
}

// offersHomeLink reports whether the error page links to the home page. The
// problems of an authorization request do not: the person came from an app,
// and Nextoria Hub's home page would not take them anywhere useful.
func offersHomeLink(c errpage.Class) bool {
	switch c {
	case errpage.UnknownApp, errpage.RedirectNotRegistered, errpage.Malformed, errpage.Expired:
		return false
	}
	return true
}

// handleHome shows who is signed in, or sends the browser to sign in.
func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) {
	p, ok, err := s.LoadPrincipal(r)
	if err != nil {
		s.log.ErrorContext(r.Context(), "load signed-in user", "error", err)
		s.renderStoreError(w, r, err)
		return
	}
	if !ok {
		seeOther(w, "/login")
		return
	}
	s.render(w, r, http.StatusOK, homePage(p, s.CSRFToken(r, bindingLogout)))
}

// initial is the placeholder letter for an app without a logo.
func initial(name string) string {
	name = strings.TrimSpace(name)
	r, _ := utf8.DecodeRuneInString(name)
	if r == utf8.RuneError || !unicode.IsPrint(r) {
		return "?"
	}
	return string(unicode.ToUpper(r))
}

// roleLabel names a workspace role for people.
func roleLabel(role string) string {
	switch role {
	case storage.RoleAdmin:
		return "Administrator"
	case storage.RoleMember:
		return "Member"
	default:
		return role
	}
}
