package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// roundTripsMetric is the server's counter of PostgreSQL round trips.
const roundTripsMetric = "nextoria_db_round_trips_total"

// sumMetric adds up every sample of the metric name in a Prometheus text
// exposition (all label sets). found is false when the metric is absent,
// e.g. a server from before the metric existed.
func sumMetric(r io.Reader, name string) (total float64, found bool, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || len(line) == len(name) {
			continue
		}
		rest := line[len(name):]
		switch rest[0] {
		case ' ':
		case '{':
			i := strings.LastIndexByte(rest, '}')
			if i < 0 {
				return 0, false, fmt.Errorf("metrics: unexpected line %q", line)
			}
			rest = rest[i+1:]
		default:
			continue // another metric whose name starts with name
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0, false, fmt.Errorf("metrics: unexpected line %q", line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, false, fmt.Errorf("metrics: unexpected line %q", line)
		}
		total += v
		found = true
	}
	return total, found, sc.Err()
}

// scrapeMetric reads the metric name from the server's metrics listener.
func (b *bench) scrapeMetric(ctx context.Context, name string) (float64, bool, error) {
	if b.metricsBase == "" {
		return 0, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.metricsBase+"/metrics", nil)
	if err != nil {
		return 0, false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, false, fmt.Errorf("GET /metrics: status %d", resp.StatusCode)
	}
	return sumMetric(resp.Body, name)
}

// roundTripMeter reads the round-trip counter before and after a timed run.
type roundTripMeter struct {
	b      *bench
	before float64
	ok     bool
}

func (b *bench) startRoundTrips(ctx context.Context) *roundTripMeter {
	m := &roundTripMeter{b: b}
	v, found, err := b.scrapeMetric(ctx, roundTripsMetric)
	m.before, m.ok = v, err == nil && found
	return m
}

// perRequest returns the round trips since start divided by n.
func (m *roundTripMeter) perRequest(ctx context.Context, n uint64) *float64 {
	if !m.ok || n == 0 {
		return nil
	}
	v, found, err := m.b.scrapeMetric(ctx, roundTripsMetric)
	if err != nil || !found {
		return nil
	}
	return ptr((v - m.before) / float64(n))
}

// profiler saves the server's CPU profile (for up to 5 s of a timed run)
// and heap profile when --pprof names a directory.
type profiler struct {
	b    *bench
	base string
	done chan error
}

// profileSeconds is the longest CPU profile taken per scenario.
const profileSeconds = 5

func (b *bench) startProfile(ctx context.Context, name string) *profiler {
	if b.opts.pprofDir == "" || b.metricsBase == "" {
		return nil
	}
	p := &profiler{b: b, base: filepath.Join(b.opts.pprofDir, name), done: make(chan error, 1)}
	secs := min(profileSeconds, max(1, int(b.opts.duration.Seconds())))
	go func() {
		p.done <- b.saveProfile(ctx, fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), p.base+".cpu.pprof")
	}()
	return p
}

// finish waits for the CPU profile and takes the heap profile.
func (p *profiler) finish(ctx context.Context) error {
	if p == nil {
		return nil
	}
	err := <-p.done
	if herr := p.b.saveProfile(ctx, "/debug/pprof/heap", p.base+".heap.pprof"); err == nil {
		err = herr
	}
	return err
}

func (b *bench) saveProfile(ctx context.Context, path, file string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.metricsBase+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("pprof %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof %s: status %d (does the server have metrics.pprof?)", path, resp.StatusCode)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("pprof %s: %w", path, err)
	}
	return f.Close()
}
