"""R5: graceful drain on SIGTERM and SIGINT."""

import signal
import time

import pytest

import harness

# DRAIN_SECONDS=2 leaves room for three requests on a busy machine.
DRAIN = 2.0
SHUTDOWN = 6.0


def get_during_drain(d, path):
    """GET on a fresh connection; returns the response (droplin must still accept)."""
    return harness.http_request(d.port, "GET", path, headers={"Connection": "keep-alive"},
                                timeout=3)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_drain_serves_then_finishes_in_flight_and_exits_0(droplin, sig):
    d = droplin(env={"DRAIN_SECONDS": str(DRAIN), "SHUTDOWN_TIMEOUT_SECONDS": str(SHUTDOWN)})
    d.wait_ready()

    # A request in flight: the head and 4 of 10 body bytes.
    inflight = d.conn(timeout=10)
    inflight.send("POST /nothing-here HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  "Content-Type: application/json\r\nContent-Length: 10\r\n\r\n{\"a\"")
    # Two idle keep-alive connections: one is used during the drain, one stays idle.
    used, idle = d.conn(timeout=10), d.conn(timeout=10)
    for c in (used, idle):
        c.send("GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert c.read_response().status == 200
    time.sleep(0.1)

    t_signal = time.monotonic()
    d.signal(sig)

    # /ready says 503 at once; the load balancer stops sending new requests.
    ready = harness.wait_until(
        lambda: (lambda r: r if r.status == 503 else None)(get_during_drain(d, "/ready")),
        timeout=0.5, interval=0.02, what="/ready 503 right after the signal")
    body = ready.json()
    assert body["status"] == "not_ready"
    assert body["checks"]["draining"] is True
    assert body["errors"], body
    assert ready.wants_close(), f"no Connection: close during drain: {ready!r}"
    harness.assert_security_headers(ready)

    # Everything else is still served during the drain seconds, with Connection: close.
    health = get_during_drain(d, "/health")
    livez = get_during_drain(d, "/livez")
    used.send("GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    on_old_conn = used.read_response()
    assert time.monotonic() - t_signal < DRAIN, "the machine is too slow for this test"
    assert health.status == 200, health
    assert livez.status == 200, livez
    assert on_old_conn.status == 200, on_old_conn
    for r in (health, livez, on_old_conn):
        assert r.wants_close(), f"no Connection: close during drain: {r!r}"
    assert used.state_after(2) == "closed"

    # After the drain: the listener is closed (new connections refused).
    harness.wait_until(lambda: not harness.connectable(d.port, timeout=0.5),
                       timeout=DRAIN + 3, what="listener closed after the drain")
    assert time.monotonic() - t_signal >= DRAIN * 0.9, "listener closed before DRAIN_SECONDS"
    assert d.proc.poll() is None, "exited before the in-flight request finished\n" + d.describe()
    # The idle keep-alive connection was closed.
    assert idle.state_after(2) == "closed"

    # The in-flight request completes.
    inflight.send(': 1}  ')  # the other 6 bytes
    resp = inflight.read_response(timeout=5)
    assert resp.status == 404, resp
    assert resp.json() == {"detail": "Not Found"}
    assert resp.wants_close()

    rc = d.wait_exit(timeout=SHUTDOWN + 3 - (time.monotonic() - t_signal))
    assert rc == 0, d.describe()
    assert time.monotonic() - t_signal < SHUTDOWN + 3
    assert not harness.connectable(d.port)


def test_shutdown_timeout_ends_a_stuck_request(droplin):
    d = droplin(env={"DRAIN_SECONDS": "0.5", "SHUTDOWN_TIMEOUT_SECONDS": "2"})
    d.wait_ready()
    stuck = d.conn(timeout=10)
    stuck.send("POST /nothing-here HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n{")
    time.sleep(0.1)
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    d.wait_exit(timeout=10)  # the exit status of a forced exit is not specified
    took = time.monotonic() - t0
    assert 1.5 <= took < 2 + 3, f"exit after {took:.1f}s with SHUTDOWN_TIMEOUT_SECONDS=2"
    assert stuck.state_after(2) == "closed"


def test_drain_seconds_zero_exits_promptly(droplin):
    d = droplin(env={"DRAIN_SECONDS": "0"})
    d.wait_ready()
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    assert d.wait_exit(timeout=5) == 0
    assert time.monotonic() - t0 < 5
