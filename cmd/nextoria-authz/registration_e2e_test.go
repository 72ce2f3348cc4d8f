package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/nextoria/authz/apps/appstest"
	dcr "github.com/nextoria/authz/registration"
	"github.com/nextoria/authz/secret"
	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/storagetest"
)

// initialToken makes an initial access token of the test workspace.
func (s *e2eServer) initialToken(t *testing.T, lifetime time.Duration) (id, token string) {
	t.Helper()
	svc := dcr.Tokens{Store: s.store, Hasher: secret.NewHasher(s.keys.SecretHash)}
	tok, raw, err := svc.Create(t.Context(), s.WorkspaceID, s.UserID, "Partner marketplace", lifetime)
	if err != nil {
		t.Fatal(err)
	}
	return tok.ID, raw
}

// regCall sends a registration request with a bearer token ("" for none)
// and returns the status, headers and decoded JSON body (nil when empty).
func regCall(t *testing.T, method, u, token, contentType string, body []byte) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s %s: %d, body is not JSON: %.300s", method, u, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, resp.Header, m
}

func regJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// register registers md with token and fails unless it gives 201.
func (s *e2eServer) register(t *testing.T, token string, md map[string]any) map[string]any {
	t.Helper()
	status, h, body := regCall(t, http.MethodPost, s.URL+dcr.Path, token, "application/json", regJSON(t, md))
	if status != http.StatusCreated {
		t.Fatalf("register: %d %v", status, body)
	}
	if h.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", h.Get("Cache-Control"))
	}
	return body
}

