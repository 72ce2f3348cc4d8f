package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"

	"github.com/nextoria/authz/graceful"
	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/dbtrace"
)

// envPrefix starts the name of every environment override: key K is
// overridden by envPrefix + upper(K) with '.' replaced by '_'.
const envPrefix = "NEXTORIA_"

// Config is the server's configuration. It is read from an optional YAML
// file, then from NEXTORIA_* environment variables; config.example.yaml
// documents every key. The koanf tags are the YAML keys.
type Config struct {
	// Listen is the TCP address the server listens on, host:port.
	Listen string `koanf:"listen"`
	// Issuer is the public base URL of the server, without a trailing slash:
	// the OAuth issuer identifier and the base of every absolute URL it shows.
	Issuer   string         `koanf:"issuer"`
	Database DatabaseConfig `koanf:"database"`
	Secrets  SecretsConfig  `koanf:"secrets"`
	TLS      TLSConfig      `koanf:"tls"`
	Proxy    ProxyConfig    `koanf:"proxy"`
	OAuth    OAuthConfig    `koanf:"oauth"`
	Session  SessionConfig  `koanf:"session"`
	Limits   LimitsConfig   `koanf:"limits"`
	Shutdown ShutdownConfig `koanf:"shutdown"`
	Debug    DebugConfig    `koanf:"debug"`
	Log      LogConfig      `koanf:"log"`
	Metrics  MetricsConfig  `koanf:"metrics"`
	Audit    AuditConfig    `koanf:"audit"`
	Cleanup  CleanupConfig  `koanf:"cleanup"`
}

// CleanupConfig tunes the deletion of expired rows by serve and by the
// cleanup command (see "Cleanup and table growth" in the README).
type CleanupConfig struct {
	// Interval is how long serve waits between two cleanup rounds. A round
	// deletes everything expired before it ends, so the interval bounds how
	// long expired rows linger, not how fast they go. 0 turns the server's
	// own cleanup off, for operators who run the cleanup command from cron.
	Interval time.Duration `koanf:"interval"`
	// Batch is how many rows one DELETE, one transaction, removes.
	Batch int `koanf:"batch"`
	// Pause is how long a round waits between two full batches, leaving the
	// database to the requests; 0 runs batches back to back.
	Pause time.Duration `koanf:"pause"`
}

// AuditConfig tunes the audit log.
type AuditConfig struct {
	// Retention is how long audit events are kept; cleanup deletes older ones.
	Retention time.Duration `koanf:"retention"`
}

// DatabaseConfig locates PostgreSQL.
type DatabaseConfig struct {
	// URL is a postgres:// URL.
	URL string `koanf:"url"`
	// MaxConns caps the connection pool; 0 means storage.DefaultMaxConns.
	MaxConns int32 `koanf:"max_conns"`
	// ConnectTimeout bounds opening one connection (dial, TLS, sign-in).
	ConnectTimeout time.Duration `koanf:"connect_timeout"`
	// StatementTimeout is PostgreSQL's statement_timeout; the server also
	// gives up on a statement, or on waiting for a pooled connection, a
	// second after it. A database that does not answer in time makes the
	// endpoints answer 503 with Retry-After.
	StatementTimeout time.Duration `koanf:"statement_timeout"`
	// tracer, set by tests only, traces the pool's statements (the
	// query-plan test records what each hot path sends).
	tracer *dbtrace.Tracer
	// QueryExecMode is how pgx sends statements (storage.QueryExecModes).
	// Behind PgBouncer in transaction pooling mode it must be exec or
	// simple_protocol: the default prepares named statements per
	// connection, which the pooler does not keep between transactions.
	QueryExecMode string `koanf:"query_exec_mode"`
	// MigrateURL, when set, is the direct PostgreSQL connection migrations
	// run on (serve and migrate up), while URL may go through a pooler:
	// migrations hold a session advisory lock and change session settings,
	// which a transaction pooler would spread over other clients' sessions.
	MigrateURL string `koanf:"migrate_url"`
}

