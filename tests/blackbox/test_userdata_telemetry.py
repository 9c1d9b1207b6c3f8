"""POST /api/log-api-call and POST /api/diagnostics/run (ORIGINAL_API §3.5; DECISIONS S7:
diagnostics needs a token and reports only the caller's data, log-api-call stores the endpoint
without its query string; C2: the app's body form of diagnostics; S5: log-api-call is rate
limited, the default of 120/minute is kept by test_auth_ratelimit.py)."""

import datetime
import time

import pytest

from auth_helpers import assert_422, assert_429, assert_detail, body_of, start
from userdata_helpers import ISO_T_RE, UserApi, db, users, utc_now
from userdata_helpers import server  # noqa: F401  (pytest fixture)


def app_log(endpoint="http://192.168.1.92:8081/user/profile", method="GET", user_id=None,
            success=True, status_code=200, error=None, timestamp=None):
    """secureFetch's body (ORIGINAL_API §11)."""
    if timestamp is None:
        timestamp = datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {"timestamp": timestamp, "endpoint": endpoint, "method": method, "user_id": user_id,
            "success": success, "status_code": status_code, "error": error}


def log_rows(srv, marker):
    rows = db(srv, "SELECT timestamp, endpoint, method, user_id, success, status_code, error "
                   "FROM api_call_logs WHERE endpoint LIKE %s ORDER BY id", ("%" + marker + "%",))
    keys = ("timestamp", "endpoint", "method", "user_id", "success", "status_code", "error")
    return [dict(zip(keys, r)) for r in rows]


def logged(api, body, **kw):
    r = api.post("/api/log-api-call", body, **kw)
    assert r.status == 200 and body_of(r) == {"success": True}, f"{body!r}: {r!r}"


def marker():
    return "m" + str(time.time_ns())


# ---------------------------------------------------------------------------------- log-api-call


def test_log_a_call_without_a_token(server):
    api = UserApi(server)
    m = marker()
    body = app_log(f"https://findable-production.up.railway.app/{m}", "POST", 7, False, 500,
                   "Network request failed", "2025-11-22T20:33:01.123Z")
    logged(api, body)
    [row] = log_rows(server, m)
    # without a token the row names nobody: the body's user_id is only the caller's word
    assert row == {"timestamp": datetime.datetime(2025, 11, 22, 20, 33, 1, 123000),
                   "endpoint": f"https://findable-production.up.railway.app/{m}",
                   "method": "POST", "user_id": None, "success": False, "status_code": 500,
                   "error": "Network request failed"}


def test_log_with_a_token_is_fine_too(server):
    u = users(server)
    m = marker()
    logged(u.api, app_log(f"http://x/{m}", user_id=u.id), token=u.token)
    assert log_rows(server, m)[0]["user_id"] == u.id


def test_logged_user_is_the_tokens_never_the_bodys(server):
    alice, bob = users(server), users(server)
    m = marker()
    logged(alice.api, app_log(f"http://x/{m}", user_id=bob.id), token=alice.token)
    logged(alice.api, app_log(f"http://x/{m}", user_id=bob.id))  # no token
    logged(alice.api, app_log(f"http://x/{m}", user_id=bob.id), token="not.a.token")
    assert [r["user_id"] for r in log_rows(server, m)] == [alice.id, None, None]


@pytest.mark.parametrize("suffix,stored", [
    ("?token=secret&x=1", ""),
    ("?current_password=A1!aaaaa&new_password=B2!bbbbb", ""),
    ("?", ""),
    ("/sub?q=1", "/sub"),
    ("", ""),
])
def test_endpoint_is_stored_without_its_query(server, suffix, stored):
    api = UserApi(server)
    m = marker()
    logged(api, app_log(f"http://127.0.0.1:8081/auth/{m}{suffix}", "POST"))
    [row] = log_rows(server, m)
    assert row["endpoint"] == f"http://127.0.0.1:8081/auth/{m}{stored}", row
    logged(api, app_log(f"/auth/{m}x{suffix}"))
    assert log_rows(server, m + "x")[0]["endpoint"] == f"/auth/{m}x{stored}"


def test_nulls_and_an_empty_object(server):
    api = UserApi(server)
    m = marker()
    logged(api, app_log(f"/{m}", user_id=None, error=None))
    [row] = log_rows(server, m)
    assert row["user_id"] is None and row["error"] is None
    [(before,)] = db(server, "SELECT count(*) FROM api_call_logs")
    logged(api, {})
    [(after,)] = db(server, "SELECT count(*) FROM api_call_logs")
    assert after == before + 1


