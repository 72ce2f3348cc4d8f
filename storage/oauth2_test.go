package storage_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/token/jwt"

	"github.com/nextoria/authz/storage"
)

// assertSameRequest compares what the store must round-trip.
func assertSameRequest(t *testing.T, got fosite.Requester, want *fosite.Request) {
	t.Helper()
	if got == nil {
		t.Fatal("request is nil")
	}
	if got.GetID() != want.ID {
		t.Errorf("ID = %q, want %q", got.GetID(), want.ID)
	}
	if d := got.GetRequestedAt().Sub(want.RequestedAt); d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("RequestedAt = %v, want %v", got.GetRequestedAt(), want.RequestedAt)
	}
	if got.GetClient().GetID() != want.Client.GetID() {
		t.Errorf("client = %q, want %q", got.GetClient().GetID(), want.Client.GetID())
	}
	for _, c := range []struct {
		name      string
		got, want fosite.Arguments
	}{
		{"RequestedScope", got.GetRequestedScopes(), want.RequestedScope},
		{"GrantedScope", got.GetGrantedScopes(), want.GrantedScope},
		{"RequestedAudience", got.GetRequestedAudience(), want.RequestedAudience},
		{"GrantedAudience", got.GetGrantedAudience(), want.GrantedAudience},
	} {
		if !reflect.DeepEqual([]string(c.got), []string(c.want)) {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if !reflect.DeepEqual(got.GetRequestForm(), want.Form) {
		t.Errorf("Form = %v, want %v", got.GetRequestForm(), want.Form)
	}
}

func TestAuthorizeCode(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()
	req := f.newRequest(t)
	const sig = "code-signature"

	if err := f.st.CreateAuthorizeCodeSession(ctx, sig, req); err != nil {
		t.Fatalf("CreateAuthorizeCodeSession: %v", err)
	}
	sess := &fosite.DefaultSession{}
	got, err := f.st.GetAuthorizeCodeSession(ctx, sig, sess)
	if err != nil {
		t.Fatalf("GetAuthorizeCodeSession: %v", err)
	}
	assertSameRequest(t, got, req)
	if !reflect.DeepEqual(sess, req.Session) {
		t.Errorf("session = %+v, want %+v", sess, req.Session)
	}
	if got.GetSession() != sess {
		t.Error("request does not carry the session it was given")
	}

	if err := f.st.InvalidateAuthorizeCodeSession(ctx, sig); err != nil {
		t.Fatalf("InvalidateAuthorizeCodeSession: %v", err)
	}
	got, err = f.st.GetAuthorizeCodeSession(ctx, sig, &fosite.DefaultSession{})
	if !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		t.Fatalf("Get after invalidate: err = %v, want ErrInvalidatedAuthorizeCode", err)
	}
	if got == nil || got.GetID() != req.ID {
		t.Fatalf("Get after invalidate: request = %v, want the request of id %q", got, req.ID)
	}
	if err := f.st.InvalidateAuthorizeCodeSession(ctx, sig); !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		t.Errorf("second invalidate: err = %v, want ErrInvalidatedAuthorizeCode", err)
	}

	if _, err := f.st.GetAuthorizeCodeSession(ctx, "unknown", &fosite.DefaultSession{}); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("unknown code: err = %v, want ErrNotFound", err)
	}
	if err := f.st.InvalidateAuthorizeCodeSession(ctx, "unknown"); err == nil {
		t.Error("invalidating an unknown code succeeded")
	}
}

// TestAuthorizeCodeConcurrentRedemption reproduces fosite #778: of many
// concurrent redemptions of one code, each in its own transaction, exactly
// one may commit.
func TestAuthorizeCodeConcurrentRedemption(t *testing.T) {
	t.Parallel()
	const n = 20
	f := fixtureOn(t, storage.New(newWidePool(t, n), storage.Options{}))
	ctx := t.Context()
	const sig = "contested-code"
	if err := f.st.CreateAuthorizeCodeSession(ctx, sig, f.newRequest(t)); err != nil {
		t.Fatalf("CreateAuthorizeCodeSession: %v", err)
	}

	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = redeem(ctx, f.st, sig)
		})
	}
	close(start)
	wg.Wait()

	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, fosite.ErrInvalidatedAuthorizeCode), errors.Is(err, fosite.ErrSerializationFailure):
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d redemptions succeeded, want exactly 1", wins)
	}
}

// redeem invalidates a code inside a transaction, as fosite's token endpoint does.
func redeem(ctx context.Context, st *storage.Store, sig string) (err error) {
	ctx, err = st.BeginTX(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = st.Rollback(ctx)
		}
	}()
	if err := st.InvalidateAuthorizeCodeSession(ctx, sig); err != nil {
		return err
	}
	return st.Commit(ctx)
}

func TestAccessToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()
	req := f.newRequest(t)
	const sig = "access-signature"

	if err := f.st.CreateAccessTokenSession(ctx, sig, req); err != nil {
		t.Fatalf("CreateAccessTokenSession: %v", err)
	}
	got, err := f.st.GetAccessTokenSession(ctx, sig, &fosite.DefaultSession{})
	if err != nil {
		t.Fatalf("GetAccessTokenSession: %v", err)
	}
	assertSameRequest(t, got, req)

	if err := f.st.DeleteAccessTokenSession(ctx, sig); err != nil {
		t.Fatalf("DeleteAccessTokenSession: %v", err)
	}
	if _, err := f.st.GetAccessTokenSession(ctx, sig, &fosite.DefaultSession{}); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("Get after delete: err = %v, want ErrNotFound", err)
	}
	if err := f.st.DeleteAccessTokenSession(ctx, sig); err != nil {
		t.Errorf("deleting a deleted token: %v", err)
	}
}

