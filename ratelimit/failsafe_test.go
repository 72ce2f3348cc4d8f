package ratelimit_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nextoria/authz/ratelimit"
)

// flaky is a Limiter that fails while down is set and counts its calls.
type flaky struct {
	down  atomic.Bool
	calls atomic.Int64
}

func (f *flaky) Allow(context.Context, string, string) (ratelimit.Result, error) {
	f.calls.Add(1)
	if f.down.Load() {
		return ratelimit.Result{}, errors.New("connection refused")
	}
	return ratelimit.Result{Allowed: true, Limit: 100, Remaining: 42}, nil
}

// syncBuffer is a bytes.Buffer safe for concurrent log writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newLogger() (*slog.Logger, *syncBuffer) {
	var buf syncBuffer
	return slog.New(slog.NewTextHandler(&buf, nil)), &buf
}

func TestFailSafeUnreachableRedis(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		failOpen bool
		fallback bool
		// want is the decision on each of 101 requests: the 101st tells
		// whether a burst is still enforced.
		wantFirst, wantLast bool
		wantRetry           time.Duration
	}{
		{"fail closed", false, false, false, false, 7 * time.Second},
		{"fail open", true, false, true, true, 0},
		{"fail open to an in-process limiter", true, true, true, false, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logger, logs := newLogger()
			f := &ratelimit.FailSafe{
				Limiter: unreachableRedis(t), FailOpen: tt.failOpen,
				ClosedRetryAfter: 7 * time.Second, Logger: logger,
			}
			if tt.fallback {
				f.Fallback = ratelimit.NewMemory(ratelimit.MemoryOptions{})
			}
			var res ratelimit.Result
			for i := range 101 {
				var err error
				res, err = f.Allow(t.Context(), "ws", "starter")
				if err != nil {
					t.Fatalf("request %d: %v", i+1, err)
				}
				if i == 0 && res.Allowed != tt.wantFirst {
					t.Fatalf("first request: %+v, want allowed %t", res, tt.wantFirst)
				}
				if res.Limit != 100 {
					t.Fatalf("request %d: limit %d, want the starter burst", i+1, res.Limit)
				}
			}
			if res.Allowed != tt.wantLast || (!res.Allowed && res.RetryAfter > tt.wantRetry) || (!res.Allowed && res.RetryAfter <= 0) {
				t.Errorf("101st request: %+v; want allowed %t, retry after %v", res, tt.wantLast, tt.wantRetry)
			}
			if n := strings.Count(logs.String(), "limiter unavailable"); n != 1 {
				t.Errorf("the outage was logged %d times in 101 requests, want once:\n%s", n, logs)
			}
			if !strings.Contains(logs.String(), "connection refused") {
				t.Errorf("log does not say why:\n%s", logs)
			}
		})
	}
}

func TestFailSafeProbesAndRecovers(t *testing.T) {
	t.Parallel()
	logger, logs := newLogger()
	inner := &flaky{}
	inner.down.Store(true)
	f := &ratelimit.FailSafe{Limiter: inner, FailOpen: true, ProbeEvery: 50 * time.Millisecond, LogEvery: time.Hour, Logger: logger}
	ctx := t.Context()
	for range 100 {
		if res, err := f.Allow(ctx, "ws", "growth"); err != nil || !res.Allowed || res.Limit != 500 {
			t.Fatalf("failing open: %+v, %v", res, err)
		}
	}
	if n := inner.calls.Load(); n != 1 {
		t.Fatalf("a failing limiter was called %d times within ProbeEvery, want once", n)
	}
	time.Sleep(60 * time.Millisecond)
	_, _ = f.Allow(ctx, "ws", "growth")
	if n := inner.calls.Load(); n != 2 {
		t.Fatalf("after ProbeEvery the limiter was called %d times in all, want 2", n)
	}
	if n := strings.Count(logs.String(), "limiter unavailable"); n != 1 {
		t.Errorf("logged %d times with LogEvery an hour, want once:\n%s", n, logs)
	}

	inner.down.Store(false)
	time.Sleep(60 * time.Millisecond)
	if res, _ := f.Allow(ctx, "ws", "growth"); res.Remaining != 42 {
		t.Fatalf("after recovery: %+v, want the limiter's own answer", res)
	}
	if !strings.Contains(logs.String(), "limiter available again") {
		t.Errorf("recovery not logged:\n%s", logs)
	}
	before := inner.calls.Load()
	for range 10 {
		_, _ = f.Allow(ctx, "ws", "growth")
	}
	if n := inner.calls.Load() - before; n != 10 {
		t.Errorf("healthy limiter called %d times for 10 requests", n)
	}
}

func TestFailSafeLogsAgainAfterLogEvery(t *testing.T) {
	t.Parallel()
	logger, logs := newLogger()
	inner := &flaky{}
	inner.down.Store(true)
	f := &ratelimit.FailSafe{Limiter: inner, ProbeEvery: time.Millisecond, LogEvery: 20 * time.Millisecond, Logger: logger}
	deadline := time.Now().Add(70 * time.Millisecond)
	for time.Now().Before(deadline) {
		if res, _ := f.Allow(t.Context(), "ws", "scale"); res.Allowed {
			t.Fatal("failing closed allowed a request")
		}
		time.Sleep(time.Millisecond)
	}
	if n := strings.Count(logs.String(), "limiter unavailable"); n < 2 || n > 5 {
		t.Errorf("a 70ms outage logged %d times with LogEvery 20ms:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), "failed_calls=") {
		t.Errorf("log does not count the suppressed failures:\n%s", logs)
	}
}

func TestFailSafeCallerContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	logger, logs := newLogger()
	f := &ratelimit.FailSafe{Limiter: unreachableRedis(t), FailOpen: true, Logger: logger}
	if _, err := f.Allow(ctx, "ws", "starter"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Allow with a cancelled context: err = %v, want context.Canceled", err)
	}
	if logs.String() != "" {
		t.Errorf("a cancelled request was logged as an outage:\n%s", logs)
	}
}

// TestFailSafeConcurrent flips the wrapped limiter up and down under load;
// run with -race.
func TestFailSafeConcurrent(t *testing.T) {
	t.Parallel()
	logger, _ := newLogger()
	inner := &flaky{}
	f := &ratelimit.FailSafe{Limiter: inner, FailOpen: true, ProbeEvery: time.Microsecond, Logger: logger,
		Fallback: ratelimit.NewMemory(ratelimit.MemoryOptions{})}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				if i == 0 && j%20 == 0 {
					inner.down.Store(!inner.down.Load())
				}
				if _, err := f.Allow(t.Context(), "ws", "scale"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
