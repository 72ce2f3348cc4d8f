package storage_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/storagetest"
)

// throttleRow is a login_throttle row as the tests read it.
type throttleRow struct {
	attempts    int
	windowStart time.Time
	lockedUntil *time.Time
}

func readThrottle(t *testing.T, st *storage.Store, key string) throttleRow {
	t.Helper()
	var r throttleRow
	if err := st.Pool().QueryRow(t.Context(),
		`SELECT attempts, window_start, locked_until FROM login_throttle WHERE key = $1`, key,
	).Scan(&r.attempts, &r.windowStart, &r.lockedUntil); err != nil {
		t.Fatalf("read throttle row %q: %v", key, err)
	}
	return r
}

// shiftThrottle moves a key's window start and lock back by d, as if d had
// passed.
func shiftThrottle(t *testing.T, st *storage.Store, key string, d time.Duration) {
	t.Helper()
	if _, err := st.Pool().Exec(t.Context(),
		`UPDATE login_throttle SET window_start = window_start - make_interval(secs => $2),
		     locked_until = locked_until - make_interval(secs => $2) WHERE key = $1`, key, d.Seconds()); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, st *storage.Store, key string, rule storage.LoginThrottleRule) storage.LoginAttempt {
	t.Helper()
	a, err := st.CountLoginAttempt(t.Context(), key, rule)
	if err != nil {
		t.Fatalf("CountLoginAttempt(%q): %v", key, err)
	}
	return a
}

// about reports whether a lock's remaining time is want, less the moments
// the statement took.
func about(got, want time.Duration) bool { return got <= want && got > want-time.Second/2 }

var testRule = storage.LoginThrottleRule{Limit: 5, Window: 15 * time.Minute, BaseDelay: time.Second, MaxDelay: 15 * time.Minute}

// TestCountLoginAttemptConcurrent: 50 attempts at once are each counted
// exactly once, and exactly the first Limit of them proceed.
func TestCountLoginAttemptConcurrent(t *testing.T) {
	t.Parallel()
	st := storage.New(newWidePool(t, 20), storage.Options{})
	// A lock long enough to outlast the 50 attempts on a loaded machine.
	rule := testRule
	rule.BaseDelay = time.Minute
	const n = 50
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		results = make([]storage.LoginAttempt, n)
		errs    = make([]error, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			results[i], errs[i] = st.CountLoginAttempt(t.Context(), "acctip:abc|192.0.2.1", rule)
		})
	}
	close(start)
	wg.Wait()
	seen := map[int]bool{}
	allowed := 0
	for i, a := range results {
		if errs[i] != nil {
			t.Fatalf("attempt %d: %v", i, errs[i])
		}
		if seen[a.Attempts] {
			t.Errorf("two attempts were both counted as number %d", a.Attempts)
		}
		seen[a.Attempts] = true
		if a.Allowed {
			allowed++
			if a.Attempts > rule.Limit || a.RetryAfter != 0 {
				t.Errorf("attempt %d allowed with retry after %v", a.Attempts, a.RetryAfter)
			}
		} else if a.RetryAfter > rule.BaseDelay {
			t.Errorf("attempt %d refused with retry after %v, want at most %v", a.Attempts, a.RetryAfter, rule.BaseDelay)
		}
	}
	if allowed != rule.Limit {
		t.Errorf("%d attempts allowed, want %d", allowed, rule.Limit)
	}
	if row := readThrottle(t, st, "acctip:abc|192.0.2.1"); row.attempts != n || row.lockedUntil == nil {
		t.Errorf("row = %d attempts, lock %v; want %d and a lock", row.attempts, row.lockedUntil, n)
	}
}

