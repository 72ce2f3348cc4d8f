// Package ratelimit owns the API rate limits of the workspace plans: how many
// requests a workspace may make, counted where (Redis, shared by every
// instance, or in process), what happens when Redis fails, and how a decision
// is told to the client in RateLimit-* and Retry-After headers.
//
// The limits are the documented ones, per workspace:
//
//	plan     requests per minute  burst
//	starter  60                   100
//	growth   300                  500
//	scale    1000                 2000
//
// Both implementations use the generic cell rate algorithm (GCRA), a token
// bucket that holds up to burst requests and refills at the plan's rate, so
// the Redis and in-process limiters decide alike.
package ratelimit

import (
	"context"
	"maps"
	"math"
	"net/http"
	"strconv"
	"time"
)

// Limit is a plan's allowance: Rate requests per minute on average, and at
// most Burst at once.
type Limit struct {
	Rate  int // requests per minute
	Burst int
}

// interval is the time one request's allowance takes to refill.
func (l Limit) interval() time.Duration { return time.Minute / time.Duration(l.Rate) }

// plans are the documented limits by plan name.
var plans = map[string]Limit{
	"starter": {Rate: 60, Burst: 100},
	"growth":  {Rate: 300, Burst: 500},
	"scale":   {Rate: 1000, Burst: 2000},
}

// Plans returns a copy of the documented limits by plan name.
func Plans() map[string]Limit { return maps.Clone(plans) }

// ForPlan returns the plan's limit. An unknown plan gets the starter limit,
// the strictest, so that a plan added to the authorization server before
// this table never goes unlimited.
func ForPlan(plan string) Limit {
	if l, ok := plans[plan]; ok {
		return l
	}
	return plans["starter"]
}

// Result is the decision on one request.
type Result struct {
	// Allowed reports whether the request may proceed.
	Allowed bool
	// Limit is the plan's burst: the most requests the bucket holds.
	Limit int
	// Remaining is how many more requests could be made right now.
	Remaining int
	// RetryAfter is how long to wait before the next request is allowed;
	// zero when Allowed.
	RetryAfter time.Duration
	// ResetAfter is how long until the bucket is full again (Remaining ==
	// Limit) if no request is made meanwhile.
	ResetAfter time.Duration
}

// Limiter decides whether a request counted against key (a workspace id)
// may proceed under plan's limit. An error means no decision could be made.
type Limiter interface {
	Allow(ctx context.Context, key string, plan string) (Result, error)
}

// WriteHeaders sets RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset
// (whole seconds until the bucket is full, rounded up) from r, and on a
// refusal Retry-After (whole seconds, rounded up, at least 1). Call it before
// the status line is written.
func WriteHeaders(h http.Header, r Result) {
	h.Set("RateLimit-Limit", strconv.Itoa(r.Limit))
	h.Set("RateLimit-Remaining", strconv.Itoa(max(r.Remaining, 0)))
	h.Set("RateLimit-Reset", strconv.FormatInt(ceilSeconds(r.ResetAfter), 10))
	if !r.Allowed {
		h.Set("Retry-After", strconv.FormatInt(max(ceilSeconds(r.RetryAfter), 1), 10))
	}
}

// ceilSeconds rounds d up to whole seconds; negative durations count as 0.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(math.Ceil(d.Seconds()))
}