// PoolOptions returns the connection-pool settings of storage.ConnectPool.
// Call it on a validated config: an unknown query_exec_mode is left to the
// URL or pgx's default.
func (d DatabaseConfig) PoolOptions() storage.PoolOptions {
	mode, _ := storage.ParseQueryExecMode(d.QueryExecMode)
	o := storage.PoolOptions{
		MaxConns:         d.MaxConns,
		ConnectTimeout:   d.ConnectTimeout,
		StatementTimeout: d.StatementTimeout,
		QueryExecMode:    mode,
	}
	if d.tracer != nil {
		o.Tracer = *d.tracer
	}
	return o
}

// MigrationPoolOptions returns the settings of the pool migrations run on
// when MigrateURL is set: one connection in pgx's default mode, since it
// is direct.
func (d DatabaseConfig) MigrationPoolOptions() storage.PoolOptions {
	return storage.PoolOptions{
		MaxConns:         1,
		ConnectTimeout:   d.ConnectTimeout,
		StatementTimeout: d.StatementTimeout,
	}
}

// SecretsConfig holds the one secret every key is derived from.
type SecretsConfig struct {
	// System is the root secret (at least 32 bytes). secret.DeriveKeys turns
	// it into the keys for client-secret hashes, token HMACs, sealing of
	// signing keys, cookies and CSRF tokens. Changing it invalidates all of them.
	System string `koanf:"system"`
}

// TLSConfig makes the server terminate TLS itself.
type TLSConfig struct {
	CertFile string `koanf:"cert_file"`
	KeyFile  string `koanf:"key_file"`
}

// Enabled reports whether the server serves HTTPS itself.
func (t TLSConfig) Enabled() bool { return t.CertFile != "" && t.KeyFile != "" }

// ProxyConfig describes a TLS-terminating reverse proxy in front of the server.
type ProxyConfig struct {
	// Trusted means the server runs behind such a proxy: it may listen on
	// plain HTTP, and it requires X-Forwarded-Proto: https on requests.
	Trusted bool `koanf:"trusted"`
}

// OAuthConfig tunes the authorization server.
type OAuthConfig struct {
	// Audience is the resource server access tokens are meant for (their
	// aud claim); it defaults to the issuer.
	Audience            string        `koanf:"audience"`
	AccessTokenLifespan time.Duration `koanf:"access_token_lifespan"`
	// RefreshTokenLifespan is the absolute limit of a grant's refresh tokens,
	// counted from the user's authorization; rotation does not extend it.
	RefreshTokenLifespan time.Duration `koanf:"refresh_token_lifespan"`
	// RefreshTokenIdleTimeout ends a grant whose refresh token was not used
	// for this long; each rotation restarts it.
	RefreshTokenIdleTimeout   time.Duration `koanf:"refresh_token_idle_timeout"`
	AuthorizationCodeLifespan time.Duration `koanf:"authorization_code_lifespan"`
	// RefreshGracePeriod lets a rotated refresh token be used again for this
	// long, so a client that lost a refresh response can retry. 0 disables it.
	RefreshGracePeriod time.Duration `koanf:"refresh_grace_period"`
	// RefreshReuseWindow is how long after its grace period a retired
	// refresh token is still recognized, so that its reuse revokes the
	// grant; after that its row is deleted and it is merely unknown.
	RefreshReuseWindow time.Duration `koanf:"refresh_reuse_window"`
	// OpenRegistration lets anyone register a client at /v1/oauth/register
	// without an initial access token; the apps land in
	// OpenRegistrationWorkspace. Off by default.
	OpenRegistration          bool   `koanf:"open_registration"`
	OpenRegistrationWorkspace string `koanf:"open_registration_workspace"`
}

// SessionConfig tunes the browser sign-in session.
type SessionConfig struct {
	// Lifetime is how long a sign-in lasts.
	Lifetime time.Duration `koanf:"lifetime"`
}

