package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nextoria/authz/graceful"
	"github.com/nextoria/authz/ratelimit"
)

// config is the example API's configuration, read from the environment.
type config struct {
	Listen           string
	IntrospectionURL string
	ClientID         string
	ClientSecret     string
	RedisURL         string // "" for in-process rate limits
	RedisPrefix      string // key prefix of the buckets in Redis
	RedisFailOpen    bool
	// CacheTTL is resource.Config.CacheTTL: 0 for its default, negative
	// for no cache.
	CacheTTL time.Duration
	// RateLimitOff turns the plan limits off (NEXTORIA_API_RATE_LIMIT=off).
	RateLimitOff bool
	// ShutdownDrain and ShutdownTimeout are graceful.Options' Drain and
	// Timeout.
	ShutdownDrain, ShutdownTimeout time.Duration
	// MetricsListen is the address of the Prometheus metrics listener
	// (NEXTORIA_API_METRICS_LISTEN); "" turns metrics off.
	MetricsListen string
}

// defaultListen is NEXTORIA_API_LISTEN's default.
const defaultListen = "127.0.0.1:8081"

// loadConfig reads and checks the configuration, reporting every problem
// at once.
func loadConfig(getenv func(string) string) (config, error) {
	cfg := config{
		Listen:           getenv("NEXTORIA_API_LISTEN"),
		IntrospectionURL: getenv("NEXTORIA_API_INTROSPECTION_URL"),
		ClientID:         getenv("NEXTORIA_API_CLIENT_ID"),
		ClientSecret:     getenv("NEXTORIA_API_CLIENT_SECRET"),
		RedisURL:         getenv("NEXTORIA_API_REDIS_URL"),
		RedisPrefix:      getenv("NEXTORIA_API_REDIS_PREFIX"),
		RedisFailOpen:    true,
		ShutdownDrain:    graceful.DefaultDrain,
		ShutdownTimeout:  graceful.DefaultTimeout,
		MetricsListen:    getenv("NEXTORIA_API_METRICS_LISTEN"),
	}
	if cfg.RedisPrefix == "" {
		cfg.RedisPrefix = ratelimit.DefaultRedisPrefix
	}
	if cfg.Listen == "" {
		cfg.Listen = defaultListen
	}
	var errs []error
	if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
		errs = append(errs, fmt.Errorf("NEXTORIA_API_LISTEN %q must be host:port", cfg.Listen))
	}
	if cfg.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(cfg.MetricsListen); err != nil {
			errs = append(errs, fmt.Errorf("NEXTORIA_API_METRICS_LISTEN %q must be host:port, or unset to turn metrics off", cfg.MetricsListen))
		}
	}
	if cfg.IntrospectionURL == "" {
		errs = append(errs, errors.New("NEXTORIA_API_INTROSPECTION_URL is required, e.g. https://api.nextoriahub.com/v1/oauth/introspect"))
	} else if u, err := url.Parse(cfg.IntrospectionURL); err != nil || u.Host == "" ||
		!(u.Scheme == "https" || u.Scheme == "http" && isLoopback(u.Hostname())) {
		errs = append(errs, errors.New("NEXTORIA_API_INTROSPECTION_URL must be an https URL (http only on a loopback address): the client secret and tokens travel to it"))
	}
	if cfg.ClientID == "" {
		errs = append(errs, errors.New("NEXTORIA_API_CLIENT_ID is required"))
	}
	if cfg.ClientSecret == "" {
		errs = append(errs, errors.New("NEXTORIA_API_CLIENT_SECRET is required"))
	}
	if cfg.RedisURL != "" {
		if _, err := redis.ParseURL(cfg.RedisURL); err != nil {
			errs = append(errs, errors.New("NEXTORIA_API_REDIS_URL must be a redis:// or rediss:// URL"))
		}
	}
	if v := getenv("NEXTORIA_API_REDIS_FAIL_OPEN"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("NEXTORIA_API_REDIS_FAIL_OPEN %q must be true or false", v))
		}
		cfg.RedisFailOpen = b
	}
	if v := getenv("NEXTORIA_API_CACHE_TTL"); v != "" {
		// "0s" is the operator's way to say "no cache"; resource.Config
		// says it with a negative TTL, its zero meaning "the default".
		switch d, err := time.ParseDuration(v); {
		case err != nil || d < 0:
			errs = append(errs, fmt.Errorf("NEXTORIA_API_CACHE_TTL %q must be a duration such as 10s, or 0s to turn the cache off", v))
		case d == 0:
			cfg.CacheTTL = -1
		default:
			cfg.CacheTTL = d
		}
	}
	switch v := getenv("NEXTORIA_API_RATE_LIMIT"); v {
	case "", "plan":
	case "off":
		cfg.RateLimitOff = true
	default:
		errs = append(errs, fmt.Errorf("NEXTORIA_API_RATE_LIMIT %q must be plan or off", v))
	}
	for _, d := range []struct {
		name    string
		into    *time.Duration
		zeroOK  bool
		example string
	}{
		{"NEXTORIA_API_SHUTDOWN_DRAIN", &cfg.ShutdownDrain, true, "5s, or 0s for no drain"},
		{"NEXTORIA_API_SHUTDOWN_TIMEOUT", &cfg.ShutdownTimeout, false, "25s"},
	} {
		v := getenv(d.name)
		if v == "" {
			continue
		}
		if p, err := time.ParseDuration(v); err != nil || p < 0 || (p == 0 && !d.zeroOK) {
			errs = append(errs, fmt.Errorf("%s %q must be a duration such as %s", d.name, v, d.example))
		} else {
			*d.into = p
		}
	}
	if err := errors.Join(errs...); err != nil {
		return config{}, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

// isLoopback reports whether host is localhost or a loopback IP.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
