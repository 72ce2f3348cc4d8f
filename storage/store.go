// Package storage is the server's only door to PostgreSQL. One Store, built on
// a pgx pool, holds users, workspaces, apps, consent and signing keys, and
// implements fosite's storage interfaces for authorization codes, PKCE, access
// and refresh tokens, and transactions (fosite's storage.Transactional).
//
// Every method runs on the transaction carried by its context when there is
// one (see BeginTX), on the pool otherwise. Token rows are keyed by the SHA-256
// of the token signature, so a database leak never yields a usable token.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
	"github.com/ory/fosite"

	"github.com/nextoria/authz/migrations"
)

// DBTX is what the store runs its queries on: satisfied by *pgxpool.Pool and
// by pgx.Tx, so the same code works inside and outside a transaction.
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

var (
	_ DBTX = (*pgxpool.Pool)(nil)
	_ DBTX = (pgx.Tx)(nil)
)

// Options tune the fosite side of the store.
type Options struct {
	// Audience is granted to every client: GetAudience of every client
	// returns it, so each token may name these resource servers.
	Audience []string
	// RefreshGracePeriod lets a redeemed refresh token be redeemed again for
	// this long after its first redemption, so a client that lost the
	// response to a refresh, or two tabs refreshing at once, get an answer
	// without triggering reuse detection. Each redemption supersedes the
	// grant's current refresh token, so a grant keeps one live chain (see
	// RotateRefreshToken). 0 means strict rotation: a refresh token works
	// exactly once.
	RefreshGracePeriod time.Duration
	// RefreshReuseWindow is how long, after its grace period, a retired
	// refresh token (rotated, superseded or revoked) is kept so that its
	// reuse is detected and revokes the grant: its row's expiry is brought
	// forward to then, and DeleteExpired removes it. A token presented after
	// that is merely unknown. DefaultRefreshReuseWindow when 0.
	RefreshReuseWindow time.Duration
	// AuditRetention is how long DeleteExpired keeps audit events;
	// DefaultAuditRetention when 0.
	AuditRetention time.Duration
	// CleanupPause is how long DeleteExpired waits between two full
	// batches; 0 runs them back to back.
	CleanupPause time.Duration
}

// DefaultRefreshReuseWindow is Options.RefreshReuseWindow when unset.
const DefaultRefreshReuseWindow = 24 * time.Hour

// Store is the PostgreSQL-backed data access of the server. It is safe for
// concurrent use.
type Store struct {
	pool *pgxpool.Pool
	opts Options
	// timeout is the client-side deadline of each statement (see
	// PoolOptions.StatementTimeout); 0 means none.
	timeout time.Duration
	// accessReads reads access tokens outside transactions, coalescing
	// concurrent lookups (introspection) into one statement.
	accessReads *coalescer[*sessionRow]
	// apiKeyReads does the same for API keys.
	apiKeyReads *coalescer[APIKeyWithPlan]
	// readCommittedByDefault is set by CheckIsolation when the database's
	// default_transaction_isolation is READ COMMITTED: a write batch then
	// needs no statement to set it.
	readCommittedByDefault atomic.Bool
}

// New returns a Store over pool. The caller keeps ownership of the pool.
// Statements get a client-side deadline a second longer than the pool's
// statement_timeout (see ConnectPool).
func New(pool *pgxpool.Pool, opts Options) *Store {
	opts.Audience = append([]string(nil), opts.Audience...)
	if opts.RefreshReuseWindow <= 0 {
		opts.RefreshReuseWindow = DefaultRefreshReuseWindow
	}
	s := &Store{pool: pool, opts: opts, timeout: clientTimeout(pool)}
	// A coalesced lookup answers several requests, so none of their
	// contexts bounds it: without a statement timeout it gets the default.
	lookupTimeout := s.timeout
	if lookupTimeout <= 0 {
		lookupTimeout = DefaultStatementTimeout + clientTimeoutMargin
	}
	s.accessReads = &coalescer[*sessionRow]{
		fetch: s.fetchAccessSessions, runs: coalescedReadRuns(), batch: maxCoalescedReads, timeout: lookupTimeout,
	}
	s.apiKeyReads = &coalescer[APIKeyWithPlan]{
		fetch: s.fetchAPIKeys, runs: coalescedReadRuns(), batch: maxCoalescedReads, timeout: lookupTimeout,
	}
	return s
}

