package web

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"

	"github.com/a-h/templ"
	"github.com/gorilla/sessions"

	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
)

// requestState is what Middleware keeps for one request: the CSP nonce, the
// decoded session cookie and the writer a newly created CSRF seed is saved on.
// Like the request itself, it belongs to the goroutine serving the request.
type requestState struct {
	w       http.ResponseWriter
	nonce   string
	sess    *sessions.Session
	written atomic.Bool
}

type stateKey struct{}

func stateOf(r *http.Request) *requestState {
	st, _ := r.Context().Value(stateKey{}).(*requestState)
	return st
}

// Middleware sets the security headers of every response it wraps and
// prepares the request for the page helpers: a fresh 128-bit CSP nonce (also
// given to templ with templ.WithNonce) and a lazily decoded session cookie.
// A page that needs a CSRF token gets its seed created, and the cookie set,
// by CSRFToken before the page is written; responses without forms (static
// files, logos, redirects) never carry a Set-Cookie header because of it.
// Wrapping a handler twice is harmless: the inner Middleware passes through.
func (s *Server) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if stateOf(r) != nil {
			next.ServeHTTP(w, r)
			return
		}
		st := &requestState{w: w, nonce: newNonce()}
		s.setSecurityHeaders(w.Header(), st.nonce)
		ctx := context.WithValue(r.Context(), stateKey{}, st)
		ctx = templ.WithNonce(ctx, st.nonce)
		// Audit events of the request carry its client address and
		// browser, whichever package records them.
		ip, _ := s.requestAddr(r)
		ctx = storage.WithRequestSource(ctx, ip, r.UserAgent())
		next.ServeHTTP(&trackingWriter{ResponseWriter: w, st: st}, r.WithContext(ctx))
	})
}

// pageContext returns the context to render a page with and its nonce. Outside
// Middleware it sets the security headers itself, so a page never goes out
// without them.
func (s *Server) pageContext(w http.ResponseWriter, r *http.Request) (context.Context, string) {
	if st := stateOf(r); st != nil {
		return r.Context(), st.nonce
	}
	nonce := newNonce()
	s.setSecurityHeaders(w.Header(), nonce)
	return templ.WithNonce(r.Context(), nonce), nonce
}

func (s *Server) setSecurityHeaders(h http.Header, nonce string) {
	h.Set("Content-Security-Policy", contentSecurityPolicy(nonce, policy{}))
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if s.hsts {
		h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
	}
}

// newNonce returns 128 random bits in standard base64, the form CSP's
// nonce-source expects.
func newNonce() string {
	return base64.StdEncoding.EncodeToString(secret.Random(16))
}

// policy is what a page adds to the Content-Security-Policy every page has.
type policy struct {
	// formAction are sources added to form-action after 'self'; only values
	// that passed formActionSource.
	formAction []string
	// imgSrc are sources added to img-src after 'self'; only constants.
	imgSrc []string
}

// previewImages are the img-src sources of the pages with a logo field: the
// kept logo is shown as a data: URL, a newly chosen file through a blob: URL.
// No other page allows them.
var previewImages = []string{"data:", "blob:"}

// contentSecurityPolicy is the policy of every page, with the additions of p.
func contentSecurityPolicy(nonce string, p policy) string {
	fa := "'self'"
	for _, src := range p.formAction {
		fa += " " + src
	}
	img := "'self'"
	for _, src := range p.imgSrc {
		img += " " + src
	}
	return "default-src 'none'; script-src 'nonce-" + nonce + "'; style-src 'self'; img-src " + img + "; " +
		"form-action " + fa + "; frame-ancestors 'none'; base-uri 'none'"
}

var schemeSource = regexp.MustCompile(`^[a-z][a-z0-9+.-]*:$`)

// formActionSource turns a consent redirect origin into a CSP source, or
// reports false when it is not one that can be placed in the header safely:
// an http(s) origin (scheme://host[:port]) or, for native apps with a private
// URI scheme (RFC 8252), a bare scheme such as "com.example.app:".
func formActionSource(origin string) (string, bool) {
	if origin == "" || strings.ContainsAny(origin, " \t\r\n;,'\"") {
		return "", false
	}
	lower := strings.ToLower(origin)
	if schemeSource.MatchString(lower) {
		switch lower {
		case "http:", "https:", "javascript:", "data:", "blob:", "filesystem:", "about:":
			return "", false
		}
		return lower, true
	}
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" ||
		strings.HasSuffix(origin, "?") || strings.HasSuffix(origin, "#") {
		return "", false
	}
	return u.Scheme + "://" + u.Host, true
}

// trackingWriter notes when the response has started, so that a CSRF seed
// created too late to reach the browser is reported instead of lost silently.
type trackingWriter struct {
	http.ResponseWriter
	st *requestState
}

func (t *trackingWriter) WriteHeader(code int) {
	if code >= 200 {
		t.st.written.Store(true)
	}
	t.ResponseWriter.WriteHeader(code)
}

func (t *trackingWriter) Write(b []byte) (int, error) {
	t.st.written.Store(true)
	return t.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (t *trackingWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }
