package authz

import (
	"crypto/hmac"
	"crypto/sha256"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/nextoria/authz/consent"
	"github.com/nextoria/authz/storage"
)

// maxNonce bounds the nonce of an authorization request.
const maxNonce = 512

// checkOIDCRequest checks the OpenID Connect parameters of an authorization
// request (OpenID Connect Core §3.1.2.1) before the user is asked anything:
// fosite would check some of them only when it issues the code, after the
// sign-in and the consent screen, and others not at all.
func checkOIDCRequest(ar fosite.AuthorizeRequester) error {
	form := ar.GetRequestForm()
	prompt := consent.ParseScope(form.Get("prompt"))
	for _, p := range prompt {
		if !slices.Contains(promptValues, p) {
			return fosite.ErrInvalidRequest.WithHintf("The prompt value %q is not supported; use none, login or consent.", p)
		}
	}
	if slices.Contains(prompt, "none") && len(prompt) > 1 {
		return fosite.ErrInvalidRequest.WithHint("prompt=none cannot be combined with other prompt values.")
	}
	if v, ok := form["max_age"]; ok {
		if _, err := parseMaxAge(v[0]); err != nil {
			return fosite.ErrInvalidRequest.WithHint("max_age must be a non-negative integer number of seconds.")
		}
	}
	nonce := form.Get("nonce")
	switch {
	case len(nonce) > maxNonce:
		return fosite.ErrInvalidRequest.WithHintf("The nonce must be at most %d bytes.", maxNonce)
	case nonce != "" && len(nonce) < fosite.MinParameterEntropy:
		return fosite.ErrInvalidRequest.WithHintf("The nonce must be at least %d characters.", fosite.MinParameterEntropy)
	}
	if !ar.GetRequestedScopes().Has(scopeOpenID) {
		return nil
	}
	if form.Get("redirect_uri") == "" {
		return fosite.ErrInvalidRequest.WithHint("The redirect_uri parameter is required with the openid scope.")
	}
	if nonce == "" && ar.GetClient().IsPublic() {
		return fosite.ErrInvalidRequest.WithHint("A public client must send a nonce with the openid scope.")
	}
	return nil
}

// parseMaxAge parses a max_age value: decimal digits only, at most ten years.
func parseMaxAge(v string) (time.Duration, error) {
	if v == "" || strings.TrimLeft(v, "0123456789") != "" || len(v) > 10 {
		return 0, strconv.ErrSyntax
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n > 10*365*24*3600 {
		return 0, strconv.ErrRange
	}
	return time.Duration(n) * time.Second, nil
}

// reauthParam carries, on the authorization request a browser comes back
// with after being asked for the password again, when that request was first
// made and a MAC over it, so that the sign-in it then finds counts as the
// re-authentication (prompt=login, max_age) and is not asked for again.
const reauthParam = "nx_reauth"

// reauthWindow is how long after being asked for the password a browser may
// come back with the request and still have the sign-in count.
const reauthWindow = 30 * time.Minute

// reauthMAC authenticates the moment an authorization request (its query
// without the marker) was made.
func (s *Server) reauthMAC(query string, at int64) string {
	m := hmac.New(sha256.New, s.cfg.Keys.SecretHash)
	m.Write([]byte("nextoria-authz reauth\x00"))
	m.Write([]byte(strconv.FormatInt(at, 10)))
	m.Write([]byte{0})
	m.Write([]byte(query))
	return base64URL(m.Sum(nil))
}

// withReauthMarker returns the query with the marker for a request made at.
func (s *Server) withReauthMarker(query string, at time.Time) string {
	t := at.Unix()
	return query + "&" + reauthParam + "=" + strconv.FormatInt(t, 10) + "." + s.reauthMAC(query, t)
}

// reauthStart returns when the authorization request in rawQuery was first
// made, if it carries a valid marker (at its end) no older than window
// (0: any age). A request without a marker, or with a forged or stale one,
// reports false: it counts as made now.
func (s *Server) reauthStart(rawQuery string, window time.Duration) (time.Time, bool) {
	i := strings.LastIndex(rawQuery, "&"+reauthParam+"=")
	if i < 0 {
		return time.Time{}, false
	}
	query, marker := rawQuery[:i], rawQuery[i+len(reauthParam)+2:]
	ts, mac, ok := strings.Cut(marker, ".")
	if !ok {
		return time.Time{}, false
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || !hmac.Equal([]byte(mac), []byte(s.reauthMAC(query, t))) {
		return time.Time{}, false
	}
	at := time.Unix(t, 0)
	if window > 0 && (time.Since(at) > window || time.Until(at) > time.Minute) {
		return time.Time{}, false
	}
	return at, true
}

// needsReauth reports whether the user must enter the password again before
// this request is answered: prompt=login, max_age=0, or a last sign-in older
// than max_age, unless the browser signed in after the request was first
// made (start, from its marker).
func needsReauth(ar fosite.AuthorizeRequester, p storage.Principal, start time.Time, marked bool, now time.Time) bool {
	signedIn := p.SignedInAt.Truncate(time.Second)
	if marked && !signedIn.Before(start) {
		return false
	}
	form := ar.GetRequestForm()
	if slices.Contains(consent.ParseScope(form.Get("prompt")), "login") {
		return true
	}
	if v, ok := form["max_age"]; ok {
		maxAge, err := parseMaxAge(v[0])
		if err == nil && (maxAge == 0 || now.Sub(signedIn) > maxAge) {
			return true
		}
	}
	return false
}

// asksReauth reports whether the request asks for a fresh sign-in
// (prompt=login or a max_age).
func asksReauth(ar fosite.AuthorizeRequester) bool {
	form := ar.GetRequestForm()
	_, maxAge := form["max_age"]
	return maxAge || slices.Contains(consent.ParseScope(form.Get("prompt")), "login")
}

// validateOIDC runs fosite's OpenID Connect request validator (prompt,
// max_age, id_token_hint) for the signed-in user before anything is shown,
// so that, for example, an id_token_hint naming someone else gets
// login_required at once.
func (s *Server) validateOIDC(r *http.Request, ar fosite.AuthorizeRequester, p storage.Principal, requestedAt time.Time) error {
	if !ar.GetRequestedScopes().Has(scopeOpenID) {
		return nil
	}
	probe := newSession(s.cfg.AccessTokenLifespan)
	setIDTokenClaims(probe, p, fosite.Arguments{scopeOpenID}, requestedAt)
	if req, ok := ar.(*fosite.AuthorizeRequest); ok {
		req.SetSession(probe)
	}
	return s.oidcValidator.ValidatePrompt(r.Context(), ar)
}
