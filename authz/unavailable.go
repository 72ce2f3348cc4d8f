package authz

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/nextoria/authz/storage"
)

// UnavailableRetryAfter is the Retry-After of the 503 answers given while the
// database is unavailable: long enough not to hammer a recovering database,
// short enough that a client retrying on schedule sees the recovery soon.
const UnavailableRetryAfter = 5 * time.Second

// Texts of the 503 answers.
const (
	unavailableDescription = "The authorization server is temporarily unavailable. Retry after the time given in Retry-After."
	unavailableTitle       = "Nextoria Hub is temporarily unavailable"
	unavailableDetail      = "Please try again in a moment."
)

// isUnavailable reports whether err means the store could not answer: an
// outage, not a fact about the client, the token or the user. fosite keeps
// the store's error as the cause of the errors it makes (invalid_client from
// GetClient, request_unauthorized from token lookups), so errors.Is finds it
// through them.
func isUnavailable(err error) bool {
	return errors.Is(err, storage.ErrUnavailable)
}

// setRetryAfter sets the Retry-After header of a 503.
func setRetryAfter(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(int(UnavailableRetryAfter/time.Second)))
}

// writeUnavailable answers an API request (token, revocation, introspection)
// that failed because the store is unavailable: 503 with Retry-After and
// temporarily_unavailable in the RFC 6749 error shape, never invalid_client
// or 401, so clients keep their credentials and alerting on 5xx fires.
func (s *Server) writeUnavailable(w http.ResponseWriter, r *http.Request, err error) {
	s.log.WarnContext(r.Context(), "database unavailable", "path", r.URL.Path, "error", err)
	setRetryAfter(w)
	writeOAuthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", unavailableDescription)
}

// renderUnavailable is writeUnavailable for a browser: the "try again" page.
func (s *Server) renderUnavailable(w http.ResponseWriter, r *http.Request, err error) {
	s.log.WarnContext(r.Context(), "database unavailable", "path", r.URL.Path, "error", err)
	setRetryAfter(w)
	s.browser.RenderError(w, r, http.StatusServiceUnavailable, unavailableTitle, unavailableDetail)
}

// storeError answers a browser request whose store call failed: the "try
// again" page with 503 during an outage, the generic error page otherwise.
func (s *Server) storeError(w http.ResponseWriter, r *http.Request, msg string, err error) {
	if isUnavailable(err) {
		s.renderUnavailable(w, r, err)
		return
	}
	s.logError(r.Context(), msg, err)
	s.serverError(w, r)
}
