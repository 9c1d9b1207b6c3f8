"""POST /auth/unlock-account and POST /admin/rotate-keys: admin `secret` header only
(DECISIONS S2, P); ORIGINAL_API §3.2."""

import json
import re

import pytest

from auth_helpers import (ADMIN_SECRET, JWT_SECRET, PASSWORD, Api, assert_detail, assert_422,
                          audit_rows, body_of, make_token, start, user_row)

WRONG = "Wrong-Pass9!"
ROTATION_MESSAGE = "Key rotation prepared. Update environment variables to complete rotation."


@pytest.fixture
def api(droplin):
    return Api(start(droplin))


def lock(api, name="alice"):
    api.register(name)
    for _ in range(5):
        api.login(name, WRONG)
    assert api.login(name).status == 423


def new_audit_rows(api, before_ids):
    return [r for r in audit_rows(api.d) if r["id"] not in before_ids]


# ---------------------------------------------------------------------------------- unlock-account


def test_unlock_account(api):
    lock(api)
    r = api.admin("/auth/unlock-account", {"username": "alice"})
    assert r.status == 200, r
    assert body_of(r) == {"success": True,
                          "message": "Account 'alice' has been unlocked successfully",
                          "username": "alice"}
    row = user_row(api.d, "alice")
    assert (row["failed_login_attempts"], row["locked_until"]) == (0, None)
    assert api.login("alice").status == 200


def test_unlock_lookup_is_case_insensitive(api):
    lock(api)
    assert api.admin("/auth/unlock-account", {"username": "ALICE"}).status == 200
    assert api.login("alice").status == 200


def test_unlock_writes_an_audit_row(api):
    lock(api)
    before = {r["id"] for r in audit_rows(api.d)}
    api.admin("/auth/unlock-account", {"username": "alice"})
    rows = new_audit_rows(api, before)
    assert len(rows) == 1, rows
    assert "unlock" in (rows[0]["action"] + (rows[0]["details"] or "")).lower(), rows
    assert rows[0]["ip_address"] == "127.0.0.1"


@pytest.mark.parametrize("headers", [{}, {"secret": "wrong"}, {"secret": ADMIN_SECRET + "x"},
                                     {"secret": ""}, {"Secret-Key": ADMIN_SECRET}],
                         ids=["none", "wrong", "longer", "empty", "other-header"])
def test_unlock_needs_the_admin_secret(api, headers):
    lock(api)
    r = api.post("/auth/unlock-account", {"username": "alice"}, headers=headers)
    assert_detail(r, 403, "Forbidden")
    assert user_row(api.d, "alice")["failed_login_attempts"] == 5


def test_a_user_token_is_not_enough(api):
    lock(api)
    api.register("mallory")
    token = api.login_ok("mallory")["token"]
    assert_detail(api.post("/auth/unlock-account", {"username": "alice"}, token=token),
                  403, "Forbidden")


def test_forbidden_comes_before_input_errors(api):
    assert_detail(api.post("/auth/unlock-account", {}), 403, "Forbidden")


@pytest.mark.parametrize("body", [{}, {"username": ""}], ids=["missing", "empty"])
def test_unlock_needs_a_username(api, body):
    assert_detail(api.admin("/auth/unlock-account", body), 400, "Username is required")


def test_unlock_unknown_user(api):
    assert_detail(api.admin("/auth/unlock-account", {"username": "ghost"}), 404, "User not found")


def test_unlock_body_not_json(api):
    r = api.admin("/auth/unlock-account", raw=b"username=alice",
                  headers={"Content-Type": "application/json"})
    assert_422(r, ("0", "JSON decode error"))


# ---------------------------------------------------------------------------------- rotate-keys


def test_rotate_keys_shape(droplin):
    api = Api(start(droplin, JWT_KEY_VERSION="3"))
    r = api.admin("/admin/rotate-keys")
    assert r.status == 200, r
    body = body_of(r)
    assert body["success"] is True
    assert body["message"] == ROTATION_MESSAGE
    assert (body["current_key_version"], body["new_key_version"]) == (3, 4)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", body["new_jwt_secret"]), body["new_jwt_secret"]
    assert body["previous_jwt_secret"] == "(not disclosed)"
    assert set(body["instructions"]) == {"step_1", "step_2", "step_3", "step_4", "step_5",
                                         "step_6", "warning"}, body["instructions"]
    assert all(isinstance(v, str) and v for v in body["instructions"].values())
    assert isinstance(body["grace_period_note"], str) and body["grace_period_note"]
    assert set(body) == {"success", "message", "current_key_version", "new_key_version",
                         "new_jwt_secret", "previous_jwt_secret", "instructions",
                         "grace_period_note"}


def test_rotate_keys_never_discloses_a_live_secret(droplin):
    previous = "previous-secret-still-verifying-" + "7" * 10
    api = Api(start(droplin, PREVIOUS_JWT_SECRET_KEY=previous, JWT_KEY_VERSION="2"))
    text = api.admin("/admin/rotate-keys").text
    for secret in (JWT_SECRET, previous, ADMIN_SECRET):
        assert secret not in text, "a live secret is in the rotate-keys answer"
        assert json.dumps(secret)[1:-1] not in text


def test_rotate_keys_gives_a_fresh_candidate_each_time(api):
    secrets = {body_of(api.admin("/admin/rotate-keys"))["new_jwt_secret"] for _ in range(3)}
    assert len(secrets) == 3
    assert JWT_SECRET not in secrets


def test_rotate_keys_changes_nothing(api):
    uid = api.register("alice")["user_id"]
    token = make_token(uid, "alice")
    api.admin("/admin/rotate-keys")
    assert api.authorized(token).status == 200
    assert api.login("alice", PASSWORD).status == 200


@pytest.mark.parametrize("headers", [{}, {"secret": "wrong"}], ids=["none", "wrong"])
def test_rotate_keys_needs_the_admin_secret(api, headers):
    r = api.post("/admin/rotate-keys", headers=headers)
    assert_detail(r, 403, "Forbidden")
    assert JWT_SECRET not in r.text


def test_rotate_keys_with_a_user_token_is_forbidden(api):
    api.register("mallory")
    token = api.login_ok("mallory")["token"]
    assert_detail(api.post("/admin/rotate-keys", token=token), 403, "Forbidden")


def test_rotate_keys_writes_an_audit_row(api):
    before = {r["id"] for r in audit_rows(api.d)}
    api.admin("/admin/rotate-keys")
    rows = new_audit_rows(api, before)
    assert len(rows) == 1, rows
    assert "rotat" in (rows[0]["action"] + (rows[0]["details"] or "")).lower(), rows
    for secret in (JWT_SECRET, ADMIN_SECRET):
        assert secret not in (rows[0]["details"] or "")
