"""Request bodies cannot pin a replica's memory: the token is checked from the head, before any
body byte is read; all bodies together are capped (MAX_BUFFERED_BODY_BYTES); and a body must
arrive whole within BODY_TIMEOUT_MS, however steadily it trickles."""

import json
import os
import socket
import threading
import time

import pytest

import harness
from auth_helpers import FAST_ENV, Api, metric, start

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BOUNDARY = "droplinlimits"
MIB = 1 << 20


def bearer_operations():
    """(method, path) of every operation the API document says needs a bearer token."""
    with open(os.path.join(REPO, "docs", "openapi.json")) as f:
        doc = json.load(f)
    out = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if {"bearerAuth": []} in (op.get("security") or []):
                out.append((method.upper(), path.replace("{device_id}", "1")
                            .replace("{zone_id}", "1")))
    return out


OPERATIONS = bearer_operations()


@pytest.fixture(scope="module")
def srv(module_droplin):
    # A long idle timeout: a droplin that waited for the body would not answer in the test's time.
    d = module_droplin(env=dict(FAST_ENV, IDLE_TIMEOUT_MS="60000", BODY_TIMEOUT_MS="60000"))
    d.wait_ready()
    return d


def photo_head(port, length, token=None, expect=True):
    head = (f"POST /user/profile/photo HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {length}\r\n")
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    if expect:
        head += "Expect: 100-continue\r\n"
    return head + "\r\n"


def photo_preamble():
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode() + b"\xff\xd8\xff"


def first_status_line(c):
    """The first status line droplin sends (an interim 100 included), left in c's buffer."""
    deadline = time.monotonic() + 10 * harness.TIMEOUT_SCALE
    while b"\r\n" not in c.buf and c._fill(deadline):
        pass
    return c.buf.split(b"\r\n", 1)[0]


def test_every_bearer_operation_is_listed():
    assert len(OPERATIONS) >= 20, OPERATIONS
    assert ("POST", "/user/profile/photo") in OPERATIONS


@pytest.mark.parametrize("method,path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
@pytest.mark.parametrize("auth,detail", [(None, "Not authenticated"),
                                         ("Bearer not.a.token", "Invalid token")],
                         ids=["no-token", "bad-token"])
def test_bad_token_is_answered_from_the_head(srv, method, path, auth, detail):
    length = 5 * MIB if (method, path) == ("POST", "/user/profile/photo") else 1000
    head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n"
            "Expect: 100-continue\r\n")
    if auth:
        head += f"Authorization: {auth}\r\n"
    with srv.conn(timeout=10) as c:
        c.send(head + "\r\n")  # and never a body byte
        first = first_status_line(c)
        assert first.startswith(b"HTTP/1.1 401"), f"{first!r}: no 401 before the body (100 Continue?)"
        r = c.read_response(timeout=10)
        assert r.status == 401 and r.json()["detail"] == detail, r
        assert r.headers.get("Connection", "").lower() == "close", r.headers
        assert c.state_after(5) == "closed", "the connection stayed open for a body never read"


