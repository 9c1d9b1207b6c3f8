"""Helpers and fixtures for the user-data black-box tests (tests/blackbox/test_userdata_*.py and
tests/blackbox/test_app_replay.py): devices, profile, settings, privacy zones, pins, account
deletion, log-api-call and diagnostics (ORIGINAL_API §3.3-§3.5, DECISIONS C2, C6, F, S7, P).

Built on auth_helpers (FAST_ENV, Api, assert_422, ...). Test modules import the fixture they use:
    from userdata_helpers import server  # noqa: F401  (pytest fixture)
"""

import datetime
import json
import re
import urllib.parse
import uuid

import pytest

import harness
from auth_helpers import Api, body_of, db_of, start

# The keys of every device in a response (ORIGINAL_API §3.3 DeviceResponse).
DEVICE_KEYS = {"id", "name", "rssi", "distanceFeet", "action", "timestamp", "phoneNumber",
               "email", "bio", "socialMedia"}
# GET /user/profile (ORIGINAL_API §3.4 plus profile_photo, DECISIONS C2).
PROFILE_KEYS = {"username", "email", "name", "phone", "profilePhoto", "profile_photo",
                "hasCompletedOnboarding", "createdAt", "bio", "socialMedia"}
CREATED_AT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?$")
NAIVE_UTC_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}$")
ISO_T_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z?$")

# The routes of the user-data issue that need a bearer token: (method, path, JSON body or None).
PROTECTED = [
    ("POST", "/devices", {"name": "Phone", "rssi": -50, "distance": 3.5}),
    ("GET", "/devices", None),
    ("GET", "/devices/1", None),
    ("DELETE", "/devices/1", None),
    ("GET", "/user/profile", None),
    ("POST", "/user/profile", {"name": "Alice"}),
    ("DELETE", "/user/delete", None),
    ("GET", "/user/settings", None),
    ("POST", "/user/settings", {"darkMode": True, "maxDistance": 33}),
    ("GET", "/user/privacy-zones", None),
    ("POST", "/user/privacy-zones", {"address": "1 Main St", "radius": 100}),
    ("DELETE", "/user/privacy-zones/1", None),
    ("GET", "/user/pinned", None),
    ("POST", "/user/pinned/1", None),
    ("DELETE", "/user/pinned/1", None),
    ("POST", "/api/diagnostics/run?diagnostic_type=database", {}),
]

# A longer acquire timeout than the harness default, so parallel tests on a busy 2-core machine
# wait for a pooled connection instead of getting 503s.
SERVER_ENV = {"DB_ACQUIRE_TIMEOUT_MS": "10000"}


@pytest.fixture(scope="module")
def server(module_droplin):
    """One droplin (FAST_ENV, development, no SendGrid key) and its own database per module;
    tests keep apart by signing up users of their own."""
    return start(module_droplin, **SERVER_ENV)


# --------------------------------------------------------------------------------------------
# HTTP


class UserApi(Api):
    """auth_helpers.Api plus GET/DELETE and any method with a token or raw body."""

    def call(self, method, path, body=None, token=None, raw=None, query=None, headers=None,
             timeout=10.0, auth=None):
        hdrs = {}
        if self.user_agent is not None:
            hdrs["User-Agent"] = self.user_agent
        data = b""
        if raw is not None:
            data = raw if isinstance(raw, bytes) else raw.encode("utf-8")
            hdrs["Content-Type"] = "application/json"
        elif body is not None:
            data = json.dumps(body).encode("utf-8")
            hdrs["Content-Type"] = "application/json"
        if data or method in ("POST", "PUT", "PATCH"):
            hdrs["Content-Length"] = str(len(data))
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        if auth is not None:
            hdrs["Authorization"] = auth
        hdrs.update(headers or {})
        if query:
            path += ("&" if "?" in path else "?") + urllib.parse.urlencode(query)
        return harness.http_request(self.d.port, method, path, headers=hdrs, body=data,
                                    timeout=timeout)

    def get(self, path, token=None, **kw):
        return self.call("GET", path, token=token, **kw)

    def delete(self, path, token=None, **kw):
        return self.call("DELETE", path, token=token, **kw)


def new_username(prefix="u"):
    """A fresh valid username (3-20 characters of [a-z0-9_])."""
    return (prefix + uuid.uuid4().hex)[:16]


class User:
    """A registered user: its id, name, e-mail and a token, with shortcuts for its requests."""

    def __init__(self, api, user_id, username, email, token):
        self.api = api
        self.id = user_id
        self.username = username
        self.email = email
        self.token = token

    def call(self, method, path, body=None, **kw):
        return self.api.call(method, path, body=body, token=self.token, **kw)

    def get(self, path, **kw):
        return self.api.call("GET", path, token=self.token, **kw)

    def post(self, path, body=None, **kw):
        return self.api.call("POST", path, body=body, token=self.token, **kw)

    def delete(self, path, **kw):
        return self.api.call("DELETE", path, token=self.token, **kw)

    def ok(self, method, path, body=None, **kw):
        """The request must answer 200; returns the parsed body."""
        r = self.call(method, path, body, **kw)
        assert r.status == 200, f"{method} {path} {body!r}: {r!r}"
        return body_of(r)

    def __repr__(self):
        return f"<User {self.id} {self.username}>"


