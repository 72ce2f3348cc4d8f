#!/usr/bin/env bash
# Runs every test with the race detector against real services: PostgreSQL
# (each test gets its own database), Redis and Debian's Chromium for the
# browser tests; PgBouncer and HAProxy for the pooler and cluster tests.
# Starts or installs them when absent.
#
#   bash scripts/test.sh                     # go test ./...
#   bash scripts/test.sh -run TestRegister   # extra go test flags
#   bash scripts/test.sh ./apps/... -v       # packages first, then flags
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib/services.sh
. scripts/lib/services.sh

ensure_cc
ensure_postgres
ensure_redis
ensure_chromium
ensure_pgbouncer
ensure_haproxy

export NEXTORIA_TEST_DATABASE_URL="${NEXTORIA_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}"
export NEXTORIA_CHROMIUM="${NEXTORIA_CHROMIUM:-/usr/bin/chromium}"

# Without package arguments, test every package.
if [ $# -eq 0 ] || [ "${1#-}" != "$1" ]; then
	set -- ./... "$@"
fi
exec go test -race -count=1 -timeout 20m "$@"
