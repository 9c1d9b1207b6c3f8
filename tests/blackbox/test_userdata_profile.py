"""GET and POST /user/profile (ORIGINAL_API §3.4, §4.4; DECISIONS C2 socialMedia and both photo
keys, F merge instead of replacement, P profile e-mail and uniqueness under advisory locks, S3 one
token check)."""

import datetime
import json
import time

import pytest

from auth_helpers import (assert_422, indexes_built, assert_audit_details, assert_detail, body_of,
                          forget_last_seen, make_token, parallel, start)
from userdata_helpers import (CREATED_AT_RE, PROFILE_KEYS, SERVER_ENV, UserApi, audit_of, db,
                              settle, users, wait_audit_of)
from userdata_helpers import server  # noqa: F401  (pytest fixture)

PHONE_TAKEN = "This phone number is already associated with another account"
EMAIL_TAKEN = "This email is already associated with another account"
PHOTO = "https://127.0.0.1/demo/image/upload/v1/droplink/profile_photos/user_x.jpg"


def profile(user):
    r = user.get("/user/profile")
    assert r.status == 200, r
    p = body_of(r)
    assert set(p) == PROFILE_KEYS, p
    assert p["profilePhoto"] == p["profile_photo"], p
    assert isinstance(p["hasCompletedOnboarding"], bool), p
    return p


def save(user, body):
    return user.post("/user/profile", body)


def saved(user, body):
    r = save(user, body)
    assert r.status == 200 and body_of(r) == {"success": True}, f"{body!r}: {r!r}"


def set_photo(srv, user, url=PHOTO):
    """The photo upload belongs to another issue; write the column as the upload would."""
    db(srv, "INSERT INTO user_profiles (user_id, profile_photo) VALUES (%s, %s) "
            "ON CONFLICT (user_id) DO UPDATE SET profile_photo = EXCLUDED.profile_photo",
       (user.id, url))


SOCIAL = [{"platform": "instagram", "handle": "@alice"}]


def full(user, **over):
    """What App/UserContext sends, with a phone of the user's own ("444" and its id)."""
    body = {"name": "Alice Smith", "email": None, "phone": "(444) %s-%s" % (
        f"{user.id:07d}"[:3], f"{user.id:07d}"[3:]), "bio": "Hello!", "socialMedia": SOCIAL}
    body.update(over)
    return body


def digits(user):
    return "444" + f"{user.id:07d}"


# ---------------------------------------------------------------------------------- GET


def test_profile_of_a_new_user(server):
    u = users(server)
    p = profile(u)
    assert p == dict(p, username=u.username, email=u.email, name=None, phone=None,
                     profilePhoto=None, profile_photo=None, hasCompletedOnboarding=False,
                     bio=None, socialMedia=None), p
    assert CREATED_AT_RE.match(p["createdAt"]), p
    [(created,)] = db(server, "SELECT created_at FROM users WHERE id = %s", (u.id,))
    assert p["createdAt"] == created.isoformat(), (p["createdAt"], created)


def test_profile_without_an_email(server):
    u = users(server, email=False)
    assert profile(u)["email"] is None


def test_profile_after_a_full_save(server):
    u = users(server)
    saved(u, full(u, email=f"{u.username}.alt@example.com"))
    p = profile(u)
    assert (p["name"], p["email"], p["phone"], p["bio"], p["socialMedia"]) == \
        ("Alice Smith", f"{u.username}.alt@example.com", digits(u), "Hello!", SOCIAL)
    assert p["hasCompletedOnboarding"] is False and p["username"] == u.username


def test_photo_under_both_keys(server):
    u = users(server)
    set_photo(server, u)
    p = profile(u)
    assert p["profilePhoto"] == PHOTO and p["profile_photo"] == PHOTO


@pytest.mark.parametrize("social", [[{"platform": "x", "handle": "@a"}], {"instagram": "@a"},
                                    [{"nested": {"deep": [1, 2, {"k": "ü"}]}}]])
def test_social_media_is_returned_parsed(server, social):
    u = users(server)
    saved(u, {"socialMedia": social})
    assert profile(u)["socialMedia"] == social


