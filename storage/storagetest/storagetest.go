// Package storagetest gives every package's tests a fresh, migrated
// PostgreSQL database of its own.
//
// The schema is built once into a template database named after a hash of
// the migration files (nextoria_tpl_<8 hex>), and each test gets a copy of it
// (CREATE DATABASE … TEMPLATE), dropped when the test ends. Copying a template
// takes a fraction of the time migrating does, tests never see each other's
// rows, and changing a migration yields a new template automatically. The
// template is built under an advisory lock because `go test ./...` runs
// several package binaries at once; it refuses connections
// (ALLOW_CONNECTIONS false), since PostgreSQL cannot copy a database anyone
// is connected to. Stale templates can be dropped by hand at any time.
//
// The server is the one at NEXTORIA_TEST_DATABASE_URL (a postgres:// URL of a
// role allowed to create databases), by default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable. Tests fail,
// rather than skip, when it is unreachable.
package storagetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nextoria/authz/migrations"
	"github.com/nextoria/authz/storage"
)

// EnvURL names the environment variable holding the admin database URL.
const EnvURL = "NEXTORIA_TEST_DATABASE_URL"

// DefaultURL is the admin database URL used when EnvURL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// templateLock is the advisory lock key held while the template is built.
const templateLock = int64(0x6e78_7470_6c62_6c64)

// adminTimeout bounds each administrative step (connect, create, drop).
const adminTimeout = 2 * time.Minute

// template remembers, per test binary, that the template database is ready.
var template struct {
	sync.Mutex
	name string
}

// NewDatabase creates a database holding the current schema and no rows, and
// returns its URL. The database is dropped when t and its subtests finish.
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin := adminURL(t)
	tpl := ensureTemplate(t, admin)
	return newDatabase(t, admin, tpl)
}

// NewEmptyDatabase creates a database without any schema (a copy of
// template0), for tests of migration itself, and returns its URL. It is
// dropped when t finishes.
func NewEmptyDatabase(t testing.TB) string {
	t.Helper()
	return newDatabase(t, adminURL(t), "template0")
}

// NewPool connects a pool to a fresh database from NewDatabase. The pool is
// closed, and the database dropped, when t finishes.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	dbURL := NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	pool, err := storage.Connect(ctx, dbURL, 0)
	if err != nil {
		t.Fatalf("storagetest: connect to test database: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// NewStore returns a Store over a pool from NewPool.
func NewStore(t testing.TB, opts storage.Options) *storage.Store {
	t.Helper()
	st := storage.New(NewPool(t), opts)
	if err := st.CheckIsolation(t.Context()); err != nil {
		t.Fatalf("storagetest: %v", err)
	}
	return st
}

// adminURL returns the parsed admin URL or fails the test.
func adminURL(t testing.TB) *url.URL {
	t.Helper()
	raw := os.Getenv(EnvURL)
	if raw == "" {
		raw = DefaultURL
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("storagetest: %s must be a postgres:// URL", EnvURL)
	}
	return u
}

// databaseURL returns admin with its database replaced by name.
func databaseURL(admin *url.URL, name string) string {
	u := *admin
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// connectAdmin opens a connection to the admin database or fails the test,
// saying plainly that PostgreSQL is unreachable.
func connectAdmin(t testing.TB, ctx context.Context, admin *url.URL) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, admin.String())
	if err != nil {
		t.Fatalf("storagetest: PostgreSQL is unreachable at %s (start it, or point %s at one): %v",
			admin.Redacted(), EnvURL, err)
	}
	return conn
}

// newDatabase creates a database copied from tpl and drops it in t.Cleanup.
func newDatabase(t testing.TB, admin *url.URL, tpl string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), adminTimeout)
	defer cancel()
	conn := connectAdmin(t, ctx, admin)
	defer conn.Close(context.Background())

	name := "nextoria_test_" + strings.ToLower(rand.Text()[:16])
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident+" TEMPLATE "+pgx.Identifier{tpl}.Sanitize()); err != nil {
		t.Fatalf("storagetest: create database %s from %s: %v", name, tpl, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin.String())
		if err != nil {
			t.Errorf("storagetest: drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("storagetest: drop database %s: %v", name, err)
		}
	})
	return databaseURL(admin, name)
}

// ensureTemplate returns the name of the migrated template database, building
// it first if no process has.
func ensureTemplate(t testing.TB, admin *url.URL) string {
	t.Helper()
	template.Lock()
	defer template.Unlock()
	if template.name != "" {
		return template.name
	}
	name, err := templateName()
	if err != nil {
		t.Fatalf("storagetest: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	conn := connectAdmin(t, ctx, admin)
	defer conn.Close(context.Background())
	if err := buildTemplate(ctx, conn, admin, name); err != nil {
		t.Fatalf("storagetest: template database %s: %v", name, err)
	}
	template.name = name
	return name
}

// buildTemplate creates and migrates the template unless it exists, holding
// a session advisory lock on conn so that concurrent test binaries build it
// once. It is built under a temporary name and renamed when complete, so a
// crash never leaves a half-migrated template behind.
func buildTemplate(ctx context.Context, conn *pgx.Conn, admin *url.URL, name string) (err error) {
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", templateLock); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	defer func() {
		if _, unlockErr := conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", templateLock); unlockErr != nil && err == nil {
			err = fmt.Errorf("unlock: %w", unlockErr)
		}
	}()

	var exists bool
	if err := conn.QueryRow(ctx,
		"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("look up: %w", err)
	}
	if exists {
		return nil
	}

	build := name + "_build"
	buildIdent := pgx.Identifier{build}.Sanitize()
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+buildIdent+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop leftover %s: %w", build, err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+buildIdent+" TEMPLATE template0"); err != nil {
		return fmt.Errorf("create %s: %w", build, err)
	}
	pool, err := storage.Connect(ctx, databaseURL(admin, build), 1)
	if err != nil {
		return err
	}
	_, err = storage.Migrate(ctx, pool)
	pool.Close() // every connection must be gone before the rename and any copy
	if err != nil {
		return err
	}
	// PostgreSQL waits a few seconds for the closed sessions to exit.
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+buildIdent+" RENAME TO "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("rename %s: %w", build, err)
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH ALLOW_CONNECTIONS false"); err != nil {
		return fmt.Errorf("close to connections: %w", err)
	}
	return nil
}

// templateName derives the template's name from the names and contents of
// every migration file.
func templateName() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(migrations.FS, path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(data))
		h.Write(data)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash migrations: %w", err)
	}
	return "nextoria_tpl_" + hex.EncodeToString(h.Sum(nil))[:8], nil
}
