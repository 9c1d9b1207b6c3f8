"""POST /auth/login and the lockout: ORIGINAL_API §3.2, §6.1; DECISIONS C5, S6, P."""

import datetime
import json
import threading
import time

import pytest

import harness
from auth_helpers import (FAST_ENV, LOCK_SUBJECT, LOCKED_RE, PASSWORD, USER_AGENT, Api,
                          assert_422, assert_audit_details, assert_auth_response, assert_detail,
                          audit_rows, body_of, db_of, decode, insert_user, mail_barrier, metric,
                          parallel, parse_naive_utc, start, user_row, wait_audit)
from auth_helpers import sendgrid, sendgrid_ca  # noqa: F401  (pytest fixtures)

BAD = "Invalid username or password"
WRONG = "Wrong-Pass9!"


@pytest.fixture
def api(droplin):
    return Api(start(droplin))


@pytest.fixture(scope="module")
def shared(module_droplin):
    d = module_droplin(env=FAST_ENV)
    d.wait_ready()
    return Api(d)


def assert_locked(resp, minutes=None):
    """423 with the lockout text and a Retry-After in seconds; returns (N, Retry-After)."""
    assert resp.status == 423, resp
    detail = body_of(resp)["detail"]
    m = LOCKED_RE.match(detail)
    assert m, detail
    n = int(m.group(1))
    if minutes is not None:
        assert n == minutes, detail
    retry = resp.headers.get("Retry-After")
    assert retry is not None and retry.isdigit(), resp
    return n, int(retry)


# ---------------------------------------------------------------------------------- success


def test_login_returns_auth_response(api):
    uid = api.register("alice")["user_id"]
    r = api.login("alice")
    body = assert_auth_response(r, "alice")
    harness.assert_security_headers(r)
    assert body["user_id"] == uid
    claims = decode(body["token"])
    assert (claims["user_id"], claims["username"], claims["remember_me"]) == (uid, "alice", False)


def test_username_is_trimmed_and_lower_cased(api):
    api.register("alice")
    assert_auth_response(api.login("  ALICE "), "alice")


def test_username_is_returned_as_stored(api):
    insert_user(api.d, "Legacy_User")  # adopted data may hold upper case
    assert_auth_response(api.login("legacy_user"), "Legacy_User")


@pytest.mark.parametrize("value,expected", [
    (True, True), (False, False), (1, True), (0, False), ("yes", True), ("no", False),
    ("true", True), ("off", False),
])
def test_remember_me_lax_boolean(api, value, expected):
    api.register("alice")
    body = api.login_ok("alice", remember_me=value)
    assert decode(body["token"])["remember_me"] is expected


def test_login_success_audit_row(api):
    uid = api.register("alice")["user_id"]
    api.login_ok("alice", remember_me=True)
    [row] = wait_audit(api.d, "login_success")
    assert (row["user_id"], row["ip_address"], row["user_agent"]) == (uid, "127.0.0.1",
                                                                      USER_AGENT)
    assert_audit_details(row, {"username": "alice", "remember_me": True})


# ---------------------------------------------------------------------------------- bcrypt interop


@pytest.mark.parametrize("prefix,cost", [(b"2b", 4), (b"2b", 6), (b"2a", 5)],
                         ids=["2b-cost4", "2b-cost6", "2a-cost5"])
def test_hash_made_by_python_bcrypt_verifies(api, prefix, cost):
    uid = insert_user(api.d, "pyuser", PASSWORD, cost=cost, prefix=prefix)
    assert api.login_ok("pyuser")["user_id"] == uid
    assert_detail(api.login("pyuser", WRONG), 401, BAD)


def test_long_password_hashed_by_python_verifies(api):
    password = "Long-Pass1!" + "x" * 100  # bcrypt uses the first 72 bytes, in both
    insert_user(api.d, "longpw", password)
    assert api.login("longpw", password).status == 200


def test_unusable_hash_is_a_plain_401(api):
    insert_user(api.d, "disabled")
    harness.db_exec(db_of(api.d), "UPDATE users SET password_hash = '!' WHERE username = %s",
                    ("disabled",))
    assert_detail(api.login("disabled", PASSWORD), 401, BAD)


# ---------------------------------------------------------------------------------- failures


def test_unknown_user(api):
    assert_detail(api.login("ghost"), 401, BAD)
    [row] = wait_audit(api.d, "login_failed")
    assert row["user_id"] is None and row["ip_address"] == "127.0.0.1"
    assert_audit_details(row, {"username": "ghost", "reason": "user_not_found"})


def test_wrong_password_has_the_same_answer_as_unknown_user(api):
    uid = api.register("alice")["user_id"]
    r = api.login("alice", WRONG)
    assert_detail(r, 401, BAD)
    assert user_row(api.d, "alice")["failed_login_attempts"] == 1
    [row] = wait_audit(api.d, "login_failed")
    assert row["user_id"] == uid
    assert_audit_details(row, {"username": "alice", "reason": "invalid_password",
                               "failed_attempts": 1})


