package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nextoria/authz/apikey"
	"github.com/nextoria/authz/apps"
	"github.com/nextoria/authz/authz"
	"github.com/nextoria/authz/graceful"
	"github.com/nextoria/authz/metrics"
	dcr "github.com/nextoria/authz/registration"
	"github.com/nextoria/authz/reqid"
	"github.com/nextoria/authz/resource"
	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/web"
)

// keyReloadInterval bounds how long a signing-key rotation takes to reach
// every instance.
const keyReloadInterval = authz.KeyReloadInterval

// apiKeyFlushInterval is how often API-key and consent-grant last-use times
// reach the database.
const apiKeyFlushInterval = 10 * time.Second

// finalFlushTimeout bounds writing the buffered last-use stamps at shutdown,
// after shutdown.timeout.
const finalFlushTimeout = 10 * time.Second

// app is the assembled server: stores, protocol endpoints, browser surface.
type app struct {
	cfg     Config
	pool    *pgxpool.Pool
	store   *storage.Store
	keys    secret.Keys
	keySet  *authz.KeySet
	authz   *authz.Server
	apiKeys *apikey.Service
	handler http.Handler
	logger  *slog.Logger
	// state turns /health/ready to 503 when the drain starts.
	state   *graceful.State
	metrics *metrics.Metrics // nil when metrics.listen is empty
	// registration serves /v1/oauth/register (RFC 7591/7592).
	registration *dcr.Handler
}

// newApp connects to the database, applies pending migrations (under
// tern's advisory lock, so instances may start together; on
// database.migrate_url when set), loads the signing
// keys and builds the HTTP handler.
func newApp(ctx context.Context, cfg Config, dev bool, logger *slog.Logger) (*app, error) {
	if err := cfg.Validate(dev); err != nil {
		return nil, err
	}
	// Every record logged with a request's context carries its request_id.
	logger = slog.New(reqid.NewHandler(logger.Handler()))
	keys, err := secret.DeriveKeys(cfg.Secrets.System)
	if err != nil {
		return nil, err
	}
	m := newMetrics(cfg.Metrics)
	pool, err := storage.ConnectPool(ctx, cfg.Database.URL, poolOptions(cfg.Database, m))
	if err != nil {
		return nil, err
	}
	registerPool(m, pool)
	ok := false
	defer func() {
		if !ok {
			pool.Close()
		}
	}()
	applied, err := migrate(ctx, cfg.Database, pool)
	if err != nil {
		return nil, err
	}
	if applied > 0 {
		logger.InfoContext(ctx, "applied database migrations", "count", applied)
	}
	audience := cfg.OAuth.Audience
	if audience == "" {
		audience = cfg.Issuer
	}
	store := storage.New(pool, storage.Options{
		Audience:           []string{audience},
		RefreshGracePeriod: cfg.OAuth.RefreshGracePeriod,
		RefreshReuseWindow: cfg.OAuth.RefreshReuseWindow,
		AuditRetention:     cfg.Audit.Retention,
	})
	if err := store.CheckIsolation(ctx); err != nil {
		return nil, err
	}
	keySet, err := authz.NewKeySet(ctx, store, keys.Seal, cfg.OAuth.AccessTokenLifespan+authz.RetiredKeyGrace, logger)
	if err != nil {
		return nil, err
	}
	apiKeys := &apikey.Service{Store: store, Hasher: secret.NewHasher(keys.SecretHash), Logger: logger}
	browser, err := web.New(web.Config{
		Issuer:             cfg.Issuer,
		Keys:               keys,
		SecureCookies:      secureCookies(cfg.Issuer, dev),
		SessionLifetime:    cfg.Session.Lifetime,
		Logger:             logger,
		Apps:               apps.Service{Store: store, Hasher: secret.NewHasher(keys.SecretHash)},
		APIKeys:            apiKeys,
		Audit:              store,
		TrustProxyHeaders:  cfg.Proxy.Trusted,
		LoginThrottle:      signInThrottle(cfg.Limits),
		Metrics:            m,
		IDTokenHints:       authz.NewIDTokenHintVerifier(keySet, cfg.Issuer),
		Docs:               docsConfig(cfg),
		RegistrationTokens: dcr.Tokens{Store: store, Hasher: secret.NewHasher(keys.SecretHash)},
	}, store)
	if err != nil {
		return nil, err
	}
	az, err := authz.New(authz.Config{
		Issuer:                    cfg.Issuer,
		Audience:                  audience,
		AccessTokenLifespan:       cfg.OAuth.AccessTokenLifespan,
		RefreshTokenLifespan:      cfg.OAuth.RefreshTokenIdleTimeout,
		RefreshTokenMaxLifetime:   cfg.OAuth.RefreshTokenLifespan,
		AuthorizationCodeLifespan: cfg.OAuth.AuthorizationCodeLifespan,
		Keys:                      keys,
		Limits:                    endpointLimits(cfg.Limits),
		Logger:                    logger,
		Metrics:                   m,
	}, store, keySet, browser)
	if err != nil {
		return nil, err
	}
	az.SetAPIKeys(authz.NewAPIKeyIntrospector(apiKeys, cfg.Issuer))
	reg, err := newRegistration(ctx, cfg, store, keys, logger)
	if err != nil {
		return nil, err
	}

	state := &graceful.State{}
	mux := http.NewServeMux()
	az.Routes(mux)
	browser.Routes(mux)
	reg.Routes(mux)
	mux.HandleFunc("GET /health/live", func(w http.ResponseWriter, _ *http.Request) {
		writeHealth(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /health/ready", func(w http.ResponseWriter, r *http.Request) {
		if state.Draining() {
			writeHealth(w, http.StatusServiceUnavailable, "shutting down")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := store.Ping(ctx); err != nil {
			logger.WarnContext(ctx, "readiness check failed", "error", err)
			writeHealth(w, http.StatusServiceUnavailable, "database unavailable")
			return
		}
		writeHealth(w, http.StatusOK, "ok")
	})

	mux.HandleFunc("GET /openapi.yaml", serveOpenAPI)

	// Anything else: the documented JSON envelope under /v1/, an error page elsewhere.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			resource.WriteError(w, http.StatusNotFound, resource.CodeNotFound, "No such endpoint: "+r.Method+" "+r.URL.Path+".")
			return
		}
		browser.RenderError(w, r, http.StatusNotFound, "Page not found", "There is nothing at this address.")
	})

	cop := http.NewCrossOriginProtection()
	for _, p := range append(authz.BypassCrossOriginProtection(), dcr.BypassCrossOriginProtection()...) {
		cop.AddInsecureBypassPattern(p)
	}
	// An app may post its end-session request from its own site; the
	// handler continues it as a GET and guards its confirmation itself.
	cop.AddInsecureBypassPattern("POST " + web.EndSessionPath)
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		browser.RenderError(w, r, http.StatusForbidden, "This form was sent from another site",
			"For your safety the request was refused. Go back and try again from this site.")
	}))
	var h http.Handler = cop.Handler(m.Routed(mux))
	h = browser.Middleware(h)
	if cfg.Proxy.Trusted {
		h = requireForwardedHTTPS(h)
	}
	h = logRequests(logger, h)
	h = reqid.Middleware(cfg.Proxy.Trusted, h)
	h = m.Middleware(h)
	ok = true
	return &app{cfg: cfg, pool: pool, store: store, keys: keys, keySet: keySet, authz: az, apiKeys: apiKeys, handler: h, logger: logger, state: state, metrics: m, registration: reg}, nil
}

