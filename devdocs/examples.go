package devdocs

import "net/http"

// The slugs of the docs pages (/docs/<slug>; the overview is /docs).
const (
	PageOverview     = "overview"
	PageAuthCode     = "authorization-code"
	PageScopes       = "scopes"
	PageTokens       = "tokens"
	PageErrors       = "errors"
	PageRateLimits   = "rate-limits"
	PageAPIKeys      = "api-keys"
	PageRegistration = "client-registration"
)

// PathOverview is the path of the docs overview; every other page is
// PathOverview/<slug>.
const PathOverview = "/docs"

// Page is one page of the developer docs.
type Page struct {
	Slug, Title, Lead string
}

// Href is the page's path.
func (p Page) Href() string {
	if p.Slug == PageOverview {
		return PathOverview
	}
	return PathOverview + "/" + p.Slug
}

// Pages are the developer docs, in reading order.
var Pages = []Page{
	{PageOverview, "Overview", "How apps and integrations authenticate to the Nextoria Hub REST API."},
	{PageAuthCode, "Authorization code flow", "Act on behalf of a Nextoria Hub user: OAuth 2.0 with PKCE, step by step."},
	{PageScopes, "Scopes", "What an access token or API key may do."},
	{PageTokens, "Tokens and refresh", "Lifetimes, refresh token rotation and what revocation does."},
	{PageErrors, "Errors", "The error answers of the OAuth endpoints and of the REST API."},
	{PageRateLimits, "Rate limits", "Per-plan limits of the REST API and the limits of the OAuth endpoints."},
	{PageAPIKeys, "API keys", "Server-to-server access to a workspace."},
	{PageRegistration, "Client registration", "Register and manage OAuth clients by API (RFC 7591 and RFC 7592)."},
}

// UserInfoField is the metadata member that names the OpenID Connect
// UserInfo endpoint; the sign-in examples require it.
const UserInfoField = "userinfo_endpoint"

// RegistrationField is the metadata member that names the client
// registration endpoint; the registration examples require it.
const RegistrationField = "registration_endpoint"

