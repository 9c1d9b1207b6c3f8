"""Tokens and sessions: POST /auth/refresh and the one bearer check (ORIGINAL_API §1.3, §5;
DECISIONS C4, S3, P "Sessions"). Tokens made here by PyJWT with the original's claims."""

import time

import jwt
import pytest

import harness
from auth_helpers import (ADMIN_SECRET, INACTIVE_30_DAYS, INACTIVE_30_MIN, INVALIDATED, JWT_SECRET,
                          OTHER_SECRET, Api, assert_auth_response, assert_detail, claims, db_of,
                          PASSWORD, decode, forget_last_seen, make_token, raw_token, start)

DAY = 86400


@pytest.fixture
def api(droplin):
    return Api(start(droplin))


def user(api, name="alice"):
    return api.register(name)["user_id"]


# ---------------------------------------------------------------------------------- droplin -> PyJWT


def test_droplin_token_decodes_in_pyjwt_with_the_original_claims(api):
    t0 = time.time()
    uid = user(api)
    token = api.login_ok("alice")["token"]
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    c = decode(token)
    assert set(c) == {"user_id", "username", "exp", "iat", "last_activity", "remember_me",
                      "key_version", "sid"}, c  # the original ignores the extra session id
    assert isinstance(c["sid"], str) and len(c["sid"]) == 22, c
    assert type(c["user_id"]) is int and c["user_id"] == uid
    assert c["username"] == "alice"
    assert type(c["exp"]) is int
    assert type(c["iat"]) is float and type(c["last_activity"]) is float
    assert c["last_activity"] == c["iat"]
    assert t0 - 5 <= c["iat"] <= time.time() + 5
    assert abs(c["exp"] - (c["iat"] + 30 * DAY)) <= 2
    assert c["remember_me"] is False and type(c["key_version"]) is int and c["key_version"] == 1


def test_token_lifetime_and_key_version_come_from_the_settings(droplin):
    api = Api(start(droplin, ACCESS_TOKEN_EXPIRE_DAYS="2", JWT_KEY_VERSION="3"))
    user(api)
    c = decode(api.login_ok("alice")["token"])
    assert abs(c["exp"] - (c["iat"] + 2 * DAY)) <= 2
    assert c["key_version"] == 3


def test_droplin_token_does_not_verify_with_another_key(api):
    user(api)
    token = api.login_ok("alice")["token"]
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, OTHER_SECRET, algorithms=["HS256"], leeway=1)


# ---------------------------------------------------------------------------------- PyJWT -> droplin


def test_pyjwt_token_is_accepted(api):
    uid = user(api)
    r = api.authorized(make_token(uid, "alice"))
    assert_auth_response(r, "alice")


def test_pyjwt_token_with_integer_times_is_accepted(api):
    uid = user(api)
    t = int(time.time())
    assert api.authorized(make_token(uid, "alice", iat=t, last_activity=t)).status == 200


def test_key_version_claim_defaults_to_1(api):
    uid = user(api)
    assert api.authorized(make_token(uid, "alice", drop=("key_version",))).status == 200


def test_user_is_found_by_id_not_by_the_name_claim(api):
    uid = user(api)
    r = api.authorized(make_token(uid, "someone_else"))
    assert_auth_response(r, "alice")


# ---------------------------------------------------------------------------------- refresh


def test_refresh_issues_a_new_token(api):
    uid = user(api)
    old = make_token(uid, "alice", iat=time.time() - 600, last_activity=time.time() - 600)
    body = assert_auth_response(api.authorized(old), "alice")
    assert body["user_id"] == uid
    c_old, c_new = decode(old), decode(body["token"])
    assert c_new["iat"] > c_old["iat"] + 500
    assert c_new["last_activity"] > c_old["last_activity"] + 500
    assert c_new["exp"] > c_old["exp"]
    assert c_new["remember_me"] is False and c_new["key_version"] == 1
    assert api.authorized(body["token"]).status == 200


