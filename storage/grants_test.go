package storage_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/nextoria/authz/storage"
)

func TestListGrants(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()
	logo := &storage.Logo{ContentType: "image/png", Data: []byte("png")}
	other, err := f.st.CreateWorkspace(ctx, "Other", storage.PlanStarter)
	if err != nil {
		t.Fatal(err)
	}
	// Users authorize apps of any workspace.
	foreign := createApp(t, f.st, other, f.user, "foreign", logo)
	bob := createUser(t, f.st, f.ws, "bob@example.com")

	if err := f.st.SaveGrant(ctx, f.user.ID, f.app.ClientID, []string{"read", "write"}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.SaveGrant(ctx, f.user.ID, foreign.ClientID, []string{"read"}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.SaveGrant(ctx, bob.ID, f.app.ClientID, []string{"read"}); err != nil {
		t.Fatal(err)
	}
	// The fixture app is used last, so it comes first.
	time.Sleep(10 * time.Millisecond)
	if err := f.st.TouchGrants(ctx, []storage.GrantUse{{UserID: f.user.ID, ClientID: f.app.ClientID, At: time.Now()}}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		userID    string
		wantApps  []string
		wantScope [][]string
	}{
		{"two grants, newest use first", f.user.ID, []string{f.app.ClientID, foreign.ClientID}, [][]string{{"read", "write"}, {"read"}}},
		{"another user's", bob.ID, []string{f.app.ClientID}, [][]string{{"read"}}},
		{"no grants", "00000000-0000-0000-0000-000000000000", []string{}, [][]string{}},
		{"not a uuid", "not-a-uuid", []string{}, [][]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.st.ListGrants(ctx, tt.userID)
			if err != nil {
				t.Fatalf("ListGrants: %v", err)
			}
			apps, scopes := []string{}, [][]string{}
			for _, g := range got {
				apps = append(apps, g.App.ClientID)
				scopes = append(scopes, g.Scopes)
				if g.ClientID != g.App.ClientID || g.UserID != tt.userID {
					t.Errorf("grant %+v does not match its app or user", g.Grant)
				}
				if g.GrantedAt.IsZero() || g.LastUsedAt.Before(g.GrantedAt) {
					t.Errorf("times: granted %v, last used %v", g.GrantedAt, g.LastUsedAt)
				}
			}
			if !reflect.DeepEqual(apps, tt.wantApps) || !reflect.DeepEqual(scopes, tt.wantScope) {
				t.Errorf("ListGrants = %q %q, want %q %q", apps, scopes, tt.wantApps, tt.wantScope)
			}
		})
	}
	got, err := f.st.ListGrants(ctx, f.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a := got[1].App; a.Name != foreign.Name || !a.HasLogo || a.LogoSHA256 != foreign.LogoSHA256 || a.WorkspaceID != other.ID {
		t.Errorf("app of the grant = %+v, want %+v", a, foreign)
	}
}

func TestRevokeGrant(t *testing.T) {
	t.Parallel()
	for _, grace := range []time.Duration{0, time.Minute} {
		t.Run("grace="+grace.String(), func(t *testing.T) {
			t.Parallel()
			testRevokeGrant(t, grace)
		})
	}
}

func testRevokeGrant(t *testing.T, grace time.Duration) {
	f := newFixture(t, storage.Options{RefreshGracePeriod: grace})
	ctx := t.Context()
	bob := createUser(t, f.st, f.ws, "bob@example.com")
	app2 := createApp(t, f.st, f.ws, f.user, "client-2", nil)
	client2, err := f.st.GetClient(ctx, app2.ClientID)
	if err != nil {
		t.Fatal(err)
	}

	// Ada's tokens of the fixture app: one pair already rotated once (the
	// old refresh token may sit in its grace period), a code and PKCE.
	ada := f.newRequest(t)
	mustIssue(t, f, ada, "", "ada-at1", "ada-rt1")
	mustIssue(t, f, ada, "ada-rt1", "ada-at2", "ada-rt2")
	adaCode := f.newRequest(t)
	if err := f.st.CreateAuthorizeCodeSession(ctx, "ada-code", adaCode); err != nil {
		t.Fatal(err)
	}
	if err := f.st.CreatePKCERequestSession(ctx, "ada-code", adaCode); err != nil {
		t.Fatal(err)
	}
	// Tokens that must survive: Bob's of the same app, Ada's of another app.
	bobReq := f.newRequest(t)
	bobReq.Session = newSession(bob.ID)
	mustIssue(t, f, bobReq, "", "bob-at", "bob-rt")
	adaOther := f.newRequest(t)
	adaOther.Client = client2
	mustIssue(t, f, adaOther, "", "ada2-at", "ada2-rt")

	adaSession, bobSession := sum("ada-session"), sum("bob-session")
	for s, user := range map[string]string{string(adaSession): f.user.ID, string(bobSession): bob.ID} {
		if err := f.st.CreateLoginSession(ctx, []byte(s), user, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		id       string
		session  []byte
		clientID string
	}{
		{"ada-app1", adaSession, f.app.ClientID},
		{"ada-app2", adaSession, app2.ClientID},
		{"bob-app1", bobSession, f.app.ClientID},
	} {
		if err := f.st.CreateConsentChallenge(ctx, storage.ConsentChallenge{
			IDHash: sum(c.id), LoginSessionID: c.session, ClientID: c.clientID,
			RequestQuery: "response_type=code", Scopes: []string{"read"}, ExpiresAt: time.Now().Add(time.Minute),
		}); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range []struct{ user, client string }{
		{f.user.ID, f.app.ClientID}, {f.user.ID, app2.ClientID}, {bob.ID, f.app.ClientID},
	} {
		if err := f.st.SaveGrant(ctx, g.user, g.client, []string{"read"}); err != nil {
			t.Fatal(err)
		}
	}

	if err := f.st.RevokeGrant(ctx, f.user.ID, f.app.ClientID); err != nil {
		t.Fatalf("RevokeGrant: %v", err)
	}

	// Ada's tokens of the app are gone or inactive, grace period or not.
	for _, sig := range []string{"ada-at1", "ada-at2"} {
		if _, err := f.st.GetAccessTokenSession(ctx, sig, nil); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("access token %s: err = %v, want ErrNotFound", sig, err)
		}
	}
	for _, sig := range []string{"ada-rt1", "ada-rt2"} {
		if _, err := f.st.GetRefreshTokenSession(ctx, sig, nil); !errors.Is(err, fosite.ErrInactiveToken) {
			t.Errorf("refresh token %s: err = %v, want ErrInactiveToken", sig, err)
		}
	}
	if err := f.st.RotateRefreshToken(ctx, ada.ID, "ada-rt1"); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("rotating a revoked token: err = %v, want ErrNotFound", err)
	}
	if _, err := f.st.GetAuthorizeCodeSession(ctx, "ada-code", nil); !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		t.Errorf("code: err = %v, want ErrInvalidatedAuthorizeCode", err)
	}
	if _, err := f.st.GetPKCERequestSession(ctx, "ada-code", nil); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("pkce: err = %v, want ErrNotFound", err)
	}
	if _, err := f.st.GetGrant(ctx, f.user.ID, f.app.ClientID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("grant: err = %v, want ErrNotFound", err)
	}
	if _, err := f.st.TakeConsentChallenge(ctx, sum("ada-app1"), adaSession); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Ada's challenge for the app: err = %v, want ErrNotFound", err)
	}

	// Everything else survives.
	for _, sig := range []string{"bob-at", "ada2-at"} {
		if _, err := f.st.GetAccessTokenSession(ctx, sig, nil); err != nil {
			t.Errorf("access token %s: %v", sig, err)
		}
	}
	for _, sig := range []string{"bob-rt", "ada2-rt"} {
		if _, err := f.st.GetRefreshTokenSession(ctx, sig, nil); err != nil {
			t.Errorf("refresh token %s: %v", sig, err)
		}
	}
	for _, g := range []struct{ user, client string }{{f.user.ID, app2.ClientID}, {bob.ID, f.app.ClientID}} {
		if _, err := f.st.GetGrant(ctx, g.user, g.client); err != nil {
			t.Errorf("grant of %s to %s: %v", g.user, g.client, err)
		}
	}
	for _, c := range []struct {
		id      string
		session []byte
	}{{"ada-app2", adaSession}, {"bob-app1", bobSession}} {
		if _, err := f.st.TakeConsentChallenge(ctx, sum(c.id), c.session); err != nil {
			t.Errorf("challenge %s: %v", c.id, err)
		}
	}

	// Nothing left to revoke.
	for _, tt := range []struct{ user, client string }{
		{f.user.ID, f.app.ClientID},
		{f.user.ID, "no-such-app"},
		{"not-a-uuid", f.app.ClientID},
	} {
		if err := f.st.RevokeGrant(ctx, tt.user, tt.client); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("RevokeGrant(%q, %q): err = %v, want ErrNotFound", tt.user, tt.client, err)
		}
	}
}

func mustIssue(t *testing.T, f fixture, r fosite.Requester, oldRefresh, access, refresh string) {
	t.Helper()
	if err := issue(t.Context(), f.st, r, oldRefresh, access, refresh); err != nil {
		t.Fatalf("issue %s/%s: %v", access, refresh, err)
	}
}

func createUser(t *testing.T, st *storage.Store, ws storage.Workspace, email string) storage.User {
	t.Helper()
	u, err := st.CreateUser(t.Context(), storage.NewUser{Email: email, PasswordHash: "$argon2id$stub", WorkspaceID: ws.ID})
	if err != nil {
		t.Fatalf("CreateUser(%q): %v", email, err)
	}
	return u
}
