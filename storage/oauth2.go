package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/pkce"
	fositestorage "github.com/ory/fosite/storage"
)

// The storage interfaces the fosite provider is composed with. compose.Compose
// only checks them at run time, so check them here at compile time.
var (
	_ fosite.Storage                = (*Store)(nil)
	_ oauth2.AuthorizeCodeStorage   = (*Store)(nil)
	_ oauth2.AccessTokenStorage     = (*Store)(nil)
	_ oauth2.RefreshTokenStorage    = (*Store)(nil)
	_ oauth2.TokenRevocationStorage = (*Store)(nil)
	_ pkce.PKCERequestStorage       = (*Store)(nil)
	_ fositestorage.Transactional   = (*Store)(nil)
)

// sessionTable describes one of the four tables holding fosite request
// sessions. They share one row shape (see migrations/001_init.sql).
type sessionTable struct {
	name string // table name
	what string // what a row is, for error messages
	// tokenType selects the session expiry copied into expires_at.
	tokenType fosite.TokenType
	// fallback is the row's lifetime from requested_at when the session
	// carries no expiry. It only tells DeleteExpired when to drop the row;
	// fosite reads expiry from the session.
	fallback time.Duration
	// inactive is returned, with the request, for a row marked inactive.
	inactive error
}

var (
	codeSessions = sessionTable{
		name: "oauth_codes", what: "authorize code", tokenType: fosite.AuthorizeCode,
		fallback: 24 * time.Hour, inactive: fosite.ErrInvalidatedAuthorizeCode,
	}
	pkceSessions = sessionTable{
		// A PKCE request lives exactly as long as its authorization code.
		name: "oauth_pkce", what: "pkce request", tokenType: fosite.AuthorizeCode,
		fallback: 24 * time.Hour, inactive: fosite.ErrInactiveToken,
	}
	accessSessions = sessionTable{
		name: "oauth_access_tokens", what: "access token", tokenType: fosite.AccessToken,
		fallback: 24 * time.Hour, inactive: fosite.ErrInactiveToken,
	}
	refreshSessions = sessionTable{
		name: "oauth_refresh_tokens", what: "refresh token", tokenType: fosite.RefreshToken,
		fallback: 365 * 24 * time.Hour, inactive: fosite.ErrInactiveToken,
	}
)

// hashSignature returns the row key of a token signature: hex SHA-256. JWT
// signatures are too long for a comfortable key, and the database never
// holds a signature an attacker could pair with a leaked token payload.
//
// A signature that starts with the token's time of issue (12 hex digits and
// ':', see authz.accessTokenStrategy) keeps those digits in front of the
// hash, so that new rows' keys sort after older ones and a new token's
// primary-key entry goes to the end of the index, a page that is in memory,
// rather than to a random page of millions.
func hashSignature(signature string) string {
	if len(signature) > timePrefixLen && signature[timePrefixLen] == ':' && isLowerHex(signature[:timePrefixLen]) {
		var key [timePrefixLen + 2*sha256.Size]byte
		copy(key[:], signature[:timePrefixLen])
		sum := sha256.Sum256([]byte(signature[timePrefixLen+1:]))
		hex.Encode(key[timePrefixLen:], sum[:])
		return string(key[:])
	}
	sum := sha256.Sum256([]byte(signature))
	return hex.EncodeToString(sum[:])
}

// timePrefixLen is the length of the time prefix of a signature: 48 bits
// of milliseconds in hex.
const timePrefixLen = 12

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// GetClient loads the app with this client_id for fosite. An unknown id is
// fosite.ErrNotFound, which fosite reports as invalid_client. fosite turns
// every error of GetClient into invalid_client, but keeps it as the cause
// (RFC6749Error.WithWrap): a database failure stays ErrUnavailable under
// errors.Is, so the endpoints can answer 503 instead.
func (s *Store) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	if a, found, known := memoFrom(ctx).app(id); known {
		if !found {
			return nil, fmt.Errorf("storage: get client %q: %w", id, fosite.ErrNotFound)
		}
		return newClient(a, s.opts.Audience), nil
	}
	a, err := s.getApp(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("storage: get client %q: %w", id, fosite.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: get client %q: %w", id, err)
	}
	return newClient(a, s.opts.Audience), nil
}

