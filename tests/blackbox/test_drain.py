"""R5: graceful drain on SIGTERM and SIGINT."""

import signal
import time

import pytest

import harness

# DRAIN_SECONDS leaves room for three requests (milliseconds each) on a very busy machine.
DRAIN = harness.scaled(5.0)
SHUTDOWN = DRAIN + 6.0


def get_during_drain(d, path):
    """GET on a fresh connection; returns the response (droplin must still accept)."""
    return harness.http_request(d.port, "GET", path, headers={"Connection": "keep-alive"},
                                timeout=3)


def draining_logged(d):
    """Waits for droplin's "signal N: draining" line: the signal has been handled."""
    return d.wait_log(lambda l: "draining" in str(l.get("message", "")), timeout=5,
                      what="the draining log line")


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

    # /ready says 503 at once: the first request after droplin handled the signal gets it
    # (the load balancer stops sending new requests)
    draining_logged(d)
    ready = get_during_drain(d, "/ready")
    assert ready.status == 503, f"/ready once the signal was handled: {ready!r}"
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
    assert time.monotonic() - t_signal < DRAIN, "the three requests outlasted DRAIN_SECONDS"
    assert health.status == 200, health
    assert livez.status == 200, livez
    assert on_old_conn.status == 200, on_old_conn
    for r in (health, livez, on_old_conn):
        assert r.wants_close(), f"no Connection: close during drain: {r!r}"
    assert used.state_after(harness.scaled(5)) == "closed"

    # After the drain: the listener is closed (new connections refused).
    harness.wait_until(lambda: not harness.connectable(d.port, timeout=0.5),
                       timeout=DRAIN + 3, what="listener closed after the drain")
    assert time.monotonic() - t_signal >= DRAIN * 0.9, "listener closed before DRAIN_SECONDS"
    assert d.proc.poll() is None, "exited before the in-flight request finished\n" + d.describe()
    # The idle keep-alive connection was closed.
    assert idle.state_after(harness.scaled(5)) == "closed"

    # The in-flight request completes.
    inflight.send(': 1}  ')  # the other 6 bytes
    resp = inflight.read_response(timeout=harness.scaled(5))
    assert resp.status == 404, resp
    assert resp.json() == {"detail": "Not Found"}
    assert resp.wants_close()

    d.wait_exit(timeout=SHUTDOWN, expect=0)  # 0: it did not wait for the shutdown timeout (forced: 1)
    assert time.monotonic() - t_signal < SHUTDOWN + harness.scaled(3)
    assert not harness.connectable(d.port)


def test_shutdown_timeout_ends_a_stuck_request(droplin):
    d = droplin(env={"DRAIN_SECONDS": "0.5", "SHUTDOWN_TIMEOUT_SECONDS": "2"})
    d.wait_ready()
    stuck = d.conn(timeout=10)
    stuck.send("POST /nothing-here HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n{")
    time.sleep(0.1)
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    d.wait_exit(timeout=15, expect=1)  # forced: the shutdown timeout ended it
    took = time.monotonic() - t0
    # the lower bound is the subject; the upper one is generous (the harness's default
    # SHUTDOWN_TIMEOUT_SECONDS is 5, droplin's 10)
    assert 1.5 <= took < 2 + harness.scaled(4), \
        f"exit after {took:.1f}s with SHUTDOWN_TIMEOUT_SECONDS=2"
    assert stuck.state_after(harness.scaled(3)) == "closed"


def test_shutdown_timeout_zero_with_nothing_in_flight_exits_0(droplin):
    """SHUTDOWN_TIMEOUT_SECONDS=0 leaves no time for work in flight, but threads with nothing
    to do (the mail thread, the probe, the workers) still stop: exit 0, not the 1 of a shutdown
    that cut something short (which a restart policy takes for a crash)."""
    d = droplin(env={"DRAIN_SECONDS": "0", "SHUTDOWN_TIMEOUT_SECONDS": "0"})
    d.wait_ready()
    d.signal(signal.SIGTERM)
    d.wait_exit(timeout=10, expect=0)
    assert not any("shutdown timeout" in str(l.get("message", "")) for l in d.logs()), \
        d.describe()


def test_drain_seconds_zero_exits_promptly(droplin):
    """Compared with a droplin signalled at the same moment with a drain of DRAIN seconds: the
    one with DRAIN_SECONDS=0 has exited while the other still accepts connections."""
    d = droplin(env={"DRAIN_SECONDS": "0"})
    other = droplin(env={"DRAIN_SECONDS": str(DRAIN), "SHUTDOWN_TIMEOUT_SECONDS": str(SHUTDOWN)})
    d.wait_ready()
    other.wait_ready()
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    other.signal(signal.SIGTERM)
    d.wait_exit(timeout=DRAIN)
    took = time.monotonic() - t0
    draining_logged(other)
    assert other.proc.poll() is None and harness.connectable(other.port), \
        f"DRAIN_SECONDS={DRAIN} ended before DRAIN_SECONDS=0 ({took:.2f}s)\n" + other.describe()
    other.wait_exit(timeout=SHUTDOWN + 5)
