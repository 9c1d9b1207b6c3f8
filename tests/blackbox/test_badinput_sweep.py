"""The bad-input sweep of issue 9: every route of docs/openapi.json (which test_openapi.py keeps
equal to the router, so a new route is swept without editing this file) receives

  * wrong methods: undocumented methods, HEAD on paths without GET, OPTIONS without a preflight,
    TRACE, lower-case and invented methods (405 {"detail":"Method Not Allowed"} with an Allow
    header naming exactly the documented methods; ORIGINAL_API 1.1);
  * wrong or missing Content-Type (422 in the original's shape for JSON bodies, ORIGINAL_API 1.1;
    the same answer as without a body on routes that take none);
  * truncated bodies (Content-Length or a chunk larger than what is sent, then EOF): an answer
    that is no 5xx or just a close, promptly;
  * oversized bodies: Content-Length past 64 KiB (10 MiB + 64 KiB for the photo) is 413 before
    the body is sent, a chunked body past it too (DECISIONS S8);
  * every field of every JSON body given every wrong JSON type (the user-data bodies are in
    test_userdata_input.py and not repeated here), strings in every string field: 60 KB
    ASCII, 60 KB of 4-byte characters, invalid UTF-8 and overlong encodings, NULs;
  * huge and odd numbers (1e309, 2**64, -0, 1e-400, ...) as raw JSON in every numeric field;
  * negative, zero, non-numeric, huge and path-traversal ids in every path parameter, and bad
    values in every query parameter;
  * documents that are not JSON, not an object, 5,000 levels deep, 8,000 keys wide, with
    duplicate keys, BOMs, NaN;
  * junk query strings (B's id and token among them) and odd header values (obs-text, 8 KB,
    malformed addresses in X-Forwarded-For / X-Real-IP, request ids, secrets, cookies);
  * correctly signed tokens whose claims have every wrong type, ids past int4 or wrapping
    around to B's, duplicate user_id keys;
  * user A acting on user B's ids and names (devices, zones, pins, photo, e-mail, phone,
    username, user_id in queries and bodies).

After every case: the answer was never a 500 (nor any 5xx but the photo route's 503 "Photo
storage is not configured"), every error body is JSON with the usual shape, droplin is still
running and serves normal requests (GET /livez; A's settings, devices, profile and zones, as
valid UTF-8 JSON whatever the case stored) and logged no 5xx, and user B's rows in every table
(users, devices, user_profiles, user_settings, privacy_zones, pinned_contacts, audit_logs,
verification_codes; api_call_logs is anonymous telemetry anyone may write with any user_id)
are byte-for-byte what they were before the module started (PostgreSQL's text of each row).

One droplin per module (per xdist worker, TRUST_PROXY=1 so forwarded addresses are input too),
keep-alive connections.

Size (50 documented operations on 42 paths; SWEEP_COUNT=FILE appends the number of requests
each worker's droplin logged): 570 parametrized tests, about 12,500 requests (some 2,800 of
them the checks after each case), 10-20 s with -n 2 on a shared machine,
16 s with -n 0:
  - wrong methods and 14 odd CORS preflights on 42 paths; 12 other content types on 20 JSON
    bodies, 6 JSON ones and none on 17, 5 bodies on 29 routes that take none, 11 malformed
    multiparts on the photo;
  - truncated bodies (5 ways, stalled, reset), oversized bodies (4 lengths, Expect, chunked, a
    100 KB field) and a request hidden in a body rejected early (4-5 ways) on all 50 operations;
    HEAD against GET (4 ways) and 5 unframeable requests after a HEAD on each of 19 GET
    operations; 200 good and bad requests pipelined in one write;
  - 14 junk query strings and 25 odd header values on 47 operations (the three that end or
    rename the caller get throwaway users);
  - every wrong JSON type in 28 fields (with the query-string alternative where there is one),
    long / invalid UTF-8 / NUL / lone-surrogate strings in 43 string fields, 22 huge or odd
    number literals in 10 numeric fields, 12 deep or wide structures in socialMedia, 31 odd
    documents on 14 bodies;
  - 35 bad ids in 5 path parameters, 33 bad values in 13 query parameters;
  - 101 tokens with claims of the wrong type on 8 protected routes, tokens around the
    verified-token cache's size with one-character changes, malformed admin credentials on 7
    admin operations;
  - 36 requests of user A naming user B's devices, zones, pins, photo, e-mail, phone, username
    and id, two users' good and bad reads pipelined from six threads, junk that must not grow
    /metrics.

Bugs it found, fixed in droplin.c: POST /admin/cleanup-audit-logs?days=2147483647 was a 500
(timestamp out of range); a correctly signed token whose user_id was past int4 was a 500 on
every protected route; after a HEAD request, a 400 or 413 on the same connection went out
without the body its Content-Length announced.
"""

import json
import os
import re
import socket
import time
import urllib.parse
import uuid

import pytest

import harness
from auth_helpers import (ADMIN_SECRET, JWT_SECRET, PASSWORD, assert_detail, claims, db_of,
                          raw_token, start)
from userdata_helpers import SERVER_ENV, UserApi, device, signup, strict_json

DOC_PATH = os.path.join(harness.REPO, "docs", "openapi.json")
with open(DOC_PATH, encoding="utf-8") as _f:
    DOC = json.load(_f)
SCHEMAS = DOC["components"]["schemas"]
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _resolve(obj):
    while isinstance(obj, dict) and "$ref" in obj:
        obj = SCHEMAS[obj["$ref"].rsplit("/", 1)[1]]
    return obj


class Op:
    def __init__(self, method, path, op):
        self.method = method
        self.path = path
        self.params = [_resolve(p) for p in op.get("parameters", [])]
        self.path_params = [p["name"] for p in self.params if p["in"] == "path"]
        self.query_params = [p for p in self.params if p["in"] == "query"]
        sec = {k for req in op.get("security", []) for k in req}
        self.bearer = "bearerAuth" in sec
        self.admin = "adminSecret" in sec
        content = _resolve(op.get("requestBody", {})).get("content", {})
        self.json_schema = _resolve(content["application/json"]["schema"]) \
            if "application/json" in content else None
        self.body_required = bool(_resolve(op.get("requestBody", {})).get("required"))
        self.multipart = "multipart/form-data" in content
        self.id = f"{method} {path}"

    def fields(self):
        """(name, allowed JSON types) of the JSON body."""
        if not self.json_schema:
            return []
        out = []
        for name, s in self.json_schema.get("properties", {}).items():
            out.append((name, _types(s)))
        return out

    def __repr__(self):
        return self.id


def _types(s):
    s = _resolve(s)
    if "anyOf" in s or "oneOf" in s:
        return set().union(*(_types(x) for x in s.get("anyOf", s.get("oneOf", []))))
    t = s.get("type")
    if t is None:
        return {"any"}
    return set(t) if isinstance(t, list) else {t}


OPS = [Op(m.upper(), p, o) for p, item in DOC["paths"].items() for m, o in item.items()
       if m in HTTP_METHODS]
PATHS = {}
for _op in OPS:
    PATHS.setdefault(_op.path, []).append(_op)
JSON_OPS = [o for o in OPS if o.json_schema is not None]
PARAM_OPS = [o for o in OPS if o.path_params]
QUERY_OPS = [o for o in OPS if o.query_params]

# Bodies that pass validation, so a mutated field is the only thing wrong; anything not here is
# made from the schema. Callables give a fresh value per request.
BASE = {
    "/auth/check-password-strength": lambda u: {"password": PASSWORD, "username": "someone"},
    "/auth/register": lambda u: {"username": "r" + uuid.uuid4().hex[:12], "password": PASSWORD,
                                 "email": None},
    "/auth/login": lambda u: {"username": "nobody_sweep", "password": PASSWORD,
                              "remember_me": False},
    "/auth/check-username": lambda u: {"username": "free_sweep"},
    "/auth/check-email": lambda u: {"email": "free-sweep@example.com"},
    "/auth/check-phone": lambda u: {"phone": "5550001111"},
    "/auth/send-verification-code": lambda u: {"email": "sweep@example.com",
                                               "type": "registration"},
    "/auth/verify-code": lambda u: {"email": "sweep@example.com", "code": "000000",
                                    "type": "registration"},
    "/auth/send-recovery-code": lambda u: {"email": "nobody-sweep@example.com",
                                           "type": "password"},
    "/auth/verify-recovery-code": lambda u: {"email": "sweep@example.com", "code": "000000",
                                             "type": "password"},
    "/auth/reset-password": lambda u: {"email": "nobody-sweep@example.com", "code": "000000",
                                       "new_password": "Rainy-Night8?"},
    "/auth/change-password": lambda u: {"current_password": PASSWORD,
                                        "new_password": "Rainy-Night8?"},
    "/auth/change-username": lambda u: {"new_username": "c" + uuid.uuid4().hex[:12]},
    "/auth/unlock-account": lambda u: {"username": "nobody_sweep"},
    "/devices": lambda u: device("Swept", -40, 2.5),
    "/user/profile": lambda u: {"name": "Swept", "bio": "b"},
    "/user/settings": lambda u: {"darkMode": True, "maxDistance": 40},
    "/user/privacy-zones": lambda u: {"address": "1 Sweep St", "radius": 50},
    "/api/log-api-call": lambda u: {"timestamp": "2025-01-01T00:00:00Z", "endpoint": "/x",
                                    "method": "GET", "user_id": None, "success": True,
                                    "status_code": 200, "error": None},
    "/api/diagnostics/run": lambda u: {"diagnostic_type": "auth", "context": {}},
}

# Routes that would change or end the calling account on a valid request: each request gets a
# throwaway user of its own.
THROWAWAY = {("DELETE", "/user/delete"), ("POST", "/auth/change-password"),
             ("POST", "/auth/change-username"), ("POST", "/auth/logout"),
             ("POST", "/auth/logout-all")}
# Admin routes never given the secret (they would touch B's rows by design).
NO_SECRET = {("DELETE", "/admin/clear-all-data")}
# Bodies whose every field test_userdata_input.py already sweeps with every JSON type.
USERDATA_SWEPT = {"/devices", "/user/profile", "/user/settings", "/user/privacy-zones",
                  "/api/log-api-call", "/api/diagnostics/run"}
# Bodies the original read as "any JSON object" (ORIGINAL_API 3.2), not as a model: a wrong
# type in the required field is its 400 ("Password is required", "Username is required") or a
# 422, other fields are ignored.
DICT_BODIES = {"/auth/check-password-strength": {"password"},
               "/auth/unlock-account": {"username"}}
