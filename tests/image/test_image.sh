#!/bin/sh
# The image test (issue 7, DECISIONS O6), run by `make test`: build the scratch image with
# Debian's podman/buildah (tests/image/image.sh) from a fresh copy of the work tree without
# build/ (what a fresh clone, Railway or `docker build` sees), then check
#   - its files: exactly /droplin, /droplin.spdx.json, /etc/passwd, /etc/group and the notices
#     under /licenses; the SBOM names what `droplin --version` lists, the notices cover it
#   - its tags: latest and the version (scripts/version.sh)
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
# the image storage of tests/image/image.sh (IMAGE_DIR, default build/image/)
IMG=${IMAGE_DIR:-$REPO/build/image}
export IMAGE_DIR="$IMG"
MAX_SIZE=1500000
T0=$(date +%s)
cd "$REPO"

fail() { echo "test_image: FAIL: $*" >&2; exit 1; }
ok() { echo "test_image: ok: $*"; }
pm() { sh "$IMAGE_SH" podman "$@"; }
ms() { echo $(($(date +%s%N) / 1000000)); }
rand() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }

# ---- build --------------------------------------------------------------------------------
# The tracked and new files of the work tree (uncommitted changes included), nothing ignored:
# no build/, so no cached tarballs. The image storage stays the repository's (build/image/),
# so the base and unchanged layers are reused.
t=$(date +%s)
mkdir -p "$IMG"
FRESH=$(mktemp -d /tmp/droplin-imgsrc-XXXXXX)
git ls-files -co --exclude-standard -z | xargs -0 tar -cf - | tar -xf - -C "$FRESH"
[ ! -e "$FRESH/build" ] || fail "the fresh copy has a build/ folder"
VERSION=$(sh scripts/version.sh)
VERSION=$VERSION sh "$FRESH/tests/image/image.sh" build \
	2>"$IMG/build.log" || { rm -rf "$FRESH"; tail -n 40 "$IMG/build.log" >&2
	fail "image build (log: $IMG/build.log)"; }
rm -rf "$FRESH"
ok "image built from a fresh copy without build/ in $(($(date +%s) - t)) s"
grep '^fetch.sh: .* gone from the archive' "$IMG/build.log" || true

# ---- static checks ------------------------------------------------------------------------
mnt=$(pm image mount "$IMAGE")
files=$(cd "$mnt" && find . -mindepth 1 | sed 's/^\.//' | grep -v '^/licenses/' | sort | tr '\n' ' ')
notices=$(cd "$mnt/licenses" && ls | tr '\n' ' ')
listing=$(cd "$mnt" && find . -mindepth 1 -printf '  %M %u:%g %9s /%P\n' | sed 's|/\./|/|' | sort -k4)
version_out=$("$mnt/droplin" --version)
cp "$mnt/droplin.spdx.json" "$IMG/droplin.spdx.json"
pm image unmount "$IMAGE" >/dev/null
echo "$listing"
[ "$files" = "/droplin /droplin.spdx.json /etc /etc/group /etc/passwd /licenses " ] ||
	fail "unexpected files: $files"
for n in droplin musl bearssl jsmn jansson libjwt libcurl libpq mozilla-ca-certificates; do
	case " $notices " in *" $n.txt "*) ;; *) fail "no /licenses/$n.txt (have: $notices)" ;; esac
done
ok "files: exactly /droplin /droplin.spdx.json /etc/passwd /etc/group and /licenses/: $notices"
echo "$version_out" | sed 's/^/  | /'
/usr/bin/python3 - "$IMG/droplin.spdx.json" "$version_out" <<'PY' || fail "SBOM"
import json, sys
doc = json.load(open(sys.argv[1]))
lines = sys.argv[2].splitlines()
pkgs = {p["name"]: p for p in doc["packages"]}
assert doc["spdxVersion"] == "SPDX-2.3"
assert pkgs["droplin"]["versionInfo"] == lines[0].split(" ", 1)[1], (pkgs["droplin"], lines[0])
for line in lines[1:]:
    name, version = line.split(" (")[0].rsplit(" ", 1)
    assert pkgs[name]["versionInfo"] == version, (name, pkgs.get(name))
    assert pkgs[name]["licenseConcluded"] == line.rsplit(", ", 1)[1], (name, line)
assert len(pkgs) == len(lines), (sorted(pkgs), lines)
PY
ok "/droplin.spdx.json (SPDX 2.3) names exactly the $(($(echo "$version_out" | wc -l) - 1)) components of droplin --version"
pm image exists "localhost/droplin:$VERSION" || fail "no image tagged localhost/droplin:$VERSION"
ok "tagged localhost/droplin:latest and localhost/droplin:$VERSION"

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
		-e RAILWAY_REPLICA_ID=image-test "$IMAGE" >"$IMG/run.log" 2>&1 || return 1
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
		RAILWAY_REPLICA_ID=image-test /usr/sbin/chroot --userspec=10001:10001 "$ROOT" /droplin >"$IMG/unpacked.log" 2>&1 &
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
