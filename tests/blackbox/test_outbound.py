"""Outbound HTTPS plumbing (E): `droplin --check-outbound URL` against the local HTTPS stand-in."""

import time

import harness
from harness import run_cli


def check_outbound(stub, ca=None, path="/ok", timeout=30, **env):
    e = {"DROPLIN_ENV": "development", "OUTBOUND_RESOLVE": stub.resolve()}
    if ca:
        e["OUTBOUND_CA_FILE"] = ca
    e.update(env)
    t0 = time.monotonic()
    r = run_cli(["--check-outbound", stub.url + path], env=e, timeout=timeout)
    return r, time.monotonic() - t0


def test_trusted_stub_answers_200(https_stub_server, test_ca):
    r, _ = check_outbound(https_stub_server, test_ca["ca"])
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "200" in r.stdout, r.stdout
    method, path, headers = https_stub_server.requests[-1]
    assert (method, path) == ("GET", "/ok")
    assert headers.get("host") == f"outbound.test:{https_stub_server.port}"


def test_untrusted_ca_is_refused(https_stub_server):
    r, _ = check_outbound(https_stub_server)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert https_stub_server.requests == [], "a request was sent over an unverified connection"


def test_certificate_for_another_name_is_refused(https_stub_server, test_ca):
    # Same CA and address, but the certificate is for outbound.test, not localhost.
    port = https_stub_server.port
    e = {"DROPLIN_ENV": "development", "OUTBOUND_CA_FILE": test_ca["ca"],
         "OUTBOUND_RESOLVE": f"localhost:{port}:127.0.0.1"}
    r = run_cli(["--check-outbound", f"https://localhost:{port}/ok"], env=e)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert https_stub_server.requests == []


def test_non_2xx_is_a_failure(https_stub_server, test_ca):
    https_stub_server.mode = "fail"
    r, _ = check_outbound(https_stub_server, test_ca["ca"])
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "500" in r.stdout + r.stderr
    https_stub_server.mode = "ok"
    r, _ = check_outbound(https_stub_server, test_ca["ca"], path="/missing")
    assert r.returncode == 1
    assert "404" in r.stdout + r.stderr


def test_stalled_response_times_out(https_stub_server, test_ca):
    https_stub_server.mode = "stall"
    r, elapsed = check_outbound(https_stub_server, test_ca["ca"], OUTBOUND_TIMEOUT_MS="500")
    assert r.returncode == 1, (r.stdout, r.stderr)
    # the default OUTBOUND_TIMEOUT_MS is 10 s: a bound well below it is this setting's
    assert elapsed < harness.scaled(5), \
        f"--check-outbound took {elapsed:.1f}s with OUTBOUND_TIMEOUT_MS=500"
    assert https_stub_server.requests, "the stub never saw the request"


def test_stalled_handshake_times_out(https_stub_server, test_ca):
    https_stub_server.mode = "stall_handshake"
    r, elapsed = check_outbound(https_stub_server, test_ca["ca"], OUTBOUND_TIMEOUT_MS="500")
    assert r.returncode == 1, (r.stdout, r.stderr)
    # the default OUTBOUND_TIMEOUT_MS is 10 s: a bound well below it is this setting's
    assert elapsed < harness.scaled(5), \
        f"--check-outbound took {elapsed:.1f}s with OUTBOUND_TIMEOUT_MS=500"
