package main

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/storagetest"
)

// TestServeCleanupLoop: the server's cleanup runs every cleanup.interval and
// deletes what has gone stale, and stops with its context.
func TestServeCleanupLoop(t *testing.T) {
	t.Parallel()
	st := storagetest.NewStore(t, storage.Options{})
	ctx := t.Context()
	if _, err := st.Pool().Exec(ctx, `INSERT INTO login_throttle (key, attempts, window_start)
		VALUES ('ip:192.0.2.1', 1, now() - interval '48 hours'), ('ip:192.0.2.2', 1, now())`); err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	cfg.Cleanup.Interval = 50 * time.Millisecond
	a := &app{cfg: cfg, store: st, logger: slog.New(slog.DiscardHandler)}
	loopCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { a.cleanup(loopCtx) })
	defer func() {
		stop()
		wg.Wait()
	}()

	deadline := time.Now().Add(10 * time.Second)
	for {
		var stale, left int
		if err := st.Pool().QueryRow(ctx, `SELECT count(*) FILTER (WHERE key = 'ip:192.0.2.1'), count(*) FROM login_throttle`).Scan(&stale, &left); err != nil {
			t.Fatal(err)
		}
		if stale == 0 {
			if left != 1 {
				t.Fatalf("%d throttle rows left, want the current one", left)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the stale row is still there after 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
