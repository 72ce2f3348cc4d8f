// Package web owns the browser surface of the authorization server: the
// sign-in, home, consent and error pages, the signed-in settings pages
// (OAuth applications, authorized apps, API keys), all as templ components
// with their generated code; the embedded stylesheet and script, app logos,
// the encrypted gorilla/sessions cookie that carries the login-session id, the
// CSRF seed and one-time messages, anti-forgery tokens, the sign-in throttling
// policy, and the security headers (CSP with a per-request nonce) of every
// page.
//
// The authorization endpoint lives elsewhere and reaches this package through
// the methods LoadPrincipal, RedirectToLogin, RenderConsent, RenderError, RenderProblem,
// CSRFToken and VerifyCSRF; those expect the request to have passed through
// Middleware.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/sessions"

	"github.com/nextoria/authz/apikey"
	"github.com/nextoria/authz/apps"
	"github.com/nextoria/authz/metrics"
	"github.com/nextoria/authz/ratelimit"
	"github.com/nextoria/authz/registration"
	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
)

// DefaultSessionLifetime is the login-session lifetime used when
// Config.SessionLifetime is zero.
const DefaultSessionLifetime = 12 * time.Hour

// Config configures the browser surface.
type Config struct {
	// Issuer is the public base URL, e.g. https://auth.example.com or
	// http://127.0.0.1:8080. An https issuer turns on Strict-Transport-Security.
	Issuer string
	// Keys supplies CookieHash and CookieBlock (the session cookie) and CSRF.
	Keys secret.Keys
	// SecureCookies marks the session cookie Secure. Turn it off only for
	// plain-HTTP development hosts.
	SecureCookies bool
	// SessionLifetime bounds both the login session in the database and the
	// cookie; DefaultSessionLifetime when zero.
	SessionLifetime time.Duration
	// Logger receives operational events; nothing is logged when nil.
	Logger *slog.Logger
	// Apps registers and changes OAuth apps for the settings pages; an
	// apps.Service in production.
	Apps AppService
	// APIKeys creates, lists and revokes the workspace API keys of the
	// settings pages; an *apikey.Service in production.
	APIKeys APIKeyService
	// Audit records the security events of the browser surface (sign-ins,
	// sign-outs, consent revocations, app and API key changes) and backs
	// the Security log page; a *storage.Store in production.
	Audit AuditLog
	// RegistrationTokens creates, lists and revokes the initial access
	// tokens of client registration by API; a registration.Tokens in
	// production. When nil, the registration tokens page says it is off.
	RegistrationTokens RegistrationTokenService
	// TrustProxyHeaders says the server runs behind a trusted reverse proxy
	// that appends the client's address to X-Forwarded-For; sign-in
	// throttling then counts that address instead of the connection's.
	// Never set it without such a proxy: clients could pick any address.
	TrustProxyHeaders bool
	// LoginThrottle sets the sign-in throttling rules; DefaultLoginThrottle
	// when zero.
	LoginThrottle LoginThrottlePolicy
	// LogoUploads limits the logos each user may upload, with a new app or
	// in an app's settings, counted in this process; DefaultLogoUploads
	// when zero.
	LogoUploads ratelimit.Limit
	// Metrics, when set, counts sign-in attempts by result.
	Metrics *metrics.Metrics
	// IDTokenHints verifies the id_token_hint of end-session requests; an
	// *authz.IDTokenHintVerifier in production. When nil, a request with a
	// hint is refused (400).
	IDTokenHints IDTokenHintVerifier
	// Docs is what the developer docs pages show of the configuration.
	Docs DocsConfig
}

// DefaultLogoUploads lets a user upload 10 logos at once, and then one
// every 6 seconds: far more than anyone registering apps needs, far less
// than what would keep the image slots of package apps busy.
var DefaultLogoUploads = ratelimit.Limit{Rate: 10, Burst: 10}

