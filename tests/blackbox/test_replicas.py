"""Many replicas behave as one (issue 7, DECISIONS R1-R6, O7): three droplin processes behind
Debian's HAProxy (round robin, HTTP/1.1 checks of /ready with a Host header, redispatch, retries)
on one PostgreSQL.

  - scripts/check-replicas passes against the HAProxy front (distribution, one token on every
    replica, identical /admin/stats, photo uploads through the Cloudinary stand-in, monitor);
  - a rolling restart of every replica under a steady mixed load: zero failed requests, zero
    lost writes;
  - a PostgreSQL restart under load: fast 503s during the outage, every replica recovers by
    itself, none crashes, no acknowledged write lost;
  - SIGKILL of one replica under load: failures bounded by the requests in flight on it.

Each test prints its numbers (pytest -s shows them; they are also in the assertion texts).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid

import pytest

import harness
from cloudinary_stub import cloudinary, cloudinary_ca  # noqa: F401  (pytest fixtures)


def _install_haproxy():
    """Debian's haproxy, installed once (as tests/install.sh does for the rest of the suite);
    a file lock keeps two xdist workers from running apt at once."""
    if shutil.which("haproxy"):
        return
    import fcntl
    with open("/tmp/droplin-haproxy-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if shutil.which("haproxy"):
            return
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        cmd = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "haproxy"]
        if subprocess.run(cmd, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
            subprocess.run(cmd, env=env, capture_output=True, check=True)


@pytest.fixture(scope="module", autouse=True)
def haproxy_installed():
    _install_haproxy()

REPLICAS = 3
LOAD_WORKERS = 4
JWT_SECRET = "replica-test-jwt-secret-" + "0123456789abcdef" * 2
ADMIN_SECRET = "replica-test-admin-secret-0123456789"
PASSWORD = "Sunny-Day7!"
HIGH = "100000/60"
SCRIPT = os.path.join(harness.REPO, "scripts", "check-replicas")

REPLICA_ENV = {
    "DROPLIN_ENV": "development",  # BCRYPT_COST=4 is refused in production
    "JWT_SECRET_KEY": JWT_SECRET,
    "ADMIN_SECRET": ADMIN_SECRET,
    "BCRYPT_COST": "4",
    "RATE_LIMIT_REGISTER": HIGH,
    "RATE_LIMIT_LOGIN": HIGH,
    "RATE_LIMIT_CHANGE_PASSWORD": HIGH,
    "BCRYPT_SHARE_MAX": "100000",
    "RATE_LIMIT_CODE_EMAIL": HIGH,
    "RATE_LIMIT_CODE_IP": HIGH,
    "RATE_LIMIT_LOG_API_CALL": HIGH,
    "TRUST_PROXY": "1",
    "DRAIN_SECONDS": "2",
    "SHUTDOWN_TIMEOUT_SECONDS": "8",
    "LOG_LEVEL": "info",
}

HAPROXY_CFG = """\
global
    maxconn 4000
    stats socket {dir}/haproxy.sock mode 600 level admin
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 15s
    timeout http-keep-alive 5s
    timeout check 1s
    option redispatch
    retries 3
    retry-on conn-failure empty-response junk-response
frontend front
    bind 127.0.0.1:{port}
    option forwardfor
    default_backend droplin