JSON_LIMIT = 64 * 1024
PHOTO_LIMIT = 10 * 1024 * 1024 + 64 * 1024
MISSING_ID = "999999999"


def _synth(types):
    for t, v in (("string", "x"), ("integer", 1), ("number", 1.5), ("boolean", True),
                 ("array", []), ("object", {}), ("null", None)):
        if t in types:
            return v
    return "x"


def base_body(op, user=None):
    if op.path in BASE:
        return BASE[op.path](user)
    return {name: _synth(types) for name, types in op.fields()}


def concrete(path, value=MISSING_ID):
    return re.sub(r"\{[^}]+\}", value, path)


# --------------------------------------------------------------------------------------------
# a keep-alive client


class Client:
    """Requests on one kept-alive connection, reopened when droplin closes it."""

    def __init__(self, port):
        self.port = port
        self.conn = None

    def _open(self):
        if self.conn is None:
            self.conn = harness.RawConn(self.port, timeout=10.0)
        return self.conn

    def drop(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def raw(self, data, head_request=False, timeout=10.0):
        """Send raw bytes, read one response; the connection is dropped when either side
        asks for it."""
        for attempt in (0, 1):
            c = self._open()
            fresh = not c.buf and attempt == 0
            try:
                c.send(data)
                r = c.read_response(timeout=timeout, head_request=head_request)
            except (harness.ProtocolError, BrokenPipeError, ConnectionResetError) as e:
                self.drop()
                # a kept-alive connection the server closed while idle: once more on a new one
                if attempt == 0 and fresh and "before" in str(e) and not c.buf:
                    continue
                raise
            if r.wants_close():
                self.drop()
            return r

    def request(self, method, path, body=None, raw=None, token=None, headers=None,
                ctype="application/json", query=None):
        hdrs = [("Host", f"127.0.0.1:{self.port}"), ("User-Agent", "droplin-sweep/1.0")]
        data = b""
        if raw is not None:
            data = raw if isinstance(raw, bytes) else raw.encode("utf-8")
        elif body is not None:
            data = json.dumps(body).encode("utf-8")
        if (raw is not None or body is not None) and ctype is not None:
            hdrs.append(("Content-Type", ctype))
        if data or method in ("POST", "PUT", "PATCH"):
            hdrs.append(("Content-Length", str(len(data))))
        if token is not None:
            hdrs.append(("Authorization", "Bearer " + token))
        for k, v in (headers or {}).items():
            hdrs = [(a, b) for a, b in hdrs if a.lower() != k.lower()]
            if v is not None:
                hdrs.append((k, v))
        if query:
            path += ("&" if "?" in path else "?") + urllib.parse.urlencode(query)
        return self.raw(harness.build_request(method, path, hdrs, data),
                        head_request=(method == "HEAD"))


# --------------------------------------------------------------------------------------------
# the module's droplin, users A and B, B's snapshot


class World:
    pass


TABLE_FILTERS = {"users": "id = %(id)s",
                 "verification_codes": "lower(email) = lower(%(email)s)"}
NOT_B = {"api_call_logs", "rate_limits", "schema_migrations", "replica_heartbeats"}


def snapshot_sql(conn):
    """One statement that returns every row of B (%(id)s, %(email)s) in every table, each as
    (table, PostgreSQL's text of the whole row); a table without user_id fails the sweep until
    it says how to find B's rows in it."""
    with conn.cursor() as cur:
        cur.execute("SELECT table_name, array_agg(column_name::text) "
                    "FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND table_name IN (SELECT table_name FROM "
                    "information_schema.tables WHERE table_schema = 'public' AND "
                    "table_type = 'BASE TABLE') GROUP BY 1 ORDER BY 1")
        tables = cur.fetchall()
    parts = []
    for t, cols in tables:
        if t in NOT_B:
            continue
        if t in TABLE_FILTERS:
            where = TABLE_FILTERS[t]
        elif "user_id" in cols:
            where = "user_id = %(id)s"
        else:
            raise AssertionError(f"table {t} has no user_id: say how to find B's rows in it")
        parts.append(f"SELECT '{t}' AS tbl, t::text AS row FROM \"{t}\" t WHERE {where}")
    assert len(parts) >= 8, tables
    return " UNION ALL ".join(parts) + " ORDER BY 1, 2"


def snapshot(w, user):
    with w.db.cursor() as cur:
        cur.execute(w.snapshot_sql, {"id": user.id, "email": user.email})
        rows = cur.fetchall()
    out = {}
    for t, row in rows:
        out.setdefault(t, []).append(row)
    return out


def _settled(w, user):
    first = snapshot(w, user)
    time.sleep(0.4)
    return first if snapshot(w, user) == first else None


@pytest.fixture(scope="module")
def world(module_droplin):
    w = World()
    # TRUST_PROXY=1: X-Forwarded-For and X-Real-IP are read, so their odd values are input too
    # SESSION_TOUCH_SECONDS: a case may be answered with B's token (a duplicate user_id claim);
    # on a busy machine a minute can pass after B signed up, and the touch of B's last_seen_at
    # would change B's rows: no touch within the sweep
    w.srv = start(module_droplin, TRUST_PROXY="1", SESSION_TOUCH_SECONDS="86400", **SERVER_ENV)
    api = UserApi(w.srv)
    w.a = signup(api, "sa")
    w.b = signup(api, "sb")
    b = w.b
    w.b_phone = "555" + str(uuid.uuid4().int)[:7]
    w.b_devices = [b.ok("POST", "/devices", device("b-secret-1", -60, 4.0))["id"],
                   b.ok("POST", "/devices", device("b-secret-2", -70, 9.0,
                                                   email="b-dev@example.com"))["id"]]
    b.ok("POST", "/user/privacy-zones", {"address": "b-secret-home", "radius": 120})
    w.b_zones = [z["id"] for z in b.ok("GET", "/user/privacy-zones")]
    b.ok("POST", f"/user/pinned/{w.b_devices[0]}")
    b.ok("POST", "/user/profile", {"name": "b-secret-name", "phone": w.b_phone,
                                   "bio": "b-secret-bio"})
    b.ok("POST", "/user/settings", {"darkMode": True, "maxDistance": 77})
    # cases may name B with a token the original backend could have issued (no session), which
    # refreshes users.last_seen_at; one such request now lets B's row hold still from here on
    assert api.call("GET", "/user/settings",
                    token=raw_token(HEADER, claims(b.id, b.username), secret=JWT_SECRET)).status == 200
    harness.db_exec(db_of(w.srv), "UPDATE user_profiles SET profile_photo = %s WHERE user_id = %s",
                    ("https://127.0.0.1/x/image/upload/b-secret.jpg", b.id))
    # A owns a device and a zone too, so "found" and "not yours" differ
    w.a_device = w.a.ok("POST", "/devices", device("a-dev"))["id"]
    w.client = Client(w.srv.port)
    w.api = api
    w.db = harness.db_connect(db_of(w.srv))
    w.snapshot_sql = snapshot_sql(w.db)
    # audit rows may be written just after the responses: wait until B's rows hold still
    w.b_rows = harness.wait_until(lambda: _settled(w, b), 10, interval=0.01,
                                  what="B's rows to settle")
    assert w.b_rows["devices"] and w.b_rows["privacy_zones"] and w.b_rows["pinned_contacts"]
    w.log_seen = 0
    yield w
    if os.environ.get("SWEEP_COUNT"):
        n = sum(1 for l in w.srv.stdout_lines() if '"message":"request"' in l)
        with open(os.environ["SWEEP_COUNT"], "a") as f:
            f.write(f"{n}\n")
    w.client.drop()
    w.db.close()


@pytest.fixture(autouse=True)
def after_each(world):
    """The checks after every case: alive, serving, no 5xx logged, B unchanged."""
    world.log_seen = len(world.srv.stdout_lines())
    yield
    w = world
    assert w.srv.proc.poll() is None, "droplin exited\n" + w.srv.describe()
    r = w.client.request("GET", "/livez")
    assert r.status == 200, r
    for path in ("/user/settings", "/devices", "/user/profile", "/user/privacy-zones"):
        r = w.client.request("GET", path, token=w.a.token)
        assert r.status == 200, f"A's {path} after the case: {r!r}"
        strict_json(r)  # whatever the case stored reads back as valid UTF-8 JSON
    logs = []
    for line in w.srv.stdout_lines()[w.log_seen:]:
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            logs.append(obj)
    bad = [l for l in logs if isinstance(l.get("status"), int) and l["status"] >= 500
           and not (l["status"] == 503 and l.get("path") == "/user/profile/photo")]
    assert not bad, f"5xx in droplin's log: {bad[:5]}"
    assert not [l for l in logs if l.get("level") in ("fatal", "crit", "critical")], logs
    assert snapshot(w, w.b) == w.b_rows, "user B's rows changed"


def token_for(w, op):
    if not op.bearer:
        return None
    if (op.method, op.path) in THROWAWAY:
        return signup(w.api, "st").token
    return w.a.token


def headers_for(op):
    if op.admin and (op.method, op.path) not in NO_SECRET:
        return {"secret": ADMIN_SECRET}
    return None


# --------------------------------------------------------------------------------------------
# assertions


def shaped_error(r, what=""):
    """Never a 5xx (but the photo route's 503 without Cloudinary); a 4xx body is JSON with
    `detail` (a string, or the validation shape of C6)."""
    if r.status == 503 and json.loads(r.body or b"{}").get("detail") == \
            "Photo storage is not configured":
        return json.loads(r.body)
    assert r.status < 500, f"{what}: {r!r}"
    if r.status < 400 or r.status == 307:
        return None
    body = harness.assert_json(r)
    assert isinstance(body, dict) and isinstance(body.get("detail"), str) and body["detail"], \
        f"{what}: error body without a detail: {r!r}"
    harness.assert_security_headers(r)
    if r.status == 422:
        assert body.get("error") == "Validation Error", f"{what}: {r!r}"
        assert body.get("message") == "Invalid input provided", f"{what}: {r!r}"
        assert isinstance(body.get("details"), list) and body["details"], f"{what}: {r!r}"
        for d in body["details"]:
            assert set(d) == {"field", "message"}, f"{what}: {r!r}"
        assert body["detail"] == body["details"][0]["message"], f"{what}: {r!r}"
    return body


def assert_422_field(r, field, what=""):
    assert r.status == 422, f"{what}: expected 422 on {field!r}, got {r!r}"
    body = shaped_error(r, what)
    fields = [d["field"] for d in body["details"]]
    assert field in fields or any(f.startswith(field + " -> ") for f in fields), \
        f"{what}: 422 does not name {field!r}: {body!r}"
    return body


def send(w, op, path=None, method=None, **kw):
    kw.setdefault("token", token_for(w, op))
    hdrs = headers_for(op)
    if hdrs:
        kw["headers"] = dict(hdrs, **(kw.get("headers") or {}))
    return w.client.request(method or op.method, path or concrete(op.path), **kw)


# --------------------------------------------------------------------------------------------
# wrong methods

OTHER_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]