// TestLoginThrottleLocksGrow: each lock is longer than the one before, up to
// the cap; refused attempts do not extend the pending lock; the first attempt
// after a lock ends proceeds.
func TestLoginThrottleLocksGrow(t *testing.T) {
	t.Parallel()
	st := storagetest.NewStore(t, storage.Options{})
	rule := storage.LoginThrottleRule{Limit: 2, Window: time.Hour, BaseDelay: time.Second, MaxDelay: 10 * time.Second}
	const key = "acct:grow"
	endLock := func() {
		t.Helper()
		if _, err := st.Pool().Exec(t.Context(),
			`UPDATE login_throttle SET locked_until = now() - interval '1 millisecond' WHERE key = $1`, key); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 2; i++ {
		if a := count(t, st, key, rule); !a.Allowed || a.Attempts != i {
			t.Fatalf("attempt %d: %+v", i, a)
		}
	}
	// The first attempt over the limit locks for the base delay.
	a := count(t, st, key, rule)
	if a.Allowed || a.Attempts != 3 || !about(a.RetryAfter, time.Second) {
		t.Fatalf("attempt 3: %+v, want refused for 1s", a)
	}
	lock := *readThrottle(t, st, key).lockedUntil
	// Refused attempts are counted but leave the lock where it is.
	if a := count(t, st, key, rule); a.Allowed || a.Attempts != 4 || a.RetryAfter > time.Second {
		t.Fatalf("attempt 4: %+v", a)
	}
	if got := *readThrottle(t, st, key).lockedUntil; !got.Equal(lock) {
		t.Errorf("a refused attempt moved the lock from %v to %v", lock, got)
	}

	var locks []time.Duration
	for i := 5; i <= 9; i += 2 {
		endLock()
		// The lock has ended: one attempt proceeds and clears it…
		if a := count(t, st, key, rule); !a.Allowed || a.Attempts != i {
			t.Fatalf("attempt %d after the lock: %+v", i, a)
		}
		if row := readThrottle(t, st, key); row.lockedUntil != nil {
			t.Fatalf("attempt %d left lock %v", i, row.lockedUntil)
		}
		// …and the next one locks again, for longer.
		a := count(t, st, key, rule)
		if a.Allowed || a.Attempts != i+1 {
			t.Fatalf("attempt %d: %+v", i+1, a)
		}
		locks = append(locks, a.RetryAfter)
	}
	// base · 2^(attempts − limit − 1), capped: 2^3 s, then 2^5 and 2^7 s capped at 10 s.
	want := []time.Duration{8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i := range want {
		if !about(locks[i], want[i]) {
			t.Errorf("locks = %v, want %v", locks, want)
			break
		}
	}
}

// TestLoginThrottleWindow: a passed window starts a new count, but only once
// no lock is pending.
func TestLoginThrottleWindow(t *testing.T) {
	t.Parallel()
	st := storagetest.NewStore(t, storage.Options{})
	rule := storage.LoginThrottleRule{Limit: 2, Window: time.Hour, BaseDelay: time.Hour, MaxDelay: 2 * time.Hour}
	const key = "ip:198.51.100.7"
	for range 3 {
		count(t, st, key, rule)
	}
	if row := readThrottle(t, st, key); row.attempts != 3 || row.lockedUntil == nil {
		t.Fatalf("row = %+v", row)
	}

	// The window has passed but the lock (an hour, set just now) has not.
	if _, err := st.Pool().Exec(t.Context(),
		`UPDATE login_throttle SET window_start = window_start - interval '61 minutes' WHERE key = $1`, key); err != nil {
		t.Fatal(err)
	}
	if a := count(t, st, key, rule); a.Allowed || a.Attempts != 4 {
		t.Fatalf("attempt during the lock after the window: %+v", a)
	}

	// Both have passed: counting starts again.
	shiftThrottle(t, st, key, 2*time.Hour)
	a := count(t, st, key, rule)
	if !a.Allowed || a.Attempts != 1 {
		t.Fatalf("attempt in a new window: %+v", a)
	}
	row := readThrottle(t, st, key)
	if row.attempts != 1 || row.lockedUntil != nil || time.Since(row.windowStart) > time.Minute {
		t.Errorf("row after the reset = %+v", row)
	}
	if a := count(t, st, key, rule); !a.Allowed || a.Attempts != 2 {
		t.Errorf("second attempt of the new window: %+v", a)
	}
}

// TestSettleSignInResets: a successful sign-in forgets the account keys
// and leaves the address counted once.
func TestSettleSignInResets(t *testing.T) {
	t.Parallel()
	st := storagetest.NewStore(t, storage.Options{})
	for _, k := range []string{"acct:a", "acctip:a|192.0.2.1", "ip:192.0.2.1"} {
		count(t, st, k, testRule)
	}
	if err := st.SettleSignIn(t.Context(), "ip:192.0.2.1", "acct:a", "acctip:a|192.0.2.1", "acct:unknown"); err != nil {
		t.Fatal(err)
	}
	if err := st.SettleSignIn(t.Context(), "ip:unknown"); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, st, "login_throttle", "key LIKE 'acct%'"); n != 0 {
		t.Errorf("%d account rows left after the reset", n)
	}
	if a := count(t, st, "ip:192.0.2.1", testRule); a.Attempts != 2 {
		t.Errorf("the ip count was reset: %+v", a)
	}
	if a := count(t, st, "acct:a", testRule); a.Attempts != 1 {
		t.Errorf("after a reset the count starts at %d", a.Attempts)
	}
}

// TestDeleteExpiredLoginThrottle: the sweep removes rows whose window is long
// past and whose lock has ended, and nothing else.
func TestDeleteExpiredLoginThrottle(t *testing.T) {
	t.Parallel()
	st := storagetest.NewStore(t, storage.Options{})
	rule := storage.LoginThrottleRule{Limit: 1, Window: time.Hour, BaseDelay: time.Hour, MaxDelay: 48 * time.Hour}
	count(t, st, "ip:fresh", rule)
	count(t, st, "ip:stale", rule)
	shiftThrottle(t, st, "ip:stale", 25*time.Hour)
	for range 2 { // the second attempt locks for an hour
		count(t, st, "ip:locked", rule)
	}
	// An old window whose lock is still pending is kept.
	if _, err := st.Pool().Exec(t.Context(),
		`UPDATE login_throttle SET window_start = now() - interval '30 hours' WHERE key = 'ip:locked'`); err != nil {
		t.Fatal(err)
	}
	n, err := st.DeleteExpired(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("DeleteExpired deleted %d rows, want 1", n)
	}
	if got := countRows(t, st, "login_throttle", "key IN ('ip:fresh', 'ip:locked')"); got != 2 {
		t.Errorf("%d of the live rows are left, want 2", got)
	}
}

func TestCountLoginAttemptRejectsBadInput(t *testing.T) {
	t.Parallel()
	st := storagetest.NewStore(t, storage.Options{})
	for name, tt := range map[string]struct {
		key  string
		rule storage.LoginThrottleRule
	}{
		"no limit":        {"k", storage.LoginThrottleRule{Window: time.Minute, BaseDelay: time.Second, MaxDelay: time.Second}},
		"no window":       {"k", storage.LoginThrottleRule{Limit: 1, BaseDelay: time.Second, MaxDelay: time.Second}},
		"window too long": {"k", storage.LoginThrottleRule{Limit: 1, Window: 25 * time.Hour, BaseDelay: time.Second, MaxDelay: time.Second}},
		"cap under base":  {"k", storage.LoginThrottleRule{Limit: 1, Window: time.Minute, BaseDelay: time.Minute, MaxDelay: time.Second}},
		"empty key":       {"", testRule},
	} {
		if _, err := st.CountLoginAttempt(t.Context(), tt.key, tt.rule); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestSettleSignInUncounts: a successful sign-in takes its attempt back
// from the address, never below one and never lifting a lock.
func TestSettleSignInUncounts(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := storagetest.NewStore(t, storage.Options{})
	rule := storage.LoginThrottleRule{Limit: 3, Window: time.Hour, BaseDelay: time.Minute, MaxDelay: time.Hour}
	// Ten successes in a row: each is counted, then taken back.
	for i := range 10 {
		a, err := st.CountLoginAttempt(ctx, "ip:192.0.2.1", rule)
		if err != nil || !a.Allowed {
			t.Fatalf("attempt %d: %+v, %v", i+1, a, err)
		}
		if err := st.SettleSignIn(ctx, "ip:192.0.2.1"); err != nil {
			t.Fatal(err)
		}
	}
	// Failures are not taken back and still lock the key.
	var last storage.LoginAttempt
	for range 3 {
		var err error
		if last, err = st.CountLoginAttempt(ctx, "ip:192.0.2.1", rule); err != nil {
			t.Fatal(err)
		}
	}
	if last.Allowed || last.Attempts != 4 {
		t.Fatalf("after 3 failures: %+v, want refused at 4 attempts", last)
	}
	// Taking back never lifts a pending lock, and unknown keys are ignored.
	if err := st.SettleSignIn(ctx, "ip:192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if a, err := st.CountLoginAttempt(ctx, "ip:192.0.2.1", rule); err != nil || a.Allowed {
		t.Fatalf("locked key after an uncount: %+v, %v", a, err)
	}
	if err := st.SettleSignIn(ctx, "ip:unknown"); err != nil {
		t.Fatal(err)
	}
}

// TestCountLoginAttempts counts several keys in one round trip and stops at
// the first key that refuses: the keys after it are not counted.
func TestCountLoginAttempts(t *testing.T) {
	t.Parallel()
	lockAfterOne := storage.LoginThrottleRule{Limit: 1, Window: time.Hour, BaseDelay: time.Hour, MaxDelay: time.Hour}
	for _, tt := range []struct {
		name    string
		locked  string // a key locked beforehand, or ""
		counted int    // outcomes returned
		allowed bool   // the last outcome's
	}{
		{"none locked", "", 3, true},
		{"first locked", "k1", 1, false},
		{"second locked", "k2", 2, false},
		{"third locked", "k3", 3, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := storagetest.NewStore(t, storage.Options{})
			if tt.locked != "" {
				for range 2 { // the second attempt locks the key
					count(t, st, tt.locked, lockAfterOne)
				}
			}
			before := map[string]int{}
			for _, k := range []string{"k1", "k2", "k3"} {
				before[k] = countRows(t, st, "login_throttle", fmt.Sprintf("key = '%s'", k))
				if before[k] > 0 {
					before[k] = readThrottle(t, st, k).attempts
				}
			}
			keys := []storage.LoginKey{{Key: "k1", Rule: testRule}, {Key: "k2", Rule: testRule}, {Key: "k3", Rule: testRule}}
			got, err := st.CountLoginAttempts(t.Context(), keys...)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.counted || got[len(got)-1].Allowed != tt.allowed {
				t.Fatalf("outcomes %+v: want %d, the last allowed %v", got, tt.counted, tt.allowed)
			}
			for i, a := range got[:len(got)-1] {
				if !a.Allowed {
					t.Errorf("key %d refused but counting went on: %+v", i+1, got)
				}
			}
			for i, k := range []string{"k1", "k2", "k3"} {
				n := 0
				if countRows(t, st, "login_throttle", fmt.Sprintf("key = '%s'", k)) > 0 {
					n = readThrottle(t, st, k).attempts
				}
				want := before[k]
				if i < tt.counted {
					want++
				}
				if n != want {
					t.Errorf("%s: %d attempts, want %d", k, n, want)
				}
			}
		})
	}
	st := storagetest.NewStore(t, storage.Options{})
	if _, err := st.CountLoginAttempts(t.Context()); err == nil {
		t.Error("no key: no error")
	}
	if _, err := st.CountLoginAttempts(t.Context(), storage.LoginKey{Key: "k1", Rule: testRule}, storage.LoginKey{Key: "", Rule: testRule}); err == nil {
		t.Error("an empty key: no error")
	}
	if n := countRows(t, st, "login_throttle", "true"); n != 0 {
		t.Errorf("refused calls counted %d keys", n)
	}
}

// TestPrepareSignIn: in a context from PrepareSignIn, the throttle's batch
// reads the account too, and GetUserByEmail answers from it (the row is
// deleted in between to show that no second read happens), whether the
// throttle lets the attempt through or not; without it, GetUserByEmail reads.
func TestPrepareSignIn(t *testing.T) {
	t.Parallel()
	lockAfterOne := storage.LoginThrottleRule{Limit: 1, Window: time.Hour, BaseDelay: time.Hour, MaxDelay: time.Hour}
	for _, tt := range []struct {
		name     string
		email    string // as typed; the account is ada@example.test
		prepared bool
		locked   bool
		found    bool
	}{
		{"account, prepared", "Ada@Example.test", true, false, true},
		{"account, prepared, throttled", "ada@example.test", true, true, true},
		{"no account, prepared", "bob@example.test", true, false, false},
		{"account, not prepared", "ada@example.test", false, false, false}, // deleted before the read
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, storage.Options{})
			u := createUser(t, f.st, f.ws, "ada@example.test")
			key := "ip:" + tt.name
			if tt.locked {
				for range 2 {
					count(t, f.st, key, lockAfterOne)
				}
			}
			ctx := t.Context()
			if tt.prepared {
				ctx = f.st.PrepareSignIn(ctx, tt.email)
			}
			got, err := f.st.CountLoginAttempts(ctx, storage.LoginKey{Key: key, Rule: lockAfterOne})
			if err != nil || got[0].Allowed == tt.locked {
				t.Fatalf("count: %+v, %v", got, err)
			}
			if _, err := f.st.Pool().Exec(t.Context(), `DELETE FROM users WHERE id = $1`, u.ID); err != nil {
				t.Fatal(err)
			}
			user, err := f.st.GetUserByEmail(ctx, tt.email)
			switch {
			case tt.found && (err != nil || user.ID != u.ID):
				t.Errorf("GetUserByEmail: %+v, %v; want the account read with the counts", user, err)
			case !tt.found && !errors.Is(err, storage.ErrNotFound):
				t.Errorf("GetUserByEmail: %+v, %v; want ErrNotFound", user, err)
			}
		})
	}
}