def test_unauthenticated_uploads_hold_no_memory(droplin):
    # The review's attack: 20 unfinished 10 MiB uploads with no token took RSS from 2 to 207 MB.
    d = droplin(env=dict(FAST_ENV, IDLE_TIMEOUT_MS="60000", BODY_TIMEOUT_MS="60000"))
    d.wait_ready()
    before = harness.rss_kib(d.proc.pid)
    conns, chunk = [], b"\0" * 65536
    try:
        for _ in range(20):
            c = d.conn(timeout=10)
            conns.append(c)
            c.send(photo_head(d.port, 10 * MIB, expect=False))
            c.try_send(photo_preamble())
            for _ in range(8 * MIB // len(chunk)):  # 8 MiB each, unless droplin stops it
                if not c.try_send(chunk):
                    break
        grown = (harness.rss_kib(d.proc.pid) - before) / 1024
        assert grown < 16, f"20 unauthenticated uploads grew droplin by {grown:.0f} MiB"
        for c in conns:
            r = c.read_response(timeout=10)
            assert r.status == 401, r
        assert metric(d, "droplin_request_body_bytes") == 0
    finally:
        for c in conns:
            c.close()


def wait_metric(d, name, pred, timeout=10):
    deadline = time.monotonic() + timeout * harness.TIMEOUT_SCALE
    while True:
        v = metric(d, name)
        if pred(v) or time.monotonic() > deadline:
            return v
        time.sleep(0.02)


def upload_with(d, token, length, data_bytes, source="127.0.0.1"):
    """A photo upload of Content-Length `length` that sends `data_bytes` of its file part and
    stops there: (connection, the first status line droplin sent)."""
    c = harness.RawConn(d.port, source=source, timeout=10)
    c.send(photo_head(d.port, length, token=token))
    line = first_status_line(c)
    if line == b"HTTP/1.1 100 Continue" and data_bytes:
        c.buf = c.buf.split(b"\r\n\r\n", 1)[1]
        c.try_send(photo_preamble() + b"\0" * data_bytes)
    return c, line


def test_buffered_bodies_are_capped_across_connections(droplin):
    # A body is admitted from its head only if its Content-Length fits beside what is held, so
    # the refusal comes before 100 Continue; what is held is what has arrived.
    d = droplin(env=dict(FAST_ENV, IDLE_TIMEOUT_MS="60000", BODY_TIMEOUT_MS="60000",
                         MAX_BUFFERED_BODY_BYTES=str(12 * MIB),
                         MAX_BUFFERED_BODY_BYTES_PER_CLIENT=str(12 * MIB)))
    d.wait_ready()
    token = Api(d).register("alice")["token"]
    first, line = upload_with(d, token, 8 * MIB, 6 * MIB)
    assert line == b"HTTP/1.1 100 Continue", line
    held = wait_metric(d, "droplin_request_body_bytes", lambda v: v >= 6 * MIB)
    assert 6 * MIB <= held <= 7 * MIB, held
    second, line = upload_with(d, token, 8 * MIB, 0)  # 6 held + 8 would pass 12
    assert line.startswith(b"HTTP/1.1 503"), f"{line!r}: refused only after 100 Continue"
    r = second.read_response(timeout=10)
    assert r.status == 503 and r.json()["detail"] == "Service unavailable", r
    assert r.headers.get("Retry-After") == "1" and r.headers.get("Connection") == "close", r
    assert second.state_after(5) == "closed"
    second.close()
    assert first.state_after(0.2) == "open", "the upload within the cap was answered"
    assert d.get("/livez").status == 200
    first.close()  # what it held comes back: the next upload of that size fits
    assert wait_metric(d, "droplin_request_body_bytes", lambda v: v == 0) == 0
    third, line = upload_with(d, token, 8 * MIB, 4 * MIB)
    assert line == b"HTTP/1.1 100 Continue", line
    wait_metric(d, "droplin_request_body_bytes", lambda v: v >= 4 * MIB)
    # a chunked body has no length to check at its head: it is counted as it grows
    c = d.conn(timeout=10)
    c.send(f"POST /user/profile/photo HTTP/1.1\r\nHost: 127.0.0.1:{d.port}\r\n"
           f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
           f"Transfer-Encoding: chunked\r\nAuthorization: Bearer {token}\r\n\r\n")
    data = photo_preamble() + b"\0" * (9 * MIB)  # 4 + 9 passes 12 before 10 MiB is a 413
    for i in range(0, len(data), 65536):
        piece = data[i:i + 65536]
        if not c.try_send(b"%x\r\n" % len(piece) + piece + b"\r\n"):
            break
    r = c.read_response(timeout=10)
    assert r.status == 503, r
    c.close()
    third.close()
    assert wait_metric(d, "droplin_request_body_bytes", lambda v: v == 0) == 0
    assert any("MAX_BUFFERED_BODY_BYTES" in str(l) for l in d.logs()), d.describe()


def test_heads_without_bodies_hold_nothing(droplin):
    # Three 10 MiB photo heads that never send a byte used to reserve 30 MiB of a 24 MiB budget.
    d = droplin(env=dict(FAST_ENV, IDLE_TIMEOUT_MS="60000", MAX_BUFFERED_BODY_BYTES=str(24 * MIB)))
    d.wait_ready()
    token = Api(d).register("alice")["token"]
    idle = []
    for i in range(3):
        c, line = upload_with(d, token, 10 * MIB, 0, source=f"127.6.0.{1 + i}")
        idle.append(c)
        assert line == b"HTTP/1.1 100 Continue", line
    assert metric(d, "droplin_request_body_bytes") == 0
    c, line = upload_with(d, token, 10 * MIB, 0, source="127.6.0.9")
    assert line == b"HTTP/1.1 100 Continue", line
    for x in idle + [c]:
        x.close()


def test_early_401_carries_cors_and_keeps_a_connection_whose_body_arrived(droplin):
    d = droplin(env=dict(FAST_ENV, CORS_ORIGINS="https://app.example.com"))
    d.wait_ready()
    body = b'{"darkMode": true}'
    with d.conn(timeout=10) as c:
        c.send((f"POST /user/settings HTTP/1.1\r\nHost: 127.0.0.1:{d.port}\r\n"
                "Origin: https://app.example.com\r\nContent-Type: application/json\r\n"
                f"Authorization: Bearer not.a.token\r\nContent-Length: {len(body)}\r\n\r\n")
               .encode() + body + f"GET /livez HTTP/1.1\r\nHost: 127.0.0.1:{d.port}\r\n\r\n".encode())
        r = c.read_response(timeout=10)
        assert r.status == 401 and r.json()["detail"] == "Invalid token", r
        assert r.headers.get("Access-Control-Allow-Origin") == "https://app.example.com", r.headers
        assert (r.headers.get("Connection") or "").lower() != "close", r.headers
        assert c.read_response(timeout=10).status == 200  # the pipelined request after it


def test_a_steady_slow_upload_may_take_longer_than_the_body_timeout(droplin):
    # 2,000 bytes a second against a minimum of 1,000: each byte buys a millisecond, so the
    # body finishes after BODY_TIMEOUT_MS; a trickle does not (the test below).
    d = droplin(env=dict(FAST_ENV, IDLE_TIMEOUT_MS="60000", BODY_TIMEOUT_MS="1000",
                         BODY_MIN_BYTES_PER_SECOND="1000"))
    d.wait_ready()
    body = json.dumps({"password": "Aa1!" + "a" * 60, "pad": "x" * 3900}).encode()
    c = d.conn(timeout=30)
    c.send(f"POST /auth/check-password-strength HTTP/1.1\r\nHost: 127.0.0.1:{d.port}\r\n"
           f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    t0 = time.monotonic()
    for i in range(0, len(body), 100):
        assert c.try_send(body[i:i + 100]), "droplin closed a steady upload"
        time.sleep(0.05)
    r = c.read_response(timeout=30 * harness.TIMEOUT_SCALE)
    assert r.status == 200, r
    assert time.monotonic() - t0 > 1.0, "the upload was not slower than BODY_TIMEOUT_MS"
    c.close()


def test_a_trickled_body_ends_at_the_body_deadline(droplin):
    # One byte every 50 ms never trips the 60 s idle timer; the whole-body deadline ends it.
    d = droplin(env=dict(FAST_ENV, IDLE_TIMEOUT_MS="60000", BODY_TIMEOUT_MS="1500"))
    d.wait_ready()
    c = d.conn(timeout=30)
    c.send(f"POST /auth/check-password-strength HTTP/1.1\r\nHost: 127.0.0.1:{d.port}\r\n"
           "Content-Type: application/json\r\nContent-Length: 60000\r\n\r\n{")
    stop = threading.Event()

    def trickle():
        for _ in range(1200):  # at most 60 s, and it stops when droplin closes
            if stop.wait(0.05) or not c.try_send(b" "):
                return

    t = threading.Thread(target=trickle, daemon=True)
    t0 = time.monotonic()
    t.start()
    try:
        r = c.read_response(timeout=30 * harness.TIMEOUT_SCALE)
    finally:
        stop.set()
        t.join(5)
    waited = time.monotonic() - t0
    assert r.status == 408, r
    assert waited >= 1.4, f"408 after {waited:.1f} s, before BODY_TIMEOUT_MS"
    c.close()
    assert d.get("/livez").status == 200


def test_documents_are_not_copied_per_connection(droplin):
    # /openapi.json is about 100 KB: 300 keep-alive connections that fetched it (and 300 that
    # asked and never read) held 300 copies each way; now they hold none.
    d = droplin(env=dict(FAST_ENV, KEEPALIVE_TIMEOUT_MS="120000", IDLE_TIMEOUT_MS="120000"))
    d.wait_ready()
    size = len(d.get("/openapi.json").body)
    assert size > 50000
    before = harness.rss_kib(d.proc.pid)
    request = f"GET /openapi.json HTTP/1.1\r\nHost: 127.0.0.1:{d.port}\r\n\r\n".encode()
    readers, sleepers = [], []
    try:
        for i in range(300):
            c = harness.RawConn(d.port, source=f"127.3.{i // 200}.{1 + i % 200}", timeout=10)
            readers.append(c)
            c.send(request)
            assert len(c.read_response(timeout=10).body) == size
        for i in range(300):
            c = harness.RawConn(d.port, source=f"127.4.{i // 200}.{1 + i % 200}", timeout=10)
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sleepers.append(c)
            c.send(request)  # and never read
        assert d.get("/livez").status == 200
        grown = (harness.rss_kib(d.proc.pid) - before) / 1024
        assert grown < 12, f"600 connections to /openapi.json grew droplin by {grown:.0f} MiB"
    finally:
        for c in readers + sleepers:
            c.close()


def test_a_silent_new_connection_is_closed_at_the_head_timeout(droplin):
    # A connection that never sends a byte held a slot for the whole keep-alive timeout (75 s).
    d = droplin(env=dict(FAST_ENV, HEAD_TIMEOUT_MS="1000", KEEPALIVE_TIMEOUT_MS="60000"))
    d.wait_ready()
    silent = d.conn(timeout=10)
    t0 = time.monotonic()
    assert silent.state_after(30 * harness.TIMEOUT_SCALE) == "closed"
    assert time.monotonic() - t0 < 30 * harness.TIMEOUT_SCALE
    silent.close()
    # a connection that made a request stays open for the keep-alive timeout
    kept = d.conn(timeout=10)
    kept.send(f"GET /livez HTTP/1.1\r\nHost: 127.0.0.1:{d.port}\r\n\r\n")
    assert kept.read_response(timeout=10).status == 200
    assert kept.state_after(2.5) == "open"
    kept.close()


def test_one_client_holds_at_most_its_share_of_the_body_budget(droplin):
    # A quarter of MAX_BUFFERED_BODY_BYTES per client address (and one photo at least): one
    # address cannot take it all.
    d = droplin(env=dict(FAST_ENV, IDLE_TIMEOUT_MS="60000", MAX_BUFFERED_BODY_BYTES=str(48 * MIB)))
    d.wait_ready()
    token = Api(d).register("alice")["token"]
    a1, line = upload_with(d, token, 10 * MIB, 9 * MIB, source="127.5.0.1")
    assert line == b"HTTP/1.1 100 Continue", line
    wait_metric(d, "droplin_request_body_bytes", lambda v: v >= 9 * MIB)
    a2, line = upload_with(d, token, 8 * MIB, 0, source="127.5.0.1")  # past its 12 MiB
    assert line.startswith(b"HTTP/1.1 503"), line
    b1, line = upload_with(d, token, 8 * MIB, 0, source="127.5.0.2")  # another address fits
    assert line == b"HTTP/1.1 100 Continue", line
    for c in (a1, a2, b1):
        c.close()


def test_a_bearer_token_over_2_kib_is_refused_unverified(srv):
    # no HMAC (up to one per verifying key) over kilobytes for anyone who asks
    token = "eyJhbGciOiJIUzI1NiJ9." + "a" * 2100 + ".sig"
    r = srv.get("/user/profile", headers={"Authorization": "Bearer " + token})
    assert r.status == 401 and r.json()["detail"] == "Invalid token", r
