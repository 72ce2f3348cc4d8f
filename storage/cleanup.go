package storage

import (
	"context"
	"fmt"
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
