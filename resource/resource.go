// Package resource owns how a Nextoria Hub REST API authenticates and admits
// a request: the HTTP middleware that takes the bearer token (an OAuth
// access token or an API key), asks the authorization server about it by
// token introspection (RFC 7662), enforces the route's scopes and the
// workspace plan's rate limit, and answers every refusal in the documented
// error envelope.
//
// Introspection results are cached briefly by SHA-256 of the token (see
// Config.CacheTTL), so a revoked token or key stops working within the cache
// lifetime, and never past the token's own expiry. Concurrent requests with
// the same token share one introspection call.
package resource

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/nextoria/authz/ratelimit"
)

// Defaults of Config.
const (
	// DefaultCacheTTL is how long an active token's introspection is reused.
	DefaultCacheTTL = 10 * time.Second
	// NegativeCacheTTL is how long an inactive token's introspection is
	// reused (at most CacheTTL). A token never becomes active again, so this
	// only bounds memory while sparing the authorization server a client
	// that retries a bad token in a loop.
	NegativeCacheTTL = 2 * time.Second
	// DefaultCacheSize is how many introspection results are kept.
	DefaultCacheSize = 10_000
	// DefaultIntrospectionTimeout bounds one introspection call.
	DefaultIntrospectionTimeout = 5 * time.Second
)

// realm names the protection space in WWW-Authenticate.
const realm = "nextoria"

// Config configures a Middleware.
type Config struct {
	// IntrospectionURL is the authorization server's introspection
	// endpoint, e.g. https://api.nextoriahub.com/v1/oauth/introspect.
	IntrospectionURL string
	// ClientID and ClientSecret are this resource server's credentials at
	// the introspection endpoint.
	ClientID     string
	ClientSecret string
	// HTTPClient makes the introspection calls; when nil, a client on
	// http.DefaultTransport (system roots, proxy settings).
	HTTPClient *http.Client
	// IntrospectionTimeout defaults to DefaultIntrospectionTimeout.
	IntrospectionTimeout time.Duration
	// CacheTTL is how long an introspection result is reused: 0 means
	// DefaultCacheTTL, a negative value turns the cache off (every request
	// is introspected).
	CacheTTL time.Duration
	// CacheSize defaults to DefaultCacheSize.
	CacheSize int
	// Limiter enforces the workspace plans' rate limits (required).
	Limiter ratelimit.Limiter
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Observer, when set, is told of cache hits and misses, introspection
	// calls and rate-limited requests (see metrics.Resource).
	Observer Observer
}

// Middleware authenticates and admits API requests. Build it with New; it
// is safe for concurrent use.
type Middleware struct {
	introspectionURL       string
	clientID, clientSecret string
	client                 *http.Client
	timeout                time.Duration
	cacheTTL               time.Duration
	cache                  *cache // nil when caching is off
	flights                singleflight.Group
	limiter                ratelimit.Limiter
	logger                 *slog.Logger
	observer               Observer
	now                    func() time.Time
}

// New checks cfg, reporting every problem at once, and returns a Middleware.
func New(cfg Config) (*Middleware, error) {
	var errs []error
	if u, err := url.Parse(cfg.IntrospectionURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, errors.New("resource: IntrospectionURL must be an absolute http(s) URL"))
	}
	if cfg.ClientID == "" {
		errs = append(errs, errors.New("resource: ClientID is required"))
	}
	if cfg.ClientSecret == "" {
		errs = append(errs, errors.New("resource: ClientSecret is required"))
	}
	if cfg.Limiter == nil {
		errs = append(errs, errors.New("resource: Limiter is required (ratelimit.NewMemory or ratelimit.NewRedis)"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	m := &Middleware{
		introspectionURL: cfg.IntrospectionURL,
		clientID:         cfg.ClientID,
		clientSecret:     cfg.ClientSecret,
		client:           cfg.HTTPClient,
		timeout:          cfg.IntrospectionTimeout,
		cacheTTL:         cfg.CacheTTL,
		limiter:          cfg.Limiter,
		logger:           cfg.Logger,
		observer:         cfg.Observer,
		now:              time.Now,
	}
	if m.observer == nil {
		m.observer = nopObserver{}
	}
	if m.client == nil {
		m.client = &http.Client{Transport: http.DefaultTransport}
	}
	if m.timeout <= 0 {
		m.timeout = DefaultIntrospectionTimeout
	}
	if m.cacheTTL == 0 {
		m.cacheTTL = DefaultCacheTTL
	}
	if m.cacheTTL > 0 {
		size := cfg.CacheSize
		if size <= 0 {
			size = DefaultCacheSize
		}
		m.cache = newCache(size)
	}
	if m.logger == nil {
		m.logger = slog.Default()
	}
	return m, nil
}

// Require returns middleware that lets a request through only with an
// active access token or API key holding every one of scopes, within its
// workspace's rate limit, and puts its Principal in the request context
// (PrincipalFrom). In order, it answers:
//
//   - 401 UNAUTHORIZED without credentials (WWW-Authenticate without an
//     error, RFC 6750 §3.1), or with a token that is not active
//     (error="invalid_token");
//   - 400 BAD_REQUEST for a malformed Authorization header, or several
//     (error="invalid_request");
//   - 503 SERVICE_UNAVAILABLE with Retry-After when the authorization
//     server cannot be reached, does not answer in time or answers 5xx
//     (during its database outage, say): the credentials were neither
//     accepted nor rejected, so this is never a 401; logged;
//   - 500 INTERNAL_ERROR when the token cannot be checked for another
//     reason (a broken answer, rejected resource-server credentials, a
//     failed limiter), logged;
//   - 429 RATE_LIMITED with Retry-After past the workspace's limit;
//   - 403 FORBIDDEN without the scopes (error="insufficient_scope").
//
// Every request that reaches the rate limiter, admitted or not, carries the
// RateLimit-* headers. Scope-less Require() only authenticates. Require
// panics if a scope is not a valid scope token: that is a mistake in the
// route table.
func (m *Middleware) Require(scopes ...string) func(http.Handler) http.Handler {
	for _, s := range scopes {
		if !validScope(s) {
			panic(fmt.Sprintf("resource: Require: invalid scope %q", s))
		}
	}
	scopes = slices.Clone(scopes)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := m.admit(w, r, scopes)
			if !ok {
				return
			}
			next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
		})
	}
}

