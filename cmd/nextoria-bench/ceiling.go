package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgbenchPath is where Debian's postgresql-client installs pgbench.
const pgbenchPath = "/usr/bin/pgbench"

// ceilingScale is pgbench's scale factor for the select-only ceiling: 10 is
// 1,000,000 pgbench_accounts rows (about 150 MB), enough that the index
// lookups are not all in one page yet the table stays in shared buffers,
// as the server's token tables do.
const ceilingScale = 10

// ceilingScaleShort is the scale of --short runs: initialising scale 10
// takes several seconds, and short runs only keep the tool working.
const ceilingScaleShort = 1

// insertTable and insertScript make the single-row insert ceiling: one
// INSERT into a small table with a primary key per transaction, the shape
// of the token endpoint's writes.
const (
	insertTable  = "CREATE TABLE ceiling_insert (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, payload bigint NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
	insertScript = "\\set r random(1, 1000000000)\nINSERT INTO ceiling_insert (payload) VALUES (:r);\n"
)

// Ceiling kinds, matched to scenarios by ceilingOf.
const (
	ceilingSelect = "select"
	ceilingInsert = "insert"
)

// ceiling is what pgbench measured for one kind of transaction at one
// concurrency.
type ceiling struct {
	Kind        string `json:"kind"` // "select" or "insert"
	Concurrency int    `json:"concurrency"`
	Scale       int    `json:"scale"`
	Seconds     int    `json:"seconds"`
	pgbenchResult
	// PostgresCPUPerTx is the PostgreSQL server processes' CPU per
	// transaction; null when they could not be read (not on this machine).
	PostgresCPUPerTx *float64 `json:"postgres_cpu_ms_per_tx"`
	Command          string   `json:"command"`
}

// pgbenchResult is what pgbench prints at the end of a run.
type pgbenchResult struct {
	TPS                float64 `json:"tps"`
	Transactions       uint64  `json:"transactions"`
	FailedTransactions uint64  `json:"failed_transactions"`
	LatencyAverageMS   float64 `json:"latency_average_ms"`
}

// parsePgbench reads pgbench's summary. It takes the tps that leaves out
// connection set-up: "without initial connection time" (PostgreSQL 14 and
// later) or "excluding connections establishing" (13 and earlier).
func parsePgbench(out string) (pgbenchResult, error) {
	var r pgbenchResult
	var haveTPS, haveTx bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "tps = "):
			if strings.Contains(line, "including connections establishing") {
				continue
			}
			f := strings.Fields(line)
			if len(f) < 3 {
				return r, fmt.Errorf("pgbench: unexpected line %q", line)
			}
			v, err := strconv.ParseFloat(f[2], 64)
			if err != nil {
				return r, fmt.Errorf("pgbench: unexpected line %q", line)
			}
			r.TPS, haveTPS = v, true
		case strings.HasPrefix(line, "number of transactions actually processed:"):
			v := strings.TrimSpace(strings.TrimPrefix(line, "number of transactions actually processed:"))
			// With -t: "1000/1000"; with -T: "12345".
			v, _, _ = strings.Cut(v, "/")
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return r, fmt.Errorf("pgbench: unexpected line %q", line)
			}
			r.Transactions, haveTx = n, true
		case strings.HasPrefix(line, "number of failed transactions:"):
			f := strings.Fields(strings.TrimPrefix(line, "number of failed transactions:"))
			if len(f) > 0 {
				n, err := strconv.ParseUint(f[0], 10, 64)
				if err != nil {
					return r, fmt.Errorf("pgbench: unexpected line %q", line)
				}
				r.FailedTransactions = n
			}
		case strings.HasPrefix(line, "latency average = "):
			f := strings.Fields(strings.TrimPrefix(line, "latency average = "))
			if len(f) == 2 && f[1] == "ms" {
				v, err := strconv.ParseFloat(f[0], 64)
				if err != nil {
					return r, fmt.Errorf("pgbench: unexpected line %q", line)
				}
				r.LatencyAverageMS = v
			}
		}
	}
	switch {
	case haveTx && r.Transactions == 0:
		return r, errors.New("pgbench: no transaction completed (did opening the connections take the whole duration?)")
	case !haveTPS:
		return r, errors.New("pgbench: no tps line in its output")
	case !haveTx:
		return r, errors.New("pgbench: no transaction count in its output")
	}
	return r, nil
}

// pgbenchDuration is pgbench's -T (whole seconds) for a scenario duration
// at n clients. -T includes opening the connections, which takes a while
// at 64 clients on a busy machine, so short runs get a second per 16
// clients on top of two.
func pgbenchDuration(d time.Duration, n int) int {
	return max(2+n/16, int(math.Round(d.Seconds())))
}

