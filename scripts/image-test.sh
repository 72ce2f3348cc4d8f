#!/usr/bin/env bash
# Builds the container image (deploy/Containerfile) with Debian's podman and
# proves it works without starting a container, which this machine cannot:
# the image's filesystem is exported and its entrypoint run under chroot as
# the image's user against a fresh PostgreSQL database: `migrate up`, then
# `serve` answering /health/ready with 200 and stopping with exit code 0 on
# SIGTERM. It also checks that the binaries are static, that the image runs
# as a non-root user, and that it holds nothing but the expected files.
#
# Podman keeps its storage in a temporary directory (vfs driver, chroot
# isolation), so the run leaves nothing behind and can be repeated.
#
#   bash scripts/image-test.sh            # IMAGE_TAG=localhost/nextoria-authz:test
#   KEEP_IMAGE=1 bash scripts/image-test.sh   # also load the image into podman's default storage
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib/services.sh
. scripts/lib/services.sh

say() { printf '[image] %s\n' "$*" >&2; }
fail() {
	say "FAIL: $*"
	exit 1
}

tag="${IMAGE_TAG:-localhost/nextoria-authz:test}"
image_user="65532:65532"
want_files="etc/group
etc/passwd
etc/ssl/certs/ca-certificates.crt
usr/local/bin/nextoria-authz
usr/local/bin/nextoria-example-api"

if ! command -v podman >/dev/null 2>&1; then
	_apt_install podman || fail "cannot install podman"
fi
[ -s /etc/ssl/certs/ca-certificates.crt ] || _apt_install ca-certificates || fail "cannot install ca-certificates"
ensure_postgres

work=$(mktemp -d "${TMPDIR:-/tmp}/nextoria-image.XXXXXX")
db="nextoria_image_test_$$"
server_pid=""
cleanup() {
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		kill -KILL "$server_pid" 2>/dev/null || true
	fi
	psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
	if [ -d "$work/storage" ]; then
		podman "${pm[@]}" rm -af >/dev/null 2>&1 || true
		podman "${pm[@]}" rmi -af >/dev/null 2>&1 || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
pm=(--root "$work/storage" --runroot "$work/run" --storage-driver vfs)

say "building static binaries into bin/image"
mkdir -p bin/image
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o bin/image/ ./cmd/nextoria-authz ./cmd/nextoria-example-api
cp /etc/ssl/certs/ca-certificates.crt bin/image/ca-certificates.crt
for b in bin/image/nextoria-authz bin/image/nextoria-example-api; do
	file "$b" | grep -q 'statically linked' || fail "$b is not statically linked: $(file "$b")"
	if ldd "$b" >/dev/null 2>&1; then
		fail "$b has dynamic dependencies: $(ldd "$b")"
	fi
done

if command -v systemd-analyze >/dev/null 2>&1; then
	say "systemd-analyze verify deploy/nextoria-authz.service"
	# verify wants the unit's binary to exist: point it at the one just built.
	sed "s#/usr/local/bin/nextoria-authz#$PWD/bin/image/nextoria-authz#g" deploy/nextoria-authz.service >"$work/nextoria-authz.service"
	systemd-analyze verify "$work/nextoria-authz.service" || fail "systemd-analyze verify rejects deploy/nextoria-authz.service"
fi

say "podman build $tag"
# The default OCI format drops HEALTHCHECK (podman warns at each step); the
# README says what to probe instead.
podman "${pm[@]}" build --isolation chroot --build-arg VERSION="$(git describe --always --dirty 2>/dev/null || echo dev)" \
	-f deploy/Containerfile -t "$tag" . >"$work/build.log" 2>&1 || fail "podman build failed:
$(cat "$work/build.log")"

user=$(podman "${pm[@]}" image inspect --format '{{.Config.User}}' "$tag")
[ "$user" = "$image_user" ] || fail "image user is '$user', want $image_user"
entrypoint=$(podman "${pm[@]}" image inspect --format '{{join .Config.Entrypoint " "}} {{join .Config.Cmd " "}}' "$tag")
[ "$entrypoint" = "/usr/local/bin/nextoria-authz serve" ] || fail "entrypoint and command are '$entrypoint'"
ports=$(podman "${pm[@]}" image inspect --format '{{range $p, $_ := .Config.ExposedPorts}}{{$p}} {{end}}' "$tag")
for p in 8080/tcp 8081/tcp; do
	case " $ports" in *" $p "*) ;; *) fail "port $p is not exposed (exposed: $ports)" ;; esac
