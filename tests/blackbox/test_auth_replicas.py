"""Concurrency and several replicas on one database (issue 3 "Must show"; DECISIONS R1, P
"Uniqueness on adopted data", "Login messages", "Sessions")."""

import time

import pytest

import harness
from auth_helpers import (INVALIDATED, JWT_SECRET, PASSWORD, Api, assert_auth_response,
                          assert_detail, audit_rows, body_of, code_from_mail, db_of,
                          forget_last_seen, make_token, parallel, start, user_row, wait_audit,
                          wrong_code)
from auth_helpers import sendgrid, sendgrid_ca  # noqa: F401  (pytest fixtures)

WRONG = "Wrong-Pass9!"


def count(d, sql):
    return harness.db_query(db_of(d), sql)[0][0]


# ---------------------------------------------------------------------------------- one replica


def test_fifty_parallel_registrations_of_one_name(droplin):
    api = Api(start(droplin))
    results = parallel(lambda: api.post("/auth/register",
                                        {"username": "popular", "password": PASSWORD}),
                       [()] * 50)
    statuses = [r.status for r in results]
    assert statuses.count(200) == 1, sorted(statuses)
    for r in results:
        if r.status != 200:
            assert_detail(r, 400, "Username already taken")
    assert count(api.d, "SELECT count(*) FROM users") == 1
    assert count(api.d, "SELECT count(*) FROM user_settings") == 1
    assert len(wait_audit(api.d, "user_registration")) == 1
    assert len(wait_audit(api.d, "registration_failed", count=49)) == 49


def test_fifty_parallel_registrations_of_distinct_names(droplin):
    api = Api(start(droplin))
    results = parallel(lambda i: api.post("/auth/register",
                                          {"username": f"crowd_{i}", "password": PASSWORD}),
                       [(i,) for i in range(50)])
    assert [r.status for r in results] == [200] * 50, [r for r in results if r.status != 200]
    ids = {body_of(r)["user_id"] for r in results}
    assert len(ids) == 50
    assert count(api.d, "SELECT count(*) FROM users") == 50
    assert count(api.d, "SELECT count(*) FROM user_settings") == 50
    for i in (0, 25, 49):
        assert api.login(f"crowd_{i}").status == 200


def test_parallel_registrations_of_one_email(droplin):
    # No UNIQUE index on e-mail (adopted data): an advisory lock must keep it unique.
    api = Api(start(droplin))
    results = parallel(lambda i: api.post("/auth/register",
                                          {"username": f"mail_{i}", "password": PASSWORD,
                                           "email": "Same@Example.com"}),
                       [(i,) for i in range(20)])
    statuses = [r.status for r in results]
    assert statuses.count(200) == 1, sorted(statuses)
    for r in results:
        if r.status != 200:
            assert_detail(r, 400, "An account with this email already exists")
    assert count(api.d, "SELECT count(*) FROM users WHERE lower(email) = "
                        "'same@example.com'") == 1


# ---------------------------------------------------------------------------------- two replicas


@pytest.fixture
def pair(droplin, fresh_db, sendgrid):
    a = Api(start(droplin, db=fresh_db, **sendgrid.env()))
    b = Api(start(droplin, db=fresh_db, **sendgrid.env()))
    return a, b


def test_token_from_one_replica_works_on_the_other(pair):
    a, b = pair
    a.register("alice")
    token = a.login_ok("alice")["token"]
    assert_auth_response(b.authorized(token), "alice")
    token_b = b.login_ok("alice", remember_me=True)["token"]
    assert_auth_response(a.authorized(token_b), "alice")


def test_lockout_counts_across_replicas(pair):
    a, b = pair
    a.register("alice")
    for i in range(4):
        assert_detail((a if i % 2 == 0 else b).login("alice", WRONG), 401,
                      "Invalid username or password")
    assert b.login("alice", WRONG).status == 423
    assert a.login("alice", PASSWORD).status == 423
    assert user_row(a.d, "alice")["failed_login_attempts"] == 5


