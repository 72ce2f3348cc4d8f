package storage

import (
	"context"
	"fmt"
)

// SetRefreshTokenScopes sets the granted scopes of a refresh token. A refresh
// that narrows the access token's scopes keeps the refresh token's own scopes
// unchanged (RFC 6749 §6), which fosite cannot express on its own.
func (s *Store) SetRefreshTokenScopes(ctx context.Context, signature string, granted []string) error {
	tag, err := s.db(ctx).Exec(ctx,
		`UPDATE oauth_refresh_tokens SET granted_scopes = $2 WHERE signature = $1`,
		hashSignature(signature), textArray(granted))
	if err != nil {
		return fmt.Errorf("storage: set refresh token scopes: %w", mapError(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("storage: set refresh token scopes: %w", ErrNotFound)
	}
	return nil
}
