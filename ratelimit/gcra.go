package ratelimit

import "time"

// gcra applies one request to a bucket whose theoretical arrival time is tat
// (zero for a bucket never used) at time now, and returns the decision and
// the bucket's new tat. It is the algorithm of redis_rate's Lua script, so
// both limiters agree: each request pushes tat one interval later, and a
// request is refused when that would put tat more than burst intervals
// ahead of now.
func gcra(l Limit, tat, now time.Time) (Result, time.Time) {
	interval := l.interval()
	burstOffset := interval * time.Duration(l.Burst)
	if tat.Before(now) {
		tat = now
	}
	newTAT := tat.Add(interval)
	allowAt := newTAT.Add(-burstOffset)
	diff := now.Sub(allowAt)
	if diff < 0 {
		return Result{
			Allowed:    false,
			Limit:      l.Burst,
			Remaining:  0,
			RetryAfter: -diff,
			ResetAfter: tat.Sub(now),
		}, tat
	}
	return Result{
		Allowed:    true,
		Limit:      l.Burst,
		Remaining:  int(diff / interval),
		ResetAfter: newTAT.Sub(now),
	}, newTAT
}
