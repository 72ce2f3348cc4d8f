package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// AppUpdate is the input of UpdateApp: what a developer may change after
// registration. Whether an app is public is fixed when it is created, and the
// logo changes through SetAppLogo.
type AppUpdate struct {
	Name         string
	RedirectURIs []string
	Scopes       []string
	HomepageURL  string
	PrivacyURL   string
	Description  string
	// PKCEOptional, when set, changes whether a confidential app may omit
	// PKCE; nil keeps the current setting. Public apps always need PKCE.
	PKCEOptional *bool
	// IDTokenAlg, when not empty, changes the algorithm of the app's ID
	// tokens (IDTokenRS256 or IDTokenES256).
	IDTokenAlg string
	// PostLogoutRedirectURIs replaces the post-logout redirect URIs; nil
	// or empty removes them all.
	PostLogoutRedirectURIs []string
}

// UpdateApp replaces an app's name, redirect URIs, post-logout redirect URIs,
// scopes and profile (homepage,
// privacy policy, description) and returns the
// app as stored. ErrNotFound when there is no such app. Tokens already issued
// keep their scopes; the new settings apply from the next authorization.
func (s *Store) UpdateApp(ctx context.Context, clientID string, u AppUpdate) (App, error) {
	var r appRow
	err := s.db(ctx).QueryRow(ctx,
		`WITH a AS (
		     UPDATE oauth_apps SET name = $2, redirect_uris = $3, scopes = $4,
		         homepage_url = $5, privacy_url = $6, description = $7,
		         pkce_required = public OR NOT coalesce($8, NOT pkce_required),
		         id_token_alg = coalesce(nullif($9, ''), id_token_alg),
		         post_logout_redirect_uris = $10, updated_at = now()
		     WHERE client_id = $1
		     RETURNING *)
		 SELECT `+appColumns+`
		 FROM a LEFT JOIN oauth_app_logos l ON l.app_id = a.id`,
		clientID, u.Name, textArray(u.RedirectURIs), textArray(u.Scopes),
		u.HomepageURL, u.PrivacyURL, u.Description, u.PKCEOptional, u.IDTokenAlg, textArray(u.PostLogoutRedirectURIs)).Scan(r.dest()...)
	if err != nil {
		return App{}, fmt.Errorf("storage: update app %q: %w", clientID, mapError(err))
	}
	return r.app(), nil
}

// SetAppPKCEOptional sets whether a confidential app may omit PKCE and
// returns the app as stored; a public app always requires PKCE, whatever
// optional says. ErrNotFound when there is no such app.
func (s *Store) SetAppPKCEOptional(ctx context.Context, clientID string, optional bool) (App, error) {
	var r appRow
	err := s.db(ctx).QueryRow(ctx,
		`WITH a AS (
		     UPDATE oauth_apps SET pkce_required = public OR NOT $2, updated_at = now()
		     WHERE client_id = $1
		     RETURNING *)
		 SELECT `+appColumns+`
		 FROM a LEFT JOIN oauth_app_logos l ON l.app_id = a.id`,
		clientID, optional).Scan(r.dest()...)
	if err != nil {
		return App{}, fmt.Errorf("storage: set PKCE of app %q: %w", clientID, mapError(err))
	}
	return r.app(), nil
}

// SetAppLogo replaces an app's logo, or removes it when logo is nil, and
// bumps the app's updated_at. The logo must already be validated and
// re-encoded (apps.NormalizeLogo); its SHA-256 becomes the new cache-busting
// version of the logo URL. ErrNotFound when there is no such app.
func (s *Store) SetAppLogo(ctx context.Context, clientID string, logo *Logo) error {
	if logo != nil && (len(logo.Data) == 0 || logo.ContentType == "") {
		return fmt.Errorf("storage: set logo of app %q: logo needs data and a content type", clientID)
	}
	err := s.inTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		var appID string
		if err := db.QueryRow(ctx,
			`UPDATE oauth_apps SET updated_at = now() WHERE client_id = $1 RETURNING id`,
			clientID).Scan(&appID); err != nil {
			return mapError(err)
		}
		if logo == nil {
			_, err := db.Exec(ctx, `DELETE FROM oauth_app_logos WHERE app_id = $1`, appID)
			return mapError(err)
		}
		sum := sha256.Sum256(logo.Data)
		_, err := db.Exec(ctx,
			`INSERT INTO oauth_app_logos (app_id, content_type, data, sha256) VALUES ($1, $2, $3, $4)
			 ON CONFLICT (app_id) DO UPDATE SET
			     content_type = EXCLUDED.content_type,
			     data = EXCLUDED.data,
			     sha256 = EXCLUDED.sha256,
			     updated_at = now()`,
			appID, logo.ContentType, logo.Data, hex.EncodeToString(sum[:]))
		return mapError(err)
	})
	if err != nil {
		return fmt.Errorf("storage: set logo of app %q: %w", clientID, err)
	}
	return nil
}

// RotateAppSecret makes newHash the app's secret hash. With a zero
// keepOldUntil the previous secret stops working at once (the rotated columns
// are cleared); otherwise it stays valid until keepOldUntil, which
// Client.GetRotatedHashes honours. Only one previous secret is kept: rotating
// again during an overlap ends the older one. ErrNotFound when there is no
// such confidential app (public apps have no secret).
func (s *Store) RotateAppSecret(ctx context.Context, clientID string, newHash []byte, keepOldUntil time.Time) error {
	if len(newHash) == 0 {
		return errors.New("storage: rotate secret of app: the new hash is empty")
	}
	var until *time.Time
	if !keepOldUntil.IsZero() {
		until = &keepOldUntil
	}
	tag, err := s.db(ctx).Exec(ctx,
		`UPDATE oauth_apps SET
		     rotated_secret_hash = CASE WHEN $3::timestamptz IS NULL THEN NULL ELSE secret_hash END,
		     rotated_secret_expires_at = $3::timestamptz,
		     secret_hash = $2,
		     updated_at = now()
		 WHERE client_id = $1 AND NOT public`,
		clientID, newHash, until)
	if err == nil && tag.RowsAffected() == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("storage: rotate secret of app %q: %w", clientID, mapError(err))
	}
	return nil
}
