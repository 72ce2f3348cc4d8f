package authz

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ory/fosite"

	"github.com/nextoria/authz/consent"
	"github.com/nextoria/authz/metrics"
	"github.com/nextoria/authz/storage"
)

// maxTokenBody bounds the token request's body.
const maxTokenBody = 64 << 10

// tokenResponse is exactly the documented token response.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
	// IDToken is the OpenID Connect ID token, when openid was granted.
	IDToken string `json:"id_token,omitempty"`
}

// token handles POST /v1/oauth/token: the authorization_code and
// refresh_token grants, with client_secret_post, client_secret_basic, or no
// secret for public clients (which must have used PKCE).
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess := newSession(s.cfg.AccessTokenLifespan)
	err := checkTokenRequest(w, r) // bounds and parses the body first
	if r.Header.Get("Origin") != "" {
		w.Header().Add("Vary", "Origin")
	}
	if err != nil {
		s.cfg.Metrics.TokenError(fosite.ErrorToRFC6749Error(err).ErrorField)
		s.provider.WriteAccessError(ctx, w, fosite.NewAccessRequest(sess), err)
		return
	}

	// A refresh that races other refreshes of the same grant needs no retry
	// here: the store serializes them and applies the grace rule in one
	// transaction (storage.Store.RotateRefreshToken).
	//
	// The client and the code or refresh token rows are read up front in one
	// round trip, and fosite's transaction is written as one batch on its
	// commit, so a token request costs two round trips. A refusal inside the
	// batch comes back as the store error fosite knows (a code redeemed
	// already, a refresh token no longer current), so clients get the same
	// answers as when each write was its own statement.
	ctx, err = s.store.PrepareTokenRequest(ctx, s.tokenRequest(ctx, r))
	if isUnavailable(err) {
		s.writeAccessError(w, r, nil, err)
		return
	}
	ar, err := s.provider.NewAccessRequest(ctx, r, sess)
	if ar != nil {
		// CORS only for the client fosite authenticated (nil before that).
		s.allowTokenCORS(w, r, ar.GetClient())
	}
	if err != nil {
		if r.PostForm.Get("grant_type") == "refresh_token" && refreshReused(err) {
			s.cfg.Metrics.RefreshReuseDetected()
		}
		s.writeAccessError(w, r, ar, err)
		return
	}
	if !s.allow(w, metrics.EndpointToken, s.cfg.Limits.Token, "token:"+ar.GetClient().GetID()) {
		s.cfg.Metrics.TokenError("temporarily_unavailable")
		return
	}
	refresh := ar.GetGrantTypes().ExactOne("refresh_token")
	if _, expired := s.refreshExpiry(sess); refresh && expired {
		// past the absolute lifetime: the grant is over
		if err := s.revokeGrant(ctx, ar.GetID()); err != nil {
			s.logError(ctx, "revoke expired grant", err)
		}
		s.writeAccessError(w, r, ar, fosite.ErrInvalidGrant.WithHint("The refresh token has reached its maximum lifetime; authorize again."))
		return
	}
	if refresh && r.PostForm.Get("scope") != "" {
		original, err := narrowScopes(ar, r.PostForm.Get("scope"))
		if err != nil {
			s.writeAccessError(w, r, ar, err)
			return
		}
		// The new refresh token keeps the scopes of the grant, written
		// with it in the same batch.
		storage.KeepRefreshScopes(ctx, original)
	}
	resp, err := s.provider.NewAccessResponse(ctx, ar)
	if err != nil {
		if ar.GetGrantTypes().ExactOne("authorization_code") && lostCodeRace(err) {
			// Another request redeemed this code at the same moment. The code
			// was used twice: revoke what the other redemption got (RFC 6749 §4.1.2).
			if rerr := s.revokeGrant(ctx, ar.GetID()); rerr != nil {
				s.logError(ctx, "revoke tokens of a replayed code", rerr)
			}
			err = fosite.ErrInvalidGrant.WithHint("The authorization code has already been used.")
		}
		s.writeAccessError(w, r, ar, err)
		return
	}
	if refresh {
		s.grantUses.record(sess.Subject, ar.GetClient().GetID())
		s.cfg.Metrics.TokenIssued("refresh_token")
	} else {
		s.cfg.Metrics.TokenIssued("authorization_code")
	}
	// expires_in is the token's lifetime, exp - iat: a loaded server that
	// takes over a second to answer must not report 3599 for a 3600 s token.
	exp := ar.GetSession().GetExpiresAt(fosite.AccessToken)
	expiresIn := time.Until(exp).Seconds()
	if as, ok := ar.GetSession().(*Session); ok && !as.IssuedAt.IsZero() {
		expiresIn = exp.Sub(as.IssuedAt).Seconds()
	}
	body := tokenResponse{
		AccessToken:  resp.GetAccessToken(),
		TokenType:    "Bearer",
		ExpiresIn:    int64(math.Ceil(expiresIn)),
		RefreshToken: stringExtra(resp, "refresh_token"),
		Scope:        strings.Join(ar.GetGrantedScopes(), " "),
		IDToken:      stringExtra(resp, "id_token"),
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	_ = json.NewEncoder(w).Encode(body)
}

