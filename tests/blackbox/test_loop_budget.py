"""The event loop's budget: no client can make it do work worse than linear in what it sent,
or spin, and every Connection field counts. Loop time is the main thread's CPU time, read
from /proc (the event loop is droplin's main thread); every comparison is against a baseline
measured in the same test."""

import socket
import time

import harness


def loop_cpu_ns(d):
    """CPU time used so far by droplin's event loop (its main thread), in nanoseconds."""
    with open(f"/proc/{d.proc.pid}/task/{d.proc.pid}/schedstat") as f:
        return int(f.read().split()[0])


def trickle_after(d, prefix, tail=2048):
    """Sends `prefix` bytes of a head (one long header) at once, then `tail` more a byte at a
    time (paced, so droplin reads about one byte at a time), then the end of the head;
    returns the loop's CPU time spent and the answer's status."""
    start = b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Long: "
    s = socket.create_connection(("127.0.0.1", d.port), timeout=harness.scaled(30))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t0 = loop_cpu_ns(d)
    s.sendall(start + b"a" * (prefix - len(start)))
    for _ in range(tail):
        s.send(b"b")
        time.sleep(0.00002)
    s.sendall(b"\r\n\r\n")
    status = int(s.makefile("rb").readline().split()[1])
    used = loop_cpu_ns(d) - t0
    s.close()
    return used, status


def test_a_head_sent_a_byte_at_a_time_costs_linear_loop_time(droplin):
    """A read costs the bytes it brings, not the bytes that came before it: 2 KiB a byte at a
    time after 64 KiB of head costs about what it costs after 1 KiB."""
    d = droplin(env={"MAX_HEAD_BYTES": str(80 << 10), "HEAD_TIMEOUT_MS": "120000"})
    d.wait_ready()
    trickle_after(d, 1024)  # warm up
    small = min(trickle_after(d, 1024)[0] for _ in range(2))
    big, status = trickle_after(d, 64 << 10)
    assert status == 200
    # measured before the fix: about 5 times (each byte's read parsed all 64 KiB again)
    assert big < 2.5 * small, \
        f"2 KiB after 64 KiB cost {big / 1e6:.1f} ms of loop time, after 1 KiB {small / 1e6:.1f} ms"


def test_bad_bytes_early_in_a_head_are_refused_at_once(droplin):
    """Resuming the parse does not delay the refusal of garbage (a TLS hello, say)."""
    d = droplin()
    d.wait_ready()
    s = socket.create_connection(("127.0.0.1", d.port), timeout=harness.scaled(5))
    s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    assert s.makefile("rb").readline().startswith(b"HTTP/1.1 400 ")


def test_a_chunk_size_line_longer_than_the_buffer_is_refused_without_spinning(droplin):
    d = droplin(env={"MAX_HEAD_BYTES": "1024", "IDLE_TIMEOUT_MS": "60000"})
    d.wait_ready()
    s = socket.create_connection(("127.0.0.1", d.port), timeout=harness.scaled(20))
    s.sendall(b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n5;ext=" + b"x" * 3000)  # the line never ends
    t0, c0 = time.monotonic(), loop_cpu_ns(d)
    line = s.makefile("rb").readline()
    wall, cpu = time.monotonic() - t0, (loop_cpu_ns(d) - c0) / 1e9
    assert line.startswith(b"HTTP/1.1 400 "), line
    # before: the full buffer made the socket readable forever, the loop spinning at 100 %
    # until IDLE_TIMEOUT_MS; a refusal at once uses next to nothing of either
    assert cpu < 0.5 * wall + 0.05, f"the loop used {cpu:.2f}s of CPU in {wall:.2f}s"


def conn_answer(d, fields, minor=1):
    """Sends a GET /livez with these Connection fields; the response and whether the
    connection is closed afterwards."""
    c = d.conn(timeout=harness.scaled(5))
    head = f"GET /livez HTTP/1.{minor}\r\nHost: x\r\n" + "".join(
        f"Connection: {v}\r\n" for v in fields) + "\r\n"
    c.send(head)
    r = c.read_response()
    return r, c.state_after(harness.scaled(1))


def test_every_connection_field_counts(droplin):
    d = droplin()
    d.wait_ready()
    for fields in (["keep-alive", "close"], ["keep-alive", "foo, close"], ["close, keep-alive"],
                   ["upgrade", "Close"]):
        r, state = conn_answer(d, fields)
        assert r.status == 200 and r.wants_close(), (fields, r)
        assert state == "closed", (fields, state)
    r, state = conn_answer(d, ["te", "keep-alive"])
    assert r.status == 200 and not r.wants_close() and state == "open", r
    # HTTP/1.0: keep-alive only when asked, in any of the fields
    r, state = conn_answer(d, ["foo", "keep-alive"], minor=0)
    assert r.status == 200 and state == "open", r
    r, state = conn_answer(d, ["keep-alive", "close"], minor=0)
    assert state == "closed", r