@pytest.mark.parametrize("path", sorted(PATHS))
def test_wrong_methods(world, path):
    w = world
    documented = {o.method for o in PATHS[path]}
    any_op = PATHS[path][0]
    for method in OTHER_METHODS + (["HEAD"] if "GET" not in documented else []):
        if method in documented:
            continue
        r = w.client.request(method, concrete(path), body={"name": "x"}, token=w.a.token,
                             headers={"secret": ADMIN_SECRET if not
                                      (any_op.method, any_op.path) in NO_SECRET else None})
        what = f"{method} {path}"
        assert r.status == 405, f"{what}: {r!r}"
        if method != "HEAD":
            assert harness.assert_json(r) == {"detail": "Method Not Allowed"}, what
        allow = {m.strip() for m in (r.headers.get("Allow") or "").split(",") if m.strip()}
        assert allow == documented, f"{what}: Allow {r.headers.get('Allow')!r}, " \
                                    f"documented {sorted(documented)}"
        harness.assert_security_headers(r)
    # methods are case-sensitive tokens (RFC 9110 9.1): any other token is a method this
    # path does not allow, 405 with the documented Allow, as above
    for method in ["get", "Post", "BREW", "GETS", "M-SEARCH", "PROPFIND"]:
        r = w.client.request(method, concrete(path), token=w.a.token)
        what = f"{method} {path}"
        assert r.status == 405 and harness.assert_json(r) == {"detail": "Method Not Allowed"}, \
            f"{what}: {r!r}"
        allow = {m.strip() for m in (r.headers.get("Allow") or "").split(",") if m.strip()}
        assert allow == documented, f"{what}: Allow {r.headers.get('Allow')!r}"
        shaped_error(r, what)


def test_junk_paths_and_methods_do_not_grow_the_metrics(world):
    """DECISIONS O3/P: metrics are labelled by route template and a bounded set of methods,
    so random paths, ids and method names add no series."""
    w = world
    for i in range(40):
        tag = uuid.uuid4().hex[:8]
        w.client.request("GET", f"/junk-{tag}/{i}")
        w.client.request("GET", f"/devices/{tag}", token=w.a.token)
        w.client.request(f"X{tag.upper()}", "/devices", token=w.a.token)
        w.client.request(f"X{tag.upper()}", f"/nope-{tag}")
    text = w.client.request("GET", "/metrics").text
    series = re.findall(r'^droplin_http_requests_total\{route="([^"]*)",method="([^"]*)"',
                        text, re.M)
    assert series, text[:2000]
    routes = {r for r, _ in series}
    methods = {m for _, m in series}
    assert routes <= {o.path for o in OPS} | {"unmatched"}, sorted(routes)
    assert methods <= {o.method for o in OPS} | {""}, sorted(methods)


@pytest.mark.parametrize("path", sorted(PATHS))
def test_odd_preflights(world, path):
    """CORS preflights (the original's local-development origins are allowed in development)
    with odd methods, header lists and origins: each gets Starlette's answer (ORIGINAL_API 8):
    200 `OK`, or 400 `Disallowed CORS ` and what failed (origin, method, headers: methods and
    header names compared exactly, after trimming and lower-casing the names; an allowed
    origin echoed even then; empty items of the header list ignored); never a 5xx, and the connection frames the next request."""
    w = world
    ok_origin = "http://localhost:8081"
    cases = [(ok_origin, "GET", None, ""), (ok_origin, "BREW", None, "method"),
             (ok_origin, "", None, None), (ok_origin, "get", None, "method"),
             (ok_origin, "POST", "x-" + "a" * 4000, "headers"),
             (ok_origin, "POST", ",,,, ,", ""),  # empty list items are ignored (RFC 9110 5.6.1)
             (ok_origin, "POST", "content-type,\xff", "headers"),
             (ok_origin, "DELETE", "Authorization, Content-Type, X-Request-ID, X-Evil", "headers"),
             (ok_origin, "DELETE", "authorization , CONTENT-TYPE,accept", ""),
             ("http://localhost:8081\xff", "GET", None, "origin"), ("null", "GET", None, "origin"),
             ("http://localhost:8081/", "GET", None, "origin"),
             ("http://LOCALHOST:8081", "GET", None, "origin"),
             ("http://localhost:8081, http://evil", "GET", None, "origin"),
             ("o" * 6000, "GET", None, "origin"), ("null", "BREW", "x-evil", "origin, method, headers")]
    for origin, method, req_headers, failed in cases:
        hdrs = {"Origin": origin, "Access-Control-Request-Method": method}
        if req_headers is not None:
            hdrs["Access-Control-Request-Headers"] = req_headers
        r = w.client.request("OPTIONS", concrete(path), headers=hdrs)
        what = f"OPTIONS {path} {origin[:30]!r} {method!r} {str(req_headers)[:30]!r}"
        if method == "":  # an empty Access-Control-Request-Method makes no preflight
            assert r.status == 405 and r.json() == {"detail": "Method Not Allowed"}, what
            continue
        if failed:
            assert (r.status, r.text) == (400, f"Disallowed CORS {failed}"), f"{what}: {r!r}"
        else:
            assert (r.status, r.text) == (200, "OK"), f"{what}: {r!r}"
        allowed = r.headers.get("Access-Control-Allow-Origin")
        assert allowed == (ok_origin if origin == ok_origin else None), f"{what}: {r!r}"
        r = w.client.request("GET", "/livez")
        assert r.status == 200, r


# --------------------------------------------------------------------------------------------
# content types

NOT_JSON_TYPES = ["text/plain", "application/x-www-form-urlencoded", "text/json",
                  "multipart/form-data; boundary=xyz", "application/xml", "application/jsonx",
                  "application/json-seq", "application/octet-stream", "json", "*/*",
                  "application/", "application/+json"]
JSON_TYPES = ["application/json", "APPLICATION/JSON", "application/json; charset=utf-8",
              "application/json;charset=latin-1", "application/vnd.api+json", " application/json "]


@pytest.mark.parametrize("op", JSON_OPS, ids=lambda o: o.id)
def test_json_bodies_with_other_content_types(world, op):
    """ORIGINAL_API 1.1: only no Content-Type, application/json and *+json are parsed; the
    rest fails validation with 422."""
    w = world
    for ctype in NOT_JSON_TYPES:
        r = send(w, op, body=base_body(op, w.a), ctype=ctype)
        what = f"{op.id} Content-Type {ctype!r}"
        if op.body_required:
            assert_422_field(r, "", what)
        else:  # the body is optional (its fields may come in the query): the same 422
            assert_422_field(r, "", what)


@pytest.mark.parametrize("op", [o for o in JSON_OPS if (o.method, o.path) not in THROWAWAY
                                and o.path not in ("/auth/register",)], ids=lambda o: o.id)
def test_json_content_types_and_none_parse_alike(world, op):
    """A JSON body is read the same with every JSON content type and with none at all."""
    w = world
    base = base_body(op, w.a)
    statuses = {}
    for ctype in JSON_TYPES + [None]:
        r = send(w, op, body=base, ctype=ctype)
        shaped_error(r, f"{op.id} {ctype!r}")
        statuses[ctype] = r.status
    assert len(set(statuses.values())) == 1, f"{op.id}: {statuses}"
    assert statuses[None] != 422 or op.path == "/auth/login", f"{op.id}: {statuses}"


@pytest.mark.parametrize("op", [o for o in OPS if o.json_schema is None and not o.multipart],
                         ids=lambda o: o.id)
def test_bodies_on_routes_without_one_are_ignored(world, op):
    """A body (of any type, valid or not) on a route that takes none changes nothing."""
    w = world
    if (op.method, op.path) in THROWAWAY:
        baseline = None
    else:
        baseline = send(w, op)
        shaped_error(baseline, op.id)
    for ctype, raw in [("application/json", b'{"user_id": %d}' % w.b.id), ("text/plain", b"x"),
                       ("application/json", b"{not json"), (None, b"\xff\xfe\x00"),
                       ("multipart/form-data; boundary=b", b"--b--\r\n")]:
        r = send(w, op, raw=raw, ctype=ctype)
        what = f"{op.id} {ctype!r} {raw!r}"
        shaped_error(r, what)
        if baseline is not None and op.path != "/metrics":
            assert r.status == baseline.status, f"{what}: {r!r} vs {baseline!r}"


def test_photo_with_wrong_content_types(world):
    w = world
    [op] = [o for o in OPS if o.multipart]
    # no file part is the 422 for "file"; a multipart type without a usable boundary (none,
    # empty, or over RFC 2046's 70 characters) and a body that ends inside a part are 400s
    no_file, no_boundary = "file", "Missing boundary in multipart."
    for ctype, raw, want in [
            ("application/json", b'{"file": "x"}', no_file), ("text/plain", b"x", no_file),
            (None, b"", no_file), ("multipart/form-data", b"--b--\r\n", no_boundary),
            ("multipart/form-data; boundary=", b"----\r\n", no_boundary),
            ("multipart/form-data; boundary=" + "b" * 200, b"x", no_boundary),
            ("multipart/mixed; boundary=b", b"--b--\r\n", no_file),
            ("multipart/form-data; boundary=b", b"--b\r\n\r\nno disposition\r\n--b--\r\n",
             no_file),
            ("multipart/form-data; boundary=b",
             b'--b\r\nContent-Disposition: form-data; name="other"\r\n\r\nx\r\n--b--\r\n',
             no_file),
            ("multipart/form-data; boundary=b",
             b'--b\r\nContent-Disposition: form-data; name="file"; filename="a\xff.jpg"'
             b'\r\n\r\nnot an image\r\n--b--\r\n',
             "Invalid or corrupted image file: cannot identify image file"),
            ("multipart/form-data; boundary=b",
             b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\n\xff\xd8\xfftruncated',
             "Malformed multipart body")]:
        r = send(w, op, raw=raw, ctype=ctype)
        what = f"photo {ctype!r} {raw[:40]!r}"
        if want == no_file:
            assert_422_field(r, "file", what)
        else:
            assert r.status == 400 and r.json() == {"detail": want}, f"{what}: {r!r}"
            shaped_error(r, what)


