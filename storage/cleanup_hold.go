package storage

import (
	"context"
	"fmt"
)

// HoldCleanup takes the cleanup lock (see DeleteExpiredAlone) on a
// connection of its own and keeps it until release is called: meanwhile the
// periodic cleanup of every server skips its rounds. A benchmark or a test
// that has just seeded expired rows holds it, so that the rows it measures
// are not deleted under it. ErrCleanupRunning when a cleanup is running.
func (s *Store) HoldCleanup(ctx context.Context) (release func(), err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("storage: hold cleanup: %w", mapError(err))
	}
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, cleanupLock).Scan(&locked); err != nil {
		conn.Release()
		return nil, fmt.Errorf("storage: hold cleanup: %w", mapError(err))
	}
	if !locked {
		conn.Release()
		return nil, ErrCleanupRunning
	}
	return func() {
		// Closing the connection releases the lock, whatever state it is in.
		_ = conn.Conn().Close(context.WithoutCancel(ctx))
		conn.Release()
	}, nil
}
