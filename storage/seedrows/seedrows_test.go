package seedrows_test

import (
	"testing"

	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/seedrows"
	"github.com/nextoria/authz/storage/storagetest"
)

// TestSeed seeds a small mix and checks the counts, that every index the
// migrations made is back, and that the store reads a seeded row.
func TestSeed(t *testing.T) {
	store := storagetest.NewStore(t, storage.Options{Audience: []string{"https://auth.example.com"}})
	ctx := t.Context()
	pool := store.Pool()
	indexes := func() int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := indexes()
	res, err := seedrows.Seed(ctx, store, seedrows.Options{Rows: 20_000, Progress: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if after := indexes(); after != before {
		t.Errorf("%d indexes after seeding, %d before", after, before)
	}
	m := seedrows.MixFor(20_000)
	if res.TokenRows != 20_000 || m.Total() != 20_000 || res.Grants != m.LiveRefresh {
		t.Errorf("result %+v, mix %+v", res, m)
	}
	counts := map[string]int64{
		"oauth_access_tokens":  m.ExpiredAccess + m.LiveAccess,
		"oauth_refresh_tokens": m.RotatedRefresh + m.LiveRefresh,
		"oauth_codes":          m.Codes,
		"oauth_pkce":           m.PKCE,
		"oauth_oidc_sessions":  m.OIDC,
		"consent_grants":       res.Consents,
		"login_sessions":       res.Logins,
	}
	for table, want := range counts {
		var got int64
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want || got == 0 {
			t.Errorf("%s: %d rows, want %d", table, got, want)
		}
	}
	var live, expired, grants int64
	if err := pool.QueryRow(ctx,
		`SELECT count(*) FILTER (WHERE active), count(DISTINCT request_id) FILTER (WHERE active)
		 FROM oauth_refresh_tokens`).Scan(&live, &grants); err != nil {
		t.Fatal(err)
	}
	if live != m.LiveRefresh || grants != live {
		t.Errorf("%d active refresh tokens of %d grants, want %d of as many", live, grants, m.LiveRefresh)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM oauth_access_tokens WHERE expires_at < now()`).Scan(&expired); err != nil {
		t.Fatal(err)
	}
	if expired != m.ExpiredAccess {
		t.Errorf("%d expired access tokens, want %d", expired, m.ExpiredAccess)
	}
	// Every rotated refresh token belongs to a live grant of a consenting user.
	var orphans int64
	if err := pool.QueryRow(ctx,
		`SELECT count(*) FROM oauth_refresh_tokens r
		 WHERE NOT EXISTS (SELECT 1 FROM oauth_refresh_tokens l WHERE l.request_id = r.request_id AND l.active)
		    OR NOT EXISTS (SELECT 1 FROM consent_grants g WHERE g.user_id::text = r.subject AND g.client_id = r.client_id)`).Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 {
		t.Errorf("%d refresh tokens without a live grant or a consent", orphans)
	}
	// The foreign keys the copy did not check hold.
	var dangling int64
	if err := pool.QueryRow(ctx,
		`SELECT (SELECT count(*) FROM oauth_access_tokens t WHERE NOT EXISTS (SELECT 1 FROM oauth_apps a WHERE a.client_id = t.client_id))
		      + (SELECT count(*) FROM consent_grants g WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = g.user_id))`).Scan(&dangling); err != nil {
		t.Fatal(err)
	}
	if dangling != 0 {
		t.Errorf("%d rows refer to nothing", dangling)
	}
	t.Logf("%d rows in %s (%.0f rows/s)", res.TokenRows, res.Total, res.RowsPerSecond())
}