// LimitsConfig protects the OAuth endpoints: requests per minute and burst,
// per authenticated client (per resource server for introspection) and per
// instance. A rate of 0 turns a limit off.
type LimitsConfig struct {
	TokenPerMinute         int `koanf:"token_per_minute"`
	TokenBurst             int `koanf:"token_burst"`
	IntrospectionPerMinute int `koanf:"introspection_per_minute"`
	IntrospectionBurst     int `koanf:"introspection_burst"`
	RevocationPerMinute    int `koanf:"revocation_per_minute"`
	RevocationBurst        int `koanf:"revocation_burst"`
	// Sign-in attempts allowed in 15 minutes before growing delays start,
	// per client address, per account and address, and per account.
	SignInPerIP        int `koanf:"signin_per_ip"`
	SignInPerAccountIP int `koanf:"signin_per_account_ip"`
	SignInPerAccount   int `koanf:"signin_per_account"`
	// Client registrations per initial access token (per client address
	// under open registration).
	RegistrationPerMinute int `koanf:"registration_per_minute"`
	RegistrationBurst     int `koanf:"registration_burst"`
}

// ShutdownConfig sets how serve stops on SIGTERM or SIGINT: see package
// graceful.
type ShutdownConfig struct {
	// Drain is how long the server keeps serving after the signal while
	// /health/ready answers 503, so that load balancers stop sending it
	// traffic before it stops accepting. 0 skips the drain.
	Drain time.Duration `koanf:"drain"`
	// Timeout bounds the wait for requests in flight once the listener is
	// closed; buffered last-use stamps are written after it.
	Timeout time.Duration `koanf:"timeout"`
}

// DebugConfig holds operator-only diagnostics.
type DebugConfig struct {
	// PprofListen, when set, serves net/http/pprof on this address: a
	// separate listener, never the public one. Keep it on loopback.
	PprofListen string `koanf:"pprof_listen"`
}

// MetricsConfig locates the Prometheus metrics listener.
type MetricsConfig struct {
	// Listen, when set, serves GET /metrics on this address: a separate
	// listener, never the public one. Empty (the default) turns metrics off.
	Listen string `koanf:"listen"`
	// Pprof also serves Go's profiles (net/http/pprof, /debug/pprof/) on the
	// metrics listener, for profiling under load; never on the public
	// listener. Off by default.
	Pprof bool `koanf:"pprof"`
}

// LogConfig selects the log level and format. Logs go to stderr.
type LogConfig struct {
	Level  string `koanf:"level"`  // debug, info, warn or error
	Format string `koanf:"format"` // json or text
}

// defaultConfig holds the value of every key that neither the file nor the
// environment sets. oauth.audience defaults to the issuer, once it is known.
func defaultConfig() Config {
	return Config{
		Listen: "127.0.0.1:8080",
		Issuer: "http://127.0.0.1:8080",
		Database: DatabaseConfig{
			URL:              "postgres://postgres@127.0.0.1:5432/nextoria?sslmode=disable",
			ConnectTimeout:   storage.DefaultConnectTimeout,
			StatementTimeout: storage.DefaultStatementTimeout,
			QueryExecMode:    "cache_statement",
		},
		OAuth: OAuthConfig{
			AccessTokenLifespan:       time.Hour,
			RefreshTokenLifespan:      720 * time.Hour,
			RefreshTokenIdleTimeout:   336 * time.Hour,
			AuthorizationCodeLifespan: 60 * time.Second,
			RefreshGracePeriod:        5 * time.Second,
			RefreshReuseWindow:        storage.DefaultRefreshReuseWindow,
		},
		Session: SessionConfig{Lifetime: 12 * time.Hour},
		Limits: LimitsConfig{
			TokenPerMinute: 6000, TokenBurst: 1000,
			IntrospectionPerMinute: 600_000, IntrospectionBurst: 50_000,
			RevocationPerMinute: 600, RevocationBurst: 100,
			SignInPerIP: 100, SignInPerAccountIP: 5, SignInPerAccount: 20,
			RegistrationPerMinute: 60, RegistrationBurst: 20,
		},
		Shutdown: ShutdownConfig{Drain: graceful.DefaultDrain, Timeout: graceful.DefaultTimeout},
		Log:      LogConfig{Level: "info", Format: "json"},
		Audit:    AuditConfig{Retention: storage.DefaultAuditRetention},
		Cleanup: CleanupConfig{
			Interval: time.Minute, Batch: storage.DefaultCleanupBatch, Pause: storage.DefaultCleanupPause,
		},
	}
}

