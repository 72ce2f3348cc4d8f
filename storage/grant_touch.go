package storage

import (
	"context"
	"fmt"
	"time"
)

// GrantUse is one recorded use of a consent grant.
type GrantUse struct {
	UserID   string
	ClientID string
	At       time.Time
}

// TouchGrants records many uses of consent grants in one statement, never
// moving last_used_at backwards. Unknown grants are skipped.
func (s *Store) TouchGrants(ctx context.Context, uses []GrantUse) error {
	if len(uses) == 0 {
		return nil
	}
	users := make([]string, len(uses))
	clients := make([]string, len(uses))
	ats := make([]time.Time, len(uses))
	for i, u := range uses {
		users[i], clients[i], ats[i] = u.UserID, u.ClientID, u.At
	}
	_, err := s.db(ctx).Exec(ctx,
		`UPDATE consent_grants g SET last_used_at = greatest(g.last_used_at, u.at)
		 FROM (SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS t(user_id, client_id, at)
		       ORDER BY user_id, client_id) u
		 WHERE g.user_id = u.user_id AND g.client_id = u.client_id`,
		users, clients, ats)
	if err != nil {
		return fmt.Errorf("storage: touch grants: %w", mapError(err))
	}
	return nil
}
