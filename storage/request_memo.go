package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/ory/fosite"
)

// requestMemo holds rows one request has read already, so the reads fosite
// makes one at a time can be answered from a single batch read up front
// (PrepareTokenRequest, PrepareAuthorize). A nil *requestMemo knows nothing.
//
// Serving a row from the memo is reading it a moment earlier within the same
// request: every decision that must see the latest state is taken by a
// conditional write (a code's redemption, a refresh token's rotation), never
// by these reads.
type requestMemo struct {
	mu       sync.Mutex
	apps     map[string]*appRow     // client_id → row; nil: no such app
	sessions map[string]*sessionRow // table + key → row; nil: no such row
	grants   map[[2]string]*Grant   // user, client → grant; nil: none
	// oidcKeys maps a code's key to the key of its OpenID Connect row, when
	// there is one; oidcGone lists the rows deleted with their code.
	oidcKeys map[string]string
	oidcGone map[string]bool
	// refreshScopes, when set, are the granted scopes of the refresh token
	// this request stores (see TokenRequest.RefreshScopes).
	refreshScopes []string
	// authorizeClient is the client whose app and remembered grant the
	// first GetPrincipal reads along with the principal (PrepareAuthorize).
	authorizeClient string
	// signInEmail is the e-mail whose account the first CountLoginAttempts
	// reads along with the throttle's counts (PrepareSignIn); users holds
	// what it found, by the e-mail as given (nil: no such account).
	signInEmail string
	users       map[string]*User
}

type memoKey struct{}

func memoFrom(ctx context.Context) *requestMemo {
	m, _ := ctx.Value(memoKey{}).(*requestMemo)
	return m
}

func newMemo() *requestMemo {
	return &requestMemo{
		apps: map[string]*appRow{}, sessions: map[string]*sessionRow{}, grants: map[[2]string]*Grant{},
		oidcKeys: map[string]string{}, oidcGone: map[string]bool{}, users: map[string]*User{},
	}
}

// PrepareSignIn returns a context in which the first CountLoginAttempts
// also reads the account of email, in the same batch, and GetUserByEmail
// answers from what it read: a password sign-in costs one round trip less.
// The account is read whether or not the throttle lets the attempt
// through, so the answer takes as long either way. email must be valid
// UTF-8 without NUL (anything else is no account's e-mail; do not prepare it).
func (s *Store) PrepareSignIn(ctx context.Context, email string) context.Context {
	m := memoFrom(ctx)
	if m == nil {
		m = newMemo()
		ctx = context.WithValue(ctx, memoKey{}, m)
	}
	m.mu.Lock()
	m.signInEmail = email
	m.mu.Unlock()
	return ctx
}

// takeSignInEmail returns the e-mail PrepareSignIn left to read, once.
func (m *requestMemo) takeSignInEmail() (string, bool) {
	if m == nil {
		return "", false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	email := m.signInEmail
	m.signInEmail = ""
	return email, email != ""
}

func (m *requestMemo) putUser(email string, u *User) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.users[email] = u
}

