// Package metrics owns the server's Prometheus metrics: one registry, every
// collector, and the few recording calls the handlers make. A nil *Metrics
// records nothing, so that code paths need no check whether metrics are on.
//
// Every label value comes from a small fixed set (route patterns, HTTP
// methods and status codes, OAuth error codes, grant and token types,
// plans): never a client id, a token, a secret or an e-mail address.
// Values outside a set are recorded as "other".
package metrics

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace starts the name of every metric.
const Namespace = "nextoria"

// Other is the label value of anything outside a label's fixed set.
const Other = "other"

// Results of a sign-in attempt (the result label of signin_attempts_total).
const (
	SignInSuccess   = "success"
	SignInFailure   = "failure"
	SignInThrottled = "throttled"
)

// Endpoints with a per-client rate limit (the endpoint label of
// rate_limited_total).
const (
	EndpointToken         = "token"
	EndpointIntrospection = "introspection"
	EndpointRevocation    = "revocation"
)

// Token types of introspections_total.
const (
	TokenTypeAccess  = "access_token"
	TokenTypeRefresh = "refresh_token"
	TokenTypeAPIKey  = "api_key"
	TokenTypeUnknown = "unknown"
)

// Grant types of tokens_issued_total.
var grantTypes = []string{"authorization_code", "refresh_token"}

// tokenErrors are the OAuth error codes the token endpoint answers with
// (RFC 6749 §5.2, plus server_error and temporarily_unavailable).
var tokenErrors = []string{
	"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
	"unsupported_grant_type", "invalid_scope", "access_denied", "request_unauthorized",
	"server_error", "temporarily_unavailable", Other,
}

// DurationBuckets are the request-latency histogram buckets, in seconds:
// from a cached introspection (well under a millisecond) to a password
// check under load (about a second).
var DurationBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// Metrics holds the registry and the authorization server's collectors.
type Metrics struct {
	reg *prometheus.Registry

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	http     *httpChildren

	issued         map[string]prometheus.Counter
	tokenErrors    map[string]prometheus.Counter
	introspections map[introspectionKey]prometheus.Counter
	reuse          prometheus.Counter
	signIns        map[string]prometheus.Counter
	rateLimited    map[string]prometheus.Counter
	dbRoundTrips   prometheus.Counter
}

type introspectionKey struct {
	tokenType string
	active    bool
}

// New returns the authorization server's metrics with Go runtime and process
// collectors, on a registry of their own.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{reg: reg}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "http_requests_total",
		Help: "HTTP requests answered, by route pattern, method and status code.",
	}, []string{"handler", "method", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by route pattern and method.",
		Buckets: DurationBuckets,
	}, []string{"handler", "method"})
	m.http = &httpChildren{requests: m.requests, duration: m.duration}

	issued := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "tokens_issued_total",
		Help: "Token responses issued by the token endpoint, by grant type.",
	}, []string{"grant_type"})
	m.issued = children(issued, grantTypes)

	tokenErrs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "token_request_errors_total",
		Help: "Token requests refused, by OAuth error code.",
	}, []string{"error"})
	m.tokenErrors = children(tokenErrs, tokenErrors)

	intro := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "introspections_total",
		Help: "Token introspections answered, by token type and whether the token was active.",
	}, []string{"token_type", "active"})
	m.introspections = make(map[introspectionKey]prometheus.Counter)
	for _, tt := range []string{TokenTypeAccess, TokenTypeRefresh, TokenTypeAPIKey, TokenTypeUnknown} {
		for _, active := range []bool{true, false} {
			m.introspections[introspectionKey{tt, active}] = intro.WithLabelValues(tt, strconv.FormatBool(active))
		}
	}

	m.reuse = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "refresh_reuse_detected_total",
		Help: "Refresh tokens presented after they were rotated or revoked; each revoked its whole grant.",
	})

	signIns := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "signin_attempts_total",
		Help: "Sign-in form submissions, by result: success, failure or throttled.",
	}, []string{"result"})
	m.signIns = children(signIns, []string{SignInSuccess, SignInFailure, SignInThrottled})

	limited := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "rate_limited_total",
		Help: "Requests refused with 429 by a per-client limit, by endpoint.",
	}, []string{"endpoint"})
	m.rateLimited = children(limited, []string{EndpointToken, EndpointIntrospection, EndpointRevocation})

	m.dbRoundTrips = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "db_round_trips_total",
		Help: "Network round trips to PostgreSQL: each statement sent alone, each batch once; statement preparation is not counted.",
	})

	reg.MustRegister(m.requests, m.duration, issued, tokenErrs, intro, m.reuse, signIns, limited, m.dbRoundTrips)
	return m
}