def test_refresh_keeps_remember_me(api):
    uid = user(api)
    body = assert_auth_response(api.authorized(make_token(uid, "alice", remember_me=True)),
                                "alice")
    assert decode(body["token"])["remember_me"] is True


def test_refresh_takes_no_body(api):
    uid = user(api)
    r = api.post("/auth/refresh", {"anything": 1}, token=make_token(uid, "alice"))
    assert r.status == 200, r


# ---------------------------------------------------------------------------------- rejections


@pytest.mark.parametrize("path", ["/auth/refresh", "/auth/change-username",
                                  "/auth/change-password"])
def test_no_authorization_header(api, path):
    assert_detail(api.post(path), 401, "Not authenticated")


@pytest.mark.parametrize("scheme", ["bearer {t}", "Token {t}", "{t}", "Bearer", "Basic {t}",
                                    "BEARER {t}"])
def test_header_that_is_not_bearer(api, scheme):
    uid = user(api)
    auth = scheme.format(t=make_token(uid, "alice"))
    r = api.post("/auth/refresh", auth=auth)
    assert_detail(r, 401, "Not authenticated")
    assert r.headers.get("WWW-Authenticate") is None


def test_token_in_query_or_cookie_is_not_accepted(api):
    uid = user(api)
    token = make_token(uid, "alice")
    assert_detail(api.post("/auth/refresh", query={"token": token}), 401, "Not authenticated")
    assert_detail(api.post("/auth/refresh", headers={"Cookie": "token=" + token}),
                  401, "Not authenticated")


def bad_tokens(uid):
    now = time.time()
    good = make_token(uid, "alice")
    head, payload, sig = good.split(".")
    forged_payload = raw_token({"alg": "HS256", "typ": "JWT"},
                               dict(claims(uid, "alice"), user_id=uid + 1)).split(".")[1]
    return {
        "wrong-key": make_token(uid, "alice", secret=OTHER_SECRET),
        "tampered-payload": ".".join([head, forged_payload, sig]),
        "alg-none": raw_token({"alg": "none", "typ": "JWT"}, claims(uid, "alice")),
        "alg-none-with-signature": raw_token({"alg": "none", "typ": "JWT"}, claims(uid, "alice"),
                                             signature=sig),
        "hs512-right-key": make_token(uid, "alice", algorithm="HS512"),
        "hs384-right-key": make_token(uid, "alice", algorithm="HS384"),
        "two-parts": head + "." + payload,
        "garbage": "not-a-token",
        "garbage-three-parts": "a.b.c",
        "empty-signature": head + "." + payload + ".",
        "payload-not-json": head + ".bm90IGpzb24." + sig,
        "future-iat": make_token(uid, "alice", iat=now + 3600),
        "unknown-user": make_token(uid + 1000, "nobody"),
    }


@pytest.mark.parametrize("case", sorted(bad_tokens(1)))
def test_invalid_token(api, case):
    uid = user(api)
    assert_detail(api.authorized(bad_tokens(uid)[case]), 401, "Invalid token")


def test_deleted_user_token_is_invalid(api):
    uid = user(api)
    token = api.login_ok("alice")["token"]
    harness.db_exec(db_of(api.d), "DELETE FROM users WHERE id = %s", (uid,))
    assert_detail(api.authorized(token), 401, "Invalid token")


def test_expired_token(api):
    uid = user(api)
    t = time.time() - 31 * DAY
    token = make_token(uid, "alice", iat=t, exp=int(time.time() - 3600), remember_me=True)
    assert_detail(api.authorized(token), 401, "Token has expired")


def test_exp_and_iat_have_a_small_leeway(api):
    uid = user(api)
    now = time.time()
    assert api.authorized(make_token(uid, "alice", exp=int(now - 3))).status == 200
    assert api.authorized(make_token(uid, "alice", iat=now + 3)).status == 200
    assert_detail(api.authorized(make_token(uid, "alice", iat=now + 120)), 401, "Invalid token")


def test_leeway_setting(droplin):
    api = Api(start(droplin, JWT_LEEWAY_SECONDS="0"))
    uid = user(api)
    assert_detail(api.authorized(make_token(uid, "alice", exp=int(time.time() - 3))),
                  401, "Token has expired")


