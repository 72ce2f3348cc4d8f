package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/nextoria/authz/apps"
	"github.com/nextoria/authz/storage"
)

// endSessionPath is the end-session endpoint of OpenID Connect RP-Initiated
// Logout 1.0, advertised as end_session_endpoint.
const endSessionPath = "/oauth/end-session"

// EndSessionPath is endSessionPath for the metadata and the server's wiring.
const EndSessionPath = endSessionPath

// bindingEndSession binds the anti-forgery token of the sign-out confirmation.
const bindingEndSession = "end-session"

// Limits of the end-session parameters; longer values are refused with 400.
const (
	maxIDTokenHintLen = 8 << 10 // as authz.MaxIDTokenHintLen
	maxLogoutURILen   = 2000    // as the longest acceptable redirect URI
	maxLogoutStateLen = 2000
)

// IDTokenHintVerifier checks an end-session request's id_token_hint and
// returns the client ids it was issued to (aud) and its authorized party
// (azp, "" when absent). An expired ID token verifies; a malformed or forged
// one, one signed by an unknown key or issued by another server returns an
// error. *authz.IDTokenHintVerifier satisfies it.
type IDTokenHintVerifier interface {
	VerifyIDTokenHint(ctx context.Context, token string) (audience []string, azp string, err error)
}

// endSessionParams are the parameters of an end-session request that the
// server acts on; ui_locales and unknown parameters are ignored.
type endSessionParams struct {
	IDTokenHint           string
	ClientID              string
	PostLogoutRedirectURI string
	State                 string
}

// endSessionFields are the parameters that may appear at most once.
var endSessionFields = []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales", "confirm", "csrf_token"}

// handleEndSession serves GET and POST /oauth/end-session. A signed-in person
// is asked to confirm; the confirmation (a POST with confirm=yes and the
// anti-forgery token) ends the login session, and the browser goes to the
// post-logout redirect URI only when the app the request identifies (by
// client_id, by the id_token_hint's audience, or both, which must agree)
// registered it exactly, with state appended; otherwise the sign-out ends
// on the server's own signed-out page. Nobody signed in: the same outcome at
// once. An id_token_hint that does not verify gets a 400 page: nobody is
// signed out and nothing redirects.
func (s *Server) handleEndSession(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		if !s.parseForm(w, r, endSessionFields...) {
			return
		}
		if err := endSessionOrigin.Check(r); err != nil {
			s.crossSiteEndSession(w, r)
			return
		}
	} else if err := r.ParseForm(); err != nil {
		s.renderBadEndSession(w, r, "The sign-out request could not be read.")
		return
	}
	if _, bad := invalidField(r.Form); bad {
		s.renderBadEndSession(w, r, "The sign-out request contained characters that are not valid text.")
		return
	}
	p, msg := readEndSessionParams(r.Form)
	if msg != "" {
		s.log.InfoContext(r.Context(), "end-session refused", "reason", msg)
		s.renderBadEndSession(w, r, msg)
		return
	}
	app, target, ok := s.resolveEndSession(w, r, p)
	if !ok {
		return
	}
	principal, signedIn, err := s.LoadPrincipal(r)
	if err != nil {
		s.log.ErrorContext(r.Context(), "load signed-in user", "error", err)
		s.renderStoreError(w, r, err)
		return
	}
	if !signedIn {
		if target == "" {
			s.render(w, r, http.StatusOK, signedOutPage())
			return
		}
		seeOther(w, target)
		return
	}
	if r.Method != http.MethodPost || r.PostForm.Get("confirm") != "yes" {
		var extra []string
		if target != "" {
			// The confirmation is answered with a 303 to target, and
			// browsers apply form-action to redirects after a form post.
			if src, ok := formActionSource(originOf(target)); ok {
				extra = append(extra, src)
			}
		}
		view := endSessionView{AppName: app.Name, UserEmail: principal.Email,
			CSRFToken: s.CSRFToken(r, bindingEndSession), Params: p}
		s.render(w, r, http.StatusOK, endSessionPage(view), extra...)
		return
	}
	if !s.signOutForm(w, r, bindingEndSession) {
		return
	}
	s.log.InfoContext(r.Context(), "signed out at the request of an app", "user_id", principal.UserID,
		"client_id", app.ClientID, "redirect", target != "")
	s.finishEndSession(w, target)
}

// readEndSessionParams reads the parameters and returns a message for the
// person when one is given twice or is too long or malformed.
func readEndSessionParams(form url.Values) (endSessionParams, string) {
	for _, f := range endSessionFields {
		if len(form[f]) > 1 {
			return endSessionParams{}, "The sign-out request gave “" + f + "” more than once."
		}
	}
	p := endSessionParams{
		IDTokenHint:           form.Get("id_token_hint"),
		ClientID:              form.Get("client_id"),
		PostLogoutRedirectURI: form.Get("post_logout_redirect_uri"),
		State:                 form.Get("state"),
	}
	switch {
	case len(p.IDTokenHint) > maxIDTokenHintLen:
		return p, "The sign-out request’s id_token_hint is too long."
	case len(p.PostLogoutRedirectURI) > maxLogoutURILen:
		return p, "The sign-out request’s post_logout_redirect_uri is too long."
	case len(p.State) > maxLogoutStateLen:
		return p, "The sign-out request’s state is too long."
	case p.ClientID != "" && !apps.ValidClientID(p.ClientID):
		return p, "The sign-out request’s client_id is not a valid client id."
	}
	return p, ""
}

