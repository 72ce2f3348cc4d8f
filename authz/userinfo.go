package authz

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/ory/fosite"
)

// userinfo serves GET and POST /v1/oauth/userinfo (OpenID Connect Core
// §5.3): who the holder of an access token granted openid is, with the
// claims its scopes release, the same values as in the ID token. The token
// comes in the Authorization header only (RFC 6750 §2.1); API keys are not
// access tokens and are refused like any unknown token. Browser apps call it
// from their own origin, so any origin may read the answer; no cookie is
// involved.
func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Access-Control-Expose-Headers", "WWW-Authenticate")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	token, ok := bearerToken(r)
	if !ok {
		// RFC 6750 §3.1: a request without credentials gets a bare challenge.
		w.Header().Set("WWW-Authenticate", `Bearer`)
		writeJSONError(w, http.StatusUnauthorized, "", "")
		return
	}
	kind, ar, err := s.provider.IntrospectToken(ctx, token, fosite.AccessToken, newSession(s.cfg.AccessTokenLifespan))
	if err == nil && kind != fosite.AccessToken {
		err = fosite.ErrInvalidTokenFormat // a refresh token is no bearer credential
	}
	if err != nil {
		if isServerError(err) {
			s.logError(ctx, "userinfo: look up access token", err)
			s.writeUnavailable(w, r, err)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="The access token is invalid, expired or revoked."`)
		writeJSONError(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid, expired or revoked.")
		return
	}
	sess, ok := ar.GetSession().(*Session)
	if !ok || !ar.GetGrantedScopes().Has(scopeOpenID) || sess.IDClaims == nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="openid", error_description="The access token was not granted the openid scope."`)
		writeJSONError(w, http.StatusForbidden, "insufficient_scope", "The access token was not granted the openid scope.")
		return
	}
	body := map[string]any{"sub": sess.IDClaims.Subject}
	for _, k := range []string{"name", "email", "email_verified"} {
		if v, ok := sess.IDClaims.Extra[k]; ok {
			body[k] = v
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

// userinfoPreflight answers a CORS preflight for the UserInfo endpoint from
// any origin.
func (s *Server) userinfoPreflight(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, POST")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

// writeJSONError writes status with an OAuth error body, or no body when
// code is empty.
func writeJSONError(w http.ResponseWriter, status int, code, description string) {
	if code == "" {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": description})
}