// run serves until ctx ends, then shuts down the way load balancers expect
// (package graceful): /health/ready turns 503 at once while serving goes on
// for shutdown.drain, then the listener closes and the requests in flight
// get up to shutdown.timeout. Only then do the background tasks stop and the
// buffered last-use stamps of API keys and consent grants reach the
// database, so that no use acknowledged to a client is lost.
func (a *app) run(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	// The background tasks outlive ctx: requests served during the drain
	// still record uses, and signing keys may still rotate.
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	var tasks sync.WaitGroup
	tasks.Go(func() { a.keySet.Run(bg, keyReloadInterval) })
	if a.cfg.Cleanup.Interval > 0 {
		tasks.Go(func() { a.cleanup(bg) })
	}
	tasks.Go(func() { a.apiKeys.RunFlusher(bg, apiKeyFlushInterval) })
	tasks.Go(func() { a.authz.RunGrantUseFlusher(bg, apiKeyFlushInterval) })

	err := graceful.Serve(ctx, srv, a.state, func() error {
		if a.cfg.TLS.CertFile != "" {
			srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
			return srv.ServeTLS(ln, a.cfg.TLS.CertFile, a.cfg.TLS.KeyFile)
		}
		return srv.Serve(ln)
	}, graceful.Options{Drain: a.cfg.Shutdown.Drain, Timeout: a.cfg.Shutdown.Timeout, Logger: a.logger})

	// A flush interrupted by stop puts its batch back; wait for it before
	// the final flush so that the batch is not left behind. A database that
	// is down now loses the stamps, which the error log says; it does not
	// fail the shutdown.
	stop()
	tasks.Wait()
	fctx, cancel := context.WithTimeout(context.Background(), finalFlushTimeout)
	defer cancel()
	if ferr := a.apiKeys.Flush(fctx); ferr != nil {
		a.logger.Error("record API key use", "error", ferr)
	}
	if ferr := a.authz.FlushGrantUses(fctx); ferr != nil {
		a.logger.Error("record consent grant use", "error", ferr)
	}
	if err == nil {
		a.logger.Info("stopped")
	}
	return err
}