// Examples are every copyable request of the docs pages, in the order a
// reader (and the test) makes them: each may use the placeholders set by
// the answers before it.
//
// Placeholders a reader provides: CLIENT_ID, CLIENT_SECRET, REDIRECT_URI
// (an app's registration), STATE, CODE_VERIFIER and CODE_CHALLENGE (made per
// authorization), RS_CLIENT_ID and RS_CLIENT_SECRET (a resource server's
// credentials), API_KEY, API_URL (the REST API's base URL),
// INITIAL_ACCESS_TOKEN (a registration token) and NONCE (made per sign-in).
// USER_ID, the signed-in user's id, appears only in the checks of answers.
var Examples = []Example{
	{
		ID: "discovery", Page: PageOverview,
		Title:  "Read the authorization server metadata (RFC 8414)",
		Path:   "/.well-known/oauth-authorization-server",
		Status: http.StatusOK,
		Fields: []string{"issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "introspection_endpoint", "revocation_endpoint", "scopes_supported", "code_challenge_methods_supported"},
		Want:   map[string]any{"issuer": "$ISSUER"},
		Response: `{"issuer":"$ISSUER","authorization_endpoint":"$ISSUER/oauth/authorize",
 "token_endpoint":"$ISSUER/v1/oauth/token","jwks_uri":"$ISSUER/.well-known/jwks.json",
 "code_challenge_methods_supported":["S256"], …}`,
	},
	{
		ID: "authorize", Page: PageAuthCode, Browser: true,
		Title: "Send the user to the authorization endpoint",
		Path:  "/oauth/authorize",
		Query: []Param{
			{"client_id", "$CLIENT_ID"},
			{"redirect_uri", "$REDIRECT_URI"},
			{"response_type", "code"},
			{"scope", "projects:read tasks:read"},
			{"state", "$STATE"},
			{"code_challenge", "$CODE_CHALLENGE"},
			{"code_challenge_method", "S256"},
		},
		Sets:     map[string]string{"CODE": "code"},
		Response: `$REDIRECT_URI?code=…&state=$STATE&iss=$ISSUER`,
	},
	{
		ID: "token-code", Page: PageAuthCode,
		Title:  "Exchange the code for tokens",
		Method: http.MethodPost, Path: "/v1/oauth/token",
		Form: []Param{
			{"grant_type", "authorization_code"},
			{"code", "$CODE"},
			{"redirect_uri", "$REDIRECT_URI"},
			{"client_id", "$CLIENT_ID"},
			{"client_secret", "$CLIENT_SECRET"},
			{"code_verifier", "$CODE_VERIFIER"},
		},
		Status: http.StatusOK,
		Fields: []string{"access_token", "token_type", "expires_in", "refresh_token", "scope"},
		Want:   map[string]any{"token_type": "Bearer", "scope": "projects:read tasks:read"},
		Sets:   map[string]string{"ACCESS_TOKEN": "access_token", "REFRESH_TOKEN": "refresh_token"},
		Response: `{
  "access_token": "eyJ...",
  "token_type": "Bearer",
  "expires_in": 3600,
  "refresh_token": "dGh...",
  "scope": "projects:read tasks:read"
}`,
	},
	{
		ID: "api-call-token", Page: PageAuthCode,
		Title:    "Call the API with the access token",
		Path:     "$API_URL/v1/projects",
		Bearer:   "$ACCESS_TOKEN",
		Status:   http.StatusOK,
		Fields:   []string{"data"},
		Response: `{"data":[]}`,
	},
	{
		ID: "introspect", Page: PageAuthCode,
		Title:  "Introspect the access token (resource servers, RFC 7662)",
		Method: http.MethodPost, Path: "/v1/oauth/introspect",
		User: "$RS_CLIENT_ID", Password: "$RS_CLIENT_SECRET",
		Form:   []Param{{"token", "$ACCESS_TOKEN"}},
		Status: http.StatusOK,
		Fields: []string{"active", "scope", "client_id", "sub", "token_type", "exp", "iat", "iss", "aud", "jti", "workspace_id", "plan"},
		Want:   map[string]any{"active": true, "client_id": "$CLIENT_ID", "iss": "$ISSUER", "token_type": "Bearer"},
		Response: `{"active":true,"scope":"projects:read tasks:read","client_id":"…","sub":"…",
 "token_type":"Bearer","exp":1767225600,"iat":1767222000,"iss":"$ISSUER",
 "aud":["$ISSUER"],"jti":"…","workspace_id":"…","plan":"growth"}`,
	},
	{
		ID: "token-refresh", Page: PageAuthCode,
		Title:  "Refresh: a new access token and a new refresh token",
		Method: http.MethodPost, Path: "/v1/oauth/token",
		User: "$CLIENT_ID", Password: "$CLIENT_SECRET",
		Form: []Param{
			{"grant_type", "refresh_token"},
			{"refresh_token", "$REFRESH_TOKEN"},
		},
		Status: http.StatusOK,
		Fields: []string{"access_token", "token_type", "expires_in", "refresh_token", "scope"},
		Want:   map[string]any{"token_type": "Bearer"},
		Sets:   map[string]string{"ACCESS_TOKEN": "access_token", "REFRESH_TOKEN": "refresh_token"},
		Response: `{"access_token":"eyJ...","token_type":"Bearer","expires_in":3600,
 "refresh_token":"…","scope":"projects:read tasks:read"}`,
	},
	{
		ID: "revoke", Page: PageAuthCode,
		Title:  "Revoke the refresh token, and with it the whole grant (RFC 7009)",
		Method: http.MethodPost, Path: "/v1/oauth/revoke",
		User: "$CLIENT_ID", Password: "$CLIENT_SECRET",
		Form:     []Param{{"token", "$REFRESH_TOKEN"}, {"token_type_hint", "refresh_token"}},
		Status:   http.StatusOK,
		Response: `(200, empty body)`,
	},
	{
		ID: "authorize-openid", Page: PageAuthCode, Browser: true, Requires: UserInfoField,
		Title: "Sign the user in with OpenID Connect",
		Path:  "/oauth/authorize",
		Query: []Param{
			{"client_id", "$CLIENT_ID"},
			{"redirect_uri", "$REDIRECT_URI"},
			{"response_type", "code"},
			{"scope", "openid profile email"},
			{"state", "$STATE"},
			{"nonce", "$NONCE"},
			{"code_challenge", "$CODE_CHALLENGE"},
			{"code_challenge_method", "S256"},
		},
		Sets:     map[string]string{"SIGNIN_CODE": "code"},
		Response: `$REDIRECT_URI?code=…&state=$STATE&iss=$ISSUER`,
	},
	{
		ID: "token-openid", Page: PageAuthCode, Requires: UserInfoField,
		Title:  "Exchange the code: the answer carries an ID token",
		Method: http.MethodPost, Path: "/v1/oauth/token",
		User: "$CLIENT_ID", Password: "$CLIENT_SECRET",
		Form: []Param{
			{"grant_type", "authorization_code"},
			{"code", "$SIGNIN_CODE"},
			{"redirect_uri", "$REDIRECT_URI"},
			{"code_verifier", "$CODE_VERIFIER"},
		},
		Status: http.StatusOK,
		Fields: []string{"access_token", "token_type", "expires_in", "refresh_token", "scope", "id_token"},
		Want:   map[string]any{"token_type": "Bearer", "scope": "openid profile email"},
		Sets:   map[string]string{"SIGNIN_ACCESS_TOKEN": "access_token"},
		Response: `{"access_token":"eyJ...","token_type":"Bearer","expires_in":3600,
 "refresh_token":"…","scope":"openid profile email","id_token":"eyJ..."}`,
	},
	{
		ID: "userinfo", Page: PageAuthCode, Requires: UserInfoField,
		Title:    "Read the user's claims (UserInfo)",
		Path:     "/v1/oauth/userinfo",
		Bearer:   "$SIGNIN_ACCESS_TOKEN",
		Status:   http.StatusOK,
		Fields:   []string{"sub", "name", "email", "email_verified"},
		Want:     map[string]any{"sub": "$USER_ID"},
		Headers:  []string{"Cache-Control"},
		Response: `{"sub":"…","name":"Ada Lovelace","email":"ada@example.com","email_verified":true}`,
	},
	{
		ID: "introspect-revoked", Page: PageTokens,
		Title:  "Introspect a token of a revoked grant",
		Method: http.MethodPost, Path: "/v1/oauth/introspect",
		User: "$RS_CLIENT_ID", Password: "$RS_CLIENT_SECRET",
		Form:     []Param{{"token", "$ACCESS_TOKEN"}},
		Status:   http.StatusOK,
		Fields:   []string{"active"},
		Want:     map[string]any{"active": false},
		Response: `{"active":false}`,
	},
	{
		ID: "error-invalid-grant", Page: PageErrors,
		Title:  "Redeem a code a second time",
		Method: http.MethodPost, Path: "/v1/oauth/token",
		User: "$CLIENT_ID", Password: "$CLIENT_SECRET",
		Form: []Param{
			{"grant_type", "authorization_code"},
			{"code", "$CODE"},
			{"redirect_uri", "$REDIRECT_URI"},
			{"code_verifier", "$CODE_VERIFIER"},
		},
		Status:   http.StatusBadRequest,
		Fields:   []string{"error", "error_description"},
		Want:     map[string]any{"error": "invalid_grant"},
		Response: `{"error":"invalid_grant","error_description":"…"}`,
	},
	{
		ID: "error-invalid-client", Page: PageErrors,
		Title:  "Authenticate with a wrong client secret",
		Method: http.MethodPost, Path: "/v1/oauth/token",
		User: "$CLIENT_ID", Password: "not-the-secret",
		Form:     []Param{{"grant_type", "refresh_token"}, {"refresh_token", "$REFRESH_TOKEN"}},
		Status:   http.StatusUnauthorized,
		Fields:   []string{"error", "error_description"},
		Want:     map[string]any{"error": "invalid_client"},
		Response: `{"error":"invalid_client","error_description":"…"}`,
	},
	{
		ID: "api-key-call", Page: PageAPIKeys,
		Title:   "Call the API with an API key",
		Path:    "$API_URL/v1/projects",
		Bearer:  "$API_KEY",
		Header:  []Param{{"Content-Type", "application/json"}},
		Status:  http.StatusOK,
		Fields:  []string{"data"},
		Headers: []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"},
		Response: `HTTP/1.1 200 OK
Content-Type: application/json; charset=utf-8
RateLimit-Limit: 500
RateLimit-Remaining: 499
RateLimit-Reset: 1

{"data":[]}`,
	},
	{
		ID: "api-key-introspect", Page: PageAPIKeys,
		Title:  "Introspect an API key (resource servers)",
		Method: http.MethodPost, Path: "/v1/oauth/introspect",
		User: "$RS_CLIENT_ID", Password: "$RS_CLIENT_SECRET",
		Form:   []Param{{"token", "$API_KEY"}},
		Status: http.StatusOK,
		Fields: []string{"active", "scope", "token_type", "iat", "iss", "workspace_id", "plan", "key_id", "key_name"},
		Want:   map[string]any{"active": true, "token_type": "api_key", "iss": "$ISSUER"},
		Response: `{"active":true,"scope":"projects:read","token_type":"api_key","iat":1767222000,
 "iss":"$ISSUER","workspace_id":"…","plan":"growth","key_id":"…","key_name":"Zapier Integration"}`,
	},
	{
		ID: "error-envelope", Page: PageErrors,
		Title:    "Call an API route without its scope",
		Path:     "$API_URL/v1/tasks",
		Bearer:   "$API_KEY",
		Status:   http.StatusForbidden,
		Fields:   []string{"error"},
		Want:     map[string]any{"error.code": "FORBIDDEN", "error.status": float64(http.StatusForbidden)},
		Headers:  []string{"WWW-Authenticate"},
		Response: `{"error":{"code":"FORBIDDEN","message":"This API key or access token lacks the scope tasks:read required here.","status":403}}`,
	},
	{
		ID: "register", Page: PageRegistration, Requires: RegistrationField,
		Title:  "Register a confidential client (RFC 7591)",
		Method: http.MethodPost, Path: "/v1/oauth/register",
		Bearer: "$INITIAL_ACCESS_TOKEN",
		JSON: `{
  "client_name": "Acme Sync",
  "redirect_uris": ["https://acme.example/callback"],
  "token_endpoint_auth_method": "client_secret_basic",
  "grant_types": ["authorization_code", "refresh_token"],
  "response_types": ["code"],
  "scope": "projects:read tasks:read"
}`,
		Status: http.StatusCreated,
		Fields: []string{"client_id", "client_secret", "client_id_issued_at", "client_secret_expires_at",
			"registration_access_token", "registration_client_uri", "client_name", "redirect_uris",
			"token_endpoint_auth_method", "grant_types", "response_types", "scope", "id_token_signed_response_alg"},
		Want: map[string]any{"client_name": "Acme Sync", "client_secret_expires_at": float64(0), "id_token_signed_response_alg": "RS256"},
		Sets: map[string]string{
			"REGISTERED_CLIENT_ID":      "client_id",
			"REGISTRATION_ACCESS_TOKEN": "registration_access_token",
			"REGISTRATION_CLIENT_URI":   "registration_client_uri",
		},
		Response: `{
  "client_id": "…",
  "client_secret": "…",
  "client_id_issued_at": 1767222000,
  "client_secret_expires_at": 0,
  "registration_access_token": "…",
  "registration_client_uri": "$ISSUER/v1/oauth/register/…",
  "client_name": "Acme Sync",
  "redirect_uris": ["https://acme.example/callback"],
  "token_endpoint_auth_method": "client_secret_basic",
  "grant_types": ["authorization_code", "refresh_token"],
  "response_types": ["code"],
  "scope": "projects:read tasks:read",
  "id_token_signed_response_alg": "RS256"
}`,
	},
	{
		ID: "register-read", Page: PageRegistration, Requires: RegistrationField,
		Title:    "Read the client's registration (RFC 7592 §2.1)",
		Path:     "$REGISTRATION_CLIENT_URI",
		Bearer:   "$REGISTRATION_ACCESS_TOKEN",
		Status:   http.StatusOK,
		Fields:   []string{"client_id", "client_name", "redirect_uris"},
		Want:     map[string]any{"client_id": "$REGISTERED_CLIENT_ID"},
		Response: `{"client_id":"…","client_name":"Acme Sync","redirect_uris":["https://acme.example/callback"], …}`,
	},
	{
		ID: "register-update", Page: PageRegistration, Requires: RegistrationField,
		Title:  "Replace the client's metadata (RFC 7592 §2.2)",
		Method: http.MethodPut, Path: "$REGISTRATION_CLIENT_URI",
		Bearer: "$REGISTRATION_ACCESS_TOKEN",
		JSON: `{
  "client_id": "$REGISTERED_CLIENT_ID",
  "client_name": "Acme Sync",
  "redirect_uris": ["https://acme.example/callback", "https://acme.example/oauth/callback"],
  "token_endpoint_auth_method": "client_secret_basic",
  "grant_types": ["authorization_code", "refresh_token"],
  "response_types": ["code"],
  "scope": "projects:read tasks:read"
}`,
		Status: http.StatusOK,
		Fields: []string{"client_id", "redirect_uris", "registration_access_token", "registration_client_uri"},
		Want:   map[string]any{"client_id": "$REGISTERED_CLIENT_ID"},
		Sets:   map[string]string{"REGISTRATION_ACCESS_TOKEN": "registration_access_token"},
		Response: `{"client_id":"…","redirect_uris":["https://acme.example/callback","https://acme.example/oauth/callback"],
 "registration_access_token":"… (a new one)","registration_client_uri":"…", …}`,
	},
	{
		ID: "register-invalid", Page: PageRegistration, Requires: RegistrationField,
		Title:  "A redirect URI with a fragment is refused",
		Method: http.MethodPost, Path: "/v1/oauth/register",
		Bearer: "$INITIAL_ACCESS_TOKEN",
		JSON: `{
  "client_name": "Acme Sync",
  "redirect_uris": ["https://acme.example/callback#top"]
}`,
		Status:   http.StatusBadRequest,
		Fields:   []string{"error", "error_description"},
		Want:     map[string]any{"error": "invalid_redirect_uri"},
		Response: `{"error":"invalid_redirect_uri","error_description":"…"}`,
	},
	{
		ID: "register-unauthorized", Page: PageRegistration, Requires: RegistrationField,
		Title:  "A bad initial access token gets 401 and a Bearer challenge",
		Method: http.MethodPost, Path: "/v1/oauth/register",
		Bearer:  "not-a-registration-token",
		JSON:    `{"client_name": "Acme Sync", "redirect_uris": ["https://acme.example/callback"]}`,
		Status:  http.StatusUnauthorized,
		Headers: []string{"WWW-Authenticate"},
		Response: `HTTP/1.1 401 Unauthorized
WWW-Authenticate: Bearer realm="nextoria", error="invalid_token", error_description="…"`,
	},
	{
		ID: "register-delete", Page: PageRegistration, Requires: RegistrationField,
		Title:  "Delete the client: its tokens and consents are revoked (RFC 7592 §2.3)",
		Method: http.MethodDelete, Path: "$REGISTRATION_CLIENT_URI",
		Bearer:   "$REGISTRATION_ACCESS_TOKEN",
		Status:   http.StatusNoContent,
		Response: `HTTP/1.1 204 No Content`,
	},
}
