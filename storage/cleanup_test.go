package storage_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/ory/fosite"

	"github.com/nextoria/authz/storage"
)

func TestDeleteExpired(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()
	past, future := time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	request := func(expires time.Time) *fosite.Request {
		r := f.newRequest(t)
		for _, typ := range []fosite.TokenType{fosite.AuthorizeCode, fosite.AccessToken, fosite.RefreshToken} {
			r.Session.SetExpiresAt(typ, expires)
		}
		return r
	}

	// 5 expired codes (more than one batch of 2), and one of everything else.
	for i := range 5 {
		if err := f.st.CreateAuthorizeCodeSession(ctx, fmt.Sprintf("old-code-%d", i), request(past)); err != nil {
			t.Fatal(err)
		}
	}
	old, live := request(past), request(future)
	for _, step := range []error{
		f.st.CreateAuthorizeCodeSession(ctx, "live-code", live),
		f.st.CreatePKCERequestSession(ctx, "old-code-0", old),
		f.st.CreatePKCERequestSession(ctx, "live-code", live),
		issue(ctx, f.st, old, "", "old-at", "old-rt"),
		issue(ctx, f.st, live, "", "live-at", "live-rt"),
		// Rotated but unexpired: kept, so that its reuse is still detected.
		issue(ctx, f.st, live, "live-rt", "live-at2", "live-rt2"),
		f.st.CreateLoginSession(ctx, sum("old"), f.user.ID, past),
		f.st.CreateLoginSession(ctx, sum("live"), f.user.ID, future),
		f.st.CreateConsentChallenge(ctx, storage.ConsentChallenge{
			IDHash: sum("old-challenge"), LoginSessionID: sum("live"), ClientID: f.app.ClientID,
			RequestQuery: "q", Scopes: []string{"read"}, ExpiresAt: past,
		}),
		f.st.CreateConsentChallenge(ctx, storage.ConsentChallenge{
			IDHash: sum("live-challenge"), LoginSessionID: sum("live"), ClientID: f.app.ClientID,
			RequestQuery: "q", Scopes: []string{"read"}, ExpiresAt: future,
		}),
	} {
		if step != nil {
			t.Fatal(step)
		}
	}

	n, err := f.st.DeleteExpired(ctx, 2)
	if err != nil {
		t.Fatalf("DeleteExpired: %v", err)
	}
	// 5 codes + 1 PKCE + 1 access + 1 refresh + 1 challenge + 1 login session.
	if n != 10 {
		t.Errorf("DeleteExpired deleted %d rows, want 10", n)
	}
	for table, want := range map[string]int{
		"oauth_codes":          1,
		"oauth_pkce":           1,
		"oauth_access_tokens":  1, // live-at was deleted by the rotation
		"oauth_refresh_tokens": 2, // live-rt (inactive) and live-rt2
		"consent_challenges":   1,
		"login_sessions":       1,
	} {
		if got := countRows(t, f.st, table, "true"); got != want {
			t.Errorf("%s: %d rows left, want %d", table, got, want)
		}
		if got := countRows(t, f.st, table, "expires_at < now()"); got != 0 {
			t.Errorf("%s: %d expired rows left", table, got)
		}
	}
	if _, err := f.st.GetRefreshTokenSession(ctx, "live-rt", nil); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("rotated refresh token: err = %v, want ErrInactiveToken", err)
	}

	if n, err := f.st.DeleteExpired(ctx, 0); err != nil || n != 0 {
		t.Errorf("second DeleteExpired = %d, %v; want 0, nil", n, err)
	}
}