// children resolves the child of vec for each value once, so that recording
// costs a map lookup and an atomic add. Every child starts at zero, so the
// series exist from the start.
func children(vec *prometheus.CounterVec, values []string) map[string]prometheus.Counter {
	out := make(map[string]prometheus.Counter, len(values))
	for _, v := range values {
		out[v] = vec.WithLabelValues(v)
	}
	return out
}

// Registry is where the collectors are registered; more may be added (see
// RegisterPool).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler { return Handler(m.reg) }

// Handler serves reg's metrics in the Prometheus exposition formats.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, EnableOpenMetrics: true})
}

// TokenIssued counts a token response of grantType.
func (m *Metrics) TokenIssued(grantType string) {
	if m == nil {
		return
	}
	inc(m.issued, grantType)
}

// TokenError counts a token request refused with the OAuth error code.
func (m *Metrics) TokenError(code string) {
	if m == nil {
		return
	}
	inc(m.tokenErrors, code)
}

// Introspection counts an introspection answer. tokenType is one of the
// TokenType constants.
func (m *Metrics) Introspection(tokenType string, active bool) {
	if m == nil {
		return
	}
	c, ok := m.introspections[introspectionKey{tokenType, active}]
	if !ok {
		c = m.introspections[introspectionKey{TokenTypeUnknown, active}]
	}
	c.Inc()
}

// RefreshReuseDetected counts a refresh token presented again after it was
// rotated, which revoked its grant.
func (m *Metrics) RefreshReuseDetected() {
	if m == nil {
		return
	}
	m.reuse.Inc()
}

// SignIn counts a sign-in attempt with its result (SignInSuccess,
// SignInFailure or SignInThrottled).
func (m *Metrics) SignIn(result string) {
	if m == nil {
		return
	}
	if c, ok := m.signIns[result]; ok {
		c.Inc()
	}
}

// RateLimited counts a request refused by the per-client limit of endpoint
// (EndpointToken, EndpointIntrospection or EndpointRevocation).
func (m *Metrics) RateLimited(endpoint string) {
	if m == nil {
		return
	}
	if c, ok := m.rateLimited[endpoint]; ok {
		c.Inc()
	}
}

// DBRoundTrip counts one network round trip to PostgreSQL. It is meant for
// dbtrace.Tracer.OnRoundTrip, so it costs one atomic add per statement.
func (m *Metrics) DBRoundTrip() {
	if m == nil {
		return
	}
	m.dbRoundTrips.Inc()
}

// inc adds one to the child of value, or of Other when value is not in
// the set.
func inc(set map[string]prometheus.Counter, value string) {
	c, ok := set[value]
	if !ok {
		c, ok = set[Other]
		if !ok {
			return
		}
	}
	c.Inc()
}

// httpChildren caches the children of the HTTP collectors by label values,
// so a request costs a map lookup under a read lock, without the hashing
// and allocation of WithLabelValues. The sets are bounded (route patterns ×
// methods × status codes), so the maps are too.
type httpChildren struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	counters  childCache[requestKey, prometheus.Counter]
	observers childCache[routeKey, prometheus.Observer]
}

type routeKey struct {
	handler, method string
}

type requestKey struct {
	routeKey
	code int
}

func (c *httpChildren) counter(k requestKey) prometheus.Counter {
	return c.counters.get(k, func() prometheus.Counter {
		return c.requests.WithLabelValues(k.handler, k.method, strconv.Itoa(k.code))
	})
}

func (c *httpChildren) observer(k routeKey) prometheus.Observer {
	return c.observers.get(k, func() prometheus.Observer {
		return c.duration.WithLabelValues(k.handler, k.method)
	})
}

// childCache maps label values to a resolved child, resolving each once.
type childCache[K comparable, V any] struct {
	mu sync.RWMutex
	m  map[K]V
}

func (c *childCache[K, V]) get(k K, resolve func() V) V {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok = c.m[k]; !ok {
		if c.m == nil {
			c.m = make(map[K]V)
		}
		v = resolve()
		c.m[k] = v
	}
	return v
}
