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
