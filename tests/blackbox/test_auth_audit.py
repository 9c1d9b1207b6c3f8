"""Audit rows and what must never be written down (ORIGINAL_API §7; issue 3 "Audit rows";
DECISIONS S7, P "Logs and metrics")."""

import json

import pytest

import harness
from auth_helpers import (ADMIN_SECRET, indexes_built, JWT_SECRET, PASSWORD, Api, assert_auth_response,
                          audit_rows, db_of, start, wait_audit)

WRONG = "Wrong-Pass9!"


@pytest.fixture
def api(droplin):
    return Api(start(droplin))


def test_one_flow_writes_the_original_vocabulary(api):
    api.register("alice", email="alice@example.com")
    api.post("/auth/register", {"username": "alice", "password": PASSWORD})
    api.post("/auth/register", {"username": "bob", "password": PASSWORD,
                                "email": "alice@example.com"})
    api.login("ghost")
    api.login_ok("alice")
    for _ in range(5):
        api.login("alice", WRONG)
    api.login("alice")
    wait_audit(api.d, "account_locked")
    # barrier: a later registration's row (droplin writes a request's row before it answers)
    Api(api.d).register("zed_barrier")
    [barrier] = [r for r in wait_audit(api.d, "user_registration", count=2)
                 if '"zed_barrier"' in (r["details"] or "")]
    rows = [r for r in audit_rows(api.d) if r["id"] != barrier["id"]]
    actions = [r["action"] for r in rows]
    assert actions == ["user_registration", "registration_failed", "registration_failed",
                       "login_failed", "login_success", "login_failed", "login_failed",
                       "login_failed", "login_failed", "account_locked", "login_failed"], actions
    reasons = [json.loads(r["details"]).get("reason") for r in rows]
    assert reasons == [None, "username_taken", "email_exists", "user_not_found", None,
                       "invalid_password", "invalid_password", "invalid_password",
                       "invalid_password", None, "account_locked"], reasons


def test_failed_audit_write_never_fails_the_request(api):
    # Make every new audit row violate a constraint (NOT VALID: old rows are not checked).
    indexes_built(api.d)
    harness.db_exec(db_of(api.d), "ALTER TABLE audit_logs ADD CONSTRAINT refuse_all "
                                  "CHECK (action = 'never') NOT VALID")
    assert_auth_response(api.post("/auth/register", {"username": "alice",
                                                     "password": PASSWORD}), "alice")
    assert_auth_response(api.login("alice"), "alice")
    assert api.login("alice", WRONG).status == 401
    assert api.login("ghost").status == 401
    assert api.admin("/auth/unlock-account", {"username": "alice"}).status == 200
    assert audit_rows(api.d) == []


def test_audit_user_agent_is_kept_verbatim(api):
    Api(api.d, user_agent="DropLink/2.1 (iPhone; iOS 17.1)").register("alice")
    [row] = wait_audit(api.d, "user_registration")
    assert row["user_agent"] == "DropLink/2.1 (iPhone; iOS 17.1)"


def test_passwords_and_secrets_stay_out_of_logs_and_audit(api):
    pw1, pw2, pw3 = "First-Secret1!", "Second-Secret2!", "Third-Secret3!"
    api.register("alice", pw1)
    token = api.login_ok("alice", pw1)["token"]
    api.login("alice", "Guess-Secret9!")
    r = api.post("/auth/change-password", query={"current_password": pw1, "new_password": pw2},
                 token=token)
    assert r.status == 200, r
    token = api.login_ok("alice", pw2)["token"]
    r = api.post("/auth/change-password", {"current_password": pw2, "new_password": pw3},
                 token=token)
    assert r.status == 200, r
    api.admin("/admin/rotate-keys")
    api.d.log_barrier()
    out = api.d.output()
    details = " ".join(r["details"] or "" for r in audit_rows(api.d))
    for secret in (pw1, pw2, pw3, "Guess-Secret9!", JWT_SECRET, ADMIN_SECRET):
        assert secret not in out, f"{secret!r} is in the log"
        assert secret not in details, f"{secret!r} is in audit_logs"
    assert "current_password" not in out, "a query string reached the log"
