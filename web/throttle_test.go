package web

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nextoria/authz/storage"
)

// loginFrom signs in with the given X-Forwarded-For header ("" for none).
func (b *browser) loginFrom(xff, email, password string) response {
	b.t.Helper()
	form := b.loginForm("")
	form.Set("email", email)
	form.Set("password", password)
	if xff == "" {
		return b.postForm("/login", form)
	}
	return b.postFormHeaders("/login", form, "X-Forwarded-For", xff)
}

func TestSignInThrottledPerAccountAndAddress(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	b := env.browser(t)
	keys := newThrottleKeys(testEmail, netip.MustParseAddr("127.0.0.1"))

	for i := 1; i <= 5; i++ {
		if resp := b.login(testEmail, "wrong", ""); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d = %d, want 401", i, resp.StatusCode)
		}
	}
	lookups := env.store.lookupCount()
	resp := b.login(testEmail, testPassword, "") // the right password, too late
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("attempt 6 = %d, want 429", resp.StatusCode)
	}
	if got := resp.Header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want 1", got)
	}
	if env.store.lookupCount() != lookups {
		t.Error("a refused attempt reached the password check")
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	doc := parseHTML(t, resp.body)
	if got := textOf(oneByTestID(t, doc, "login-error")); got != "Too many sign-in attempts. Try again in 1 second." {
		t.Errorf("message = %q", got)
	}
	oneByTestID(t, doc, "login-form") // the sign-in page, to try again later
	if _, created, _ := env.store.counts(); created != 0 {
		t.Error("a refused attempt signed in")
	}

	// The lock does not stop another address, or this address on another account.
	other := env.browser(t)
	if resp := other.loginFrom("", memberlessEmail, "wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("another account from this address = %d", resp.StatusCode)
	}

	// Counted: acctip for all six, acct only for the five acctip let
	// through, ip for those and the other account's.
	for key, want := range map[string]int{keys.ip: 7, keys.accountIP: 6, keys.account: 5} {
		if row, _ := env.store.throttleRow(key); row.attempts != want {
			t.Errorf("%s: %d attempts, want %d", key, row.attempts, want)
		}
	}

	// Once the lock has passed, the right password works and clears the
	// account's counts, not the address's.
	env.store.advance(time.Second)
	if resp := b.login(testEmail, testPassword, ""); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after the lock = %d, want 303", resp.StatusCode)
	}
	if _, ok := env.store.throttleRow(keys.accountIP); ok {
		t.Error("acctip not reset by the sign-in")
	}
	if _, ok := env.store.throttleRow(keys.account); ok {
		t.Error("acct not reset by the sign-in")
	}
	if row, _ := env.store.throttleRow(keys.ip); row.attempts != 7 {
		t.Errorf("ip: %d attempts, want 7 (the failures stay, the success is taken back)", row.attempts)
	}
}

// memberlessEmail has no account.
const memberlessEmail = "nobody@example.com"

func TestThrottledAnswerIsUniform(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	answers := map[string]response{}
	for _, email := range []string{testEmail, memberlessEmail} {
		b := env.browser(t)
		for range 5 {
			b.login(email, "wrong", "")
		}
		answers[email] = b.login(email, "wrong", "")
	}
	known, unknown := answers[testEmail], answers[memberlessEmail]
	for name, r := range map[string]response{"existing account": known, "no account": unknown} {
		if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "1" {
			t.Errorf("%s: %d, Retry-After %q", name, r.StatusCode, r.Header.Get("Retry-After"))
		}
	}
	a := strings.ReplaceAll(known.body, testEmail, "EMAIL")
	c := strings.ReplaceAll(unknown.body, memberlessEmail, "EMAIL")
	// The CSRF tokens differ per browser; everything else is the same.
	a = strings.ReplaceAll(a, hiddenFields(t, known.body).Get("csrf_token"), "TOKEN")
	c = strings.ReplaceAll(c, hiddenFields(t, unknown.body).Get("csrf_token"), "TOKEN")
	if a != c {
		t.Errorf("bodies differ:\n%s\n---\n%s", a, c)
	}
}

func TestThrottleGrowsAndStops(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	b := env.browser(t)
	for range 5 {
		b.login(memberlessEmail, "wrong", "")
	}
	var waits []string
	for range 4 {
		resp := b.login(memberlessEmail, "wrong", "")
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("locked attempt = %d", resp.StatusCode)
		}
		waits = append(waits, resp.Header.Get("Retry-After"))
		// Refused attempts do not extend the lock: one second after it
		// was set, it has passed, and one attempt goes through.
		seconds, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil {
			t.Fatal(err)
		}
		env.store.advance(time.Duration(seconds) * time.Second)
		if resp := b.login(memberlessEmail, "wrong", ""); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt after the lock = %d", resp.StatusCode)
		}
	}
	// 2^0, 2^2, 2^4, 2^6 seconds: each refusal and each attempt let through count.
	if got := strings.Join(waits, ","); got != "1,4,16,64" {
		t.Errorf("waits = %s", got)
	}
	// Much later the window and the locks are over: a fresh budget.
	env.store.advance(time.Hour)
	for i := range 5 {
		if resp := b.login(memberlessEmail, "wrong", ""); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d of a new window = %d", i+1, resp.StatusCode)
		}
	}
}

