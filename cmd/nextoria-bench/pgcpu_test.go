package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		line    string
		want    procStat
		wantErr bool
	}{
		{"postmaster", "812 (postgres) S 1 812 812 0 -1 4194560 9316 264837 0 8 97 163 4410 5630 20 0 1 0 1604 225705984 7232 18446744073709551615 1 1 0 0 0 0 4194304 19935232 84487 0 0 0 17 1 0 0 0 0 0",
			procStat{pid: 812, ppid: 1, utime: 97, stime: 163, cutime: 4410, cstime: 5630}, false},
		{"spaces and parentheses in the name", "4242 (postgres: x (y) z) R 812 4242 4242 0 -1 4194368 1 0 0 0 1234 56 0 0 20 0 1 0 1 1 1 1",
			procStat{pid: 4242, ppid: 812, utime: 1234, stime: 56}, false},
		{"truncated", "4242 (postgres) R 812 4242", procStat{}, true},
		{"no name", "4242 postgres R 812", procStat{}, true},
		{"not a number", "4242 (postgres) R 812 1 1 0 -1 1 1 0 0 0 x 56 0 0", procStat{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseProcStat([]byte(tt.line))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// writeStat writes a /proc/<pid>/stat line with the given fields.
func writeStat(t *testing.T, dir string, pid, ppid int, name string, utime, stime, cutime, cstime uint64) {
	t.Helper()
	d := filepath.Join(dir, strconv.Itoa(pid))
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	f := []string{strconv.Itoa(pid), "(" + name + ")", "S", strconv.Itoa(ppid)}
	for range 9 { // fields 5–13
		f = append(f, "0")
	}
	for _, v := range []uint64{utime, stime, cutime, cstime} {
		f = append(f, strconv.FormatUint(v, 10))
	}
	f = append(f, "20", "0", "1")
	if err := os.WriteFile(filepath.Join(d, "stat"), []byte(strings.Join(f, " ")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTreeTicks: the postmaster's own and reaped children's ticks, plus its
// live children's own ticks; not its grandchildren's cutime (already in a
// child), nor other processes.
func TestTreeTicks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeStat(t, dir, 100, 1, "postgres", 10, 5, 1000, 500) // postmaster: 1515
	writeStat(t, dir, 101, 100, "postgres: checkpointer ", 3, 2, 0, 0)
	writeStat(t, dir, 102, 100, "postgres: postgres db 127.0.0.1(5000) idle", 40, 20, 7, 7) // child's cutime not counted
	writeStat(t, dir, 200, 1, "nextoria-authz", 9999, 9999, 0, 0)
	writeStat(t, dir, 201, 200, "postgres", 9999, 9999, 0, 0) // someone else's child
	if err := os.MkdirAll(filepath.Join(dir, "self"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "300"), 0o755); err != nil { // exited: no stat
		t.Fatal(err)
	}
	got, err := treeTicks(dir, 100)
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(1515 + 5 + 60); got != want {
		t.Errorf("treeTicks = %d, want %d", got, want)
	}
	if _, err := treeTicks(dir, 999); err == nil {
		t.Error("treeTicks of a missing process: no error")
	}
}

// TestPostgresMeterOnThisMachine reads the local PostgreSQL's processes
// when the test database is on loopback, as the benchmark does.
func TestPostgresMeterOnThisMachine(t *testing.T) {
	url := os.Getenv("NEXTORIA_TEST_DATABASE_URL")
	if url == "" {
		t.Skip("NEXTORIA_TEST_DATABASE_URL is not set")
	}
	pid, err := findPostmaster(t.Context(), url)
	if err != nil {
		t.Skipf("PostgreSQL's processes cannot be read here: %v", err)
	}
	t0, err := treeTicks("/proc", pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := execSQL(t.Context(), url, "SELECT count(*) FROM generate_series(1, 2000000)"); err != nil {
		t.Fatal(err)
	}
	t1, err := treeTicks("/proc", pid)
	if err != nil {
		t.Fatal(err)
	}
	if t1 <= t0 {
		t.Errorf("PostgreSQL's CPU did not move (%d → %d ticks) over a query that takes CPU", t0, t1)
	}
	if d := ticksDuration(uint64(clockTicks())); d != time.Second {
		t.Errorf("ticksDuration(CLK_TCK) = %s", d)
	}
}
