package storage_test

import (
	"context"
	"errors"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/storagetest"
)

func TestConnect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		url     string
		wantErr string
	}{
		{"bad url", "postgres://user:secret@[::1", "invalid database url"},
		{"unreachable", "postgres://postgres:secret@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2", "database unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			pool, err := storage.Connect(ctx, tt.url, 2)
			if err == nil {
				pool.Close()
				t.Fatal("Connect succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want it to mention %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("err leaks the password: %v", err)
			}
		})
	}

	pool, err := storage.Connect(t.Context(), storagetest.NewDatabase(t), 3)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer pool.Close()
	if got := pool.Config().MaxConns; got != 3 {
		t.Errorf("MaxConns = %d, want 3", got)
	}
	if err := storage.New(pool, storage.Options{}).Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// TestConnectPoolTimeouts checks that the pool's timeouts reach PostgreSQL
// and that a database that accepts TCP but never answers fails fast as
// ErrUnavailable, instead of hanging.
func TestConnectPoolTimeouts(t *testing.T) {
	t.Parallel()
	dbURL := storagetest.NewDatabase(t)
	tests := []struct {
		name string
		url  string
		opts storage.PoolOptions
		want string // SHOW statement_timeout
	}{
		{"defaults", dbURL, storage.PoolOptions{}, "5s"},
		{"options", dbURL, storage.PoolOptions{StatementTimeout: 1500 * time.Millisecond, ConnectTimeout: time.Second}, "1500ms"},
		{"url", dbURL + "&statement_timeout=2000", storage.PoolOptions{}, "2s"},
		{"options win over the url", dbURL + "&statement_timeout=2000", storage.PoolOptions{StatementTimeout: 3 * time.Second}, "3s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool, err := storage.ConnectPool(t.Context(), tt.url, tt.opts)
			if err != nil {
				t.Fatalf("ConnectPool: %v", err)
			}
			defer pool.Close()
			var got string
			if err := pool.QueryRow(t.Context(), `SHOW statement_timeout`).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("statement_timeout = %q, want %q", got, tt.want)
			}
			wantConnect := tt.opts.ConnectTimeout
			if wantConnect == 0 {
				wantConnect = storage.DefaultConnectTimeout
			}
			if c := pool.Config().ConnConfig.ConnectTimeout; c != wantConnect {
				t.Errorf("ConnectTimeout = %v, want %v", c, wantConnect)
			}
		})
	}

	t.Run("black hole", func(t *testing.T) {
		// Accepts connections and never says a word.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			var held []net.Conn
			defer func() {
				for _, c := range held {
					_ = c.Close()
				}
			}()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				held = append(held, c)
			}
		}()
		start := time.Now()
		pool, err := storage.ConnectPool(t.Context(),
			"postgres://postgres@"+ln.Addr().String()+"/x?sslmode=disable",
			storage.PoolOptions{ConnectTimeout: 500 * time.Millisecond})
		if err == nil {
			pool.Close()
			t.Fatal("ConnectPool succeeded")
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("ConnectPool took %v with a 500ms connect timeout", took)
		}
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("err = %v, want ErrUnavailable", err)
		}
	})
}

// TestConnectPoolQueryExecMode checks that the pool runs the store in each
// pgx query execution mode: the pooler-safe ones (exec, simple_protocol)
// must not prepare named statements, which a transaction-pooling PgBouncer
// would lose between transactions.
func TestConnectPoolQueryExecMode(t *testing.T) {
	t.Parallel()
	dbURL := storagetest.NewDatabase(t)
	for _, name := range storage.QueryExecModes {
		t.Run(name, func(t *testing.T) {
			mode, err := storage.ParseQueryExecMode(name)
			if err != nil {
				t.Fatal(err)
			}
			pool, err := storage.ConnectPool(t.Context(), dbURL, storage.PoolOptions{MaxConns: 1, QueryExecMode: mode})
			if err != nil {
				t.Fatalf("ConnectPool: %v", err)
			}
			defer pool.Close()
			if got := pool.Config().ConnConfig.DefaultQueryExecMode; got != mode {
				t.Errorf("DefaultQueryExecMode = %v, want %v", got, mode)
			}
			store := storage.New(pool, storage.Options{})
			ws, err := store.CreateWorkspace(t.Context(), "Mode "+name, storage.PlanGrowth)
			if err != nil {
				t.Fatalf("CreateWorkspace: %v", err)
			}
			// A jsonb parameter: exec and simple_protocol send parameters
			// as text without knowing the column's type.
			if err := store.RecordAudit(t.Context(), storage.AuditEvent{
				WorkspaceID: ws.ID, ActorKind: storage.ActorSystem,
				Action: storage.AuditSignOut, TargetKind: storage.TargetApp, TargetID: "app-1",
				Details: map[string]any{"mode": name},
			}); err != nil {
				t.Fatalf("RecordAudit: %v", err)
			}
			var prepared int
			if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_prepared_statements`).Scan(&prepared); err != nil {
				t.Fatal(err)
			}
			wantNone := name == "exec" || name == "simple_protocol" || name == "describe_exec"
			if wantNone && prepared != 0 {
				t.Errorf("%d named prepared statements on the connection, want none", prepared)
			}
			if name == "cache_statement" && prepared == 0 {
				t.Error("no prepared statements in cache_statement mode: is the mode applied?")
			}
		})
	}
	if _, err := storage.ParseQueryExecMode("prepared"); err == nil {
		t.Error(`ParseQueryExecMode("prepared") succeeded`)
	}
}

// TestMigrateConcurrently starts four instances at once against an empty
// database: tern's advisory lock must let each migration run exactly once.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	const n = 4
	pool, err := storage.Connect(t.Context(), storagetest.NewEmptyDatabase(t), n+1)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ctx := t.Context()

	before, err := storage.GetMigrationStatus(ctx, pool)
	if err != nil {
		t.Fatalf("GetMigrationStatus: %v", err)
	}
	if before.Current != 0 || before.Latest < 1 || len(before.Pending) != int(before.Latest) || before.Pending[0] != "001_init.sql" {
		t.Fatalf("status of an empty database = %+v", before)
	}
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('schema_version') IS NOT NULL`).Scan(&exists); err != nil || exists {
		t.Fatalf("GetMigrationStatus created the version table (exists=%v, err=%v)", exists, err)
	}

	applied := make([]int, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			applied[i], errs[i] = storage.Migrate(ctx, pool)
		})
	}
	close(start)
	wg.Wait()
	total := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Migrate #%d: %v", i, errs[i])
		}
		total += applied[i]
	}
	if total != int(before.Latest) {
		t.Errorf("migrations applied %v times in total (%v), want %d", total, applied, before.Latest)
	}

	after, err := storage.GetMigrationStatus(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if want := (storage.MigrationStatus{Current: before.Latest, Latest: before.Latest}); !reflect.DeepEqual(after, want) {
		t.Errorf("status after Migrate = %+v, want %+v", after, want)
	}
	if again, err := storage.Migrate(ctx, pool); err != nil || again != 0 {
		t.Errorf("Migrate on a current schema = %d, %v; want 0, nil", again, err)
	}
	if _, err := storage.New(pool, storage.Options{}).CreateWorkspace(ctx, "Acme", storage.PlanStarter); err != nil {
		t.Errorf("schema unusable after migration: %v", err)
	}
}