@pytest.mark.parametrize("version", [0, 2, 7])
def test_wrong_key_version(api, version):
    uid = user(api)
    assert_detail(api.authorized(make_token(uid, "alice", key_version=version)), 401, INVALIDATED)


# ---------------------------------------------------------------------------------- inactivity


def test_inactive_session(api):
    uid = user(api)
    forget_last_seen(api.d, uid)
    t = time.time() - 31 * 60
    assert_detail(api.authorized(make_token(uid, "alice", iat=t)), 401, INACTIVE_30_MIN)


def test_remember_me_survives_half_an_hour(api):
    uid = user(api)
    forget_last_seen(api.d, uid)
    t = time.time() - 31 * 60
    assert api.authorized(make_token(uid, "alice", iat=t, remember_me=True)).status == 200


def test_inactive_remember_me_session(api):
    uid = user(api)
    forget_last_seen(api.d, uid)
    t = time.time() - 31 * DAY
    token = make_token(uid, "alice", iat=t, exp=int(time.time() + DAY), remember_me=True)
    assert_detail(api.authorized(token), 401, INACTIVE_30_DAYS)


def test_timeouts_and_their_messages_come_from_the_settings(droplin):
    api = Api(start(droplin, ACTIVITY_TIMEOUT_MINUTES="1", REMEMBER_ME_TIMEOUT_DAYS="2"))
    uid = user(api)
    forget_last_seen(api.d, uid)
    now = time.time()
    assert api.authorized(make_token(uid, "alice", iat=now - 30)).status == 200
    forget_last_seen(api.d, uid)
    assert_detail(api.authorized(make_token(uid, "alice", iat=now - 90)), 401,
                  "Session expired due to inactivity (timeout: 1 minutes). Please log in again.")
    token = make_token(uid, "alice", iat=now - 3 * DAY, exp=int(now + DAY), remember_me=True)
    assert_detail(api.authorized(token), 401,
                  "Session expired due to inactivity (timeout: 2 days). Please log in again.")


def test_use_of_any_token_keeps_the_session_alive(droplin):
    """Inactivity counts from the later of last_activity and users.last_seen_at."""
    api = Api(start(droplin, ACTIVITY_TIMEOUT_MINUTES="1", SESSION_TOUCH_SECONDS="1"))
    uid = user(api)
    forget_last_seen(api.d, uid)
    stale = make_token(uid, "alice", iat=time.time() - 120)
    assert api.authorized(stale).status == 401  # nothing newer is known yet
    assert api.authorized(make_token(uid, "alice")).status == 200  # the user is active
    r = api.authorized(stale)
    assert r.status == 200, r


def test_rejected_token_does_not_refresh_the_session(api):
    uid = user(api)
    forget_last_seen(api.d, uid)
    stale = make_token(uid, "alice", iat=time.time() - 31 * 60)
    api.authorized(make_token(uid, "alice", secret=OTHER_SECRET))  # not this user's proof
    assert_detail(api.authorized(stale), 401, INACTIVE_30_MIN)


# ---------------------------------------------------------------------------------- key rotation

NEW_SECRET = "the-new-secret-after-rotation-" + "9" * 20


def rotated(droplin, **env):
    """A replica after the operator's rotation: new key, previous key, version 2."""
    return Api(start(droplin, JWT_SECRET_KEY=NEW_SECRET, PREVIOUS_JWT_SECRET_KEY=JWT_SECRET,
                     JWT_KEY_VERSION="2", **env))


@pytest.mark.parametrize("secret,version,ok", [
    (JWT_SECRET, 1, True),       # old key, old version: grace period
    (JWT_SECRET, 2, False),      # old key cannot claim the new version
    (NEW_SECRET, 2, True),
    (NEW_SECRET, 1, False),
    (NEW_SECRET, 3, False),
])
def test_rotation_grace_period(droplin, secret, version, ok):
    api = rotated(droplin)
    uid = user(api)
    r = api.authorized(make_token(uid, "alice", secret=secret, key_version=version))
    if ok:
        assert r.status == 200, r
    else:
        assert_detail(r, 401, INVALIDATED)