// configKeys lists every key of Config (dotted, as in YAML), read from the
// koanf tags so that the list cannot drift from the struct.
func configKeys() []string {
	var keys []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue // not a setting (a test hook)
			}
			key := prefix + f.Tag.Get("koanf")
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Duration]() {
				walk(f.Type, key+".")
				continue
			}
			keys = append(keys, key)
		}
	}
	walk(reflect.TypeFor[Config](), "")
	return keys
}

// isConfigKey reports whether k is a key of Config or a section holding keys
// (an empty "tls:" in YAML loads as the key "tls").
func isConfigKey(k string) bool {
	for _, known := range configKeys() {
		if k == known || strings.HasPrefix(known, k+".") {
			return true
		}
	}
	return false
}

// envName is the environment variable that overrides key.
func envName(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// LoadConfig reads the YAML file at path (skipped when path is "") and then
// the environment, given in os.Environ form, over the defaults. An empty
// environment variable counts as unset. Unknown keys in the file are errors,
// so a typo cannot silently leave a default in place. LoadConfig does not
// validate values; call Validate.
func LoadConfig(path string, environ []string) (Config, error) {
	ko := koanf.New(".")
	if path != "" {
		if err := ko.Load(file.Provider(path), yaml.Parser()); err != nil {
			return Config{}, fmt.Errorf("config: read %s: %w", path, err)
		}
		var unknown []string
		for _, k := range ko.Keys() {
			if !isConfigKey(k) {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) > 0 {
			return Config{}, fmt.Errorf("config: %s: unknown keys: %s (see config.example.yaml)", path, strings.Join(unknown, ", "))
		}
	}

	// Keys contain underscores (database.max_conns), so an environment name
	// cannot be split back into a key; look it up among the known keys instead.
	byEnv := make(map[string]string)
	for _, k := range configKeys() {
		byEnv[envName(k)] = k
	}
	envProvider := env.Provider(".", env.Opt{
		Prefix:      envPrefix,
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(name, value string) (string, any) {
			key, ok := byEnv[name]
			if !ok || value == "" {
				return "", nil
			}
			return key, value
		},
	})
	if err := ko.Load(envProvider, nil); err != nil {
		return Config{}, fmt.Errorf("config: read environment: %w", err)
	}

	cfg := defaultConfig()
	err := ko.UnmarshalWithConf("", &cfg, koanf.UnmarshalConf{
		DecoderConfig: &mapstructure.DecoderConfig{
			DecodeHook: mapstructure.ComposeDecodeHookFunc(
				rejectBareNumberDuration,
				mapstructure.StringToTimeDurationHookFunc(),
			),
			WeaklyTypedInput: true,
			TagName:          "koanf",
			Result:           &cfg,
		},
	})
	if err != nil {
		// mapstructure prefixes a header and blank line; keep the messages.
		msg := strings.TrimSpace(strings.Replace(err.Error(), "decoding failed due to the following error(s):", "", 1))
		return Config{}, fmt.Errorf("config: %s", strings.ReplaceAll(msg, "\n\n", "\n"))
	}
	cfg.Issuer = strings.TrimRight(cfg.Issuer, "/")
	if cfg.OAuth.Audience == "" {
		cfg.OAuth.Audience = cfg.Issuer
	}
	return cfg, nil
}

// rejectBareNumberDuration refuses a number where a duration is expected:
// weak typing would read "access_token_lifespan: 3600" as 3600 nanoseconds.
func rejectBareNumberDuration(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeFor[time.Duration]() {
		return data, nil
	}
	switch from.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return nil, fmt.Errorf("duration %v needs a unit, e.g. 1h, 30m or 60s", data)
	}
	return data, nil
}

// Validate checks the configuration for serving and reports every problem at
// once. dev relaxes the rules for a development machine: plain-HTTP issuer
// and no TLS.
func (c Config) Validate(dev bool) error {
	errs := c.validateBase()

	if n := len(c.Secrets.System); n == 0 {
		errs = append(errs, fmt.Errorf("secrets.system is required: set %s (or secrets.system in the config file) to at least %d random bytes, e.g. the output of 'openssl rand -base64 48'",
			envName("secrets.system"), secret.MinSystemSecretLen))
	} else if n < secret.MinSystemSecretLen {
		errs = append(errs, fmt.Errorf("secrets.system is too short: %d bytes, need at least %d (e.g. 'openssl rand -base64 48')", n, secret.MinSystemSecretLen))
	}

	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen %q must be host:port, e.g. 127.0.0.1:8080 or :8443", c.Listen))
	}
	if c.Metrics.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			errs = append(errs, fmt.Errorf("metrics.listen %q must be host:port, e.g. 127.0.0.1:9090, or empty to turn metrics off", c.Metrics.Listen))
		} else if c.Metrics.Listen == c.Listen {
			errs = append(errs, fmt.Errorf("metrics.listen %q must differ from listen: metrics are never served on the public listener", c.Metrics.Listen))
		}
	} else if c.Metrics.Pprof {
		errs = append(errs, errors.New("metrics.pprof needs metrics.listen: the profiles are served on the metrics listener only"))
	}

	errs = append(errs, c.validateIssuer(dev)...)
	if strings.TrimSpace(c.OAuth.Audience) == "" {
		errs = append(errs, errors.New("oauth.audience must not be empty (it defaults to the issuer)"))
	}

	switch {
	case c.TLS.CertFile != "" && c.TLS.KeyFile == "":
		errs = append(errs, errors.New("tls.cert_file is set but tls.key_file is not: set both, or neither"))
	case c.TLS.CertFile == "" && c.TLS.KeyFile != "":
		errs = append(errs, errors.New("tls.key_file is set but tls.cert_file is not: set both, or neither"))
	case c.TLS.Enabled():
		errs = append(errs, c.validateTLSFiles()...)
	case !dev && !c.Proxy.Trusted:
		errs = append(errs, errors.New("refusing to serve plain HTTP: set tls.cert_file and tls.key_file, "+
			"or set proxy.trusted: true when a TLS-terminating proxy forwards to this server, "+
			"or pass --dev on a development machine"))
	}

	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"oauth.access_token_lifespan", c.OAuth.AccessTokenLifespan},
		{"oauth.refresh_token_lifespan", c.OAuth.RefreshTokenLifespan},
		{"oauth.refresh_token_idle_timeout", c.OAuth.RefreshTokenIdleTimeout},
		{"oauth.authorization_code_lifespan", c.OAuth.AuthorizationCodeLifespan},
		{"session.lifetime", c.Session.Lifetime},
	} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be a positive duration such as 1h or 90s, got %s", d.key, d.v))
		}
	}
	for _, l := range []struct {
		key         string
		rate, burst int
	}{
		{"limits.token", c.Limits.TokenPerMinute, c.Limits.TokenBurst},
		{"limits.introspection", c.Limits.IntrospectionPerMinute, c.Limits.IntrospectionBurst},
		{"limits.revocation", c.Limits.RevocationPerMinute, c.Limits.RevocationBurst},
		{"limits.registration", c.Limits.RegistrationPerMinute, c.Limits.RegistrationBurst},
	} {
		if l.rate < 0 || l.burst < 0 || (l.rate > 0 && l.burst < 1) {
			errs = append(errs, fmt.Errorf("%s_per_minute and %s_burst must not be negative, and a limit needs a burst of at least 1 (got %d/min, burst %d)", l.key, l.key, l.rate, l.burst))
		}
	}
	for key, v := range map[string]int{
		"limits.signin_per_ip": c.Limits.SignInPerIP, "limits.signin_per_account_ip": c.Limits.SignInPerAccountIP,
		"limits.signin_per_account": c.Limits.SignInPerAccount,
	} {
		if v < 1 {
			errs = append(errs, fmt.Errorf("%s must be at least 1, got %d", key, v))
		}
	}
	if c.OAuth.RefreshReuseWindow <= 0 {
		errs = append(errs, fmt.Errorf("oauth.refresh_reuse_window must be positive, got %s", c.OAuth.RefreshReuseWindow))
	}
	if c.OAuth.RefreshGracePeriod < 0 {
		errs = append(errs, fmt.Errorf("oauth.refresh_grace_period must not be negative, got %s", c.OAuth.RefreshGracePeriod))
	}
	if c.Shutdown.Drain < 0 {
		errs = append(errs, fmt.Errorf("shutdown.drain must be 0s (no drain) or a positive duration such as 5s, got %s", c.Shutdown.Drain))
	}
	if c.Shutdown.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("shutdown.timeout must be a positive duration such as 25s, got %s", c.Shutdown.Timeout))
	}
	errs = append(errs, c.OAuth.validateOpenRegistration()...)
	return errors.Join(errs...)
}

