package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

const exampleConfig = "../../config.example.yaml"

var testSecret = strings.Repeat("s", 32)

func TestConfigExample(t *testing.T) {
	t.Parallel()
	cfg, err := LoadConfig(exampleConfig, nil)
	if err != nil {
		t.Fatalf("LoadConfig(config.example.yaml) = %v", err)
	}
	defaults, err := LoadConfig("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, defaults) {
		t.Errorf("config.example.yaml must show the defaults:\n file:     %+v\n defaults: %+v", cfg, defaults)
	}

	// Every key is documented in the example.
	ko := koanf.New(".")
	if err := ko.Load(file.Provider(exampleConfig), yaml.Parser()); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range configKeys() {
		if !ko.Exists(k) {
			t.Errorf("config.example.yaml lacks key %s", k)
		}
		if !strings.Contains(string(raw), envName(k)) {
			t.Errorf("config.example.yaml does not mention %s", envName(k))
		}
	}

	// With a system secret it is a valid development configuration.
	cfg, err = LoadConfig(exampleConfig, []string{"NEXTORIA_SECRETS_SYSTEM=" + testSecret})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(true); err != nil {
		t.Errorf("config.example.yaml with a secret does not validate in dev mode: %v", err)
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := LoadConfig("", []string{"PATH=/usr/bin", "HOME=/root"})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Listen: "127.0.0.1:8080",
		Issuer: "http://127.0.0.1:8080",
		Database: DatabaseConfig{
			URL:              "postgres://postgres@127.0.0.1:5432/nextoria?sslmode=disable",
			ConnectTimeout:   5 * time.Second,
			StatementTimeout: 5 * time.Second,
			QueryExecMode:    "cache_statement",
		},
		OAuth: OAuthConfig{
			Audience:                  "http://127.0.0.1:8080",
			AccessTokenLifespan:       time.Hour,
			RefreshTokenLifespan:      720 * time.Hour,
			RefreshTokenIdleTimeout:   336 * time.Hour,
			AuthorizationCodeLifespan: time.Minute,
			RefreshGracePeriod:        5 * time.Second,
			RefreshReuseWindow:        24 * time.Hour,
		},
		Session: SessionConfig{Lifetime: 12 * time.Hour},
		Limits: LimitsConfig{
			TokenPerMinute: 6000, TokenBurst: 1000,
			IntrospectionPerMinute: 600_000, IntrospectionBurst: 50_000,
			RevocationPerMinute: 600, RevocationBurst: 100,
			SignInPerIP: 100, SignInPerAccountIP: 5, SignInPerAccount: 20,
			RegistrationPerMinute: 60, RegistrationBurst: 20,
		},
		Shutdown: ShutdownConfig{Drain: 5 * time.Second, Timeout: 25 * time.Second},
		Log:      LogConfig{Level: "info", Format: "json"},
		Audit:    AuditConfig{Retention: 365 * 24 * time.Hour},
		Cleanup:  CleanupConfig{Interval: time.Minute, Batch: 1000, Pause: 10 * time.Millisecond},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("defaults:\n got  %+v\n want %+v", cfg, want)
	}
}

