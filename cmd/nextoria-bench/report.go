package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// result is one scenario's row.
type result struct {
	Scenario    string `json:"scenario"`
	About       string `json:"about"`
	Concurrency int    `json:"concurrency"`
	// Flows marks rows whose unit is a whole authorization flow.
	Flows             bool    `json:"flows"`
	Requests          uint64  `json:"requests"`
	DurationSeconds   float64 `json:"duration_s"`
	RequestsPerSecond float64 `json:"requests_per_second"`
	P50MS             float64 `json:"p50_ms"`
	P90MS             float64 `json:"p90_ms"`
	P99MS             float64 `json:"p99_ms"`
	MaxMS             float64 `json:"max_ms"`
	MeanMS            float64 `json:"mean_ms"`
	// TimedErrors happened while measuring, WarmupErrors during the warm-up;
	// Errors counts each distinct message of both.
	TimedErrors  uint64         `json:"errors"`
	WarmupErrors uint64         `json:"warmup_errors"`
	Errors       map[string]int `json:"error_messages,omitempty"`
	// ServerCPUPerRequest and PeakRSSMB are the authorization server's; they
	// are null when the benchmark did not start the server (--target).
	ServerCPUPerRequest *float64 `json:"server_cpu_ms_per_request"`
	PeakRSSMB           *float64 `json:"peak_rss_mb"`
	// Helper* are the example API's, for the middleware scenarios.
	HelperCPUPerRequest *float64 `json:"example_api_cpu_ms_per_request,omitempty"`
	HelperPeakRSSMB     *float64 `json:"example_api_peak_rss_mb,omitempty"`
	// PostgresCPUPerRequest is the CPU of every PostgreSQL server process
	// (other databases' work included) per request; TotalCPUPerRequest is it
	// plus the server's. Null when PostgreSQL's processes cannot be read.
	PostgresCPUPerRequest *float64 `json:"postgres_cpu_ms_per_request"`
	TotalCPUPerRequest    *float64 `json:"total_cpu_ms_per_request"`
	// RoundTripsPerRequest is the server's nextoria_db_round_trips_total
	// over the timed run divided by the requests; null without metrics.
	RoundTripsPerRequest *float64 `json:"db_round_trips_per_request"`
	// CeilingFraction is requests/s over the matching pgbench ceiling's tps
	// at the same concurrency (Ceiling names it); null without one.
	Ceiling         string   `json:"ceiling,omitempty"`
	CeilingFraction *float64 `json:"ceiling_fraction"`
	// LoadAverage is /proc/loadavg's 1-minute average as the scenario began.
	LoadAverage string       `json:"load_average_1m,omitempty"`
	Chain       *chainResult `json:"chain,omitempty"`
	Notes       []string     `json:"notes,omitempty"`
	Skipped     string       `json:"skipped,omitempty"`
	Failed      string       `json:"failed,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// fill copies a timed run's measurements into r.
func (r *result) fill(st *runStats) {
	r.Requests = st.ok
	r.DurationSeconds = st.elapsed.Seconds()
	if st.elapsed > 0 {
		r.RequestsPerSecond = float64(st.ok) / st.elapsed.Seconds()
	}
	r.P50MS, r.P90MS, r.P99MS = ms(st.hist.Quantile(0.5)), ms(st.hist.Quantile(0.9)), ms(st.hist.Quantile(0.99))
	r.MaxMS, r.MeanMS = ms(st.hist.Max()), ms(st.hist.Mean())
	r.TimedErrors = st.errors
	for k, v := range st.kinds {
		r.Errors[k] += v
	}
}

// failed reports whether the scenario makes the run fail: any error, in the
// warm-up or the timed run, or a scenario that could not run at all.
func (r *result) failed() bool {
	return r.Failed != "" || r.TimedErrors+r.WarmupErrors > 0
}

// machine describes where the benchmark ran.
type machine struct {
	CPUs       int    `json:"nproc"`
	CPUModel   string `json:"cpu_model"`
	MemoryMB   int    `json:"memory_mb"`
	GoVersion  string `json:"go_version"`
	PostgreSQL string `json:"postgresql"`
	// PostgreSQLSettings are the settings that move the database's share
	// of the figures (e.g. autovacuum off lets dead rows pile up under a
	// grant that rotates), "name=value" each.
	PostgreSQLSettings []string `json:"postgresql_settings,omitempty"`
	Kernel             string   `json:"kernel"`
	// LoadAverage is /proc/loadavg's 1, 5 and 15 minute averages before the
	// scenarios: on a shared machine it tells how busy the rest of it was.
	LoadAverage string `json:"load_average"`
}

func describeMachine(pgVersion string) machine {
	m := machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), PostgreSQL: pgVersion, CPUModel: "unknown", Kernel: "unknown"}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
				m.MemoryMB = kb / 1024
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.LoadAverage = strings.Join(f[:3], " ")
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	return m
}

// loadAverage is /proc/loadavg's 1-minute average, "" when unknown: on a
// shared machine it tells whether others were busy during a scenario (their
// PostgreSQL work counts in the PostgreSQL CPU column).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return ""
}

// report is everything one run found; --json writes it as is.
type report struct {
	Started  time.Time `json:"started_at"`
	Command  string    `json:"command"`
	Mode     string    `json:"mode"` // "self-managed" or "target"
	Target   string    `json:"target"`
	Duration string    `json:"duration"`
	Warmup   string    `json:"warmup"`
	Short    bool      `json:"short"`
	Machine  machine   `json:"machine"`
	Notes    []string  `json:"notes,omitempty"`
	// Ceilings are pgbench's select-only and single-row insert rates on
	// the same PostgreSQL at each concurrency, measured before the scenarios.
	Ceilings        []ceiling `json:"ceilings"`
	CeilingsSkipped string    `json:"ceilings_skipped,omitempty"`
	Results         []result  `json:"results"`
	ServerHWMMB     *float64  `json:"server_vmhwm_mb"`
	Failed          bool      `json:"failed"`
	// AtSize is the rerun after seeding (--rows); nil without it.
	AtSize *atSize `json:"at_size,omitempty"`
}

// flowsNote explains the unit of the flow scenarios.
const flowsNote = "(flows) rows count whole authorization flows: requests/s is flows/s and latency is per flow."

// rssCaveat explains why peak RSS can exceed what a scenario itself needs.
const rssCaveat = "Peak RSS is resident memory, which includes heap the Go runtime has not yet returned to the OS after " +
	"earlier work (notably the 19 MiB argon2id buffer of each sign-in, also those made while preparing a scenario)."

var tableHeader = []string{"scenario", "concurrency", "requests/s", "of ceiling", "p50 ms", "p90 ms", "p99 ms", "errors",
	"server CPU ms/req", "PG CPU ms/req", "total CPU ms/req", "DB round trips/req", "peak RSS MB", "load 1m"}

// rows renders the table's cells.
func (rep *report) rows() [][]string {
	var out [][]string
	for _, r := range rep.Results {
		name := r.Scenario
		if r.Flows {
			name += " (flows)"
		}
		row := []string{name, strconv.Itoa(r.Concurrency)}
		switch {
		case r.Skipped != "":
			row = append(row, "skipped")
		case r.Requests == 0 && r.failed():
			row = append(row, "failed", "", "", "", "", strconv.FormatUint(r.TimedErrors+r.WarmupErrors, 10))
		default:
			row = append(row, rate(r.RequestsPerSecond), percent(r.CeilingFraction), num(r.P50MS), num(r.P90MS), num(r.P99MS),
				strconv.FormatUint(r.TimedErrors+r.WarmupErrors, 10), optional(r.ServerCPUPerRequest, 3),
				optional(r.PostgresCPUPerRequest, 3), optional(r.TotalCPUPerRequest, 3), optional(r.RoundTripsPerRequest, 2),
				optional(r.PeakRSSMB, 0), r.LoadAverage)
		}
		for len(row) < len(tableHeader) {
			row = append(row, "")
		}
		out = append(out, row)
	}
	return out
}

func percent(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v*100, 'f', 0, 64) + "%"
}

// setCeilingFractions compares each result with the ceiling of its kind at
// its concurrency.
func (rep *report) setCeilingFractions() {
	for i := range rep.Results {
		r := &rep.Results[i]
		kind := ceilingOf(r.Scenario)
		if kind == "" || r.Requests == 0 {
			continue
		}
		if c := findCeiling(rep.Ceilings, kind, r.Concurrency); c != nil && c.TPS > 0 {
			r.Ceiling = kind
			r.CeilingFraction = ptr(r.RequestsPerSecond / c.TPS)
		}
	}
}

var ceilingHeader = []string{"ceiling", "concurrency", "tps", "latency avg ms", "PG CPU ms/tx"}

// ceilingRows renders the ceilings' table.
func (rep *report) ceilingRows() [][]string {
	var out [][]string
	for _, c := range rep.Ceilings {
		name := "select-only (pgbench -S)"
		if c.Kind == ceilingInsert {
			name = "single-row insert"
		}
		out = append(out, []string{name, strconv.Itoa(c.Concurrency), rate(c.TPS), num(c.LatencyAverageMS), optional(c.PostgresCPUPerTx, 3)})
	}
	return out
}

// ceilingsAbout explains the ceilings and the fraction column.
func (rep *report) ceilingsAbout() string {
	scale, secs, seen := ceilingScale, "", map[int]bool{}
	for _, c := range rep.Ceilings {
		scale = c.Scale
		if !seen[c.Concurrency] {
			seen[c.Concurrency] = true
			secs += fmt.Sprintf(", %d s at %d", c.Seconds, c.Concurrency)
		}
	}
	secs = strings.TrimPrefix(secs, ", ")
	return fmt.Sprintf("pgbench on the same PostgreSQL, in a scratch database, at each concurrency (-M prepared -j 2; %s clients): "+
		"select-only (-S) after pgbench -i -s %d, and a single-row INSERT into a small table with a primary key per transaction. "+
		"\"of ceiling\" divides a scenario's requests/s by the matching ceiling at the same concurrency: introspection and "+
		"middleware-cache-off by select-only; refresh, code exchange and the flows by the insert (no figure where pgbench did not "+
		"run at the scenario's concurrency).", secs, scale)
}

// cpuNote explains the CPU columns.
const cpuNote = "CPU columns are user+system time divided by the requests served: the server's process, and every PostgreSQL " +
	"server process (the postmaster and its children, from /proc), which includes any other database's work on the same " +
	"PostgreSQL: compare the load column, the 1-minute load average as the scenario began, with the machine's CPUs. Their " +
	"sum does not depend on the load generator sharing the cores. DB round trips/req is the server's " + roundTripsMetric +
	" over the timed run divided by the requests (background work, such as the cleanup each minute, adds a little)."

// chainNotes describe the refresh-chain results.
func (rep *report) chainNotes() []string {
	var out []string
	for _, r := range rep.Results {
		c := r.Chain
		if c == nil {
			continue
		}
		enforced := fmt.Sprintf("the run fails above %.1f×", c.MaxRatio)
		if !c.Enforced {
			enforced = "not enforced in a short run"
		}
		line := fmt.Sprintf("%s: %d rotations of one grant: median %.2f ms over rotations 1–%d, %.2f ms over %d–%d: ratio %.2f (%s)",
			r.Scenario, c.Rotations, c.FirstP50MS, c.Window, c.LastP50MS, c.Rotations-c.Window+1, c.Rotations, c.Ratio, enforced)
		if c.FirstCPUMS != nil && c.LastCPUMS != nil {
			line += fmt.Sprintf("; server CPU per rotation %.3f ms first, %.3f ms last", *c.FirstCPUMS, *c.LastCPUMS)
		}
		if c.FirstPGCPU != nil && c.LastPGCPU != nil {
			line += fmt.Sprintf("; PostgreSQL CPU per rotation %.3f ms first, %.3f ms last", *c.FirstPGCPU, *c.LastPGCPU)
		}
		if slices.Contains(rep.Machine.PostgreSQLSettings, "autovacuum=off") && c.VacuumEvery == 0 {
			line += "; PostgreSQL ran with autovacuum=off, so the rows each rotation leaves dead were never vacuumed during the chain"
		}
		out = append(out, line)
	}
	return out
}

func rate(v float64) string {
	if v < 100 {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

func num(v float64) string {
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func optional(v *float64, prec int) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'f', prec, 64)
}

// footnotes are the remarks printed under the table: skips, failures,
// errors and per-scenario notes.
func (rep *report) footnotes() []string {
	var out []string
	for _, r := range rep.Results {
		switch {
		case r.Skipped != "":
			out = append(out, fmt.Sprintf("%s: skipped: %s", r.Scenario, r.Skipped))
			continue
		case r.Failed != "":
			out = append(out, fmt.Sprintf("%s: FAILED: %s", r.Scenario, r.Failed))
		}
		if r.TimedErrors+r.WarmupErrors > 0 {
			out = append(out, fmt.Sprintf("%s: FAILED with %d errors (%d during warm-up)", r.Scenario, r.TimedErrors+r.WarmupErrors, r.WarmupErrors))
			for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
				out = append(out, fmt.Sprintf("    %d × %s", r.Errors[k], k))
			}
		}
		if r.HelperCPUPerRequest != nil {
			out = append(out, fmt.Sprintf("%s: example API CPU %.3f ms/request, peak RSS %.0f MB", r.Scenario, *r.HelperCPUPerRequest, *r.HelperPeakRSSMB))
		}
		for _, n := range r.Notes {
			out = append(out, fmt.Sprintf("%s: %s", r.Scenario, n))
		}
	}
	return append(out, rep.chainNotes()...)
}

// writeTable prints the ceilings, the table and its footnotes.
func (rep *report) writeTable(w io.Writer) {
	if len(rep.Ceilings) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, strings.Join(ceilingHeader, "\t")+"\t")
		for _, row := range rep.ceilingRows() {
			fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
		}
		tw.Flush()
		fmt.Fprintln(w, rep.ceilingsAbout())
		fmt.Fprintln(w)
	}
	if rep.CeilingsSkipped != "" {
		fmt.Fprintf(w, "ceilings not measured: %s\n\n", rep.CeilingsSkipped)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(tableHeader, "\t")+"\t")
	for _, row := range rep.rows() {
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()
	fmt.Fprintln(w)
	if slices.ContainsFunc(rep.Results, func(r result) bool { return r.Flows }) {
		fmt.Fprintln(w, flowsNote)
	}
	if rep.Mode != "target" {
		fmt.Fprintln(w, rssCaveat)
	}
	fmt.Fprintln(w, cpuNote)
	if len(rep.Machine.PostgreSQLSettings) > 0 {
		fmt.Fprintf(w, "PostgreSQL settings: %s\n", strings.Join(rep.Machine.PostgreSQLSettings, ", "))
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(w, n)
	}
	for _, n := range rep.footnotes() {
		fmt.Fprintln(w, n)
	}
	if rep.ServerHWMMB != nil {
		fmt.Fprintf(w, "server peak RSS over the whole run (VmHWM): %.0f MB\n", *rep.ServerHWMMB)
	}
	rep.writeSizeTable(w)
}

// writeJSON writes the report to path.
func (rep *report) writeJSON(path string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// writeMarkdown writes the report as a Markdown page to path.
func (rep *report) writeMarkdown(path string) error {
	var b bytes.Buffer
	fmt.Fprintln(&b, "# Benchmarks")
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "<!-- Generated by cmd/nextoria-bench (make bench-report); do not edit by hand. -->")
	fmt.Fprintln(&b)
	if rep.Short {
		fmt.Fprintf(&b, "> **This is a short run** (%s per scenario after a %s warm-up): it shows the shape of the\n", rep.Duration, rep.Warmup)
		fmt.Fprintln(&b, "> numbers, not their final values. Regenerate the full report with `make bench-report`.")
		fmt.Fprintln(&b)
	}
	fmt.Fprintf(&b, "Load benchmark of the authorization server, run on %s (%s).\n", rep.Started.UTC().Format("2006-01-02 15:04 MST"), rep.Mode)
	fmt.Fprintln(&b, "Each scenario runs for a fixed time at a fixed number of concurrent workers after a warm-up;")
	fmt.Fprintln(&b, "latency percentiles are per request (per flow for the `flows` rows), measured by the client over")
	fmt.Fprintln(&b, "loopback; server CPU is the server process's user+system time during the timed run divided by")
	fmt.Fprintln(&b, "the requests it served; PostgreSQL CPU is the same for every PostgreSQL server process; DB round")
	fmt.Fprintln(&b, "trips are counted by the server (`"+roundTripsMetric+"`); \"of ceiling\" compares requests/s with")
	fmt.Fprintln(&b, "what pgbench reaches on the same PostgreSQL (see Ceilings); peak RSS is the highest VmRSS sampled")
	fmt.Fprintln(&b, "every 100 ms.")
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "## Machine")
	fmt.Fprintln(&b)
	m := rep.Machine
	fmt.Fprintf(&b, "- CPUs: %d × %s\n", m.CPUs, m.CPUModel)
	fmt.Fprintf(&b, "- Memory: %d MB\n", m.MemoryMB)
	fmt.Fprintf(&b, "- Kernel: %s\n", m.Kernel)
	fmt.Fprintf(&b, "- Go: %s\n", m.GoVersion)
	fmt.Fprintf(&b, "- PostgreSQL: %s\n", m.PostgreSQL)
	if len(m.PostgreSQLSettings) > 0 {
		fmt.Fprintf(&b, "- PostgreSQL settings: %s\n", strings.Join(m.PostgreSQLSettings, ", "))
	}
	if m.LoadAverage != "" {
		fmt.Fprintf(&b, "- Load average before the scenarios ran (1, 5, 15 min): %s\n", m.LoadAverage)
	}
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "## Command")
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "```sh\n%s\n```\n\n", rep.Command)
	fmt.Fprintln(&b, "## Ceilings")
	fmt.Fprintln(&b)
	if len(rep.Ceilings) > 0 {
		fmt.Fprintln(&b, rep.ceilingsAbout())
		fmt.Fprintln(&b)
		fmt.Fprintln(&b, "| "+strings.Join(ceilingHeader, " | ")+" |")
		fmt.Fprintln(&b, "|---"+strings.Repeat("|--:", len(ceilingHeader)-1)+"|")
		for _, row := range rep.ceilingRows() {
			fmt.Fprintln(&b, "| "+strings.Join(row, " | ")+" |")
		}
	} else {
		fmt.Fprintf(&b, "Not measured: %s\n", rep.CeilingsSkipped)
	}
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "## Results")
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "| "+strings.Join(tableHeader, " | ")+" |")
	fmt.Fprintln(&b, "|---"+strings.Repeat("|--:", len(tableHeader)-1)+"|")
	for _, row := range rep.rows() {
		row[0] = "`" + strings.TrimSuffix(row[0], " (flows)") + "`" + map[bool]string{true: " (flows)"}[strings.HasSuffix(row[0], " (flows)")]
		fmt.Fprintln(&b, "| "+strings.Join(row, " | ")+" |")
	}
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "## Scenarios")
	fmt.Fprintln(&b)
	described := map[string]bool{}
	for _, r := range rep.Results {
		if !described[r.Scenario] {
			described[r.Scenario] = true
			fmt.Fprintf(&b, "- `%s`: %s\n", r.Scenario, r.About)
		}
	}
	var notes []string
	if rep.Mode != "target" {
		notes = append(notes, rssCaveat)
	}
	notes = append(notes, cpuNote)
	notes = append(notes, rep.Notes...)
	notes = append(notes, rep.footnotes()...)
	if rep.ServerHWMMB != nil {
		notes = append(notes, fmt.Sprintf("server peak RSS over the whole run (VmHWM): %.0f MB", *rep.ServerHWMMB))
	}
	if len(notes) > 0 {
		fmt.Fprintln(&b)
		fmt.Fprintln(&b, "## Notes")
		fmt.Fprintln(&b)
		for _, n := range notes {
			if strings.HasPrefix(n, "    ") {
				fmt.Fprintf(&b, "  - %s\n", strings.TrimSpace(n))
				continue
			}
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	rep.writeSizeMarkdown(&b)
	if old, err := os.ReadFile(path); err == nil {
		b.WriteString(keptSections(old))
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// keptMarker starts the part of the report that other tools write (the
// cluster test's figures, measurements taken by hand); writeMarkdown keeps
// it, from the marker to the end, when it rewrites the file.
const keptMarker = "<!-- Sections below are not generated by nextoria-bench; it keeps them when it rewrites this file. -->"

// keptSections returns the kept part of an earlier report, "" when it has none.
func keptSections(old []byte) string {
	i := bytes.Index(old, []byte(keptMarker))
	if i < 0 {
		return ""
	}
	return "\n" + string(old[i:])
}
