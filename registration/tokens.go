// Package registration owns OAuth 2.0 Dynamic Client Registration (RFC 7591)
// and its management protocol (RFC 7592): the initial access tokens that
// workspace administrators hand to platforms which register apps by API,
// which client metadata is accepted and how it maps onto an ordinary app of
// package apps, the registration access tokens that read, replace and delete
// a registration, the one-time fetch of a logo_uri, and the HTTP endpoints
// POST /v1/oauth/register and GET, PUT, DELETE /v1/oauth/register/{client_id}.
//
// A registered client is an ordinary app: it is validated by the rules of
// package apps, appears in its workspace's OAuth applications, and deleting it
// is deleting the app.
package registration

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nextoria/authz/apikey"
	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
)

// TokenFormat is the shape of an initial access token: "nxr_", 43 base62
// characters carrying 256 random bits and a 6-character CRC-32 checksum, as
// API keys but with a prefix of its own, so that secret scanners find a
// leaked one (TokenFormat.Pattern()) and tell it from an API key.
var TokenFormat = apikey.Format{Prefix: "nxr_"}

// AccessTokenFormat is the shape of a registration access token (RFC 7592):
// the same, with the prefix "nxm_".
var AccessTokenFormat = apikey.Format{Prefix: "nxm_"}

// Limits of initial access tokens.
const (
	MaxTokenNameLen = 100
	// DefaultTokenLifetime applies when none is given.
	DefaultTokenLifetime = 30 * 24 * time.Hour
	// MaxTokenLifetime bounds a token's lifetime; an initial access token
	// always expires.
	MaxTokenLifetime = 366 * 24 * time.Hour
)

// Field names of token creation, keys of FieldErrors.
const (
	FieldName      = "name"
	FieldExpiresIn = "expires_in"
)

// FieldErrors maps a field (FieldName, FieldExpiresIn) to a message fit to
// show next to it.
type FieldErrors map[string]string

// Error lists the problems in a stable order.
func (fe FieldErrors) Error() string {
	keys := slices.Sorted(maps.Keys(fe))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + fe[k]
	}
	return "invalid registration token: " + strings.Join(parts, "; ")
}

// Tokens creates, lists, revokes and checks initial access tokens.
type Tokens struct {
	Store *storage.Store
	// Hasher keys the stored hash of each token (secret.Keys.SecretHash).
	Hasher *secret.Hasher
}

// Create validates the input and stores a new token of the workspace. It
// returns the stored token and the token itself: the only time it exists in
// clear. createdBy is the creating user's id, "" from the CLI; expiresIn 0
// means DefaultTokenLifetime. Invalid input is reported as FieldErrors.
func (t Tokens) Create(ctx context.Context, workspaceID, createdBy, name string, expiresIn time.Duration) (storage.RegistrationToken, string, error) {
	name = strings.TrimSpace(name)
	if expiresIn == 0 {
		expiresIn = DefaultTokenLifetime
	}
	if fe := validateToken(name, expiresIn); fe != nil {
		return storage.RegistrationToken{}, "", fe
	}
	raw, err := TokenFormat.New()
	if err != nil {
		return storage.RegistrationToken{}, "", err
	}
	p, err := TokenFormat.Parse(raw)
	if err != nil {
		return storage.RegistrationToken{}, "", fmt.Errorf("registration: new token does not parse: %w", err)
	}
	tok, err := t.Store.CreateRegistrationToken(ctx, storage.NewRegistrationToken{
		WorkspaceID: workspaceID,
		CreatedBy:   createdBy,
		Name:        name,
		TokenHash:   t.Hasher.Sum([]byte(raw)),
		DisplayID:   p.DisplayID,
		ExpiresAt:   time.Now().Add(expiresIn),
	})
	if err != nil {
		return storage.RegistrationToken{}, "", fmt.Errorf("registration: create token %q: %w", name, err)
	}
	return tok, raw, nil
}

func validateToken(name string, expiresIn time.Duration) FieldErrors {
	fe := FieldErrors{}
	switch {
	case !utf8.ValidString(name):
		fe[FieldName] = "Name must be valid UTF-8 text."
	case name == "":
		fe[FieldName] = "Give the token a name, e.g. \"Partner marketplace\"."
	case utf8.RuneCountInString(name) > MaxTokenNameLen:
		fe[FieldName] = fmt.Sprintf("Name must be at most %d characters.", MaxTokenNameLen)
	case strings.ContainsFunc(name, func(r rune) bool { return r == utf8.RuneError || !unicode.IsPrint(r) }):
		fe[FieldName] = "Name must contain only printable characters."
	}
	switch {
	case expiresIn < 0:
		fe[FieldExpiresIn] = "The lifetime cannot be negative."
	case expiresIn > MaxTokenLifetime:
		fe[FieldExpiresIn] = "A registration token must expire within 366 days."
	}
	if len(fe) == 0 {
		return nil
	}
	return fe
}

// List returns the workspace's tokens, newest first, revoked and expired
// ones included.
func (t Tokens) List(ctx context.Context, workspaceID string) ([]storage.RegistrationToken, error) {
	toks, err := t.Store.ListRegistrationTokens(ctx, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("registration: list tokens: %w", err)
	}
	return toks, nil
}

// Revoke revokes a token at once; workspaceID "" matches any workspace (the
// CLI). storage.ErrNotFound when there is no such token.
func (t Tokens) Revoke(ctx context.Context, workspaceID, id string) (storage.RegistrationToken, error) {
	tok, err := t.Store.RevokeRegistrationToken(ctx, workspaceID, id)
	if err != nil {
		return storage.RegistrationToken{}, fmt.Errorf("registration: revoke token: %w", err)
	}
	return tok, nil
}

// Authenticate finds the active token raw. ok is false for text that is not
// a well-formed token (no database lookup then) and for unknown, revoked and
// expired tokens; err is set only when the store could not tell.
func (t Tokens) Authenticate(ctx context.Context, raw string) (tok storage.RegistrationToken, ok bool, err error) {
	if _, err := TokenFormat.Parse(raw); err != nil {
		return storage.RegistrationToken{}, false, nil
	}
	tok, err = t.Store.GetRegistrationTokenByHash(ctx, t.Hasher.Sum([]byte(raw)))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return storage.RegistrationToken{}, false, nil
	case err != nil:
		return storage.RegistrationToken{}, false, fmt.Errorf("registration: authenticate token: %w", err)
	}
	return tok, tok.Active(time.Now()), nil
}