JUNK_QUERIES = ["user_id={b}", "token={tok}", "%ff=%ff", "a[=1&]=2", "=&&=&", "x=%00",
                "device_id=-1&zone_id=abc", "limit=-1&offset=99999999999999999999",
                "days=0&diagnostic_type=%c0%af", "q=" + "%e2%82%ac" * 1500, "&" * 3000, "%",
                "x=1;y=2", "x=%2e%2e%2f%2e%2e%2fetc%2fpasswd"]


@pytest.mark.parametrize("op", [o for o in OPS if (o.method, o.path) not in THROWAWAY],
                         ids=lambda o: o.id)
def test_junk_in_the_query_string(world, op):
    """Parameters a route does not take, in any encoding, change nothing: the answer has the
    status of the same request without them (B's id or token in the query included)."""
    w = world
    if op.method == "POST" and op.path in ("/auth/register",):
        return  # a new user each time: nothing to compare with
    body = base_body(op, w.a) if op.json_schema else None
    if op.path in ("/devices", "/user/privacy-zones") and op.method == "POST":
        body = None  # a 422 without creating rows
    baseline = send(w, op, body=body)
    shaped_error(baseline, op.id)
    for q in JUNK_QUERIES:
        q = q.format(b=w.b.id, tok=w.b.token)
        path = concrete(op.path) + "?" + q
        r = send(w, op, path=path, body=body)
        what = f"{op.method} {path[:80]}"
        shaped_error(r, what)
        if op.path not in ("/metrics", "/auth/send-verification-code") and \
                not [p for p in op.query_params if p["name"] in q]:
            assert r.status == baseline.status, f"{what}: {r!r} vs {baseline!r}"
        if not op.admin:  # the admin's answers list every user by design
            _no_b_secrets(w, r, what)


ODD_HEADERS = [
    ("User-Agent", "\xff\xfe\xc0\xaf ua"), ("User-Agent", "é" * 150 + "x"),
    ("User-Agent", "u" * 8000), ("User-Agent", ""),
    ("X-Forwarded-For", "\xff, not-an-ip, 999.1.1.1, ::ffff:1.2.3.4%eth0"),
    ("X-Forwarded-For", "," * 500), ("X-Forwarded-For", "1.2.3.4, " * 300 + "5.6.7.8"),
    ("X-Real-IP", "127.0.0.1\xff"), ("X-Real-IP", "[::1]:80"),
    ("X-Request-ID", "\xff" * 40), ("X-Request-ID", "r" * 5000),
    ("Origin", "http://127.0.0.1:\xff"), ("Origin", "null"),
    ("secret", "\xff\xfe"), ("secret", "s" * 8000), ("secret", ""),
    ("Authorization", "Bearer \xff\xfe.\xc0.\xaf"), ("Authorization", "Bearer " + "." * 3000),
    ("Authorization", "Bearer  "), ("Cookie", "token=\xff; token=" + "c" * 5000),
    ("Accept", "\xff/\xff"), ("Accept-Encoding", "gzip;q=\xff"),
    ("Range", "bytes=-1-999999999999999999999"), ("Expect", "\xff-continue"),
    ("Content-Encoding", "gzip"),
]


@pytest.mark.parametrize("op", [o for o in OPS if (o.method, o.path) not in THROWAWAY],
                         ids=lambda o: o.id)
def test_odd_header_values(world, op):
    """obs-text, long and malformed values of the headers droplin reads (client address,
    audit user agent, request id, CORS, admin secret, token): never a 5xx, B never touched."""
    w = world
    if op.path == "/auth/register":
        return
    body = base_body(op, w.a) if op.json_schema else None
    if op.path in ("/devices", "/user/privacy-zones", "/api/log-api-call") and op.method == "POST":
        body = None
    for name, value in ODD_HEADERS:
        r = send(w, op, body=body, headers={name: value})
        shaped_error(r, f"{op.id} {name}: {value[:40]!r}")
        if not op.admin:  # the admin's answers list every user by design
            _no_b_secrets(w, r, f"{op.id} {name}")


def _b64(text):
    import base64
    return base64.b64encode(text if isinstance(text, bytes) else text.encode()).decode()


@pytest.mark.parametrize("op", [o for o in OPS if o.admin], ids=lambda o: o.id)
def test_admin_credentials_of_every_odd_shape(world, op):
    """The admin secret header and the dashboard's Basic auth, malformed: 403 or 401, never
    a 5xx; the right secret next to a wrong one in a second header field is not a way in
    either order (a 200 only when the route would answer it anyway)."""
    w = world
    basics = ["Basic", "Basic ", "Basic !!!!", "Basic " + _b64("no-colon"),
              "Basic " + _b64(":"), "Basic " + _b64("u:wrong"), "Basic " + _b64(b"u:\xff\x00"),
              "Basic " + _b64("u:" + ADMIN_SECRET + "x"), "Basic " + _b64("u:" + ADMIN_SECRET[:-1]),
              "Basic " + "A" * 9000, "Bearer " + ADMIN_SECRET,
              "Basic " + _b64("u:" + ADMIN_SECRET).rstrip("=")[:-2]]
    path = concrete(op.path)
    # the one answer: the dashboard and its fleet frame ask for Basic credentials (401), the
    # routes that take the secret header refuse (403), whatever else the request carries
    refused = 401 if op.path.startswith("/admin/dashboard") else 403
    for auth in basics:
        r = w.client.request(op.method, path, headers={"Authorization": auth})
        shaped_error(r, f"{op.id} {auth[:30]!r}")
        assert r.status == refused, f"{op.id} {auth[:30]!r}: {r!r}"
    for secrets in (["wrong", ADMIN_SECRET], ["", ADMIN_SECRET], [ADMIN_SECRET.upper()],
                    [ADMIN_SECRET + "\x00"], [ADMIN_SECRET + "x"], [ADMIN_SECRET[:-1]],
                    [ADMIN_SECRET + "," + ADMIN_SECRET]):
        if (op.method, op.path) in NO_SECRET and ADMIN_SECRET in secrets:
            continue  # the exact secret, even second, is never sent to clear-all-data
        hdrs = [("Host", "x")] + [("secret", v) for v in secrets]
        raw = harness.build_request(op.method, path, hdrs + (
            [("Content-Length", "0")] if op.method == "POST" else []))
        r = w.client.raw(raw)
        shaped_error(r, f"{op.id} secrets {secrets!r}")
        if any("\x00" in v for v in secrets):  # no field value holds a NUL (RFC 9110 5.5)
            assert r.status == 400 and r.json() == {"detail": "Bad request"}, \
                f"{op.id} secrets {secrets!r}: {r!r}"
        else:
            assert r.status == refused, f"{op.id} secrets {secrets!r}: {r!r}"


@pytest.mark.parametrize("op", [o for o in OPS if o.method == "GET"], ids=lambda o: o.id)
def test_head_answers_as_get_without_a_body(world, op):
    """HEAD with and without credentials and with an odd Content-Type: the status GET gives,
    no body, and the connection still frames the next request right."""
    w = world
    for tok, extra in ((w.a.token, {}), (None, {}), ("x.y.z", {}),
                       (w.a.token, {"Content-Type": "text/plain"})):
        g = send(w, op, token=tok, headers=extra)
        h = send(w, op, token=tok, headers=extra, method="HEAD")
        assert h.status == g.status and h.body == b"", f"HEAD {op.path}: {h!r} vs {g!r}"
        r = w.client.request("GET", "/livez")
        assert r.status == 200 and r.json() == {"status": "alive"}, r


