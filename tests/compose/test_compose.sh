#!/bin/sh
# docs/compose.yaml, checked as far as this machine allows (no registry, no network but loopback):
#
#   1. the file parses (python3-yaml) and has the topology docs/compose.md describes: PostgreSQL,
#      three droplin replicas on ports of their own, a load balancer published on 127.0.0.1 only,
#      whose configuration (docs/compose-haproxy.cfg) names every replica at its port;
#   2. podman-compose (Debian's) reads it and turns it into podman commands (--dry-run with echo
#      for podman: nothing is created), and refuses to start without the two secrets;
#   3. the same topology runs with locally built images in one podman pod whose network namespace
#      has only loopback: each service's name is 127.0.0.1 there, the environment, volumes and
#      commands are the file's. The official postgres and haproxy images cannot be pulled here,
#      so Debian's postgresql-15 and haproxy stand in for them (built on tests/image/image.sh's
#      debootstrap base); droplin's image is made from ./droplin as the Containerfile's last
#      stage makes it (or DROPLIN_IMAGE, e.g. one that `make image` built). Then
#      scripts/check-replicas runs against the load balancer from inside the pod's namespace,
#      one replica is stopped (it must drain and exit 0) and the balancer keeps answering.
#
# Storage and configuration are tests/image/image.sh's (build/image/). Bounded: every wait has a
# deadline; the pod is removed at the end. Run as root: sh tests/compose/test_compose.sh
set -eu

REPO=$(cd "$(dirname "$0")/../.." && pwd)
COMPOSE=$REPO/docs/compose.yaml
IMAGE_SH=$REPO/tests/image/image.sh
POD=droplin-compose-test
PASSED=0
ok() { PASSED=$((PASSED + 1)); echo "ok: $*"; }
fail() { echo "FAIL: $*" >&2; echo "0 passed, 1 failed"; exit 1; }
pm() { sh "$IMAGE_SH" podman "$@"; }

# -- 1. parse --------------------------------------------------------------------------------
/usr/bin/python3 - "$COMPOSE" "$REPO/docs/compose-haproxy.cfg" <<'PY' || fail "compose.yaml's topology"
import re, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
cfg = open(sys.argv[2]).read()
s = doc["services"]
assert sorted(s) == ["droplin1", "droplin2", "droplin3", "lb", "postgres"], sorted(s)
ports = set()
for name in ("droplin1", "droplin2", "droplin3"):
    env = s[name]["environment"]
    assert env["DATABASE_URL"].startswith("postgresql://droplin:droplin@postgres:5432/"), env
    for var in ("JWT_SECRET_KEY", "ADMIN_SECRET"):
        assert env[var].startswith("${" + var + ":?"), (name, var, env[var])
    assert env["RAILWAY_REPLICA_ID"] == name and env["TRUST_PROXY"] == "1", env
    assert "ports" not in s[name], f"{name} is published"
    assert re.search(rf"^\s*server {name} {name}:{env['PORT']}\s*$", cfg, re.M), (name, env["PORT"])
    assert s[name]["build"]["dockerfile"] == "Containerfile" and s[name]["stop_grace_period"] == "15s"
    ports.add(env["PORT"])
assert len(ports) == 3, ports
assert s["lb"]["ports"] == ["127.0.0.1:8080:8080"], s["lb"]["ports"]
assert "ports" not in s["postgres"], "postgres is published"
assert re.search(r"^\s*bind :8080\s*$", cfg, re.M) and "uri /ready" in cfg
PY
ok "docs/compose.yaml parses: postgres, droplin1-3 on ports of their own, lb on 127.0.0.1:8080"

