package dbtrace_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/dbtrace"
	"github.com/nextoria/authz/storage/storagetest"
)

// TestRecorderCounts checks the counting rules against a real database: a
// statement alone is one round trip, a batch is one however many statements
// it holds, a transaction's BEGIN and COMMIT are one each, and work on a
// context without a recorder is not recorded (but still reaches OnRoundTrip).
func TestRecorderCounts(t *testing.T) {
	var all atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := storage.ConnectPool(ctx, storagetest.NewDatabase(t), storage.PoolOptions{
		MaxConns: 2,
		Tracer:   dbtrace.Tracer{OnRoundTrip: func() { all.Add(1) }},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	tests := []struct {
		name       string
		run        func(ctx context.Context) error
		roundTrips int
		statements int
	}{
		{"one statement", func(ctx context.Context) error {
			var n int
			return pool.QueryRow(ctx, `SELECT $1::int`, 7).Scan(&n)
		}, 1, 1},
		{"batch of three", func(ctx context.Context) error {
			b := &pgx.Batch{}
			for i := range 3 {
				b.Queue(`SELECT $1::int`, i)
			}
			return pool.SendBatch(ctx, b).Close()
		}, 1, 3},
		{"transaction with one statement", func(ctx context.Context) error {
			return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `SELECT 1`)
				return err
			})
		}, 3, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The first run may prepare statements; count the second.
			if err := tc.run(ctx); err != nil {
				t.Fatal(err)
			}
			rec := &dbtrace.Recorder{}
			before := all.Load()
			if err := tc.run(dbtrace.WithRecorder(ctx, rec)); err != nil {
				t.Fatal(err)
			}
			if got := rec.RoundTrips(); got != tc.roundTrips {
				t.Errorf("round trips = %d, want %d (%v)", got, tc.roundTrips, rec.Statements())
			}
			if got := len(rec.Statements()); got != tc.statements {
				t.Errorf("statements = %d, want %d (%v)", got, tc.statements, rec.Statements())
			}
			if got := all.Load() - before; got != int64(tc.roundTrips) {
				t.Errorf("OnRoundTrip calls = %d, want %d", got, tc.roundTrips)
			}
		})
	}

	t.Run("no recorder", func(t *testing.T) {
		rec := &dbtrace.Recorder{}
		_ = dbtrace.WithRecorder(ctx, rec)
		if _, err := pool.Exec(ctx, `SELECT 1`); err != nil {
			t.Fatal(err)
		}
		if rec.RoundTrips() != 0 || dbtrace.FromContext(ctx) != nil {
			t.Errorf("work without a recorder was recorded")
		}
	})
}
