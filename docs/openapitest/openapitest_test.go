package openapitest_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nextoria/authz/docs/openapitest"
)

// TestValidatorCatchesMismatches: the document loads, is valid OpenAPI 3.1,
// and the validator tells conforming responses from wrong ones.
func TestValidatorCatchesMismatches(t *testing.T) {
	t.Parallel()
	v, err := openapitest.Load()
	if err != nil {
		t.Fatal(err)
	}
	tokenOK := `{"access_token":"eyJ","token_type":"bearer","expires_in":3600,"refresh_token":"r","scope":"projects:read"}`
	regOK := `{"client_id":"abc","client_name":"A","redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"none",` +
		`"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"scope":"projects:read",` +
		`"client_id_issued_at":1,"registration_client_uri":"https://auth.example/v1/oauth/register/abc","id_token_signed_response_alg":"RS256"}`
	tests := []struct {
		name, method, path, contentType, body string
		status                                int
		header                                map[string]string
		ok                                    bool
	}{
		{"token", "POST", "/v1/oauth/token", "application/json;charset=UTF-8", tokenOK, 200, nil, true},
		{"token without access_token", "POST", "/v1/oauth/token", "application/json", `{"token_type":"bearer","expires_in":3600,"scope":""}`, 200, nil, false},
		{"token with a string expires_in", "POST", "/v1/oauth/token", "application/json", strings.Replace(tokenOK, "3600", `"3600"`, 1), 200, nil, false},
		{"oauth error", "POST", "/v1/oauth/token", "application/json", `{"error":"invalid_grant","error_description":"x"}`, 400, nil, true},
		{"oauth error without error", "POST", "/v1/oauth/token", "application/json", `{"error_description":"x"}`, 400, nil, false},
		{"registration", "POST", "/v1/oauth/register", "application/json; charset=utf-8", regOK, 201, map[string]string{"Cache-Control": "no-store"}, true},
		{"registration without client_id", "POST", "/v1/oauth/register", "application/json", strings.Replace(regOK, `"client_id":"abc",`, "", 1), 201, map[string]string{"Cache-Control": "no-store"}, false},
		{"registration with an HS256 ID token alg", "POST", "/v1/oauth/register", "application/json", strings.Replace(regOK, `"RS256"`, `"HS256"`, 1), 201, map[string]string{"Cache-Control": "no-store"}, false},
		{"userinfo", "GET", "/v1/oauth/userinfo", "application/json", `{"sub":"u1","name":"Ada","email":"ada@example.com","email_verified":true}`, 200, map[string]string{"Cache-Control": "no-store", "Access-Control-Allow-Origin": "*"}, true},
		{"userinfo with an unknown claim", "GET", "/v1/oauth/userinfo", "application/json", `{"sub":"u1","password":"x"}`, 200, map[string]string{"Cache-Control": "no-store", "Access-Control-Allow-Origin": "*"}, false},
		{"userinfo 403", "POST", "/v1/oauth/userinfo", "application/json", `{"error":"insufficient_scope"}`, 403, map[string]string{"WWW-Authenticate": `Bearer error="insufficient_scope", scope="openid"`}, true},
		{"userinfo 401 without challenge", "GET", "/v1/oauth/userinfo", "application/json", `{"error":"invalid_token"}`, 401, nil, false},
		{"discovery without userinfo_endpoint", "GET", "/.well-known/openid-configuration", "application/json", `{"issuer":"x"}`, 200, nil, false},
		{"registration 401 without challenge", "POST", "/v1/oauth/register", "application/json", `{"error":"invalid_token"}`, 401, nil, false},
		{"registration 401", "POST", "/v1/oauth/register", "application/json", `{"error":"invalid_token"}`, 401, map[string]string{"WWW-Authenticate": `Bearer realm="nextoria"`}, true},
		{"registration error of another kind", "POST", "/v1/oauth/register", "application/json", `{"error":"invalid_scope"}`, 400, nil, false},
		{"undocumented status", "GET", "/.well-known/oauth-authorization-server", "application/json", `{}`, 418, nil, false},
		{"envelope", "GET", "/v1/projects", "application/json; charset=utf-8", `{"error":{"code":"NOT_FOUND","message":"x","status":404}}`, 404, nil, true},
		{"envelope with an unknown code", "GET", "/v1/projects", "application/json", `{"error":{"code":"TEAPOT","message":"x","status":418}}`, 418, nil, false},
		{"rate limit header not a number", "GET", "/v1/projects", "application/json", `{"data":[]}`, 200, map[string]string{"RateLimit-Remaining": "many"}, false},
		{"undocumented JSON route", "GET", "/v1/secret", "application/json", `{}`, 200, nil, false},
		{"not JSON", "GET", "/login", "text/html", `<html>`, 200, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "http://127.0.0.1:1234"+tc.path, nil)
			h := http.Header{"Content-Type": {tc.contentType}}
			for k, val := range tc.header {
				h.Set(k, val)
			}
			err := v.Check(req, tc.status, h, []byte(tc.body))
			if (err == nil) != tc.ok {
				t.Errorf("Check = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// TestTransportReports: the RoundTripper reports a wrong response and
// hands the body on intact.
func TestTransportReports(t *testing.T) {
	t.Parallel()
	v, err := openapitest.Load()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"issuer":"x"}`)) // missing required fields
	}))
	defer srv.Close()
	var got []error
	c := &http.Client{Transport: &openapitest.Transport{Validator: v, Report: func(err error) { got = append(got, err) }}}
	resp, err := c.Get(srv.URL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	if _, err := io.Copy(&b, resp.Body); err != nil || b.String() != `{"issuer":"x"}` {
		t.Errorf("body = %q, %v", b.String(), err)
	}
	if len(got) != 1 || errors.Is(got[0], openapitest.ErrUndocumented) {
		t.Errorf("reported %v, want one mismatch", got)
	}
}
