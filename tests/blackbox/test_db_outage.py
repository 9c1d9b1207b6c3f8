"""R4: PostgreSQL goes away and comes back while droplin runs (each test has its own cluster)."""

import signal
import time

import pytest

import harness
from harness import assert_json, run_cli

# The probes answer from the prober's last result and never wait on the database. To tell "waits
# on the database" from "the machine is busy", the probe tests give droplin database timeouts
# (BLOCKED) far above the bound a fast answer must meet (FAST, generous and scaled): a probe that
# waited on a stopped, frozen or restarting database would take BLOCKED, a busy machine never
# takes FAST. The normal answer takes milliseconds.
BLOCKED_MS = 20000
PROBE_ENV = {"DB_CONNECT_TIMEOUT_MS": str(BLOCKED_MS), "DB_QUERY_TIMEOUT_MS": str(BLOCKED_MS)}
FAST = harness.scaled(3.0)
assert FAST < BLOCKED_MS / 1000 / 2, "DROPLIN_TEST_TIMEOUT_SCALE too large for BLOCKED_MS"


def timed_get(d, path):
    t0 = time.monotonic()
    r = d.get(path, timeout=BLOCKED_MS / 1000 + 10)
    return r, time.monotonic() - t0


def wait_status(d, path, status, timeout):
    """Poll path until it answers status; every answer on the way must be fast."""
    timeout = harness.scaled(timeout)
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        r, took = timed_get(d, path)
        seen.append((r.status, round(took, 3)))
        assert took < FAST, f"{path} took {took:.2f}s (answers so far {seen})"
        if r.status == status:
            return r
        time.sleep(0.05)
    raise AssertionError(f"{path} never answered {status} within {timeout}s: {seen[-5:]}")


def assert_no_libpq_text(text, pg):
    for leak in (str(pg.port), "127.0.0.1", "refused", "FATAL", "libpq", "droplin@",
                 "connection to server"):
        assert leak not in text, f"{leak!r} leaked into a probe body: {text}"


def assert_outage_answers(d, pg):
    h, took = timed_get(d, "/health")
    assert took < FAST
    assert h.status == 503
    body = assert_json(h)
    assert body["status"] == "unhealthy"
    assert body["database"] == "disconnected"
    assert body["error"] == "Database connection failed"
    assert body["version"] == "1.0.0"
    harness.parse_iso_utc(body["timestamp"])
    assert_no_libpq_text(h.text, pg)
    harness.assert_security_headers(h)

    r, took = timed_get(d, "/ready")
    assert took < FAST
    assert r.status == 503
    body = assert_json(r)
    assert body["status"] == "not_ready"
    assert body["checks"]["database"] is False
    assert body["checks"]["draining"] is False
    assert isinstance(body["errors"], list) and body["errors"]
    assert_no_libpq_text(r.text, pg)

    l, took = timed_get(d, "/livez")
    assert took < FAST
    assert l.status == 200 and l.json() == {"status": "alive"}

    root, took = timed_get(d, "/")
    assert took < FAST and root.status == 200


def test_database_stops_and_comes_back(droplin, private_pg):
    d = droplin(db=private_pg.create_database(), env=PROBE_ENV)
    d.wait_ready()
    assert d.get("/health").status == 200

    private_pg.stop("fast")
    wait_status(d, "/health", 503, timeout=5)
    wait_status(d, "/ready", 503, timeout=5)
    for _ in range(5):
        assert_outage_answers(d, private_pg)
        time.sleep(0.1)
    hc = run_cli(["--healthcheck", "/health"], env={"PORT": d.port})
    assert hc.returncode == 1, (hc.stdout, hc.stderr)
    # the default, /livez, says the process serves: a database outage is no reason to restart it
    hc = run_cli(["--healthcheck"], env={"PORT": d.port})
    assert hc.returncode == 0, (hc.stdout, hc.stderr)
    assert d.proc.poll() is None, "droplin died during the outage\n" + d.describe()

    private_pg.restart_same_port()
    wait_status(d, "/health", 200, timeout=10)
    wait_status(d, "/ready", 200, timeout=10)
    assert d.get("/ready").json()["checks"]["database"] is True
    assert run_cli(["--healthcheck", "/health"], env={"PORT": d.port}).returncode == 0
    # The database error went to the log, not to the client.
    assert any(l.get("level") in ("warn", "error") for l in d.logs()), d.describe()


