package apps_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"image"
	"image/color"
	"image/png"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nextoria/authz/apps"
	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/storagetest"
)

func TestRegister(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := storagetest.NewStore(t, storage.Options{})
	ws, err := store.CreateWorkspace(ctx, "Acme", storage.PlanGrowth)
	if err != nil {
		t.Fatal(err)
	}
	owner, err := store.CreateUser(ctx, storage.NewUser{
		Email: "owner@acme.example", PasswordHash: "unused", WorkspaceID: ws.ID, Role: storage.RoleAdmin,
	})
	if err != nil {
		t.Fatal(err)
	}
	hasher := secret.NewHasher(bytes.Repeat([]byte{7}, 32))
	svc := apps.Service{Store: store, Hasher: hasher}

	img := image.NewNRGBA(image.Rect(0, 0, 32, 32))
	img.Set(1, 1, color.NRGBA{R: 255, A: 255})
	var logo bytes.Buffer
	if err := png.Encode(&logo, img); err != nil {
		t.Fatal(err)
	}

	t.Run("confidential with logo", func(t *testing.T) {
		app, clientSecret, err := svc.Register(ctx, apps.Registration{
			Name:         "  Acme Sync  ",
			RedirectURIs: []string{"https://acme.example/callback", "http://127.0.0.1:9999/callback"},
			Scopes:       []string{"projects:read", "tasks:write"},
			Logo:         logo.Bytes(),
			WorkspaceID:  ws.ID,
			OwnerID:      owner.ID,
		})
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^[0-9a-f]{24}$`).MatchString(app.ClientID) {
			t.Errorf("client_id %q is not 24 hex characters", app.ClientID)
		}
		if !regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`).MatchString(clientSecret) {
			t.Errorf("client secret %q is not 256 bits of base64url", clientSecret)
		}
		got, err := store.GetApp(ctx, app.ClientID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "Acme Sync" {
			t.Errorf("name = %q, want it trimmed", got.Name)
		}
		if got.Public || got.WorkspaceID != ws.ID || got.OwnerID != owner.ID {
			t.Errorf("app = %+v", got)
		}
		if !slices.Equal(got.RedirectURIs, []string{"https://acme.example/callback", "http://127.0.0.1:9999/callback"}) {
			t.Errorf("redirect URIs = %v", got.RedirectURIs)
		}
		if !slices.Equal(got.Scopes, []string{"projects:read", "tasks:write"}) {
			t.Errorf("scopes = %v", got.Scopes)
		}
		if !bytes.Equal(got.SecretHash, hasher.Sum([]byte(clientSecret))) {
			t.Errorf("stored secret hash %s is not the keyed hash of the secret", hex.EncodeToString(got.SecretHash))
		}
		if bytes.Contains(got.SecretHash, []byte(clientSecret)) {
			t.Error("the secret is stored in clear")
		}
		if !got.HasLogo {
			t.Error("HasLogo = false")
		}
		l, err := store.GetAppLogo(ctx, app.ClientID)
		if err != nil {
			t.Fatal(err)
		}
		if l.ContentType != "image/png" {
			t.Errorf("logo content type = %q", l.ContentType)
		}
		if _, err := png.Decode(bytes.NewReader(l.Data)); err != nil {
			t.Errorf("stored logo is not a PNG: %v", err)
		}
	})

	t.Run("public gets no secret", func(t *testing.T) {
		app, clientSecret, err := svc.Register(ctx, apps.Registration{
			Name:         "Acme CLI",
			RedirectURIs: []string{"http://[::1]:8123/cb"},
			Scopes:       []string{"tasks:read"},
			Public:       true,
			WorkspaceID:  ws.ID,
			OwnerID:      owner.ID,
		})
		if err != nil {
			t.Fatal(err)
		}
		if clientSecret != "" {
			t.Errorf("public app got a secret")
		}
		got, err := store.GetApp(ctx, app.ClientID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Public || got.SecretHash != nil || got.HasLogo {
			t.Errorf("app = %+v", got)
		}
	})

	t.Run("client ids differ", func(t *testing.T) {
		seen := map[string]bool{}
		for range 3 {
			app, _, err := svc.Register(ctx, apps.Registration{
				Name: "Same Name", RedirectURIs: []string{"https://x.example/cb"}, Scopes: []string{"files:read"},
				WorkspaceID: ws.ID, OwnerID: owner.ID,
			})
			if err != nil {
				t.Fatal(err)
			}
			if seen[app.ClientID] {
				t.Fatalf("client_id %q issued twice", app.ClientID)
			}
			seen[app.ClientID] = true
		}
	})

	t.Run("invalid input creates nothing", func(t *testing.T) {
		before, err := store.ListApps(ctx, ws.ID)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = svc.Register(ctx, apps.Registration{
			Name: "Bad", RedirectURIs: []string{"http://evil.example/cb"}, Scopes: []string{"projects:read"},
			Logo: []byte("<svg/>"), WorkspaceID: ws.ID, OwnerID: owner.ID,
		})
		var fe apps.FieldErrors
		if !errors.As(err, &fe) {
			t.Fatalf("err = %v, want FieldErrors", err)
		}
		if fe[apps.FieldRedirectURIs] == "" || fe[apps.FieldLogo] == "" {
			t.Errorf("field errors = %v", fe)
		}
		after, err := store.ListApps(ctx, ws.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(after) != len(before) {
			t.Errorf("an app was created: %d apps before, %d after", len(before), len(after))
		}
	})

	t.Run("confidential without a hasher", func(t *testing.T) {
		_, _, err := apps.Service{Store: store}.Register(ctx, apps.Registration{
			Name: "No Hasher", RedirectURIs: []string{"https://x.example/cb"}, Scopes: []string{"files:read"},
			WorkspaceID: ws.ID, OwnerID: owner.ID,
		})
		if err == nil || !strings.Contains(err.Error(), "hasher") {
			t.Fatalf("err = %v, want a missing-hasher error", err)
		}
	})

	t.Run("unknown workspace", func(t *testing.T) {
		_, _, err := svc.Register(ctx, apps.Registration{
			Name: "Orphan", RedirectURIs: []string{"https://x.example/cb"}, Scopes: []string{"files:read"},
			WorkspaceID: "00000000-0000-0000-0000-000000000000", OwnerID: owner.ID,
		})
		if !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("err = %v, want storage.ErrNotFound", err)
		}
	})
}

// TestRegisterAndUpdateProfile: the profile is stored trimmed at
// registration, replaced by Update and cleared by an empty one.
func TestRegisterAndUpdateProfile(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := storagetest.NewStore(t, storage.Options{})
	ws, err := store.CreateWorkspace(ctx, "Acme", storage.PlanGrowth)
	if err != nil {
		t.Fatal(err)
	}
	owner, err := store.CreateUser(ctx, storage.NewUser{
		Email: "owner@acme.example", PasswordHash: "unused", WorkspaceID: ws.ID, Role: storage.RoleAdmin,
	})
	if err != nil {
		t.Fatal(err)
	}
	svc := apps.Service{Store: store}
	reg := apps.Registration{
		Name: "Acme Sync", RedirectURIs: []string{"https://acme.example/cb"}, Scopes: []string{"projects:read"},
		Public: true, WorkspaceID: ws.ID, OwnerID: owner.ID,
		Profile: apps.Profile{HomepageURL: " https://acme.example/ ", PrivacyURL: "https://acme.example/privacy",
			Description: "  Keeps Acme in sync.  "},
	}
	app, _, err := svc.Register(ctx, reg)
	if err != nil {
		t.Fatal(err)
	}
	if app.HomepageURL != "https://acme.example/" || app.PrivacyURL != "https://acme.example/privacy" ||
		app.Description != "Keeps Acme in sync." {
		t.Errorf("registered profile = %q %q %q", app.HomepageURL, app.PrivacyURL, app.Description)
	}
	reg.Profile.HomepageURL = "http://acme.example/"
	if _, _, err := svc.Register(ctx, reg); !errors.As(err, new(apps.FieldErrors)) {
		t.Errorf("http homepage: err = %v, want FieldErrors", err)
	}
	upd := apps.Update{Name: app.Name, RedirectURIs: app.RedirectURIs, Scopes: app.Scopes,
		Profile: apps.Profile{Description: "Now with invoices."}}
	got, err := svc.Update(ctx, app.ClientID, upd)
	if err != nil {
		t.Fatal(err)
	}
	if got.HomepageURL != "" || got.PrivacyURL != "" || got.Description != "Now with invoices." {
		t.Errorf("updated profile = %q %q %q", got.HomepageURL, got.PrivacyURL, got.Description)
	}
}
