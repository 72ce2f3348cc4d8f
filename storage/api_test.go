package storage_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/storagetest"
)

func TestWorkspace(t *testing.T) {
	t.Parallel()
	st := storagetest.NewStore(t, storage.Options{})
	ctx := t.Context()
	ws, err := st.CreateWorkspace(ctx, "Acme", storage.PlanScale)
	if err != nil {
		t.Fatalf("CreateWorkspace: %v", err)
	}
	got, err := st.GetWorkspace(ctx, ws.ID)
	if err != nil {
		t.Fatalf("GetWorkspace: %v", err)
	}
	if got.ID != ws.ID || got.Name != "Acme" || got.Plan != storage.PlanScale || !got.CreatedAt.Equal(ws.CreatedAt) {
		t.Errorf("GetWorkspace = %+v, want %+v", got, ws)
	}
	for _, id := range []string{"00000000-0000-0000-0000-000000000000", "not-a-uuid", ""} {
		if _, err := st.GetWorkspace(ctx, id); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("GetWorkspace(%q): err = %v, want ErrNotFound", id, err)
		}
	}
	if _, err := st.CreateWorkspace(ctx, "Acme", "enterprise"); err == nil {
		t.Error("CreateWorkspace accepted an unknown plan")
	}
}

func TestUsers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()

	tests := []struct {
		name string
		in   storage.NewUser
		want error
	}{
		{"e-mail taken, other case", storage.NewUser{Email: "ADA@Example.com", PasswordHash: "h", WorkspaceID: f.ws.ID}, storage.ErrConflict},
		{"unknown workspace", storage.NewUser{Email: "bob@example.com", PasswordHash: "h", WorkspaceID: "00000000-0000-0000-0000-000000000000"}, storage.ErrNotFound},
		{"workspace id not a UUID", storage.NewUser{Email: "bob@example.com", PasswordHash: "h", WorkspaceID: "acme"}, storage.ErrNotFound},
		{"new user", storage.NewUser{Email: "Bob@Example.com", PasswordHash: "h", WorkspaceID: f.ws.ID}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := f.st.CreateUser(ctx, tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("CreateUser: err = %v, want %v", err, tt.want)
			}
			if err == nil && (u.ID == "" || u.Role != storage.RoleMember || u.Email != tt.in.Email || u.WorkspaceID != f.ws.ID) {
				t.Errorf("CreateUser = %+v", u)
			}
		})
	}

	got, err := f.st.GetUserByEmail(ctx, "ADA@EXAMPLE.COM")
	if err != nil {
		t.Fatalf("GetUserByEmail: %v", err)
	}
	if !reflect.DeepEqual(got, f.user) {
		t.Errorf("GetUserByEmail = %+v, want %+v", got, f.user)
	}
	if got, err := f.st.GetUser(ctx, f.user.ID); err != nil || got.Email != f.user.Email || got.Role != storage.RoleAdmin {
		t.Errorf("GetUser = %+v, %v", got, err)
	}
	if _, err := f.st.GetUserByEmail(ctx, "nobody@example.com"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("unknown e-mail: err = %v, want ErrNotFound", err)
	}
	for _, id := range []string{"00000000-0000-0000-0000-000000000000", "not-a-uuid"} {
		if _, err := f.st.GetUser(ctx, id); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("GetUser(%q): err = %v, want ErrNotFound", id, err)
		}
	}
}

func TestLoginSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()
	live, expired := sum("live"), sum("expired")

	if err := f.st.CreateLoginSession(ctx, live, f.user.ID, time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("CreateLoginSession: %v", err)
	}
	if err := f.st.CreateLoginSession(ctx, expired, f.user.ID, time.Now().Add(-time.Second)); err != nil {
		t.Fatalf("CreateLoginSession: %v", err)
	}
	if err := f.st.CreateLoginSession(ctx, sum("x"), "00000000-0000-0000-0000-000000000000", time.Now().Add(time.Hour)); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("session of unknown user: err = %v, want ErrNotFound", err)
	}

	p, err := f.st.GetPrincipal(ctx, live)
	if err != nil {
		t.Fatalf("GetPrincipal: %v", err)
	}
	want := storage.Principal{
		UserID: f.user.ID, Email: f.user.Email, Role: storage.RoleAdmin,
		WorkspaceID: f.ws.ID, WorkspaceName: f.ws.Name, Plan: f.ws.Plan,
		LoginSessionID: live, SignedInAt: p.SignedInAt, Name: "ada",
	}
	if !reflect.DeepEqual(p, want) || p.SignedInAt.IsZero() {
		t.Errorf("GetPrincipal = %+v, want %+v", p, want)
	}
	if _, err := f.st.GetPrincipal(ctx, expired); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("expired session: err = %v, want ErrNotFound", err)
	}
	if err := f.st.DeleteLoginSession(ctx, live); err != nil {
		t.Fatalf("DeleteLoginSession: %v", err)
	}
	if _, err := f.st.GetPrincipal(ctx, live); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("after sign-out: err = %v, want ErrNotFound", err)
	}
	if err := f.st.DeleteLoginSession(ctx, sum("unknown")); err != nil {
		t.Errorf("deleting an unknown session: %v", err)
	}
}

