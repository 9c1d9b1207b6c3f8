"""POST /auth/check-username, /auth/check-email, /auth/check-phone (ORIGINAL_API §3.2, §4.1,
§4.3, §4.4; DECISIONS P: check-username follows register's rule, S1: no magic address)."""

import pytest

import harness
from auth_helpers import Api, assert_422, body_of, db_of, insert_user, start

V = "Value error, "


@pytest.fixture
def api(droplin):
    return Api(start(droplin))


def answer(api, path, body):
    r = api.post(path, body)
    assert r.status == 200, r
    harness.assert_security_headers(r)
    return body_of(r)


# ---------------------------------------------------------------------------------- check-username


@pytest.mark.parametrize("name", ["newname", "John.Doe", "  spaced_1  ", "a.b", "x" * 20])
def test_username_available(api, name):
    assert answer(api, "/auth/check-username", {"username": name}) == \
        {"available": True, "message": "Username available"}


@pytest.mark.parametrize("name", ["alice", "ALICE", " Alice "])
def test_username_taken(api, name):
    api.register("alice")
    assert answer(api, "/auth/check-username", {"username": name}) == \
        {"available": False, "message": "Username already taken"}


def test_username_with_period_taken(api):
    api.register("john.doe")
    assert answer(api, "/auth/check-username", {"username": "John.Doe"}) == \
        {"available": False, "message": "Username already taken"}


@pytest.mark.parametrize("body,errors", [
    ({}, [("username", "Field required")]),
    ({"username": 7}, [("username", "Input should be a valid string")]),
    ({"username": "ab"}, [("username", V + "Username must be 3-20 characters")]),
    ({"username": "a" * 21}, [("username", V + "Username must be 3-20 characters")]),
    ({"username": "john doe"},
     [("username", V + "Username can only contain letters, numbers, underscores, and periods")]),
    ({"username": "john-doe"},
     [("username", V + "Username can only contain letters, numbers, underscores, and periods")]),
], ids=lambda v: str(v)[:40])
def test_username_validation(api, body, errors):
    assert_422(api.post("/auth/check-username", body), *errors)


# ---------------------------------------------------------------------------------- check-email


@pytest.mark.parametrize("email", ["new@example.com", "a@b.c", "x+tag@sub.example.org"])
def test_email_available(api, email):
    assert answer(api, "/auth/check-email", {"email": email}) == \
        {"available": True, "message": "Email available"}


@pytest.mark.parametrize("email", ["alice@example.com", " ALICE@Example.com "])
def test_email_in_use(api, email):
    api.register("alice", email="alice@example.com")
    assert answer(api, "/auth/check-email", {"email": email}) == \
        {"available": False, "message": "Email is already in use"}


def test_email_in_use_stored_in_upper_case(api):
    insert_user(api.d, "legacy", email="Legacy@Example.com")
    assert answer(api, "/auth/check-email", {"email": "legacy@example.com"}) == \
        {"available": False, "message": "Email is already in use"}


def test_no_magic_email_address(api):
    api.register("caitie", email="caitie690@gmail.com")
    assert answer(api, "/auth/check-email", {"email": "caitie690@gmail.com"}) == \
        {"available": False, "message": "Email is already in use"}


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "a b@c.de", "@example.com",
                                   "alice@", ""])
def test_invalid_email(api, email):
    assert answer(api, "/auth/check-email", {"email": email}) == \
        {"available": False, "message": "Please enter a valid email address"}


@pytest.mark.parametrize("body,errors", [
    ({}, [("email", "Field required")]),
    ({"email": 5}, [("email", "Input should be a valid string")]),
])
def test_email_validation(api, body, errors):
    assert_422(api.post("/auth/check-email", body), *errors)


# ---------------------------------------------------------------------------------- check-phone


def set_phone(api, user_id, phone):
    harness.db_exec(db_of(api.d), "INSERT INTO user_profiles (user_id, phone) VALUES (%s, %s)",
                    (user_id, phone))


@pytest.mark.parametrize("phone", ["5551234567", "(555) 123-4567", "555.123.4567"])
def test_phone_available(api, phone):
    assert answer(api, "/auth/check-phone", {"phone": phone}) == \
        {"available": True, "message": "Phone number available"}


@pytest.mark.parametrize("phone", ["5551234567", "(555) 123-4567", "555-123-4567 "])
def test_phone_in_use(api, phone):
    uid = api.register("alice")["user_id"]
    set_phone(api, uid, "5551234567")
    assert answer(api, "/auth/check-phone", {"phone": phone}) == \
        {"available": False, "message": "Phone number is already in use"}


@pytest.mark.parametrize("phone", ["12345", "+1 555 123 4567", "", "phone"])
def test_phone_must_have_10_digits(api, phone):
    assert answer(api, "/auth/check-phone", {"phone": phone}) == \
        {"available": False, "message": "Phone number must be 10 digits"}


@pytest.mark.parametrize("body,errors", [
    ({}, [("phone", "Field required")]),
    ({"phone": 5551234567}, [("phone", "Input should be a valid string")]),
])
def test_phone_validation(api, body, errors):
    assert_422(api.post("/auth/check-phone", body), *errors)


@pytest.mark.parametrize("path", ["/auth/check-username", "/auth/check-email",
                                  "/auth/check-phone"])
def test_body_not_json(api, path):
    assert_422(api.post(path, raw=b"x", headers={"Content-Type": "application/json"}),
               ("0", "JSON decode error"))
