"""S8 limits: head size, header count, body size, timers, connection caps."""

import time

import pytest

import harness
from harness import assert_security_headers

H = "Host: 127.0.0.1\r\n"


@pytest.fixture(scope="module")
def srv(module_droplin):
    d = module_droplin()
    d.wait_ready()
    return d


def head_with_padding(total):
    """A GET /livez head of about `total` bytes (one big header)."""
    start = "GET /livez HTTP/1.1\r\n" + H + "X-Pad: "
    end = "\r\n\r\n"
    return start + "a" * (total - len(start) - len(end)) + end


def assert_status_and_closed(c, status, timeout=5):
    r = c.read_response(timeout=timeout)
    assert r.status == status, r
    assert_security_headers(r)
    assert c.state_after(harness.scaled(5)) == "closed", f"connection left open after {status}"
    return r


def test_head_over_16k_is_431(srv):
    with srv.conn() as c:
        c.try_send(head_with_padding(16384 + 200))
        assert_status_and_closed(c, 431)


def test_head_far_over_16k_is_431(srv):
    with srv.conn() as c:
        c.try_send(head_with_padding(64 * 1024))
        assert_status_and_closed(c, 431)


def test_head_without_end_over_16k_is_431(srv):
    with srv.conn() as c:
        c.try_send("GET /livez HTTP/1.1\r\n" + H + "X-Pad: " + "a" * 17000)
        assert_status_and_closed(c, 431)


def test_head_of_15k_is_fine(srv):
    with srv.conn() as c:
        c.send(head_with_padding(15 * 1024))
        assert c.read_response().status == 200


def headers_request(n_fields):
    """GET /livez with exactly n_fields header fields (Host included)."""
    return "GET /livez HTTP/1.1\r\n" + H + "".join(
        f"X-H{i}: {i}\r\n" for i in range(n_fields - 1)) + "\r\n"


def test_100_header_fields_are_fine(srv):
    with srv.conn() as c:
        c.send(headers_request(100))
        assert c.read_response().status == 200


def test_101_header_fields_are_431(srv):
    with srv.conn() as c:
        c.try_send(headers_request(101))
        assert_status_and_closed(c, 431)


def test_content_length_over_64k_is_413_before_the_body(srv):
    with srv.conn() as c:
        c.send("POST /nothing-here HTTP/1.1\r\n" + H +
               "Content-Type: application/json\r\nContent-Length: 65537\r\n\r\n")
        t0 = time.monotonic()
        r = c.read_response(timeout=harness.scaled(10))
        assert r.status == 413, r
        # waiting for the body would end only at IDLE_TIMEOUT_MS (30 s by default), in a 408
        assert time.monotonic() - t0 < harness.scaled(10)
        assert_security_headers(r)
        assert c.state_after(harness.scaled(5)) == "closed"


