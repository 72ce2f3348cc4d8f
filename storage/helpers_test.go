package storage_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/ory/fosite"

	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/storagetest"
)

// fixture is a store with one workspace, one user and one confidential app.
type fixture struct {
	st   *storage.Store
	ws   storage.Workspace
	user storage.User
	app  storage.App
}

// newFixture builds a fixture on a fresh database.
func newFixture(t *testing.T, opts storage.Options) fixture {
	t.Helper()
	return fixtureOn(t, storagetest.NewStore(t, opts))
}

// newWidePool connects a pool of maxConns connections to a fresh database,
// for tests that need real concurrency.
func newWidePool(t *testing.T, maxConns int32) *pgxpool.Pool {
	t.Helper()
	pool, err := storage.Connect(t.Context(), storagetest.NewDatabase(t), maxConns)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// fixtureOn fills st with a workspace, a user and an app.
func fixtureOn(t *testing.T, st *storage.Store) fixture {
	t.Helper()
	ctx := t.Context()
	ws, err := st.CreateWorkspace(ctx, "Acme", storage.PlanGrowth)
	if err != nil {
		t.Fatalf("CreateWorkspace: %v", err)
	}
	user, err := st.CreateUser(ctx, storage.NewUser{
		Email: "ada@example.com", PasswordHash: "$argon2id$stub", WorkspaceID: ws.ID, Role: storage.RoleAdmin,
	})
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	app := createApp(t, st, ws, user, "client-1", nil)
	return fixture{st: st, ws: ws, user: user, app: app}
}

// createApp registers a confidential app with clientID.
func createApp(t *testing.T, st *storage.Store, ws storage.Workspace, owner storage.User, clientID string, logo *storage.Logo) storage.App {
	t.Helper()
	app, err := st.CreateApp(t.Context(), storage.NewApp{
		ClientID:     clientID,
		SecretHash:   []byte("hash-of-" + clientID),
		Name:         "App " + clientID,
		RedirectURIs: []string{"https://app.example.com/callback"},
		Scopes:       []string{"openid", "read", "write", "offline_access"},
		WorkspaceID:  ws.ID,
		OwnerID:      owner.ID,
		Logo:         logo,
	})
	if err != nil {
		t.Fatalf("CreateApp(%q): %v", clientID, err)
	}
	return app
}

// client loads the fixture app as a fosite client.
func (f fixture) client(t *testing.T) fosite.Client {
	t.Helper()
	c, err := f.st.GetClient(t.Context(), f.app.ClientID)
	if err != nil {
		t.Fatalf("GetClient: %v", err)
	}
	return c
}

// newSession returns a session for subject expiring at fixed, second-rounded times.
func newSession(subject string) *fosite.DefaultSession {
	now := time.Now().UTC().Round(time.Second)
	return &fosite.DefaultSession{
		Subject:  subject,
		Username: "ada",
		ExpiresAt: map[fosite.TokenType]time.Time{
			fosite.AuthorizeCode: now.Add(10 * time.Minute),
			fosite.AccessToken:   now.Add(time.Hour),
			fosite.RefreshToken:  now.Add(30 * 24 * time.Hour),
		},
		Extra: map[string]any{"workspace": "acme"},
	}
}

// newRequest returns a sanitized-looking request of the fixture's client,
// with a fresh request id.
func (f fixture) newRequest(t *testing.T) *fosite.Request {
	t.Helper()
	r := fosite.NewRequest()
	r.Client = f.client(t)
	r.Session = newSession(f.user.ID)
	r.RequestedScope = fosite.Arguments{"read", "write", "offline_access"}
	r.GrantedScope = fosite.Arguments{"read", "offline_access"}
	r.RequestedAudience = fosite.Arguments{"https://api.example.com"}
	r.GrantedAudience = fosite.Arguments{"https://api.example.com"}
	r.Form = url.Values{"redirect_uri": {"https://app.example.com/callback"}}
	return r
}

// countRows counts the rows of table matching where (a trusted literal).
func countRows(t *testing.T, st *storage.Store, table, where string, args ...any) int {
	t.Helper()
	var n int
	if err := st.Pool().QueryRow(context.Background(),
		`SELECT count(*) FROM `+table+` WHERE `+where, args...).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}