done
image_env=$(podman "${pm[@]}" image inspect --format '{{join .Config.Env "\n"}}' "$tag")
if grep -qiE 'SECRET|PASSWORD|TOKEN' <<<"$image_env"; then
	fail "the image's environment carries a secret: $image_env"
fi

say "exporting the image's filesystem"
mkdir "$work/rootfs"
podman "${pm[@]}" create --name nextoria-image-test "$tag" >/dev/null
podman "${pm[@]}" export nextoria-image-test | tar -x -C "$work/rootfs"
files=$(cd "$work/rootfs" && find . -type f | sed 's|^\./||' | sort)
[ "$files" = "$want_files" ] || fail "the image holds other files than expected:
$files"
if grep -rlE 'PRIVATE KEY|NEXTORIA_SECRETS_SYSTEM=' "$work/rootfs/etc" >/dev/null 2>&1; then
	fail "the image holds a private key or a secret"
fi
grep -q "^nextoria:x:${image_user}:" "$work/rootfs/etc/passwd" || fail "the image's /etc/passwd lacks user $image_user"

# Everything below runs the image's own binary, as the image's user, with
# only the image's environment and the test's settings.
# Below the ephemeral range (32768 and up), which outgoing connections use.
port=$((20000 + RANDOM % 12000))
while _tcp_open 127.0.0.1 "$port"; do port=$((20000 + RANDOM % 12000)); done
run_env=(env -i PATH=/usr/local/bin
	$(podman "${pm[@]}" image inspect --format '{{join .Config.Env " "}}' "$tag" | tr ' ' '\n' | grep '^NEXTORIA_')
	NEXTORIA_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"
	NEXTORIA_LISTEN="127.0.0.1:$port"
	NEXTORIA_ISSUER="http://127.0.0.1:$port"
	NEXTORIA_PROXY_TRUSTED=true
	NEXTORIA_SHUTDOWN_DRAIN=1s
	NEXTORIA_SECRETS_SYSTEM="$(head -c 48 /dev/urandom | base64 -w0)")
chroot=$(command -v chroot)
in_image() { "${run_env[@]}" "$chroot" --userspec="$image_user" "$work/rootfs" /usr/local/bin/nextoria-authz "$@"; }

psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $db" >/dev/null
say "migrate up (chroot, user $image_user)"
applied=$(in_image migrate up --json) || fail "migrate up failed"
case "$applied" in *'"applied":'*) ;; *) fail "migrate up printed: $applied" ;; esac

say "serve on 127.0.0.1:$port (chroot, user $image_user)"
# Not through in_image: env and chroot exec, so $! is the server itself.
"${run_env[@]}" "$chroot" --userspec="$image_user" "$work/rootfs" /usr/local/bin/nextoria-authz serve 2>"$work/serve.log" &
server_pid=$!
ready=""
for _ in $(seq 1 100); do
	if ! kill -0 "$server_pid" 2>/dev/null; then
		fail "serve exited at start:
$(cat "$work/serve.log")"
	fi
	if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health/ready")" = 200 ]; then
		ready=1
		break
	fi
	sleep 0.2
done
[ -n "$ready" ] || fail "/health/ready did not answer 200:
$(cat "$work/serve.log")"
in_image healthcheck --url "http://127.0.0.1:$port/health/ready" >/dev/null || fail "the image's healthcheck command failed"
process_uid=$(ps -o uid= -p "$server_pid" | tr -d ' ')
[ "$process_uid" = "${image_user%%:*}" ] || fail "serve runs as uid '$process_uid', want ${image_user%%:*}"
curl -fsS "http://127.0.0.1:$port/.well-known/oauth-authorization-server" -H 'X-Forwarded-Proto: https' >/dev/null ||
	fail "the metadata endpoint failed"

say "SIGTERM: drain, then exit 0"
kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=""
[ "$status" -eq 0 ] || fail "serve exited with $status after SIGTERM:
$(cat "$work/serve.log")"
grep -q '"msg":"stopped"' "$work/serve.log" || fail "serve did not log a clean stop:
$(cat "$work/serve.log")"

if [ -n "${KEEP_IMAGE:-}" ]; then
	say "copying $tag into podman's default storage"
	podman "${pm[@]}" save --format oci-archive -o "$work/image.tar" "$tag"
	podman load -i "$work/image.tar" >/dev/null
fi
say "ok: $tag ($(du -sh "$work/rootfs" | cut -f1) unpacked) runs migrate up and serve as $image_user from its own filesystem"
