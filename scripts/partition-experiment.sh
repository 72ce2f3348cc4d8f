#!/usr/bin/env bash
# Should the token tables be range-partitioned by day of expires_at, so that
# cleanup drops a whole expired partition instead of deleting rows? This
# measures the two sides on scratch tables shaped like oauth_access_tokens
# (never the product schema), in a throwaway database dropped at the end:
#
#   (a) removing one day of expired rows: batched DELETE (1,000 rows per
#       transaction, walking the expires_at index as storage.DeleteExpired
#       does) plus the VACUUM that follows, vs DETACH + DROP of the day's
#       partition; wall time and WAL bytes of each.
#   (b) the hot path, a primary-key lookup by signature: with partitioning the
#       primary key must include the partition key, so a lookup by signature
#       alone probes every partition. pgbench measures the latency of the
#       lookup on a plain table and on partitioned tables of 1 and 30
#       partitions holding the same rows.
#
#   bash scripts/partition-experiment.sh
#   DAY_ROWS=200000 LOOKUP_ROWS=300000 PARTS=30 SECONDS_EACH=10 bash scripts/partition-experiment.sh
set -euo pipefail

DAY_ROWS="${DAY_ROWS:-200000}"       # (a): rows of the expired day (and as many live ones)
LOOKUP_ROWS="${LOOKUP_ROWS:-300000}" # (b): rows of each lookup table
PARTS="${PARTS:-30}"                 # (b): partitions of the many-partition table
SECONDS_EACH="${SECONDS_EACH:-10}"   # (b): pgbench run length
CLIENTS="${CLIENTS:-2}"
ADMIN_URL="${ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}"

db="nextoria_partition_exp_$$"
tmp="$(mktemp -d)"
finish() {
	psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap finish EXIT
psql -q "$ADMIN_URL" -c "CREATE DATABASE $db"
url="${ADMIN_URL/\/postgres\?/\/$db?}"
sql() { psql -qAt -v ON_ERROR_STOP=1 "$url" "$@"; }
now_ms() { date +%s%3N; }
wal() { sql -c "SELECT pg_current_wal_lsn()"; }
wal_mb() { sql -c "SELECT round((pg_wal_lsn_diff('$2', '$1') / 1048576.0)::numeric, 1)"; }

# The shape of oauth_access_tokens, its indexes included.
columns="signature text NOT NULL, request_id text NOT NULL, requested_at timestamptz NOT NULL,
    client_id text NOT NULL, subject text NOT NULL, scopes text[] NOT NULL, granted_scopes text[] NOT NULL,
    requested_audience text[] NOT NULL, granted_audience text[] NOT NULL, form_data text NOT NULL,
    session_data json NOT NULL, active boolean NOT NULL DEFAULT true, expires_at timestamptz NOT NULL"
# rows TABLE N FROM_EXPR: N rows whose expires_at spread over a day from FROM_EXPR.
rows() {
	sql -c "INSERT INTO $1 (signature, request_id, requested_at, client_id, subject, scopes, granted_scopes,
	            requested_audience, granted_audience, form_data, session_data, expires_at)
	        SELECT md5('$1' || g) || md5('x$1' || g), md5('r$1' || g), now(), 'client', 'subject-' || g % 1000,
	               '{openid,profile}', '{openid,profile}', '{https://api.example}', '{https://api.example}',
	               'grant_type=refresh_token', json_build_object('pad', repeat('x', 600)),
	               $3 + (g % 86400) * interval '1 second'
	        FROM generate_series(1, $2) g"
}
indexes() {
	sql -c "CREATE INDEX ON $1 (request_id); CREATE INDEX ON $1 (subject, client_id); CREATE INDEX ON $1 (client_id)"
}

echo "PostgreSQL $(sql -c 'SHOW server_version'), nproc $(nproc), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "(a) removing one day of $DAY_ROWS expired rows (next to $DAY_ROWS live ones)"
yesterday="date_trunc('day', now()) - interval '1 day'"
sql -c "CREATE TABLE exp_plain ($columns, PRIMARY KEY (signature)); CREATE INDEX ON exp_plain (expires_at)"
indexes exp_plain
sql -c "CREATE TABLE exp_part ($columns, PRIMARY KEY (signature, expires_at)) PARTITION BY RANGE (expires_at);
        CREATE TABLE exp_part_old PARTITION OF exp_part FOR VALUES FROM ($yesterday) TO (date_trunc('day', now()));
        CREATE TABLE exp_part_live PARTITION OF exp_part FOR VALUES FROM (date_trunc('day', now())) TO (date_trunc('day', now()) + interval '3 days')"
indexes exp_part
for t in exp_plain exp_part; do
	rows "$t" "$DAY_ROWS" "$yesterday"
	# live rows: from tomorrow on
	sql -c "INSERT INTO $t SELECT 'live' || signature, request_id, requested_at, client_id, subject, scopes,
	            granted_scopes, requested_audience, granted_audience, form_data, session_data, active,
	            expires_at + interval '2 days' FROM $t WHERE expires_at < now()"
done
sql -c "VACUUM ANALYZE exp_plain, exp_part" -c "CHECKPOINT"

