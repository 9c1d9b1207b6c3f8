"""A local HTTPS stand-in for SendGrid's v3 `POST /v3/mail/send`.

Its certificate is for `sendgrid.test`, signed by a throwaway CA (https_stub.make_test_ca), so
droplin reaches it only with OUTBOUND_CA_FILE=<ca> and OUTBOUND_RESOLVE=sendgrid.test:PORT:127.0.0.1
(SendGridStub.env() gives both, plus SENDGRID_API_KEY and SENDGRID_API_BASE).

It checks what SendGrid checks and answers like it:
  - method and path: anything but POST /v3/mail/send -> 404
  - `Authorization: Bearer <key>` with the configured key -> else 401
    {"errors":[{"message":...,"field":null,"help":null}]}
  - `Content-Type: application/json` -> else 400
  - a JSON object with personalizations[].to[].email, from.email, subject, and content[] of
    {type, value} strings (text/plain, when present, first) -> else 400 with
    {"errors":[{"message":...,"field":"<path>","help":...}]}
  - accepted: 202 with an empty body; the mail is appended to .mails

Every request, accepted or not, is appended to .requests (method, path, headers, raw body,
parsed JSON or None, status answered) so a test can read a code even from a failed send.

Modes (settable while it runs):
  "ok"      check and accept (202)
  "fail"    read the request, answer 500 {"errors":[{"message":"Internal server error",...}]}
  "reject"  read the request, answer 401 as for a wrong key
  "stall"   read the request, never answer (until stop(), at most MAX_STALL_SECONDS)

Standalone: /usr/bin/python3 tests/sendgrid_stub.py [--port N] [--key K] [--mode M] prints the
port, CA file and OUTBOUND_RESOLVE entry as JSON, then serves (at most --seconds, default 600).
"""

import json
import os
import re
import socket
import ssl
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import https_stub  # noqa: E402

# DROPLIN_TEST_TIMEOUT_SCALE (3 in make blackbox-asan) stretches the stand-in's wait deadlines,
# as harness.scaled() does the harness's
TIMEOUT_SCALE = float(os.environ.get("DROPLIN_TEST_TIMEOUT_SCALE", "1"))

HOST_NAME = "sendgrid.test"
SEND_PATH = "/v3/mail/send"
HELP_URL = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_BODY = 30 * 1024 * 1024  # SendGrid's limit on the whole request


def make_ca(directory):
    """A throwaway CA and a leaf certificate for sendgrid.test (paths: ca, ca_key, cert, key)."""
    return https_stub.make_test_ca(directory, host=HOST_NAME)


class Mail:
    """One accepted mail, with the fields tests look at."""

    def __init__(self, body, headers):
        self.json = body
        self.headers = headers
        self.to = [t["email"] for p in body["personalizations"] for t in p["to"]]
        self.from_email = body["from"]["email"]
        self.subject = body["subject"]
        self.content = [(c["type"], c["value"]) for c in body["content"]]
        self.text = next((v for t, v in self.content if t == "text/plain"), None)
        self.html = next((v for t, v in self.content if t == "text/html"), None)

    def all_text(self):
        return self.subject + "\n" + "\n".join(v for _, v in self.content)

    def __repr__(self):
        return f"<Mail to={self.to} subject={self.subject!r}>"


class Request:
    def __init__(self, method, path, headers, body):
        self.method = method
        self.path = path
        self.headers = headers  # lower-cased names
        self.body = body
        self.status = None
        try:
            self.json = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            self.json = None

    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return f"<Request {self.method} {self.path} -> {self.status} {self.body[:200]!r}>"


def _error(message, field=None, help_anchor=None):
    return {"errors": [{"message": message, "field": field,
                        "help": f"{HELP_URL}#{help_anchor}" if help_anchor else None}]}


def _is_str(v, nonempty=True):
    return isinstance(v, str) and (len(v) > 0 or not nonempty)


