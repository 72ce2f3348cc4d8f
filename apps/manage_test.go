package apps_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/nextoria/authz/apps"
	"github.com/nextoria/authz/apps/appstest"
	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/storagetest"
)

func TestCanManage(t *testing.T) {
	t.Parallel()
	const (
		ws1, ws2         = "ws-1", "ws-2"
		owner, colleague = "user-owner", "user-colleague"
	)
	app := storage.App{ClientID: "c", WorkspaceID: ws1, OwnerID: owner}
	tests := []struct {
		name       string
		p          storage.Principal
		wantView   bool
		wantManage bool
	}{
		{"creator, member", storage.Principal{UserID: owner, WorkspaceID: ws1, Role: storage.RoleMember}, true, true},
		{"creator, admin", storage.Principal{UserID: owner, WorkspaceID: ws1, Role: storage.RoleAdmin}, true, true},
		{"admin of the workspace", storage.Principal{UserID: colleague, WorkspaceID: ws1, Role: storage.RoleAdmin}, true, true},
		{"other member", storage.Principal{UserID: colleague, WorkspaceID: ws1, Role: storage.RoleMember}, true, false},
		{"admin of another workspace", storage.Principal{UserID: "x", WorkspaceID: ws2, Role: storage.RoleAdmin}, false, false},
		{"member of another workspace", storage.Principal{UserID: "x", WorkspaceID: ws2, Role: storage.RoleMember}, false, false},
		// The creator moved to another workspace keeps no rights here.
		{"creator in another workspace", storage.Principal{UserID: owner, WorkspaceID: ws2, Role: storage.RoleAdmin}, false, false},
		{"zero principal", storage.Principal{}, false, false},
		{"unknown role", storage.Principal{UserID: colleague, WorkspaceID: ws1, Role: "owner"}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := apps.CanView(tt.p, app); got != tt.wantView {
				t.Errorf("CanView = %v, want %v", got, tt.wantView)
			}
			if got := apps.CanManage(tt.p, app); got != tt.wantManage {
				t.Errorf("CanManage = %v, want %v", got, tt.wantManage)
			}
		})
	}
	if apps.CanView(storage.Principal{}, storage.App{}) {
		t.Error("an app without a workspace is visible to a principal without one")
	}
}

func TestValidateUpdate(t *testing.T) {
	t.Parallel()
	valid := func() apps.Update {
		return apps.Update{Name: "Acme", RedirectURIs: []string{"https://acme.example/cb"}, Scopes: []string{"tasks:read"}}
	}
	tests := []struct {
		name   string
		modify func(*apps.Update)
		want   map[string]string // field → substring; nil: valid
	}{
		{"valid", func(*apps.Update) {}, nil},
		{"new logo", func(u *apps.Update) { u.Logo = appstest.PNG(32, 32) }, nil},
		{"remove logo", func(u *apps.Update) { u.RemoveLogo = true }, nil},
		{"both", func(u *apps.Update) { u.Logo, u.RemoveLogo = appstest.PNG(32, 32), true }, map[string]string{apps.FieldLogo: "not both"}},
		{"svg", func(u *apps.Update) { u.Logo = []byte(appstest.SVG) }, map[string]string{apps.FieldLogo: "PNG, JPEG or WebP"}},
		{"bomb", func(u *apps.Update) { u.Logo = appstest.PNGBomb() }, map[string]string{apps.FieldLogo: "pixels"}},
		{"registration rules apply", func(u *apps.Update) {
			u.Name = strings.Repeat("x", 101)
			u.RedirectURIs = []string{"http://acme.example/cb"}
			u.Scopes = nil
		}, map[string]string{apps.FieldName: "at most", apps.FieldRedirectURIs: "https", apps.FieldScopes: "at least one"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := valid()
			tt.modify(&u)
			got := apps.ValidateUpdate(u)
			if tt.want == nil {
				if got != nil {
					t.Fatalf("ValidateUpdate = %v, want nil", got)
				}
				return
			}
			if len(got) != len(tt.want) {
				t.Fatalf("ValidateUpdate = %v, want errors on %v", got, tt.want)
			}
			for f, sub := range tt.want {
				if !strings.Contains(got[f], sub) {
					t.Errorf("%s: %q lacks %q", f, got[f], sub)
				}
			}
		})
	}
}

