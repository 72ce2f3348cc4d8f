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
// FieldErrors (check with errors.As); ErrLogoBusy when the logo could not be
// processed for lack of an image slot.
//
// All the work on the logo is done before anything is written, and the app
// and its logo are stored in one transaction, so a registration that fails
// (or whose request is cancelled before the write) leaves nothing behind.
//
// The client_id is random (96 bits, hex) so that it reveals nothing and
// cannot be guessed from another app's; it is not a secret. The client secret
// carries 256 bits of entropy as base64url text, whose alphabet has no '+'
// that HTTP Basic form decoding would turn into a space.
func (s Service) Register(ctx context.Context, r Registration) (storage.App, string, error) {
	fe, logo, err := validate(ctx, r)
	if err != nil {
		return storage.App{}, "", fmt.Errorf("apps: register: %w", err)
	}
	if fe != nil {
		return storage.App{}, "", fe
	}
	if r.WorkspaceID == "" {
		return storage.App{}, "", errors.New("apps: register: a workspace is required")
	}
	profile := r.Profile.normalize()
	na := storage.NewApp{
		ClientID:     secret.HexToken(12),
		Name:         strings.TrimSpace(r.Name),
		RedirectURIs: slices.Clone(r.RedirectURIs),
		Scopes:       slices.Clone(r.Scopes),
		Public:       r.Public,
		PKCEOptional: r.PKCEOptional && !r.Public,
		IDTokenAlg:   r.IDTokenAlg,
		WorkspaceID:  r.WorkspaceID,
		OwnerID:      r.OwnerID,
		Logo:         logo,
		HomepageURL:  profile.HomepageURL,
		PrivacyURL:   profile.PrivacyURL,
		Description:  profile.Description,

		PostLogoutRedirectURIs: slices.Clone(r.PostLogoutRedirectURIs),
	}
	var clientSecret string
	if !r.Public {
		if s.Hasher == nil {
			return storage.App{}, "", errors.New("apps: register: a confidential app needs a secret hasher")
		}
		clientSecret = secret.Token()
		na.SecretHash = s.Hasher.Sum([]byte(clientSecret))
	}
	if err := ctx.Err(); err != nil {
		// The client is gone: it would never learn the secret.
		return storage.App{}, "", fmt.Errorf("apps: register: %w", err)
	}
	app, err := s.Store.CreateApp(ctx, na)
	if err != nil {
		return storage.App{}, "", fmt.Errorf("apps: register %q: %w", na.Name, err)
	}
	return app, clientSecret, nil
}

// maxClientIDLen bounds a client_id.
const maxClientIDLen = 128

// ValidClientID reports whether id has the shape of a client_id: 1 to 128
// characters among the unreserved characters of RFC 3986 (letters, digits,
// '-', '.', '_', '~'). Register issues 24 hex digits, resource servers get
// "rs_" and hex, and the development demo app is "demo-app"; an id of any
// other shape names no app, so callers can answer as for an unknown app
// without a query (and without sending the database bytes it would refuse).
func ValidClientID(id string) bool {
	if id == "" || len(id) > maxClientIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}
