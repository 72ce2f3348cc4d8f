package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nextoria/authz/storage/dbtrace"
)

// fakeFetch answers "v:"+key for every key but those starting with
// "missing", takes delay, and records what it saw.
type fakeFetch struct {
	delay time.Duration
	fail  atomic.Bool

	mu          sync.Mutex
	batches     []int
	inFlight    int
	maxInFlight int
}

func (f *fakeFetch) fetch(ctx context.Context, keys []string) ([]string, []bool, error) {
	dbtrace.Tracer{}.TraceQueryStart(ctx, nil, pgx.TraceQueryStartData{SQL: "SELECT", Args: []any{keys}})
	f.mu.Lock()
	f.batches = append(f.batches, len(keys))
	f.inFlight++
	f.maxInFlight = max(f.maxInFlight, f.inFlight)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	time.Sleep(f.delay)
	if f.fail.Load() {
		return nil, nil, errors.New("database unavailable")
	}
	vals := make([]string, len(keys))
	found := make([]bool, len(keys))
	for i, k := range keys {
		if !strings.HasPrefix(k, "missing") {
			vals[i], found[i] = "v:"+k, true
		}
	}
	return vals, found, nil
}

func TestCoalescerAnswersEveryCaller(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		runs, batch   int
		callers       int
		wantCoalesced bool
	}{
		{name: "one caller is sent alone", runs: 1, batch: 64, callers: 1},
		{name: "one run", runs: 1, batch: 64, callers: 200, wantCoalesced: true},
		{name: "two runs", runs: 2, batch: 64, callers: 200, wantCoalesced: true},
		{name: "small batches", runs: 2, batch: 3, callers: 100, wantCoalesced: true},
		{name: "more runs than callers", runs: 16, batch: 64, callers: 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeFetch{delay: 2 * time.Millisecond}
			c := &coalescer[string]{fetch: f.fetch, runs: tc.runs, batch: tc.batch}
			recs := make([]*dbtrace.Recorder, tc.callers)
			start := make(chan struct{})
			var wg sync.WaitGroup
			errs := make(chan error, tc.callers)
			for i := range tc.callers {
				recs[i] = &dbtrace.Recorder{}
				wg.Go(func() {
					key := fmt.Sprint("k", i)
					if i%5 == 0 {
						key = fmt.Sprint("missing", i)
					}
					<-start
					v, found, err := c.get(dbtrace.WithRecorder(t.Context(), recs[i]), key)
					switch {
					case err != nil:
						errs <- fmt.Errorf("%s: %w", key, err)
					case found != (i%5 != 0):
						errs <- fmt.Errorf("%s: found = %v", key, found)
					case found && v != "v:"+key:
						errs <- fmt.Errorf("%s: got %q", key, v)
					}
				})
			}
			close(start)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			total := 0
			for _, n := range f.batches {
				total += n
				if n > tc.batch {
					t.Errorf("a statement looked up %d keys, more than the batch of %d", n, tc.batch)
				}
			}
			if total != tc.callers {
				t.Errorf("statements looked up %d keys for %d callers", total, tc.callers)
			}
			if f.maxInFlight > tc.runs {
				t.Errorf("%d statements in flight at once, more than %d", f.maxInFlight, tc.runs)
			}
			if tc.wantCoalesced && len(f.batches) >= tc.callers {
				t.Errorf("%d statements for %d callers: lookups were not coalesced", len(f.batches), tc.callers)
			}
			for i, r := range recs {
				if got := r.RoundTrips(); got != 1 {
					t.Errorf("caller %d recorded %d round trips, want 1", i, got)
				}
			}
			if c.running != 0 || len(c.queue) != 0 {
				t.Errorf("after the callers: %d runs held, %d queued; want none", c.running, len(c.queue))
			}
			t.Logf("%d callers, %d statements, at most %d in flight", tc.callers, len(f.batches), f.maxInFlight)
		})
	}
}

