"""Bad input and odd stored data on the user-data routes (issue 4: "wrong JSON types, missing
fields, out-of-range numbers, over-long strings, invalid UTF-8, control characters, a body that
is not JSON, and a JSON body that is not an object each get a precise 422 or 400, never a 500";
"JSON produced by droplin is always valid UTF-8 JSON, whatever a user stored"; DECISIONS C6, F,
P "non-JSON body", S3 one token check on every route)."""

import datetime
import json
import os
import time
import uuid

import pytest

import harness
from auth_helpers import (OTHER_SECRET, assert_422, assert_detail, body_of, db_of,
                          forget_last_seen, make_token, start)
from userdata_helpers import (PROTECTED, UserApi, db, device, signup,
                              strict_json, users)
from userdata_helpers import server  # noqa: F401  (pytest fixture)

# Routes with a JSON body and a valid body for each.
JSON_ROUTES = [
    ("/devices", {"name": "Phone", "rssi": -50, "distance": 3.5, "action": "dropped",
                  "timestamp": "2025-01-01T00:00:00.000000", "phoneNumber": "5551234567",
                  "email": "a@example.com", "bio": "bio", "socialMedia": [{"p": "x"}]}),
    ("/user/profile", {"name": "N", "email": None, "phone": None, "bio": "b",
                       "socialMedia": [{"p": "x"}], "hasCompletedOnboarding": True}),
    ("/user/settings", {"darkMode": True, "maxDistance": 33, "privacyZonesEnabled": False}),
    ("/user/privacy-zones", {"address": "1 Main St", "radius": 100}),
    ("/api/log-api-call", {"timestamp": "2025-01-01T00:00:00Z", "endpoint": "/x",
                           "method": "GET", "user_id": None, "success": True,
                           "status_code": 200, "error": None}),
    ("/api/diagnostics/run", {"diagnostic_type": "auth", "context": {}}),
]
ROUTE_IDS = [p for p, _ in JSON_ROUTES]
# A string field of each route, for string-level checks.
STRING_FIELD = {"/devices": "name", "/user/profile": "name", "/user/settings": None,
                "/user/privacy-zones": "address", "/api/log-api-call": "endpoint",
                "/api/diagnostics/run": "diagnostic_type"}


def post_raw(user, path, raw):
    return user.post(path, raw=raw)


# ---------------------------------------------------------------------------------- tokens (S3)


def _auth_cases(u):
    now = time.time()
    return {
        "missing": (None, "Not authenticated"),
        "basic": ("Basic " + u.token, "Not authenticated"),
        "lower-case bearer": ("bearer " + u.token, "Not authenticated"),
        "bare token": (u.token, "Not authenticated"),
        "garbage": ("Bearer not-a-token", "Invalid token"),
        "other key": ("Bearer " + make_token(u.id, u.username, secret=OTHER_SECRET),
                      "Invalid token"),
        "expired": ("Bearer " + make_token(u.id, u.username, iat=now - 40 * 86400,
                                           exp=int(now - 3600), remember_me=True),
                    "Token has expired"),
        "inactive": ("Bearer " + make_token(u.id, u.username, iat=now - 31 * 60),
                     "Session expired due to inactivity (timeout: 30 minutes). "
                     "Please log in again."),
        "unknown user": ("Bearer " + make_token(u.id + 100000, "ghost"), "Invalid token"),
    }


AUTH_CASES = ["missing", "basic", "lower-case bearer", "bare token", "garbage", "other key",
              "expired", "inactive", "unknown user"]


@pytest.mark.parametrize("method,path,body", PROTECTED, ids=[f"{m} {p}" for m, p, _ in PROTECTED])
def test_every_route_checks_the_token(server, method, path, body):
    u = users(server)
    forget_last_seen(server, u.id)
    cases = _auth_cases(u)
    for name in AUTH_CASES:
        auth, detail = cases[name]
        r = u.api.call(method, path, body, auth=auth)
        assert r.status == 401, f"{name}: {r!r}"
        assert_detail(r, 401, detail)
    # and the token in the query string or a cookie is not looked at
    assert_detail(u.api.call(method, path + ("&" if "?" in path else "?") + "token=" + u.token,
                             body), 401, "Not authenticated")
    assert_detail(u.api.call(method, path, body, headers={"Cookie": "token=" + u.token}),
                  401, "Not authenticated")
    assert db(server, "SELECT count(*) FROM users WHERE id = %s", (u.id,))[0][0] == 1


