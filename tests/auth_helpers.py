"""Helpers and fixtures for the accounts black-box tests (tests/blackbox/test_auth_*.py).

Test modules import the fixtures they use by name, e.g.
    from auth_helpers import sendgrid, sendgrid_ca  # noqa: F401  (pytest fixtures)
"""

import base64
import concurrent.futures
import datetime
import hashlib
import hmac
import json
import re
import threading
import time
import urllib.parse
import uuid

import bcrypt
import jwt
import pytest

import harness
import sendgrid_stub

JWT_SECRET = "jwt-secret-for-auth-tests-" + "0123456789abcdef" * 2
OTHER_SECRET = "another-secret-nobody-configured-" + "fedcba9876543210" * 2
ADMIN_SECRET = "admin-secret-for-auth-tests-0123456789"
PASSWORD = "Sunny-Day7!"  # meets the register policy
NEW_PASSWORD = "Rainy-Night8?"
HIGH_LIMIT = "100000/60"

# What every accounts test starts droplin with, unless it says otherwise.
FAST_ENV = {
    "JWT_SECRET_KEY": JWT_SECRET,
    "ADMIN_SECRET": ADMIN_SECRET,
    "BCRYPT_COST": "4",
    "RATE_LIMIT_REGISTER": HIGH_LIMIT,
    "RATE_LIMIT_LOGIN": HIGH_LIMIT,
    "RATE_LIMIT_CHANGE_PASSWORD": HIGH_LIMIT,
    "BCRYPT_SHARE_MAX": "100000",  # one address is every client here
    "RATE_LIMIT_CODE_EMAIL": HIGH_LIMIT,
    "RATE_LIMIT_CODE_IP": HIGH_LIMIT,
    "RATE_LIMIT_LOG_API_CALL": HIGH_LIMIT,
}

USER_AGENT = "droplin-auth-tests/1.0"

INACTIVE_30_MIN = "Session expired due to inactivity (timeout: 30 minutes). Please log in again."
INACTIVE_30_DAYS = "Session expired due to inactivity (timeout: 30 days). Please log in again."
INVALIDATED = "Token has been invalidated. Please log in again."
LOCKED_RE = re.compile(r"^Account locked due to multiple failed login attempts\. "
                       r"Try again in (\d+) minutes\.$")
CODE_SUBJECT = "DropLink - Your Verification Code"
LOCK_SUBJECT = "\U0001f512 Account Locked - DropLink Security Alert"


# --------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="session")
def sendgrid_ca(tmp_path_factory):
    """A throwaway CA and a certificate for sendgrid.test."""
    return sendgrid_stub.make_ca(str(tmp_path_factory.mktemp("sendgrid-ca")))


@pytest.fixture
def sendgrid(sendgrid_ca):
    """The SendGrid stand-in (mode "ok"); .env() is what droplin needs to use it."""
    stub = sendgrid_stub.SendGridStub(sendgrid_ca, api_key="SG." + uuid.uuid4().hex)
    yield stub
    stub.stop()


# --------------------------------------------------------------------------------------------
# droplin


def start(droplin, db=None, **env):
    """A droplin with FAST_ENV plus env (a value of None removes a variable), ready."""
    full = dict(FAST_ENV)
    full.update(env)
    d = droplin(env=full, db=db)
    d.wait_ready()
    return d


def db_of(d):
    return d.env["DATABASE_URL"]


CONCURRENT_INDEXES = ("users_lower_username", "users_lower_email", "devices_user_name",
                      "audit_logs_action_id", "audit_logs_user_id_id", "audit_logs_ip_id",
                      "audit_logs_timestamp", "api_call_logs_user_time", "api_call_logs_timestamp")


def indexes_built(d, timeout=20.0):
    """Waits until droplin's maintenance thread has built its indexes: a test that then takes
    a table's lock (ALTER TABLE, LOCK TABLE) cannot meet a CREATE INDEX CONCURRENTLY in a
    deadlock that PostgreSQL would end by failing the test's own statement."""
    sql = ("SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
           " WHERE i.indisvalid AND c.relname = ANY(%s)")
    harness.wait_until(lambda: harness.db_query(db_of(d), sql, (list(CONCURRENT_INDEXES),))[0][0]
                       == len(CONCURRENT_INDEXES), harness.scaled(timeout),
                       what="droplin's indexes built")


