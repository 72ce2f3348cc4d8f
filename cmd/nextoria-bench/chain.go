package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// Rotations of refresh-chain, and the window compared at each end.
const (
	chainRotations      = 10000
	chainRotationsShort = 500
	chainWindow         = 100
	// chainMaxRatio is the most the last window's median may exceed the
	// first's in a full run: a rotation must not cost more as the grant's
	// history grows.
	chainMaxRatio = 1.5
	// chainVacuumEvery is how often, in rotations, refresh-chain vacuums
	// the token tables itself when PostgreSQL runs without autovacuum.
	chainVacuumEvery = 1000
)

// chainVacuumer stands in for autovacuum on a PostgreSQL that runs without
// it: every rotation leaves dead row versions behind, which autovacuum
// removes in any ordinary deployment; without it, the chain's growth would
// measure the missing vacuum rather than the server.
type chainVacuumer struct{ conn *pgx.Conn }

// chainVacuum returns a vacuumer of the bench database, or nil when
// autovacuum is on (or the database cannot be asked).
func (b *bench) chainVacuum(ctx context.Context) *chainVacuumer {
	if b.db == nil {
		return nil
	}
	conn, err := pgx.Connect(ctx, b.db.url)
	if err != nil {
		return nil
	}
	var on bool
	if err := conn.QueryRow(ctx, `SELECT current_setting('autovacuum')::bool`).Scan(&on); err != nil || on {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil
	}
	return &chainVacuumer{conn: conn}
}

func (v *chainVacuumer) vacuum(ctx context.Context) error {
	_, err := v.conn.Exec(ctx, `VACUUM oauth_refresh_tokens, oauth_access_tokens, oauth_codes, oauth_pkce, oauth_oidc_sessions`)
	return err
}

func (v *chainVacuumer) close() { _ = v.conn.Close(context.Background()) }

// chainResult is what refresh-chain found.
type chainResult struct {
	Rotations  int      `json:"rotations"`
	Window     int      `json:"window"`
	FirstP50MS float64  `json:"first_window_p50_ms"`
	LastP50MS  float64  `json:"last_window_p50_ms"`
	Ratio      float64  `json:"ratio"`
	MaxRatio   float64  `json:"max_ratio"`
	Enforced   bool     `json:"enforced"`
	FirstCPUMS *float64 `json:"first_window_server_cpu_ms_per_rotation,omitempty"`
	LastCPUMS  *float64 `json:"last_window_server_cpu_ms_per_rotation,omitempty"`
	FirstPGCPU *float64 `json:"first_window_postgres_cpu_ms_per_rotation,omitempty"`
	LastPGCPU  *float64 `json:"last_window_postgres_cpu_ms_per_rotation,omitempty"`
	// VacuumEvery is how often, in rotations, the bench vacuumed the token
	// tables itself (PostgreSQL without autovacuum); 0 when it did not.
	VacuumEvery int `json:"vacuum_every,omitempty"`
}

// median returns the median of d (which it sorts).
func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	if len(d)%2 == 1 {
		return d[len(d)/2]
	}
	return (d[len(d)/2-1] + d[len(d)/2]) / 2
}

// chainWindows compares the median latency of the first and the last
// window of lat.
func chainWindows(lat []time.Duration, window int) (first, last time.Duration, ratio float64) {
	window = min(window, len(lat))
	if window == 0 {
		return 0, 0, 0
	}
	first = median(slices.Clone(lat[:window]))
	last = median(slices.Clone(lat[len(lat)-window:]))
	if first > 0 {
		ratio = float64(last) / float64(first)
	}
	return first, last, ratio
}

// cpuSample is the server's and PostgreSQL's CPU at one instant.
type cpuSample struct {
	server, pg     time.Duration
	serverOK, pgOK bool
}

func (b *bench) sampleCPU(ctx context.Context) cpuSample {
	var s cpuSample
	if b.server != nil {
		if t, err := cpuTime(b.server.pid()); err == nil {
			s.server, s.serverOK = t, true
		}
	}
	if b.server != nil {
		m := startPostgresMeter(ctx, b.opts.adminURL)
		if m.ok {
			s.pg, s.pgOK = ticksDuration(m.ticks0), true
		}
	}
	return s
}

