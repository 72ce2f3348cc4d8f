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
		{"refresh", "1000", "950", "95%", "10.0", "11.0", "1.10×", "0", "yes"},
		{"code-exchange", "1000", "850", "85%", "10.0", "10.0", "1.00×", "0", "NO"},
		{"flow-password", "10.0", "5.0", "50%", "100.0", "300.0", "3.00×", "0", ""},
		{"introspect-jwt", "", "", "", "", "", "", "", ""},
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