class Api:
    """JSON requests to one droplin process; every call is a new connection."""

    def __init__(self, d, user_agent=USER_AGENT):
        self.d = d
        self.user_agent = user_agent

    def post(self, path, body=None, token=None, query=None, headers=None, raw=None,
             timeout=10.0, auth=None):
        """POST path with a JSON body (or raw bytes); token sets `Authorization: Bearer`,
        auth sets the Authorization header verbatim."""
        hdrs = {}
        if self.user_agent is not None:
            hdrs["User-Agent"] = self.user_agent
        data = b""
        if raw is not None:
            data = raw if isinstance(raw, bytes) else raw.encode("utf-8")
        elif body is not None:
            data = json.dumps(body).encode("utf-8")
            hdrs["Content-Type"] = "application/json"
        hdrs["Content-Length"] = str(len(data))
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        if auth is not None:
            hdrs["Authorization"] = auth
        hdrs.update(headers or {})
        if query:
            path += "?" + urllib.parse.urlencode(query)
        return harness.http_request(self.d.port, "POST", path, headers=hdrs, body=data,
                                    timeout=timeout)

    def admin(self, path, body=None, secret=ADMIN_SECRET, **kw):
        headers = dict(kw.pop("headers", None) or {})
        if secret is not None:
            headers["secret"] = secret
        return self.post(path, body, headers=headers, **kw)

    # -- flows

    def register(self, username, password=PASSWORD, email=None, **kw):
        body = {"username": username, "password": password}
        if email is not None:
            body["email"] = email
        r = self.post("/auth/register", body, **kw)
        assert r.status == 200, f"register {username!r}: {r!r}"
        return r.json()

    def login(self, username, password=PASSWORD, **extra):
        return self.post("/auth/login", dict({"username": username, "password": password}, **extra))

    def login_ok(self, username, password=PASSWORD, **extra):
        r = self.login(username, password, **extra)
        assert r.status == 200, f"login {username!r}: {r!r}"
        return r.json()

    def authorized(self, token):
        """POST /auth/refresh: 200 when droplin accepts the token."""
        return self.post("/auth/refresh", token=token)


# --------------------------------------------------------------------------------------------
# assertions


def body_of(resp):
    return harness.assert_json(resp)


def assert_detail(resp, status, detail):
    assert resp.status == status, f"expected {status} {detail!r}, got {resp!r}"
    body = body_of(resp)
    assert body == {"detail": detail}, f"expected {{'detail': {detail!r}}}, got {body!r}"
    harness.assert_security_headers(resp)
    return body


def assert_422(resp, *errors):
    """422 in the original's shape plus `detail` (DECISIONS C6). errors: (field, message)
    pairs, all of them, in order; a message of None accepts any text for that field."""
    assert resp.status == 422, f"expected 422, got {resp!r}"
    body = body_of(resp)
    assert set(body) == {"error", "message", "details", "detail"}, body
    assert body["error"] == "Validation Error", body
    assert body["message"] == "Invalid input provided", body
    details = body["details"]
    assert isinstance(details, list) and details, body
    for d in details:
        assert set(d) == {"field", "message"}, body
    got = [(d["field"], d["message"]) for d in details]
    want = [(f, m if m is not None else g[1]) for (f, m), g in zip(errors, got)]
    assert got == want, f"expected details {list(errors)!r}, got {got!r}"
    assert body["detail"] == details[0]["message"], body
    return body


def assert_auth_response(resp, username):
    assert resp.status == 200, resp
    body = body_of(resp)
    assert set(body) == {"token", "user_id", "username"}, body
    assert isinstance(body["user_id"], int) and not isinstance(body["user_id"], bool), body
    assert body["username"] == username, body
    return body