@pytest.mark.parametrize("op", [o for o in OPS if o.method == "GET"], ids=lambda o: o.id)
def test_an_error_after_a_head_request_has_its_body(world, op):
    """HEAD on a kept-alive connection, then a request that cannot be framed: its 400 (or
    413) carries the body its Content-Length announces (found by this sweep: the HEAD's
    no-body flag outlived its request)."""
    w = world
    head = harness.build_request("HEAD", concrete(op.path), [("Host", "x")])
    for bad, status in [
            ("GET /devices/\u0661 HTTP/1.1\r\nHost: x\r\n\r\n".encode(), 400),
            (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400),
            (b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n", 413),
            (b"POST /user/profile/photo HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/"
             b"form-data\r\nContent-Length: 5\r\n\r\nxxxxx", 400)]:  # no boundary
        with _fresh_conn(w) as c:
            c.send(head)
            h = c.read_response(timeout=8, head_request=True)
            assert h.body == b"", h
            c.send(bad)
            r = c.read_response(timeout=8)
            assert r.status == status and r.json()["detail"], f"{op.id} then {bad!r}: {r!r}"


# --------------------------------------------------------------------------------------------
# truncated and oversized bodies


def _fresh_conn(w):
    return harness.RawConn(w.srv.port, timeout=10.0)


def _head(w, op, extra):
    hdrs = [("Host", f"127.0.0.1:{w.srv.port}"), ("Content-Type", "application/json")]
    tok = token_for(w, op)
    if tok:
        hdrs.append(("Authorization", "Bearer " + tok))
    for k, v in (headers_for(op) or {}).items():
        hdrs.append((k, v))
    return harness.build_request(op.method, concrete(op.path), hdrs + extra)


def _answer_or_close(c, what, timeout=8.0):
    """After EOF from the client: a non-5xx answer (then close) or a close, within timeout."""
    deadline = time.monotonic() + timeout
    try:
        r = c.read_response(timeout=timeout)
    except harness.ProtocolError:
        return None  # closed without an answer
    except (socket.timeout, TimeoutError):
        raise AssertionError(f"{what}: neither an answer nor a close within {timeout}s")
    assert r.status < 500, f"{what}: {r!r}"
    shaped_error(r, what)
    left = max(0.5, deadline - time.monotonic())
    assert c.state_after(left) == "closed", f"{what}: still open after {r!r}"
    return r


@pytest.mark.parametrize("op", OPS, ids=lambda o: o.id)
def test_truncated_bodies(world, op):
    w = world
    body = json.dumps(base_body(op, w.a)).encode() if op.json_schema else b'{"a":1}'
    cases = [
        ("content-length", [("Content-Length", str(len(body) + 100))], body),
        ("content-length, nothing sent", [("Content-Length", "10")], b""),
        ("chunk larger than sent", [("Transfer-Encoding", "chunked")], b"64\r\n" + body[:10]),
        ("chunk size line cut", [("Transfer-Encoding", "chunked")], b"6"),
        ("no last chunk", [("Transfer-Encoding", "chunked")],
         b"%x\r\n" % len(body) + body + b"\r\n"),
    ]
    for name, extra, sent in cases:
        with _fresh_conn(w) as c:
            c.send(_head(w, op, extra) + sent)
            c.sock.shutdown(socket.SHUT_WR)
            _answer_or_close(c, f"{op.id} {name}")
    # clients that stall mid-body hold nothing another request needs
    stalled = []
    try:
        for _ in range(4):
            c = _fresh_conn(w)
            c.send(_head(w, op, [("Content-Length", "1000")]) + body[:5])
            stalled.append(c)
        r = w.client.request("GET", "/user/settings", token=w.a.token)
        assert r.status == 200, f"{op.id} beside stalled bodies: {r!r}"
    finally:
        for c in stalled:
            c.close()
    # and a client that vanishes mid-body (RST), twice
    for _ in range(2):
        c = _fresh_conn(w)
        c.send(_head(w, op, [("Content-Length", "1000")]) + body[:5])
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()


@pytest.mark.parametrize("op", OPS, ids=lambda o: o.id)
def test_oversized_bodies(world, op):
    """DECISIONS S8: decided from Content-Length before the body is read."""
    w = world
    limit = PHOTO_LIMIT if op.multipart else JSON_LIMIT
    for cl in (limit + 1, 2 ** 31, 2 ** 63 - 1, 10 ** 30):
        with _fresh_conn(w) as c:
            c.send(_head(w, op, [("Content-Length", str(cl))]))
            r = c.read_response(timeout=8)
            what = f"{op.id} Content-Length {cl}"
            if len(str(cl)) > 18:  # droplin reads at most 18 digits (test_http_framing.py)
                assert r.status == 400, f"{what}: {r!r}"
            else:
                assert r.status == 413, f"{what}: {r!r}"
            shaped_error(r, what)
            if op.multipart and r.status == 413:
                assert r.json()["detail"] == "File too large. Maximum size is 10MB", r
    # Expect: 100-continue past the limit: the 413 comes instead of the 100
    with _fresh_conn(w) as c:
        c.send(_head(w, op, [("Content-Length", str(limit + 1)), ("Expect", "100-continue")]))
        r = c.read_response(timeout=8)  # skips a 100: look at what came first
        assert r.status == 413, f"{op.id} Expect: {r!r}"
    with _fresh_conn(w) as c:
        c.send(_head(w, op, [("Content-Length", str(limit + 1)), ("Expect", "100-continue")]))
        deadline = time.monotonic() + 8
        while b"\r\n" not in c.buf and c._fill(deadline):
            pass
        assert c.buf.startswith(b"HTTP/1.1 413 "), f"{op.id} Expect: {c.buf[:100]!r}"
    if op.multipart:
        return
    # a real chunked body past the limit
    chunk = b"x" * 8192
    with _fresh_conn(w) as c:
        c.send(_head(w, op, [("Transfer-Encoding", "chunked")]))
        sent = 0
        try:
            while sent <= limit + len(chunk):
                c.send(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                sent += len(chunk)
            c.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = c.read_response(timeout=8)
        assert r.status == 413, f"{op.id} chunked {sent}: {r!r}"
        shaped_error(r, op.id)
    # a 100 KB string in the body, by Content-Length
    if op.json_schema and op.fields():
        b = base_body(op, w.a)
        b[op.fields()[0][0]] = "y" * 100_000
        r = send(w, op, body=b)
        assert r.status == 413, f"{op.id} 100 KB field: {r!r}"
        shaped_error(r, op.id)


SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize("op", OPS, ids=lambda o: o.id)
def test_a_rejected_body_is_never_a_request(world, op):
    """Whatever a route rejects early (no token, wrong token, wrong method, bad id, wrong
    content type, 413), the body it did not read is skipped or the connection closed: a
    request inside the body is never answered, and the request pipelined after it is."""
    w = world
    variants = [("no token", concrete(op.path), op.method, {}),
                ("bad token", concrete(op.path), op.method, {"Authorization": "Bearer x.y.z"}),
                ("wrong method", concrete(op.path), "PUT", {}),
                ("text body", concrete(op.path), op.method, {"Content-Type": "text/plain"})]
    if op.path_params:
        variants.append(("bad id", concrete(op.path, "abc"), op.method, {}))
    for name, path, method, extra in variants:
        hdrs = [("Host", f"127.0.0.1:{w.srv.port}"), ("Content-Length", str(len(SMUGGLED)))]
        if "Authorization" not in extra and op.bearer and name != "no token":
            hdrs.append(("Authorization", "Bearer " + w.a.token))
        for k, v in (headers_for(op) or {}).items():
            hdrs.append((k, v))
        hdrs += list(extra.items())
        if op.bearer and name != "no token" and (op.method, op.path) in THROWAWAY:
            continue  # a valid token would really delete or rename A
        data = harness.build_request(method, path, hdrs, SMUGGLED) + harness.build_request(
            "GET", "/livez", [("Host", "x"), ("Connection", "close")])
        with _fresh_conn(w) as c:
            c.send(data)
            first = c.read_response(timeout=8)
            what = f"{op.id} {name}"
            shaped_error(first, what)
            if first.wants_close():
                assert c.state_after(3) == "closed", what
                continue
            second = c.read_response(timeout=8)
            # /livez: 200 while the process serves, whatever the database's state
            assert second.status == 200 and second.json() == {"status": "alive"}, \
                f"{what}: the pipelined /livez got {second!r}"
            assert c.state_after(3) == "closed", f"{what}: more than two answers"


# --------------------------------------------------------------------------------------------
# JSON fields: wrong types, long strings, bad UTF-8, huge numbers

WRONG_FOR = {
    "string": [True, False, 0, -1, 1.5, 10 ** 30, [], ["x"], {}, {"x": "y"}],
    "integer": ["x", "1.5", "", " ", "1e3", "0x10", 1.5, -0.5, [], [1], {}, {"a": 1}],
    "number": ["x", "", "NaN", "inf", [], [1.0], {}, {"a": 1}],
    "boolean": ["maybe", "", 2.5, [], [True], {}, {"a": True}],
    "array": ["x", 1, True, {}, {"a": []}],
    "object": ["x", 1, True, [], [{}]],
}


def _wrong_values(types, required):
    out = []
    if "any" in types:
        return out
    for t in ("string", "integer", "number", "boolean", "array", "object"):
        if t in types:
            continue
        for v in {"string": ["x", ""], "integer": [7, -7, 0], "number": [2.5, -0.0, 1e308],
                  "boolean": [True, False], "array": [[], ["x"], [[]]],
                  "object": [{}, {"x": 1}]}[t]:
            if "integer" in types and isinstance(v, float) and v == int(v):
                continue  # 1e308 or -0.0 are whole numbers: lax int reads them
            if "number" in types and isinstance(v, (int, float)) and not isinstance(v, bool):
                continue
            if ("integer" in types or "number" in types) and isinstance(v, bool):
                continue  # lax int/float take booleans (pydantic 2)
            if "boolean" in types and v in (0, 1) and not isinstance(v, float):
                continue
            out.append(v)
    if "null" not in types and required:
        out.append(None)
    return out


FIELD_CASES = [(o, name, types) for o in JSON_OPS if o.path not in USERDATA_SWEPT
               for name, types in o.fields()]


@pytest.mark.parametrize("op,field,types", FIELD_CASES,
                         ids=[f"{o.id} {n}" for o, n, _ in FIELD_CASES])
def test_every_field_with_every_wrong_json_type(world, op, field, types):
    w = world
    required = field in (op.json_schema.get("required") or [])
    wrong = []
    for value in _wrong_values(types, required):
        body = base_body(op, w.a)
        body[field] = value
        r = send(w, op, body=body)
        what = f"{op.id} {field}={value!r}"
        shaped_error(r, what)
        if op.path in DICT_BODIES:
            # "any JSON object" read by hand in the original: its own 400 for the required
            # field, anything else ignored
            if field in DICT_BODIES[op.path] and r.status not in (400, 422):
                wrong.append((value, r.status, r.body[:200]))
            continue
        if types <= {"string", "null"} or value is None:
            if r.status != 422:
                wrong.append((value, r.status, r.body[:200]))
                continue
            assert_422_field(r, field, what)
    assert not wrong, f"{op.id} {field}: expected 422 for each, got {wrong}"
    if field in {p["name"] for p in op.query_params}:
        # the route also reads its fields from the query (DECISIONS C2): valid in one place,
        # wrong in the other, and both at once
        for value in _wrong_values(types, required)[:6]:
            body = base_body(op, w.a)
            q = {k: v for k, v in body.items() if isinstance(v, str)}
            body[field] = value
            for query, b in ((q, body), ({field: "x"}, {field: value}),
                             ({field: "%ff"}, base_body(op, w.a))):
                r = send(w, op, body=b, query=query)
                shaped_error(r, f"{op.id} query {query!r} body {field}={value!r}")
    r = send(w, op, body={field: None, "extra": [1, {"x": None}]})
    shaped_error(r, f"{op.id} only {field}=null")


ODD_DOCUMENTS = [b"", b" ", b"not json", b"{", b'{"a":', b'{"a":1,}', b"{'a': 1}", b'{"a":1} x',
                 b"\x00", b"[]", b"[1, 2]", b'"text"', b"null", b"1", b"true", b"-0.5",
                 b'{"x":' + b"[" * 5000 + b"]" * 5000 + b"}", b'{"x":' + b'{"a":' * 3000 + b"1"
                 + b"}" * 3000 + b"}", b"[" * 60000, b'{"x":' + b"1" * 5000 + b"}",
                 b'{"x":1e999999999}', b'{"\\u0000":1}', b'{"":1}', b"\xef\xbb\xbf{}",
                 b"\xfe\xff\x00{\x00}", b'{"x":NaN}', b'{"x":-Infinity}',
                 b'{"a":1,"a":2,"a":{"b":[]}}', b"{" + b'"k":1,' * 8000 + b'"z":0}',
                 b'{"x":"' + b"\\u00e9" * 8000 + b'"}', b"\t\r\n{}\n "]

# the byte offset of droplin's decode error for each of ODD_DOCUMENTS that is no JSON text
DECODE_ERROR_AT = {b" ": "1", b"not json": "0", b"{": "1", b'{"a":': "5", b'{"a":1,}': "7",
                   b"{'a': 1}": "1", b'{"a":1} x': "8", b"\x00": "0",
                   ODD_DOCUMENTS[16]: "260", ODD_DOCUMENTS[17]: "1280", b"[" * 60000: "256",
                   b"\xef\xbb\xbf{}": "0", b"\xfe\xff\x00{\x00}": "0", b'{"x":NaN}': "5",
                   b'{"x":-Infinity}': "5"}


@pytest.mark.parametrize("op", [o for o in JSON_OPS if o.path not in USERDATA_SWEPT],
                         ids=lambda o: o.id)
def test_odd_json_documents(world, op):
    """Not JSON, JSON that is no object, deep, wide, duplicate keys, odd encodings: a 422 in the
    original's shape (or the route's own 400), never a 500 (the user-data bodies: see
    test_userdata_input.py)."""
    w = world
    empty = send(w, op, raw=b"{}")
    for raw in ODD_DOCUMENTS:
        r = send(w, op, raw=raw)
        what = f"{op.id} {raw[:30]!r}"
        shaped_error(r, what)
        if raw in DECODE_ERROR_AT:  # no JSON text: the decode error where droplin stopped
            assert r.status == 422 and r.json()["details"] == [
                {"field": DECODE_ERROR_AT[raw], "message": "JSON decode error"}], f"{what}: {r!r}"
        elif raw == b"" and op.body_required:  # no body where one is required
            assert r.status == 422 and r.json()["details"] == [
                {"field": "", "message": "Field required"}], f"{what}: {r!r}"
        elif raw.strip(b" \t\r\n")[:1] in (b"{", b""):  # an object (or no optional body): as {}
            assert (r.status, r.body) == (empty.status, empty.body), f"{what}: {r!r} vs {empty!r}"
        else:  # JSON that is no object: the body itself is wrong
            assert_422_field(r, "", what)
    # the same documents merged into a valid body as an unknown key's value
    for raw in ODD_DOCUMENTS[9:]:
        if raw.startswith(b"{"):
            continue
        body = json.dumps(base_body(op, w.a)).encode()
        r = send(w, op, raw=body[:-1] + b', "zz": ' + raw + b"}")
        shaped_error(r, f"{op.id} zz={raw[:30]!r}")


STRING_CASES = [(o, name) for o in JSON_OPS for name, types in o.fields() if "string" in types]
BAD_UTF8 = [b"\xff", b"\xc3", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
            b"\xf8\x88\x80\x80\x80", b"\x80", b"\xe2\x82"]


def _with_raw_value(op, w, field, raw_value):
    body = base_body(op, w.a)
    body[field] = "@@VALUE@@"
    return json.dumps(body).encode().replace(b'"@@VALUE@@"', raw_value)


@pytest.mark.parametrize("op,field", STRING_CASES, ids=[f"{o.id} {n}" for o, n in STRING_CASES])
def test_strings_long_invalid_utf8_and_nul(world, op, field):
    w = world
    what = f"{op.id} {field}"
    # invalid UTF-8 and overlong encodings: not JSON text (RFC 8259 8.1)
    if op.path not in USERDATA_SWEPT:
        for bad in BAD_UTF8:
            r = send(w, op, raw=_with_raw_value(op, w, field, b'"a' + bad + b'b"'))
            shaped_error(r, f"{what} {bad!r}")
            assert r.status == 422 and r.json()["details"][0]["message"] == "JSON decode error", \
                f"{what} {bad!r}: {r!r}"
    # NULs, escaped and raw, and escaped lone surrogates
    for raw in (b'"a\\u0000b"', b'"\\u0000"', b'"a\x00b"', b'"\\ud800"', b'"x\\udfffy"',
                b'"\\u00"', b'"\\uZZZZ"'):
        r = send(w, op, raw=_with_raw_value(op, w, field, raw))
        shaped_error(r, f"{what} {raw!r}")
    # long strings under the body limit: ASCII, 2-, 3- and 4-byte characters
    for value in ("a" * 60_000, "é" * 30_000, "€" * 20_000, "😀" * 15_000, " " * 60_000,
                  "\\" * 30_000):
        body = base_body(op, w.a)
        body[field] = value
        r = send(w, op, body=body)
        shaped_error(r, f"{what} {len(value)} x {value[0]!r}")


STRUCT_CASES = [(o, name) for o in JSON_OPS for name, types in o.fields()
                if types & {"array", "object", "any"}]
DEEP_VALUES = [b"[" * 20000 + b"]" * 20000, b'[{"a":' * 2000 + b"1" + b"}]" * 2000,
               b"[" + b"{}," * 15000 + b"{}]", b"[" + b"1e999," * 5000 + b"0]",
               b'[{"' + b'":1,"'.join(b"k%d" % i for i in range(5000)) + b'":1}]',
               b'[{"platform":"' + b"\\ud83d\\ude00" * 4000 + b'"}]',
               b'[{"platform":"\\ud800"}]', b'[{"a":"\\u0000"}]', b"[-0, 1e-400, 1E400]",
               b'[{"a":1,"a":2}]', b"[" * 32 + b"1" + b"]" * 32,
               b'{"p":[' * 1000 + b"]}" * 1000]


@pytest.mark.parametrize("op,field", STRUCT_CASES, ids=[f"{o.id} {n}" for o, n in STRUCT_CASES])
def test_deep_and_wide_structures(world, op, field):
    """Array and object fields (socialMedia, context) 20,000 deep, 15,000 wide, 5,000 keys,
    escapes and odd numbers: refused or stored, and whatever is stored reads back as valid JSON
    on every GET that shows it."""
    w = world
    for raw in DEEP_VALUES:
        r = send(w, op, raw=_with_raw_value(op, w, field, raw))
        shaped_error(r, f"{op.id} {field}={raw[:30]!r}")
        for path in ("/devices", "/user/profile"):
            g = w.client.request("GET", path, token=w.a.token)
            assert g.status == 200, f"{path}: {g!r}"
            strict_json(g)  # UTF-8, RFC 8259: no NaN or Infinity, no lone surrogates


NUMERIC_CASES = [(o, name) for o in JSON_OPS for name, types in o.fields()
                 if types & {"integer", "number"}]
HUGE = [b"1e309", b"-1e309", b"18446744073709551616", b"-18446744073709551616",
        b"9223372036854775808", b"-9223372036854775809", b"2147483648", b"-2147483649",
        b"-0", b"-0.0", b"0e0", b"1e-400", b"-1e-400", b"4.9e-324", b"1.7976931348623157e308",
        b"123456789012345678901234567890.5", b"1" * 400, b"1E+2", b"1.0000000000000002",
        b"0.1e1", b"1e2147483648", b"1e-2147483649"]


@pytest.mark.parametrize("op,field", NUMERIC_CASES, ids=[f"{o.id} {n}" for o, n in NUMERIC_CASES])
def test_huge_and_odd_numbers(world, op, field):
    w = world
    for num in HUGE:
        r = send(w, op, raw=_with_raw_value(op, w, field, num))
        shaped_error(r, f"{op.id} {field}={num.decode()[:40]}")
    # what was stored is finite and readable
    if op.path in ("/devices", "/user/privacy-zones", "/user/settings"):
        r = w.client.request("GET", op.path, token=w.a.token)
        assert r.status == 200, r
        text = r.body.decode()
        assert "Infinity" not in text and "NaN" not in text, r


# --------------------------------------------------------------------------------------------
# ids in the path and values in the query

BAD_IDS = ["-1", "0", "-0", "2147483648", "-2147483649", "99999999999999999999",
           "9223372036854775808", "abc", "1.5", "1e3", "0x10", "+1", "%2B1", "%201", "1%20",
           "%00", "1%00", "%ff", "%c0%af", "%e2%80%ae1", "..", "%2e%2e", "..%2f..%2fuser%2fdelete",
           "1;DROP%20TABLE%20users", "'1'", "1'--", "%27", "\u0661".encode().decode("latin-1"),
           "1" * 5000, "null", "true", "[1]", "{}", "NaN", "Infinity"]


@pytest.mark.parametrize("op", PARAM_OPS, ids=lambda o: o.id)
def test_bad_ids_in_the_path(world, op):
    w = world
    [param] = op.path_params
    for value in BAD_IDS:
        path = concrete(op.path, value)
        r = send(w, op, path=path)
        what = f"{op.method} {path[:80]}"
        shaped_error(r, what)
        if re.fullmatch(r"[+-]?\d{1,12}", value) and -2 ** 31 <= int(value) < 2 ** 31:
            if op.method == "DELETE" and "pinned" in op.path or op.method == "POST":
                assert r.status == 200, f"{what}: {r!r}"  # pins: not checked, as the original
            else:  # ORIGINAL_API 3.3/3.4: 404 not found, 403 another user's (B's ids are low)
                table = "devices" if op.path.startswith("/devices/") else "privacy_zones"
                owner = harness.db_query(db_of(w.srv), f"SELECT user_id FROM {table} "
                                                       f"WHERE id = %s", (int(value),))
                assert owner != [(w.a.id,)], f"{what}: one of A's own ids"
                assert r.status == (403 if owner else 404), f"{what}: {r!r} (owner {owner})"
        elif not value.isascii():
            assert r.status == 400, f"{what}: {r!r}"  # a raw non-ASCII request target
        else:  # "..", "%2f" and 100 digits too: one path segment that is no integer
            assert_422_field(r, param, what)
        if op.method == "GET":  # HEAD: the same status and headers, no body
            h = w.client.request("HEAD", path, token=w.a.token)
            assert h.status == r.status and h.body == b"", f"HEAD {path[:80]}: {h!r} vs {r!r}"
            assert h.headers.get("Content-Length") == r.headers.get("Content-Length"), \
                f"HEAD {path[:80]}: {h!r} vs {r!r}"
    # path-traversal that the router sees as segments: never another route
    prefix = op.path.split("{")[0]
    for path in (prefix + "../user/delete", prefix + "1/../../user/delete", prefix + "./1",
                 prefix + "1/", prefix + "/1", prefix + "1//"):
        r = send(w, op, path=path)
        shaped_error(r, f"{op.method} {path}")
        # the router's answer, as Starlette's: one trailing slash is redirected to the path
        # without it (307); nothing else is normalised, so no other of these is a route (404)
        if path == prefix + "1/":
            assert (r.status, r.headers.get("Location")) == (307, prefix + "1"), \
                f"{op.method} {path}: {r!r}"
        else:
            assert r.status == 404 and r.json() == {"detail": "Not Found"}, \
                f"{op.method} {path}: {r!r}"


BAD_QUERY = ["", " ", "-1", "0", "-0", "2147483647", "-2147483648", "2147483648", "-2147483649",
             "1000000", "99999999999999999999", "9223372036854775807", "-9223372036854775808",
             "abc", "1.5", "1e3", "%00", "a%00b", "%ff", "%c0%af", "%ed%a0%80", "%", "%2", "%zz",
             "a+b", "%2B", "'", "\\", "x" * 5000, "😀", "1&1=1", "[]", "null"]


@pytest.mark.parametrize("op,param", [(o, p["name"]) for o in QUERY_OPS for p in o.query_params],
                         ids=[f"{o.id} {p['name']}" for o in QUERY_OPS for p in o.query_params])
def test_bad_query_values(world, op, param):
    w = world
    ptype = _types(next(p for p in op.query_params if p["name"] == param).get("schema", {}))
    for value in BAD_QUERY:
        # already percent-encoded where it starts with %; else encode it
        enc = value if "%" in value else urllib.parse.quote(value, safe="")
        path = concrete(op.path) + f"?{param}={enc}"
        body = base_body(op, w.a) if op.json_schema and not op.body_required else None
        r = send(w, op, path=path, body=body)
        what = f"{op.method} {path[:90]}"
        shaped_error(r, what)
        if "integer" in ptype and not re.fullmatch(r"-?\d+", value) and \
                value not in ("%00", "a%00b", "%ff", "%c0%af", "%ed%a0%80", "%", "%2", "%zz"):
            assert_422_field(r, param, what)
    # the same parameter twice, and with no '='
    for q in (f"{param}=1&{param}=abc", f"{param}", f"{param}=&{param}", f"{param}[]=1"):
        r = send(w, op, path=concrete(op.path) + "?" + q)
        shaped_error(r, f"{op.id} ?{q}")
    # a query that makes the head too long (DECISIONS S8: 431)
    r = send(w, op, path=concrete(op.path) + f"?{param}=" + "x" * 20_000)
    assert r.status == 431, f"{op.id} 20 KB query: {r!r}"


# --------------------------------------------------------------------------------------------
# token claims of every wrong type (signed with the real key: the JSON inside is still input)

HEADER = {"alg": "HS256", "typ": "JWT"}


def _claim_cases(w):
    a, b = w.a, w.b
    big = [2 ** 31, -2 ** 31 - 1, 2 ** 32 + b.id, b.id - 2 ** 32, 2 ** 63, 2 ** 64 + b.id,
           -b.id, 0]
    cases = []
    for value in big + [str(a.id), float(a.id) + 0.5, True, None, [], [a.id], {}, "x", ""]:
        cases.append(("user_id", value))
    for claim in ("exp", "iat", "last_activity", "key_version", "remember_me", "username"):
        for value in ["x", "", None, [], {}, True, -1, 1e308, -1e308, 2 ** 64, [1], {"a": 1}]:
            cases.append((claim, value))
    return cases


def _raw_claims_token(payload_text):
    import base64
    import hashlib
    import hmac

    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    signing = b64(json.dumps(HEADER).encode()) + "." + b64(payload_text.encode())
    sig = hmac.new(JWT_SECRET.encode(), signing.encode(), hashlib.sha256).digest()
    return signing + "." + b64(sig)


def _token_answer(name):
    """The one answer to a token of test_token_claims_of_every_wrong_type: "A" (A's own answer:
    a claim droplin does not depend on, read laxly or not at all, as the original's PyJWT
    did) or the 401 detail. user_id must be an integer of users.id's range; exp a number (in
    the past: expired); iat, when it is a number, not in the future; key_version the current
    one; the payload one JSON object whose keys hold no NUL."""
    claim, _, value = name.partition("=")
    if claim in ("last_activity", "remember_me", "username") or name in ("B then A", "1e999 exp"):
        return "A"
    if claim == "exp":
        if value in ("-1", "-1e+308"):
            return "Token has expired"
        return "A" if value in ("1e+308", str(2 ** 64)) else "Invalid token"
    if claim == "iat":  # read only when it is a number; a time after now is refused
        return "Invalid token" if value in ("1e+308", str(2 ** 64)) else "A"
    if name == "key_version=-1":  # a whole number, but not a version of the current keys
        return "Token has been invalidated. Please log in again."
    return "Invalid token"


TOKEN_ROUTES = [o for o in OPS if o.bearer and o.method == "GET"] + \
    [o for o in OPS if o.path == "/auth/refresh"]


@pytest.mark.parametrize("op", TOKEN_ROUTES, ids=lambda o: o.id)
def test_token_claims_of_every_wrong_type(world, op):
    """A claim of the wrong type, out of range or naming B by wrap-around is a 401 (or, for a
    claim that is only read laxly, A's own answer); never a 500 and never B's data."""
    w = world
    tokens = []
    for claim, value in _claim_cases(w):
        payload = claims(w.a.id, w.a.username)
        payload[claim] = value
        tokens.append((f"{claim}={value!r}", raw_token(HEADER, payload, secret=JWT_SECRET),
                       claim == "user_id"))
    base = claims(w.a.id, w.a.username)
    text = json.dumps(base)
    for name, payload_text in [
        ("NaN exp", text.replace('"exp": %d' % base["exp"], '"exp": NaN')),
        ("Infinity exp", text.replace('"exp": %d' % base["exp"], '"exp": Infinity')),
        ("1e999 exp", text.replace('"exp": %d' % base["exp"], '"exp": 1e999')),
        ("B then A", '{"user_id": %d, ' % w.b.id + text[1:]),
        ("A then B", text[:-1] + ', "user_id": %d}' % w.b.id),
        ("user_id 1e400", text.replace('"user_id": %d' % w.a.id, '"user_id": 1e400')),
        ("user_id -0", text.replace('"user_id": %d' % w.a.id, '"user_id": -0')),
        ("user_id 2.0e0", text.replace('"user_id": %d' % w.a.id, '"user_id": %d.0e0' % w.b.id)),
        ("user_id 00b", text.replace('"user_id": %d' % w.a.id, '"user_id": 00%d' % w.b.id)),
        ("array", "[" + text + "]"),
        ("not JSON", text[:-1]),
        ("NUL key", text[:-1] + ', "user_id\u0000": %d}' % w.b.id),
    ]:
        tokens.append((name, _raw_claims_token(payload_text), True))
    tokens.append(("15 KB", "a" * 5000 + "." + "b" * 5000 + "." + "c" * 5000, True))
    path = concrete(op.path, str(w.b_devices[0]))
    for name, token, names_b in tokens:  # names_b: the user_id claim was changed
        r = w.client.request(op.method, path, token=token, headers=headers_for(op))
        what = f"{op.id} token {name}"
        shaped_error(r, what)
        if name == "user_id 2.0e0":
            # user_id is an int claim (ORIGINAL_API 5); 2.0e0 is a float, refused like every
            # other claim of the wrong type, never read as B's id 2
            assert_detail(r, 401, "Invalid token")
            continue
        if name == "A then B":
            # of duplicate keys the last counts, as in Python's json (PyJWT): the token names B
            # and is signed with droplin's key, so it is B's token: B's own answer
            own = w.client.request(op.method, path, token=w.b.token, headers=headers_for(op))
            assert r.status == own.status == 200, f"{what}: {r!r} (B's own token: {own!r})"
            if op.path == "/auth/refresh":
                assert jwt_user(r.json()["token"]) == w.b.id, f"{what}: {r!r}"
            else:
                assert r.json() == own.json(), f"{what}: {r!r} (B's own token: {own!r})"
            continue
        # everything else is A's answer or a 401, each its one (_token_answer): out of range
        # ids never wrap around to B, and of duplicate keys the last one counts, as in the
        # original
        _no_b_secrets(w, r, what)
        if names_b and r.status == 200 and op.path == "/auth/refresh":
            assert jwt_user(r.json()["token"]) == w.a.id, f"{what}: {r!r}"
        want = _token_answer(name)
        if want == "A":  # A's own answer, status and body
            own = w.client.request(op.method, path, token=w.a.token, headers=headers_for(op))
            assert r.status == own.status, f"{what}: {r!r}, A's own token: {own!r}"
            assert op.path == "/auth/refresh" or r.body == own.body, f"{what}: {r!r} vs {own!r}"
        else:
            assert_detail(r, 401, want)


def _tampered(token):
    sig_at = token.rindex(".") + 1
    flip = {"A": "B", "B": "A"}
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # the last of 43 characters carries 4 bits of the HMAC and 2 unused ones: flip a used one
    last = alphabet[alphabet.index(token[-1]) ^ 0b100000]
    out = {"last char": token[:-1] + last,
           "first sig char": token[:sig_at] + ("A" if token[sig_at] != "A" else "B")
           + token[sig_at + 1:],
           "payload char": token[:40] + flip.get(token[40], "A") + token[41:],
           "one char short": token[:-1], "one char more": token + "A",
           "doubled": token + token}
    return out


def test_tokens_around_the_cache_size_and_tampered_cached_tokens(world):
    """A verified token may be remembered (tokens up to a few hundred bytes): a token that
    differs from a remembered one in any single character, or by length, is checked afresh
    and refused, at every length around the cache's limit."""
    w = world
    seen = set()
    for pad in range(0, 700, 7):
        token = raw_token(HEADER, claims(w.a.id, "x" * pad), secret=JWT_SECRET)
        if len(token) in seen:
            continue
        seen.add(len(token))
        for _ in range(2):  # the second one may come from the cache
            r = w.client.request("GET", "/user/settings", token=token)
            assert r.status == 200, f"{len(token)}-byte token: {r!r}"
        for name, bad in _tampered(token).items():
            r = w.client.request("GET", "/user/settings", token=bad)
            assert r.status == 401, f"{len(token)}-byte token, {name}: {r!r}"
            shaped_error(r, name)


def jwt_user(token):
    import base64
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))["user_id"]