// CheckIsolation asks the database for its default transaction isolation.
// A write batch (see WithWriteBehind) runs in the implicit transaction of one
// pipeline, at that default, and must run at READ COMMITTED; until
// CheckIsolation has found that the default is READ COMMITTED, each batch
// starts with SET TRANSACTION, which PostgreSQL runs but answers, outside a
// transaction block, with a warning that it writes to its log for every
// batch. Call it once the pool is up; a default changed later (ALTER
// DATABASE ... SET default_transaction_isolation) is seen at the next start.
func (s *Store) CheckIsolation(ctx context.Context) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var level string
	if err := s.pool.QueryRow(ctx, `SELECT current_setting('default_transaction_isolation')`).Scan(&level); err != nil {
		return fmt.Errorf("storage: default transaction isolation: %w", mapError(err))
	}
	s.readCommittedByDefault.Store(level == "read committed")
	return nil
}

// Pool returns the pool the store runs on.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping checks that the database answers; it backs the readiness probe.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("storage: ping: %w", mapError(err))
	}
	return nil
}

// maxCoalescedReads bounds the keys of one coalesced lookup.
const maxCoalescedReads = 64

// coalescedReadRuns is how many coalesced lookups of one kind may be in
// flight at once: one per two cores. Fewer statements in flight make larger
// batches, and each batch saves the server a write and a read on the
// PostgreSQL socket per lookup it absorbs; on 2 cores a single one measured
// best (introspection at 16 workers: 7,487/s and 0.140 ms of CPU per
// request against 4,726/s and 0.275 ms with 4 in flight).
func coalescedReadRuns() int {
	return max(1, runtime.NumCPU()/2)
}

// DefaultMaxConns is the pool size when none is configured: four connections
// per CPU core, at least eight. A token request holds its connection for a
// whole transaction (which includes signing the access token), so pgx's own
// default (one per core, at least four) leaves concurrent requests queuing
// for a connection while PostgreSQL idles.
func DefaultMaxConns() int32 {
	return int32(max(8, 4*runtime.NumCPU()))
}

// Defaults of PoolOptions: a database that does not answer within a few
// seconds is reported as unavailable rather than holding requests until
// their clients give up.
const (
	DefaultConnectTimeout   = 5 * time.Second
	DefaultStatementTimeout = 5 * time.Second
)

// clientTimeoutMargin is how much longer than the server's statement_timeout
// the store waits on its side, so a merely slow statement is ended by
// PostgreSQL (which keeps the connection) and the client-side deadline only
// fires when the server or the network no longer answers.
const clientTimeoutMargin = time.Second

// PoolOptions tune the connection pool of ConnectPool. A zero field means:
// the value of the URL when it sets one, else the default.
type PoolOptions struct {
	// MaxConns caps the pool (URL: pool_max_conns; default DefaultMaxConns).
	MaxConns int32
	// ConnectTimeout bounds the opening of one connection: dialling, TLS
	// and authentication (URL: connect_timeout; default DefaultConnectTimeout).
	ConnectTimeout time.Duration
	// StatementTimeout is PostgreSQL's statement_timeout on every connection
	// (URL: statement_timeout, in milliseconds; default
	// DefaultStatementTimeout). The store also gives each statement,
	// including the wait for a pooled connection, a client-side deadline of
	// StatementTimeout plus a second, so a database that stops answering
	// altogether fails fast too.
	StatementTimeout time.Duration
	// Tracer, when set, traces every statement of the pool (see package
	// dbtrace, which counts round trips per request).
	Tracer pgx.QueryTracer
	// QueryExecMode is how pgx sends statements (URL:
	// default_query_exec_mode; default pgx.QueryExecModeCacheStatement,
	// which prepares named statements once per connection). Behind a
	// transaction-pooling PgBouncer a connection's prepared statements are
	// not there on the next transaction, so it must be
	// pgx.QueryExecModeExec or pgx.QueryExecModeSimpleProtocol (see
	// ParseQueryExecMode).
	QueryExecMode pgx.QueryExecMode
}

