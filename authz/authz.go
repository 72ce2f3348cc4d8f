// Package authz wires fosite into the protocol endpoints of the authorization
// server: /oauth/authorize (with its consent decision), /v1/oauth/token, the
// RFC 8414 metadata and the JWKS. It declares the small interface it needs
// from the browser surface (who is signed in, how to show consent and errors)
// and never imports it.
package authz

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/hmac"
	"github.com/ory/fosite/token/jwt"

	"github.com/nextoria/authz/consent"
	"github.com/nextoria/authz/errpage"
	"github.com/nextoria/authz/metrics"
	"github.com/nextoria/authz/ratelimit"
	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
)

// Paths of the protocol endpoints.
const (
	AuthorizePath = "/oauth/authorize"
	TokenPath     = "/v1/oauth/token"
	MetadataPath  = "/.well-known/oauth-authorization-server"
	JWKSPath      = "/.well-known/jwks.json"
	// DiscoveryPath is the OpenID Connect Discovery 1.0 document.
	DiscoveryPath = "/.well-known/openid-configuration"
	// UserInfoPath is the OpenID Connect UserInfo endpoint.
	UserInfoPath = "/v1/oauth/userinfo"
	// EndSessionPath is the RP-Initiated Logout 1.0 endpoint.
	EndSessionPath = "/oauth/end-session"
)

// promptValues are the prompt values an authorization request may carry
// (OpenID Connect Core §3.1.2.1); select_account is not offered, as a
// browser is signed in to one account at a time.
var promptValues = []string{"none", "login", "consent"}

// Config configures the protocol endpoints.
type Config struct {
	// Issuer is the public base URL, e.g. https://auth.example.com.
	Issuer string
	// Audience is the aud claim of every access token.
	Audience            string
	AccessTokenLifespan time.Duration
	// RefreshTokenLifespan is the idle limit: each rotation issues a refresh
	// token valid this long.
	RefreshTokenLifespan time.Duration
	// RefreshTokenMaxLifetime is the absolute limit of a grant's refresh
	// tokens, counted from the user's authorization; 0 means none.
	RefreshTokenMaxLifetime   time.Duration
	AuthorizationCodeLifespan time.Duration
	// ConsentLifespan bounds how long a consent screen can be answered.
	ConsentLifespan time.Duration
	Keys            secret.Keys
	Limits          EndpointLimits
	Logger          *slog.Logger
	// Metrics, when set, counts tokens issued, token errors,
	// introspections, refresh-token reuse and rate-limited requests.
	Metrics *metrics.Metrics
}

// Browser is what the authorization endpoint needs from the browser surface.
type Browser interface {
	// LoadPrincipal returns the signed-in user of the request. ok is false
	// when nobody is signed in; err is set only when the store could not
	// tell (then nobody must be treated as signed out).
	LoadPrincipal(r *http.Request) (p storage.Principal, ok bool, err error)
	// RedirectToLogin sends the browser to sign in, then back to returnTo (a local path).
	RedirectToLogin(w http.ResponseWriter, r *http.Request, returnTo string)
	// RedirectToReauth sends a signed-in browser to enter the password
	// again (prompt=login, max_age), then back to returnTo (a local path).
	RedirectToReauth(w http.ResponseWriter, r *http.Request, returnTo string)
	// RenderConsent shows the consent screen.
	RenderConsent(w http.ResponseWriter, r *http.Request, p consent.Prompt)
	// RenderError shows an error page; it never redirects.
	RenderError(w http.ResponseWriter, r *http.Request, status int, title, detail string)
	// RenderProblem shows the error page for a described problem; it never redirects.
	RenderProblem(w http.ResponseWriter, r *http.Request, p errpage.Problem)
	// CSRFToken and VerifyCSRF bind anti-forgery tokens to the browser session and binding.
	CSRFToken(r *http.Request, binding string) string
	VerifyCSRF(r *http.Request, binding, token string) bool
}

