package storage_test

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/nextoria/authz/migrations"
	"github.com/nextoria/authz/storage/storagetest"
)

// migratedBefore connects to a new empty database and applies, in order,
// every migration whose file name sorts before the prefix before (e.g.
// "010"), as an older server would have left the schema. apply runs one
// more migration file by name.
func migratedBefore(t *testing.T, before string) (conn *pgx.Conn, apply func(name string)) {
	t.Helper()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, storagetest.NewEmptyDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(ctx) })
	apply = func(name string) {
		t.Helper()
		sql, err := migrations.FS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, string(sql)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	entries, err := migrations.FS.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if n := e.Name(); n < before && strings.HasSuffix(n, ".sql") {
			apply(n)
		}
	}
	return conn, apply
}
