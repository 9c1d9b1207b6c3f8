#!/bin/sh
# The image test (issue 7, DECISIONS O6), run by `make test`: build the scratch image with
# Debian's podman/buildah (tests/image/image.sh), then check
#   - its files: exactly /droplin, /etc/passwd, /etc/group (and the /etc directory)
#   - its size (uncompressed, goal under 1.5 MB), user (non-root), entrypoint, port, health check
#   - that it runs: PostgreSQL and the container share a network namespace made for the test
#     (ip netns; the container runs with --network ns:...), /health and /ready are reached with
#     `nsenter -t PID -n curl`, the HEALTHCHECK (droplin --healthcheck) passes, the process runs
#     as uid 10001, start-to-ready time is measured
#   - SIGTERM: exit status 0 within the drain timeout (DRAIN_SECONDS 3 < exit < 10 s)
# Where a container cannot be run, the same checks run on the unpacked image root under
# chroot in the test's own network namespace, and the output says so; the container's own
# checks (PID 1, podman's HEALTHCHECK, SIGTERM through the runtime, JSON logs) are then not
# made, which is a failure in CI (CI=true) or with IMAGE_TEST_REQUIRE_CONTAINER=1.
set -eu

REPO=$(cd "$(dirname "$0")/../.." && pwd)
IMAGE_SH="$REPO/tests/image/image.sh"
IMAGE=localhost/droplin:latest
MAX_SIZE=1500000
T0=$(date +%s)
cd "$REPO"

fail() { echo "test_image: FAIL: $*" >&2; exit 1; }
ok() { echo "test_image: ok: $*"; }
pm() { sh "$IMAGE_SH" podman "$@"; }
ms() { echo $(($(date +%s%N) / 1000000)); }
rand() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }

# ---- build --------------------------------------------------------------------------------
t=$(date +%s)
mkdir -p "$REPO/build/image"
sh "$IMAGE_SH" build 2>"$REPO/build/image/build.log" ||
	{ tail -n 40 "$REPO/build/image/build.log" >&2; fail "image build (log: build/image/build.log)"; }
ok "image built in $(($(date +%s) - t)) s"

# ---- static checks ------------------------------------------------------------------------
mnt=$(pm image mount "$IMAGE")
files=$(cd "$mnt" && find . -mindepth 1 | sed 's/^\.//' | sort | tr '\n' ' ')
listing=$(cd "$mnt" && find . -mindepth 1 -printf '  %M %u:%g %9s /%P\n' | sed 's|/\./|/|' | sort -k4)
pm image unmount "$IMAGE" >/dev/null
echo "$listing"
[ "$files" = "/droplin /etc /etc/group /etc/passwd " ] || fail "unexpected files: $files"
ok "files: exactly /droplin /etc/passwd /etc/group"

size=$(pm image inspect --format '{{.Size}}' "$IMAGE")
[ "$size" -lt "$MAX_SIZE" ] || fail "image is $size bytes (goal: under $MAX_SIZE)"
ok "size $size bytes uncompressed (goal: under $MAX_SIZE)"

check() { # check WHAT FORMAT EXPECTED
	got=$(pm image inspect --format "$2" "$IMAGE")
	[ "$got" = "$3" ] || fail "$1: got $got, want $3"
	ok "$1: $got"
}
check user '{{.Config.User}}' '10001:10001'
check entrypoint '{{json .Config.Entrypoint}}' '["/droplin"]'
check "exposed ports" '{{json .Config.ExposedPorts}}' '{"8080/tcp":{}}'
check "health check" '{{json .HealthCheck.Test}}' '["CMD","/droplin","--healthcheck"]'
check "stop signal" '{{.Config.StopSignal}}' 'SIGTERM'

# ---- run ----------------------------------------------------------------------------------
NS=droplin-img-$$
PGDIR=$(mktemp -d /tmp/droplin-imgpg-XXXXXX)
ROOT=
CTR=droplin-img-$$
PGPORT=5432
cleanup() {
	pm rm -f -t 0 "$CTR" >/dev/null 2>&1 || true
	if [ -f "$PGDIR/data/postmaster.pid" ]; then
		ip netns exec "$NS" sh tests/pg.sh stop "$PGDIR" immediate >/dev/null 2>&1 || true
	fi
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "$PGDIR"
	[ -z "$ROOT" ] || rm -rf "$ROOT"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

ip netns add "$NS" || fail "ip netns add $NS"
ip netns exec "$NS" ip link set lo up
ip netns exec "$NS" sh tests/pg.sh start "$PGDIR" "$PGPORT" || fail "PostgreSQL in $NS"
ok "PostgreSQL 15 on 127.0.0.1:$PGPORT inside network namespace $NS"
DBURL="postgresql://droplin:droplin@127.0.0.1:$PGPORT/postgres"
JWT=$(rand)
ADMIN=$(rand)

# wait_ready: poll /ready through `$IN curl` (IN enters the network), prints ms
wait_ready() {
	start=$1
	i=0
	while ! $IN curl -sf -o /dev/null --max-time 1 http://127.0.0.1:8080/ready; do
		i=$((i + 1))
		[ "$i" -lt 500 ] || return 1
		sleep 0.02
	done
	echo $(($(ms) - start))
}

probe_checks() {
	health=$($IN curl -sS --max-time 2 http://127.0.0.1:8080/health) || fail "/health unreachable"
	echo "  /health: $health"
	case $health in *'"status":"healthy"'*'"environment":"production"'*) ;; *) fail "/health: $health" ;; esac
	code=$($IN curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/ready)
	[ "$code" = 200 ] || fail "/ready: $code"
	ok "/health healthy and /ready 200 inside the $1"
}

