package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Actions of the audit log. Every event names one of them.
const (
	AuditSignInSucceeded    = "signin.succeeded"
	AuditSignInFailed       = "signin.failed"
	AuditSignInThrottled    = "signin.throttled"
	AuditSignOut            = "signout"
	AuditConsentGranted     = "consent.granted"
	AuditConsentDenied      = "consent.denied"
	AuditConsentRevoked     = "consent.revoked"
	AuditTokenReuseDetected = "token.reuse_detected"
	AuditAppCreated         = "app.created"
	AuditAppUpdated         = "app.updated"
	AuditAppSecretRotated   = "app.secret_rotated"
	AuditAppDeleted         = "app.deleted"
	AuditAPIKeyCreated      = "api_key.created"
	AuditAPIKeyRevoked      = "api_key.revoked"
	AuditSigningKeyRotated  = "signing_key.rotated"
)

// AuditActions lists every action, in the order the Security log's filter
// offers them.
var AuditActions = []string{
	AuditSignInSucceeded, AuditSignInFailed, AuditSignInThrottled, AuditSignOut,
	AuditConsentGranted, AuditConsentDenied, AuditConsentRevoked, AuditTokenReuseDetected,
	AuditAppCreated, AuditAppUpdated, AuditAppSecretRotated, AuditAppDeleted,
	AuditAPIKeyCreated, AuditAPIKeyRevoked, AuditSigningKeyRotated,
}

// Kinds of actor: who made the change.
const (
	// ActorUser is a signed-in person; the actor id is their user id.
	ActorUser = "user"
	// ActorOperator is someone running the command line on a server; the
	// actor id is their operating-system user name.
	ActorOperator = "operator"
	// ActorClient is an OAuth client; the actor id is its client_id.
	ActorClient = "client"
	// ActorSystem is the server itself.
	ActorSystem = "system"
	// ActorRegistrationToken is an initial access token of the client
	// registration API (RFC 7591); the actor id is the token's id.
	ActorRegistrationToken = "registration_token"
)

// Kinds of target: what the event is about.
const (
	TargetUser       = "user"        // a user id
	TargetApp        = "app"         // an app's client_id
	TargetAPIKey     = "api_key"     // an API key's id
	TargetSigningKey = "signing_key" // a signing key's kid
)

// AuditEvent is one entry of the audit log. It never holds a secret: no
// token, password, client secret, API key, nor a hash of one.
type AuditEvent struct {
	ID   int64     // set by the database
	Time time.Time // set by the database: the time of its transaction
	// WorkspaceID is the workspace whose administrators see the event: the
	// user's own for sign-in and consent events, the app's or key's for
	// app and key events. Empty for none.
	WorkspaceID string
	ActorKind   string // ActorUser, ActorOperator, ActorClient, ActorSystem or ActorRegistrationToken
	ActorID     string
	Action      string // one of AuditActions
	TargetKind  string // "" or one of the Target constants
	TargetID    string
	// ClientIP and UserAgent are those of the HTTP request the change came
	// from. RecordAudit fills them from the context (WithRequestSource)
	// when they are left empty.
	ClientIP  netip.Addr
	UserAgent string
	// Details holds what else is worth knowing (the app's name, the scopes
	// granted); never a secret.
	Details map[string]any

	// ActorEmail and TargetEmail are the e-mail addresses of the users the
	// actor and target ids name, when they still exist; filled by
	// ListAuditEvents only.
	ActorEmail  string
	TargetEmail string
}

// maxUserAgent bounds the stored User-Agent, in bytes.
const maxUserAgent = 512

// requestSourceKey is the context key of WithRequestSource.
type requestSourceKey struct{}

// requestSource is where an HTTP request came from.
type requestSource struct {
	ip        netip.Addr
	userAgent string
}

// WithRequestSource returns ctx carrying the client address and User-Agent of
// the HTTP request being served, which RecordAudit stamps on its events. The
// address is the one the server trusts (the peer, or the trusted proxy's
// X-Forwarded-For entry).
func WithRequestSource(ctx context.Context, ip netip.Addr, userAgent string) context.Context {
	return context.WithValue(ctx, requestSourceKey{}, requestSource{ip: ip, userAgent: userAgent})
}

// RequestSource returns the client address and User-Agent carried by ctx
// (see WithRequestSource); ok is false when there are none.
func RequestSource(ctx context.Context) (ip netip.Addr, userAgent string, ok bool) {
	src, ok := ctx.Value(requestSourceKey{}).(requestSource)
	return src.ip, src.userAgent, ok
}

