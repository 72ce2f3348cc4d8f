package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"

	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/dbtrace"
	"github.com/nextoria/authz/storage/seedrows"
)

// Environment of TestHotPathPlans.
const (
	// envPlanRows is the number of token rows seeded before the plans are
	// taken (default defaultPlanRows; .ci/run sets 1,000,000).
	envPlanRows     = "NEXTORIA_PLAN_ROWS"
	defaultPlanRows = 200_000
	// envPlanReport, when set, is a file the plans are written to as
	// Markdown (docs/query-plans.md).
	envPlanReport = "NEXTORIA_PLAN_REPORT"
	// envPlanDatabase, when set, is the URL of a database already seeded
	// at size (nextoria-bench --rows N --keep leaves one): the test runs on
	// it instead of seeding a new one.
	envPlanDatabase = "NEXTORIA_PLAN_DATABASE_URL"
)

// hotPath is one request of a hot path and the statements it sent.
type hotPath struct {
	name       string
	statements []dbtrace.Statement
	roundTrips int
}

// plannedStatement is a statement of a hot path with its plan.
type plannedStatement struct {
	dbtrace.Statement
	text     string   // EXPLAIN's text plan
	seqScans []string // relations read by a Seq Scan
	skipped  string   // why it has no plan (transaction control)
	generic  string   // the generic plan's text, when its shape differs
}