// Server serves the protocol endpoints.
type Server struct {
	cfg            Config
	store          *storage.Store
	keys           *KeySet
	browser        Browser
	provider       fosite.OAuth2Provider
	fositeCore     *fosite.Fosite
	accessStrategy *accessTokenStrategy
	// oidcValidator is fosite's OpenID Connect request validator (prompt,
	// max_age, id_token_hint), run before any page is shown; fosite runs it
	// again when it issues the code.
	oidcValidator *openid.OpenIDConnectRequestValidator
	hasher        *secret.Hasher
	apiKeys       APIKeyIntrospector
	limiter       *ratelimit.Memory
	grantUses     grantUses
	log           *slog.Logger

	// resourceServers caches credential hashes (client_id → hash) and plans
	// caches workspace plans (id → plan): rows that rarely change, read on
	// every introspection. Token state is never cached.
	resourceServers *ttlCache[string, []byte]
	plans           *ttlCache[string, string]
	// publishers caches workspace names (id → name) for the consent
	// screen's "published by" line.
	publishers *ttlCache[string, string]
}

// Cache lifetimes: how long a new plan or a removed resource server may take
// to show in introspection answers, and a renamed workspace on the consent
// screens of its apps.
const (
	resourceServerCacheTTL = time.Minute
	planCacheTTL           = 10 * time.Second
	publisherCacheTTL      = time.Minute
)

// New composes the fosite provider: authorization code with PKCE (S256 only),
// refresh tokens, JWT access tokens signed by keys, HMAC codes and refresh
// tokens keyed from the system secret, client secrets checked by a keyed hash.
func New(cfg Config, store *storage.Store, keys *KeySet, browser Browser) (*Server, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("authz: issuer and audience are required")
	}
	if cfg.ConsentLifespan == 0 {
		cfg.ConsentLifespan = 15 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	hasher := secret.NewHasher(cfg.Keys.SecretHash)
	fc := &fosite.Config{
		AccessTokenLifespan:            cfg.AccessTokenLifespan,
		RefreshTokenLifespan:           cfg.RefreshTokenLifespan,
		AuthorizeCodeLifespan:          cfg.AuthorizationCodeLifespan,
		GlobalSecret:                   cfg.Keys.TokenHMAC,
		ClientSecretsHasher:            hasher,
		ScopeStrategy:                  fosite.ExactScopeStrategy,
		AudienceMatchingStrategy:       fosite.ExactAudienceMatchingStrategy,
		EnforcePKCEForPublicClients:    true,
		EnablePKCEPlainChallengeMethod: false,
		// What the code's row keeps of the authorization request's form:
		// fosite's default (code, redirect_uri; the token endpoint checks
		// the redirect URI against it) and the PKCE parameters, so that the
		// code's row serves as the PKCE request too (see
		// storage.Store.CreatePKCERequestSession).
		SanitationWhiteList:        []string{"code", "redirect_uri", "code_challenge", "code_challenge_method"},
		RefreshTokenScopes:         []string{}, // a refresh token with every code, as documented
		AccessTokenIssuer:          cfg.Issuer,
		JWTScopeClaimKey:           jwt.JWTScopeFieldString,
		SendDebugMessagesToClients: false,
		RedirectSecureChecker:      fosite.IsRedirectURISecureStrict,
		TokenURL:                   cfg.Issuer + TokenPath,
		MinParameterEntropy:        fosite.MinParameterEntropy,
		IDTokenIssuer:              cfg.Issuer,
		IDTokenLifespan:            IDTokenLifespan,
		AllowedPromptValues:        promptValues,
	}
	hmacStrategy := oauth2.NewHMACSHAStrategyUnPrefixed(&hmac.HMACStrategy{Config: fc}, fc)
	jwtStrategy := &accessTokenStrategy{
		DefaultJWTStrategy: &oauth2.DefaultJWTStrategy{Signer: newSigner(keys), HMACSHAStrategy: hmacStrategy, Config: fc},
		keys:               keys,
		hmacConfig:         fc,
	}
	hintSigner := newSigner(keys) // verifies an id_token_hint signed by any published key
	provider := compose.Compose(fc, store, strategy{
		accessTokenStrategy:        jwtStrategy,
		OpenIDConnectTokenStrategy: newIDTokenStrategy(keys, fc),
		Signer:                     hintSigner,
	},
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2PKCEFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OpenIDConnectExplicitFactory,
		compose.OpenIDConnectRefreshFactory,
		compose.OAuth2TokenIntrospectionFactory,
	)
	fc.TokenEndpointHandlers = withPassingHandlers(fc.TokenEndpointHandlers)
	core, ok := provider.(*fosite.Fosite)
	if !ok {
		return nil, fmt.Errorf("authz: unexpected provider type %T", provider)
	}
	fc.ClientAuthenticationStrategy = authenticateClient(core)
	return &Server{
		cfg: cfg, store: store, keys: keys, browser: browser,
		provider: provider, fositeCore: core, accessStrategy: jwtStrategy, hasher: hasher,
		oidcValidator:   openid.NewOpenIDConnectRequestValidator(hintSigner, fc),
		log:             cfg.Logger,
		limiter:         ratelimit.NewMemory(ratelimit.MemoryOptions{}),
		resourceServers: newTTLCache[string, []byte](resourceServerCacheTTL, 1024),
		plans:           newTTLCache[string, string](planCacheTTL, 100_000),
		publishers:      newTTLCache[string, string](publisherCacheTTL, 100_000),
	}, nil
}