// ClientAssertionJWTValid would report a replayed private_key_jwt assertion.
// It is unreachable: Client does not implement fosite.OpenIDConnectClient, so
// fosite rejects every client assertion before it checks the JTI. It accepts
// rather than guessing at state it never records.
func (s *Store) ClientAssertionJWTValid(context.Context, string) error { return nil }

// SetClientAssertionJWT would record a private_key_jwt assertion's JTI. It is
// unreachable for the reason given on ClientAssertionJWTValid.
func (s *Store) SetClientAssertionJWT(context.Context, string, time.Time) error { return nil }

// CreateAuthorizeCodeSession stores the authorization request behind a code.
// signature is the code's HMAC signature, not the code.
func (s *Store) CreateAuthorizeCodeSession(ctx context.Context, signature string, r fosite.Requester) error {
	return s.createSession(ctx, codeSessions, signature, "", r)
}

// GetAuthorizeCodeSession loads the request behind a code into session. A
// code already redeemed yields the request together with
// fosite.ErrInvalidatedAuthorizeCode, so that fosite can revoke the tokens it
// produced; an unknown code yields fosite.ErrNotFound.
func (s *Store) GetAuthorizeCodeSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	return s.getSession(ctx, codeSessions, signature, session)
}

// InvalidateAuthorizeCodeSession marks a code as redeemed. The update is
// conditional on the code still being active and fails when it changes
// nothing, so of two concurrent redemptions exactly one commits (fosite #778):
// the other sees no active row, or a serialization failure.
func (s *Store) InvalidateAuthorizeCodeSession(ctx context.Context, signature string) error {
	key := hashSignature(signature)
	sql := `WITH redeemed AS (
	            UPDATE oauth_codes SET active = false WHERE signature = $1 AND active RETURNING 1
	        )
	        SELECT nextoria_require(count(*) = 1, 'active authorize code') FROM redeemed`
	args := []any{key}
	if oidcKey := memoFrom(ctx).oidcKeyOf(key); oidcKey != "" {
		// The code's OpenID Connect request goes with the redemption, in
		// the same statement: a code yields at most one ID token, and the
		// OpenID Connect handler's own deletion has nothing left to do.
		sql = `WITH redeemed AS (
		           UPDATE oauth_codes SET active = false WHERE signature = $1 AND active RETURNING 1
		       ), oidc AS (
		           DELETE FROM oauth_oidc_sessions WHERE signature = $2
		       )
		       SELECT nextoria_require(count(*) = 1, 'active authorize code') FROM redeemed`
		args = append(args, oidcKey)
	}
	err := s.write(ctx, queued{sql: sql, args: args, refused: fosite.ErrInvalidatedAuthorizeCode})
	if err != nil {
		return fmt.Errorf("storage: invalidate authorize code: %w", err)
	}
	return nil
}

// pkceParameters are the authorization request's PKCE parameters, which
// fosite's PKCE handler stores and reads back.
var pkceParameters = []string{"code_challenge", "code_challenge_method"}

// CreatePKCERequestSession stores the PKCE challenge of an authorization
// request, keyed by the code's signature. When the code's own row, waiting
// in the same write batch, already carries the same challenge (the server
// keeps the PKCE parameters in the code's form, see fosite's
// SanitationWhiteList), there is nothing to add: the code's row serves as
// the PKCE request too, and a new authorization writes one row, not two.
func (s *Store) CreatePKCERequestSession(ctx context.Context, signature string, r fosite.Requester) error {
	if p := pendingFrom(ctx); p != nil && p.codeCarries(hashSignature(signature), r.GetRequestForm(), pkceParameters) {
		return nil
	}
	return s.createSession(ctx, pkceSessions, signature, "", r)
}