// QueryExecModes are the names ParseQueryExecMode accepts, as pgx spells
// them in its default_query_exec_mode URL parameter.
var QueryExecModes = []string{"cache_statement", "cache_describe", "describe_exec", "exec", "simple_protocol"}

// ParseQueryExecMode returns the pgx mode named name (one of QueryExecModes).
func ParseQueryExecMode(name string) (pgx.QueryExecMode, error) {
	switch name {
	case "cache_statement":
		return pgx.QueryExecModeCacheStatement, nil
	case "cache_describe":
		return pgx.QueryExecModeCacheDescribe, nil
	case "describe_exec":
		return pgx.QueryExecModeDescribeExec, nil
	case "exec":
		return pgx.QueryExecModeExec, nil
	case "simple_protocol":
		return pgx.QueryExecModeSimpleProtocol, nil
	}
	return 0, fmt.Errorf("storage: unknown query execution mode %q (want one of %s)", name, strings.Join(QueryExecModes, ", "))
}

// Connect opens a pool on url (a postgres:// URL or a key=value DSN) of
// maxConns connections, and checks that the database answers before
// returning. maxConns 0 means DefaultMaxConns, unless the URL sets
// pool_max_conns. Timeouts are those of ConnectPool.
func Connect(ctx context.Context, url string, maxConns int32) (*pgxpool.Pool, error) {
	return ConnectPool(ctx, url, PoolOptions{MaxConns: maxConns})
}

// ConnectPool opens a pool on url with opts and checks that the database
// answers before returning.
func ConnectPool(ctx context.Context, url string, opts PoolOptions) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx redacts the password from its parse errors.
		return nil, fmt.Errorf("storage: invalid database url: %w", err)
	}
	switch {
	case opts.MaxConns > 0:
		cfg.MaxConns = opts.MaxConns
	case !strings.Contains(url, "pool_max_conns"):
		cfg.MaxConns = DefaultMaxConns()
	}
	switch {
	case opts.ConnectTimeout > 0:
		cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	case cfg.ConnConfig.ConnectTimeout == 0:
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = make(map[string]string)
	}
	switch {
	case opts.StatementTimeout > 0:
		cfg.ConnConfig.RuntimeParams[statementTimeoutParam] = strconv.FormatInt(opts.StatementTimeout.Milliseconds(), 10)
	case cfg.ConnConfig.RuntimeParams[statementTimeoutParam] == "":
		cfg.ConnConfig.RuntimeParams[statementTimeoutParam] = strconv.FormatInt(DefaultStatementTimeout.Milliseconds(), 10)
	}
	if opts.Tracer != nil {
		cfg.ConnConfig.Tracer = opts.Tracer
	}
	if opts.QueryExecMode != 0 {
		cfg.ConnConfig.DefaultQueryExecMode = opts.QueryExecMode
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("storage: open pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("storage: database unreachable (%s:%d/%s): %w",
			cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, mapError(err))
	}
	return pool, nil
}

// statementTimeoutParam is PostgreSQL's run-time parameter for the longest a
// statement may run.
const statementTimeoutParam = "statement_timeout"

