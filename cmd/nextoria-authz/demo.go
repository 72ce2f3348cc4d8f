package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/nextoria/authz/apps"
	"github.com/nextoria/authz/consent"
	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
)

// The demo seeded by 'serve --dev'. Its client secret is fixed and published
// so that a developer can try the flow with curl; it exists only on
// development databases and must never be used in production.
const (
	demoWorkspaceName = "Demo Workspace"
	demoEmail         = "demo@nextoria.test"
	demoName          = "Demo User"
	demoPassword      = "demo-password"
	demoAppName       = "Demo App"
	demoClientID      = "demo-app"
	demoClientSecret  = "demo-secret-not-for-production-use"
	demoRedirectURI   = "http://127.0.0.1:9999/callback"
	demoScope         = "projects:read tasks:read"
)

// Demo is what a developer needs to try the authorization code flow against
// the seeded demo data.
type Demo struct {
	Email        string
	Password     string
	ClientID     string
	ClientSecret string
	RedirectURI  string
	// AuthorizeURL starts the flow with PKCE (S256) and a random state.
	AuthorizeURL string
	// State is the state parameter of AuthorizeURL.
	State string
	// Verifier is the PKCE code_verifier that goes with AuthorizeURL's
	// code_challenge; the token request must send it.
	Verifier string
}

// seedDemo makes sure the demo workspace, user and app exist and returns how
// to use them. It is idempotent: it looks the user up by e-mail and the app
// by client_id and creates only what is missing. If the demo app exists but
// its stored secret hash was made with another system secret, the app is
// recreated so that the published demo secret works.
func seedDemo(ctx context.Context, store *storage.Store, hasher *secret.Hasher, issuer string) (Demo, error) {
	user, err := store.GetUserByEmail(ctx, demoEmail)
	if errors.Is(err, storage.ErrNotFound) {
		user, err = createDemoUser(ctx, store)
	}
	if err != nil {
		return Demo{}, fmt.Errorf("seed demo user: %w", err)
	}

	secretHash := hasher.Sum([]byte(demoClientSecret))
	app, err := store.GetApp(ctx, demoClientID)
	switch {
	case err == nil && !bytes.Equal(app.SecretHash, secretHash):
		if err := store.DeleteApp(ctx, demoClientID); err != nil {
			return Demo{}, fmt.Errorf("seed demo app: replace app made with another system secret: %w", err)
		}
		fallthrough
	case errors.Is(err, storage.ErrNotFound):
		if err := createDemoApp(ctx, store, user, secretHash); err != nil {
			return Demo{}, err
		}
	case err != nil:
		return Demo{}, fmt.Errorf("seed demo app: %w", err)
	}

	verifier := secret.Token() // 43 characters of base64url, as RFC 7636 asks
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	state := secret.Token()
	authorize := strings.TrimRight(issuer, "/") + "/oauth/authorize" +
		"?client_id=" + url.QueryEscape(demoClientID) +
		"&redirect_uri=" + url.QueryEscape(demoRedirectURI) +
		"&response_type=code" +
		"&scope=" + strings.ReplaceAll(demoScope, " ", "+") +
		"&state=" + url.QueryEscape(state) +
		"&code_challenge=" + url.QueryEscape(challenge) +
		"&code_challenge_method=S256"
	return Demo{
		Email:        demoEmail,
		Password:     demoPassword,
		ClientID:     demoClientID,
		ClientSecret: demoClientSecret,
		RedirectURI:  demoRedirectURI,
		AuthorizeURL: authorize,
		State:        state,
		Verifier:     verifier,
	}, nil
}

func createDemoUser(ctx context.Context, store *storage.Store) (storage.User, error) {
	ws, err := store.CreateWorkspace(ctx, demoWorkspaceName, storage.PlanGrowth)
	if err != nil {
		return storage.User{}, err
	}
	hash, err := secret.HashPassword(demoPassword)
	if err != nil {
		return storage.User{}, err
	}
	user, err := store.CreateUser(ctx, storage.NewUser{
		Email: demoEmail, PasswordHash: hash, WorkspaceID: ws.ID, Role: storage.RoleAdmin,
		Name: demoName, EmailVerified: true,
	})
	if errors.Is(err, storage.ErrConflict) {
		// Another instance seeded it meanwhile.
		return store.GetUserByEmail(ctx, demoEmail)
	}
	return user, err
}

func createDemoApp(ctx context.Context, store *storage.Store, owner storage.User, secretHash []byte) error {
	reg := apps.Registration{
		Name:         demoAppName,
		RedirectURIs: []string{demoRedirectURI},
		Scopes:       consent.Names(),
		WorkspaceID:  owner.WorkspaceID,
		OwnerID:      owner.ID,
	}
	if fe := apps.Validate(reg); fe != nil {
		return fmt.Errorf("seed demo app: %w", fe)
	}
	_, err := store.CreateApp(ctx, storage.NewApp{
		ClientID:     demoClientID,
		SecretHash:   secretHash,
		Name:         reg.Name,
		RedirectURIs: reg.RedirectURIs,
		Scopes:       reg.Scopes,
		WorkspaceID:  reg.WorkspaceID,
		OwnerID:      reg.OwnerID,
	})
	if err != nil && !errors.Is(err, storage.ErrConflict) { // ErrConflict: seeded concurrently
		return fmt.Errorf("seed demo app: %w", err)
	}
	return nil
}
