"""The admin dashboard and /docs in a real browser: Debian's chromium, headless, driven over
the DevTools protocol (python3-websocket). Screenshots go to tests/out/ (git-ignored).

(a) the dashboard opens through the browser's own HTTP Basic flow (401 + challenge, then
    credentials) and shows the totals and the users;
(b) a username `<script>alert(1)</script>` (inserted with psycopg2: register refuses it) shows
    as text: no script element, no dialog, no CSP report;
(c) without credentials: 401 with a Basic challenge, in the browser and on the wire;
(d) /docs renders every operation of /openapi.json with no CSP violation and no script error.
"""

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request

import pytest

import harness
from auth_helpers import ADMIN_SECRET, Api, db_of, insert_user, start

websocket = pytest.importorskip("websocket")

CHROMIUM = shutil.which("chromium")
OUT = os.path.join(harness.TESTS_DIR, "out")
XSS = "<script>alert(1)</script>"
XSS_EMAIL = "<img src=x onerror=alert(2)>@evil.test"

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                                "(sh tests/install.sh installs it)")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-dev-shm-usage", "--hide-scrollbars",
         "--window-size=1200,900"]

# Runs before any script of every page: records CSP reports where the test can read them.
RECORDER = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__csp.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


class Chromium:
    """One headless chromium with one page, spoken to over the DevTools protocol."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="droplin-chromium-")
        self.proc = subprocess.Popen(
            [CHROMIUM] + FLAGS + ["--user-data-dir=" + self.dir, "--remote-debugging-port=0",
                                  "--remote-debugging-address=127.0.0.1", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        port_file = os.path.join(self.dir, "DevToolsActivePort")
        harness.wait_until(lambda: os.path.exists(port_file) and open(port_file).read().count("\n"),
                           30, what="chromium's DevToolsActivePort")
        self.port = int(open(port_file).read().split("\n")[0])
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list",
                                                   timeout=10))
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=10,
                                              suppress_origin=True)
        self.next_id = 0
        self.answers = {}  # id -> answer that arrived while another call was waiting
        self.events = []
        self.credentials = None  # (user, password) offered when a page asks for Basic auth
        self.challenges = []
        self.dialogs = []
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(domain + ".enable")
        self.call("Page.addScriptToEvaluateOnNewDocument", source=RECORDER)

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- protocol

    def _handle(self, msg):
        method = msg.get("method")
        params = msg.get("params", {})
        if method == "Fetch.requestPaused":
            # a request paused just before Fetch.disable is released by the disable itself;
            # continuing it then fails with "Fetch domain is not enabled", which is harmless
            try:
                self.call("Fetch.continueRequest", requestId=params["requestId"])
            except AssertionError as e:
                if "Fetch domain is not enabled" not in str(e):
                    raise
        elif method == "Fetch.authRequired":
            self.challenges.append(params["authChallenge"])
            if self.credentials:
                resp = {"response": "ProvideCredentials", "username": self.credentials[0],
                        "password": self.credentials[1]}
            else:
                resp = {"response": "CancelAuth"}
            self.call("Fetch.continueWithAuth", requestId=params["requestId"],
                      authChallengeResponse=resp)
        elif method == "Page.javascriptDialogOpening":
            self.dialogs.append(params)
            self.call("Page.handleJavaScriptDialog", accept=False)
        self.events.append(msg)

    def call(self, method, timeout=15.0, **params):
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.answers.pop(my_id, None) or json.loads(self.ws.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self._handle(msg)  # may make calls of its own, which may read our answer
            elif "id" in msg:
                self.answers[msg["id"]] = msg
        raise AssertionError(f"no answer to {method} in {timeout}s")

    def wait_event(self, name, timeout=15.0, since=0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for msg in self.events[since:]:
                if msg.get("method") == name:
                    return msg
            self.ws.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                msg = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                break
            finally:
                self.ws.settimeout(10)
            if "method" in msg:
                self._handle(msg)
            elif "id" in msg:
                self.answers[msg["id"]] = msg
        raise AssertionError(f"no {name} in {timeout}s")

    # -- pages

    def open(self, url, basic_auth=None):
        """Navigate and wait for the load event; basic_auth=(user, password) answers the
        browser's Basic challenge (the way a person types into the dialog)."""
        self.credentials = basic_auth
        self.call("Fetch.enable", handleAuthRequests=True, patterns=[{"urlPattern": "*"}])
        mark = len(self.events)
        self.call("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired", since=mark)
        self.call("Fetch.disable")
        return [m["params"] for m in self.events[mark:] if m.get("method") ==
                "Network.responseReceived" and m["params"].get("type") == "Document"]

    def js(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            raise AssertionError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_js(self, expression, timeout=10.0):
        return harness.wait_until(lambda: self.js(expression), timeout, interval=0.1,
                                  what=expression)

    def screenshot(self, name, full_page=True):
        os.makedirs(OUT, exist_ok=True)
        data = base64.b64decode(self.call("Page.captureScreenshot", format="png",
                                          captureBeyondViewport=full_page)["data"])
        path = os.path.join(OUT, name)
        with open(path, "wb") as f:
            f.write(data)
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
        return path

    def csp_reports(self):
        logged = [m["params"]["entry"]["text"] for m in self.events
                  if m.get("method") == "Log.entryAdded"
                  and "Content Security Policy" in m["params"]["entry"].get("text", "")]
        return (self.js("window.__csp") or []) + logged

    def script_errors(self):
        return [m["params"]["exceptionDetails"] for m in self.events
                if m.get("method") == "Runtime.exceptionThrown"]


@pytest.fixture
def browser():
    b = Chromium()
    yield b
    b.close()


@pytest.fixture
def site(droplin):
    """A droplin with two registered users, one photo and a hostile username in the table."""
    api = Api(start(droplin))
    api.register("alice", email="alice@example.com")
    bob = api.register("bob")["user_id"]
    harness.db_exec(db_of(api.d), "INSERT INTO user_profiles (user_id, profile_photo) "
                    "VALUES (%s, %s)", (bob, "https://res.example.com/x/bob.jpg"))
    insert_user(api.d, XSS, email=XSS_EMAIL)
    return api


def dashboard_url(d):
    return f"http://127.0.0.1:{d.port}/admin/dashboard"


def test_dashboard_renders_through_basic_auth(browser, site):
    docs = browser.open(dashboard_url(site.d), basic_auth=("admin", ADMIN_SECRET))
    # the browser was challenged (401 + Basic realm) and then got the page
    assert [(c["scheme"].lower(), c["realm"]) for c in browser.challenges] == \
        [("basic", "droplin admin")], browser.challenges
    assert docs and docs[-1]["response"]["status"] == 200, docs
    headers = {k.lower(): v for k, v in docs[-1]["response"]["headers"].items()}
    directives = dict((d.strip().split(None, 1) + [""])[:2]
                      for d in headers["content-security-policy"].split(";") if d.strip())
    scripts = directives.get("script-src", directives.get("default-src"))
    assert scripts is not None and "'unsafe-inline'" not in scripts \
        and "'unsafe-eval'" not in scripts, headers["content-security-policy"]
    assert browser.js("document.title") == "DropLink Admin Dashboard"
    assert browser.js("document.querySelector('#total-users b').textContent") == "3"
    assert browser.js("document.querySelector('#users-with-photos b').textContent") == "1"
    rows = browser.js("[...document.querySelectorAll('tbody tr')].map(r => "
                      "[...r.cells].map(c => c.textContent))")
    assert [r[1:] for r in rows] == [["alice", "alice@example.com"], ["bob", "No email"],
                                     [XSS, XSS_EMAIL]], rows
    assert browser.js("document.getElementById('updated').textContent").startswith(
        "Last updated: ")
    path = browser.screenshot("dashboard.png")
    assert os.path.getsize(path) > 5000


def test_hostile_username_is_text(browser, site):
    browser.open(dashboard_url(site.d), basic_auth=("anyone", ADMIN_SECRET))
    assert browser.js("document.querySelectorAll('script').length") == 0
    assert browser.js("document.querySelectorAll('tbody img').length") == 0
    cells = browser.js("[...document.querySelectorAll('td')].map(c => c.textContent)")
    assert XSS in cells and XSS_EMAIL in cells, cells
    assert browser.js("document.body.innerHTML").count("&lt;script&gt;alert(1)&lt;/script&gt;") == 1
    # barrier, not a sleep: the load event came (open() waits for it), after every image's
    # error event; a task queued now runs after any handler queued before it
    assert browser.js("new Promise(r => setTimeout(() => r(document.readyState), 0))") == \
        "complete"
    browser.call("Runtime.evaluate", expression="1")  # drain pending events
    assert browser.dialogs == [], browser.dialogs
    assert browser.script_errors() == []


def test_dashboard_without_credentials_is_a_basic_challenge(browser, site):
    docs = browser.open(dashboard_url(site.d), basic_auth=None)
    assert [c["scheme"].lower() for c in browser.challenges] == ["basic"], browser.challenges
    assert docs and docs[-1]["response"]["status"] == 401, docs
    assert "DropLink Admin Dashboard" not in browser.js("document.documentElement.outerHTML")
    # on the wire
    r = site.d.get("/admin/dashboard")
    assert r.status == 401, r
    assert r.headers.get_all("WWW-Authenticate") == [
        'Basic realm="droplin admin", charset="UTF-8"'], r
    # a wrong password is challenged again, not shown the page
    wrong = "Basic " + base64.b64encode(b"admin:not-the-secret").decode()
    r = site.d.get("/admin/dashboard", headers={"Authorization": wrong})
    assert r.status == 401 and "WWW-Authenticate" in r.headers, r


def test_dashboard_with_credentials_in_the_url(site, tmp_path):
    """The plain command-line way: credentials in the URL, --dump-dom."""
    url = f"http://admin:{ADMIN_SECRET}@127.0.0.1:{site.d.port}/admin/dashboard"
    r = subprocess.run([CHROMIUM] + FLAGS + ["--user-data-dir=" + str(tmp_path / "profile"),
                                            "--dump-dom", url],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert 'id="total-users"' in r.stdout, r.stdout[-2000:] + r.stderr[-2000:]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.stdout
    assert "<script>" not in r.stdout


def test_docs_page_lists_every_operation(browser, droplin):
    d = start(droplin)
    browser.open(f"http://127.0.0.1:{d.port}/docs")
    count = int(browser.wait_js("document.body.dataset.operations"))
    doc = json.loads(d.get("/openapi.json").body)
    ops = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
    assert count == len(ops) >= 50
    shown = browser.js("[...document.querySelectorAll('article.op')].map(a => "
                       "a.querySelector('.method').textContent + ' ' + "
                       "a.querySelector('.path').textContent)")
    assert sorted(shown) == sorted(f"{m} {p}" for m, p in ops)
    # grouped by tag, with parameters and request-body fields
    tags = browser.js("[...document.querySelectorAll('section.tag')].map(s => s.id)")
    assert set(tags) >= {"tag-auth", "tag-devices", "tag-user", "tag-admin"}, tags
    register = browser.js("[...document.querySelector('#register').querySelectorAll("
                          "'td.name')].map(t => t.textContent)")
    assert {"username", "password", "email"} <= set(register), register
    logs = browser.js("[...document.querySelector('#adminAuditLogs').querySelectorAll("
                      "'td.name')].map(t => t.textContent)")
    assert {"user_id", "action", "ip_address", "limit", "offset"} <= set(logs), logs
    assert browser.js("document.body.dataset.error") is None
    assert browser.csp_reports() == []
    assert browser.script_errors() == []
    browser.screenshot("docs.png", full_page=False)