// cleanUserAgent makes a User-Agent storable: valid UTF-8 without NUL or
// other control characters, at most maxUserAgent bytes.
func cleanUserAgent(ua string) string {
	ua = strings.ToValidUTF8(ua, "\uFFFD")
	ua = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, ua)
	if len(ua) <= maxUserAgent {
		return ua
	}
	cut := maxUserAgent
	for cut > 0 && !utf8.RuneStart(ua[cut]) {
		cut--
	}
	return ua[:cut]
}

// validate reports what is wrong with ev before it reaches the database.
func (ev AuditEvent) validate() error {
	var errs []error
	if !slices.Contains(AuditActions, ev.Action) {
		errs = append(errs, fmt.Errorf("unknown action %q", ev.Action))
	}
	switch ev.ActorKind {
	case ActorUser, ActorOperator, ActorClient, ActorSystem, ActorRegistrationToken:
	default:
		errs = append(errs, fmt.Errorf("unknown actor kind %q", ev.ActorKind))
	}
	switch ev.TargetKind {
	case "", TargetUser, TargetApp, TargetAPIKey, TargetSigningKey:
	default:
		errs = append(errs, fmt.Errorf("unknown target kind %q", ev.TargetKind))
	}
	if len(ev.ActorID) > 200 || len(ev.TargetID) > 200 {
		errs = append(errs, errors.New("actor and target ids must have at most 200 bytes"))
	}
	return errors.Join(errs...)
}

// RecordAudit appends ev to the audit log, in the transaction carried by ctx
// when there is one, so that the event commits or rolls back with the change
// it records (in a write batch, it waits with the batch's other writes). Use
// it alone for events that change nothing else (a failed sign-in), and
// Audited for changes.
func (s *Store) RecordAudit(ctx context.Context, ev AuditEvent) error {
	args, err := auditArgs(ctx, ev)
	if err != nil {
		return fmt.Errorf("storage: record audit event %s: %w", ev.Action, err)
	}
	err = s.write(ctx, queued{sql: `INSERT INTO audit_events
		     (workspace_id, actor_kind, actor_id, action, target_kind, target_id, client_ip, user_agent, details)
		 VALUES ($1, $2, $3, $4, $5, $6, $7::inet, $8, $9)`, args: args})
	if err != nil {
		return fmt.Errorf("storage: record audit event %s: %w", ev.Action, err)
	}
	return nil
}

// RecordAccountAudit records ev (a failed or throttled sign-in) against the
// account whose e-mail is email, ignoring case: its user becomes the actor
// and the target, and its workspace the event's. An e-mail that belongs to
// nobody records nothing. It is one statement either way, so neither the
// log nor the time taken tells whether the account exists. recorded reports
// whether there was such an account.
func (s *Store) RecordAccountAudit(ctx context.Context, email string, ev AuditEvent) (recorded bool, err error) {
	if !utf8.ValidString(email) || strings.ContainsRune(email, 0) {
		return false, nil // text no account's e-mail can be
	}
	ev.ActorKind, ev.TargetKind = ActorUser, TargetUser
	args, err := auditArgs(ctx, ev)
	if err != nil {
		return false, fmt.Errorf("storage: record audit event %s: %w", ev.Action, err)
	}
	tag, err := s.db(ctx).Exec(ctx,
		`INSERT INTO audit_events
		     (workspace_id, actor_kind, actor_id, action, target_kind, target_id, client_ip, user_agent, details)
		 SELECT u.workspace_id, 'user', u.id::text, $2, 'user', u.id::text, $3::inet, $4, $5
		 FROM users u WHERE lower(u.email) = lower($1)`,
		email, args[3], args[6], args[7], args[8])
	if err != nil {
		return false, fmt.Errorf("storage: record audit event %s: %w", ev.Action, mapError(err))
	}
	return tag.RowsAffected() > 0, nil
}

