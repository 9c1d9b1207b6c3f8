"""S8: HTTP/1.1 message framing (RFC 9112). Ambiguous framing is a 400 and the connection is
closed; well-formed pipelined and chunked requests are served in order."""

import pytest

from harness import assert_json, assert_security_headers

H = "Host: 127.0.0.1\r\n"


@pytest.fixture(scope="module")
def srv(module_droplin):
    d = module_droplin()
    d.wait_ready()
    return d


BAD_REQUESTS = {
    "cl-and-te": "POST /nothing-here HTTP/1.1\r\n" + H +
                 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te-and-cl": "POST /nothing-here HTTP/1.1\r\n" + H +
                 "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
    "cl-duplicate-equal": "POST /nothing-here HTTP/1.1\r\n" + H +
                          "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
    "cl-duplicate-different": "POST /nothing-here HTTP/1.1\r\n" + H +
                              "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "cl-list": "POST /nothing-here HTTP/1.1\r\n" + H + "Content-Length: 5, 5\r\n\r\nhello",
    "cl-plus": "POST /nothing-here HTTP/1.1\r\n" + H + "Content-Length: +5\r\n\r\nhello",
    "cl-negative": "POST /nothing-here HTTP/1.1\r\n" + H + "Content-Length: -1\r\n\r\n",
    "cl-trailing-garbage": "POST /nothing-here HTTP/1.1\r\n" + H + "Content-Length: 5a\r\n\r\nhello",
    "cl-empty": "POST /nothing-here HTTP/1.1\r\n" + H + "Content-Length: \r\n\r\n",
    "cl-two-numbers": "POST /nothing-here HTTP/1.1\r\n" + H + "Content-Length: 1 2\r\n\r\n",
    "cl-hex": "POST /nothing-here HTTP/1.1\r\n" + H + "Content-Length: 0x5\r\n\r\nhello",
    "cl-huge": "POST /nothing-here HTTP/1.1\r\n" + H +
               "Content-Length: 99999999999999999999\r\n\r\n",
    "te-gzip": "POST /nothing-here HTTP/1.1\r\n" + H + "Transfer-Encoding: gzip\r\n\r\n",
    "te-chunked-then-gzip": "POST /nothing-here HTTP/1.1\r\n" + H +
                            "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
    "te-identity": "POST /nothing-here HTTP/1.1\r\n" + H +
                   "Transfer-Encoding: identity\r\n\r\n",
    "te-xchunked": "POST /nothing-here HTTP/1.1\r\n" + H +
                   "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
    "te-chunked-in-two-fields": "POST /nothing-here HTTP/1.1\r\n" + H +
                                "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "0\r\n\r\n",
    "te-chunked-twice-in-list": "POST /nothing-here HTTP/1.1\r\n" + H +
                                "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
    "obs-fold-space": "GET /health HTTP/1.1\r\n" + H + "X-Folded: a\r\n b\r\n\r\n",
    "obs-fold-tab": "GET /health HTTP/1.1\r\n" + H + "X-Folded: a\r\n\tb\r\n\r\n",
    "bare-lf-in-header": "GET /health HTTP/1.1\r\n" + "Host: 127.0.0.1\nX-A: b\r\n\r\n",
    "bare-lf-after-request-line": "GET /health HTTP/1.1\n" + H + "\r\n",
    "bare-lf-everywhere": "GET /health HTTP/1.1\nHost: 127.0.0.1\n\n",
    "space-before-colon": "GET /health HTTP/1.1\r\n" + H + "X-Foo : bar\r\n\r\n",
    "tab-before-colon": "GET /health HTTP/1.1\r\n" + H + "X-Foo\t: bar\r\n\r\n",
    "space-before-colon-cl": "POST /nothing-here HTTP/1.1\r\n" + H +
                             "Content-Length : 5\r\n\r\nhello",
    "missing-host": "GET /health HTTP/1.1\r\n\r\n",
    "two-hosts": "GET /health HTTP/1.1\r\n" + H + "Host: localhost\r\n\r\n",
    "two-hosts-equal": "GET /health HTTP/1.1\r\n" + H + H + "\r\n",
    "header-without-colon": "GET /health HTTP/1.1\r\n" + H + "NoColonHere\r\n\r\n",
    "chunk-size-not-hex": "POST /nothing-here HTTP/1.1\r\n" + H +
                          "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "chunk-size-negative": "POST /nothing-here HTTP/1.1\r\n" + H +
                           "Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
    "chunk-size-empty": "POST /nothing-here HTTP/1.1\r\n" + H +
                        "Transfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n",
    "chunk-data-too-long": "POST /nothing-here HTTP/1.1\r\n" + H +
                           "Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n",
    "bad-request-line": "GET /health\r\n" + H + "\r\n",
    "bad-version": "GET /health HTTP/1.x\r\n" + H + "\r\n",
}


