package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/nextoria/authz/apikey"
	"github.com/nextoria/authz/graceful"
	"github.com/nextoria/authz/secret"
)

// heldRequest is a POST whose headers the server has read and whose body it
// is waiting for: with "Expect: 100-continue" the server answers "100
// Continue" only once a handler reads the body, so the request is provably
// in flight, inside the handler, until release sends the body.
type heldRequest struct {
	kind string // "code", "refresh", "introspect-jwt", "introspect-key"
	conn net.Conn
	br   *bufio.Reader
	body string
}

// holdRequest opens a connection to addr and sends a form POST's headers.
func holdRequest(t *testing.T, addr, path, kind, user, pass string, form url.Values) *heldRequest {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	h := &heldRequest{kind: kind, conn: conn, br: bufio.NewReader(conn), body: form.Encode()}
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\nExpect: 100-continue\r\n",
		path, addr, len(h.body))
	if user != "" {
		head += "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(user)+":"+url.QueryEscape(pass))) + "\r\n"
	}
	if _, err := io.WriteString(conn, head+"\r\n"); err != nil {
		t.Fatal(err)
	}
	return h
}

// waitContinue waits for the server's "100 Continue".
func (h *heldRequest) waitContinue() error {
	_ = h.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(h.br, nil)
	if err != nil {
		return fmt.Errorf("%s: waiting for 100 Continue: %w", h.kind, err)
	}
	if resp.StatusCode != http.StatusContinue {
		return fmt.Errorf("%s: got %s before sending the body, want 100 Continue", h.kind, resp.Status)
	}
	return nil
}

// release sends the body and reads the answer: it must be 200 with a JSON
// body, and ask the client to close the connection.
func (h *heldRequest) release() (map[string]any, error) {
	if _, err := io.WriteString(h.conn, h.body); err != nil {
		return nil, fmt.Errorf("%s: send body: %w", h.kind, err)
	}
	_ = h.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(h.br, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: read answer: %w", h.kind, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: read body: %w", h.kind, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s: %s", h.kind, resp.Status, b)
	}
	if !resp.Close {
		return nil, fmt.Errorf("%s: the answer during shutdown keeps the connection alive", h.kind)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w: %s", h.kind, err, b)
	}
	return m, nil
}

// releaseAll releases the requests at once and returns the tokens the token
// requests got; every answer is checked.
func releaseAll(t *testing.T, held []*heldRequest) []string {
	t.Helper()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		tokens []string
		errs   []string
	)
	for _, h := range held {
		wg.Go(func() {
			m, err := h.release()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, err.Error())
			case strings.HasPrefix(h.kind, "introspect"):
				if m["active"] != true {
					errs = append(errs, fmt.Sprintf("%s: %v", h.kind, m))
				}
			default:
				at, _ := m["access_token"].(string)
				rt, _ := m["refresh_token"].(string)
				if at == "" || rt == "" {
					errs = append(errs, fmt.Sprintf("%s: no tokens: %v", h.kind, m))
				}
				tokens = append(tokens, at, rt)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d requests in flight failed, e.g. %s", len(errs), len(held), errs[0])
	}
	return tokens
}

