package storage

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// sweep is one table DeleteExpired cleans and the condition of its dead rows.
type sweep struct{ table, dead string }

// sweeps are what DeleteExpired cleans, in order. Consent challenges go
// before the login sessions they reference. Refresh tokens are only removed
// once expired: inactive ones that have not expired are kept so that their
// reuse is still detected. Sign-in throttle rows go once their window is long
// past and their lock has ended, when they no longer change anything.
var sweeps = []sweep{
	{"oauth_codes", "expires_at < now()"},
	{"oauth_pkce", "expires_at < now()"},
	{"oauth_oidc_sessions", "expires_at < now()"},
	{"oauth_access_tokens", "expires_at < now()"},
	{"oauth_refresh_tokens", "expires_at < now()"},
	{"consent_challenges", "expires_at < now()"},
	{"login_sessions", "expires_at < now()"},
	{"login_throttle", loginThrottleStale},
}

// DefaultCleanupBatch is the batch size DeleteExpired uses when given batch <= 0.
const DefaultCleanupBatch = 1000

// DeleteExpired removes expired codes, PKCE requests, tokens, consent
// challenges and login sessions, stale sign-in throttle rows, and audit
// events older than Options.AuditRetention, and returns how many rows it
// deleted. fosite never deletes anything, so the server runs this
// periodically. It deletes at most batch rows per statement, keeping each
// statement's locks and WAL small, and loops over a table until a batch
// comes back short.
func (s *Store) DeleteExpired(ctx context.Context, batch int) (int64, error) {
	if batch <= 0 {
		batch = DefaultCleanupBatch
	}
	var total int64
	for _, sw := range sweeps {
		n, err := s.deleteInBatches(ctx, sw.table, sw.dead, batch)
		total += n
		if err != nil {
			return total, err
		}
	}
	retention := s.opts.AuditRetention
	if retention <= 0 {
		retention = DefaultAuditRetention
	}
	n, err := s.deleteInBatches(ctx, "audit_events", "occurred_at < now() - $2::interval", batch, retention)
	return total + n, err
}

// deleteInBatches deletes the rows of table matching dead, batch ($1) rows
// per statement, until a batch comes back short. args are $2 onwards of dead.
func (s *Store) deleteInBatches(ctx context.Context, table, dead string, batch int, args ...any) (int64, error) {
	var total int64
	for {
		tag, err := s.db(ctx).Exec(ctx,
			`DELETE FROM `+table+` WHERE ctid IN (
			     SELECT ctid FROM `+table+` WHERE `+dead+` LIMIT $1)`, append([]any{batch}, args...)...)
		if err != nil {
			return total, fmt.Errorf("storage: delete expired rows of %s: %w", table, mapError(err))
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < int64(batch) {
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, fmt.Errorf("storage: delete expired rows of %s: %w", table, err)
		}
	}
}

// cleanupLock is the key of the session-level advisory lock that lets one
// process at a time run DeleteExpiredAlone ("nxclean").
const cleanupLock int64 = 0x6e78636c65616e

// ErrCleanupRunning is DeleteExpiredAlone's answer while another process
// (another instance, or the cleanup command) is deleting expired rows.
var ErrCleanupRunning = errors.New("storage: another process is deleting expired rows")

// DeleteExpiredAlone runs DeleteExpired while holding an advisory lock, so
// that several server instances and a cron job never do the same work at
// once: when another process holds the lock it returns ErrCleanupRunning at
// once. The lock lives on one pooled connection for the length of the run
// (the deletes themselves run as usual); if that connection is lost,
// PostgreSQL releases the lock with it.
func (s *Store) DeleteExpiredAlone(ctx context.Context, batch int) (deleted int64, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("storage: cleanup lock: %w", mapError(err))
	}
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, cleanupLock).Scan(&locked); err != nil {
		conn.Release()
		return 0, fmt.Errorf("storage: cleanup lock: %w", mapError(err))
	}
	if !locked {
		conn.Release()
		return 0, ErrCleanupRunning
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, cleanupLock); err != nil {
			// Never hand a session that may still hold the lock back to
			// the pool: closing it releases the lock.
			_ = conn.Conn().Close(uctx)
		}
		conn.Release()
	}()
	return s.DeleteExpired(ctx, batch)
}