def test_log_api_call_needs_no_token(server):
    api = UserApi(server)
    r = api.post("/api/log-api-call", JSON_ROUTES[4][1], auth="Bearer garbage")
    assert r.status == 200 and body_of(r) == {"success": True}, r


# ---------------------------------------------------------------------------------- bodies


@pytest.mark.parametrize("path", ROUTE_IDS)
@pytest.mark.parametrize("raw,field", [(b"not json", "0"), (b"{", "1"), (b'{"a":', "5"),
                                       (b'{"a":1,}', "7"), (b"{'a': 1}", "1"),
                                       (b'{"a":1} x', "8"), (b"\x00", "0")])
def test_body_that_is_not_json(server, path, raw, field):
    u = users(server)
    assert_422(post_raw(u, path, raw), (field, "JSON decode error"))


@pytest.mark.parametrize("path", ROUTE_IDS)
def test_json_that_is_not_an_object(server, path):
    """Valid JSON of the wrong kind: the original's validation error for the body itself
    (field ""), not a decode error."""
    u = users(server)
    wrong = {}
    for raw in (b"[]", b"[1, 2]", b'"text"', b"null", b"1", b"true", b"-0.5"):
        r = post_raw(u, path, raw)
        try:
            assert_422(r, ("", None))
        except AssertionError:
            wrong[raw] = (r.status, r.json().get("details") if r.status == 422 else r.body)
    assert not wrong, f"expected 422 with field '' for each; got {wrong!r}"


@pytest.mark.parametrize("path", ROUTE_IDS)
@pytest.mark.parametrize("bad", [b"\xff", b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80",
                                 b"\xf4\x90\x80\x80", b"\x80abc"])
def test_invalid_utf8_in_the_body(server, path, bad):
    u = users(server)
    field = STRING_FIELD[path] or "darkMode"
    before = b'{"' + field.encode() + b'":"a'
    # not JSON text (RFC 8259 8.1): the original's decode error, its field the byte offset
    assert_422(post_raw(u, path, before + bad + b'b"}'), (str(len(before)), "JSON decode error"))


@pytest.mark.parametrize("path", [p for p in ROUTE_IDS if STRING_FIELD[p]])
@pytest.mark.parametrize("escape", ["\\ud800", "\\udc00", "\\ud83d", "a\\udfff"])
def test_lone_surrogate_escapes(server, path, escape):
    """Valid JSON syntax, but no Unicode text: PostgreSQL cannot store it."""
    u = users(server)
    body = dict(dict(JSON_ROUTES)[path])
    body[STRING_FIELD[path]] = "x"
    raw = json.dumps(body).replace('"x"', '"x' + escape + '"', 1).encode()
    assert_422(post_raw(u, path, raw),
               (STRING_FIELD[path], "Input should be a valid string, invalid unicode"))


def test_a_surrogate_pair_escape_is_fine(server):
    u = users(server)
    r = post_raw(u, "/devices", b'{"name":"\\ud83d\\ude00 x","rssi":1,"distance":1}')
    assert r.status == 200 and body_of(r)["name"] == "😀 x", r


@pytest.mark.parametrize("path", [p for p in ROUTE_IDS if STRING_FIELD[p]])
@pytest.mark.parametrize("char", ["\u0000", "\u0001", "\u001b", "\u007f"])
def test_control_characters(server, path, char):
    u = users(server)
    body = dict(dict(JSON_ROUTES)[path])
    body[STRING_FIELD[path]] = "a" + char + "b"
    assert_422(u.post(path, body),
               (STRING_FIELD[path], "Value error, Control characters are not allowed"))


@pytest.mark.parametrize("path", ROUTE_IDS)
def test_raw_control_bytes_inside_a_json_string(server, path):
    """Unescaped control characters are not JSON (RFC 8259 §7)."""
    u = users(server)
    field = STRING_FIELD[path] or "darkMode"
    r = post_raw(u, path, b'{"' + field.encode() + b'":"a\x01b"}')
    assert_422(r, (r.json().get("details", [{}])[0].get("field"), "JSON decode error"))


