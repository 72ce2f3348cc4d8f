package ratelimit_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nextoria/authz/ratelimit"
	"github.com/nextoria/authz/ratelimit/ratelimittest"
)

func TestRedisBurstThenRefusal(t *testing.T) {
	t.Parallel()
	prefix := ratelimittest.NewPrefix(t)
	l := ratelimit.NewRedis(ratelimittest.NewClient(t), prefix)
	ctx := t.Context()
	for i := range 100 {
		res, err := l.Allow(ctx, "ws", "starter")
		if err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
		// Remaining may be one more when a second passes during the loop, or
		// one less by the rounding of Redis's floating-point arithmetic.
		if !res.Allowed || res.Limit != 100 || res.RetryAfter != 0 || res.Remaining > 100-i || res.Remaining < 98-i {
			t.Fatalf("request %d: %+v", i+1, res)
		}
	}
	res, err := l.Allow(ctx, "ws", "starter")
	if err != nil || res.Allowed || res.Remaining != 0 || res.RetryAfter <= 0 || res.RetryAfter > time.Second ||
		res.ResetAfter < 90*time.Second || res.ResetAfter > 100*time.Second {
		t.Fatalf("request past the burst: %+v, %v; want refused, retry within 1s", res, err)
	}
	if res, _ := l.Allow(ctx, "other", "starter"); !res.Allowed || res.Remaining != 99 {
		t.Errorf("another key: %+v", res)
	}
}

func TestRedisRefill(t *testing.T) {
	t.Parallel()
	l := ratelimit.NewRedis(ratelimittest.NewClient(t), ratelimittest.NewPrefix(t))
	ctx := t.Context()
	var res ratelimit.Result
	for range 101 {
		res, _ = l.Allow(ctx, "ws", "starter")
	}
	if res.Allowed {
		t.Fatal("101st request allowed")
	}
	time.Sleep(res.RetryAfter + 50*time.Millisecond)
	if res, err := l.Allow(ctx, "ws", "starter"); err != nil || !res.Allowed {
		t.Fatalf("after Retry-After: %+v, %v; want allowed", res, err)
	}
	if res, _ := l.Allow(ctx, "ws", "starter"); res.Allowed {
		t.Fatal("a second request right after the refill was allowed")
	}
}

// TestRedisSharedBucket runs two limiters with their own connections, as two
// API instances would: together they allow one burst.
func TestRedisSharedBucket(t *testing.T) {
	t.Parallel()
	prefix := ratelimittest.NewPrefix(t)
	a := ratelimit.NewRedis(ratelimittest.NewClient(t), prefix)
	b := ratelimit.NewRedis(ratelimittest.NewClient(t), prefix)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for _, l := range []*ratelimit.Redis{a, b, a, b} {
		wg.Go(func() {
			for range 40 {
				res, err := l.Allow(t.Context(), "ws", "starter")
				if err != nil {
					t.Error(err)
					return
				}
				if res.Allowed {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	// 160 requests within about a second: the burst of 100, plus at most
	// the refill (1/s) while they ran.
	if n := allowed.Load(); n < 100 || n > 102 {
		t.Errorf("%d of 160 requests allowed across two instances, want the shared burst of 100", n)
	}
	// Another prefix is another bucket.
	c := ratelimit.NewRedis(ratelimittest.NewClient(t), ratelimittest.NewPrefix(t))
	if res, _ := c.Allow(t.Context(), "ws", "starter"); !res.Allowed || res.Remaining != 99 {
		t.Errorf("limiter with another prefix: %+v", res)
	}
}

// unreachableRedis returns a limiter on a port where nothing listens.
func unreachableRedis(t *testing.T) *ratelimit.Redis {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	return ratelimit.NewRedis(c, "unused:")
}

func TestRedisUnreachable(t *testing.T) {
	t.Parallel()
	if res, err := unreachableRedis(t).Allow(t.Context(), "ws", "starter"); err == nil || res.Allowed {
		t.Fatalf("Allow on an unreachable Redis = %+v, %v; want an error", res, err)
	}
}
