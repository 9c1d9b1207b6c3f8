"""/docs sends requests (issue 19, part B): each operation's "Try it" form, driven in headless
Chromium through the page's own fields and buttons (values typed with input events, Send and
"Use this token" clicked with click events; the test never calls fetch itself).

(a) register, "Use this token", log in, "Use this token", save and read the profile: the
    statuses, headers, bodies and curl commands the page shows; the curl text run by a real
    shell gets the same answer; the token is in sessionStorage (this tab), survives a reload,
    is never in localStorage; a screenshot after the last Send (tests/out/docs-tryit.png);
(b) every operation but a GET is marked "reads only" (the POSTs that only look up),
    "deletes data" (every DELETE, and the audit cleanup) or "changes data", with the note
    beside Send; a form with a required path parameter left empty sends nothing;
(c) an admin form sends its `secret` header and query parameters, and keeps the secret nowhere;
(d) a token typed into the token field, and a photo chosen in the upload form's file input: the
    multipart upload reaches the Cloudinary stand-in byte for byte, and the curl command's -F
    (an awkward file name) uploads the same file again;
(e) without a browser: the page's files are served as they are in docs/api/, with their types
    and the CSP, and use no markup sink (innerHTML and the like), eval or inline script/style;
(f) an outside review's findings, a test each (its docstring says which).
In (a)-(d) the console shows no CSP violation, no script error and no error entry.
"""

import base64
import json
import os
import re
import shutil
import subprocess

import pytest

import harness
from auth_helpers import ADMIN_SECRET, PASSWORD, Api, db_of, start
from cloudinary_stub import cloudinary, cloudinary_ca  # noqa: F401  (pytest fixtures)
from test_browser import CHROMIUM, OUT, Chromium
from test_photos import png

CURL = shutil.which("curl")
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self';"
            " img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SEND_WAIT = 60  # seconds (scaled) for one Send: bcrypt on a loaded machine

needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                                    "(sh tests/install.sh installs it)")


@pytest.fixture
def browser():
    b = Chromium()
    yield b
    b.close()


# -- the page's forms, through DOM events


def in_card(op, body):
    """A JS expression run with `card` (the operation's article) and `form` bound."""
    return ("(() => { const card = document.getElementById(%s); "
            "const form = card.querySelector('form.try'); %s })()" % (json.dumps(op), body))


def open_form(b, op):
    b.js(in_card(op, "card.querySelector('details.tryit > summary').dispatchEvent("
                     "new MouseEvent('click', {bubbles: true, cancelable: true, view: window}));"))
    b.wait_js(in_card(op, "return card.querySelector('details.tryit').open;"))


def type_into(b, op, selector, text):
    """Replaces a field's text the way typing does: focus, the new value, an input event."""
    return b.js(in_card(op, "const f = form.querySelector(%s); f.focus(); f.select(); "
                            "f.value = %s; f.dispatchEvent(new InputEvent('input', {bubbles: true,"
                            " inputType: 'insertText', data: %s})); return f.value;"
                        % (json.dumps(selector), json.dumps(text), json.dumps(text))))


def click(b, op, selector):
    b.js(in_card(op, "card.querySelector(%s).dispatchEvent(new MouseEvent('click', "
                     "{bubbles: true, cancelable: true, view: window}));" % json.dumps(selector)))


def send(b, op):
    """Clicks the form's Send and waits for the page to show the answer."""
    before = int(b.js(in_card(op, "return form.dataset.sent;")))
    click(b, op, "form.try button.send")
    b.wait_js(in_card(op, "return form.dataset.sent === '%d';" % (before + 1)), SEND_WAIT)
    return b.js(in_card(op, """
        const r = card.querySelector('.result');
        const take = r.querySelector('button.take-token');
        return {state: form.dataset.state, hidden: r.hidden,
                status: r.querySelector('.status').textContent,
                headers: r.querySelector('pre.headers').textContent,
                body: r.querySelector('pre.body').textContent,
                curl: r.querySelector('pre.curl').textContent,
                take_token: take.hidden ? null : take.dataset.token,
                elements: r.querySelectorAll('*').length};"""))