def test_database_killed_hard_and_restarted(droplin, private_pg):
    d = droplin(db=private_pg.create_database(), env=PROBE_ENV)
    d.wait_ready()
    private_pg.stop("immediate")
    wait_status(d, "/health", 503, timeout=5)
    wait_status(d, "/ready", 503, timeout=5)
    private_pg.restart_same_port()
    wait_status(d, "/health", 200, timeout=10)
    wait_status(d, "/ready", 200, timeout=10)


def test_frozen_database_gives_fast_503(droplin, private_pg):
    """PostgreSQL stops answering (processes stopped, sockets open): probes must not hang."""
    d = droplin(db=private_pg.create_database(), env=PROBE_ENV)
    d.wait_ready()
    pids = private_pg.freeze()
    try:
        wait_status(d, "/health", 503, timeout=8)
        wait_status(d, "/ready", 503, timeout=8)
        _, took = timed_get(d, "/livez")
        assert took < FAST
    finally:
        private_pg.thaw(pids)
    wait_status(d, "/health", 200, timeout=15)
    wait_status(d, "/ready", 200, timeout=15)


def test_starts_while_database_is_down_and_becomes_ready_later(droplin, private_pg):
    url = private_pg.create_database()
    private_pg.stop("fast")
    d = droplin(db=url, env=PROBE_ENV)
    assert d.get("/livez").status == 200
    wait_status(d, "/health", 503, timeout=5)
    r = wait_status(d, "/ready", 503, timeout=5)
    assert r.json()["status"] == "not_ready"
    private_pg.restart_same_port()
    wait_status(d, "/ready", 200, timeout=15)
    tables = harness.db_query(url, "SELECT count(*) FROM information_schema.tables "
                                   "WHERE table_name = 'users'")
    assert tables == [(1,)], "migrations did not run once the database came back"


def check_username(d):
    t0 = time.monotonic()
    r = d.request("POST", "/auth/check-username", body='{"username":"someone"}',
                  headers={"Content-Type": "application/json"}, timeout=15)
    return r, time.monotonic() - t0


def test_routes_answer_503_database_unavailable_during_outage(droplin, private_pg):
    # R4: a route that needs the database fails fast with a fixed text, then works again.
    # Bounded by the timeouts it is given (1 s each, far below the defaults of 3 s and 2 s)
    # plus a generous, scaled allowance for a busy machine.
    d = droplin(db=private_pg.create_database(),
                env={"DB_CONNECT_TIMEOUT_MS": "1000", "DB_ACQUIRE_TIMEOUT_MS": "1000"})
    d.wait_ready()
    r, _ = check_username(d)
    assert r.status == 200, r
    private_pg.stop("fast")
    wait_status(d, "/health", 503, timeout=5)
    limit = 1.0 + 1.0 + harness.scaled(2.0)
    for _ in range(3):
        r, took = check_username(d)
        assert r.status == 503, r
        assert assert_json(r) == {"detail": "Database unavailable"}
        assert took < limit, f"took {took:.2f}s with DB_CONNECT/ACQUIRE_TIMEOUT_MS=1000"
    private_pg.restart_same_port()
    wait_status(d, "/ready", 200, timeout=10)
    r = harness.wait_until(lambda: (lambda x: x if x.status == 200 else None)(check_username(d)[0]),
                           timeout=10, what="check-username 200 after the outage")
    assert "available" in r.json(), r
