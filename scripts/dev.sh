#!/usr/bin/env bash
# Runs the server in development mode on http://127.0.0.1:8080 with a seeded
# demo workspace, user and app; it prints the demo credentials and a
# ready-to-open authorize URL. Starts (or installs) PostgreSQL when needed.
# Extra arguments go to 'serve', e.g. bash scripts/dev.sh --config my.yaml;
# NEXTORIA_* variables work too, e.g. NEXTORIA_LOG_LEVEL=debug bash scripts/dev.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib/services.sh
. scripts/lib/services.sh

ensure_postgres

db=nextoria

# The development system secret is made once and kept out of version control.
mkdir -p .dev
chmod 700 .dev
new_secret=false
if [ ! -s .dev/system-secret ]; then
	(umask 077 && head -c 48 /dev/urandom | base64 -w0 >.dev/system-secret)
	new_secret=true
fi
chmod 600 .dev/system-secret

sql() { psql -h 127.0.0.1 -U postgres -w -d postgres -qtAc "$1"; }
if [ -n "$(sql "SELECT 1 FROM pg_database WHERE datname = '$db'")" ] && $new_secret; then
	# Its signing keys and client secrets were made with a secret this checkout
	# does not have (another clone, or a deleted .dev/); it holds only demo data.
	echo "[dev] recreating database $db: it was set up with another development secret" >&2
	sql "DROP DATABASE $db WITH (FORCE)"
fi
if [ -z "$(sql "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
	echo "[dev] creating database $db" >&2
	sql "CREATE DATABASE $db"
fi

NEXTORIA_SECRETS_SYSTEM="$(cat .dev/system-secret)"
export NEXTORIA_SECRETS_SYSTEM
export NEXTORIA_DATABASE_URL="${NEXTORIA_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/$db?sslmode=disable}"
export NEXTORIA_LOG_FORMAT="${NEXTORIA_LOG_FORMAT:-text}"

exec go run ./cmd/nextoria-authz serve --dev "$@"