// GetPKCERequestSession loads the PKCE request of a code: the code's row
// when its form carries the PKCE parameters, otherwise a row of oauth_pkce
// (written for codes issued before the code's row carried them);
// fosite.ErrNotFound when the authorization request had no challenge. The
// code having been redeemed does not matter here: the code's own check
// reports that.
func (s *Store) GetPKCERequestSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, err := s.getSession(ctx, codeSessions, signature, session)
	switch {
	case req != nil && (err == nil || errors.Is(err, fosite.ErrInvalidatedAuthorizeCode)):
		form := req.GetRequestForm()
		if form.Get("code_challenge") != "" || form.Get("code_challenge_method") != "" {
			return req.Sanitize(pkceParameters), nil
		}
	case err != nil && !errors.Is(err, fosite.ErrNotFound):
		return nil, err
	}
	return s.getSession(ctx, pkceSessions, signature, session)
}

// DeletePKCERequestSession keeps the PKCE request of a code: the row goes
// when the code expires (DeleteExpired). fosite calls this as soon as the
// verifier has matched, before the transaction that redeems the code; had
// the row gone then, a concurrent replay of the code would be refused for
// want of PKCE data before it reached the code check, and the tokens of the
// first redemption would not be revoked. Kept, every replay reaches the
// conditional redemption of the code, which detects it. The code itself,
// not this row, is what makes a redemption single use.
func (s *Store) DeletePKCERequestSession(context.Context, string) error {
	return nil
}

// CreateAccessTokenSession stores the request behind an access token.
func (s *Store) CreateAccessTokenSession(ctx context.Context, signature string, r fosite.Requester) error {
	return s.createSession(ctx, accessSessions, signature, "", r)
}

// GetAccessTokenSession loads the request behind an access token;
// fosite.ErrNotFound when it is unknown or revoked. Expired tokens are
// returned: fosite checks expiry from the session.
func (s *Store) GetAccessTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	return s.getSession(ctx, accessSessions, signature, session)
}

// DeleteAccessTokenSession removes an access token. Deleting nothing is not
// an error.
func (s *Store) DeleteAccessTokenSession(ctx context.Context, signature string) error {
	return s.deleteSession(ctx, accessSessions, signature)
}

// RevokeAccessToken deletes every access token of the grant requestID.
// Revoking nothing is not an error.
func (s *Store) RevokeAccessToken(ctx context.Context, requestID string) error {
	if _, err := s.db(ctx).Exec(ctx,
		`DELETE FROM oauth_access_tokens WHERE request_id = $1`, requestID); err != nil {
		return fmt.Errorf("storage: revoke access tokens: %w", mapError(err))
	}
	return nil
}

// CreateRefreshTokenSession stores the request behind a refresh token, with
// the signature of the access token issued alongside it: rotation deletes
// that access token.
func (s *Store) CreateRefreshTokenSession(ctx context.Context, signature, accessSignature string, r fosite.Requester) error {
	return s.createSession(ctx, refreshSessions, signature, accessSignature, r)
}

// GetRefreshTokenSession loads the request behind a refresh token. An unknown
// token is fosite.ErrNotFound. Any token of the grant but its current one
// (the one issued last) yields the request together with
// fosite.ErrInactiveToken, from which fosite detects reuse and revokes the
// whole grant; except that, with a RefreshGracePeriod, a token that was
// itself redeemed still counts as active until the period has passed since
// its first redemption (see RotateRefreshToken). A token superseded without
// ever being redeemed, or revoked, never does.
func (s *Store) GetRefreshTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	return s.getSession(ctx, refreshSessions, signature, session)
}

