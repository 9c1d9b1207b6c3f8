"""Verification and recovery codes: send-verification-code, verify-code, send-recovery-code,
verify-recovery-code, reset-password (ORIGINAL_API §3.2, §6.3; DECISIONS S4, C2, P).
Codes are read from the mail the SendGrid stand-in received, as a user would."""

import datetime
import concurrent.futures
import threading
import time

import pytest

import harness
from auth_helpers import (INVALIDATED, NEW_PASSWORD, PASSWORD, Api, assert_422, assert_detail,
                          body_of, code_in, db_of, insert_user, mail_barrier, make_token,
                          parse_naive_utc, send_code, start, wrong_code)
from auth_helpers import sendgrid, sendgrid_ca  # noqa: F401  (pytest fixtures)

NO_CODE = "No verification code found for this email"
BAD_CODE = "Invalid verification code"
EXPIRED = "Verification code has expired. Please request a new one."
NO_RECOVERY = "No recovery code found for this email"
BAD_RECOVERY = "Invalid recovery code"
EXPIRED_RECOVERY = "Recovery code has expired. Please request a new one."
NO_RESET_CODE = "No recovery code found. Please request a new code."
EMAIL = "alice@example.com"


@pytest.fixture
def api(droplin, sendgrid):
    return Api(start(droplin, **sendgrid.env()))


def codes_in_db(api, email=EMAIL):
    return harness.db_query(db_of(api.d), "SELECT code_type, expires_at FROM verification_codes "
                                          "WHERE email = %s ORDER BY id", (email,))


def verify(api, code, email=EMAIL, type_=None):
    body = {"email": email, "code": code}
    if type_ is not None:
        body["type"] = type_
    return api.post("/auth/verify-code", body)


def recover(api, sendgrid, type_="password", email=EMAIL):
    return send_code(api, sendgrid, email, type_, route="/auth/send-recovery-code")


def verify_recovery(api, code, type_="password", email=EMAIL):
    return api.post("/auth/verify-recovery-code", {"email": email, "code": code, "type": type_})


def reset(api, code, password=NEW_PASSWORD, email=EMAIL, form="query"):
    fields = {"email": email, "code": code, "new_password": password}
    if form == "query":
        return api.post("/auth/reset-password", query=fields)
    return api.post("/auth/reset-password", fields)


def ok(resp, body):
    assert resp.status == 200, resp
    assert body_of(resp) == body
    return body


# ---------------------------------------------------------------------------------- send-verification-code


def test_send_verification_code(api, sendgrid):
    t0 = datetime.datetime.now(datetime.timezone.utc)
    r = api.post("/auth/send-verification-code", {"email": "  Alice@Example.COM "})
    ok(r, {"success": True, "message": "Verification code sent to alice@example.com"})
    [mail] = sendgrid.wait_mails(1, to=EMAIL)
    code = code_in(mail.text)
    assert code not in r.text
    [(ctype, expires)] = codes_in_db(api)
    assert ctype == "registration"
    expected = t0 + datetime.timedelta(seconds=600)
    assert abs((parse_naive_utc(expires) - expected).total_seconds()) < 30, expires


def test_send_code_needs_only_at_and_dot(api, sendgrid):
    for email in ("a@b.c", "x.y@z"):
        ok(api.post("/auth/send-verification-code", {"email": email}),
           {"success": True, "message": f"Verification code sent to {email}"})


@pytest.mark.parametrize("email", ["no-at-sign.com", "a@b", "", "plain"])
def test_send_code_invalid_email(api, sendgrid, email):
    assert_detail(api.post("/auth/send-verification-code", {"email": email}), 400,
                  "Invalid email format")
    assert mail_barrier(api, sendgrid) == []


