"""DELETE /user/delete (ORIGINAL_API §3.4; issue 4: everything the user owns in one
transaction, one audit row of the deletion kept, the deleted user's tokens stop working;
DECISIONS P: ids are never reused)."""

import pytest

from auth_helpers import PASSWORD, assert_detail, body_of, make_token, parallel
from userdata_helpers import (PROTECTED, audit_of, db, device, logged_code, settle, signup,
                              users)
from userdata_helpers import server  # noqa: F401  (pytest fixture)

DELETED = {"success": True, "message": "Account successfully deleted"}


def populate(srv, u):
    """Devices, pins, zones, settings, profile and codes for u's e-mail."""
    ids = [u.ok("POST", "/devices", device(f"{u.username} dev {i}"))["id"] for i in range(3)]
    for i in ids[:2]:
        u.ok("POST", f"/user/pinned/{i}")
    for i in range(2):
        u.ok("POST", "/user/privacy-zones", {"address": f"{u.username} zone {i}", "radius": 5})
    u.ok("POST", "/user/settings", {"darkMode": False, "maxDistance": 77})
    u.ok("POST", "/user/profile", {"name": u.username, "bio": "bio", "phone": str(u.id) * 3,
                                   "socialMedia": [{"p": "x"}]})
    for type_ in ("account_deletion", "registration"):
        u.ok("POST", "/auth/send-verification-code", {"email": u.email, "type": type_})
    return ids


def counts(srv, u):
    q = {
        "users": "SELECT count(*) FROM users WHERE id = %s",
        "devices": "SELECT count(*) FROM devices WHERE user_id = %s",
        "pinned_contacts": "SELECT count(*) FROM pinned_contacts WHERE user_id = %s",
        "privacy_zones": "SELECT count(*) FROM privacy_zones WHERE user_id = %s",
        "user_settings": "SELECT count(*) FROM user_settings WHERE user_id = %s",
        "user_profiles": "SELECT count(*) FROM user_profiles WHERE user_id = %s",
    }
    out = {k: db(srv, sql, (u.id,))[0][0] for k, sql in q.items()}
    out["verification_codes"] = db(srv, "SELECT count(*) FROM verification_codes "
                                        "WHERE lower(email) = %s", (u.email,))[0][0]
    return out


FULL = {"users": 1, "devices": 3, "pinned_contacts": 2, "privacy_zones": 2, "user_settings": 1,
        "user_profiles": 1, "verification_codes": 2}
NONE = {k: 0 for k in FULL}


def test_delete_removes_everything_the_user_owns(server):
    alice, bob = users(server, 2)
    populate(server, alice)
    populate(server, bob)
    assert counts(server, alice) == FULL and counts(server, bob) == FULL
    bob_before = (body_of(bob.get("/devices")), body_of(bob.get("/user/profile")),
                  body_of(bob.get("/user/pinned")), body_of(bob.get("/user/privacy-zones")),
                  body_of(bob.get("/user/settings")))
    r = alice.delete("/user/delete")
    assert r.status == 200 and body_of(r) == DELETED, r
    assert counts(server, alice) == NONE
    assert counts(server, bob) == FULL
    assert (body_of(bob.get("/devices")), body_of(bob.get("/user/profile")),
            body_of(bob.get("/user/pinned")), body_of(bob.get("/user/privacy-zones")),
            body_of(bob.get("/user/settings"))) == bob_before


def test_one_audit_row_of_the_deletion_is_kept(server):
    u = users(server)
    populate(server, u)
    u.ok("POST", "/user/profile", {"name": "again"})
    assert u.delete("/user/delete").status == 200
    settle(server)
    rows = audit_of(server, u.id)
    assert [(r["action"], r["details"]) for r in rows] == \
        [("account_deletion", f"User {u.id} deleted their account")], rows


@pytest.mark.parametrize("method,path,body", PROTECTED)
def test_tokens_of_a_deleted_user_stop_working(server, method, path, body):
    u = users(server)
    token_before = u.token
    other_token = u.api.login_ok(u.username)["token"]
    assert u.delete("/user/delete").status == 200
    for t in (token_before, other_token, make_token(u.id, u.username)):
        assert_detail(u.api.call(method, path, body, token=t), 401, "Invalid token")


def test_login_fails_and_the_name_is_free_again(server):
    u = users(server)
    assert u.delete("/user/delete").status == 200
    assert_detail(u.api.login(u.username), 401, "Invalid username or password")
    again = u.api.register(u.username, email=u.email)
    assert again["user_id"] > u.id  # never a reused id
    # the old token does not work for the new account of the same name
    assert_detail(u.get("/user/profile"), 401, "Invalid token")
    new = u.api.call("GET", "/user/profile", token=again["token"])
    assert body_of(new)["name"] is None and body_of(new)["username"] == u.username


def test_parallel_deletes_of_one_account(server):
    u = users(server)
    populate(server, u)
    results = parallel(lambda: u.delete("/user/delete"), [()] * 6)
    # one deletion: the first to take the account's row deletes it (200), every other finds
    # its token's user gone (401), however they interleave
    statuses = sorted(r.status for r in results)
    assert statuses == [200] + [401] * 5, results
    for r in results:
        if r.status == 200:
            assert body_of(r) == DELETED
        else:
            assert_detail(r, 401, "Invalid token")
    assert counts(server, u) == NONE
    settle(server)
    assert [r["action"] for r in audit_of(server, u.id)] == ["account_deletion"]


def test_delete_needs_a_token(server):
    u = users(server)
    assert_detail(u.api.delete("/user/delete"), 401, "Not authenticated")
    assert_detail(u.api.delete("/user/delete", token="x.y.z"), 401, "Invalid token")
    assert counts(server, u)["users"] == 1


def test_the_apps_deletion_flow(server):
    """SecuritySettings: send a code of type account_deletion, verify it, then delete (the
    server does not require the code, as the original)."""
    u = users(server)
    mark = len(u.api.d.stdout_lines())
    r = u.api.post("/auth/send-verification-code", {"email": u.email, "type": "account_deletion"})
    assert r.status == 200, r
    code = logged_code(u.api.d, u.email, after=mark)
    r = u.api.post("/auth/verify-code", {"email": u.email, "code": code,
                                         "type": "account_deletion"})
    assert r.status == 200, r
    assert body_of(u.delete("/user/delete")) == DELETED
    assert counts(server, u)["users"] == 0


def test_other_users_with_the_same_email_keep_their_codes(server):
    """Codes are deleted for the deleted user's e-mail only."""
    alice = users(server)
    bob = signup(alice.api, email=f"{alice.username}.bob@example.com")
    bob.ok("POST", "/auth/send-verification-code", {"email": bob.email})
    alice.ok("POST", "/auth/send-verification-code", {"email": alice.email})
    assert alice.delete("/user/delete").status == 200
    assert counts(server, bob)["verification_codes"] == 1
    assert bob.api.login_ok(bob.username, PASSWORD)