func TestApps(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()
	logo := &storage.Logo{ContentType: "image/png", Data: []byte("\x89PNG fake")}
	withLogo := createApp(t, f.st, f.ws, f.user, "client-logo", logo)

	wantSHA := sha256.Sum256(logo.Data)
	if !withLogo.HasLogo || withLogo.LogoSHA256 != hex.EncodeToString(wantSHA[:]) {
		t.Errorf("CreateApp: HasLogo=%v LogoSHA256=%q", withLogo.HasLogo, withLogo.LogoSHA256)
	}
	got, err := f.st.GetApp(ctx, "client-logo")
	if err != nil {
		t.Fatalf("GetApp: %v", err)
	}
	if !reflect.DeepEqual(got, withLogo) {
		t.Errorf("GetApp = %+v, want %+v", got, withLogo)
	}
	gotLogo, err := f.st.GetAppLogo(ctx, "client-logo")
	if err != nil || !reflect.DeepEqual(gotLogo, *logo) {
		t.Errorf("GetAppLogo = %+v, %v", gotLogo, err)
	}
	if _, err := f.st.GetAppLogo(ctx, f.app.ClientID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("app without logo: err = %v, want ErrNotFound", err)
	}
	if got, err := f.st.GetApp(ctx, f.app.ClientID); err != nil || got.HasLogo {
		t.Errorf("GetApp without logo = %+v, %v", got, err)
	}
	if _, err := f.st.GetApp(ctx, "nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("unknown app: err = %v, want ErrNotFound", err)
	}

	dup := storage.NewApp{
		ClientID: "client-logo", SecretHash: []byte("h"), Name: "Dup",
		RedirectURIs: []string{"https://x.example.com/cb"}, WorkspaceID: f.ws.ID, OwnerID: f.user.ID, Logo: logo,
	}
	if _, err := f.st.CreateApp(ctx, dup); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("duplicate client_id: err = %v, want ErrConflict", err)
	}
	dup.ClientID, dup.WorkspaceID = "client-orphan", "00000000-0000-0000-0000-000000000000"
	if _, err := f.st.CreateApp(ctx, dup); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("unknown workspace: err = %v, want ErrNotFound", err)
	}
	if n := countRows(t, f.st, "oauth_app_logos", "true"); n != 1 {
		t.Errorf("%d logos, want 1", n)
	}

	public, err := f.st.CreateApp(ctx, storage.NewApp{
		ClientID: "spa", Name: "SPA", Public: true,
		RedirectURIs: []string{"https://spa.example.com/cb"}, WorkspaceID: f.ws.ID, OwnerID: f.user.ID,
	})
	if err != nil {
		t.Fatalf("CreateApp public: %v", err)
	}
	if public.SecretHash != nil || !public.Public || public.Scopes == nil {
		t.Errorf("public app = %+v", public)
	}

	other, err := f.st.CreateWorkspace(ctx, "Other", storage.PlanStarter)
	if err != nil {
		t.Fatal(err)
	}
	otherApp := createApp(t, f.st, other, f.user, "client-other", nil)

	for _, tt := range []struct {
		workspace string
		want      []string
	}{
		{"", []string{otherApp.ClientID, public.ClientID, withLogo.ClientID, f.app.ClientID}},
		{f.ws.ID, []string{public.ClientID, withLogo.ClientID, f.app.ClientID}},
		{other.ID, []string{otherApp.ClientID}},
		{"00000000-0000-0000-0000-000000000000", []string{}},
		{"not-a-uuid", []string{}},
	} {
		apps, err := f.st.ListApps(ctx, tt.workspace)
		if err != nil {
			t.Fatalf("ListApps(%q): %v", tt.workspace, err)
		}
		ids := []string{}
		for _, a := range apps {
			ids = append(ids, a.ClientID)
		}
		if !reflect.DeepEqual(ids, tt.want) {
			t.Errorf("ListApps(%q) = %q, want %q", tt.workspace, ids, tt.want)
		}
	}
}

