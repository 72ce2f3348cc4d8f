package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// requestTimeout bounds every request the benchmark makes.
const requestTimeout = 30 * time.Second

// maxBody bounds how much of a response the benchmark reads.
const maxBody = 256 << 10

// newTransport returns a Transport for loopback load: keep-alives on and
// enough idle connections per host that every worker keeps its own.
func newTransport(concurrency int) *http.Transport {
	return &http.Transport{
		Proxy:                 nil, // loopback only, whatever HTTP_PROXY says
		MaxIdleConns:          4*concurrency + 16,
		MaxIdleConnsPerHost:   2*concurrency + 8,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: requestTimeout,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
	}
}

// noRedirects makes a client hand every redirect back to the caller, so
// that each step of a flow is one measured, checked request.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// oauthApp is the confidential client the benchmark plays, with the user
// it signs in as.
type oauthApp struct {
	base         string // the authorization server, e.g. http://127.0.0.1:8080
	clientID     string
	clientSecret string
	redirectURI  string
	scope        string
	email        string
	password     string
	transport    http.RoundTripper
	client       *http.Client // no cookies, no redirects
}

func newOAuthApp(base string, tr http.RoundTripper) *oauthApp {
	return &oauthApp{
		base: strings.TrimRight(base, "/"), scope: "projects:read tasks:read", transport: tr,
		client: &http.Client{Transport: tr, Timeout: requestTimeout, CheckRedirect: noRedirects},
	}
}

// response is a fetched response with its body read.
type response struct {
	status   int
	header   http.Header
	body     []byte
	location string
}

// do sends req with c and reads the whole (bounded) body, so that the
// connection goes back to the pool.
func do(c *http.Client, req *http.Request) (response, error) {
	resp, err := c.Do(req)
	if err != nil {
		// Drop url.Error's URL: a query may carry a state or a challenge.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return response{}, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return response{}, fmt.Errorf("%s %s: read body: %w", req.Method, req.URL.Path, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: body, location: resp.Header.Get("Location")}, nil
}

func postForm(ctx context.Context, c *http.Client, u string, form url.Values, basicID, basicSecret string) (response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
	}
	return do(c, req)
}

func get(ctx context.Context, c *http.Client, u string, bearer string) (response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return response{}, err
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return do(c, req)
}

// statusError describes an unexpected answer without echoing anything that
// could be a credential: only the status and an OAuth error code.
func statusError(what string, r response) error {
	var oe struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(r.body, &oe) == nil && oe.Error != "" {
		return fmt.Errorf("%s: status %d (%s)", what, r.status, oe.Error)
	}
	return fmt.Errorf("%s: status %d", what, r.status)
}

// pkce is one S256 code verifier and its challenge.
type pkce struct{ verifier, challenge string }

func newPKCE() pkce {
	v := base64.RawURLEncoding.EncodeToString(random(32))
	sum := sha256.Sum256([]byte(v))
	return pkce{verifier: v, challenge: base64.RawURLEncoding.EncodeToString(sum[:])}
}

