"""Replays every call the mobile app makes (ORIGINAL_API §11, table of calls) with the app's exact
bodies, in the app's order, and checks the fields the app reads. Calls that failed against the
original are included and must work now (DECISIONS C2): reset-password with a JSON body,
diagnostics with diagnostic_type in the body, restoreDevice with distanceFeet, change-username
and change-password in the query form, settings with privacyZonesEnabled, and POST
/api/log-api-call after every call made through secureFetch (its endpoint stored without the
query string, S7). The photo upload is replayed in test_app_replay_photo.py.

Codes are read from droplin's development log line ("... code is: NNNNNN"), as a developer
running the app against a local droplin would.
"""

import base64
import datetime
import json

import pytest

from auth_helpers import PASSWORD
from userdata_helpers import DEVICE_KEYS, PROFILE_KEYS, UserApi, db, logged_code, new_username
from userdata_helpers import server  # noqa: F401  (pytest fixture)

APP_UA = "DropLink/1.0 CFNetwork/1490.0.4 Darwin/23.2.0"
NEW_PASSWORD = "Brand-New9!"
RESET_PASSWORD = "Reset-Pass8#"


def db_max_id(d):
    rows = db(d, "SELECT to_regclass('api_call_logs') IS NOT NULL")
    if not rows[0][0]:
        return 0
    return db(d, "SELECT coalesce(max(id), 0) FROM api_call_logs")[0][0]


class App:
    """The app's network layer: secureFetch (JSON, `Authorization: Bearer` once signed in,
    then POST /api/log-api-call with {timestamp, endpoint: full URL, method, user_id (token
    user_id || sub), success, status_code, error}) and the few plain fetch calls."""

    def __init__(self, d):
        self.d = d
        self.api = UserApi(d, user_agent=APP_UA)
        self.token = None
        self.logged = []  # (method, full URL with query, status) reported to log-api-call
        self.first_log_id = db_max_id(d)

    def user_id(self):
        if not self.token:
            return None
        payload = self.token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return claims.get("user_id") or claims.get("sub")

    def url(self, path):
        return f"http://127.0.0.1:{self.d.port}{path}"

    def fetch(self, method, path, body=None, auth=True, log=True):
        """secureFetch (log=True) or a plain fetch (log=False)."""
        r = self.api.call(method, path, body, token=self.token if auth else None,
                          headers={"Accept": "application/json"})
        assert r.status < 500, f"{method} {path}: {r!r}"
        data = r.json()  # every answer is JSON the app can parse
        if log:
            self.log(method, path, r, data)
        return r.status, data

    def log(self, method, path, r, data):
        ok = 200 <= r.status < 300
        error = None
        if not ok:
            error = data.get("detail") if isinstance(data, dict) else None
            error = error or f"HTTP {r.status}"
        now = datetime.datetime.now(datetime.timezone.utc)
        body = {"timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
                "endpoint": self.url(path), "method": method, "user_id": self.user_id(),
                "success": ok, "status_code": r.status, "error": error}
        lr = self.api.call("POST", "/api/log-api-call", body,
                           headers={"Accept": "application/json"})
        assert lr.status == 200 and lr.json() == {"success": True}, lr
        self.logged.append((method, self.url(path), r.status))

    def code(self, email, mark):
        return logged_code(self.d, email, after=mark)

    def mark(self):
        return len(self.d.stdout_lines())


def expect(got, status, *keys):
    """The status the app expects, and the keys it reads present."""
    st, data = got
    assert st == status, f"expected {status}, got {st} {data!r}"
    for k in keys:
        assert k in data, f"{k!r} missing from {data!r}"
    return data


def detail_of(got, status):
    """On an error the app shows `detail`: a readable string (C6)."""
    st, data = got
    assert st == status, f"expected {status}, got {st} {data!r}"
    assert isinstance(data.get("detail"), str) and data["detail"], data
    return data["detail"]


def check_logs(srv, app):
    """Every secureFetch call of this app left a row: method and status as sent, the URL
    without its query string, and no password anywhere."""
    rows = db(srv, "SELECT endpoint, method, status_code, success FROM api_call_logs "
                   "WHERE id > %s ORDER BY id", (app.first_log_id,))
    want = [(u.split("?")[0], m, s, 200 <= s < 300) for m, u, s in app.logged]
    assert rows == want, (rows, want)
    for endpoint, *_ in rows:
        assert "?" not in endpoint and "_password=" not in endpoint, endpoint
        for secret in (PASSWORD, NEW_PASSWORD, RESET_PASSWORD):
            assert secret not in endpoint, endpoint