# --------------------------------------------------------------------------------------------
# user A on user B's ids


def _no_b_secrets(w, r, what):
    text = r.body.decode("utf-8", "replace")
    for secret in ("b-secret", w.b.username, w.b.email, w.b_phone):
        assert secret not in text, f"{what}: B's {secret!r} in {r!r}"


def cross_cases(w):
    b, bd, bz = w.b, w.b_devices, w.b_zones
    return [
        ("GET", f"/devices/{bd[0]}", None, None, (403, 404)),
        ("GET", f"/devices/{bd[1]}", None, None, (403, 404)),
        ("DELETE", f"/devices/{bd[0]}", None, None, (403, 404)),
        ("DELETE", f"/user/privacy-zones/{bz[0]}", None, None, (403, 404)),
        ("DELETE", f"/user/pinned/{bd[0]}", None, None, (200,)),
        ("POST", f"/user/pinned/{bd[1]}", None, None, (200,)),
        ("POST", "/devices", dict(device("a-restored"), id=bd[0]), None, (200,)),
        ("POST", "/devices", dict(device("a-restored"), id=bd[1], user_id=b.id), None, (200,)),
        ("POST", "/user/profile", {"email": b.email}, None, (400,)),
        ("POST", "/user/profile", {"email": " " + b.email.upper() + " "}, None, (400, 422)),
        ("POST", "/user/profile", {"phone": w.b_phone}, None, (400,)),
        ("POST", "/user/profile", {"phone": "(%s) %s-%s" % (w.b_phone[:3], w.b_phone[3:6],
                                                           w.b_phone[6:])}, None, (400,)),
        ("POST", "/auth/register", {"username": b.username.upper(), "password": PASSWORD},
         None, (400,)),
        ("POST", "/auth/register", {"username": "n" + uuid.uuid4().hex[:10],
                                    "password": PASSWORD, "email": b.email.upper()}, None, (400,)),
        ("POST", "/auth/change-username", None, {"new_username": " " + b.username}, (400,)),
        ("POST", "/auth/check-username", {"username": b.username}, None, (200,)),
        ("POST", "/user/profile", {"name": "a", "user_id": b.id}, None, (200,)),
        ("POST", "/user/settings", {"darkMode": False, "maxDistance": 5, "user_id": b.id},
         {"user_id": b.id}, (200,)),
        ("POST", "/user/privacy-zones", {"address": "a", "radius": 1, "user_id": b.id,
                                         "id": bz[0]}, None, (200,)),
        ("GET", "/devices", None, {"user_id": b.id}, (200,)),
        ("GET", "/user/profile", None, {"user_id": b.id, "token": b.token}, (200,)),
        ("GET", "/user/profile/photo", None, {"user_id": b.id}, (404,)),
        ("DELETE", "/user/profile/photo", None, {"user_id": b.id}, (200,)),  # always 200
        ("GET", "/user/pinned", None, {"user_id": b.id}, (200,)),
        ("GET", "/user/privacy-zones", None, {"user_id": b.id}, (200,)),
        ("POST", "/api/diagnostics/run", {"diagnostic_type": "profile_save",
                                          "context": {"user_id": b.id}}, {"user_id": b.id},
         (200,)),
        ("POST", "/api/diagnostics/run?diagnostic_type=database", {"user_id": b.id}, None,
         (200,)),
        ("POST", "/auth/change-username", None, {"new_username": b.username}, (400,)),
        ("POST", "/auth/change-username", {"new_username": b.username.upper()}, None, (400,)),
        ("POST", "/auth/unlock-account", {"username": b.username}, None, (403,)),
        ("GET", "/admin/audit-logs", None, {"user_id": b.id}, (403,)),
        ("GET", "/admin/stats", None, None, (403,)),
        ("DELETE", "/admin/clear-all-data", None, None, (403,)),
        ("POST", "/admin/cleanup-audit-logs", None, {"days": 1}, (403,)),
        ("POST", "/auth/reset-password", {"email": b.email, "code": "000000",
                                          "new_password": "Rainy-Night8?"}, None, (400,)),
        ("POST", "/auth/verify-recovery-code", {"email": b.email, "code": "000000",
                                                "type": "username"}, None, (400,)),
    ]


