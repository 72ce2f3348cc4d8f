package ratelimit_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nextoria/authz/ratelimit"
)

// clock is a settable time source for Memory.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestMemoryBurstThenRefusal(t *testing.T) {
	t.Parallel()
	for plan, l := range ratelimit.Plans() {
		t.Run(plan, func(t *testing.T) {
			t.Parallel()
			c := newClock()
			m := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: c.Now})
			interval := time.Minute / time.Duration(l.Rate)
			for i := range l.Burst {
				res, err := m.Allow(t.Context(), "ws", plan)
				if err != nil || !res.Allowed || res.Remaining != l.Burst-1-i || res.Limit != l.Burst ||
					res.RetryAfter != 0 || res.ResetAfter != time.Duration(i+1)*interval {
					t.Fatalf("request %d: %+v, %v", i+1, res, err)
				}
			}
			res, _ := m.Allow(t.Context(), "ws", plan)
			if res.Allowed || res.Remaining != 0 || res.RetryAfter != interval || res.ResetAfter != time.Duration(l.Burst)*interval {
				t.Fatalf("request past the burst: %+v; want refused, retry after %v", res, interval)
			}
			// Other workspaces have their own bucket.
			if res, _ := m.Allow(t.Context(), "other", plan); !res.Allowed || res.Remaining != l.Burst-1 {
				t.Errorf("another key: %+v", res)
			}
		})
	}
}

func TestMemoryRefill(t *testing.T) {
	t.Parallel()
	c := newClock()
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: c.Now})
	ctx := t.Context()
	for range 100 {
		_, _ = m.Allow(ctx, "ws", "starter")
	}
	c.Advance(999 * time.Millisecond)
	if res, _ := m.Allow(ctx, "ws", "starter"); res.Allowed || res.RetryAfter != time.Millisecond {
		t.Fatalf("before a second has passed: %+v, want refused, retry after 1ms", res)
	}
	c.Advance(time.Millisecond)
	if res, _ := m.Allow(ctx, "ws", "starter"); !res.Allowed || res.Remaining != 0 {
		t.Fatalf("after one second (60/min): %+v, want one request allowed", res)
	}
	if res, _ := m.Allow(ctx, "ws", "starter"); res.Allowed {
		t.Fatal("second request after one second was allowed")
	}
	c.Advance(10 * time.Second)
	for i := range 10 {
		if res, _ := m.Allow(ctx, "ws", "starter"); !res.Allowed {
			t.Fatalf("request %d after 10 seconds refused", i+1)
		}
	}
	if res, _ := m.Allow(ctx, "ws", "starter"); res.Allowed {
		t.Fatal("11th request after 10 seconds was allowed")
	}
	// A bucket left alone for its reset time is full again.
	res, _ := m.Allow(ctx, "ws", "starter")
	c.Advance(res.ResetAfter)
	if res, _ := m.Allow(ctx, "ws", "starter"); !res.Allowed || res.Remaining != 99 {
		t.Fatalf("after ResetAfter: %+v, want a full bucket", res)
	}
}

func TestMemoryBounded(t *testing.T) {
	t.Parallel()
	c := newClock()
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{MaxKeys: 10, Now: c.Now})
	ctx := t.Context()
	for i := range 100 {
		if _, err := m.Allow(ctx, fmt.Sprint("ws", i), "starter"); err != nil {
			t.Fatal(err)
		}
		if n := m.Len(); n > 10 {
			t.Fatalf("%d buckets kept, bound is 10", n)
		}
	}
	// Full buckets are dropped before busy ones.
	m = ratelimit.NewMemory(ratelimit.MemoryOptions{MaxKeys: 10, Now: c.Now})
	for range 100 {
		_, _ = m.Allow(ctx, "busy", "starter")
	}
	for i := range 9 {
		_, _ = m.Allow(ctx, fmt.Sprint("idle", i), "starter")
	}
	c.Advance(2 * time.Second) // the idle buckets are full again, the busy one has 2 requests
	for i := range 5 {
		_, _ = m.Allow(ctx, fmt.Sprint("new", i), "starter")
	}
	for i := range 2 {
		if res, _ := m.Allow(ctx, "busy", "starter"); !res.Allowed || res.Remaining != 1-i {
			t.Fatalf("busy bucket after eviction, request %d: %+v, want its state kept", i+1, res)
		}
	}
	if res, _ := m.Allow(ctx, "busy", "starter"); res.Allowed {
		t.Fatal("busy bucket was evicted and refilled")
	}
}

// TestMemoryConcurrent hammers one bucket from many goroutines with a
// frozen clock: exactly the burst is allowed. Run with -race.
func TestMemoryConcurrent(t *testing.T) {
	t.Parallel()
	c := newClock()
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: c.Now})
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 50 {
				if res, _ := m.Allow(t.Context(), "ws", "starter"); res.Allowed {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != 100 {
		t.Errorf("%d of 800 concurrent requests allowed, want the burst of 100", n)
	}
}

func TestMemoryAllowLimit(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	m := ratelimit.NewMemory(ratelimit.MemoryOptions{Now: func() time.Time { return now }})
	l := ratelimit.Limit{Rate: 60, Burst: 3}
	for i := range 3 {
		if r := m.AllowLimit("client", l); !r.Allowed {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	r := m.AllowLimit("client", l)
	if r.Allowed || r.RetryAfter <= 0 || r.RetryAfter > time.Second {
		t.Fatalf("past the burst: %+v", r)
	}
	if r := m.AllowLimit("other", l); !r.Allowed {
		t.Fatal("another key shares the bucket")
	}
	now = now.Add(time.Second)
	if r := m.AllowLimit("client", l); !r.Allowed {
		t.Fatal("no refill after one interval")
	}
}