def signup(api, prefix="u", email=True):
    """Register a new user (with an e-mail unless email=False) and return it."""
    if not isinstance(api, UserApi):
        api = UserApi(api.d, api.user_agent)
    name = new_username(prefix)
    mail = f"{name}@example.com" if email is True else (email or None)
    got = api.register(name, email=mail)
    return User(api, got["user_id"], name, mail, got["token"])


def users(server, n=1, **kw):
    api = UserApi(server)
    out = [signup(api, **kw) for _ in range(n)]
    return out[0] if n == 1 else out


# --------------------------------------------------------------------------------------------
# devices


def device(name="Phone", rssi=-50, distance=3.5, **extra):
    body = {"name": name, "rssi": rssi, "distance": distance}
    body.update(extra)
    return body


def assert_device(d, **expected):
    """d is a DeviceResponse with exactly the original's keys and typed values."""
    assert set(d) == DEVICE_KEYS, d
    assert isinstance(d["id"], int) and not isinstance(d["id"], bool), d
    assert isinstance(d["rssi"], int) and not isinstance(d["rssi"], bool), d
    assert isinstance(d["distanceFeet"], float), d
    for k in ("action", "timestamp", "phoneNumber", "email", "bio"):
        assert d[k] is None or isinstance(d[k], str), d
    assert d["socialMedia"] is None or isinstance(d["socialMedia"], list), d
    for k, v in expected.items():
        assert d[k] == v, f"{k}: expected {v!r}, got {d[k]!r} in {d!r}"
    return d


def device_rows(srv, user_id):
    rows = harness.db_query(db_of(srv), "SELECT id, name, rssi, distance_feet, action, timestamp, "
                            "phone_number, email, bio, social_media, user_id FROM devices "
                            "WHERE user_id = %s ORDER BY id", (user_id,))
    keys = ("id", "name", "rssi", "distance_feet", "action", "timestamp", "phone_number",
            "email", "bio", "social_media", "user_id")
    return [dict(zip(keys, r)) for r in rows]


# --------------------------------------------------------------------------------------------
# database


def db(srv, sql, args=None):
    return harness.db_query(db_of(srv), sql, args)


def audit_of(srv, user_id, action=None):
    """audit_logs rows of one user (and action), oldest first, as dicts."""
    sql = "SELECT id, user_id, action, details FROM audit_logs WHERE user_id = %s"
    args = [user_id]
    if action is not None:
        sql += " AND action = %s"
        args.append(action)
    rows = harness.db_query(db_of(srv), sql + " ORDER BY id", tuple(args))
    return [dict(zip(("id", "user_id", "action", "details"), r)) for r in rows]


def wait_audit_of(srv, user_id, action, count=1, timeout=5.0):
    """Audit rows may be written just after the response: poll until count rows exist."""
    return harness.wait_until(
        lambda: (lambda rows: rows if len(rows) >= count else None)(
            audit_of(srv, user_id, action)),
        timeout, what=f"{count} audit row(s) {action!r} of user {user_id}")


def settle(srv):
    """A barrier before asserting that no audit row was written: a fresh user registers and its
    user_registration row is waited for. droplin writes a request's audit row before it answers,
    so the rows of every request answered before are in by then; were rows ever written after
    the answer, in order, the barrier's row would still come last. No sleep."""
    u = users(srv)
    wait_audit_of(srv, u.id, "user_registration")


# --------------------------------------------------------------------------------------------
# JSON


def _no_constants(name):
    raise ValueError(f"non-JSON constant {name} in the body")


def _walk_strings(value, path="$"):
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk_strings(v, f"{path}[{i}]")
    elif isinstance(value, dict):
        for k, v in value.items():
            yield f"{path} key", k
            yield from _walk_strings(v, f"{path}.{k}")


def strict_json(resp):
    """The body is valid UTF-8 and valid JSON (RFC 8259: no NaN/Infinity, no lone surrogates in
    strings, which no UTF-8 text can hold); returns the parsed value."""
    try:
        text = resp.body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise AssertionError(f"body is not UTF-8 ({e}): {resp!r}")
    try:
        value = json.loads(text, parse_constant=_no_constants)
    except ValueError as e:
        raise AssertionError(f"body is not JSON ({e}): {resp!r}")
    for where, s in _walk_strings(value):
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            raise AssertionError(f"lone surrogate in the string at {where}: {resp!r}")
    return value


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def parse_naive(text):
    fmt = "%Y-%m-%dT%H:%M:%S.%f" if "." in text else "%Y-%m-%dT%H:%M:%S"
    return datetime.datetime.strptime(text, fmt)


# --------------------------------------------------------------------------------------------
# codes from droplin's development log


CODE_LINE_RE = re.compile(r"code is: (\d{6})")


def logged_code(d, email, after=0, timeout=5.0):
    """The newest code droplin logged for email (DROPLIN_ENV=development without
    SENDGRID_API_KEY) in stdout lines after index `after`."""
    email = email.strip().lower()

    def find():
        lines = d.stdout_lines()[after:]
        for line in reversed(lines):
            try:
                msg = json.loads(line).get("message", "")
            except (ValueError, AttributeError):
                continue
            if email in msg:
                m = CODE_LINE_RE.search(msg)
                if m:
                    return m.group(1)
        return None

    return harness.wait_until(find, timeout, what=f"a logged code for {email}")