// ceilings runs pgbench's select-only and single-row insert transactions at
// each concurrency, in a scratch database created and dropped here.
func (b *bench) ceilings(ctx context.Context, concurrencies []int) ([]ceiling, error) {
	if _, err := os.Stat(pgbenchPath); err != nil {
		return nil, fmt.Errorf("the ceilings need %s (Debian: apt-get install postgresql-client; or --no-ceilings): %w", pgbenchPath, err)
	}
	db, err := createDatabase(ctx, b.opts.adminURL)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := db.drop(context.Background()); err != nil {
			b.progress("%v", err)
		}
	}()
	scale := ceilingScale
	if b.opts.short {
		scale = ceilingScaleShort
	}
	b.progress("ceilings: pgbench -i -s %d in database %s", scale, db.name)
	if _, err := runPgbench(ctx, "-i", "-s", strconv.Itoa(scale), "-q", db.url); err != nil {
		return nil, err
	}
	if err := execSQL(ctx, db.url, insertTable); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp("", "nextoria-bench-ceiling-*.sql")
	if err != nil {
		return nil, err
	}
	script := f.Name()
	defer os.Remove(script)
	_, err = f.WriteString(insertScript)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	var out []ceiling
	for _, n := range concurrencies {
		secs := strconv.Itoa(pgbenchDuration(b.opts.duration, n))
		for _, kind := range []string{ceilingSelect, ceilingInsert} {
			// -M prepared: the server's driver (pgx) prepares its
			// statements too. -n: no vacuum between runs (-i vacuumed).
			args := []string{"-n", "-M", "prepared", "-c", strconv.Itoa(n), "-j", strconv.Itoa(min(2, n)), "-T", secs}
			if kind == ceilingSelect {
				args = append(args, "-S")
			} else {
				args = append(args, "-f", script)
			}
			b.progress("ceilings: pgbench %s at %d clients for %s s", kind, n, secs)
			pg := startPostgresMeter(ctx, b.opts.adminURL)
			res, err := runPgbench(ctx, append(args, db.url)...)
			if err != nil {
				return nil, err
			}
			c := ceiling{Kind: kind, Concurrency: n, Scale: scale, Seconds: pgbenchDuration(b.opts.duration, n), pgbenchResult: res,
				Command: "pgbench " + strings.Join(args, " ") + " " + ceilingDBArg(kind, scale)}
			if cpu, ok := pg.finish(); ok && res.Transactions > 0 {
				c.PostgresCPUPerTx = ptr(msPer(cpu, res.Transactions))
			}
			if res.FailedTransactions > 0 {
				return nil, fmt.Errorf("pgbench %s at %d clients: %d failed transactions", kind, n, res.FailedTransactions)
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// ceilingDBArg stands for the scratch database in the printed command.
func ceilingDBArg(kind string, scale int) string {
	if kind == ceilingSelect {
		return "DB  # after pgbench -i -s " + strconv.Itoa(scale) + " DB"
	}
	return "DB  # script: " + strings.ReplaceAll(strings.TrimSpace(insertScript), "\n", "; ")
}

// runPgbench runs pgbench with args and parses its summary (none for -i).
func runPgbench(ctx context.Context, args ...string) (pgbenchResult, error) {
	cmd := exec.CommandContext(ctx, pgbenchPath, args...)
	cmd.Env = append(childEnv(), "PGAPPNAME=nextoria-bench-ceiling")
	out, err := cmd.CombinedOutput()
	// The database URL is the last argument; it may hold a password.
	what := "pgbench " + strings.Join(args[:len(args)-1], " ")
	if err != nil {
		return pgbenchResult{}, fmt.Errorf("%s: %w\n%s", what, err, tail(string(out), 10))
	}
	if args[0] == "-i" {
		return pgbenchResult{}, nil
	}
	res, err := parsePgbench(string(out))
	if err != nil {
		return res, fmt.Errorf("%s: %w\n%s", what, err, tail(string(out), 10))
	}
	return res, nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// execSQL runs one statement on the database at url.
func execSQL(ctx context.Context, url, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// ceilingOf names the ceiling a scenario is compared with: reads against
// the select-only one, token issuance against the single-row insert; "" for
// none (the cached middleware mostly does not reach the database).
func ceilingOf(scenario string) string {
	switch scenario {
	case "introspect-jwt", "introspect-apikey", "middleware-cache-off":
		return ceilingSelect
	case "refresh", "refresh-chain", "code-exchange", "flow-signed-in", "flow-password":
		return ceilingInsert
	}
	return ""
}

// findCeiling returns the ceiling of kind at concurrency n, or nil.
func findCeiling(cs []ceiling, kind string, n int) *ceiling {
	for i := range cs {
		if cs[i].Kind == kind && cs[i].Concurrency == n {
			return &cs[i]
		}
	}
	return nil
}