// auditArgs validates ev, completes it from the request source of ctx and
// returns the values of the audit_events columns, in the order
// workspace_id, actor_kind, actor_id, action, target_kind, target_id,
// client_ip, user_agent, details.
func auditArgs(ctx context.Context, ev AuditEvent) ([]any, error) {
	if err := ev.validate(); err != nil {
		return nil, err
	}
	if ip, ua, ok := RequestSource(ctx); ok {
		if !ev.ClientIP.IsValid() {
			ev.ClientIP = ip
		}
		if ev.UserAgent == "" {
			ev.UserAgent = ua
		}
	}
	var ip *string
	if ev.ClientIP.IsValid() {
		v := ev.ClientIP.Unmap().WithZone("").String()
		ip = &v
	}
	details := ev.Details
	if details == nil {
		details = map[string]any{}
	}
	raw, err := json.Marshal(details)
	if err != nil {
		return nil, fmt.Errorf("details: %w", err)
	}
	var workspace any
	if ev.WorkspaceID != "" {
		workspace = ev.WorkspaceID
	}
	// details goes as text: in the exec and simple_protocol query modes
	// (used behind PgBouncer) pgx does not know the column is jsonb and
	// would send a []byte as bytea, which jsonb refuses.
	return []any{workspace, ev.ActorKind, cleanText(ev.ActorID), ev.Action, ev.TargetKind, cleanText(ev.TargetID),
		ip, cleanUserAgent(ev.UserAgent), string(raw)}, nil
}

// cleanText drops what PostgreSQL's text cannot hold (NUL, invalid UTF-8).
func cleanText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

// Audited runs change and records the event it returns in one transaction (a
// savepoint of the one carried by ctx, if any): either both are committed or
// neither is. change runs the store methods it calls with the context it is
// given. When change fails, nothing is recorded and its error is returned
// unwrapped, so callers can check it with errors.Is as before.
//
// Outside a transaction, the change's writes and the event wait in a write
// batch (see pendingTx) and go to the database as one round trip on commit;
// a change that reads becomes an ordinary transaction at its first read.
func (s *Store) Audited(ctx context.Context, change func(ctx context.Context) (AuditEvent, error)) error {
	if _, inTx := ctx.Value(txKey{}).(pgx.Tx); !inTx && pendingFrom(ctx) == nil {
		p := &pendingTx{}
		pctx := context.WithValue(ctx, pendingKey{}, p)
		ev, err := change(pctx)
		if err == nil {
			err = s.RecordAudit(pctx, ev)
			if err == nil {
				if err = s.commitPending(pctx, p); err == nil {
					return nil
				}
				err = fmt.Errorf("storage: audited change: %w", err)
			}
		}
		if rerr := s.rollbackPending(pctx, p); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return err
	}
	var changeErr error
	err := s.inTx(ctx, func(ctx context.Context) error {
		ev, err := change(ctx)
		if err != nil {
			changeErr = err
			return err
		}
		return s.RecordAudit(ctx, ev)
	})
	if changeErr != nil {
		return changeErr
	}
	if err != nil {
		return fmt.Errorf("storage: audited change: %w", err)
	}
	return nil
}

// AuditCursor is the position of an event in the newest-first order of the
// log: ListAuditEvents continues after it (keyset pagination).
type AuditCursor struct {
	Time time.Time
	ID   int64
}

// IsZero reports whether c is the start of the log.
func (c AuditCursor) IsZero() bool { return c.ID == 0 && c.Time.IsZero() }

// AuditQuery selects events of one workspace.
type AuditQuery struct {
	// WorkspaceID selects the workspace; "" selects the server-wide events,
	// which belong to no workspace (signing key rotations).
	WorkspaceID string
	// Action, when set, keeps only events of that action.
	Action string
	// Person, when set, keeps only events whose actor or target is the user
	// with this id.
	Person string
	// Since, when set, keeps only events at or after it.
	Since time.Time
	// After continues the newest-first listing after this event.
	After AuditCursor
	// Limit caps the events returned; DefaultAuditPage when 0, at most
	// MaxAuditPage.
	Limit int
}

// Page sizes of ListAuditEvents.
const (
	DefaultAuditPage = 50
	MaxAuditPage     = 1000
)

