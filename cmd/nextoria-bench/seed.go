package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nextoria/authz/storage"
	"github.com/nextoria/authz/storage/seedrows"
)

// atSize is the second half of a --rows run: the same scenarios after
// seeding the database with Rows token rows, and what those rows take on
// disk.
type atSize struct {
	Rows int64 `json:"rows"`
	// Seed is how the rows were written.
	Seed seedStats `json:"seed"`
	// Results are the scenarios at size and Empty the same scenarios on an
	// empty database of their own, run in turn with them (Rounds rounds,
	// each figure the median of its rounds). Without Empty (an older
	// report), report.Results, measured before seeding, is compared.
	Results []result `json:"results"`
	Empty   []result `json:"empty,omitempty"`
	Rounds  int      `json:"rounds,omitempty"`
	// Vacuumed: PostgreSQL ran without autovacuum, so the bench vacuumed
	// the token tables after seeding and before each run of either side.
	Vacuumed bool        `json:"vacuumed,omitempty"`
	Tables   []tableSize `json:"tables"`
	// Grants is the number of live grants (one live refresh token each).
	Grants int64  `json:"live_grants"`
	Failed string `json:"failed,omitempty"`
}

type seedStats struct {
	Seconds       float64 `json:"seconds"`
	CopySeconds   float64 `json:"copy_seconds"`
	IndexSeconds  float64 `json:"index_seconds"`
	RowsPerSecond float64 `json:"rows_per_second"`
	Users         int     `json:"users"`
	Apps          int     `json:"apps"`
	Workspaces    int     `json:"workspaces"`
}

// tableSize is one token table on disk after seeding.
type tableSize struct {
	Table string `json:"table"`
	Rows  int64  `json:"rows"`
	// Heap is pg_relation_size, Indexes pg_indexes_size, Total
	// pg_total_relation_size (heap, indexes and TOAST), in bytes.
	Heap    int64 `json:"heap_bytes"`
	Indexes int64 `json:"index_bytes"`
	Total   int64 `json:"total_bytes"`
}

// flatScenarios are the hot paths that must stay flat at size: at least
// flatRate of their empty-database throughput, and a p99 within flatP99
// times the empty database's.
var flatScenarios = map[string]bool{"introspect-jwt": true, "introspect-apikey": true, "refresh": true, "code-exchange": true}

const (
	flatRate = 0.90
	flatP99  = 1.2
)

// seedBudget bounds seeding n rows (COPY, index builds, ANALYZE) on a slow
// machine.
func seedBudget(n int64) time.Duration {
	return 5*time.Minute + time.Duration(n/10_000)*time.Second
}