def test_rotation_rejects_a_third_key(droplin):
    api = rotated(droplin)
    uid = user(api)
    assert_detail(api.authorized(make_token(uid, "alice", secret=OTHER_SECRET, key_version=1)),
                  401, "Invalid token")


def test_expired_token_of_the_previous_key(droplin):
    api = rotated(droplin)
    uid = user(api)
    token = make_token(uid, "alice", secret=JWT_SECRET, key_version=1,
                       iat=time.time() - DAY, exp=int(time.time() - 3600), remember_me=True)
    assert_detail(api.authorized(token), 401, "Token has expired")


def test_without_previous_key_old_tokens_are_invalid(droplin):
    api = Api(start(droplin, JWT_SECRET_KEY=NEW_SECRET, JWT_KEY_VERSION="2"))
    uid = user(api)
    assert_detail(api.authorized(make_token(uid, "alice", secret=JWT_SECRET, key_version=1)),
                  401, "Invalid token")


def test_rotated_replica_issues_new_key_tokens(droplin):
    api = rotated(droplin)
    user(api)
    c = decode(api.login_ok("alice")["token"], NEW_SECRET)
    assert c["key_version"] == 2


@pytest.mark.parametrize("var", ["PREVIOUS_JWT_SECRET_KEY", "NEXT_JWT_SECRET_KEY"])
def test_weak_verifying_key_is_ignored_in_development(droplin, var):
    # In production a weak verifying key stops start-up (test_secrets.py); in development it is
    # dropped with a warning, as a weak signing key is replaced: a token signed with it is nobody.
    weak = "short-old-key"
    api = Api(start(droplin, DROPLIN_ENV="development", JWT_SECRET_KEY=NEW_SECRET,
                    JWT_KEY_VERSION="2", **{var: weak}))
    uid = user(api)
    version = 1 if var.startswith("PREVIOUS") else 3
    assert_detail(api.authorized(make_token(uid, "alice", secret=weak, key_version=version)),
                  401, "Invalid token")
    assert any(l.get("level") == "warn" and var in str(l) for l in api.d.logs()), api.d.describe()


@pytest.mark.parametrize("var", ["PREVIOUS_JWT_SECRET_KEY", "NEXT_JWT_SECRET_KEY"])
def test_empty_verifying_key_verifies_nothing(droplin, var):
    # An HMAC under an empty key is no proof: an empty variable is an unset one.
    api = Api(start(droplin, DROPLIN_ENV="production", BCRYPT_COST="12", JWT_SECRET_KEY=NEW_SECRET,
                    JWT_KEY_VERSION="2", **{var: ""}))
    uid = harness.db_query(db_of(api.d), "INSERT INTO users (username, password_hash) "
                                         "VALUES ('alice', '!') RETURNING id")[0][0]
    version = 1 if var.startswith("PREVIOUS") else 3
    assert api.authorized(make_token(uid, "alice", secret=NEW_SECRET, key_version=2)).status == 200
    assert_detail(api.authorized(make_token(uid, "alice", secret="", key_version=version)),
                  401, "Invalid token")


def last_seen(api, uid):
    return harness.db_query(db_of(api.d), "SELECT last_seen_at FROM users WHERE id = %s",
                            (uid,))[0][0]


def test_last_seen_is_written_at_most_every_session_touch_seconds(droplin):
    api = Api(start(droplin, SESSION_TOUCH_SECONDS="3600"))
    uid = user(api)
    forget_last_seen(api.d, uid)
    assert api.authorized(make_token(uid, "alice")).status == 200
    first = harness.wait_until(lambda: last_seen(api, uid), 5, what="last_seen_at written")
    time.sleep(1.1)
    for _ in range(3):
        assert api.authorized(make_token(uid, "alice")).status == 200
    time.sleep(0.3)
    assert last_seen(api, uid) == first