// registeredConfig is the oauth2 configuration of a registered client.
func (s *e2eServer) registeredConfig(c map[string]any, redirect string) *oauth2.Config {
	secret, _ := c["client_secret"].(string)
	style := oauth2.AuthStyleInHeader
	if c["token_endpoint_auth_method"] != dcr.AuthSecretBasic {
		style = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{
		ClientID: c["client_id"].(string), ClientSecret: secret, RedirectURL: redirect,
		Endpoint: oauth2.Endpoint{AuthURL: s.URL + "/oauth/authorize", TokenURL: s.URL + "/v1/oauth/token", AuthStyle: style},
		Scopes:   []string{"projects:read"},
	}
}

// countRows counts the rows of the registration tables.
func (s *e2eServer) countRows(t *testing.T) string {
	t.Helper()
	var apps, regs, logos int
	if err := s.store.Pool().QueryRow(t.Context(),
		`SELECT (SELECT count(*) FROM oauth_apps), (SELECT count(*) FROM client_registrations), (SELECT count(*) FROM oauth_app_logos)`).
		Scan(&apps, &regs, &logos); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("apps=%d registrations=%d logos=%d", apps, regs, logos)
}

func TestRegistrationLifecycle(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	_, token := s.initialToken(t, time.Hour)
	intro := s.introspector(t)

	for _, tc := range []struct {
		name, method string
	}{
		{"confidential", dcr.AuthSecretBasic},
		{"confidential-post", dcr.AuthSecretPost},
		{"public", dcr.AuthNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			redirect := "http://127.0.0.1:9/" + tc.name
			c := s.register(t, token, map[string]any{
				"client_name": "Sync for " + tc.name, "redirect_uris": []string{redirect},
				"token_endpoint_auth_method": tc.method, "grant_types": []string{"authorization_code", "refresh_token"},
				"response_types": []string{"code"}, "scope": "projects:read tasks:read",
				"client_uri": "https://sync.example/", "policy_uri": "https://sync.example/privacy",
				"software_id": "ignored-unknown-field",
			})
			clientID, _ := c["client_id"].(string)
			_, hasSecret := c["client_secret"]
			if hasSecret == (tc.method == dcr.AuthNone) {
				t.Errorf("client_secret present = %v for %s", hasSecret, tc.method)
			}
			if tc.method != dcr.AuthNone && c["client_secret_expires_at"] != float64(0) {
				t.Errorf("client_secret_expires_at = %v, want 0", c["client_secret_expires_at"])
			}
			if c["registration_client_uri"] != s.URL+dcr.Path+"/"+clientID || c["scope"] != "projects:read tasks:read" ||
				c["client_name"] != "Sync for "+tc.name || c["token_endpoint_auth_method"] != tc.method {
				t.Errorf("answer = %v", c)
			}
			if _, err := dcr.AccessTokenFormat.Parse(c["registration_access_token"].(string)); err != nil {
				t.Errorf("registration_access_token: %v", err)
			}
			// An ordinary app of the workspace.
			list, err := s.store.ListApps(t.Context(), s.WorkspaceID)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(list, func(a storage.App) bool { return a.ClientID == clientID && a.Public == (tc.method == dcr.AuthNone) }) {
				t.Fatalf("client %s is not among the workspace's apps", clientID)
			}

			// A code flow with golang.org/x/oauth2, PKCE for both kinds.
			conf := s.registeredConfig(c, redirect)
			tok := s.tokens(t, conf)
			if intro(tok.AccessToken, "")["active"] != true {
				t.Fatal("fresh access token is not active")
			}

			// Read.
			rat := c["registration_access_token"].(string)
			uri := c["registration_client_uri"].(string)
			status, _, got := regCall(t, http.MethodGet, uri, rat, "", nil)
			if status != http.StatusOK || got["client_id"] != clientID || got["client_secret"] != nil || got["registration_access_token"] != nil {
				t.Fatalf("read: %d %v", status, got)
			}

			// Update: a new redirect URI takes effect at once, the old one stops.
			newRedirect := redirect + "-v2"
			status, _, upd := regCall(t, http.MethodPut, uri, rat, "application/json", regJSON(t, map[string]any{
				"client_id": clientID, "client_name": "Sync v2", "redirect_uris": []string{newRedirect},
				"token_endpoint_auth_method": tc.method, "scope": "projects:read",
			}))
			if status != http.StatusOK || upd["client_name"] != "Sync v2" || upd["scope"] != "projects:read" {
				t.Fatalf("update: %d %v", status, upd)
			}
			newRAT, _ := upd["registration_access_token"].(string)
			if newRAT == "" || newRAT == rat {
				t.Fatal("update did not rotate the registration access token")
			}
			if status, h, _ := regCall(t, http.MethodGet, uri, rat, "", nil); status != http.StatusUnauthorized || !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Errorf("old registration access token after update: %d %q", status, h.Get("WWW-Authenticate"))
			}
			v := oauth2.GenerateVerifier()
			old := s.newBrowser(t).get(conf.AuthCodeURL("state-old-redirect", oauth2.S256ChallengeOption(v)))
			if old.StatusCode != http.StatusBadRequest {
				t.Errorf("authorize with the replaced redirect URI: %d, want 400", old.StatusCode)
			}
			conf.RedirectURL = newRedirect
			tok2 := s.tokens(t, conf)

			// Delete: every token of the client stops working at once.
			if status, _, _ := regCall(t, http.MethodDelete, uri, rat, "", nil); status != http.StatusUnauthorized {
				t.Errorf("delete with the old token: %d, want 401", status)
			}
			if status, _, body := regCall(t, http.MethodDelete, uri, newRAT, "", nil); status != http.StatusNoContent {
				t.Fatalf("delete: %d %v", status, body)
			}
			for _, at := range []string{tok.AccessToken, tok2.AccessToken, tok2.RefreshToken} {
				if intro(at, "")["active"] != false {
					t.Error("a token of the deleted client is still active")
				}
			}
			if _, err := s.store.GetApp(t.Context(), clientID); err == nil {
				t.Error("the app survived the delete")
			}
			if status, _, _ := regCall(t, http.MethodGet, uri, newRAT, "", nil); status != http.StatusUnauthorized {
				t.Errorf("read after delete: %d, want 401", status)
			}
		})
	}
}

