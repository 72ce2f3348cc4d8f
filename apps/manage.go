package apps

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
)

// MaxSecretOverlap bounds how long a rotated client secret keeps working
// next to its successor.
const MaxSecretOverlap = 7 * 24 * time.Hour

// ErrPublicApp is returned when a secret is asked of a public app: public
// apps have none.
var ErrPublicApp = errors.New("apps: public apps have no client secret")

// Update is what a developer may change after registration. Whether an app
// is public stays as it was registered: turning a public app confidential (or
// back) would change how every installed copy authenticates.
type Update struct {
	Name         string
	RedirectURIs []string
	// PostLogoutRedirectURIs replaces the post-logout redirect URIs; empty
	// removes them.
	PostLogoutRedirectURIs []string
	Scopes                 []string
	// Logo, when non-nil, replaces the logo: the raw upload, validated and
	// re-encoded as at registration.
	Logo []byte
	// RemoveLogo deletes the logo. It cannot be combined with Logo.
	RemoveLogo bool
	// Profile replaces the app's profile; empty fields clear it.
	Profile Profile
	// PKCEOptional, when set, changes whether a confidential app may omit
	// PKCE; nil keeps the setting. Public apps always need PKCE.
	PKCEOptional *bool
	// IDTokenAlg, when not empty, changes the algorithm of the app's ID
	// tokens (storage.IDTokenRS256 or storage.IDTokenES256).
	IDTokenAlg string
}

// ValidateUpdate checks an update by the rules of registration and returns
// nil when it is acceptable.
func ValidateUpdate(u Update) FieldErrors {
	fe, _, err := validateUpdate(context.Background(), u)
	if err != nil {
		if fe == nil {
			fe = FieldErrors{}
		}
		fe[FieldLogo] = err.Error()
	}
	return fe
}

// validateUpdate returns the field errors, or the normalized replacement
// logo (nil when the logo is kept or removed); an error as validate.
func validateUpdate(ctx context.Context, u Update) (FieldErrors, *storage.Logo, error) {
	fe, logo, err := validate(ctx, Registration{Name: u.Name, RedirectURIs: u.RedirectURIs, Scopes: u.Scopes, Logo: u.Logo, Profile: u.Profile,
		PostLogoutRedirectURIs: u.PostLogoutRedirectURIs,
		IDTokenAlg:             u.IDTokenAlg})
	if err != nil {
		return nil, nil, err
	}
	if u.RemoveLogo && u.Logo != nil {
		if fe == nil {
			fe = FieldErrors{}
		}
		fe[FieldLogo] = "choose a new logo or remove the current one, not both"
	}
	if len(fe) > 0 {
		return fe, nil, nil
	}
	return nil, logo, nil
}