@pytest.mark.parametrize("name", list(BAD_REQUESTS))
def test_ambiguous_framing_is_400_and_closes(srv, name):
    with srv.conn() as c:
        c.send(BAD_REQUESTS[name])
        r = c.read_response(timeout=5)
        assert r.status == 400, r
        assert_security_headers(r)
        assert c.state_after(3) == "closed", "connection left open after a 400"


def test_bare_lf_request_gets_no_second_response(srv):
    # Had the server read the LF-only request leniently, the pipelined GET would be answered.
    with srv.conn() as c:
        c.send("GET / HTTP/1.1\nHost: 127.0.0.1\n\nGET / HTTP/1.1\r\n" + H + "\r\n")
        assert c.read_response().status == 400
        assert c.state_after(3) == "closed"


def test_http10_without_host_is_served(srv):
    with srv.conn() as c:
        c.send("GET / HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200, r
        assert assert_json(r)["message"] == "DropLink API"
        assert c.state_after(3) == "closed", "HTTP/1.0 without keep-alive must be closed"


def test_http10_keep_alive_is_honoured_or_closed_cleanly(srv):
    with srv.conn() as c:
        c.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r = c.read_response()
        assert r.status == 200
        if (r.headers.get("Connection") or "").lower() == "keep-alive":
            c.send("GET /livez HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            assert c.read_response().status == 200
        else:
            assert c.state_after(3) == "closed"


def test_pipelined_requests_are_answered_in_order(srv):
    with srv.conn() as c:
        c.send("GET / HTTP/1.1\r\n" + H + "\r\n"
               "GET /livez HTTP/1.1\r\n" + H + "X-Request-ID: second\r\n\r\n"
               "GET /nope HTTP/1.1\r\n" + H + "\r\n")
        first = c.read_response()
        second = c.read_response()
        third = c.read_response()
        assert first.json()["message"] == "DropLink API"
        assert second.json() == {"status": "alive"}
        assert second.headers.get("X-Request-ID") == "second"
        assert third.status == 404
        # The connection stays open for more.
        c.send("GET /livez HTTP/1.1\r\n" + H + "\r\n")
        assert c.read_response().status == 200
        assert c.state_after(0.3) == "open"


def test_chunked_body_with_extensions_and_trailers_is_consumed(srv):
    body = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"  # looks like a request, is data
    chunked = (b"5;ext=1\r\n" + body[:5] + b"\r\n"
               + b"%x;name=\"quoted value\"\r\n" % (len(body) - 5) + body[5:] + b"\r\n"
               + b"0\r\nX-Trailer: yes\r\nX-Other: 2\r\n\r\n")
    with srv.conn() as c:
        c.send(b"POST /nothing-here HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               b"Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"
               + chunked + b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        first = c.read_response()
        assert first.status == 404, first
        assert first.json() == {"detail": "Not Found"}
        second = c.read_response()
        assert second.json() == {"status": "alive"}, second
        assert c.state_after(0.5) == "open", "an extra response: the body was read as a request"


def test_content_length_body_is_consumed(srv):
    body = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with srv.conn() as c:
        c.send(b"POST /nothing-here HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n"
               % len(body) + body + b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert c.read_response().status == 404
        assert c.read_response().json() == {"status": "alive"}
        assert c.state_after(0.5) == "open"


def test_body_split_across_packets(srv):
    with srv.conn() as c:
        c.send("POST /nothing-here HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n4\r\nab")
        assert c.state_after(0.3) == "open"
        c.send("cd\r\n0\r\n\r\nGET /livez HTTP/1.1\r\n" + H + "\r\n")
        assert c.read_response().status == 404
        assert c.read_response().status == 200


def test_connection_close_is_honoured(srv):
    with srv.conn() as c:
        c.send("GET / HTTP/1.1\r\n" + H + "Connection: close\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.wants_close()
        assert c.state_after(3) == "closed"


def test_lowercase_and_odd_case_header_names(srv):
    with srv.conn() as c:
        c.send("GET /livez HTTP/1.1\r\nhOsT: 127.0.0.1\r\nconnection: close\r\n\r\n")
        assert c.read_response().status == 200


def test_transfer_coding_name_is_case_insensitive(srv):
    with srv.conn() as c:
        c.send("POST /nothing-here HTTP/1.1\r\n" + H + "Transfer-Encoding: Chunked\r\n\r\n"
               "3\r\nabc\r\n0\r\n\r\nGET /livez HTTP/1.1\r\n" + H + "\r\n")
        assert c.read_response().status == 404
        assert c.read_response().status == 200


def test_good_then_bad_pipelined_request(srv):
    with srv.conn() as c:
        c.send("GET /livez HTTP/1.1\r\n" + H + "\r\n"
               "GET /livez HTTP/1.1\r\n" + H + "Content-Length: 1\r\nContent-Length: 1\r\n\r\nx"
               "GET /livez HTTP/1.1\r\n" + H + "\r\n")
        assert c.read_response().status == 200
        assert c.read_response().status == 400
        assert c.state_after(3) == "closed", "requests after a framing error were served"


def test_many_pipelined_requests_come_back_in_order(srv):
    n = 200
    with srv.conn(timeout=20) as c:
        c.send("".join(f"GET /livez HTTP/1.1\r\n{H}X-Request-ID: p{i}\r\n\r\n" for i in range(n)))
        ids = [c.read_response(timeout=20).headers.get("X-Request-ID") for _ in range(n)]
        assert ids == [f"p{i}" for i in range(n)]


# The framing table, row by row: (request, status, whether the connection must close).
# Every request is followed in the same write by a pipelined GET /livez, the request a
# smuggling attempt would hide: a closing row must never answer it (it was not a request, or
# the stream cannot be trusted), an accepted row must answer it next, with 200, so a body was
# never taken for a request or a request for a body.
P = "POST /nothing-here HTTP/1.1\r\n" + H
FRAMING_TABLE = {
    # Content-Length: digits only; leading zeros are digits
    "cl-underscore": (P + "Content-Length: 1_0\r\n\r\n0123456789", 400, True),
    "cl-inner-space": (P + "Content-Length: 1 0\r\n\r\n0123456789", 400, True),
    "cl-leading-zeros": (P + "Content-Length: 005\r\n\r\nhello", 404, False),
    "cl-comma-joined": (P + "Content-Length: 5,5\r\n\r\nhello", 400, True),
    # Transfer-Encoding: exactly chunked, compared without case, around OWS
    "te-trailing-tab": (P + "Transfer-Encoding: chunked\t\r\n\r\n0\r\n\r\n", 404, False),
    "te-leading-spaces": (P + "Transfer-Encoding:   chunked\r\n\r\n0\r\n\r\n", 404, False),
    "te-upper-case": (P + "Transfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n", 404, False),
    "te-quoted": (P + "Transfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n", 400, True),
    "te-chunked-identity": (P + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400, True),
    "te-with-cl-after-body": (P + "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n"
                              "5\r\nhello\r\n0\r\n\r\n", 400, True),
    # chunk sizes
    "chunk-extension": (P + "Transfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\n\r\n", 404,
                        False),
    "chunk-size-0x": (P + "Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", 400, True),
    "chunk-size-overflow": (P + "Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nhello\r\n"
                            "0\r\n\r\n", 400, True),
    "chunk-lines-bare-lf": (P + "Transfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n", 400, True),
    # bytes that have no place in a head
    "nul-in-value": ("GET /health HTTP/1.1\r\n" + H + "X-A: a\x00b\r\n\r\n", 400, True),
    "nul-in-name": ("GET /health HTTP/1.1\r\n" + H + "X-\x00A: b\r\n\r\n", 400, True),
    "control-in-value": ("GET /health HTTP/1.1\r\n" + H + "X-A: a\x01b\r\n\r\n", 400, True),
    "del-in-value": ("GET /health HTTP/1.1\r\n" + H + "X-A: a\x7fb\r\n\r\n", 400, True),
    "bare-cr-in-value": ("GET /health HTTP/1.1\r\n" + H + "X-A: a\rb\r\n\r\n", 400, True),
    "bare-cr-line-end": ("GET /health HTTP/1.1\r" + H + "\r\n", 400, True),
    "space-in-name": ("GET /health HTTP/1.1\r\n" + H + "X A: b\r\n\r\n", 400, True),
    # request targets and lines
    "absolute-form": ("GET http://127.0.0.1/health HTTP/1.1\r\n" + H + "\r\n", 200, False),
    "asterisk-form-get": ("GET * HTTP/1.1\r\n" + H + "\r\n", 400, True),
    "double-space-request-line": ("GET  /health HTTP/1.1\r\n" + H + "\r\n", 400, True),
    "http-0.9": ("GET /health\r\n\r\n", 400, True),
    "http-1.2": ("GET /health HTTP/1.2\r\n" + H + "\r\n", 505, True),
    "http2-preface": ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, True),
    "long-request-line": ("GET /" + "a" * 20000 + " HTTP/1.1\r\n" + H + "\r\n", 431, True),
    "long-header-line": ("GET /health HTTP/1.1\r\n" + H + "X-A: " + "b" * 20000 + "\r\n\r\n", 431,
                         True),
}


@pytest.mark.parametrize("name", list(FRAMING_TABLE))
def test_framing_table(srv, name):
    request, status, closes = FRAMING_TABLE[name]
    with srv.conn() as c:
        c.send(request + "GET /livez HTTP/1.1\r\n" + H + "\r\n")
        r = c.read_response(timeout=5)
        assert r.status == status, r
        if closes:
            assert c.state_after(3) == "closed", "connection left open (or a second answer)"
        else:
            nxt = c.read_response(timeout=5)
            assert nxt.status == 200 and assert_json(nxt)["status"] == "alive", nxt
