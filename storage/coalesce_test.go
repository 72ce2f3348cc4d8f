package storage_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/dbtrace"
	"github.com/nextoria/authz/storage/storagetest"
)

// countingFixture is a fixture on a pool of 8 connections whose round trips
// are counted.
func countingFixture(t *testing.T) (fixture, *atomic.Int64) {
	t.Helper()
	var trips atomic.Int64
	pool, err := storage.ConnectPool(t.Context(), storagetest.NewDatabase(t), storage.PoolOptions{
		MaxConns: 8,
		Tracer:   dbtrace.Tracer{OnRoundTrip: func() { trips.Add(1) }},
	})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(pool.Close)
	return fixtureOn(t, storage.New(pool, storage.Options{})), &trips
}

// readAtOnce runs read for each of n callers, all released together, each
// with its own recorder, and returns the recorders.
func readAtOnce(t *testing.T, n int, read func(i int, rec *dbtrace.Recorder) error) []*dbtrace.Recorder {
	t.Helper()
	recs := make([]*dbtrace.Recorder, n)
	errs := make(chan error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		recs[i] = &dbtrace.Recorder{}
		wg.Go(func() {
			<-start
			if err := read(i, recs[i]); err != nil {
				errs <- err
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	return recs
}

// checkCoalesced checks that each read recorded one round trip and that the
// reads took fewer statements than there were reads.
func checkCoalesced(t *testing.T, recs []*dbtrace.Recorder, statements int64) {
	t.Helper()
	for i, r := range recs {
		if got := r.RoundTrips(); got != 1 {
			t.Errorf("read %d: %d round trips, want 1", i, got)
		}
	}
	if statements >= int64(len(recs)) {
		t.Errorf("%d reads took %d statements: none were coalesced", len(recs), statements)
	}
	t.Logf("%d concurrent reads, %d statements", len(recs), statements)
}

// Concurrent introspections share statements, and each still gets its own
// token, the inactive answer for a deleted one, and one round trip.
func TestConcurrentAccessTokenReads(t *testing.T) {
	t.Parallel()
	f, trips := countingFixture(t)
	ctx := t.Context()
	const tokens = 24
	ids := make([]string, tokens)
	for i := range tokens {
		req := f.newRequest(t)
		req.ID = fmt.Sprint("grant-", i)
		ids[i] = req.ID
		if err := f.st.CreateAccessTokenSession(ctx, fmt.Sprint("at-", i), req); err != nil {
			t.Fatalf("CreateAccessTokenSession: %v", err)
		}
	}
	for i := 0; i < tokens; i += 4 {
		if err := f.st.DeleteAccessTokenSession(ctx, fmt.Sprint("at-", i)); err != nil {
			t.Fatalf("DeleteAccessTokenSession: %v", err)
		}
	}

	const reads = 240
	before := trips.Load()
	recs := readAtOnce(t, reads, func(i int, rec *dbtrace.Recorder) error {
		n := i % tokens
		req, err := f.st.GetAccessTokenSession(dbtrace.WithRecorder(ctx, rec), fmt.Sprint("at-", n), &fosite.DefaultSession{})
		switch {
		case n%4 == 0:
			if !errors.Is(err, fosite.ErrNotFound) {
				return fmt.Errorf("deleted token %d: err = %v, want ErrNotFound", n, err)
			}
		case err != nil:
			return fmt.Errorf("token %d: %v", n, err)
		case req.GetID() != ids[n] || req.GetClient().GetID() != f.app.ClientID ||
			req.GetSession().(*fosite.DefaultSession).Subject != f.user.ID:
			return fmt.Errorf("token %d: got request %s of %s, want %s", n, req.GetID(), req.GetClient().GetID(), ids[n])
		}
		return nil
	})
	checkCoalesced(t, recs, trips.Load()-before)

	// In a transaction, reads are the transaction's own statements: they
	// see its uncommitted writes.
	txCtx, err := f.st.BeginTX(ctx)
	if err != nil {
		t.Fatalf("BeginTX: %v", err)
	}
	defer func() { _ = f.st.Rollback(txCtx) }()
	if err := f.st.CreateAccessTokenSession(txCtx, "in-tx", f.newRequest(t)); err != nil {
		t.Fatalf("CreateAccessTokenSession in tx: %v", err)
	}
	if _, err := f.st.GetAccessTokenSession(txCtx, "in-tx", nil); err != nil {
		t.Errorf("read in the writing transaction: %v", err)
	}
}

func TestConcurrentAPIKeyReads(t *testing.T) {
	t.Parallel()
	f, trips := countingFixture(t)
	ctx := t.Context()
	const keys = 12
	ids := make([]string, keys)
	for i := range keys {
		ids[i] = f.createAPIKey(t, fmt.Sprint("key ", i), byte(i+1), time.Time{}).ID
	}

	const reads = 240
	before := trips.Load()
	recs := readAtOnce(t, reads, func(i int, rec *dbtrace.Recorder) error {
		n := i % (keys + 1) // n == keys is unknown
		k, err := f.st.GetAPIKeyByHash(dbtrace.WithRecorder(ctx, rec), apiKeyHash(byte(n+1)))
		switch {
		case n == keys:
			if !errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("unknown key: err = %v, want ErrNotFound", err)
			}
		case err != nil:
			return fmt.Errorf("key %d: %v", n, err)
		case k.ID != ids[n] || k.Plan != storage.PlanGrowth:
			return fmt.Errorf("key %d: got %s on %s, want %s on growth", n, k.ID, k.Plan, ids[n])
		}
		return nil
	})
	checkCoalesced(t, recs, trips.Load()-before)
}