// Update validates u and applies it to the app clientID in one transaction:
// the settings and the logo change together or not at all. Invalid input is
// reported as FieldErrors; storage.ErrNotFound when there is no such app;
// ErrLogoBusy when the new logo could not be processed for lack of an image
// slot (nothing is changed then). Who may update is the caller's decision
// (see CanManage).
func (s Service) Update(ctx context.Context, clientID string, u Update) (app storage.App, err error) {
	fe, logo, err := validateUpdate(ctx, u)
	if err != nil {
		return storage.App{}, fmt.Errorf("apps: update %q: %w", clientID, err)
	}
	if fe != nil {
		return storage.App{}, fe
	}
	ctx, err = s.Store.BeginTX(ctx)
	if err != nil {
		return storage.App{}, fmt.Errorf("apps: update %q: %w", clientID, err)
	}
	defer func() {
		if rbErr := s.Store.Rollback(ctx); rbErr != nil && err == nil {
			err = fmt.Errorf("apps: update %q: %w", clientID, rbErr)
		}
	}()
	profile := u.Profile.normalize()
	app, err = s.Store.UpdateApp(ctx, clientID, storage.AppUpdate{
		Name:                   strings.TrimSpace(u.Name),
		RedirectURIs:           slices.Clone(u.RedirectURIs),
		Scopes:                 slices.Clone(u.Scopes),
		HomepageURL:            profile.HomepageURL,
		PrivacyURL:             profile.PrivacyURL,
		Description:            profile.Description,
		PKCEOptional:           u.PKCEOptional,
		IDTokenAlg:             u.IDTokenAlg,
		PostLogoutRedirectURIs: slices.Clone(u.PostLogoutRedirectURIs),
	})
	if err != nil {
		return storage.App{}, fmt.Errorf("apps: update %q: %w", clientID, err)
	}
	if logo != nil || u.RemoveLogo {
		if err := s.Store.SetAppLogo(ctx, clientID, logo); err != nil {
			return storage.App{}, fmt.Errorf("apps: update %q: %w", clientID, err)
		}
		if app, err = s.Store.GetApp(ctx, clientID); err != nil {
			return storage.App{}, fmt.Errorf("apps: update %q: %w", clientID, err)
		}
	}
	if err := s.Store.Commit(ctx); err != nil {
		return storage.App{}, fmt.Errorf("apps: update %q: %w", clientID, err)
	}
	return app, nil
}

// RotateSecret gives the confidential app clientID a new client secret and
// returns it: like at registration, the only time it exists in clear. The
// previous secret keeps working for overlap (0: it stops at once; at most
// MaxSecretOverlap), so that a deployment can move to the new one without
// downtime. Only one previous secret is kept: rotating again during an
// overlap ends the older one. ErrPublicApp for a public app,
// storage.ErrNotFound when there is no such app.
func (s Service) RotateSecret(ctx context.Context, clientID string, overlap time.Duration) (string, error) {
	if overlap < 0 || overlap > MaxSecretOverlap {
		return "", fmt.Errorf("apps: rotate secret of %q: overlap %v is outside 0..%v", clientID, overlap, MaxSecretOverlap)
	}
	if s.Hasher == nil {
		return "", errors.New("apps: rotate secret: no secret hasher")
	}
	app, err := s.Store.GetApp(ctx, clientID)
	if err != nil {
		return "", fmt.Errorf("apps: rotate secret of %q: %w", clientID, err)
	}
	if app.Public {
		return "", fmt.Errorf("apps: rotate secret of %q: %w", clientID, ErrPublicApp)
	}
	clientSecret := secret.Token()
	var keepOldUntil time.Time
	if overlap > 0 {
		keepOldUntil = time.Now().Add(overlap)
	}
	if err := s.Store.RotateAppSecret(ctx, clientID, s.Hasher.Sum([]byte(clientSecret)), keepOldUntil); err != nil {
		return "", fmt.Errorf("apps: rotate secret of %q: %w", clientID, err)
	}
	return clientSecret, nil
}

// Delete removes the app clientID. The schema's ON DELETE CASCADE takes its
// codes, access and refresh tokens, pending consent challenges, remembered
// consent and logo with it, so every token it was issued stops working at
// once. storage.ErrNotFound when there is no such app.
func (s Service) Delete(ctx context.Context, clientID string) error {
	if err := s.Store.DeleteApp(ctx, clientID); err != nil {
		return fmt.Errorf("apps: delete %q: %w", clientID, err)
	}
	return nil
}

// CanView reports whether p may see app: apps are visible to the members of
// their workspace and to nobody else.
func CanView(p storage.Principal, app storage.App) bool {
	return p.WorkspaceID != "" && p.WorkspaceID == app.WorkspaceID
}

// CanManage reports whether p may edit, rotate the secret of or delete app:
// its creator and the administrators of its workspace may. Any member may
// register apps in their workspace.
func CanManage(p storage.Principal, app storage.App) bool {
	if !CanView(p, app) {
		return false
	}
	return (p.UserID != "" && p.UserID == app.OwnerID) || p.Role == storage.RoleAdmin
}
