package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// GrantedApp is a user's remembered consent together with the app it was
// given to, as the authorized-apps page lists it. The app may belong to any
// workspace: users authorize third-party apps.
type GrantedApp struct {
	Grant
	App App
}

// ListGrants lists the apps userID has authorized, most recently used first.
// A userID that is not a UUID names no user and lists nothing.
func (s *Store) ListGrants(ctx context.Context, userID string) ([]GrantedApp, error) {
	rows, err := s.db(ctx).Query(ctx,
		`SELECT g.user_id, g.client_id, g.scopes, g.granted_at, g.last_used_at, `+appColumns+`
		 FROM consent_grants g
		 JOIN oauth_apps a ON a.client_id = g.client_id
		 LEFT JOIN oauth_app_logos l ON l.app_id = a.id
		 WHERE g.user_id = $1
		 ORDER BY g.last_used_at DESC, a.name, a.client_id`, userID)
	var grants []GrantedApp
	if err == nil {
		grants, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (GrantedApp, error) {
			var (
				g GrantedApp
				r appRow
			)
			dest := append([]any{&g.UserID, &g.ClientID, &g.Scopes, &g.GrantedAt, &g.LastUsedAt}, r.dest()...)
			err := row.Scan(dest...)
			g.App = r.app()
			return g, err
		})
	}
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == sqlstateInvalidTextRepresentation:
		return []GrantedApp{}, nil
	case err != nil:
		return nil, fmt.Errorf("storage: list grants of user %q: %w", userID, mapError(err))
	case grants == nil:
		return []GrantedApp{}, nil
	}
	return grants, nil
}

// RevokeGrant withdraws userID's consent to clientID, in one transaction:
// the remembered consent goes, every access token of that user for that app
// is deleted, its refresh tokens are deactivated (rows stay, so a later use
// is seen as reuse, and their grace period ends), unredeemed codes are
// invalidated and PKCE sessions deleted, and the user's pending consent
// challenges for the app are dropped. Tokens of other users, and this user's
// tokens of other apps, are untouched. ErrNotFound when there was no grant;
// nothing changes then.
//
// The refresh tokens are locked first, so that a refresh already in flight
// finishes (or fails to serialize) before the tokens are revoked: the
// statements that follow see whatever it committed.
func (s *Store) RevokeGrant(ctx context.Context, userID, clientID string) error {
	err := s.inTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		if _, err := db.Exec(ctx,
			`SELECT 1 FROM oauth_refresh_tokens
			 WHERE subject = $1 AND client_id = $2 AND (active OR first_used_at IS NOT NULL)
			 FOR UPDATE`, userID, clientID); err != nil {
			return mapError(err)
		}
		tag, err := db.Exec(ctx,
			`DELETE FROM consent_grants WHERE user_id = $1 AND client_id = $2`, userID, clientID)
		if err != nil {
			return mapError(err)
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		for _, q := range []struct{ what, sql string }{
			{"access tokens", `DELETE FROM oauth_access_tokens WHERE subject = $1 AND client_id = $2`},
			{"refresh tokens", `UPDATE oauth_refresh_tokens SET active = false, first_used_at = NULL
				WHERE subject = $1 AND client_id = $2 AND (active OR first_used_at IS NOT NULL)`},
			{"codes", `UPDATE oauth_codes SET active = false WHERE subject = $1 AND client_id = $2 AND active`},
			{"pkce", `DELETE FROM oauth_pkce WHERE subject = $1 AND client_id = $2`},
			{"consent challenges", `DELETE FROM consent_challenges
				WHERE client_id = $2
				  AND login_session_id IN (SELECT id_hash FROM login_sessions WHERE user_id = $1::uuid)`},
		} {
			if _, err := db.Exec(ctx, q.sql, userID, clientID); err != nil {
				return fmt.Errorf("%s: %w", q.what, mapError(err))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storage: revoke grant of user %q to app %q: %w", userID, clientID, err)
	}
	return nil
}
