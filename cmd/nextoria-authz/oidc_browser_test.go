package main

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/nextoria/authz/storage"
)

// TestBrowserOIDCSignIn: in Chromium, on a fresh profile, an app asking only
// who the user is gets the sign-in page, an identity consent screen and its
// callback with a code for a verifiable ID token; prompt=login then asks for
// the password again, with the e-mail filled in, and auth_time moves.
func TestBrowserOIDCSignIn(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	a := newJourneyApp(t, s, "Sign-in Journal")
	app, err := s.store.GetApp(t.Context(), a.conf.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	identity := []string{"openid", "profile", "email"}
	if _, err := s.store.UpdateApp(t.Context(), app.ClientID, storage.AppUpdate{
		Name: app.Name, RedirectURIs: app.RedirectURIs, Scopes: identity,
	}); err != nil {
		t.Fatal(err)
	}
	a.conf.Scopes = identity
	provider, err := oidc.NewProvider(t.Context(), s.URL)
	if err != nil {
		t.Fatal(err)
	}
	a.conf.Endpoint = provider.Endpoint()
	a.conf.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	verifyIDToken := func(q url.Values, state, pkce, nonce string) *oidc.IDToken {
		t.Helper()
		if q.Get("state") != state || q.Get("iss") != s.URL || q.Get("code") == "" {
			t.Fatalf("callback %v", q)
		}
		tok, err := a.conf.Exchange(t.Context(), q.Get("code"), oauth2.VerifierOption(pkce))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := tok.Extra("id_token").(string)
		idt, err := provider.Verifier(&oidc.Config{ClientID: a.conf.ClientID}).Verify(t.Context(), raw)
		if err != nil {
			t.Fatalf("ID token: %v", err)
		}
		if idt.Nonce != nonce || idt.Subject != s.UserID {
			t.Errorf("nonce %q sub %q", idt.Nonce, idt.Subject)
		}
		return idt
	}

	j := newJourney(t, s)
	authURL, pkce := a.authURL("state-oidc-0001", oidc.Nonce("nonce-oidc-0001"))
	j.open(authURL, "login-form")
	j.signIn(s.Email, e2ePassword)
	j.consentFor(a)
	consentText, err := chromedp.Run(j.ctx, chromedp.Text("body"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Sign you in with your Nextoria Hub account", "See your name", "See your e-mail address"} {
		if !strings.Contains(consentText, want) {
			t.Errorf("the consent screen lacks %q", want)
		}
	}
	j.shots("oidc-consent")
	j.run("allow", chromedp.Click(testID("allow")))
	first := verifyIDToken(j.callback(a), "state-oidc-0001", pkce, "nonce-oidc-0001")

	time.Sleep(1100 * time.Millisecond) // auth_time counts seconds
	authURL, pkce = a.authURL("state-oidc-0002", oidc.Nonce("nonce-oidc-0002"), oauth2.SetAuthURLParam("prompt", "login"))
	j.open(authURL, "login-form")
	email, err := chromedp.Run(j.ctx, chromedp.Value(testID("email")))
	if err != nil || email != s.Email {
		t.Errorf("the e-mail field holds %q (%v), want %q", email, err, s.Email)
	}
	j.shots("oidc-reauth")
	j.signIn(s.Email, e2ePassword)
	second := verifyIDToken(j.callback(a), "state-oidc-0002", pkce, "nonce-oidc-0002")
	var c1, c2 struct {
		AuthTime int64 `json:"auth_time"`
	}
	if err := first.Claims(&c1); err != nil {
		t.Fatal(err)
	}
	if err := second.Claims(&c2); err != nil {
		t.Fatal(err)
	}
	if c2.AuthTime <= c1.AuthTime {
		t.Errorf("auth_time %d after prompt=login, not after %d", c2.AuthTime, c1.AuthTime)
	}
}
