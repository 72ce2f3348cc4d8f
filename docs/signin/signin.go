// Package signin is the "Sign in with Nextoria Hub" example of the README:
// the OpenID Connect part of a web app that signs its users in with
// github.com/coreos/go-oidc/v3 and golang.org/x/oauth2. The tests run it
// against a real server, so the README's example keeps working.
package signin

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// App is a relying party of a Nextoria Hub server.
type App struct {
	OAuth2   oauth2.Config
	Verifier *oidc.IDTokenVerifier
	Provider *oidc.Provider
}

// New discovers the server at issuer (it reads
// {issuer}/.well-known/openid-configuration) and configures the app
// registered there with clientID and clientSecret.
func New(ctx context.Context, issuer, clientID, clientSecret, redirectURL string) (*App, error) {
	provider, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		return nil, fmt.Errorf("discover %s: %w", issuer, err)
	}
	return &App{
		Provider: provider,
		OAuth2: oauth2.Config{
			ClientID:     clientID,
			ClientSecret: clientSecret,
			Endpoint:     provider.Endpoint(),
			RedirectURL:  redirectURL,
			Scopes:       []string{oidc.ScopeOpenID, "profile", "email"},
		},
		// RS256 ID tokens, unless the app chose ES256 at registration.
		Verifier: provider.Verifier(&oidc.Config{ClientID: clientID}),
	}, nil
}

// Pending is what the app keeps in the user's session between sending the
// browser to sign in and the callback.
type Pending struct {
	State, Nonce, Verifier string
}

// Start returns where to send the browser to sign in, and what to keep.
func (a *App) Start() (string, Pending) {
	p := Pending{State: oauth2.GenerateVerifier(), Nonce: oauth2.GenerateVerifier(), Verifier: oauth2.GenerateVerifier()}
	return a.OAuth2.AuthCodeURL(p.State, oidc.Nonce(p.Nonce), oauth2.S256ChallengeOption(p.Verifier)), p
}

// User is who signed in.
type User struct {
	Subject       string `json:"sub"` // stable: the same user for every app, never reused
	Name          string `json:"name"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
}

// Finish handles the callback's query: it checks state, exchanges the code,
// verifies the ID token (signature, iss, aud, exp) and its nonce, and
// returns the user and the tokens (the access token also reads UserInfo).
func (a *App) Finish(ctx context.Context, p Pending, callback url.Values) (User, *oauth2.Token, error) {
	if callback.Get("state") != p.State {
		return User{}, nil, errors.New("state does not match")
	}
	if e := callback.Get("error"); e != "" {
		return User{}, nil, fmt.Errorf("sign-in failed: %s: %s", e, callback.Get("error_description"))
	}
	tok, err := a.OAuth2.Exchange(ctx, callback.Get("code"), oauth2.VerifierOption(p.Verifier))
	if err != nil {
		return User{}, nil, fmt.Errorf("exchange the code: %w", err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok {
		return User{}, nil, errors.New("no id_token in the token response")
	}
	idToken, err := a.Verifier.Verify(ctx, raw)
	if err != nil {
		return User{}, nil, fmt.Errorf("verify the ID token: %w", err)
	}
	if idToken.Nonce != p.Nonce {
		return User{}, nil, errors.New("nonce does not match")
	}
	var u User
	if err := idToken.Claims(&u); err != nil {
		return User{}, nil, err
	}
	return u, tok, nil
}
