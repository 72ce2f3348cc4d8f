package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/nextoria/authz/ratelimit"
)

// Introspection outcomes of resource_introspection_duration_seconds.
const (
	IntrospectionOK    = "ok"
	IntrospectionError = "error"
)

// Resource holds the metrics of a resource server's middleware (package
// resource): introspection cache hits and misses, introspection latency and
// requests refused by a workspace plan's rate limit. It implements
// resource.Observer. A nil *Resource records nothing.
type Resource struct {
	reg         *prometheus.Registry
	hits        prometheus.Counter
	misses      prometheus.Counter
	rateLimited map[string]prometheus.Counter
	latency     map[string]prometheus.Observer
}

// NewResource returns a resource server's metrics with Go runtime and
// process collectors, on a registry of their own.
func NewResource() *Resource {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	r := &Resource{reg: reg}
	r.hits = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "resource", Name: "introspection_cache_hits_total",
		Help: "Requests whose token was found in the introspection cache.",
	})
	r.misses = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "resource", Name: "introspection_cache_misses_total",
		Help: "Requests whose token was not in the introspection cache (or the cache is off).",
	})
	limited := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "resource", Name: "rate_limited_total",
		Help: "Requests refused with 429 by the workspace plan's rate limit, by plan.",
	}, []string{"plan"})
	plans := []string{Other}
	for p := range ratelimit.Plans() {
		plans = append(plans, p)
	}
	r.rateLimited = children(limited, plans)
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Subsystem: "resource", Name: "introspection_duration_seconds",
		Help:    "Time of an introspection call to the authorization server, by outcome (ok or error).",
		Buckets: DurationBuckets,
	}, []string{"outcome"})
	r.latency = map[string]prometheus.Observer{
		IntrospectionOK:    latency.WithLabelValues(IntrospectionOK),
		IntrospectionError: latency.WithLabelValues(IntrospectionError),
	}
	reg.MustRegister(r.hits, r.misses, limited, latency)
	return r
}

// Registry is where the collectors are registered.
func (r *Resource) Registry() *prometheus.Registry { return r.reg }

// Handler serves the registry in the Prometheus exposition formats.
func (r *Resource) Handler() http.Handler { return Handler(r.reg) }

// CacheHit counts a request answered from the introspection cache.
func (r *Resource) CacheHit() {
	if r != nil {
		r.hits.Inc()
	}
}

// CacheMiss counts a request that needed an introspection call (its own or
// one shared with concurrent requests for the same token).
func (r *Resource) CacheMiss() {
	if r != nil {
		r.misses.Inc()
	}
}

// RateLimited counts a request refused by plan's rate limit; a plan not in
// the documented table counts as Other.
func (r *Resource) RateLimited(plan string) {
	if r != nil {
		inc(r.rateLimited, plan)
	}
}

// Introspected records the time of one introspection call and whether it
// failed (err != nil: unreachable, 5xx, a broken answer).
func (r *Resource) Introspected(d time.Duration, err error) {
	if r == nil {
		return
	}
	outcome := IntrospectionOK
	if err != nil {
		outcome = IntrospectionError
	}
	r.latency[outcome].Observe(d.Seconds())
}