// A failed statement fails every lookup it carried, and the next lookups are
// tried afresh.
func TestCoalescerSharesFailure(t *testing.T) {
	t.Parallel()
	f := &fakeFetch{delay: time.Millisecond}
	f.fail.Store(true)
	c := &coalescer[string]{fetch: f.fetch, runs: 1, batch: 64}
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := range 50 {
		wg.Go(func() {
			if _, _, err := c.get(t.Context(), fmt.Sprint("k", i)); err != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() != 50 {
		t.Errorf("%d of 50 lookups failed during the outage, want all", failed.Load())
	}
	f.fail.Store(false)
	if v, found, err := c.get(t.Context(), "after"); err != nil || !found || v != "v:after" {
		t.Errorf("after the outage: %q, %v, %v", v, found, err)
	}
}

func BenchmarkCoalescer(b *testing.B) {
	c := &coalescer[string]{
		fetch: func(_ context.Context, keys []string) ([]string, []bool, error) {
			return make([]string, len(keys)), make([]bool, len(keys)), nil
		},
		runs: 1, batch: 64,
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, _, _ = c.get(context.Background(), "k")
		}
	})
}

// A waiter whose request ends leaves the queue at once; the lookups queued
// behind it are still answered, and the turns all come back.
func TestCoalescerWaiterLeavesWhenItsRequestEnds(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	var fetched sync.Mutex
	var keysSeen []string
	c := &coalescer[string]{runs: 1, batch: 64, fetch: func(_ context.Context, keys []string) ([]string, []bool, error) {
		<-gate
		fetched.Lock()
		keysSeen = append(keysSeen, keys...)
		fetched.Unlock()
		vals := make([]string, len(keys))
		found := make([]bool, len(keys))
		for i, k := range keys {
			vals[i], found[i] = "v:"+k, true
		}
		return vals, found, nil
	}}
	// queued waits until the turn is taken and n lookups wait for it.
	queued := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			c.mu.Lock()
			got, running := len(c.queue), c.running
			c.mu.Unlock()
			if got == n && running == 1 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d lookups queued and %d turns taken, want %d and 1", got, running, n)
			}
		}
	}
	results := make(chan string, 2)
	go func() { v, _, _ := c.get(t.Context(), "leader"); results <- v }()
	queued(0) // the leader took its own key and waits in fetch
	ctx, cancel := context.WithCancel(t.Context())
	left := make(chan error, 1)
	go func() { _, _, err := c.get(ctx, "leaving"); left <- err }()
	queued(1)
	go func() { v, _, _ := c.get(t.Context(), "staying"); results <- v }()
	queued(2)
	cancel()
	select {
	case err := <-left:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the waiter whose request ended: err = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter whose request ended is still waiting")
	}
	queued(1)
	close(gate)
	for range 2 {
		if v := <-results; v != "v:leader" && v != "v:staying" {
			t.Errorf("answer %q", v)
		}
	}
	if slices.Contains(keysSeen, "leaving") {
		t.Errorf("the abandoned key was looked up: %v", keysSeen)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running != 0 || len(c.queue) != 0 {
		t.Errorf("after the lookups: %d turns held, %d queued; want none", c.running, len(c.queue))
	}
}

// A waiter that was handed the turn and leaves passes the turn on.
func TestCoalescerAbandonedTurnPassesOn(t *testing.T) {
	t.Parallel()
	c := &coalescer[string]{runs: 1, batch: 64}
	a := &coalescedCall[string]{key: "a", leading: true, wake: make(chan bool, 2)}
	b := &coalescedCall[string]{key: "b", wake: make(chan bool, 2)}
	a.wake <- true
	c.queue, c.running = []*coalescedCall[string]{a, b}, 1
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := c.abandon(ctx, a); !errors.Is(err, context.Canceled) {
		t.Errorf("abandon: err = %v, want context.Canceled", err)
	}
	if len(c.queue) != 1 || c.queue[0] != b || !b.leading || c.running != 1 {
		t.Fatalf("after abandon: queue %d, b leading %v, %d turns; want b alone, leading, 1 turn", len(c.queue), b.leading, c.running)
	}
	if lead := <-b.wake; !lead {
		t.Error("b was not handed the turn")
	}
	// The last one out gives the turn back.
	if _, _, err := c.abandon(ctx, b); err == nil || c.running != 0 || len(c.queue) != 0 {
		t.Errorf("after b leaves: err %v, %d turns, %d queued; want an error, none, none", err, c.running, len(c.queue))
	}
}