// TestE2ESIGTERMDrainsAndLosesNothing sends SIGTERM to a server process with
// 200 requests inside its handlers (code exchanges, refreshes, introspections
// of access tokens and of API keys). All 200 succeed: half are answered
// during the drain, half after the listener has closed. /health/ready is
// 503 from the signal on while new requests are still served; after the
// drain new connections are refused; the process exits 0; and what was
// acknowledged is in the database: the tokens introspect active on a second
// instance, and the last-use stamps of the API keys and the consent grant
// are newer than the last requests.
func TestE2ESIGTERMDrainsAndLosesNothing(t *testing.T) {
	t.Parallel()
	const drain = graceful.DefaultDrain
	log := &lockedBuffer{}
	s, proc, urlB := twoServerProcesses(t, log, "NEXTORIA_SHUTDOWN_DRAIN="+drain.String(), "NEXTORIA_LOG_LEVEL=info")
	addr := strings.TrimPrefix(s.URL, "http://")
	ctx := t.Context()
	rsID, rsSecret := s.resourceServer(t)
	keys := &apikey.Service{Store: s.store, Hasher: secret.NewHasher(s.keys.SecretHash)}
	var apiKeyIDs, apiKeys []string
	for i := range 6 {
		k, raw, err := keys.Create(ctx, s.WorkspaceID, s.UserID, fmt.Sprintf("Shutdown %d", i), []string{"projects:read"}, 0)
		if err != nil {
			t.Fatal(err)
		}
		apiKeyIDs, apiKeys = append(apiKeyIDs, k.ID), append(apiKeys, raw)
	}

	conf := s.oauthConfig(oauth2.AuthStyleInParams)
	b := s.newBrowser(t)
	type code struct{ code, verifier string }
	newCode := func(i int) code {
		v := oauth2.GenerateVerifier()
		state := fmt.Sprintf("state-shutdown-%d", i)
		return code{b.code(conf.AuthCodeURL(state, oauth2.S256ChallengeOption(v)), state), v}
	}
	var refreshTokens, accessTokens []string
	for i := range 50 {
		c := newCode(i)
		tok, err := conf.Exchange(ctx, c.code, oauth2.VerifierOption(c.verifier))
		if err != nil {
			t.Fatal(err)
		}
		if i < 40 {
			refreshTokens = append(refreshTokens, tok.RefreshToken) // refreshed below
		} else {
			accessTokens = append(accessTokens, tok.AccessToken) // introspected below
		}
	}
	var heldCodes, drainCodes []code
	for i := range 60 {
		if i < 40 {
			heldCodes = append(heldCodes, newCode(100+i))
		} else {
			drainCodes = append(drainCodes, newCode(100+i))
		}
	}

	// Two batches of 100 requests, each 20 code exchanges, 20 refreshes,
	// 30 introspections of access tokens and 30 of API keys.
	var batches [2][]*heldRequest
	for n := range batches {
		for i := range 20 {
			c := heldCodes[n*20+i]
			batches[n] = append(batches[n], holdRequest(t, addr, "/v1/oauth/token", "code", "", "", url.Values{
				"grant_type": {"authorization_code"}, "code": {c.code}, "code_verifier": {c.verifier},
				"redirect_uri": {s.RedirectURI}, "client_id": {s.ClientID}, "client_secret": {s.ClientSecret},
			}))
			batches[n] = append(batches[n], holdRequest(t, addr, "/v1/oauth/token", "refresh", "", "", url.Values{
				"grant_type": {"refresh_token"}, "refresh_token": {refreshTokens[n*20+i]},
				"client_id": {s.ClientID}, "client_secret": {s.ClientSecret},
			}))
		}
		for i := range 30 {
			batches[n] = append(batches[n],
				holdRequest(t, addr, "/v1/oauth/introspect", "introspect-jwt", rsID, rsSecret, url.Values{"token": {accessTokens[i%len(accessTokens)]}}),
				holdRequest(t, addr, "/v1/oauth/introspect", "introspect-key", rsID, rsSecret, url.Values{"token": {apiKeys[i%len(apiKeys)]}}))
		}
	}
	for _, batch := range batches {
		for _, h := range batch {
			if err := h.waitContinue(); err != nil {
				t.Fatal(err)
			}
		}
	}
	newClient := func() *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	}
	ready := func() (int, error) {
		resp, err := newClient().Get(s.URL + "/health/ready")
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if status, err := ready(); status != http.StatusOK {
		t.Fatalf("/health/ready before SIGTERM = %d, %v", status, err)
	}

	// 200 requests are in flight: stop the server.
	signalled := time.Now()
	if err := proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	notReadyYet := 0
	for {
		status, err := ready()
		if status == http.StatusServiceUnavailable {
			break
		}
		notReadyYet++
		if time.Since(signalled) > time.Second {
			t.Fatalf("/health/ready %s after SIGTERM = %d, %v; want 503 at once", time.Since(signalled), status, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// From now until connections are refused, readiness must stay 503.
	drainEnded := make(chan time.Duration, 1)
	var readyDuringDrain []int
	go func() {
		for {
			status, err := ready()
			if err != nil {
				drainEnded <- time.Since(signalled)
				return
			}
			readyDuringDrain = append(readyDuringDrain, status)
			time.Sleep(50 * time.Millisecond)
		}
	}()

	// During the drain: the first batch finishes, and new connections are
	// served: 20 more code exchanges, on the golang.org/x/oauth2 client.
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		issued  []string
		failure []error
	)
	for _, c := range drainCodes {
		wg.Go(func() {
			tok, err := conf.Exchange(ctx, c.code, oauth2.VerifierOption(c.verifier))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failure = append(failure, err)
				return
			}
			issued = append(issued, tok.AccessToken, tok.RefreshToken)
		})
	}
	first := releaseAll(t, batches[0])
	wg.Wait()
	issued = append(issued, first...)
	if len(failure) > 0 {
		t.Fatalf("%d of %d new token requests during the drain failed, e.g. %v", len(failure), len(drainCodes), failure[0])
	}

	var took time.Duration
	select {
	case took = <-drainEnded:
	case <-time.After(drain + 10*time.Second):
		t.Fatalf("new connections are still accepted %s after SIGTERM", drain+10*time.Second)
	}
	if took < drain {
		t.Errorf("connections refused %s after SIGTERM, before the %s drain ended", took, drain)
	}
	for _, status := range readyDuringDrain {
		if status != http.StatusServiceUnavailable {
			t.Fatalf("/health/ready answered %d during the drain: %v", status, readyDuringDrain)
		}
	}
	if len(readyDuringDrain) < 10 {
		t.Errorf("only %d readiness checks during a %s drain", len(readyDuringDrain), drain)
	}

	// The listener is closed; the second batch is still in flight and must
	// complete.
	secondBatch := time.Now()
	issued = append(issued, releaseAll(t, batches[1])...)
	select {
	case <-proc.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not exit within 30 s of its last request")
	}
	if proc.err != nil {
		t.Fatalf("the server exited with %v, want exit code 0\n%s", proc.err, log)
	}
	t.Logf("SIGTERM with 200 requests in flight: readiness checks answered 200 after the signal %d times, then 503 (%d checks); listener closed after %s, exit after %s",
		notReadyYet, len(readyDuringDrain), took.Round(time.Millisecond), time.Since(signalled).Round(time.Millisecond))

	// Nothing acknowledged is lost.
	if want := 2 * (len(drainCodes) + 2*20*2); len(issued) != want {
		t.Fatalf("%d tokens issued, want %d", len(issued), want)
	}
	for _, tok := range issued {
		resp, m := postForm(t, urlB+"/v1/oauth/introspect", url.Values{"token": {tok}}, rsID, rsSecret)
		if resp.StatusCode != http.StatusOK || m["active"] != true {
			t.Fatalf("a token issued during shutdown is not active on the other instance: %d %v", resp.StatusCode, m)
		}
	}
	for _, id := range apiKeyIDs {
		var used *time.Time
		if err := s.store.Pool().QueryRow(ctx, `SELECT last_used_at FROM api_keys WHERE id = $1`, id).Scan(&used); err != nil {
			t.Fatal(err)
		}
		if used == nil || used.Before(secondBatch.Add(-time.Millisecond)) {
			t.Errorf("API key %s last used at %v, before its last introspection at %v: the stamp was lost", id, used, secondBatch)
		}
	}
	var grantUsed time.Time
	if err := s.store.Pool().QueryRow(ctx, `SELECT last_used_at FROM consent_grants WHERE user_id = $1 AND client_id = $2`, s.UserID, s.ClientID).Scan(&grantUsed); err != nil {
		t.Fatal(err)
	}
	if grantUsed.Before(secondBatch.Add(-time.Millisecond)) {
		t.Errorf("consent grant last used at %v, before its last refresh at %v: the stamp was lost", grantUsed, secondBatch)
	}

	out := log.String()
	for _, want := range []string{"draining", "shutting down", `"msg":"stopped"`} {
		if !strings.Contains(out, want) {
			t.Errorf("the server's log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, `"level":"ERROR"`) {
		t.Errorf("the server logged errors while shutting down:\n%s", out)
	}
}