@pytest.mark.parametrize("body,errors", [
    ({}, [("email", "Field required")]),
    ({"type": "registration"}, [("email", "Field required")]),
    ({"email": 1}, [("email", "Input should be a valid string")]),
    ({"email": EMAIL, "type": 1}, [("type", "Input should be a valid string")]),
], ids=lambda v: str(v)[:40])
def test_send_code_validation(api, body, errors):
    assert_422(api.post("/auth/send-verification-code", body), *errors)


def test_codes_are_six_digits_and_vary(api, sendgrid):
    codes = [send_code(api, sendgrid, f"user{i}@example.com") for i in range(6)]
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(set(codes)) > 1, codes


def test_new_code_replaces_the_old_one(api, sendgrid):
    first = send_code(api, sendgrid, EMAIL)
    second = send_code(api, sendgrid, EMAIL)
    assert len(codes_in_db(api)) == 1
    if first != second:
        assert_detail(verify(api, first), 400, BAD_CODE)
    ok(verify(api, second), {"success": True, "message": "Email verified successfully"})


# ---------------------------------------------------------------------------------- verify-code


def test_verify_code(api, sendgrid):
    code = send_code(api, sendgrid, EMAIL)
    ok(verify(api, code), {"success": True, "message": "Email verified successfully"})
    assert codes_in_db(api) == []
    assert_detail(verify(api, code), 400, NO_CODE)


def test_verify_normalises_email_and_code(api, sendgrid):
    code = send_code(api, sendgrid, EMAIL)
    ok(verify(api, f" {code} ", email=" ALICE@example.com"),
       {"success": True, "message": "Email verified successfully"})


def test_verify_without_a_code(api):
    assert_detail(verify(api, "123456"), 400, NO_CODE)


def test_wrong_code_keeps_the_code_for_a_few_tries(api, sendgrid):
    code = send_code(api, sendgrid, EMAIL)
    for _ in range(4):
        assert_detail(verify(api, wrong_code(code)), 400, BAD_CODE)
    ok(verify(api, code), {"success": True, "message": "Email verified successfully"})


def test_five_wrong_tries_burn_the_code(api, sendgrid):
    code = send_code(api, sendgrid, EMAIL)
    for _ in range(5):
        assert_detail(verify(api, wrong_code(code)), 400, BAD_CODE)
    assert_detail(verify(api, code), 400, NO_CODE)
    assert codes_in_db(api) == []


def test_parallel_wrong_guesses_are_evaluated_five_times_at_most(api, droplin, sendgrid):
    # Each guess takes one of the code's tries atomically before it is compared: 40 guesses at
    # once, spread over three replicas of one database, get exactly five "invalid" answers
    # (evaluated); the rest find the code dead. (Reading before counting let about 5 + 4R in.)
    code = send_code(api, sendgrid, EMAIL)
    apis = [api] + [Api(start(droplin, db=db_of(api.d), **sendgrid.env())) for _ in range(2)]
    barrier = threading.Barrier(40)

    def guess(i):
        barrier.wait(timeout=30)
        r = verify(apis[i % 3], wrong_code(code))
        return r.status, r.json().get("detail")

    with concurrent.futures.ThreadPoolExecutor(40) as pool:
        answers = list(pool.map(guess, range(40)))
    assert all(status == 400 for status, _ in answers), answers
    details = [d for _, d in answers]
    assert details.count(BAD_CODE) == 5, details
    assert details.count(NO_CODE) == 35, details
    assert_detail(verify(api, code), 400, NO_CODE)
    assert codes_in_db(api) == []


def test_max_attempts_setting(droplin, sendgrid):
    api = Api(start(droplin, CODE_MAX_ATTEMPTS="2", **sendgrid.env()))
    code = send_code(api, sendgrid, EMAIL)
    for _ in range(2):
        assert_detail(verify(api, wrong_code(code)), 400, BAD_CODE)
    assert_detail(verify(api, code), 400, NO_CODE)


