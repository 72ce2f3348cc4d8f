package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/ory/fosite"
)

func TestMapError(t *testing.T) {
	t.Parallel()
	pgErr := func(code string) error {
		return fmt.Errorf("query: %w", &pgconn.PgError{Code: code, Message: "boom"})
	}
	plain := errors.New("connection reset")
	// A real *pgconn.ConnectError: nothing listens on port 1.
	_, refused := pgconn.Connect(t.Context(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=2")
	var ce *pgconn.ConnectError
	if !errors.As(refused, &ce) {
		t.Fatalf("connecting to a closed port: %v, want a *pgconn.ConnectError", refused)
	}
	canceledPg := &pgconn.PgError{Code: "57014", Message: "canceling statement due to user request"}
	timeoutPg := &pgconn.PgError{Code: "57014", Message: "canceling statement due to statement timeout"}
	dialErr := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name   string
		in     error
		want   error // sentinel the result must match; nil when none
		keepPg bool  // the *pgconn.PgError must stay reachable
	}{
		{"nil", nil, nil, false},
		{"no rows", pgx.ErrNoRows, ErrNotFound, false},
		{"unique violation", pgErr("23505"), ErrConflict, true},
		{"foreign key violation", pgErr("23503"), ErrNotFound, true},
		{"not a uuid", pgErr("22P02"), ErrNotFound, true},
		{"serialization failure", pgErr("40001"), fosite.ErrSerializationFailure, true},
		{"deadlock", pgErr("40P01"), fosite.ErrSerializationFailure, true},
		{"check violation passes through", pgErr("23514"), nil, true},
		{"other errors pass through", plain, nil, false},
		{"connection exception class 08", pgErr("08006"), ErrUnavailable, true},
		{"connection does not exist", pgErr("08003"), ErrUnavailable, true},
		{"admin shutdown", pgErr("57P01"), ErrUnavailable, true},
		{"crash shutdown", pgErr("57P02"), ErrUnavailable, true},
		{"cannot connect now", pgErr("57P03"), ErrUnavailable, true},
		{"too many connections", pgErr("53300"), ErrUnavailable, true},
		{"statement timeout", fmt.Errorf("q: %w", timeoutPg), ErrUnavailable, true},
		{"query cancelled by the client passes through", fmt.Errorf("q: %w", canceledPg), nil, true},
		{"connect error", fmt.Errorf("ping: %w", refused), ErrUnavailable, false},
		{"dial refused", fmt.Errorf("q: %w", dialErr), ErrUnavailable, false},
		{"connection refused errno", fmt.Errorf("q: %w", syscall.ECONNREFUSED), ErrUnavailable, false},
		{"deadline exceeded", fmt.Errorf("acquire: %w", context.DeadlineExceeded), ErrUnavailable, false},
		{"server closed the connection", fmt.Errorf("receive: %w", io.ErrUnexpectedEOF), ErrUnavailable, false},
		{"eof", fmt.Errorf("receive: %w", io.EOF), ErrUnavailable, false},
		{"closed connection", fmt.Errorf("q: %w", pgconn.ErrConnClosed), ErrUnavailable, false},
		{"safe to retry", safeToRetry{}, ErrUnavailable, false},
		{"request cancelled is not an outage", fmt.Errorf("q: %w", context.Canceled), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := mapError(tt.in)
			if tt.in == nil {
				if got != nil {
					t.Fatalf("mapError(nil) = %v", got)
				}
				return
			}
			if !errors.Is(got, tt.in) {
				t.Errorf("mapError(%v) = %v, which no longer wraps the original", tt.in, got)
			}
			for _, sentinel := range []error{ErrNotFound, ErrConflict, ErrUnavailable, fosite.ErrSerializationFailure} {
				if is := errors.Is(got, sentinel); is != (sentinel == tt.want) {
					t.Errorf("errors.Is(mapError(%v), %v) = %v", tt.in, sentinel, is)
				}
			}
			var pe *pgconn.PgError
			if errors.As(got, &pe) != tt.keepPg {
				t.Errorf("errors.As(*pgconn.PgError) = %v, want %v", !tt.keepPg, tt.keepPg)
			}
		})
	}
}

// safeToRetry is an error pgx marks as raised before anything was sent, such
// as a failed acquire of a connection.
type safeToRetry struct{}

func (safeToRetry) Error() string     { return "conn busy" }
func (safeToRetry) SafeToRetry() bool { return true }

// TestCleanupPause: with a pause set, the cleanup waits at least that long
// and at least three times as long as the batch took, so that a backlog
// keeps PostgreSQL busy a quarter of the time at most; a zero pause (a cron
// job at night, say) deletes flat out.
func TestCleanupPause(t *testing.T) {
	for _, c := range []struct {
		pause, took, want time.Duration
	}{
		{10 * time.Millisecond, time.Millisecond, 10 * time.Millisecond},
		{10 * time.Millisecond, 25 * time.Millisecond, 75 * time.Millisecond},
		{time.Second, 100 * time.Millisecond, time.Second},
		{10 * time.Millisecond, 7 * time.Second, 10 * time.Second},
		{0, 25 * time.Millisecond, 0},
		{-time.Second, time.Second, 0},
	} {
		if got := cleanupPause(c.pause, c.took); got != c.want {
			t.Errorf("cleanupPause(%v, %v) = %v, want %v", c.pause, c.took, got, c.want)
		}
	}
}

func TestHashSignature(t *testing.T) {
	t.Parallel()
	plain := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return hex.EncodeToString(sum[:])
	}
	for _, tc := range []struct{ name, sig, want string }{
		{"fosite signature", "c2lnbmF0dXJl", plain("c2lnbmF0dXJl")},
		{"whole JWT", "eyJh.eyJq.c2ln", plain("eyJh.eyJq.c2ln")},
		{"time prefix", "0190a3b2c4d5:c2lnbmF0dXJl", "0190a3b2c4d5" + plain("c2lnbmF0dXJl")},
		{"time prefix before a JWT", "0190a3b2c4d5:eyJh.eyJq.c2ln", "0190a3b2c4d5" + plain("eyJh.eyJq.c2ln")},
		{"upper-case digits are no prefix", "0190A3B2C4D5:c2ln", plain("0190A3B2C4D5:c2ln")},
		{"short prefix", "0190a3b2c4d:c2ln", plain("0190a3b2c4d:c2ln")},
		{"prefix alone", "0190a3b2c4d5", plain("0190a3b2c4d5")},
		{"empty", "", plain("")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := hashSignature(tc.sig); got != tc.want {
				t.Fatalf("hashSignature(%q) = %q, want %q", tc.sig, got, tc.want)
			}
		})
	}
	// Later times sort after earlier ones whatever the signatures.
	if a, b := hashSignature("0190a3b2c4d5:zzzz"), hashSignature("0190a3b2c4d6:aaaa"); a >= b {
		t.Fatalf("key %q does not sort before %q", a, b)
	}
}
