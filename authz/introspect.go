package authz

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/nextoria/authz/apikey"
	"github.com/nextoria/authz/metrics"
	"github.com/nextoria/authz/storage"
)

// Paths of the token-lifecycle endpoints.
const (
	IntrospectPath = "/v1/oauth/introspect"
	RevokePath     = "/v1/oauth/revoke"
)

// maxLifecycleBody bounds introspection and revocation bodies.
const maxLifecycleBody = 16 << 10

// Introspection is the RFC 7662 response. Inactive tokens answer exactly
// {"active": false}: every other field is omitted.
type Introspection struct {
	Active      bool     `json:"active"`
	Scope       string   `json:"scope,omitempty"`
	ClientID    string   `json:"client_id,omitempty"`
	Subject     string   `json:"sub,omitempty"`
	Username    string   `json:"username,omitempty"`
	TokenType   string   `json:"token_type,omitempty"`
	ExpiresAt   int64    `json:"exp,omitempty"`
	IssuedAt    int64    `json:"iat,omitempty"`
	Issuer      string   `json:"iss,omitempty"`
	Audience    []string `json:"aud,omitempty"`
	JTI         string   `json:"jti,omitempty"`
	WorkspaceID string   `json:"workspace_id,omitempty"`
	Plan        string   `json:"plan,omitempty"`
	KeyID       string   `json:"key_id,omitempty"`
	KeyName     string   `json:"key_name,omitempty"`
}

// Token types reported by introspection.
const (
	TokenTypeBearer  = "Bearer"
	TokenTypeRefresh = "refresh_token"
	TokenTypeAPIKey  = "api_key"
)

// APIKeyIntrospector answers introspection for API keys. ok is false when s
// is not shaped like an API key, so that other token kinds are tried.
type APIKeyIntrospector interface {
	IntrospectAPIKey(ctx context.Context, s string) (result Introspection, ok bool, err error)
}