def test_expired_code(droplin, sendgrid):
    api = Api(start(droplin, CODE_TTL_SECONDS="1", **sendgrid.env()))
    code = send_code(api, sendgrid, EMAIL)
    time.sleep(2.2)
    assert_detail(verify(api, code), 400, EXPIRED)
    assert_detail(verify(api, code), 400, NO_CODE)


def test_code_types_are_separate(api, sendgrid):
    code = send_code(api, sendgrid, EMAIL, "account_deletion")
    assert [t for t, _ in codes_in_db(api)] == ["account_deletion"]
    assert_detail(verify(api, code), 400, NO_CODE)  # default type is "registration"
    ok(verify(api, code, type_="account_deletion"),
       {"success": True, "message": "Email verified successfully"})


def test_code_of_another_address_does_not_work(api, sendgrid):
    code = send_code(api, sendgrid, EMAIL)
    bobs = send_code(api, sendgrid, "bob@example.com")
    if bobs != code:
        assert_detail(verify(api, code, email="bob@example.com"), 400, BAD_CODE)
    ok(verify(api, code), {"success": True, "message": "Email verified successfully"})


@pytest.mark.parametrize("body,errors", [
    ({}, [("email", "Field required"), ("code", "Field required")]),
    ({"email": EMAIL}, [("code", "Field required")]),
    ({"email": EMAIL, "code": 123456}, [("code", "Input should be a valid string")]),
], ids=lambda v: str(v)[:40])
def test_verify_validation(api, body, errors):
    assert_422(api.post("/auth/verify-code", body), *errors)


# ---------------------------------------------------------------------------------- send-recovery-code


@pytest.mark.parametrize("type_", ["password", "username"])
def test_send_recovery_code(api, sendgrid, type_):
    api.register("alice", email=EMAIL)
    r = api.post("/auth/send-recovery-code", {"email": " Alice@Example.com", "type": type_})
    ok(r, {"success": True, "message": "Recovery code sent to alice@example.com"})
    [mail] = sendgrid.wait_mails(1, to=EMAIL)
    assert code_in(mail.text) not in r.text
    assert mail.subject == "DropLink - Your Verification Code"  # the original's one template
    assert "Welcome to DropLink!" in mail.text
    assert [t for t, _ in codes_in_db(api)] == ["recovery_" + type_]


def test_recovery_for_unknown_address(api, sendgrid):
    assert_detail(api.post("/auth/send-recovery-code", {"email": EMAIL, "type": "password"}),
                  404, "No account found with this email address")
    assert mail_barrier(api, sendgrid) == []


def test_recovery_invalid_email(api):
    assert_detail(api.post("/auth/send-recovery-code", {"email": "nobody", "type": "password"}),
                  400, "Invalid email format")


@pytest.mark.parametrize("body,errors", [
    ({}, [("email", "Field required"), ("type", "Field required")]),
    ({"email": EMAIL}, [("type", "Field required")]),
    ({"type": "password"}, [("email", "Field required")]),
    ({"email": EMAIL, "type": 3}, [("type", "Input should be a valid string")]),
], ids=lambda v: str(v)[:40])
def test_send_recovery_validation(api, body, errors):
    assert_422(api.post("/auth/send-recovery-code", body), *errors)


# ---------------------------------------------------------------------------------- verify-recovery-code


def test_recover_username(api, sendgrid):
    api.register("alice", email=EMAIL)
    code = recover(api, sendgrid, "username")
    ok(verify_recovery(api, code, "username"),
       {"success": True, "username": "alice", "message": "Username recovered successfully"})
    assert_detail(verify_recovery(api, code, "username"), 400, NO_RECOVERY)


def test_verify_password_recovery_keeps_the_code_for_reset(api, sendgrid):
    api.register("alice", email=EMAIL)
    code = recover(api, sendgrid, "password")
    ok(verify_recovery(api, code, "password"),
       {"success": True, "message": "Code verified successfully"})
    ok(reset(api, code), {"success": True, "message": "Password reset successfully"})