// DeleteRefreshTokenSession removes a refresh token. Deleting nothing is not
// an error.
//
// fosite v0.49.0 calls it in one place only: when a refresh token that is no
// longer active is presented (handleRefreshTokenReuse), first thing in the
// transaction that then revokes the whole grant. So the deletion of an
// existing row is where reuse is known for certain, and it records the
// token.reuse_detected audit event in that same transaction: the event
// exists exactly when the revocation commits.
func (s *Store) DeleteRefreshTokenSession(ctx context.Context, signature string) error {
	err := s.withTx(ctx, func(ctx context.Context) error {
		var clientID, subject, workspaceID string
		err := s.db(ctx).QueryRow(ctx,
			`WITH d AS (
			     DELETE FROM oauth_refresh_tokens WHERE signature = $1 RETURNING client_id, subject
			 )
			 SELECT d.client_id, d.subject, coalesce(a.workspace_id::text, '')
			 FROM d LEFT JOIN oauth_apps a ON a.client_id = d.client_id`,
			hashSignature(signature)).Scan(&clientID, &subject, &workspaceID)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return mapError(err)
		}
		ev := AuditEvent{
			WorkspaceID: workspaceID,
			ActorKind:   ActorClient,
			ActorID:     clientID,
			Action:      AuditTokenReuseDetected,
			Details:     map[string]any{"revoked": "every token of the grant"},
		}
		if isUUID(subject) {
			ev.TargetKind, ev.TargetID = TargetUser, subject
		}
		return s.RecordAudit(ctx, ev)
	})
	if err != nil {
		return fmt.Errorf("storage: delete refresh token: %w", err)
	}
	return nil
}

// RevokeRefreshToken deactivates every refresh token of the grant requestID.
// The rows stay, so a later use is detected as reuse; their grace period ends
// (first_used_at is cleared) so that a revoked token cannot come back to life
// through it. It holds the grant's chain lock (see lockRefreshChain), so a
// rotation in flight either commits first, and its new token is revoked too,
// or runs after and finds nothing to rotate. Revoking nothing is not an error.
func (s *Store) RevokeRefreshToken(ctx context.Context, requestID string) error {
	err := s.withTx(ctx, func(ctx context.Context) error {
		if err := s.lockRefreshChain(ctx, requestID); err != nil {
			return err
		}
		return s.write(ctx, queued{
			sql: `UPDATE oauth_refresh_tokens
			      SET active = false, first_used_at = NULL, expires_at = least(expires_at, now() + $2::interval)
			      WHERE request_id = $1 AND (active OR first_used_at IS NOT NULL)`,
			args: []any{requestID, s.retiredLifetime()},
		})
	})
	if err != nil {
		return fmt.Errorf("storage: revoke refresh tokens: %w", err)
	}
	return nil
}

