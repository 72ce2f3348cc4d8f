package storage_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/nextoria/authz/storage"
)

func TestUpdateApp(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()
	logo := &storage.Logo{ContentType: "image/png", Data: []byte("png-1")}
	app := createApp(t, f.st, f.ws, f.user, "editable", logo)

	tests := []struct {
		name     string
		clientID string
		update   storage.AppUpdate
		wantErr  error // nil: success
	}{
		{
			name:     "every field",
			clientID: app.ClientID,
			update: storage.AppUpdate{
				Name:         "Renamed",
				RedirectURIs: []string{"https://new.example.com/cb", "http://127.0.0.1:8080/cb"},
				Scopes:       []string{"tasks:read"},
				HomepageURL:  "https://acme.example/",
				PrivacyURL:   "https://acme.example/privacy",
				Description:  "Syncs tasks with Acme.",
			},
		},
		{
			name:     "profile cleared",
			clientID: app.ClientID,
			update: storage.AppUpdate{
				Name:         "Renamed",
				RedirectURIs: []string{"https://new.example.com/cb"},
				Scopes:       []string{"tasks:read"},
			},
		},
		{
			name:     "unknown app",
			clientID: "no-such-app",
			update:   storage.AppUpdate{Name: "X", RedirectURIs: []string{"https://x.example/cb"}},
			wantErr:  storage.ErrNotFound,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := time.Now().Add(-time.Second)
			got, err := f.st.UpdateApp(ctx, tt.clientID, tt.update)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("UpdateApp err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("UpdateApp: %v", err)
			}
			if got.Name != tt.update.Name || !reflect.DeepEqual(got.RedirectURIs, tt.update.RedirectURIs) ||
				!reflect.DeepEqual(got.Scopes, tt.update.Scopes) || got.HomepageURL != tt.update.HomepageURL ||
				got.PrivacyURL != tt.update.PrivacyURL || got.Description != tt.update.Description {
				t.Errorf("UpdateApp = %+v, want %+v", got, tt.update)
			}
			// What UpdateApp returns is what GetApp reads, logo version included.
			stored, err := f.st.GetApp(ctx, tt.clientID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, stored) {
				t.Errorf("UpdateApp returned %+v, GetApp reads %+v", got, stored)
			}
			if !got.HasLogo || got.LogoSHA256 != app.LogoSHA256 {
				t.Errorf("logo changed: HasLogo=%v sha=%q", got.HasLogo, got.LogoSHA256)
			}
			if !bytes.Equal(got.SecretHash, app.SecretHash) || got.Public != app.Public ||
				got.OwnerID != app.OwnerID || got.WorkspaceID != app.WorkspaceID || !got.CreatedAt.Equal(app.CreatedAt) {
				t.Errorf("fixed fields changed: %+v", got)
			}
			if got.UpdatedAt.Before(before) {
				t.Errorf("updated_at = %v, not bumped", got.UpdatedAt)
			}
		})
	}
}

func TestSetAppLogo(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()
	png := func(s string) *storage.Logo { return &storage.Logo{ContentType: "image/png", Data: []byte(s)} }
	steps := []struct {
		name     string
		clientID string
		logo     *storage.Logo
		wantErr  error
		wantLogo *storage.Logo // after the step; nil: none
	}{
		{name: "add", clientID: f.app.ClientID, logo: png("first"), wantLogo: png("first")},
		{name: "replace", clientID: f.app.ClientID, logo: png("second"), wantLogo: png("second")},
		{name: "remove", clientID: f.app.ClientID, logo: nil},
		{name: "remove again", clientID: f.app.ClientID, logo: nil},
		{name: "unknown app", clientID: "no-such-app", logo: png("x"), wantErr: storage.ErrNotFound},
		{name: "empty logo", clientID: f.app.ClientID, logo: &storage.Logo{ContentType: "image/png"}, wantErr: errAny},
	}
	for _, s := range steps {
		err := f.st.SetAppLogo(ctx, s.clientID, s.logo)
		switch {
		case s.wantErr == errAny:
			if err == nil {
				t.Fatalf("%s: no error", s.name)
			}
			continue
		case s.wantErr != nil:
			if !errors.Is(err, s.wantErr) {
				t.Fatalf("%s: err = %v, want %v", s.name, err, s.wantErr)
			}
			continue
		case err != nil:
			t.Fatalf("%s: %v", s.name, err)
		}
		app, err := f.st.GetApp(ctx, s.clientID)
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.st.GetAppLogo(ctx, s.clientID)
		if s.wantLogo == nil {
			if !errors.Is(err, storage.ErrNotFound) || app.HasLogo || app.LogoSHA256 != "" {
				t.Errorf("%s: logo still there: %v, HasLogo=%v", s.name, err, app.HasLogo)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, *s.wantLogo) {
			t.Errorf("%s: GetAppLogo = %+v, %v", s.name, got, err)
		}
		sum := sha256.Sum256(s.wantLogo.Data)
		if !app.HasLogo || app.LogoSHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: HasLogo=%v LogoSHA256=%q", s.name, app.HasLogo, app.LogoSHA256)
		}
	}
	if n := countRows(t, f.st, "oauth_app_logos", "true"); n != 0 {
		t.Errorf("%d logo rows left", n)
	}
}