func TestAccessTokenExpiredIsReturned(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()
	req := f.newRequest(t)
	past := time.Now().UTC().Add(-time.Hour).Round(time.Second)
	req.Session.SetExpiresAt(fosite.AccessToken, past)
	if err := f.st.CreateAccessTokenSession(ctx, "expired", req); err != nil {
		t.Fatalf("CreateAccessTokenSession: %v", err)
	}
	sess := &fosite.DefaultSession{}
	if _, err := f.st.GetAccessTokenSession(ctx, "expired", sess); err != nil {
		t.Fatalf("GetAccessTokenSession: %v (fosite checks expiry itself)", err)
	}
	if got := sess.GetExpiresAt(fosite.AccessToken); !got.Equal(past) {
		t.Errorf("ExpiresAt = %v, want %v", got, past)
	}
}

func TestRevokeAccessToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()
	grant, other := f.newRequest(t), f.newRequest(t)
	for sig, r := range map[string]*fosite.Request{"a1": grant, "a2": grant, "b1": other} {
		if err := f.st.CreateAccessTokenSession(ctx, sig, r); err != nil {
			t.Fatalf("CreateAccessTokenSession(%s): %v", sig, err)
		}
	}
	if err := f.st.RevokeAccessToken(ctx, grant.ID); err != nil {
		t.Fatalf("RevokeAccessToken: %v", err)
	}
	for _, sig := range []string{"a1", "a2"} {
		if _, err := f.st.GetAccessTokenSession(ctx, sig, nil); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("%s after revoke: err = %v, want ErrNotFound", sig, err)
		}
	}
	if _, err := f.st.GetAccessTokenSession(ctx, "b1", nil); err != nil {
		t.Errorf("token of another grant was revoked: %v", err)
	}
	if err := f.st.RevokeAccessToken(ctx, "no-such-request"); err != nil {
		t.Errorf("revoking nothing: %v", err)
	}
}

// issue stores an access and refresh token pair for r in one transaction,
// rotating oldRefresh first when it is not empty: fosite's refresh flow.
func issue(ctx context.Context, st *storage.Store, r fosite.Requester, oldRefresh, access, refresh string) (err error) {
	ctx, err = st.BeginTX(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = st.Rollback(ctx)
		}
	}()
	if oldRefresh != "" {
		if err := st.RotateRefreshToken(ctx, r.GetID(), oldRefresh); err != nil {
			return err
		}
	}
	if err := st.CreateAccessTokenSession(ctx, access, r); err != nil {
		return err
	}
	if err := st.CreateRefreshTokenSession(ctx, refresh, access, r); err != nil {
		return err
	}
	return st.Commit(ctx)
}

func TestRefreshTokenStrictRotation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()
	req := f.newRequest(t)

	if err := issue(ctx, f.st, req, "", "at1", "rt1"); err != nil {
		t.Fatalf("issue first pair: %v", err)
	}
	got, err := f.st.GetRefreshTokenSession(ctx, "rt1", &fosite.DefaultSession{})
	if err != nil {
		t.Fatalf("GetRefreshTokenSession: %v", err)
	}
	assertSameRequest(t, got, req)

	if err := issue(ctx, f.st, req, "rt1", "at2", "rt2"); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	if _, err := f.st.GetAccessTokenSession(ctx, "at1", nil); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("paired access token after rotation: err = %v, want ErrNotFound", err)
	}
	got, err = f.st.GetRefreshTokenSession(ctx, "rt1", &fosite.DefaultSession{})
	if !errors.Is(err, fosite.ErrInactiveToken) {
		t.Fatalf("reused refresh token: err = %v, want ErrInactiveToken", err)
	}
	if got == nil || got.GetID() != req.ID {
		t.Fatalf("reused refresh token: request = %v, want the request of id %q", got, req.ID)
	}
	if err := f.st.RotateRefreshToken(ctx, req.ID, "rt1"); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("rotating a rotated token: err = %v, want ErrNotFound", err)
	}
	if _, err := f.st.GetRefreshTokenSession(ctx, "rt2", &fosite.DefaultSession{}); err != nil {
		t.Errorf("new refresh token: %v", err)
	}
	if _, err := f.st.GetAccessTokenSession(ctx, "at2", &fosite.DefaultSession{}); err != nil {
		t.Errorf("new access token: %v", err)
	}

	// Reuse detection, as fosite's handleRefreshTokenReuse does it.
	ctx2, err := f.st.BeginTX(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []error{
		f.st.DeleteRefreshTokenSession(ctx2, "rt1"),
		f.st.RevokeRefreshToken(ctx2, req.ID),
		f.st.RevokeAccessToken(ctx2, req.ID),
		f.st.Commit(ctx2),
	} {
		if step != nil {
			t.Fatalf("revoke family: %v", step)
		}
	}
	if _, err := f.st.GetRefreshTokenSession(ctx, "rt1", nil); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("deleted refresh token: err = %v, want ErrNotFound", err)
	}
	if _, err := f.st.GetRefreshTokenSession(ctx, "rt2", nil); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("revoked refresh token: err = %v, want ErrInactiveToken", err)
	}
	if _, err := f.st.GetAccessTokenSession(ctx, "at2", nil); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("revoked access token: err = %v, want ErrNotFound", err)
	}
	if err := f.st.RevokeRefreshToken(ctx, "no-such-request"); err != nil {
		t.Errorf("revoking nothing: %v", err)
	}
	if _, err := f.st.GetRefreshTokenSession(ctx, "never-issued", nil); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("unknown refresh token: err = %v, want ErrNotFound", err)
	}
}