// RotateRefreshToken retires the refresh token being redeemed, and with it
// every other live token of the grant, so that the pair fosite stores next in
// the same transaction is the grant's only live one. The rule, which holds
// however many requests present tokens of the grant at once:
//
//   - A grant has exactly one current refresh token (active): the one issued
//     last. A partial unique index (the refresh_chain migration) holds
//     the table to that.
//   - The current token may be redeemed. So may, with a RefreshGracePeriod,
//     a token that was itself redeemed less than the period ago (measured
//     from its first redemption; using it again does not extend the period):
//     a client that lost the response, or two tabs racing, get an answer.
//   - Every redemption supersedes the grant's current token: it is
//     deactivated and every access token of the grant is deleted. So the
//     answers to a token redeemed several times within its grace period all
//     work when they are returned, but only the last one issued survives;
//     the superseded ones were never redeemed, have no grace period, and
//     presenting one later is reuse, which revokes the whole grant (as does
//     presenting a redeemed token after its grace period). A thief who
//     copies a token therefore never gets a chain of their own: whichever of
//     thief and owner redeems second kills the other's chain, and the other's
//     next refresh revokes the grant.
//   - Without a grace period the token must be current.
//
// Anything else is fosite.ErrNotFound: the token was current or in its grace
// period when fosite read it, but a revocation, or the end of the period, came
// in between.
//
// Concurrent redemptions of the same grant serialize on the grant's chain
// lock, taken first (see lockRefreshChain); each then sees what the ones
// before it committed, so they all succeed in turn instead of failing to
// serialize.
func (s *Store) RotateRefreshToken(ctx context.Context, requestID, refreshSignature string) error {
	err := s.withTx(ctx, func(ctx context.Context) error {
		if err := s.lockRefreshChain(ctx, requestID); err != nil {
			return err
		}
		// One statement, so one snapshot, taken after the lock: retire the
		// token, supersede the current one (unless it is the token itself),
		// and delete the grant's access tokens. The access token paired with
		// a superseded refresh token was handed out with it, and the one
		// paired with the redeemed token was replaced by the new pair. Every
		// access token is issued paired with a refresh token and deleted
		// when that one is retired, so those two are all the grant has; they
		// are found by signature, not by grant, so that the statement does
		// not wade through the index entries of the grant's deleted ones. A
		// retired token's row is kept only as long as its grace period and
		// the reuse window need it (see Options.RefreshReuseWindow). Each
		// part reaches its rows through an index (the signature, and the
		// partial index of the grant's one active token), so the cost does
		// not grow with the length of the grant's chain. The partial index
		// is searched only when the token redeemed is not the current one
		// (a token in its grace period; the first redemption of the
		// current one sets first_used_at to now()): the current one is the
		// grant's only active token, and the search would visit the index
		// entries left by each earlier rotation until a vacuum removes them.
		return s.write(ctx, queued{
			sql:  rotateRefreshSQL,
			args: []any{hashSignature(refreshSignature), requestID, s.opts.RefreshGracePeriod, s.retiredLifetime()},
			// The token was current or in its grace period when fosite read
			// it, but a revocation, or the end of the period, came in between.
			refused: fosite.ErrNotFound,
		})
	})
	if err != nil {
		return fmt.Errorf("storage: rotate refresh token: %w", err)
	}
	return nil
}

// rotateRefreshSQL is RotateRefreshToken's statement: $1 the hashed
// signature, $2 the grant, $3 the grace period, $4 retiredLifetime.
//
// Each part reaches its rows by an equality on one index that nothing else
// in the statement competes with, so the plan cannot depend on statistics.
// A pooled connection keeps a statement's generic plan for its lifetime, and
// one made while the tables were small (a new deployment, or no ANALYZE yet)
// was seen to read the redeemed token through the grant's request_id index
// and to delete the access tokens by a sequential scan: both grow with every
// rotation. So the grant is compared with "IS NOT DISTINCT FROM", which no
// index serves (the columns are NOT NULL, so it means "="), and each access
// token is deleted by its own scalar equality on the primary key (a grant
// has at most one superseded token: one active token per grant).
const rotateRefreshSQL = `WITH rotated AS (
	    UPDATE oauth_refresh_tokens
	    SET active = false, first_used_at = COALESCE(first_used_at, now()),
	        expires_at = least(expires_at, now() + $4::interval)
	    WHERE signature = $1 AND request_id IS NOT DISTINCT FROM $2
	      AND (active OR ($3::interval > '0' AND first_used_at + $3::interval > now()))
	    RETURNING request_id, access_token_signature, first_used_at = now() AS was_current
	), superseded AS (
	    UPDATE oauth_refresh_tokens t
	    SET active = false, expires_at = least(t.expires_at, now() + $4::interval)
	    FROM rotated r
	    WHERE NOT r.was_current AND t.request_id = r.request_id AND t.active AND t.signature <> $1
	    RETURNING t.access_token_signature
	), paired AS (
	    DELETE FROM oauth_access_tokens
	    WHERE signature = (SELECT access_token_signature FROM rotated)
	), paired_superseded AS (
	    DELETE FROM oauth_access_tokens
	    WHERE signature = (SELECT access_token_signature FROM superseded)
	)
	SELECT nextoria_require(count(*) > 0, 'refresh token current or in its grace period')
	FROM rotated`

// retiredLifetime is how long a retired refresh token's row is kept: its
// grace period, then the reuse window.
func (s *Store) retiredLifetime() time.Duration {
	return max(s.opts.RefreshGracePeriod, 0) + s.opts.RefreshReuseWindow
}