// resolveEndSession finds the app the request identifies and where the
// browser may go afterwards: the post-logout redirect URI with state, only
// when that app registered it (exact match); "" otherwise. It answers the
// request itself, and reports false, when the id_token_hint does not verify
// or disagrees with client_id (400), or when the store fails.
func (s *Server) resolveEndSession(w http.ResponseWriter, r *http.Request, p endSessionParams) (storage.App, string, bool) {
	ctx := r.Context()
	clientID := p.ClientID
	if p.IDTokenHint != "" {
		if s.hints == nil {
			s.renderBadEndSession(w, r, "The sign-out request’s id_token_hint cannot be checked.")
			return storage.App{}, "", false
		}
		aud, azp, err := s.hints.VerifyIDTokenHint(ctx, p.IDTokenHint)
		if err != nil {
			s.log.WarnContext(ctx, "end-session refused: id_token_hint", "error", err)
			s.renderBadEndSession(w, r, "The sign-out request carries an ID token that was not issued by Nextoria Hub, or is damaged.")
			return storage.App{}, "", false
		}
		switch {
		case clientID != "":
			if !slices.Contains(aud, clientID) {
				s.log.WarnContext(ctx, "end-session refused: client_id not in the hint's audience", "client_id", clientID)
				s.renderBadEndSession(w, r, "The sign-out request names an app that its ID token was not issued to.")
				return storage.App{}, "", false
			}
		case azp != "" && slices.Contains(aud, azp):
			clientID = azp
		case len(aud) == 1:
			clientID = aud[0]
		}
	}
	if clientID == "" || !apps.ValidClientID(clientID) {
		return storage.App{}, "", true
	}
	app, err := s.store.GetApp(ctx, clientID)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.App{}, "", true
	} else if err != nil {
		s.log.ErrorContext(ctx, "look up the app of an end-session request", "error", err)
		s.renderStoreError(w, r, err)
		return storage.App{}, "", false
	}
	if p.PostLogoutRedirectURI == "" || !slices.Contains(app.PostLogoutRedirectURIs, p.PostLogoutRedirectURI) {
		if p.PostLogoutRedirectURI != "" {
			s.log.InfoContext(ctx, "end-session: post_logout_redirect_uri not registered", "client_id", clientID)
		}
		return app, "", true
	}
	return app, withState(p.PostLogoutRedirectURI, p.State), true
}

// withState appends state to a registered post-logout redirect URI, which
// has no fragment (apps.ValidateRedirectURI).
func withState(uri, state string) string {
	if state == "" {
		return uri
	}
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	return uri + sep + "state=" + url.QueryEscape(state)
}

// finishEndSession sends the browser to target, a registered post-logout
// redirect URI, or, when there is none, to the signed-out page: the
// end-session endpoint without parameters, which shows it to a browser
// that is signed out.
func (s *Server) finishEndSession(w http.ResponseWriter, target string) {
	if target == "" {
		target = endSessionPath
	}
	seeOther(w, target)
}

func (s *Server) renderBadEndSession(w http.ResponseWriter, r *http.Request, detail string) {
	s.RenderError(w, r, http.StatusBadRequest, "This sign-out request is not valid",
		detail+" You have not been signed out.")
}

// originOf returns scheme://host[:port] of an absolute URL, "" otherwise.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// endSessionOrigin tells an app's form post to the end-session endpoint
// (from its own site) from the confirmation, which only this site posts.
var endSessionOrigin = http.NewCrossOriginProtection()

// endSessionRequestFields are the parameters an app sends; the confirmation
// adds confirm and csrf_token.
var endSessionRequestFields = []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales"}

// crossSiteEndSession answers a POST from another site. RP-Initiated Logout
// lets an app post its request, but browsers do not send the Lax session
// cookie with a cross-site POST, so the request would look signed out (and
// the app would be told so while the person is still signed in): the same
// parameters continue as a top-level GET, which carries the cookie, to the
// confirmation. A confirmation posted from another site is refused.
func (s *Server) crossSiteEndSession(w http.ResponseWriter, r *http.Request) {
	if r.PostForm.Has("confirm") || r.PostForm.Has("csrf_token") {
		s.log.WarnContext(r.Context(), "cross-origin form refused", "path", r.URL.Path)
		s.RenderError(w, r, http.StatusForbidden, "This form was sent from another site",
			"For your safety the request was refused. Go back and try again from this site.")
		return
	}
	q := url.Values{}
	for _, f := range endSessionRequestFields {
		if v, ok := r.PostForm[f]; ok {
			q[f] = v
		}
	}
	seeOther(w, endSessionPath+"?"+q.Encode())
}
