#!/usr/bin/env bash
# Runs the server in development mode on http://127.0.0.1:8080 with a seeded
# demo workspace, user and app; it prints the demo credentials and a
# ready-to-open authorize URL. Starts (or installs) PostgreSQL when needed.
# Extra arguments go to 'serve', e.g. bash scripts/dev.sh --config my.yaml;
# NEXTORIA_* variables work too, e.g. NEXTORIA_LOG_LEVEL=debug bash scripts/dev.sh.
#
# The demo data lives in its own database, nextoria_demo (NEXTORIA_DEMO_DB
# names another), marked with a comment when this script creates it. The
# script only ever drops a database that carries that mark; with
# NEXTORIA_DATABASE_URL set it leaves databases alone and uses that one.
# Stop the server with Ctrl-C.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib/services.sh
. scripts/lib/services.sh

say() { printf '[dev] %s\n' "$*" >&2; }

db="${NEXTORIA_DEMO_DB:-nextoria_demo}"
mark='nextoria demo'
if ! [[ $db =~ ^[a-z_][a-z0-9_]*$ ]]; then
	say "NEXTORIA_DEMO_DB must be a plain lower-case name (letters, digits, _): got '$db'"
	exit 2
fi

say "checking PostgreSQL (the first run may install it)…"
ensure_postgres

# The development system secret is made once and kept out of version control.
mkdir -p .dev
chmod 700 .dev
new_secret=false
if [ ! -s .dev/system-secret ]; then
	say "making a development system secret in .dev/system-secret"
	(umask 077 && head -c 48 /dev/urandom | base64 -w0 >.dev/system-secret)
	new_secret=true
fi
chmod 600 .dev/system-secret

sql() { psql -h 127.0.0.1 -U postgres -w -d postgres -qtAc "$1"; }
exists() { [ -n "$(sql "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; }
ours() { [ "$(sql "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '$db'")" = "$mark" ]; }

if [ -n "${NEXTORIA_DATABASE_URL:-}" ]; then
	say "using NEXTORIA_DATABASE_URL as given; no database is created or dropped"
else
	if exists && ! ours; then
		say "a database named $db exists but was not created by this script; it is left untouched."
		say "Choose another name for the demo, e.g. NEXTORIA_DEMO_DB=nextoria_demo2 bash scripts/dev.sh,"
		say "or point NEXTORIA_DATABASE_URL at a database you want the server to use."
		exit 1
	fi
	if exists && $new_secret; then
		# Its signing keys and client secrets were made with a secret this
		# checkout does not have (another clone, or a deleted .dev/); it holds
		# only demo data, as its mark says.
		say "recreating the demo database $db: it was set up with another development secret"
		sql "DROP DATABASE $db WITH (FORCE)"
	fi
	if ! exists; then
		say "creating the demo database $db"
		sql "CREATE DATABASE $db"
		sql "COMMENT ON DATABASE $db IS '$mark'"
	fi
	export NEXTORIA_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"
fi

NEXTORIA_SECRETS_SYSTEM="$(cat .dev/system-secret)"
export NEXTORIA_SECRETS_SYSTEM
export NEXTORIA_LOG_FORMAT="${NEXTORIA_LOG_FORMAT:-text}"
# No load balancer waits on a development machine: Ctrl-C stops at once.
export NEXTORIA_SHUTDOWN_DRAIN="${NEXTORIA_SHUTDOWN_DRAIN:-0s}"

say "building nextoria-authz into bin/ (the first run can take a few minutes)…"
start=$(date +%s)
go build -o bin/nextoria-authz ./cmd/nextoria-authz
say "built in $(($(date +%s) - start))s; starting the server on http://${NEXTORIA_LISTEN:-127.0.0.1:8080} (stop it with Ctrl-C)"
exec bin/nextoria-authz serve --dev "$@"
