package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// apiKeyColumns lists the columns scanned by apiKeyRow.dest, in order;
// queries alias api_keys as k.
const apiKeyColumns = `k.id, k.workspace_id, k.created_by, k.name, k.scopes, k.display_id,
	k.created_at, k.expires_at, k.revoked_at, k.last_used_at`

// apiKeyRow receives apiKeyColumns, including the nullable ones.
type apiKeyRow struct {
	k                          APIKey
	createdBy                  *string
	expires, revoked, lastUsed *time.Time
}

// dest returns the scan destinations matching apiKeyColumns.
func (r *apiKeyRow) dest() []any {
	return []any{
		&r.k.ID, &r.k.WorkspaceID, &r.createdBy, &r.k.Name, &r.k.Scopes, &r.k.DisplayID,
		&r.k.CreatedAt, &r.expires, &r.revoked, &r.lastUsed,
	}
}

// key returns the scanned APIKey with its nullable fields resolved.
func (r *apiKeyRow) key() APIKey {
	k := r.k
	if r.createdBy != nil {
		k.CreatedBy = *r.createdBy
	}
	if r.expires != nil {
		k.ExpiresAt = *r.expires
	}
	if r.revoked != nil {
		k.RevokedAt = *r.revoked
	}
	if r.lastUsed != nil {
		k.LastUsedAt = *r.lastUsed
	}
	return k
}

// CreateAPIKey stores a new API key. ErrNotFound when the workspace (or the
// creating user) does not exist; ErrConflict when the hash is taken, which
// for 256-bit random keys means a bug, not bad luck.
func (s *Store) CreateAPIKey(ctx context.Context, n NewAPIKey) (APIKey, error) {
	var createdBy, expires any // NULL unless set
	if n.CreatedBy != "" {
		createdBy = n.CreatedBy
	}
	if !n.ExpiresAt.IsZero() {
		expires = n.ExpiresAt
	}
	var r apiKeyRow
	err := s.db(ctx).QueryRow(ctx,
		`INSERT INTO api_keys AS k (workspace_id, created_by, name, scopes, key_hash, display_id, expires_at)
		 VALUES ($1, $2, $3, $4, $5, $6, $7)
		 RETURNING `+apiKeyColumns,
		n.WorkspaceID, createdBy, n.Name, textArray(n.Scopes), n.KeyHash, n.DisplayID, expires,
	).Scan(r.dest()...)
	if err != nil {
		return APIKey{}, fmt.Errorf("storage: create API key %q in workspace %q: %w", n.Name, n.WorkspaceID, mapError(err))
	}
	return r.key(), nil
}

// ListAPIKeys lists a workspace's API keys, revoked and expired ones
// included, newest first. A workspaceID that is not a UUID lists nothing.
func (s *Store) ListAPIKeys(ctx context.Context, workspaceID string) ([]APIKey, error) {
	rows, err := s.db(ctx).Query(ctx,
		`SELECT `+apiKeyColumns+` FROM api_keys k
		 WHERE k.workspace_id = $1 ORDER BY k.created_at DESC, k.id`, workspaceID)
	var keys []APIKey
	if err == nil {
		keys, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (APIKey, error) {
			var r apiKeyRow
			err := row.Scan(r.dest()...)
			return r.key(), err
		})
	}
	keys, err = workspaceList(keys, err)
	if err != nil {
		return nil, fmt.Errorf("storage: list API keys of workspace %q: %w", workspaceID, err)
	}
	return keys, nil
}

// GetAPIKeyByHash loads the key whose keyed hash is hash, together with its
// workspace's plan, in one query; revoked and expired keys are returned too,
// and the caller decides. ErrNotFound when no key has that hash. Concurrent
// lookups share one statement (see coalescer).
func (s *Store) GetAPIKeyByHash(ctx context.Context, hash []byte) (APIKeyWithPlan, error) {
	k, found, err := s.apiKeyReads.get(ctx, string(hash))
	switch {
	case err != nil:
		return APIKeyWithPlan{}, fmt.Errorf("storage: get API key by hash: %w", err)
	case !found:
		return APIKeyWithPlan{}, fmt.Errorf("storage: get API key by hash: %w", ErrNotFound)
	}
	return k, nil
}

