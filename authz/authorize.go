package authz

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/ory/fosite"

	"github.com/nextoria/authz/consent"
	"github.com/nextoria/authz/errpage"
	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
)

// singleParams may appear at most once in an authorization request (RFC 6749 §3.1).
var singleParams = []string{
	"client_id", "redirect_uri", "response_type", "response_mode", "scope", "state",
	"code_challenge", "code_challenge_method", "prompt", "nonce",
	"max_age", "id_token_hint", "login_hint", "ui_locales", "claims_locales", "acr_values", "display",
	reauthParam,
}

// maxQuery bounds the authorization request's query string.
const maxQuery = 8 << 10

// pkceChallenge is a base64url S256 challenge: 32 bytes, 43 characters.
var pkceChallenge = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// authorize handles GET /oauth/authorize: it validates the request, then
// signs the user in, asks for consent or, when consent is remembered, answers
// with a code at once.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.RawQuery) > maxQuery {
		p := malformed("The query string is longer than 8 KiB.")
		p.Status = http.StatusRequestURITooLong
		s.browser.RenderProblem(w, r, p)
		return
	}
	// Who is signed in is read first, and with it, in the same round trip,
	// the app and the user's remembered grant to it, which the request's
	// validation and the consent decision below then find in ctx
	// (storage.Store.PrepareAuthorize).
	r = r.WithContext(s.store.PrepareAuthorize(r.Context(), r.URL.Query().Get("client_id")))
	p, signedIn, err := s.browser.LoadPrincipal(r)
	if err != nil {
		s.storeError(w, r, "load signed-in user", err)
		return
	}
	ar, ok := s.parseAuthorizeRequest(w, r, r.URL.Query())
	if !ok {
		return
	}
	prompt := consent.ParseScope(ar.GetRequestForm().Get("prompt"))
	if !signedIn {
		if slices.Contains(prompt, "none") {
			s.redirectError(w, r, ar, fosite.ErrLoginRequired)
			return
		}
		query := r.URL.RawQuery
		if _, marked := s.reauthStart(query, reauthWindow); !marked && asksReauth(ar) {
			// The sign-in about to happen is the re-authentication that
			// prompt=login or max_age ask for: mark the request so that it
			// is not asked for a second time.
			query = s.withReauthMarker(query, time.Now())
		}
		s.browser.RedirectToLogin(w, r, AuthorizePath+"?"+query)
		return
	}
	now := time.Now()
	requestedAt, marked := s.reauthStart(r.URL.RawQuery, reauthWindow)
	if needsReauth(ar, p, requestedAt, marked, now) {
		if slices.Contains(prompt, "none") {
			s.redirectError(w, r, ar, fosite.ErrLoginRequired.WithHint("The last sign-in is older than max_age."))
			return
		}
		query := r.URL.RawQuery
		if marked { // a stale or superseded marker: start again from the request
			query = query[:strings.LastIndex(query, "&"+reauthParam+"=")]
		}
		s.browser.RedirectToReauth(w, r, AuthorizePath+"?"+s.withReauthMarker(query, now))
		return
	}
	if !marked {
		requestedAt = now
	}
	if err := s.validateOIDC(r, ar, p, requestedAt); err != nil {
		s.authorizeError(w, r, ar, err)
		return
	}
	clientID := ar.GetClient().GetID()
	requested := []string(ar.GetRequestedScopes())
	var remembered []string
	g, err := s.store.GetGrant(r.Context(), p.UserID, clientID)
	switch {
	case err == nil:
		remembered = g.Scopes
	case !errors.Is(err, storage.ErrNotFound):
		s.storeError(w, r, "load consent grant", err)
		return
	}
	if !consent.MayRemember(ar.GetClient().IsPublic(), ar.GetRedirectURI()) {
		remembered = nil // RFC 8252 §8.6: ask every time
	}
	if !consent.NeedsPrompt(remembered, requested, ar.GetRequestForm().Get("prompt")) {
		s.grantUses.record(p.UserID, clientID)
		s.issueCode(w, r, ar, p, requestedAt)
		return
	}
	if slices.Contains(prompt, "none") {
		s.redirectError(w, r, ar, fosite.ErrConsentRequired)
		return
	}
	s.askConsent(w, r, ar, p)
}