// TestDeleteExpiredAlone: while another process holds the cleanup lock, a
// run does nothing and says so; once it is free, a run deletes the expired
// rows and leaves the lock free again.
func TestDeleteExpiredAlone(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := newWidePool(t, 4)
	f := fixtureOn(t, storage.New(pool, storage.Options{}))
	if err := f.st.CreateLoginSession(ctx, sum("expired"), f.user.ID, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	const cleanupLock = 0x6e78636c65616e // storage's key ("nxclean")
	other, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Exec(ctx, `SELECT pg_advisory_lock($1)`, cleanupLock); err != nil {
		t.Fatal(err)
	}
	if n, err := f.st.DeleteExpiredAlone(ctx, 10); !errors.Is(err, storage.ErrCleanupRunning) || n != 0 {
		t.Fatalf("with the lock held elsewhere: %d, %v; want 0, ErrCleanupRunning", n, err)
	}
	if _, err := other.Exec(ctx, `SELECT pg_advisory_unlock($1)`, cleanupLock); err != nil {
		t.Fatal(err)
	}
	other.Release()

	if n, err := f.st.DeleteExpiredAlone(ctx, 10); err != nil || n != 1 {
		t.Fatalf("DeleteExpiredAlone = %d, %v; want the 1 expired session", n, err)
	}
	var free bool
	if err := pool.QueryRow(ctx, `SELECT pg_try_advisory_lock($1) AND pg_advisory_unlock($1)`, cleanupLock).Scan(&free); err != nil || !free {
		t.Fatalf("the lock was left held (%v)", err)
	}
}

// TestDeleteExpiredEveryKind seeds dead and live rows of every kind the
// cleanup knows and checks that exactly the dead ones go. The dead rows of a
// kind share one timestamp and outnumber the batch, so a round must carry on
// past a batch that ends in the middle of equal keys.
func TestDeleteExpiredEveryKind(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{AuditRetention: 48 * time.Hour})
	ctx := t.Context()
	pool := f.st.Pool()
	past, future := time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	if err := f.st.CreateLoginSession(ctx, []byte("anchor"), f.user.ID, future); err != nil {
		t.Fatal(err)
	}
	token := func(table string) string {
		return `INSERT INTO ` + table + ` (signature, request_id, requested_at, client_id, scopes, granted_scopes,
		            requested_audience, granted_audience, form_data, session_data, expires_at)
		        VALUES ($1, $1, now(), '` + f.app.ClientID + `', '{}', '{}', '{}', '{}', '', '{}', $2)`
	}
	type row struct {
		id string
		at time.Time
		// extra is $3 where the kind needs it
		extra any
	}
	dead := func(at time.Time) []row { return []row{{"dead-1", at, nil}, {"dead-2", at, nil}, {"dead-3", at, nil}} }
	kinds := []struct {
		table, insert, id string
		dead, live        []row
	}{
		{"oauth_codes", token("oauth_codes"), "signature", dead(past), []row{{"live", future, nil}}},
		{"oauth_pkce", token("oauth_pkce"), "signature", dead(past), []row{{"live", future, nil}}},
		{"oauth_oidc_sessions", token("oauth_oidc_sessions"), "signature", dead(past), []row{{"live", future, nil}}},
		{"oauth_access_tokens", token("oauth_access_tokens"), "signature", dead(past), []row{{"live", future, nil}}},
		// Retired refresh tokens live on until their expires_at, for reuse
		// detection; only expired ones go.
		{"oauth_refresh_tokens", token("oauth_refresh_tokens"), "signature", dead(past), []row{{"live", future, nil}}},
		{
			"login_sessions", `INSERT INTO login_sessions (id_hash, user_id, expires_at)
			                   VALUES (convert_to($1, 'UTF8'), '` + f.user.ID + `', $2)`,
			"convert_from(id_hash, 'UTF8')", dead(past), []row{{"live", future, nil}},
		},
		{
			"consent_challenges", `INSERT INTO consent_challenges (id_hash, login_session_id, client_id, request_query, scopes, expires_at)
			                       VALUES (convert_to($1, 'UTF8'), $3, '` + f.app.ClientID + `', 'q', '{}', $2)`,
			"convert_from(id_hash, 'UTF8')",
			[]row{{"dead-1", past, []byte("anchor")}, {"dead-2", past, []byte("anchor")}, {"dead-3", past, []byte("anchor")}},
			[]row{{"live", future, []byte("anchor")}},
		},
		{
			"login_throttle", `INSERT INTO login_throttle (key, attempts, window_start, locked_until) VALUES ($1, 1, $2, $3)`, "key",
			[]row{
				{"dead-1", time.Now().Add(-25 * time.Hour), nil},
				{"dead-2", time.Now().Add(-25 * time.Hour), nil},
				{"dead-3", time.Now().Add(-48 * time.Hour), past},
			},
			[]row{
				{"live-recent", time.Now().Add(-time.Minute), nil},
				{"live-locked", time.Now().Add(-25 * time.Hour), future},
			},
		},
		{
			"audit_events", `INSERT INTO audit_events (occurred_at, actor_kind, actor_id, action) VALUES ($2, 'system', $1, 'test.cleanup')`,
			"actor_id", dead(time.Now().Add(-49 * time.Hour)), []row{{"live", time.Now().Add(-47 * time.Hour), nil}},
		},
	}
	var want int64
	for _, k := range kinds {
		for _, r := range append(append([]row(nil), k.dead...), k.live...) {
			args := []any{r.id, r.at}
			if strings.Contains(k.insert, "$3") {
				args = append(args, r.extra)
			}
			if _, err := pool.Exec(ctx, k.insert, args...); err != nil {
				t.Fatalf("seed %s %s: %v", k.table, r.id, err)
			}
		}
		want += int64(len(k.dead))
	}

	n, err := f.st.DeleteExpiredAlone(ctx, 2)
	if err != nil || n != want {
		t.Fatalf("DeleteExpiredAlone = %d, %v; want %d, nil", n, err, want)
	}
	for _, k := range kinds {
		t.Run(k.table, func(t *testing.T) {
			rows, err := pool.Query(ctx, `SELECT `+k.id+` FROM `+k.table+` ORDER BY 1`)
			if err != nil {
				t.Fatal(err)
			}
			left, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			var live []string
			for _, r := range k.live {
				live = append(live, r.id)
			}
			if k.table == "login_sessions" {
				live = append([]string{"anchor"}, live...)
			}
			if !slices.Equal(sorted(left), sorted(live)) {
				t.Errorf("left %q, want exactly the live rows %q", left, live)
			}
		})
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestDeleteExpiredAloneTakesTurns: a process in the middle of a batch holds
// the transaction-level lock; a run then stops with ErrCleanupRunning and
// what it had deleted, and a later run finishes the work.
func TestDeleteExpiredAloneTakesTurns(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := newWidePool(t, 4)
	f := fixtureOn(t, storage.New(pool, storage.Options{}))
	for i := range 3 {
		if err := f.st.CreateLoginSession(ctx, sum(fmt.Sprint("expired", i)), f.user.ID, time.Now().Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	const cleanupLock = 0x6e78636c65616e // storage's key ("nxclean")
	other, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, cleanupLock); err != nil {
		t.Fatal(err)
	}
	if n, err := f.st.DeleteExpiredAlone(ctx, 1); !errors.Is(err, storage.ErrCleanupRunning) || n != 0 {
		t.Fatalf("while another batch runs: %d, %v; want 0, ErrCleanupRunning", n, err)
	}
	if err := other.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := f.st.DeleteExpiredAlone(ctx, 1); err != nil || n != 3 {
		t.Fatalf("DeleteExpiredAlone = %d, %v; want the 3 expired sessions", n, err)
	}
}