func TestRefreshTokenGracePeriod(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{RefreshGracePeriod: time.Minute})
	ctx := t.Context()
	req := f.newRequest(t)
	firstUsed := func() time.Time {
		t.Helper()
		var at *time.Time
		if err := f.st.Pool().QueryRow(ctx,
			`SELECT first_used_at FROM oauth_refresh_tokens WHERE signature = $1`, hashHex("rt1")).Scan(&at); err != nil {
			t.Fatal(err)
		}
		if at == nil {
			return time.Time{}
		}
		return *at
	}

	if err := issue(ctx, f.st, req, "", "at1", "rt1"); err != nil {
		t.Fatalf("issue: %v", err)
	}
	if err := issue(ctx, f.st, req, "rt1", "at2", "rt2"); err != nil {
		t.Fatalf("first rotation: %v", err)
	}
	used := firstUsed()
	if used.IsZero() {
		t.Fatal("first_used_at not set by rotation")
	}
	if _, err := f.st.GetRefreshTokenSession(ctx, "rt1", &fosite.DefaultSession{}); err != nil {
		t.Fatalf("within grace: err = %v, want the token to count as active", err)
	}
	if _, err := f.st.GetAccessTokenSession(ctx, "at1", nil); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("paired access token after rotation: err = %v, want ErrNotFound", err)
	}
	if end, ok, err := f.st.RefreshTokenGraceEnd(ctx, "rt1"); err != nil || !ok || !end.Equal(used.Add(time.Minute)) {
		t.Errorf("RefreshTokenGraceEnd(rt1) = (%v, %v, %v), want (%v, true, nil)", end, ok, err, used.Add(time.Minute))
	}
	if _, ok, err := f.st.RefreshTokenGraceEnd(ctx, "rt2"); err != nil || ok {
		t.Errorf("RefreshTokenGraceEnd of the current token = (%v, %v), want not in a grace period", ok, err)
	}

	// A retry within the grace period rotates again and supersedes the
	// successor of the first use; the grace period does not extend.
	if err := issue(ctx, f.st, req, "rt1", "at3", "rt3"); err != nil {
		t.Fatalf("rotation within grace: %v", err)
	}
	if _, err := f.st.GetAccessTokenSession(ctx, "at3", nil); err != nil {
		t.Errorf("access token at3: %v", err)
	}
	if _, err := f.st.GetRefreshTokenSession(ctx, "rt3", nil); err != nil {
		t.Errorf("refresh token rt3: %v", err)
	}
	if _, err := f.st.GetAccessTokenSession(ctx, "at2", nil); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("superseded access token at2: err = %v, want ErrNotFound", err)
	}
	got, err := f.st.GetRefreshTokenSession(ctx, "rt2", nil)
	if !errors.Is(err, fosite.ErrInactiveToken) || got == nil || got.GetID() != req.ID {
		t.Errorf("superseded refresh token rt2: (%v, %v), want the request and ErrInactiveToken", got, err)
	}
	if err := f.st.RotateRefreshToken(ctx, req.ID, "rt2"); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("rotating the superseded rt2 within rt1's grace period: err = %v, want ErrNotFound", err)
	}
	if again := firstUsed(); !again.Equal(used) {
		t.Errorf("first_used_at moved from %v to %v", used, again)
	}

	// Once the grace period has passed, the token is inactive again.
	if _, err := f.st.Pool().Exec(ctx,
		`UPDATE oauth_refresh_tokens SET first_used_at = now() - interval '2 minutes' WHERE signature = $1`,
		hashHex("rt1")); err != nil {
		t.Fatal(err)
	}
	got, err = f.st.GetRefreshTokenSession(ctx, "rt1", &fosite.DefaultSession{})
	if !errors.Is(err, fosite.ErrInactiveToken) || got == nil {
		t.Fatalf("after grace: (%v, %v), want the request and ErrInactiveToken", got, err)
	}
	if err := f.st.RotateRefreshToken(ctx, req.ID, "rt1"); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("rotation after grace: err = %v, want ErrNotFound", err)
	}
	for _, sig := range []string{"rt1", "rt2", "rt3", "never-issued"} {
		if _, ok, err := f.st.RefreshTokenGraceEnd(ctx, sig); err != nil || ok {
			t.Errorf("RefreshTokenGraceEnd(%s) after grace = (%v, %v), want not in a grace period", sig, ok, err)
		}
	}
}

