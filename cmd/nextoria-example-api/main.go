// Command nextoria-example-api is a small Nextoria Hub REST API that shows
// how a resource server uses package resource: every /v1 route is protected
// by the scope it needs, requests are admitted by token introspection at
// Nextoria Authz and counted against the workspace plan's rate limit, and
// every error uses the documented envelope. Its data (projects, tasks,
// clients) lives in memory and is lost on restart.
//
// It is configured by environment variables:
//
//	NEXTORIA_API_LISTEN              address to listen on (default 127.0.0.1:8081)
//	NEXTORIA_API_INTROSPECTION_URL   Nextoria Authz's introspection endpoint (required),
//	                                 https, or http on a loopback address
//	NEXTORIA_API_CLIENT_ID           this resource server's client id (required)
//	NEXTORIA_API_CLIENT_SECRET       and secret at that endpoint (required)
//	NEXTORIA_API_REDIS_URL           redis:// URL for rate limits shared by every
//	                                 instance; without it each instance counts alone
//	NEXTORIA_API_REDIS_PREFIX        key prefix of the rate-limit buckets in Redis
//	                                 (default nextoria:api:); instances sharing a prefix
//	                                 share the limits
//	NEXTORIA_API_REDIS_FAIL_OPEN     what to do while Redis is unreachable (default true):
//	                                 true keeps serving, each instance enforcing the limits
//	                                 alone in memory; false refuses requests with 429
//	NEXTORIA_API_CACHE_TTL           how long an introspection result is reused, as a Go
//	                                 duration (default 10s); 0s turns the cache off, so
//	                                 every request is introspected. A revoked key or token
//	                                 keeps working here for up to this long.
//	NEXTORIA_API_RATE_LIMIT          "plan" (default) applies each workspace's plan limit;
//	                                 "off" allows every request, for load tests that
//	                                 measure the rest of the path
//	NEXTORIA_API_SHUTDOWN_DRAIN      how long it keeps serving after SIGTERM while
//	                                 /healthz answers 503 (default 5s; 0s: no drain)
//	NEXTORIA_API_SHUTDOWN_TIMEOUT    how long requests in flight may then take (default 25s)
//	NEXTORIA_API_METRICS_LISTEN      address of a separate listener serving Prometheus
//	                                 metrics at GET /metrics, e.g. 127.0.0.1:9091;
//	                                 unset (the default) turns metrics off
//
// It trusts the system's certificate roots (SSL_CERT_FILE and SSL_CERT_DIR
// work) and honours HTTPS_PROXY, like any Go program on http.DefaultTransport.
// It logs JSON to standard error and shuts down gracefully on SIGINT or
// SIGTERM, the way package graceful describes.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nextoria/authz/graceful"
	"github.com/nextoria/authz/metrics"
	"github.com/nextoria/authz/ratelimit"
	"github.com/nextoria/authz/resource"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	err := run(ctx, os.Getenv, logger, nil)
	stop()
	if err != nil {
		logger.Error("nextoria-example-api stopped", "err", err)
		os.Exit(1)
	}
}

// introspectionTimeout bounds one call to the introspection endpoint.
const introspectionTimeout = 5 * time.Second