func (m *requestMemo) user(email string) (u User, found, known bool) {
	if m == nil {
		return User{}, false, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, known := m.users[email]
	if !known || r == nil {
		return User{}, false, known
	}
	return *r, true, true
}

// WithCodeMemo returns a context in which the authorization-code row read
// first is reused by later reads of the same code. fosite reads a code twice
// during one exchange; the second read then costs no round trip. This is
// safe because the code is redeemed by InvalidateAuthorizeCodeSession, which
// succeeds only while the row is still active in the database.
func WithCodeMemo(ctx context.Context) context.Context {
	if memoFrom(ctx) != nil {
		return ctx
	}
	return context.WithValue(ctx, memoKey{}, newMemo())
}

func (m *requestMemo) app(clientID string) (a App, found, known bool) {
	if m == nil {
		return App{}, false, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, known := m.apps[clientID]
	if !known || r == nil {
		return App{}, false, known
	}
	return r.app(), true, true
}

func (m *requestMemo) session(t sessionTable, key string) (row *sessionRow, found, known bool) {
	if m == nil {
		return nil, false, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	row, known = m.sessions[t.name+"\x00"+key]
	return row, row != nil, known
}

func (m *requestMemo) putSession(t sessionTable, key string, row *sessionRow) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sessions[t.name+"\x00"+key] = row
}

func (m *requestMemo) grant(userID, clientID string) (g Grant, found, known bool) {
	if m == nil {
		return Grant{}, false, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, known := m.grants[[2]string{userID, clientID}]
	if p == nil {
		return Grant{}, false, known
	}
	return *p, true, true
}

// oidcKeyOf returns the key of the OpenID Connect row of the code whose key
// is codeKey, when the memo read one, and notes that it goes with the code.
func (m *requestMemo) oidcKeyOf(codeKey string) string {
	if m == nil {
		return ""
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := m.oidcKeys[codeKey]
	if k != "" {
		m.oidcGone[k] = true
	}
	return k
}

func (m *requestMemo) oidcGoneWithCode(oidcKey string) bool {
	if m == nil {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.oidcGone[oidcKey]
}

// grantedScopes are the granted scopes stored for r in t: the request's,
// except for a refresh token whose scopes the request set apart.
func grantedScopes(ctx context.Context, t sessionTable, r fosite.Requester) []string {
	if m := memoFrom(ctx); m != nil && t == refreshSessions {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.refreshScopes != nil {
			return m.refreshScopes
		}
	}
	return r.GetGrantedScopes()
}

// TokenRequest names what a token request will read, before fosite reads it.
type TokenRequest struct {
	ClientID string
	// CodeSignature and Code identify the authorization code of an
	// authorization_code grant: its row, its PKCE row and its OpenID
	// Connect row are read.
	CodeSignature, Code string
	// RefreshSignature identifies the refresh token of a refresh_token grant.
	RefreshSignature string
}

// KeepRefreshScopes makes the refresh token that the request of ctx (from
// PrepareTokenRequest) stores keep scopes as its granted scopes instead of
// the request's: a refresh that narrows the access token's scopes keeps the
// refresh token's (RFC 6749 §6).
func KeepRefreshScopes(ctx context.Context, scopes []string) {
	if m := memoFrom(ctx); m != nil {
		m.mu.Lock()
		m.refreshScopes = append([]string{}, scopes...)
		m.mu.Unlock()
	}
}

// PrepareTokenRequest reads the client and the code or refresh token rows of
// a token request in one batch (one round trip) and returns a context in
// which GetClient and the session reads are answered from it, and in which
// fosite's transaction is written as one batch on Commit (WithWriteBehind).
// On error the returned context still works, reading as usual.
func (s *Store) PrepareTokenRequest(ctx context.Context, tr TokenRequest) (context.Context, error) {
	m := newMemo()
	ctx = context.WithValue(WithWriteBehind(ctx), memoKey{}, m)

	b := &pgx.Batch{}
	var reads []func(pgx.Row) error
	if tr.ClientID != "" {
		b.Queue(`SELECT `+appColumns+`
		 FROM oauth_apps a LEFT JOIN oauth_app_logos l ON l.app_id = a.id
		 WHERE a.client_id = $1`, tr.ClientID)
		reads = append(reads, func(r pgx.Row) error {
			var a appRow
			err := r.Scan(a.dest()...)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				m.apps[tr.ClientID] = nil
			case err != nil:
				return mapError(err)
			default:
				m.apps[tr.ClientID] = &a
			}
			return nil
		})
	}
	readRow := func(t sessionTable, key string) {
		sql, args := s.sessionQuery(t, key)
		b.Queue(sql, args...)
		reads = append(reads, func(r pgx.Row) error {
			row, err := scanSession(t, r)
			switch {
			case errors.Is(err, fosite.ErrNotFound):
				m.sessions[t.name+"\x00"+key] = nil
			case err != nil:
				return err
			default:
				m.sessions[t.name+"\x00"+key] = row
				if t == oidcSessions {
					m.oidcKeys[hashSignature(tr.CodeSignature)] = key
				}
			}
			return nil
		})
	}
	if tr.CodeSignature != "" {
		key := hashSignature(tr.CodeSignature)
		readRow(codeSessions, key)
		readRow(pkceSessions, key)
		if tr.Code != "" {
			readRow(oidcSessions, hashSignature(tr.Code))
		}
	}
	if tr.RefreshSignature != "" {
		readRow(refreshSessions, hashSignature(tr.RefreshSignature))
	}
	if err := s.readBatch(ctx, b, reads); err != nil {
		// Forget what was read: fosite then reads for itself.
		return context.WithValue(ctx, memoKey{}, newMemo()), fmt.Errorf("storage: read token request: %w", err)
	}
	return ctx, nil
}

// PrepareAuthorize returns a context in which the first GetPrincipal also
// reads the app clientID and the principal's remembered grant to it, in the
// same batch; GetClient and GetGrant are then answered from it.
func (s *Store) PrepareAuthorize(ctx context.Context, clientID string) context.Context {
	m := newMemo()
	m.authorizeClient = clientID
	return context.WithValue(ctx, memoKey{}, m)
}

// readBatch sends b on the transaction of ctx or the pool and hands each
// result, in order, to its reader. It holds the memo's lock while it fills it.
func (s *Store) readBatch(ctx context.Context, b *pgx.Batch, reads []func(pgx.Row) error) error {
	if b.Len() == 0 {
		return nil
	}
	if m := memoFrom(ctx); m != nil {
		m.mu.Lock()
		defer m.mu.Unlock()
	}
	bctx, cancel := s.bound(ctx)
	defer cancel()
	var br pgx.BatchResults
	if tx, ok := ctx.Value(txKey{}).(pgx.Tx); ok {
		br = tx.SendBatch(bctx, b)
	} else {
		br = s.pool.SendBatch(bctx, b)
	}
	var first error
	for _, read := range reads {
		if err := read(br.QueryRow()); err != nil && first == nil {
			first = err
		}
	}
	if err := br.Close(); err != nil && first == nil {
		first = mapError(err)
	}
	return first
}