func TestRegistrationRefusesBadInput(t *testing.T) {
	t.Parallel()
	s := startE2E(t, func(c *Config) { c.Limits.RegistrationBurst = 100 })
	_, token := s.initialToken(t, time.Hour)
	good := func(mut func(m map[string]any)) []byte {
		m := map[string]any{"client_name": "Good", "redirect_uris": []string{"https://app.example/cb"}}
		mut(m)
		return regJSON(t, m)
	}
	many := make([]string, 21)
	for i := range many {
		many[i] = fmt.Sprintf("https://app.example/cb%d", i)
	}
	tests := []struct {
		name, contentType string
		body              []byte
		code              string
	}{
		{"malformed JSON", "application/json", []byte(`{"client_name": "x",`), dcr.CodeInvalidClientMetadata},
		{"not an object", "application/json", []byte(`["x"]`), dcr.CodeInvalidClientMetadata},
		{"duplicate key", "application/json", []byte(`{"client_name":"a","client_name":"b","redirect_uris":["https://app.example/cb"]}`), dcr.CodeInvalidClientMetadata},
		{"invalid UTF-8", "application/json", []byte("{\"client_name\":\"\xff\",\"redirect_uris\":[\"https://app.example/cb\"]}"), dcr.CodeInvalidClientMetadata},
		{"trailing data", "application/json", append(good(func(map[string]any) {}), []byte(` {}`)...), dcr.CodeInvalidClientMetadata},
		{"form content type", "application/x-www-form-urlencoded", good(func(map[string]any) {}), dcr.CodeInvalidClientMetadata},
		{"too large", "application/json", good(func(m map[string]any) { m["x"] = strings.Repeat("a", dcr.MaxBodyBytes) }), dcr.CodeInvalidClientMetadata},
		{"wrong type", "application/json", good(func(m map[string]any) { m["redirect_uris"] = "https://app.example/cb" }), dcr.CodeInvalidClientMetadata},
		{"unknown auth method", "application/json", good(func(m map[string]any) { m["token_endpoint_auth_method"] = "private_key_jwt" }), dcr.CodeInvalidClientMetadata},
		{"implicit grant", "application/json", good(func(m map[string]any) { m["grant_types"] = []string{"implicit"} }), dcr.CodeInvalidClientMetadata},
		{"token response type", "application/json", good(func(m map[string]any) { m["response_types"] = []string{"token"} }), dcr.CodeInvalidClientMetadata},
		{"unknown scope", "application/json", good(func(m map[string]any) { m["scope"] = "projects:read admin" }), dcr.CodeInvalidClientMetadata},
		{"no name", "application/json", good(func(m map[string]any) { delete(m, "client_name") }), dcr.CodeInvalidClientMetadata},
		{"http client_uri", "application/json", good(func(m map[string]any) { m["client_uri"] = "http://app.example/" }), dcr.CodeInvalidClientMetadata},
		{"no redirect URI", "application/json", good(func(m map[string]any) { delete(m, "redirect_uris") }), dcr.CodeInvalidRedirectURI},
		{"fragment", "application/json", good(func(m map[string]any) { m["redirect_uris"] = []string{"https://app.example/cb#x"} }), dcr.CodeInvalidRedirectURI},
		{"wildcard", "application/json", good(func(m map[string]any) { m["redirect_uris"] = []string{"https://*.app.example/cb"} }), dcr.CodeInvalidRedirectURI},
		{"plain http", "application/json", good(func(m map[string]any) { m["redirect_uris"] = []string{"http://app.example/cb"} }), dcr.CodeInvalidRedirectURI},
		{"javascript", "application/json", good(func(m map[string]any) { m["redirect_uris"] = []string{"javascript:alert(1)"} }), dcr.CodeInvalidRedirectURI},
		{"data", "application/json", good(func(m map[string]any) { m["redirect_uris"] = []string{"data:text/html,hi"} }), dcr.CodeInvalidRedirectURI},
		{"21 URIs", "application/json", good(func(m map[string]any) { m["redirect_uris"] = many }), dcr.CodeInvalidRedirectURI},
		{"http logo", "application/json", good(func(m map[string]any) { m["logo_uri"] = "http://app.example/logo.png" }), dcr.CodeInvalidClientMetadata},
		{"private logo", "application/json", good(func(m map[string]any) { m["logo_uri"] = "https://10.0.0.1/logo.png" }), dcr.CodeInvalidClientMetadata},
		{"loopback logo", "application/json", good(func(m map[string]any) { m["logo_uri"] = "https://127.0.0.1:1/logo.png" }), dcr.CodeInvalidClientMetadata},
		{"HS256 ID tokens", "application/json", good(func(m map[string]any) { m["id_token_signed_response_alg"] = "HS256" }), dcr.CodeInvalidClientMetadata},
		{"unsigned ID tokens", "application/json", good(func(m map[string]any) { m["id_token_signed_response_alg"] = "none" }), dcr.CodeInvalidClientMetadata},
		{"post-logout fragment", "application/json", good(func(m map[string]any) { m["post_logout_redirect_uris"] = []string{"https://app.example/bye#x"} }), dcr.CodeInvalidRedirectURI},
		{"post-logout plain http", "application/json", good(func(m map[string]any) { m["post_logout_redirect_uris"] = []string{"http://app.example/bye"} }), dcr.CodeInvalidRedirectURI},
		{"post-logout javascript", "application/json", good(func(m map[string]any) { m["post_logout_redirect_uris"] = []string{"javascript:alert(1)"} }), dcr.CodeInvalidRedirectURI},
		{"post-logout 21 URIs", "application/json", good(func(m map[string]any) { m["post_logout_redirect_uris"] = many }), dcr.CodeInvalidRedirectURI},
		{"post-logout not a list", "application/json", good(func(m map[string]any) { m["post_logout_redirect_uris"] = "https://app.example/bye" }), dcr.CodeInvalidClientMetadata},
	}
	before := s.countRows(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := regCall(t, http.MethodPost, s.URL+dcr.Path, token, tc.contentType, tc.body)
			if status != http.StatusBadRequest || body["error"] != tc.code || body["error_description"] == "" {
				t.Errorf("got %d %v, want 400 %s", status, body, tc.code)
			}
		})
	}
	if after := s.countRows(t); after != before {
		t.Errorf("rows changed by refused registrations: %s, then %s", before, after)
	}
}