func TestRefreshTokenRevokedWithinGraceStaysRevoked(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{RefreshGracePeriod: time.Hour})
	ctx := t.Context()
	req := f.newRequest(t)
	if err := issue(ctx, f.st, req, "", "at1", "rt1"); err != nil {
		t.Fatal(err)
	}
	if err := issue(ctx, f.st, req, "rt1", "at2", "rt2"); err != nil {
		t.Fatal(err)
	}
	if err := f.st.RevokeRefreshToken(ctx, req.ID); err != nil {
		t.Fatalf("RevokeRefreshToken: %v", err)
	}
	for _, sig := range []string{"rt1", "rt2"} {
		if _, err := f.st.GetRefreshTokenSession(ctx, sig, nil); !errors.Is(err, fosite.ErrInactiveToken) {
			t.Errorf("%s after revocation: err = %v, want ErrInactiveToken", sig, err)
		}
		if err := f.st.RotateRefreshToken(ctx, req.ID, sig); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("rotating revoked %s: err = %v, want ErrNotFound", sig, err)
		}
	}
}

// TestRefreshTokenConcurrentStrictRotation: of many concurrent refreshes with
// the same token, exactly one may commit; the others fail as fosite expects.
func TestRefreshTokenConcurrentStrictRotation(t *testing.T) {
	t.Parallel()
	const n = 10
	f := fixtureOn(t, storage.New(newWidePool(t, n), storage.Options{}))
	ctx := t.Context()
	req := f.newRequest(t)
	if err := issue(ctx, f.st, req, "", "at0", "rt0"); err != nil {
		t.Fatal(err)
	}

	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = issue(ctx, f.st, req, "rt0", fmt.Sprintf("at%d", i+1), fmt.Sprintf("rt%d", i+1))
		})
	}
	close(start)
	wg.Wait()

	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, fosite.ErrNotFound), errors.Is(err, fosite.ErrSerializationFailure):
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d rotations succeeded, want exactly 1", wins)
	}
	if got := countRows(t, f.st, "oauth_refresh_tokens", "request_id = $1 AND active", req.ID); got != 1 {
		t.Errorf("%d active refresh tokens, want 1", got)
	}
	if got := countRows(t, f.st, "oauth_access_tokens", "request_id = $1", req.ID); got != 1 {
		t.Errorf("%d access tokens, want 1", got)
	}
}

// assertOneChain checks that the grant of req has exactly one live refresh
// token, current, and one access token, access, and that every token in dead
// is inactive (presenting it is reuse).
func assertOneChain(t *testing.T, f fixture, req *fosite.Request, current, access string, dead ...string) {
	t.Helper()
	ctx := t.Context()
	if n := countRows(t, f.st, "oauth_refresh_tokens", "request_id = $1 AND active", req.ID); n != 1 {
		t.Errorf("%d active refresh tokens, want 1", n)
	}
	if n := countRows(t, f.st, "oauth_refresh_tokens", "request_id = $1 AND active AND signature = $2", req.ID, hashHex(current)); n != 1 {
		t.Errorf("the active refresh token is not %s", current)
	}
	if n := countRows(t, f.st, "oauth_access_tokens", "request_id = $1", req.ID); n != 1 {
		t.Errorf("%d access tokens, want 1", n)
	}
	if _, err := f.st.GetAccessTokenSession(ctx, access, nil); err != nil {
		t.Errorf("access token %s: %v", access, err)
	}
	for _, sig := range dead {
		got, err := f.st.GetRefreshTokenSession(ctx, sig, nil)
		if !errors.Is(err, fosite.ErrInactiveToken) || got == nil || got.GetID() != req.ID {
			t.Errorf("refresh token %s: (%v, %v), want the request and ErrInactiveToken", sig, got, err)
		}
	}
}

// TestRefreshTokenOneChainSequential: a token redeemed again and again within
// its grace period yields a working pair each time, but each redemption
// supersedes the previous answer: the grant keeps exactly one live chain, the
// last one issued. After the grace period the token is reuse.
func TestRefreshTokenOneChainSequential(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{RefreshGracePeriod: time.Minute})
	ctx := t.Context()
	req := f.newRequest(t)
	mustIssue(t, f, req, "", "at0", "rt0")
	mustIssue(t, f, req, "rt0", "at1", "rt1")
	assertOneChain(t, f, req, "rt1", "at1")

	var superseded []string
	for i := 2; i <= 6; i++ {
		superseded = append(superseded, fmt.Sprintf("rt%d", i-1))
		rt, at := fmt.Sprintf("rt%d", i), fmt.Sprintf("at%d", i)
		mustIssue(t, f, req, "rt0", at, rt)
		assertOneChain(t, f, req, rt, at, superseded...)
		// rt0 stays redeemable within its grace period.
		if _, err := f.st.GetRefreshTokenSession(ctx, "rt0", nil); err != nil {
			t.Fatalf("rt0 within its grace period: %v", err)
		}
	}
	// A superseded token was never redeemed: it has no grace period.
	for _, sig := range superseded {
		if err := f.st.RotateRefreshToken(ctx, req.ID, sig); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("rotating superseded %s: err = %v, want ErrNotFound", sig, err)
		}
	}

	// The chain moves on from the survivor; rt0, still in its grace period,
	// supersedes that chain's head in turn.
	mustIssue(t, f, req, "rt6", "at7", "rt7")
	assertOneChain(t, f, req, "rt7", "at7", superseded...)
	mustIssue(t, f, req, "rt0", "at8", "rt8")
	assertOneChain(t, f, req, "rt8", "at8", append(superseded, "rt7")...)

	// After the grace periods, every token but the current one is reuse.
	if _, err := f.st.Pool().Exec(ctx,
		`UPDATE oauth_refresh_tokens SET first_used_at = now() - interval '2 minutes'
		 WHERE request_id = $1 AND first_used_at IS NOT NULL`, req.ID); err != nil {
		t.Fatal(err)
	}
	assertOneChain(t, f, req, "rt8", "at8", "rt0", "rt1", "rt2", "rt3", "rt4", "rt5", "rt6", "rt7")
	for _, sig := range []string{"rt0", "rt6"} {
		if err := f.st.RotateRefreshToken(ctx, req.ID, sig); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("rotating %s after its grace period: err = %v, want ErrNotFound", sig, err)
		}
	}
	mustIssue(t, f, req, "rt8", "at9", "rt9")
	assertOneChain(t, f, req, "rt9", "at9", "rt7")
	if _, err := f.st.GetRefreshTokenSession(ctx, "rt8", nil); err != nil {
		t.Errorf("rt8 just redeemed, within its grace period: %v", err)
	}
}

