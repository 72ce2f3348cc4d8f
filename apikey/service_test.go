package apikey_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nextoria/authz/apikey"
	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/storagetest"
)

// fixture is a Service over a fresh database with one workspace and user.
type fixture struct {
	svc  *apikey.Service
	st   *storage.Store
	ws   storage.Workspace
	user storage.User
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	st := storagetest.NewStore(t, storage.Options{})
	ctx := t.Context()
	ws, err := st.CreateWorkspace(ctx, "Acme", storage.PlanStarter)
	if err != nil {
		t.Fatal(err)
	}
	user, err := st.CreateUser(ctx, storage.NewUser{Email: "ada@example.com", PasswordHash: "x", WorkspaceID: ws.ID})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{svc: &apikey.Service{Store: st, Hasher: secret.NewHasher([]byte("test-key"))}, st: st, ws: ws, user: user}
}

// create makes a key that must be valid.
func (f fixture) create(t *testing.T, name string, expiresIn time.Duration) (storage.APIKey, string) {
	t.Helper()
	k, key, err := f.svc.Create(t.Context(), f.ws.ID, f.user.ID, name, []string{"projects:read"}, expiresIn)
	if err != nil {
		t.Fatalf("Create(%q): %v", name, err)
	}
	return k, key
}

// brokenStore returns a store whose pool is closed, so every query fails.
func brokenStore(t *testing.T) *storage.Store {
	t.Helper()
	st := storagetest.NewStore(t, storage.Options{})
	st.Pool().Close()
	return st
}

func TestCreateValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tests := []struct {
		name      string
		keyName   string
		scopes    []string
		expiresIn time.Duration
		fields    []string
	}{
		{"empty name", "  ", []string{"projects:read"}, 0, []string{apikey.FieldName}},
		{"long name", strings.Repeat("é", 101), []string{"projects:read"}, 0, []string{apikey.FieldName}},
		{"control character", "a\x07b", []string{"projects:read"}, 0, []string{apikey.FieldName}},
		{"invalid UTF-8", "a\xffb", []string{"projects:read"}, 0, []string{apikey.FieldName}},
		{"replacement character", "a\ufffdb", []string{"projects:read"}, 0, []string{apikey.FieldName}},
		{"NUL", "a\x00b", []string{"projects:read"}, 0, []string{apikey.FieldName}},
		{"invalid UTF-8 scope", "k", []string{"projects:read\xff"}, 0, []string{apikey.FieldScopes}},
		{"no scopes", "k", nil, 0, []string{apikey.FieldScopes}},
		{"unknown scope", "k", []string{"projects:read", "admin"}, 0, []string{apikey.FieldScopes}},
		{"OpenID scope", "k", []string{"openid"}, 0, []string{apikey.FieldScopes}},
		{"negative lifetime", "k", []string{"projects:read"}, -time.Second, []string{apikey.FieldExpiresIn}},
		{"everything wrong", "", nil, -1, []string{apikey.FieldExpiresIn, apikey.FieldName, apikey.FieldScopes}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, key, err := f.svc.Create(t.Context(), f.ws.ID, "", tt.keyName, tt.scopes, tt.expiresIn)
			var fe apikey.FieldErrors
			if !errors.As(err, &fe) {
				t.Fatalf("Create: err = %v, want FieldErrors", err)
			}
			var got []string
			for k := range fe {
				got = append(got, k)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.fields) || key != "" {
				t.Errorf("Create: field errors %v (key %q), want fields %v", fe, key, tt.fields)
			}
		})
	}
	if n, _ := f.st.ListAPIKeys(t.Context(), f.ws.ID); len(n) != 0 {
		t.Errorf("invalid input stored %d keys", len(n))
	}
}

