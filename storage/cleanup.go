package storage

import (
	"context"
	"fmt"
)

// expiringTables are the tables DeleteExpired sweeps, each with an expires_at
// column. Consent challenges go before the login sessions they reference.
// Refresh tokens are only removed once expired: inactive ones that have not
// expired are kept so that their reuse is still detected.
var expiringTables = []string{
	"oauth_codes",
	"oauth_pkce",
	"oauth_access_tokens",
	"oauth_refresh_tokens",
	"consent_challenges",
	"login_sessions",
}

// DefaultCleanupBatch is the batch size DeleteExpired uses when given batch <= 0.
const DefaultCleanupBatch = 1000

// DeleteExpired removes expired codes, PKCE requests, tokens, consent
// challenges and login sessions, and returns how many rows it deleted. fosite
// never deletes anything, so the server runs this periodically. It deletes at
// most batch rows per statement, keeping each statement's locks and WAL small,
// and loops over a table until a batch comes back short.
func (s *Store) DeleteExpired(ctx context.Context, batch int) (int64, error) {
	if batch <= 0 {
		batch = DefaultCleanupBatch
	}
	var total int64
	for _, table := range expiringTables {
		for {
			tag, err := s.db(ctx).Exec(ctx,
				`DELETE FROM `+table+` WHERE ctid IN (
				     SELECT ctid FROM `+table+` WHERE expires_at < now() LIMIT $1)`, batch)
			if err != nil {
				return total, fmt.Errorf("storage: delete expired rows of %s: %w", table, mapError(err))
			}
			total += tag.RowsAffected()
			if tag.RowsAffected() < int64(batch) {
				break
			}
			if err := ctx.Err(); err != nil {
				return total, fmt.Errorf("storage: delete expired rows of %s: %w", table, err)
			}
		}
	}
	return total, nil
}