func TestConfigEnvOverrides(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		file  string // YAML; "" means no file
		env   []string
		check func(c Config) bool
	}{
		{"database.url", "", []string{"NEXTORIA_DATABASE_URL=postgres://u@db:5432/x"},
			func(c Config) bool { return c.Database.URL == "postgres://u@db:5432/x" }},
		{"database.max_conns", "", []string{"NEXTORIA_DATABASE_MAX_CONNS=12"},
			func(c Config) bool { return c.Database.MaxConns == 12 }},
		{"database.connect_timeout", "", []string{"NEXTORIA_DATABASE_CONNECT_TIMEOUT=2s"},
			func(c Config) bool { return c.Database.ConnectTimeout == 2*time.Second }},
		{"database.statement_timeout", "", []string{"NEXTORIA_DATABASE_STATEMENT_TIMEOUT=1500ms"},
			func(c Config) bool { return c.Database.StatementTimeout == 1500*time.Millisecond }},
		{"database.query_exec_mode and migrate_url", "", []string{
			"NEXTORIA_DATABASE_QUERY_EXEC_MODE=exec", "NEXTORIA_DATABASE_MIGRATE_URL=postgres://u@db:5432/x",
		}, func(c Config) bool {
			return c.Database.QueryExecMode == "exec" && c.Database.MigrateURL == "postgres://u@db:5432/x" &&
				c.Database.PoolOptions().QueryExecMode == pgx.QueryExecModeExec
		}},
		{"tls.cert_file and key_file", "", []string{"NEXTORIA_TLS_CERT_FILE=/c.pem", "NEXTORIA_TLS_KEY_FILE=/k.pem"},
			func(c Config) bool { return c.TLS.CertFile == "/c.pem" && c.TLS.KeyFile == "/k.pem" }},
		{"secrets.system", "", []string{"NEXTORIA_SECRETS_SYSTEM=" + testSecret},
			func(c Config) bool { return c.Secrets.System == testSecret }},
		{"secret value with '=' and spaces", "", []string{"NEXTORIA_SECRETS_SYSTEM=a=b c=="},
			func(c Config) bool { return c.Secrets.System == "a=b c==" }},
		{"proxy.trusted", "", []string{"NEXTORIA_PROXY_TRUSTED=true"},
			func(c Config) bool { return c.Proxy.Trusted }},
		{"shutdown.drain and timeout", "shutdown:\n  drain: 1s\n  timeout: 2s\n", []string{"NEXTORIA_SHUTDOWN_DRAIN=0s", "NEXTORIA_SHUTDOWN_TIMEOUT=40s"},
			func(c Config) bool { return c.Shutdown.Drain == 0 && c.Shutdown.Timeout == 40*time.Second }},
		{"durations", "", []string{
			"NEXTORIA_OAUTH_ACCESS_TOKEN_LIFESPAN=15m", "NEXTORIA_OAUTH_REFRESH_TOKEN_LIFESPAN=48h",
			"NEXTORIA_OAUTH_AUTHORIZATION_CODE_LIFESPAN=30s", "NEXTORIA_OAUTH_REFRESH_GRACE_PERIOD=0s",
			"NEXTORIA_SESSION_LIFETIME=1h30m",
		}, func(c Config) bool {
			return c.OAuth.AccessTokenLifespan == 15*time.Minute && c.OAuth.RefreshTokenLifespan == 48*time.Hour &&
				c.OAuth.AuthorizationCodeLifespan == 30*time.Second && c.OAuth.RefreshGracePeriod == 0 &&
				c.Session.Lifetime == 90*time.Minute
		}},
		{"audit.retention", "", []string{"NEXTORIA_AUDIT_RETENTION=2160h"},
			func(c Config) bool { return c.Audit.Retention == 90*24*time.Hour }},
		{"cleanup", "", []string{"NEXTORIA_CLEANUP_INTERVAL=10s", "NEXTORIA_CLEANUP_BATCH=5000", "NEXTORIA_CLEANUP_PAUSE=0s"},
			func(c Config) bool {
				return c.Cleanup == CleanupConfig{Interval: 10 * time.Second, Batch: 5000, Pause: 0}
			}},
		{"log", "", []string{"NEXTORIA_LOG_LEVEL=debug", "NEXTORIA_LOG_FORMAT=text"},
			func(c Config) bool { return c.Log.Level == "debug" && c.Log.Format == "text" }},
		{"issuer sets the default audience", "", []string{"NEXTORIA_ISSUER=https://auth.example.com/"},
			func(c Config) bool {
				return c.Issuer == "https://auth.example.com" && c.OAuth.Audience == "https://auth.example.com"
			}},
		{"audience", "", []string{"NEXTORIA_OAUTH_AUDIENCE=https://api.example.com"},
			func(c Config) bool { return c.OAuth.Audience == "https://api.example.com" }},
		{"listen", "", []string{"NEXTORIA_LISTEN=:9000"},
			func(c Config) bool { return c.Listen == ":9000" }},
		{"environment beats file", "listen: 0.0.0.0:1\nlog:\n  level: warn\n", []string{"NEXTORIA_LISTEN=0.0.0.0:2"},
			func(c Config) bool { return c.Listen == "0.0.0.0:2" && c.Log.Level == "warn" }},
		{"empty variable counts as unset", "listen: 0.0.0.0:1\n", []string{"NEXTORIA_LISTEN="},
			func(c Config) bool { return c.Listen == "0.0.0.0:1" }},
		{"unknown and unprefixed variables are ignored", "", []string{"NEXTORIA_NOPE=1", "DATABASE_URL=postgres://x/y", "nextoria_listen=:1"},
			func(c Config) bool { return reflect.DeepEqual(c, mustDefaults(t)) }},
		{"file values", "database:\n  url: postgres://f@h/db\n  max_conns: 4\noauth:\n  access_token_lifespan: 10m\nproxy:\n  trusted: true\n", nil,
			func(c Config) bool {
				return c.Database.URL == "postgres://f@h/db" && c.Database.MaxConns == 4 &&
					c.OAuth.AccessTokenLifespan == 10*time.Minute && c.Proxy.Trusted
			}},
		{"empty section in file", "tls:\nlog:\n  format: text\n", nil,
			func(c Config) bool { return c.TLS == (TLSConfig{}) && c.Log.Format == "text" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := LoadConfig(writeConfig(t, tt.file), tt.env)
			if err != nil {
				t.Fatalf("LoadConfig() = %v", err)
			}
			if !tt.check(cfg) {
				t.Errorf("unexpected config %+v", cfg)
			}
		})
	}
}

func TestLoadConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		file    string
		env     []string
		wantErr string
	}{
		{"unknown key", "listen: :1\ndatabase:\n  uri: postgres://x\n", nil, "unknown keys: database.uri"},
		{"bad yaml", "listen: [", nil, "config"},
		{"bad duration in env", "", []string{"NEXTORIA_SESSION_LIFETIME=forever"}, "invalid duration"},
		{"duration without unit", "oauth:\n  access_token_lifespan: 3600\n", nil, "needs a unit"},
		{"bad number", "", []string{"NEXTORIA_DATABASE_MAX_CONNS=lots"}, "max_conns"},
		{"bad bool", "", []string{"NEXTORIA_PROXY_TRUSTED=maybe"}, "trusted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := LoadConfig(writeConfig(t, tt.file), tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("LoadConfig() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		t.Parallel()
		_, err := LoadConfig(filepath.Join(t.TempDir(), "nope.yaml"), nil)
		if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
			t.Fatalf("LoadConfig() = %v, want an error naming the file", err)
		}
	})
}

func TestValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := writeTestCert(t, dir)
	valid := func() Config {
		c := mustDefaults(t)
		c.Secrets.System = testSecret
		c.Issuer = "https://auth.example.com"
		c.OAuth.Audience = c.Issuer
		c.TLS = TLSConfig{CertFile: certFile, KeyFile: keyFile}
		return c
	}
	tests := []struct {
		name   string
		modify func(c *Config)
		dev    bool
		want   []string // substrings of the error; none means valid
	}{
		{"valid with TLS", func(c *Config) {}, false, nil},
		{"valid behind a proxy", func(c *Config) { c.TLS = TLSConfig{}; c.Proxy.Trusted = true }, false, nil},
		{"valid dev on loopback", func(c *Config) { c.TLS = TLSConfig{}; c.Issuer = "http://127.0.0.1:8080" }, true, nil},
		{"valid dev on another host", func(c *Config) { c.TLS = TLSConfig{}; c.Issuer = "http://devbox.lan:8080" }, true, nil},
		{"loopback http issuer without dev", func(c *Config) { c.Issuer = "http://localhost:8080" }, false, nil},
		{"grace period zero", func(c *Config) { c.OAuth.RefreshGracePeriod = 0 }, false, nil},

		{"missing secret", func(c *Config) { c.Secrets.System = "" }, false, []string{"secrets.system is required", "NEXTORIA_SECRETS_SYSTEM"}},
		{"short secret", func(c *Config) { c.Secrets.System = "short" }, false, []string{"secrets.system is too short: 5 bytes"}},
		{"plain http without dev or proxy", func(c *Config) { c.TLS = TLSConfig{} }, false,
			[]string{"refusing to serve plain HTTP", "tls.cert_file", "proxy.trusted", "--dev"}},
		{"cert without key", func(c *Config) { c.TLS.KeyFile = "" }, false, []string{"tls.cert_file is set but tls.key_file is not"}},
		{"key without cert", func(c *Config) { c.TLS.CertFile = "" }, true, []string{"tls.key_file is set but tls.cert_file is not"}},
		{"unreadable cert", func(c *Config) { c.TLS.CertFile = filepath.Join(dir, "missing.pem") }, false, []string{"tls.cert_file: cannot read"}},
		{"cert and key that do not match", func(c *Config) { c.TLS.KeyFile = c.TLS.CertFile }, false, []string{"usable certificate and key"}},
		{"http issuer in production", func(c *Config) { c.Issuer = "http://auth.example.com" }, false, []string{"must use https"}},
		{"relative issuer", func(c *Config) { c.Issuer = "auth.example.com" }, true, []string{"absolute URL"}},
		{"issuer with query", func(c *Config) { c.Issuer = "https://auth.example.com?x=1" }, false, []string{"query or fragment"}},
		{"issuer with fragment", func(c *Config) { c.Issuer = "https://auth.example.com#x" }, false, []string{"query or fragment"}},
		{"issuer with other scheme", func(c *Config) { c.Issuer = "ftp://auth.example.com" }, false, []string{"must use https"}},
		{"bad listen", func(c *Config) { c.Listen = "8080" }, false, []string{"listen \"8080\" must be host:port"}},
		{"metrics listener", func(c *Config) { c.Metrics.Listen = "127.0.0.1:9090" }, false, nil},
		{"bad metrics listen", func(c *Config) { c.Metrics.Listen = "9090" }, false, []string{"metrics.listen \"9090\" must be host:port"}},
		{"metrics on the public listener", func(c *Config) { c.Metrics.Listen = c.Listen }, false, []string{"metrics.listen", "must differ from listen"}},
		{"bad database url", func(c *Config) { c.Database.URL = "mysql://root:hunter2@db/x" }, false, []string{"database.url must be a postgres:// URL"}},
		{"negative max_conns", func(c *Config) { c.Database.MaxConns = -1 }, false, []string{"database.max_conns"}},
		{"pooler settings", func(c *Config) {
			c.Database.QueryExecMode = "simple_protocol"
			c.Database.MigrateURL = "postgres://postgres@127.0.0.1:5432/nextoria"
		}, false, nil},
		{"unknown query_exec_mode", func(c *Config) { c.Database.QueryExecMode = "prepared" }, false,
			[]string{`database.query_exec_mode "prepared" is unknown`, "cache_statement, cache_describe, describe_exec, exec, simple_protocol"}},
		{"bad migrate_url", func(c *Config) { c.Database.MigrateURL = "mysql://root:hunter2@db/x" }, false,
			[]string{"database.migrate_url must be empty or a postgres:// URL"}},
		{"no database timeouts", func(c *Config) {
			c.Database.ConnectTimeout = 0
			c.Database.StatementTimeout = -time.Second
		}, true, []string{"database.connect_timeout must be a positive duration", "database.statement_timeout must be a positive duration"}},
		{"zero lifespans", func(c *Config) {
			c.OAuth.AccessTokenLifespan = 0
			c.OAuth.RefreshTokenLifespan = -time.Hour
			c.OAuth.AuthorizationCodeLifespan = 0
			c.Session.Lifetime = 0
		}, false, []string{
			"oauth.access_token_lifespan must be a positive duration", "oauth.refresh_token_lifespan must be a positive duration",
			"oauth.authorization_code_lifespan must be a positive duration", "session.lifetime must be a positive duration",
		}},
		{"negative grace period", func(c *Config) { c.OAuth.RefreshGracePeriod = -time.Second }, false, []string{"refresh_grace_period must not be negative"}},
		{"no drain is fine", func(c *Config) { c.Shutdown.Drain = 0 }, false, nil},
		{"bad shutdown durations", func(c *Config) { c.Shutdown = ShutdownConfig{Drain: -time.Second, Timeout: 0} }, false,
			[]string{"shutdown.drain must be 0s (no drain) or a positive duration", "shutdown.timeout must be a positive duration"}},
		{"audit retention under a day", func(c *Config) { c.Audit.Retention = time.Hour }, false, []string{"audit.retention must be at least 24h"}},
		{"server cleanup off", func(c *Config) { c.Cleanup.Interval = 0 }, false, nil},
		{"bad cleanup settings", func(c *Config) { c.Cleanup = CleanupConfig{Interval: time.Millisecond, Batch: 0, Pause: -time.Second} }, false, []string{
			"cleanup.interval must be at least 1s", "cleanup.batch must be between 1 and 100000", "cleanup.pause must be between 0s and 10s",
		}},
		{"open registration with a workspace", func(c *Config) {
			c.OAuth.OpenRegistration, c.OAuth.OpenRegistrationWorkspace = true, "6b1f0b6d-bb9e-4e5b-91f9-a2f59d1c8f74"
		}, false, nil},
		{"open registration without a workspace", func(c *Config) { c.OAuth.OpenRegistration = true }, false,
			[]string{"oauth.open_registration is on but oauth.open_registration_workspace is empty"}},
		{"open registration into a non-id", func(c *Config) {
			c.OAuth.OpenRegistration, c.OAuth.OpenRegistrationWorkspace = true, "Sandbox"
		}, false, []string{`oauth.open_registration_workspace "Sandbox" must be a workspace id`}},
		{"workspace without open registration", func(c *Config) { c.OAuth.OpenRegistrationWorkspace = "6b1f0b6d-bb9e-4e5b-91f9-a2f59d1c8f74" }, false,
			[]string{"oauth.open_registration_workspace is set but oauth.open_registration is off"}},
		{"registration limit without burst", func(c *Config) { c.Limits.RegistrationBurst = 0 }, false, []string{"limits.registration_per_minute"}},
		{"unknown log level and format", func(c *Config) { c.Log = LogConfig{Level: "verbose", Format: "xml"} }, false,
			[]string{`log.level "verbose" is unknown`, `log.format "xml" is unknown`}},
		{"every problem at once", func(c *Config) {
			c.Secrets.System = ""
			c.TLS = TLSConfig{}
			c.Issuer = "http://auth.example.com"
			c.Log.Level = "loud"
			c.Session.Lifetime = 0
		}, false, []string{"secrets.system is required", "refusing to serve plain HTTP", "must use https", "log.level", "session.lifetime"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := valid()
			tt.modify(&c)
			err := c.Validate(tt.dev)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q\nwant it to contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows the database password: %q", err)
			}
		})
	}
}