// RefreshTokenGraceEnd reports when a redeemed refresh token that is still in
// its grace period stops working. ok is false for any other token: the
// grant's current one, which lasts until its own expiry, and one that no
// longer works at all.
func (s *Store) RefreshTokenGraceEnd(ctx context.Context, signature string) (end time.Time, ok bool, err error) {
	if s.opts.RefreshGracePeriod <= 0 {
		return time.Time{}, false, nil
	}
	err = s.db(ctx).QueryRow(ctx,
		`SELECT first_used_at + $2::interval FROM oauth_refresh_tokens
		 WHERE signature = $1 AND NOT active AND first_used_at + $2::interval > now()`,
		hashSignature(signature), s.opts.RefreshGracePeriod).Scan(&end)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("storage: refresh token grace period: %w", mapError(err))
	}
	return end, true, nil
}

// refreshChainLockSpace is the first key of the transaction-scoped advisory
// locks that serialize changes to one grant's refresh tokens; the second is
// the hash of the grant's request id. Two-key advisory locks never collide
// with the one-key ones used elsewhere (signing keys, migrations).
const refreshChainLockSpace = 0x72746368 // "rtch"

// lockRefreshChain takes the grant's chain lock for the rest of the
// transaction in ctx. Rotations and revocations of a grant take it first, so
// they run one after the other; two grants whose ids hash alike merely wait
// for each other.
//
// It is only worth anything under READ COMMITTED, which is why BeginTX uses
// that level: every later statement takes a new snapshot that includes what
// the previous holder committed (the successor it inserted, the tokens it
// retired). Under REPEATABLE READ the snapshot would be the one taken by this
// very statement, before the wait, and the next UPDATE of a row the previous
// holder changed would fail to serialize (40001), whatever lock was held.
func (s *Store) lockRefreshChain(ctx context.Context, requestID string) error {
	return s.write(ctx, queued{
		sql:  `SELECT pg_advisory_xact_lock($1, hashtext($2))`,
		args: []any{refreshChainLockSpace, requestID},
	})
}

// withTx runs fn on the transaction carried by ctx, or, when there is none,
// in a transaction of its own (see inTx), so that a transaction-scoped lock
// taken by fn lasts until its changes are committed.
func (s *Store) withTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := ctx.Value(txKey{}).(pgx.Tx); ok || pendingFrom(ctx) != nil {
		return fn(ctx)
	}
	return s.inTx(ctx, fn)
}

// createSession inserts a request session into t. accessSignature is stored
// only in the refresh token table.
func (s *Store) createSession(ctx context.Context, t sessionTable, signature, accessSignature string, r fosite.Requester) error {
	client := r.GetClient()
	if client == nil {
		return fmt.Errorf("storage: create %s: request has no client", t.what)
	}
	var (
		subject   string
		expiresAt time.Time
	)
	session := r.GetSession()
	if session != nil {
		subject = session.GetSubject()
		expiresAt = session.GetExpiresAt(t.tokenType)
	}
	data, err := encodeSession(session)
	if err != nil {
		return fmt.Errorf("storage: create %s: encode session: %w", t.what, err)
	}
	requestedAt := r.GetRequestedAt()
	if requestedAt.IsZero() {
		requestedAt = time.Now()
	}
	if expiresAt.IsZero() {
		expiresAt = requestedAt.Add(t.fallback)
	}

	cols := `signature, request_id, requested_at, client_id, subject, scopes, granted_scopes,
		requested_audience, granted_audience, form_data, session_data, expires_at`
	vals := `$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12`
	args := []any{
		hashSignature(signature), r.GetID(), requestedAt.UTC(), client.GetID(), subject,
		textArray(r.GetRequestedScopes()), textArray(grantedScopes(ctx, t, r)),
		textArray(r.GetRequestedAudience()), textArray(r.GetGrantedAudience()),
		r.GetRequestForm().Encode(), data, expiresAt.UTC(),
	}
	if t == refreshSessions && accessSignature != "" {
		cols += `, access_token_signature`
		vals += `, $13`
		args = append(args, hashSignature(accessSignature))
	}
	if err := s.write(ctx, queued{sql: `INSERT INTO ` + t.name + ` (` + cols + `) VALUES (` + vals + `)`, args: args}); err != nil {
		return fmt.Errorf("storage: create %s: %w", t.what, err)
	}
	if p := pendingFrom(ctx); t == codeSessions && p != nil && p.tx == nil {
		p.noteCode(hashSignature(signature), r.GetRequestForm())
	}
	return nil
}

