package storage

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Non-fosite data access. Each method uses the transaction carried by ctx
// when there is one (see BeginTX), the pool otherwise.

// CreateWorkspace inserts a workspace. plan must be one of the Plan constants.
func (s *Store) CreateWorkspace(ctx context.Context, name, plan string) (Workspace, error) {
	w := Workspace{Name: name, Plan: plan}
	err := s.db(ctx).QueryRow(ctx,
		`INSERT INTO workspaces (name, plan) VALUES ($1, $2) RETURNING id, created_at`,
		name, plan).Scan(&w.ID, &w.CreatedAt)
	if err != nil {
		return Workspace{}, fmt.Errorf("storage: create workspace %q: %w", name, mapError(err))
	}
	return w, nil
}

// GetWorkspace returns ErrNotFound when id is unknown or not a UUID.
func (s *Store) GetWorkspace(ctx context.Context, id string) (Workspace, error) {
	var w Workspace
	err := s.db(ctx).QueryRow(ctx,
		`SELECT id, name, plan, created_at FROM workspaces WHERE id = $1`,
		id).Scan(&w.ID, &w.Name, &w.Plan, &w.CreatedAt)
	if err != nil {
		return Workspace{}, fmt.Errorf("storage: get workspace %q: %w", id, mapError(err))
	}
	return w, nil
}

// userColumns lists the columns scanned by scanUser, in order.
const userColumns = `id, email, password_hash, workspace_id, role, created_at, name, email_verified`

// userByEmailSQL reads the account of an e-mail, ignoring case.
const userByEmailSQL = `SELECT ` + userColumns + ` FROM users WHERE lower(email) = lower($1)`

func scanUser(row pgx.Row) (User, error) {
	var u User
	err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.WorkspaceID, &u.Role, &u.CreatedAt, &u.Name, &u.EmailVerified)
	return u, err
}

// CreateUser inserts a user; ErrConflict when the e-mail exists ignoring case,
// ErrNotFound when the workspace does not exist.
func (s *Store) CreateUser(ctx context.Context, u NewUser) (User, error) {
	role := u.Role
	if role == "" {
		role = RoleMember
	}
	name := u.Name
	if name == "" {
		name = DefaultName(u.Email)
	}
	user, err := scanUser(s.db(ctx).QueryRow(ctx,
		`INSERT INTO users (email, password_hash, workspace_id, role, name, email_verified)
		 VALUES ($1, $2, $3, $4, $5, $6)
		 RETURNING `+userColumns,
		u.Email, u.PasswordHash, u.WorkspaceID, role, name, u.EmailVerified))
	if err != nil {
		return User{}, fmt.Errorf("storage: create user %q: %w", u.Email, mapError(err))
	}
	return user, nil
}

// DefaultName is the display name of a user who gave none: the part of the
// e-mail before the @ (the whole address when that part is empty).
func DefaultName(email string) string {
	if i := strings.LastIndex(email, "@"); i > 0 {
		return email[:i]
	}
	return email
}

// GetUserByEmail looks an e-mail up ignoring case.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (User, error) {
	if u, found, known := memoFrom(ctx).user(email); known {
		if !found {
			return User{}, fmt.Errorf("storage: get user by e-mail: %w", ErrNotFound)
		}
		return u, nil
	}
	u, err := scanUser(s.db(ctx).QueryRow(ctx, userByEmailSQL, email))
	if err != nil {
		return User{}, fmt.Errorf("storage: get user by e-mail: %w", mapError(err))
	}
	return u, nil
}

