package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// TestE2EAuthorizeRequestErrorsShowPage: when the client or redirect URI
// cannot be trusted the user sees an error page and is never redirected.
func TestE2EAuthorizeRequestErrorsShowPage(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	v := oauth2.GenerateVerifier()
	valid := func(mut func(q url.Values)) string {
		q := url.Values{
			"client_id": {s.ClientID}, "redirect_uri": {s.RedirectURI}, "response_type": {"code"},
			"scope": {"projects:read"}, "state": {"state-12345678"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(v)}, "code_challenge_method": {"S256"},
		}
		mut(q)
		return s.URL + "/oauth/authorize?" + q.Encode()
	}
	tests := []struct {
		name string
		url  string
	}{
		{"unknown client", valid(func(q url.Values) { q.Set("client_id", "no-such-client") })},
		{"missing client", valid(func(q url.Values) { q.Del("client_id") })},
		{"redirect mismatch", valid(func(q url.Values) { q.Set("redirect_uri", "https://evil.example/callback") })},
		{"redirect prefix only", valid(func(q url.Values) { q.Set("redirect_uri", s.RedirectURI+"/../x") })},
		{"redirect with extra query", valid(func(q url.Values) { q.Set("redirect_uri", s.RedirectURI+"?x=1") })},
		{"duplicate redirect_uri", valid(func(q url.Values) { q.Add("redirect_uri", "https://evil.example/") })},
		{"invalid UTF-8", valid(func(q url.Values) { q.Set("state", "state-\xff\xfe-123") })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := s.newBrowser(t).get(tt.url)
			if p.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", p.StatusCode)
			}
			if loc := p.Header.Get("Location"); loc != "" {
				t.Fatalf("redirected to %s", loc)
			}
			if !strings.Contains(p.Header.Get("Content-Type"), "text/html") || !strings.Contains(p.Body, `data-testid="error-title"`) {
				t.Fatalf("not the HTML error page: %.200s", p.Body)
			}
			if p.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Fatal("the authorization endpoint sent CORS headers")
			}
		})
	}
}

// TestE2EAuthorizeErrorClasses: each refused request that cannot go back to
// the app shows the page of its class, with the app's name when it is known,
// the OAuth error code and the request reference (the X-Request-Id header),
// and none of fosite's generic descriptions.
func TestE2EAuthorizeErrorClasses(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	v := oauth2.GenerateVerifier()
	valid := func(mut func(q url.Values)) string {
		q := url.Values{
			"client_id": {s.ClientID}, "redirect_uri": {s.RedirectURI}, "response_type": {"code"},
			"scope": {"projects:read"}, "state": {"state-12345678"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(v)}, "code_challenge_method": {"S256"},
		}
		mut(q)
		return s.URL + "/oauth/authorize?" + q.Encode()
	}
	tests := []struct {
		name      string
		url       string
		wantClass string
		wantCode  string
		wantApp   bool
	}{
		{"unknown client", valid(func(q url.Values) { q.Set("client_id", "no-such-client") }), "unknown_app", "invalid_client", false},
		{"redirect not registered", valid(func(q url.Values) { q.Set("redirect_uri", "https://evil.example/callback") }),
			"redirect_uri_not_registered", "invalid_request", true},
		{"missing client_id", valid(func(q url.Values) { q.Del("client_id") }), "request_malformed", "invalid_request", false},
		{"duplicate parameter", valid(func(q url.Values) { q.Add("scope", "tasks:read") }), "request_malformed", "invalid_request", false},
	}
	rawSentences := []string{"Client authentication failed", "e.g.", "The request is missing a required parameter",
		"pre-registered redirect urls"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := s.newBrowser(t).get(tt.url)
			if p.StatusCode != http.StatusBadRequest || p.Header.Get("Location") != "" {
				t.Fatalf("status %d, Location %q: want a 400 page", p.StatusCode, p.Header.Get("Location"))
			}
			if !strings.Contains(p.Body, `data-error-class="`+tt.wantClass+`"`) {
				t.Errorf("page is not of class %s: %.400s", tt.wantClass, p.Body)
			}
			if !strings.Contains(p.Body, `data-testid="error-code">`+tt.wantCode+`<`) {
				t.Errorf("error code %s not shown", tt.wantCode)
			}
			id := p.Header.Get("X-Request-Id")
			if id == "" || !strings.Contains(p.Body, `data-testid="request-id">`+id+`<`) {
				t.Errorf("request reference %q not shown", id)
			}
			if got := strings.Contains(p.Body, `data-testid="error-app-name">Test App<`); got != tt.wantApp {
				t.Errorf("app name shown = %v, want %v", got, tt.wantApp)
			}
			for _, raw := range rawSentences {
				if strings.Contains(htmlUnescape(p.Body), raw) {
					t.Errorf("page shows fosite's sentence %q", raw)
				}
			}
			if strings.Contains(p.Body, `data-testid="home-link"`) {
				t.Error("authorization error page links to the home page")
			}
		})
	}
}

