package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestSizeRows checks the side-by-side cells and the flat verdict of the
// hot paths: at least 90% of the throughput and a p99 within 1.2×.
func TestSizeRows(t *testing.T) {
	rep := &report{
		Results: []result{
			{Scenario: "refresh", Requests: 100, RequestsPerSecond: 1000, P99MS: 10},
			{Scenario: "code-exchange", Requests: 100, RequestsPerSecond: 1000, P99MS: 10},
			{Scenario: "flow-password", Requests: 100, RequestsPerSecond: 10, P99MS: 100},
			{Scenario: "introspect-jwt", Skipped: "no"},
		},
		AtSize: &atSize{
			Rows: 1_000_000, Grants: 50_000,
			Results: []result{
				{Scenario: "refresh", Requests: 100, RequestsPerSecond: 950, P99MS: 11},
				{Scenario: "code-exchange", Requests: 100, RequestsPerSecond: 850, P99MS: 10},
				{Scenario: "flow-password", Requests: 100, RequestsPerSecond: 5, P99MS: 300},
				{Scenario: "introspect-jwt", Skipped: "no"},
			},
			Tables: []tableSize{
				{Table: "oauth_access_tokens", Rows: 680_000, Heap: 700 << 20, Indexes: 300 << 20, Total: 1000 << 20},
				{Table: "oauth_refresh_tokens", Rows: 320_000, Heap: 300 << 20, Indexes: 100 << 20, Total: 400 << 20},
			},
		},
	}
	got := rep.sizeRows()
	want := [][]string{
		{"refresh", "1000", "950", "95%", "10.0", "11.0", "1.10×", "", "", "0", "yes"},
		{"code-exchange", "1000", "850", "85%", "10.0", "10.0", "1.00×", "", "", "0", "NO"},
		{"flow-password", "10.0", "5.0", "50%", "100.0", "300.0", "3.00×", "", "", "0", ""},
		{"introspect-jwt", "", "", "", "", "", "", "", "", "", ""},
	}
	for i := range want {
		if strings.Join(got[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("row %d = %q, want %q", i, got[i], want[i])
		}
	}
	sizes := rep.AtSize.tableSizeRows()
	if last := sizes[len(sizes)-1]; strings.Join(last, "|") != "all token tables|1000000|1000.0|400.0|1400.0|1400|1468" {
		t.Errorf("total row = %q", last)
	}
	if g := rep.AtSize.perGrant(); !strings.HasPrefix(g, "28.7 KiB") {
		t.Errorf("per grant = %q", g)
	}
	var md bytes.Buffer
	rep.writeSizeMarkdown(&md)
	if !strings.Contains(md.String(), "## At size") || !strings.Contains(md.String(), "| `code-exchange` | 1000 | 850 | 85% |") {
		t.Errorf("markdown:\n%s", md.String())
	}
}

// TestSizeRowsPreferTwin: with an empty twin measured in turn, the size
// table compares against it, not against the run before the seeding.
func TestSizeRowsPreferTwin(t *testing.T) {
	rep := &report{
		Results: []result{{Scenario: "refresh", Requests: 100, RequestsPerSecond: 2000, P99MS: 5}},
		AtSize: &atSize{
			Rounds:  3,
			Results: []result{{Scenario: "refresh", Requests: 100, RequestsPerSecond: 950, P99MS: 11, TotalCPUPerRequest: ptr(1.5)}},
			Empty:   []result{{Scenario: "refresh", Requests: 100, RequestsPerSecond: 1000, P99MS: 10, TotalCPUPerRequest: ptr(1.25)}},
		},
	}
	got := strings.Join(rep.sizeRows()[0], "|")
	if want := "refresh|1000|950|95%|10.0|11.0|1.10×|1.250|1.500|0|yes"; got != want {
		t.Errorf("row = %q, want %q", got, want)
	}
	if n := rep.AtSize.roundsNote(); !strings.Contains(n, "3 rounds") || strings.Contains(n, "vacuum") {
		t.Errorf("note = %q", n)
	}
	rep.AtSize.Vacuumed = true
	if n := rep.AtSize.roundsNote(); !strings.Contains(n, "vacuumed after seeding and before each run") {
		t.Errorf("note with the bench's vacuums = %q", n)
	}
}

// TestMedianResult: each figure is its own median over the rounds, errors
// and requests are summed, and a CPU figure missing from one round is
// missing from the median.
func TestMedianResult(t *testing.T) {
	rs := []result{
		{Scenario: "refresh", Requests: 10, RequestsPerSecond: 900, P99MS: 30, TimedErrors: 1, ServerCPUPerRequest: ptr(0.7), PostgresCPUPerRequest: ptr(1.0)},
		{Scenario: "refresh", Requests: 20, RequestsPerSecond: 700, P99MS: 50, ServerCPUPerRequest: ptr(0.9), PostgresCPUPerRequest: nil},
		{Scenario: "refresh", Requests: 30, RequestsPerSecond: 800, P99MS: 10, WarmupErrors: 2, ServerCPUPerRequest: ptr(0.8), PostgresCPUPerRequest: ptr(1.2)},
	}
	m := medianResult(rs)
	if m.RequestsPerSecond != 800 || m.P99MS != 30 || m.Requests != 60 || m.TimedErrors != 1 || m.WarmupErrors != 2 {
		t.Errorf("median = %+v", m)
	}
	if m.ServerCPUPerRequest == nil || *m.ServerCPUPerRequest != 0.8 || m.PostgresCPUPerRequest != nil {
		t.Errorf("CPU: server %v, PostgreSQL %v", m.ServerCPUPerRequest, m.PostgresCPUPerRequest)
	}
	if even := medianResult(rs[:2]); even.RequestsPerSecond != 800 {
		t.Errorf("median of two = %v, want their mean", even.RequestsPerSecond)
	}
}