def test_parallel_wrong_passwords_on_two_replicas(pair, sendgrid):
    a, b = pair
    a.register("alice", email="alice@example.com")
    results = parallel(lambda i: (a if i % 2 else b).login("alice", WRONG),
                       [(i,) for i in range(20)])
    assert sorted(r.status for r in results) == [401] * 4 + [423] * 16
    assert user_row(a.d, "alice")["failed_login_attempts"] == 5
    assert len(wait_audit(a.d, "account_locked")) == 1
    sendgrid.wait_mails(1, to="alice@example.com")
    # each replica sends its mail on one thread, first queued first sent, and queues a mail
    # before it answers: once a code mail asked of each replica now has arrived, any second
    # lockout mail would have too (audit rows commit before the answers)
    for i, api in enumerate((a, b)):
        barrier = f"barrier{i}@example.com"
        assert api.post("/auth/send-verification-code", {"email": barrier}).status == 200
        sendgrid.wait_mails(1, to=barrier)
    assert len(audit_rows(a.d, "account_locked")) == 1
    assert len(sendgrid.mails_to("alice@example.com")) == 1, sendgrid.mails


def test_code_sent_by_one_replica_verifies_on_the_other(pair, sendgrid):
    a, b = pair
    a.post("/auth/send-verification-code", {"email": "alice@example.com"})
    code = code_from_mail(sendgrid.wait_mails(1, to="alice@example.com")[0])
    r = b.post("/auth/verify-code", {"email": "alice@example.com", "code": code})
    assert body_of(r) == {"success": True, "message": "Email verified successfully"}


def test_wrong_code_tries_on_both_replicas_burn_one_code(pair, sendgrid):
    a, b = pair
    a.post("/auth/send-verification-code", {"email": "alice@example.com"})
    code = code_from_mail(sendgrid.wait_mails(1, to="alice@example.com")[0])
    for i in range(5):
        (a if i % 2 else b).post("/auth/verify-code",
                                 {"email": "alice@example.com", "code": wrong_code(code)})
    assert_detail(b.post("/auth/verify-code", {"email": "alice@example.com", "code": code}),
                  400, "No verification code found for this email")


def test_session_kept_alive_on_one_replica_counts_on_the_other(droplin, fresh_db):
    env = {"ACTIVITY_TIMEOUT_MINUTES": "1", "SESSION_TOUCH_SECONDS": "1"}
    a = Api(start(droplin, db=fresh_db, **env))
    b = Api(start(droplin, db=fresh_db, **env))
    uid = a.register("alice")["user_id"]
    forget_last_seen(a.d, uid)
    stale = make_token(uid, "alice", iat=time.time() - 120)
    assert b.authorized(stale).status == 401
    assert a.authorized(make_token(uid, "alice")).status == 200
    assert b.authorized(stale).status == 200


def test_password_change_on_one_replica_invalidates_tokens_on_the_other(pair):
    a, b = pair
    a.register("alice")
    token = a.login_ok("alice")["token"]
    r = a.post("/auth/change-password", query={"current_password": PASSWORD,
                                               "new_password": "Other-Pass2!"}, token=token)
    assert r.status == 200, r
    assert_detail(b.authorized(token), 401, INVALIDATED)


def test_unlock_on_one_replica_frees_the_account_on_the_other(pair):
    a, b = pair
    a.register("alice")
    for _ in range(5):
        a.login("alice", WRONG)
    assert b.admin("/auth/unlock-account", {"username": "alice"}).status == 200
    assert a.login("alice").status == 200


def test_original_replica_token_during_rotation(droplin, fresh_db):
    """A replica still on the old key and one already rotated serve the same database."""
    new = "the-new-secret-after-rotation-" + "9" * 20
    old = Api(start(droplin, db=fresh_db))
    rotated = Api(start(droplin, db=fresh_db, JWT_SECRET_KEY=new,
                        PREVIOUS_JWT_SECRET_KEY=JWT_SECRET, JWT_KEY_VERSION="2"))
    old.register("alice")
    token = old.login_ok("alice")["token"]
    assert rotated.authorized(token).status == 200
