package main

import (
	"testing"
	"time"
)

// pgbench15Select is the output of pgbench 15.20 (Debian) for
// `pgbench -S -c 4 -j 2 -T 1` after `pgbench -i -s 10`.
const pgbench15Select = `pgbench (15.20 (Debian 15.20-0+deb12u1))
starting vacuum...end.
transaction type: <builtin: select only>
scaling factor: 10
query mode: simple
number of clients: 4
number of threads: 2
maximum number of tries: 1
duration: 1 s
number of transactions actually processed: 600
number of failed transactions: 0 (0.000%)
latency average = 5.261 ms
initial connection time = 219.931 ms
tps = 760.308837 (without initial connection time)
`

// pgbench15Insert is pgbench 15.20's output for the insert ceiling's script.
const pgbench15Insert = `pgbench (15.20 (Debian 15.20-0+deb12u1))
transaction type: /tmp/ins.sql
scaling factor: 1
query mode: simple
number of clients: 4
number of threads: 2
maximum number of tries: 1
duration: 1 s
number of transactions actually processed: 355
number of failed transactions: 0 (0.000%)
latency average = 9.964 ms
initial connection time = 171.509 ms
tps = 401.441571 (without initial connection time)
`

// pgbench15Count is pgbench 15.20's output for a run of -t 50 (a fixed
// number of transactions per client) in prepared mode.
const pgbench15Count = `pgbench (15.20 (Debian 15.20-0+deb12u1))
transaction type: /tmp/s1.sql
scaling factor: 1
query mode: prepared
number of clients: 2
number of threads: 2
maximum number of tries: 1
number of transactions per client: 50
number of transactions actually processed: 100/100
number of failed transactions: 0 (0.000%)
latency average = 0.328 ms
initial connection time = 107.927 ms
tps = 6102.025873 (without initial connection time)
`

// pgbench15None is pgbench 15.20's output when 64 clients took the whole
// -T 3 to connect on a busy machine: no tps line.
const pgbench15None = `pgbench (15.20 (Debian 15.20-0+deb12u1))
transaction type: /tmp/nextoria-bench-ceiling-833682230.sql
scaling factor: 1
query mode: prepared
number of clients: 64
number of threads: 2
maximum number of tries: 1
duration: 3 s
number of transactions actually processed: 0
number of failed transactions: 0 (NaN%)
`

// pgbench13 is the summary format of pgbench 13 and earlier: two tps
// lines, no failed-transaction count.
const pgbench13 = `starting vacuum...end.
transaction type: <builtin: select only>
scaling factor: 10
query mode: prepared
number of clients: 16
number of threads: 2
duration: 10 s
number of transactions actually processed: 123456
latency average = 1.296 ms
tps = 12345.678901 (including connections establishing)
tps = 12350.123456 (excluding connections establishing)
`

func TestParsePgbench(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		out     string
		want    pgbenchResult
		wantErr bool
	}{
		{"15 select-only", pgbench15Select, pgbenchResult{TPS: 760.308837, Transactions: 600, LatencyAverageMS: 5.261}, false},
		{"15 insert script", pgbench15Insert, pgbenchResult{TPS: 401.441571, Transactions: 355, LatencyAverageMS: 9.964}, false},
		{"15 fixed count", pgbench15Count, pgbenchResult{TPS: 6102.025873, Transactions: 100, LatencyAverageMS: 0.328}, false},
		{"13 excluding connections", pgbench13, pgbenchResult{TPS: 12350.123456, Transactions: 123456, LatencyAverageMS: 1.296}, false},
		{"failed transactions", "number of transactions actually processed: 90\nnumber of failed transactions: 10 (10.000%)\ntps = 90.5 (without initial connection time)\n",
			pgbenchResult{TPS: 90.5, Transactions: 90, FailedTransactions: 10}, false},
		{"15 no transaction", pgbench15None, pgbenchResult{}, true},
		{"no tps", "number of transactions actually processed: 600\n", pgbenchResult{}, true},
		{"no count", "tps = 1.0 (without initial connection time)\n", pgbenchResult{}, true},
		{"garbled tps", "number of transactions actually processed: 600\ntps = fast (without initial connection time)\n", pgbenchResult{}, true},
		{"connection error", "pgbench: error: connection to server failed\n", pgbenchResult{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parsePgbench(tt.out)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestPgbenchDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    time.Duration
		n    int
		want int
	}{
		{time.Second, 4, 2},
		{time.Second, 16, 3},
		{3 * time.Second, 64, 6},
		{10 * time.Second, 16, 10},
		{10 * time.Second, 64, 10},
		{12600 * time.Millisecond, 1, 13},
	}
	for _, tt := range tests {
		if got := pgbenchDuration(tt.d, tt.n); got != tt.want {
			t.Errorf("pgbenchDuration(%s, %d) = %d, want %d", tt.d, tt.n, got, tt.want)
		}
	}
}

// TestCeilingFractions: each scenario is compared with its kind of ceiling
// at its own concurrency, and with nothing where pgbench did not run.
func TestCeilingFractions(t *testing.T) {
	t.Parallel()
	rep := &report{
		Ceilings: []ceiling{
			{Kind: ceilingSelect, Concurrency: 16, pgbenchResult: pgbenchResult{TPS: 16000}},
			{Kind: ceilingInsert, Concurrency: 16, pgbenchResult: pgbenchResult{TPS: 7500}},
			{Kind: ceilingSelect, Concurrency: 64, pgbenchResult: pgbenchResult{TPS: 20000}},
		},
		Results: []result{
			{Scenario: "introspect-jwt", Concurrency: 16, Requests: 1, RequestsPerSecond: 8000},
			{Scenario: "introspect-jwt", Concurrency: 64, Requests: 1, RequestsPerSecond: 10000},
			{Scenario: "refresh", Concurrency: 16, Requests: 1, RequestsPerSecond: 1500},
			{Scenario: "refresh", Concurrency: 64, Requests: 1, RequestsPerSecond: 1500}, // no insert ceiling at 64
			{Scenario: "middleware-cache-on", Concurrency: 16, Requests: 1, RequestsPerSecond: 30000},
			{Scenario: "flow-password", Concurrency: 4, Requests: 1, RequestsPerSecond: 7},
			{Scenario: "code-exchange", Concurrency: 16, Skipped: "no"},
		},
	}
	rep.setCeilingFractions()
	want := []float64{0.5, 0.5, 0.2, -1, -1, -1, -1}
	for i, r := range rep.Results {
		switch {
		case want[i] < 0 && r.CeilingFraction != nil:
			t.Errorf("%s at %d: fraction %v, want none", r.Scenario, r.Concurrency, *r.CeilingFraction)
		case want[i] >= 0 && (r.CeilingFraction == nil || *r.CeilingFraction != want[i]):
			t.Errorf("%s at %d: fraction %v, want %v", r.Scenario, r.Concurrency, r.CeilingFraction, want[i])
		}
	}
	rows := rep.rows()
	if got := rows[0][3]; got != "50%" {
		t.Errorf("of ceiling cell %q, want 50%%", got)
	}
	for _, row := range rows {
		if len(row) != len(tableHeader) {
			t.Errorf("row %v has %d cells, want %d", row, len(row), len(tableHeader))
		}
	}
}
