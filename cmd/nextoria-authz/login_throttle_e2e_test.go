package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// throttleAttempts reads the count of a login_throttle key; 0 when it has
// no row.
func (s *e2eServer) throttleAttempts(t *testing.T, key string) int {
	t.Helper()
	var n int
	err := s.store.Pool().QueryRow(t.Context(), `SELECT attempts FROM login_throttle WHERE key = $1`, key).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// accountKey is the e-mail part of the throttle keys.
func accountKey(email string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(email)))
	return hex.EncodeToString(sum[:])
}

// signInAnswer is one answer to a sign-in POST.
type signInAnswer struct {
	status     int
	retryAfter string
	body       string
	err        error
}

// postSignIn posts the sign-in form without following redirects; safe to
// call from any goroutine.
func (b *browser) postSignIn(form url.Values, email, password string) signInAnswer {
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	f.Set("email", email)
	f.Set("password", password)
	req, err := http.NewRequest(http.MethodPost, b.s.URL+"/login", strings.NewReader(f.Encode()))
	if err != nil {
		return signInAnswer{err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c := *b.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		return signInAnswer{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return signInAnswer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: string(body), err: err}
}

// TestE2ELoginThrottle: 50 wrong passwords at once against one account are
// all counted and only the first 5 reach the password check; the refusal is
// the sign-in page with 429 and Retry-After, the same for an unknown
// e-mail; the lock passes by itself and the real password then works and
// clears the account's counts.
func TestE2ELoginThrottle(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	b := s.newBrowser(t)
	login := b.get(s.URL + "/login")
	if login.StatusCode != http.StatusOK {
		t.Fatalf("sign-in page = %d", login.StatusCode)
	}
	form := hidden(login.Body)

	const n = 50
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		answers = make([]signInAnswer, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			answers[i] = b.postSignIn(form, s.Email, fmt.Sprintf("wrong password %d", i))
		})
	}
	close(start)
	wg.Wait()

	var wrong, throttled int
	var refusal signInAnswer
	for i, a := range answers {
		if a.err != nil {
			t.Fatalf("attempt %d: %v", i, a.err)
		}
		switch a.status {
		case http.StatusUnauthorized:
			wrong++
		case http.StatusTooManyRequests:
			throttled++
			refusal = a
			if secs, err := strconv.Atoi(a.retryAfter); err != nil || secs < 1 {
				t.Errorf("Retry-After = %q", a.retryAfter)
			}
		default:
			t.Errorf("attempt %d = %d", i, a.status)
		}
	}
	if wrong != 5 || throttled != n-5 {
		t.Fatalf("%d answers of 401 and %d of 429, want 5 and %d", wrong, throttled, n-5)
	}
	// The refusal is the sign-in page, not an API error envelope.
	if !strings.HasPrefix(refusal.body, "<!doctype html>") || strings.Contains(refusal.body, `"error"`) ||
		!strings.Contains(refusal.body, "Too many sign-in attempts. Try again in ") || !strings.Contains(refusal.body, `data-testid="login-form"`) {
		t.Errorf("429 body: %.400s", refusal.body)
	}

	acct := accountKey(s.Email)
	for key, want := range map[string]int{
		"acctip:" + acct + "|127.0.0.1": n, // every attempt counted
		"acct:" + acct:                  5, // only those the acctip limit let through
		"ip:127.0.0.1":                  n,
	} {
		if got := s.throttleAttempts(t, key); got != want {
			t.Errorf("%s: %d attempts, want %d", key, got, want)
		}
	}

	// An e-mail without an account is throttled the same way, with the same page.
	const unknown = "nobody@example.com"
	for i := range 5 {
		if a := b.postSignIn(form, unknown, "wrong"); a.status != http.StatusUnauthorized {
			t.Fatalf("unknown e-mail, attempt %d = %d", i+1, a.status)
		}
	}
	locked := b.postSignIn(form, unknown, "wrong")
	if locked.status != http.StatusTooManyRequests || locked.retryAfter != "1" {
		t.Fatalf("unknown e-mail, attempt 6 = %d, Retry-After %q", locked.status, locked.retryAfter)
	}
	if a, c := strings.ReplaceAll(refusal.body, s.Email, "EMAIL"), strings.ReplaceAll(locked.body, unknown, "EMAIL"); a != c {
		t.Errorf("the refusals differ:\n%s\n---\n%s", a, c)
	}

	// The waits grow: once the first lock has passed, one attempt gets
	// through, and the next is refused for longer.
	time.Sleep(1100 * time.Millisecond)
	if a := b.postSignIn(form, unknown, "wrong"); a.status != http.StatusUnauthorized {
		t.Fatalf("after the lock = %d", a.status)
	}
	if a := b.postSignIn(form, unknown, "wrong"); a.status != http.StatusTooManyRequests || a.retryAfter != "4" {
		t.Errorf("the second lock = %d, Retry-After %q; want 429 for 4 seconds", a.status, a.retryAfter)
	}

	// The account's lock (1 second, not extended by the 44 refused
	// attempts) has passed too: the real password works…
	a := b.postSignIn(form, s.Email, e2ePassword)
	if a.status != http.StatusSeeOther {
		t.Fatalf("the real password after the lock = %d: %.300s", a.status, a.body)
	}
	if home := b.get(s.URL + "/"); home.StatusCode != http.StatusOK || !strings.Contains(home.Body, s.Email) {
		t.Errorf("home after signing in = %d", home.StatusCode)
	}
	// …and clears the account's counts, not the address's.
	for key, want := range map[string]int{
		"acctip:" + acct + "|127.0.0.1": 0,
		"acct:" + acct:                  0,
		"ip:127.0.0.1":                  n + 8, // the successful sign-in is not counted
	} {
		if got := s.throttleAttempts(t, key); got != want {
			t.Errorf("after signing in, %s: %d attempts, want %d", key, got, want)
		}
	}
}

// TestE2ESuccessfulSignInsDoNotLockTheAddress: many people signing in from
// one address (an office behind NAT) never reach the per-address limit,
// while failed attempts from that address still do.
func TestE2ESuccessfulSignInsDoNotLockTheAddress(t *testing.T) {
	t.Parallel()
	const limit = 5
	s := startE2E(t, func(c *Config) { c.Limits.SignInPerIP = limit })
	for i := range 2 * limit {
		b := s.newBrowser(t) // one person of many behind the same address
		form := hidden(b.get(s.URL + "/login").Body)
		if a := b.postSignIn(form, s.Email, e2ePassword); a.status != http.StatusSeeOther {
			t.Fatalf("successful sign-in %d = %d, want 303", i+1, a.status)
		}
	}
	if got := s.throttleAttempts(t, "ip:127.0.0.1"); got > 1 {
		t.Errorf("ip:127.0.0.1 counts %d attempts after only successes, want at most 1", got)
	}
	b := s.newBrowser(t)
	form := hidden(b.get(s.URL + "/login").Body)
	// Failures still count toward the address's limit: with at most one
	// attempt on the books, the limit admits limit-1 or limit more failures.
	refusedAt := 0
	for i := range limit + 1 {
		a := b.postSignIn(form, fmt.Sprintf("nobody%d@example.com", i), "wrong")
		if a.status == http.StatusTooManyRequests {
			refusedAt = i + 1
			break
		}
		if a.status != http.StatusUnauthorized {
			t.Fatalf("failure %d = %d", i+1, a.status)
		}
	}
	if refusedAt < limit || refusedAt > limit+1 {
		t.Fatalf("failures were refused at attempt %d, want %d or %d", refusedAt, limit, limit+1)
	}
}