// clientTimeout derives the store's client-side deadline from the pool's
// statement_timeout (milliseconds, or a Go duration such as "5s"). It is 0,
// no deadline, when the pool sets none or 0.
func clientTimeout(pool *pgxpool.Pool) time.Duration {
	if pool == nil {
		return 0
	}
	v := pool.Config().ConnConfig.RuntimeParams[statementTimeoutParam]
	var d time.Duration
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		d = time.Duration(ms) * time.Millisecond
	} else if pd, err := time.ParseDuration(v); err == nil {
		d = pd
	}
	if d <= 0 {
		return 0
	}
	return d + clientTimeoutMargin
}

// versionTable records the schema version; tern creates and updates it.
const versionTable = "schema_version"

// Migrate applies every pending migration of package migrations and reports
// how many it applied (on error, how many were applied before the failing
// one). It runs on one dedicated connection, and tern holds a
// PostgreSQL advisory lock (pg_advisory_lock) both while it creates the
// version table and while it migrates, so instances starting together apply
// each migration exactly once: the others wait, then find nothing to do.
func Migrate(ctx context.Context, pool *pgxpool.Pool) (applied int, err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("storage: migrate: acquire connection: %w", err)
	}
	defer func() {
		if err != nil {
			// The session may still hold tern's advisory lock (e.g. when ctx
			// was cancelled before the unlock); never hand it back to the pool.
			_ = conn.Conn().Close(context.Background())
		}
		conn.Release()
	}()

	// A migration may rebuild a large table, and tern waits on its advisory
	// lock while another instance migrates: neither may hit the pool's
	// statement_timeout. RESET restores the connection's default afterwards.
	if _, err := conn.Exec(ctx, `SET statement_timeout = 0`); err != nil {
		return 0, fmt.Errorf("storage: migrate: %w", mapError(err))
	}
	defer func() {
		if err == nil {
			_, err = conn.Exec(ctx, `RESET statement_timeout`)
		}
	}()

	m, err := migrate.NewMigrator(ctx, conn.Conn(), versionTable)
	if err != nil {
		return 0, fmt.Errorf("storage: migrate: prepare version table: %w", err)
	}
	if err := m.LoadMigrations(migrations.FS); err != nil {
		return 0, fmt.Errorf("storage: migrate: load migrations: %w", err)
	}
	m.OnStart = func(int32, string, string, string) { applied++ }
	if err := m.Migrate(ctx); err != nil {
		// OnStart also fired for the migration that failed and rolled back.
		return max(applied-1, 0), fmt.Errorf("storage: migrate: %w", err)
	}
	return applied, nil
}

// MigrationStatus compares the database's schema version with the migrations
// built into the binary.
type MigrationStatus struct {
	// Current is the version recorded in the database; 0 when never migrated.
	Current int32
	// Latest is the sequence number of the newest built-in migration.
	Latest int32
	// Pending names the migrations not yet applied, oldest first.
	Pending []string
}

// GetMigrationStatus reads the schema version without changing anything (it
// does not create the version table).
func GetMigrationStatus(ctx context.Context, pool *pgxpool.Pool) (MigrationStatus, error) {
	paths, err := migrate.FindMigrations(migrations.FS)
	if err != nil {
		return MigrationStatus{}, fmt.Errorf("storage: migration status: list migrations: %w", err)
	}
	var st MigrationStatus
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, versionTable).Scan(&exists); err != nil {
		return MigrationStatus{}, fmt.Errorf("storage: migration status: %w", err)
	}
	if exists {
		if err := pool.QueryRow(ctx, `SELECT version FROM `+versionTable).Scan(&st.Current); err != nil {
			return MigrationStatus{}, fmt.Errorf("storage: migration status: read version: %w", err)
		}
	}
	for _, p := range paths {
		name := p[strings.LastIndex(p, "/")+1:]
		seq, err := migrationSequence(name)
		if err != nil {
			return MigrationStatus{}, fmt.Errorf("storage: migration status: %w", err)
		}
		st.Latest = max(st.Latest, seq)
		if seq > st.Current {
			st.Pending = append(st.Pending, name)
		}
	}
	return st, nil
}