def test_only_misses_use_up_a_code(api, sendgrid):
    # A guess takes a try before it is compared; one that matches gives it back, so four typos,
    # a verification and a weak-password reset still leave the reset with its code.
    api.register("alice", email=EMAIL)
    code = recover(api, sendgrid, "password")
    for _ in range(4):
        assert verify_recovery(api, wrong_code(code), "password").status == 400
    ok(verify_recovery(api, code, "password"),
       {"success": True, "message": "Code verified successfully"})
    assert reset(api, code, password="weak").status == 400
    ok(reset(api, code), {"success": True, "message": "Password reset successfully"})


def test_verify_recovery_without_code(api):
    assert_detail(verify_recovery(api, "123456"), 400, NO_RECOVERY)


def test_verify_recovery_wrong_code_then_burn(api, sendgrid):
    api.register("alice", email=EMAIL)
    code = recover(api, sendgrid)
    for _ in range(5):
        assert_detail(verify_recovery(api, wrong_code(code)), 400, BAD_RECOVERY)
    assert_detail(verify_recovery(api, code), 400, NO_RECOVERY)


def test_verify_recovery_expired(droplin, sendgrid):
    api = Api(start(droplin, CODE_TTL_SECONDS="1", **sendgrid.env()))
    api.register("alice", email=EMAIL)
    code = recover(api, sendgrid)
    time.sleep(2.2)
    assert_detail(verify_recovery(api, code), 400, EXPIRED_RECOVERY)
    assert_detail(verify_recovery(api, code), 400, NO_RECOVERY)


def test_recovery_types_are_separate(api, sendgrid):
    api.register("alice", email=EMAIL)
    code = recover(api, sendgrid, "password")
    assert_detail(verify_recovery(api, code, "username"), 400, NO_RECOVERY)
    assert_detail(verify(api, code), 400, NO_CODE)


@pytest.mark.parametrize("body,errors", [
    ({}, [("email", "Field required"), ("code", "Field required"), ("type", "Field required")]),
    ({"email": EMAIL, "code": "123456"}, [("type", "Field required")]),
    ({"email": EMAIL, "code": 123456, "type": "password"},
     [("code", "Input should be a valid string")]),
], ids=lambda v: str(v)[:40])
def test_verify_recovery_validation(api, body, errors):
    assert_422(api.post("/auth/verify-recovery-code", body), *errors)


# ---------------------------------------------------------------------------------- reset-password


@pytest.mark.parametrize("form", ["query", "json"])
def test_reset_password(api, sendgrid, form):
    api.register("alice", email=EMAIL)
    code = recover(api, sendgrid)
    ok(reset(api, code, form=form), {"success": True, "message": "Password reset successfully"})
    assert api.login("alice", NEW_PASSWORD).status == 200
    assert api.login("alice", PASSWORD).status == 401
    h = harness.db_query(db_of(api.d), "SELECT password_hash FROM users")[0][0]
    assert h.startswith("$2b$"), h
    assert_detail(reset(api, code, password="Another-1!", form=form), 400, NO_RESET_CODE)


def test_reset_invalidates_older_tokens(api, sendgrid):
    uid = api.register("alice", email=EMAIL)["user_id"]
    old = api.login_ok("alice")["token"]
    ok(reset(api, recover(api, sendgrid)), {"success": True,
                                            "message": "Password reset successfully"})
    assert_detail(api.authorized(old), 401, INVALIDATED)
    assert_detail(api.authorized(make_token(uid, "alice", iat=time.time() - 60)), 401,
                  INVALIDATED)
    fresh = api.login_ok("alice", NEW_PASSWORD)["token"]
    assert api.authorized(fresh).status == 200


def test_reset_without_code(api):
    api.register("alice", email=EMAIL)
    assert_detail(reset(api, "123456"), 400, NO_RESET_CODE)