def test_social_media_written_by_the_original_is_returned_parsed(server):
    u = users(server)
    db(server, "INSERT INTO user_profiles (user_id, social_media) VALUES (%s, %s)",
       (u.id, json.dumps([{"platform": "tiktok", "handle": "@o"}])))
    assert profile(u)["socialMedia"] == [{"platform": "tiktok", "handle": "@o"}]


def test_profile_email_falls_back_to_the_account_email(server):
    u = users(server)
    saved(u, {"email": f"{u.username}.p@example.com"})
    assert profile(u)["email"] == f"{u.username}.p@example.com"
    saved(u, {"email": ""})
    assert profile(u)["email"] == u.email
    saved(u, {"email": f"{u.username}.p@example.com"})
    saved(u, {"email": None})
    assert profile(u)["email"] == u.email


def test_onboarding_flag_of_an_adopted_row_is_a_boolean(server):
    u = users(server)
    db(server, "INSERT INTO user_profiles (user_id, name, has_completed_onboarding) "
               "VALUES (%s, 'Old', 5)", (u.id,))
    p = profile(u)
    assert p["hasCompletedOnboarding"] is True and p["name"] == "Old"


# ---------------------------------------------------------------------------------- token check (S3)


def test_get_profile_uses_the_same_token_check(server):
    u = users(server)
    api = u.api
    assert_detail(api.get("/user/profile"), 401, "Not authenticated")
    assert_detail(api.get("/user/profile", auth=u.token), 401, "Not authenticated")
    assert_detail(api.get("/user/profile", query={"token": u.token}), 401, "Not authenticated")
    assert_detail(api.get("/user/profile", headers={"Cookie": "token=" + u.token}), 401,
                  "Not authenticated")
    assert_detail(api.get("/user/profile", token="a.b.c"), 401, "Invalid token")
    expired = make_token(u.id, u.username, iat=time.time() - 40 * 86400,
                         exp=int(time.time() - 3600), remember_me=True)
    assert_detail(api.get("/user/profile", token=expired), 401, "Token has expired")


def test_get_profile_rejects_an_inactive_session(server):
    u = users(server)
    forget_last_seen(server, u.id)
    stale = make_token(u.id, u.username, iat=time.time() - 31 * 60)
    assert_detail(u.api.get("/user/profile", token=stale), 401,
                  "Session expired due to inactivity (timeout: 30 minutes). Please log in again.")


def test_get_profile_of_a_deleted_user(server):
    u = users(server)
    db(server, "DELETE FROM users WHERE id = %s", (u.id,))
    assert_detail(u.get("/user/profile"), 401, "Invalid token")


# ---------------------------------------------------------------------------------- POST: merge (F)


def test_onboarding_alone_keeps_name_phone_bio_and_photo(server):
    """Issue 4 "Must show": a full save, then {"hasCompletedOnboarding": true} alone."""
    u = users(server)
    set_photo(server, u)
    saved(u, full(u, email=f"{u.username}.me@example.com"))
    saved(u, {"hasCompletedOnboarding": True})
    p = profile(u)
    assert (p["name"], p["phone"], p["bio"], p["profilePhoto"], p["profile_photo"],
            p["email"], p["socialMedia"], p["hasCompletedOnboarding"]) == \
        ("Alice Smith", digits(u), "Hello!", PHOTO, PHOTO, f"{u.username}.me@example.com",
         SOCIAL, True)


def test_saves_without_the_flag_do_not_reset_it(server):
    u = users(server)
    saved(u, {"hasCompletedOnboarding": True})
    saved(u, full(u))  # what App/UserContext sends
    p = profile(u)
    assert p["hasCompletedOnboarding"] is True and p["name"] == "Alice Smith"
    saved(u, {"hasCompletedOnboarding": False})
    assert profile(u)["hasCompletedOnboarding"] is False


def test_absent_keys_keep_their_values(server):
    u = users(server)
    saved(u, full(u))
    saved(u, {"name": "New Name"})
    p = profile(u)
    assert (p["name"], p["phone"], p["bio"], p["socialMedia"]) == \
        ("New Name", digits(u), "Hello!", SOCIAL)
    saved(u, {})
    assert profile(u) == p


@pytest.mark.parametrize("key,out", [("name", "name"), ("phone", "phone"), ("bio", "bio"),
                                     ("socialMedia", "socialMedia")])