# WAL is counted per statement (EXPLAIN's WAL figures, VACUUM VERBOSE's WAL
# usage): the server is shared, so its overall WAL position moves with other
# sessions' work too.
t0="$(now_ms)"
delete_wal="$(sql -c "DO \$\$
DECLARE n bigint; last timestamptz := '-infinity'; plan jsonb; bytes numeric := 0;
BEGIN
  LOOP
    EXECUTE format('EXPLAIN (ANALYZE, WAL, TIMING OFF, FORMAT JSON)
      WITH gone AS (
        DELETE FROM exp_plain WHERE ctid = ANY (ARRAY(
          SELECT ctid FROM exp_plain WHERE expires_at < now() AND expires_at >= %L
          ORDER BY expires_at LIMIT 1000))
        RETURNING expires_at)
      SELECT count(*), max(expires_at) FROM gone', last) INTO plan;
    bytes := bytes + (plan->0->'Plan'->>'WAL Bytes')::numeric;
    n := jsonb_path_query_first(plan, 'strict \$.**? (@.\"Node Type\" == \"ModifyTable\").\"Actual Rows\"')::bigint;
    COMMIT;
    EXIT WHEN n < 1000;
    SELECT min(expires_at) INTO last FROM exp_plain WHERE expires_at >= last;
  END LOOP;
  RAISE NOTICE '%', round(bytes / 1048576, 1);
END \$\$" 2>&1 | grep -o '[0-9.]*$')"
t1="$(now_ms)"
vacuum_wal="$(sql -c "VACUUM (VERBOSE) exp_plain" 2>&1 | grep -o 'WAL usage: .* bytes' | awk '{s += $(NF-1)} END {printf "%.1f", s / 1048576}')"
t2="$(now_ms)"
echo "  plain, batched DELETE:   $((t1 - t0)) ms, WAL $delete_wal MiB; then VACUUM: $((t2 - t1)) ms, WAL $vacuum_wal MiB"
echo "    = $(( DAY_ROWS * 1000 / (t1 - t0 + 1) )) rows/s deleted"

w0="$(wal)"; t0="$(now_ms)"
sql -c "ALTER TABLE exp_part DETACH PARTITION exp_part_old"
sql -c "DROP TABLE exp_part_old"
t1="$(now_ms)"; w1="$(wal)"
echo "  partitioned, DETACH + DROP: $((t1 - t0)) ms (no VACUUM needed); WAL of the whole server meanwhile $(wal_mb "$w0" "$w1") MiB"
left="$(sql -c "SELECT (SELECT count(*) FROM exp_plain), (SELECT count(*) FROM exp_part)")"
echo "  rows left (plain|partitioned): $left"

echo "(b) lookup by signature, $LOOKUP_ROWS rows per table, pgbench $CLIENTS clients x ${SECONDS_EACH}s each"
sql -c "CREATE TABLE look_plain ($columns, PRIMARY KEY (signature)); CREATE INDEX ON look_plain (expires_at)"
indexes look_plain
for n in 1 "$PARTS"; do
	t="look_p$n"
	sql -c "CREATE TABLE $t ($columns, PRIMARY KEY (signature, expires_at)) PARTITION BY RANGE (expires_at)"
	for i in $(seq 0 $((n - 1))); do
		# n partitions covering PARTS days from now; with one, it covers them all
		span=$(( PARTS / n ))
		sql -c "CREATE TABLE ${t}_$i PARTITION OF $t FOR VALUES FROM (date_trunc('day', now()) + interval '$((i * span)) days')
		            TO (date_trunc('day', now()) + interval '$(((i + 1) * span)) days')"
	done
	indexes "$t"
done
for t in look_plain look_p1 "look_p$PARTS"; do
	# the same rows, expiring over PARTS days
	sql -c "INSERT INTO $t (signature, request_id, requested_at, client_id, subject, scopes, granted_scopes,
	            requested_audience, granted_audience, form_data, session_data, expires_at)
	        SELECT md5('sig' || g), md5('r' || g), now(), 'client', 's', '{openid}', '{openid}', '{}', '{}', '',
	               json_build_object('pad', repeat('x', 600)),
	               date_trunc('day', now()) + interval '1 minute' + (g % ($PARTS * 86400 - 120)) * interval '1 second'
	        FROM generate_series(1, $LOOKUP_ROWS) g"
done
sql -c "VACUUM ANALYZE look_plain, look_p1, look_p$PARTS"
for t in look_plain look_p1 "look_p$PARTS"; do
	cat >"$tmp/$t.sql" <<SQL
\\set i random(1, $LOOKUP_ROWS)
SELECT session_data, active, expires_at FROM $t WHERE signature = md5('sig' || :i);
SQL
done
# prepared: plans are cached, as pgx does; simple: planned every time.
for mode in prepared simple; do
	for t in look_plain look_p1 "look_p$PARTS"; do
		out="$(pgbench -n -M "$mode" -c "$CLIENTS" -j "$CLIENTS" -T "$SECONDS_EACH" -f "$tmp/$t.sql" "$url" 2>&1)" ||
			{ echo "$out" >&2; exit 1; }
		lat="$(grep -o 'latency average = [0-9.]* ms' <<<"$out" | grep -o '[0-9.]* ms')"
		tps="$(grep -o 'tps = [0-9.]*' <<<"$out" | head -1 | grep -o '[0-9.]*$')"
		printf '  %-9s %-12s latency average %s, %s lookups/s\n' "$mode" "$t" "$lat" "$tps"
	done
done
sql -c "EXPLAIN (COSTS OFF) SELECT session_data FROM look_p$PARTS WHERE signature = 'x'" | head -4 | sed 's/^/  plan: /'