// parseAuthorizeRequest runs fosite's validation plus the checks fosite makes
// too late or not at all. On failure it has answered already.
func (s *Server) parseAuthorizeRequest(w http.ResponseWriter, r *http.Request, q url.Values) (fosite.AuthorizeRequester, bool) {
	for k, vs := range q {
		if !utf8.ValidString(k) || slices.ContainsFunc(vs, func(v string) bool { return !utf8.ValidString(v) }) {
			s.browser.RenderProblem(w, r, malformed("The request contains characters that are not valid UTF-8."))
			return nil, false
		}
		if len(vs) > 1 && slices.Contains(singleParams, k) {
			s.browser.RenderProblem(w, r, malformed("The parameter "+k+" appears more than once."))
			return nil, false
		}
	}
	ar, err := s.provider.NewAuthorizeRequest(r.Context(), r)
	if err != nil {
		s.authorizeError(w, r, ar, err)
		return nil, false
	}
	if err := checkRedirectURI(ar); err != nil {
		// The redirect URI is not trusted: never send the browser there.
		p := errpage.Problem{Class: errpage.RedirectNotRegistered, Code: fosite.ErrInvalidRequest.ErrorField,
			Detail: fosite.ErrorToRFC6749Error(err).HintField}
		if c, ok := ar.GetClient().(*storage.Client); ok {
			p.AppName = c.App().Name
		}
		s.log.InfoContext(r.Context(), "authorization request refused", "error", p.Code, "description", p.Detail,
			"class", string(p.Class))
		s.browser.RenderProblem(w, r, p)
		return nil, false
	}
	if err := checkAuthorizeRequest(ar); err != nil {
		s.authorizeError(w, r, ar, err)
		return nil, false
	}
	if err := checkOIDCRequest(ar); err != nil {
		s.authorizeError(w, r, ar, err)
		return nil, false
	}
	return ar, true
}

// checkRedirectURI narrows fosite's redirect URI matching, which accepts a
// loopback redirect on any port for every client (RFC 8252 §7.3) and ignores
// userinfo. A redirect URI with userinfo is always refused; a confidential
// client's redirect URI must equal a registered one exactly, since the
// any-port rule exists for native (public) clients only.
func checkRedirectURI(ar fosite.AuthorizeRequester) error {
	u := ar.GetRedirectURI()
	if u == nil {
		return fosite.ErrInvalidRequest.WithHint("The redirect_uri is missing.")
	}
	if u.User != nil {
		return fosite.ErrInvalidRequest.WithHint("The redirect_uri must not contain a user name or password.")
	}
	raw := ar.GetRequestForm().Get("redirect_uri")
	c := ar.GetClient()
	if raw == "" || c.IsPublic() {
		// fosite used the only registered URI, or a public client may use
		// any port on a registered loopback redirect.
		return nil
	}
	if !slices.Contains(c.GetRedirectURIs(), raw) {
		return fosite.ErrInvalidRequest.WithHint("The redirect_uri does not match a registered redirect URI exactly.")
	}
	return nil
}

// pkceClient is a client that says whether it must use PKCE
// (*storage.Client does).
type pkceClient interface {
	PKCERequired() bool
}

// requiresPKCE reports whether c's authorization requests must carry a
// code_challenge: every client's must (RFC 9700 §2.1.1) unless it is a
// confidential client whose app opted out.
func requiresPKCE(c fosite.Client) bool {
	if c.IsPublic() {
		return true
	}
	if p, ok := c.(pkceClient); ok {
		return p.PKCERequired()
	}
	return true
}