// TestHotPathPlans seeds the database with NEXTORIA_PLAN_ROWS token rows,
// runs every hot path once against the in-process server while recording the
// statements it sends (dbtrace, batches included), and EXPLAINs each one
// with the arguments it was sent with. A Seq Scan on any table of any of
// them fails the test: at size, every hot-path statement must be an index or
// primary-key lookup. The statements are captured, not listed by hand, so the
// test follows the SQL wherever it changes.
func TestHotPathPlans(t *testing.T) {
	rows := int64(defaultPlanRows)
	if v := os.Getenv(envPlanRows); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1000 {
			t.Fatalf("%s=%q: want a number of rows, at least 1000", envPlanRows, v)
		}
		rows = n
	}
	var current atomic.Pointer[dbtrace.Recorder]
	record := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if rec := current.Load(); rec != nil {
				r = r.WithContext(dbtrace.WithRecorder(r.Context(), rec))
			}
			h.ServeHTTP(w, r)
		})
	}
	seededURL := os.Getenv(envPlanDatabase)
	s := startE2EWrapped(t, record, func(c *Config) {
		c.Database.tracer = &dbtrace.Tracer{}
		if seededURL != "" {
			c.Database.URL = seededURL
		}
	})
	ctx := t.Context()

	// The server's periodic cleanup would start deleting the expired rows
	// seeded below; keep it off for the length of the test.
	release, err := s.store.HoldCleanup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	// Credentials, a signed-in browser and remembered consent, unrecorded.
	rsID, rsSecret := s.resourceServer(t)
	_, apiKey, err := s.app.apiKeys.Create(ctx, s.WorkspaceID, s.UserID, "Plans", []string{"projects:read"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	conf := s.oauthConfig(oauth2.AuthStyleInParams, "projects:read", "tasks:read")
	oidcConf := s.oauthConfig(oauth2.AuthStyleInParams, "openid", "profile", "email", "projects:read")
	b := s.newBrowser(t)
	flow := func(c *oauth2.Config, state string) (code, verifier string) {
		verifier = oauth2.GenerateVerifier()
		return b.code(c.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), state), verifier
	}
	exchange := func(c *oauth2.Config, code, verifier string) *oauth2.Token {
		tok, err := c.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("code exchange: %v", err)
		}
		return tok
	}
	runPaths := func() []hotPath {
		code, verifier := flow(conf, "plans-first")
		first := exchange(conf, code, verifier)
		code, verifier = flow(oidcConf, "plans-oidc-first")
		exchange(oidcConf, code, verifier)

		var paths []hotPath
		recorded := func(name string, fn func()) {
			rec := &dbtrace.Recorder{}
			current.Store(rec)
			fn()
			current.Store(nil)
			paths = append(paths, hotPath{name: name, statements: rec.Statements(), roundTrips: rec.RoundTrips()})
		}
		var tok *oauth2.Token
		recorded("authorize: signed in, remembered consent", func() { code, verifier = flow(conf, "plans-authorize") })
		recorded("code exchange", func() { tok = exchange(conf, code, verifier) })
		recorded("authorize: OpenID Connect, signed in, remembered consent", func() { code, verifier = flow(oidcConf, "plans-oidc") })
		recorded("code exchange: OpenID Connect", func() {
			if tok := exchange(oidcConf, code, verifier); tok.Extra("id_token") == nil {
				t.Error("the OpenID Connect code exchange returned no ID token")
			}
		})
		var refreshed map[string]any
		recorded("refresh", func() {
			resp, body := refresh(t, conf, tok.RefreshToken)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("refresh: %d %v", resp.StatusCode, body)
			}
			refreshed = body
		})
		introspect := func(token string) {
			status, body := s.introspectRaw(t, rsID, rsSecret, url.Values{"token": {token}})
			if status != http.StatusOK || !strings.Contains(body, `"active":true`) {
				t.Fatalf("introspection: %d %s", status, body)
			}
		}
		recorded("introspection: JWT access token", func() { introspect(refreshed["access_token"].(string)) })
		recorded("introspection: API key", func() { introspect(apiKey) })
		recorded("revocation: refresh token", func() {
			resp, body := postForm(t, s.URL+"/v1/oauth/revoke", url.Values{
				"token": {first.RefreshToken}, "token_type_hint": {"refresh_token"},
				"client_id": {conf.ClientID}, "client_secret": {conf.ClientSecret},
			}, "", "")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("revocation: %d %v", resp.StatusCode, body)
			}
		})
		return paths
	}

	// A pooled connection keeps a statement's generic plan for its
	// lifetime, and PostgreSQL makes it from what it knows of the tables at
	// the time: on a new deployment, tables of a few pages that were never
	// analyzed. A plan that is cheap there (a sequential scan, or any index
	// that matches) is kept as the tables grow until an ANALYZE replaces
	// it, which never comes where autovacuum is off. So the hot paths are
	// first planned on the new database, generic plans included, and must
	// reach their rows by index there too. (A database given by
	// NEXTORIA_PLAN_DATABASE_URL is not new.)
	var fresh []hotPath
	if seededURL == "" {
		fresh = runPaths()
	}
	for _, p := range fresh {
		for _, st := range p.statements {
			if ps := explain(t, s, st); len(ps.seqScans) > 0 {
				t.Errorf("%s, on a new database: sequential scan of %s in\n%s\n%s", p.name, strings.Join(ps.seqScans, ", "), oneLine(st.SQL), ps.text)
			}
		}
	}

	var seeded seedrows.Result
	if seededURL != "" {
		seeded = seededCounts(t, s)
	} else if seeded, err = seedrows.Seed(ctx, s.store, seedrows.Options{Rows: rows, Audience: s.cfg.OAuth.Audience, Progress: t.Logf}); err != nil {
		t.Fatal(err)
	}

	paths := runPaths()

	// The lookups that concurrent introspections share are explained in
	// the form they take for several tokens too.
	for i := range paths {
		for _, st := range paths[i].statements {
			if shared, ok := storage.CoalescedForm(st, 8); ok {
				paths[i].statements = append(paths[i].statements, shared)
			}
		}
	}
	planned := make([][]plannedStatement, len(paths))
	failed := 0
	for i, p := range paths {
		if len(p.statements) == 0 {
			t.Errorf("%s: no statement recorded", p.name)
		}
		for _, st := range p.statements {
			ps := explain(t, s, st)
			if len(ps.seqScans) > 0 {
				failed++
				t.Errorf("%s: sequential scan of %s in\n%s\n%s", p.name, strings.Join(ps.seqScans, ", "), oneLine(st.SQL), ps.text)
			}
			planned[i] = append(planned[i], ps)
		}
	}
	t.Logf("%d token rows seeded at %.0f rows/s; %d hot paths, %d statements explained, %d with a sequential scan",
		seeded.TokenRows, seeded.RowsPerSecond(), len(paths), countStatements(paths), failed)
	if path := os.Getenv(envPlanReport); path != "" {
		if err := os.WriteFile(path, planReport(t, s, seeded, paths, planned), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func countStatements(paths []hotPath) int {
	n := 0
	for _, p := range paths {
		n += len(p.statements)
	}
	return n
}

// notExplainable matches statements EXPLAIN does not take.
var notExplainable = regexp.MustCompile(`(?i)^\s*(begin|commit|rollback|savepoint|release|set|reset|show|start|end|deallocate|discard|listen|notify|lock)\b`)

// explain plans st with its arguments: EXPLAIN without ANALYZE, so writes
// are planned and not executed. The server runs its statements prepared
// (pgx's statement cache), and PostgreSQL may switch a prepared statement to
// a generic plan after five executions, so the generic plan is checked too:
// PREPARE, then EXPLAIN EXECUTE under plan_cache_mode = force_generic_plan.
func explain(t *testing.T, s *e2eServer, st dbtrace.Statement) plannedStatement {
	t.Helper()
	ps := plannedStatement{Statement: st}
	if notExplainable.MatchString(st.SQL) {
		ps.skipped = "transaction control"
		return ps
	}
	ctx := t.Context()
	conn, err := s.store.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	plan := func(sql string, args []any) (seq []string, text, shape string) {
		t.Helper()
		var raw []byte
		if err := conn.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+sql, args...).Scan(&raw); err != nil {
			t.Fatalf("EXPLAIN %s: %v", oneLine(sql), err)
		}
		var plans []struct {
			Plan planNode `json:"Plan"`
		}
		if err := json.Unmarshal(raw, &plans); err != nil {
			t.Fatalf("EXPLAIN %s: %v", oneLine(sql), err)
		}
		var sh strings.Builder
		for _, p := range plans {
			p.Plan.seqScans(&seq)
			p.Plan.shape(&sh, 0)
		}
		rows, err := conn.Query(ctx, "EXPLAIN "+sql, args...)
		if err != nil {
			t.Fatalf("EXPLAIN %s: %v", oneLine(sql), err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("EXPLAIN %s: %v", oneLine(sql), err)
		}
		return seq, strings.Join(lines, "\n"), sh.String()
	}
	var custom string
	ps.seqScans, ps.text, custom = plan(st.SQL, st.Args)

	// The generic plan of the same statement.
	if _, err := conn.Exec(ctx, "PREPARE hot_path_plan AS "+st.SQL, pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatalf("PREPARE %s: %v", oneLine(st.SQL), err)
	}
	defer func() {
		if _, err := conn.Exec(ctx, "DEALLOCATE hot_path_plan; RESET plan_cache_mode", pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatal(err)
		}
	}()
	if _, err := conn.Exec(ctx, "SET plan_cache_mode = force_generic_plan", pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatal(err)
	}
	params := make([]string, len(st.Args))
	for i := range params {
		params[i] = "$" + strconv.Itoa(i+1)
	}
	execute := "EXECUTE hot_path_plan"
	if len(params) > 0 {
		execute += "(" + strings.Join(params, ", ") + ")"
	}
	// EXECUTE's arguments cannot be bound parameters: send them as
	// literals (pgx's simple protocol quotes them).
	seq, text, generic := plan(execute, append([]any{pgx.QueryExecModeSimpleProtocol}, st.Args...))
	for _, rel := range seq {
		ps.seqScans = append(ps.seqScans, rel+" (generic plan)")
	}
	if generic != custom {
		ps.generic = text
	}
	return ps
}

// planNode is a node of EXPLAIN (FORMAT JSON).
type planNode struct {
	NodeType string     `json:"Node Type"`
	Relation string     `json:"Relation Name"`
	Index    string     `json:"Index Name"`
	Plans    []planNode `json:"Plans"`
}

// shape writes the plan's nodes, relations and indexes, which is what tells
// two plans apart (not their costs, nor the values in their conditions).
func (n planNode) shape(w *strings.Builder, depth int) {
	fmt.Fprintf(w, "%*s%s %s %s\n", 2*depth, "", n.NodeType, n.Relation, n.Index)
	for _, c := range n.Plans {
		c.shape(w, depth+1)
	}
}

func (n planNode) seqScans(out *[]string) {
	if n.NodeType == "Seq Scan" {
		*out = append(*out, n.Relation)
	}
	for _, c := range n.Plans {
		c.seqScans(out)
	}
}

var spaces = regexp.MustCompile(`\s+`)

func oneLine(sql string) string { return strings.TrimSpace(spaces.ReplaceAllString(sql, " ")) }

// planReport is docs/query-plans.md: the size of the database, then every
// hot path's statements with their plans.
// seededCounts describes a database seeded beforehand (envPlanDatabase):
// the planner's estimate of its token rows, and exact counts of the rest.
func seededCounts(t *testing.T, s *e2eServer) seedrows.Result {
	t.Helper()
	var r seedrows.Result
	err := s.store.Pool().QueryRow(t.Context(),
		`SELECT (SELECT sum(greatest(reltuples, 0))::bigint FROM pg_class WHERE oid = ANY($1::regclass[])),
		        (SELECT count(*) FROM oauth_refresh_tokens WHERE active),
		        (SELECT count(*) FROM users), (SELECT count(*) FROM oauth_apps), (SELECT count(*) FROM workspaces)`,
		seedrows.TokenTables).Scan(&r.TokenRows, &r.Grants, &r.Users, &r.Apps, &r.Workspaces)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func planReport(t *testing.T, s *e2eServer, seeded seedrows.Result, paths []hotPath, planned [][]plannedStatement) []byte {
	t.Helper()
	var w bytes.Buffer
	var version string
	if err := s.store.Pool().QueryRow(t.Context(), `SHOW server_version`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&w, "# Query plans of the hot paths\n\n")
	fmt.Fprintf(&w, "Generated by `TestHotPathPlans` (cmd/nextoria-authz/plans_test.go) on %s, PostgreSQL %s:\n\n",
		time.Now().UTC().Format("2006-01-02"), version)
	fmt.Fprintf(&w, "    NEXTORIA_PLAN_ROWS=%d NEXTORIA_PLAN_REPORT=docs/query-plans.md \\\n", seeded.TokenRows)
	fmt.Fprintf(&w, "      go test -run TestHotPathPlans -count=1 ./cmd/nextoria-authz\n\n")
	fmt.Fprintf(&w, "The database held %d token rows seeded by `storage/seedrows` (%d live grants, %d users, %d apps, %d workspaces), "+
		"then ANALYZEd. Each hot path ran once against the in-process server; every statement it sent (batched ones too) "+
		"was recorded with `storage/dbtrace` and planned with `EXPLAIN` and the arguments it was sent with (no ANALYZE: "+
		"writes are planned, not run), and again as a generic plan (PREPARE, then EXPLAIN EXECUTE under "+
		"plan_cache_mode = force_generic_plan), shown below the plan when it uses other nodes or indexes. "+
		"The test fails on a Seq Scan anywhere in any of these plans. "+
		"Transaction control (BEGIN, COMMIT) has no plan. Before the seeding, the same hot paths ran on the new database, "+
		"whose tables were small and never analyzed, and their plans, generic ones included, were checked the same way "+
		"(not shown): a pooled connection keeps the generic plan it made then.\n\n", seeded.TokenRows, seeded.Grants, seeded.Users, seeded.Apps, seeded.Workspaces)

	fmt.Fprintf(&w, "| Table | Rows (estimate) |\n|---|--:|\n")
	for _, table := range append(append([]string(nil), seedrows.TokenTables...), "consent_grants", "login_sessions", "users", "oauth_apps", "workspaces", "api_keys", "resource_servers") {
		var n float64
		if err := s.store.Pool().QueryRow(t.Context(), `SELECT reltuples FROM pg_class WHERE relname = $1`, table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&w, "| %s | %.0f |\n", table, n)
	}
	fmt.Fprintf(&w, "\n| Hot path | Statements | Round trips |\n|---|--:|--:|\n")
	for _, p := range paths {
		fmt.Fprintf(&w, "| %s | %d | %d |\n", p.name, len(p.statements), p.roundTrips)
	}
	for i, p := range paths {
		fmt.Fprintf(&w, "\n## %s\n", p.name)
		for j, ps := range planned[i] {
			where := ""
			if ps.Batch > 0 {
				where = fmt.Sprintf(" (batch %d)", ps.Batch)
			}
			if ps.skipped != "" {
				fmt.Fprintf(&w, "\n%d.%s `%s` (%s)\n", j+1, where, oneLine(ps.SQL), ps.skipped)
				continue
			}
			fmt.Fprintf(&w, "\n%d.%s\n\n```sql\n%s\n```\n\n```\n%s\n```\n", j+1, where, oneLine(ps.SQL), ps.text)
			if ps.generic != "" {
				fmt.Fprintf(&w, "\nGeneric plan, which differs (a prepared statement may switch to it after five executions):\n\n```\n%s\n```\n", ps.generic)
			}
		}
	}
	return w.Bytes()
}