// Store is the data access the browser surface needs. *storage.Store
// satisfies it; tests use a fake.
type Store interface {
	GetUserByEmail(ctx context.Context, email string) (storage.User, error)
	CreateLoginSession(ctx context.Context, idHash []byte, userID string, expiresAt time.Time) error
	GetPrincipal(ctx context.Context, idHash []byte) (storage.Principal, error)
	DeleteLoginSession(ctx context.Context, idHash []byte) error
	GetAppLogo(ctx context.Context, clientID string) (storage.Logo, error)
	// The settings pages read apps and grants here, and revoke grants.
	GetApp(ctx context.Context, clientID string) (storage.App, error)
	ListApps(ctx context.Context, workspaceID string) ([]storage.App, error)
	ListGrants(ctx context.Context, userID string) ([]storage.GrantedApp, error)
	RevokeGrant(ctx context.Context, userID, clientID string) error
	// Sign-in throttling (see throttle.go).
	CountLoginAttempts(ctx context.Context, keys ...storage.LoginKey) ([]storage.LoginAttempt, error)
	PrepareSignIn(ctx context.Context, email string) context.Context
	SettleSignIn(ctx context.Context, uncount string, reset ...string) error
}

var _ Store = (*storage.Store)(nil)

// AppService registers, changes and deletes OAuth apps: the writes of the
// settings pages, with the validation rules of package apps. apps.Service
// satisfies it; tests use a fake. Who may change an app is decided by the
// settings handlers (apps.CanView, apps.CanManage) before it is called.
type AppService interface {
	Register(ctx context.Context, r apps.Registration) (storage.App, string, error)
	Update(ctx context.Context, clientID string, u apps.Update) (storage.App, error)
	RotateSecret(ctx context.Context, clientID string, overlap time.Duration) (string, error)
	Delete(ctx context.Context, clientID string) error
}

var _ AppService = apps.Service{}

// APIKeyService creates, lists and revokes a workspace's API keys, with the
// validation rules of package apikey (invalid input is an apikey.FieldErrors).
// *apikey.Service satisfies it; tests use a fake. Who may revoke a key is
// decided by the settings handlers (canRevokeKey) before it is called.
type APIKeyService interface {
	Create(ctx context.Context, workspaceID, createdBy, name string, scopes []string, expiresIn time.Duration) (storage.APIKey, string, error)
	List(ctx context.Context, workspaceID string) ([]storage.APIKey, error)
	Revoke(ctx context.Context, workspaceID, id string) error
}

var _ APIKeyService = (*apikey.Service)(nil)

// RegistrationTokenService creates, lists and revokes a workspace's initial
// access tokens (invalid input is a registration.FieldErrors).
// registration.Tokens satisfies it. Only administrators reach it.
type RegistrationTokenService interface {
	Create(ctx context.Context, workspaceID, createdBy, name string, expiresIn time.Duration) (storage.RegistrationToken, string, error)
	List(ctx context.Context, workspaceID string) ([]storage.RegistrationToken, error)
	Revoke(ctx context.Context, workspaceID, id string) (storage.RegistrationToken, error)
}

var _ RegistrationTokenService = registration.Tokens{}

// Server serves the browser pages and offers the session, CSRF and rendering
// helpers the authorization endpoint uses. It is safe for concurrent use.
type Server struct {
	store    Store
	apps     AppService
	apiKeys  APIKeyService
	audit    AuditLog
	regToks  RegistrationTokenService
	throttle LoginThrottlePolicy
	trustXFF bool
	log      *slog.Logger
	csrfKey  []byte
	lifetime time.Duration
	hsts     bool
	// issuer is the public base URL without a trailing slash (also shown
	// on the developer docs pages); issuerScheme its scheme, which decides
	// the cookie name.
	issuer       string
	issuerScheme string
	cookies      *sessions.CookieStore

	uploads     *ratelimit.Memory
	uploadLimit ratelimit.Limit
	metrics     *metrics.Metrics

	hints IDTokenHintVerifier

	// docs is what the developer docs pages show of the configuration.
	docs DocsConfig
}