// apiKeyByHashSQL reads one API key by keyed hash ($1), apiKeysByHashSQL
// several ($1, an array), finding each key's workspace through its key (see
// accessReadsSQL).
const (
	apiKeyByHashSQL = `SELECT ` + apiKeyColumns + `, w.plan
		 FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id
		 WHERE k.key_hash = $1`
	apiKeysByHashSQL = `SELECT k.key_hash, ` + apiKeyColumns + `, w.plan
		 FROM api_keys k
		 CROSS JOIN LATERAL (SELECT plan FROM workspaces w WHERE w.id = k.workspace_id OFFSET 0) w
		 WHERE k.key_hash = ANY($1::bytea[])`
)

// fetchAPIKeys reads the API keys whose keyed hashes are keys in one
// statement: the fetch of s.apiKeyReads.
func (s *Store) fetchAPIKeys(ctx context.Context, keys []string) ([]APIKeyWithPlan, []bool, error) {
	out := make([]APIKeyWithPlan, len(keys))
	found := make([]bool, len(keys))
	if len(keys) == 1 {
		var r apiKeyRow
		err := s.db(ctx).QueryRow(ctx, apiKeyByHashSQL, []byte(keys[0])).Scan(append(r.dest(), &out[0].Plan)...)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return out, found, nil
		case err != nil:
			return nil, nil, mapError(err)
		}
		out[0].APIKey, found[0] = r.key(), true
		return out, found, nil
	}
	hashes := make([][]byte, len(keys))
	for i, k := range keys {
		hashes[i] = []byte(k)
	}
	rows, err := s.db(ctx).Query(ctx, apiKeysByHashSQL, hashes)
	if err != nil {
		return nil, nil, mapError(err)
	}
	defer rows.Close()
	byHash := make(map[string]APIKeyWithPlan, len(keys))
	for rows.Next() {
		var (
			hash []byte
			r    apiKeyRow
			plan string
		)
		if err := rows.Scan(append(append([]any{&hash}, r.dest()...), &plan)...); err != nil {
			return nil, nil, mapError(err)
		}
		byHash[string(hash)] = APIKeyWithPlan{APIKey: r.key(), Plan: plan}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, mapError(err)
	}
	for i, k := range keys {
		out[i], found[i] = byHash[k]
	}
	return out, found, nil
}

// RevokeAPIKey marks a key of the workspace revoked; revoking it again keeps
// the first revocation time. ErrNotFound when the workspace has no such key,
// so one workspace can never revoke another's keys.
func (s *Store) RevokeAPIKey(ctx context.Context, workspaceID, id string) error {
	tag, err := s.db(ctx).Exec(ctx,
		`UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
		 WHERE workspace_id = $1 AND id = $2`, workspaceID, id)
	if err == nil && tag.RowsAffected() == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("storage: revoke API key %q of workspace %q: %w", id, workspaceID, mapError(err))
	}
	return nil
}

// TouchAPIKeys records when keys were last used, in one statement for the
// whole batch (id → time of last use). A time older than the stored one is
// ignored, so instances flushing out of order never move last_used_at back,
// and ids of deleted keys are skipped. Rows are locked in id order, so two
// instances flushing overlapping batches wait for each other rather than
// deadlock.
func (s *Store) TouchAPIKeys(ctx context.Context, lastUsed map[string]time.Time) error {
	if len(lastUsed) == 0 {
		return nil
	}
	ids := make([]string, 0, len(lastUsed))
	times := make([]time.Time, 0, len(lastUsed))
	for id, t := range lastUsed {
		ids = append(ids, id)
		times = append(times, t)
	}
	_, err := s.db(ctx).Exec(ctx,
		`UPDATE api_keys k SET last_used_at = greatest(k.last_used_at, u.t)
		 FROM (SELECT l.id, b.t
		       FROM api_keys l JOIN unnest($1::uuid[], $2::timestamptz[]) AS b(id, t) ON b.id = l.id
		       ORDER BY l.id
		       FOR UPDATE OF l) AS u
		 WHERE k.id = u.id`, ids, times)
	if err != nil {
		return fmt.Errorf("storage: touch %d API keys: %w", len(lastUsed), mapError(err))
	}
	return nil
}