// runAtSize seeds the benchmark's database with n token rows (package
// seedrows) and runs the selected scenarios again. The server's periodic
// cleanup is held off from then on (storage.Store.HoldCleanup): it would
// otherwise start deleting the millions of expired rows during the
// measurement. The seeded rows belong to users and apps of their own; the
// scenarios' user and app are the benchmark's, with their few rows from the
// empty run.
//
// What is compared is measured in turn: a second server on an empty
// database of its own (the twin) runs each scenario right before or right
// after the seeded one, the order alternating, for --size-rounds rounds,
// and each side's figure is the median of its rounds. A machine whose speed
// drifts (other work, the host's) then moves both sides alike, where one
// empty run before the seeding and one seeded run after it compare two
// different moments.
func (b *bench) runAtSize(ctx context.Context, rep *report, selected []scenario) error {
	n := b.opts.rows
	as := &atSize{Rows: n, Rounds: b.opts.sizeRounds}
	rep.AtSize = as
	pool, err := storage.Connect(ctx, b.db.url, 4)
	if err != nil {
		return fmt.Errorf("--rows: %w", err)
	}
	defer pool.Close()
	store := storage.New(pool, storage.Options{Audience: []string{b.base}})
	release, err := store.HoldCleanup(ctx)
	if err != nil {
		return fmt.Errorf("--rows: %w", err)
	}
	defer release()
	b.progress("seeding %d token rows", n)
	sctx, cancel := context.WithTimeout(ctx, seedBudget(n))
	res, err := seedrows.Seed(sctx, store, seedrows.Options{Rows: n, Audience: b.base, Progress: b.progress})
	cancel()
	if err != nil {
		as.Failed = err.Error()
		return fmt.Errorf("--rows: %w", err)
	}
	as.Grants = res.Grants
	as.Seed = seedStats{
		Seconds: res.Total.Seconds(), CopySeconds: res.Copy.Seconds(), IndexSeconds: res.Indexes.Seconds(),
		RowsPerSecond: res.RowsPerSecond(), Users: res.Users, Apps: res.Apps, Workspaces: res.Workspaces,
	}
	for _, t := range seedrows.TokenTables {
		ts := tableSize{Table: t}
		var rows float64
		if err := pool.QueryRow(ctx,
			`SELECT c.reltuples, pg_relation_size(c.oid), pg_indexes_size(c.oid), pg_total_relation_size(c.oid)
			 FROM pg_class c WHERE c.oid = to_regclass($1)`, t).Scan(&rows, &ts.Heap, &ts.Indexes, &ts.Total); err != nil {
			return fmt.Errorf("--rows: size of %s: %w", t, err)
		}
		ts.Rows = int64(rows)
		as.Tables = append(as.Tables, ts)
	}
	// Seeding wrote gigabytes of WAL; without a checkpoint now, the
	// checkpoints it owes would run during the measurement.
	b.progress("checkpoint after seeding")
	if _, err := pool.Exec(ctx, `CHECKPOINT`); err != nil {
		return fmt.Errorf("--rows: checkpoint: %w", err)
	}
	// Without autovacuum, each side is vacuumed before each of its runs, as
	// autovacuum would between them: otherwise the dead row versions of the
	// earlier rounds (every rotation and redemption leaves some) would weigh
	// on the later ones, and more on the small twin, whose every run works
	// on the same few pages, than on the seeded tables.
	vacuumed := false
	if v := b.chainVacuum(ctx); v != nil {
		vacuumed = true
		b.progress("vacuum after seeding")
		err := v.vacuum(ctx)
		v.close()
		if err != nil {
			return fmt.Errorf("--rows: vacuum: %w", err)
		}
		as.Vacuumed = true
	}

	// The twin: the same server on an empty database, never kept.
	twinOpts := b.opts
	twinOpts.keep, twinOpts.pprofDir = false, ""
	twin := &bench{opts: twinOpts, stderr: b.stderr, transport: b.transport}
	twin.progressPrefix = "empty twin: "
	defer twin.close()
	if err := twin.startServer(ctx); err != nil {
		return fmt.Errorf("--rows: the empty twin: %w", err)
	}
	// At size, each scenario runs at the first --concurrency.
	for _, x := range []*bench{b, twin} {
		x.opts.concurrency = b.opts.concurrencies[0]
		if x.opts.passwordDefault {
			x.opts.passwordConcurrency = min(x.opts.concurrency, 2*runtime.NumCPU())
		}
	}
	for _, sc := range selected {
		var sized, empty []result
		for round := range as.Rounds {
			if ctx.Err() != nil {
				break
			}
			order := []*bench{twin, b}
			if round%2 == 1 {
				order = []*bench{b, twin}
			}
			for _, x := range order {
				if vacuumed {
					if err := x.vacuumTokenTables(ctx); err != nil {
						return fmt.Errorf("--rows: vacuum before %s: %w", sc.name, err)
					}
				}
				r := x.run(ctx, sc)
				if x == b {
					sized = append(sized, r)
				} else {
					empty = append(empty, r)
				}
				if x.server != nil && x.server.exited() {
					return fmt.Errorf("the server exited during %s at size:\n%s", sc.name, x.server.logTail(20))
				}
			}
			if len(sized) == len(empty) && sized[round].Skipped == "" && empty[round].RequestsPerSecond > 0 {
				b.progress("%s round %d: %s/s at %d rows, %s/s empty (%.0f%%); p99 %s against %s ms", sc.name, round+1,
					rate(sized[round].RequestsPerSecond), n, rate(empty[round].RequestsPerSecond),
					100*sized[round].RequestsPerSecond/empty[round].RequestsPerSecond, num(sized[round].P99MS), num(empty[round].P99MS))
			}
		}
		if len(sized) > 0 {
			as.Results = append(as.Results, medianResult(sized))
		}
		if len(empty) > 0 {
			as.Empty = append(as.Empty, medianResult(empty))
		}
	}
	return nil
}

