"""POST /auth/register: ORIGINAL_API §3.2, §4.1-4.3; DECISIONS C5, C6, S1, S6, P."""

import statistics
import time

import bcrypt
import jwt
import pytest

import harness
from auth_helpers import (FAST_ENV, JWT_SECRET, PASSWORD, USER_AGENT, Api, assert_422,
                          assert_audit_details, assert_auth_response, assert_detail, audit_rows,
                          db_of, decode, insert_user, start, user_row, wait_audit)

V = "Value error, "
USERNAME_LENGTH = V + "Username must be 3-20 characters"
USERNAME_CHARS = V + "Username can only contain letters, numbers, underscores, and periods"
UPPER = "Password must contain at least one uppercase letter (A-Z)"
LOWER = "Password must contain at least one lowercase letter (a-z)"
NUMBER = "Password must contain at least one number (0-9)"
SPECIAL = "Password must contain at least one special character (!@#$%^&*)"
COMMON = "Password is too common. Please choose a more unique password"


@pytest.fixture(scope="module")
def shared(module_droplin):
    """One server for the tests that only see validation errors (nothing is written)."""
    d = module_droplin(env=FAST_ENV)
    d.wait_ready()
    return Api(d)


@pytest.fixture
def api(droplin):
    return Api(start(droplin))


# ---------------------------------------------------------------------------------- success


def test_register_returns_token_id_and_normalised_name(api):
    r = api.post("/auth/register", {"username": "  Alice_01 ", "password": PASSWORD,
                                    "email": "Alice@Example.COM"})
    body = assert_auth_response(r, "alice_01")
    harness.assert_security_headers(r)
    row = user_row(api.d, "alice_01")
    assert row["id"] == body["user_id"]
    assert row["email"] == "alice@example.com"
    claims = decode(body["token"])
    assert claims["user_id"] == body["user_id"] and claims["username"] == "alice_01"
    assert claims["remember_me"] is False


def test_stored_hash_is_bcrypt_2b_and_verifies_in_python(api):
    api.register("hashcheck", PASSWORD)
    h = user_row(api.d, "hashcheck")["password_hash"]
    assert h.startswith("$2b$04$"), h  # BCRYPT_COST=4 in the tests
    assert bcrypt.checkpw(PASSWORD.encode(), h.encode())
    assert not bcrypt.checkpw(b"Sunny-Day7?", h.encode())


def test_register_creates_settings_but_no_profile(api):
    uid = api.register("settings_user")["user_id"]
    url = db_of(api.d)
    assert harness.db_query(url, "SELECT dark_mode, max_distance FROM user_settings "
                                 "WHERE user_id = %s", (uid,)) == [(1, 33)]
    assert harness.db_query(url, "SELECT count(*) FROM user_profiles WHERE user_id = %s",
                            (uid,)) == [(0,)]


@pytest.mark.parametrize("given,stored", [
    (None, None), ("", None), ("  Bob@Example.COM ", "bob@example.com"), ("A@B.CO", "a@b.co"),
], ids=["null", "empty", "trimmed-lowered", "short-tld"])
def test_email_is_optional_and_normalised(api, given, stored):
    r = api.post("/auth/register", {"username": "mailer", "password": PASSWORD,
                                    "email": given})
    assert_auth_response(r, "mailer")
    assert user_row(api.d, "mailer")["email"] == stored


def test_email_key_may_be_absent(api):
    assert_auth_response(api.post("/auth/register", {"username": "nomail",
                                                     "password": PASSWORD}), "nomail")
    assert user_row(api.d, "nomail")["email"] is None


def test_registration_audit_row(api):
    uid = api.register("audited", email="Audited@Example.com")["user_id"]
    [row] = wait_audit(api.d, "user_registration")
    assert row["user_id"] == uid
    assert row["ip_address"] == "127.0.0.1"
    assert row["user_agent"] == USER_AGENT
    assert_audit_details(row, {"username": "audited", "email": "audited@example.com"})


def test_registration_audit_row_without_email_or_user_agent(api):
    uid = Api(api.d, user_agent=None).register("anonymous")["user_id"]
    [row] = wait_audit(api.d, "user_registration")
    assert row["user_id"] == uid and row["user_agent"] == "unknown"
    assert_audit_details(row, {"username": "anonymous", "email": None})


@pytest.mark.parametrize("username", ["abc", "a" * 20, "john.doe", "select", "x_1.y"])
def test_valid_usernames(api, username):
    assert_auth_response(api.post("/auth/register", {"username": username,
                                                     "password": PASSWORD}), username)