func TestCreate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	before := time.Now()
	k, key, err := f.svc.Create(ctx, f.ws.ID, f.user.ID, "  Zapier Integration ",
		[]string{"tasks:read", "projects:read", "tasks:read"}, 24*time.Hour)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	p, err := apikey.Parse(key)
	if err != nil {
		t.Fatalf("created key does not parse: %v", err)
	}
	if k.Name != "Zapier Integration" || !slices.Equal(k.Scopes, []string{"tasks:read", "projects:read"}) ||
		k.DisplayID != p.DisplayID || k.CreatedBy != f.user.ID || k.WorkspaceID != f.ws.ID {
		t.Errorf("Create = %+v", k)
	}
	if k.ExpiresAt.Before(before.Add(24*time.Hour)) || k.ExpiresAt.After(time.Now().Add(24*time.Hour)) {
		t.Errorf("ExpiresAt = %v, want a day from now", k.ExpiresAt)
	}
	// Only the keyed hash is stored.
	stored, err := f.st.GetAPIKeyByHash(ctx, f.svc.Hasher.Sum([]byte(key)))
	if err != nil || stored.ID != k.ID {
		t.Fatalf("key not found by its keyed hash: %+v, %v", stored, err)
	}
	var leaked int
	if err := f.st.Pool().QueryRow(ctx,
		`SELECT count(*) FROM api_keys WHERE position($1::bytea IN key_hash) > 0 OR display_id = $2`,
		[]byte(key), key).Scan(&leaked); err != nil || leaked != 0 {
		t.Errorf("the key is stored in clear (%d rows, %v)", leaked, err)
	}

	never, _, err := f.svc.Create(ctx, f.ws.ID, "", "CLI", []string{"files:read"}, 0)
	if err != nil || !never.ExpiresAt.IsZero() || never.CreatedBy != "" {
		t.Errorf("Create without lifetime or creator = %+v, %v", never, err)
	}
	if _, _, err := f.svc.Create(ctx, "00000000-0000-0000-0000-000000000000", "", "k", []string{"files:read"}, 0); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Create in an unknown workspace: err = %v, want ErrNotFound", err)
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	active, activeKey := f.create(t, "active", 0)
	revoked, revokedKey := f.create(t, "revoked", 0)
	if err := f.svc.Revoke(ctx, f.ws.ID, revoked.ID); err != nil {
		t.Fatal(err)
	}
	expiredKey, _ := apikey.New()
	p, _ := apikey.Parse(expiredKey)
	expired, err := f.st.CreateAPIKey(ctx, storage.NewAPIKey{
		WorkspaceID: f.ws.ID, Name: "expired", Scopes: []string{"projects:read"},
		KeyHash: f.svc.Hasher.Sum([]byte(expiredKey)), DisplayID: p.DisplayID, ExpiresAt: time.Now().Add(-time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	unknownKey, _ := apikey.New()

	tests := []struct {
		name   string
		key    string
		wantID string
		active bool
	}{
		{"active", activeKey, active.ID, true},
		{"revoked", revokedKey, revoked.ID, false},
		{"expired", expiredKey, expired.ID, false},
		{"unknown", unknownKey, "", false},
		{"typo", activeKey[:20] + "x" + activeKey[21:], "", false},
		{"JWT", "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "", false},
		{"empty", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, ok, err := f.svc.Lookup(ctx, tt.key)
			if err != nil || ok != tt.active || k.ID != tt.wantID {
				t.Fatalf("Lookup = %+v, %t, %v; want id %q, active %t", k, ok, err, tt.wantID, tt.active)
			}
			if ok && (k.Plan != storage.PlanStarter || k.WorkspaceID != f.ws.ID || !slices.Equal(k.Scopes, []string{"projects:read"})) {
				t.Errorf("Lookup = %+v, want the workspace's starter plan and the key's scopes", k)
			}
		})
	}
	if n := apikey.Pending(f.svc); n != 1 {
		t.Errorf("%d uses pending, want 1 (only the active key)", n)
	}

	// Text that cannot be a key never reaches the database.
	broken := &apikey.Service{Store: brokenStore(t), Hasher: f.svc.Hasher}
	if _, ok, err := broken.Lookup(ctx, activeKey[:20]+"x"+activeKey[21:]); ok || err != nil {
		t.Errorf("Lookup(typo) on a dead database = %t, %v; want inactive without error", ok, err)
	}
	if _, ok, err := broken.Lookup(ctx, activeKey); ok || err == nil {
		t.Errorf("Lookup(well-formed key) on a dead database = %t, %v; want an error", ok, err)
	}
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	k, key := f.create(t, "k", 0)
	other, err := f.st.CreateWorkspace(ctx, "Other", storage.PlanScale)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Revoke(ctx, other.ID, k.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Revoke from another workspace: err = %v, want ErrNotFound", err)
	}
	if _, ok, _ := f.svc.Lookup(ctx, key); !ok {
		t.Fatal("key inactive after a refused revocation")
	}
	if err := f.svc.Revoke(ctx, f.ws.ID, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := f.svc.Lookup(ctx, key); ok {
		t.Fatal("key still active after Revoke")
	}
}

func TestLastUsed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	k, key := f.create(t, "k", 0)
	before := time.Now()
	if _, ok, err := f.svc.Lookup(ctx, key); !ok || err != nil {
		t.Fatalf("Lookup: %t, %v", ok, err)
	}
	stored, _ := f.st.GetAPIKeyByHash(ctx, f.svc.Hasher.Sum([]byte(key)))
	if !stored.LastUsedAt.IsZero() {
		t.Fatal("Lookup wrote last_used_at itself")
	}
	list, err := f.svc.List(ctx, f.ws.ID)
	if err != nil || len(list) != 1 || list[0].LastUsedAt.Before(before) {
		t.Fatalf("List before Flush = %+v, %v; want the pending use shown", list, err)
	}

	// A failed flush keeps the uses for the next one.
	good := f.svc.Store
	f.svc.Store = brokenStore(t)
	if err := f.svc.Flush(ctx); err == nil {
		t.Fatal("Flush on a dead database succeeded")
	}
	if n := apikey.Pending(f.svc); n != 1 {
		t.Fatalf("%d uses pending after a failed flush, want 1", n)
	}
	f.svc.Store = good
	if err := f.svc.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if n := apikey.Pending(f.svc); n != 0 {
		t.Errorf("%d uses pending after Flush", n)
	}
	stored, _ = f.st.GetAPIKeyByHash(ctx, f.svc.Hasher.Sum([]byte(key)))
	if stored.ID != k.ID || stored.LastUsedAt.Before(before.Truncate(time.Microsecond)) || stored.LastUsedAt.After(time.Now()) {
		t.Errorf("last_used_at after Flush = %v, want about %v", stored.LastUsedAt, before)
	}
	if err := f.svc.Flush(ctx); err != nil {
		t.Errorf("Flush with nothing pending: %v", err)
	}
}

func TestRunFlusher(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, key := f.create(t, "k", 0)
	hash := f.svc.Hasher.Sum([]byte(key))

	// Periodic flushes.
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { f.svc.RunFlusher(ctx, 10*time.Millisecond); close(done) }()
	if _, ok, _ := f.svc.Lookup(t.Context(), key); !ok {
		t.Fatal("key inactive")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		k, err := f.st.GetAPIKeyByHash(t.Context(), hash)
		if err == nil && !k.LastUsedAt.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("RunFlusher did not write last_used_at within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done

	// The final flush when the context ends.
	first, _ := f.st.GetAPIKeyByHash(t.Context(), hash)
	ctx, cancel = context.WithCancel(t.Context())
	done = make(chan struct{})
	go func() { f.svc.RunFlusher(ctx, time.Hour); close(done) }()
	time.Sleep(2 * time.Millisecond)
	if _, ok, _ := f.svc.Lookup(t.Context(), key); !ok {
		t.Fatal("key inactive")
	}
	cancel()
	<-done
	last, _ := f.st.GetAPIKeyByHash(t.Context(), hash)
	if !last.LastUsedAt.After(first.LastUsedAt) {
		t.Errorf("last_used_at after stopping = %v, want later than %v", last.LastUsedAt, first.LastUsedAt)
	}
}

// TestConcurrentLookups runs lookups and flushes together; run with -race.
func TestConcurrentLookups(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var keys []string
	for range 4 {
		_, key := f.create(t, "k", 0)
		keys = append(keys, key)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				if _, ok, err := f.svc.Lookup(t.Context(), keys[(i+j)%len(keys)]); !ok || err != nil {
					errs <- errors.Join(errors.New("lookup failed"), err)
				}
			}
		})
	}
	wg.Go(func() {
		for range 10 {
			if err := f.svc.Flush(t.Context()); err != nil {
				errs <- err
			}
			_, _ = f.svc.List(t.Context(), f.ws.ID)
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := f.svc.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	list, _ := f.st.ListAPIKeys(t.Context(), f.ws.ID)
	for _, k := range list {
		if k.LastUsedAt.IsZero() {
			t.Errorf("key %s: no last use recorded", k.ID)
		}
	}
}