// TestE2EAuthorizeRequestErrorsRedirect: once the redirect URI is verified,
// errors go back to the client with error, state and iss.
func TestE2EAuthorizeRequestErrorsRedirect(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	narrowID, _ := s.registerApp(t, "Narrow App", false, []string{s.RedirectURI}, []string{"projects:read"})
	v := oauth2.GenerateVerifier()
	build := func(mut func(q url.Values)) string {
		q := url.Values{
			"client_id": {s.ClientID}, "redirect_uri": {s.RedirectURI}, "response_type": {"code"},
			"scope": {"projects:read tasks:read"}, "state": {"state-12345678"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(v)}, "code_challenge_method": {"S256"},
		}
		mut(q)
		return s.URL + "/oauth/authorize?" + q.Encode()
	}
	tests := []struct {
		name, url, wantErr string
	}{
		{"scope not registered for the app", build(func(q url.Values) { q.Set("client_id", narrowID) }), "invalid_scope"},
		{"scope not in the catalogue", build(func(q url.Values) { q.Set("scope", "projects:read admin") }), "invalid_scope"},
		{"no scope", build(func(q url.Values) { q.Del("scope") }), "invalid_scope"},
		{"plain PKCE", build(func(q url.Values) { q.Set("code_challenge", v); q.Set("code_challenge_method", "plain") }), "invalid_request"},
		{"PKCE without method", build(func(q url.Values) { q.Del("code_challenge_method") }), "invalid_request"},
		{"implicit flow", build(func(q url.Values) { q.Set("response_type", "token") }), "unsupported_response_type"},
		{"fragment response mode", build(func(q url.Values) { q.Set("response_mode", "fragment") }), "unsupported_response_mode"},
		{"prompt=none when signed out", build(func(q url.Values) { q.Set("prompt", "none") }), "login_required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := s.newBrowser(t)
			u := b.clientRedirect(b.get(tt.url))
			q := u.Query()
			if q.Get("error") != tt.wantErr {
				t.Fatalf("error = %q (%s), want %q", q.Get("error"), q.Get("error_description"), tt.wantErr)
			}
			if q.Get("state") != "state-12345678" || q.Get("iss") != s.URL {
				t.Fatalf("state %q iss %q", q.Get("state"), q.Get("iss"))
			}
			if q.Get("code") != "" {
				t.Fatal("an error redirect carries a code")
			}
		})
	}
}

// TestE2EDeny: Deny answers access_denied with state and iss, and nothing is remembered.
func TestE2EDeny(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	b := s.newBrowser(t)
	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	v := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("state-deny-123", oauth2.S256ChallengeOption(v))
	u := b.clientRedirect(b.decide(b.signIn(authURL), "deny"))
	q := u.Query()
	if q.Get("error") != "access_denied" || q.Get("state") != "state-deny-123" || q.Get("iss") != s.URL || q.Get("code") != "" {
		t.Fatalf("deny redirect: %s", u)
	}
	if p := b.get(authURL); p.StatusCode != http.StatusOK || !strings.Contains(p.Body, `value="allow"`) {
		t.Fatalf("after Deny the next request must ask again, got %d", p.StatusCode)
	}
}

