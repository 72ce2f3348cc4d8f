package resource_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/nextoria/authz/ratelimit"
	"github.com/nextoria/authz/resource"
)

// A resource server protects its routes with the scopes they need. Here a
// stand-in for the authorization server's introspection endpoint knows one
// API key, which may read projects but not write them.
func Example() {
	as := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.PostFormValue("token") != "nxh_example" {
			io.WriteString(w, `{"active":false}`)
			return
		}
		io.WriteString(w, `{"active":true,"scope":"projects:read","token_type":"api_key",
			"workspace_id":"5b0d7c1e-9f7a-4c55-8f7e-3b1f2a9c0d11","plan":"starter",
			"key_id":"c3a1","key_name":"Zapier Integration"}`)
	}))
	defer as.Close()

	mw, err := resource.New(resource.Config{
		IntrospectionURL: as.URL + "/v1/oauth/introspect",
		ClientID:         "hub-api",
		ClientSecret:     "resource-server-secret",
		Limiter:          ratelimit.NewMemory(ratelimit.MemoryOptions{}),
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /v1/projects", mw.Require("projects:read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := resource.PrincipalFrom(r.Context())
		fmt.Fprintf(w, "projects of workspace %s, for key %q\n", p.WorkspaceID, p.KeyName)
	})))
	mux.Handle("POST /v1/projects", mw.Require("projects:write")(http.NotFoundHandler()))

	for _, req := range []struct{ method, auth string }{
		{"GET", "Bearer nxh_example"},
		{"POST", "Bearer nxh_example"},
		{"GET", "Bearer nxh_revoked"},
		{"GET", ""},
	} {
		r := httptest.NewRequest(req.method, "/v1/projects", strings.NewReader("{}"))
		r.Header.Set("Content-Type", "application/json")
		if req.auth != "" {
			r.Header.Set("Authorization", req.auth)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		fmt.Printf("%s %s → %d %s", req.method, req.auth, w.Code, w.Body)
	}
	// Output:
	// GET Bearer nxh_example → 200 projects of workspace 5b0d7c1e-9f7a-4c55-8f7e-3b1f2a9c0d11, for key "Zapier Integration"
	// POST Bearer nxh_example → 403 {"error":{"code":"FORBIDDEN","message":"This API key or access token lacks the scope projects:write required here.","status":403}}
	// GET Bearer nxh_revoked → 401 {"error":{"code":"UNAUTHORIZED","message":"The API key or access token is invalid, expired or revoked.","status":401}}
	// GET  → 401 {"error":{"code":"UNAUTHORIZED","message":"Missing API key or access token: send it as \"Authorization: Bearer <token>\".","status":401}}
}
