package ratelimit

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of FailSafe.
const (
	// DefaultClosedRetryAfter is the Retry-After told to clients refused
	// while failing closed.
	DefaultClosedRetryAfter = 5 * time.Second
	// DefaultProbeEvery is how often a failing limiter is tried again.
	DefaultProbeEvery = time.Second
	// DefaultLogEvery is how often an ongoing failure is logged.
	DefaultLogEvery = time.Minute
)

// FailSafe wraps a Limiter that can fail (Redis) and decides for it when it
// does: fail open (allow, or ask Fallback) or fail closed (refuse with
// Retry-After). It never returns the wrapped limiter's errors, only the
// caller's own context errors.
//
// While the wrapped limiter is failing, FailSafe tries it at most once per
// ProbeEvery and decides alone in between, so that an unreachable Redis does
// not add a connection timeout to every request; the first success ends the
// failure. An outage is logged when it starts, at most once per LogEvery
// while it lasts (with the number of failed calls), and when it ends.
//
// Set the fields before first use and do not copy a FailSafe after.
type FailSafe struct {
	// Limiter is the wrapped limiter, usually *Redis.
	Limiter Limiter
	// FailOpen lets requests through while Limiter fails; otherwise they
	// are refused with RateLimited status and Retry-After ClosedRetryAfter.
	FailOpen bool
	// Fallback decides while failing open, e.g. a Memory limiter, so that
	// each instance still enforces the plan's limit alone. When nil, every
	// request is allowed.
	Fallback Limiter
	// ClosedRetryAfter defaults to DefaultClosedRetryAfter.
	ClosedRetryAfter time.Duration
	// ProbeEvery defaults to DefaultProbeEvery.
	ProbeEvery time.Duration
	// LogEvery defaults to DefaultLogEvery.
	LogEvery time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger

	failing atomic.Bool // fast path: no lock while healthy
	mu      sync.Mutex
	state   failState
}

// failState is the bookkeeping of an ongoing failure.
type failState struct {
	since, lastTry, lastLog time.Time
	failures, unlogged      int
}

// Allow implements Limiter.
func (f *FailSafe) Allow(ctx context.Context, key, plan string) (Result, error) {
	if f.failing.Load() && !f.shouldProbe() {
		return f.decideAlone(ctx, key, plan)
	}
	res, err := f.Limiter.Allow(ctx, key, plan)
	if err == nil {
		if f.failing.Load() {
			f.recovered(ctx)
		}
		return res, nil
	}
	if ctx.Err() != nil {
		return Result{}, ctx.Err()
	}
	f.failed(ctx, err)
	return f.decideAlone(ctx, key, plan)
}

// decideAlone answers without the wrapped limiter.
func (f *FailSafe) decideAlone(ctx context.Context, key, plan string) (Result, error) {
	l := ForPlan(plan)
	if !f.FailOpen {
		wait := cmpOr(f.ClosedRetryAfter, DefaultClosedRetryAfter)
		return Result{Allowed: false, Limit: l.Burst, RetryAfter: wait, ResetAfter: wait}, nil
	}
	if f.Fallback != nil {
		return f.Fallback.Allow(ctx, key, plan)
	}
	return Result{Allowed: true, Limit: l.Burst, Remaining: l.Burst}, nil
}

// shouldProbe reports whether a failing limiter is due another try, and
// if so claims the try.
func (f *FailSafe) shouldProbe() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	if now.Sub(f.state.lastTry) < cmpOr(f.ProbeEvery, DefaultProbeEvery) {
		return false
	}
	f.state.lastTry = now
	return true
}

// failed records a failure and logs it unless one was logged recently.
func (f *FailSafe) failed(ctx context.Context, err error) {
	f.mu.Lock()
	now := time.Now()
	first := !f.failing.Load()
	if first {
		f.state = failState{since: now}
		f.failing.Store(true)
	}
	f.state.lastTry = now
	f.state.failures++
	f.state.unlogged++
	logNow := first || now.Sub(f.state.lastLog) >= cmpOr(f.LogEvery, DefaultLogEvery)
	var unlogged int
	var since time.Time
	if logNow {
		unlogged, since = f.state.unlogged, f.state.since
		f.state.lastLog, f.state.unlogged = now, 0
	}
	f.mu.Unlock()
	if !logNow {
		return
	}
	mode := "failing closed: refusing requests"
	if f.FailOpen {
		mode = "failing open: allowing requests"
	}
	f.logger().ErrorContext(ctx, "ratelimit: limiter unavailable, "+mode,
		"err", err, "failed_calls", unlogged, "failing_since", since)
}

// recovered ends a failure and logs its end.
func (f *FailSafe) recovered(ctx context.Context) {
	f.mu.Lock()
	if !f.failing.Load() {
		f.mu.Unlock()
		return
	}
	st := f.state
	f.failing.Store(false)
	f.state = failState{}
	f.mu.Unlock()
	f.logger().InfoContext(ctx, "ratelimit: limiter available again",
		"failed_calls", st.failures, "outage", time.Since(st.since).Round(time.Millisecond))
}

func (f *FailSafe) logger() *slog.Logger {
	if f.Logger != nil {
		return f.Logger
	}
	return slog.Default()
}

// cmpOr returns d, or def when d is not positive.
func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
