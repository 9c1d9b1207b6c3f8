"""Bad input and odd stored data on the user-data routes (issue 4: "wrong JSON types, missing
fields, out-of-range numbers, over-long strings, invalid UTF-8, control characters, a body that
is not JSON, and a JSON body that is not an object each get a precise 422 or 400, never a 500";
"JSON produced by droplin is always valid UTF-8 JSON, whatever a user stored"; DECISIONS C6, F,
P "non-JSON body", S3 one token check on every route)."""

import json
import time
import uuid

import pytest

import harness
from auth_helpers import (OTHER_SECRET, assert_422, assert_detail, body_of, db_of,
                          forget_last_seen, make_token, start)
from userdata_helpers import (PROTECTED, UserApi, assert_400_or_422, db, device, signup,
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
    raw = b'{"' + field.encode() + b'":"a' + bad + b'b"}'
    assert_400_or_422(post_raw(u, path, raw))


@pytest.mark.parametrize("path", [p for p in ROUTE_IDS if STRING_FIELD[p]])
@pytest.mark.parametrize("escape", ["\\ud800", "\\udc00", "\\ud83d", "a\\udfff"])
def test_lone_surrogate_escapes(server, path, escape):
    """Valid JSON syntax, but no Unicode text: PostgreSQL cannot store it."""
    u = users(server)
    body = dict(dict(JSON_ROUTES)[path])
    body[STRING_FIELD[path]] = "x"
    raw = json.dumps(body).replace('"x"', '"x' + escape + '"', 1).encode()
    r = post_raw(u, path, raw)
    if path == "/api/diagnostics/run":
        # the diagnostic type is only echoed: any answer but a 500, in JSON
        assert r.status < 500, r
        strict_json(r)
        return
    assert_400_or_422(r)


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
    r = u.post(path, body)
    if path == "/api/diagnostics/run" and char != "\u0000":
        # the diagnostic type is only echoed: any answer but a 500, and JSON
        assert r.status < 500, r
        strict_json(r)
        return
    assert_400_or_422(r)


@pytest.mark.parametrize("path", ROUTE_IDS)
def test_raw_control_bytes_inside_a_json_string(server, path):
    """Unescaped control characters are not JSON (RFC 8259 §7)."""
    u = users(server)
    field = STRING_FIELD[path] or "darkMode"
    r = post_raw(u, path, b'{"' + field.encode() + b'":"a\x01b"}')
    assert_422(r, (r.json().get("details", [{}])[0].get("field"), "JSON decode error"))


@pytest.mark.parametrize("path", ROUTE_IDS)
@pytest.mark.parametrize("raw", [
    b'{"x":' + b"1" * 5000 + b"}",
    b'{"x":1e999999999}',
    b'{"x":-1e400}',
    b'{"x":1e-999999}',
    b'{"x":' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"x":' + b'{"a":' * 3000 + b"1" + b"}" * 3000 + b"}",
    b'{"x":1,"x":2,"x":{"y":[]}}',
    b'{"\\u0000":1}',
    b'{"":1}',
    b"\xef\xbb\xbf{}",
    b" \t\r\n{}\n ",
    b'{"x":NaN}',
    b'{"x":Infinity}',
])
def test_odd_json_never_fails(server, path, raw):
    """Unknown keys with odd values: ignored or refused, never a 500."""
    u = users(server)
    r = post_raw(u, path, raw)
    assert r.status < 500, r
    strict_json(r)


def _values():
    return [None, True, False, 0, -1, 1.5, -0.0, 1e308, -1e308, 10 ** 30, -(10 ** 30), "",
            " ", "x", "1", "true", "a" * 2000, [], [None], [{}], {}, {"a": {"b": [1]}}]


@pytest.mark.parametrize("path,field", [(p, f) for p, body in JSON_ROUTES for f in body]
                         + [("/api/diagnostics/run", "user_id")])
def test_every_field_with_every_json_type(server, path, field):
    u = users(server)
    base = dict(dict(JSON_ROUTES)[path])
    if field == "user_id":
        base["context"] = {}
    for value in _values():
        body = dict(base)
        if field == "user_id":
            body["context"] = {"user_id": value}
        else:
            body[field] = value
        r = u.post(path, body)
        assert r.status in (200, 400, 422), f"{field}={value!r}: {r!r}"
        got = strict_json(r)
        if r.status == 422:
            assert_422(r, (got["details"][0]["field"], None))
        elif r.status == 400:
            assert isinstance(got.get("detail"), str), r
    # and the user's data is still readable afterwards
    for p in ("/devices", "/user/profile", "/user/settings", "/user/privacy-zones",
              "/user/pinned"):
        g = u.get(p)
        assert g.status == 200, g
        strict_json(g)


@pytest.mark.parametrize("path,field,value", [
    ("/devices", "distance", "1e400"), ("/devices", "distance", "-1e400"),
    ("/devices", "rssi", "1e400"), ("/user/privacy-zones", "radius", "1e400"),
    ("/user/privacy-zones", "radius", "-1e400"), ("/user/settings", "maxDistance", "1e400"),
])
def test_infinite_numbers_are_refused_or_finite(server, path, field, value):
    u = users(server)
    body = dict(dict(JSON_ROUTES)[path])
    raw = json.dumps(body).replace(f'"{field}": {json.dumps(body[field])}',
                                   f'"{field}": {value}').encode()
    assert value.encode() in raw
    r = post_raw(u, path, raw)
    assert r.status in (200, 422), r
    strict_json(r)
    strict_json(u.get(path))


# ---------------------------------------------------------------------------------- stored data


ODD_TEXT = "n\x01\x02\x1f\x7f\"\\/\u2028\u2029é😀\t\n\r</script>"
ODD_SOCIAL = [
    "not json", '{"a":', "", "[1,2", "null", '"str"', "123", " [1] ", "[1] x", "{'a': 1}",
    '{"a":"\x01"}', '[{"a":NaN}]', '[{"a":Infinity}]', '[{"a":-Infinity}]', "[1e999]",
    '{"a":1,"a":2}', "[" * 5000 + "]" * 5000, "\ufeff[1]", '[{"a":"\\u0000"}]',
]


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


@pytest.mark.parametrize("social", ODD_SOCIAL, ids=[repr(s)[:24] for s in ODD_SOCIAL])
def test_odd_social_media_text(server, social):
    u = users(server)
    _seed(server, u)
    db(server, "UPDATE devices SET social_media = %s WHERE user_id = %s", (social, u.id))
    db(server, "UPDATE user_profiles SET social_media = %s WHERE user_id = %s", (social, u.id))
    _all_gets(u)


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
    _all_gets(u)


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