// validateData checks what every command needs: the database and logging.
// Commands other than serve use it, so they run without secrets.system.
func (c Config) validateData() error {
	return errors.Join(c.validateBase()...)
}

func (c Config) validateBase() []error {
	var errs []error
	if u, err := url.Parse(c.Database.URL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// The URL may hold a password: never echo it.
		errs = append(errs, errors.New("database.url must be a postgres:// URL, e.g. postgres://user@127.0.0.1:5432/nextoria?sslmode=disable"))
	}
	if c.Database.MigrateURL != "" {
		if u, err := url.Parse(c.Database.MigrateURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			errs = append(errs, errors.New("database.migrate_url must be empty or a postgres:// URL of a direct (not pooled) connection"))
		}
	}
	if _, err := storage.ParseQueryExecMode(c.Database.QueryExecMode); err != nil {
		errs = append(errs, fmt.Errorf("database.query_exec_mode %q is unknown: use one of %s (exec or simple_protocol behind PgBouncer in transaction mode)",
			c.Database.QueryExecMode, strings.Join(storage.QueryExecModes, ", ")))
	}
	if c.Database.MaxConns < 0 {
		errs = append(errs, fmt.Errorf("database.max_conns must be 0 (the pgx default) or more, got %d", c.Database.MaxConns))
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"database.connect_timeout", c.Database.ConnectTimeout},
		{"database.statement_timeout", c.Database.StatementTimeout},
	} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be a positive duration such as 5s, got %s", d.key, d.v))
		}
	}
	if c.Audit.Retention < 24*time.Hour {
		errs = append(errs, fmt.Errorf("audit.retention must be at least 24h, e.g. 8760h for a year, got %s", c.Audit.Retention))
	}
	if c.Cleanup.Interval != 0 && c.Cleanup.Interval < time.Second {
		errs = append(errs, fmt.Errorf("cleanup.interval must be at least 1s, e.g. 1m, or 0s to leave cleanup to the cleanup command, got %s", c.Cleanup.Interval))
	}
	if c.Cleanup.Batch < 1 || c.Cleanup.Batch > storage.MaxCleanupBatch {
		errs = append(errs, fmt.Errorf("cleanup.batch must be between 1 and %d rows, e.g. 1000, got %d", storage.MaxCleanupBatch, c.Cleanup.Batch))
	}
	if c.Cleanup.Pause < 0 || c.Cleanup.Pause > 10*time.Second {
		errs = append(errs, fmt.Errorf("cleanup.pause must be between 0s and 10s, e.g. 10ms, got %s", c.Cleanup.Pause))
	}
	if _, err := parseLevel(c.Log.Level); err != nil {
		errs = append(errs, err)
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		errs = append(errs, fmt.Errorf("log.format %q is unknown: use json or text", c.Log.Format))
	}
	return errs
}