# -- 2. podman-compose reads it --------------------------------------------------------------
# podman-compose, and catatonit: the pause process of a pod's infra container
missing=
for p in podman-compose catatonit; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	[ "$(id -u)" -eq 0 ] || fail "missing packages:$missing (run as root to install them)"
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086  # a list of package names
	apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1 ||
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null; }
fi
TMP=$(mktemp -d)
cleanup() {
	pm pod rm -f -t 20 "$POD" >/dev/null 2>&1 || true
	pm volume rm -f "$POD-pgdata" >/dev/null 2>&1 || true
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
(cd "$TMP" && JWT_SECRET_KEY=j ADMIN_SECRET=a podman-compose --podman-path /bin/echo -p droplin \
	-f "$COMPOSE" --dry-run up -d) >"$TMP/dry" 2>&1 || { cat "$TMP/dry"; fail "podman-compose up --dry-run"; }
runs=$(grep -c '^/bin/echo run \|^/usr/bin/echo run ' "$TMP/dry" || true)
[ "$runs" -eq 5 ] || { cat "$TMP/dry"; fail "podman-compose would start $runs containers, not 5"; }
(cd "$TMP" && env -u JWT_SECRET_KEY -u ADMIN_SECRET podman-compose --podman-path /bin/echo \
	-f "$COMPOSE" --dry-run up -d) >"$TMP/nosecret" 2>&1 && fail "podman-compose started without secrets"
grep -q "set JWT_SECRET_KEY and ADMIN_SECRET" "$TMP/nosecret" || { cat "$TMP/nosecret"; fail "no word about the secrets"; }
ok "podman-compose reads it (5 containers) and refuses to start without the secrets"

# -- 3. the topology with local images -------------------------------------------------------
sh "$IMAGE_SH" base >/dev/null
mkdir -p "$TMP/pg" "$TMP/lb" "$TMP/droplin/etc"
cat >"$TMP/pg/Containerfile" <<'CF'
FROM localhost/debian:bookworm
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null && \
    rm -rf /var/lib/apt/lists/* && mkdir -p /var/lib/postgresql/data /run/postgresql && \
    chown -R postgres /var/lib/postgresql /run/postgresql
ENV PATH=/usr/lib/postgresql/15/bin:/usr/sbin:/usr/bin:/sbin:/bin PGDATA=/var/lib/postgresql/data
COPY entrypoint.sh /entrypoint.sh
USER postgres
ENTRYPOINT ["sh", "/entrypoint.sh"]
CF
# what the official image's entrypoint does with POSTGRES_USER/PASSWORD/DB, in short
cat >"$TMP/pg/entrypoint.sh" <<'SH'
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	printf '%s\n' "$POSTGRES_PASSWORD" >/tmp/pw
	initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile=/tmp/pw --auth-host=scram-sha-256 --auth-local=trust >/dev/null
	rm /tmp/pw
	echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
	echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
	pg_ctl -D "$PGDATA" -w -o "-c listen_addresses=''" start >/dev/null
	createdb -U "$POSTGRES_USER" "$POSTGRES_DB"
	pg_ctl -D "$PGDATA" -w stop >/dev/null
fi
exec postgres -D "$PGDATA"
SH
cat >"$TMP/lb/Containerfile" <<'CF'
FROM localhost/debian:bookworm
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends haproxy >/dev/null && \
    rm -rf /var/lib/apt/lists/* && mkdir -p /usr/local/etc/haproxy
USER haproxy
CMD ["haproxy", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
CF
PG_IMAGE=localhost/droplin-compose-postgres:15
LB_IMAGE=localhost/droplin-compose-haproxy:bookworm
for pair in "$PG_IMAGE pg" "$LB_IMAGE lb"; do
	set -- $pair
	pm image exists "$1" ||
		pm build --pull=never --isolation chroot --format docker -t "$1" "$TMP/$2" >"$TMP/build.log" 2>&1 ||
		{ tail -n 20 "$TMP/build.log"; fail "building $1"; }
done
if [ -z "${DROPLIN_IMAGE:-}" ]; then
	DROPLIN_IMAGE=localhost/droplin-compose-droplin:test
	[ -x "$REPO/droplin" ] || fail "./droplin is missing: run make first"
	cp "$REPO/droplin" "$TMP/droplin/droplin"
	echo 'droplin:x:10001:10001:droplin:/:/droplin' >"$TMP/droplin/etc/passwd"
	echo 'droplin:x:10001:' >"$TMP/droplin/etc/group"
	# the Containerfile's last stage, on this checkout's binary
	sed -n '/^FROM scratch/,$p' "$REPO/Containerfile" |
		sed 's|^COPY --from=build /out/ /|COPY droplin /droplin\nCOPY etc/ /etc/|' >"$TMP/droplin/Containerfile"
	pm build --pull=never --isolation chroot --format docker -t "$DROPLIN_IMAGE" "$TMP/droplin" \
		>"$TMP/build.log" 2>&1 || { tail -n 20 "$TMP/build.log"; fail "building $DROPLIN_IMAGE"; }
fi
ok "images: $DROPLIN_IMAGE, $PG_IMAGE and $LB_IMAGE (stand-ins for postgres:15-bookworm, haproxy:lts-bookworm)"

JWT=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
ADMIN=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
pm pod rm -f "$POD" >/dev/null 2>&1 || true
pm pod create --name "$POD" --network none >/dev/null || fail "podman pod create"
# every service's name is this namespace's loopback (podman writes no host entries for a
# namespace without a network, so each container gets this file)
printf '127.0.0.1 localhost postgres droplin1 droplin2 droplin3 lb\n' >"$TMP/hosts"
chmod 644 "$TMP/hosts"
pm volume create "$POD-pgdata" >/dev/null
# each service as the file defines it: environment (the secrets filled in), volumes, grace
/usr/bin/python3 - "$COMPOSE" "$JWT" "$ADMIN" >"$TMP/runs" <<'PY'
import re, shlex, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
fill = {"JWT_SECRET_KEY": sys.argv[2], "ADMIN_SECRET": sys.argv[3]}
def sub(v):
    return re.sub(r"\$\{(\w+)(:?[-?])([^}]*)\}",
                  lambda m: fill.get(m.group(1)) or (m.group(3) if "-" in m.group(2) else "MISSING"), str(v))
for name in ("postgres", "droplin1", "droplin2", "droplin3", "lb"):
    svc = doc["services"][name]
    args = ["--name", name]
    for k, v in svc.get("environment", {}).items():
        args += ["-e", f"{k}={sub(v)}"]
    for vol in svc.get("volumes", []):
        src, dst, *opt = vol.split(":")
        src = "$POD-pgdata" if src == "pgdata" else "$REPO/docs/" + src[2:]
        args += ["-v", f"{src}:{dst}" + (":" + opt[0] if opt else "")]
    if "stop_grace_period" in svc:
        args += ["--stop-timeout", svc["stop_grace_period"].rstrip("s")]
    print(name, " ".join(shlex.quote(a) if "$" not in a else '"' + a + '"' for a in args))
PY
grep -q MISSING "$TMP/runs" && fail "an unfilled variable: $(cat "$TMP/runs")"
while read -r name args; do
	# HAProxy sizes its file limit from maxconn (4000); image.sh's default of 1024 is too few
	case $name in
	postgres) img=$PG_IMAGE ;;
	lb) img="$LB_IMAGE" args="--ulimit nofile=10000:10000 --ulimit nproc=1024:1024 $args" ;;
	*) img=$DROPLIN_IMAGE ;;
	esac
	# (podman's complaint that it cannot reach systemd to time the image's HEALTHCHECK is noise)
	eval "pm run -d --pod \"\$POD\" -v \"\$TMP/hosts:/etc/hosts:ro\" $args \"\$img\"" \
		>/dev/null 2>"$TMP/run.err" || { cat "$TMP/run.err"; fail "podman run $name"; }
	[ "$name" != postgres ] || sleep 1
done <"$TMP/runs"
INFRA=$(pm pod inspect "$POD" --format '{{.InfraContainerID}}')
NSPID=$(pm inspect -f '{{.State.Pid}}' "$INFRA")
inpod() { nsenter -t "$NSPID" -n "$@"; }
deadline=$(($(date +%s) + 90))
until inpod curl -fsS -o /dev/null --max-time 2 http://127.0.0.1:8080/ready 2>/dev/null &&
	[ "$(for i in 1 2 3 4 5 6; do inpod curl -fsS --max-time 2 http://127.0.0.1:8080/health; echo; done |
		sed -n 's/.*"replica":"\([^"]*\)".*/\1/p' | sort -u | grep -c .)" -eq 3 ]; do
	if [ "$(date +%s)" -ge "$deadline" ]; then
		for c in postgres droplin1 lb; do echo "--- $c"; pm logs --tail 10 "$c" 2>&1; done
		fail "the load balancer did not reach three ready replicas within 90 s"
	fi
	sleep 1
done
ok "the pod serves: lb on 127.0.0.1:8080 (loopback only) in front of three ready replicas"

inpod env ADMIN_SECRET="$ADMIN" sh "$REPO/scripts/check-replicas" -n 9 -e 3 -m 2 -r 3 -i 0 -t 5 \
	http://127.0.0.1:8080 >"$TMP/check" 2>&1 || { cat "$TMP/check"; fail "check-replicas through the pod's lb"; }
sed 's/^/  /' "$TMP/check"
ok "scripts/check-replicas passes through the load balancer"

pm stop -t 15 droplin2 >/dev/null 2>&1
rc=$(pm inspect -f '{{.State.ExitCode}}' droplin2)
[ "$rc" = 0 ] || fail "droplin2 exited $rc after podman stop (expected a drain and 0)"
good=0
for i in 1 2 3 4 5 6 7 8 9 10; do
	code=$(inpod curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://127.0.0.1:8080/health || true)
	[ "$code" != 200 ] || good=$((good + 1))
done
[ "$good" -eq 10 ] || fail "$good/10 answers through lb with droplin2 stopped"
ok "droplin2 stopped: drained, exit 0; 10/10 answers through the lb from the other two"
echo "$PASSED passed, 0 failed"