func TestEnvNamesAreDistinct(t *testing.T) {
	t.Parallel()
	seen := map[string]string{}
	for _, k := range configKeys() {
		n := envName(k)
		if other, ok := seen[n]; ok {
			t.Errorf("keys %s and %s share the variable %s", k, other, n)
		}
		seen[n] = k
	}
	if len(seen) < 16 {
		t.Errorf("only %d keys found: %v", len(seen), configKeys())
	}
}

func TestNewLogger(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	l, err := LogConfig{Level: "warn", Format: "json"}.NewLogger(&b)
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hidden")
	l.Warn("shown", "client_id", "x")
	var line map[string]any
	if err := json.Unmarshal(b.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line: %q", b.String())
	}
	if line["msg"] != "shown" || line["client_id"] != "x" {
		t.Errorf("log line = %v", line)
	}
	b.Reset()
	l, err = LogConfig{Level: "debug", Format: "text"}.NewLogger(&b)
	if err != nil {
		t.Fatal(err)
	}
	l.Debug("hello")
	if !strings.Contains(b.String(), "msg=hello") {
		t.Errorf("text log = %q", b.String())
	}
	if _, err := (LogConfig{Level: "info", Format: "xml"}).NewLogger(&b); err == nil {
		t.Error("unknown format accepted")
	}
}

func mustDefaults(t testing.TB) Config {
	t.Helper()
	c, err := LoadConfig("", nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// writeConfig writes YAML to a temporary file and returns its path, or ""
// when yaml is empty.
func writeConfig(t testing.TB, yaml string) string {
	t.Helper()
	if yaml == "" {
		return ""
	}
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeTestCert writes a self-signed certificate and its key.
func writeTestCert(t testing.TB, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "auth.example.com"},
		DNSNames:     []string{"auth.example.com"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