def assert_429(resp, limit):
    """The 429 body and headers of DECISIONS S5."""
    assert resp.status == 429, f"expected 429, got {resp!r}"
    body = body_of(resp)
    assert body.get("error") == "Too Many Requests", body
    assert isinstance(body.get("message"), str) and body["message"], body
    assert body.get("limit") == limit, body
    retry = body.get("retry_after")
    assert isinstance(retry, int) and not isinstance(retry, bool) and retry >= 0, body
    assert isinstance(body.get("detail"), str) and body["detail"], body
    h = resp.headers
    for name in ("Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
        values = h.get_all(name)
        assert len(values) == 1, f"header {name} appears {len(values)} times: {values!r}"
        assert re.fullmatch(r"\d+", values[0]), f"header {name}: {values[0]!r} in {resp!r}"
    assert int(h["X-RateLimit-Limit"]) == limit, resp
    assert int(h["X-RateLimit-Remaining"]) == 0, resp
    assert int(h["Retry-After"]) >= 1, resp
    return body


# --------------------------------------------------------------------------------------------
# tokens (PyJWT, as the original made them)


def now():
    return time.time()


def claims(user_id, username, *, iat=None, last_activity=None, exp=None, remember_me=False,
           key_version=1, sid=None):
    """The original's claims (no session id), or droplin's with sid."""
    t = now() if iat is None else iat
    out = {
        "user_id": user_id,
        "username": username,
        "exp": int(t + 30 * 86400) if exp is None else exp,
        "iat": t,
        "last_activity": t if last_activity is None else last_activity,
        "remember_me": remember_me,
        "key_version": key_version,
    }
    if sid is not None:
        out["sid"] = sid
    return out


def make_token(user_id, username, secret=JWT_SECRET, algorithm="HS256", drop=(), **kw):
    payload = claims(user_id, username, **kw)
    for k in drop:
        payload.pop(k, None)
    return jwt.encode(payload, secret, algorithm=algorithm)


def decode(token, secret=JWT_SECRET):
    """PyJWT's view of a droplin token (signature, exp and iat checked).

    Debian's PyJWT 2.6 compares a float iat with the current time truncated to whole seconds,
    so a token decoded in the second it was made would look issued in the future; one second
    of leeway gives what the original's PyJWT 2.8 (float now) did."""
    return jwt.decode(token, secret, algorithms=["HS256"], leeway=1)


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_token(header, payload, secret=None, signature=None):
    """A token from explicit header and payload dicts; HS256 signature with secret, else the
    given signature text (default empty)."""
    signing = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(payload).encode())
    if secret is not None:
        sig = _b64(hmac.new(secret.encode(), signing.encode(), hashlib.sha256).digest())
    else:
        sig = signature or ""
    return signing + "." + sig


# --------------------------------------------------------------------------------------------
# database


def audit_rows(d, action=None):
    """audit_logs rows as dicts, oldest first."""
    sql = "SELECT id, user_id, action, details, ip_address, user_agent FROM audit_logs"
    args = None
    if action is not None:
        sql += " WHERE action = %s"
        args = (action,)
    rows = harness.db_query(db_of(d), sql + " ORDER BY id", args)
    return [dict(zip(("id", "user_id", "action", "details", "ip_address", "user_agent"), r))
            for r in rows]


def wait_audit(d, action, count=1, timeout=5.0):
    """Audit rows may be written just after the response: poll for them."""
    return harness.wait_until(lambda: (lambda rows: rows if len(rows) >= count else None)(
        audit_rows(d, action)), timeout, what=f"{count} audit row(s) {action!r}")


def py_json(obj):
    """What Python's json.dumps writes (separators ", " and ": ") for audit details."""
    return json.dumps(obj)


def user_row(d, username):
    rows = harness.db_query(db_of(d), "SELECT id, username, password_hash, email, "
                            "failed_login_attempts, locked_until FROM users "
                            "WHERE username = %s", (username,))
    if not rows:
        return None
    return dict(zip(("id", "username", "password_hash", "email", "failed_login_attempts",
                     "locked_until"), rows[0]))