func (c Config) validateIssuer(dev bool) []error {
	u, err := url.Parse(c.Issuer)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return []error{fmt.Errorf("issuer %q must be an absolute URL such as https://auth.example.com", c.Issuer)}
	}
	var errs []error
	if u.Scheme != "https" && u.Scheme != "http" {
		errs = append(errs, fmt.Errorf("issuer %q must use https", c.Issuer))
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(c.Issuer, "#") {
		errs = append(errs, fmt.Errorf("issuer %q must not have a query or fragment", c.Issuer))
	}
	if u.User != nil {
		errs = append(errs, errors.New("issuer must not contain user information"))
	}
	if u.Scheme == "http" && !dev && !isLoopback(u.Hostname()) {
		errs = append(errs, fmt.Errorf("issuer %q must use https (plain http is accepted only with --dev or for a loopback host)", c.Issuer))
	}
	return errs
}

func (c Config) validateTLSFiles() []error {
	var errs []error
	for _, f := range []struct{ key, path string }{{"tls.cert_file", c.TLS.CertFile}, {"tls.key_file", c.TLS.KeyFile}} {
		fh, err := os.Open(f.path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: cannot read %s: %w", f.key, f.path, err))
			continue
		}
		_ = fh.Close()
	}
	if len(errs) == 0 {
		if _, err := tls.LoadX509KeyPair(c.TLS.CertFile, c.TLS.KeyFile); err != nil {
			errs = append(errs, fmt.Errorf("tls.cert_file and tls.key_file do not hold a usable certificate and key: %w", err))
		}
	}
	return errs
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func parseLevel(s string) (slog.Level, error) {
	switch s {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("log.level %q is unknown: use debug, info, warn or error", s)
}

// NewLogger returns the logger the configuration asks for, writing to w.
func (l LogConfig) NewLogger(w io.Writer) (*slog.Logger, error) {
	level, err := parseLevel(l.Level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: level}
	switch l.Format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log.format %q is unknown: use json or text", l.Format)
}

// StorageOptions returns the options of storage.New that the configuration sets.
func (c Config) StorageOptions() storage.Options {
	return storage.Options{
		Audience:           []string{c.OAuth.Audience},
		RefreshGracePeriod: c.OAuth.RefreshGracePeriod,
		RefreshReuseWindow: c.OAuth.RefreshReuseWindow,
		AuditRetention:     c.Audit.Retention,
		CleanupPause:       c.Cleanup.Pause,
	}
}

// envNames lists every environment override, sorted; the CLI help shows it.
func envNames() []string {
	var names []string
	for _, k := range configKeys() {
		names = append(names, envName(k))
	}
	sort.Strings(names)
	return names
}

// validateOpenRegistration checks the open-registration keys: a workspace id
// (a UUID) exactly when open registration is on. That the workspace exists
// is checked once the database is reachable.
func (o OAuthConfig) validateOpenRegistration() []error {
	ws := o.OpenRegistrationWorkspace
	switch {
	case o.OpenRegistration && ws == "":
		return []error{errors.New("oauth.open_registration is on but oauth.open_registration_workspace is empty: set it to the id of the workspace that openly registered apps join")}
	case o.OpenRegistration && !uuidPattern.MatchString(ws):
		return []error{fmt.Errorf("oauth.open_registration_workspace %q must be a workspace id (a UUID)", ws)}
	case !o.OpenRegistration && ws != "":
		return []error{errors.New("oauth.open_registration_workspace is set but oauth.open_registration is off: turn it on, or clear the workspace")}
	}
	return nil
}

// uuidPattern matches a UUID in its canonical text form.
var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