// TestRefreshTokenConcurrentGraceRotation: many concurrent redemptions of one
// token within its grace period all succeed, one after the other, and leave
// exactly one live chain: the one committed last.
func TestRefreshTokenConcurrentGraceRotation(t *testing.T) {
	t.Parallel()
	const n = 10
	for _, tt := range []struct {
		name     string
		redeemed bool // the token was redeemed once before the burst
	}{
		{"current token", false},
		{"token in its grace period", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := fixtureOn(t, storage.New(newWidePool(t, n), storage.Options{RefreshGracePeriod: time.Minute}))
			ctx := t.Context()
			req := f.newRequest(t)
			mustIssue(t, f, req, "", "at0", "rt0")
			if tt.redeemed {
				mustIssue(t, f, req, "rt0", "at-first", "rt-first")
			}

			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					errs[i] = issue(ctx, f.st, req, "rt0", fmt.Sprintf("at%d", i+1), fmt.Sprintf("rt%d", i+1))
				})
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("redemption %d: %v", i+1, err)
				}
			}

			// The survivor is the token whose rotation committed last: the
			// only one not superseded.
			var current string
			var issued []string
			for i := range n {
				sig := fmt.Sprintf("rt%d", i+1)
				issued = append(issued, sig)
				if _, err := f.st.GetRefreshTokenSession(ctx, sig, nil); err == nil {
					if current != "" {
						t.Fatalf("both %s and %s are live", current, sig)
					}
					current = sig
				}
			}
			if current == "" {
				t.Fatal("no refresh token of the burst is live")
			}
			dead := slices.DeleteFunc(issued, func(s string) bool { return s == current })
			if tt.redeemed {
				dead = append(dead, "rt-first")
			}
			assertOneChain(t, f, req, current, "a"+current[1:], dead...)
		})
	}
}

// TestRefreshTokenRevocationDuringRotations: a revocation racing rotations of
// the same grant leaves nothing alive, whichever commits first.
func TestRefreshTokenRevocationDuringRotations(t *testing.T) {
	t.Parallel()
	const n = 8
	f := fixtureOn(t, storage.New(newWidePool(t, n+2), storage.Options{RefreshGracePeriod: time.Minute}))
	ctx := t.Context()
	req := f.newRequest(t)
	mustIssue(t, f, req, "", "at0", "rt0")

	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			err := issue(ctx, f.st, req, "rt0", fmt.Sprintf("at%d", i+1), fmt.Sprintf("rt%d", i+1))
			if err != nil && !errors.Is(err, fosite.ErrNotFound) {
				t.Errorf("rotation %d: %v", i+1, err)
			}
		})
	}
	wg.Go(func() {
		<-start
		time.Sleep(time.Millisecond) // let some rotations begin
		if err := f.st.RevokeRefreshToken(ctx, req.ID); err != nil {
			t.Errorf("RevokeRefreshToken: %v", err)
		}
		if err := f.st.RevokeAccessToken(ctx, req.ID); err != nil {
			t.Errorf("RevokeAccessToken: %v", err)
		}
	})
	close(start)
	wg.Wait()
	if got := countRows(t, f.st, "oauth_refresh_tokens", "request_id = $1 AND (active OR first_used_at IS NOT NULL)", req.ID); got != 0 {
		t.Errorf("%d refresh tokens still usable after the revocation, want 0", got)
	}
	if got := countRows(t, f.st, "oauth_access_tokens", "request_id = $1", req.ID); got != 0 {
		t.Errorf("%d access tokens left after the revocation, want 0", got)
	}
}

// TestRefreshTokenOneActivePerGrant: the table refuses a second active
// refresh token for a grant that was not rotated first.
func TestRefreshTokenOneActivePerGrant(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{RefreshGracePeriod: time.Minute})
	ctx := t.Context()
	req, other := f.newRequest(t), f.newRequest(t)
	mustIssue(t, f, req, "", "at1", "rt1")
	if err := f.st.CreateRefreshTokenSession(ctx, "rt-extra", "", req); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("second active refresh token of a grant: err = %v, want ErrConflict", err)
	}
	mustIssue(t, f, other, "", "other-at", "other-rt")
	mustIssue(t, f, req, "rt1", "at2", "rt2")
	assertOneChain(t, f, req, "rt2", "at2")
	if n := countRows(t, f.st, "oauth_refresh_tokens", "request_id = $1 AND active", other.ID); n != 1 {
		t.Errorf("the other grant has %d active refresh tokens, want 1", n)
	}
}