def check_mail_json(body):
    """None when SendGrid would accept body, else (field, error JSON)."""
    if not isinstance(body, dict):
        return _error("Bad Request", None)
    pers = body.get("personalizations")
    if not isinstance(pers, list) or not pers:
        return _error("The personalizations field is required and must have at least one "
                      "personalization.", "personalizations", "message.personalizations")
    for i, p in enumerate(pers):
        to = p.get("to") if isinstance(p, dict) else None
        if not isinstance(to, list) or not to:
            return _error("The to array is required for all personalization objects, and must "
                          "have at least one email object with a valid email address.",
                          f"personalizations.{i}.to", "message.personalizations.to")
        for j, t in enumerate(to):
            email = t.get("email") if isinstance(t, dict) else None
            if not _is_str(email) or not EMAIL_RE.match(email):
                return _error("Does not contain a valid address.",
                              f"personalizations.{i}.to.{j}.email",
                              "message.personalizations.to")
    frm = body.get("from")
    email = frm.get("email") if isinstance(frm, dict) else None
    if not _is_str(email):
        return _error("The from object must be provided for every email send. It is an object "
                      "that requires the email parameter, but may also contain a name "
                      "parameter.", "from.email", "message.from")
    if not EMAIL_RE.match(email):
        return _error("The from email does not contain a valid address.", "from.email",
                      "message.from")
    if not _is_str(body.get("subject")):
        return _error("The subject is required. You can get around this requirement if you use "
                      "a template with a subject defined or if every personalization has a "
                      "subject defined.", "subject", "message.subject")
    content = body.get("content")
    if not isinstance(content, list) or not content:
        return _error("Unless a valid template_id is provided, the content parameter is "
                      "required. There must be at least one defined content block. We typically "
                      "suggest both text/plain and text/html blocks are included, but only one "
                      "block is required.", "content", "message.content")
    for i, c in enumerate(content):
        if not isinstance(c, dict) or not _is_str(c.get("type")):
            return _error("The content type must be a string at least one character in length.",
                          f"content.{i}.type", "message.content.type")
        if not _is_str(c.get("value")):
            return _error("The content value must be a string at least one character in "
                          "length.", f"content.{i}.value", "message.content.value")
    types = [c["type"] for c in content]
    if "text/plain" in types and types[0] != "text/plain":
        return _error("If present, text/plain content must be first, followed by text/html, "
                      "followed by any other content.", "content", "message.content.type")
    return None


