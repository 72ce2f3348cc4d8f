package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// sweep is one table DeleteExpired cleans: dead is the condition of its dead
// rows, and key the indexed column a round walks in order, so that each batch
// starts where the previous one ended instead of stepping again over the
// index entries of the rows already deleted (they stay in the index until
// VACUUM, and rescanning them makes a large backlog quadratic).
type sweep struct{ table, key, dead string }

// sweeps are what DeleteExpired cleans, in order. Consent challenges go
// before the login sessions they reference. Refresh tokens are only removed
// once expired: inactive ones that have not expired are kept so that their
// reuse is still detected (a retired token's expires_at is what bounds that
// window). Sign-in throttle rows go once their window is long past and their
// lock has ended, when they no longer change anything. Audit events go once
// older than Options.AuditRetention ($3). Each key has an index (migrations
// 001, 004, 008 and 009; the tables made with LIKE ... INCLUDING ALL copy
// oauth_codes' expires_at index).
var sweeps = []sweep{
	{"oauth_codes", "expires_at", "expires_at < now()"},
	{"oauth_pkce", "expires_at", "expires_at < now()"},
	{"oauth_oidc_sessions", "expires_at", "expires_at < now()"},
	{"oauth_access_tokens", "expires_at", "expires_at < now()"},
	{"oauth_refresh_tokens", "expires_at", "expires_at < now()"},
	{"consent_challenges", "expires_at", "expires_at < now()"},
	{"login_sessions", "expires_at", "expires_at < now()"},
	{"login_throttle", "window_start", loginThrottleStale},
	{"audit_events", "occurred_at", "occurred_at < now() - $3::interval"},
}

// DefaultCleanupBatch is the batch size DeleteExpired uses when given batch <= 0.
const DefaultCleanupBatch = 1000

// DefaultCleanupPause is the pause between two full batches the server
// configures by default: see "Cleanup and table growth" in the README for
// what it costs and what it saves.
const DefaultCleanupPause = 10 * time.Millisecond

// MaxCleanupBatch bounds the batch size: one batch is one statement, and a
// larger one holds its row locks and writes its WAL in one go.
const MaxCleanupBatch = 100_000

