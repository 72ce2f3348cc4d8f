package storage_test

import (
	"bytes"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nextoria/authz/storage"
)

// apiKeyHash returns a distinct 32-byte stand-in for a key's HMAC.
func apiKeyHash(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// createAPIKey stores a key with hash apiKeyHash(b) in f's workspace.
func (f fixture) createAPIKey(t *testing.T, name string, b byte, expires time.Time) storage.APIKey {
	t.Helper()
	k, err := f.st.CreateAPIKey(t.Context(), storage.NewAPIKey{
		WorkspaceID: f.ws.ID, CreatedBy: f.user.ID, Name: name,
		Scopes: []string{"projects:read", "tasks:read"}, KeyHash: apiKeyHash(b),
		DisplayID: "nxh_display" + string(rune('a'+b%26)), ExpiresAt: expires,
	})
	if err != nil {
		t.Fatalf("CreateAPIKey(%q): %v", name, err)
	}
	return k
}

func TestCreateAndGetAPIKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()
	expires := time.Now().Add(time.Hour).UTC().Round(time.Microsecond)
	k := f.createAPIKey(t, "Zapier Integration", 1, expires)
	if k.ID == "" || k.WorkspaceID != f.ws.ID || k.CreatedBy != f.user.ID || k.Name != "Zapier Integration" ||
		!slices.Equal(k.Scopes, []string{"projects:read", "tasks:read"}) || k.CreatedAt.IsZero() ||
		!k.ExpiresAt.Equal(expires) || !k.RevokedAt.IsZero() || !k.LastUsedAt.IsZero() {
		t.Fatalf("CreateAPIKey = %+v", k)
	}

	got, err := f.st.GetAPIKeyByHash(ctx, apiKeyHash(1))
	if err != nil {
		t.Fatalf("GetAPIKeyByHash: %v", err)
	}
	if got.Plan != storage.PlanGrowth || got.ID != k.ID || got.DisplayID != k.DisplayID || !got.ExpiresAt.Equal(expires) {
		t.Errorf("GetAPIKeyByHash = %+v, want key %+v on plan growth", got, k)
	}
	if _, err := f.st.GetAPIKeyByHash(ctx, apiKeyHash(2)); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("GetAPIKeyByHash(unknown): err = %v, want ErrNotFound", err)
	}

	// Without creator and expiry, both read back as zero values.
	k2, err := f.st.CreateAPIKey(ctx, storage.NewAPIKey{
		WorkspaceID: f.ws.ID, Name: "CLI key", Scopes: []string{"files:read"}, KeyHash: apiKeyHash(3), DisplayID: "nxh_c",
	})
	if err != nil || k2.CreatedBy != "" || !k2.ExpiresAt.IsZero() {
		t.Errorf("CreateAPIKey without creator or expiry = %+v, %v", k2, err)
	}
}

func TestCreateAPIKeyErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	f.createAPIKey(t, "first", 1, time.Time{})
	valid := storage.NewAPIKey{WorkspaceID: f.ws.ID, Name: "k", Scopes: []string{"projects:read"}, KeyHash: apiKeyHash(9), DisplayID: "nxh_x"}
	tests := []struct {
		name   string
		change func(*storage.NewAPIKey)
		want   error
	}{
		{"hash taken", func(n *storage.NewAPIKey) { n.KeyHash = apiKeyHash(1) }, storage.ErrConflict},
		{"unknown workspace", func(n *storage.NewAPIKey) { n.WorkspaceID = "00000000-0000-0000-0000-000000000000" }, storage.ErrNotFound},
		{"workspace not a UUID", func(n *storage.NewAPIKey) { n.WorkspaceID = "acme" }, storage.ErrNotFound},
		{"unknown creator", func(n *storage.NewAPIKey) { n.CreatedBy = "00000000-0000-0000-0000-000000000000" }, storage.ErrNotFound},
		{"empty name", func(n *storage.NewAPIKey) { n.Name = "" }, nil},
		{"no scopes", func(n *storage.NewAPIKey) { n.Scopes = nil }, nil},
		{"short hash", func(n *storage.NewAPIKey) { n.KeyHash = []byte("short") }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := valid
			tt.change(&n)
			_, err := f.st.CreateAPIKey(t.Context(), n)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("CreateAPIKey: err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestListAndRevokeAPIKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()
	older := f.createAPIKey(t, "older", 1, time.Time{})
	newer := f.createAPIKey(t, "newer", 2, time.Time{})
	other, err := f.st.CreateWorkspace(ctx, "Other", storage.PlanStarter)
	if err != nil {
		t.Fatal(err)
	}

	list, err := f.st.ListAPIKeys(ctx, f.ws.ID)
	if err != nil || len(list) != 2 || list[0].ID != newer.ID || list[1].ID != older.ID {
		t.Fatalf("ListAPIKeys = %+v, %v; want newer then older", list, err)
	}
	for _, ws := range []string{other.ID, "not-a-uuid"} {
		if list, err := f.st.ListAPIKeys(ctx, ws); err != nil || list == nil || len(list) != 0 {
			t.Errorf("ListAPIKeys(%q) = %v, %v; want an empty list", ws, list, err)
		}
	}

	for _, tt := range []struct{ name, ws, id string }{
		{"other workspace", other.ID, older.ID},
		{"unknown id", f.ws.ID, "00000000-0000-0000-0000-000000000000"},
		{"id not a UUID", f.ws.ID, "key"},
	} {
		if err := f.st.RevokeAPIKey(ctx, tt.ws, tt.id); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("RevokeAPIKey (%s): err = %v, want ErrNotFound", tt.name, err)
		}
	}
	if err := f.st.RevokeAPIKey(ctx, f.ws.ID, older.ID); err != nil {
		t.Fatalf("RevokeAPIKey: %v", err)
	}
	first, _ := f.st.GetAPIKeyByHash(ctx, apiKeyHash(1))
	if first.RevokedAt.IsZero() {
		t.Fatal("revoked key has no revoked_at")
	}
	if err := f.st.RevokeAPIKey(ctx, f.ws.ID, older.ID); err != nil {
		t.Fatalf("RevokeAPIKey again: %v", err)
	}
	again, _ := f.st.GetAPIKeyByHash(ctx, apiKeyHash(1))
	if !again.RevokedAt.Equal(first.RevokedAt) {
		t.Errorf("second revocation moved revoked_at from %v to %v", first.RevokedAt, again.RevokedAt)
	}
	if n, _ := f.st.GetAPIKeyByHash(ctx, apiKeyHash(2)); !n.RevokedAt.IsZero() {
		t.Error("revoking one key revoked another")
	}
}

func TestTouchAPIKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()
	a := f.createAPIKey(t, "a", 1, time.Time{})
	b := f.createAPIKey(t, "b", 2, time.Time{})
	c := f.createAPIKey(t, "c", 3, time.Time{})
	t1 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	t2 := t1.Add(time.Minute)

	if err := f.st.TouchAPIKeys(ctx, nil); err != nil {
		t.Fatalf("TouchAPIKeys(nil): %v", err)
	}
	if err := f.st.TouchAPIKeys(ctx, map[string]time.Time{
		a.ID: t2, b.ID: t1, "00000000-0000-0000-0000-000000000000": t1,
	}); err != nil {
		t.Fatalf("TouchAPIKeys: %v", err)
	}
	// An older time never moves last_used_at back.
	if err := f.st.TouchAPIKeys(ctx, map[string]time.Time{a.ID: t1, b.ID: t2}); err != nil {
		t.Fatalf("TouchAPIKeys: %v", err)
	}
	want := map[string]time.Time{a.ID: t2, b.ID: t2, c.ID: {}}
	list, err := f.st.ListAPIKeys(ctx, f.ws.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range list {
		if !k.LastUsedAt.Equal(want[k.ID]) {
			t.Errorf("key %s: last_used_at = %v, want %v", k.Name, k.LastUsedAt, want[k.ID])
		}
	}
}

// TestTouchAPIKeysConcurrent flushes overlapping batches from several
// connections at once, as several server instances do: none may deadlock.
func TestTouchAPIKeysConcurrent(t *testing.T) {
	t.Parallel()
	f := fixtureOn(t, storage.New(newWidePool(t, 8), storage.Options{}))
	var ids []string
	for i := range 20 {
		ids = append(ids, f.createAPIKey(t, "k", byte(i+1), time.Time{}).ID)
	}
	start := time.Now().UTC()
	var wg sync.WaitGroup
	errs := make(chan error, 8*10)
	for w := range 8 {
		wg.Go(func() {
			for i := range 10 {
				batch := map[string]time.Time{}
				for j, id := range ids {
					if (j+w+i)%3 != 0 {
						batch[id] = start.Add(time.Duration(w*10+i) * time.Millisecond)
					}
				}
				errs <- f.st.TouchAPIKeys(t.Context(), batch)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("TouchAPIKeys: %v", err)
		}
	}
}

func TestAPIKeyCascades(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()
	f.createAPIKey(t, "k", 1, time.Time{})
	if _, err := f.st.Pool().Exec(ctx, `DELETE FROM oauth_apps`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.Pool().Exec(ctx, `DELETE FROM users WHERE id = $1`, f.user.ID); err != nil {
		t.Fatalf("delete the key's creator: %v", err)
	}
	k, err := f.st.GetAPIKeyByHash(ctx, apiKeyHash(1))
	if err != nil || k.CreatedBy != "" {
		t.Fatalf("after deleting its creator: key = %+v, %v; want it kept without creator", k, err)
	}
	if _, err := f.st.Pool().Exec(ctx, `DELETE FROM workspaces WHERE id = $1`, f.ws.ID); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, f.st, "api_keys", "true"); n != 0 {
		t.Errorf("%d API keys left after deleting their workspace", n)
	}
}