def shown_headers(text):
    return dict(line.split(": ", 1) for line in text.split("\n"))


BEARER = '-H "Authorization: Bearer $TOKEN"'  # the token and the secret: shell variables
SECRET = '-H "secret: $ADMIN_SECRET"'


def curl_text(port, method, path, headers=(), data=None):
    words = ["curl -i " + (f"-X {method} " if method != "GET" else "") +
             f"'http://127.0.0.1:{port}{path}'"]
    words += [h if h in (BEARER, SECRET) else f"-H '{h}'" for h in headers]
    if data is not None:
        words.append("--data-raw '" + data.replace("'", "'\\''") + "'")
    return " \\\n  ".join(words)


def run_curl(text, cwd=None, **variables):
    """Runs the page's curl command in a real shell, with variables (TOKEN=...) in its
    environment; returns (status line, body)."""
    r = subprocess.run(["sh", "-c", text], capture_output=True, timeout=harness.scaled(30),
                       stdin=subprocess.DEVNULL, cwd=cwd, env=dict(os.environ, **variables))
    assert r.returncode == 0, r.stderr
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0].decode(), body


def console_errors(b):
    b.call("Runtime.evaluate", expression="1")  # drain events that have arrived
    out = [m["params"]["entry"] for m in b.events if m.get("method") == "Log.entryAdded"
           and m["params"]["entry"].get("level") == "error"]
    out += [m["params"] for m in b.events if m.get("method") == "Runtime.consoleAPICalled"
            and m["params"].get("type") in ("error", "assert")]
    return out


def assert_clean_console(b):
    assert b.csp_reports() == []
    assert b.script_errors() == []
    assert console_errors(b) == []


def screenshot_of(b, op, name):
    """The operation's card, whole (beyond the window), as tests/out/NAME."""
    b.js("window.scrollTo(0, 0)")
    rect = b.js(in_card(op, "const r = card.getBoundingClientRect(); return {x: r.left + scrollX,"
                            " y: r.top + scrollY, width: r.width, height: r.height, scale: 1};"))
    data = base64.b64decode(b.call("Page.captureScreenshot", format="png", clip=rect,
                                   captureBeyondViewport=True)["data"])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def requests_since(b, mark):
    """The URLs the page requested since event number mark, read after a later request, GET
    /health sent from its own form, has reached the browser's network log."""
    open_form(b, "health")
    assert send(b, "health")["status"] == "200 OK"
    b.wait_event("Network.loadingFinished", since=mark)
    return [m["params"]["request"]["url"] for m in b.events[mark:]
            if m.get("method") == "Network.requestWillBeSent"]


def set_token(b, text):
    """Pastes text into the token field and leaves it: input and change events."""
    b.js("(() => { const f = document.getElementById('token'); f.focus(); f.value = %s; "
         "f.dispatchEvent(new InputEvent('input', {bubbles: true})); "
         "f.dispatchEvent(new Event('change', {bubbles: true})); })()" % json.dumps(text))


def result_of(b, op):
    return b.js(in_card(op, """
        const r = card.querySelector('.result');
        return {state: form.dataset.state, status: r.querySelector('.status').textContent,
                panes: r.querySelector('pre.body').checkVisibility(),
                body: r.querySelector('pre.body').textContent};"""))


def open_docs(b, d):
    b.open(f"http://127.0.0.1:{d.port}/docs")
    assert int(b.wait_js("document.body.dataset.operations")) >= 50


# -- (a)