@pytest.mark.parametrize("field,value,message", [
    ("endpoint", 5, "Input should be a valid string"),
    ("endpoint", ["/x"], "Input should be a valid string"),
    ("method", {}, "Input should be a valid string"),
    ("timestamp", 1700000000, "Input should be a valid string"),
    ("user_id", "abc", "Input should be a valid integer, unable to parse string as an integer"),
    ("user_id", 1.5, "Input should be a valid integer, got a number with a fractional part"),
    ("user_id", [1], "Input should be a valid integer"),
    ("status_code", "x", "Input should be a valid integer, unable to parse string as an integer"),
    ("status_code", {}, "Input should be a valid integer"),
    ("success", "maybe", "Input should be a valid boolean, unable to interpret input"),
    ("success", [], "Input should be a valid boolean"),
    ("error", 5, "Input should be a valid string"),
    ("error", {"message": "x"}, "Input should be a valid string"),
])
def test_wrong_types(server, field, value, message):
    api = UserApi(server)
    m = marker()
    body = app_log(f"/{m}")
    body[field] = value
    assert_422(api.post("/api/log-api-call", body), (field, message))
    assert log_rows(server, m) == []


@pytest.mark.parametrize("field,value", [("user_id", 99999999999999999999),
                                         ("status_code", 10 ** 30), ("user_id", 1e30),
                                         ("status_code", -1e300)])
def test_huge_numbers(server, field, value):
    api = UserApi(server)
    m = marker()
    body = app_log(f"/{m}")
    body[field] = value
    assert_422(api.post("/api/log-api-call", body), (field, None))
    assert log_rows(server, m) == []


def test_several_wrong_fields_are_all_reported(server):
    api = UserApi(server)
    body = {"timestamp": 1, "endpoint": 2, "method": 3, "user_id": "u", "success": "s",
            "status_code": "c", "error": 4}
    r = api.post("/api/log-api-call", body)
    assert r.status == 422, r
    b = body_of(r)
    assert sorted(d["field"] for d in b["details"]) == sorted(body), b


def test_body_must_be_an_object(server):
    api = UserApi(server)
    assert_422(api.post("/api/log-api-call", raw=b"oops"), ("0", "JSON decode error"))
    assert_422(api.post("/api/log-api-call", raw=b"[1]"), ("", None))


def test_rate_limit_applies(droplin):
    """A small configured limit (the default is tested in test_auth_ratelimit.py)."""
    api = UserApi(start(droplin, RATE_LIMIT_LOG_API_CALL="3/600"))
    m = marker()
    for i in range(3):
        logged(api, app_log(f"/{m}/{i}"))
    assert_429(api.post("/api/log-api-call", app_log(f"/{m}/3")), 3)
    assert len(log_rows(api.d, m)) == 3


# ---------------------------------------------------------------------------------- diagnostics


def run(user, diagnostic_type=None, body=None, token=True):
    path = "/api/diagnostics/run"
    if diagnostic_type is not None:
        path += "?diagnostic_type=" + diagnostic_type
    return user.api.call("POST", path, {} if body is None else body,
                         token=user.token if token else None)


def report(r, diagnostic_type):
    assert r.status == 200, r
    b = body_of(r)
    assert {"timestamp", "diagnostic_type", "checks", "overall_status"} <= set(b), b
    assert b["diagnostic_type"] == diagnostic_type, b
    assert ISO_T_RE.match(b["timestamp"]), b
    assert isinstance(b["checks"], list), b
    statuses = []
    for c in b["checks"]:
        assert isinstance(c.get("name"), str) and c.get("status") in ("pass", "fail", "error"), c
        assert ("details" in c) or ("error" in c), c
        statuses.append(c["status"])
    want = "error" if "error" in statuses else "fail" if "fail" in statuses else "pass"
    assert b["overall_status"] == want, b
    return b


def check(b, name):
    found = [c for c in b["checks"] if c["name"] == name]
    assert len(found) == 1, b
    return found[0]


def test_diagnostics_needs_a_token(server):
    u = users(server)
    assert_detail(run(u, "profile_save", token=False), 401, "Not authenticated")
    assert_detail(u.api.call("POST", "/api/diagnostics/run",
                             {"diagnostic_type": "auth", "context": {"user_id": u.id}}),
                  401, "Not authenticated")
    assert_detail(u.api.call("POST", "/api/diagnostics/run?diagnostic_type=auth", {},
                             token="a.b.c"), 401, "Invalid token")


def test_query_form_profile_save(server):
    u = users(server)
    u.ok("POST", "/user/profile", {"name": "Diag Name", "bio": "b", "phone": "12" + str(u.id)})
    b = report(run(u, "profile_save", {"user_id": u.id}), "profile_save")
    assert [c["name"] for c in b["checks"]] == ["Database Schema", "Profile Data",
                                                "Recent API Activity"]
    schema = check(b, "Database Schema")
    assert schema["status"] == "pass", schema
    assert schema["details"]["missing_columns"] == []
    assert set(schema["details"]["expected_columns"]) == {
        "user_id", "name", "email", "phone", "bio", "has_completed_onboarding"}
    data = check(b, "Profile Data")
    assert data["status"] == "pass" and data["details"]["exists"] is True, data
    d = data["details"]["data"]
    assert (d["name"], d["phone"], d["bio"]) == ("Diag Name", "12" + str(u.id), "b"), d