// introspect handles POST /v1/oauth/introspect for resource servers.
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	rsID, ok, err := s.authenticateResourceServer(ctx, r)
	if err != nil {
		if isUnavailable(err) {
			s.writeUnavailable(w, r, err)
			return
		}
		s.logError(ctx, "load resource server", err)
		writeOAuthError(w, http.StatusInternalServerError, "server_error", "The credentials could not be checked.")
		return
	}
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="nextoria", charset="UTF-8"`)
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "Resource-server authentication failed.")
		return
	}
	if !s.allow(w, metrics.EndpointIntrospection, s.cfg.Limits.Introspection, "introspect:"+rsID) {
		return
	}
	if err := parseLifecycleForm(w, r); err != nil {
		code, desc := describe(err)
		writeOAuthError(w, http.StatusBadRequest, code, desc)
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The token parameter is missing.")
		return
	}
	res, err := s.Introspect(ctx, token, r.PostForm.Get("token_type_hint"))
	if isUnavailable(err) {
		s.writeUnavailable(w, r, err)
		return
	}
	if err != nil {
		s.logError(ctx, "introspection failed", err)
		writeOAuthError(w, http.StatusInternalServerError, "server_error", "The token could not be checked.")
		return
	}
	s.cfg.Metrics.Introspection(introspectedType(res, token), res.Active)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(res)
}

// Introspect reports on an access token, refresh token or API key. The hint
// only orders the lookups; a token is never trusted to be what it says.
func (s *Server) Introspect(ctx context.Context, token, hint string) (Introspection, error) {
	if s.apiKeys != nil {
		res, ok, err := s.apiKeys.IntrospectAPIKey(ctx, token)
		if err != nil || ok {
			return res, err
		}
	}
	use := fosite.AccessToken
	if hint == "refresh_token" {
		use = fosite.RefreshToken
	}
	sess := newSession(s.cfg.AccessTokenLifespan)
	kind, ar, err := s.provider.IntrospectToken(ctx, token, use, sess)
	if err != nil {
		if isServerError(err) {
			return Introspection{}, err
		}
		s.log.DebugContext(ctx, "token inactive", "reason", fosite.ErrorToRFC6749Error(err).WithExposeDebug(true).GetDescription())
		return Introspection{Active: false}, nil
	}
	sess, ok := ar.GetSession().(*Session)
	if !ok {
		return Introspection{}, errors.New("authz: unexpected session type")
	}
	res := Introspection{
		Active:      true,
		Scope:       strings.Join(ar.GetGrantedScopes(), " "),
		ClientID:    ar.GetClient().GetID(),
		Subject:     sess.Subject,
		Username:    sess.Username,
		Issuer:      s.cfg.Issuer,
		Audience:    ar.GetGrantedAudience(),
		WorkspaceID: sess.WorkspaceID,
	}
	switch kind {
	case fosite.AccessToken:
		res.TokenType = TokenTypeBearer
		res.ExpiresAt = sess.GetExpiresAt(fosite.AccessToken).Unix()
		res.IssuedAt = sess.IssuedAt.Unix()
		res.JTI = sess.JTI
	case fosite.RefreshToken:
		exp, expired := s.refreshExpiry(sess)
		if expired {
			return Introspection{Active: false}, nil
		}
		// A redeemed token still in its grace period works only until the
		// period ends, however far off its own expiry is.
		end, inGrace, err := s.store.RefreshTokenGraceEnd(ctx, s.accessStrategy.RefreshTokenSignature(ctx, token))
		if err != nil {
			return Introspection{}, err
		}
		if inGrace && (exp.IsZero() || end.Before(exp)) {
			exp = end
		}
		res.TokenType = TokenTypeRefresh
		res.ExpiresAt = exp.Unix()
		res.IssuedAt = ar.GetRequestedAt().Unix()
	default:
		return Introspection{Active: false}, nil
	}
	plan, ok := s.plans.get(sess.WorkspaceID)
	if !ok {
		ws, err := s.store.GetWorkspace(ctx, sess.WorkspaceID)
		if errors.Is(err, storage.ErrNotFound) {
			return Introspection{Active: false}, nil
		} else if err != nil {
			return Introspection{}, err
		}
		plan = ws.Plan
		s.plans.put(sess.WorkspaceID, plan)
	}
	res.Plan = plan
	return res, nil
}

// introspectedType is the token_type label of an introspection: the type
// introspection reported for an active token; for an inactive one, the kind
// the token is shaped like (API-key prefix, a JWT's three parts, an HMAC
// token's two), as nothing more is known of it.
func introspectedType(res Introspection, token string) string {
	switch res.TokenType {
	case TokenTypeBearer:
		return metrics.TokenTypeAccess
	case TokenTypeRefresh:
		return metrics.TokenTypeRefresh
	case TokenTypeAPIKey:
		return metrics.TokenTypeAPIKey
	}
	switch {
	case strings.HasPrefix(token, apikey.Prefix):
		return metrics.TokenTypeAPIKey
	case strings.Count(token, ".") == 2:
		return metrics.TokenTypeAccess
	case strings.Count(token, ".") == 1:
		return metrics.TokenTypeRefresh
	}
	return metrics.TokenTypeUnknown
}

// refreshExpiry is when a refresh token stops working: the earlier of its
// idle expiry (it slides with each rotation) and the grant's absolute limit.
func (s *Server) refreshExpiry(sess *Session) (time.Time, bool) {
	exp := sess.GetExpiresAt(fosite.RefreshToken)
	if s.cfg.RefreshTokenMaxLifetime > 0 && !sess.GrantedAt.IsZero() {
		if limit := sess.GrantedAt.Add(s.cfg.RefreshTokenMaxLifetime); exp.IsZero() || limit.Before(exp) {
			exp = limit
		}
	}
	return exp, !exp.IsZero() && time.Now().After(exp)
}

// authenticateResourceServer checks HTTP Basic credentials of a resource
// server in constant time; an unknown client_id costs the same hash. It
// returns the resource server's client_id. err is set when the store could
// not answer: the credentials were then neither accepted nor rejected.
func (s *Server) authenticateResourceServer(ctx context.Context, r *http.Request) (string, bool, error) {
	id, sec, ok := r.BasicAuth()
	if !ok {
		return "", false, nil
	}
	id, err1 := url.QueryUnescape(id)
	sec, err2 := url.QueryUnescape(sec)
	if err1 != nil || err2 != nil || id == "" {
		return "", false, nil
	}
	got := s.hasher.Sum([]byte(sec))
	want, ok := s.resourceServers.get(id)
	if !ok {
		rs, err := s.store.GetResourceServer(ctx, id)
		if errors.Is(err, storage.ErrNotFound) {
			return "", false, nil
		} else if err != nil {
			return "", false, err
		}
		want = rs.SecretHash
		s.resourceServers.put(id, want)
	}
	return id, subtle.ConstantTimeCompare(got, want) == 1, nil
}

// revoke handles POST /v1/oauth/revoke (RFC 7009). Clients authenticate as at
// the token endpoint. Revoking a refresh token revokes its whole grant;
// revoking an access token revokes that token. Unknown tokens and tokens of
// other clients answer 200 and change nothing.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.Header.Get("Origin") != "" {
		w.Header().Add("Vary", "Origin")
	}
	if err := parseLifecycleForm(w, r); err != nil { // bounds and parses the body first
		s.provider.WriteRevocationResponse(ctx, w, err)
		return
	}
	if err := checkClientCredentials(r); err != nil {
		s.provider.WriteRevocationResponse(ctx, w, err)
		return
	}
	if _, _, basic := r.BasicAuth(); !basic && r.PostForm.Get("client_id") == "" {
		// RFC 7009 §2.1: the client authenticates; without any credentials
		// this is an authentication failure, not a malformed request.
		s.writeRevocationError(ctx, w, fosite.ErrInvalidClient)
		return
	}
	client, err := s.fositeCore.AuthenticateClient(ctx, r, r.PostForm)
	if isUnavailable(err) {
		s.writeUnavailable(w, r, err)
		return
	}
	if err != nil {
		s.writeRevocationError(ctx, w, err)
		return
	}
	s.allowTokenCORS(w, r, client)
	if !s.allow(w, metrics.EndpointRevocation, s.cfg.Limits.Revocation, "revoke:"+client.GetID()) {
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		s.provider.WriteRevocationResponse(ctx, w, fosite.ErrInvalidRequest.WithHint("The token parameter is missing."))
		return
	}
	use := fosite.AccessToken
	if r.PostForm.Get("token_type_hint") == "refresh_token" {
		use = fosite.RefreshToken
	}
	if err := s.revokeToken(ctx, client.GetID(), token, use); err != nil {
		if isUnavailable(err) {
			s.writeUnavailable(w, r, err)
			return
		}
		s.logError(ctx, "revocation failed", err)
		s.provider.WriteRevocationResponse(ctx, w, fosite.ErrServerError)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// writeRevocationError writes a revocation error; invalid_client (401) also
// gets the WWW-Authenticate challenge (RFC 6749 §5.2).
func (s *Server) writeRevocationError(ctx context.Context, w http.ResponseWriter, err error) {
	if errors.Is(err, fosite.ErrInvalidClient) {
		w.Header().Set("WWW-Authenticate", `Basic realm="nextoria", charset="UTF-8"`)
	}
	s.provider.WriteRevocationResponse(ctx, w, err)
}

func (s *Server) revokeToken(ctx context.Context, clientID, token string, hint fosite.TokenUse) error {
	kind, ar, err := s.provider.IntrospectToken(ctx, token, hint, newSession(s.cfg.AccessTokenLifespan))
	if err != nil {
		if isServerError(err) {
			return err
		}
		return nil // unknown, expired or already revoked: nothing to do
	}
	if ar.GetClient().GetID() != clientID {
		return nil // another client's token: refused silently (RFC 7009 §2.1)
	}
	switch kind {
	case fosite.RefreshToken:
		if err := s.store.RevokeRefreshToken(ctx, ar.GetID()); err != nil {
			return err
		}
		return s.store.RevokeAccessToken(ctx, ar.GetID())
	case fosite.AccessToken:
		return s.store.DeleteAccessTokenSession(ctx, s.accessStrategy.AccessTokenSignature(ctx, token))
	}
	return nil
}

func parseLifecycleForm(w http.ResponseWriter, r *http.Request) error {
	if !isForm(r) {
		return fosite.ErrInvalidRequest.WithHint("The request body must be application/x-www-form-urlencoded.")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLifecycleBody)
	if err := r.ParseForm(); err != nil {
		return fosite.ErrInvalidRequest.WithHint("The request body could not be parsed or is too large.")
	}
	return checkFormValues(r.PostForm)
}

// isServerError reports whether a token lookup failed for a reason other
// than the token: a store outage (which fosite wraps as
// request_unauthorized) or a server_error. Such a token is not "inactive".
func isServerError(err error) bool {
	if isUnavailable(err) {
		return true
	}
	var rfc *fosite.RFC6749Error
	if errors.As(err, &rfc) {
		return rfc.ErrorField == fosite.ErrServerError.ErrorField
	}
	return !errors.Is(err, fosite.ErrNotFound) && !errors.Is(err, fosite.ErrInactiveToken)
}

// writeOAuthError writes an RFC 6749 error body.
func writeOAuthError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": description})
}
