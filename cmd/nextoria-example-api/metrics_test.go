package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nextoria/authz/metrics/metricstest"
)

// runEnv is the environment of a run against as on a port of its choosing.
func runEnv(as *fakeIntrospection) map[string]string {
	return map[string]string{
		"NEXTORIA_API_LISTEN":            "127.0.0.1:0",
		"NEXTORIA_API_INTROSPECTION_URL": as.URL + "/v1/oauth/introspect",
		"NEXTORIA_API_CLIENT_ID":         testClientID,
		"NEXTORIA_API_CLIENT_SECRET":     testClientSecret,
	}
}

// metricsAddr waits for the metrics listener's log line and returns its
// address.
func metricsAddr(t *testing.T, logs *syncBuffer) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(logs.String(), "\n") {
			var l struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "nextoria-example-api metrics listening" && l.Addr != "" {
				return l.Addr
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no metrics listener in the log:\n%s", logs)
	return ""
}

// TestRunMetrics: with NEXTORIA_API_METRICS_LISTEN the middleware's cache
// hits and misses, introspection latency and rate-limited requests are
// served at /metrics on that listener, moved by exactly what the traffic
// did, with no token, secret or workspace in a label; the API's own
// listener does not serve them.
func TestRunMetrics(t *testing.T) {
	t.Parallel()
	as := newFakeIntrospection(t)
	env := runEnv(as)
	env["NEXTORIA_API_METRICS_LISTEN"] = "127.0.0.1:0"
	base, logs, stop := startRun(t, env)
	metricsURL := "http://" + metricsAddr(t, logs) + "/metrics"
	before := metricstest.Scrape(t, metricsURL)

	get := func(token string) int {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/v1/projects", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// The Starter plan allows bursts of 100: the rest of 110 are refused
	// (one or two may be let through as the bucket refills).
	const n = 110
	limited := 0
	for range n {
		switch status := get(tokenReadOnly); status {
		case http.StatusOK:
		case http.StatusTooManyRequests:
			limited++
		default:
			t.Fatalf("status %d", status)
		}
	}
	if limited < 5 {
		t.Fatalf("%d of %d requests refused, want at least 5", limited, n)
	}
	if status := get(tokenOther); status != http.StatusOK {
		t.Fatalf("token of another workspace: %d", status)
	}
	unknown := "nxh_unknownunknownunknownunknownunknownunknownunknown1"
	if status := get(unknown); status != http.StatusUnauthorized {
		t.Fatalf("unknown token: %d", status)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Error("the API's own listener serves /metrics")
	}

	after := metricstest.Scrape(t, metricsURL)
	tests := []struct {
		name  string
		pairs []string
		want  float64
	}{
		{"nextoria_resource_introspection_cache_misses_total", nil, 3},
		{"nextoria_resource_introspection_cache_hits_total", nil, n - 1},
		{"nextoria_resource_rate_limited_total", []string{"plan", "starter"}, float64(limited)},
		{"nextoria_resource_rate_limited_total", []string{"plan", "scale"}, 0},
		{"nextoria_resource_introspection_duration_seconds", []string{"outcome", "ok"}, 3},
		{"nextoria_resource_introspection_duration_seconds", []string{"outcome", "error"}, 0},
	}
	for _, tt := range tests {
		if got := after.Value(tt.name, tt.pairs...) - before.Value(tt.name, tt.pairs...); got != tt.want {
			t.Errorf("%s%v moved by %v, want %v", tt.name, tt.pairs, got, tt.want)
		}
	}
	if got := as.calls.Load(); got != 3 {
		t.Errorf("%d introspection calls, want 3", got)
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := after[name]; !ok {
			t.Errorf("metric %s is missing", name)
		}
	}
	after.CheckLabelsLack(t, tokenReadOnly, tokenOther, unknown, testClientID, testClientSecret, wsAcme, wsGlobex, "@")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestRunMetricsOff: without NEXTORIA_API_METRICS_LISTEN no metrics
// listener starts; a malformed address is a configuration error.
func TestRunMetricsOff(t *testing.T) {
	t.Parallel()
	as := newFakeIntrospection(t)
	env := runEnv(as)
	_, logs, stop := startRun(t, env)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "metrics listening") {
		t.Errorf("a metrics listener started:\n%s", logs)
	}
	env["NEXTORIA_API_METRICS_LISTEN"] = "9091"
	if _, err := loadConfig(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "NEXTORIA_API_METRICS_LISTEN") {
		t.Errorf("err = %v, want one naming NEXTORIA_API_METRICS_LISTEN", err)
	}
}