// TestE2EConsentFormDefences: the consent decision needs the CSRF token,
// comes from this site, and counts once.
func TestE2EConsentFormDefences(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	v := oauth2.GenerateVerifier()
	again := oauth2.SetAuthURLParam("prompt", "consent") // every subtest sees the consent screen

	t.Run("missing CSRF token", func(t *testing.T) {
		b := s.newBrowser(t)
		page := b.signIn(conf.AuthCodeURL("state-csrf-1234", oauth2.S256ChallengeOption(v), again))
		f := hidden(page.Body)
		f.Del("csrf_token")
		f.Set("decision", "allow")
		p := b.post(s.URL+"/oauth/authorize", f)
		if p.StatusCode != http.StatusForbidden || p.Header.Get("Location") != "" {
			t.Fatalf("status %d location %q", p.StatusCode, p.Header.Get("Location"))
		}
		f.Set("csrf_token", "forged")
		if p := b.post(s.URL+"/oauth/authorize", f); p.StatusCode != http.StatusForbidden {
			t.Fatalf("forged token: status %d", p.StatusCode)
		}
		// The genuine form still works afterwards.
		b.code2(b.decide(page, "allow"), "state-csrf-1234")
	})
	t.Run("POST from another origin", func(t *testing.T) {
		b := s.newBrowser(t)
		page := b.signIn(conf.AuthCodeURL("state-xorigin-1", oauth2.S256ChallengeOption(v), again))
		f := hidden(page.Body)
		f.Set("decision", "allow")
		for _, hdr := range [][]string{
			{"Sec-Fetch-Site", "cross-site"},
			{"Sec-Fetch-Site", "same-site"},
			{"Origin", "https://evil.example"},
		} {
			p := b.post(s.URL+"/oauth/authorize", f, hdr...)
			if p.StatusCode != http.StatusForbidden || p.Header.Get("Location") != "" {
				t.Fatalf("%v: status %d location %q", hdr, p.StatusCode, p.Header.Get("Location"))
			}
		}
	})
	t.Run("decided twice", func(t *testing.T) {
		b := s.newBrowser(t)
		page := b.signIn(conf.AuthCodeURL("state-twice-123", oauth2.S256ChallengeOption(v), again))
		b.code2(b.decide(page, "allow"), "state-twice-123")
		if p := b.decide(page, "allow"); p.StatusCode != http.StatusBadRequest || p.Header.Get("Location") != "" {
			t.Fatalf("second decision: %d %q", p.StatusCode, p.Header.Get("Location"))
		}
	})
	t.Run("another session's challenge", func(t *testing.T) {
		victim := s.newBrowser(t)
		page := victim.signIn(conf.AuthCodeURL("state-steal-123", oauth2.S256ChallengeOption(v), again))
		attacker := s.newBrowser(t)
		attacker.signIn(conf.AuthCodeURL("state-other-123", oauth2.S256ChallengeOption(v), again))
		if p := attacker.decide(page, "allow"); p.StatusCode == http.StatusSeeOther {
			t.Fatal("a challenge was answered from another session")
		}
	})
}