def test_explicit_null_clears_one_field(server, key, out):
    u = users(server)
    set_photo(server, u)
    saved(u, full(u))
    before = profile(u)
    saved(u, {key: None})
    after = profile(u)
    assert after[out] is None, after
    assert {k: v for k, v in after.items() if k != out} == \
        {k: v for k, v in before.items() if k != out}


def test_profile_save_keeps_the_photo(server):
    """The original's SQLite path wiped the photo on every save."""
    u = users(server)
    set_photo(server, u)
    saved(u, full(u))
    saved(u, {"name": "x"})
    assert profile(u)["profile_photo"] == PHOTO


def test_unknown_keys_are_ignored(server):
    u = users(server)
    saved(u, {"name": "N", "favouriteColour": "blue", "profilePhoto": "https://evil/x.jpg",
              "username": "hijack"})
    p = profile(u)
    assert p["name"] == "N" and p["profilePhoto"] is None and p["username"] == u.username


# ---------------------------------------------------------------------------------- POST: values


@pytest.mark.parametrize("phone,stored", [
    ("(555) 123-4567", "5551234567"),
    ("+1 555 123 4567", "15551234567"),
    ("555-1234", "5551234"),
    ("abc", None),
    ("  ", None),
    ("", ""),  # the original kept an empty string as it was (ORIGINAL_API §3.4)
])
def test_phone_keeps_digits_only(server, phone, stored):
    u = users(server)
    saved(u, {"phone": phone})
    assert profile(u)["phone"] == stored
    [(col,)] = db(server, "SELECT phone FROM user_profiles WHERE user_id = %s", (u.id,))
    assert col == stored


def test_add_bio_placeholder_is_stored_empty(server):
    u = users(server)
    saved(u, {"bio": "Add bio"})
    assert profile(u)["bio"] == ""
    saved(u, {"bio": "add bio please"})
    assert profile(u)["bio"] == "add bio please"


def test_bio_may_have_several_lines(server):
    """Bios are free text; the app sends the stored bio back with every profile save, so a
    multi-line bio (which the original stored) must be accepted."""
    u = users(server)
    saved(u, {"bio": "Line one\nLine two"})
    assert profile(u)["bio"] == "Line one\nLine two"


def test_unicode_values_round_trip(server):
    u = users(server)
    saved(u, {"name": "Zoë 😀 Ñandú", "bio": "“quotes” \\ back\\slash </script>"})
    p = profile(u)
    assert p["name"] == "Zoë 😀 Ñandú" and p["bio"] == "“quotes” \\ back\\slash </script>"


@pytest.mark.parametrize("field,limit,make", [
    ("name", 100, lambda n: "n" * n),
    ("email", 254, lambda n: "e" * (n - 12) + "@example.com"),
    ("phone", 40, lambda n: "1" * n),
    ("bio", 1000, lambda n: "b" * n),
])
def test_lengths(server, field, limit, make):
    u = users(server)
    saved(u, {field: make(limit)})
    assert_422(save(u, {field: make(limit + 1)}), (field, "Must be at most allowed characters"))
    [row] = db(server, f"SELECT {field} FROM user_profiles WHERE user_id = %s", (u.id,))
    assert len(row[0]) == limit


def test_lengths_count_characters(server):
    u = users(server)
    saved(u, {"name": "é" * 100, "bio": "😀" * 1000})
    p = profile(u)
    assert p["name"] == "é" * 100 and p["bio"] == "😀" * 1000
    assert_422(save(u, {"name": "é" * 101}), ("name", "Must be at most allowed characters"))


@pytest.mark.parametrize("local", ["é" * 150, "é" * 200, "😀" * 60, "😀" * 120, "a" * 242],
                         ids=["2-byte-x150", "2-byte-x200", "4-byte-x60", "4-byte-x120",
                              "ascii-x242"])
def test_long_non_ascii_emails(server, local):
    """Profile e-mails are not format-checked (ORIGINAL_API §4.3); any text up to 254
    characters is stored and checked for uniqueness without a 500."""
    for k in range(4):  # a few ASCII characters in front shift the byte positions
        alice, bob = users(server, 2)
        email = "x" * k + local[k:] + "@example.com"
        saved(alice, {"email": email})
        assert profile(alice)["email"].lower() == email.lower()
        assert_detail(save(bob, {"email": email}), 400, EMAIL_TAKEN)


