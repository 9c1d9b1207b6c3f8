"""Routing errors and the headers every response carries (ORIGINAL_API §1.1, §8)."""

import pytest

from harness import assert_json, assert_security_headers


@pytest.fixture(scope="module")
def srv(module_droplin):
    d = module_droplin()
    d.wait_ready()
    return d


def test_unknown_path_is_404(srv):
    r = srv.get("/definitely/not/a/route")
    assert r.status == 404
    assert assert_json(r) == {"detail": "Not Found"}
    assert_security_headers(r)


def test_unknown_path_with_body_is_404(srv):
    r = srv.request("POST", "/nothing-here", body='{"a":1}',
                    headers={"Content-Type": "application/json"})
    assert r.status == 404
    assert assert_json(r) == {"detail": "Not Found"}


@pytest.mark.parametrize("method,path", [
    ("POST", "/health"), ("DELETE", "/health"), ("PUT", "/ready"), ("POST", "/"),
    ("PATCH", "/livez"),
])
def test_known_path_wrong_method_is_405(srv, method, path):
    r = srv.request(method, path)
    assert r.status == 405, r
    assert assert_json(r) == {"detail": "Method Not Allowed"}
    assert_security_headers(r)


@pytest.mark.parametrize("path,target", [("/health/", "/health"), ("/ready/", "/ready")])
def test_trailing_slash_redirects(srv, path, target):
    r = srv.get(path)
    assert r.status == 307, r
    location = r.headers.get("Location")
    assert location in (target, f"http://127.0.0.1:{srv.port}{target}"), location
    assert_security_headers(r)


def test_query_string_does_not_change_the_route(srv):
    assert srv.get("/health?x=1&y=%20").status == 200
    assert srv.get("/?").json()["message"] == "DropLink API"


def test_unknown_method_is_rejected(srv):
    # a method token droplin has no route for: 405 with the path's methods, as any other
    r = srv.request("BREW", "/")
    assert r.status == 405 and r.json() == {"detail": "Method Not Allowed"}, r
    assert r.headers.get("Allow") == "GET", r
    assert_security_headers(r)


def test_every_json_response_says_application_json(srv):
    for path in ("/", "/health", "/ready", "/livez", "/nope"):
        assert_json(srv.get(path))