func TestRegistrationChallenges(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	_, token := s.initialToken(t, time.Hour)
	revokedID, revoked := s.initialToken(t, time.Hour)
	if _, err := (dcr.Tokens{Store: s.store}).Revoke(t.Context(), s.WorkspaceID, revokedID); err != nil {
		t.Fatal(err)
	}
	expiredID, expired := s.initialToken(t, time.Hour)
	if _, err := s.store.Pool().Exec(t.Context(), `UPDATE registration_tokens SET expires_at = now() - interval '1 second' WHERE id = $1`, expiredID); err != nil {
		t.Fatal(err)
	}
	c := s.register(t, token, map[string]any{"client_name": "A", "redirect_uris": []string{"https://a.example/cb"}})
	uri := c["registration_client_uri"].(string)
	other := s.register(t, token, map[string]any{"client_name": "B", "redirect_uris": []string{"https://b.example/cb"}})
	body := regJSON(t, map[string]any{"client_name": "X", "redirect_uris": []string{"https://x.example/cb"}})
	malformed, _ := dcr.TokenFormat.New()

	before := s.countRows(t)
	for _, tc := range []struct {
		name, method, url, auth string
		bare                    bool
	}{
		{"register without token", http.MethodPost, s.URL + dcr.Path, "", true},
		{"register with basic auth", http.MethodPost, s.URL + dcr.Path, "Basic YTpi", false},
		{"register with unknown token", http.MethodPost, s.URL + dcr.Path, "Bearer " + malformed, false},
		{"register with garbage", http.MethodPost, s.URL + dcr.Path, "Bearer nope", false},
		{"register with revoked token", http.MethodPost, s.URL + dcr.Path, "Bearer " + revoked, false},
		{"register with expired token", http.MethodPost, s.URL + dcr.Path, "Bearer " + expired, false},
		{"register with a registration access token", http.MethodPost, s.URL + dcr.Path, "Bearer " + c["registration_access_token"].(string), false},
		{"read without token", http.MethodGet, uri, "", true},
		{"read with initial token", http.MethodGet, uri, "Bearer " + token, false},
		{"read with another client's token", http.MethodGet, uri, "Bearer " + other["registration_access_token"].(string), false},
		{"read unknown client", http.MethodGet, s.URL + dcr.Path + "/0123456789abcdef01234567", "Bearer " + c["registration_access_token"].(string), false},
		{"update with another client's token", http.MethodPut, uri, "Bearer " + other["registration_access_token"].(string), false},
		{"delete without token", http.MethodDelete, uri, "", true},
		{"delete with another client's token", http.MethodDelete, uri, "Bearer " + other["registration_access_token"].(string), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tc.method, tc.url, bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			ch := resp.Header.Get("WWW-Authenticate")
			if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(ch, "Bearer ") {
				t.Fatalf("got %d %q, want 401 with a Bearer challenge", resp.StatusCode, ch)
			}
			if hasErr := strings.Contains(ch, `error="invalid_token"`); hasErr == tc.bare {
				t.Errorf("challenge %q: want error=\"invalid_token\" exactly when a token was sent", ch)
			}
		})
	}
	if after := s.countRows(t); after != before {
		t.Errorf("rows changed by refused requests: %s, then %s", before, after)
	}
}

