package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMarkdownReport: the report has the Ceilings section, the new columns
// and the refresh-chain comparison, and lists each scenario once when it
// ran at several concurrencies.
func TestMarkdownReport(t *testing.T) {
	t.Parallel()
	rep := &report{
		Started: time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC), Command: "go run ./cmd/nextoria-bench", Mode: "self-managed",
		Duration: "10s", Warmup: "2s",
		Ceilings: []ceiling{
			{Kind: ceilingSelect, Concurrency: 16, Scale: 10, Seconds: 10, pgbenchResult: pgbenchResult{TPS: 16000, LatencyAverageMS: 1}, PostgresCPUPerTx: ptr(0.1)},
			{Kind: ceilingInsert, Concurrency: 16, Scale: 10, Seconds: 10, pgbenchResult: pgbenchResult{TPS: 5000, LatencyAverageMS: 3}},
		},
		Results: []result{
			{Scenario: "introspect-jwt", About: "introspection", Concurrency: 16, Requests: 80000, RequestsPerSecond: 8000,
				ServerCPUPerRequest: ptr(0.2), PostgresCPUPerRequest: ptr(0.1), TotalCPUPerRequest: ptr(0.3), RoundTripsPerRequest: ptr(1.0), LoadAverage: "1.50"},
			{Scenario: "introspect-jwt", About: "introspection", Concurrency: 64, Requests: 90000, RequestsPerSecond: 9000},
			{Scenario: "refresh-chain", About: "one grant", Concurrency: 1, Requests: 10000, RequestsPerSecond: 300,
				Chain: &chainResult{Rotations: 10000, Window: 100, FirstP50MS: 3, LastP50MS: 3.3, Ratio: 1.1, MaxRatio: 1.5, Enforced: true}},
		},
	}
	rep.setCeilingFractions()
	path := filepath.Join(t.TempDir(), "benchmarks.md")
	if err := rep.writeMarkdown(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	for _, want := range []string{
		"## Ceilings",
		"| select-only (pgbench -S) | 16 | 16000 | 1.00 | 0.100 |",
		"| single-row insert | 16 | 5000 | 3.00 |  |",
		"| of ceiling |", "| PG CPU ms/req |", "| total CPU ms/req |", "| DB round trips/req |",
		"| `introspect-jwt` | 16 | 8000 | 50% | 0.00 | 0.00 | 0.00 | 0 | 0.200 | 0.100 | 0.300 | 1.00 |  | 1.50 |",
		"| `introspect-jwt` | 64 | 9000 |  |",
		"refresh-chain: 10000 rotations of one grant: median 3.00 ms over rotations 1–100, 3.30 ms over 9901–10000: ratio 1.10 (the run fails above 1.5×)",
		"pgbench -i -s 10",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if n := strings.Count(md, "- `introspect-jwt`: introspection"); n != 1 {
		t.Errorf("introspect-jwt described %d times", n)
	}
}

// TestMarkdownKeepsSections: rewriting the report keeps what follows the
// marker (sections other tools write) and drops the rest of the old file.
func TestMarkdownKeepsSections(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "benchmarks.md")
	kept := keptMarker + "\n\n## Cluster\n\nfigures\n"
	if err := os.WriteFile(path, []byte("# Benchmarks\n\nold results\n\n"+kept), 0o644); err != nil {
		t.Fatal(err)
	}
	rep := &report{Started: time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC), Mode: "self-managed", Duration: "1s", Warmup: "0s"}
	for range 2 { // twice: the kept part must not double
		if err := rep.writeMarkdown(path); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	if strings.Contains(md, "old results") {
		t.Error("the old generated part survived")
	}
	if !strings.HasSuffix(md, kept) || strings.Count(md, keptMarker) != 1 {
		t.Errorf("kept sections not kept exactly once:\n%s", md)
	}
}
