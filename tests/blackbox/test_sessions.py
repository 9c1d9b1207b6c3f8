"""Sessions per login: each login has its own session (a `sid` claim and a row), with its own
inactivity and its own logout; "log out everywhere" ends them all. Tokens the original backend
issued (no sid) keep the per-user rule, so a mixed fleet still works."""

import time

import jwt
import pytest

import harness
from auth_helpers import INACTIVE_30_MIN, INVALIDATED, assert_detail, db_of, make_token, start
from userdata_helpers import UserApi as Api


@pytest.fixture
def api(droplin):
    return Api(start(droplin))


def sid_of(token):
    return jwt.decode(token, options={"verify_signature": False})["sid"]


def two_logins(api, name="alice"):
    uid = api.register(name)["user_id"]
    a = api.login_ok(name)["token"]
    b = api.login_ok(name)["token"]
    return uid, a, b


def sessions(api, uid):
    return harness.db_query(db_of(api.d), "SELECT sid, revoked_at IS NOT NULL FROM sessions "
                                          "WHERE user_id = %s ORDER BY created_at", (uid,))


def test_each_login_has_its_own_session(api):
    uid, a, b = two_logins(api)
    assert sid_of(a) != sid_of(b)
    rows = dict(sessions(api, uid))
    assert rows[sid_of(a)] is False and rows[sid_of(b)] is False


def test_logout_ends_this_session_only(api):
    uid, a, b = two_logins(api)
    r = api.post("/auth/logout", token=a)
    assert r.status == 200 and r.json() == {"success": True, "message": "Logged out"}, r
    assert_detail(api.authorized(a), 401, INVALIDATED)
    assert_detail(api.get("/user/profile", token=a), 401, INVALIDATED)  # on the loop's reads too
    assert api.authorized(b).status == 200
    assert dict(sessions(api, uid))[sid_of(a)] is True
    # a refresh of the ended session is refused, not a way back in
    assert_detail(api.post("/auth/refresh", token=a), 401, INVALIDATED)


def test_logout_everywhere_ends_every_session_and_older_original_tokens(api):
    uid, a, b = two_logins(api)
    legacy = make_token(uid, "alice")  # issued by the original backend
    assert api.authorized(legacy).status == 200
    time.sleep(0.01)
    live = sum(1 for _, revoked in sessions(api, uid) if not revoked)
    assert live == 3  # register's and two logins'
    r = api.post("/auth/logout-all", token=a)
    assert r.status == 200, r
    assert r.json() == {"success": True, "message": "Logged out everywhere", "sessions_ended": live}
    assert all(revoked for _, revoked in sessions(api, uid))
    for t in (a, b, legacy):
        assert_detail(api.authorized(t), 401, INVALIDATED)
    fresh = api.login_ok("alice")["token"]  # logging in again works
    assert api.authorized(fresh).status == 200
    actions = [r[0] for r in harness.db_query(db_of(api.d), "SELECT action FROM audit_logs "
                                                            "WHERE user_id = %s", (uid,))]
    assert "logout_all" in actions


def test_inactivity_is_per_session(api):
    # The owner keeps session A busy; session B (a stolen copy, or a lost phone) still idles out.
    uid, a, b = two_logins(api)
    old = time.time() - 31 * 60
    harness.db_exec(db_of(api.d), "UPDATE sessions SET last_seen_at = now() - interval '31 minutes'"
                    " WHERE sid = %s", (sid_of(b),))
    idle_b = make_token(uid, "alice", sid=sid_of(b), iat=old)
    assert api.authorized(a).status == 200  # the user is active, on A
    assert_detail(api.authorized(idle_b), 401, INACTIVE_30_MIN)
    busy_a = make_token(uid, "alice", sid=sid_of(a), iat=old)
    assert api.authorized(busy_a).status == 200  # A's activity is A's


def test_refresh_keeps_the_session_and_an_original_token_stays_without_one(api):
    uid, a, _ = two_logins(api)
    r = api.post("/auth/refresh", token=a)
    assert r.status == 200 and sid_of(r.json()["token"]) == sid_of(a)
    before = sessions(api, uid)
    legacy = make_token(uid, "alice")
    r = api.post("/auth/refresh", token=legacy)
    assert r.status == 200, r
    assert "sid" not in jwt.decode(r.json()["token"], options={"verify_signature": False})
    assert sessions(api, uid) == before  # no row: the next login starts a session


def test_a_token_of_an_unknown_or_foreign_session_is_refused(api):
    uid, a, _ = two_logins(api)
    other = api.register("bob")["user_id"]
    assert_detail(api.authorized(make_token(uid, "alice", sid="A" * 22)), 401, INVALIDATED)
    # alice's session id in a token for bob (signed with the key) names no session of bob's
    assert_detail(api.authorized(make_token(other, "bob", sid=sid_of(a))), 401, INVALIDATED)
    for bad in ("", "x" * 40, "not base64url!", 7):
        assert_detail(api.authorized(make_token(uid, "alice", sid=bad)), 401, "Invalid token")


def test_logout_with_an_original_token_ends_original_tokens_only(api):
    uid, a, _ = two_logins(api)
    legacy = make_token(uid, "alice")
    time.sleep(0.01)
    assert api.post("/auth/logout", token=legacy).status == 200
    assert_detail(api.authorized(legacy), 401, INVALIDATED)
    assert api.authorized(a).status == 200
    later = make_token(uid, "alice")  # issued after: the original backend may still be serving
    assert api.authorized(later).status == 200


def test_deleting_the_account_removes_its_sessions(api):
    uid, a, _ = two_logins(api)
    r = api.delete("/user/delete", token=a)
    assert r.status == 200, r
    assert sessions(api, uid) == []


def test_a_new_password_ends_every_session(api):
    # A refresh that raced the change could sign a token dated after it; ending the sessions
    # (and dating a refreshed token at its check) leaves such a token nothing to stand on.
    uid, a, b = two_logins(api)
    r = api.post("/auth/change-password", {"current_password": "Sunny-Day7!",
                                           "new_password": "Rainy-Day8@"}, token=a)
    assert r.status == 200, r
    for t in (a, b):
        assert_detail(api.authorized(t), 401, INVALIDATED)
    assert all(revoked for _, revoked in sessions(api, uid))
    assert api.authorized(api.login_ok("alice", "Rainy-Day8@")["token"]).status == 200