// vacuumTokenTables vacuums the token tables of x's database, when
// PostgreSQL runs without autovacuum, then checkpoints: the pages the
// vacuum dirtied (on the seeded side, up to gigabytes of indexes it cleaned)
// are then written before the timed requests rather than during them.
func (x *bench) vacuumTokenTables(ctx context.Context) error {
	v := x.chainVacuum(ctx)
	if v == nil {
		return nil
	}
	defer v.close()
	if err := v.vacuum(ctx); err != nil {
		return err
	}
	_, err := v.conn.Exec(ctx, `CHECKPOINT`)
	return err
}

// medianResult is rs[0] with each measured figure replaced by its median
// over rs, and the errors summed: the figure of a scenario run several
// times.
func medianResult(rs []result) result {
	out := rs[0]
	med := func(f func(result) float64) float64 {
		v := make([]float64, 0, len(rs))
		for _, r := range rs {
			v = append(v, f(r))
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	medPtr := func(f func(result) *float64) *float64 {
		for _, r := range rs {
			if f(r) == nil {
				return nil
			}
		}
		return ptr(med(func(r result) float64 { return *f(r) }))
	}
	out.RequestsPerSecond = med(func(r result) float64 { return r.RequestsPerSecond })
	out.P50MS = med(func(r result) float64 { return r.P50MS })
	out.P90MS = med(func(r result) float64 { return r.P90MS })
	out.P99MS = med(func(r result) float64 { return r.P99MS })
	out.ServerCPUPerRequest = medPtr(func(r result) *float64 { return r.ServerCPUPerRequest })
	out.PostgresCPUPerRequest = medPtr(func(r result) *float64 { return r.PostgresCPUPerRequest })
	out.TotalCPUPerRequest = medPtr(func(r result) *float64 { return r.TotalCPUPerRequest })
	out.Requests, out.TimedErrors, out.WarmupErrors = 0, 0, 0
	for _, r := range rs {
		out.Requests += r.Requests
		out.TimedErrors += r.TimedErrors
		out.WarmupErrors += r.WarmupErrors
		if r.Skipped != "" {
			out.Skipped = r.Skipped
		}
	}
	return out
}

// sizeRows are the side-by-side cells: per scenario, empty against at size.
func (rep *report) sizeRows() [][]string {
	// The same scenario at the same worker count on the empty database.
	empty := map[string]result{}
	baseline := rep.Results
	if len(rep.AtSize.Empty) > 0 {
		baseline = rep.AtSize.Empty
	}
	for _, r := range baseline {
		empty[fmt.Sprintf("%s@%d", r.Scenario, r.Concurrency)] = r
	}
	var out [][]string
	for _, r := range rep.AtSize.Results {
		e, ok := empty[fmt.Sprintf("%s@%d", r.Scenario, r.Concurrency)]
		if !ok || r.Skipped != "" || e.Skipped != "" || r.Requests == 0 || e.Requests == 0 {
			out = append(out, []string{r.Scenario, "", "", "", "", "", "", "", "", "", ""})
			continue
		}
		rateRatio := r.RequestsPerSecond / e.RequestsPerSecond
		p99Ratio := r.P99MS / e.P99MS
		flat := ""
		if flatScenarios[r.Scenario] {
			flat = "yes"
			if rateRatio < flatRate || p99Ratio > flatP99 {
				flat = "NO"
			}
		}
		out = append(out, []string{
			r.Scenario, rate(e.RequestsPerSecond), rate(r.RequestsPerSecond), fmt.Sprintf("%.0f%%", 100*rateRatio),
			num(e.P99MS), num(r.P99MS), fmt.Sprintf("%.2f×", p99Ratio),
			cpuCell(e.TotalCPUPerRequest), cpuCell(r.TotalCPUPerRequest),
			strconv.FormatUint(r.TimedErrors+r.WarmupErrors, 10), flat,
		})
	}
	return out
}

var sizeHeader = []string{"scenario", "req/s empty", "req/s at size", "ratio", "p99 ms empty", "p99 ms at size", "p99 ratio",
	"server + PG CPU ms/req empty", "at size", "errors at size", "flat"}

// cpuCell is a CPU figure of the size table; empty when not measured.
func cpuCell(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'f', 3, 64)
}

var tableSizeHeader = []string{"table", "rows (estimate)", "heap MB", "indexes MB", "total MB", "total MB per million rows", "bytes per row"}

func mb(v int64) string { return strconv.FormatFloat(float64(v)/(1<<20), 'f', 1, 64) }

// tableSizeRows are the cells of the size table, with a total row.
func (as *atSize) tableSizeRows() [][]string {
	var out [][]string
	var sum tableSize
	row := func(t tableSize) []string {
		perM, perRow := "", ""
		if t.Rows > 0 {
			perM = strconv.FormatFloat(float64(t.Total)/(1<<20)/(float64(t.Rows)/1e6), 'f', 0, 64)
			perRow = strconv.FormatInt(t.Total/t.Rows, 10)
		}
		return []string{t.Table, strconv.FormatInt(t.Rows, 10), mb(t.Heap), mb(t.Indexes), mb(t.Total), perM, perRow}
	}
	for _, t := range as.Tables {
		out = append(out, row(t))
		sum.Rows += t.Rows
		sum.Heap += t.Heap
		sum.Indexes += t.Indexes
		sum.Total += t.Total
	}
	sum.Table = "all token tables"
	return append(out, row(sum))
}

// perGrant is the disk taken by the token tables per live grant.
func (as *atSize) perGrant() string {
	var total int64
	for _, t := range as.Tables {
		total += t.Total
	}
	if as.Grants == 0 {
		return ""
	}
	return fmt.Sprintf("%.1f KiB of token tables (heap, indexes and TOAST) per live grant (%d live grants)",
		float64(total)/1024/float64(as.Grants), as.Grants)
}

// sizeNotes explain the at-size tables.
func (as *atSize) sizeNotes() []string {
	s := as.Seed
	return []string{
		fmt.Sprintf("Seeded with storage/seedrows: %d token rows in %.0f s (%.0f rows/s: COPY %.0f s, index builds %.0f s), "+
			"for %d users, %d apps and %d workspaces of their own; the scenarios' user and app are the benchmark's.",
			as.Rows, s.Seconds, s.RowsPerSecond, s.CopySeconds, s.IndexSeconds, s.Users, s.Apps, s.Workspaces),
		"The mix: 60% expired access tokens, 25% rotated (inactive) refresh tokens, 5% live refresh tokens (one per live grant), " +
			"8% live access tokens, 2% codes, PKCE and OpenID Connect sessions; remembered consent for every live grant, two login sessions per user.",
		"The server's periodic cleanup was held off after seeding (it would delete the expired rows during the measurement).",
		"Indexes are rebuilt after the COPY, so they are packed tighter than indexes grown by random inserts (typically up to about a third smaller).",
		as.roundsNote(),
		fmt.Sprintf("flat: the hot paths must keep at least %.0f%% of their empty-database throughput and a p99 within %.1f×.", 100*flatRate, flatP99),
		as.perGrant(),
	}
}

// roundsNote says how the two sides were measured.
func (as *atSize) roundsNote() string {
	if len(as.Empty) == 0 {
		return "The empty side is the Results above, measured before the seeding: one run of each side, at two different moments."
	}
	note := fmt.Sprintf("Both sides measured in turn: a second server on an empty database of its own ran each scenario right before or "+
		"right after the seeded one, the order alternating, %d rounds; each figure is the median of its rounds (errors are summed).", as.Rounds)
	if as.Vacuumed {
		note += " Autovacuum is off on this PostgreSQL: the token tables of each side were vacuumed after seeding and before each run, outside the timed requests, as autovacuum would, and each run started right after a checkpoint."
	}
	return note
}

// writeSizeTable prints the at-size section of the terminal report.
func (rep *report) writeSizeTable(w io.Writer) {
	as := rep.AtSize
	if as == nil {
		return
	}
	fmt.Fprintf(w, "\nAt size: %d token rows\n", as.Rows)
	if as.Failed != "" {
		fmt.Fprintf(w, "FAILED: %s\n", as.Failed)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(sizeHeader, "\t")+"\t")
	for _, row := range rep.sizeRows() {
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(tableSizeHeader, "\t")+"\t")
	for _, row := range as.tableSizeRows() {
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, n := range as.sizeNotes() {
		fmt.Fprintln(w, n)
	}
	for _, r := range as.Results {
		if r.failed() {
			fmt.Fprintf(w, "%s at size: FAILED: %s %d errors\n", r.Scenario, r.Failed, r.TimedErrors+r.WarmupErrors)
		}
	}
}

// writeSizeMarkdown appends the "At size" section to the Markdown report.
func (rep *report) writeSizeMarkdown(b *bytes.Buffer) {
	as := rep.AtSize
	if as == nil {
		return
	}
	fmt.Fprintln(b)
	fmt.Fprintln(b, "## At size")
	fmt.Fprintln(b)
	if len(as.Empty) > 0 {
		fmt.Fprintf(b, "The same scenarios on a database seeded with %d token rows and on an empty one, in turn (notes below).\n", as.Rows)
	} else {
		fmt.Fprintf(b, "The same scenarios, first on the empty database (the Results above), then after seeding it with %d token rows.\n", as.Rows)
	}
	fmt.Fprintln(b)
	if as.Failed != "" {
		fmt.Fprintf(b, "**Seeding failed:** %s\n", as.Failed)
		return
	}
	markdownTable(b, sizeHeader, rep.sizeRows())
	fmt.Fprintln(b)
	fmt.Fprintln(b, "Token tables after seeding:")
	fmt.Fprintln(b)
	markdownTable(b, tableSizeHeader, as.tableSizeRows())
	fmt.Fprintln(b)
	for _, n := range as.sizeNotes() {
		fmt.Fprintf(b, "- %s\n", n)
	}
	for _, r := range as.Results {
		if r.failed() {
			fmt.Fprintf(b, "- %s at size: FAILED: %s %d errors\n", r.Scenario, r.Failed, r.TimedErrors+r.WarmupErrors)
		}
	}
	fmt.Fprintln(b)
	fmt.Fprintln(b, "The query plans of every hot-path statement at size are in [query-plans.md](query-plans.md).")
}

func markdownTable(b *bytes.Buffer, header []string, rows [][]string) {
	fmt.Fprintln(b, "| "+strings.Join(header, " | ")+" |")
	fmt.Fprintln(b, "|---"+strings.Repeat("|--:", len(header)-1)+"|")
	for _, row := range rows {
		row[0] = "`" + row[0] + "`"
		fmt.Fprintln(b, "| "+strings.Join(row, " | ")+" |")
	}
}
