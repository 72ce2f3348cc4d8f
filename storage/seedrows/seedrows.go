// Package seedrows fills a throwaway database with many synthetic token rows,
// so that benchmarks and query-plan tests see the server at size.
//
// Seed creates workspaces, users, apps (some with logos), resource servers
// and API keys by the thousand, then COPYs N rows into the token tables in a
// realistic mix (see Mix): mostly expired access tokens, rotated refresh
// tokens, one live refresh token per live grant, live access tokens, a few
// codes, PKCE and OpenID Connect sessions, remembered consent for every live
// grant, and login sessions. The session_data of every row is a real
// authz.Session encoded by the store itself (see encodeTemplates), so the
// rows stay valid whatever encoding the store uses. Then it ANALYZEs.
//
// To load quickly it drops the indexes of the tables it copies into, copies
// with foreign-key triggers off (session_replication_role = replica; the
// keys it writes are valid by construction) and builds the indexes again
// afterwards. It is therefore only for databases nobody else is writing to
// at the time: a benchmark's database between runs, a test's database.
package seedrows

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nextoria/authz/storage"
)

// Mix is how many rows of each kind Seed writes. MixFor gives the default
// proportions; the counts may be set by hand too.
type Mix struct {
	ExpiredAccess  int64 // oauth_access_tokens past expires_at, of grants long gone
	LiveAccess     int64 // oauth_access_tokens of live grants
	RotatedRefresh int64 // oauth_refresh_tokens redeemed (inactive) in the chains of live grants
	LiveRefresh    int64 // oauth_refresh_tokens active: one per live grant
	Codes          int64 // oauth_codes
	PKCE           int64 // oauth_pkce
	OIDC           int64 // oauth_oidc_sessions
}

// MixFor splits n token rows: 60% expired access tokens, 25% rotated refresh
// tokens, 5% live refresh tokens (hence n/20 live grants), 8% live access
// tokens, 2% codes, PKCE and OpenID Connect sessions.
func MixFor(n int64) Mix {
	m := Mix{
		RotatedRefresh: n * 25 / 100,
		LiveRefresh:    max(n*5/100, 1),
		LiveAccess:     n * 8 / 100,
		Codes:          n * 7 / 1000,
		PKCE:           n * 7 / 1000,
		OIDC:           n * 6 / 1000,
	}
	m.ExpiredAccess = max(n-m.RotatedRefresh-m.LiveRefresh-m.LiveAccess-m.Codes-m.PKCE-m.OIDC, 0)
	return m
}

// Total is the number of token rows of the mix.
func (m Mix) Total() int64 {
	return m.ExpiredAccess + m.LiveAccess + m.RotatedRefresh + m.LiveRefresh + m.Codes + m.PKCE + m.OIDC
}

// Options tune Seed.
type Options struct {
	// Rows is the number of token rows; Mix, when set, overrides it.
	Rows int64
	Mix  *Mix
	// Users, Apps and Workspaces default to sizes that grow with Rows (at
	// least 2,000 users, 200 apps and 100 workspaces).
	Users, Apps, Workspaces int
	// Audience is written as the rows' granted audience.
	Audience string
	// Workers is the number of COPY streams at once (default 2).
	Workers int
	// Progress, when set, receives a line per step.
	Progress func(format string, args ...any)
}

// Result says what Seed wrote and how fast.
type Result struct {
	Mix        Mix
	TokenRows  int64
	Grants     int64 // live grants (= live refresh tokens)
	Consents   int64 // consent_grants rows
	Logins     int64 // login_sessions rows
	Users      int
	Apps       int
	Workspaces int
	Copy       time.Duration // COPY of every row
	Indexes    time.Duration // rebuilding the indexes
	Analyze    time.Duration
	Total      time.Duration
}

// RowsPerSecond is the token rows written per second of the whole seed.
func (r Result) RowsPerSecond() float64 {
	if r.Total <= 0 {
		return 0
	}
	return float64(r.TokenRows) / r.Total.Seconds()
}

// TokenTables are the tables Seed copies token rows into, in the order sizes
// are reported.
var TokenTables = []string{
	"oauth_access_tokens", "oauth_refresh_tokens", "oauth_codes", "oauth_pkce", "oauth_oidc_sessions",
}