// TestE2ETokenErrors covers the token endpoint's refusals.
func TestE2ETokenErrors(t *testing.T) {
	t.Parallel()
	s := startE2E(t, func(c *Config) { c.OAuth.AuthorizationCodeLifespan = time.Second })
	ctx := t.Context()
	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	newCode := func(t *testing.T) (string, string) {
		v := oauth2.GenerateVerifier()
		return s.newBrowser(t).code(conf.AuthCodeURL("state-token-err", oauth2.S256ChallengeOption(v)), "state-token-err"), v
	}

	t.Run("wrong code_verifier", func(t *testing.T) {
		code, _ := newCode(t)
		_, err := conf.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
		if got := tokenError(t, err); got != "invalid_grant" {
			t.Fatalf("error %q", got)
		}
	})
	t.Run("missing code_verifier", func(t *testing.T) {
		code, _ := newCode(t)
		_, err := conf.Exchange(ctx, code)
		if got := tokenError(t, err); got != "invalid_grant" && got != "invalid_request" {
			t.Fatalf("error %q", got)
		}
	})
	t.Run("wrong client secret", func(t *testing.T) {
		code, v := newCode(t)
		bad := *conf
		bad.ClientSecret = "wrong-secret"
		_, err := bad.Exchange(ctx, code, oauth2.VerifierOption(v))
		if got := tokenError(t, err); got != "invalid_client" {
			t.Fatalf("error %q", got)
		}
		// The code survives a failed client authentication.
		if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(v)); err != nil {
			t.Fatalf("the right secret afterwards: %v", err)
		}
	})
	t.Run("code bound to its client", func(t *testing.T) {
		otherID, otherSecret := s.registerApp(t, "Other App", false, []string{s.RedirectURI}, []string{"projects:read", "tasks:read"})
		code, v := newCode(t)
		other := *conf
		other.ClientID, other.ClientSecret = otherID, otherSecret
		_, err := other.Exchange(ctx, code, oauth2.VerifierOption(v))
		if got := tokenError(t, err); got != "invalid_grant" {
			t.Fatalf("error %q", got)
		}
	})
	t.Run("code bound to its redirect URI", func(t *testing.T) {
		code, v := newCode(t)
		other := *conf
		other.RedirectURL = "http://127.0.0.1:10/callback"
		_, err := other.Exchange(ctx, code, oauth2.VerifierOption(v))
		if got := tokenError(t, err); got != "invalid_grant" {
			t.Fatalf("error %q", got)
		}
	})
	t.Run("code used twice", func(t *testing.T) {
		code, v := newCode(t)
		first, err := conf.Exchange(ctx, code, oauth2.VerifierOption(v))
		if err != nil {
			t.Fatal(err)
		}
		_, err = conf.Exchange(ctx, code, oauth2.VerifierOption(v))
		if got := tokenError(t, err); got != "invalid_grant" {
			t.Fatalf("second use: %q", got)
		}
		// The tokens issued from that code stop working.
		first.Expiry = time.Now().Add(-time.Minute)
		_, err = conf.TokenSource(ctx, first).Token()
		if got := tokenError(t, err); got != "invalid_grant" {
			t.Fatalf("refresh token of a replayed code: %q", got)
		}
	})
	t.Run("expired code", func(t *testing.T) {
		code, v := newCode(t)
		time.Sleep(1500 * time.Millisecond)
		_, err := conf.Exchange(ctx, code, oauth2.VerifierOption(v))
		if got := tokenError(t, err); got != "invalid_grant" {
			t.Fatalf("error %q", got)
		}
	})
	t.Run("two client authentication methods", func(t *testing.T) {
		code, v := newCode(t)
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {s.RedirectURI},
			"code_verifier": {v}, "client_id": {s.ClientID}, "client_secret": {s.ClientSecret}}
		resp, body := rawToken(t, s, form, s.ClientID, s.ClientSecret)
		if resp.StatusCode != http.StatusBadRequest || body["error"] != "invalid_request" {
			t.Fatalf("status %d body %v", resp.StatusCode, body)
		}
	})
	t.Run("malformed requests", func(t *testing.T) {
		tests := []struct {
			name, contentType, body string
			wantStatus              int
			wantError               string
		}{
			{"JSON body", "application/json", `{"grant_type":"authorization_code"}`, 400, "invalid_request"},
			{"no content type", "", "grant_type=authorization_code", 400, "invalid_request"},
			{"repeated parameter", "application/x-www-form-urlencoded", "grant_type=refresh_token&grant_type=authorization_code", 400, "invalid_request"},
			{"invalid UTF-8", "application/x-www-form-urlencoded", "grant_type=authorization_code&code=%ff%fe", 400, "invalid_request"},
			{"oversized body", "application/x-www-form-urlencoded", "grant_type=authorization_code&client_id=" + s.ClientID + "&client_secret=" + s.ClientSecret + "&redirect_uri=" + url.QueryEscape(s.RedirectURI) + "&code=" + strings.Repeat("a", 70<<10), 400, "invalid_request"},
			{"unknown grant type", "application/x-www-form-urlencoded", "grant_type=password&username=a&password=b&client_id=" + s.ClientID + "&client_secret=" + s.ClientSecret, 400, "unsupported_grant_type"},
			{"client_credentials", "application/x-www-form-urlencoded", "grant_type=client_credentials&client_id=" + s.ClientID + "&client_secret=" + s.ClientSecret, 400, "unsupported_grant_type"},
		}
		for _, tt := range tests {
			req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1/oauth/token", strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			req.Header.Set("Origin", "http://127.0.0.1:5173") // a browser's request: CORS handling must not read the body first
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body map[string]any
			_ = jsonDecode(resp, &body)
			if resp.StatusCode != tt.wantStatus || body["error"] != tt.wantError {
				t.Errorf("%s: status %d body %v, want %d %s", tt.name, resp.StatusCode, body, tt.wantStatus, tt.wantError)
			}
		}
	})
}

// TestE2ESignInPage: same answer for an unknown e-mail and a wrong
// password; cookie and page security headers.
func TestE2ESignInPage(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	b := s.newBrowser(t)
	p := b.get(s.URL + "/login")
	if csp := p.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'nonce-") {
		t.Errorf("CSP = %q", csp)
	}
	if p.Header.Get("X-Frame-Options") != "DENY" {
		t.Error("X-Frame-Options missing")
	}
	var cookie *http.Cookie
	for _, c := range p.Cookies() {
		if c.Name == "nx_session" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie %+v", cookie)
	}
	try := func(email, password string) page {
		f := hidden(p.Body)
		f.Set("email", email)
		f.Set("password", password)
		return b.post(s.URL+"/login", f)
	}
	unknown := try("nobody@example.com", "whatever-password")
	wrong := try(s.Email, "wrong-password")
	if unknown.StatusCode != wrong.StatusCode || unknown.StatusCode != http.StatusUnauthorized {
		t.Fatalf("statuses %d and %d", unknown.StatusCode, wrong.StatusCode)
	}
	msg := "Incorrect e-mail or password."
	if !strings.Contains(unknown.Body, msg) || !strings.Contains(wrong.Body, msg) {
		t.Fatal("the two failures say different things")
	}
}

func jsonDecode(resp *http.Response, into any) error {
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(into)
}