// admit runs the checks of Require; when it returns false it has answered.
func (m *Middleware) admit(w http.ResponseWriter, r *http.Request, scopes []string) (Principal, bool) {
	ctx := r.Context()
	token, err := bearerToken(r.Header)
	switch {
	case errors.Is(err, errNoCredentials):
		challenge(w, "")
		WriteError(w, http.StatusUnauthorized, CodeUnauthorized,
			`Missing API key or access token: send it as "Authorization: Bearer <token>".`)
		return Principal{}, false
	case err != nil:
		challenge(w, `error="invalid_request"`)
		WriteError(w, http.StatusBadRequest, CodeBadRequest,
			`Malformed Authorization header: send one header "Authorization: Bearer <token>".`)
		return Principal{}, false
	}

	v, err := m.introspect(ctx, token)
	if err != nil {
		if ctx.Err() == nil {
			m.logger.ErrorContext(ctx, "resource: cannot introspect the request's token", "err", err)
		}
		var unavailable *unavailableError
		if errors.As(err, &unavailable) {
			seconds := int(unavailable.retryAfter / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(seconds))
			WriteError(w, http.StatusServiceUnavailable, CodeServiceUnavailable, fmt.Sprintf(
				"The request could not be authenticated because the authorization server is temporarily unavailable. Retry after %d seconds.", seconds))
			return Principal{}, false
		}
		internalError(w)
		return Principal{}, false
	}
	if !v.active {
		challenge(w, `error="invalid_token"`)
		WriteError(w, http.StatusUnauthorized, CodeUnauthorized,
			"The API key or access token is invalid, expired or revoked.")
		return Principal{}, false
	}
	p := v.principal
	p.Scopes = slices.Clone(p.Scopes) // the cached principal is shared

	res, err := m.limiter.Allow(ctx, p.WorkspaceID, p.Plan)
	if err != nil {
		if ctx.Err() == nil {
			m.logger.ErrorContext(ctx, "resource: rate limiter failed", "err", err, "workspace_id", p.WorkspaceID)
		}
		internalError(w)
		return Principal{}, false
	}
	ratelimit.WriteHeaders(w.Header(), res)
	if !res.Allowed {
		m.observer.RateLimited(p.Plan)
		l := ratelimit.ForPlan(p.Plan)
		wait := w.Header().Get("Retry-After") + " seconds"
		if wait == "1 seconds" {
			wait = "1 second"
		}
		WriteError(w, http.StatusTooManyRequests, CodeRateLimited, fmt.Sprintf(
			"Rate limit exceeded: this workspace's plan allows %d requests per minute, in bursts of up to %d. Retry after %s.",
			l.Rate, l.Burst, wait))
		return Principal{}, false
	}

	var missing []string
	for _, s := range scopes {
		if !p.HasScope(s) {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		// Scope tokens hold no '"' or '\', so they need no escaping.
		challenge(w, `error="insufficient_scope", scope="`+strings.Join(scopes, " ")+`"`)
		noun := "scope"
		if len(missing) > 1 {
			noun = "scopes"
		}
		WriteError(w, http.StatusForbidden, CodeForbidden, fmt.Sprintf(
			"This API key or access token lacks the %s %s required here.", noun, strings.Join(missing, ", ")))
		return Principal{}, false
	}
	return p, true
}

// challenge sets the Bearer WWW-Authenticate header with optional
// attributes (RFC 6750 §3).
func challenge(w http.ResponseWriter, attrs string) {
	v := `Bearer realm="` + realm + `"`
	if attrs != "" {
		v += ", " + attrs
	}
	w.Header().Set("WWW-Authenticate", v)
}

// internalError answers a failure of ours without detail; the log has it.
func internalError(w http.ResponseWriter) {
	WriteError(w, http.StatusInternalServerError, CodeInternalError,
		"The request could not be authenticated because of a server error. Please try again later.")
}
