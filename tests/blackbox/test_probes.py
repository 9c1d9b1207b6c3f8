"""ORIGINAL_API §3.1 and R6: /, /health, /ready, /livez on a healthy instance."""

import datetime
import socket

import pytest

from harness import assert_json, assert_security_headers, parse_iso_utc, production_env

READY_CHECKS = {"database": True, "environment_vars": True, "database_tables": True,
                "database_write": True, "migrations": True, "draining": False}


@pytest.fixture(scope="module")
def srv(module_droplin):
    d = module_droplin()
    d.wait_ready()
    return d


def assert_recent(ts):
    t = parse_iso_utc(ts)
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - t).total_seconds()) < 60, f"timestamp {ts} is not now ({now})"


def test_root(srv):
    r = srv.get("/")
    assert r.status == 200
    assert assert_json(r) == {"message": "DropLink API", "version": "1.0.0", "status": "running"}
    assert_security_headers(r)


def test_health(srv):
    r = srv.get("/health")
    assert r.status == 200, r
    body = assert_json(r)
    assert set(body) == {"status", "timestamp", "database", "version", "environment", "replica",
                         "region", "uptime_seconds"}, body
    assert body["status"] == "healthy"
    assert body["database"] == "connected"
    assert body["version"] == "1.0.0"
    assert body["environment"] == "development"
    assert body["replica"] == socket.gethostname()
    assert body["region"] == ""
    assert isinstance(body["uptime_seconds"], (int, float)) and 0 <= body["uptime_seconds"] < 3600
    assert_recent(body["timestamp"])
    assert_security_headers(r)


def test_head_health_sends_no_body(srv):
    """HEAD is GET without the body (RFC 9110 9.3.2), on every GET route: the status and the
    headers of the GET, Content-Length included."""
    with srv.conn() as c:
        c.send(f"HEAD /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        r = c.read_response(head_request=True)
        assert r.status == 200, r
        assert r.headers.get("Content-Length") == str(len(srv.get("/livez").body)), r
        assert c.state_after(2) == "closed", "bytes after a HEAD response head"
    with srv.conn() as c:
        c.send(f"HEAD /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        r = c.read_response(head_request=True)
        assert r.status == 200, r
        assert r.headers.get("Content-Type") == "application/json", r
        assert c.state_after(2) == "closed", "bytes after a HEAD response head"


def test_ready(srv):
    r = srv.get("/ready")
    assert r.status == 200, r
    body = assert_json(r)
    assert body["status"] == "ready"
    assert body["checks"] == READY_CHECKS
    assert body["version"] == "1.0.0"
    assert body["environment"] == "development"
    assert body.get("errors", []) == []
    assert_recent(body["timestamp"])
    assert_security_headers(r)


def test_livez(srv):
    r = srv.get("/livez")
    assert r.status == 200
    assert assert_json(r) == {"status": "alive"}


def test_uptime_grows(srv):
    import time
    a = srv.get("/health").json()["uptime_seconds"]
    time.sleep(1.2)
    b = srv.get("/health").json()["uptime_seconds"]
    assert b > a


def test_replica_and_region_from_railway(droplin):
    d = droplin(env={"RAILWAY_REPLICA_ID": "replica-7f3a", "RAILWAY_REPLICA_REGION": "europe-west4"})
    d.wait_ready()
    body = d.get("/health").json()
    assert body["replica"] == "replica-7f3a"
    assert body["region"] == "europe-west4"
    d.get("/", headers={"X-Request-ID": "rep-1"})
    line = d.wait_log(lambda l: l.get("request_id") == "rep-1" and "status" in l)
    assert line["replica"] == "replica-7f3a"


def test_environment_is_production_in_production(droplin):
    d = droplin(env=production_env())
    d.wait_ready()
    assert d.get("/health").json()["environment"] == "production"
    assert d.get("/ready").json()["environment"] == "production"