// TestAppProfile: the homepage, privacy-policy URL and description are stored
// at registration and read back by GetApp, ListApps and ListGrants.
func TestAppProfile(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()
	app, err := f.st.CreateApp(ctx, storage.NewApp{
		ClientID: "with-profile", SecretHash: []byte("h"), Name: "Acme Sync",
		RedirectURIs: []string{"https://acme.example/cb"}, Scopes: []string{"projects:read"},
		WorkspaceID: f.ws.ID, OwnerID: f.user.ID,
		HomepageURL: "https://acme.example/", PrivacyURL: "https://acme.example/privacy",
		Description: "Keeps Acme in sync.",
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.st.GetApp(ctx, "with-profile")
	if err != nil || !reflect.DeepEqual(got, app) {
		t.Fatalf("GetApp = %+v, %v; want %+v", got, err, app)
	}
	if got.HomepageURL != "https://acme.example/" || got.PrivacyURL != "https://acme.example/privacy" ||
		got.Description != "Keeps Acme in sync." {
		t.Errorf("profile not stored: %+v", got)
	}
	if plain, err := f.st.GetApp(ctx, f.app.ClientID); err != nil || plain.HomepageURL != "" || plain.Description != "" {
		t.Errorf("app without profile = %+v, %v", plain, err)
	}
	if err := f.st.SaveGrant(ctx, f.user.ID, "with-profile", []string{"projects:read"}); err != nil {
		t.Fatal(err)
	}
	grants, err := f.st.ListGrants(ctx, f.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, g := range grants {
		if g.App.ClientID == "with-profile" {
			found = g.App.Description == "Keeps Acme in sync."
		}
	}
	if !found {
		t.Errorf("ListGrants does not carry the description: %+v", grants)
	}
}

func TestDeleteAppCascades(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()
	logo := &storage.Logo{ContentType: "image/png", Data: []byte("png")}
	app := createApp(t, f.st, f.ws, f.user, "doomed", logo)
	client, err := f.st.GetClient(ctx, app.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	req := f.newRequest(t)
	req.Client = client
	if err := f.st.CreateAuthorizeCodeSession(ctx, "code", req); err != nil {
		t.Fatal(err)
	}
	if err := f.st.CreatePKCERequestSession(ctx, "code", req); err != nil {
		t.Fatal(err)
	}
	if err := issue(ctx, f.st, req, "", "at", "rt"); err != nil {
		t.Fatal(err)
	}
	session := sum("session")
	if err := f.st.CreateLoginSession(ctx, session, f.user.ID, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := f.st.CreateConsentChallenge(ctx, storage.ConsentChallenge{
		IDHash: sum("challenge"), LoginSessionID: session, ClientID: app.ClientID,
		RequestQuery: "response_type=code", Scopes: []string{"read"}, ExpiresAt: time.Now().Add(time.Minute),
	}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.SaveGrant(ctx, f.user.ID, app.ClientID, []string{"read"}); err != nil {
		t.Fatal(err)
	}
	// A token of another app must survive.
	if err := issue(ctx, f.st, f.newRequest(t), "", "at-kept", "rt-kept"); err != nil {
		t.Fatal(err)
	}

	if err := f.st.DeleteApp(ctx, app.ClientID); err != nil {
		t.Fatalf("DeleteApp: %v", err)
	}
	for _, table := range []string{"oauth_codes", "oauth_pkce", "oauth_access_tokens", "oauth_refresh_tokens", "consent_challenges", "consent_grants"} {
		if n := countRows(t, f.st, table, "client_id = $1", app.ClientID); n != 0 {
			t.Errorf("%s: %d rows of the deleted app", table, n)
		}
	}
	if n := countRows(t, f.st, "oauth_app_logos", "app_id = $1", app.ID); n != 0 {
		t.Error("logo of the deleted app remains")
	}
	if _, err := f.st.GetAccessTokenSession(ctx, "at-kept", nil); err != nil {
		t.Errorf("token of another app: %v", err)
	}
	if err := f.st.DeleteApp(ctx, app.ClientID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("second DeleteApp: err = %v, want ErrNotFound", err)
	}
}

func TestConsentChallenge(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()
	mine, theirs := sum("mine"), sum("theirs")
	for _, s := range [][]byte{mine, theirs} {
		if err := f.st.CreateLoginSession(ctx, s, f.user.ID, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	challenge := func(id string, ttl time.Duration) storage.ConsentChallenge {
		return storage.ConsentChallenge{
			IDHash: sum(id), LoginSessionID: mine, ClientID: f.app.ClientID,
			RequestQuery: "client_id=client-1&response_type=code&scope=read+write",
			Scopes:       []string{"read", "write"},
			ExpiresAt:    time.Now().Add(ttl).UTC().Round(time.Microsecond),
		}
	}
	live, expired := challenge("live", 10*time.Minute), challenge("expired", -time.Second)
	for _, c := range []storage.ConsentChallenge{live, expired} {
		if err := f.st.CreateConsentChallenge(ctx, c); err != nil {
			t.Fatalf("CreateConsentChallenge: %v", err)
		}
	}
	if err := f.st.CreateConsentChallenge(ctx, live); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("duplicate challenge: err = %v, want ErrConflict", err)
	}
	bad := challenge("bad", time.Minute)
	bad.LoginSessionID = sum("no-such-session")
	if err := f.st.CreateConsentChallenge(ctx, bad); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("challenge of unknown session: err = %v, want ErrNotFound", err)
	}

	steps := []struct {
		name    string
		id      []byte
		session []byte
		wantErr error
	}{
		{"another session cannot take it", live.IDHash, theirs, storage.ErrNotFound},
		{"expired", expired.IDHash, mine, storage.ErrNotFound},
		{"unknown", sum("unknown"), mine, storage.ErrNotFound},
		{"its session takes it", live.IDHash, mine, nil},
		{"only once", live.IDHash, mine, storage.ErrNotFound},
	}
	for _, s := range steps {
		got, err := f.st.TakeConsentChallenge(ctx, s.id, s.session)
		if !errors.Is(err, s.wantErr) {
			t.Fatalf("%s: err = %v, want %v", s.name, err, s.wantErr)
		}
		if err == nil {
			got.ExpiresAt = got.ExpiresAt.UTC()
			if !reflect.DeepEqual(got, live) {
				t.Errorf("%s: got %+v, want %+v", s.name, got, live)
			}
		}
	}
}

func TestGrants(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()
	if _, err := f.st.GetGrant(ctx, f.user.ID, f.app.ClientID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("no grant yet: err = %v, want ErrNotFound", err)
	}

	steps := []struct {
		add  []string
		want []string
	}{
		{[]string{"read", "read", "openid"}, []string{"read", "openid"}},
		{[]string{"write", "read"}, []string{"read", "openid", "write"}},
		{nil, []string{"read", "openid", "write"}},
	}
	var last storage.Grant
	for i, s := range steps {
		if err := f.st.SaveGrant(ctx, f.user.ID, f.app.ClientID, s.add); err != nil {
			t.Fatalf("SaveGrant #%d: %v", i, err)
		}
		g, err := f.st.GetGrant(ctx, f.user.ID, f.app.ClientID)
		if err != nil {
			t.Fatalf("GetGrant #%d: %v", i, err)
		}
		if !reflect.DeepEqual(g.Scopes, s.want) || g.UserID != f.user.ID || g.ClientID != f.app.ClientID {
			t.Errorf("grant #%d = %+v, want scopes %q", i, g, s.want)
		}
		if i > 0 && g.GrantedAt.Before(last.GrantedAt) {
			t.Errorf("granted_at went back from %v to %v", last.GrantedAt, g.GrantedAt)
		}
		last = g
	}
	if err := f.st.TouchGrants(ctx, []storage.GrantUse{{UserID: f.user.ID, ClientID: f.app.ClientID, At: time.Now()}}); err != nil {
		t.Fatalf("TouchGrants: %v", err)
	}
	g, err := f.st.GetGrant(ctx, f.user.ID, f.app.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if g.LastUsedAt.Before(last.LastUsedAt) || !g.GrantedAt.Equal(last.GrantedAt) {
		t.Errorf("after TouchGrants: %+v (before: %+v)", g, last)
	}
	if err := f.st.SaveGrant(ctx, f.user.ID, "no-such-app", []string{"read"}); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("grant to unknown app: err = %v, want ErrNotFound", err)
	}
}

// signingKey returns a fake key with kid.
func signingKey(kid string) storage.SigningKey {
	return storage.SigningKey{
		KID: kid, Alg: "ES256", PrivateEnc: []byte("sealed-" + kid),
		PublicJWK: []byte(fmt.Sprintf(`{"alg":"ES256","crv":"P-256","kid":%q,"kty":"EC","use":"sig","x":"x","y":"y"}`, kid)),
	}
}

func TestEnsureSigningKeyConcurrently(t *testing.T) {
	t.Parallel()
	const n = 8
	st := storage.New(newWidePool(t, n), storage.Options{})
	ctx := t.Context()

	inserted := make([]bool, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			inserted[i], errs[i] = st.EnsureSigningKey(ctx, "ES256", func() (storage.SigningKey, error) {
				return signingKey(fmt.Sprintf("k%d", i)), nil
			})
		})
	}
	close(start)
	wg.Wait()
	created := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("EnsureSigningKey: %v", errs[i])
		}
		if inserted[i] {
			created++
		}
	}
	if created != 1 {
		t.Fatalf("%d callers inserted a key, want exactly 1", created)
	}
	keys, err := st.ListSigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || !keys[0].RetiredAt.IsZero() {
		t.Fatalf("keys = %+v, want one active key", keys)
	}

	ok, err := st.EnsureSigningKey(ctx, "ES256", func() (storage.SigningKey, error) {
		t.Error("gen called although an active key exists")
		return storage.SigningKey{}, errors.New("unexpected")
	})
	if ok || err != nil {
		t.Errorf("EnsureSigningKey with an active key = %v, %v", ok, err)
	}
}

func TestRotateSigningKey(t *testing.T) {
	t.Parallel()
	st := storagetest.NewStore(t, storage.Options{})
	ctx := t.Context()
	genErr := errors.New("no entropy")
	if _, err := st.EnsureSigningKey(ctx, "ES256", func() (storage.SigningKey, error) { return storage.SigningKey{}, genErr }); !errors.Is(err, genErr) {
		t.Errorf("failing generator: err = %v, want %v", err, genErr)
	}
	if ok, err := st.EnsureSigningKey(ctx, "ES256", func() (storage.SigningKey, error) { return signingKey("k1"), nil }); !ok || err != nil {
		t.Fatalf("EnsureSigningKey = %v, %v", ok, err)
	}
	if _, err := st.RotateSigningKey(ctx, signingKey("k2"), 0); err != nil {
		t.Fatalf("RotateSigningKey: %v", err)
	}
	if _, err := st.RotateSigningKey(ctx, signingKey("k1"), time.Hour); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("rotating to a used kid: err = %v, want ErrConflict", err)
	}

	keys, err := st.ListSigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].KID != "k2" || keys[1].KID != "k1" {
		t.Fatalf("keys = %+v, want k2 then k1", keys)
	}
	if !keys[0].RetiredAt.IsZero() || keys[1].RetiredAt.IsZero() {
		t.Errorf("k2 retired=%v, k1 retired=%v; want only k1 retired (the failed rotation changed nothing)",
			keys[0].RetiredAt, keys[1].RetiredAt)
	}
	want := signingKey("k2")
	if keys[0].Alg != want.Alg || !bytes.Equal(keys[0].PrivateEnc, want.PrivateEnc) {
		t.Errorf("k2 = %+v", keys[0])
	}
	var gotJWK, wantJWK map[string]any
	if err := json.Unmarshal(keys[0].PublicJWK, &gotJWK); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(want.PublicJWK, &wantJWK)
	if !reflect.DeepEqual(gotJWK, wantJWK) {
		t.Errorf("PublicJWK = %s, want %s", keys[0].PublicJWK, want.PublicJWK)
	}
}