@needs_chromium
@pytest.mark.skipif(CURL is None, reason="curl is not installed")
def test_register_login_and_profile_through_the_page(browser, droplin):
    d = start(droplin)
    port = d.port
    open_docs(browser, d)
    assert browser.js("document.getElementById('token').value") == ""
    assert browser.js("document.body.dataset.token") == "none"
    assert browser.js("document.getElementById('origin').textContent") == \
        f"http://127.0.0.1:{port}"

    # register: the body is prefilled with an example built from the schema (a username and
    # password of this page load's own: test_prefilled_account_is_this_page_loads_own)
    open_form(browser, "register")
    prefilled = json.loads(browser.js(in_card("register",
                                              "return form.querySelector('textarea').value;")))
    assert list(prefilled) == ["username", "password", "email"] and \
        prefilled["email"] == prefilled["username"] + "@example.com", prefilled
    body = json.dumps({"username": "tryit_user", "password": PASSWORD,
                       "email": "tryit@example.com"}, indent=1)
    type_into(browser, "register", "textarea", body)
    reg = send(browser, "register")
    assert reg["state"] == "done" and reg["status"] == "200 OK", reg
    shown = json.loads(reg["body"])
    assert reg["body"] == json.dumps(shown, indent=2)  # pretty JSON
    assert shown["username"] == "tryit_user" and reg["take_token"] == shown["token"], reg
    assert reg["curl"] == curl_text(port, "POST", "/auth/register",
                                    ["Content-Type: application/json"], body)
    headers = shown_headers(reg["headers"])
    assert headers["content-type"] == "application/json"
    assert headers["cache-control"] == "no-store"
    click(browser, "register", ".result button.take-token")
    assert browser.js("document.getElementById('token').value") == shown["token"]
    assert browser.js("sessionStorage.getItem('droplin-docs-token')") == shown["token"]
    assert browser.js("document.getElementById('token-state').textContent").startswith(
        f"set: tryit_user (user {shown['user_id']}), expires ")

    # log in, and take that token instead
    open_form(browser, "login")
    body = json.dumps({"username": "tryit_user", "password": PASSWORD})
    type_into(browser, "login", "textarea", body)
    login = send(browser, "login")
    assert login["status"] == "200 OK", login
    token = json.loads(login["body"])["token"]
    assert token != shown["token"] and login["take_token"] == token
    assert "Authorization" not in login["curl"]  # login needs no token, so none is sent
    click(browser, "login", ".result button.take-token")
    assert browser.js("document.getElementById('token').value") == token
    assert browser.js("sessionStorage.getItem('droplin-docs-token')") == token

    # save a profile whose text needs quoting in a shell and escaping in HTML
    profile = {"name": "O'Brien <b>bold</b>", "bio": "it's $(id) `id` \"q\" \\ & ;"}
    open_form(browser, "saveProfile")
    type_into(browser, "saveProfile", "textarea", json.dumps(profile))
    saved = send(browser, "saveProfile")
    assert saved["status"] == "200 OK", saved
    save_curl = curl_text(port, "POST", "/user/profile", ["Content-Type: application/json",
                                                          BEARER], json.dumps(profile))
    assert saved["curl"] == save_curl

    # read it back
    open_form(browser, "getProfile")
    got = send(browser, "getProfile")
    assert got["status"] == "200 OK", got
    wire = d.get("/user/profile", headers={"Authorization": "Bearer " + token})
    assert wire.status == 200 and json.loads(got["body"]) == wire.json(), (got, wire)
    assert wire.json()["username"] == "tryit_user"
    assert {k: wire.json()[k] for k in profile} == profile
    assert got["curl"] == curl_text(port, "GET", "/user/profile", [BEARER])
    # shown as text: the <b> in the name made no element
    assert got["elements"] == 15 and browser.js("document.querySelectorAll('main b').length") == 0
    path = screenshot_of(browser, "getProfile", "docs-tryit.png")
    assert os.path.getsize(path) > 20000

    # the curl commands, run by a shell, make the same requests
    assert run_curl(got["curl"], TOKEN=token) == ("HTTP/1.1 200 OK", wire.body)
    status, body = run_curl(save_curl, TOKEN=token)
    assert status == "HTTP/1.1 200 OK" and json.loads(body) == json.loads(saved["body"])
    assert d.get("/user/profile", headers={"Authorization": "Bearer " + token}).json() == \
        wire.json()
    assert_clean_console(browser)

    # the token is this tab's: kept across a reload, never in localStorage
    browser.open(f"http://127.0.0.1:{port}/docs")
    browser.wait_js("document.body.dataset.operations")
    assert browser.js("document.getElementById('token').value") == token
    assert browser.js("localStorage.length") == 0
    assert_clean_console(browser)


