package authz

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ory/fosite"

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
}

// token handles POST /v1/oauth/token: the authorization_code and
// refresh_token grants, with client_secret_post, client_secret_basic, or no
// secret for public clients (which must have used PKCE).
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s.allowTokenCORS(w, r)
	sess := newSession(s.cfg.AccessTokenLifespan)
	if err := checkTokenRequest(w, r); err != nil {
		s.provider.WriteAccessError(ctx, w, fosite.NewAccessRequest(sess), err)
		return
	}
	ar, err := s.provider.NewAccessRequest(ctx, r, sess)
	if err != nil {
		s.writeAccessError(w, r, ar, err)
		return
	}
	resp, err := s.provider.NewAccessResponse(ctx, ar)
	if err != nil {
		s.writeAccessError(w, r, ar, err)
		return
	}
	expiresIn := time.Until(ar.GetSession().GetExpiresAt(fosite.AccessToken)).Seconds()
	body := tokenResponse{
		AccessToken:  resp.GetAccessToken(),
		TokenType:    "Bearer",
		ExpiresIn:    int64(math.Round(expiresIn)),
		RefreshToken: stringExtra(resp, "refresh_token"),
		Scope:        strings.Join(ar.GetGrantedScopes(), " "),
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	_ = json.NewEncoder(w).Encode(body)
}

func stringExtra(resp fosite.AccessResponder, key string) string {
	v, _ := resp.GetExtra(key).(string)
	return v
}

func (s *Server) writeAccessError(w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, err error) {
	code, desc := describe(err)
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
	for k, vs := range r.PostForm {
		if !utf8.ValidString(k) || slices.ContainsFunc(vs, func(v string) bool { return !utf8.ValidString(v) }) {
			return fosite.ErrInvalidRequest.WithHint("The request contains invalid UTF-8.")
		}
		if len(vs) > 1 {
			return fosite.ErrInvalidRequest.WithHintf("The parameter %q appears more than once.", k)
		}
	}
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "authorization_code", "refresh_token":
	case "":
		return fosite.ErrInvalidRequest.WithHint("The grant_type parameter is missing.")
	default:
		return fosite.ErrUnsupportedGrantType.WithHint("Supported grant types are authorization_code and refresh_token.")
	}
	if _, _, basic := r.BasicAuth(); basic && r.PostForm.Get("client_secret") != "" {
		return fosite.ErrInvalidRequest.WithHint("Use exactly one client authentication method.")
	}
	if h := r.Header.Get("Authorization"); h != "" {
		if _, _, basic := r.BasicAuth(); !basic {
			return fosite.ErrInvalidClient.WithHint("The Authorization header must use the Basic scheme.")
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

// allowTokenCORS lets a public client's browser read the token response when
// the request comes from the origin of one of its redirect URIs.
func (s *Server) allowTokenCORS(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return
	}
	w.Header().Add("Vary", "Origin")
	clientID := r.URL.Query().Get("client_id")
	if err := r.ParseForm(); err == nil && r.PostForm.Get("client_id") != "" {
		clientID = r.PostForm.Get("client_id")
	}
	if clientID == "" {
		return
	}
	c, err := s.store.GetClient(r.Context(), clientID)
	if err != nil || !c.IsPublic() {
		return
	}
	app := c.(*storage.Client).App()
	for _, ru := range app.RedirectURIs {
		if u, err := url.Parse(ru); err == nil && originOf(u.String()) == origin {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			return
		}
	}
}