// DeleteExpired removes expired codes, PKCE requests, OpenID Connect
// sessions, tokens, consent challenges and login sessions, stale sign-in
// throttle rows, and audit events older than Options.AuditRetention, and
// returns how many rows it deleted. fosite never deletes anything, so the
// server runs this periodically. It deletes at most batch rows per
// statement, each statement its own transaction, keeping locks and WAL per
// statement small, and loops over a table until a batch comes back short,
// waiting Options.CleanupPause after each full batch.
func (s *Store) DeleteExpired(ctx context.Context, batch int) (int64, error) {
	return s.deleteExpired(ctx, batch, func(ctx context.Context, do func(rowQuerier) error) error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT set_config('statement_timeout', $1, true)`, cleanupStatementTimeoutSQL); err != nil {
				return err
			}
			return do(tx)
		})
	})
}

// cleanupStatementTimeout replaces the pool's statement_timeout (meant for
// requests, 5s by default) in a batch's transaction. The first batch of a
// round walks the index from its start and steps over the entries of every
// row deleted since the table's last VACUUM, visiting each one's heap tuple
// once (after which the index marks it dead and later scans skip it); after
// a large backlog that takes seconds. It holds no row lock meanwhile: only
// the DELETE of the batch's own rows does, and that is quick.
const (
	cleanupStatementTimeout    = time.Minute
	cleanupStatementTimeoutSQL = "60s"
)

// cleanupLock is the key of the advisory lock that lets one process at a
// time run DeleteExpiredAlone ("nxclean").
const cleanupLock int64 = 0x6e78636c65616e

// ErrCleanupRunning is DeleteExpiredAlone's answer while another process
// (another instance, or the cleanup command) is deleting expired rows.
var ErrCleanupRunning = errors.New("storage: another process is deleting expired rows")

// errCleanupBusy is what a batch transaction returns when it did not get the
// lock; it never leaves the package.
var errCleanupBusy = errors.New("cleanup lock busy")

// DeleteExpiredAlone runs DeleteExpired so that several server instances and
// a cron job never delete at the same moment. Each batch runs in its own
// transaction that first takes a transaction-level advisory lock
// (pg_try_advisory_xact_lock) and releases it at commit. A session-level lock
// held across the run would not work through a transaction-pooling PgBouncer,
// where the lock and the unlock may reach different server connections and a
// lock can be left behind on a connection another client then uses; a
// transaction reaches one server connection whole.
//
// When another process holds the lock, the run stops and returns
// ErrCleanupRunning along with what it deleted so far (0 when it had not
// started): the other process is draining the same rows. Several processes
// thus take turns batch by batch and never work at once; nothing is held
// between batches, so a process that dies leaves no lock behind.
func (s *Store) DeleteExpiredAlone(ctx context.Context, batch int) (int64, error) {
	n, err := s.deleteExpired(ctx, batch, func(ctx context.Context, do func(rowQuerier) error) error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			var locked bool
			if err := tx.QueryRow(ctx, `SELECT set_config('statement_timeout', $2, true) IS NOT NULL AND pg_try_advisory_xact_lock($1)`,
				cleanupLock, cleanupStatementTimeoutSQL).Scan(&locked); err != nil {
				return err
			}
			if !locked {
				return errCleanupBusy
			}
			return do(tx)
		})
	})
	if errors.Is(err, errCleanupBusy) {
		return n, ErrCleanupRunning
	}
	return n, err
}

// inTx runs one batch, do, in a transaction of its own.
type inTx func(ctx context.Context, do func(rowQuerier) error) error

// rowQuerier is a pool or a transaction.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (s *Store) deleteExpired(ctx context.Context, batch int, run inTx) (int64, error) {
	if batch <= 0 {
		batch = DefaultCleanupBatch
	}
	batch = min(batch, MaxCleanupBatch)
	retention := s.opts.AuditRetention
	if retention <= 0 {
		retention = DefaultAuditRetention
	}
	var total int64
	for _, sw := range sweeps {
		n, err := s.deleteInBatches(ctx, sw, batch, retention, run)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// deleteInBatches deletes the dead rows of sw.table, batch rows per
// statement in sw.key order, until a batch comes back short. Each batch
// remembers the largest key it deleted and the next one starts there ($2).
func (s *Store) deleteInBatches(ctx context.Context, sw sweep, batch int, retention time.Duration, run inTx) (int64, error) {
	// The ctid list is built first (ARRAY(...)), so the DELETE is a TID scan
	// of exactly those rows; the subquery is an index range scan on sw.key.
	// Only audit_events' condition uses $3.
	q := `WITH gone AS (
	          DELETE FROM ` + sw.table + ` WHERE ctid = ANY (ARRAY(
	              SELECT ctid FROM ` + sw.table + `
	              WHERE ` + sw.dead + ` AND ` + sw.key + ` >= $2
	              ORDER BY ` + sw.key + ` LIMIT $1))
	          RETURNING ` + sw.key + `)
	      SELECT count(*), coalesce(max(` + sw.key + `), $2) FROM gone`
	args := []any{batch, time.Time{}}
	if strings.Contains(sw.dead, "$3") {
		args = append(args, retention)
	}
	var total int64
	from := minTime
	for {
		var n int64
		started := time.Now()
		bctx, cancel := context.WithTimeout(ctx, cleanupStatementTimeout+clientTimeoutMargin)
		err := run(bctx, func(db rowQuerier) error {
			args[1] = from
			return db.QueryRow(bctx, q, args...).Scan(&n, &from)
		})
		cancel()
		if errors.Is(err, errCleanupBusy) {
			return total, err
		}
		if err != nil {
			return total, fmt.Errorf("storage: delete expired rows of %s: %w", sw.table, mapError(err))
		}
		total += n
		if n < int64(batch) {
			return total, nil
		}
		if err := s.pauseBetweenBatches(ctx, time.Since(started)); err != nil {
			return total, fmt.Errorf("storage: delete expired rows of %s: %w", sw.table, err)
		}
	}
}

// cleanupIdleFactor is how many times as long as a batch took the cleanup
// waits after it (when Options.CleanupPause is set): deleting a backlog then
// keeps PostgreSQL busy a quarter of the time at most, which still deletes
// several times faster than a busy server writes rows (see the README), and
// leaves the rest to token requests.
const cleanupIdleFactor = 3

// maxCleanupIdle bounds that wait: a batch slowed by something else (the
// first one after a large backlog steps over the entries of every deleted
// row) must not hold the round up for minutes. It is the largest
// cleanup.pause the configuration accepts.
const maxCleanupIdle = 10 * time.Second

// cleanupPause is the wait after a full batch whose statement took took:
// pause, or cleanupIdleFactor times took when that is longer (at most
// maxCleanupIdle); none when pause is not positive.
func cleanupPause(pause, took time.Duration) time.Duration {
	if pause <= 0 {
		return 0
	}
	return max(pause, min(cleanupIdleFactor*took, maxCleanupIdle))
}

// pauseBetweenBatches waits after a full batch (see cleanupPause), or until
// ctx ends.
func (s *Store) pauseBetweenBatches(ctx context.Context, took time.Duration) error {
	wait := cleanupPause(s.opts.CleanupPause, took)
	if wait <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// minTime is before every timestamp the tables hold: where a round starts.
var minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
