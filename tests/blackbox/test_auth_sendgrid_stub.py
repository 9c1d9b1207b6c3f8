"""The SendGrid stand-in itself (no droplin): it checks what SendGrid checks and records mail."""

import json
import socket
import ssl
import subprocess
import time

import pytest

import harness
from auth_helpers import sendgrid, sendgrid_ca  # noqa: F401  (pytest fixtures)


def good_mail():
    return {"personalizations": [{"to": [{"email": "alice@example.com"}]}],
            "from": {"email": "noreply@droplinkconnect.com"},
            "subject": "DropLink - Your Verification Code",
            "content": [{"type": "text/plain", "value": "Welcome to DropLink! 123456"},
                        {"type": "text/html", "value": "<p>Welcome to DropLink! 123456</p>"}]}


def post(stub, body, key="default", ctype="application/json", path="/v3/mail/send",
         timeout=10):
    """POST over TLS, verifying the stub's certificate for sendgrid.test with the test CA."""
    ctx = ssl.create_default_context(cafile=stub.pki["ca"])
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    head = f"POST {path} HTTP/1.1\r\nHost: sendgrid.test:{stub.port}\r\n"
    if key is not None:
        head += f"Authorization: Bearer {stub.api_key if key == 'default' else key}\r\n"
    if ctype is not None:
        head += f"Content-Type: {ctype}\r\n"
    head += f"Content-Length: {len(raw)}\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", stub.port), timeout=timeout) as s:
        with ctx.wrap_socket(s, server_hostname="sendgrid.test") as tls:
            tls.sendall(head.encode() + raw)
            data = b""
            while True:
                chunk = tls.recv(65536)
                if not chunk:
                    break
                data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    return status, (json.loads(payload) if payload else None)


def test_accepts_a_valid_mail_with_202_and_records_it(sendgrid):
    status, body = post(sendgrid, good_mail())
    assert (status, body) == (202, None)
    [mail] = sendgrid.wait_mails(1, to="alice@example.com")
    assert mail.subject == "DropLink - Your Verification Code"
    assert mail.from_email == "noreply@droplinkconnect.com"
    assert mail.text == "Welcome to DropLink! 123456"
    assert mail.html.startswith("<p>")
    assert sendgrid.requests[-1].headers["authorization"] == "Bearer " + sendgrid.api_key


@pytest.mark.parametrize("key", [None, "SG.wrong"], ids=["missing", "wrong"])
def test_wrong_or_missing_key_is_401_in_sendgrids_shape(sendgrid, key):
    status, body = post(sendgrid, good_mail(), key=key)
    assert status == 401
    assert set(body) == {"errors"} and set(body["errors"][0]) == {"message", "field", "help"}
    assert sendgrid.mails == []


@pytest.mark.parametrize("mutate,field", [
    (lambda m: m.pop("personalizations"), "personalizations"),
    (lambda m: m.__setitem__("personalizations", [{"to": []}]), "personalizations.0.to"),
    (lambda m: m.__setitem__("personalizations", [{"to": [{"email": "nope"}]}]),
     "personalizations.0.to.0.email"),
    (lambda m: m.pop("from"), "from.email"),
    (lambda m: m.pop("subject"), "subject"),
    (lambda m: m.__setitem__("subject", ""), "subject"),
    (lambda m: m.pop("content"), "content"),
    (lambda m: m["content"][0].pop("type"), "content.0.type"),
    (lambda m: m["content"][1].__setitem__("value", ""), "content.1.value"),
    (lambda m: m["content"].reverse(), "content"),
])
def test_malformed_mail_is_400_naming_the_field(sendgrid, mutate, field):
    mail = good_mail()
    mutate(mail)
    status, body = post(sendgrid, mail)
    assert status == 400, body
    assert body["errors"][0]["field"] == field
    assert sendgrid.mails == []


def test_wrong_content_type_or_bad_json_is_400(sendgrid):
    assert post(sendgrid, good_mail(), ctype="text/plain")[0] == 400
    assert post(sendgrid, good_mail(), ctype=None)[0] == 400
    assert post(sendgrid, b"{not json")[0] == 400
    assert post(sendgrid, good_mail(), path="/v3/other")[0] == 404
    assert sendgrid.mails == []
    assert len(sendgrid.requests) == 4


def test_fail_and_reject_modes_record_the_request(sendgrid):
    sendgrid.mode = "fail"
    assert post(sendgrid, good_mail())[0] == 500
    sendgrid.mode = "reject"
    assert post(sendgrid, good_mail())[0] == 401
    assert sendgrid.mails == []
    assert [r.status for r in sendgrid.requests] == [500, 401]
    assert "123456" in sendgrid.requests[0].text()


def test_stall_mode_never_answers(sendgrid):
    sendgrid.mode = "stall"
    t0 = time.monotonic()
    with pytest.raises((socket.timeout, TimeoutError)):
        post(sendgrid, good_mail(), timeout=1)
    assert time.monotonic() - t0 < harness.scaled(5)
    sendgrid.wait_requests(1)


def test_certificate_is_only_for_sendgrid_test(sendgrid):
    ok = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                         "--resolve", sendgrid.resolve(), "--cacert", sendgrid.pki["ca"],
                         "-H", "Authorization: Bearer " + sendgrid.api_key,
                         "-H", "Content-Type: application/json",
                         "--data-binary", json.dumps(good_mail()),
                         sendgrid.base + "/v3/mail/send"],
                        capture_output=True, text=True, timeout=30)
    assert ok.stdout == "202", ok.stderr
    untrusted = subprocess.run(["curl", "-sS", "--resolve", sendgrid.resolve(),
                                sendgrid.base + "/v3/mail/send"],
                               capture_output=True, text=True, timeout=30)
    assert untrusted.returncode == 60, untrusted.stderr
