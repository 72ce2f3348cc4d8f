#!/usr/bin/env bash
# Measures the cleanup: its deletion rate on a large backlog of expired rows,
# and the latency of refresh_token requests (nextoria-bench's refresh
# scenario) without cleanup and while 'nextoria-authz cleanup' deletes, for
# each pause in PAUSES. Figures in the README ("Cleanup and table growth")
# come from this script.
#
#   bash scripts/cleanup-experiment.sh
#   ROWS=3000000 DURATION=15s CONCURRENCY=8 PAUSES="0s 10ms" REPEAT=3 bash scripts/cleanup-experiment.sh
#
# It builds both commands, creates a throwaway database (dropped at the end),
# seeds ROWS expired token rows server-side (scripts/cleanup-seed.sql), starts
# `nextoria-authz serve --dev` on a free loopback port with its own cleanup
# held off, and then, for each pause, runs REPEAT pairs of refresh runs of
# DURATION back to back: one alone, one with a cleanup command started when
# the timed part starts and stopped right after it, the order alternating from pair to
# pair so that neither side always comes second. When PostgreSQL runs without
# autovacuum the token tables are vacuumed between runs, outside the timed
# requests, as autovacuum would after a cleanup, and every run starts right
# after a checkpoint. Rows deleted per second are
# counted from the table sizes before and after each phase, and the median
# p99 ratio (with / without) is printed per pause. Each cleanup phase must
# still find expired rows at its end: give enough ROWS.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ROWS="${ROWS:-3000000}"
DURATION="${DURATION:-15s}"
CONCURRENCY="${CONCURRENCY:-8}"
PAUSES="${PAUSES:-10ms}"
REPEAT="${REPEAT:-3}"
BATCH="${BATCH:-1000}"
ADMIN_URL="${ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}"

