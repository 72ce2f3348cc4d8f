package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// MaxLoginThrottleWindow bounds LoginThrottleRule.Window. DeleteExpired
// forgets a key whose window started longer ago than this and whose lock
// has ended: by then its next attempt would start afresh anyway.
const MaxLoginThrottleWindow = 24 * time.Hour

// loginThrottleStale is the condition under which DeleteExpired removes a
// login_throttle row; its interval is MaxLoginThrottleWindow.
const loginThrottleStale = `window_start < now() - interval '24 hours' AND (locked_until IS NULL OR locked_until <= now())`

// LoginThrottleRule says how one kind of key counts sign-in attempts.
type LoginThrottleRule struct {
	// Limit is how many attempts a window lets through before the key locks;
	// at least 1.
	Limit int
	// Window is how long counting goes on after a window's first attempt. The
	// first attempt after it, when no lock is pending, starts a new window
	// with a count of 1. At most MaxLoginThrottleWindow.
	Window time.Duration
	// BaseDelay is the lock set by the first attempt over Limit. Every
	// attempt counted since, refused ones included, doubles the next lock,
	// which never exceeds MaxDelay.
	BaseDelay time.Duration
	MaxDelay  time.Duration
}

func (r LoginThrottleRule) validate() error {
	var errs []error
	if r.Limit < 1 {
		errs = append(errs, fmt.Errorf("limit %d: want at least 1", r.Limit))
	}
	if r.Window <= 0 || r.Window > MaxLoginThrottleWindow {
		errs = append(errs, fmt.Errorf("window %v: want more than 0 and at most %v", r.Window, MaxLoginThrottleWindow))
	}
	if r.BaseDelay <= 0 || r.MaxDelay < r.BaseDelay {
		errs = append(errs, fmt.Errorf("delays %v to %v: want 0 < base <= max", r.BaseDelay, r.MaxDelay))
	}
	return errors.Join(errs...)
}

// LoginAttempt is the outcome of counting one sign-in attempt against a key.
type LoginAttempt struct {
	// Allowed reports whether the attempt may go on to the password check.
	Allowed bool
	// Attempts is the key's count in its current window, this attempt
	// included.
	Attempts int
	// RetryAfter is how much longer the lock that refused the attempt lasts,
	// by the database's clock, measured when the attempt was counted; zero
	// when Allowed (and possibly zero, at the very end of a lock, when not).
	RetryAfter time.Duration
	// LockStarted reports that this attempt set the lock that refused it,
	// rather than meeting one already pending: the sign-in log records a
	// throttled sign-in once per lock, however many attempts meet it. Two
	// attempts racing for the key's row may both report it.
	LockStarted bool
}

// CountLoginAttempt counts one sign-in attempt against key under rule and
// says whether it may proceed. It is one INSERT … ON CONFLICT DO UPDATE, so
// concurrent attempts on one key are serialised by the row lock and each is
// counted exactly once, whichever instance serves it.
//
// The key's row moves through these states:
//
//   - No row, or a window that has passed with no lock pending: the count
//     starts again at 1 and the attempt proceeds.
//   - A lock still pending (locked_until in the future): refused. It is
//     counted, which lengthens the next lock, but the pending lock is not
//     extended, so hammering a locked key cannot keep it locked: each lock
//     ends at most MaxDelay after it was set.
//   - A lock that has ended: the lock is cleared and this one attempt
//     proceeds.
//   - Otherwise the attempt is counted; the first one over the limit locks
//     the key for min(MaxDelay, BaseDelay · 2^(attempts−Limit−1)) and is
//     refused.
//
// So after the limit every other attempt is refused and the waits grow
// quickly, yet never past MaxDelay, and once the window has passed and the
// last lock has ended the key starts afresh: nobody is locked out for good.
func (s *Store) CountLoginAttempt(ctx context.Context, key string, rule LoginThrottleRule) (LoginAttempt, error) {
	counted, err := s.CountLoginAttempts(ctx, LoginKey{Key: key, Rule: rule})
	if err != nil {
		return LoginAttempt{}, err
	}
	return counted[0], nil
}

// LoginKey is a throttle key and the rule it counts attempts under.
type LoginKey struct {
	Key  string
	Rule LoginThrottleRule
}

