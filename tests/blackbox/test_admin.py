"""The admin routes of ORIGINAL_API.md §3.6 plus unlock-account and rotate-keys, secured per
DECISIONS S2 and P: the `secret` header (403 {"detail":"Forbidden"}), HTTP Basic for the
dashboard (401 with a Basic challenge), an audit row for every admin action, clear-all-data
in development and production, audit-log filters, paging, limits and body, cleanup."""

import base64
import json
import re

import pytest

import harness
from auth_helpers import (ADMIN_SECRET, USER_AGENT, Api, assert_422, assert_detail, audit_rows,
                          body_of, db_of, insert_user, make_token, start, user_row)

CHALLENGE = 'Basic realm="droplin admin", charset="UTF-8"'
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}$")
USER_TABLES = ["users", "devices", "user_profiles", "user_settings", "privacy_zones",
               "pinned_contacts"]

# every admin route: (method, path, JSON body or None)
ADMIN_ROUTES = [
    ("GET", "/admin/stats", None),
    ("GET", "/admin/audit-logs", None),
    ("POST", "/admin/cleanup-audit-logs", None),
    ("DELETE", "/admin/clear-all-data", None),
    ("POST", "/auth/unlock-account", {"username": "alice"}),
    ("POST", "/admin/rotate-keys", None),
]


def call(d, method, path, secret=ADMIN_SECRET, query=None, headers=None, body=None):
    hdrs = {"User-Agent": USER_AGENT}
    if secret is not None:
        hdrs["secret"] = secret
    data = b""
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    if method != "GET":
        hdrs["Content-Length"] = str(len(data))
    hdrs.update(headers or {})
    if query:
        path += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return harness.http_request(d.port, method, path, headers=hdrs, body=data, timeout=15)


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def count(d, table):
    return harness.db_query(db_of(d), f"SELECT count(*) FROM {table}")[0][0]


def add_audit(d, action, user_id=None, details=None, ip="10.0.0.1", ua="ua", age_days=0):
    return harness.db_query(
        db_of(d), "INSERT INTO audit_logs (user_id, action, details, ip_address, user_agent, "
        "timestamp) VALUES (%s, %s, %s, %s, %s, (now() AT TIME ZONE 'UTC') - "
        "make_interval(days => %s)) RETURNING id", (user_id, action, details, ip, ua,
                                                    age_days))[0][0]


def admin_rows(d, action):
    return audit_rows(d, action)


@pytest.fixture
def api(droplin):
    return Api(start(droplin))


# ------------------------------------------------------------------------------- auth failures


@pytest.mark.parametrize("method,path,body", ADMIN_ROUTES, ids=[r[1] for r in ADMIN_ROUTES])
@pytest.mark.parametrize("how", ["none", "wrong", "empty", "longer", "prefix", "bearer",
                                 "basic", "other-header"])
def test_admin_routes_need_the_secret_header(api, method, path, body, how):
    api.register("alice")
    headers, secret = {}, None
    if how == "wrong":
        secret = "not-the-admin-secret"
    elif how == "empty":
        secret = ""
    elif how == "longer":
        secret = ADMIN_SECRET + "x"
    elif how == "prefix":
        secret = ADMIN_SECRET[:-1]
    elif how == "bearer":
        headers = {"Authorization": "Bearer " + api.login_ok("alice")["token"]}
    elif how == "basic":  # Basic is for the dashboard only
        headers = basic("admin", ADMIN_SECRET)
    elif how == "other-header":
        headers = {"X-Admin-Secret": ADMIN_SECRET, "Secret-Key": ADMIN_SECRET}
    before = count(api.d, "audit_logs")
    r = call(api.d, method, path, secret=secret, headers=headers, body=body)
    assert_detail(r, 403, "Forbidden")
    assert ADMIN_SECRET not in r.text
    assert count(api.d, "users") == 1  # clear-all-data did nothing
    actions = [a["action"] for a in audit_rows(api.d)][before:]
    assert not [a for a in actions if a.startswith("admin_")], actions


@pytest.mark.parametrize("how", ["none", "wrong-secret-header", "bearer", "basic-wrong",
                                 "basic-empty", "basic-no-colon", "basic-garbage",
                                 "basic-secret-as-user", "digest"])