@pytest.mark.parametrize("body,errors", [
    ({}, [("username", "Field required"), ("password", "Field required")]),
    ({"username": "alice"}, [("password", "Field required")]),
    ({"password": PASSWORD}, [("username", "Field required")]),
    ({"username": "alice", "password": ""}, [("password", "Must be at least required characters")]),
    ({"username": "alice", "password": "x" * 129},
     [("password", "Must be at most allowed characters")]),
    ({"username": 42, "password": PASSWORD}, [("username", "Input should be a valid string")]),
    ({"username": "alice", "password": PASSWORD, "remember_me": "maybe"},
     [("remember_me", "Input should be a valid boolean, unable to interpret input")]),
    ({"username": "ab", "password": PASSWORD}, [("username", None)]),
    ({"username": "a" * 21, "password": PASSWORD}, [("username", None)]),
], ids=lambda v: str(v)[:50])
def test_validation(shared, body, errors):
    assert_422(shared.post("/auth/login", body), *errors)


def test_body_not_json_is_422_naming_the_offset(shared):
    # ORIGINAL_API §1.2: the field is the character offset where Python's json parser stopped.
    raw = b'{"username": }'
    assert_422(shared.post("/auth/login", raw=raw, headers={"Content-Type": "application/json"}),
               ("13", "JSON decode error"))


# ---------------------------------------------------------------------------------- lockout


def test_fifth_wrong_password_locks_for_15_minutes(api):
    uid = api.register("alice")["user_id"]
    for i in range(1, 5):
        assert_detail(api.login("alice", WRONG), 401, BAD)
        assert user_row(api.d, "alice")["failed_login_attempts"] == i
    before = datetime.datetime.now(datetime.timezone.utc)
    r = api.login("alice", WRONG)
    assert_detail(r, 423, "Account locked due to multiple failed login attempts. "
                          "Try again in 15 minutes.")
    assert r.headers.get("Retry-After") == "900", r
    row = user_row(api.d, "alice")
    assert row["failed_login_attempts"] == 5
    until = parse_naive_utc(row["locked_until"])  # naive UTC text (DECISIONS P)
    expected = before + datetime.timedelta(seconds=900)
    assert abs((until - expected).total_seconds()) < 30, (row["locked_until"], before)
    [locked] = wait_audit(api.d, "account_locked")
    assert locked["user_id"] == uid
    assert_audit_details(locked, {"username": "alice", "failed_attempts": 5,
                                  "lock_duration_minutes": 15})
    failed = audit_rows(api.d, "login_failed")
    assert [r["details"] for r in failed] == [
        '{"username": "alice", "reason": "invalid_password", "failed_attempts": %d}' % i
        for i in range(1, 5)]


def test_locked_account_refuses_the_right_password(api):
    api.register("alice")
    for _ in range(5):
        api.login("alice", WRONG)
    r = api.login("alice", PASSWORD)
    n, retry = assert_locked(r)
    assert 800 <= retry <= 900, r
    assert n == retry // 60 or n == (retry + 1) // 60, r
    rows = wait_audit(api.d, "login_failed", count=5)
    details = json.loads(rows[-1]["details"])
    assert list(details) == ["username", "reason", "remaining_minutes"], details
    assert details["username"] == "alice" and details["reason"] == "account_locked"
    assert details["remaining_minutes"] == n
    assert user_row(api.d, "alice")["failed_login_attempts"] == 5


def test_unknown_users_never_lock(api):
    for _ in range(7):
        assert_detail(api.login("ghost", WRONG), 401, BAD)
    assert audit_rows(api.d, "account_locked") == []


def test_success_resets_the_counter(api):
    api.register("alice")
    for _ in range(3):
        api.login("alice", WRONG)
    api.login_ok("alice")
    assert user_row(api.d, "alice")["failed_login_attempts"] == 0
    for _ in range(4):
        assert_detail(api.login("alice", WRONG), 401, BAD)
    assert user_row(api.d, "alice")["failed_login_attempts"] == 4


def test_lock_expires_after_lockout_seconds(droplin):
    # 4 s: the lock is surely still on for the check right after the fifth attempt
    api = Api(start(droplin, LOCKOUT_SECONDS="4"))
    api.register("alice")
    for _ in range(5):
        api.login("alice", WRONG)
    n, retry = assert_locked(api.login("alice", PASSWORD))
    assert 1 <= retry <= 4 and n == 0, (n, retry)
    time.sleep(4.5)  # a lower bound: the lock began before this sleep
    api.login_ok("alice")
    row = user_row(api.d, "alice")
    assert (row["failed_login_attempts"], row["locked_until"]) == (0, None)


def test_expired_lock_restarts_the_count(droplin):
    api = Api(start(droplin, LOCKOUT_SECONDS="1"))
    api.register("alice")
    for _ in range(5):
        api.login("alice", WRONG)
    time.sleep(1.5)
    assert_detail(api.login("alice", WRONG), 401, BAD)
    assert user_row(api.d, "alice")["failed_login_attempts"] == 1


