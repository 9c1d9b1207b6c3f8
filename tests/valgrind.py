"""A short scenario under Valgrind: droplin built without sanitizers (make valgrind builds
build/droplin.valgrind from the glibc debug variant) serves a few requests against a throwaway
PostgreSQL and drains on SIGTERM; Valgrind must report no invalid access and no leak.

  /usr/bin/python3 tests/valgrind.py build/droplin.valgrind
"""

import json
import os
import re
import shutil
import signal
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cloudinary_stub  # noqa: E402
import harness  # noqa: E402
import userdata_helpers  # noqa: E402

# Valgrind runs droplin some 20 to 50 times slower: every wait is generous.
TIMEOUT = float(os.environ.get("VALGRIND_TIMEOUT", "120"))
PASSWORD = "Sunny-Day7!"


def scenario(d):
    """A probe, a 404, a bad request, a 405, an account, a token and a bad token."""
    assert d.get("/health", timeout=TIMEOUT).status == 200
    assert d.get("/ready", timeout=TIMEOUT).status == 200
    assert d.get("/no-such-route", timeout=TIMEOUT).status == 404
    assert d.request("DELETE", "/health", timeout=TIMEOUT).status == 405
    with d.conn(timeout=TIMEOUT) as c:  # two Host fields: 400, then close
        c.send(harness.build_request("GET", "/", [("Host", "a"), ("Host", "b")]))
        assert c.read_response(timeout=TIMEOUT).status == 400
    body = json.dumps({"username": "valgrind_user", "password": PASSWORD})
    with d.conn(timeout=TIMEOUT) as c:  # chunked, in two chunks
        head = [("Host", "a"), ("Content-Type", "application/json"),
                ("Transfer-Encoding", "chunked"), ("Connection", "close")]
        half = len(body) // 2
        chunks = "".join(f"{len(p):x}\r\n{p}\r\n" for p in (body[:half], body[half:])) + "0\r\n\r\n"
        c.send(harness.build_request("POST", "/auth/register", head, chunks))
        r = c.read_response(timeout=TIMEOUT)
        assert r.status == 200, r
    token = d.request("POST", "/auth/login", headers={"Content-Type": "application/json"},
                      body=body, timeout=TIMEOUT).json()["token"]
    r = d.get("/user/profile", headers={"Authorization": "Bearer " + token}, timeout=TIMEOUT)
    assert r.status == 200 and r.json()["name"] is None, r  # no profile saved yet
    r = d.get("/user/profile", headers={"Authorization": "Bearer " + token[:-2] + "xx"},
              timeout=TIMEOUT)
    assert r.status == 401, r
    photo(d, token)
    loop_writes(d, token)
    user_routes(d, token)


def loop_writes(d, token):
    """Device and profile saves, repeated so the later ones take the event loop's path (the
    first prepare their statements on a worker)."""
    auth = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    for i in range(4):
        for path, body in (("/devices", {"name": f"vg{i % 2}", "rssi": -1, "distance": 1}),
                           ("/user/profile", {"name": f"vg {i}", "bio": "b"})):
            r = d.request("POST", path, headers=auth, body=json.dumps(body).encode(),
                          timeout=TIMEOUT)
            assert r.status == 200, (path, r)
    r = d.get("/metrics", timeout=TIMEOUT)
    m = re.search(rb"^droplin_loop_writes_total\{[^}]*\} (\d+)", r.body, re.M)
    assert m and int(m.group(1)) > 0, "no write took the event loop's path"


# A 32x16 JFIF head: enough for droplin's and the stand-in's magic-byte checks.
JPEG = (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        b"\xff\xc0\x00\x11\x08\x00\x10\x00\x20\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
        b"\xff\xd9")