def test_dashboard_without_valid_credentials_is_401_with_a_challenge(api, how):
    api.register("alice")
    headers, secret = {}, None
    if how == "wrong-secret-header":
        secret = "nope"
    elif how == "bearer":
        headers = {"Authorization": "Bearer " + api.login_ok("alice")["token"]}
    elif how == "basic-wrong":
        headers = basic("admin", "nope")
    elif how == "basic-empty":
        headers = basic("admin", "")
    elif how == "basic-no-colon":
        headers = {"Authorization": "Basic " + base64.b64encode(ADMIN_SECRET.encode()).decode()}
    elif how == "basic-garbage":
        headers = {"Authorization": "Basic !!!not base64!!!"}
    elif how == "basic-secret-as-user":
        headers = basic(ADMIN_SECRET, "x")
    elif how == "digest":
        headers = {"Authorization": "Digest username=admin"}
    r = call(api.d, "GET", "/admin/dashboard", secret=secret, headers=headers)
    assert r.status == 401, r
    assert r.headers.get_all("WWW-Authenticate") == [CHALLENGE], r
    assert "alice" not in r.text
    assert admin_rows(api.d, "admin_dashboard") == []


@pytest.mark.parametrize("chars", [512, 683, 684, 696, 699, 700, 4000])
def test_long_basic_credentials_are_refused_and_harm_nothing(api, chars):
    # Up to 699 base64 characters were decoded into a 512-byte stack buffer (ASan:
    # stack-buffer-overflow, reachable without authentication); the ASan pass runs this too.
    raw = b"u:" + b"a" * (chars * 3 // 4)
    text = base64.b64encode(raw).decode()[:chars]
    r = call(api.d, "GET", "/admin/dashboard", secret=None,
             headers={"Authorization": "Basic " + text})
    assert r.status == 401, r
    assert r.headers.get_all("WWW-Authenticate") == [CHALLENGE], r
    # the secret is still the only password that opens it, however long the user name
    long_user = base64.b64encode(b"u" * 400 + b":" + ADMIN_SECRET.encode()).decode()
    assert len(long_user) < 700
    ok = call(api.d, "GET", "/admin/dashboard", secret=None,
              headers={"Authorization": "Basic " + long_user})
    assert ok.status == 200, ok


def test_validation_comes_before_the_secret_check(api):
    assert_422(call(api.d, "GET", "/admin/audit-logs", secret=None, query={"limit": "x"}),
               ("limit", "Input should be a valid integer, unable to parse string as an integer"))
    assert_422(call(api.d, "POST", "/admin/cleanup-audit-logs", secret="wrong",
                    query={"days": "1.5"}),
               ("days", "Input should be a valid integer, unable to parse string as an integer"))
    # a valid request without the secret is 403, even when its values are out of range
    assert_detail(call(api.d, "POST", "/admin/cleanup-audit-logs", secret=None,
                       query={"days": "0"}), 403, "Forbidden")


# ------------------------------------------------------------------------------- stats


def test_stats(api):
    a = api.register("alice", email="alice@example.com")["user_id"]
    b = api.register("bob")["user_id"]
    token = api.login_ok("bob")["token"]
    r = api.post("/devices", {"name": "Phone", "rssi": -50, "distance": 3}, token=token)
    assert r.status == 200, r
    harness.db_exec(db_of(api.d), "INSERT INTO user_profiles (user_id, profile_photo) VALUES "
                    "(%s, 'https://example.com/p.jpg')", (b,))
    harness.db_exec(db_of(api.d), "INSERT INTO user_profiles (user_id, profile_photo) VALUES "
                    "(%s, '')", (a,))
    r = call(api.d, "GET", "/admin/stats")
    assert r.status == 200, r
    assert body_of(r) == {"total_users": 2, "total_devices": 1, "users_with_photos": 1,
                          "users": [{"id": a, "username": "alice", "email": "alice@example.com"},
                                    {"id": b, "username": "bob", "email": "No email"}]}
    harness.assert_security_headers(r)


def test_stats_on_an_empty_database(api):
    r = call(api.d, "GET", "/admin/stats")
    assert body_of(r) == {"total_users": 0, "total_devices": 0, "users_with_photos": 0,
                          "users": []}


# ------------------------------------------------------------------------------- audit rows


@pytest.mark.parametrize("method,path,query,body,action", [
    ("GET", "/admin/stats", None, None, "admin_stats"),
    ("GET", "/admin/audit-logs", {"action": "x"}, None, "admin_audit_logs"),
    ("POST", "/admin/cleanup-audit-logs", {"days": "30"}, None, "admin_cleanup_audit_logs"),
    ("GET", "/admin/dashboard", None, None, "admin_dashboard"),
    ("DELETE", "/admin/clear-all-data", None, None, "admin_clear_all_data"),
    ("POST", "/auth/unlock-account", None, {"username": "alice"}, "admin_unlock_account"),
    ("POST", "/admin/rotate-keys", None, None, "admin_rotate_keys"),
], ids=lambda v: v if isinstance(v, str) and v.startswith("admin_") else "")
def test_every_admin_action_writes_one_audit_row(api, method, path, query, body, action):
    api.register("alice")
    before = {r["id"] for r in audit_rows(api.d)}
    r = call(api.d, method, path, query=query, body=body)
    assert r.status == 200, r
    rows = [x for x in audit_rows(api.d) if x["id"] not in before]
    assert [x["action"] for x in rows] == [action], rows
    row = rows[0]
    assert row["user_id"] is None
    assert row["ip_address"] == "127.0.0.1"
    assert row["user_agent"] == USER_AGENT
    details = json.loads(row["details"]) if row["details"] else {}
    assert isinstance(details, dict), row
    for secret in (ADMIN_SECRET,):
        assert secret not in (row["details"] or "")
    if action == "admin_cleanup_audit_logs":
        assert details["retention_days"] == 30 and details["deleted_count"] == 0, details
    if action == "admin_clear_all_data":
        assert details.get("users_deleted") == 1, details


def test_dashboard_through_basic_auth_is_audited_too(api):
    r = call(api.d, "GET", "/admin/dashboard", secret=None, headers=basic("ops", ADMIN_SECRET))
    assert r.status == 200, r
    assert len(admin_rows(api.d, "admin_dashboard")) == 1


# ------------------------------------------------------------------------------- audit-logs


LOG_KEYS = ["id", "user_id", "action", "details", "ip_address", "user_agent", "timestamp"]


def logs(d, **query):
    r = call(d, "GET", "/admin/audit-logs", query={k: v for k, v in query.items()})
    assert r.status == 200, r
    body = body_of(r)
    assert list(body) == ["total_count", "limit", "offset", "logs"], body
    return body


def test_audit_logs_body(api):
    uid = api.register("alice")["user_id"]
    assert api.login("alice", "Wrong-Pass9!").status == 401
    add_audit(api.d, "custom_json", user_id=uid, details='{"a": [1, 2], "b": null}')
    add_audit(api.d, "custom_text", details="User 5 deleted their account")
    add_audit(api.d, "custom_null", details=None, ip=None, ua=None)
    rows_before = count(api.d, "audit_logs")
    body = logs(api.d)
    assert body["total_count"] == len(body["logs"]) == rows_before
    assert (body["limit"], body["offset"]) == (100, 0)
    ids = [x["id"] for x in body["logs"]]
    assert ids == sorted(ids, reverse=True), "newest first"
    for x in body["logs"]:
        assert list(x) == LOG_KEYS, x
        assert isinstance(x["id"], int)
        assert x["user_id"] is None or isinstance(x["user_id"], int)
        assert TS_RE.match(x["timestamp"]), x
    by_action = {x["action"]: x for x in body["logs"]}
    assert by_action["custom_json"]["details"] == {"a": [1, 2], "b": None}
    assert by_action["custom_json"]["user_id"] == uid
    assert by_action["custom_text"]["details"] is None  # not JSON: null, never a 500
    assert by_action["custom_null"]["details"] is None
    assert by_action["custom_null"]["ip_address"] is None
    assert by_action["custom_null"]["user_agent"] is None
    reg = by_action["user_registration"]
    assert reg["details"] == {"username": "alice", "email": None}
    assert (reg["user_id"], reg["ip_address"], reg["user_agent"]) == (uid, "127.0.0.1",
                                                                       USER_AGENT)
    assert by_action["login_failed"]["details"]["reason"] == "invalid_password"


def test_audit_logs_filters_are_exact_and_anded(api):
    d = api.d
    for i in range(3):
        add_audit(d, "login_failed", user_id=7, ip="10.0.0.1")
    add_audit(d, "login_failed", user_id=8, ip="10.0.0.1")
    add_audit(d, "login_failed", user_id=7, ip="10.0.0.2")
    add_audit(d, "login_success", user_id=7, ip="10.0.0.1")
    add_audit(d, "login", user_id=7, ip="10.0.0.1")
    assert logs(d, action="login_failed")["total_count"] == 5
    assert logs(d, action="login")["total_count"] == 1  # exact, not a prefix
    assert logs(d, action="LOGIN_FAILED")["total_count"] == 0
    assert logs(d, user_id=7)["total_count"] == 6
    assert logs(d, ip_address="10.0.0.1")["total_count"] == 6
    assert logs(d, ip_address="10.0.0")["total_count"] == 0
    b = logs(d, action="login_failed", user_id=7, ip_address="10.0.0.1")
    assert b["total_count"] == 3 and len(b["logs"]) == 3
    assert all((x["action"], x["user_id"], x["ip_address"]) == ("login_failed", 7, "10.0.0.1")
               for x in b["logs"])
    assert logs(d, action="login_failed", user_id=8, ip_address="10.0.0.2")["total_count"] == 0
    assert logs(d, user_id=-1)["total_count"] == 0
    # URL-encoded values are decoded before matching
    add_audit(d, "odd action&x=1", ip="::1")
    assert logs(d, action="odd%20action%26x%3D1")["total_count"] == 1
    assert logs(d, ip_address="%3A%3A1")["total_count"] == 1
    # the admin_audit_logs row records the filters asked for
    logs(d, user_id=7, action="login")
    row = admin_rows(d, "admin_audit_logs")[-1]
    assert json.loads(row["details"]) == {"user_id": 7, "action": "login"}, row


def test_audit_logs_limits_and_paging(api):
    d = api.d
    harness.db_exec(db_of(d), "INSERT INTO audit_logs (action, details) SELECT 'bulk', "
                    "'{\"n\": ' || g || '}' FROM generate_series(1, 1100) g")
    total = count(d, "audit_logs")
    assert len(logs(d)["logs"]) == 100
    for asked, used in [("1", 1), ("250", 250), ("1000", 1000), ("1001", 1000),
                        ("999999999999", 1000), ("0", 100), ("-5", 100)]:
        b = logs(d, limit=asked)
        assert b["limit"] == used and len(b["logs"]) == used, (asked, b["limit"])
    for asked, used in [("0", 0), ("-3", 0), ("10", 10)]:
        assert logs(d, offset=asked)["offset"] == used
    # pages of the bulk rows: disjoint, contiguous, newest first, total_count ignores paging
    seen = []
    for page in range(4):
        b = logs(d, action="bulk", limit=300, offset=page * 300)
        assert b["total_count"] == 1100
        seen += [x["details"]["n"] for x in b["logs"]]
    assert seen == list(range(1100, 0, -1))
    b = logs(d, action="bulk", limit=10, offset=1095)
    assert [x["details"]["n"] for x in b["logs"]] == [5, 4, 3, 2, 1]
    assert logs(d, action="bulk", offset=5000)["logs"] == []
    assert logs(d)["total_count"] >= total


@pytest.mark.parametrize("name,value", [("user_id", "abc"), ("user_id", "1.5"),
                                        ("user_id", "99999999999"), ("limit", "ten"),
                                        ("limit", ""), ("offset", "1e3"), ("offset", "x")])
def test_audit_logs_rejects_non_integers(api, name, value):
    r = call(api.d, "GET", "/admin/audit-logs", query={name: value})
    assert_422(r, (name, None))


# ------------------------------------------------------------------------------- cleanup


def test_cleanup_default_is_90_days(api):
    d = api.d
    old = [add_audit(d, "old", age_days=91), add_audit(d, "old", age_days=400)]
    kept = [add_audit(d, "recent", age_days=89), add_audit(d, "recent", age_days=0)]
    r = call(d, "POST", "/admin/cleanup-audit-logs")
    assert r.status == 200, r
    assert body_of(r) == {"success": True, "deleted_count": 2, "retention_days": 90,
                          "message": "Deleted 2 audit log(s) older than 90 days"}
    ids = {x["id"] for x in audit_rows(d)}
    assert not ids & set(old) and set(kept) <= ids


def test_cleanup_with_days(api):
    d = api.d
    add_audit(d, "a", age_days=3)
    add_audit(d, "b", age_days=1)
    r = call(d, "POST", "/admin/cleanup-audit-logs", query={"days": "2"})
    assert body_of(r) == {"success": True, "deleted_count": 1, "retention_days": 2,
                          "message": "Deleted 1 audit log(s) older than 2 days"}
    r = call(d, "POST", "/admin/cleanup-audit-logs", query={"days": "2"})
    assert body_of(r)["deleted_count"] == 0
    assert [x["action"] for x in audit_rows(d)].count("b") == 1


@pytest.mark.parametrize("days", ["0", "-1", "-99999"])
def test_cleanup_days_must_be_at_least_1(api, days):
    add_audit(api.d, "old", age_days=1000)
    assert_detail(call(api.d, "POST", "/admin/cleanup-audit-logs", query={"days": days}),
                  400, "Days must be at least 1")
    assert [x["action"] for x in audit_rows(api.d)] == ["old"]


@pytest.mark.parametrize("days", ["x", "1.0", ""])
def test_cleanup_days_must_be_an_integer(api, days):
    assert_422(call(api.d, "POST", "/admin/cleanup-audit-logs", query={"days": days}),
               ("days", "Input should be a valid integer, unable to parse string as an integer"))


def test_cleanup_needs_post(api):
    r = call(api.d, "GET", "/admin/cleanup-audit-logs")
    assert_detail(r, 405, "Method Not Allowed")


# ------------------------------------------------------------------------------- dashboard


def csp_directives(resp):
    policy = resp.headers["Content-Security-Policy"]
    return dict((p.strip().split(None, 1) + [""])[:2] for p in policy.split(";") if p.strip())


@pytest.mark.parametrize("auth", ["secret", "basic", "basic-any-user", "basic-empty-user"])
def test_dashboard(api, auth):
    a = api.register("alice", email="alice@example.com")["user_id"]
    b = api.register("bob")["user_id"]
    harness.db_exec(db_of(api.d), "INSERT INTO user_profiles (user_id, profile_photo) VALUES "
                    "(%s, 'https://example.com/p.jpg')", (a,))
    secret, headers = None, {}
    if auth == "secret":
        secret = ADMIN_SECRET
    elif auth == "basic":
        headers = basic("admin", ADMIN_SECRET)
    elif auth == "basic-any-user":
        headers = basic("someone else", ADMIN_SECRET)
    else:
        headers = basic("", ADMIN_SECRET)
    r = call(api.d, "GET", "/admin/dashboard", secret=secret, headers=headers)
    assert r.status == 200, r
    assert r.headers["Content-Type"].startswith("text/html"), r
    html = r.text
    assert "DropLink Admin Dashboard" in html
    assert re.search(r'id="total-users"><b>2</b>', html), html
    assert re.search(r'id="users-with-photos"><b>1</b>', html), html
    assert f"<td>{a}</td><td>alice</td><td>alice@example.com</td>" in html
    assert f"<td>{b}</td><td>bob</td><td>No email</td>" in html
    assert re.search(r'id="updated">Last updated: [A-Z][a-z]+ \d\d, \d{4} at '
                     r'\d\d:\d\d:\d\d [AP]M', html), html
    assert "<script" not in html.lower()
    csp = csp_directives(r)
    scripts = csp.get("script-src", csp.get("default-src"))
    assert scripts and "'unsafe-inline'" not in scripts and "'self'" not in scripts, csp
    assert "WWW-Authenticate" not in r.headers


def test_dashboard_escapes_every_value(api):
    insert_user(api.d, "<script>alert(1)</script>", email='"><img src=x onerror=alert(2)>&')
    r = call(api.d, "GET", "/admin/dashboard")
    html = r.text
    assert "<script>alert" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;&amp;" in html


def test_dashboard_empty(api):
    r = call(api.d, "GET", "/admin/dashboard")
    assert r.status == 200
    assert 'id="total-users"><b>0</b>' in r.text and "No users yet" in r.text


# ------------------------------------------------------------------------------- clear-all-data


def populate(api):
    """Two users with a device, profile, settings, zone and pin each; returns their ids and
    tokens."""
    out = []
    for name in ("alice", "bob"):
        reg = api.register(name, email=f"{name}@example.com")
        token = reg["token"]
        dev = body_of(api.post("/devices", {"name": "Phone " + name, "rssi": -40,
                                            "distance": 2}, token=token))["id"]
        assert api.post("/user/profile", {"name": name.title(), "bio": "hi"},
                        token=token).status == 200
        assert api.post("/user/settings", {"darkMode": False, "maxDistance": 10},
                        token=token).status == 200
        assert api.post("/user/privacy-zones", {"address": "Home", "radius": 100},
                        token=token).status == 200
        assert api.post(f"/user/pinned/{dev}", token=token).status == 200
        out.append((reg["user_id"], dev, token))
    return out


def max_ids(d):
    return {t: harness.db_query(db_of(d), f"SELECT coalesce(max(id), 0) FROM {t}")[0][0]
            for t in ("users", "devices", "privacy_zones")}


def test_clear_all_data_in_development(api):
    d = api.d
    users = populate(api)
    harness.db_exec(db_of(d), "INSERT INTO verification_codes (email, code, code_type, "
                    "expires_at) VALUES ('x@example.com', '123456', 'registration', "
                    "'2999-01-01T00:00:00.000000')")
    audit_before = count(d, "audit_logs")
    highest = max_ids(d)
    for t in USER_TABLES:
        assert count(d, t) >= 2, t
    r = call(d, "DELETE", "/admin/clear-all-data")
    assert r.status == 200, r
    body = body_of(r)
    assert body["success"] is True
    assert isinstance(body["message"], str) and "reset" not in body["message"].lower()
    assert body["deleted_tables"] == USER_TABLES
    for t in USER_TABLES:
        assert count(d, t) == 0, t
    # not touched: audit rows (plus the admin's own), codes
    assert count(d, "audit_logs") == audit_before + 1
    assert count(d, "verification_codes") == 1
    # old tokens belong to deleted users: refused, never someone else's
    for uid, _, token in users:
        assert api.authorized(token).status == 401
    # sequences were not restarted: new rows get higher ids than any before
    reg = api.register("carol")
    assert reg["user_id"] > highest["users"], (reg, highest)
    token = reg["token"]
    dev = body_of(api.post("/devices", {"name": "P", "rssi": 1, "distance": 1}, token=token))
    assert dev["id"] > highest["devices"]
    zone = body_of(api.post("/user/privacy-zones", {"address": "A", "radius": 5}, token=token))
    assert zone["id"] > highest["privacy_zones"]
    # an old token names an old id, which nobody has again
    for uid, _, _ in users:
        assert make_token(uid, "alice") and api.authorized(make_token(uid, "alice")).status == 401
    assert api.authorized(token).status == 200


def test_clear_all_data_twice_and_on_an_empty_database(api):
    for _ in range(2):
        r = call(api.d, "DELETE", "/admin/clear-all-data")
        assert r.status == 200, r
    rows = admin_rows(api.d, "admin_clear_all_data")
    assert [json.loads(x["details"]).get("users_deleted") for x in rows] == [0, 0]


def production(droplin, **env):
    secrets = {"JWT_SECRET_KEY": "p" * 48, "ADMIN_SECRET": ADMIN_SECRET,
               "DROPLIN_ENV": "production", "BCRYPT_COST": None}
    secrets.update(env)
    return Api(start(droplin, **secrets))


@pytest.mark.parametrize("allow", [None, "0", ""])
def test_clear_all_data_is_refused_in_production_without_the_switch(droplin, allow):
    api = production(droplin, ALLOW_CLEAR_ALL_DATA=allow)
    uid = insert_user(api.d, "alice")
    r = call(api.d, "DELETE", "/admin/clear-all-data")
    assert r.status == 403, r
    assert isinstance(body_of(r)["detail"], str) and "ALLOW_CLEAR_ALL_DATA" in body_of(r)["detail"]
    assert user_row(api.d, "alice")["id"] == uid
    assert admin_rows(api.d, "admin_clear_all_data") == []
    # and without the secret it is the plain 403
    assert_detail(call(api.d, "DELETE", "/admin/clear-all-data", secret=None), 403, "Forbidden")


def test_clear_all_data_in_production_with_the_switch(droplin):
    api = production(droplin, ALLOW_CLEAR_ALL_DATA="1")
    first = insert_user(api.d, "alice")
    second = insert_user(api.d, "bob")
    r = call(api.d, "DELETE", "/admin/clear-all-data")
    assert r.status == 200, r
    assert count(api.d, "users") == 0
    assert len(admin_rows(api.d, "admin_clear_all_data")) == 1
    assert insert_user(api.d, "carol") > max(first, second)


def test_clear_all_data_needs_delete(api):
    api.register("alice")
    for method in ("GET", "POST"):
        assert_detail(call(api.d, method, "/admin/clear-all-data"), 405, "Method Not Allowed")
    assert count(api.d, "users") == 1