@pytest.mark.parametrize("field", ["name", "email", "phone", "bio"])
@pytest.mark.parametrize("value", [5, 1.5, True, ["x"], {"a": "b"}])
def test_wrong_types(server, field, value):
    u = users(server)
    saved(u, full(u))
    before = profile(u)
    assert_422(save(u, {field: value}), (field, "Input should be a valid string"))
    assert profile(u) == before


@pytest.mark.parametrize("value,stored", [("yes", True), (1, True), (0, False), ([], False),
                                          ({}, False), (None, False), ("", False), (2.5, True)])
def test_onboarding_flag_of_any_json_type_is_its_truth_value(server, value, stored):
    """The original stored bool(value) (ORIGINAL_API 3.4): any JSON value, never a 422."""
    u = users(server)
    saved(u, {"hasCompletedOnboarding": not stored})
    saved(u, {"hasCompletedOnboarding": value})
    assert profile(u)["hasCompletedOnboarding"] is stored


# ---------------------------------------------------------------------------------- uniqueness (P)


def test_phone_of_another_user(server):
    alice, bob = users(server, 2)
    saved(alice, {"phone": "555-000-1111"})
    assert_detail(save(bob, {"name": "Bob", "phone": "(555) 000 1111"}), 400, PHONE_TAKEN)
    p = profile(bob)
    assert p["phone"] is None and p["name"] is None  # nothing of the refused save was written
    saved(alice, {"phone": "5550001111"})  # one's own phone again is fine
    saved(bob, {"phone": "5550001112"})


def test_phone_of_a_user_row_written_by_the_original(server):
    alice, bob = users(server, 2)
    db(server, "INSERT INTO user_profiles (user_id, phone) VALUES (%s, '5550002222')", (alice.id,))
    assert_detail(save(bob, {"phone": "555.000.2222"}), 400, PHONE_TAKEN)


@pytest.mark.parametrize("which", ["account", "profile"])
def test_email_of_another_user(server, which):
    alice, bob = users(server, 2)
    taken = alice.email
    if which == "profile":
        taken = f"{alice.username}.work@example.com"
        saved(alice, {"email": taken})
    assert_detail(save(bob, {"email": taken.upper(), "name": "Bob"}), 400, EMAIL_TAKEN)
    p = profile(bob)
    assert p["email"] == bob.email and p["name"] is None


def test_own_email_is_fine(server):
    u = users(server)
    saved(u, {"email": u.email.upper()})
    saved(u, {"email": u.email})
    assert profile(u)["email"].lower() == u.email


def test_refused_save_writes_no_audit_row(server):
    alice, bob = users(server, 2)
    saved(alice, {"phone": "5550003333"})
    assert save(bob, {"phone": "5550003333"}).status == 400
    assert save(bob, {"name": 5}).status == 422
    settle(server)
    assert audit_of(server, bob.id, "profile_update") == []


def _race(srv, field, value, per_user=10, replicas=None):
    alice, bob = users(srv, 2)
    who = [alice] * per_user + [bob] * per_user
    if replicas:
        apis = [UserApi(r) for r in replicas]
        calls = [(apis[i % len(apis)], u) for i, u in enumerate(who)]
    else:
        calls = [(u.api, u) for u in who]
    results = parallel(lambda api, u: (u, api.call("POST", "/user/profile", {field: value},
                                                   token=u.token)), calls)
    winners = {u.id for u, r in results if r.status == 200}
    assert len(winners) == 1, f"both users' saves succeeded, or neither: {results!r}"
    winner = winners.pop()
    # the one answer for each save: 200 for every save of the winner (its own value again),
    # 400 for every save of the other user
    for u, r in results:
        if u.id == winner:
            assert r.status == 200, r
        else:
            assert_detail(r, 400, PHONE_TAKEN if field == "phone" else EMAIL_TAKEN)
    return alice, bob, winner


def test_two_users_racing_for_one_phone(server):
    alice, bob, winner = _race(server, "phone", "5550004444")
    rows = db(server, "SELECT user_id FROM user_profiles WHERE phone = '5550004444'")
    assert [r[0] for r in rows] == [winner]


def test_two_users_racing_for_one_email(server):
    email = "race." + str(time.time_ns()) + "@example.com"
    alice, bob, winner = _race(server, "email", email)
    rows = db(server, "SELECT user_id FROM user_profiles WHERE lower(email) = %s", (email,))
    assert [r[0] for r in rows] == [winner]