// TestRotateSigningKeyPublishesAhead: a rotated-in key activates
// publishAhead later, and the key it replaces retires at that same moment.
func TestRotateSigningKeyPublishesAhead(t *testing.T) {
	t.Parallel()
	st := storagetest.NewStore(t, storage.Options{})
	ctx := t.Context()
	if _, err := st.EnsureSigningKey(ctx, "ES256", func() (storage.SigningKey, error) { return signingKey("k1"), nil }); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	activates, err := st.RotateSigningKey(ctx, signingKey("k2"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if d := activates.Sub(before); d < 59*time.Minute || d > 61*time.Minute {
		t.Fatalf("activates %v after the rotation, want about an hour", d)
	}
	if _, err := st.RotateSigningKey(ctx, signingKey("k3"), -time.Second); err == nil {
		t.Error("a negative publish-ahead was accepted")
	}
	keys, err := st.ListSigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].KID != "k2" || keys[1].KID != "k1" {
		t.Fatalf("keys = %+v, want k2 then k1", keys)
	}
	if !keys[0].ActivatesAt.Equal(activates) || !keys[0].RetiredAt.IsZero() {
		t.Errorf("k2 activates %v retired %v, want %v and not retired", keys[0].ActivatesAt, keys[0].RetiredAt, activates)
	}
	if !keys[1].RetiredAt.Equal(activates) || keys[1].ActivatesAt.After(before) {
		t.Errorf("k1 activates %v retired %v, want retired at %v", keys[1].ActivatesAt, keys[1].RetiredAt, activates)
	}
}

// sum is SHA-256, as the server hashes session and challenge ids.
func sum(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}