// SetAPIKeys makes introspection answer for API keys too.
func (s *Server) SetAPIKeys(k APIKeyIntrospector) { s.apiKeys = k }

// Routes registers the protocol endpoints on mux.
func (s *Server) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+AuthorizePath, s.authorize)
	mux.HandleFunc("POST "+AuthorizePath, s.decide)
	mux.HandleFunc("POST "+TokenPath, s.token)
	mux.HandleFunc("OPTIONS "+TokenPath, s.tokenPreflight)
	mux.HandleFunc("POST "+IntrospectPath, s.introspect)
	mux.HandleFunc("POST "+RevokePath, s.revoke)
	mux.HandleFunc("OPTIONS "+RevokePath, s.tokenPreflight)
	mux.HandleFunc("GET "+MetadataPath, s.metadata)
	mux.HandleFunc("GET "+JWKSPath, s.jwks)
	mux.HandleFunc("GET "+DiscoveryPath, s.metadata)
	mux.HandleFunc("GET "+UserInfoPath, s.userinfo)
	mux.HandleFunc("POST "+UserInfoPath, s.userinfo)
	mux.HandleFunc("OPTIONS "+UserInfoPath, s.userinfoPreflight)
}

// BypassCrossOriginProtection lists the endpoints that browsers of other
// origins call by design (no cookies are involved there).
func BypassCrossOriginProtection() []string {
	return []string{
		"POST " + TokenPath, "OPTIONS " + TokenPath,
		"POST " + RevokePath, "OPTIONS " + RevokePath,
		"POST " + IntrospectPath,
		"POST " + UserInfoPath, "OPTIONS " + UserInfoPath,
	}
}

func base64URL(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func (s *Server) logError(ctx context.Context, msg string, err error, attrs ...any) {
	s.log.ErrorContext(ctx, msg, append(attrs, "error", err)...)
}

// describe returns an RFC 6749 error's description with its hint, for people.
func describe(err error) (code, description string) {
	rfc := fosite.ErrorToRFC6749Error(err)
	return rfc.ErrorField, strings.TrimSpace(rfc.GetDescription())
}

func hostOf(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	}
	if i := strings.IndexAny(u, "/?#"); i >= 0 {
		u = u[:i]
	}
	return u
}

func originOf(u string) string {
	i := strings.Index(u, "://")
	if i < 0 {
		return ""
	}
	return fmt.Sprintf("%s://%s", u[:i], hostOf(u))
}