@pytest.mark.parametrize("password", ['Abcdefg1?', 'Abcdefg1"', "Abcdefg1:", "Abcdefg1{",
                                      "Abcdefg1|", "Abcdefg1<", "Abcdefg1,", "Abcdefg1.",
                                      "A" * 60 + "b1!" + "c" * 65])
def test_narrow_special_set_and_128_chars_are_accepted(api, password):
    assert_auth_response(api.post("/auth/register", {"username": "specials",
                                                     "password": password}), "specials")
    assert api.login("specials", password).status == 200


def test_extra_fields_are_ignored(api):
    r = api.post("/auth/register", {"username": "extra", "password": PASSWORD,
                                    "is_admin": True, "user_id": 1})
    assert_auth_response(r, "extra")


def test_new_user_can_log_in(api):
    uid = api.register("newbie", email="newbie@example.com")["user_id"]
    assert api.login_ok("NewBie")["user_id"] == uid


def test_default_cost_12_and_unknown_user_costs_as_much_as_a_wrong_password(droplin):
    # The one test that keeps BCRYPT_COST at its default (DECISIONS C5, P) ...
    api = Api(start(droplin, BCRYPT_COST=None))
    api.register("costly")
    h = user_row(api.d, "costly")["password_hash"]
    assert h.startswith("$2b$12$"), h
    assert bcrypt.checkpw(PASSWORD.encode(), h.encode())
    # ... and S6: an unknown user costs a (dummy) hash like a wrong password does.
    def timed(username):
        t0 = time.monotonic()
        r = api.login(username, "Wrong-Pass1!")
        assert r.status == 401, r
        return time.monotonic() - t0
    wrong = statistics.median(timed("costly") for _ in range(3))
    unknown = statistics.median(timed("nobody_here") for _ in range(3))
    assert unknown > wrong / 3, f"unknown user {unknown:.3f}s vs wrong password {wrong:.3f}s"


# ---------------------------------------------------------------------------------- 400s


def test_username_taken_case_insensitive(api):
    api.register("alice")
    r = api.post("/auth/register", {"username": "ALICE", "password": PASSWORD})
    assert_detail(r, 400, "Username already taken")
    [row] = wait_audit(api.d, "registration_failed")
    assert row["user_id"] is None and row["ip_address"] == "127.0.0.1"
    assert_audit_details(row, {"username": "alice", "reason": "username_taken"})
    assert harness.db_query(db_of(api.d), "SELECT count(*) FROM users") == [(1,)]


def test_username_taken_when_stored_in_upper_case(api):
    # Adopted data may hold a mixed-case name; lookups use LOWER(username).
    insert_user(api.d, "MixedCase")
    assert_detail(api.post("/auth/register", {"username": "mixedcase", "password": PASSWORD}),
                  400, "Username already taken")


def test_email_taken_case_insensitive(api):
    api.register("first", email="shared@example.com")
    r = api.post("/auth/register", {"username": "second", "password": PASSWORD,
                                    "email": " SHARED@example.com"})
    assert_detail(r, 400, "An account with this email already exists")
    [row] = wait_audit(api.d, "registration_failed")
    assert_audit_details(row, {"username": "second", "email": "shared@example.com",
                               "reason": "email_exists"})
    assert user_row(api.d, "second") is None


def test_email_taken_when_stored_in_upper_case(api):
    insert_user(api.d, "olduser", email="Old@Example.com")
    assert_detail(api.post("/auth/register", {"username": "newuser", "password": PASSWORD,
                                              "email": "old@example.com"}),
                  400, "An account with this email already exists")


def test_no_magic_email_address(api):
    # The original skipped the duplicate check for one address; DECISIONS S1 drops that.
    api.register("caitie", email="caitie690@gmail.com")
    assert_detail(api.post("/auth/register", {"username": "caitie2", "password": PASSWORD,
                                              "email": "caitie690@gmail.com"}),
                  400, "An account with this email already exists")


def test_username_is_checked_before_email(api):
    api.register("both", email="both@example.com")
    assert_detail(api.post("/auth/register", {"username": "both", "password": PASSWORD,
                                              "email": "both@example.com"}),
                  400, "Username already taken")


def test_no_rows_after_a_failed_registration(api):
    api.register("taken")
    api.post("/auth/register", {"username": "taken", "password": PASSWORD})
    url = db_of(api.d)
    assert harness.db_query(url, "SELECT count(*) FROM users") == [(1,)]
    assert harness.db_query(url, "SELECT count(*) FROM user_settings") == [(1,)]
    assert [r["action"] for r in audit_rows(api.d, "user_registration")] == ["user_registration"]


# ---------------------------------------------------------------------------------- 422s


