package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// RegistrationToken is an initial access token (RFC 7591 §3): it lets its
// holder register apps into its workspace by API. The token itself is never
// stored: the row holds its keyed hash and a display id that is safe to show.
type RegistrationToken struct {
	ID          string
	WorkspaceID string
	CreatedBy   string // user id; "" when created from the CLI or the user is gone
	Name        string
	DisplayID   string // e.g. "nxr_ukmov5Ui"
	CreatedAt   time.Time
	ExpiresAt   time.Time // zero: never expires
	RevokedAt   time.Time // zero: not revoked
	LastUsedAt  time.Time // zero: never used
}

// Active reports whether the token may register apps at now.
func (t RegistrationToken) Active(now time.Time) bool {
	return t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt))
}

// NewRegistrationToken is the input of CreateRegistrationToken.
type NewRegistrationToken struct {
	WorkspaceID string
	CreatedBy   string // "" for none
	Name        string
	TokenHash   []byte // HMAC-SHA-256 of the token under secret.Keys.SecretHash
	DisplayID   string
	ExpiresAt   time.Time // zero: never expires
}

// registrationTokenColumns lists the columns scanned by
// registrationTokenRow.dest; queries alias registration_tokens as t.
const registrationTokenColumns = `t.id, t.workspace_id, coalesce(t.created_by::text, ''), t.name, t.display_id,
	t.created_at, t.expires_at, t.revoked_at, t.last_used_at`

type registrationTokenRow struct {
	t                          RegistrationToken
	expires, revoked, lastUsed *time.Time
}

func (r *registrationTokenRow) dest() []any {
	return []any{&r.t.ID, &r.t.WorkspaceID, &r.t.CreatedBy, &r.t.Name, &r.t.DisplayID,
		&r.t.CreatedAt, &r.expires, &r.revoked, &r.lastUsed}
}

func (r *registrationTokenRow) token() RegistrationToken {
	t := r.t
	for _, f := range []struct {
		src *time.Time
		dst *time.Time
	}{{r.expires, &t.ExpiresAt}, {r.revoked, &t.RevokedAt}, {r.lastUsed, &t.LastUsedAt}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	return t
}

// CreateRegistrationToken stores a new initial access token. ErrNotFound
// when the workspace (or the creating user) does not exist.
func (s *Store) CreateRegistrationToken(ctx context.Context, n NewRegistrationToken) (RegistrationToken, error) {
	var expires any
	if !n.ExpiresAt.IsZero() {
		expires = n.ExpiresAt
	}
	var r registrationTokenRow
	err := s.db(ctx).QueryRow(ctx,
		`INSERT INTO registration_tokens AS t (workspace_id, created_by, name, token_hash, display_id, expires_at)
		 VALUES ($1, $2, $3, $4, $5, $6)
		 RETURNING `+registrationTokenColumns,
		n.WorkspaceID, nullIfEmpty(n.CreatedBy), n.Name, n.TokenHash, n.DisplayID, expires,
	).Scan(r.dest()...)
	if err != nil {
		return RegistrationToken{}, fmt.Errorf("storage: create registration token %q in workspace %q: %w", n.Name, n.WorkspaceID, mapError(err))
	}
	return r.token(), nil
}

// ListRegistrationTokens lists a workspace's initial access tokens, revoked
// and expired ones included, newest first. A workspaceID that is not a UUID
// lists nothing.
func (s *Store) ListRegistrationTokens(ctx context.Context, workspaceID string) ([]RegistrationToken, error) {
	rows, err := s.db(ctx).Query(ctx,
		`SELECT `+registrationTokenColumns+` FROM registration_tokens t
		 WHERE t.workspace_id = $1 ORDER BY t.created_at DESC, t.id`, workspaceID)
	var out []RegistrationToken
	if err == nil {
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (RegistrationToken, error) {
			var r registrationTokenRow
			err := row.Scan(r.dest()...)
			return r.token(), err
		})
	}
	out, err = workspaceList(out, err)
	if err != nil {
		return nil, fmt.Errorf("storage: list registration tokens of workspace %q: %w", workspaceID, err)
	}
	return out, nil
}

// workspaceList finishes a list query by workspace: a workspace id that is
// not a UUID (22P02) names no workspace and lists nothing; other errors are
// mapped; an empty list is empty, not nil.
func workspaceList[T any](out []T, err error) ([]T, error) {
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == sqlstateInvalidTextRepresentation:
		return []T{}, nil
	case err != nil:
		return nil, mapError(err)
	case out == nil:
		return []T{}, nil
	}
	return out, nil
}

// GetRegistrationTokenByHash loads the token whose keyed hash is hash;
// revoked and expired tokens are returned too, and the caller decides.
// ErrNotFound when no token has that hash.
func (s *Store) GetRegistrationTokenByHash(ctx context.Context, hash []byte) (RegistrationToken, error) {
	var r registrationTokenRow
	err := s.db(ctx).QueryRow(ctx,
		`SELECT `+registrationTokenColumns+` FROM registration_tokens t WHERE t.token_hash = $1`, hash).Scan(r.dest()...)
	if err != nil {
		return RegistrationToken{}, fmt.Errorf("storage: get registration token by hash: %w", mapError(err))
	}
	return r.token(), nil
}