def signup(app, username, email, password=PASSWORD):
    """SignupScreen: debounced availability checks, code, verify, register."""
    d = expect(app.fetch("POST", "/auth/check-username", {"username": username}), 200,
               "available", "message")
    assert d == {"available": True, "message": "Username available"}, d
    d = expect(app.fetch("POST", "/auth/check-email", {"email": email}), 200,
               "available", "message")
    assert d == {"available": True, "message": "Email available"}, d
    mark = app.mark()
    expect(app.fetch("POST", "/auth/send-verification-code", {"email": email}), 200)
    code = app.code(email, mark)
    expect(app.fetch("POST", "/auth/verify-code", {"email": email, "code": code}), 200)
    d = expect(app.fetch("POST", "/auth/register", {"username": username, "password": password,
                                                    "email": email}),
               200, "token", "user_id", "username")
    assert d["username"] == username.lower()
    app.token = d["token"]
    assert app.user_id() == d["user_id"]
    return d


def test_signup_and_everyday_use(server):
    app = App(server)
    username = "jo." + new_username("a")[:12]  # the app allows periods (mismatch 10)
    email = f"{username}@example.com"
    me = signup(app, username, email)
    uid = me["user_id"]

    # App start: profile, settings, pinned
    p = expect(app.fetch("GET", "/user/profile"), 200, *sorted(PROFILE_KEYS))
    assert (p["username"], p["email"], p["name"], p["phone"], p["bio"], p["socialMedia"],
            p["profilePhoto"], p["profile_photo"]) == (username, email, None, None, None, None,
                                                      None, None), p
    s = expect(app.fetch("GET", "/user/settings"), 200, "darkMode", "maxDistance")
    assert s == {"darkMode": True, "maxDistance": 33}, s
    expect(app.fetch("POST", "/user/settings", {"darkMode": False, "maxDistance": 50,
                                                "privacyZonesEnabled": False}), 200)
    s = expect(app.fetch("GET", "/user/settings"), 200, "darkMode", "maxDistance")
    assert s == {"darkMode": False, "maxDistance": 50}, s
    assert expect(app.fetch("GET", "/user/pinned"), 200) == []

    # TutorialContext: looks the token up under a key that is never set, so it sends none
    detail_of(app.fetch("POST", "/user/profile", {"hasCompletedOnboarding": True}, auth=False),
              401)
    # ... and as intended, with the token
    expect(app.fetch("POST", "/user/profile", {"hasCompletedOnboarding": True}), 200, "success")

    # App/UserContext: profile saves (the first one with the "Add bio" placeholder)
    phone = "(555) 01" + f"{uid:06d}"[-1] + "-" + f"{uid:06d}"[-4:]
    social = [{"platform": "instagram", "handle": "@jo"}, {"platform": "tiktok", "handle": "@jo"}]
    expect(app.fetch("POST", "/user/profile", {"name": "Jo App", "email": email, "phone": phone,
                                               "bio": "Add bio", "socialMedia": []}), 200)
    p = expect(app.fetch("GET", "/user/profile"), 200, *sorted(PROFILE_KEYS))
    assert (p["name"], p["bio"], p["hasCompletedOnboarding"]) == ("Jo App", "", True), p
    expect(app.fetch("POST", "/user/profile", {"name": "Jo App", "email": email, "phone": phone,
                                               "bio": "Hi, I'm Jo", "socialMedia": social}),
           200, "success")
    p = expect(app.fetch("GET", "/user/profile"), 200, *sorted(PROFILE_KEYS))
    assert (p["name"], p["email"], p["phone"], p["bio"], p["socialMedia"],
            p["hasCompletedOnboarding"]) == ("Jo App", email, "".join(c for c in phone
                                                                       if c.isdigit()),
                                             "Hi, I'm Jo", social, True), p

    # A save that fails (a phone of another account) triggers the activity monitor's
    # diagnostics, in the app's body form with the Bearer token
    other = UserApi(server).register(new_username("o"), email=None)
    taken = "(555) 02" + f"{uid:06d}"[-1] + "-" + f"{uid:06d}"[-4:]
    st = app.api.call("POST", "/user/profile", {"phone": taken}, token=other["token"]).status
    assert st == 200
    err = detail_of(app.fetch("POST", "/user/profile", {"name": "Jo App", "email": email,
                                                        "phone": taken, "bio": "Hi, I'm Jo",
                                                        "socialMedia": social}), 400)
    assert err == "This phone number is already associated with another account"
    diag = expect(app.fetch("POST", "/api/diagnostics/run",
                            {"diagnostic_type": "profile_save",
                             "context": {"endpoint": "/user/profile", "method": "POST",
                                         "error": err, "user_id": other["user_id"]}}),
                  200, "overall_status", "timestamp", "checks")
    assert diag["overall_status"] in ("pass", "fail", "error")
    for c in diag["checks"]:
        assert isinstance(c["name"], str) and c["status"] in ("pass", "fail", "error"), c
        assert "details" in c or "error" in c, c
    [data] = [c for c in diag["checks"] if c["name"] == "Profile Data"]
    assert data["details"]["data"]["name"] == "Jo App"  # the caller's, not the context's user

    # Home/Drop/Scanner: saveDevice sends name, rssi, distance only
    saved = []
    for name, rssi, dist in [("Sam's iPhone", -58, 4.2), ("Pixel 8", -71, 12.0)]:
        dev = expect(app.fetch("POST", "/devices", {"name": name, "rssi": rssi,
                                                    "distance": dist}), 200, *sorted(DEVICE_KEYS))
        assert (dev["name"], dev["rssi"], dev["distanceFeet"], dev["action"]) == \
            (name, rssi, dist, "dropped"), dev
        saved.append(dev)
    listed = expect(app.fetch("GET", "/devices"), 200)
    assert sorted(x["id"] for x in listed) == sorted(x["id"] for x in saved)
    for x in listed:
        assert set(x) == DEVICE_KEYS, x

    # pins
    target = saved[0]["id"]
    expect(app.fetch("POST", f"/user/pinned/{target}"), 200, "success")
    assert expect(app.fetch("GET", "/user/pinned"), 200) == [target]
    expect(app.fetch("DELETE", f"/user/pinned/{target}"), 200, "success")
    assert expect(app.fetch("GET", "/user/pinned"), 200) == []

    # History: delete, then undo with restoreDevice (the whole client Device, distanceFeet)
    client_device = dict(next(x for x in listed if x["id"] == target), profilePhoto=None)
    expect(app.fetch("DELETE", f"/devices/{target}"), 200)
    restored = expect(app.fetch("POST", "/devices", client_device), 200, *sorted(DEVICE_KEYS))
    for k in ("name", "rssi", "distanceFeet", "action", "timestamp", "phoneNumber", "email",
              "bio", "socialMedia"):
        assert restored[k] == client_device[k], (k, restored, client_device)
    contact = {"id": 999999, "name": "Riley", "rssi": -64, "distanceFeet": 6.5,
               "action": "accepted", "timestamp": "2025-11-20T18:02:11.512Z",
               "phoneNumber": "(555) 123-4567", "email": "riley@example.com",
               "bio": "Coffee lover", "socialMedia": [{"platform": "instagram",
                                                       "handle": "@riley"}],
               "profilePhoto": "https://res.example.com/demo/image/upload/riley.jpg"}
    expect(app.fetch("DELETE", f"/devices/{saved[1]['id']}"), 200)
    r = expect(app.fetch("POST", "/devices", contact), 200, *sorted(DEVICE_KEYS))
    assert {k: r[k] for k in DEVICE_KEYS - {"id"}} == \
        {k: contact[k] for k in DEVICE_KEYS - {"id"}}, r
    listed = expect(app.fetch("GET", "/devices"), 200)
    assert sorted(x["name"] for x in listed) == ["Riley", "Sam's iPhone"]

    # PrivacyZonesScreen (present, not mounted)
    assert expect(app.fetch("GET", "/user/privacy-zones"), 200) == []
    z = expect(app.fetch("POST", "/user/privacy-zones", {"address": "1 Infinite Loop",
                                                         "radius": 500}),
               200, "id", "address", "radius")
    assert (z["address"], z["radius"]) == ("1 Infinite Loop", 500.0)
    assert expect(app.fetch("GET", "/user/privacy-zones"), 200) == [z]
    expect(app.fetch("DELETE", f"/user/privacy-zones/{z['id']}"), 200)

    # Account/SecuritySettings: change username and password, query form
    new_name = "jo2." + new_username("b")[:10]
    d = expect(app.fetch("POST", "/auth/change-username?new_username=" + new_name), 200,
               "token", "username")
    assert d["username"] == new_name
    app.token = d["token"]
    # AccountScreen's form does not ask for a special character: the server says why
    detail_of(app.fetch("POST", f"/auth/change-password?current_password={PASSWORD}"
                                f"&new_password=NoSpecial123"), 400)
    detail_of(app.fetch("POST", "/auth/change-password?current_password=Wrong-Pass1!"
                                f"&new_password={NEW_PASSWORD}"), 401)
    d = expect(app.fetch("POST", f"/auth/change-password?current_password={PASSWORD}"
                                 f"&new_password={NEW_PASSWORD}"), 200)
    assert d.get("success") is True, d

    # LoginScreen (never sends remember_me)
    app.token = None
    detail_of(app.fetch("POST", "/auth/login", {"username": new_name, "password": PASSWORD}), 401)
    d = expect(app.fetch("POST", "/auth/login", {"username": new_name,
                                                 "password": NEW_PASSWORD}),
               200, "token", "user_id", "username")
    assert (d["user_id"], d["username"]) == (uid, new_name)
    app.token = d["token"]
    p = expect(app.fetch("GET", "/user/profile"), 200, *sorted(PROFILE_KEYS))
    assert (p["username"], p["name"], p["bio"]) == (new_name, "Jo App", "Hi, I'm Jo"), p
    assert len(expect(app.fetch("GET", "/devices"), 200)) == 2

    check_logs(server, app)


