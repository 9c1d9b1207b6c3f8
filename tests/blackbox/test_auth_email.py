"""E-mail through SendGrid's v3 mail/send (ORIGINAL_API §6.4; DECISIONS E, S4): what droplin
sends to the stand-in, and that a failed, refused or stalled send never changes the answer and
never leaks the code."""

import re
import time

import pytest

import harness
from auth_helpers import (CODE_SUBJECT, LOCK_SUBJECT, PASSWORD, Api, assert_detail, body_of,
                          code_from_mail, code_in, insert_user, start)
from auth_helpers import sendgrid, sendgrid_ca  # noqa: F401  (pytest fixtures)

EMAIL = "alice@example.com"
SENT = {"success": True, "message": "Verification code sent to alice@example.com"}


def production(droplin, **env):
    """Production mode: codes must never reach the log (cost 12 is the production floor)."""
    return Api(start(droplin, DROPLIN_ENV="production", BCRYPT_COST="12", **env))


def leaked(code, text):
    return re.search(r"(?<![0-9A-Za-z])" + code + r"(?![0-9A-Za-z])", text) is not None


def wait_mail_logged(d, outcome, timeout=10.0):
    """droplin's line for the end of a send ("mail to ... failed after" or "... accepted in"):
    every line the send produces is in the log once it is there."""
    word = {"failed": "failed after", "accepted": "accepted in"}[outcome]
    return d.wait_log(lambda l: str(l.get("message", "")).startswith("mail to ")
                      and word in str(l.get("message", "")), timeout=timeout,
                      what=f"the log line of a {outcome} mail")


# A stall is ended by droplin's outbound timeout: STALL_MS. The answer must not wait for the
# mail: it must come within ANSWER_S, far below STALL_MS, so only waiting for the mail fails it.
STALL_MS = int(harness.scaled(8000))
ANSWER_S = harness.scaled(3.0)


def test_verification_mail_as_sendgrid_expects_it(droplin, sendgrid):
    api = Api(start(droplin, **sendgrid.env()))
    r = api.post("/auth/send-verification-code", {"email": EMAIL})
    assert body_of(r) == SENT
    [mail] = sendgrid.wait_mails(1, to=EMAIL)
    [req] = sendgrid.requests
    assert (req.method, req.path) == ("POST", "/v3/mail/send")
    assert req.headers["authorization"] == "Bearer " + sendgrid.api_key
    assert req.headers["content-type"].split(";")[0].strip() == "application/json"
    assert req.headers["host"] in (f"sendgrid.test:{sendgrid.port}", "sendgrid.test")
    assert req.json["personalizations"] == [{"to": [{"email": EMAIL}]}]
    assert req.json["from"] == {"email": "noreply@droplinkconnect.com"}
    assert mail.subject == CODE_SUBJECT
    assert [t for t, _ in mail.content] == ["text/plain", "text/html"]
    code = code_from_mail(mail)
    for _, value in mail.content:
        assert "Welcome to DropLink!" in value
        assert "expires in 10 minutes" in value
        assert code in value
    assert code not in r.text


def test_from_email_setting(droplin, sendgrid):
    api = Api(start(droplin, FROM_EMAIL="accounts@droplin.example", **sendgrid.env()))
    api.post("/auth/send-verification-code", {"email": EMAIL})
    [mail] = sendgrid.wait_mails(1, to=EMAIL)
    assert mail.from_email == "accounts@droplin.example"


def test_every_send_is_a_mail(droplin, sendgrid):
    api = Api(start(droplin, **sendgrid.env()))
    for _ in range(3):
        assert api.post("/auth/send-verification-code", {"email": EMAIL}).status == 200
    mails = sendgrid.wait_mails(3, to=EMAIL)
    assert len(mails) == 3 and all(m.subject == CODE_SUBJECT for m in mails)


def test_request_id_travels_to_sendgrid(droplin, sendgrid):
    # DECISIONS O4: the request id is echoed in outbound calls.
    api = Api(start(droplin, **sendgrid.env()))
    api.post("/auth/send-verification-code", {"email": EMAIL},
             headers={"X-Request-ID": "auth-test-req-0001"})
    sendgrid.wait_mails(1, to=EMAIL)
    assert sendgrid.requests[0].headers.get("x-request-id") == "auth-test-req-0001"


def break_stub(sendgrid, env, how):
    if how == "wrong-key":
        env["SENDGRID_API_KEY"] = "SG.not-the-configured-key"
    else:
        sendgrid.mode = how
    return env