// RevokeRegistrationToken marks a token revoked; revoking it again keeps the
// first revocation time. With a workspaceID, only a token of that workspace
// is revoked (so one workspace never revokes another's); "" matches any
// workspace (the CLI). ErrNotFound when there is no such token; an id that
// is not a UUID names none.
func (s *Store) RevokeRegistrationToken(ctx context.Context, workspaceID, id string) (RegistrationToken, error) {
	var r registrationTokenRow
	err := s.db(ctx).QueryRow(ctx,
		`UPDATE registration_tokens t SET revoked_at = coalesce(revoked_at, now())
		 WHERE t.id::text = $2 AND ($1 = '' OR t.workspace_id::text = $1)
		 RETURNING `+registrationTokenColumns, workspaceID, id).Scan(r.dest()...)
	if err != nil {
		return RegistrationToken{}, fmt.Errorf("storage: revoke registration token %q: %w", id, mapError(err))
	}
	return r.token(), nil
}

// TouchRegistrationToken records a use of the token now. Registrations are
// rare, so each use is written at once.
func (s *Store) TouchRegistrationToken(ctx context.Context, id string) error {
	if _, err := s.db(ctx).Exec(ctx,
		`UPDATE registration_tokens SET last_used_at = greatest(last_used_at, now()) WHERE id = $1`, id); err != nil {
		return fmt.Errorf("storage: touch registration token %q: %w", id, mapError(err))
	}
	return nil
}

// ClientRegistration is what an app registered by API (RFC 7591) carries
// beyond the app itself: the keyed hash of its registration access token
// (RFC 7592) and the metadata it registered that the app does not hold.
type ClientRegistration struct {
	ClientID                string
	AccessTokenHash         []byte
	TokenEndpointAuthMethod string
	LogoURI                 string
	RegistrationTokenID     string // "" for open registration or a deleted token
	CreatedAt               time.Time
	UpdatedAt               time.Time
}

// CreateClientRegistration stores the registration of the app
// r.ClientID; run it in the transaction that creates the app. ErrNotFound
// when there is no such app, ErrConflict when it has a registration already.
func (s *Store) CreateClientRegistration(ctx context.Context, r ClientRegistration) error {
	tag, err := s.db(ctx).Exec(ctx,
		`INSERT INTO client_registrations (app_id, access_token_hash, token_endpoint_auth_method,
		     logo_uri, registration_token_id)
		 SELECT a.id, $2, $3, $4, $5 FROM oauth_apps a WHERE a.client_id = $1`,
		r.ClientID, r.AccessTokenHash, r.TokenEndpointAuthMethod, r.LogoURI, nullIfEmpty(r.RegistrationTokenID))
	if err == nil && tag.RowsAffected() == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("storage: create registration of app %q: %w", r.ClientID, mapError(err))
	}
	return nil
}

// GetClientRegistration loads the registration of the app clientID.
// ErrNotFound when the app does not exist or was not registered by API.
func (s *Store) GetClientRegistration(ctx context.Context, clientID string) (ClientRegistration, error) {
	var (
		r     ClientRegistration
		token *string
	)
	err := s.db(ctx).QueryRow(ctx,
		`SELECT a.client_id, c.access_token_hash, c.token_endpoint_auth_method,
		        c.logo_uri, c.registration_token_id::text, c.created_at, c.updated_at
		 FROM client_registrations c JOIN oauth_apps a ON a.id = c.app_id
		 WHERE a.client_id = $1`, clientID).Scan(&r.ClientID, &r.AccessTokenHash, &r.TokenEndpointAuthMethod,
		&r.LogoURI, &token, &r.CreatedAt, &r.UpdatedAt)
	if err != nil {
		return ClientRegistration{}, fmt.Errorf("storage: get registration of app %q: %w", clientID, mapError(err))
	}
	if token != nil {
		r.RegistrationTokenID = *token
	}
	return r, nil
}

// UpdateClientRegistration replaces the registration access token hash and
// the registered metadata of the app r.ClientID (its RegistrationTokenID is
// kept). ErrNotFound when there is no such registration.
func (s *Store) UpdateClientRegistration(ctx context.Context, r ClientRegistration) error {
	tag, err := s.db(ctx).Exec(ctx,
		`UPDATE client_registrations c SET access_token_hash = $2, token_endpoint_auth_method = $3,
		     logo_uri = $4, updated_at = now()
		 FROM oauth_apps a WHERE a.id = c.app_id AND a.client_id = $1`,
		r.ClientID, r.AccessTokenHash, r.TokenEndpointAuthMethod, r.LogoURI)
	if err == nil && tag.RowsAffected() == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("storage: update registration of app %q: %w", r.ClientID, mapError(err))
	}
	return nil
}
