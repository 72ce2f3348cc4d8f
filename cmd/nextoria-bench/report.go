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
	Notes               []string `json:"notes,omitempty"`
	Skipped             string   `json:"skipped,omitempty"`
	Failed              string   `json:"failed,omitempty"`
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
	Kernel     string `json:"kernel"`
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

// report is everything one run found; --json writes it as is.
type report struct {
	Started     time.Time `json:"started_at"`
	Command     string    `json:"command"`
	Mode        string    `json:"mode"` // "self-managed" or "target"
	Target      string    `json:"target"`
	Duration    string    `json:"duration"`
	Warmup      string    `json:"warmup"`
	Short       bool      `json:"short"`
	Machine     machine   `json:"machine"`
	Notes       []string  `json:"notes,omitempty"`
	Results     []result  `json:"results"`
	ServerHWMMB *float64  `json:"server_vmhwm_mb"`
	Failed      bool      `json:"failed"`
	// AtSize is the rerun after seeding (--rows); nil without it.
	AtSize *atSize `json:"at_size,omitempty"`
}

// flowsNote explains the unit of the flow scenarios.
const flowsNote = "(flows) rows count whole authorization flows: requests/s is flows/s and latency is per flow."

// rssCaveat explains why peak RSS can exceed what a scenario itself needs.
const rssCaveat = "Peak RSS is resident memory, which includes heap the Go runtime has not yet returned to the OS after " +
	"earlier work (notably the 19 MiB argon2id buffer of each sign-in, also those made while preparing a scenario)."

var tableHeader = []string{"scenario", "concurrency", "requests/s", "p50 ms", "p90 ms", "p99 ms", "errors", "server CPU ms/req", "peak RSS MB"}

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
			row = append(row, "skipped", "", "", "", "", "", "")
		case r.Requests == 0 && r.failed():
			row = append(row, "failed", "", "", "", strconv.FormatUint(r.TimedErrors+r.WarmupErrors, 10), "", "")
		default:
			row = append(row, rate(r.RequestsPerSecond), num(r.P50MS), num(r.P90MS), num(r.P99MS),
				strconv.FormatUint(r.TimedErrors+r.WarmupErrors, 10), optional(r.ServerCPUPerRequest, 3), optional(r.PeakRSSMB, 0))
		}
		out = append(out, row)
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
	return out
}

// writeTable prints the table and its footnotes.
func (rep *report) writeTable(w io.Writer) {
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
	fmt.Fprintln(&b, "the requests it served; peak RSS is the highest VmRSS sampled every 100 ms.")
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "## Machine")
	fmt.Fprintln(&b)
	m := rep.Machine
	fmt.Fprintf(&b, "- CPUs: %d × %s\n", m.CPUs, m.CPUModel)
	fmt.Fprintf(&b, "- Memory: %d MB\n", m.MemoryMB)
	fmt.Fprintf(&b, "- Kernel: %s\n", m.Kernel)
	fmt.Fprintf(&b, "- Go: %s\n", m.GoVersion)
	fmt.Fprintf(&b, "- PostgreSQL: %s\n", m.PostgreSQL)
	if m.LoadAverage != "" {
		fmt.Fprintf(&b, "- Load average before the scenarios ran (1, 5, 15 min): %s\n", m.LoadAverage)
	}
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "## Command")
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "```sh\n%s\n```\n\n", rep.Command)
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
	for _, r := range rep.Results {
		fmt.Fprintf(&b, "- `%s`: %s\n", r.Scenario, r.About)
	}
	var notes []string
	if rep.Mode != "target" {
		notes = append(notes, rssCaveat)
	}
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
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}