backend droplin
    balance roundrobin
    option httpchk
    http-check send meth GET uri /ready ver HTTP/1.1 hdr Host droplin.internal
    http-check expect status 200
    default-server check inter 200ms fastinter 100ms downinter 200ms fall 2 rise 1
{servers}
"""


def log(*args):
    print("[replicas]", *args, flush=True)


class Front:
    """PostgreSQL, REPLICAS droplin processes on fixed ports and HAProxy in front of them."""

    def __init__(self, extra_env=None):
        self.pg = harness.PgCluster().start()
        self.db = self.pg.create_database()
        self.dir = tempfile.mkdtemp(prefix="droplin-haproxy-", dir="/tmp")
        self.extra_env = dict(extra_env or {})
        self.factory = harness.DroplinFactory(lambda: self.db)
        self.ports = [harness.free_port() for _ in range(REPLICAS)]
        self.generation = [0] * REPLICAS
        self.procs = [None] * REPLICAS
        self.haproxy = None
        for i in range(REPLICAS):
            self.start_replica(i)
        self.port = harness.free_port()
        servers = "\n".join(f"    server r{i + 1} 127.0.0.1:{p}" for i, p in enumerate(self.ports))
        cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(HAPROXY_CFG.format(dir=self.dir, port=self.port, servers=servers))
        self.haproxy_log = open(os.path.join(self.dir, "haproxy.log"), "w+")
        self.haproxy = subprocess.Popen(["haproxy", "-db", "-f", cfg], stdin=subprocess.DEVNULL,
                                        stdout=self.haproxy_log, stderr=subprocess.STDOUT)
        harness.wait_until(lambda: self.servers_up() == REPLICAS, 15, what="HAProxy sees all UP")

    # -- replicas

    def start_replica(self, i):
        self.generation[i] += 1
        env = dict(REPLICA_ENV)
        env.update(self.extra_env)
        env.update({"PORT": str(self.ports[i]), "HOST": "127.0.0.1",
                    "RAILWAY_REPLICA_ID": f"r{i + 1}-g{self.generation[i]}"})
        t0 = time.monotonic()
        d = self.factory(env=env, db=self.db)
        d.wait_ready()
        self.procs[i] = d
        return time.monotonic() - t0

    def alive(self):
        return [d.proc.poll() is None for d in self.procs]

    # -- HAProxy

    def stats(self):
        """{server name: status} from HAProxy's stats socket."""
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(2)
        try:
            s.connect(os.path.join(self.dir, "haproxy.sock"))
            s.sendall(b"show stat\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        out = {}
        for line in data.decode().splitlines():
            f = line.split(",")
            if len(f) > 17 and f[0] == "droplin" and f[1].startswith("r"):
                out[f[1]] = f[17]
        return out

    def servers_up(self):
        try:
            return sum(1 for st in self.stats().values() if st.startswith("UP"))
        except OSError:
            return 0

    def wait_server(self, i, want, timeout=10):
        name = f"r{i + 1}"
        harness.wait_until(lambda: self.stats().get(name, "").startswith(want), timeout,
                           what=f"HAProxy: {name} {want}")

    # -- HTTP through the front

    def request(self, method, path, token=None, body=None, timeout=10.0):
        headers = {"User-Agent": "droplin-replica-test"}
        data = b""
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = "Bearer " + token
        return harness.http_request(self.port, method, path, headers=headers, body=data,
                                    timeout=timeout)

    def register(self, name):
        r = self.request("POST", "/auth/register", body={"username": name, "password": PASSWORD})
        assert r.status == 200, r
        return r.json()

    def close(self):
        if self.haproxy is not None and self.haproxy.poll() is None:
            self.haproxy.terminate()
            try:
                self.haproxy.wait(10)
            except subprocess.TimeoutExpired:
                self.haproxy.kill()
        self.factory.cleanup()
        self.pg.destroy()
        self.haproxy_log.close() if self.haproxy is not None else None
        shutil.rmtree(self.dir, ignore_errors=True)


class Load:
    """LOAD_WORKERS threads, each a user of its own, sending a steady stream through the front:
    a device save with a unique name (a write, acknowledged by 200 and an id), then a read
    (GET /devices/{id} or GET /user/profile), about 50 requests per second per worker."""

    def __init__(self, front, pause=0.02):
        self.front = front
        self.pause = pause
        self.users = [front.register(f"load_{uuid.uuid4().hex[:10]}") for _ in range(LOAD_WORKERS)]
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.sent = 0
        self.failures = []  # (time, method, path, status or exception text, seconds)
        self.acked = {}  # device name -> user id
        self.inflight = 0
        self.max_latency = 0.0
        self.threads = []
        self.errors = []  # a worker that died: its exception (stop() fails the test with it)

    def _one(self, method, path, token, body=None):
        t0 = time.monotonic()
        with self.lock:
            self.sent += 1
            self.inflight += 1
        try:
            r = self.front.request(method, path, token=token, body=body, timeout=10)
            result = r.status, r
        except (OSError, harness.ProtocolError) as e:
            result = f"{type(e).__name__}: {e}", None
        dt = time.monotonic() - t0
        with self.lock:
            self.inflight -= 1
            self.max_latency = max(self.max_latency, dt)
            if result[0] != 200:
                self.failures.append((time.monotonic(), method, path, result[0], dt, result[1]))
        return result

    def _worker(self, user):
        try:
            self._work(user)
        except BaseException as e:  # noqa: BLE001  (stop() fails the test with it)
            with self.lock:
                self.errors.append(f"worker of user {user['user_id']}: {e!r}")

    def _work(self, user):
        token = user["token"]
        n = 0
        while not self.stop_ev.is_set():
            n += 1
            name = f"dev-{user['user_id']}-{n}-{uuid.uuid4().hex[:6]}"
            status, r = self._one("POST", "/devices", token, {"name": name, "rssi": -60,
                                                                "distance": 12.5})
            if status == 200:
                with self.lock:
                    self.acked[name] = user["user_id"]
                dev_id = r.json()["id"]
                self._one("GET", f"/devices/{dev_id}", token)
            else:
                self._one("GET", "/user/profile", token)
            time.sleep(self.pause)

    def start(self):
        for u in self.users:
            t = threading.Thread(target=self._worker, args=(u,), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def stop(self):
        """Ends the load; fails when a worker died or never ended (the load would have been
        less than the test thinks)."""
        self.stop_ev.set()
        for t in self.threads:
            t.join(harness.scaled(30))
        stuck = sum(t.is_alive() for t in self.threads)
        assert not self.errors and not stuck, \
            f"load workers: {stuck} still running, died: {self.errors}; {self.summary()}"

    def mark(self):
        with self.lock:
            return self.sent, len(self.failures)

    def lost_writes(self):
        rows = harness.db_query(self.front.db, "SELECT name, user_id FROM devices")
        stored = {(name, uid) for name, uid in rows}
        return [n for n, uid in self.acked.items() if (n, uid) not in stored]

    def summary(self):
        return (f"sent={self.sent} failed={len(self.failures)} acked_writes={len(self.acked)} "
                f"max_latency={self.max_latency:.3f}s")


@pytest.fixture
def front():
    f = Front()
    yield f
    f.close()


# --------------------------------------------------------------------------------------------


def test_check_replicas_passes_against_the_front(cloudinary):
    f = Front(extra_env=cloudinary.env())
    try:
        env = harness.make_env({"ADMIN_SECRET": ADMIN_SECRET})
        t0 = time.monotonic()
        r = subprocess.run(["sh", SCRIPT, "-p", "-n", "9", "-e", str(REPLICAS), "-m", "2",
                            "-i", "0", f"http://127.0.0.1:{f.port}"],
                           env=env, capture_output=True, text=True, timeout=120)
        log(f"check-replicas ({time.monotonic() - t0:.1f}s):\n" + r.stdout + r.stderr)
        assert r.returncode == 0, r.stdout + r.stderr
        for check in ("distribution", "token", "stats", "photo", "monitor"):
            assert f"PASS {check}:" in r.stdout, r.stdout
        assert f"from {REPLICAS} distinct replicas" in r.stdout
        # the photos went through every replica, signed as Cloudinary checks them
        assert len(cloudinary.uploads) == 9 and not cloudinary.problems, cloudinary.problems
        # the throwaway user is gone again
        assert harness.db_query(f.db, "SELECT count(*) FROM users WHERE username LIKE 'chk_%'") \
            == [(0,)]
        # the script fails when a check fails: a wrong admin secret
        bad = subprocess.run(["sh", SCRIPT, "-q", "-n", "3", "-m", "0",
                              f"http://127.0.0.1:{f.port}"],
                             env=harness.make_env({"ADMIN_SECRET": "wrong"}),
                             capture_output=True, text=True, timeout=60)
        assert bad.returncode == 1 and "FAIL stats:" in bad.stdout, bad.stdout
    finally:
        f.close()


def test_rolling_restart_under_load_loses_nothing(front):
    load = Load(front).start()
    time.sleep(1.0)
    rolls = []
    for i in range(REPLICAS):
        old = front.procs[i]
        t0 = time.monotonic()
        old.signal(signal.SIGTERM)
        old.wait_exit(15)  # status 0
        stopped = time.monotonic() - t0
        ready = front.start_replica(i)
        front.wait_server(i, "UP")
        rolls.append((f"r{i + 1}", round(stopped, 2), round(ready, 3)))
        time.sleep(0.5)
    time.sleep(1.0)
    load.stop()
    lost = load.lost_writes()
    log(f"rolling restart: {load.summary()} lost_writes={len(lost)} "
        f"(replica, SIGTERM-to-exit s, start-to-ready s)={rolls}")
    assert load.sent > 200, load.summary()
    assert not load.failures, f"{load.summary()}: {load.failures[:5]}"
    assert not lost, lost[:10]
    assert all(front.alive())


def test_postgres_restart_under_load(front):
    load = Load(front).start()
    time.sleep(1.0)
    before_sent, before_failed = load.mark()
    t_stop = time.monotonic()
    front.pg.stop("fast")
    stopped_at = time.monotonic()
    time.sleep(1.5)
    # during the outage: every replica answers a database route with a fast 503 by itself
    direct = []
    for d in front.procs:
        r = harness.http_request(d.port, "GET", "/admin/stats", headers={"secret": ADMIN_SECRET},
                                 timeout=10)
        t = time.monotonic()
        r2 = d.get("/health")
        direct.append((r.status, r.json().get("detail"), r2.status, time.monotonic() - t))
    outage_sent, outage_failed = load.mark()
    slow = [f for f in load.failures if f[4] > harness.scaled(3.0)]
    front.pg.restart_same_port()
    t_back = time.monotonic()
    for d in front.procs:
        d.wait_ready(30)
    replicas_ready = time.monotonic() - t_back
    harness.wait_until(lambda: front.servers_up() == REPLICAS, 15, what="all replicas UP")
    front_ready = time.monotonic() - t_back
    # the first write through the front after PostgreSQL is back
    token = load.users[0]["token"]
    harness.wait_until(lambda: front.request("POST", "/devices", token=token,
                                             body={"name": "after-" + uuid.uuid4().hex,
                                                   "rssi": -1, "distance": 1}).status == 200,
                       15, what="a write through the front")
    write_ok = time.monotonic() - t_back
    time.sleep(1.0)
    load.stop()
    lost = load.lost_writes()
    outage_failures = [f for f in load.failures if f[0] >= t_stop]
    statuses = sorted({str(f[3]) for f in outage_failures})

    def source(f):  # droplin's own 503 or HAProxy's (every server marked DOWN)
        try:
            return "droplin:" + str(f[5].json().get("detail"))
        except (ValueError, AttributeError):
            return "haproxy:no server"
    sources = {}
    for f in outage_failures:
        sources[source(f)] = sources.get(source(f), 0) + 1
    log(f"postgres restart: {load.summary()} outage_requests={outage_sent - before_sent} "
        f"outage_failed={outage_failed - before_failed} statuses={statuses} 503_sources={sources} "
        f"pg_down={t_back - stopped_at:.2f}s replicas_ready_after={replicas_ready:.2f}s "
        f"haproxy_all_up_after={front_ready:.2f}s first_write_after={write_ok:.2f}s "
        f"lost_writes={len(lost)} direct={direct}")
    assert before_failed == 0, load.failures[:5]
    for status, detail, hstatus, _ in direct:
        assert status == 503 and detail == "Database unavailable", direct
        assert hstatus == 503
    assert all(f[3] == 503 for f in outage_failures), outage_failures[:5]
    assert not slow, f"slow failures during the outage: {slow[:5]}"
    assert all(front.alive()), "a replica exited"
    assert not lost, lost[:10]
    assert replicas_ready < harness.scaled(10)


def test_sigkill_one_replica_under_load(front):
    load = Load(front).start()
    time.sleep(1.0)
    victim = front.procs[1]
    with load.lock:
        inflight = load.inflight
        sent_before_kill = load.sent
    t0 = time.monotonic()
    victim.kill()  # SIGKILL, deliberately
    front.wait_server(1, "DOWN", timeout=10)
    detected = time.monotonic() - t0
    time.sleep(2.0)
    load.stop()
    lost = load.lost_writes()
    killed_failures = [f for f in load.failures if f[0] >= t0]
    log(f"SIGKILL r2: {load.summary()} failed_after_kill={len(killed_failures)} "
        f"in_flight_at_kill={inflight} haproxy_down_after={detected:.2f}s lost_writes={len(lost)}")
    # the load ran before the kill and went on after it (each worker a few requests at least)
    assert sent_before_kill > 0 and load.sent - sent_before_kill >= 5 * LOAD_WORKERS, \
        f"sent before the kill {sent_before_kill}; {load.summary()}"
    # errors only for requests in flight on the killed replica: at most one per load worker
    assert len(load.failures) <= LOAD_WORKERS, load.failures[:5]
    assert not lost, lost[:10]
    assert front.alive() == [True, False, True]
    r = front.request("GET", "/health")
    assert r.status == 200 and r.json()["replica"] in ("r1-g1", "r3-g1")