uid_of() { awk '$1 == "Uid:" { print $2 }' "/proc/$1/status"; }

run_container() {
	start=$(ms)
	pm run -d --name "$CTR" --network "ns:/run/netns/$NS" --health-interval disable \
		-e DATABASE_URL="$DBURL" -e JWT_SECRET_KEY="$JWT" -e ADMIN_SECRET="$ADMIN" \
		-e RAILWAY_REPLICA_ID=image-test "$IMAGE" >"$REPO/build/image/run.log" 2>&1 || return 1
	pid=$(pm inspect --format '{{.State.Pid}}' "$CTR" 2>/dev/null)
	[ -n "$pid" ] && [ "$pid" -gt 0 ] || return 1
	IN="nsenter -t $pid -n"
	ready=$(wait_ready "$start") || { pm logs "$CTR" | tail -n 20 >&2; fail "container not ready"; }
	ok "container started (podman run) to /ready 200 in $ready ms"
	probe_checks container
	[ "$(uid_of "$pid")" = 10001 ] || fail "container process runs as uid $(uid_of "$pid")"
	nspid=$(awk '$1 == "NSpid:" { print $NF }' "/proc/$pid/status")
	[ "$nspid" = 1 ] || fail "droplin is PID $nspid in the container, not 1"
	ok "droplin is PID 1 of the container, uid 10001"
	pm healthcheck run "$CTR" >/dev/null 2>&1 || fail "podman healthcheck run (droplin --healthcheck)"
	ok "HEALTHCHECK (/droplin --healthcheck) passes"
	t=$(ms)
	pm kill --signal TERM "$CTR" >/dev/null 2>&1
	rc=$(pm wait "$CTR" 2>/dev/null)
	stop=$(($(ms) - t))
	[ "$rc" = 0 ] || { pm logs "$CTR" | tail -n 20 >&2; fail "exit status $rc after SIGTERM"; }
	[ "$stop" -lt 10000 ] || fail "SIGTERM to exit took $stop ms (SHUTDOWN_TIMEOUT_SECONDS 10)"
	ok "SIGTERM: exit 0 after $stop ms (DRAIN_SECONDS 3, SHUTDOWN_TIMEOUT_SECONDS 10)"
	pm logs "$CTR" 2>/dev/null | head -n 1 | grep -q '^{"time":' || fail "logs are not JSON lines"
	ok "logs are JSON lines"
	return 0
}

# Fallback: the image's root file system, unpacked, under chroot in the test's network namespace
# (ip netns: an unshared network namespace with only loopback).
run_unpacked() {
	if [ "${CI:-}" = true ] || [ "${IMAGE_TEST_REQUIRE_CONTAINER:-0}" = 1 ]; then
		tail -n 20 "$REPO/build/image/run.log" >&2 2>/dev/null || true
		fail "the container could not be run (build/image/run.log), and CI=true or IMAGE_TEST_REQUIRE_CONTAINER=1 requires its checks: PID 1, the HEALTHCHECK through podman, SIGTERM through the runtime, JSON logs"
	fi
	echo "test_image: NOTE: the container could not be run (see build/image/run.log);"
	echo "test_image: NOTE: checking the unpacked image root under chroot (uid 10001) in the network namespace instead"
	ROOT=$(mktemp -d /tmp/droplin-imgroot-XXXXXX)
	mnt=$(pm image mount "$IMAGE")
	cp -a "$mnt/." "$ROOT/"
	pm image unmount "$IMAGE" >/dev/null
	start=$(ms)
	ip netns exec "$NS" env -i DATABASE_URL="$DBURL" JWT_SECRET_KEY="$JWT" ADMIN_SECRET="$ADMIN" \
		RAILWAY_REPLICA_ID=image-test /usr/sbin/chroot --userspec=10001:10001 "$ROOT" /droplin >"$REPO/build/image/unpacked.log" 2>&1 &
	pid=$!
	IN="ip netns exec $NS"
	ready=$(wait_ready "$start") || fail "unpacked root not ready"
	ok "unpacked root: start to /ready 200 in $ready ms"
	probe_checks "unpacked root"
	ip netns exec "$NS" env -i PORT=8080 /usr/sbin/chroot --userspec=10001:10001 "$ROOT" /droplin --healthcheck >/dev/null ||
		fail "--healthcheck in the unpacked root"
	t=$(ms)
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" = 0 ] || fail "exit status $rc after SIGTERM"
	ok "SIGTERM: exit 0 after $(($(ms) - t)) ms"
}

# IMAGE_TEST_UNPACKED=1 forces the fallback (to test it).
if [ "${IMAGE_TEST_UNPACKED:-0}" = 1 ] || ! run_container; then
	pm rm -f -t 0 "$CTR" >/dev/null 2>&1 || true
	run_unpacked
fi
ok "image test passed in $(($(date +%s) - T0)) s"