# Documents that are no JSON text (RFC 8259: no NaN or Infinity, no byte order mark; nesting
# deeper than droplin reads) get the decode error at the offset droplin stopped at; the others
# are JSON objects whose keys the routes do not know: ignored, the route answers as for {}.
ODD_JSON = [
    (b'{"x":' + b"1" * 5000 + b"}", None),
    (b'{"x":1e999999999}', None),
    (b'{"x":-1e400}', None),
    (b'{"x":1e-999999}', None),
    (b'{"x":' + b"[" * 5000 + b"]" * 5000 + b"}", "260"),  # the 256th level opens at byte 260
    (b'{"x":' + b'{"a":' * 3000 + b"1" + b"}" * 3000 + b"}", "1280"),
    (b'{"x":1,"x":2,"x":{"y":[]}}', None),
    (b'{"\\u0000":1}', None),
    (b'{"":1}', None),
    (b"\xef\xbb\xbf{}", "0"),
    (b" \t\r\n{}\n ", None),
    (b'{"x":NaN}', "5"),
    (b'{"x":Infinity}', "5"),
]


@pytest.mark.parametrize("path", ROUTE_IDS)
@pytest.mark.parametrize("raw,decode_error_at", ODD_JSON, ids=[repr(r[:16]) for r, _ in ODD_JSON])
def test_odd_json_documents(server, path, raw, decode_error_at):
    u = users(server)
    r = post_raw(u, path, raw)
    if decode_error_at is not None:
        assert_422(r, (decode_error_at, "JSON decode error"))
        return
    empty = post_raw(u, path, b"{}")
    assert (r.status, strict_json(r)) == (empty.status, strict_json(empty)), (r, empty)


def _values():
    return [None, True, False, 0, -1, 1.5, -0.0, 1e308, -1e308, 10 ** 30, -(10 ** 30), "",
            " ", "x", "1", "true", "a" * 2000, [], [None], [{}], {}, {"a": {"b": [1]}}]


# The one answer to each field of each JSON route given each JSON type (ORIGINAL_API 3.3-3.6,
# Pydantic v2 in lax mode as the original ran it; DECISIONS F/P where droplin differs on purpose):
# [status, field and message of a 422, the value stored or returned]. Kept in
# tests/blackbox/answers/every_json_type.json; the rules it follows, field by field:
#   /devices name: non-strings are stringified (True -> "True"), blank after sanitising is too
#     short, over 100 too long; rssi: lax int (whole floats, numeric strings), -100..0 range
#     checks of the original's model; distance: float 0..1000, numeric strings; action,
#     timestamp, bio, phoneNumber, email: string or null (phone and e-mail "" -> null, rules of
#     4.3/4.4); socialMedia: a list of objects or null;
#   /user/profile: strings or null (no format checks), socialMedia and hasCompletedOnboarding
#     any JSON (stored as given / as its truth value);
#   /user/settings: darkMode and privacyZonesEnabled by truth value, maxDistance a lax int or
#     null (the stored value kept);
#   /user/privacy-zones: address 1..500, radius a float 0..1e7;
#   /api/log-api-call: strings or null, success a lax bool, status_code a lax int 0..999,
#     user_id ignored (the token names the user);
#   /api/diagnostics/run: diagnostic_type a string (null: missing), context and its user_id any
#     JSON (the token names the user).
ANSWERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "answers",
                       "every_json_type.json")
FIELD_OUT = {"distance": "distanceFeet"}


def _answer(u, path, field, r):
    """What droplin answered: [status, (field, message) of a 422 | detail of a 400 | the value
    stored or returned], with the user's own id and name written "<self>" and "<user>"."""
    out = _raw_answer(u, path, field, r)
    text = json.dumps(out).replace(u.username, "<user>")
    return json.loads(text, object_hook=None) if out[0] != 200 else \
        [200, _selfless(json.loads(text)[1], u.id)]


def _selfless(value, uid):
    if isinstance(value, list):
        return [_selfless(v, uid) for v in value]
    return "<self>" if value == uid and isinstance(value, int) and not isinstance(value, bool) \
        else value