// ListAuditEvents lists a workspace's (or the server-wide) events, newest first (by time, then
// id), with the e-mail addresses of the users they name. A workspace or
// person id that is not a UUID lists nothing.
func (s *Store) ListAuditEvents(ctx context.Context, q AuditQuery) ([]AuditEvent, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultAuditPage
	}
	limit = min(limit, MaxAuditPage)
	if q.Action != "" && !slices.Contains(AuditActions, q.Action) {
		return nil, fmt.Errorf("storage: list audit events: unknown action %q", q.Action)
	}
	var since, afterTime, afterID any
	if !q.Since.IsZero() {
		since = q.Since
	}
	if !q.After.IsZero() {
		afterTime, afterID = q.After.Time, q.After.ID
	}
	// Two statements rather than one with an OR, so that each uses the
	// (workspace_id, occurred_at) index.
	scope := `e.workspace_id = $1::uuid`
	var workspace any = q.WorkspaceID
	if q.WorkspaceID == "" {
		scope, workspace = `e.workspace_id IS NULL AND $1::uuid IS NULL`, nil
	}
	rows, err := s.db(ctx).Query(ctx,
		`SELECT e.id, e.occurred_at, coalesce(e.workspace_id::text, ''), e.actor_kind, e.actor_id,
		        coalesce(au.email, ''), e.action, e.target_kind, e.target_id, coalesce(tu.email, ''),
		        coalesce(host(e.client_ip), ''), e.user_agent, e.details
		 FROM audit_events e
		 LEFT JOIN users au ON au.id = CASE WHEN e.actor_kind = 'user' THEN e.actor_id::uuid END
		 LEFT JOIN users tu ON tu.id = CASE WHEN e.target_kind = 'user' THEN e.target_id::uuid END
		 WHERE `+scope+`
		   AND ($2 = '' OR e.action = $2)
		   AND ($3 = '' OR (e.actor_kind = 'user' AND e.actor_id = $3) OR (e.target_kind = 'user' AND e.target_id = $3))
		   AND ($4::timestamptz IS NULL OR e.occurred_at >= $4::timestamptz)
		   AND ($5::timestamptz IS NULL OR (e.occurred_at, e.id) < ($5::timestamptz, $6::bigint))
		 ORDER BY e.occurred_at DESC, e.id DESC
		 LIMIT $7`,
		workspace, q.Action, q.Person, since, afterTime, afterID, limit)
	var events []AuditEvent
	if err == nil {
		events, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (AuditEvent, error) {
			var (
				ev       AuditEvent
				ip       string
				rawExtra []byte
			)
			if err := row.Scan(&ev.ID, &ev.Time, &ev.WorkspaceID, &ev.ActorKind, &ev.ActorID, &ev.ActorEmail,
				&ev.Action, &ev.TargetKind, &ev.TargetID, &ev.TargetEmail, &ip, &ev.UserAgent, &rawExtra); err != nil {
				return AuditEvent{}, err
			}
			if ip != "" {
				ev.ClientIP, _ = netip.ParseAddr(ip)
			}
			if err := json.Unmarshal(rawExtra, &ev.Details); err != nil {
				return AuditEvent{}, fmt.Errorf("details of event %d: %w", ev.ID, err)
			}
			return ev, nil
		})
	}
	switch {
	case errors.Is(mapError(err), ErrNotFound):
		// Not a UUID: no such workspace.
		return []AuditEvent{}, nil
	case err != nil:
		return nil, fmt.Errorf("storage: list audit events of workspace %q: %w", q.WorkspaceID, mapError(err))
	case events == nil:
		return []AuditEvent{}, nil
	}
	return events, nil
}

// DefaultAuditRetention is how long DeleteExpired keeps audit events when
// Options.AuditRetention is zero.
const DefaultAuditRetention = 365 * 24 * time.Hour

// isUUID reports whether s is a UUID in the lower-case form PostgreSQL prints.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}

// ListWorkspaceUsers lists the people of a workspace, by e-mail, without
// their password hashes: the Security log's person filter offers them. A
// workspaceID that is not a UUID lists nothing.
func (s *Store) ListWorkspaceUsers(ctx context.Context, workspaceID string) ([]User, error) {
	rows, err := s.db(ctx).Query(ctx,
		`SELECT id, email, workspace_id, role, created_at FROM users
		 WHERE workspace_id = $1::uuid ORDER BY lower(email), id`, workspaceID)
	var users []User
	if err == nil {
		users, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (User, error) {
			var u User
			err := row.Scan(&u.ID, &u.Email, &u.WorkspaceID, &u.Role, &u.CreatedAt)
			return u, err
		})
	}
	switch {
	case errors.Is(mapError(err), ErrNotFound):
		return []User{}, nil
	case err != nil:
		return nil, fmt.Errorf("storage: list users of workspace %q: %w", workspaceID, mapError(err))
	case users == nil:
		return []User{}, nil
	}
	return users, nil
}