func TestThrottleUsesForwardedForOnlyBehindTrustedProxy(t *testing.T) {
	t.Parallel()
	for _, trusted := range []bool{false, true} {
		t.Run(map[bool]string{false: "untrusted", true: "trusted"}[trusted], func(t *testing.T) {
			t.Parallel()
			env := newTestEnv(t, func(c *Config) { c.TrustProxyHeaders = trusted })
			b := env.browser(t)
			// Five from one client address, then a sixth claiming another
			// address in front of it.
			for range 5 {
				b.loginFrom("203.0.113.50, 198.51.100.1", testEmail, "wrong")
			}
			resp := b.loginFrom("203.0.113.99, 198.51.100.2", testEmail, "wrong")
			want := http.StatusTooManyRequests // the forged first entry changes nothing
			if trusted {
				want = http.StatusUnauthorized // the proxy's entry is another client
			}
			if resp.StatusCode != want {
				t.Errorf("sixth attempt = %d, want %d", resp.StatusCode, want)
			}
			ip, n := "127.0.0.1", 6
			if trusted {
				ip, n = "198.51.100.1", 5
			}
			if row, _ := env.store.throttleRow("ip:" + ip); row.attempts != n {
				t.Errorf("ip:%s counted %d attempts, want %d", ip, row.attempts, n)
			}
		})
	}
}

func TestClientAddr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		trusted bool
		remote  string
		xff     []string
		want    string // throttleAddr of the result
	}{
		{"peer", false, "192.0.2.7:5555", nil, "192.0.2.7"},
		{"peer ignores headers", false, "192.0.2.7:5555", []string{"198.51.100.1"}, "192.0.2.7"},
		{"peer ipv6 by /64", false, "[2001:db8:1:2:3:4:5:6]:443", nil, "2001:db8:1:2::/64"},
		{"peer ipv4-mapped", false, "[::ffff:192.0.2.7]:443", nil, "192.0.2.7"},
		{"no port", false, "192.0.2.7", nil, "192.0.2.7"},
		{"unreadable peer", false, "@", nil, "unknown"},
		{"last entry", true, "10.0.0.1:80", []string{"203.0.113.9, 198.51.100.1"}, "198.51.100.1"},
		{"last header", true, "10.0.0.1:80", []string{"203.0.113.9", "198.51.100.2"}, "198.51.100.2"},
		{"entry with port", true, "10.0.0.1:80", []string{"198.51.100.3:4711"}, "198.51.100.3"},
		{"ipv6 entry", true, "10.0.0.1:80", []string{"[2001:db8::1]:4711"}, "2001:db8::/64"},
		{"garbage falls back to the peer", true, "10.0.0.1:80", []string{"unknown"}, "10.0.0.1"},
		{"no header falls back to the peer", true, "10.0.0.1:80", nil, "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t)
			cfg.TrustProxyHeaders = tt.trusted
			s, err := New(cfg, newFakeStore())
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(http.MethodPost, "/login", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := throttleAddr(s.clientAddr(r)); got != tt.want {
				t.Errorf("= %q, want %q", got, tt.want)
			}
		})
	}
}

func TestThrottleKeysHideTheEmail(t *testing.T) {
	t.Parallel()
	a := newThrottleKeys(" Ada@Example.com ", netip.MustParseAddr("192.0.2.1"))
	b := newThrottleKeys("ada@example.com", netip.MustParseAddr("192.0.2.1"))
	if a != b {
		t.Errorf("keys depend on case or spaces: %+v vs %+v", a, b)
	}
	for _, k := range []string{a.ip, a.accountIP, a.account} {
		if strings.Contains(strings.ToLower(k), "ada") {
			t.Errorf("key %q holds the address", k)
		}
	}
	if a.ip != "ip:192.0.2.1" || !strings.HasPrefix(a.account, "acct:") || len(a.account) != len("acct:")+64 ||
		a.accountIP != "acctip:"+strings.TrimPrefix(a.account, "acct:")+"|192.0.2.1" {
		t.Errorf("keys = %+v", a)
	}
}

func TestThrottleStoreFailure(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	env.store.mu.Lock()
	env.store.throttleErr = errors.New("db down")
	env.store.mu.Unlock()
	resp := env.browser(t).login(testEmail, testPassword, "")
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status = %d, want 500", resp.StatusCode)
	}
	if env.store.lookupCount() != 0 {
		t.Error("the password was checked without counting the attempt")
	}
}

func TestMsgThrottled(t *testing.T) {
	t.Parallel()
	for seconds, want := range map[int]string{
		1:   "Too many sign-in attempts. Try again in 1 second.",
		4:   "Too many sign-in attempts. Try again in 4 seconds.",
		90:  "Too many sign-in attempts. Try again in 90 seconds.",
		91:  "Too many sign-in attempts. Try again in 2 minutes.",
		900: "Too many sign-in attempts. Try again in 15 minutes.",
	} {
		if got := msgThrottled(seconds); got != want {
			t.Errorf("msgThrottled(%d) = %q, want %q", seconds, got, want)
		}
	}
	for d, want := range map[time.Duration]int{0: 1, time.Millisecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, 15 * time.Minute: 900} {
		if got := retryAfterSeconds(d); got != want {
			t.Errorf("retryAfterSeconds(%v) = %d, want %d", d, got, want)
		}
	}
}

func TestLoginThrottlePolicyValidated(t *testing.T) {
	t.Parallel()
	if err := DefaultLoginThrottle.validate(); err != nil {
		t.Fatalf("default policy: %v", err)
	}
	bad := DefaultLoginThrottle
	bad.Account = storage.LoginThrottleRule{Limit: 20, Window: 48 * time.Hour, BaseDelay: time.Second, MaxDelay: time.Minute}
	cfg := testConfig(t)
	cfg.LoginThrottle = bad
	if _, err := New(cfg, newFakeStore()); err == nil || !strings.Contains(err.Error(), "account: window") {
		t.Errorf("New = %v, want a window error", err)
	}
}
