package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Redis is a Limiter whose buckets live in Redis, so every instance of the
// API counts against the same bucket. Each decision is one round trip
// running redis_rate's GCRA script atomically; Redis's own clock is used, so
// the instances' clocks do not matter. A bucket is a key
// "rate:" + prefix + key that expires once the bucket is full again.
//
// Wrap it in a FailSafe to decide what happens when Redis is unreachable.
type Redis struct {
	limiter *redis_rate.Limiter
	prefix  string
}

// DefaultRedisPrefix is the key prefix NewRedis uses when given "".
const DefaultRedisPrefix = "nextoria:api:"

// NewRedis returns a limiter on client; prefix ("" for DefaultRedisPrefix)
// separates these buckets from other users of the same Redis.
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	if prefix == "" {
		prefix = DefaultRedisPrefix
	}
	return &Redis{limiter: redis_rate.NewLimiter(client), prefix: prefix}
}

// Allow implements Limiter.
func (r *Redis) Allow(ctx context.Context, key, plan string) (Result, error) {
	l := ForPlan(plan)
	res, err := r.limiter.Allow(ctx, r.prefix+key, redis_rate.Limit{Rate: l.Rate, Burst: l.Burst, Period: time.Minute})
	if err != nil {
		return Result{}, fmt.Errorf("ratelimit: redis: %w", err)
	}
	out := Result{
		Allowed:    res.Allowed > 0,
		Limit:      l.Burst,
		Remaining:  res.Remaining,
		ResetAfter: max(res.ResetAfter, 0),
	}
	if !out.Allowed {
		out.RetryAfter = max(res.RetryAfter, 0)
	}
	return out, nil
}