def test_forgot_username_and_password(server):
    app = App(server)
    username = new_username("f")
    email = f"{username}@Example.com"
    UserApi(server).register(username, email=email.lower())

    # forgot username
    mark = app.mark()
    expect(app.fetch("POST", "/auth/send-recovery-code", {"email": email, "type": "username"}),
           200)
    code = app.code(email, mark)
    d = expect(app.fetch("POST", "/auth/verify-recovery-code",
                         {"email": email, "code": code, "type": "username"}), 200, "username")
    assert d["username"] == username

    # forgot password: code, verify, reset with the app's JSON body (422 on the original)
    mark = app.mark()
    expect(app.fetch("POST", "/auth/send-recovery-code", {"email": email, "type": "password"}),
           200)
    code = app.code(email, mark)
    expect(app.fetch("POST", "/auth/verify-recovery-code",
                     {"email": email, "code": code, "type": "password"}), 200)
    detail_of(app.fetch("POST", "/auth/reset-password",
                        {"email": email, "code": code, "new_password": "short"}), 400)
    d = expect(app.fetch("POST", "/auth/reset-password",
                         {"email": email, "code": code, "new_password": RESET_PASSWORD}), 200)
    assert d.get("success") is True, d

    detail_of(app.fetch("POST", "/auth/login", {"username": username, "password": PASSWORD}),
              401)
    d = expect(app.fetch("POST", "/auth/login", {"username": username,
                                                 "password": RESET_PASSWORD}),
               200, "token", "user_id", "username")
    assert d["username"] == username
    check_logs(server, app)


