package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/nextoria/authz/apps"
	"github.com/nextoria/authz/docs"
	"github.com/nextoria/authz/ratelimit"
	dcr "github.com/nextoria/authz/registration"
	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
)

// newRegistration builds the client registration endpoints (RFC 7591/7592).
// With open registration on, its workspace must exist.
func newRegistration(ctx context.Context, cfg Config, store *storage.Store, keys secret.Keys, logger *slog.Logger) (*dcr.Handler, error) {
	hasher := secret.NewHasher(keys.SecretHash)
	open := ""
	if cfg.OAuth.OpenRegistration {
		_, err := store.GetWorkspace(ctx, cfg.OAuth.OpenRegistrationWorkspace)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			return nil, fmt.Errorf("oauth.open_registration_workspace %q: no such workspace", cfg.OAuth.OpenRegistrationWorkspace)
		case err != nil:
			return nil, fmt.Errorf("oauth.open_registration_workspace: %w", err)
		}
		open = cfg.OAuth.OpenRegistrationWorkspace
		logger.WarnContext(ctx, "open client registration is on: anyone may register apps", "workspace_id", open)
	}
	return dcr.NewHandler(dcr.Config{
		Issuer: cfg.Issuer,
		Tokens: dcr.Tokens{Store: store, Hasher: hasher},
		Clients: dcr.Clients{
			Store:  store,
			Apps:   apps.Service{Store: store, Hasher: hasher},
			Hasher: hasher,
			Logos:  dcr.NewLogoFetcher(dcr.LogoFetcherOptions{}),
		},
		OpenWorkspace:     open,
		Limit:             ratelimit.Limit{Rate: cfg.Limits.RegistrationPerMinute, Burst: cfg.Limits.RegistrationBurst},
		TrustProxyHeaders: cfg.Proxy.Trusted,
		Logger:            logger,
	}), nil
}

// serveOpenAPI serves docs/openapi.yaml, the contract of every JSON endpoint.
func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_, _ = w.Write(docs.OpenAPI)
}