// CountLoginAttempts counts one sign-in attempt against each key in turn, as
// CountLoginAttempt does, and stops at the first key that refuses it: the
// keys after that one are not counted. It returns the outcome of each key
// counted (all of them allowed, or the last one refused). The keys are
// counted in one round trip and one transaction: each key's statement goes
// ahead only when none of the keys before it holds a lock, which, in the
// same transaction, is exactly when each of them let the attempt through.
// Concurrent attempts take the rows' locks in the keys' order.
func (s *Store) CountLoginAttempts(ctx context.Context, keys ...LoginKey) ([]LoginAttempt, error) {
	if len(keys) == 0 {
		return nil, errors.New("storage: count login attempts: no key")
	}
	for _, k := range keys {
		if err := k.Rule.validate(); err != nil {
			return nil, fmt.Errorf("storage: count login attempt: invalid rule: %w", err)
		}
		if k.Key == "" || len(k.Key) > 200 {
			return nil, fmt.Errorf("storage: count login attempt: key must have 1 to 200 bytes, got %d", len(k.Key))
		}
	}
	b := &pgx.Batch{}
	outcomes := make([]LoginAttempt, len(keys))
	counted := make([]bool, len(keys))
	reads := make([]func(pgx.Row) error, len(keys))
	before := make([]string, 0, len(keys))
	for i, k := range keys {
		b.Queue(countLoginAttemptSQL, k.Key, k.Rule.Limit, k.Rule.Window.Seconds(),
			k.Rule.BaseDelay.Seconds(), k.Rule.MaxDelay.Seconds(), slices.Clone(before))
		before = append(before, k.Key)
		reads[i] = func(row pgx.Row) error {
			var (
				a           LoginAttempt
				retryAfter  float64
				lockStarted bool
			)
			err := row.Scan(&a.Attempts, &a.Allowed, &retryAfter, &lockStarted)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil // a key before this one refused the attempt
			}
			if err != nil {
				return fmt.Errorf("storage: count login attempt: %w", mapError(err))
			}
			if !a.Allowed {
				a.LockStarted = lockStarted
				a.RetryAfter = max(time.Duration(retryAfter*float64(time.Second)), 0)
			}
			outcomes[i], counted[i] = a, true
			return nil
		}
	}
	// The account PrepareSignIn asked for rides along; it is put in the
	// memo once the batch is read (readBatch holds the memo's lock).
	m := memoFrom(ctx)
	email, withUser := m.takeSignInEmail()
	var user *User
	if withUser {
		b.Queue(userByEmailSQL, email)
		reads = append(reads, func(row pgx.Row) error {
			u, err := scanUser(row)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
			case err != nil:
				return fmt.Errorf("storage: get user by e-mail: %w", mapError(err))
			default:
				user = &u
			}
			return nil
		})
	}
	if err := s.readBatch(ctx, b, reads); err != nil {
		return nil, err
	}
	if withUser {
		m.putUser(email, user)
	}
	for i := range keys {
		if !counted[i] {
			return nil, errors.New("storage: count login attempts: a key was skipped though the keys before it let the attempt through")
		}
		if !outcomes[i].Allowed {
			return outcomes[:i+1], nil
		}
	}
	return outcomes, nil
}

// countLoginAttemptSQL counts an attempt against $1: $2 limit, $3 window,
// $4 base delay and $5 maximum delay, in seconds; $6 the keys counted before
// it in the same transaction, any of which holding a lock (it refused the
// attempt) skips this one. "fresh" below: the window has passed and no lock
// is pending.
const countLoginAttemptSQL = `WITH prev AS (SELECT locked_until FROM login_throttle WHERE key = $1)
	INSERT INTO login_throttle AS t (key, attempts, window_start, locked_until)
	SELECT $1, 1, now(), NULL
	WHERE NOT EXISTS (SELECT 1 FROM login_throttle WHERE key = ANY($6::text[]) AND locked_until IS NOT NULL)
	ON CONFLICT (key) DO UPDATE SET
	    attempts = CASE
	        WHEN t.window_start + make_interval(secs => $3::float8) <= now()
	             AND (t.locked_until IS NULL OR t.locked_until <= now()) THEN 1
	        ELSE t.attempts + 1 END,
	    window_start = CASE
	        WHEN t.window_start + make_interval(secs => $3::float8) <= now()
	             AND (t.locked_until IS NULL OR t.locked_until <= now()) THEN now()
	        ELSE t.window_start END,
	    locked_until = CASE
	        WHEN t.window_start + make_interval(secs => $3::float8) <= now()
	             AND (t.locked_until IS NULL OR t.locked_until <= now()) THEN NULL
	        WHEN t.locked_until > now() THEN t.locked_until
	        WHEN t.locked_until IS NOT NULL THEN NULL
	        WHEN t.attempts + 1 > $2::int THEN
	            now() + make_interval(secs => least($5::float8, $4::float8 * power(2::float8, least(t.attempts - $2::int, 60))))
	        ELSE NULL END
	RETURNING attempts, locked_until IS NULL,
	    coalesce(extract(epoch FROM locked_until - clock_timestamp()), 0)::float8,
	    locked_until IS NOT NULL AND locked_until IS DISTINCT FROM (SELECT locked_until FROM prev)`

// SettleSignIn records a successful sign-in with the throttle, in one
// statement:
//
//   - It forgets the counts and locks of the keys in reset (the account's).
//   - It takes back the one attempt counted against uncount (the address's):
//     successes must not use up a shared address's budget (an office behind
//     one NAT signs in many times a day), while failures keep counting. The
//     attempt was counted first, before the password check, so that
//     concurrent failures stay counted atomically; this only subtracts it
//     again, never below one (a row's count is at least 1) and never lifting
//     a pending lock.
//
// Unknown keys are ignored. In a write batch (Audited: the sign-in's login
// session and event), it waits with the batch's other writes.
func (s *Store) SettleSignIn(ctx context.Context, uncount string, reset ...string) error {
	if err := s.write(ctx, queued{
		sql: `WITH reset AS (DELETE FROM login_throttle WHERE key = ANY($1) AND key <> $2)
		 UPDATE login_throttle SET attempts = attempts - 1 WHERE key = $2 AND attempts > 1`,
		args: []any{reset, uncount},
	}); err != nil {
		return fmt.Errorf("storage: settle sign-in throttle: %w", err)
	}
	return nil
}