class SendGridStub:
    MAX_STALL_SECONDS = 60

    def __init__(self, pki, api_key="SG.test-key-0123456789", mode="ok", host="127.0.0.1",
                 port=0):
        self.pki = pki
        self.api_key = api_key
        self.mode = mode
        self.requests = []  # every Request seen, in arrival order
        self.mails = []  # accepted Mail objects
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ctx.load_cert_chain(pki["cert"], pki["key"])
        self._lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._lsock.bind((host, port))
        self._lsock.listen(128)
        self._lsock.settimeout(0.2)
        self.port = self._lsock.getsockname()[1]
        self._threads = []
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._accept_thread.start()

    # -- for tests

    @property
    def base(self):
        return f"https://{HOST_NAME}:{self.port}"

    def resolve(self):
        return f"{HOST_NAME}:{self.port}:127.0.0.1"

    def env(self, timeout_ms=30000):
        """droplin's environment for sending through this stand-in; the
        outbound timeout is long unless a test about it passes a short one."""
        return {"SENDGRID_API_KEY": self.api_key, "SENDGRID_API_BASE": self.base,
                "OUTBOUND_CA_FILE": self.pki["ca"], "OUTBOUND_RESOLVE": self.resolve(),
                "OUTBOUND_TIMEOUT_MS": str(timeout_ms)}

    def mails_to(self, email):
        with self._lock:
            return [m for m in self.mails if email in m.to]

    def wait_mails(self, count=1, to=None, timeout=10.0):
        """The accepted mails (to `to`, if given) once there are at least `count`."""
        timeout *= TIMEOUT_SCALE
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                got = [m for m in self.mails if to is None or to in m.to]
            if len(got) >= count:
                return got
            if time.monotonic() >= deadline:
                raise AssertionError(f"{len(got)} mail(s) to {to or 'anyone'} after {timeout}s, "
                                     f"expected {count}; requests seen: {self.requests!r}")
            time.sleep(0.05)

    def wait_requests(self, count=1, timeout=10.0):
        timeout *= TIMEOUT_SCALE
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                got = list(self.requests)
            if len(got) >= count:
                return got
            if time.monotonic() >= deadline:
                raise AssertionError(f"{len(got)} request(s) after {timeout}s, expected {count}")
            time.sleep(0.05)

    def stop(self):
        self._stop.set()
        self._accept_thread.join(5)
        for t in self._threads:
            t.join(5)
        self._lsock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- server

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, conn):
        try:
            conn.settimeout(10)
            try:
                tls = self._ctx.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError):
                return
            with tls:
                req = self._read_request(tls)
                if req is None:
                    return
                with self._lock:
                    self.requests.append(req)
                mode = self.mode
                if mode == "stall":
                    self._stop.wait(self.MAX_STALL_SECONDS)
                    return
                status, body = self._answer(req, mode)
                req.status = int(status.split()[0])
                payload = b"" if body is None else json.dumps(body).encode()
                head = f"HTTP/1.1 {status}\r\nServer: nginx\r\nConnection: close\r\n"
                if body is not None:
                    head += "Content-Type: application/json\r\n"
                head += f"Content-Length: {len(payload)}\r\n"
                if req.status == 202:
                    head += "X-Message-Id: stub-" + str(len(self.requests)) + "\r\n"
                tls.sendall(head.encode() + b"\r\n" + payload)
                try:
                    tls.unwrap()
                except (ssl.SSLError, OSError):
                    pass
        except (OSError, ssl.SSLError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _read_request(self, tls):
        got = https_stub.read_request(tls, MAX_BODY)
        return None if got is None else Request(*got)

    def _answer(self, req, mode):
        if mode == "fail":
            return "500 Internal Server Error", _error("Internal server error")
        if (req.method, req.path.split("?")[0]) != ("POST", SEND_PATH):
            return "404 Not Found", _error("Not Found")
        auth = req.headers.get("authorization")
        if mode == "reject" or auth is None:
            if auth is None:
                return "401 Unauthorized", _error("authorization required")
            return "401 Unauthorized", _error(
                "The provided authorization grant is invalid, expired, or revoked")
        if auth != "Bearer " + self.api_key:
            return "401 Unauthorized", _error(
                "The provided authorization grant is invalid, expired, or revoked")
        ctype = req.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return "400 Bad Request", _error("Content-Type should be application/json.")
        if req.json is None:
            return "400 Bad Request", _error("Bad Request", None, "message.body")
        problem = check_mail_json(req.json)
        if problem is not None:
            return "400 Bad Request", problem
        with self._lock:
            self.mails.append(Mail(req.json, req.headers))
        return "202 Accepted", None


def main():
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--key", default="SG.test-key-0123456789")
    ap.add_argument("--mode", default="ok")
    ap.add_argument("--dir", default=None, help="where to write the CA (default: a temp dir)")
    ap.add_argument("--seconds", type=float, default=600)
    a = ap.parse_args()
    pki = make_ca(a.dir or tempfile.mkdtemp(prefix="droplin-sendgrid-ca-"))
    stub = SendGridStub(pki, api_key=a.key, mode=a.mode, port=a.port)
    print(json.dumps(stub.env()), flush=True)
    try:
        time.sleep(a.seconds)
    except KeyboardInterrupt:
        pass
    stub.stop()


if __name__ == "__main__":
    main()
