"""POST /auth/change-username and /auth/change-password: query form and JSON body (DECISIONS
C2), ORIGINAL_API §3.2 and §4.1/4.2; password_changed_at (DECISIONS P "Sessions")."""

import time

import bcrypt
import pytest

from auth_helpers import (INVALIDATED, NEW_PASSWORD, PASSWORD, Api, assert_422, assert_detail,
                          body_of, decode, insert_user, make_token, start, user_row)


@pytest.fixture
def api(droplin):
    return Api(start(droplin))


def signed_in(api, name="alice"):
    uid = api.register(name)["user_id"]
    return uid, api.login_ok(name)["token"]


def change_username(api, token, new, form="query"):
    if form == "query":
        return api.post("/auth/change-username", query={"new_username": new}, token=token)
    return api.post("/auth/change-username", {"new_username": new}, token=token)


def change_password(api, token, current, new, form="query"):
    fields = {"current_password": current, "new_password": new}
    if form == "query":
        return api.post("/auth/change-password", query=fields, token=token)
    return api.post("/auth/change-password", fields, token=token)


# ---------------------------------------------------------------------------------- change-username


@pytest.mark.parametrize("form", ["query", "json"])
def test_change_username(api, form):
    uid, token = signed_in(api)
    r = change_username(api, token, "NewName", form)
    assert r.status == 200, r
    body = body_of(r)
    assert set(body) == {"success", "message", "token", "username"}, body
    assert (body["success"], body["message"], body["username"]) == \
        (True, "Username changed successfully", "newname")
    c = decode(body["token"])
    assert (c["user_id"], c["username"], c["remember_me"]) == (uid, "newname", False)
    assert user_row(api.d, "newname")["id"] == uid
    assert api.login("newname").status == 200
    assert api.login("alice").status == 401


def test_old_tokens_stay_valid_after_a_rename(api):
    uid, token = signed_in(api)
    change_username(api, token, "renamed")
    r = api.authorized(token)
    assert r.status == 200, r
    assert body_of(r)["username"] == "renamed"


@pytest.mark.parametrize("name", ["abc", "a" * 20, "john.doe", "under_score", "josé"])
def test_accepted_names(api, name):
    _, token = signed_in(api)
    r = change_username(api, token, name, "json")
    assert r.status == 200, r
    assert body_of(r)["username"] == name


@pytest.mark.parametrize("name,message", [
    ("ab", "Username must be 3-20 characters"),
    ("a" * 21, "Username must be 3-20 characters"),
    ("", "Username must be 3-20 characters"),
    ("bad name", "Username can only contain letters, numbers, underscores, and periods"),
    (" abc", "Username can only contain letters, numbers, underscores, and periods"),
    ("dash-name", "Username can only contain letters, numbers, underscores, and periods"),
    ("semi;colon", "Username can only contain letters, numbers, underscores, and periods"),
])
@pytest.mark.parametrize("form", ["query", "json"])
def test_rejected_names(api, name, message, form):
    _, token = signed_in(api)
    assert_detail(change_username(api, token, name, form), 400, message)
    assert user_row(api.d, "alice") is not None


@pytest.mark.parametrize("form", ["query", "json"])
def test_name_taken_by_another_user(api, form):
    api.register("bob")
    _, token = signed_in(api)
    assert_detail(change_username(api, token, "BOB", form), 400, "Username already taken")


def test_name_taken_by_a_mixed_case_row(api):
    insert_user(api.d, "Carol")
    _, token = signed_in(api)
    assert_detail(change_username(api, token, "carol"), 400, "Username already taken")


@pytest.mark.parametrize("form", ["query", "json"])
def test_change_username_needs_the_field(api, form):
    _, token = signed_in(api)
    r = api.post("/auth/change-username", {} if form == "json" else None, token=token)
    assert_422(r, ("new_username", "Field required"))


def test_change_username_needs_a_token(api):
    assert_detail(api.post("/auth/change-username", query={"new_username": "x_y_z"}),
                  401, "Not authenticated")
    assert_detail(api.post("/auth/change-username", query={"new_username": "x_y_z"},
                           token="garbage"), 401, "Invalid token")