def test_last_seen_moves_after_session_touch_seconds(droplin):
    api = Api(start(droplin, SESSION_TOUCH_SECONDS="1"))
    uid = user(api)
    forget_last_seen(api.d, uid)
    assert api.authorized(make_token(uid, "alice")).status == 200
    first = harness.wait_until(lambda: last_seen(api, uid), 5, what="last_seen_at written")
    time.sleep(1.5)
    assert api.authorized(make_token(uid, "alice")).status == 200
    harness.wait_until(lambda: last_seen(api, uid) != first, 5, what="last_seen_at moved")


# A rotation without a window of 401s: phase 1 deploys NEXT_JWT_SECRET_KEY (verify only) to
# every replica; phase 2 switches signing. A phase-2 replica's token works on a phase-1 one.
def preparing(droplin):
    """A replica in phase 1: still signing with the old key, already accepting the next."""
    return Api(start(droplin, JWT_SECRET_KEY=JWT_SECRET, NEXT_JWT_SECRET_KEY=NEW_SECRET,
                     JWT_KEY_VERSION="1"))


@pytest.mark.parametrize("secret,version,ok", [
    (JWT_SECRET, 1, True),
    (NEW_SECRET, 2, True),   # issued by a replica that already switched
    (NEW_SECRET, 1, False),  # the next key must carry the next version
    (NEW_SECRET, 3, False),
])
def test_next_key_is_accepted_before_the_switch(droplin, secret, version, ok):
    api = preparing(droplin)
    uid = user(api)
    r = api.authorized(make_token(uid, "alice", secret=secret, key_version=version))
    if ok:
        assert r.status == 200, r
    else:
        assert_detail(r, 401, INVALIDATED)


def test_tokens_cross_both_ways_during_a_two_phase_rotation(droplin, fresh_db):
    old = Api(start(droplin, db=fresh_db, JWT_SECRET_KEY=JWT_SECRET, NEXT_JWT_SECRET_KEY=NEW_SECRET,
                    JWT_KEY_VERSION="1"))
    new = Api(start(droplin, db=fresh_db, JWT_SECRET_KEY=NEW_SECRET, PREVIOUS_JWT_SECRET_KEY=JWT_SECRET,
                    JWT_KEY_VERSION="2"))
    old.register("crosser")
    from_old, from_new = old.login_ok("crosser")["token"], new.login_ok("crosser")["token"]
    for api in (old, new):
        for token in (from_old, from_new):
            assert api.authorized(token).status == 200


def test_responses_that_carry_a_token_or_secret_are_not_stored(api):
    # A shared cache or proxy must never keep a token: every such response says no-store.
    r = api.post("/auth/register", {"username": "nostore", "password": PASSWORD})
    assert r.status == 200 and r.headers.get("Cache-Control") == "no-store", r
    token = r.json()["token"]
    r = api.post("/auth/login", {"username": "nostore", "password": PASSWORD})
    assert r.status == 200 and r.headers.get("Cache-Control") == "no-store", r
    r = api.authorized(token)
    assert r.status == 200 and r.headers.get("Cache-Control") == "no-store", r
    r = api.post("/auth/change-username", {"new_username": "nostore2"}, token=token)
    assert r.status == 200 and "token" in r.json(), r
    assert r.headers.get("Cache-Control") == "no-store", r
    r = api.admin("/admin/rotate-keys")
    assert r.status == 200 and r.headers.get("Cache-Control") == "no-store", r
    # every API answer says so (a profile, the admin's lists); the documents may be cached
    assert api.post("/auth/check-username", {"username": "zed"}).headers.get("Cache-Control") == "no-store"
    assert api.d.get("/health").headers.get_all("Cache-Control") == ["no-store"]
    stats = api.d.get("/admin/stats", headers={"secret": ADMIN_SECRET})
    assert stats.status == 200 and stats.headers.get_all("Cache-Control") == ["no-store"], stats
    assert api.d.get("/openapi.json").headers.get_all("Cache-Control") == ["public, max-age=300"]
