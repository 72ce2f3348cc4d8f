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
	"runtime"
	"strconv"
	"strings"
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
	// RefreshGracePeriod lets a rotated refresh token be used again for this
	// long after its first use, so a client that lost the response to a
	// refresh can retry without triggering reuse detection. 0 means strict
	// rotation: a refresh token works exactly once.
	RefreshGracePeriod time.Duration
}

// Store is the PostgreSQL-backed data access of the server. It is safe for
// concurrent use.
type Store struct {
	pool *pgxpool.Pool
	opts Options
}

// New returns a Store over pool. The caller keeps ownership of the pool.
func New(pool *pgxpool.Pool, opts Options) *Store {
	opts.Audience = append([]string(nil), opts.Audience...)
	return &Store{pool: pool, opts: opts}
}

// Pool returns the pool the store runs on.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping checks that the database answers; it backs the readiness probe.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("storage: ping: %w", err)
	}
	return nil
}

// DefaultMaxConns is the pool size when none is configured: four connections
// per CPU core, at least eight. A token request holds its connection for a
// whole transaction (which includes signing the access token), so pgx's own
// default (one per core, at least four) leaves concurrent requests queuing
// for a connection while PostgreSQL idles.
func DefaultMaxConns() int32 {
	return int32(max(8, 4*runtime.NumCPU()))
}

// Connect opens a pool on url (a postgres:// URL or a key=value DSN) of
// maxConns connections, and checks that the database answers before
// returning. maxConns 0 means DefaultMaxConns, unless the URL sets
// pool_max_conns.
func Connect(ctx context.Context, url string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx redacts the password from its parse errors.
		return nil, fmt.Errorf("storage: invalid database url: %w", err)
	}
	switch {
	case maxConns > 0:
		cfg.MaxConns = maxConns
	case !strings.Contains(url, "pool_max_conns"):
		cfg.MaxConns = DefaultMaxConns()
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("storage: open pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("storage: database unreachable (%s:%d/%s): %w",
			cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	return pool, nil
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

// db returns the transaction carried by ctx, or the pool.
func (s *Store) db(ctx context.Context) DBTX {
	if tx, ok := ctx.Value(txKey{}).(pgx.Tx); ok {
		return tx
	}
	return s.pool
}

// BeginTX starts a REPEATABLE READ transaction and returns a context carrying
// it; every store method called with that context runs inside it. fosite
// calls it around code redemption, refresh rotation and reuse revocation.
// Under REPEATABLE READ a concurrent update of the same row fails with a
// serialization error, which the store reports as fosite.ErrSerializationFailure.
//
// When ctx already carries a transaction, BeginTX opens a savepoint in it
// instead, so fosite's flows also work inside a caller's transaction.
func (s *Store) BeginTX(ctx context.Context) (context.Context, error) {
	var (
		tx  pgx.Tx
		err error
	)
	if outer, ok := ctx.Value(txKey{}).(pgx.Tx); ok {
		tx, err = outer.Begin(ctx)
	} else {
		tx, err = s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	}
	if err != nil {
		return ctx, fmt.Errorf("storage: begin transaction: %w", mapError(err))
	}
	return context.WithValue(ctx, txKey{}, tx), nil
}

// Commit commits the transaction started by BeginTX.
func (s *Store) Commit(ctx context.Context) error {
	tx, ok := ctx.Value(txKey{}).(pgx.Tx)
	if !ok {
		return errors.New("storage: commit: no transaction in context")
	}
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
	if !ok {
		return errors.New("storage: rollback: no transaction in context")
	}
	// A cancelled request context must not keep the rollback from running.
	if err := tx.Rollback(context.WithoutCancel(ctx)); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return fmt.Errorf("storage: rollback: %w", err)
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
	if outer, ok := ctx.Value(txKey{}).(pgx.Tx); ok {
		tx, err = outer.Begin(ctx)
	} else {
		tx, err = s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	}
	if err != nil {
		return fmt.Errorf("begin transaction: %w", mapError(err))
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fn(context.WithValue(ctx, txKey{}, tx)); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
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
//
// Anything else is returned unchanged.
func mapError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	switch pgErr.Code {
	case sqlstateUniqueViolation:
		return fmt.Errorf("%w: %w", ErrConflict, err)
	case sqlstateForeignKeyViolation, sqlstateInvalidTextRepresentation,
		sqlstateCharacterNotInRepertoire, sqlstateUntranslatableCharacter:
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case sqlstateSerializationFailure, sqlstateDeadlockDetected:
		return fmt.Errorf("%w: %w", fosite.ErrSerializationFailure, err)
	}
	return err
}