// migrationSequence parses the leading number of a migration file name.
func migrationSequence(name string) (int32, error) {
	digits := name[:len(name)-len(strings.TrimLeft(name, "0123456789"))]
	n, err := strconv.ParseInt(digits, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("migration %q has no sequence number: %w", name, err)
	}
	return int32(n), nil
}

// txKey is the context key under which BeginTX stores its transaction.
type txKey struct{}

// db returns the transaction carried by ctx, or the pool, bounded by the
// store's client-side deadline.
func (s *Store) db(ctx context.Context) DBTX {
	var db DBTX = s.pool
	if tx, ok := ctx.Value(txKey{}).(pgx.Tx); ok {
		db = tx
	} else if p := pendingFrom(ctx); p != nil {
		// A statement that needs its answer now: the pending
		// transaction becomes an ordinary one.
		tx, err := s.materialize(ctx, p)
		if err != nil {
			return failedDB{err: err}
		}
		db = tx
	}
	if s.timeout <= 0 {
		return db
	}
	return deadlineDB{db: db, timeout: s.timeout}
}

// bound returns ctx limited by the store's client-side deadline, for calls
// that do not go through db (begin, commit, rollback, ping).
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.timeout)
}

// deadlineDB gives every statement its own deadline: the wait for a pooled
// connection (and its health check), sending the statement, and reading
// its rows. Without it a database that accepts connections but never
// answers would hold each request until its client gave up.
type deadlineDB struct {
	db      DBTX
	timeout time.Duration
}

func (d deadlineDB) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	return d.db.Exec(ctx, sql, args...)
}

func (d deadlineDB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	rows, err := d.db.Query(ctx, sql, args...)
	if err != nil {
		cancel()
		return rows, err
	}
	return &deadlineRows{Rows: rows, cancel: cancel}, nil
}

func (d deadlineDB) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	return deadlineRow{row: d.db.QueryRow(ctx, sql, args...), cancel: cancel}
}

// deadlineRows releases the statement's deadline once the rows are read or closed.
type deadlineRows struct {
	pgx.Rows
	cancel context.CancelFunc
}

func (r *deadlineRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.cancel()
	return false
}

func (r *deadlineRows) Close() {
	r.Rows.Close()
	r.cancel()
}

// deadlineRow releases the statement's deadline after Scan.
type deadlineRow struct {
	row    pgx.Row
	cancel context.CancelFunc
}

func (r deadlineRow) Scan(dest ...any) error {
	defer r.cancel()
	return r.row.Scan(dest...)
}