// serviceFixture is a store with a workspace, its admin and a service.
type serviceFixture struct {
	store  *storage.Store
	svc    apps.Service
	hasher *secret.Hasher
	reg    apps.Registration // a valid registration in the workspace
}

func newServiceFixture(t *testing.T) serviceFixture {
	t.Helper()
	ctx := t.Context()
	store := storagetest.NewStore(t, storage.Options{})
	ws, err := store.CreateWorkspace(ctx, "Acme", storage.PlanGrowth)
	if err != nil {
		t.Fatal(err)
	}
	owner, err := store.CreateUser(ctx, storage.NewUser{Email: "o@acme.example", PasswordHash: "x", WorkspaceID: ws.ID})
	if err != nil {
		t.Fatal(err)
	}
	hasher := secret.NewHasher(bytes.Repeat([]byte{9}, 32))
	return serviceFixture{
		store: store, hasher: hasher, svc: apps.Service{Store: store, Hasher: hasher},
		reg: apps.Registration{
			Name: "Acme Sync", RedirectURIs: []string{"https://acme.example/cb"}, Scopes: []string{"projects:read"},
			Logo: appstest.PNG(32, 32), WorkspaceID: ws.ID, OwnerID: owner.ID,
		},
	}
}

func TestServiceUpdate(t *testing.T) {
	t.Parallel()
	f := newServiceFixture(t)
	ctx := t.Context()
	app, _, err := f.svc.Register(ctx, f.reg)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name      string
		clientID  string
		update    apps.Update
		wantErr   func(error) bool // nil: success
		wantLogo  bool
		sameLogo  bool // the logo version did not change
		wantName  string
		wantScope []string
	}{
		{
			name: "settings only, logo kept", clientID: app.ClientID,
			update:   apps.Update{Name: "  Acme Two ", RedirectURIs: []string{"https://two.example/cb"}, Scopes: []string{"tasks:read", "files:read"}},
			wantLogo: true, sameLogo: true, wantName: "Acme Two", wantScope: []string{"tasks:read", "files:read"},
		},
		{
			name: "new logo", clientID: app.ClientID,
			update:   apps.Update{Name: "Acme Two", RedirectURIs: []string{"https://two.example/cb"}, Scopes: []string{"tasks:read"}, Logo: appstest.PNG(48, 48)},
			wantLogo: true, wantName: "Acme Two", wantScope: []string{"tasks:read"},
		},
		{
			name: "invalid: nothing changes", clientID: app.ClientID,
			update:  apps.Update{Name: "", RedirectURIs: []string{"https://two.example/cb"}, Scopes: []string{"tasks:read"}, RemoveLogo: true},
			wantErr: func(err error) bool { var fe apps.FieldErrors; return errors.As(err, &fe) && fe[apps.FieldName] != "" },
		},
		{
			name: "remove logo", clientID: app.ClientID,
			update:   apps.Update{Name: "Acme Three", RedirectURIs: []string{"https://two.example/cb"}, Scopes: []string{"tasks:read"}, RemoveLogo: true},
			wantName: "Acme Three", wantScope: []string{"tasks:read"},
		},
		{
			name: "unknown app", clientID: "nope",
			update:  apps.Update{Name: "X", RedirectURIs: []string{"https://x.example/cb"}, Scopes: []string{"tasks:read"}, Logo: appstest.PNG(16, 16)},
			wantErr: func(err error) bool { return errors.Is(err, storage.ErrNotFound) },
		},
	}
	prev, err := f.store.GetApp(ctx, app.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		got, err := f.svc.Update(ctx, s.clientID, s.update)
		if s.wantErr != nil {
			if !s.wantErr(err) {
				t.Fatalf("%s: err = %v", s.name, err)
			}
			if now, _ := f.store.GetApp(ctx, app.ClientID); now.Name != prev.Name || now.LogoSHA256 != prev.LogoSHA256 {
				t.Errorf("%s: the app changed: %+v", s.name, now)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		stored, err := f.store.GetApp(ctx, s.clientID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != s.wantName || stored.Name != s.wantName || !slices.Equal(stored.Scopes, s.wantScope) {
			t.Errorf("%s: returned %+v, stored %+v", s.name, got, stored)
		}
		if got.HasLogo != s.wantLogo || stored.HasLogo != s.wantLogo || got.LogoSHA256 != stored.LogoSHA256 {
			t.Errorf("%s: logo returned %v/%q, stored %v/%q", s.name, got.HasLogo, got.LogoSHA256, stored.HasLogo, stored.LogoSHA256)
		}
		if s.wantLogo && (stored.LogoSHA256 == prev.LogoSHA256) != s.sameLogo {
			t.Errorf("%s: logo version %q (before %q), want same=%v", s.name, stored.LogoSHA256, prev.LogoSHA256, s.sameLogo)
		}
		if stored.Public != app.Public || !bytes.Equal(stored.SecretHash, app.SecretHash) {
			t.Errorf("%s: client type or secret changed", s.name)
		}
		prev = stored
	}
}

func TestServiceRotateSecret(t *testing.T) {
	t.Parallel()
	f := newServiceFixture(t)
	ctx := t.Context()
	app, first, err := f.svc.Register(ctx, f.reg)
	if err != nil {
		t.Fatal(err)
	}
	pub := f.reg
	pub.Public = true
	public, _, err := f.svc.Register(ctx, pub)
	if err != nil {
		t.Fatal(err)
	}
	// accepts reports whether the token endpoint would take clientSecret:
	// the same comparison fosite makes, current hash then rotated ones.
	accepts := func(t *testing.T, clientSecret string) bool {
		t.Helper()
		c, err := f.store.GetClient(ctx, app.ClientID)
		if err != nil {
			t.Fatal(err)
		}
		hashes := append([][]byte{c.GetHashedSecret()}, c.(fosite.ClientWithSecretRotation).GetRotatedHashes()...)
		for _, h := range hashes {
			if f.hasher.Compare(context.Background(), h, []byte(clientSecret)) == nil {
				return true
			}
		}
		return false
	}

	second, err := f.svc.RotateSecret(ctx, app.ClientID, time.Hour)
	if err != nil {
		t.Fatalf("rotate with overlap: %v", err)
	}
	if second == first || len(second) != 43 {
		t.Fatalf("new secret %q", second)
	}
	if !accepts(t, first) || !accepts(t, second) {
		t.Errorf("during the overlap: first accepted %v, second %v; want both", accepts(t, first), accepts(t, second))
	}
	stored, err := f.store.GetApp(ctx, app.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(stored.RotatedSecretExpiresAt); d < 59*time.Minute || d > time.Hour {
		t.Errorf("overlap ends in %v, want about an hour", d)
	}

	third, err := f.svc.RotateSecret(ctx, app.ClientID, 0)
	if err != nil {
		t.Fatalf("rotate now: %v", err)
	}
	for name, tt := range map[string]struct {
		secret string
		want   bool
	}{"first": {first, false}, "second": {second, false}, "third": {third, true}} {
		if got := accepts(t, tt.secret); got != tt.want {
			t.Errorf("after rotating with no overlap: %s secret accepted = %v, want %v", name, got, tt.want)
		}
	}

	for name, tt := range map[string]struct {
		clientID string
		overlap  time.Duration
		want     func(error) bool
	}{
		"public":        {public.ClientID, 0, func(err error) bool { return errors.Is(err, apps.ErrPublicApp) }},
		"unknown":       {"nope", 0, func(err error) bool { return errors.Is(err, storage.ErrNotFound) }},
		"negative":      {app.ClientID, -time.Second, func(err error) bool { return err != nil }},
		"too long":      {app.ClientID, apps.MaxSecretOverlap + time.Second, func(err error) bool { return err != nil }},
		"longest taken": {app.ClientID, apps.MaxSecretOverlap, func(err error) bool { return err == nil }},
	} {
		if _, err := f.svc.RotateSecret(ctx, tt.clientID, tt.overlap); !tt.want(err) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if _, err := (apps.Service{Store: f.store}).RotateSecret(ctx, app.ClientID, 0); err == nil {
		t.Error("rotated without a hasher")
	}
}

func TestServiceDelete(t *testing.T) {
	t.Parallel()
	f := newServiceFixture(t)
	ctx := t.Context()
	app, _, err := f.svc.Register(ctx, f.reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Delete(ctx, app.ClientID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := f.store.GetApp(ctx, app.ClientID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("deleted app: err = %v", err)
	}
	if _, err := f.store.GetAppLogo(ctx, app.ClientID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("logo of the deleted app: err = %v", err)
	}
	if err := f.svc.Delete(ctx, app.ClientID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("second Delete: err = %v, want ErrNotFound", err)
	}
}
