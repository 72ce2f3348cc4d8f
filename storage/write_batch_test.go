package storage_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/storagetest"
)

// explainRotation runs the rotation statement of the grant's current token
// under EXPLAIN (ANALYZE, BUFFERS) in a transaction it rolls back, and
// returns the shared buffers and the rows of every plan node, summed.
// Parents include their children, so the sums are only good for comparing
// one plan with itself.
func explainRotation(t *testing.T, st *storage.Store, requestID, signature string) (buffers, rows float64) {
	t.Helper()
	ctx := t.Context()
	// Dead index entries of retired rows are garbage until (auto)vacuum
	// removes them, table-wide; the question here is what the statement
	// visits of the live chain, so measure it on vacuumed tables.
	if _, err := st.Pool().Exec(ctx, `VACUUM (ANALYZE) oauth_refresh_tokens, oauth_access_tokens`); err != nil {
		t.Fatal(err)
	}
	tx, err := st.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	var out []byte
	if err := tx.QueryRow(ctx, `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) `+storage.RotateRefreshSQL,
		storage.HashSignature(signature), requestID, time.Duration(0), 24*time.Hour).Scan(&out); err != nil {
		t.Fatal(err)
	}
	var plans []struct{ Plan map[string]any }
	if err := json.Unmarshal(out, &plans); err != nil || len(plans) != 1 {
		t.Fatalf("explain output %s: %v", out, err)
	}
	var walk func(n map[string]any)
	walk = func(n map[string]any) {
		hit, _ := n["Shared Hit Blocks"].(float64)
		read, _ := n["Shared Read Blocks"].(float64)
		actual, _ := n["Actual Rows"].(float64)
		loops, _ := n["Actual Loops"].(float64)
		buffers += hit + read
		rows += actual * loops
		children, _ := n["Plans"].([]any)
		for _, c := range children {
			if m, ok := c.(map[string]any); ok {
				walk(m)
			}
		}
	}
	walk(plans[0].Plan)
	return buffers, rows
}

// TestRotationFlatInChainLength rotates one grant 2,000 times and checks
// that the rotation statement touches as many buffers and rows for the
// 2,000th token as for the 100th: nothing on the refresh path may visit
// every earlier token of the grant. The rotations run as the token endpoint
// runs them, written behind in one batch each.
func TestRotationFlatInChainLength(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := storage.WithWriteBehind(t.Context())
	req := f.newRequest(t)
	mustIssue(t, f, req, "", "at0", "rt0")
	const n = 2000
	var firstBuf, firstRows float64
	for i := 1; i <= n; i++ {
		if i == 100 {
			firstBuf, firstRows = explainRotation(t, f.st, req.ID, fmt.Sprintf("rt%d", i-1))
		}
		if err := issue(ctx, f.st, req, fmt.Sprintf("rt%d", i-1), fmt.Sprintf("at%d", i), fmt.Sprintf("rt%d", i)); err != nil {
			t.Fatalf("rotation %d: %v", i, err)
		}
	}
	lastBuf, lastRows := explainRotation(t, f.st, req.ID, fmt.Sprintf("rt%d", n))
	t.Logf("rotation statement: buffers %v at token 100, %v at token %d; rows %v, %v", firstBuf, lastBuf, n, firstRows, lastRows)
	if lastBuf > 1.5*firstBuf+8 {
		t.Errorf("buffers grew with the chain: %v at token 100, %v at token %d", firstBuf, lastBuf, n)
	}
	if lastRows > firstRows+2 {
		t.Errorf("rows grew with the chain: %v at token 100, %v at token %d", firstRows, lastRows, n)
	}
}

// TestWriteBehindRefusalUndoesBatch: in a written-behind transaction, a
// rotation of a token that is no longer current fails at Commit with
// fosite.ErrNotFound, and nothing of the batch is written; a second
// redemption of a code fails with fosite.ErrInvalidatedAuthorizeCode.
func TestWriteBehindRefusalUndoesBatch(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := storage.WithWriteBehind(t.Context())
	req := f.newRequest(t)
	mustIssue(t, f, req, "", "at0", "rt0")
	mustIssue(t, f, req, "rt0", "at1", "rt1")
	err := issue(ctx, f.st, req, "rt0", "at2", "rt2")
	if !errors.Is(err, fosite.ErrNotFound) {
		t.Fatalf("rotating a retired token: err = %v, want ErrNotFound", err)
	}
	for _, sig := range []string{"at2"} {
		if _, err := f.st.GetAccessTokenSession(t.Context(), sig, nil); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("%s written by a refused batch: %v", sig, err)
		}
	}
	if _, err := f.st.GetRefreshTokenSession(t.Context(), "rt2", nil); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("rt2 written by a refused batch: %v", err)
	}
	if _, err := f.st.GetRefreshTokenSession(t.Context(), "rt1", nil); err != nil {
		t.Errorf("rt1 is no longer current after a refused batch: %v", err)
	}

	code := f.newRequest(t)
	if err := f.st.CreateAuthorizeCodeSession(t.Context(), "code", code); err != nil {
		t.Fatal(err)
	}
	redeem := func() error {
		tctx, err := f.st.BeginTX(ctx)
		if err != nil {
			return err
		}
		if err := f.st.InvalidateAuthorizeCodeSession(tctx, "code"); err != nil {
			_ = f.st.Rollback(tctx)
			return err
		}
		if err := f.st.Commit(tctx); err != nil {
			_ = f.st.Rollback(tctx)
			return err
		}
		return nil
	}
	if err := redeem(); err != nil {
		t.Fatalf("first redemption: %v", err)
	}
	if err := redeem(); !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		t.Fatalf("second redemption: err = %v, want ErrInvalidatedAuthorizeCode", err)
	}
}

// TestWriteBatchFailsMidway: a write batch whose third statement fails
// because the database stops answering (a statement timeout, a terminated
// connection) reports storage.ErrUnavailable, and the writes before it in
// the batch are undone.
func TestWriteBatchFailsMidway(t *testing.T) {
	t.Parallel()
	pool, err := storage.ConnectPool(t.Context(), storagetest.NewDatabase(t),
		storage.PoolOptions{StatementTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	f := fixtureOn(t, storage.New(pool, storage.Options{}))
	for i, failure := range []string{`SELECT pg_sleep(2)`, `SELECT pg_terminate_backend(pg_backend_pid())`} {
		ctx := f.st.WithWriteBatch(t.Context())
		req := f.newRequest(t)
		at := fmt.Sprintf("at-midway-%d", i)
		if err := f.st.CreateAccessTokenSession(ctx, at, req); err != nil {
			t.Fatal(err)
		}
		if err := f.st.CreateRefreshTokenSession(ctx, "rt-"+at, at, req); err != nil {
			t.Fatal(err)
		}
		if err := storage.QueueWrite(ctx, f.st, failure); err != nil {
			t.Fatal(err)
		}
		if err := f.st.CreateAuthorizeCodeSession(ctx, "code-"+at, req); err != nil {
			t.Fatal(err)
		}
		if err := f.st.FlushWrites(ctx); !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("%s: err = %v, want ErrUnavailable", failure, err)
		}
		if _, err := f.st.GetAccessTokenSession(t.Context(), at, nil); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("%s: the access token written before the failure stayed: %v", failure, err)
		}
		if _, err := f.st.GetRefreshTokenSession(t.Context(), "rt-"+at, nil); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("%s: the refresh token written before the failure stayed: %v", failure, err)
		}
	}
}
