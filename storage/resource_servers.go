package storage

import (
	"context"
	"fmt"
	"time"
)

// ResourceServer is an API that checks tokens through the introspection endpoint.
type ResourceServer struct {
	ID         string
	ClientID   string
	SecretHash []byte
	Name       string
	CreatedAt  time.Time
}

// CreateResourceServer registers resource-server credentials; ErrConflict
// when the client_id is taken.
func (s *Store) CreateResourceServer(ctx context.Context, clientID, name string, secretHash []byte) (ResourceServer, error) {
	rs := ResourceServer{ClientID: clientID, Name: name, SecretHash: secretHash}
	err := s.db(ctx).QueryRow(ctx,
		`INSERT INTO resource_servers (client_id, secret_hash, name) VALUES ($1, $2, $3)
		 RETURNING id, created_at`,
		clientID, secretHash, name).Scan(&rs.ID, &rs.CreatedAt)
	if err != nil {
		return ResourceServer{}, fmt.Errorf("storage: create resource server %q: %w", name, mapError(err))
	}
	return rs, nil
}

// GetResourceServer loads resource-server credentials by client_id.
func (s *Store) GetResourceServer(ctx context.Context, clientID string) (ResourceServer, error) {
	var rs ResourceServer
	err := s.db(ctx).QueryRow(ctx,
		`SELECT id, client_id, secret_hash, name, created_at FROM resource_servers WHERE client_id = $1`,
		clientID).Scan(&rs.ID, &rs.ClientID, &rs.SecretHash, &rs.Name, &rs.CreatedAt)
	if err != nil {
		return ResourceServer{}, fmt.Errorf("storage: get resource server %q: %w", clientID, mapError(err))
	}
	return rs, nil
}

// ListResourceServers lists every resource server, newest first.
func (s *Store) ListResourceServers(ctx context.Context) ([]ResourceServer, error) {
	rows, err := s.db(ctx).Query(ctx,
		`SELECT id, client_id, name, created_at FROM resource_servers ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("storage: list resource servers: %w", mapError(err))
	}
	defer rows.Close()
	var out []ResourceServer
	for rows.Next() {
		var rs ResourceServer
		if err := rows.Scan(&rs.ID, &rs.ClientID, &rs.Name, &rs.CreatedAt); err != nil {
			return nil, fmt.Errorf("storage: list resource servers: %w", mapError(err))
		}
		out = append(out, rs)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: list resource servers: %w", mapError(err))
	}
	return out, nil
}