func (a *app) close() { a.pool.Close() }

// cleanup deletes expired rows every cleanup.interval. A round drains
// everything expired in short batches (storage.DeleteExpiredAlone), so it
// keeps up with any issuance rate the database can delete at; of several
// instances, one at a time deletes and the others skip the round.
func (a *app) cleanup(ctx context.Context) {
	t := time.NewTicker(a.cfg.Cleanup.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			start := time.Now()
			n, err := a.store.DeleteExpiredAlone(ctx, a.cfg.Cleanup.Batch)
			switch {
			case errors.Is(err, storage.ErrCleanupRunning):
				// Another instance is at it; what this one did still counts.
				if n > 0 {
					a.logger.InfoContext(ctx, "deleted expired rows", "count", n, "duration", time.Since(start), "yielded", true)
				}
			case err != nil && ctx.Err() == nil:
				a.logger.ErrorContext(ctx, "delete expired rows", "error", err, "count", n)
			case n > 0:
				a.logger.InfoContext(ctx, "deleted expired rows", "count", n, "duration", time.Since(start))
			}
		}
	}
}

// tuneGC trades a little memory for less garbage-collection work on the hot
// paths: the live heap is small (tens of MiB), so collecting at 4x of it is
// cheap, and the soft memory limit makes the collector work harder before
// the process grows past it. GOGC and GOMEMLIMIT in the environment win.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(100 << 20)
	}
}

// runServe runs the server until ctx is cancelled (SIGINT/SIGTERM).
func runServe(ctx context.Context, cfg Config, dev bool, logger *slog.Logger, stdout io.Writer) error {
	tuneGC()
	a, err := newApp(ctx, cfg, dev, logger)
	if err != nil {
		return err
	}
	defer a.close()
	if dev {
		demo, err := seedDemo(ctx, a.store, secret.NewHasher(a.keys.SecretHash), cfg.Issuer)
		if err != nil {
			return fmt.Errorf("seed demo: %w", err)
		}
		printDemo(stdout, demo)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	logger.Info("listening", "addr", ln.Addr().String(), "issuer", cfg.Issuer, "tls", cfg.TLS.CertFile != "", "dev", dev)
	if cfg.Debug.PprofListen != "" {
		if err := servePprof(ctx, cfg.Debug.PprofListen, logger); err != nil {
			return err
		}
	}
	if a.metrics != nil {
		if _, err := a.serveMetrics(ctx, cfg.Metrics.Listen); err != nil {
			return err
		}
	}
	return a.run(ctx, ln)
}

// servePprof serves the pprof profiles on their own listener until ctx ends.
func servePprof(ctx context.Context, addr string, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("pprof listener on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	go func() { _ = srv.Serve(ln) }()
	logger.Warn("pprof profiles are served; keep this address private", "addr", ln.Addr().String())
	return nil
}

func printDemo(w io.Writer, d Demo) {
	fmt.Fprintf(w, `
Development mode: demo data is ready.

  Sign in as      %s / %s
  Client ID       %s
  Client secret   %s   (development only)
  Redirect URI    %s
  PKCE verifier   %s

Open this URL in a browser to start an authorization:

  %s

`, d.Email, d.Password, d.ClientID, d.ClientSecret, d.RedirectURI, d.Verifier, d.AuthorizeURL)
}

// signInThrottle is web's default sign-in policy with the configured limits.
func signInThrottle(l LimitsConfig) web.LoginThrottlePolicy {
	p := web.DefaultLoginThrottle
	p.IP.Limit, p.AccountIP.Limit, p.Account.Limit = l.SignInPerIP, l.SignInPerAccountIP, l.SignInPerAccount
	return p
}

// secureCookies decides the cookie Secure flag: always, except in dev mode
// on a plain-HTTP loopback issuer.
func secureCookies(issuer string, dev bool) bool {
	u, err := url.Parse(issuer)
	if err != nil {
		return true
	}
	if u.Scheme == "https" || !dev {
		return true
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	return !(host == "localhost" || (ip != nil && ip.IsLoopback()))
}

func writeHealth(w http.ResponseWriter, status int, state string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": state})
}

// requireForwardedHTTPS refuses requests that reached the TLS-terminating
// proxy over plain HTTP; health checks are exempt.
func requireForwardedHTTPS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/health/") && !strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
			http.Error(w, "HTTPS is required.", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// statusRecorder remembers the status code for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// logRequests writes one structured line per request: method, path (never
// the query, which can carry codes), status and duration.
func logRequests(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		logger.LogAttrs(r.Context(), slog.LevelDebug, "request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", rec.status), slog.Duration("duration", time.Since(start)))
	})
}