def test_content_length_64k_is_read(srv):
    body = b"x" * 65536
    with srv.conn() as c:
        c.send(b"POST /nothing-here HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 65536\r\n\r\n"
               + body + b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert c.read_response().status == 404
        assert c.read_response().status == 200


# The same limits at other values than their defaults (the tests above keep the defaults).
SMALL = {"MAX_HEAD_BYTES": 4096, "MAX_HEADERS": 20, "MAX_JSON_BODY": 2048}


@pytest.fixture(scope="module")
def small(module_droplin):
    d = module_droplin(env=SMALL)
    d.wait_ready()
    return d


def test_max_head_bytes_is_the_head_limit(small, srv):
    with small.conn() as c:
        c.try_send(head_with_padding(SMALL["MAX_HEAD_BYTES"] + 200))
        assert_status_and_closed(c, 431)
    with small.conn() as c:
        c.send(head_with_padding(SMALL["MAX_HEAD_BYTES"] - 200))
        assert c.read_response().status == 200
    with srv.conn() as c:  # the control: the default limit takes this head
        c.send(head_with_padding(SMALL["MAX_HEAD_BYTES"] + 200))
        assert c.read_response().status == 200


def test_max_headers_is_the_field_limit(small, srv):
    with small.conn() as c:
        c.send(headers_request(SMALL["MAX_HEADERS"]))
        assert c.read_response().status == 200
    with small.conn() as c:
        c.try_send(headers_request(SMALL["MAX_HEADERS"] + 1))
        assert_status_and_closed(c, 431)
    with srv.conn() as c:
        c.send(headers_request(SMALL["MAX_HEADERS"] + 1))
        assert c.read_response().status == 200


def test_max_json_body_is_the_body_limit(small, srv):
    limit = SMALL["MAX_JSON_BODY"]
    with small.conn() as c:
        c.send("POST /nothing-here HTTP/1.1\r\n" + H +
               f"Content-Type: application/json\r\nContent-Length: {limit + 1}\r\n\r\n")
        r = c.read_response(timeout=harness.scaled(10))
        assert r.status == 413, r
        assert c.state_after(harness.scaled(5)) == "closed"
    for d in (small, srv):  # at the limit: read (the route's 404), and the next request framed
        with d.conn() as c:
            c.send(f"POST /nothing-here HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {limit}"
                   f"\r\n\r\n".encode() + b"x" * limit + b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
            assert c.read_response().status == 404
            assert c.read_response().status == 200
    with srv.conn() as c:
        c.send(f"POST /nothing-here HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {limit + 1}"
               f"\r\n\r\n".encode() + b"x" * (limit + 1))
        assert c.read_response().status == 404
    with small.conn(timeout=10) as c:
        c.send("POST /nothing-here HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n")
        send_chunks(c, limit + 1024, chunk=512)
        assert_status_and_closed(c, 413)


def send_chunks(c, total, chunk=8192):
    """Send `total` bytes as chunks, one at a time; stop early when the server answers."""
    sent = 0
    while sent < total:
        n = min(chunk, total - sent)
        if not c.try_send(b"%x\r\n" % n + b"y" * n + b"\r\n"):
            return False
        sent += n
        if c.readable(0.05):
            return False
    return c.try_send(b"0\r\n\r\n")


def test_chunked_body_over_64k_is_413(srv):
    with srv.conn(timeout=10) as c:
        c.send("POST /nothing-here HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n")
        send_chunks(c, 65536 + 8192)
        assert_status_and_closed(c, 413)


def test_chunked_body_of_64k_is_read(srv):
    with srv.conn(timeout=10) as c:
        c.send("POST /nothing-here HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n")
        assert send_chunks(c, 65536)
        c.send("GET /livez HTTP/1.1\r\n" + H + "\r\n")
        assert c.read_response().status == 404
        assert c.read_response().status == 200


def test_slow_header_client_is_cut_off_while_others_are_served(droplin):
    # HEAD_TIMEOUT_MS far above the bound on the others' latency: a server that waited on the
    # slow client would keep them waiting up to head_s; a busy machine does not come near it.
    head_s = harness.scaled(5.0)
    d = droplin(env={"HEAD_TIMEOUT_MS": str(int(head_s * 1000))})
    d.wait_ready()
    baseline = []
    for _ in range(5):
        t1 = time.monotonic()
        assert d.get("/health", timeout=5).status == 200
        baseline.append(time.monotonic() - t1)
    # relative to the answer time before the slow client came (generous factor), never above
    # half the head timeout
    others_limit = min(max(20 * max(baseline), harness.scaled(1.0)), head_s / 2)
    slow = d.conn(timeout=10)
    payload = ("GET /livez HTTP/1.1\r\n" + H + "X-Slow: " + "s" * 400).encode()
    t0 = time.monotonic()
    cut_at = None
    other_latencies = []
    i = 0
    # one byte every 200 ms (a per-byte idle timer would never fire) until cut or well past
    # the head timeout
    while time.monotonic() - t0 < head_s + harness.scaled(5) and i < len(payload):
        i += 1
        if not slow.try_send(payload[i - 1:i]):
            cut_at = time.monotonic() - t0
            break
        if slow.readable(0):
            state = slow.state_after(0.1)
            if state == "data":
                r = slow.read_response(timeout=2)
                assert r.status == 408, r
                state = slow.state_after(2)
            assert state == "closed"
            cut_at = time.monotonic() - t0
            break
        t1 = time.monotonic()
        r = d.get("/health", timeout=5)
        other_latencies.append(time.monotonic() - t1)
        assert r.status == 200, r
        time.sleep(max(0.0, 0.2 - (time.monotonic() - t1)))
    slow.close()
    assert cut_at is not None, "a client sending one header byte every 200 ms was never cut off"
    assert 0.8 * head_s <= cut_at < head_s + harness.scaled(3), \
        f"cut off after {cut_at:.2f}s with HEAD_TIMEOUT_MS={int(head_s * 1000)}"
    assert other_latencies and max(other_latencies) < others_limit, \
        f"latencies {other_latencies} vs baseline {baseline} (limit {others_limit:.2f}s)"


def test_idle_keepalive_connection_is_closed(droplin):
    d = droplin(env={"KEEPALIVE_TIMEOUT_MS": "500"})
    with d.conn(timeout=10) as c:
        c.send("GET /livez HTTP/1.1\r\n" + H + "\r\n")
        assert c.read_response().status == 200
        t0 = time.monotonic()
        # the default keep-alive is 75 s: any close well before it is this setting's
        assert c.state_after(harness.scaled(10)) == "closed", \
            "idle keep-alive connection never closed"
        took = time.monotonic() - t0
        assert 0.35 <= took < harness.scaled(10), \
            f"closed after {took:.2f}s with KEEPALIVE_TIMEOUT_MS=500"


def test_keepalive_timer_restarts_with_each_request(droplin):
    # each pause (0.5 s) far below the keep-alive (3 s), all of them together far above it: a
    # timer that did not restart would close the connection half-way through
    keepalive = 3.0
    d = droplin(env={"KEEPALIVE_TIMEOUT_MS": str(int(keepalive * 1000))})
    with d.conn(timeout=10) as c:
        c.send("GET /livez HTTP/1.1\r\n" + H + "\r\n")
        assert c.read_response().status == 200
        t0 = time.monotonic()
        while time.monotonic() - t0 < keepalive + 2.0:
            time.sleep(0.5)
            c.send("GET /livez HTTP/1.1\r\n" + H + "\r\n")
            assert c.read_response().status == 200


def test_stalled_body_is_cut_off(droplin):
    d = droplin(env={"IDLE_TIMEOUT_MS": "500"})
    with d.conn(timeout=10) as c:
        c.send("POST /nothing-here HTTP/1.1\r\n" + H + "Content-Length: 10\r\n\r\n{\"")
        t0 = time.monotonic()
        # the default idle timeout is 30 s: any cut well before it is this setting's
        state = c.state_after(harness.scaled(10))
        if state == "data":
            assert c.read_response().status == 408
            state = c.state_after(3)
        assert state == "closed", "a request body that stopped arriving was never cut off"
        assert time.monotonic() - t0 < harness.scaled(10)


def open_served(d, source=None, n=1):
    """n keep-alive connections, each with one answered request (so droplin has accepted it)."""
    conns = []
    for _ in range(n):
        c = d.conn(source=source, timeout=5)
        c.send("GET /livez HTTP/1.1\r\n" + H + "\r\n")
        assert c.read_response().status == 200
        conns.append(c)
    return conns


def assert_refused_with_503(d, source=None):
    with d.conn(source=source, timeout=5) as c:
        c.try_send("GET /livez HTTP/1.1\r\n" + H + "\r\n")
        assert_status_and_closed(c, 503)


@pytest.mark.parametrize("host", ["127.0.0.1", "::"], ids=["ipv4", "dual-stack"])
def test_connections_per_ip_cap(droplin, host):
    # On [::] IPv4 peers arrive as ::ffff:127.0.0.x; they are still different addresses.
    d = droplin(env={"MAX_CONNECTIONS_PER_IP": "3", "HOST": host})
    conns = open_served(d, n=3)
    try:
        assert_refused_with_503(d)
        # Another address is still served.
        with d.conn(source="127.0.0.2") as other:
            other.send("GET /livez HTTP/1.1\r\n" + H + "\r\n")
            assert other.read_response().status == 200
        # The three are still usable.
        for c in conns:
            c.send("GET /livez HTTP/1.1\r\n" + H + "\r\n")
            assert c.read_response().status == 200
        # Closing one makes room again.
        conns.pop().close()
        harness.wait_until(lambda: _served(d), timeout=3, what="a free slot after a close")
    finally:
        for c in conns:
            c.close()


def test_connections_per_ip_cap_is_not_applied_behind_a_trusted_proxy(droplin):
    """With TRUST_PROXY every connection comes from the proxy's address: a per-address cap
    there would cap the whole replica at MAX_CONNECTIONS_PER_IP."""
    d = droplin(env={"MAX_CONNECTIONS_PER_IP": "3", "TRUST_PROXY": "1"})
    conns = open_served(d, n=8)
    try:
        for c in conns:
            c.send("GET /livez HTTP/1.1\r\n" + H + "\r\n")
            assert c.read_response().status == 200
    finally:
        for c in conns:
            c.close()


def _served(d):
    with d.conn(timeout=3) as c:
        c.try_send("GET /livez HTTP/1.1\r\n" + H + "Connection: close\r\n\r\n")
        try:
            return c.read_response(timeout=3).status == 200
        except harness.ProtocolError:
            return False


def test_total_connection_cap(droplin):
    d = droplin(env={"MAX_CONNECTIONS": "4"})
    conns = open_served(d, n=2) + open_served(d, source="127.0.0.2", n=2)
    try:
        assert_refused_with_503(d)
        assert_refused_with_503(d, source="127.0.0.3")
        conns.pop().close()
        harness.wait_until(lambda: _served(d), timeout=3, what="a free slot after a close")
    finally:
        for c in conns:
            c.close()


def test_default_host_is_dual_stack(droplin):
    d = droplin(env={"HOST": None})
    for host in ("127.0.0.1", "::1"):
        r = harness.http_request(d.port, "GET", "/livez", host=host)
        assert r.status == 200, (host, r)


def test_client_that_never_reads_does_not_stall_or_bloat_the_server(droplin):
    d = droplin()
    d.wait_ready()
    baseline = []
    for _ in range(5):
        t0 = time.monotonic()
        assert d.get("/livez", timeout=5).status == 200
        baseline.append(time.monotonic() - t0)
    rss_before = harness.rss_kib(d.proc.pid)
    greedy = d.conn(timeout=5)
    greedy.sock.setblocking(False)
    request = ("GET / HTTP/1.1\r\n" + H + "\r\n").encode() * 64
    sent = 0
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and sent < 64 * 1024 * 1024:
        try:
            sent += greedy.sock.send(request)
        except BlockingIOError:
            time.sleep(0.01)  # backpressure: droplin stopped reading, as it should
        except OSError:
            break  # droplin closed the connection: also fine
    # a server stuck writing to the greedy client would not answer at all (a 30 s timeout
    # here); one that answers is compared with its own answer time before (generous factor)
    limit = max(20 * max(baseline), harness.scaled(2.0))
    t0 = time.monotonic()
    assert d.get("/livez", timeout=30).status == 200
    took = time.monotonic() - t0
    assert took < limit, f"/livez took {took:.2f}s beside a client that never reads " \
        f"(baseline {baseline}, limit {limit:.2f}s)"
    grown_mib = (harness.rss_kib(d.proc.pid) - rss_before) / 1024
    assert grown_mib < 64, f"droplin grew by {grown_mib:.0f} MiB buffering responses nobody reads"
    greedy.close()