// sessionRow is one row of a session table as read from the database.
type sessionRow struct {
	requestID, form                         string
	requestedAt                             time.Time
	scopes, granted, reqAudience, audiences []string
	data                                    []byte
	active, usable                          bool
	app                                     appRow
}

// getSession loads a request session from t, re-hydrating its client in the
// same query, and unmarshals the session data into session unless it is nil
// (the revocation handler passes nil). An inactive row is returned together
// with t.inactive.
func (s *Store) getSession(ctx context.Context, t sessionTable, signature string, session fosite.Session) (fosite.Requester, error) {
	key := hashSignature(signature)
	memo := memoFrom(ctx)
	row, found, known := memo.session(t, key)
	switch {
	case known && !found:
		return nil, fmt.Errorf("storage: get %s: %w", t.what, fosite.ErrNotFound)
	case !known:
		var err error
		if row, err = s.readSession(ctx, t, key); err != nil {
			return nil, err
		}
		if t == codeSessions {
			memo.putSession(t, key, row)
		}
	}

	values, err := url.ParseQuery(row.form)
	if err != nil {
		return nil, fmt.Errorf("storage: get %s: decode form: %w", t.what, err)
	}
	if session != nil {
		if err := decodeSession(row.data, session); err != nil {
			return nil, fmt.Errorf("storage: get %s: decode session: %w", t.what, err)
		}
	}
	req := &fosite.Request{
		ID:                row.requestID,
		RequestedAt:       row.requestedAt.UTC(),
		Client:            newClient(row.app.app(), s.opts.Audience),
		RequestedScope:    row.scopes,
		GrantedScope:      row.granted,
		RequestedAudience: row.reqAudience,
		GrantedAudience:   row.audiences,
		Form:              values,
		Session:           session,
	}
	if !row.active && !row.usable {
		return req, fmt.Errorf("storage: get %s: %w", t.what, t.inactive)
	}
	return req, nil
}

// readSession reads a row of t, with its client, by the hashed signature.
// Access tokens are read through s.accessReads, which answers concurrent
// introspections with one statement.
func (s *Store) readSession(ctx context.Context, t sessionTable, key string) (*sessionRow, error) {
	if t == accessSessions {
		row, found, err := s.accessReads.get(ctx, key)
		switch {
		case err != nil:
			return nil, fmt.Errorf("storage: get %s: %w", t.what, err)
		case !found:
			return nil, fmt.Errorf("storage: get %s: %w", t.what, fosite.ErrNotFound)
		}
		return row, nil
	}
	sql, args := s.sessionQuery(t, key)
	return scanSession(t, s.db(ctx).QueryRow(ctx, sql, args...))
}

// inTransaction reports whether statements on ctx run in a transaction,
// ordinary or pending.
func inTransaction(ctx context.Context) bool {
	_, ok := ctx.Value(txKey{}).(pgx.Tx)
	return ok || pendingFrom(ctx) != nil
}

// sessionColumns are the columns of a token table t that a session read
// selects, before its grace flag and the app's columns.
const sessionColumns = `t.request_id, t.requested_at, t.scopes, t.granted_scopes,
	t.requested_audience, t.granted_audience, t.form_data, t.session_data, t.active`

