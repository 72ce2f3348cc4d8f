package storage_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
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

// TestRotationPlanOnNewTables plans the rotation statement as a pooled
// connection keeps it (a generic plan) on tables that were never analyzed,
// at the sizes a new deployment passes through: every part must reach its
// rows by primary key. A plan made there is kept for the connection's
// lifetime, so an index the grant's tokens share (request_id), or a
// sequential scan, would be paid by every later rotation, and more with each.
func TestRotationPlanOnNewTables(t *testing.T) {
	t.Parallel()
	f := newFixture(t, storage.Options{})
	ctx := t.Context()
	conn, err := f.st.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET plan_cache_mode = force_generic_plan`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `PREPARE rotation(text, text, interval, interval) AS `+storage.RotateRefreshSQL); err != nil {
		t.Fatal(err)
	}
	req := f.newRequest(t)
	issued := 0
	for _, total := range []int{0, 1, 20, 200} {
		for ; issued < total; issued++ {
			mustIssue(t, f, req, prevRefresh(issued), fmt.Sprintf("at%d", issued), fmt.Sprintf("rt%d", issued))
		}
		var out []byte
		if err := conn.QueryRow(ctx, `EXPLAIN (FORMAT JSON) EXECUTE rotation('x', 'y', '0s', '1h')`).Scan(&out); err != nil {
			t.Fatal(err)
		}
		var plans []struct{ Plan map[string]any }
		if err := json.Unmarshal(out, &plans); err != nil || len(plans) != 1 {
			t.Fatalf("explain output %s: %v", out, err)
		}
		// scans maps each CTE (or "" for the main query) to the
		// relation.index of every scan under it.
		scans := map[string][]string{}
		var walk func(n map[string]any, cte string)
		walk = func(n map[string]any, cte string) {
			if name, _ := n["Subplan Name"].(string); strings.HasPrefix(name, "CTE ") {
				cte = strings.TrimPrefix(name, "CTE ")
			}
			if rel, _ := n["Relation Name"].(string); rel != "" && strings.HasSuffix(n["Node Type"].(string), "Scan") {
				index, _ := n["Index Name"].(string)
				scans[cte] = append(scans[cte], rel+"."+index)
			}
			children, _ := n["Plans"].([]any)
			for _, c := range children {
				if m, ok := c.(map[string]any); ok {
					walk(m, cte)
				}
			}
		}
		walk(plans[0].Plan, "")
		want := map[string][]string{
			"rotated":           {"oauth_refresh_tokens.oauth_refresh_tokens_pkey"},
			"paired":            {"oauth_access_tokens.oauth_access_tokens_pkey"},
			"paired_superseded": {"oauth_access_tokens.oauth_access_tokens_pkey"},
		}
		for cte, w := range want {
			if !slices.Equal(scans[cte], w) {
				t.Errorf("%d tokens issued: %s reads %v, want %v", total, cte, scans[cte], w)
			}
		}
	}
}

// prevRefresh is the refresh token the i-th issuance of a chain redeems.
func prevRefresh(i int) string {
	if i == 0 {
		return ""
	}
	return fmt.Sprintf("rt%d", i-1)
}

// TestWriteBatchIsolation: a write batch runs at READ COMMITTED whatever the
// database's default isolation, so concurrent redemptions of one refresh
// token within its grace period succeed in turn; and where the default
// already is READ COMMITTED, the batch sends nothing to set it (PostgreSQL
// would answer every batch with a warning, and log it).
func TestWriteBatchIsolation(t *testing.T) {
	t.Parallel()
	const n = 8
	for _, tt := range []struct {
		level    string
		warnings bool // each batch sets the isolation, with a warning
	}{
		{"read committed", false},
		{"repeatable read", true},
		{"serializable", true},
	} {
		t.Run(tt.level, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			dbURL := storagetest.NewDatabase(t)
			cfg, err := pgxpool.ParseConfig(dbURL)
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var notices []string
			cfg.ConnConfig.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
				mu.Lock()
				defer mu.Unlock()
				notices = append(notices, n.Message)
			}
			cfg.MaxConns = n + 2
			pool, err := pgxpool.NewWithConfig(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			if _, err := pool.Exec(ctx, fmt.Sprintf(`DO $$ BEGIN EXECUTE format('ALTER DATABASE %%I SET default_transaction_isolation = %%L', current_database(), '%s'); END $$`, tt.level)); err != nil {
				t.Fatal(err)
			}
			pool.Reset() // new sessions take the database's new default
			st := storage.New(pool, storage.Options{RefreshGracePeriod: time.Minute})
			if err := st.CheckIsolation(ctx); err != nil {
				t.Fatal(err)
			}
			f := fixtureOn(t, st)
			req := f.newRequest(t)
			mustIssue(t, f, req, "", "at0", "rt0")
			var level string
			if err := pool.QueryRow(ctx, `SHOW transaction_isolation`).Scan(&level); err != nil || level != tt.level {
				t.Fatalf("session isolation %q (%v), want %q", level, err, tt.level)
			}

			wctx := storage.WithWriteBehind(ctx)
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					errs[i] = issue(wctx, st, req, "rt0", fmt.Sprintf("at%d", i+1), fmt.Sprintf("rt%d", i+1))
				})
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("redemption %d: %v", i+1, err)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			warned := 0
			for _, m := range notices {
				if strings.Contains(m, "SET TRANSACTION") {
					warned++
				}
			}
			if tt.warnings != (warned > 0) {
				t.Errorf("%d warnings about SET TRANSACTION over %d batches; want them: %v (all notices: %q)", warned, n, tt.warnings, notices)
			}
		})
	}
}