def _raw_answer(u, path, field, r):
    got = strict_json(r)
    if r.status == 422:
        assert_422(r, (got["details"][0]["field"], None))
        return [422, [got["details"][0]["field"], got["details"][0]["message"]]]
    if r.status != 200:
        return [r.status, got.get("detail")]
    if path in ("/devices", "/user/privacy-zones"):
        return [200, got.get(FIELD_OUT.get(field, field))]
    if path == "/user/profile":
        return [200, body_of(u.get("/user/profile")).get(field)]
    if path == "/user/settings":
        return [200, body_of(u.get("/user/settings"))]
    if path == "/api/log-api-call":
        col = {"timestamp": "timestamp", "endpoint": "endpoint", "method": "method",
               "user_id": "user_id", "success": "success", "status_code": "status_code",
               "error": "error"}[field]
        [(value, who)] = db(u.api.d, f"SELECT {col}, user_id FROM api_call_logs "
                                     f"WHERE user_id = %s ORDER BY id DESC LIMIT 1", (u.id,))
        if isinstance(value, datetime.datetime):  # the app's clock when it gave none
            value = "given" if value.year == 2025 else "now"
        return [200, value]
    assert path == "/api/diagnostics/run"
    return [200, [got["diagnostic_type"], got["overall_status"],
                  [c["details"].get("user_id") for c in got["checks"] if "details" in c]]]


# A blank string is no number to Pydantic (it strips, then finds nothing to parse).
BLANK_NUMBERS = {("/devices", "distance", " "), ("/user/privacy-zones", "radius", " ")}


def _answers():
    with open(ANSWERS, encoding="utf-8") as f:
        return json.load(f)


@pytest.mark.parametrize("path,field", [(p, f) for p, body in JSON_ROUTES for f in body]
                         + [("/api/diagnostics/run", "user_id")])
def test_every_field_with_every_json_type(server, path, field):
    u = users(server)
    base = dict(dict(JSON_ROUTES)[path])
    if field == "user_id":
        base["context"] = {}
    if path == "/api/log-api-call":
        base["endpoint"] = "/x"
    expected = _answers()[f"{path} {field}"]
    values = _values()
    assert len(expected) == len(values)
    wrong = []
    for value, want in zip(values, expected):
        body = dict(base)
        if field == "user_id":
            body["context"] = {"user_id": value}
        else:
            body[field] = value
        got = _answer(u, path, field, u.post(path, body))
        if got != want:
            wrong.append(f"{field}={json.dumps(value)[:40]}: got {got}, expected {want}")
    assert not wrong, "\n".join(wrong)
    # and the user's data is still readable afterwards
    for p in ("/devices", "/user/profile", "/user/settings", "/user/privacy-zones",
              "/user/pinned"):
        g = u.get(p)
        assert g.status == 200, g
        strict_json(g)


@pytest.mark.parametrize("path,field", [(p, f) for p, f, _ in sorted(BLANK_NUMBERS)])
def test_a_blank_string_is_not_a_number(server, path, field):
    u = users(server)
    body = dict(dict(JSON_ROUTES)[path])
    body[field] = " "
    assert_422(u.post(path, body), (field, "Input should be a valid number, unable to parse "
                                           "string as a number"))


LE, GE = "Input should be less than or equal to ", "Input should be greater than or equal to "


# 1e400 is infinity to a reader that makes doubles: each is refused by the field's range (an
# int field by its type: no whole number), and nothing is stored.
@pytest.mark.parametrize("path,field,value,message", [
    ("/devices", "distance", "1e400", LE + "1000"), ("/devices", "distance", "-1e400", GE + "0"),
    ("/devices", "rssi", "1e400", "Input should be a valid integer, got a number with a "
                                  "fractional part"),
    ("/user/privacy-zones", "radius", "1e400", LE + "1e+07"),
    ("/user/privacy-zones", "radius", "-1e400", GE + "0"),
    ("/user/settings", "maxDistance", "1e400", "Input should be a valid integer, got a number "
                                               "with a fractional part"),
])
def test_infinite_numbers_are_refused(server, path, field, value, message):
    u = users(server)
    before = strict_json(u.get(path))
    body = dict(dict(JSON_ROUTES)[path])
    raw = json.dumps(body).replace(f'"{field}": {json.dumps(body[field])}',
                                   f'"{field}": {value}').encode()
    assert value.encode() in raw
    assert_422(post_raw(u, path, raw), (field, message))
    assert strict_json(u.get(path)) == before


# ---------------------------------------------------------------------------------- stored data