def photo(d, token):
    """Upload, fetch and delete a profile photo: multipart in, HTTPS out (curl, BearSSL)."""
    b = "valgrind-boundary"
    body = (f"--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode() + JPEG + f"\r\n--{b}--\r\n".encode()
    auth = {"Authorization": "Bearer " + token}
    r = d.request("POST", "/user/profile/photo", body=body, timeout=TIMEOUT,
                  headers=dict(auth, **{"Content-Type": "multipart/form-data; boundary=" + b}))
    assert r.status == 200, r
    assert d.get("/user/profile/photo", headers=auth, timeout=TIMEOUT).status == 200
    assert d.request("DELETE", "/user/profile/photo", headers=auth, timeout=TIMEOUT).status == 200


# What the handlers allocate, freed or not, shows in the leak check: one call of each user-data
# route (userdata_helpers.PROTECTED; deleting the account last), a few public routes, a refresh.
PUBLIC = [("POST", "/auth/check-username", {"username": "valgrind_user"}),
          ("POST", "/auth/check-password-strength", {"password": PASSWORD}),
          ("POST", "/api/log-api-call", {"endpoint": "/x", "method": "GET"}),
          ("GET", "/metrics", None), ("GET", "/openapi.json", None), ("GET", "/docs", None)]


def user_routes(d, token):
    auth = {"Authorization": "Bearer " + token}
    calls = [(m, p, b, {}) for m, p, b in PUBLIC]
    calls += [(m, p, b, auth) for m, p, b in userdata_helpers.PROTECTED if p != "/user/delete"]
    calls += [("POST", "/auth/refresh", None, auth), ("DELETE", "/user/delete", None, auth)]
    for method, path, body, headers in calls:
        data = b"" if body is None else json.dumps(body).encode()
        hdrs = dict(headers, **({"Content-Type": "application/json"} if data else {}))
        r = d.request(method, path, headers=hdrs, body=data, timeout=TIMEOUT)
        assert r.status < 500, (method, path, r)


def report_of(vlog):
    try:
        with open(vlog) as f:
            return f.read()
    except OSError:
        return ""


def main():
    binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/droplin.valgrind")
    vlog = os.path.join(harness.REPO, "build", "valgrind.log")
    cluster = harness.PgCluster()
    tmp = tempfile.mkdtemp(prefix="droplin-valgrind-")
    stub = cloudinary_stub.CloudinaryStub(cloudinary_stub.make_ca(tmp))
    d = None
    try:
        cluster.start()
        env = dict(harness.DEFAULT_ENV, **stub.env(timeout_ms=int(TIMEOUT * 1000)),
                   DATABASE_URL=cluster.create_database(),
                   JWT_SECRET_KEY="valgrind-jwt-secret-" + "0123456789abcdef" * 2,
                   BCRYPT_COST="4")
        argv = ["valgrind", "--leak-check=full",
                "--errors-for-leak-kinds=definite,indirect,possible", "--error-exitcode=1",
                "--num-callers=30", f"--log-file={vlog}", binary]
        d = harness.Droplin(argv, harness.make_env(env))
        d.wait_listening(timeout=TIMEOUT)
        d.wait_ready(timeout=TIMEOUT)
        scenario(d)
        d.signal(signal.SIGTERM)
        rc = d.wait_exit(timeout=TIMEOUT, expect=None)  # checked below, with the report
    except (AssertionError, OSError, harness.ProtocolError) as e:
        print(report_of(vlog))
        print(f"valgrind: FAILED: {e}")
        return 1
    finally:
        if d is not None:
            d.kill()
        cluster.destroy()
        stub.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    summary = re.search(r"ERROR SUMMARY: (\d+) errors", report_of(vlog))
    if rc != 0 or not summary or summary.group(1) != "0":
        print(report_of(vlog))
        print(d.describe())
        print(f"valgrind: FAILED (exit {rc}; the report is in {vlog})")
        return 1
    print("valgrind: probes, 404, 405, 400, register (chunked), login, token, bad token, "
          "photo upload/get/delete over HTTPS, "
          f"{len(PUBLIC) + len(userdata_helpers.PROTECTED) + 1} more routes, SIGTERM: exit 0, "
          f"{summary.group(0)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