func TestRegistrationRateLimit(t *testing.T) {
	t.Parallel()
	s := startE2E(t, func(c *Config) { c.Limits.RegistrationPerMinute, c.Limits.RegistrationBurst = 1, 2 })
	_, token := s.initialToken(t, time.Hour)
	_, other := s.initialToken(t, time.Hour)
	md := map[string]any{"client_name": "A", "redirect_uris": []string{"https://a.example/cb"}}
	s.register(t, token, md)
	s.register(t, token, md)
	status, h, body := regCall(t, http.MethodPost, s.URL+dcr.Path, token, "application/json", regJSON(t, md))
	if status != http.StatusTooManyRequests || h.Get("Retry-After") == "" || body["error"] == nil {
		t.Fatalf("third registration: %d Retry-After=%q %v, want 429 with Retry-After", status, h.Get("Retry-After"), body)
	}
	// Counted per token: another token is not affected.
	s.register(t, other, md)
}

// logoServer is an HTTPS server on loopback serving logo fixtures.
func logoServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	png := appstest.PNG(64, 64)
	mux.HandleFunc("/logo.png", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(png)
	})
	mux.HandleFunc("/page.html", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html>not a logo</html>"))
	})
	mux.HandleFunc("/huge.png", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(appstest.Oversized(300 << 10))
	})
	mux.HandleFunc("/disguised.png", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(appstest.PNGHeaderThenHTML())
	})
	mux.HandleFunc("/hop/{n}", func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscan(r.PathValue("n"), &n)
		if n == 0 {
			http.Redirect(w, r, "/logo.png", http.StatusFound)
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/hop/%d", n-1), http.StatusFound)
	})
	mux.HandleFunc("/to-http", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+r.Host+"/logo.png", http.StatusFound)
	})
	ts := httptest.NewTLSServer(mux)
	t.Cleanup(ts.Close)
	return ts
}