db="nextoria_cleanup_exp_$$"
tmp="$(mktemp -d)"
server_pid=""
cleanup_pid=""
finish() {
	[ -n "$cleanup_pid" ] && kill "$cleanup_pid" 2>/dev/null || true
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
	psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap finish EXIT

go build -o "$tmp/nextoria-authz" ./cmd/nextoria-authz
go build -o "$tmp/nextoria-bench" ./cmd/nextoria-bench
psql -q "$ADMIN_URL" -c "CREATE DATABASE $db"
export NEXTORIA_DATABASE_URL="${ADMIN_URL/\/postgres\?/\/$db?}"
"$tmp/nextoria-authz" migrate up >/dev/null
echo "seeding $ROWS expired rows..." >&2
psql -q "$NEXTORIA_DATABASE_URL" -v rows="$ROWS" -v live=100000 -f scripts/cleanup-seed.sql

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
# As nextoria-bench runs its own server: no token rate limit, warnings only.
NEXTORIA_SECRETS_SYSTEM="$(openssl rand -base64 48)" \
	NEXTORIA_LISTEN="127.0.0.1:$port" NEXTORIA_ISSUER="$base" NEXTORIA_CLEANUP_INTERVAL=24h \
	NEXTORIA_LOG_LEVEL=warn NEXTORIA_LIMITS_TOKEN_PER_MINUTE=0 NEXTORIA_SHUTDOWN_DRAIN=0s \
	NEXTORIA_LIMITS_SIGNIN_PER_IP=1000000000 NEXTORIA_LIMITS_SIGNIN_PER_ACCOUNT_IP=1000000000 \
	NEXTORIA_LIMITS_SIGNIN_PER_ACCOUNT=1000000000 \
	"$tmp/nextoria-authz" serve --dev >"$tmp/server.log" 2>&1 &
server_pid=$!
for i in $(seq 150); do
	curl -fsS "$base/.well-known/openid-configuration" >/dev/null 2>&1 && break
	if [ "$i" = 150 ] || ! kill -0 "$server_pid" 2>/dev/null; then
		cat "$tmp/server.log" >&2
		exit 1
	fi
	sleep 0.2
done

expired() {
	psql -At "$NEXTORIA_DATABASE_URL" -c "SELECT
	    (SELECT count(*) FROM oauth_access_tokens WHERE expires_at < now()) +
	    (SELECT count(*) FROM oauth_refresh_tokens WHERE expires_at < now()) +
	    (SELECT count(*) FROM oauth_codes WHERE expires_at < now()) +
	    (SELECT count(*) FROM oauth_pkce WHERE expires_at < now())"
}

# phase NAME PAUSE: one refresh run, with a cleanup running during its
# timed part when PAUSE is set (started when the benchmark starts measuring,
# so that its backlog is not spent while the benchmark prepares).
phase() {
	local name="$1" pause="${2:-}" before="" after="" t0="" t1="" bench_pid
	"$tmp/nextoria-bench" --target "$base" --scenarios refresh --duration "$DURATION" \
		--concurrency "$CONCURRENCY" --json "$tmp/$name.json" >/dev/null 2>"$tmp/bench-$name.log" &
	bench_pid=$!
	if [ -n "$pause" ]; then
		until grep -q "measuring for" "$tmp/bench-$name.log" || ! kill -0 "$bench_pid" 2>/dev/null; do
			sleep 0.05
		done
		before="$(expired)"
		t0="$(date +%s.%N)"
		NEXTORIA_CLEANUP_BATCH="$BATCH" NEXTORIA_CLEANUP_PAUSE="$pause" \
			"$tmp/nextoria-authz" cleanup --json >"$tmp/cleanup-$name.json" 2>&1 &
		cleanup_pid=$!
	fi
	wait "$bench_pid" || { cat "$tmp/bench-$name.log" "$tmp/server.log" >&2; return 1; }
	if [ -n "$pause" ]; then
		if ! kill -0 "$cleanup_pid" 2>/dev/null; then
			echo "warning: the cleanup of $name ended before the refresh run did; seed more ROWS" >&2
		fi
		kill -INT "$cleanup_pid" 2>/dev/null || true
		wait "$cleanup_pid" 2>/dev/null || true
		cleanup_pid=""
		# Stopped by the interrupt is expected; any other error is not.
		if grep -q '"error"' "$tmp/cleanup-$name.json" && ! grep -q 'context canceled' "$tmp/cleanup-$name.json"; then
			echo "warning: the cleanup of $name failed: $(cat "$tmp/cleanup-$name.json")" >&2
		fi
		t1="$(date +%s.%N)"
		after="$(expired)"
	fi
	python3 - "$tmp/$name.json" "$name" "${before:-}" "${after:-}" "${t0:-}" "${t1:-}" <<'PY'
import json, sys
path, name, before, after, t0, t1 = sys.argv[1:]
doc = json.load(open(path))
r = next(x for x in doc["results"] if x["scenario"] == "refresh")
line = f"{name:<14} refresh: {r['requests_per_second']:7.0f} req/s  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  errors {r['errors']}"
if before:
    n, s = int(before) - int(after), float(t1) - float(t0)
    line += f"  | cleanup deleted {n} rows in {s:.1f} s = {n / s:,.0f} rows/s"
print(line)
PY
}

autovacuum="$(psql -At "$NEXTORIA_DATABASE_URL" -c "SHOW autovacuum")"
# vacuum stands in for autovacuum between runs when PostgreSQL has it off,
# then checkpoints: each run starts with no checkpoint owed, so that none of
# the seeding's or an earlier run's lands inside one run and not the other.
vacuum() {
	if [ "$autovacuum" = "off" ]; then
		psql -q "$NEXTORIA_DATABASE_URL" -c "VACUUM oauth_access_tokens, oauth_refresh_tokens, oauth_codes, oauth_pkce, oauth_oidc_sessions"
	fi
	psql -q "$NEXTORIA_DATABASE_URL" -c "CHECKPOINT"
}

echo "rows=$ROWS batch=$BATCH duration=$DURATION concurrency=$CONCURRENCY repeat=$REPEAT autovacuum=$autovacuum nproc=$(nproc) load: $(cut -d' ' -f1-3 /proc/loadavg)"
for p in $PAUSES; do
	for i in $(seq "$REPEAT"); do
		if [ $((i % 2)) = 1 ]; then
			vacuum; phase "baseline-$i" ""
			vacuum; phase "pause-$p-$i" "$p"
		else
			vacuum; phase "pause-$p-$i" "$p"
			vacuum; phase "baseline-$i" ""
		fi
	done
	python3 - "$tmp" "$p" "$REPEAT" <<'PY'
import json, statistics, sys
tmp, pause, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
def p99(name):
    doc = json.load(open(f"{tmp}/{name}.json"))
    return next(x for x in doc["results"] if x["scenario"] == "refresh")["p99_ms"]
ratios = [p99(f"pause-{pause}-{i}") / p99(f"baseline-{i}") for i in range(1, repeat + 1)]
print(f"pause {pause}: p99 ratio with/without per pair " + ", ".join(f"{r:.2f}" for r in ratios) +
      f"; median {statistics.median(ratios):.2f}")
PY
done