// checkAuthorizeRequest applies our rules on top of fosite's: only the code
// flow in query mode, at least one scope, and PKCE (required unless a
// confidential app opted out) checked before the user is asked anything
// (fosite checks it only when it issues the code).
func checkAuthorizeRequest(ar fosite.AuthorizeRequester) error {
	if !ar.GetResponseTypes().ExactOne("code") {
		return fosite.ErrUnsupportedResponseType.WithHint("Only response_type=code is supported.")
	}
	form := ar.GetRequestForm()
	if m := form.Get("response_mode"); m != "" && m != "query" {
		return fosite.ErrUnsupportedResponseMode.WithHint("Only response_mode=query is supported.")
	}
	if len(ar.GetRequestedScopes()) == 0 {
		return fosite.ErrInvalidScope.WithHint("Request at least one scope.")
	}
	challenge, method := form.Get("code_challenge"), form.Get("code_challenge_method")
	switch {
	case challenge == "" && method == "" && requiresPKCE(ar.GetClient()):
		return fosite.ErrInvalidRequest.WithHint("This client must use PKCE with code_challenge_method=S256.")
	case challenge == "" && method != "":
		return fosite.ErrInvalidRequest.WithHint("code_challenge_method was sent without code_challenge.")
	case challenge != "" && method != "S256":
		return fosite.ErrInvalidRequest.WithHint("Only code_challenge_method=S256 is supported.")
	case challenge != "" && !pkceChallenge.MatchString(challenge):
		return fosite.ErrInvalidRequest.WithHint("code_challenge must be 43 base64url characters (S256).")
	}
	return nil
}

// askConsent stores the pending request and shows the consent screen.
func (s *Server) askConsent(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, p storage.Principal) {
	ctx := r.Context()
	client, ok := ar.GetClient().(*storage.Client)
	if !ok {
		s.serverError(w, r)
		return
	}
	app := client.App()
	id := secret.Token()
	err := s.store.CreateConsentChallenge(ctx, storage.ConsentChallenge{
		IDHash:         secret.SHA256([]byte(id)),
		LoginSessionID: p.LoginSessionID,
		ClientID:       app.ClientID,
		RequestQuery:   r.URL.RawQuery,
		Scopes:         ar.GetRequestedScopes(),
		ExpiresAt:      time.Now().Add(s.cfg.ConsentLifespan),
	})
	if err != nil {
		s.storeError(w, r, "create consent challenge", err)
		return
	}
	redirect := ar.GetRedirectURI().String()
	prompt := consent.Prompt{
		ChallengeID:    id,
		CSRFToken:      s.browser.CSRFToken(r, consentBinding(id)),
		FormAction:     AuthorizePath,
		ClientID:       app.ClientID,
		AppName:        app.Name,
		RedirectHost:   ar.GetRedirectURI().Host,
		RedirectOrigin: originOf(redirect),
		Scopes:         consent.Describe(ar.GetRequestedScopes()),
		UserEmail:      p.Email,
		WorkspaceName:  p.WorkspaceName,
		HomepageURL:    app.HomepageURL,
		PrivacyURL:     app.PrivacyURL,
		Description:    app.Description,
		ReturnTo:       AuthorizePath + "?" + r.URL.RawQuery,
	}
	// The publisher is the workspace that registered the app. Without it the
	// screen still works, so a failed lookup is logged, not shown.
	if name, ok := s.publishers.get(app.WorkspaceID); ok {
		prompt.Publisher = name
	} else if ws, err := s.store.GetWorkspace(ctx, app.WorkspaceID); err != nil {
		s.logError(ctx, "load app publisher", err)
	} else {
		prompt.Publisher = ws.Name
		s.publishers.put(app.WorkspaceID, ws.Name)
	}
	if app.HasLogo {
		prompt.LogoVersion = app.LogoSHA256
	}
	s.browser.RenderConsent(w, r, prompt)
}

func consentBinding(challengeID string) string { return "consent:" + challengeID }

// maxDecisionBody bounds the consent form's body.
const maxDecisionBody = 16 << 10