ODD_TEXT = "n\x01\x02\x1f\x7f\"\\/\u2028\u2029é😀\t\n\r</script>"
# Stored social_media text (the original's json.dumps, or anything written to the column) and
# what droplin returns for it, on a device and in the profile: the parsed JSON value when the
# text is one JSON text (RFC 8259, surrounding whitespace allowed), else null. A number too
# large for a double stays the number it was (never inf).
ODD_SOCIAL = {
    "not json": None, '{"a":': None, "": None, "[1,2": None, "null": None, '"str"': "str",
    "123": 123, " [1] ": [1], "[1] x": None, "{'a': 1}": None, '{"a":"\x01"}': None,
    '[{"a":NaN}]': None, '[{"a":Infinity}]': None, '[{"a":-Infinity}]': None,
    "[1e999]": "1e999", '{"a":1,"a":2}': {"a": 2}, "[" * 5000 + "]" * 5000: None,
    "\ufeff[1]": None, '[{"a":"\\u0000"}]': [{"a": "\x00"}],
}


def _seed(srv, u):
    u.ok("POST", "/devices", device("seed"))
    u.ok("POST", "/user/privacy-zones", {"address": "seed", "radius": 1})
    u.ok("POST", "/user/profile", {"name": "seed"})
    u.ok("POST", "/user/pinned/1")


def _all_gets(u):
    first = u.get("/devices")
    assert first.status == 200, f"/devices: {first!r}"
    [dev] = strict_json(first)
    out = {}
    for p in ("/devices", f"/devices/{dev['id']}", "/user/profile", "/user/privacy-zones",
              "/user/settings", "/user/pinned"):
        r = u.get(p)
        assert r.status == 200, f"{p}: {r!r}"
        out[p] = strict_json(r)
    for t in ("profile_save", "auth", "database"):
        r = u.post("/api/diagnostics/run?diagnostic_type=" + t, {"user_id": u.id})
        assert r.status == 200, r
        out[t] = strict_json(r)
    return out


def test_odd_characters_in_every_stored_text_column(server):
    u = users(server)
    _seed(server, u)
    db(server, "UPDATE devices SET name = %s, action = %s, timestamp = %s, phone_number = %s, "
               "email = %s, bio = %s WHERE user_id = %s", (ODD_TEXT,) * 6 + (u.id,))
    db(server, "UPDATE user_profiles SET name = %s, phone = %s, email = %s, bio = %s, "
               "profile_photo = %s WHERE user_id = %s", (ODD_TEXT,) * 5 + (u.id,))
    db(server, "UPDATE privacy_zones SET address = %s WHERE user_id = %s", (ODD_TEXT, u.id))
    got = _all_gets(u)
    dev = got["/devices"][0]
    assert (dev["name"], dev["action"], dev["timestamp"], dev["phoneNumber"], dev["email"],
            dev["bio"]) == (ODD_TEXT,) * 6
    p = got["/user/profile"]
    assert (p["name"], p["phone"], p["email"], p["bio"], p["profilePhoto"]) == (ODD_TEXT,) * 5
    assert got["/user/privacy-zones"][0]["address"] == ODD_TEXT


def _returned_social(u, got, want):
    """socialMedia of the device and of the profile, each as returned; "1e999" (a number no
    double holds) is looked for in the bodies themselves."""
    if want == "1e999":
        for p in ("/devices", "/user/profile"):
            body = u.get(p).text
            assert '"socialMedia":[1e999]' in body, f"{p}: {body}"
        return "1e999"
    dev, prof = got["/devices"][0]["socialMedia"], got["/user/profile"]["socialMedia"]
    assert dev == prof, (dev, prof)
    return dev


@pytest.mark.parametrize("social", list(ODD_SOCIAL), ids=[repr(s)[:24] for s in ODD_SOCIAL])
def test_odd_social_media_text(server, social):
    u = users(server)
    _seed(server, u)
    db(server, "UPDATE devices SET social_media = %s WHERE user_id = %s", (social, u.id))
    db(server, "UPDATE user_profiles SET social_media = %s WHERE user_id = %s", (social, u.id))
    got = _all_gets(u)
    assert _returned_social(u, got, ODD_SOCIAL[social]) == ODD_SOCIAL[social], social[:40]


@pytest.mark.parametrize("social", ['[{"h":"\\ud800"}]', '{"a":"\\udc00x"}',
                                    '["\\uDC00\\uD800"]'])
def test_lone_surrogate_escapes_in_stored_social_media(server, social):
    """Valid JSON grammar written by the original (Python's json.dumps of a string that came
    in with a lone surrogate escape), but no Unicode text: droplin's own JSON must not pass it
    on (droplin itself refuses such input as "invalid unicode")."""
    u = users(server)
    _seed(server, u)
    db(server, "UPDATE devices SET social_media = %s WHERE user_id = %s", (social, u.id))
    db(server, "UPDATE user_profiles SET social_media = %s WHERE user_id = %s", (social, u.id))
    assert _returned_social(u, _all_gets(u), None) is None


