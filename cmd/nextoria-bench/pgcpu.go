package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// procStat is what the benchmark reads from one /proc/<pid>/stat line.
type procStat struct {
	pid, ppid int
	// utime and stime are the process's own CPU ticks; cutime and cstime
	// those of its children that exited and were waited for.
	utime, stime, cutime, cstime uint64
}

// parseProcStat parses a /proc/<pid>/stat line (proc(5)). The command name,
// field 2, is in parentheses and may hold spaces and parentheses, so the
// fields are counted from the last ')'.
func parseProcStat(b []byte) (procStat, error) {
	var s procStat
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 1 || end < open {
		return s, fmt.Errorf("unexpected /proc stat format %q", b)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:open])))
	if err != nil {
		return s, fmt.Errorf("unexpected /proc stat format %q", b)
	}
	f := strings.Fields(string(b[end+1:]))
	// f[0] is field 3 (state): ppid is field 4, utime..cstime 14..17.
	if len(f) < 15 {
		return s, fmt.Errorf("unexpected /proc stat format %q", b)
	}
	s.pid = pid
	vals := make([]uint64, 0, 5)
	for _, i := range []int{1, 11, 12, 13, 14} {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil || v < 0 {
			return s, fmt.Errorf("unexpected /proc stat format %q", b)
		}
		vals = append(vals, uint64(v))
	}
	s.ppid = int(vals[0])
	s.utime, s.stime, s.cutime, s.cstime = vals[1], vals[2], vals[3], vals[4]
	return s, nil
}

// treeTicks sums the CPU ticks of parent and of its direct children under
// procDir (normally /proc): every process's utime+stime, plus the parent's
// cutime+cstime, which hold the children that exited since it started (a
// backend that ends between two readings still counts). A process that
// exits during the walk is skipped.
func treeTicks(procDir string, parent int) (uint64, error) {
	own, err := os.ReadFile(filepath.Join(procDir, strconv.Itoa(parent), "stat"))
	if err != nil {
		return 0, err
	}
	ps, err := parseProcStat(own)
	if err != nil {
		return 0, err
	}
	total := ps.utime + ps.stime + ps.cutime + ps.cstime
	entries, err := os.ReadDir(procDir)
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == parent {
			continue
		}
		b, err := os.ReadFile(filepath.Join(procDir, e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		s, err := parseProcStat(b)
		if err != nil || s.ppid != parent {
			continue
		}
		total += s.utime + s.stime
	}
	return total, nil
}

// findPostmaster finds the PostgreSQL server process on this machine: the
// parent of the backend serving a connection. It fails when the database is
// not on a loopback address or its processes cannot be read.
func findPostmaster(ctx context.Context, adminURL string) (int, error) {
	u, err := url.Parse(adminURL)
	if err != nil {
		return 0, err
	}
	if h := u.Hostname(); h != "localhost" && h != "" {
		if ip := net.ParseIP(h); ip == nil || !ip.IsLoopback() {
			return 0, fmt.Errorf("PostgreSQL at %s is not on this machine", h)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var backend int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		return 0, err
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", backend))
	if err != nil {
		return 0, fmt.Errorf("PostgreSQL's processes are not visible here (another container or user namespace?): %w", err)
	}
	s, err := parseProcStat(b)
	if err != nil {
		return 0, err
	}
	return s.ppid, nil
}

// postgresMeter measures the CPU time of every PostgreSQL server process
// (the postmaster and its children: backends, walwriter, checkpointer,
// autovacuum) between start and finish. Other databases' work on the same
// server counts too.
type postgresMeter struct {
	pid    int
	ticks0 uint64
	ok     bool
}

// pgState caches the postmaster's pid for the run.
var pgState struct {
	once sync.Once
	pid  int
	err  error
}

// startPostgresMeter starts a measurement; finish reports ok=false when the
// PostgreSQL processes cannot be read.
func startPostgresMeter(ctx context.Context, adminURL string) *postgresMeter {
	pgState.once.Do(func() { pgState.pid, pgState.err = findPostmaster(ctx, adminURL) })
	m := &postgresMeter{pid: pgState.pid}
	if pgState.err != nil || m.pid <= 1 {
		return m
	}
	t, err := treeTicks("/proc", m.pid)
	m.ticks0, m.ok = t, err == nil
	return m
}

// postgresCPUError says why PostgreSQL's CPU is not measured, or "".
func postgresCPUError() string {
	if pgState.err != nil {
		return pgState.err.Error()
	}
	return ""
}

// finish returns the CPU time PostgreSQL used since start.
func (m *postgresMeter) finish() (time.Duration, bool) {
	if m == nil || !m.ok {
		return 0, false
	}
	t, err := treeTicks("/proc", m.pid)
	if err != nil || t < m.ticks0 {
		return 0, false
	}
	return ticksDuration(t - m.ticks0), true
}

func ticksDuration(t uint64) time.Duration {
	return time.Duration(float64(t) / clockTicks() * float64(time.Second))
}