def test_lockout_attempts_setting(droplin):
    api = Api(start(droplin, LOCKOUT_ATTEMPTS="3"))
    api.register("alice")
    assert api.login("alice", WRONG).status == 401
    assert api.login("alice", WRONG).status == 401
    assert_locked(api.login("alice", WRONG))


def test_lockout_email_is_sent_once(droplin, sendgrid):
    api = Api(start(droplin, **sendgrid.env()))
    api.register("alice", email="alice@example.com")
    for _ in range(6):
        api.login("alice", WRONG)
    [mail] = sendgrid.wait_mails(1, to="alice@example.com")
    assert mail.subject == LOCK_SUBJECT
    assert mail.from_email == "noreply@droplinkconnect.com"
    assert mail.to == ["alice@example.com"]
    assert "15 minutes" in mail.all_text()
    assert [t for t, _ in mail.content] == ["text/plain", "text/html"]
    assert len(mail_barrier(api, sendgrid)) == 1, sendgrid.requests


def test_no_lockout_email_without_address(droplin, sendgrid):
    api = Api(start(droplin, **sendgrid.env()))
    api.register("alice")
    for _ in range(5):
        api.login("alice", WRONG)
    wait_audit(api.d, "account_locked")
    assert mail_barrier(api, sendgrid) == [], sendgrid.requests


def test_twenty_parallel_wrong_passwords(droplin, sendgrid):
    """DECISIONS P: exactly 4 x 401 and 16 x 423, counter 5, one audit row, one e-mail."""
    api = Api(start(droplin, **sendgrid.env()))
    api.register("alice", email="alice@example.com")
    results = parallel(lambda: api.login("alice", WRONG), [()] * 20)
    statuses = sorted(r.status for r in results)
    assert statuses == [401] * 4 + [423] * 16, statuses
    for r in results:
        if r.status == 401:
            assert body_of(r) == {"detail": BAD}
        else:
            assert_locked(r)
    assert user_row(api.d, "alice")["failed_login_attempts"] == 5
    assert len(wait_audit(api.d, "account_locked")) == 1
    sendgrid.wait_mails(1, to="alice@example.com")
    mail_barrier(api, sendgrid)  # audit rows commit before each answer
    assert len(audit_rows(api.d, "account_locked")) == 1
    assert len(sendgrid.mails_to("alice@example.com")) == 1, sendgrid.mails
    assert_locked(api.login("alice", PASSWORD))


# a check of a cost-14 hash takes about a second (longer on a busy machine, where the bcrypt
# thread runs at a lower priority, and under ASan): the requests that must find the queue full
# take milliseconds and are sent well within it
SLOW_COST = 14


def slow_login(api, username):
    return api.post("/auth/login", {"username": username, "password": PASSWORD}, timeout=120)


def hold_the_bcrypt_queue(api, username):
    """A login of a cost-SLOW_COST user on a thread, once droplin_bcrypt_jobs shows it took the
    one slot of BCRYPT_QUEUE_MAX=1 (no sleep: the metric says the queue is full)."""
    insert_user(api.d, username, cost=SLOW_COST)
    results = {}

    def run():
        results["login"] = slow_login(api, username)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    harness.wait_until(lambda: metric(api.d, "droplin_bcrypt_jobs") == 1, 10,
                       what="the slow login in the bcrypt queue")
    return t, results


def test_full_bcrypt_queue_answers_503_with_retry_after(droplin):
    api = Api(start(droplin, BCRYPT_QUEUE_MAX="1", BCRYPT_THREADS="1"))
    t, held = hold_the_bcrypt_queue(api, "slow")
    # five parallel logins while the one slot is taken: every one is refused at once
    results = parallel(lambda: api.login("slow", PASSWORD), [()] * 5)
    assert t.is_alive() and metric(api.d, "droplin_bcrypt_jobs") == 1, \
        "the slow login ended before the checks: raise SLOW_COST"
    for r in results:
        assert r.status == 503, r
        assert (r.headers.get("Retry-After") or "").isdigit(), r
        assert int(r.headers["Retry-After"]) >= 1, r
        assert "detail" in body_of(r)
    t.join(harness.scaled(120))
    assert held["login"].status == 200, held["login"]
    # the queue frees up again
    harness.wait_until(lambda: metric(api.d, "droplin_bcrypt_jobs") == 0, 10, what="an empty queue")
    assert slow_login(api, "slow").status == 200


def test_full_bcrypt_queue_also_refuses_register(droplin):
    api = Api(start(droplin, BCRYPT_QUEUE_MAX="1", BCRYPT_THREADS="1"))
    t, held = hold_the_bcrypt_queue(api, "slower")
    r = api.post("/auth/register", {"username": "queued", "password": PASSWORD})
    assert t.is_alive(), "the slow login ended before the register: raise SLOW_COST"
    t.join(harness.scaled(120))
    assert held["login"].status == 200, held["login"]
    assert r.status == 503, r
    assert int(r.headers.get("Retry-After") or "0") >= 1, r
    assert user_row(api.d, "queued") is None