# ---------------------------------------------------------------------------------- change-password


@pytest.mark.parametrize("form", ["query", "json"])
def test_change_password(api, form):
    _, token = signed_in(api)
    r = change_password(api, token, PASSWORD, NEW_PASSWORD, form)
    assert r.status == 200, r
    assert body_of(r) == {"success": True, "message": "Password changed successfully"}
    assert api.login("alice", NEW_PASSWORD).status == 200
    assert api.login("alice", PASSWORD).status == 401
    h = user_row(api.d, "alice")["password_hash"]
    assert h.startswith("$2b$") and bcrypt.checkpw(NEW_PASSWORD.encode(), h.encode())


def test_change_password_invalidates_older_tokens(api):
    uid, token = signed_in(api)
    assert change_password(api, token, PASSWORD, NEW_PASSWORD).status == 200
    assert_detail(api.authorized(token), 401, INVALIDATED)
    assert_detail(api.authorized(make_token(uid, "alice", iat=time.time() - 30)), 401,
                  INVALIDATED)
    fresh = api.login_ok("alice", NEW_PASSWORD)["token"]
    assert api.authorized(fresh).status == 200
    assert api.authorized(make_token(uid, "alice")).status == 200


@pytest.mark.parametrize("new,message", [
    ("Aa1!", "Password must be at least 8 characters"),
    ("abcdefg1!", "Password must contain at least one uppercase letter"),
    ("ABCDEFG1!", "Password must contain at least one lowercase letter"),
    ("Abcdefgh!", "Password must contain at least one number"),
    ("Abcdefgh1", "Password must contain at least one special character"),
    ("short", "Password must be at least 8 characters"),
    ("alllowercase", "Password must contain at least one uppercase letter"),
])
@pytest.mark.parametrize("form", ["query", "json"])
def test_new_password_rules(api, new, message, form):
    _, token = signed_in(api)
    assert_detail(change_password(api, token, PASSWORD, new, form), 400, message)
    assert api.login("alice", PASSWORD).status == 200


@pytest.mark.parametrize("new", ["Abcdefg1_", "Abcdefg1 ", "Abcdefg1-", "Abcdefg1=",
                                 "Abcdefg1[", "Abcdefg1]", "Abcdefg1/", "ÉÇÀéçà1!"])
def test_broad_rules_accept(api, new):
    # the broad special set (§4.2) and non-ASCII letters (DECISIONS P)
    _, token = signed_in(api)
    r = change_password(api, token, PASSWORD, new, "json")
    assert r.status == 200, r
    assert api.login("alice", new).status == 200


def test_new_password_is_checked_before_the_current_one(api):
    _, token = signed_in(api)
    assert_detail(change_password(api, token, "Not-The-One1!", "weak"), 400,
                  "Password must be at least 8 characters")


@pytest.mark.parametrize("form", ["query", "json"])
def test_wrong_current_password(api, form):
    _, token = signed_in(api)
    assert_detail(change_password(api, token, "Not-The-One1!", NEW_PASSWORD, form), 401,
                  "Current password is incorrect")
    assert api.login("alice", PASSWORD).status == 200
    assert api.authorized(token).status == 200


@pytest.mark.parametrize("fields,errors", [
    ({}, [("current_password", "Field required"), ("new_password", "Field required")]),
    ({"current_password": PASSWORD}, [("new_password", "Field required")]),
    ({"new_password": NEW_PASSWORD}, [("current_password", "Field required")]),
], ids=["none", "no-new", "no-current"])
@pytest.mark.parametrize("form", ["query", "json"])
def test_change_password_needs_both_fields(api, fields, errors, form):
    _, token = signed_in(api)
    if form == "query":
        r = api.post("/auth/change-password", query=fields, token=token)
    else:
        r = api.post("/auth/change-password", fields, token=token)
    assert_422(r, *errors)


def test_change_password_needs_a_token(api):
    q = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert_detail(api.post("/auth/change-password", query=q), 401, "Not authenticated")