def test_two_replicas_racing_for_one_phone(droplin):
    """Two droplin processes on one database: the advisory lock holds across replicas."""
    first = start(droplin, **SERVER_ENV)
    second = start(droplin, db=first.env["DATABASE_URL"], **SERVER_ENV)
    alice, bob, winner = _race(first, "phone", "5550005555", replicas=[first, second])
    rows = db(first, "SELECT user_id FROM user_profiles WHERE phone = '5550005555'")
    assert [r[0] for r in rows] == [winner]


# ---------------------------------------------------------------------------------- audit


def test_audit_row_lists_the_received_keys(server):
    u = users(server)
    saved(u, {"name": "A", "phone": "1", "zzz": 1, "bio": None})
    [row] = wait_audit_of(server, u.id, "profile_update")
    assert_audit_details(row, {"fields_updated": ["name", "phone", "zzz", "bio"]})
    saved(u, {})
    rows = wait_audit_of(server, u.id, "profile_update", 2)
    assert_audit_details(rows[1], {"fields_updated": []})


def test_audit_row_for_the_apps_save(server):
    u = users(server)
    saved(u, full(u))
    [row] = wait_audit_of(server, u.id, "profile_update")
    assert_audit_details(row, {"fields_updated": ["name", "email", "phone", "bio",
                                                  "socialMedia"]})
    assert row["user_id"] == u.id


def test_a_failed_audit_write_keeps_the_change(droplin):
    """The change, its audit row and COMMIT go out in one pipeline; when the audit insert
    fails, the change still commits and the row is logged whole."""
    srv = start(droplin, **SERVER_ENV)
    u = users(srv)
    indexes_built(srv)
    db(srv, "ALTER TABLE audit_logs ADD CONSTRAINT refuse_all CHECK (action = 'never') NOT VALID")
    saved(u, {"name": "Kept", "phone": digits(u), "email": f"kept.{u.id}@example.com"})
    saved(u, {"bio": "Still kept"})
    p = profile(u)
    assert (p["name"], p["phone"], p["bio"]) == ("Kept", digits(u), "Still kept"), p
    assert p["email"] == f"kept.{u.id}@example.com", p
    assert audit_of(srv, u.id, "profile_update") == []
    srv.log_barrier()  # every line of the answered requests is in the log after it
    logged = [json.loads(line) for line in srv.output().splitlines()
              if "audit write failed" in line]
    assert [e["action"] for e in logged] == ["profile_update", "profile_update"], logged
    assert all(e["user_id"] == u.id for e in logged), logged
    assert json.loads(logged[1]["details"]) == {"fields_updated": ["bio"]}, logged


def test_phone_and_email_both_taken_names_the_phone(server):
    alice, bob = users(server, 2)
    saved(alice, {"phone": digits(alice), "email": f"both.{alice.id}@example.com"})
    assert_detail(save(bob, {"phone": digits(alice), "email": f"both.{alice.id}@example.com"}),
                  400, PHONE_TAKEN)
    assert_detail(save(bob, {"phone": digits(bob), "email": f"BOTH.{alice.id}@example.com"}),
                  400, EMAIL_TAKEN)
    p = profile(bob)
    assert p["phone"] is None and p["email"] == bob.email, p
    saved(bob, {"phone": digits(bob), "email": f"both.{bob.id}@example.com", "name": "Bob"})
    p = profile(bob)
    assert (p["phone"], p["email"], p["name"]) == (digits(bob), f"both.{bob.id}@example.com",
                                                   "Bob"), p


def test_original_created_at_format_is_returned_as_iso(server):
    """A created_at with zero microseconds comes back without a fraction."""
    u = users(server)
    db(server, "UPDATE users SET created_at = '2024-02-29 13:14:15' WHERE id = %s", (u.id,))
    assert profile(u)["createdAt"] == "2024-02-29T13:14:15"
    db(server, "UPDATE users SET created_at = '2024-02-29 13:14:15.5' WHERE id = %s", (u.id,))
    got = profile(u)["createdAt"]
    assert datetime.datetime.fromisoformat(got) == datetime.datetime(2024, 2, 29, 13, 14, 15,
                                                                      500000), got
