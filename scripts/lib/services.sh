# shellcheck shell=bash
# Helpers that make sure the services the server and its tests need are
# running on this machine: PostgreSQL, Redis, Chromium, PgBouncer and HAProxy,
# and pgbench for the load benchmark. Source this file; each ensure_* function
# uses what is already there, starts what is installed but stopped, and
# installs from Debian's packages what is missing.
#
# This is development and test machine setup, not a production recipe: a
# PostgreSQL cluster it installs accepts password-less (trust) connections on
# the loopback addresses, and Redis runs without persistence.

_SERVICES_APT_UPDATED=""

_log() { printf '[services] %s\n' "$*" >&2; }

_as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		_log "need root to run: $*"
		return 1
	fi
}

# _apt_install PACKAGE... installs Debian packages, updating the index once.
_apt_install() {
	if [ -z "$_SERVICES_APT_UPDATED" ]; then
		_log "apt-get update"
		_as_root apt-get update -q >&2 || return 1
		_SERVICES_APT_UPDATED=1
	fi
	_log "installing $*"
	_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2 || return 1
}

# _wait_for DESCRIPTION COMMAND... retries COMMAND for up to 30 seconds.
_wait_for() {
	local what=$1 _
	shift
	for _ in $(seq 1 60); do
		if "$@"; then
			return 0
		fi
		sleep 0.5
	done
	_log "$what did not become ready within 30 seconds"
	return 1
}

# _tcp_open HOST PORT succeeds when something accepts connections there.
_tcp_open() {
	(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

_pg_accepting() {
	if command -v pg_isready >/dev/null 2>&1; then
		pg_isready -q -h 127.0.0.1 -p 5432
	else
		_tcp_open 127.0.0.1 5432
	fi
}

_pg_version() {
	find /etc/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort -V | tail -1
}

_pg_trust_ok() {
	psql -h 127.0.0.1 -U postgres -w -d postgres -tAc 'SELECT 1' >/dev/null 2>&1
}

# _pg_trust_loopback VERSION lets local TCP connections in without a password
# (entries at the top of pg_hba.conf win) and reloads the cluster.
_pg_trust_loopback() {
	local hba="/etc/postgresql/$1/main/pg_hba.conf"
	[ -f "$hba" ] || return 1
	if ! grep -q '^# nextoria dev/test: trust loopback' "$hba"; then
		_log "letting loopback TCP connections in without a password ($hba)"
		_as_root sed -i '1i # nextoria dev/test: trust loopback\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
	fi
	_as_root pg_ctlcluster --skip-systemctl-redirect "$1" main reload
}

ensure_postgres() {
	if ! _pg_accepting; then
		if [ -z "$(_pg_version)" ]; then
			if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
				_apt_install postgresql || return 1
			fi
			if [ -z "$(_pg_version)" ]; then
				local bin_version
				bin_version=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -V | tail -1)
				_log "creating PostgreSQL $bin_version cluster main"
				_as_root pg_createcluster "$bin_version" main >&2 || return 1
			fi
		fi
		local version
		version=$(_pg_version)
		_log "starting PostgreSQL $version"
		if ! _as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2; then
			# The package's own start may have won the race; that is fine too.
			sleep 1
			_pg_accepting || { _log "could not start PostgreSQL $version"; return 1; }
		fi
		_wait_for "PostgreSQL on 127.0.0.1:5432" _pg_accepting || return 1
	fi
	if ! command -v psql >/dev/null 2>&1; then
		_apt_install postgresql-client || return 1
	fi
	if ! _pg_trust_ok; then
		local version
		version=$(_pg_version)
		if [ -z "$version" ] || ! _pg_trust_loopback "$version"; then
			_log "PostgreSQL on 127.0.0.1:5432 refuses user postgres without a password; set NEXTORIA_DATABASE_URL (or PGPASSWORD) yourself"
			return 1
		fi
		_wait_for "password-less PostgreSQL login" _pg_trust_ok || return 1
	fi
}

_redis_ready() {
	if command -v redis-cli >/dev/null 2>&1; then
		[ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]
	else
		_tcp_open 127.0.0.1 6379
	fi
}

ensure_redis() {
	if _redis_ready; then
		return 0
	fi
	if ! command -v redis-server >/dev/null 2>&1; then
		_apt_install redis-server || return 1
	fi
	if ! _redis_ready; then
		# Installing the package may have started it; otherwise start it here.
		_log "starting Redis"
		redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no >&2 ||
			_log "redis-server did not start; waiting in case another instance is starting"
	fi
	_wait_for "Redis on 127.0.0.1:6379" _redis_ready
}

ensure_chromium() {
	if [ ! -x /usr/bin/chromium ]; then
		_apt_install chromium || return 1
	fi
}

# ensure_pgbench makes sure pgbench exists: the load benchmark measures
# PostgreSQL's own ceilings with it (Debian ships it in postgresql-client).
ensure_pgbench() {
	if [ ! -x /usr/bin/pgbench ]; then
		_apt_install postgresql-client || return 1
	fi
}

# ensure_cc makes sure a C compiler exists: the race detector needs cgo.
ensure_cc() {
	if ! command -v gcc >/dev/null 2>&1; then
		_apt_install gcc libc6-dev || return 1
	fi
}

# ensure_pgbouncer installs Debian's PgBouncer. The tests start their own
# pgbouncer on a free loopback port with a generated configuration, so the
# package's system service is neither needed nor used.
ensure_pgbouncer() {
	if ! command -v pgbouncer >/dev/null 2>&1 && [ ! -x /usr/sbin/pgbouncer ]; then
		_apt_install pgbouncer || return 1
	fi
}

# ensure_haproxy installs Debian's HAProxy, which scripts/cluster.sh runs in
# front of several server instances (again its own process, not the service).
ensure_haproxy() {
	if ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ]; then
		_apt_install haproxy || return 1
	fi
}