def insert_user(d, username, password=PASSWORD, email=None, cost=4, prefix=b"2b"):
    """A user row written the way the original wrote it (Python's bcrypt); returns its id."""
    h = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=cost, prefix=prefix)).decode()
    rows = harness.db_query(db_of(d), "INSERT INTO users (username, password_hash, email) "
                            "VALUES (%s, %s, %s) RETURNING id", (username, h, email))
    uid = rows[0][0]
    harness.db_exec(db_of(d), "INSERT INTO user_settings (user_id, dark_mode, max_distance) "
                    "VALUES (%s, 1, 33)", (uid,))
    return uid


def forget_last_seen(d, user_id):
    """Clear users.last_seen_at, so only the token's last_activity counts for inactivity."""
    harness.db_exec(db_of(d), "UPDATE users SET last_seen_at = NULL WHERE id = %s", (user_id,))


UTC_NAIVE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}$")


def parse_naive_utc(text):
    """A shared TEXT time column (DECISIONS P): naive UTC YYYY-MM-DDTHH:MM:SS.ffffff."""
    assert UTC_NAIVE_RE.match(text), f"not naive UTC with microseconds: {text!r}"
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f").replace(
        tzinfo=datetime.timezone.utc)


# --------------------------------------------------------------------------------------------
# codes and mail

CODE_RE = re.compile(r"(?<!\d)(\d{6})(?!\d)")


def code_in(text):
    m = CODE_RE.search(text)
    assert m, f"no 6-digit code in {text[:500]!r}"
    return m.group(1)


def code_from_mail(mail):
    return code_in(mail.text if mail.text is not None else mail.html)


def send_code(api, sendgrid, email, type_=None, route="/auth/send-verification-code"):
    """Send a code through droplin and read it from the mail the stand-in received."""
    before = len(sendgrid.mails_to(email.strip().lower()))
    body = {"email": email}
    if type_ is not None:
        body["type"] = type_
    r = api.post(route, body)
    assert r.status == 200, r
    mails = sendgrid.wait_mails(before + 1, to=email.strip().lower())
    return code_from_mail(mails[-1])


def mail_barrier(api, sendgrid, address="barrier@example.com"):
    """droplin queues a mail before it answers the request that asked for it and sends its
    mail on one thread, first queued first sent: once a code mail asked for now has arrived,
    every mail of the earlier requests has been sent. Returns the stand-in's requests other
    than the barrier's (for checks that a mail was NOT sent)."""
    r = api.post("/auth/send-verification-code", {"email": address})
    assert r.status == 200, r
    sendgrid.wait_mails(1, to=address)
    return [q for q in sendgrid.requests if address not in json.dumps(q.json)]


def wrong_code(code):
    return "%06d" % ((int(code) + 1) % 1000000)


# --------------------------------------------------------------------------------------------
# concurrency and windows


def parallel(fn, args_list, timeout=60.0):
    """Run fn(*args) for every args at (nearly) the same moment, each in its own thread;
    results in order."""
    barrier = threading.Barrier(len(args_list))

    def run(args):
        barrier.wait(timeout)
        return fn(*args)

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(args_list)) as pool:
        futures = [pool.submit(run, a) for a in args_list]
        return [f.result(timeout=timeout) for f in futures]


def avoid_window_edge(window_seconds, needed_seconds=8.0):
    """Fixed rate-limit windows may be aligned to the clock: if the current window (counted
    from the epoch) ends within needed_seconds (scaled, at most half the window), wait for the
    next one (bounded)."""
    needed_seconds = min(harness.scaled(needed_seconds), window_seconds / 2)
    left = window_seconds - (time.time() % window_seconds)
    if left < needed_seconds:
        time.sleep(left + 0.2)


def assert_audit_details(row, expected):
    """details is Python's json.dumps of a dict with exactly these keys, in this order."""
    text = row["details"]
    assert text is not None, row
    parsed = json.loads(text)
    assert parsed == expected, f"audit details {text!r}, expected {expected!r}"
    assert list(parsed) == list(expected), f"key order of {text!r}, expected {list(expected)}"
    assert text == json.dumps(parsed), f"not Python's default separators: {text!r}"


def metric(d, name):
    """The value of a label-carrying counter or gauge `name` in d's /metrics."""
    r = harness.http_request(d.port, "GET", "/metrics")
    for line in r.body.decode().splitlines():
        if line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name} in /metrics")