// New validates cfg, reporting every problem at once, and returns a Server.
func New(cfg Config, store Store) (*Server, error) {
	var errs []error
	if store == nil {
		errs = append(errs, errors.New("store is nil"))
	}
	if cfg.Apps == nil {
		errs = append(errs, errors.New("apps service is nil"))
	}
	if cfg.APIKeys == nil {
		errs = append(errs, errors.New("API key service is nil"))
	}
	if cfg.Audit == nil {
		errs = append(errs, errors.New("audit log is nil"))
	}
	throttle := cfg.LoginThrottle
	if throttle == (LoginThrottlePolicy{}) {
		throttle = DefaultLoginThrottle
	}
	if err := throttle.validate(); err != nil {
		errs = append(errs, fmt.Errorf("login throttle: %w", err))
	}
	uploadLimit := cfg.LogoUploads
	if uploadLimit == (ratelimit.Limit{}) {
		uploadLimit = DefaultLogoUploads
	}
	if uploadLimit.Rate <= 0 || uploadLimit.Burst <= 0 {
		errs = append(errs, fmt.Errorf("logo uploads: rate %d and burst %d: want both positive", uploadLimit.Rate, uploadLimit.Burst))
	}
	u, err := url.Parse(cfg.Issuer)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("issuer: %w", err))
	case (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		errs = append(errs, fmt.Errorf("issuer %q: want an absolute http or https URL", cfg.Issuer))
	}
	if len(cfg.Keys.CookieHash) < 32 {
		errs = append(errs, fmt.Errorf("cookie hash key: want at least 32 bytes, got %d", len(cfg.Keys.CookieHash)))
	}
	if n := len(cfg.Keys.CookieBlock); n != 16 && n != 24 && n != 32 {
		errs = append(errs, fmt.Errorf("cookie block key: want 16, 24 or 32 bytes, got %d", n))
	}
	if len(cfg.Keys.CSRF) < 32 {
		errs = append(errs, fmt.Errorf("csrf key: want at least 32 bytes, got %d", len(cfg.Keys.CSRF)))
	}
	lifetime := cfg.SessionLifetime
	if lifetime == 0 {
		lifetime = DefaultSessionLifetime
	}
	if lifetime < time.Minute {
		errs = append(errs, fmt.Errorf("session lifetime %v: want at least a minute", cfg.SessionLifetime))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("web: invalid config: %w", errors.Join(errs...))
	}

	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{
		store:        store,
		apps:         cfg.Apps,
		apiKeys:      cfg.APIKeys,
		audit:        cfg.Audit,
		regToks:      cfg.RegistrationTokens,
		throttle:     throttle,
		trustXFF:     cfg.TrustProxyHeaders,
		log:          logger,
		csrfKey:      append([]byte(nil), cfg.Keys.CSRF...),
		lifetime:     lifetime,
		hsts:         u.Scheme == "https",
		issuer:       strings.TrimSuffix(cfg.Issuer, "/"),
		issuerScheme: u.Scheme,
		cookies:      newCookieStore(cfg.Keys, cfg.SecureCookies, lifetime),

		uploads:     ratelimit.NewMemory(ratelimit.MemoryOptions{}),
		uploadLimit: uploadLimit,
		metrics:     cfg.Metrics,

		hints: cfg.IDTokenHints,

		docs: cfg.Docs,
	}, nil
}

// Routes registers the browser pages on mux. Each handler runs inside
// Middleware, so wrapping the whole mux in Middleware as well is harmless.
func (s *Server) Routes(mux *http.ServeMux) {
	mux.Handle("GET /login", s.Middleware(http.HandlerFunc(s.handleLoginForm)))
	mux.Handle("POST /login", s.Middleware(http.HandlerFunc(s.handleLogin)))
	mux.Handle("GET "+loginContinuePath, s.Middleware(http.HandlerFunc(s.handleLoginContinue)))
	mux.Handle("POST /logout", s.Middleware(http.HandlerFunc(s.handleLogout)))
	mux.Handle("GET /{$}", s.Middleware(http.HandlerFunc(s.handleHome)))
	mux.Handle("GET /static/", s.Middleware(staticHandler()))
	mux.Handle("GET /apps/{client_id}/logo", s.Middleware(http.HandlerFunc(s.handleLogo)))
	mux.Handle("GET "+endSessionPath, s.Middleware(http.HandlerFunc(s.handleEndSession)))
	mux.Handle("POST "+endSessionPath, s.Middleware(http.HandlerFunc(s.handleEndSession)))
	s.settingsRoutes(mux)
	s.docsRoutes(mux)
}
