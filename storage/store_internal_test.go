package storage

import (
	"errors"
	"fmt"
	"testing"

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
			for _, sentinel := range []error{ErrNotFound, ErrConflict, fosite.ErrSerializationFailure} {
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