# -- (b)

# The POSTs that only look something up, and the one that deletes rows (every DELETE does).
READS_ONLY_POSTS = {"checkPasswordStrength", "checkUsername", "checkEmail", "checkPhone",
                    "runDiagnostics"}
DELETING_POSTS = {"adminCleanupAuditLogs"}
BADGES = {"reads": "reads only", "changes": "changes data", "deletes": "deletes data"}
NOTES = {"reads": "reads only.", "changes": "sending this changes data on this server.",
         "deletes": "sending this deletes data on this server; it cannot be undone."}


def effect(op, method):
    if method == "delete" or op in DELETING_POSTS:
        return "deletes"
    return "reads" if method == "get" or op in READS_ONLY_POSTS else "changes"


@needs_chromium
def test_calls_are_marked_by_what_they_do(browser, droplin):
    d = start(droplin)
    open_docs(browser, d)
    doc = json.loads(d.get("/openapi.json").body)
    ops = {op["operationId"]: m for item in doc["paths"].values() for m, op in item.items()}
    marks = browser.js("Object.fromEntries([...document.querySelectorAll('article.op')].map(a => "
                       "[a.id, [a.dataset.effect, [...a.querySelectorAll('.head .badge')].map("
                       "b => b.className + ': ' + b.textContent), "
                       "a.querySelector('.send-note').textContent]]))")
    assert marks == {op: [effect(op, m), [] if m == "get" else
                          [f"badge {effect(op, m)}: {BADGES[effect(op, m)]}"],
                          f"{m.upper()}: {NOTES[effect(op, m)]}"] for op, m in ops.items()}
    assert sorted(o for o, m in ops.items() if m == "delete") == [
        "adminClearAllData", "deleteAccount", "deleteDevice", "deletePhoto", "deletePin",
        "deletePrivacyZone"]
    # a required path parameter left empty: nothing is sent
    open_form(browser, "deleteDevice")
    mark = len(browser.events)
    click(browser, "deleteDevice", "form.try button.send")
    assert browser.js(in_card("deleteDevice", "return [form.dataset.state, card.querySelector("
                                              "'.result .status').textContent];")) == \
        ["not sent", "Not sent: device_id is required."]
    assert requests_since(browser, mark) == [f"http://127.0.0.1:{d.port}/health"]
    assert_clean_console(browser)


# -- (c)


@needs_chromium
def test_admin_form_sends_the_secret_and_query(browser, droplin):
    d = start(droplin)
    port = d.port
    open_docs(browser, d)
    open_form(browser, "adminAuditLogs")
    assert browser.js(in_card("adminAuditLogs", "return [...form.querySelectorAll('input')].map("
                                                "i => [i.name, i.type, i.placeholder]);")) == [
        ["user_id", "text", "optional"], ["action", "text", "optional"],
        ["ip_address", "text", "optional"], ["limit", "text", "default 100"],
        ["offset", "text", "default 0"], ["", "password", "ADMIN_SECRET"]]
    type_into(browser, "adminAuditLogs", "input[name=limit]", "2")
    type_into(browser, "adminAuditLogs", "input[name=action]", "no such action")
    type_into(browser, "adminAuditLogs", "input.secret", ADMIN_SECRET)
    r = send(browser, "adminAuditLogs")
    assert r["status"] == "200 OK", r
    query = "/admin/audit-logs?action=no+such+action&limit=2"
    wire = d.get(query, headers={"secret": ADMIN_SECRET})
    assert wire.status == 200 and json.loads(r["body"]) == wire.json(), (r, wire)
    assert r["curl"] == curl_text(port, "GET", query, [SECRET])
    assert r["take_token"] is None
    # the secret is in no storage, and the token field does not hold it
    assert browser.js("[sessionStorage.length, localStorage.length, "
                      "document.getElementById('token').value]") == [0, 0, ""]
    assert_clean_console(browser)


