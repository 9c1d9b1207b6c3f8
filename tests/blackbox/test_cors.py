"""S9: CORS from CORS_ORIGINS; the original's local origins only in development."""

import pytest

from harness import assert_security_headers, production_env

# Origins are only compared as strings, never contacted; all of them name loopback hosts.
ALLOWED = "https://localhost:8443"
SECOND = "https://localhost:9443"

CORS_HEADERS = ("Access-Control-Allow-Origin", "Access-Control-Allow-Credentials",
                "Access-Control-Allow-Methods", "Access-Control-Allow-Headers",
                "Access-Control-Max-Age", "Access-Control-Expose-Headers")


@pytest.fixture(scope="module")
def srv(module_droplin):
    d = module_droplin(env={"CORS_ORIGINS": f"{ALLOWED},{SECOND}"})
    d.wait_ready()
    return d


def no_cors_headers(r):
    return not any(h in r.headers for h in CORS_HEADERS)


def preflight(d, origin, method="GET", req_headers=None):
    h = {"Origin": origin, "Access-Control-Request-Method": method}
    if req_headers:
        h["Access-Control-Request-Headers"] = req_headers
    return d.request("OPTIONS", "/health", headers=h)


def assert_allowed(r, origin):
    assert r.headers.get("Access-Control-Allow-Origin") == origin, r
    assert r.headers.get("Access-Control-Allow-Credentials") == "true", r
    vary = [v.strip().lower() for v in ",".join(r.headers.get_all("Vary")).split(",")]
    assert "origin" in vary, r


def test_allowed_origin_is_echoed(srv):
    r = srv.get("/health", headers={"Origin": ALLOWED})
    assert r.status == 200
    assert_allowed(r, ALLOWED)


def test_second_listed_origin_is_allowed(srv):
    assert_allowed(srv.get("/", headers={"Origin": SECOND}), SECOND)


@pytest.mark.parametrize("origin", [
    "https://localhost:6666",      # another port
    "https://localhost:84430",     # allowed origin as a prefix
    "https://localhost:844",       # a prefix of the allowed origin
    "http://localhost:8443",       # another scheme
    "https://127.0.0.1:8443",      # another host
    "HTTPS://LOCALHOST:8443",      # origins are compared exactly
    "null",
    "http://localhost:8081",       # the original's dev origin: not when CORS_ORIGINS is set
])
def test_other_origins_get_no_cors_headers(srv, origin):
    r = srv.get("/health", headers={"Origin": origin})
    assert r.status == 200
    assert no_cors_headers(r), r


def test_allowed_origin_on_an_error_response(srv):
    r = srv.get("/nope", headers={"Origin": ALLOWED})
    assert r.status == 404
    assert_allowed(r, ALLOWED)


def test_preflight_from_allowed_origin(srv):
    r = preflight(srv, ALLOWED, "POST", "Authorization, Content-Type")
    assert r.status == 200, r
    assert_allowed(r, ALLOWED)
    methods = {m.strip() for m in r.headers["Access-Control-Allow-Methods"].split(",")}
    assert {"GET", "POST", "PUT", "DELETE", "OPTIONS"} <= methods, methods
    allowed_headers = {h.strip().lower() for h in r.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed_headers, allowed_headers
    assert r.headers.get("Access-Control-Max-Age") == "3600"
    assert_security_headers(r)


def test_preflight_from_disallowed_origin_is_400(srv):
    r = preflight(srv, "https://localhost:6666")
    assert r.status == 400, r
    assert r.text == "Disallowed CORS origin"
    assert (r.headers.get("Content-Type") or "").startswith("text/plain")
    assert "Access-Control-Allow-Origin" not in r.headers
    assert_security_headers(r)


def test_preflight_with_disallowed_method_is_400(srv):
    r = preflight(srv, ALLOWED, "PATCH")
    assert r.status == 400, r
    assert "Disallowed CORS method" in r.text


def test_production_without_cors_origins_allows_none(droplin):
    d = droplin(env=production_env())
    for origin in ("http://localhost:8081", "http://localhost:19006", ALLOWED):
        assert no_cors_headers(d.get("/health", headers={"Origin": origin})), origin
    assert preflight(d, "http://localhost:8081").status == 400


def test_development_allows_the_original_local_origins(droplin):
    d = droplin(env={"DROPLIN_ENV": "development", "CORS_ORIGINS": None})
    for origin in ("http://localhost:8081", "http://localhost:19006", "http://localhost:5173"):
        assert_allowed(d.get("/health", headers={"Origin": origin}), origin)
    assert preflight(d, "http://localhost:3000").status == 200
    for origin in ("https://localhost:8081", "http://127.0.0.1:8081", "http://localhost",
                   "http://localhost:8081/", "http://localhost:80a"):
        assert no_cors_headers(d.get("/health", headers={"Origin": origin})), origin