@pytest.mark.parametrize("body,errors", [
    ({}, [("username", "Field required"), ("password", "Field required")]),
    ({"password": PASSWORD}, [("username", "Field required")]),
    ({"username": "alice"}, [("password", "Field required")]),
    ({"username": 123, "password": PASSWORD}, [("username", "Input should be a valid string")]),
    ({"username": "alice", "password": 12345678},
     [("password", "Input should be a valid string")]),
    ({"username": "alice", "password": PASSWORD, "email": 5},
     [("email", "Input should be a valid string")]),
    ({"username": "", "password": PASSWORD}, [("username", V + "Username is required")]),
    ({"username": "ab", "password": PASSWORD}, [("username", USERNAME_LENGTH)]),
    ({"username": "  ab  ", "password": PASSWORD}, [("username", USERNAME_LENGTH)]),
    ({"username": "a" * 21, "password": PASSWORD}, [("username", USERNAME_LENGTH)]),
    ({"username": "john doe", "password": PASSWORD}, [("username", USERNAME_CHARS)]),
    ({"username": "jöhn", "password": PASSWORD}, [("username", USERNAME_CHARS)]),
    ({"username": "john-doe", "password": PASSWORD}, [("username", USERNAME_CHARS)]),
    ({"username": "alice", "password": "Aa1!"},
     [("password", "Must be at least required characters")]),
    ({"username": "alice", "password": "Aa1!" + "x" * 125},
     [("password", "Must be at most allowed characters")]),
    ({"username": "alice", "password": "abcdefgh1"},
     [("password", V + UPPER + "; " + SPECIAL)]),
    ({"username": "alice", "password": "ABCDEFGH1!"}, [("password", V + LOWER)]),
    ({"username": "alice", "password": "Abcdefgh!"}, [("password", V + NUMBER)]),
    ({"username": "alice", "password": "Abcdefg1_"}, [("password", V + SPECIAL)]),
    ({"username": "alice", "password": "Abcdefg1-"}, [("password", V + SPECIAL)]),
    ({"username": "alice", "password": "Password!"}, [("password", V + NUMBER + "; " + COMMON)]),
    ({"username": "alice_01", "password": "xAlice_01!"},
     [("password", V + "Password cannot contain your username")]),
    ({"username": "alice", "password": PASSWORD, "email": "a@b.c"},
     [("email", V + "Invalid email format")]),
    ({"username": "alice", "password": PASSWORD, "email": "not-an-email"},
     [("email", V + "Invalid email format")]),
    ({"username": "alice", "password": PASSWORD, "email": "a b@example.com"},
     [("email", V + "Invalid email format")]),
    ({"username": "ab", "password": "short"},
     [("username", USERNAME_LENGTH), ("password", "Must be at least required characters")]),
], ids=lambda v: str(v)[:60])
def test_validation_messages(shared, body, errors):
    assert_422(shared.post("/auth/register", body), *errors)


def test_email_over_100_characters_is_422(shared):
    email = "a" * 95 + "@example.com"
    assert_422(shared.post("/auth/register", {"username": "alice", "password": PASSWORD,
                                              "email": email}), ("email", None))


def test_body_not_json_is_422(shared):
    assert_422(shared.post("/auth/register", raw=b"username=alice",
                           headers={"Content-Type": "application/json"}),
               ("0", "JSON decode error"))


def test_missing_body_is_422(shared):
    assert_422(shared.post("/auth/register"), ("", "Field required"))


def test_422_writes_nothing(api):
    api.post("/auth/register", {"username": "ab", "password": PASSWORD})
    assert harness.db_query(db_of(api.d), "SELECT count(*) FROM users") == [(0,)]


def test_register_token_matches_pyjwt_shape(api):
    body = api.register("shape")
    assert jwt.get_unverified_header(body["token"]) == {"alg": "HS256", "typ": "JWT"}
    claims = decode(body["token"], JWT_SECRET)
    assert set(claims) == {"user_id", "username", "exp", "iat", "last_activity", "remember_me",
                           "key_version", "sid"}  # sid: the register's session


@pytest.mark.parametrize("ctype", [None, "application/json; charset=utf-8",
                                   "application/vnd.droplink+json"],
                         ids=["absent", "json-charset", "plus-json"])
def test_json_content_types(api, ctype):
    r = api.post("/auth/register", raw=b'{"username": "typed", "password": "Sunny-Day7!"}',
                 headers={"Content-Type": ctype} if ctype else None)
    assert_auth_response(r, "typed")


def test_other_content_type_is_422(api):
    r = api.post("/auth/register", raw=b'{"username": "typed", "password": "Sunny-Day7!"}',
                 headers={"Content-Type": "text/plain"})
    assert r.status == 422, r
    body = r.json()
    assert body["error"] == "Validation Error" and body["detail"] == body["details"][0]["message"]
    assert user_row(api.d, "typed") is None
