"""scripts/check-replicas against a stand-in front whose answers the test chooses (no database):
a request with no answer is reported with curl's error and never with an earlier answer's body
or replica; a used-up register limit says how to go on (CHECK_USER / CHECK_PASSWORD), and with
those set the script logs in and registers nobody. The script against real replicas behind
HAProxy: test_replicas.py."""

import http.server
import json
import re
import subprocess
import threading

import pytest

import harness

SCRIPT = harness.REPO + "/scripts/check-replicas"


class Front:
    """/health answers `answered` requests (replicas r1, r2 in turn), then closes the connection
    without a word; /auth/register answers `register_status`."""

    def __init__(self, answered=10**6, register_status=200):
        self.answered, self.register_status = answered, register_status
        self.calls, self.health = [], 0
        front = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def reply(self, code, obj):
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def handle_any(self):
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n)
                front.calls.append((self.command, self.path))
                if self.path == "/health":
                    front.health += 1
                    if front.health > front.answered:
                        self.close_connection = True  # no status line, nothing
                        return
                    self.reply(200, {"status": "healthy", "database": "connected",
                                     "replica": f"r{1 + front.health % 2}"})
                elif self.path == "/auth/register":
                    code = front.register_status
                    self.reply(code, {"token": "tok"} if code == 200 else
                               {"detail": "Too Many Requests", "retry_after": 3000})
                elif self.path == "/auth/login":
                    self.reply(200, {"token": "tok"})
                else:
                    self.reply(200, {})

            do_GET = do_POST = do_DELETE = handle_any

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def front_factory():
    fronts = []

    def make(**kw):
        fronts.append(Front(**kw))
        return fronts[-1]
    yield make
    for f in fronts:
        f.close()


def run(url, *args, env=None):
    return subprocess.run(["sh", SCRIPT, *args, url], env=harness.make_env(env),
                          capture_output=True, text=True, timeout=120)


def test_a_request_with_no_answer_shows_curls_error_and_no_earlier_answer(front_factory):
    f = front_factory(answered=2)
    r = run(f.url, "-n", "4", "-e", "2", "-m", "1", "-r", "2", "-i", "0", "-t", "5")
    out = r.stdout
    assert r.returncode == 1, out + r.stderr
    # the two answers count, the two silences are reported as such, with curl's own words
    assert "FAIL distribution: 2/4 answered 200 from 2 distinct replicas (r1=1 r2=1)" in out, out
    silent = [l for l in out.splitlines() if l.startswith("  /health #")]
    assert [l.split(":")[0] for l in silent] == ["  /health #3", "  /health #4"], out
    for line in silent:
        assert "000 no answer: (52) Empty reply from server" in line, line
        assert "healthy" not in line and "r1" not in line and "r2" not in line, line
    # the monitor names no replica for a request that got no answer
    mon = next(l for l in out.splitlines() if re.match(r"  monitor 1/1 \d", l))
    assert mon.endswith("?:000/no-answer ?:000/no-answer"), mon
    assert "monitor 1/1 #1: no answer: (52) Empty reply from server" in out, out


def test_nothing_listening_reports_the_connection_error():
    port = harness.free_port()
    r = run(f"http://127.0.0.1:{port}", "-q", "-n", "1", "-m", "0", "-t", "5")
    assert r.returncode == 1
    assert re.search(r"FAIL token: register throwaway user chk_\w+: 000 no answer: \(7\) "
                     r"Failed to connect", r.stdout), r.stdout


def test_a_used_up_register_limit_says_how_to_go_on(front_factory):
    f = front_factory(register_status=429)
    r = run(f.url, "-q", "-n", "2", "-e", "2", "-m", "0")
    assert r.returncode == 1, r.stdout
    line = next(l for l in r.stdout.splitlines() if l.startswith("FAIL token:"))
    assert "register limit" in line and "CHECK_USER and CHECK_PASSWORD" in line, line
    assert ": 429 " in line, line


def test_check_user_logs_in_and_registers_nobody(front_factory):
    f = front_factory(register_status=429)
    r = run(f.url, "-q", "-n", "2", "-e", "2", "-m", "0",
            env={"CHECK_USER": "checker", "CHECK_PASSWORD": "Sunny-Day7!"})
    assert r.returncode == 0, r.stdout
    assert "PASS token: login as checker; one token accepted by 2/2" in r.stdout, r.stdout
    assert ("POST", "/auth/register") not in f.calls and ("DELETE", "/user/delete") not in f.calls