// sessionQuery is the statement reading a row of t, with its client.
func (s *Store) sessionQuery(t sessionTable, key string) (string, []any) {
	inGrace := `false`
	args := []any{key}
	if t == refreshSessions && s.opts.RefreshGracePeriod > 0 {
		inGrace = `t.first_used_at IS NOT NULL AND t.first_used_at + $2::interval > now()`
		args = append(args, s.opts.RefreshGracePeriod)
	}
	return `SELECT ` + sessionColumns + `, ` + inGrace + `, ` + appColumns + `
		 FROM ` + t.name + ` t
		 JOIN oauth_apps a ON a.client_id = t.client_id
		 LEFT JOIN oauth_app_logos l ON l.app_id = a.id
		 WHERE t.signature = $1`, args
}

// accessReadsSQL reads several access tokens (by hashed signature, $1) at
// once. Each token's app is joined laterally, behind OFFSET 0 (which keeps
// the planner from flattening the subquery into a plain join), so that it
// is found through its key whatever the number of tokens: a plain join lets
// the planner hash the whole app table.
const accessReadsSQL = `SELECT t.signature, ` + sessionColumns + `, false, a.*
	 FROM oauth_access_tokens t
	 CROSS JOIN LATERAL (
	     SELECT ` + appColumns + `
	     FROM oauth_apps a LEFT JOIN oauth_app_logos l ON l.app_id = a.id
	     WHERE a.client_id = t.client_id
	     OFFSET 0) a
	 WHERE t.signature = ANY($1::text[])`

// fetchAccessSessions reads the access tokens keys in one statement: the
// fetch of s.accessReads.
func (s *Store) fetchAccessSessions(ctx context.Context, keys []string) ([]*sessionRow, []bool, error) {
	rows := make([]*sessionRow, len(keys))
	found := make([]bool, len(keys))
	if len(keys) == 1 {
		sql, args := s.sessionQuery(accessSessions, keys[0])
		row := &sessionRow{}
		err := s.db(ctx).QueryRow(ctx, sql, args...).Scan(row.dest()...)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return rows, found, nil
		case err != nil:
			return nil, nil, mapError(err)
		}
		rows[0], found[0] = row, true
		return rows, found, nil
	}
	r, err := s.db(ctx).Query(ctx, accessReadsSQL, keys)
	if err != nil {
		return nil, nil, mapError(err)
	}
	defer r.Close()
	byKey := make(map[string]*sessionRow, len(keys))
	for r.Next() {
		var sig string
		row := &sessionRow{}
		if err := r.Scan(append([]any{&sig}, row.dest()...)...); err != nil {
			return nil, nil, mapError(err)
		}
		byKey[sig] = row
	}
	if err := r.Err(); err != nil {
		return nil, nil, mapError(err)
	}
	for i, k := range keys {
		rows[i], found[i] = byKey[k]
	}
	return rows, found, nil
}

// scanSession scans the row of sessionQuery.
func scanSession(t sessionTable, r pgx.Row) (*sessionRow, error) {
	row := &sessionRow{}
	err := r.Scan(row.dest()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("storage: get %s: %w", t.what, fosite.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: get %s: %w", t.what, mapError(err))
	}
	return row, nil
}

// dest returns the scan destinations of a session read's columns.
func (row *sessionRow) dest() []any {
	return append([]any{
		&row.requestID, &row.requestedAt, &row.scopes, &row.granted, &row.reqAudience, &row.audiences,
		&row.form, &row.data, &row.active, &row.usable,
	}, row.app.dest()...)
}

// deleteSession removes a row of t by signature; deleting nothing is not an error.
func (s *Store) deleteSession(ctx context.Context, t sessionTable, signature string) error {
	if _, err := s.db(ctx).Exec(ctx,
		`DELETE FROM `+t.name+` WHERE signature = $1`, hashSignature(signature)); err != nil {
		return fmt.Errorf("storage: delete %s: %w", t.what, mapError(err))
	}
	return nil
}

// textArray turns a nil slice into an empty one: pgx sends nil as NULL, and
// the array columns are NOT NULL.
func textArray[S ~[]string](v S) []string {
	if v == nil {
		return []string{}
	}
	return []string(v)
}