# -- (d)


@needs_chromium
@pytest.mark.skipif(CURL is None, reason="curl is not installed")
def test_photo_upload_through_the_file_input(browser, droplin, cloudinary, tmp_path):  # noqa: F811
    d = start(droplin, **cloudinary.env())
    token = Api(d).register("tryit_photo")["token"]
    open_docs(browser, d)
    browser.js("(() => { const f = document.getElementById('token'); f.focus(); f.value = %s; "
               "f.dispatchEvent(new InputEvent('input', {bubbles: true})); })()"
               % json.dumps(token))
    assert browser.js("sessionStorage.getItem('droplin-docs-token')") == token
    assert browser.js("document.getElementById('token-state').textContent").startswith(
        "set: tryit_photo (user 1), expires ")
    name = "it's a \"photo\" $(x).png"
    data = png(5, 4)
    (tmp_path / name).write_bytes(data)
    open_form(browser, "uploadPhoto")
    node = browser.call("Runtime.evaluate", expression=in_card(
        "uploadPhoto", "return form.querySelector('input[type=file]');"))["result"]
    browser.call("DOM.setFileInputFiles", files=[str(tmp_path / name)], objectId=node["objectId"])
    r = send(browser, "uploadPhoto")
    assert r["status"] == "200 OK", r
    [up] = cloudinary.uploads
    assert up.data == data
    assert json.loads(r["body"]) == {"success": True, "url": up.secure_url}
    quoted = r"""'file=@"it'\''s a \"photo\" $(x).png";type=image/png'"""
    assert r["curl"] == curl_text(d.port, "POST", "/user/profile/photo",
                                  [BEARER]) + " \\\n  -F " + quoted
    assert_clean_console(browser)
    # the same command, run where the file is, uploads it again
    status, body = run_curl(r["curl"], cwd=tmp_path, TOKEN=token)
    assert status == "HTTP/1.1 200 OK", body
    assert [u.data for u in cloudinary.uploads] == [data, data]
    assert json.loads(body) == {"success": True, "url": cloudinary.uploads[1].secure_url}


# -- (e)