// perRotation divides the CPU used between a and z by n.
func perRotation(a, z cpuSample, n int) (server, pg *float64) {
	if a.serverOK && z.serverOK {
		server = ptr(msPer(z.server-a.server, uint64(n)))
	}
	if a.pgOK && z.pgOK {
		pg = ptr(msPer(z.pg-a.pg, uint64(n)))
	}
	return server, pg
}

// runChain rotates one grant's refresh token sequentially and compares the
// first rotations with the last. It fills res like a timed run.
func runChain(ctx context.Context, b *bench, res *result) {
	n := chainRotations
	if b.opts.short {
		n = chainRotationsShort
	}
	brs, err := b.signedInBrowsers(ctx, 1)
	if err != nil {
		res.Failed = "setup: " + err.Error()
		return
	}
	t, err := brs[0].tokensFor(ctx)
	if err != nil {
		res.Failed = "setup: " + err.Error()
		return
	}
	b.progress("%s: rotating one grant %d times", res.Scenario, n)
	vacuum := b.chainVacuum(ctx)
	if vacuum != nil {
		defer vacuum.close()
		res.Notes = append(res.Notes, fmt.Sprintf(
			"autovacuum is off on this PostgreSQL: the token tables were vacuumed every %d rotations, outside the timed requests, as autovacuum would", chainVacuumEvery))
	}
	lat := make([]time.Duration, 0, n)
	st := &runStats{kinds: map[string]int{}}
	rt := b.startRoundTrips(ctx)
	prof := b.startProfile(ctx, res.Scenario+"-c1")
	serverMeter := startMeter(b.server)
	pgMeter := b.startPostgres(ctx)
	var first0, first1, last0 cpuSample
	token := t.RefreshToken
	start := time.Now()
	for i := range n {
		if ctx.Err() != nil {
			res.Failed = "interrupted"
			break
		}
		switch i {
		case 0:
			first0 = b.sampleCPU(ctx)
		case chainWindow:
			first1 = b.sampleCPU(ctx)
		case n - chainWindow:
			last0 = b.sampleCPU(ctx)
		}
		if vacuum != nil && i > 0 && i%chainVacuumEvery == 0 {
			if err := vacuum.vacuum(ctx); err != nil {
				res.Failed = "vacuum: " + err.Error()
				break
			}
		}
		t0 := time.Now()
		next, err := b.app.refresh(ctx, token)
		d := time.Since(t0)
		if err != nil {
			// The chain is broken: every later rotation would fail too.
			st.errors++
			st.kinds[err.Error()]++
			res.Failed = fmt.Sprintf("rotation %d of %d: %v", i+1, n, err)
			break
		}
		token = next.RefreshToken
		if (i+1)%(n/5) == 0 && i+1 < n {
			b.progress("  %d rotations, last %s", i+1, d.Round(10*time.Microsecond))
		}
		lat = append(lat, d)
		st.hist.Record(d)
		st.ok++
	}
	last1 := b.sampleCPU(ctx)
	st.elapsed = time.Since(start)
	res.fill(st)
	b.finishMeters(ctx, res, st.ok, serverMeter, nil, pgMeter, rt)
	if err := prof.finish(ctx); err != nil {
		res.Notes = append(res.Notes, "profiles not saved: "+err.Error())
	}
	if len(lat) < n {
		return
	}
	first, last, ratio := chainWindows(lat, chainWindow)
	c := &chainResult{Rotations: n, Window: chainWindow, FirstP50MS: ms(first), LastP50MS: ms(last), Ratio: ratio,
		MaxRatio: chainMaxRatio, Enforced: !b.opts.short}
	if vacuum != nil {
		c.VacuumEvery = chainVacuumEvery
	}
	c.FirstCPUMS, c.FirstPGCPU = perRotation(first0, first1, chainWindow)
	c.LastCPUMS, c.LastPGCPU = perRotation(last0, last1, chainWindow)
	res.Chain = c
	if c.Enforced && ratio > chainMaxRatio {
		res.Failed = fmt.Sprintf("rotations %d–%d took %.2f× as long as rotations 1–%d (median %.2f ms vs %.2f ms; at most %.1f×)",
			n-chainWindow+1, n, ratio, chainWindow, c.LastP50MS, c.FirstP50MS, chainMaxRatio)
	}
}
