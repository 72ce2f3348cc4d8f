package resource

import "time"

// Observer receives the middleware's figures, for metrics. Its methods are
// called on the request path and must be quick and safe for concurrent use.
// metrics.Resource implements it with Prometheus counters; the package
// itself needs no metrics library.
type Observer interface {
	// CacheHit: a request's token was answered from the introspection cache.
	CacheHit()
	// CacheMiss: a request's token needed an introspection call (its own,
	// or one shared with concurrent requests for the same token); every
	// request is a miss when the cache is off.
	CacheMiss()
	// RateLimited: a request was refused by the workspace plan's rate limit.
	RateLimited(plan string)
	// Introspected: one introspection call took d; err is set when it failed.
	Introspected(d time.Duration, err error)
}

// nopObserver is the Observer of a Config without one.
type nopObserver struct{}

func (nopObserver) CacheHit()                         {}
func (nopObserver) CacheMiss()                        {}
func (nopObserver) RateLimited(string)                {}
func (nopObserver) Introspected(time.Duration, error) {}