func random(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// authorizeURL is the authorization request of one flow.
func (a *oauthApp) authorizeURL(state string, p pkce, prompt string) string {
	q := url.Values{
		"client_id":             {a.clientID},
		"redirect_uri":          {a.redirectURI},
		"response_type":         {"code"},
		"scope":                 {a.scope},
		"state":                 {state},
		"code_challenge":        {p.challenge},
		"code_challenge_method": {"S256"},
	}
	if prompt != "" {
		q.Set("prompt", prompt)
	}
	return a.base + "/oauth/authorize?" + q.Encode()
}

// browser is a user agent with its own cookie jar that hands redirects back
// to the caller.
type browser struct {
	app    *oauthApp
	client *http.Client
}

func (a *oauthApp) newBrowser() *browser {
	jar, _ := cookiejar.New(nil) // never fails without options
	return &browser{app: a, client: &http.Client{
		Transport: a.transport, Jar: jar, Timeout: requestTimeout, CheckRedirect: noRedirects,
	}}
}

// grant is what the browser part of a flow yields.
type grant struct {
	code     string
	verifier string
	// signedIn and consented record whether the flow showed the sign-in page
	// and the consent screen, so a scenario can check it measured what it claims.
	signedIn  bool
	consented bool
	requests  int
}

var hiddenInput = regexp.MustCompile(`name="([a-z_]+)" value="([^"]*)"`)

// hiddenFields returns the hidden fields of a form page.
func hiddenFields(body []byte) url.Values {
	v := url.Values{}
	for _, m := range hiddenInput.FindAllSubmatch(body, -1) {
		v.Set(string(m[1]), htmlUnescape(string(m[2])))
	}
	return v
}

var htmlUnescape = strings.NewReplacer("&amp;", "&", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">").Replace

// authorize runs the browser part of one flow: it opens the authorization
// URL and follows it, signing in and allowing on the consent screen when
// asked, until the server redirects to the client with a code. prompt is
// the request's prompt parameter ("consent" forces the consent screen).
func (b *browser) authorize(ctx context.Context, prompt string) (grant, error) {
	a := b.app
	p := newPKCE()
	state := base64.RawURLEncoding.EncodeToString(random(16))
	g := grant{verifier: p.verifier}
	r, err := get(ctx, b.client, a.authorizeURL(state, p, prompt), "")
	for step := 0; ; step++ {
		g.requests++
		if err != nil {
			return g, err
		}
		if step == 8 {
			return g, errors.New("authorize: too many steps before the redirect to the client")
		}
		switch {
		case r.status == http.StatusSeeOther || r.status == http.StatusFound:
			if strings.HasPrefix(r.location, a.redirectURI) {
				g.code, err = a.codeFrom(r.location, state)
				return g, err
			}
			next, perr := url.Parse(a.base + "/")
			if perr == nil {
				next, perr = next.Parse(r.location)
			}
			if perr != nil || !strings.HasPrefix(next.String(), a.base+"/") {
				return g, fmt.Errorf("authorize: status %d leads off the server", r.status)
			}
			r, err = get(ctx, b.client, next.String(), "")
		case r.status == http.StatusOK && metaRefresh.Match(r.body):
			// The page a sign-in lands on moves on with a meta refresh, as a
			// browser follows it; it stays on this server.
			m := metaRefresh.FindSubmatch(r.body)
			next, perr := url.Parse(a.base + "/")
			if perr == nil {
				next, perr = next.Parse(html.UnescapeString(string(m[1])))
			}
			if perr != nil || !strings.HasPrefix(next.String(), a.base+"/") {
				return g, errors.New("authorize: the sign-in refresh leads off the server")
			}
			r, err = get(ctx, b.client, next.String(), "")
		case r.status == http.StatusOK && bytes.Contains(r.body, []byte(`name="challenge"`)):
			f := hiddenFields(r.body)
			f.Set("decision", "allow")
			g.consented = true
			r, err = postForm(ctx, b.client, a.base+"/oauth/authorize", f, "", "")
		case r.status == http.StatusOK && bytes.Contains(r.body, []byte(`name="password"`)):
			f := hiddenFields(r.body)
			f.Set("email", a.email)
			f.Set("password", a.password)
			g.signedIn = true
			r, err = postForm(ctx, b.client, a.base+"/login", f, "", "")
		default:
			return g, statusError("authorize: unexpected page", r)
		}
	}
}

// metaRefresh finds a page's immediate meta refresh (the page a sign-in
// lands on, /login/continue).
var metaRefresh = regexp.MustCompile(`<meta http-equiv="refresh" content="0;url=([^"]*)"`)

// codeFrom checks the redirect to the client and returns its code.
func (a *oauthApp) codeFrom(location, state string) (string, error) {
	u, err := url.Parse(location)
	if err != nil {
		return "", errors.New("authorize: malformed redirect to the client")
	}
	q := u.Query()
	if e := q.Get("error"); e != "" {
		return "", fmt.Errorf("authorize: the client was sent error %s", e)
	}
	if q.Get("state") != state {
		return "", errors.New("authorize: the redirect carries the wrong state")
	}
	if q.Get("iss") != a.base {
		return "", errors.New("authorize: the redirect carries the wrong iss")
	}
	if q.Get("code") == "" {
		return "", errors.New("authorize: the redirect carries no code")
	}
	return q.Get("code"), nil
}

// tokens is a successful token response.
type tokens struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

// exchange redeems a code (client_secret_post, with the PKCE verifier).
func (a *oauthApp) exchange(ctx context.Context, code, verifier string) (tokens, error) {
	return a.token(ctx, "code exchange", url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {a.redirectURI},
		"code_verifier": {verifier},
	})
}

// refresh rotates a refresh token (client_secret_post).
func (a *oauthApp) refresh(ctx context.Context, refreshToken string) (tokens, error) {
	return a.token(ctx, "refresh", url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {refreshToken},
	})
}

func (a *oauthApp) token(ctx context.Context, what string, form url.Values) (tokens, error) {
	form.Set("client_id", a.clientID)
	form.Set("client_secret", a.clientSecret)
	r, err := postForm(ctx, a.client, a.base+"/v1/oauth/token", form, "", "")
	if err != nil {
		return tokens{}, err
	}
	if r.status != http.StatusOK {
		return tokens{}, statusError(what, r)
	}
	var t tokens
	if err := json.Unmarshal(r.body, &t); err != nil {
		return tokens{}, fmt.Errorf("%s: malformed token response", what)
	}
	if t.AccessToken == "" || t.RefreshToken == "" || !strings.EqualFold(t.TokenType, "bearer") {
		return tokens{}, fmt.Errorf("%s: token response lacks a bearer access token or a refresh token", what)
	}
	return t, nil
}

// tokensFor runs one whole flow in b and returns its tokens.
func (b *browser) tokensFor(ctx context.Context) (tokens, error) {
	g, err := b.authorize(ctx, "")
	if err != nil {
		return tokens{}, err
	}
	return b.app.exchange(ctx, g.code, g.verifier)
}

// introspector calls the introspection endpoint as a resource server.
type introspector struct {
	url      string
	clientID string
	secret   string
	client   *http.Client
}

var activeTrue = []byte(`"active":true`)

// active introspects token and checks that the answer is 200 with "active":true.
func (i *introspector) active(ctx context.Context, token string) error {
	r, err := postForm(ctx, i.client, i.url, url.Values{"token": {token}}, i.clientID, i.secret)
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		return statusError("introspect", r)
	}
	if !bytes.Contains(r.body, activeTrue) {
		return errors.New(`introspect: 200 without "active":true`)
	}
	return nil
}