// errAny stands for "some error" in a table.
var errAny = errors.New("any error")

func TestRotateAppSecret(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()
	public, err := f.st.CreateApp(ctx, storage.NewApp{
		ClientID: "spa", Name: "SPA", Public: true,
		RedirectURIs: []string{"https://spa.example.com/cb"}, WorkspaceID: f.ws.ID, OwnerID: f.user.ID,
	})
	if err != nil {
		t.Fatal(err)
	}
	original := f.app.SecretHash
	inAnHour := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)

	steps := []struct {
		name        string
		clientID    string
		newHash     string
		keepOld     time.Time
		wantErr     error
		wantCurrent string
		wantRotated []byte // the previous hash still honoured; nil: none
	}{
		{name: "with overlap", clientID: f.app.ClientID, newHash: "hash-2", keepOld: inAnHour,
			wantCurrent: "hash-2", wantRotated: original},
		{name: "again with overlap: only the last previous one is kept", clientID: f.app.ClientID, newHash: "hash-3",
			keepOld: inAnHour, wantCurrent: "hash-3", wantRotated: []byte("hash-2")},
		{name: "old one dies now", clientID: f.app.ClientID, newHash: "hash-4", wantCurrent: "hash-4"},
		{name: "expired overlap", clientID: f.app.ClientID, newHash: "hash-5", keepOld: time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond),
			wantCurrent: "hash-5"},
		{name: "public app", clientID: public.ClientID, newHash: "h", wantErr: storage.ErrNotFound},
		{name: "unknown app", clientID: "nope", newHash: "h", wantErr: storage.ErrNotFound},
		{name: "empty hash", clientID: f.app.ClientID, wantErr: errAny},
	}
	for _, s := range steps {
		err := f.st.RotateAppSecret(ctx, s.clientID, []byte(s.newHash), s.keepOld)
		switch {
		case s.wantErr == errAny:
			if err == nil {
				t.Fatalf("%s: no error", s.name)
			}
			continue
		case s.wantErr != nil:
			if !errors.Is(err, s.wantErr) {
				t.Fatalf("%s: err = %v, want %v", s.name, err, s.wantErr)
			}
			continue
		case err != nil:
			t.Fatalf("%s: %v", s.name, err)
		}
		c, err := f.st.GetClient(ctx, s.clientID)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(c.GetHashedSecret()); got != s.wantCurrent {
			t.Errorf("%s: current hash = %q, want %q", s.name, got, s.wantCurrent)
		}
		rotated := c.(fosite.ClientWithSecretRotation).GetRotatedHashes()
		switch {
		case s.wantRotated == nil && len(rotated) != 0:
			t.Errorf("%s: rotated hashes %q, want none", s.name, rotated)
		case s.wantRotated != nil && (len(rotated) != 1 || !bytes.Equal(rotated[0], s.wantRotated)):
			t.Errorf("%s: rotated hashes %q, want [%q]", s.name, rotated, s.wantRotated)
		}
		app, err := f.st.GetApp(ctx, s.clientID)
		if err != nil {
			t.Fatal(err)
		}
		if s.keepOld.IsZero() && (app.RotatedSecretHash != nil || !app.RotatedSecretExpiresAt.IsZero()) {
			t.Errorf("%s: rotated columns not cleared: %+v", s.name, app)
		}
		if !s.keepOld.IsZero() && !app.RotatedSecretExpiresAt.Equal(s.keepOld) {
			t.Errorf("%s: rotated_secret_expires_at = %v, want %v", s.name, app.RotatedSecretExpiresAt, s.keepOld)
		}
	}
	if got, err := f.st.GetApp(ctx, public.ClientID); err != nil || got.SecretHash != nil {
		t.Errorf("public app got a secret: %+v, %v", got, err)
	}
}
