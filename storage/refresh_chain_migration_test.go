package storage_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/tern/v2/migrate"

	"github.com/nextoria/authz/migrations"
	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/storagetest"
)

// TestRefreshChainMigration: a grant that an earlier grace-period rule left
// with several active refresh tokens keeps only the one issued last, the
// access tokens of the others go, other grants are untouched, and from then
// on the table refuses a second active refresh token for a grant.
func TestRefreshChainMigration(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool, err := storage.Connect(ctx, storagetest.NewEmptyDatabase(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	m, err := migrate.NewMigrator(ctx, conn.Conn(), "schema_version")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.LoadMigrations(migrations.FS); err != nil {
		t.Fatal(err)
	}
	var target int32
	for _, mig := range m.Migrations {
		if strings.HasSuffix(mig.Name, "_refresh_chain.sql") {
			target = mig.Sequence
		}
	}
	if target == 0 {
		t.Fatal("no refresh_chain migration")
	}
	if err := m.MigrateTo(ctx, target-1); err != nil {
		t.Fatalf("migrate to %d: %v", target-1, err)
	}

	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`INSERT INTO workspaces (id, name, plan) VALUES ('00000000-0000-0000-0000-000000000001', 'Acme', 'growth')`)
	exec(`INSERT INTO users (id, email, password_hash, workspace_id)
	      VALUES ('00000000-0000-0000-0000-000000000002', 'ada@example.com', 'x', '00000000-0000-0000-0000-000000000001')`)
	exec(`INSERT INTO oauth_apps (client_id, secret_hash, name, redirect_uris, scopes, workspace_id, owner_id)
	      VALUES ('c1', '\x00', 'App', '{https://app.example.com/cb}', '{read}',
	              '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-000000000002')`)
	token := func(table, sig, requestID, age string, active bool, accessSig string) {
		t.Helper()
		cols, vals := "", ""
		args := []any{sig, requestID, age, active}
		if table == "oauth_refresh_tokens" {
			cols, vals = ", access_token_signature", ", $5"
			args = append(args, accessSig)
		}
		exec(`INSERT INTO `+table+` (signature, request_id, requested_at, client_id, scopes, granted_scopes,
		          requested_audience, granted_audience, form_data, session_data, active, expires_at`+cols+`)
		      VALUES ($1, $2, now() - $3::interval, 'c1', '{}', '{}', '{}', '{}', '', '{}', $4, now() + interval '1 day'`+vals+`)`,
			args...)
	}
	// Grant g1: three siblings left active by the old rule, one rotated token.
	token("oauth_refresh_tokens", "g1-rt0", "g1", "10 minutes", false, "g1-at0")
	for _, sib := range []struct{ rt, at, age string }{
		{"g1-rt1", "g1-at1", "3 minutes"}, {"g1-rt2", "g1-at2", "1 minute"}, {"g1-rt3", "g1-at3", "2 minutes"},
	} {
		token("oauth_refresh_tokens", sib.rt, "g1", sib.age, true, sib.at)
		token("oauth_access_tokens", sib.at, "g1", sib.age, true, "")
	}
	// Grant g2: a single chain.
	token("oauth_refresh_tokens", "g2-rt", "g2", "5 minutes", true, "g2-at")
	token("oauth_access_tokens", "g2-at", "g2", "5 minutes", true, "")

	if err := m.MigrateTo(ctx, target); err != nil {
		t.Fatalf("migrate to %d: %v", target, err)
	}
	rows, err := conn.Query(ctx, `SELECT signature FROM oauth_refresh_tokens WHERE active ORDER BY signature`)
	if err != nil {
		t.Fatal(err)
	}
	var active []string
	for rows.Next() {
		var sig string
		if err := rows.Scan(&sig); err != nil {
			t.Fatal(err)
		}
		active = append(active, sig)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(active, " ") != "g1-rt2 g2-rt" {
		t.Errorf("active refresh tokens %v, want [g1-rt2 g2-rt]", active)
	}
	rows, err = conn.Query(ctx, `SELECT signature FROM oauth_access_tokens ORDER BY signature`)
	if err != nil {
		t.Fatal(err)
	}
	var access []string
	for rows.Next() {
		var sig string
		if err := rows.Scan(&sig); err != nil {
			t.Fatal(err)
		}
		access = append(access, sig)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(access, " ") != "g1-at2 g2-at" {
		t.Errorf("access tokens %v, want [g1-at2 g2-at]", access)
	}
	var firstUsed int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM oauth_refresh_tokens WHERE first_used_at IS NOT NULL`).Scan(&firstUsed); err != nil {
		t.Fatal(err)
	}
	if firstUsed != 0 {
		t.Errorf("%d superseded tokens got a grace period", firstUsed)
	}
	_, err = conn.Exec(ctx, `UPDATE oauth_refresh_tokens SET active = true WHERE signature = 'g1-rt1'`)
	if pgErr := (*pgconn.PgError)(nil); !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		t.Errorf("a second active refresh token for grant g1: err = %v, want a unique violation", err)
	}
}
