package storage_test

import (
	"testing"
	"time"

	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/storagetest"
)

func TestTouchGrants(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := storagetest.NewStore(t, storage.Options{})
	ws, err := s.CreateWorkspace(ctx, "W", storage.PlanStarter)
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(ctx, storage.NewUser{Email: "t@example.com", PasswordHash: "x", WorkspaceID: ws.ID})
	if err != nil {
		t.Fatal(err)
	}
	app, err := s.CreateApp(ctx, storage.NewApp{ClientID: "c1", SecretHash: []byte("h"), Name: "A",
		RedirectURIs: []string{"https://a.example/cb"}, Scopes: []string{"projects:read"}, WorkspaceID: ws.ID, OwnerID: u.ID})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SaveGrant(ctx, u.ID, app.ClientID, []string{"projects:read"}); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	err = s.TouchGrants(ctx, []storage.GrantUse{
		{UserID: u.ID, ClientID: app.ClientID, At: later},
		{UserID: u.ID, ClientID: "unknown-app", At: later}, // skipped
	})
	if err != nil {
		t.Fatal(err)
	}
	g, err := s.GetGrant(ctx, u.ID, app.ClientID)
	if err != nil || !g.LastUsedAt.Equal(later) {
		t.Fatalf("last_used_at = %v (%v), want %v", g.LastUsedAt, err, later)
	}
	// never backwards
	if err := s.TouchGrants(ctx, []storage.GrantUse{{UserID: u.ID, ClientID: app.ClientID, At: later.Add(-2 * time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	if g, _ := s.GetGrant(ctx, u.ID, app.ClientID); !g.LastUsedAt.Equal(later) {
		t.Fatalf("last_used_at moved back to %v", g.LastUsedAt)
	}
	if err := s.TouchGrants(ctx, nil); err != nil {
		t.Fatal(err)
	}
}
