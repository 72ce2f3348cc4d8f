package resource_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Credentials of the resource server at the fake authorization server. They
// hold characters that RFC 6749 §2.3.1 form-encoding changes.
const (
	rsClientID     = "hub api:v1"
	rsClientSecret = "s3cr+t/=&é"
)

// fakeAS is a stand-in for the authorization server's introspection
// endpoint: it answers from a table of tokens that tests change at will.
type fakeAS struct {
	*httptest.Server
	t *testing.T

	mu      sync.Mutex
	tokens  map[string]map[string]any // token → response; absent: {"active":false}
	status  int                       // when non-zero, answer only this status
	body    string                    // when non-empty, answer this body as is
	delay   time.Duration
	calls   atomic.Int64
	badAuth atomic.Int64 // requests whose client authentication was wrong
}

func newFakeAS(t *testing.T) *fakeAS {
	t.Helper()
	f := &fakeAS{t: t, tokens: map[string]map[string]any{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAS) serve(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	// The Basic credentials are the form-encoded id and secret.
	user, pass, ok := r.BasicAuth()
	if !ok || user != url.QueryEscape(rsClientID) || pass != url.QueryEscape(rsClientSecret) {
		f.badAuth.Add(1)
		w.Header().Set("WWW-Authenticate", `Basic realm="nextoria"`)
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" ||
		r.PostFormValue("token_type_hint") != "access_token" || r.PostFormValue("token") == "" {
		f.t.Errorf("introspection request: %s %s, form %v", r.Method, r.Header.Get("Content-Type"), r.PostForm)
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	status, body, delay := f.status, f.body, f.delay
	resp, active := f.tokens[r.PostFormValue("token")]
	f.mu.Unlock()
	time.Sleep(delay)
	if status != 0 {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if body != "" {
		_, _ = w.Write([]byte(body))
		return
	}
	if !active {
		resp = map[string]any{"active": false}
	}
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(resp)
	_, _ = w.Write(buf.Bytes())
}

// set makes token introspect as resp (nil: inactive).
func (f *fakeAS) set(token string, resp map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if resp == nil {
		delete(f.tokens, token)
		return
	}
	f.tokens[token] = resp
}

// fail makes every answer status with an empty body (0 to stop).
func (f *fakeAS) fail(status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status = status
}

// answer makes every answer body, as is ("" to stop).
func (f *fakeAS) answer(body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.body = body
}

func (f *fakeAS) slow(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delay = d
}

// Workspace ids of the test tokens.
const (
	wsAcme   = "6f1c2d4e-0000-4000-8000-00000000acme"
	wsGlobex = "6f1c2d4e-0000-4000-8000-0000000globx"
)

// accessToken is an active OAuth access token's introspection response, as
// the authorization server documents it.
func accessToken(scope, plan string, exp time.Time) map[string]any {
	return map[string]any{
		"active": true, "scope": scope, "client_id": "acme-sync", "sub": "7d0f8e2a-user",
		"username": "ada@example.com", "token_type": "Bearer", "exp": exp.Unix(),
		"iat": exp.Add(-time.Hour).Unix(), "iss": "https://app.nextoriahub.com",
		"aud": []string{"https://api.nextoriahub.com"}, "jti": "jti-1",
		"workspace_id": wsAcme, "plan": plan,
	}
}

// apiKey is an active API key's introspection response (no exp: it never expires).
func apiKey(scope, plan string) map[string]any {
	return map[string]any{
		"active": true, "scope": scope, "token_type": "api_key", "workspace_id": wsGlobex,
		"plan": plan, "key_id": "0c8a-key", "key_name": "Zapier Integration",
		"iat": time.Now().Add(-time.Hour).Unix(), "iss": "https://app.nextoriahub.com",
	}
}
