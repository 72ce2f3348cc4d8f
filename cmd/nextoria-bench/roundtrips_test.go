package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSumMetric(t *testing.T) {
	t.Parallel()
	const exposition = `# HELP nextoria_db_round_trips_total Network round trips to PostgreSQL.
# TYPE nextoria_db_round_trips_total counter
nextoria_db_round_trips_total 12345
nextoria_db_round_trips_total_extra 7
# TYPE nextoria_tokens_issued_total counter
nextoria_tokens_issued_total{grant_type="authorization_code"} 3
nextoria_tokens_issued_total{grant_type="refresh_token"} 4.5e+01
nextoria_tokens_issued_total{grant_type="x}y"} 1 1700000000000
`
	tests := []struct {
		name      string
		want      float64
		wantFound bool
	}{
		{"nextoria_db_round_trips_total", 12345, true},
		{"nextoria_tokens_issued_total", 49, true},
		{"nextoria_db_round", 0, false},
		{"nextoria_missing_total", 0, false},
	}
	for _, tt := range tests {
		got, found, err := sumMetric(strings.NewReader(exposition), tt.name)
		if err != nil || got != tt.want || found != tt.wantFound {
			t.Errorf("sumMetric(%s) = %v, %v, %v; want %v, %v", tt.name, got, found, err, tt.want, tt.wantFound)
		}
	}
	if _, _, err := sumMetric(strings.NewReader("nextoria_x_total fast\n"), "nextoria_x_total"); err == nil {
		t.Error("a value that is not a number: no error")
	}
}

func TestChainWindows(t *testing.T) {
	t.Parallel()
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	lat := slices.Concat(ms(5, 1, 3), ms(100, 100, 100, 100), ms(9, 6, 30))
	first, last, ratio := chainWindows(lat, 3)
	if first != 3*time.Millisecond || last != 9*time.Millisecond || ratio != 3 {
		t.Errorf("chainWindows = %s, %s, %v; want 3ms, 9ms, 3", first, last, ratio)
	}
	// The windows are medians of copies: lat keeps its order.
	if lat[0] != 5*time.Millisecond {
		t.Error("chainWindows sorted its input")
	}
	if got := median(ms(4, 1, 3, 2)); got != 2500*time.Microsecond {
		t.Errorf("median of an even count = %s", got)
	}
	if f, l, r := chainWindows(nil, 100); f != 0 || l != 0 || r != 0 {
		t.Error("chainWindows of nothing")
	}
	if _, _, r := chainWindows(ms(2, 4), 100); r != 1 {
		t.Errorf("windows longer than the run overlap fully: ratio %v, want 1", r)
	}
}

func TestConcurrencyList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args    []string
		want    []int
		wantErr bool
	}{
		{nil, []int{16}, false},
		{[]string{"--short"}, []int{4}, false},
		{[]string{"--concurrency", "16,64"}, []int{16, 64}, false},
		{[]string{"--concurrency", "8, 8,32"}, []int{8, 32}, false},
		{[]string{"--short", "--concurrency", "2"}, []int{2}, false},
		{[]string{"--concurrency", "16,x"}, nil, true},
		{[]string{"--concurrency", "0"}, nil, true},
		{[]string{"--concurrency", "16,2000"}, nil, true},
	}
	for _, tt := range tests {
		o, err := parseOptions(tt.args, &strings.Builder{})
		if (err != nil) != tt.wantErr {
			t.Errorf("%v: err = %v, want error %v", tt.args, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && (!slices.Equal(o.concurrencies, tt.want) || o.concurrency != tt.want[0]) {
			t.Errorf("%v: concurrencies %v (current %d), want %v", tt.args, o.concurrencies, o.concurrency, tt.want)
		}
	}
}
