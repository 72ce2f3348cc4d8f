package storage_test

import (
	"context"
	"errors"
	"testing"

	"github.com/nextoria/authz/storage"
)

// TestBadBytesAreNotFound: text PostgreSQL cannot hold (invalid UTF-8, NUL)
// names no row, and is reported as ErrNotFound rather than as a failure.
func TestBadBytesAreNotFound(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	lookups := map[string]func(ctx context.Context, s string) error{
		"GetApp":            func(ctx context.Context, s string) error { _, err := f.st.GetApp(ctx, s); return err },
		"GetAppLogo":        func(ctx context.Context, s string) error { _, err := f.st.GetAppLogo(ctx, s); return err },
		"GetUserByEmail":    func(ctx context.Context, s string) error { _, err := f.st.GetUserByEmail(ctx, s); return err },
		"GetResourceServer": func(ctx context.Context, s string) error { _, err := f.st.GetResourceServer(ctx, s); return err },
		"RevokeGrant":       func(ctx context.Context, s string) error { return f.st.RevokeGrant(ctx, f.user.ID, s) },
	}
	for name, lookup := range lookups {
		for _, in := range []string{"\xff", "a\x00b", "\xc0\xaf"} {
			t.Run(name, func(t *testing.T) {
				if err := lookup(t.Context(), in); !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("%s(%q) = %v, want ErrNotFound", name, in, err)
				}
			})
		}
	}
}
