package storage_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

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
