"""O2/O4: JSON log lines and request ids."""

import json
import re
import signal

import pytest

import harness

SANE_ID = re.compile(r"^[A-Za-z0-9._:+/=-]{1,128}$")


@pytest.fixture(scope="module")
def srv(module_droplin):
    d = module_droplin()
    d.wait_ready()
    return d


def request_log(d, request_id, timeout=5):
    return d.wait_log(lambda l: l.get("request_id") == request_id and "status" in l,
                      timeout=timeout, what=f"request log line for {request_id}")


def test_every_stdout_line_is_json_with_time_level_message(srv):
    srv.get("/")
    lines = srv.stdout_lines()
    assert lines
    for line in lines:
        obj = json.loads(line)  # raises on a non-JSON line
        assert isinstance(obj, dict), line
        for key in ("time", "level", "message"):
            assert key in obj, f"{key} missing in {line}"
        assert obj["level"] in ("debug", "info", "warn", "error"), line


def test_request_line_has_the_request_fields(srv):
    r = srv.get("/?token=secret-query-value&x=1", headers={"X-Request-ID": "abc-123"})
    assert r.status == 200
    assert r.headers.get("X-Request-ID") == "abc-123"
    line = request_log(srv, "abc-123")
    assert line["method"] == "GET"
    assert line["path"] == "/"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], (int, float)) and line["duration_ms"] >= 0
    assert isinstance(line["replica"], str) and line["replica"]
    assert "secret-query-value" not in srv.output(), "the query string reached the log"


def test_error_responses_are_logged_too(srv):
    srv.request("POST", "/", headers={"X-Request-ID": "err-405"})
    srv.get("/does-not-exist?q=hidden-value", headers={"X-Request-ID": "err-404"})
    assert request_log(srv, "err-405")["status"] == 405
    line = request_log(srv, "err-404")
    assert line["status"] == 404 and line["path"] == "/does-not-exist"
    assert "hidden-value" not in srv.output()


def test_failing_probes_are_logged_healthy_ones_only_at_debug(srv):
    # Decision: balancers probe every few seconds, so a healthy probe answer is logged at
    # debug level only; a probe that fails (or is misused) is what an operator needs, at info.
    ok = srv.get("/health", headers={"X-Request-ID": "probe-health"})
    assert ok.status == 200
    srv.request("POST", "/health", headers={"X-Request-ID": "probe-405"})
    assert request_log(srv, "probe-405")["status"] == 405
    srv.get("/", headers={"X-Request-ID": "after-probes"})
    request_log(srv, "after-probes")  # logged after the probe: the probe had its chance
    assert "probe-health" not in srv.output()


def test_probe_lines_at_debug_level_have_no_query(module_droplin):
    d = module_droplin(env={"LOG_LEVEL": "debug"})
    r = d.get("/health?token=probe-secret", headers={"X-Request-ID": "dbg-health"})
    line = request_log(d, "dbg-health")
    # the status logged is the one sent (200, or 503 when the probe is stale on a busy machine)
    assert line["path"] == "/health" and line["status"] == r.status, (line, r)
    assert "probe-secret" not in d.output()


def test_generated_request_id_is_echoed_and_logged(srv):
    a = srv.get("/").headers.get("X-Request-ID")
    b = srv.get("/").headers.get("X-Request-ID")
    assert a and b and a != b
    assert SANE_ID.match(a), a
    request_log(srv, a)


@pytest.mark.parametrize("bad", [
    "a" * 129,
    "has space",
    "tab\there",
    "quote\"here",
    "",
], ids=["129-chars", "space", "tab", "quote", "empty"])
def test_insane_request_id_is_replaced(srv, bad):
    r = srv.get("/", headers={"X-Request-ID": bad})
    rid = r.headers.get("X-Request-ID")
    assert rid and rid != bad.strip(), f"insane id echoed: {rid!r}"
    assert SANE_ID.match(rid), rid
    request_log(srv, rid)


def test_128_char_request_id_is_kept(srv):
    rid = "r" * 128
    assert srv.get("/", headers={"X-Request-ID": rid}).headers.get("X-Request-ID") == rid


def test_log_level_error_hides_request_lines(module_droplin):
    port = harness.free_port()
    d = module_droplin(env={"LOG_LEVEL": "error", "PORT": port, "DRAIN_SECONDS": "0"},
                       wait=False)
    d.port = port
    harness.wait_until(lambda: harness.connectable(port), 15, what="droplin listening")
    assert d.get("/", headers={"X-Request-ID": "quiet-1"}).status == 200
    d.get("/nope", headers={"X-Request-ID": "quiet-2"})
    # barrier: once droplin has exited, every line it wrote has been read
    d.signal(signal.SIGTERM)
    d.wait_exit()
    assert not [l for l in d.logs() if l.get("level") in ("debug", "info", "warn")], d.describe()