def test_account_deletion(server):
    app = App(server)
    username = new_username("d")
    email = f"{username}@example.com"
    me = signup(app, username, email)
    expect(app.fetch("POST", "/devices", {"name": "Buddy", "rssi": -60, "distance": 3}), 200)
    expect(app.fetch("POST", "/user/profile", {"name": "Del", "email": email, "phone": "",
                                               "bio": "bye", "socialMedia": []}), 200)

    # SecuritySettings: code of type account_deletion, with plain fetch (not logged)
    mark = app.mark()
    st, _ = app.fetch("POST", "/auth/send-verification-code",
                      {"email": email, "type": "account_deletion"}, auth=False, log=False)
    assert st == 200
    code = app.code(email, mark)
    st, _ = app.fetch("POST", "/auth/verify-code",
                      {"email": email, "code": code, "type": "account_deletion"},
                      auth=False, log=False)
    assert st == 200
    d = expect(app.fetch("DELETE", "/user/delete"), 200)
    assert d == {"success": True, "message": "Account successfully deleted"}, d

    # afterwards the session is gone and the account cannot sign in
    detail_of(app.fetch("GET", "/user/profile"), 401)
    detail_of(app.fetch("GET", "/devices"), 401)
    app.token = None
    detail_of(app.fetch("POST", "/auth/login", {"username": username, "password": PASSWORD}),
              401)
    assert db(server, "SELECT count(*) FROM users WHERE id = %s", (me["user_id"],))[0][0] == 0
    check_logs(server, app)


@pytest.mark.parametrize("body,field", [
    # the app accepts the broad special set; register only the narrow one (mismatch 11)
    ({"username": "okname_x1", "password": "Sunny_Day77", "email": None}, "password"),
    ({"username": "ab", "password": PASSWORD, "email": None}, "username"),
])
def test_signup_errors_carry_a_detail(server, body, field):
    """Mismatch 9: the app reads `detail` from every error; 422s carry one now (C6)."""
    app = App(server)
    st, data = app.fetch("POST", "/auth/register", body)
    assert st == 422, data
    assert data["details"][0]["field"] == field, data
    assert isinstance(data["detail"], str) and data["detail"] == data["details"][0]["message"]
    check_logs(server, app)