def test_valid_stored_social_media_comes_back_parsed(server):
    u = users(server)
    _seed(server, u)
    social = [{"platform": "x", "handle": "@é😀", "n": 1.5, "ok": True, "none": None}]
    text = json.dumps(social)  # the original's json.dumps: ", " separators, \\u escapes
    db(server, "UPDATE devices SET social_media = %s WHERE user_id = %s", (text, u.id))
    db(server, "UPDATE user_profiles SET social_media = %s WHERE user_id = %s", (text, u.id))
    got = _all_gets(u)
    assert got["/devices"][0]["socialMedia"] == social
    assert got["/user/profile"]["socialMedia"] == social


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e308", "-0", "5e-324"])
def test_odd_floats_in_stored_rows(server, value):
    """distance_feet and radius are double precision: PostgreSQL holds NaN and infinities,
    JSON does not."""
    u = users(server)
    _seed(server, u)
    db(server, "UPDATE devices SET distance_feet = %s::float8 WHERE user_id = %s", (value, u.id))
    db(server, "UPDATE privacy_zones SET radius = %s::float8 WHERE user_id = %s", (value, u.id))
    _all_gets(u)


def test_odd_integers_in_stored_rows(server):
    u = users(server)
    _seed(server, u)
    db(server, "UPDATE devices SET rssi = -2147483648 WHERE user_id = %s", (u.id,))
    db(server, "UPDATE user_settings SET max_distance = -2147483648, dark_mode = -1 "
               "WHERE user_id = %s", (u.id,))
    db(server, "UPDATE user_profiles SET has_completed_onboarding = 2147483647 "
               "WHERE user_id = %s", (u.id,))
    got = _all_gets(u)
    assert got["/devices"][0]["rssi"] == -2147483648
    assert got["/user/settings"] == {"darkMode": True, "maxDistance": -2147483648}
    assert got["/user/profile"]["hasCompletedOnboarding"] is True


def test_nulls_where_the_original_could_leave_them(server):
    u = users(server)
    _seed(server, u)
    db(server, "UPDATE devices SET action = NULL, timestamp = NULL, social_media = NULL "
               "WHERE user_id = %s", (u.id,))
    db(server, "UPDATE user_settings SET dark_mode = NULL, max_distance = NULL "
               "WHERE user_id = %s", (u.id,))
    db(server, "UPDATE user_profiles SET has_completed_onboarding = NULL WHERE user_id = %s",
       (u.id,))
    got = _all_gets(u)
    assert got["/user/profile"]["hasCompletedOnboarding"] is False
    assert isinstance(got["/user/settings"]["darkMode"], bool)


def test_invalid_utf8_stored_in_a_sql_ascii_database(droplin, pg):
    """An adopted database created with ENCODING 'SQL_ASCII' can hold any bytes in text
    columns (the only way PostgreSQL stores invalid UTF-8): every GET still answers 200 with
    UTF-8 JSON (the bytes replaced, e.g. by U+FFFD), never a 500."""
    name = "t_ascii_" + uuid.uuid4().hex[:10]
    conn = pg.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}" ENCODING \'SQL_ASCII\' LC_COLLATE \'C\' '
                        f'LC_CTYPE \'C\' TEMPLATE template0')
    finally:
        conn.close()
    d = start(droplin, db=pg.url(name))
    u = signup(UserApi(d))
    _seed(d, u)
    bad = "E'bad\\xff\\xfe\\xc3(\\xed\\xa0\\x80\\x80 end'"
    harness.db_exec(db_of(d), f"UPDATE devices SET name = {bad}, bio = {bad}, "
                              f"social_media = E'[{{\"a\":\"\\xff\"}}]' WHERE user_id = %s",
                    (u.id,))
    harness.db_exec(db_of(d), f"UPDATE user_profiles SET name = {bad}, bio = {bad}, "
                              f"social_media = E'{{\"x\":\"\\xfe\"}}' WHERE user_id = %s",
                    (u.id,))
    harness.db_exec(db_of(d), f"UPDATE privacy_zones SET address = {bad} WHERE user_id = %s",
                    (u.id,))
    _all_gets(u)