def test_page_files_served_as_in_docs(droplin):
    d = start(droplin)
    api = os.path.join(harness.REPO, "docs", "api")
    for path, name, ctype in [("/docs", "index.html", "text/html; charset=utf-8"),
                              ("/docs/app.js", "app.js", "text/javascript; charset=utf-8"),
                              ("/docs/app.css", "app.css", "text/css; charset=utf-8")]:
        r = d.get(path)
        with open(os.path.join(api, name), "rb") as f:
            assert (r.status, r.headers["Content-Type"], r.headers["Content-Security-Policy"],
                    r.body) == (200, ctype, DOCS_CSP, f.read()), f"{path}: run `make droplin`"
    with open(os.path.join(api, "app.js")) as f:
        js = f.read()
    sinks = re.findall(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|"
                       r"new Function|setTimeout\(\s*[\"'`]|javascript:", js)
    assert sinks == []
    assert "preventDefault()" in js and "sessionStorage" in js and "localStorage" not in js
    with open(os.path.join(api, "index.html")) as f:
        html = f.read()
    assert re.findall(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=", html) == []


# -- (f) the outside review's findings


@needs_chromium
def test_prefilled_account_is_this_page_loads_own(browser, droplin):
    """Register, then log in, both sent as prefilled: the account is this page load's own (a
    username and password drawn with crypto.getRandomValues), not one that everyone who
    presses Send shares; the next load of the page draws another."""
    d = start(droplin)
    open_docs(browser, d)
    body_of = "return JSON.parse(form.querySelector('textarea').value);"
    open_form(browser, "register")
    mine = browser.js(in_card("register", body_of))
    assert re.fullmatch(r"try_[a-z2-9]{12}", mine["username"]) and \
        re.fullmatch(r"Try\.[a-z2-9]{16}\.9", mine["password"]), mine
    reg = send(browser, "register")
    assert reg["status"] == "200 OK", reg
    open_form(browser, "login")
    assert browser.js(in_card("login", body_of)) == {
        "username": mine["username"], "password": mine["password"], "remember_me": False}
    login = send(browser, "login")
    assert login["status"] == "200 OK" and \
        json.loads(login["body"])["user_id"] == json.loads(reg["body"])["user_id"], login
    open_docs(browser, d)
    open_form(browser, "register")
    again = browser.js(in_card("register", body_of))
    assert (again["username"] != mine["username"], again["password"] != mine["password"]) == \
        (True, True), (again, mine)
    assert_clean_console(browser)


@needs_chromium
def test_a_delete_is_sent_only_when_confirmed(browser, droplin):
    """DELETE /user/delete, marked deletes data, with the token ticked: Send does nothing until
    the form's unticked-by-default confirmation is ticked; then it is sent once, and the box is
    unticked again."""
    d = start(droplin)
    api = Api(d)
    token = api.register("tryit_gone")["token"]
    open_docs(browser, d)
    set_token(browser, token)
    open_form(browser, "deleteAccount")
    mark = len(browser.events)
    click(browser, "deleteAccount", "form.try button.send")
    assert result_of(browser, "deleteAccount") == {
        "state": "not sent", "status": "Not sent: tick “Yes, delete” first.", "panes": False,
        "body": ""}
    assert requests_since(browser, mark) == [f"http://127.0.0.1:{d.port}/health"]
    assert browser.js(in_card("deleteAccount", """
        const c = form.querySelector('input.confirm');
        return [card.querySelector('.head .badge').textContent, c.type, c.checked, c.required,
                c.parentNode.textContent, form.querySelector('input.use-token').checked];""")) == [
        "deletes data", "checkbox", False, True,
        " Yes, delete: DELETE /user/delete deletes data on this server for good", True]
    click(browser, "deleteAccount", "input.confirm")
    r = send(browser, "deleteAccount")
    assert (r["status"], browser.js(in_card("deleteAccount", "return form.querySelector("
                                                             "'input.confirm').checked;"))) == \
        ("200 OK", False), r
    assert api.authorized(token).status == 401
    assert_clean_console(browser)


@needs_chromium
@pytest.mark.skipif(CURL is None, reason="curl is not installed")
def test_clear_takes_the_token_off_the_page(browser, droplin):
    """The curl command names the token $TOKEN (Show values writes TOKEN='...' before it, and
    that text runs as it is); Clear empties the token field, sessionStorage, every answer
    (register's body held the token) and every Use this token."""
    d = start(droplin)
    open_docs(browser, d)
    open_form(browser, "register")
    reg = send(browser, "register")
    token = reg["take_token"]
    assert reg["status"] == "200 OK" and token in reg["body"], reg
    click(browser, "register", ".result button.take-token")
    open_form(browser, "getProfile")
    got = send(browser, "getProfile")
    assert (got["status"], got["curl"]) == \
        ("200 OK", curl_text(d.port, "GET", "/user/profile", [BEARER])), got
    assert browser.js(in_card("getProfile", "return card.querySelector('.curl-note')"
                                            ".textContent;")) == \
        "The command reads $TOKEN from the shell: set it there, or press Show values."
    click(browser, "getProfile", ".result button.reveal")
    shown = browser.js(in_card("getProfile", "return card.querySelector('pre.curl').textContent;"))
    assert shown == f"TOKEN='{token}'\n" + got["curl"]
    assert run_curl(shown)[0] == "HTTP/1.1 200 OK"
    browser.js("document.getElementById('token-clear').dispatchEvent(new MouseEvent('click', "
               "{bubbles: true, cancelable: true, view: window}))")
    assert browser.js("""(() => {
        const token = %s;
        const values = [...document.querySelectorAll('input, textarea')].map(i => i.value);
        return {in_text: document.documentElement.textContent.includes(token),
                in_fields: values.some(v => v.includes(token)), stored: sessionStorage.length,
                answers: [...document.querySelectorAll('.result')].filter(r =>
                  r.querySelector('.status').textContent || !r.querySelector('.panes').hidden ||
                  !r.querySelector('.take-token').hidden).length};
        })()""" % json.dumps(token)) == \
        {"in_text": False, "in_fields": False, "stored": 0, "answers": 0}
    assert_clean_console(browser)


@needs_chromium
def test_dot_segments_are_not_sent(browser, droplin):
    """A path parameter "." or ".." (around spaces too) would make fetch ask for another path
    (/devices/. is /devices/, which redirects to the list): Not sent, and nothing reaches
    the network."""
    d = start(droplin)
    open_docs(browser, d)
    open_form(browser, "getDevice")
    mark = len(browser.events)
    answers = []
    for value in (".", " .. "):
        type_into(browser, "getDevice", "input[name=device_id]", value)
        click(browser, "getDevice", "form.try button.send")
        answers.append(result_of(browser, "getDevice"))
    assert answers == [{"state": "not sent", "status": "Not sent: device_id cannot be “.” or "
                        "“..”: the URL would name another path.", "panes": False,
                        "body": ""}] * 2
    assert requests_since(browser, mark) == [f"http://127.0.0.1:{d.port}/health"]
    assert_clean_console(browser)


@needs_chromium
def test_a_pasted_bearer_token_is_taken_bare(browser, droplin):
    """A token pasted with quotes, "Bearer " and spaces around it is kept and sent bare."""
    d = start(droplin)
    token = Api(d).register("tryit_paste")["token"]
    open_docs(browser, d)
    set_token(browser, f'  "Bearer {token}"\n')
    assert browser.js("[document.getElementById('token').value, sessionStorage.getItem("
                      "'droplin-docs-token'), document.getElementById('token-state')"
                      ".textContent.startsWith('set: tryit_paste (user 1), expires ')]") == \
        [token, token, True]
    open_form(browser, "getProfile")
    r = send(browser, "getProfile")
    assert r["status"] == "200 OK", r
    assert_clean_console(browser)


@needs_chromium
def test_an_unpaired_surrogate_is_not_sent(browser, droplin):
    """A path parameter holding a lone surrogate, which encodeURIComponent refuses: the answer
    before it is taken away, Not sent is shown, and no script error is left."""
    d = start(droplin)
    open_docs(browser, d)
    open_form(browser, "getDevice")
    type_into(browser, "getDevice", "input[name=device_id]", "1")
    assert send(browser, "getDevice")["status"] == "401 Unauthorized"
    type_into(browser, "getDevice", "input[name=device_id]", "\ud800")
    click(browser, "getDevice", "form.try button.send")
    assert result_of(browser, "getDevice") == {
        "state": "not sent", "status": "Not sent: device_id holds a character that cannot be "
        "sent (an unpaired surrogate).", "panes": False, "body": ""}
    assert browser.script_errors() == []


@needs_chromium
def test_a_long_body_is_shown_a_mib_at_a_time(browser, droplin):
    """GET /devices answering 1.4 MB of JSON: the first MiB is shown as it came (pretty JSON
    that long kept the tab frozen for seconds, 12-19 s at 10 MB), with its size; Show 1 MiB
    more shows the rest."""
    d = start(droplin)
    user = Api(d).register("tryit_big")
    harness.db_exec(db_of(d), "INSERT INTO devices (user_id, name, rssi, distance_feet,"
                    " social_media, timestamp) SELECT %s, 'd' || g, -50, 1.5, '[' ||"
                    " repeat('\"ab\",', 11600) || '\"ab\"]', '2026-01-01T00:00:00'"
                    " FROM generate_series(1, 25) g", (user["user_id"],))
    wire = d.get("/devices", headers={"Authorization": "Bearer " + user["token"]}, timeout=30)
    text = wire.body.decode()
    assert wire.status == 200 and 1 << 20 < len(text) < 2 << 20, (wire, len(text))
    open_docs(browser, d)
    set_token(browser, user["token"])
    open_form(browser, "listDevices")
    r = send(browser, "listDevices")
    assert (r["status"], len(r["body"]), r["body"] == text[:1 << 20]) == ("200 OK", 1 << 20, True)
    shown = "return [card.querySelector('pre.body').textContent, card.querySelector("\
            "'.body-note').textContent, card.querySelector('button.more').hidden];"
    assert browser.js(in_card("listDevices", shown)) == [
        text[:1 << 20], f"Showing the first 1,048,576 of {len(text):,} characters, as they came.",
        False]
    click(browser, "listDevices", ".result button.more")
    assert browser.js(in_card("listDevices", shown)) == [text, "", True]
    assert_clean_console(browser)


@needs_chromium
def test_forms_name_their_operation_and_keep_focus(browser, droplin):
    """Each operation is a heading (h3: method and path), its Try it and Send are named after
    it, its status line is a live region (role=status); Send keeps the focus while sending."""
    d = start(droplin)
    open_docs(browser, d)
    open_form(browser, "health")
    browser.js(in_card("health", "form.querySelector('button.send').focus();"))
    assert send(browser, "health")["status"] == "200 OK"
    assert browser.js(in_card("health", "const s = form.querySelector('button.send'); return ["
                                        "document.activeElement === s, s.disabled, "
                                        "s.getAttribute('aria-disabled')];")) == [True, False, None]
    doc = json.loads(d.get("/openapi.json").body)
    got = browser.js("Object.fromEntries([...document.querySelectorAll('article.op')].map(a => "
                     "[a.id, [a.querySelector(':scope > .head').tagName, "
                     "a.querySelector(':scope > .head .method').textContent + ' ' + "
                     "a.querySelector(':scope > .head .path').textContent, "
                     "a.querySelector('summary').getAttribute('aria-label'), "
                     "a.querySelector('button.send').getAttribute('aria-label'), "
                     "a.querySelector('.result .status').getAttribute('role')]]))")
    want = {}
    for path, item in doc["paths"].items():
        for m, op in item.items():
            mark = "" if m == "get" else f" ({BADGES[effect(op['operationId'], m)]})"
            want[op["operationId"]] = ["H3", f"{m.upper()} {path}",
                                       f"Try it{mark}: {m.upper()} {path}",
                                       f"Send {m.upper()} {path}", "status"]
    assert got == want
    assert_clean_console(browser)


@needs_chromium
def test_password_query_parameters_are_masked(browser, droplin):
    """The legacy query parameters that carry a password or a recovery code are password fields,
    with a note that the URL keeps them and the JSON body is better."""
    d = start(droplin)
    open_docs(browser, d)
    got = browser.js("Object.fromEntries(['resetPassword', 'changePassword', 'changeUsername']"
                     ".map(id => [id, [...document.getElementById(id).querySelectorAll("
                     "'form.try input.param')].map(i => [i.name, i.type, i.parentNode."
                     "querySelector('.muted') && i.parentNode.querySelector('.muted')"
                     ".textContent])]))")
    note = "sent in the URL, which logs and histories keep: prefer the same name in the JSON " \
           "body below"
    assert got == {"resetPassword": [["email", "text", None], ["code", "password", note],
                                     ["new_password", "password", note]],
                   "changePassword": [["current_password", "password", note],
                                      ["new_password", "password", note]],
                   "changeUsername": [["new_username", "text", None]]}
    assert_clean_console(browser)