func TestRegistrationLogoURI(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	_, token := s.initialToken(t, time.Hour)
	ts := logoServer(t)
	md := func(logo string) map[string]any {
		return map[string]any{"client_name": "Logo", "redirect_uris": []string{"https://a.example/cb"}, "logo_uri": logo}
	}

	// Production's fetcher refuses the loopback test server.
	before := s.countRows(t)
	status, _, body := regCall(t, http.MethodPost, s.URL+dcr.Path, token, "application/json", regJSON(t, md(ts.URL+"/logo.png")))
	if status != http.StatusBadRequest || body["error"] != dcr.CodeInvalidClientMetadata || !strings.Contains(body["error_description"].(string), "public internet") {
		t.Fatalf("loopback logo_uri with the production fetcher: %d %v", status, body)
	}

	// A fetcher allowed to reach the test server, trusting its certificate.
	tlsConfig := ts.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	tlsConfig.MinVersion = tls.VersionTLS12
	s.app.registration.UseLogoFetcher(dcr.NewLogoFetcher(dcr.LogoFetcherOptions{
		AllowAddress: func(a netip.Addr) bool { return a.IsLoopback() },
		TLSConfig:    tlsConfig,
	}))
	for _, bad := range []string{"/page.html", "/huge.png", "/disguised.png", "/hop/4", "/to-http", "/missing.png"} {
		status, _, body := regCall(t, http.MethodPost, s.URL+dcr.Path, token, "application/json", regJSON(t, md(ts.URL+bad)))
		if status != http.StatusBadRequest || body["error"] != dcr.CodeInvalidClientMetadata {
			t.Errorf("logo_uri %s: %d %v, want 400 invalid_client_metadata", bad, status, body)
		}
	}
	if after := s.countRows(t); after != before {
		t.Errorf("rows changed by refused logos: %s, then %s", before, after)
	}

	c := s.register(t, token, md(ts.URL+"/hop/2"))
	app, err := s.store.GetApp(t.Context(), c["client_id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if !app.HasLogo || c["logo_uri"] != ts.URL+"/hop/2" {
		t.Errorf("logo not stored: has_logo=%v answer=%v", app.HasLogo, c["logo_uri"])
	}
	logo, err := s.store.GetAppLogo(t.Context(), app.ClientID)
	if err != nil || logo.ContentType != "image/png" {
		t.Errorf("stored logo: %v %q", err, logo.ContentType)
	}

	// Replacing the metadata without logo_uri removes the logo.
	status, _, upd := regCall(t, http.MethodPut, c["registration_client_uri"].(string), c["registration_access_token"].(string), "application/json",
		regJSON(t, map[string]any{"client_id": app.ClientID, "client_name": "Logo", "redirect_uris": []string{"https://a.example/cb"}}))
	if status != http.StatusOK || upd["logo_uri"] != nil {
		t.Fatalf("update: %d %v", status, upd)
	}
	if app, _ := s.store.GetApp(t.Context(), app.ClientID); app.HasLogo {
		t.Error("logo kept after logo_uri was left out")
	}
}

func TestRegistrationMetadataAdvertised(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	var doc map[string]any
	getJSON(t, s.URL+"/.well-known/oauth-authorization-server", &doc)
	if doc["registration_endpoint"] != s.URL+dcr.Path {
		t.Errorf("registration_endpoint = %v", doc["registration_endpoint"])
	}
}

func TestRegistrationOpen(t *testing.T) {
	t.Parallel()
	var openWS string
	s := startE2E(t, func(c *Config) {
		// The workspace must exist before the server starts.
		pool, err := storage.Connect(t.Context(), c.Database.URL, 2)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		if _, err := storage.Migrate(t.Context(), pool); err != nil {
			t.Fatal(err)
		}
		ws, err := storage.New(pool, storage.Options{}).CreateWorkspace(t.Context(), "Sandbox", storage.PlanStarter)
		if err != nil {
			t.Fatal(err)
		}
		openWS = ws.ID
		c.OAuth.OpenRegistration, c.OAuth.OpenRegistrationWorkspace = true, ws.ID
	})
	c := s.register(t, "", map[string]any{"client_name": "Anyone", "redirect_uris": []string{"https://anyone.example/cb"}})
	app, err := s.store.GetApp(t.Context(), c["client_id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if app.WorkspaceID != openWS || app.OwnerID != "" {
		t.Errorf("openly registered app: workspace %q owner %q, want %q and none", app.WorkspaceID, app.OwnerID, openWS)
	}
	// A token that is sent must still be good.
	if status, _, _ := regCall(t, http.MethodPost, s.URL+dcr.Path, "nxr_wrong", "application/json",
		regJSON(t, map[string]any{"client_name": "X", "redirect_uris": []string{"https://x.example/cb"}})); status != http.StatusUnauthorized {
		t.Errorf("open registration with a wrong token: %d, want 401", status)
	}
}

func TestRegistrationOpenNeedsWorkspace(t *testing.T) {
	t.Parallel()
	cfg := defaultConfig()
	cfg.Database.URL = storagetest.NewDatabase(t)
	cfg.Secrets.System = secret.Token()
	cfg.OAuth.Audience = cfg.Issuer
	cfg.OAuth.OpenRegistration, cfg.OAuth.OpenRegistrationWorkspace = true, "6b1f0b6d-bb9e-4e5b-91f9-a2f59d1c8f74"
	_, err := newApp(t.Context(), cfg, true, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "no such workspace") {
		t.Fatalf("newApp = %v, want the missing workspace reported", err)
	}
}
