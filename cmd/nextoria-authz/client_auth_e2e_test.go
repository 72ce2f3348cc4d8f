package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// postWithOrigin posts form to u with an Origin header and optional Basic
// credentials, and returns the response and its decoded JSON body.
func postWithOrigin(t *testing.T, u, origin string, form url.Values, basicUser, basicPass string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if basicUser != "" {
		req.SetBasicAuth(url.QueryEscape(basicUser), url.QueryEscape(basicPass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp, body
}

// TestE2EClientAuthenticationRules: a public client that sends a secret is
// refused, a form client_id that differs from the Basic credentials is
// refused, and CORS is granted only to the client that authenticated.
func TestE2EClientAuthenticationRules(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	const spaOrigin = "http://127.0.0.1:5173"
	publicID, _ := s.registerApp(t, "Single Page App", true, []string{spaOrigin + "/callback"}, []string{"projects:read"})
	tokenURL := s.URL + "/v1/oauth/token"
	revokeURL := s.URL + "/v1/oauth/revoke"
	codeForm := func(clientID string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {"no-such-code"},
			"redirect_uri": {spaOrigin + "/callback"}, "client_id": {clientID}, "code_verifier": {oauth2.GenerateVerifier()}}
	}
	with := func(f url.Values, k, v string) url.Values { f.Set(k, v); return f }
	tests := []struct {
		name       string
		url        string
		form       url.Values
		user, pass string
		wantStatus int
		wantError  string
		wantCORS   bool
	}{
		{"public client with client_secret in the form", tokenURL, with(codeForm(publicID), "client_secret", "guess"), "", "", 401, "invalid_client", false},
		{"public client with a Basic secret", tokenURL, codeForm(""), publicID, "guess", 401, "invalid_client", false},
		{"form client_id differs from Basic", tokenURL, codeForm(publicID), s.ClientID, s.ClientSecret, 400, "invalid_request", false},
		{"public client, bad code: CORS on the error", tokenURL, codeForm(publicID), "", "", 400, "invalid_grant", true},
		{"confidential client never gets CORS", tokenURL, with(codeForm(s.ClientID), "client_secret", s.ClientSecret), "", "", 400, "invalid_grant", false},
		{"revoke: public client with a secret", revokeURL, url.Values{"token": {"x"}, "client_id": {publicID}, "client_secret": {"guess"}}, "", "", 401, "invalid_client", false},
		{"revoke: form client_id differs from Basic", revokeURL, url.Values{"token": {"x"}, "client_id": {publicID}}, s.ClientID, s.ClientSecret, 400, "invalid_request", false},
		{"revoke: public client", revokeURL, url.Values{"token": {"x"}, "client_id": {publicID}}, "", "", 200, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			form := url.Values{}
			for k, v := range tt.form {
				if v[0] != "" {
					form[k] = v
				}
			}
			resp, body := postWithOrigin(t, tt.url, spaOrigin, form, tt.user, tt.pass)
			if resp.StatusCode != tt.wantStatus || (tt.wantError != "" && body["error"] != tt.wantError) {
				t.Fatalf("got %d %v, want %d %s", resp.StatusCode, body, tt.wantStatus, tt.wantError)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); (got == spaOrigin) != tt.wantCORS || (got != "" && got != spaOrigin) {
				t.Fatalf("Access-Control-Allow-Origin = %q, want CORS %v", got, tt.wantCORS)
			}
		})
	}
}

// TestE2ERevocationWithoutClientAuthentication: RFC 7009 §2.1 requires
// client authentication; a request with none is a 401 invalid_client with a
// Basic challenge, and revokes nothing.
func TestE2ERevocationWithoutClientAuthentication(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	tok := s.tokens(t, conf)
	resp, body := postWithOrigin(t, s.URL+"/v1/oauth/revoke", "", url.Values{"token": {tok.RefreshToken}}, "", "")
	if resp.StatusCode != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Fatalf("got %d %v, want 401 invalid_client", resp.StatusCode, body)
	}
	if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
		t.Fatalf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
	}
	if m := s.introspector(t)(tok.RefreshToken, ""); m["active"] != true {
		t.Fatalf("an unauthenticated revocation took effect: %v", m)
	}
}
