package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzOAuthEndpoints puts arbitrary bytes into each parameter of the protocol
// endpoints — the authorization request's query, the token, revocation and
// introspection forms and their Basic credentials — against a real server
// and database. Whatever arrives, the answer is the client's problem (4xx)
// or a redirect, never a 5xx.
func FuzzOAuthEndpoints(f *testing.F) {
	for _, seed := range []string{
		"", "\xff", "a\x00b", "\uFFFD", "\xc0\xaf", "%ff", "a b+c", "..", "\r\n",
		"http://127.0.0.1:9/callback", "S256", "code", "authorization_code",
		strings.Repeat("a", 4096),
	} {
		f.Add(seed)
	}
	s := startE2E(f)
	rsID, rsSecret := s.resourceServer(f)
	client := &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	valid := url.Values{
		"client_id":             {s.ClientID},
		"redirect_uri":          {s.RedirectURI},
		"response_type":         {"code"},
		"scope":                 {"projects:read"},
		"state":                 {"fuzz-state-1"},
		"code_challenge":        {strings.Repeat("a", 43)},
		"code_challenge_method": {"S256"},
	}
	tokenForm := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {"x"},
		"redirect_uri":  {s.RedirectURI},
		"code_verifier": {strings.Repeat("v", 43)},
		"refresh_token": {"x"},
		"token":         {"x"},
	}
	check := func(t *testing.T, what string, req *http.Request) {
		t.Helper()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Errorf("%s: %d %s", what, resp.StatusCode, body)
		}
	}
	post := func(t *testing.T, what, path string, form url.Values, user, pass string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if user != "" || pass != "" {
			req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
		}
		check(t, what, req)
	}
	f.Fuzz(func(t *testing.T, v string) {
		for name := range valid {
			q := url.Values{}
			for k, vs := range valid {
				q[k] = vs
			}
			q.Set(name, v)
			req, err := http.NewRequest(http.MethodGet, s.URL+"/oauth/authorize?"+q.Encode(), nil)
			if err != nil {
				t.Fatal(err)
			}
			check(t, "authorize with "+name, req)
		}
		for name := range tokenForm {
			form := url.Values{}
			for k, vs := range tokenForm {
				form[k] = vs
			}
			form.Set(name, v)
			post(t, "token with "+name, "/v1/oauth/token", form, s.ClientID, s.ClientSecret)
			post(t, "revoke with "+name, "/v1/oauth/revoke", form, s.ClientID, s.ClientSecret)
			post(t, "introspect with "+name, "/v1/oauth/introspect", form, rsID, rsSecret)
		}
		post(t, "token with the client id", "/v1/oauth/token", tokenForm, v, s.ClientSecret)
		post(t, "token with the secret", "/v1/oauth/token", tokenForm, s.ClientID, v)
		post(t, "revoke with the client id", "/v1/oauth/revoke", tokenForm, v, "x")
		post(t, "introspect with the resource server id", "/v1/oauth/introspect", tokenForm, v, rsSecret)
		post(t, "introspect with the secret", "/v1/oauth/introspect", tokenForm, rsID, v)
	})
}