def test_user_a_on_user_bs_ids(world):
    w = world
    a_before = snapshot(w, w.a)
    for method, path, body, query, expect in cross_cases(w):
        r = w.client.request(method, path, body=body, token=w.a.token, query=query)
        what = f"{method} {path} {body!r} {query!r}"
        shaped_error(r, what)
        assert r.status in expect, f"{what}: expected {expect}, got {r!r}"
        _no_b_secrets(w, r, what)
    # A's own data never names B's rows either
    for path in ("/devices", "/user/profile", "/user/settings", "/user/privacy-zones",
                 "/user/pinned"):
        r = w.client.request("GET", path, token=w.a.token)
        assert r.status == 200, r
        _no_b_secrets(w, r, path)
    assert snapshot(w, w.a) != a_before  # the cases did reach A's rows


def test_answers_never_cross_between_concurrent_users(world):
    """Two users of their own (C and D) send good and bad requests at once, pipelined five at
    a time on kept-alive connections, from six threads: every answer is the sender's own data
    or the expected error, never the other user's (the reads share the event loop and the
    database pool)."""
    import threading
    w = world
    users_ = {}
    for mark in ("cmark", "dmark"):
        u = signup(w.api, mark[0])
        dev = u.ok("POST", "/devices", device(mark + "-dev"))["id"]
        u.ok("POST", "/user/privacy-zones", {"address": mark + "-zone", "radius": 5})
        u.ok("POST", "/user/profile", {"name": mark + "-name"})
        users_[mark] = (u, dev)
    errors = []

    def run(mark, other):
        u, dev = users_[mark]
        _, other_dev = users_[other]
        reqs = [("GET", "/devices", u.token, 200), ("GET", f"/devices/{dev}", u.token, 200),
                ("GET", "/user/profile", u.token, 200),
                ("GET", "/user/privacy-zones", u.token, 200),
                ("GET", f"/devices/{other_dev}", u.token, 403),
                ("GET", "/devices/abc", u.token, 422),
                ("GET", "/user/settings", "x.y.z", 401), ("GET", "/user/profile", None, 401)]
        try:
            with _fresh_conn(w) as c:
                for i in range(12):
                    batch = [reqs[(i + k) % len(reqs)] for k in range(5)]
                    data = b""
                    for method, path, tok, _ in batch:
                        hdrs = [("Host", "x")]
                        if tok:
                            hdrs.append(("Authorization", "Bearer " + tok))
                        data += harness.build_request(method, path, hdrs)
                    c.send(data)
                    for method, path, tok, want in batch:
                        r = c.read_response(timeout=15)
                        if r.status != want or other.encode() in r.body or \
                                (want == 200 and mark.encode() not in r.body):
                            errors.append((mark, path, want, r.status, r.body[:200]))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append((mark, repr(e)))

    threads = [threading.Thread(target=run, args=(m, o)) for m, o in
               [("cmark", "dmark"), ("dmark", "cmark")] * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not [t for t in threads if t.is_alive()], "a thread is stuck"
    assert not errors, errors[:5]


def test_pipelined_mix_of_good_and_bad_is_answered_in_order(world):
    """200 requests in one write, good and bad, answered inline, on the event loop or by a
    worker: 200 answers in the order sent (the echoed request ids say which is which)."""
    w = world
    kinds = [("GET", "/livez", None, None, 200),
             ("GET", "/devices", w.a.token, None, 200),
             ("GET", "/devices/abc", w.a.token, None, 422),
             ("GET", f"/devices/{w.b_devices[0]}", w.a.token, None, 403),
             ("POST", "/auth/check-password-strength", None, b'{"password":"x"}', 200),
             ("POST", "/auth/check-username", None, b'{"username":[]}', 422),
             ("POST", "/auth/check-username", None, b'{"username":"free_one"}', 200),
             ("PUT", "/devices", w.a.token, b"{}", 405),
             ("GET", "/user/settings", "x.y.z", None, 401),
             ("POST", "/user/settings", w.a.token, b'{"maxDistance":"far"}', 422),
             ("GET", "/nope", None, None, 404),
             ("GET", "/user/profile", w.a.token, None, 200)]
    data, want = b"", []
    for i in range(200):
        method, path, tok, body, status = kinds[(i * 7) % len(kinds)]
        rid = f"sweep-{i:06d}"
        hdrs = [("Host", "x"), ("X-Request-ID", rid)]
        if tok:
            hdrs.append(("Authorization", "Bearer " + tok))
        if body is not None:
            hdrs += [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        data += harness.build_request(method, path, hdrs, body or b"")
        want.append((rid, status, f"{method} {path}"))
    with _fresh_conn(w) as c:
        c.send(data)
        for rid, status, what in want:
            r = c.read_response(timeout=20)
            assert (r.headers.get("X-Request-ID"), r.status) == (rid, status), \
                f"{rid} {what}: {r!r}"
            shaped_error(r, what)


def test_throwaway_users_on_user_bs_ids(world):
    """The routes that end or rename the caller, with B's names in them, by a user of its own."""
    w = world
    c = signup(w.api, "sc")
    for method, path, body, query, expect in [
        ("POST", "/auth/change-password", {"current_password": PASSWORD,
                                           "new_password": "Rainy-Night8?",
                                           "username": w.b.username, "user_id": w.b.id},
         None, (200,)),
    ]:
        r = w.client.request(method, path, body=body, token=c.token, query=query)
        shaped_error(r, path)
        assert r.status in expect, f"{path}: {r!r}"
    d = signup(w.api, "sd")
    r = w.client.request("DELETE", "/user/delete", body={"user_id": w.b.id}, token=d.token,
                         query={"user_id": w.b.id})
    assert r.status == 200, r
    assert harness.db_query(db_of(w.srv), "SELECT count(*) FROM users WHERE id = %s",
                            (w.b.id,))[0][0] == 1


def test_the_sweep_knows_every_route():
    """Every documented JSON body has a valid base (hand-written or from its schema), and the
    ids used above still name B's rows."""
    assert len(OPS) >= 50 and len(PATHS) >= 42
    assert set(BASE) <= {o.path for o in JSON_OPS}, "a base body for a route that is gone"
    for op in JSON_OPS:
        body = base_body(op)
        fields = {n for n, _ in op.fields()}
        assert isinstance(body, dict) and (not fields or set(body) <= fields), op