def test_body_form_of_the_app(server):
    u = users(server)
    u.ok("POST", "/user/profile", {"name": "Body Form"})
    b = report(u.api.call("POST", "/api/diagnostics/run",
                          {"diagnostic_type": "profile_save",
                           "context": {"user_id": u.id, "endpoint": "/user/profile",
                                       "error": "Failed to save profile"}},
                          token=u.token), "profile_save")
    assert check(b, "Profile Data")["details"]["data"]["name"] == "Body Form"


def test_only_the_callers_data_is_reported(server):
    alice, bob = users(server, 2)
    bob.ok("POST", "/user/profile", {"name": "Bob Secret", "phone": "9" + str(bob.id) * 2,
                                     "bio": "bob's bio"})
    alice.ok("POST", "/user/profile", {"name": "Alice Own"})
    for r in (run(alice, "profile_save", {"user_id": bob.id}),
              alice.api.call("POST", "/api/diagnostics/run",
                             {"diagnostic_type": "profile_save", "context": {"user_id": bob.id}},
                             token=alice.token)):
        b = report(r, "profile_save")
        text = r.body.decode()
        for secret in ("Bob Secret", bob.email, "bob's bio", bob.username):
            assert secret not in text, text
        assert check(b, "Profile Data")["details"]["data"]["name"] == "Alice Own"
    for r in (run(alice, "auth", {"user_id": bob.id}),
              alice.api.call("POST", "/api/diagnostics/run",
                             {"diagnostic_type": "auth", "context": {"user_id": bob.id}},
                             token=alice.token)):
        b = report(r, "auth")
        auth = check(b, "User Authentication")
        assert auth["details"]["user_id"] == alice.id
        assert auth["details"]["username"] == alice.username
        assert auth["details"]["email"] == alice.email
        assert bob.username not in r.body.decode()


def test_recent_api_activity_counts_the_callers_calls(server):
    alice, bob = users(server, 2)
    api = alice.api
    for ok in (True, True, False):
        logged(api, app_log("/devices", user_id=alice.id, success=ok,
                            status_code=200 if ok else 500), token=alice.token)
    for _ in range(4):
        logged(api, app_log("/devices", user_id=bob.id), token=bob.token)
    logged(api, app_log("/devices", user_id=alice.id))  # no token: nobody's call
    b = report(run(alice, "database"), "database")
    act = check(b, "Recent API Activity")
    assert act["status"] == "pass", act
    assert act["details"] == {"total_calls": 3, "successful_calls": 2, "failed_calls": 1,
                              "time_window": "last 10 minutes"}, act


def test_other_types(server):
    u = users(server)
    b = report(run(u, "database"), "database")
    assert [c["name"] for c in b["checks"]] == ["Database Schema", "Recent API Activity"]
    b = report(run(u, "auth", {"user_id": u.id}), "auth")
    assert [c["name"] for c in b["checks"]] == ["User Authentication"]
    b = report(run(u, "something_else"), "something_else")
    assert b["checks"] == [] and b["overall_status"] == "pass"


def test_profile_data_of_a_user_without_a_profile(server):
    u = users(server)
    b = report(run(u, "profile_save", {"user_id": u.id}), "profile_save")
    data = check(b, "Profile Data")
    assert data["status"] == "fail" and data["details"]["exists"] is False, data
    assert b["overall_status"] == "fail"


def test_diagnostic_type_is_required(server):
    u = users(server)
    assert_422(run(u, None, {}), ("diagnostic_type", "Field required"))
    assert_422(u.api.call("POST", "/api/diagnostics/run", {"context": {}}, token=u.token),
               ("diagnostic_type", "Field required"))


def test_a_diagnostic_type_that_is_no_string_is_422(server):
    u = users(server)
    assert_422(u.api.call("POST", "/api/diagnostics/run", {"diagnostic_type": 5, "context": {}},
                          token=u.token), ("diagnostic_type", "Input should be a valid string"))


@pytest.mark.parametrize("context", ["x", [1], {"user_id": "abc"}, {"user_id": 1e300}])
def test_an_odd_context_is_ignored_the_token_names_the_user(server, context):
    """context is free-form (the app's own fields); the user checked is the token's."""
    u = users(server)
    b = report(u.api.call("POST", "/api/diagnostics/run",
                          {"diagnostic_type": "auth", "context": context}, token=u.token), "auth")
    assert b["overall_status"] == "pass", b
    assert [c["details"]["user_id"] for c in b["checks"]] == [u.id], b


def test_timestamp_is_now_in_utc(server):
    u = users(server)
    before = utc_now()
    b = report(run(u, "auth"), "auth")
    after = utc_now()
    ts = datetime.datetime.fromisoformat(b["timestamp"].rstrip("Z"))
    slack = datetime.timedelta(minutes=2)
    assert before - slack <= ts <= after + slack, b


def test_a_revoked_token_names_nobody(server):
    # only a token whose session holds names its user: after logout the calls are nobody's
    u = users(server)
    m = marker()
    logged(u.api, app_log(f"http://x/{m}", user_id=u.id), token=u.token)
    assert u.api.post("/auth/logout", token=u.token).status == 200
    logged(u.api, app_log(f"http://x/{m}", user_id=u.id), token=u.token)
    assert [r["user_id"] for r in log_rows(server, m)] == [u.id, None]