@pytest.mark.parametrize("how", ["fail", "reject", "wrong-key", "stall"])
def test_failed_send_keeps_the_answer_and_the_code_secret(droplin, sendgrid, how):
    env = break_stub(sendgrid, sendgrid.env(timeout_ms=STALL_MS), how)
    api = production(droplin, **env)
    t0 = time.monotonic()
    r = api.post("/auth/send-verification-code", {"email": EMAIL})
    elapsed = time.monotonic() - t0
    assert r.status == 200 and body_of(r) == SENT, r
    assert elapsed < ANSWER_S, \
        f"the answer waited {elapsed:.1f}s for the mail (timeout {STALL_MS / 1000:g} s)"
    [req] = sendgrid.wait_requests(1)
    code = code_in(req.json["content"][0]["value"])
    # the failure is logged when the send ends (for a stall: after STALL_MS); read the log after
    wait_mail_logged(api.d, "failed", timeout=STALL_MS / 1000 + 10)
    assert sendgrid.mails == []
    assert not leaked(code, api.d.output()), "the code is in the log"
    assert not leaked(code, r.text)
    # the code was stored before the send and still works
    v = api.post("/auth/verify-code", {"email": EMAIL, "code": code})
    assert body_of(v) == {"success": True, "message": "Email verified successfully"}


def test_stalled_send_does_not_block_later_mail(droplin, sendgrid):
    sendgrid.mode = "stall"
    # one mail thread: the stall holds later mail until the outbound timeout ends it
    api = Api(start(droplin, **sendgrid.env(timeout_ms=4000)))
    assert api.post("/auth/send-verification-code", {"email": "first@example.com"}).status == 200
    sendgrid.wait_requests(1)
    sendgrid.mode = "ok"
    assert api.post("/auth/send-verification-code", {"email": EMAIL}).status == 200
    sendgrid.wait_mails(1, to=EMAIL, timeout=15)


def test_failed_recovery_send_keeps_the_answer(droplin, sendgrid):
    sendgrid.mode = "fail"
    api = production(droplin, **sendgrid.env())
    insert_user(api.d, "alice", email=EMAIL)
    r = api.post("/auth/send-recovery-code", {"email": EMAIL, "type": "password"})
    assert body_of(r) == {"success": True, "message": "Recovery code sent to alice@example.com"}
    [req] = sendgrid.wait_requests(1)
    code = code_in(req.json["content"][0]["value"])
    wait_mail_logged(api.d, "failed")
    assert not leaked(code, api.d.output())


def test_failed_lockout_mail_keeps_the_423(droplin, sendgrid):
    sendgrid.mode = "fail"
    api = Api(start(droplin, **sendgrid.env()))
    api.register("alice", email=EMAIL)
    for _ in range(4):
        api.login("alice", "Wrong-Pass9!")
    r = api.login("alice", "Wrong-Pass9!")
    assert_detail(r, 423, "Account locked due to multiple failed login attempts. "
                          "Try again in 15 minutes.")
    assert r.headers.get("Retry-After") == "900"
    [req] = sendgrid.wait_requests(1)
    assert req.json["subject"] == LOCK_SUBJECT


def test_successful_send_in_production_does_not_log_the_code(droplin, sendgrid):
    api = production(droplin, **sendgrid.env())
    r = api.post("/auth/send-verification-code", {"email": EMAIL})
    assert body_of(r) == SENT
    code = code_from_mail(sendgrid.wait_mails(1, to=EMAIL)[0])
    wait_mail_logged(api.d, "accepted")
    assert not leaked(code, api.d.output())


def test_development_without_key_logs_the_code(droplin):
    api = Api(start(droplin, DROPLIN_ENV="development", SENDGRID_API_KEY=None))
    r = api.post("/auth/send-verification-code", {"email": EMAIL})
    assert body_of(r) == SENT
    def logged_code():
        for line in api.d.stdout_lines():
            m = re.search(r"(?<![0-9A-Za-z])(\d{6})(?![0-9A-Za-z])", line)
            if m and EMAIL in line:
                return m.group(1)
        return None
    deadline = time.monotonic() + harness.scaled(5)
    code = logged_code()
    while code is None and time.monotonic() < deadline:
        time.sleep(0.05)
        code = logged_code()
    assert code, "no log line carries the code and the address\n" + api.d.describe()
    assert not leaked(code, r.text)
    v = api.post("/auth/verify-code", {"email": EMAIL, "code": code})
    assert body_of(v) == {"success": True, "message": "Email verified successfully"}


def test_production_without_key_refuses_to_send(droplin):
    api = production(droplin, SENDGRID_API_KEY=None)
    insert_user(api.d, "alice", email=EMAIL)
    assert_detail(api.post("/auth/send-verification-code", {"email": EMAIL}), 503,
                  "Email delivery is not configured")
    assert_detail(api.post("/auth/send-recovery-code", {"email": EMAIL, "type": "password"}),
                  503, "Email delivery is not configured")
    # the other routes do not depend on e-mail
    assert api.login("alice", PASSWORD).status == 200