// decide handles the consent form (POST /oauth/authorize): Allow issues a
// code, Deny answers access_denied. The challenge is single use and bound to
// the login session; the CSRF token is bound to the challenge.
func (s *Server) decide(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !isForm(r) {
		s.browser.RenderError(w, r, http.StatusUnsupportedMediaType, "This form could not be read",
			"The form was not sent as application/x-www-form-urlencoded.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxDecisionBody)
	if err := r.ParseForm(); err != nil {
		s.browser.RenderError(w, r, http.StatusBadRequest, "This form could not be read", "The form is malformed or too large.")
		return
	}
	p, ok, err := s.browser.LoadPrincipal(r)
	if err != nil {
		s.storeError(w, r, "load signed-in user", err)
		return
	}
	if !ok {
		s.browser.RenderProblem(w, r, errpage.Problem{Status: http.StatusUnauthorized, Class: errpage.Expired,
			Detail: "The consent form was sent without a valid sign-in session."})
		return
	}
	id, token, decision := r.PostForm.Get("challenge"), r.PostForm.Get("csrf_token"), r.PostForm.Get("decision")
	if id == "" || !s.browser.VerifyCSRF(r, consentBinding(id), token) {
		s.browser.RenderProblem(w, r, errpage.Problem{Status: http.StatusForbidden, Class: errpage.Expired,
			Title:  "This form has expired",
			Detail: "The consent form's anti-forgery token is missing or does not match this sign-in session."})
		return
	}
	if decision != "allow" && decision != "deny" {
		s.browser.RenderError(w, r, http.StatusBadRequest, "This form could not be read", "Choose Allow or Deny.")
		return
	}
	// A denial changes nothing but the challenge it uses up: that and the
	// consent.denied event are one transaction. An approval's event goes
	// with the grant it saves (below).
	var ch storage.ConsentChallenge
	take := func(ctx context.Context) (err error) {
		ch, err = s.store.TakeConsentChallenge(ctx, secret.SHA256([]byte(id)), p.LoginSessionID)
		return err
	}
	if decision == "deny" {
		err = s.store.Audited(ctx, func(ctx context.Context) (storage.AuditEvent, error) {
			err := take(ctx)
			return consentEvent(p, storage.AuditConsentDenied, ch.ClientID, ch.Scopes), err
		})
	} else {
		err = take(ctx)
	}
	if errors.Is(err, storage.ErrNotFound) {
		s.browser.RenderProblem(w, r, errpage.Problem{Status: http.StatusBadRequest, Class: errpage.Expired,
			Title:  "This request was already answered or has expired",
			Detail: "The consent challenge is unknown, already used or past its lifetime."})
		return
	} else if err != nil {
		s.storeError(w, r, "take consent challenge", err)
		return
	}
	q, err := url.ParseQuery(ch.RequestQuery)
	if err != nil {
		s.serverError(w, r)
		return
	}
	orig := r.Clone(ctx)
	orig.Method = http.MethodGet
	orig.URL = &url.URL{Path: AuthorizePath, RawQuery: ch.RequestQuery}
	orig.Body, orig.ContentLength = http.NoBody, 0
	orig.Form, orig.PostForm = nil, nil
	orig.Header = r.Header.Clone()
	orig.Header.Del("Content-Type")
	ar, ok := s.parseAuthorizeRequest(w, orig, q)
	if !ok {
		return
	}
	if decision == "deny" {
		s.redirectError(w, r, ar, fosite.ErrAccessDenied.WithHint("The user denied the request."))
		return
	}
	// The consent challenge is single use and expires on its own; a marker
	// the request came back with from a re-authentication keeps counting.
	requestedAt, marked := s.reauthStart(ch.RequestQuery, 0)
	if !marked {
		requestedAt = time.Now()
	}
	// The grant and its consent.granted event are written with the code's
	// rows, in the same batch: all of them or none.
	s.issueCode(w, r, ar, p, requestedAt, func(ctx context.Context) error {
		if err := s.store.SaveGrant(ctx, p.UserID, ch.ClientID, ar.GetRequestedScopes()); err != nil {
			return err
		}
		return s.store.RecordAudit(ctx, consentEvent(p, storage.AuditConsentGranted, ch.ClientID, ar.GetRequestedScopes()))
	})
}

// issueCode grants the requested scopes and answers with a code, state and iss.
// requestedAt is when the authorization request was made, which fosite's
// prompt and max_age checks hold auth_time against. Each of also writes
// through the store with the context it is given, in the batch of the
// code's rows.
func (s *Server) issueCode(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, p storage.Principal, requestedAt time.Time, also ...func(context.Context) error) {
	ctx := r.Context()
	ar.SetID(newGrantID())
	for _, scope := range ar.GetRequestedScopes() {
		ar.GrantScope(scope)
	}
	ar.GrantAudience(s.cfg.Audience)
	sess := newSession(s.cfg.AccessTokenLifespan)
	sess.Subject = p.UserID
	sess.Username = p.Email
	sess.WorkspaceID = p.WorkspaceID
	sess.ClientID = ar.GetClient().GetID()
	sess.AuthTime = p.SignedInAt.UTC()
	sess.GrantedAt = time.Now().UTC()
	setIDTokenClaims(sess, p, ar.GetGrantedScopes(), requestedAt)
	// The code's rows (code, PKCE, OpenID Connect request) are written
	// together, in one round trip, once fosite has built the response;
	// the writes of also go first in the same batch.
	ctx = s.store.WithWriteBatch(ctx)
	var err error
	for _, write := range also {
		if werr := write(ctx); werr != nil {
			err = fosite.ErrServerError.WithWrap(werr).WithDebug(werr.Error())
			break
		}
	}
	var resp fosite.AuthorizeResponder
	if err == nil {
		resp, err = s.provider.NewAuthorizeResponse(ctx, ar, sess)
	}
	if err == nil {
		if ferr := s.store.FlushWrites(ctx); ferr != nil {
			err = fosite.ErrServerError.WithWrap(ferr).WithDebug(ferr.Error())
		}
	}
	if err != nil {
		s.store.DiscardWrites(ctx)
		s.authorizeError(w, r, ar, err)
		return
	}
	resp.AddParameter("iss", s.cfg.Issuer) // RFC 9207
	s.provider.WriteAuthorizeResponse(ctx, w, ar, resp)
}

// authorizeError answers a failed authorization request: with a redirect to
// the client when its redirect URI was verified, else with an error page.
// When the store was unavailable (fosite reports a failed client lookup as
// "client does not exist") it shows the "try again" page instead.
func (s *Server) authorizeError(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, err error) {
	if isUnavailable(err) {
		s.renderUnavailable(w, r, err)
		return
	}
	code, desc := describe(err)
	if ar == nil || !ar.IsRedirectURIValid() || ar.GetRedirectURI() == nil {
		p := authorizeProblem(ar, err)
		s.log.InfoContext(r.Context(), "authorization request refused", "error", code, "description", desc,
			"class", string(p.Class))
		s.browser.RenderProblem(w, r, p)
		return
	}
	s.log.InfoContext(r.Context(), "authorization request refused", "error", code, "description", desc)
	s.redirectError(w, r, ar, err)
}

// redirectError sends the error to the client's verified redirect URI with
// state and iss (fosite's writer cannot add iss).
func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, err error) {
	code, desc := describe(err)
	u := *ar.GetRedirectURI()
	q := u.Query()
	q.Set("error", code)
	if desc != "" {
		q.Set("error_description", desc)
	}
	if st := ar.GetState(); st != "" {
		q.Set("state", st)
	}
	q.Set("iss", s.cfg.Issuer)
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

func (s *Server) serverError(w http.ResponseWriter, r *http.Request) {
	s.browser.RenderError(w, r, http.StatusInternalServerError, "Something went wrong",
		"The server could not complete this request. Please try again.")
}

// isForm reports whether the request body is declared as a URL-encoded form.
func isForm(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// consentEvent is the decision of the signed-in user p on clientID's request
// for scopes. It belongs to p's workspace, whose administrators see which
// apps their people let in, whichever workspace the app is from.
func consentEvent(p storage.Principal, action, clientID string, scopes []string) storage.AuditEvent {
	return storage.AuditEvent{
		WorkspaceID: p.WorkspaceID, ActorKind: storage.ActorUser, ActorID: p.UserID,
		Action: action, TargetKind: storage.TargetApp, TargetID: clientID,
		Details: map[string]any{"scopes": append([]string{}, scopes...)},
	}
}

// newGrantID is the request id of a new grant, which its code, tokens and
// their successors keep: a version 7 UUID (RFC 9562), 48 bits of
// milliseconds then 74 random bits, where fosite's default is a random
// version 4 one. Every token table indexes request_id; with ids that grow
// with time, the entries of new grants are appended at the right edge of
// those indexes, whose pages stay in memory, instead of landing on a random
// page of an index of tens of millions of entries (measured at size in
// docs/benchmarks.md). The id is not secret and says no more than a token's
// iat does.
func newGrantID() string {
	return uuid.Must(uuid.NewV7()).String()
}
