package resource_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/nextoria/authz/resource"
)

// recordingObserver counts what the middleware reports.
type recordingObserver struct {
	mu            sync.Mutex
	hits, misses  int
	limited       map[string]int
	calls, failed int
	longest       time.Duration
}

func (o *recordingObserver) CacheHit()  { o.mu.Lock(); o.hits++; o.mu.Unlock() }
func (o *recordingObserver) CacheMiss() { o.mu.Lock(); o.misses++; o.mu.Unlock() }
func (o *recordingObserver) RateLimited(plan string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.limited == nil {
		o.limited = map[string]int{}
	}
	o.limited[plan]++
}

func (o *recordingObserver) Introspected(d time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls++
	if err != nil {
		o.failed++
	}
	o.longest = max(o.longest, d)
}

// TestObserver: the Observer hears of every cache hit and miss, every
// introspection call with its time and failure, and every request refused
// by a plan's rate limit; without an Observer nothing changes.
func TestObserver(t *testing.T) {
	t.Parallel()
	obs := &recordingObserver{}
	s := newSetup(t, func(c *resource.Config) { c.Observer = obs })
	s.as.set(tokenKey, apiKey("projects:read", "starter"))
	for range 103 { // the Starter burst is 100
		s.do(t, []string{"projects:read"}, "Bearer "+tokenKey)
	}
	s.do(t, nil, "Bearer unknown")
	s.as.fail(http.StatusServiceUnavailable)
	s.do(t, nil, "Bearer failing")

	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.misses != 3 || obs.hits != 102 {
		t.Errorf("%d misses and %d hits, want 3 and 102", obs.misses, obs.hits)
	}
	if obs.calls != 3 || obs.failed != 1 || obs.longest <= 0 {
		t.Errorf("%d introspection calls, %d failed, longest %v; want 3, 1, > 0", obs.calls, obs.failed, obs.longest)
	}
	if obs.limited["starter"] != 3 || len(obs.limited) != 1 {
		t.Errorf("rate limited by plan: %v, want starter: 3", obs.limited)
	}
	if n := s.as.calls.Load(); n != 3 {
		t.Errorf("%d calls at the authorization server, want 3", n)
	}
}