// tokenRequest names the rows a token request will read: its client (from
// the Basic credentials, else the form; checkClientCredentials has made sure
// both name the same one) and its code or refresh token.
func (s *Server) tokenRequest(ctx context.Context, r *http.Request) storage.TokenRequest {
	tr := storage.TokenRequest{ClientID: r.PostForm.Get("client_id")}
	if user, _, ok := r.BasicAuth(); ok {
		if id, err := url.QueryUnescape(user); err == nil {
			tr.ClientID = id
		}
	}
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		if code := r.PostForm.Get("code"); code != "" {
			tr.Code, tr.CodeSignature = code, s.accessStrategy.AuthorizeCodeSignature(ctx, code)
		}
	case "refresh_token":
		if token := r.PostForm.Get("refresh_token"); token != "" {
			tr.RefreshSignature = s.accessStrategy.RefreshTokenSignature(ctx, token)
		}
	}
	return tr
}

// narrowScopes applies a refresh request's scope parameter: it may name a
// subset of the granted scopes (the new access token gets only those), never
// more. It returns the originally granted scopes.
func narrowScopes(ar fosite.AccessRequester, raw string) (fosite.Arguments, error) {
	original := ar.GetGrantedScopes()
	want := consent.ParseScope(raw)
	for _, sc := range want {
		if !original.Has(sc) {
			return nil, fosite.ErrInvalidScope.WithHintf("The scope %q was not granted to this refresh token.", sc)
		}
	}
	req, ok := ar.(*fosite.AccessRequest)
	if !ok {
		return nil, fosite.ErrServerError.WithDebugf("unexpected access request type %T", ar)
	}
	req.GrantedScope = fosite.Arguments(want)
	return append(fosite.Arguments(nil), original...), nil
}

// refreshReused reports whether a refresh request failed because its token
// had already been rotated: fosite then revoked the whole grant and answers
// invalid_grant with the store's fosite.ErrInactiveToken as the cause.
func refreshReused(err error) bool {
	return errors.Is(err, fosite.ErrInvalidGrant) && errors.Is(err, fosite.ErrInactiveToken)
}

// lostCodeRace reports whether a code exchange failed because a concurrent
// request invalidated the code first.
func lostCodeRace(err error) bool {
	return errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) || errors.Is(err, fosite.ErrSerializationFailure)
}

// revokeGrant revokes every access and refresh token of a grant.
func (s *Server) revokeGrant(ctx context.Context, requestID string) error {
	if err := s.store.RevokeRefreshToken(ctx, requestID); err != nil {
		return err
	}
	return s.store.RevokeAccessToken(ctx, requestID)
}

func stringExtra(resp fosite.AccessResponder, key string) string {
	v, _ := resp.GetExtra(key).(string)
	return v
}

func (s *Server) writeAccessError(w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, err error) {
	if isUnavailable(err) {
		s.cfg.Metrics.TokenError("temporarily_unavailable")
		s.writeUnavailable(w, r, err)
		return
	}
	code, desc := describe(err)
	s.cfg.Metrics.TokenError(code)
	if code == fosite.ErrServerError.ErrorField {
		s.logError(r.Context(), "token request failed", err)
	} else {
		s.log.InfoContext(r.Context(), "token request refused", "error", code, "description", desc)
	}
	s.provider.WriteAccessError(r.Context(), w, ar, err)
}