// copyTables are every table Seed copies into, whose indexes it rebuilds.
var copyTables = append(append([]string(nil), TokenTables...), "consent_grants", "login_sessions")

// seeder is one run of Seed.
type seeder struct {
	store *storage.Store
	pool  *pgxpool.Pool
	opts  Options
	mix   Mix
	tag   string // distinguishes this run's names from any other's
	salt  uint64
	now   time.Time

	workspaces []string
	users      []string
	apps       []string
	tpl        map[string]template
}

func (s *seeder) progress(format string, args ...any) {
	if s.opts.Progress != nil {
		s.opts.Progress(format, args...)
	}
}

// Seed writes the rows described in the package comment into the database of
// store, whose schema must be migrated.
func Seed(ctx context.Context, store *storage.Store, opts Options) (Result, error) {
	start := time.Now()
	s := &seeder{store: store, pool: store.Pool(), opts: opts, now: start.UTC()}
	if opts.Mix != nil {
		s.mix = *opts.Mix
	} else {
		s.mix = MixFor(opts.Rows)
	}
	if s.mix.LiveRefresh < 1 {
		return Result{}, errors.New("seedrows: at least one live grant is needed")
	}
	if s.opts.Audience == "" {
		s.opts.Audience = "https://auth.example.com"
	}
	if s.opts.Workers <= 0 {
		s.opts.Workers = 2
	}
	n := s.mix.Total()
	if s.opts.Users <= 0 {
		s.opts.Users = int(min(max(n/1000, 2000), 50000))
	}
	if s.opts.Apps <= 0 {
		s.opts.Apps = int(min(max(n/20000, 200), 2000))
	}
	if s.opts.Workspaces <= 0 {
		// Most workspaces are small teams.
		s.opts.Workspaces = max(s.opts.Users/4, 1000)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	s.salt = binary.LittleEndian.Uint64(b[:])
	s.tag = hex.EncodeToString(b[:4])

	res := Result{Mix: s.mix, TokenRows: n, Grants: s.mix.LiveRefresh,
		Users: s.opts.Users, Apps: s.opts.Apps, Workspaces: s.opts.Workspaces}
	s.progress("seeding %d token rows (%d live grants) for %d users of %d workspaces and %d apps",
		n, res.Grants, res.Users, res.Workspaces, res.Apps)
	if err := s.createActors(ctx); err != nil {
		return res, fmt.Errorf("seedrows: users and apps: %w", err)
	}
	if err := s.encodeTemplates(ctx); err != nil {
		return res, fmt.Errorf("seedrows: session templates: %w", err)
	}

	idx, err := dropIndexes(ctx, s.pool, copyTables)
	if err != nil {
		return res, fmt.Errorf("seedrows: drop indexes: %w", err)
	}
	copyStart := time.Now()
	res.Consents, res.Logins, err = s.copyAll(ctx)
	res.Copy = time.Since(copyStart)
	s.progress("copied %d token rows in %s (%.0f rows/s)", n, res.Copy.Round(time.Millisecond), float64(n)/res.Copy.Seconds())
	// Build the indexes again even when the copy failed, so that the schema
	// is whole.
	idxStart := time.Now()
	rerr := createIndexes(context.WithoutCancel(ctx), s.pool, idx, s.opts.Workers)
	res.Indexes = time.Since(idxStart)
	if err != nil {
		return res, fmt.Errorf("seedrows: copy: %w", errors.Join(err, rerr))
	}
	if rerr != nil {
		return res, fmt.Errorf("seedrows: rebuild indexes: %w", rerr)
	}
	s.progress("rebuilt %d indexes in %s", len(idx), res.Indexes.Round(time.Millisecond))

	anStart := time.Now()
	if err := s.analyze(ctx); err != nil {
		return res, fmt.Errorf("seedrows: analyze: %w", err)
	}
	res.Analyze = time.Since(anStart)
	res.Total = time.Since(start)
	s.progress("seeded %d token rows in %s: %.0f rows/s", n, res.Total.Round(time.Millisecond), res.RowsPerSecond())
	return res, nil
}

// analyze updates the planner's statistics of every table.
func (s *seeder) analyze(ctx context.Context) error {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	if _, err := c.Exec(ctx, `SET statement_timeout = 0`); err != nil {
		return err
	}
	_, err = c.Exec(ctx, `ANALYZE`)
	if _, rerr := c.Exec(context.WithoutCancel(ctx), `RESET statement_timeout`); rerr != nil {
		_ = c.Conn().Close(context.WithoutCancel(ctx))
	}
	return err
}

// resourceServers is how many resource servers Seed adds. A deployment has
// few, and the lookup of a few rows is a one-page sequential scan, the right
// plan and free; seeding a thousand makes the index the planner's choice, so
// that a query that could not use it stands out.
const resourceServers = 1000

// createActors inserts the workspaces, users, apps, logos, resource servers
// and API keys, server-side, and reads back the ids the token rows refer to.
func (s *seeder) createActors(ctx context.Context) error {
	o := s.opts
	steps := []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO workspaces (name, plan)
		  SELECT 'Seed ' || $1 || ' ' || i, (ARRAY['starter','growth','scale'])[1 + i % 3]
		  FROM generate_series(1, $2) i`, []any{s.tag, o.Workspaces}},
		{`INSERT INTO users (email, password_hash, workspace_id, role, name, email_verified)
		  SELECT 'seed-' || $1 || '-' || i || '@seed.example', 'seeded: no password',
		         w.id, CASE WHEN i % 20 = 0 THEN 'admin' ELSE 'member' END, 'Seed user ' || i, i % 2 = 0
		  FROM generate_series(1, $2) i
		  JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM workspaces WHERE name LIKE 'Seed ' || $1 || ' %') w
		    ON w.n = i % $3`, []any{s.tag, o.Users, o.Workspaces}},
		{`INSERT INTO oauth_apps (client_id, secret_hash, name, redirect_uris, scopes, public, workspace_id, owner_id,
		                         pkce_required, description, post_logout_redirect_uris)
		  SELECT 'seed-' || $1 || '-' || i, CASE WHEN i % 5 = 0 THEN NULL ELSE sha256(('seed' || i)::bytea) END,
		         'Seed app ' || i, ARRAY['https://app' || i || '.seed.example/callback'],
		         ARRAY['openid','profile','email','projects:read','tasks:read'], i % 5 = 0, u.workspace_id, u.id,
		         true, 'A seeded app.', ARRAY['https://app' || i || '.seed.example/']
		  FROM generate_series(1, $2) i
		  JOIN (SELECT id, workspace_id, row_number() OVER (ORDER BY id) - 1 AS n FROM users
		        WHERE email LIKE 'seed-' || $1 || '-%') u ON u.n = i * 7 % $3`, []any{s.tag, o.Apps, o.Users}},
		// A third of the apps have a logo of a few KiB.
		{`INSERT INTO oauth_app_logos (app_id, content_type, data, sha256)
		  SELECT a.id, 'image/png', decode(repeat(md5(a.client_id), 96), 'hex'), md5(a.client_id)
		  FROM oauth_apps a WHERE a.client_id LIKE 'seed-' || $1 || '-%' AND hashtext(a.client_id) % 3 = 0`, []any{s.tag}},
		{`INSERT INTO resource_servers (client_id, secret_hash, name)
		  SELECT 'seed-rs-' || $1 || '-' || i, sha256(('rs' || i)::bytea), 'Seed API ' || i
		  FROM generate_series(1, $2) i`, []any{s.tag, resourceServers}},
		{`INSERT INTO api_keys (workspace_id, created_by, name, scopes, key_hash, display_id, expires_at, revoked_at)
		  SELECT w.id, NULL, 'Seed key ' || k, ARRAY['projects:read'],
		         sha256(('key' || $1 || w.id || k)::bytea), 'nxk_seed' || k,
		         CASE WHEN k = 3 THEN now() - interval '1 day' END, CASE WHEN k = 4 THEN now() END
		  FROM workspaces w CROSS JOIN generate_series(1, 5) k
		  WHERE w.name LIKE 'Seed ' || $1 || ' %'`, []any{s.tag}},
	}
	for _, st := range steps {
		if _, err := s.pool.Exec(ctx, st.sql, st.args...); err != nil {
			return err
		}
	}
	var err error
	if s.users, err = collect(ctx, s.pool, `SELECT id::text FROM users WHERE email LIKE 'seed-' || $1 || '-%' ORDER BY id`, s.tag); err != nil {
		return err
	}
	if s.apps, err = collect(ctx, s.pool, `SELECT client_id FROM oauth_apps WHERE client_id LIKE 'seed-' || $1 || '-%' ORDER BY client_id`, s.tag); err != nil {
		return err
	}
	if s.workspaces, err = collect(ctx, s.pool, `SELECT id::text FROM workspaces WHERE name LIKE 'Seed ' || $1 || ' %' ORDER BY id`, s.tag); err != nil {
		return err
	}
	if len(s.users) != o.Users || len(s.apps) != o.Apps || len(s.workspaces) != o.Workspaces {
		return fmt.Errorf("made %d users, %d apps, %d workspaces; want %d, %d, %d",
			len(s.users), len(s.apps), len(s.workspaces), o.Users, o.Apps, o.Workspaces)
	}
	s.progress("created %d workspaces, %d users, %d apps", len(s.workspaces), len(s.users), len(s.apps))
	return nil
}

func collect(ctx context.Context, pool *pgxpool.Pool, sql string, args ...any) ([]string, error) {
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// grant is who a grant belongs to: user and app indexes.
func (s *seeder) grant(g int64) (user, app int) {
	h := splitmix(uint64(g) ^ s.salt)
	return int(uint64(g) % uint64(len(s.users))), int(h % uint64(len(s.apps)))
}

// requestID is the fosite request id of grant g: a UUID, as fosite makes.
func (s *seeder) requestID(g int64) string {
	a := splitmix(uint64(g) ^ s.salt ^ 0x5eed)
	b := splitmix(a)
	var raw [16]byte
	binary.BigEndian.PutUint64(raw[:8], a)
	binary.BigEndian.PutUint64(raw[8:], b)
	raw[6] = raw[6]&0x0f | 0x40
	raw[8] = raw[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], raw[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], raw[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], raw[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], raw[8:10])
	out[23] = '-'
	hex.Encode(out[24:], raw[10:])
	return string(out[:])
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// signature returns a row key like storage's: 64 hex digits (a SHA-256 in
// the store; random here, which is as unique and as spread out).
func signature(r *mrand.ChaCha8) string {
	var raw [32]byte
	_, _ = r.Read(raw[:])
	var out [64]byte
	hex.Encode(out[:], raw[:])
	return string(out[:])
}

// job is one COPY stream: rows [from, to) of one kind.
type job struct {
	kind     string
	from, to int64
}

// copyAll copies every kind of row, in chunks spread over the workers, then
// the consent grants and login sessions.
func (s *seeder) copyAll(ctx context.Context) (consents, logins int64, err error) {
	const chunk = 500_000
	var jobs []job
	for _, k := range []struct {
		kind string
		n    int64
	}{
		{kindExpiredAccess, s.mix.ExpiredAccess}, {kindLiveAccess, s.mix.LiveAccess},
		{kindRotatedRefresh, s.mix.RotatedRefresh}, {kindLiveRefresh, s.mix.LiveRefresh},
		{kindCode, s.mix.Codes}, {kindPKCE, s.mix.PKCE}, {kindOIDC, s.mix.OIDC},
	} {
		for from := int64(0); from < k.n; from += chunk {
			jobs = append(jobs, job{kind: k.kind, from: from, to: min(from+chunk, k.n)})
		}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ch := make(chan job)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		copied int64
		total  = s.mix.Total()
		next   = total / 10
	)
	for w := range s.opts.Workers {
		wg.Go(func() {
			for j := range ch {
				n, err := s.copyJob(ctx, j, uint64(w))
				if err != nil {
					cancel(fmt.Errorf("%s rows %d-%d: %w", j.kind, j.from, j.to, err))
					return
				}
				mu.Lock()
				copied += n
				if copied >= next {
					s.progress("copied %d of %d token rows", copied, total)
					for next <= copied {
						next += max(total/10, 1)
					}
				}
				mu.Unlock()
			}
		})
	}
	for _, j := range jobs {
		select {
		case ch <- j:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(ch)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return 0, 0, err
	}
	if consents, err = s.copyConsents(ctx); err != nil {
		return 0, 0, fmt.Errorf("consent grants: %w", err)
	}
	if logins, err = s.copyLogins(ctx); err != nil {
		return consents, 0, fmt.Errorf("login sessions: %w", err)
	}
	return consents, logins, nil
}

// withCopyConn runs fn on a pooled connection whose foreign-key triggers are
// off (session_replication_role = replica) for the length of fn.
func (s *seeder) withCopyConn(ctx context.Context, fn func(*pgx.Conn) error) error {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	// A copy outlasts the server's statement_timeout.
	if _, err := c.Exec(ctx, `SET session_replication_role = replica; SET statement_timeout = 0`); err != nil {
		return err
	}
	ferr := fn(c.Conn())
	if _, err := c.Exec(context.WithoutCancel(ctx), `RESET session_replication_role; RESET statement_timeout`); err != nil {
		// Never hand a connection without foreign-key checks back to the pool.
		_ = c.Conn().Close(context.WithoutCancel(ctx))
		return errors.Join(ferr, err)
	}
	return ferr
}

// copyJob copies the rows of j through one connection.
func (s *seeder) copyJob(ctx context.Context, j job, worker uint64) (int64, error) {
	t := s.tpl[j.kind]
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[0:], s.salt)
	binary.LittleEndian.PutUint64(seed[8:], uint64(j.from))
	binary.LittleEndian.PutUint64(seed[16:], worker)
	copy(seed[24:], j.kind)
	src := &rowSource{s: s, t: t, kind: j.kind, i: j.from - 1, to: j.to, rng: mrand.NewChaCha8(seed)}
	src.row = make([]any, len(t.columns))
	var n int64
	err := s.withCopyConn(ctx, func(c *pgx.Conn) error {
		var err error
		n, err = c.CopyFrom(ctx, pgx.Identifier{t.table}, t.columns, src)
		return err
	})
	return n, err
}

// copyConsents remembers the consent of every live grant's user to its app:
// one row per distinct (user, app). Rows are made as the copy asks for them.
func (s *seeder) copyConsents(ctx context.Context) (int64, error) {
	seen := make(map[uint64]struct{}, s.mix.LiveRefresh)
	scopes := []string{"openid", "profile", "projects:read", "tasks:read"}
	row := make([]any, 5)
	g := int64(0)
	next := func() ([]any, error) {
		for ; g < s.mix.LiveRefresh; g++ {
			u, a := s.grant(g)
			key := uint64(u)<<32 | uint64(a)
			if _, ok := seen[key]; ok {
				continue
			}
			seen[key] = struct{}{}
			granted := s.now.Add(-time.Duration(splitmix(key)%(180*24)) * time.Hour)
			row[0], row[1], row[2], row[3] = s.users[u], s.apps[a], scopes, granted
			used := granted.Add(time.Duration(splitmix(key^1)%(24*30)) * time.Hour)
			if used.After(s.now) {
				used = s.now
			}
			row[4] = used
			g++
			return row, nil
		}
		return nil, nil
	}
	var n int64
	err := s.withCopyConn(ctx, func(c *pgx.Conn) error {
		var err error
		n, err = c.CopyFrom(ctx, pgx.Identifier{"consent_grants"},
			[]string{"user_id", "client_id", "scopes", "granted_at", "last_used_at"}, pgx.CopyFromFunc(next))
		return err
	})
	return n, err
}

// copyLogins gives every user a live login session and an expired one.
func (s *seeder) copyLogins(ctx context.Context) (int64, error) {
	rows := make([][]any, 0, 2*len(s.users))
	for i, u := range s.users {
		for k := range 2 {
			id := make([]byte, 32)
			_, _ = rand.Read(id)
			created := s.now.Add(-time.Duration(i%(24*14)) * time.Hour)
			exp := created.Add(14 * 24 * time.Hour)
			if k == 1 {
				created = created.Add(-30 * 24 * time.Hour)
				exp = s.now.Add(-time.Hour)
			}
			rows = append(rows, []any{id, u, created, exp})
		}
	}
	var n int64
	err := s.withCopyConn(ctx, func(c *pgx.Conn) error {
		var err error
		n, err = c.CopyFrom(ctx, pgx.Identifier{"login_sessions"},
			[]string{"id_hash", "user_id", "created_at", "expires_at"}, pgx.CopyFromRows(rows))
		return err
	})
	return n, err
}

// index is an index (or a primary-key or unique constraint) dropped for the
// copy, and how to build it again.
type index struct {
	table, name string
	drop        string
	create      string
}

// dropIndexes drops every index of tables but those a foreign key refers to,
// and returns how to rebuild them. Constraint indexes are dropped and
// rebuilt as constraints.
func dropIndexes(ctx context.Context, pool *pgxpool.Pool, tables []string) ([]index, error) {
	rows, err := pool.Query(ctx,
		`SELECT c.relname, i.relname, pg_get_indexdef(x.indexrelid),
		        coalesce(con.conname, ''), coalesce(pg_get_constraintdef(con.oid), '')
		 FROM pg_index x
		 JOIN pg_class i ON i.oid = x.indexrelid
		 JOIN pg_class c ON c.oid = x.indrelid
		 JOIN pg_namespace ns ON ns.oid = c.relnamespace AND ns.nspname = current_schema()
		 LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid AND con.contype IN ('p', 'u')
		 WHERE c.relname = ANY($1)
		   -- an index a foreign key refers to stays: it cannot be dropped
		   AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = x.indexrelid)
		 ORDER BY c.relname, i.relname`, tables)
	if err != nil {
		return nil, err
	}
	var out []index
	for rows.Next() {
		var table, name, def, con, condef string
		if err := rows.Scan(&table, &name, &def, &con, &condef); err != nil {
			return nil, err
		}
		ix := index{table: table, name: name, drop: "DROP INDEX " + pgx.Identifier{name}.Sanitize(), create: def}
		if con != "" {
			ix.drop = "ALTER TABLE " + pgx.Identifier{table}.Sanitize() + " DROP CONSTRAINT " + pgx.Identifier{con}.Sanitize()
			ix.create = "ALTER TABLE " + pgx.Identifier{table}.Sanitize() + " ADD CONSTRAINT " + pgx.Identifier{con}.Sanitize() + " " + condef
		}
		out = append(out, ix)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, ix := range out {
		if _, err := pool.Exec(ctx, ix.drop); err != nil {
			return nil, errors.Join(fmt.Errorf("%s: %w", ix.drop, err), createIndexes(ctx, pool, out[:i], 1))
		}
	}
	return out, nil
}

// createIndexes builds idx on up to workers connections at once, the
// biggest tables first so that they do not finish last alone.
func createIndexes(ctx context.Context, pool *pgxpool.Pool, idx []index, workers int) error {
	ch := make(chan index)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for range max(workers, 1) {
		wg.Go(func() {
			c, err := pool.Acquire(ctx)
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				for range ch {
				}
				return
			}
			defer c.Release()
			// Index builds sort; more memory means fewer passes over disk.
			// They outlast the server's statement_timeout.
			_, _ = c.Exec(ctx, `SET maintenance_work_mem = '256MB'; SET statement_timeout = 0`)
			for ix := range ch {
				if _, err := c.Exec(ctx, ix.create); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s: %w", ix.create, err))
					mu.Unlock()
				}
			}
			_, _ = c.Exec(ctx, `RESET maintenance_work_mem; RESET statement_timeout`)
		})
	}
	order := make([]index, 0, len(idx))
	for _, t := range []string{"oauth_access_tokens", "oauth_refresh_tokens"} {
		for _, ix := range idx {
			if ix.table == t {
				order = append(order, ix)
			}
		}
	}
	for _, ix := range idx {
		if ix.table != "oauth_access_tokens" && ix.table != "oauth_refresh_tokens" {
			order = append(order, ix)
		}
	}
	for _, ix := range order {
		ch <- ix
	}
	close(ch)
	wg.Wait()
	return errors.Join(errs...)
}