// GetUser returns ErrNotFound when id is unknown or not a UUID.
func (s *Store) GetUser(ctx context.Context, id string) (User, error) {
	u, err := scanUser(s.db(ctx).QueryRow(ctx,
		`SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if err != nil {
		return User{}, fmt.Errorf("storage: get user %q: %w", id, mapError(err))
	}
	return u, nil
}

// CreateLoginSession records a browser sign-in; idHash is SHA-256 of the cookie's id.
func (s *Store) CreateLoginSession(ctx context.Context, idHash []byte, userID string, expiresAt time.Time) error {
	if err := s.write(ctx, queued{
		sql:  `INSERT INTO login_sessions (id_hash, user_id, expires_at) VALUES ($1, $2, $3)`,
		args: []any{idHash, userID, expiresAt},
	}); err != nil {
		return fmt.Errorf("storage: create login session for user %q: %w", userID, err)
	}
	return nil
}

// GetPrincipal loads the user and workspace of an unexpired login session in
// one query. In a context from PrepareAuthorize, the first call also reads
// the app and the principal's remembered grant to it, in the same batch.
func (s *Store) GetPrincipal(ctx context.Context, idHash []byte) (Principal, error) {
	var p Principal
	sql := `SELECT u.id, u.email, u.role, w.id, w.name, w.plan, s.id_hash, s.created_at, u.name, u.email_verified
		 FROM login_sessions s
		 JOIN users u ON u.id = s.user_id
		 JOIN workspaces w ON w.id = u.workspace_id
		 WHERE s.id_hash = $1 AND s.expires_at > now()`
	scan := func(r pgx.Row) error {
		return r.Scan(&p.UserID, &p.Email, &p.Role, &p.WorkspaceID, &p.WorkspaceName, &p.Plan,
			&p.LoginSessionID, &p.SignedInAt, &p.Name, &p.EmailVerified)
	}
	if m := memoFrom(ctx); m != nil && m.authorizeClient != "" {
		clientID := m.authorizeClient
		m.authorizeClient = ""
		var (
			a     appRow
			g     Grant
			found struct{ app, grant bool }
			perr  error
		)
		b := &pgx.Batch{}
		b.Queue(sql, idHash)
		b.Queue(`SELECT `+appColumns+`
		 FROM oauth_apps a LEFT JOIN oauth_app_logos l ON l.app_id = a.id
		 WHERE a.client_id = $1`, clientID)
		b.Queue(`SELECT g.user_id, g.client_id, g.scopes, g.granted_at, g.last_used_at
		 FROM consent_grants g JOIN login_sessions s ON s.user_id = g.user_id
		 WHERE s.id_hash = $1 AND g.client_id = $2`, idHash, clientID)
		optional := func(err error, ok *bool) error {
			*ok = err == nil
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return mapError(err)
		}
		err := s.readBatch(ctx, b, []func(pgx.Row) error{
			func(r pgx.Row) error { perr = scan(r); return nil },
			func(r pgx.Row) error { return optional(r.Scan(a.dest()...), &found.app) },
			func(r pgx.Row) error {
				return optional(r.Scan(&g.UserID, &g.ClientID, &g.Scopes, &g.GrantedAt, &g.LastUsedAt), &found.grant)
			},
		})
		if err == nil && perr != nil && !errors.Is(perr, pgx.ErrNoRows) {
			err = perr
		}
		if err != nil {
			return Principal{}, fmt.Errorf("storage: get principal: %w", mapError(err))
		}
		m.mu.Lock()
		if found.app {
			m.apps[clientID] = &a
		} else {
			m.apps[clientID] = nil
		}
		if perr == nil {
			if found.grant {
				m.grants[[2]string{p.UserID, clientID}] = &g
			} else {
				m.grants[[2]string{p.UserID, clientID}] = nil
			}
		}
		m.mu.Unlock()
		if perr != nil {
			return Principal{}, fmt.Errorf("storage: get principal: %w", mapError(perr))
		}
		return p, nil
	}
	if err := scan(s.db(ctx).QueryRow(ctx, sql, idHash)); err != nil {
		return Principal{}, fmt.Errorf("storage: get principal: %w", mapError(err))
	}
	return p, nil
}

// DeleteLoginSession signs a browser out. Deleting an unknown session is not an error.
func (s *Store) DeleteLoginSession(ctx context.Context, idHash []byte) error {
	if _, err := s.db(ctx).Exec(ctx,
		`DELETE FROM login_sessions WHERE id_hash = $1`, idHash); err != nil {
		return fmt.Errorf("storage: delete login session: %w", mapError(err))
	}
	return nil
}

// appColumns lists the columns scanned by appRow.dest, in order; queries
// alias oauth_apps as a and LEFT JOIN oauth_app_logos as l.
const appColumns = `a.id, a.client_id, a.secret_hash, a.rotated_secret_hash,
	a.rotated_secret_expires_at, a.name, a.redirect_uris, a.scopes, a.public,
	NOT a.pkce_required, a.workspace_id, coalesce(a.owner_id::text, ''), l.sha256, a.created_at, a.updated_at,
	a.homepage_url, a.privacy_url, a.description, a.id_token_alg, a.post_logout_redirect_uris`

// appRow receives appColumns, including the nullable ones.
type appRow struct {
	a          App
	rotatedExp *time.Time
	logoSHA256 *string
}

// dest returns the scan destinations matching appColumns.
func (r *appRow) dest() []any {
	return []any{
		&r.a.ID, &r.a.ClientID, &r.a.SecretHash, &r.a.RotatedSecretHash,
		&r.rotatedExp, &r.a.Name, &r.a.RedirectURIs, &r.a.Scopes, &r.a.Public,
		&r.a.PKCEOptional, &r.a.WorkspaceID, &r.a.OwnerID, &r.logoSHA256, &r.a.CreatedAt, &r.a.UpdatedAt,
		&r.a.HomepageURL, &r.a.PrivacyURL, &r.a.Description, &r.a.IDTokenAlg, &r.a.PostLogoutRedirectURIs,
	}
}

// app returns the scanned App with its nullable fields resolved.
func (r *appRow) app() App {
	a := r.a
	if r.rotatedExp != nil {
		a.RotatedSecretExpiresAt = *r.rotatedExp
	}
	if r.logoSHA256 != nil {
		a.HasLogo = true
		a.LogoSHA256 = *r.logoSHA256
	}
	return a
}

// getApp loads an app by client_id; errors are mapped but not wrapped.
func (s *Store) getApp(ctx context.Context, clientID string) (App, error) {
	var r appRow
	err := s.db(ctx).QueryRow(ctx,
		`SELECT `+appColumns+`
		 FROM oauth_apps a LEFT JOIN oauth_app_logos l ON l.app_id = a.id
		 WHERE a.client_id = $1`, clientID).Scan(r.dest()...)
	if err != nil {
		return App{}, mapError(err)
	}
	return r.app(), nil
}

// CreateApp registers an app (and its logo, in the same transaction).
// ErrConflict when the client_id is taken.
func (s *Store) CreateApp(ctx context.Context, a NewApp) (App, error) {
	app := App{
		ClientID:     a.ClientID,
		SecretHash:   a.SecretHash,
		Name:         a.Name,
		RedirectURIs: textArray(a.RedirectURIs),
		Scopes:       textArray(a.Scopes),
		Public:       a.Public,
		PKCEOptional: a.PKCEOptional && !a.Public,
		IDTokenAlg:   cmp.Or(a.IDTokenAlg, IDTokenRS256),
		WorkspaceID:  a.WorkspaceID,
		OwnerID:      a.OwnerID,
		HomepageURL:  a.HomepageURL,
		PrivacyURL:   a.PrivacyURL,
		Description:  a.Description,

		PostLogoutRedirectURIs: textArray(a.PostLogoutRedirectURIs),
	}
	err := s.inTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		if err := db.QueryRow(ctx,
			`INSERT INTO oauth_apps (client_id, secret_hash, name, redirect_uris, scopes, public, workspace_id, owner_id,
			                         homepage_url, privacy_url, description, pkce_required, id_token_alg, post_logout_redirect_uris)
			 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
			 RETURNING id, created_at, updated_at`,
			app.ClientID, app.SecretHash, app.Name, app.RedirectURIs, app.Scopes, app.Public,
			app.WorkspaceID, nullIfEmpty(app.OwnerID), app.HomepageURL, app.PrivacyURL, app.Description,
			!app.PKCEOptional, app.IDTokenAlg, app.PostLogoutRedirectURIs).Scan(&app.ID, &app.CreatedAt, &app.UpdatedAt); err != nil {
			return mapError(err)
		}
		if a.Logo == nil {
			return nil
		}
		sum := sha256.Sum256(a.Logo.Data)
		app.LogoSHA256 = hex.EncodeToString(sum[:])
		app.HasLogo = true
		if _, err := db.Exec(ctx,
			`INSERT INTO oauth_app_logos (app_id, content_type, data, sha256) VALUES ($1, $2, $3, $4)`,
			app.ID, a.Logo.ContentType, a.Logo.Data, app.LogoSHA256); err != nil {
			return fmt.Errorf("logo: %w", mapError(err))
		}
		return nil
	})
	if err != nil {
		return App{}, fmt.Errorf("storage: create app %q: %w", a.ClientID, err)
	}
	return app, nil
}

// nullIfEmpty is NULL for "" and s otherwise, for nullable columns.
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// GetApp loads an app by client_id without its logo bytes.
func (s *Store) GetApp(ctx context.Context, clientID string) (App, error) {
	a, err := s.getApp(ctx, clientID)
	if err != nil {
		return App{}, fmt.Errorf("storage: get app %q: %w", clientID, err)
	}
	return a, nil
}

// ListApps lists apps, newest first; all workspaces when workspaceID is "".
// A workspaceID that is not a UUID names no workspace and lists nothing.
func (s *Store) ListApps(ctx context.Context, workspaceID string) ([]App, error) {
	query := `SELECT ` + appColumns + `
		FROM oauth_apps a LEFT JOIN oauth_app_logos l ON l.app_id = a.id`
	var args []any
	if workspaceID != "" {
		query += ` WHERE a.workspace_id = $1`
		args = append(args, workspaceID)
	}
	query += ` ORDER BY a.created_at DESC, a.id`
	rows, err := s.db(ctx).Query(ctx, query, args...)
	if err != nil {
		return listAppsResult(workspaceID, nil, err)
	}
	apps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (App, error) {
		var r appRow
		err := row.Scan(r.dest()...)
		return r.app(), err
	})
	return listAppsResult(workspaceID, apps, err)
}

// listAppsResult finishes ListApps: a workspace id that is not a UUID
// (22P02) lists nothing rather than failing.
func listAppsResult(workspaceID string, apps []App, err error) ([]App, error) {
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == sqlstateInvalidTextRepresentation:
		return []App{}, nil
	case err != nil:
		return nil, fmt.Errorf("storage: list apps of workspace %q: %w", workspaceID, mapError(err))
	case apps == nil:
		return []App{}, nil
	}
	return apps, nil
}

// GetAppLogo returns ErrNotFound when the app has no logo.
func (s *Store) GetAppLogo(ctx context.Context, clientID string) (Logo, error) {
	var l Logo
	err := s.db(ctx).QueryRow(ctx,
		`SELECT l.content_type, l.data
		 FROM oauth_app_logos l JOIN oauth_apps a ON a.id = l.app_id
		 WHERE a.client_id = $1`, clientID).Scan(&l.ContentType, &l.Data)
	if err != nil {
		return Logo{}, fmt.Errorf("storage: get logo of app %q: %w", clientID, mapError(err))
	}
	return l, nil
}

// DeleteApp removes an app; its codes, tokens, consent and logo go with it.
// ErrNotFound when there is no such app.
func (s *Store) DeleteApp(ctx context.Context, clientID string) error {
	tag, err := s.db(ctx).Exec(ctx, `DELETE FROM oauth_apps WHERE client_id = $1`, clientID)
	if err != nil {
		return fmt.Errorf("storage: delete app %q: %w", clientID, mapError(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("storage: delete app %q: %w", clientID, ErrNotFound)
	}
	return nil
}

// CreateConsentChallenge stores a pending authorization for the consent screen.
func (s *Store) CreateConsentChallenge(ctx context.Context, c ConsentChallenge) error {
	if _, err := s.db(ctx).Exec(ctx,
		`INSERT INTO consent_challenges (id_hash, login_session_id, client_id, request_query, scopes, expires_at)
		 VALUES ($1, $2, $3, $4, $5, $6)`,
		c.IDHash, c.LoginSessionID, c.ClientID, c.RequestQuery, textArray(c.Scopes), c.ExpiresAt); err != nil {
		return fmt.Errorf("storage: create consent challenge for app %q: %w", c.ClientID, mapError(err))
	}
	return nil
}

// TakeConsentChallenge deletes and returns an unexpired challenge of this login
// session in one statement, so that a challenge is decided at most once.
// ErrNotFound when it is unknown, expired, already taken or of another session.
func (s *Store) TakeConsentChallenge(ctx context.Context, idHash, loginSessionID []byte) (ConsentChallenge, error) {
	var c ConsentChallenge
	err := s.db(ctx).QueryRow(ctx,
		`DELETE FROM consent_challenges
		 WHERE id_hash = $1 AND login_session_id = $2 AND expires_at > now()
		 RETURNING id_hash, login_session_id, client_id, request_query, scopes, expires_at`,
		idHash, loginSessionID).Scan(
		&c.IDHash, &c.LoginSessionID, &c.ClientID, &c.RequestQuery, &c.Scopes, &c.ExpiresAt)
	if err != nil {
		return ConsentChallenge{}, fmt.Errorf("storage: take consent challenge: %w", mapError(err))
	}
	return c, nil
}

// GetGrant returns the user's remembered consent for an app.
func (s *Store) GetGrant(ctx context.Context, userID, clientID string) (Grant, error) {
	if g, found, known := memoFrom(ctx).grant(userID, clientID); known {
		if !found {
			return Grant{}, fmt.Errorf("storage: get grant of user %q to app %q: %w", userID, clientID, ErrNotFound)
		}
		return g, nil
	}
	var g Grant
	err := s.db(ctx).QueryRow(ctx,
		`SELECT user_id, client_id, scopes, granted_at, last_used_at
		 FROM consent_grants WHERE user_id = $1 AND client_id = $2`,
		userID, clientID).Scan(&g.UserID, &g.ClientID, &g.Scopes, &g.GrantedAt, &g.LastUsedAt)
	if err != nil {
		return Grant{}, fmt.Errorf("storage: get grant of user %q to app %q: %w", userID, clientID, mapError(err))
	}
	return g, nil
}

// SaveGrant remembers consent, adding scopes to those already granted, and
// sets granted_at and last_used_at to now. The stored scopes keep their first
// order and hold no duplicates.
func (s *Store) SaveGrant(ctx context.Context, userID, clientID string, scopes []string) error {
	if err := s.write(ctx, queued{sql: `INSERT INTO consent_grants AS g (user_id, client_id, scopes, granted_at, last_used_at)
		 VALUES ($1, $2, ARRAY(SELECT s FROM unnest($3::text[]) WITH ORDINALITY AS t(s, n)
		                       GROUP BY s ORDER BY min(n)), now(), now())
		 ON CONFLICT (user_id, client_id) DO UPDATE SET
		     scopes = ARRAY(SELECT s FROM unnest(g.scopes || EXCLUDED.scopes) WITH ORDINALITY AS t(s, n)
		                    GROUP BY s ORDER BY min(n)),
		     granted_at = now(),
		     last_used_at = now()`,
		args: []any{userID, clientID, textArray(scopes)},
	}); err != nil {
		return fmt.Errorf("storage: save grant of user %q to app %q: %w", userID, clientID, err)
	}
	return nil
}

// ListSigningKeys returns every signing key, the latest to activate first.
func (s *Store) ListSigningKeys(ctx context.Context) ([]SigningKey, error) {
	rows, err := s.db(ctx).Query(ctx,
		`SELECT kid, alg, private_enc, public_jwk, created_at, activates_at, retired_at
		 FROM signing_keys ORDER BY activates_at DESC, created_at DESC, kid DESC`)
	if err != nil {
		return nil, fmt.Errorf("storage: list signing keys: %w", mapError(err))
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (SigningKey, error) {
		var (
			k       SigningKey
			jwk     []byte
			retired *time.Time
		)
		if err := row.Scan(&k.KID, &k.Alg, &k.PrivateEnc, &jwk, &k.CreatedAt, &k.ActivatesAt, &retired); err != nil {
			return SigningKey{}, err
		}
		k.PublicJWK = jwk
		if retired != nil {
			k.RetiredAt = *retired
		}
		return k, nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: list signing keys: %w", mapError(err))
	}
	return keys, nil
}

// signingKeyLock is the advisory lock key that serializes creating and
// rotating signing keys across instances (an arbitrary, fixed number).
const signingKeyLock = int64(0x6e78_7473_6b65_7973)

// EnsureSigningKey inserts the key made by gen unless an active (not retired)
// key of algorithm alg exists (gen must make a key of alg), under a transaction-scoped advisory lock so that instances
// starting together create one key between them. It reports whether it inserted.
func (s *Store) EnsureSigningKey(ctx context.Context, alg string, gen func() (SigningKey, error)) (bool, error) {
	inserted := false
	err := s.inTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		if _, err := db.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, signingKeyLock); err != nil {
			return fmt.Errorf("lock: %w", mapError(err))
		}
		var exists bool
		if err := db.QueryRow(ctx,
			`SELECT EXISTS (SELECT 1 FROM signing_keys WHERE retired_at IS NULL AND alg = $1)`, alg).Scan(&exists); err != nil {
			return mapError(err)
		}
		if exists {
			return nil
		}
		k, err := gen()
		if err != nil {
			return fmt.Errorf("generate: %w", err)
		}
		if k.Alg != alg {
			return fmt.Errorf("generated a %q key for %q", k.Alg, alg)
		}
		if err := insertSigningKey(ctx, db, k); err != nil {
			return err
		}
		inserted = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("storage: ensure signing key: %w", err)
	}
	return inserted, nil
}

// RotateSigningKey inserts k to start signing publishAhead from now (by the
// database's clock), and retires the current key(s) of k's algorithm at that same moment,
// atomically. Until then k is published but does not sign. It returns k's
// activation time. ErrConflict when k's kid is taken.
func (s *Store) RotateSigningKey(ctx context.Context, k SigningKey, publishAhead time.Duration) (time.Time, error) {
	if publishAhead < 0 {
		return time.Time{}, fmt.Errorf("storage: rotate signing key to %q: negative publish-ahead %v", k.KID, publishAhead)
	}
	var activates time.Time
	err := s.inTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		if _, err := db.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, signingKeyLock); err != nil {
			return fmt.Errorf("lock: %w", mapError(err))
		}
		if err := db.QueryRow(ctx,
			`SELECT now() + make_interval(secs => $1::float8)`, publishAhead.Seconds()).Scan(&activates); err != nil {
			return mapError(err)
		}
		if _, err := db.Exec(ctx,
			`UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL AND alg = $2`, activates, k.Alg); err != nil {
			return mapError(err)
		}
		k.ActivatesAt = activates
		return insertSigningKey(ctx, db, k)
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("storage: rotate signing key to %q: %w", k.KID, err)
	}
	return activates, nil
}

// insertSigningKey inserts k as the newest key; created_at is the
// database's now(), and so is activates_at unless k.ActivatesAt is set.
func insertSigningKey(ctx context.Context, db DBTX, k SigningKey) error {
	if k.KID == "" || len(k.PublicJWK) == 0 {
		return errors.New("signing key needs a kid and a public JWK")
	}
	var activates *time.Time
	if !k.ActivatesAt.IsZero() {
		activates = &k.ActivatesAt
	}
	if _, err := db.Exec(ctx,
		`INSERT INTO signing_keys (kid, alg, private_enc, public_jwk, activates_at)
		 VALUES ($1, $2, $3, $4::jsonb, coalesce($5, now()))`,
		k.KID, k.Alg, k.PrivateEnc, string(k.PublicJWK), activates); err != nil {
		return fmt.Errorf("insert key %q: %w", k.KID, mapError(err))
	}
	return nil
}