def test_reset_needs_a_password_recovery_code(api, sendgrid):
    api.register("alice", email=EMAIL)
    code = recover(api, sendgrid, "username")
    assert_detail(reset(api, code), 400, NO_RESET_CODE)
    code = send_code(api, sendgrid, EMAIL)  # a registration code
    assert_detail(reset(api, code), 400, NO_RESET_CODE)


def test_reset_wrong_code_then_burn(api, sendgrid):
    api.register("alice", email=EMAIL)
    code = recover(api, sendgrid)
    for _ in range(5):
        assert_detail(reset(api, wrong_code(code)), 400, BAD_RECOVERY)
    assert_detail(reset(api, code), 400, NO_RESET_CODE)
    assert api.login("alice", PASSWORD).status == 200


def test_reset_expired(droplin, sendgrid):
    api = Api(start(droplin, CODE_TTL_SECONDS="1", **sendgrid.env()))
    api.register("alice", email=EMAIL)
    code = recover(api, sendgrid)
    time.sleep(2.2)
    assert_detail(reset(api, code), 400, EXPIRED_RECOVERY)
    assert_detail(reset(api, code), 400, NO_RESET_CODE)


@pytest.mark.parametrize("password,message", [
    ("Aa1!", "Password must be at least 8 characters"),
    ("abcdefg1!", "Password must contain at least one uppercase letter"),
    ("ABCDEFG1!", "Password must contain at least one lowercase letter"),
    ("Abcdefgh!", "Password must contain at least one number"),
    ("Abcdefgh1", "Password must contain at least one special character"),
    ("abc", "Password must be at least 8 characters"),  # first failure wins
    ("abcdefgh", "Password must contain at least one uppercase letter"),
])
@pytest.mark.parametrize("form", ["query", "json"])
def test_reset_password_rules(api, sendgrid, password, message, form):
    api.register("alice", email=EMAIL)
    code = recover(api, sendgrid)
    assert_detail(reset(api, code, password=password, form=form), 400, message)
    ok(reset(api, code), {"success": True, "message": "Password reset successfully"})


@pytest.mark.parametrize("password", ["Abcdefg1_", "Abcdefg1 ", "Abcdefg1-", "Abcdefg1+",
                                      "Abcdefg1/", "Abcdefg1\\", "Abcdefg1;", "Abcdefg1'",
                                      "ÉÇÀéçà1!"])
def test_reset_accepts_the_broad_rules(api, sendgrid, password):
    # broad special set (§4.2) and non-ASCII upper/lower case letters (DECISIONS P)
    api.register("alice", email=EMAIL)
    ok(reset(api, recover(api, sendgrid), password=password, form="json"),
       {"success": True, "message": "Password reset successfully"})
    assert api.login("alice", password).status == 200


def test_reset_checks_the_code_before_the_password(api, sendgrid):
    api.register("alice", email=EMAIL)
    code = recover(api, sendgrid)
    assert_detail(reset(api, wrong_code(code), password="weak"), 400, BAD_RECOVERY)


def test_reset_when_two_accounts_share_the_address(api, sendgrid):
    api.register("alice", email=EMAIL)
    insert_user(api.d, "alice_old", email=EMAIL)  # adopted data may hold duplicates
    code = recover(api, sendgrid)
    assert_detail(reset(api, code), 409,
                  "Several accounts use this e-mail address; contact support")
    assert api.login("alice", PASSWORD).status == 200
    assert api.login("alice_old", PASSWORD).status == 200


@pytest.mark.parametrize("form", ["query", "json"])
def test_reset_validation(api, form):
    r = api.post("/auth/reset-password", {} if form == "json" else None)
    assert_422(r, ("email", "Field required"), ("code", "Field required"),
               ("new_password", "Field required"))


def test_reset_with_only_some_query_fields(api):
    r = api.post("/auth/reset-password", query={"email": EMAIL})
    assert_422(r, ("code", "Field required"), ("new_password", "Field required"))
