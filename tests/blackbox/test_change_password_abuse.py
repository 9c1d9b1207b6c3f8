"""change-password is no oracle and no lever on others' logins: wrong current passwords count
toward the account's lockout, the route is rate-limited per account, and no client address or
account may hold more than its share of the bcrypt queue."""

import concurrent.futures
import threading
import time

import pytest

import harness
from auth_helpers import (FAST_ENV, PASSWORD, Api, assert_detail, avoid_window_edge, db_of, metric,
                          start)

WRONG = "Wrong-Current1!"
NEXT = "Next-Password2@"


def change(api, token, current, new=NEXT, headers=None):
    return api.post("/auth/change-password", {"current_password": current, "new_password": new},
                    token=token, headers=headers)


def audit_actions(d, uid):
    return [r[0] for r in harness.db_query(db_of(d), "SELECT action FROM audit_logs "
                                                     "WHERE user_id = %s ORDER BY id", (uid,))]


def test_wrong_current_passwords_lock_the_account(droplin):
    api = Api(start(droplin, LOCKOUT_ATTEMPTS="3"))
    reg = api.register("alice", email="alice@example.com")
    token = reg["token"]
    for _ in range(2):
        assert_detail(change(api, token, WRONG), 401, "Current password is incorrect")
    r = change(api, token, WRONG)  # the third wrong try locks it
    assert r.status == 423, r
    # locked: the right current password gets 423 too, and so does a login
    assert change(api, token, PASSWORD).status == 423
    assert api.login("alice").status == 423
    actions = audit_actions(api.d, reg["user_id"])
    assert actions.count("change_password_failed") >= 2 and "account_locked" in actions, actions
    assert harness.db_query(db_of(api.d), "SELECT failed_login_attempts FROM users WHERE id = %s",
                            (reg["user_id"],))[0][0] == 3


def test_a_right_password_after_wrong_ones_still_changes_it(droplin):
    api = Api(start(droplin, LOCKOUT_ATTEMPTS="3"))
    token = api.register("bob")["token"]
    assert change(api, token, WRONG).status == 401
    r = change(api, token, PASSWORD)
    assert r.status == 200, r
    assert api.login("bob", NEXT).status == 200


def test_change_password_default_is_10_per_hour_per_account(droplin):
    api = Api(start(droplin, RATE_LIMIT_CHANGE_PASSWORD=None, LOCKOUT_ATTEMPTS="1000"))
    avoid_window_edge(3600)
    token = api.register("carol")["token"]
    other = api.register("dave")["token"]
    for _ in range(10):
        assert change(api, token, WRONG).status == 401
    r = change(api, token, WRONG)
    assert r.status == 429, r
    assert r.headers.get("Retry-After"), r
    assert change(api, token, PASSWORD).status == 429  # even the right one, until the window ends
    assert change(api, other, WRONG).status == 401  # another account has its own count


def test_one_caller_cannot_take_the_whole_bcrypt_queue(droplin):
    # A slow hash on one thread and a queue of 12: one account hammering change-password from one
    # address may hold 6 (half); four other people's logins, from their own addresses, still fit.
    api = Api(start(droplin, BCRYPT_COST="10", BCRYPT_THREADS="1", BCRYPT_QUEUE_MAX="12",
                    BCRYPT_SHARE_MAX=None, LOCKOUT_ATTEMPTS="1000", TRUST_PROXY="1"))
    token = api.register("mallory", headers={"X-Forwarded-For": "192.0.2.1"})["token"]
    people = [f"user{i}" for i in range(4)]
    for i, name in enumerate(people):
        api.register(name, headers={"X-Forwarded-For": f"192.0.2.{10 + i}"})
    stop = threading.Event()
    statuses = []

    def hammer():
        for _ in range(200):  # bounded; ends when the logins are done
            if stop.is_set():
                return
            statuses.append(change(api, token, WRONG,
                                   headers={"X-Forwarded-For": "192.0.2.1"}).status)

    with concurrent.futures.ThreadPoolExecutor(30) as pool:
        flood = [pool.submit(hammer) for _ in range(30)]
        deadline = time.monotonic() + 20 * harness.TIMEOUT_SCALE
        while metric(api.d, "droplin_bcrypt_jobs") < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert metric(api.d, "droplin_bcrypt_jobs") >= 6, "the flood never filled its share"
        logins = list(pool.map(lambda i: api.post(
            "/auth/login", {"username": people[i], "password": PASSWORD},
            headers={"X-Forwarded-For": f"192.0.2.{10 + i}"}).status, range(4)))
        stop.set()
        for f in flood:
            f.result(timeout=60)
    assert logins == [200] * 4, f"logins during the flood: {logins}"
    assert 503 in statuses, "the flood was never held to its share"
    assert set(statuses) <= {401, 503}, set(statuses)


def test_a_right_current_password_resets_the_count(droplin):
    api = Api(start(droplin, LOCKOUT_ATTEMPTS="3"))
    reg = api.register("erin")
    token = reg["token"]
    for _ in range(2):
        assert change(api, token, WRONG).status == 401
    assert change(api, token, PASSWORD).status == 200  # as a login, a success clears the count
    assert harness.db_query(db_of(api.d), "SELECT failed_login_attempts FROM users WHERE id = %s",
                            (reg["user_id"],))[0][0] == 0
    token = api.login_ok("erin", NEXT)["token"]
    assert change(api, token, WRONG, new="Third-Password3#").status == 401
    assert api.login("erin", NEXT).status == 200  # one typo since: far from the lock


def test_refused_new_passwords_do_not_count_toward_the_limit(droplin):
    api = Api(start(droplin, RATE_LIMIT_CHANGE_PASSWORD="3/3600"))
    avoid_window_edge(3600)
    token = api.register("fred")["token"]
    for _ in range(5):  # a weak new password is refused before the current one is tried
        assert change(api, token, PASSWORD, new="weak").status == 400
    assert change(api, token, PASSWORD).status == 200
