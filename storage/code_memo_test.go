package storage_test

import (
	"errors"
	"testing"

	"github.com/ory/fosite"

	"github.com/nextoria/authz/storage"
)

// TestCodeMemo: within a memo context the second read of a code is served
// from memory; the redemption itself still goes to the database.
func TestCodeMemo(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()
	if err := f.st.CreateAuthorizeCodeSession(ctx, "code-sig", f.newRequest(t)); err != nil {
		t.Fatal(err)
	}
	memo := storage.WithCodeMemo(ctx)
	if _, err := f.st.GetAuthorizeCodeSession(memo, "code-sig", newSession("")); err != nil {
		t.Fatal(err)
	}
	// Another request redeems the code meanwhile.
	if err := f.st.InvalidateAuthorizeCodeSession(ctx, "code-sig"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.GetAuthorizeCodeSession(memo, "code-sig", newSession("")); err != nil {
		t.Fatalf("memoised read: %v", err)
	}
	// Without the memo the database answers: the code is spent.
	if _, err := f.st.GetAuthorizeCodeSession(ctx, "code-sig", newSession("")); !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		t.Fatalf("fresh read: %v", err)
	}
	// And redeeming it again fails whatever the memo says.
	if err := f.st.InvalidateAuthorizeCodeSession(memo, "code-sig"); err == nil {
		t.Fatal("a spent code was redeemed twice")
	}
}