// BeginTX starts a READ COMMITTED transaction and returns a context carrying
// it; every store method called with that context runs inside it. fosite
// calls it around code redemption, refresh rotation and reuse revocation.
// What makes those safe under concurrency is explicit: a code is redeemed by
// an update conditional on the code still being active (a concurrent
// redemption waits for the row, then finds it inactive), and a refresh
// rotation or revocation first takes its grant's lock (lockRefreshChain).
// READ COMMITTED lets each statement after such a wait see what the other
// transaction committed; a REPEATABLE READ snapshot, taken by the first
// statement before it waited, would instead make the concurrent rotations of
// one grant fail to serialize rather than run one after the other.
//
// When ctx already carries a transaction, BeginTX opens a savepoint in it
// instead, so fosite's flows also work inside a caller's transaction.
//
// In a context from WithWriteBehind it starts a pending transaction instead
// (see pendingTx): the writes wait and Commit sends them as one batch, so
// the transaction costs one round trip. The rules above still hold: the
// grant's chain lock is the batch's first write, and each statement after
// it, run at READ COMMITTED (which the batch sets), sees what the previous
// holder committed.
func (s *Store) BeginTX(ctx context.Context) (context.Context, error) {
	var (
		tx  pgx.Tx
		err error
	)
	_, inTx := ctx.Value(txKey{}).(pgx.Tx)
	if p := pendingFrom(ctx); p != nil && !inTx {
		// Nested in a pending transaction: make it an ordinary one and
		// open a savepoint in it.
		outer, err := s.materialize(ctx, p)
		if err != nil {
			return ctx, fmt.Errorf("storage: begin transaction: %w", err)
		}
		ctx = context.WithValue(ctx, txKey{}, outer)
	} else if on, _ := ctx.Value(writeBehindKey{}).(bool); on && !inTx {
		return context.WithValue(ctx, pendingKey{}, &pendingTx{}), nil
	}
	bctx, cancel := s.bound(ctx)
	defer cancel()
	if outer, ok := ctx.Value(txKey{}).(pgx.Tx); ok {
		tx, err = outer.Begin(bctx)
	} else {
		tx, err = s.pool.BeginTx(bctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	}
	if err != nil {
		return ctx, fmt.Errorf("storage: begin transaction: %w", mapError(err))
	}
	return context.WithValue(ctx, txKey{}, tx), nil
}

// Commit commits the transaction started by BeginTX.
func (s *Store) Commit(ctx context.Context) error {
	tx, ok := ctx.Value(txKey{}).(pgx.Tx)
	if p := pendingFrom(ctx); !ok && p != nil {
		if err := s.commitPending(ctx, p); err != nil {
			return fmt.Errorf("storage: commit: %w", err)
		}
		return nil
	}
	if !ok {
		return errors.New("storage: commit: no transaction in context")
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("storage: commit: %w", mapError(err))
	}
	return nil
}

// Rollback aborts the transaction started by BeginTX. Rolling back a
// transaction that has already ended (committed, failed to commit, or rolled
// back) is not an error, so callers may always defer it.
func (s *Store) Rollback(ctx context.Context) error {
	tx, ok := ctx.Value(txKey{}).(pgx.Tx)
	if p := pendingFrom(ctx); !ok && p != nil {
		if err := s.rollbackPending(ctx, p); err != nil {
			return fmt.Errorf("storage: rollback: %w", err)
		}
		return nil
	}
	if !ok {
		return errors.New("storage: rollback: no transaction in context")
	}
	// A cancelled request context must not keep the rollback from running,
	// and a database that stopped answering must not hold it forever.
	rctx, cancel := s.bound(context.WithoutCancel(ctx))
	defer cancel()
	if err := tx.Rollback(rctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return fmt.Errorf("storage: rollback: %w", mapError(err))
	}
	return nil
}

// inTx runs fn in a transaction: a savepoint of the transaction carried by
// ctx, or a new READ COMMITTED transaction. READ COMMITTED matters to
// EnsureSigningKey: each statement sees rows committed while it waited on the
// advisory lock, which a REPEATABLE READ snapshot taken before the wait would not.
func (s *Store) inTx(ctx context.Context, fn func(ctx context.Context) error) error {
	var (
		tx  pgx.Tx
		err error
	)
	if _, inTx := ctx.Value(txKey{}).(pgx.Tx); !inTx && pendingFrom(ctx) != nil {
		outer, err := s.materialize(ctx, pendingFrom(ctx))
		if err != nil {
			return err
		}
		ctx = context.WithValue(ctx, txKey{}, outer)
	}
	bctx, cancel := s.bound(ctx)
	defer cancel()
	if outer, ok := ctx.Value(txKey{}).(pgx.Tx); ok {
		tx, err = outer.Begin(bctx)
	} else {
		tx, err = s.pool.BeginTx(bctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	}
	if err != nil {
		return fmt.Errorf("begin transaction: %w", mapError(err))
	}
	defer func() {
		rctx, cancel := s.bound(context.WithoutCancel(ctx))
		defer cancel()
		_ = tx.Rollback(rctx)
	}()
	if err := fn(context.WithValue(ctx, txKey{}, tx)); err != nil {
		return err
	}
	cctx, cancelCommit := s.bound(ctx)
	defer cancelCommit()
	if err := tx.Commit(cctx); err != nil {
		return fmt.Errorf("commit: %w", mapError(err))
	}
	return nil
}

// SQLSTATE codes the store turns into domain errors.
const (
	sqlstateUniqueViolation           = "23505"
	sqlstateForeignKeyViolation       = "23503"
	sqlstateInvalidTextRepresentation = "22P02"
	sqlstateCharacterNotInRepertoire  = "22021"
	sqlstateUntranslatableCharacter   = "22P05"
	sqlstateSerializationFailure      = "40001"
	sqlstateDeadlockDetected          = "40P01"
	sqlstateTooManyConnections        = "53300"
	sqlstateQueryCanceled             = "57014"
	sqlstateAdminShutdown             = "57P01"
	sqlstateCrashShutdown             = "57P02"
	sqlstateCannotConnectNow          = "57P03"
	// sqlstateClassConnection is the class of connection exceptions (08xxx).
	sqlstateClassConnection = "08"
)

// mapError is the one place where driver errors become domain errors. The
// result wraps both the domain sentinel and the original error, so errors.Is
// finds the sentinel and errors.As still finds the *pgconn.PgError:
//
//   - pgx.ErrNoRows → ErrNotFound
//   - 23505 unique_violation → ErrConflict (e-mail, client_id, kid taken)
//   - 23503 foreign_key_violation → ErrNotFound (the referenced workspace,
//     user, app or login session does not exist)
//   - 22P02 invalid_text_representation → ErrNotFound (an id that is not a
//     UUID names no row)
//   - 22021 character_not_in_repertoire, 22P05 untranslatable_character →
//     ErrNotFound (text that is not valid UTF-8 or holds NUL names no row;
//     callers should have refused it at the edge, this is the backstop)
//   - 40001 serialization_failure, 40P01 deadlock_detected →
//     fosite.ErrSerializationFailure (fosite asks the client to retry)
//   - the database cannot answer → ErrUnavailable: class 08 connection
//     exceptions, 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03
//     cannot_connect_now, 53300 too_many_connections, 57014 query_canceled
//     by statement_timeout; and failures that never reached PostgreSQL or
//     lost it midway: connect and dial errors, network errors, a closed
//     connection, and a deadline (connect timeout, the store's
//     statement deadline, waiting for a pooled connection).
//
// A request whose own context was cancelled (its client went away) is not an
// outage: context.Canceled is returned unchanged, as is anything else.
func mapError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case sqlstateUniqueViolation:
			return fmt.Errorf("%w: %w", ErrConflict, err)
		case sqlstateForeignKeyViolation, sqlstateInvalidTextRepresentation,
			sqlstateCharacterNotInRepertoire, sqlstateUntranslatableCharacter:
			return fmt.Errorf("%w: %w", ErrNotFound, err)
		case sqlstateSerializationFailure, sqlstateDeadlockDetected:
			return fmt.Errorf("%w: %w", fosite.ErrSerializationFailure, err)
		case sqlstateAdminShutdown, sqlstateCrashShutdown, sqlstateCannotConnectNow, sqlstateTooManyConnections:
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		case sqlstateQueryCanceled:
			// Also sent when pgx cancels a statement for its context; only
			// the server-side timeout means the database is too slow.
			if strings.Contains(pgErr.Message, "statement timeout") {
				return fmt.Errorf("%w: %w", ErrUnavailable, err)
			}
			return err
		}
		if strings.HasPrefix(pgErr.Code, sqlstateClassConnection) {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		var connectErr *pgconn.ConnectError
		if !errors.As(err, &connectErr) {
			return err
		}
	}
	if isUnavailable(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// isUnavailable reports whether err says the database could not be reached
// or stopped answering, rather than anything about the data.
func isUnavailable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	var (
		connectErr *pgconn.ConnectError
		netErr     net.Error
	)
	return errors.As(err, &connectErr) ||
		errors.Is(err, context.DeadlineExceeded) ||
		pgconn.Timeout(err) ||
		pgconn.SafeToRetry(err) ||
		errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}