func TestPKCE(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()
	req := f.newRequest(t)
	req.Form = url.Values{
		"code_challenge":        {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"},
		"code_challenge_method": {"S256"},
	}
	if err := f.st.CreatePKCERequestSession(ctx, "code-sig", req); err != nil {
		t.Fatalf("CreatePKCERequestSession: %v", err)
	}
	got, err := f.st.GetPKCERequestSession(ctx, "code-sig", &fosite.DefaultSession{})
	if err != nil {
		t.Fatalf("GetPKCERequestSession: %v", err)
	}
	assertSameRequest(t, got, req)
	if got.GetClient() == nil || got.GetClient().IsPublic() {
		t.Errorf("client = %v, want the confidential fixture client", got.GetClient())
	}
	if m := got.GetRequestForm().Get("code_challenge_method"); m != "S256" {
		t.Errorf("code_challenge_method = %q", m)
	}
	// The row outlives fosite's delete, so that a concurrent replay of the
	// code reaches the code check; it goes when the code expires.
	if err := f.st.DeletePKCERequestSession(ctx, "code-sig"); err != nil {
		t.Fatalf("DeletePKCERequestSession: %v", err)
	}
	if _, err := f.st.GetPKCERequestSession(ctx, "code-sig", &fosite.DefaultSession{}); err != nil {
		t.Errorf("after fosite's delete the PKCE row must remain until it expires: %v", err)
	}
	if _, err := f.st.Pool().Exec(ctx, `UPDATE oauth_pkce SET expires_at = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.DeleteExpired(ctx, 100); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.GetPKCERequestSession(ctx, "code-sig", &fosite.DefaultSession{}); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("after expiry and cleanup: err = %v, want ErrNotFound", err)
	}
}

// TestNilSessionOnRead: the revocation handler reads tokens with a nil session.
func TestNilSessionOnRead(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()
	req := f.newRequest(t)
	if err := issue(ctx, f.st, req, "", "at", "rt"); err != nil {
		t.Fatal(err)
	}
	for name, get := range map[string]func() (fosite.Requester, error){
		"access":  func() (fosite.Requester, error) { return f.st.GetAccessTokenSession(ctx, "at", nil) },
		"refresh": func() (fosite.Requester, error) { return f.st.GetRefreshTokenSession(ctx, "rt", nil) },
	} {
		got, err := get()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		assertSameRequest(t, got, req)
		if got.GetSession() != nil {
			t.Errorf("%s: session = %v, want nil", name, got.GetSession())
		}
	}
}

func TestSessionRoundTrip(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	now := time.Now().UTC().Round(time.Second)
	expiry := map[fosite.TokenType]time.Time{
		fosite.AccessToken:  now.Add(15 * time.Minute),
		fosite.RefreshToken: now.Add(720 * time.Hour),
	}
	tests := []struct {
		name  string
		saved fosite.Session
		fresh func() fosite.Session
	}{
		{
			name:  "DefaultSession",
			saved: &fosite.DefaultSession{Subject: "u1", Username: "ada", ExpiresAt: expiry, Extra: map[string]any{"k": "v"}},
			fresh: func() fosite.Session { return &fosite.DefaultSession{} },
		},
		{
			name: "JWTSession",
			saved: &oauth2.JWTSession{
				Subject:   "u1",
				ExpiresAt: expiry,
				JWTClaims: &jwt.JWTClaims{Subject: "u1", Audience: []string{"https://api.example.com"}, Extra: map[string]any{"workspace_id": "w1"}},
				JWTHeader: &jwt.Headers{Extra: map[string]any{"kid": "k1"}},
			},
			fresh: func() fosite.Session { return &oauth2.JWTSession{} },
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			req := f.newRequest(t)
			req.Session = tt.saved
			sig := fmt.Sprintf("rt-%d", i)
			if err := f.st.CreateRefreshTokenSession(ctx, sig, "", req); err != nil {
				t.Fatalf("CreateRefreshTokenSession: %v", err)
			}
			sess := tt.fresh()
			if _, err := f.st.GetRefreshTokenSession(ctx, sig, sess); err != nil {
				t.Fatalf("GetRefreshTokenSession: %v", err)
			}
			for _, typ := range []fosite.TokenType{fosite.AccessToken, fosite.RefreshToken} {
				if got := sess.GetExpiresAt(typ); !got.Equal(expiry[typ]) {
					t.Errorf("ExpiresAt(%s) = %v, want %v", typ, got, expiry[typ])
				}
			}
			if sess.GetSubject() != "u1" {
				t.Errorf("subject = %q", sess.GetSubject())
			}
			if !reflect.DeepEqual(sess, tt.saved) {
				t.Errorf("session = %+v, want %+v", sess, tt.saved)
			}
		})
	}
}

func TestRowsAreKeyedByHashedSignature(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()
	req := f.newRequest(t)
	if err := issue(ctx, f.st, req, "", "raw-access", "raw-refresh"); err != nil {
		t.Fatal(err)
	}
	for table, sig := range map[string]string{"oauth_access_tokens": "raw-access", "oauth_refresh_tokens": "raw-refresh"} {
		if n := countRows(t, f.st, table, "signature = $1", sig); n != 0 {
			t.Errorf("%s holds the raw signature", table)
		}
		if n := countRows(t, f.st, table, "signature = $1 AND subject = $2 AND client_id = $3",
			hashHex(sig), f.user.ID, f.app.ClientID); n != 1 {
			t.Errorf("%s: no row keyed by SHA-256 of the signature", table)
		}
	}
	if n := countRows(t, f.st, "oauth_refresh_tokens", "access_token_signature = $1", hashHex("raw-access")); n != 1 {
		t.Error("refresh row does not hold the hashed access signature")
	}
}

func TestExpiresAtFallback(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()
	req := f.newRequest(t)
	req.Session = &fosite.DefaultSession{Subject: "u1"} // no expiry at all
	if err := issue(ctx, f.st, req, "", "at", "rt"); err != nil {
		t.Fatal(err)
	}
	for table, want := range map[string]time.Duration{
		"oauth_access_tokens":  24 * time.Hour,
		"oauth_refresh_tokens": 365 * 24 * time.Hour,
	} {
		if n := countRows(t, f.st, table, "expires_at - requested_at = $1::interval", want); n != 1 {
			t.Errorf("%s: expires_at is not requested_at + %v", table, want)
		}
	}
}

func TestTransactionRollback(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()
	req := f.newRequest(t)

	txCtx, err := f.st.BeginTX(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.CreateAuthorizeCodeSession(txCtx, "code", req); err != nil {
		t.Fatal(err)
	}
	if err := f.st.CreateAccessTokenSession(txCtx, "at", req); err != nil {
		t.Fatal(err)
	}
	if err := f.st.CreateRefreshTokenSession(txCtx, "rt", "at", req); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.GetAccessTokenSession(txCtx, "at", nil); err != nil {
		t.Errorf("read inside the transaction: %v", err)
	}
	if _, err := f.st.GetAccessTokenSession(ctx, "at", nil); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("uncommitted row visible outside the transaction: %v", err)
	}
	if err := f.st.Rollback(txCtx); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if err := f.st.Rollback(txCtx); err != nil {
		t.Errorf("second Rollback: %v", err)
	}
	if _, err := f.st.GetAuthorizeCodeSession(ctx, "code", nil); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("code after rollback: err = %v, want ErrNotFound", err)
	}
	for _, table := range []string{"oauth_codes", "oauth_access_tokens", "oauth_refresh_tokens"} {
		if n := countRows(t, f.st, table, "true"); n != 0 {
			t.Errorf("%s has %d rows after rollback", table, n)
		}
	}

	if err := f.st.Commit(ctx); err == nil {
		t.Error("Commit without a transaction succeeded")
	}
	if err := f.st.Rollback(ctx); err == nil {
		t.Error("Rollback without a transaction succeeded")
	}
	// Nested: BeginTX inside a transaction opens a savepoint.
	txCtx, err = f.st.BeginTX(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.CreateAccessTokenSession(txCtx, "outer", req); err != nil {
		t.Fatal(err)
	}
	innerCtx, err := f.st.BeginTX(txCtx)
	if err != nil {
		t.Fatalf("nested BeginTX: %v", err)
	}
	if err := f.st.CreateAccessTokenSession(innerCtx, "inner", req); err != nil {
		t.Fatal(err)
	}
	if err := f.st.Rollback(innerCtx); err != nil {
		t.Fatalf("nested Rollback: %v", err)
	}
	if err := f.st.Commit(txCtx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if err := f.st.Rollback(txCtx); err != nil {
		t.Errorf("Rollback after Commit: %v", err)
	}
	if _, err := f.st.GetAccessTokenSession(ctx, "outer", nil); err != nil {
		t.Errorf("committed token: %v", err)
	}
	if _, err := f.st.GetAccessTokenSession(ctx, "inner", nil); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("token of the rolled-back savepoint: err = %v, want ErrNotFound", err)
	}
}

func TestGetClient(t *testing.T) {
	t.Parallel()
	audience := []string{"https://api.example.com"}
	f := newFixture(t, storage.Options{Audience: audience})
	ctx := t.Context()

	if _, err := f.st.GetClient(ctx, "no-such-client"); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("unknown client: err = %v, want ErrNotFound", err)
	}

	c, err := f.st.GetClient(ctx, f.app.ClientID)
	if err != nil {
		t.Fatalf("GetClient: %v", err)
	}
	if _, ok := c.(fosite.OpenIDConnectClient); ok {
		t.Error("client implements fosite.OpenIDConnectClient; private_key_jwt would reach the no-op JTI store")
	}
	rc, ok := c.(fosite.ClientWithSecretRotation)
	if !ok {
		t.Fatal("client does not implement fosite.ClientWithSecretRotation")
	}
	for _, check := range []struct {
		name      string
		got, want any
	}{
		{"GetID", c.GetID(), f.app.ClientID},
		{"GetHashedSecret", c.GetHashedSecret(), f.app.SecretHash},
		{"GetRedirectURIs", c.GetRedirectURIs(), f.app.RedirectURIs},
		{"GetGrantTypes", c.GetGrantTypes(), fosite.Arguments{"authorization_code", "refresh_token"}},
		{"GetResponseTypes", c.GetResponseTypes(), fosite.Arguments{"code"}},
		{"GetScopes", c.GetScopes(), fosite.Arguments(f.app.Scopes)},
		{"IsPublic", c.IsPublic(), false},
		{"GetAudience", c.GetAudience(), fosite.Arguments(audience)},
		{"GetRotatedHashes", rc.GetRotatedHashes(), [][]byte(nil)},
		{"App().ID", c.(*storage.Client).App().ID, f.app.ID},
	} {
		if !reflect.DeepEqual(check.got, check.want) {
			t.Errorf("%s = %v, want %v", check.name, check.got, check.want)
		}
	}

	rotated := []byte("previous-hash")
	for _, tt := range []struct {
		name    string
		expires string
		want    [][]byte
	}{
		{"still valid", "now() + interval '1 hour'", [][]byte{rotated}},
		{"expired", "now() - interval '1 second'", nil},
	} {
		if _, err := f.st.Pool().Exec(ctx,
			`UPDATE oauth_apps SET rotated_secret_hash = $1, rotated_secret_expires_at = `+tt.expires+`
			 WHERE client_id = $2`, rotated, f.app.ClientID); err != nil {
			t.Fatal(err)
		}
		c, err := f.st.GetClient(ctx, f.app.ClientID)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.(fosite.ClientWithSecretRotation).GetRotatedHashes(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: GetRotatedHashes = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestClientAssertionJWTMethodsAreInert(t *testing.T) {
	t.Parallel()
	st := storage.New(nil, storage.Options{})
	if err := st.SetClientAssertionJWT(t.Context(), "jti", time.Now().Add(time.Minute)); err != nil {
		t.Errorf("SetClientAssertionJWT: %v", err)
	}
	if err := st.ClientAssertionJWTValid(t.Context(), "jti"); err != nil {
		t.Errorf("ClientAssertionJWTValid: %v", err)
	}
}

// hashHex is the row key the store derives from a signature.
func hashHex(signature string) string {
	sum := sha256.Sum256([]byte(signature))
	return hex.EncodeToString(sum[:])
}

// A code whose row, written in the same batch, carries the PKCE parameters
// serves as its own PKCE request: no oauth_pkce row is written, and the
// PKCE request reads back with only those parameters, also once the code is
// redeemed. A code without them, or with other values, still gets its row.
func TestPKCEKeptWithTheCode(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	const challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	pkceForm := url.Values{"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	for _, tc := range []struct {
		name     string
		codeForm url.Values // the code row's form
		pkceForm url.Values // what fosite's PKCE handler stores
		wantRow  bool       // an oauth_pkce row is written
	}{
		{
			name:     "code carries the challenge",
			codeForm: url.Values{"redirect_uri": {"https://app.example.com/callback"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}},
			pkceForm: pkceForm,
		},
		{
			name:     "code without the challenge",
			codeForm: url.Values{"redirect_uri": {"https://app.example.com/callback"}},
			pkceForm: pkceForm, wantRow: true,
		},
		{
			name:     "code with another challenge",
			codeForm: url.Values{"code_challenge": {"another"}, "code_challenge_method": {"S256"}},
			pkceForm: pkceForm, wantRow: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := f.st.WithWriteBatch(t.Context())
			sig := "code-" + strings.ReplaceAll(tc.name, " ", "-")
			code := f.newRequest(t)
			code.ID, code.Form = "grant-"+sig, tc.codeForm
			if err := f.st.CreateAuthorizeCodeSession(ctx, sig, code); err != nil {
				t.Fatal(err)
			}
			pkce := code.Sanitize(nil).(*fosite.Request)
			pkce.Form = tc.pkceForm
			if err := f.st.CreatePKCERequestSession(ctx, sig, pkce); err != nil {
				t.Fatal(err)
			}
			if err := f.st.FlushWrites(ctx); err != nil {
				t.Fatal(err)
			}
			if n := countRows(t, f.st, "oauth_pkce", "true"); (n > 0) != tc.wantRow {
				t.Errorf("oauth_pkce has %d rows, want a row: %v", n, tc.wantRow)
			}
			if _, err := f.st.Pool().Exec(t.Context(), `DELETE FROM oauth_pkce`); err != nil {
				t.Fatal(err)
			}
			if tc.wantRow {
				return // the row itself is TestPKCE's
			}
			for _, redeemed := range []bool{false, true} {
				if redeemed {
					if err := f.st.InvalidateAuthorizeCodeSession(t.Context(), sig); err != nil {
						t.Fatal(err)
					}
				}
				got, err := f.st.GetPKCERequestSession(t.Context(), sig, &fosite.DefaultSession{})
				if err != nil {
					t.Fatalf("GetPKCERequestSession (redeemed %v): %v", redeemed, err)
				}
				if !maps.EqualFunc(got.GetRequestForm(), tc.pkceForm, slices.Equal) || got.GetID() != code.ID ||
					got.GetClient().GetID() != f.app.ClientID {
					t.Errorf("redeemed %v: PKCE request %s of %s with form %v, want %s with %v",
						redeemed, got.GetID(), got.GetClient().GetID(), got.GetRequestForm(), code.ID, tc.pkceForm)
				}
			}
		})
	}
	if _, err := f.st.GetPKCERequestSession(t.Context(), "unknown-code", nil); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("unknown code: err = %v, want ErrNotFound", err)
	}
}