// checkTokenRequest rejects what fosite would accept or misread: bodies that
// are not small URL-encoded forms, invalid UTF-8, repeated parameters
// (RFC 6749 §3.2) and two client-authentication methods at once (§2.3).
func checkTokenRequest(w http.ResponseWriter, r *http.Request) error {
	if !isForm(r) {
		return fosite.ErrInvalidRequest.WithHint("The request body must be application/x-www-form-urlencoded.")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenBody)
	if err := r.ParseForm(); err != nil {
		return fosite.ErrInvalidRequest.WithHint("The request body could not be parsed or is too large.")
	}
	if len(r.URL.RawQuery) > 0 {
		return fosite.ErrInvalidRequest.WithHint("Send the parameters in the request body, not in the URL.")
	}
	if err := checkFormValues(r.PostForm); err != nil {
		return err
	}
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "authorization_code", "refresh_token":
	case "":
		return fosite.ErrInvalidRequest.WithHint("The grant_type parameter is missing.")
	default:
		return fosite.ErrUnsupportedGrantType.WithHint("Supported grant types are authorization_code and refresh_token.")
	}
	if h := r.Header.Get("Authorization"); h != "" {
		if _, _, basic := r.BasicAuth(); !basic {
			return fosite.ErrInvalidClient.WithHint("The Authorization header must use the Basic scheme.")
		}
	}
	return checkClientCredentials(r)
}

// checkClientCredentials refuses two client-authentication methods at once
// (RFC 6749 §2.3) and a form client_id that names another client than the
// Basic credentials: fosite would authenticate the Basic one and ignore the
// form, so the request would not mean what it says. r.PostForm must be parsed.
func checkClientCredentials(r *http.Request) error {
	user, _, basic := r.BasicAuth()
	if !basic {
		return nil
	}
	if r.PostForm.Get("client_secret") != "" {
		return fosite.ErrInvalidRequest.WithHint("Use exactly one client authentication method.")
	}
	if formID := r.PostForm.Get("client_id"); formID != "" {
		if id, err := url.QueryUnescape(user); err != nil || id != formID {
			return fosite.ErrInvalidRequest.WithHint("The client_id parameter does not match the client of the Authorization header.")
		}
	}
	return nil
}

// authenticateClient is fosite's client authentication plus one rule: a
// public client that sends a client secret (in the form or with Basic) is
// refused. fosite accepts it and ignores the secret, so a misconfigured
// client would believe it authenticates when it does not.
func authenticateClient(core *fosite.Fosite) fosite.ClientAuthenticationStrategy {
	return func(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
		c, err := core.DefaultClientAuthenticationStrategy(ctx, r, form)
		if err != nil {
			return nil, err
		}
		_, basicSecret, _ := r.BasicAuth()
		if c.IsPublic() && (basicSecret != "" || form.Get("client_secret") != "") {
			return nil, fosite.ErrInvalidClient.WithHint("A public client must not send a client secret.")
		}
		return c, nil
	}
}

// checkFormValues refuses invalid UTF-8 and repeated parameters (RFC 6749 §3.2).
func checkFormValues(form url.Values) error {
	for k, vs := range form {
		if !utf8.ValidString(k) || slices.ContainsFunc(vs, func(v string) bool { return !utf8.ValidString(v) }) {
			return fosite.ErrInvalidRequest.WithHint("The request contains invalid UTF-8.")
		}
		if len(vs) > 1 {
			return fosite.ErrInvalidRequest.WithHintf("The parameter %q appears more than once.", k)
		}
	}
	return nil
}

// tokenPreflight answers CORS preflights: browser apps (public clients) call
// the token endpoint from their own origin. No cookies are involved.
func (s *Server) tokenPreflight(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", "POST")
	h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization")
	h.Set("Access-Control-Max-Age", "600")
	h.Add("Vary", "Origin")
	w.WriteHeader(http.StatusNoContent)
}

// allowTokenCORS lets a public client's browser read the token endpoint's
// answers when the request comes from the origin of one of its redirect
// URIs. client is the client fosite authenticated (nil when none was): the
// decision never rests on an unauthenticated client_id. The caller has
// already added "Vary: Origin".
func (s *Server) allowTokenCORS(w http.ResponseWriter, r *http.Request, client fosite.Client) {
	origin := r.Header.Get("Origin")
	if origin == "" || client == nil || !client.IsPublic() {
		return
	}
	for _, ru := range client.GetRedirectURIs() {
		if originOf(ru) == origin {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			return
		}
	}
}
