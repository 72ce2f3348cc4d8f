package apps

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
)

// Service registers apps.
type Service struct {
	Store *storage.Store
	// Hasher keys the stored hash of client secrets (secret.Keys.SecretHash).
	// Registering a public app does not use it.
	Hasher *secret.Hasher
}

// Register validates r and creates the app. It returns the app and, for a
// confidential app, its client secret: the only time the secret exists in
// clear, since only its keyed hash is stored. Invalid input is reported as
// FieldErrors (check with errors.As).
//
// The client_id is random (96 bits, hex) so that it reveals nothing and
// cannot be guessed from another app's; it is not a secret. The client secret
// carries 256 bits of entropy as base64url text, whose alphabet has no '+'
// that HTTP Basic form decoding would turn into a space.
func (s Service) Register(ctx context.Context, r Registration) (storage.App, string, error) {
	fe, logo := validate(r)
	if fe != nil {
		return storage.App{}, "", fe
	}
	if r.WorkspaceID == "" || r.OwnerID == "" {
		return storage.App{}, "", errors.New("apps: register: workspace and owner are required")
	}
	na := storage.NewApp{
		ClientID:     secret.HexToken(12),
		Name:         strings.TrimSpace(r.Name),
		RedirectURIs: slices.Clone(r.RedirectURIs),
		Scopes:       slices.Clone(r.Scopes),
		Public:       r.Public,
		PKCEOptional: r.PKCEOptional && !r.Public,
		WorkspaceID:  r.WorkspaceID,
		OwnerID:      r.OwnerID,
		Logo:         logo,
	}
	var clientSecret string
	if !r.Public {
		if s.Hasher == nil {
			return storage.App{}, "", errors.New("apps: register: a confidential app needs a secret hasher")
		}
		clientSecret = secret.Token()
		na.SecretHash = s.Hasher.Sum([]byte(clientSecret))
	}
	app, err := s.Store.CreateApp(ctx, na)
	if err != nil {
		return storage.App{}, "", fmt.Errorf("apps: register %q: %w", na.Name, err)
	}
	return app, clientSecret, nil
}