// run serves until ctx ends, then shuts down gracefully. ready, when not
// nil, is told the listening address once requests are accepted.
func run(ctx context.Context, getenv func(string) string, logger *slog.Logger, ready func(net.Addr)) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	limiter, closeLimiter, err := newLimiter(cfg, logger)
	if err != nil {
		return err
	}
	defer closeLimiter()
	var observer resource.Observer
	if cfg.MetricsListen != "" {
		m := metrics.NewResource()
		addr, err := metrics.Serve(ctx, cfg.MetricsListen, m.Handler())
		if err != nil {
			return fmt.Errorf("metrics listener on %s (NEXTORIA_API_METRICS_LISTEN): %w", cfg.MetricsListen, err)
		}
		logger.InfoContext(ctx, "nextoria-example-api metrics listening", "addr", addr.String(), "path", metrics.Path)
		observer = m
	}
	mw, err := resource.New(resource.Config{
		IntrospectionURL: cfg.IntrospectionURL,
		ClientID:         cfg.ClientID,
		ClientSecret:     cfg.ClientSecret,
		// http.DefaultTransport: system roots, proxies from the environment.
		HTTPClient:           &http.Client{Timeout: introspectionTimeout},
		IntrospectionTimeout: introspectionTimeout,
		CacheTTL:             cfg.CacheTTL,
		Limiter:              limiter,
		Logger:               logger,
		Observer:             observer,
	})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s (NEXTORIA_API_LISTEN): %w", cfg.Listen, err)
	}
	state := &graceful.State{}
	srv := &http.Server{
		Handler:           logRequests(logger, newHandler(mw, state)),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	serve := func() error {
		logger.InfoContext(ctx, "nextoria-example-api listening", "addr", ln.Addr().String(),
			"introspection_url", cfg.IntrospectionURL, "shared_rate_limits", cfg.RedisURL != "",
			"introspection_cache_ttl", effectiveCacheTTL(cfg.CacheTTL).String())
		if ready != nil {
			ready(ln.Addr())
		}
		return srv.Serve(ln)
	}
	return graceful.Serve(ctx, srv, state, serve, graceful.Options{
		Drain: cfg.ShutdownDrain, Timeout: cfg.ShutdownTimeout, Logger: logger,
	})
}

// effectiveCacheTTL is the cache lifetime resource.New makes of ttl: 0
// when the cache is off.
func effectiveCacheTTL(ttl time.Duration) time.Duration {
	switch {
	case ttl < 0:
		return 0
	case ttl == 0:
		return resource.DefaultCacheTTL
	}
	return ttl
}

// newLimiter returns the rate limiter cfg asks for and a function that
// releases it: Redis behind a FailSafe, or an in-process limiter.
func newLimiter(cfg config, logger *slog.Logger) (ratelimit.Limiter, func(), error) {
	if cfg.RateLimitOff {
		logger.Warn("rate limits are off (NEXTORIA_API_RATE_LIMIT=off)")
		return allowAll{}, func() {}, nil
	}
	if cfg.RedisURL == "" {
		return ratelimit.NewMemory(ratelimit.MemoryOptions{}), func() {}, nil
	}
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, nil, fmt.Errorf("NEXTORIA_API_REDIS_URL: %w", err)
	}
	// A request waits on Redis, so an unreachable Redis must fail fast and
	// let the FailSafe decide, unless the URL sets its own timeouts.
	if opts.DialTimeout == 0 {
		opts.DialTimeout = 500 * time.Millisecond
	}
	if opts.ReadTimeout == 0 {
		opts.ReadTimeout = 250 * time.Millisecond
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = 250 * time.Millisecond
	}
	silenceRedisLog.Do(func() { redis.SetLogger(discardRedisLog{}) })
	client := redis.NewClient(opts)
	fs := &ratelimit.FailSafe{
		Limiter:  ratelimit.NewRedis(client, cfg.RedisPrefix),
		FailOpen: cfg.RedisFailOpen,
		Logger:   logger,
	}
	if cfg.RedisFailOpen {
		fs.Fallback = ratelimit.NewMemory(ratelimit.MemoryOptions{})
	}
	return fs, func() { _ = client.Close() }, nil
}

// allowAll is the limiter of NEXTORIA_API_RATE_LIMIT=off.
type allowAll struct{}

func (allowAll) Allow(_ context.Context, _, plan string) (ratelimit.Result, error) {
	l := ratelimit.ForPlan(plan)
	return ratelimit.Result{Allowed: true, Limit: l.Burst, Remaining: l.Burst}, nil
}

// silenceRedisLog replaces go-redis's process-wide logger once: the
// FailSafe logs outages at a bounded rate, where go-redis would log every
// failed dial.
var silenceRedisLog sync.Once

// discardRedisLog silences go-redis's internal logger.
type discardRedisLog struct{}

// Printf drops the message.
func (discardRedisLog) Printf(context.Context, string, ...any) {}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

// WriteHeader records the first status written.
func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200 before the first body bytes.
func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// logRequests logs one line per request: never headers or bodies, which
// carry tokens and customer data.
func logRequests(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		logger.InfoContext(r.Context(), "request", "method", r.Method, "path", r.URL.Path,
			"status", rec.status, "duration_ms", time.Since(start).Milliseconds())
	})
}
