"""GET and POST /user/settings (ORIGINAL_API §3.4; DECISIONS F: settings work on PostgreSQL,
C2: the app's privacyZonesEnabled is accepted)."""

import pytest

from auth_helpers import assert_422, body_of
from userdata_helpers import db, users
from userdata_helpers import server  # noqa: F401  (pytest fixture)


def settings(user):
    r = user.get("/user/settings")
    assert r.status == 200, r
    s = body_of(r)
    assert set(s) == {"darkMode", "maxDistance"}, s
    assert isinstance(s["darkMode"], bool), s
    return s


def save(user, body):
    return user.post("/user/settings", body)


def saved(user, body):
    r = save(user, body)
    assert r.status == 200 and body_of(r) == {"success": True}, f"{body!r}: {r!r}"


def row(srv, user):
    rows = db(srv, "SELECT dark_mode, max_distance FROM user_settings WHERE user_id = %s",
              (user.id,))
    return rows[0] if rows else None


def test_register_creates_the_default_row(server):
    u = users(server)
    assert settings(u) == {"darkMode": True, "maxDistance": 33}
    assert row(server, u) == (1, 33)


def test_default_without_a_row(server):
    u = users(server)
    db(server, "DELETE FROM user_settings WHERE user_id = %s", (u.id,))
    assert settings(u) == {"darkMode": True, "maxDistance": 33}
    saved(u, {"darkMode": False, "maxDistance": 12})
    assert settings(u) == {"darkMode": False, "maxDistance": 12}
    assert row(server, u) == (0, 12)


def test_the_apps_save(server):
    u = users(server)
    saved(u, {"darkMode": False, "maxDistance": 50, "privacyZonesEnabled": False})
    assert settings(u) == {"darkMode": False, "maxDistance": 50}
    saved(u, {"darkMode": True, "maxDistance": 10, "privacyZonesEnabled": True})
    assert settings(u) == {"darkMode": True, "maxDistance": 10}


@pytest.mark.parametrize("value,dark", [
    (True, True), (False, False), (1, True), (0, False), ("x", True), ("", False),
    ("false", True), ([], False), ([0], True), ({}, False), ({"a": 1}, True), (None, False),
    (0.0, False), (0.5, True),
])
def test_dark_mode_is_truthiness(server, value, dark):
    u = users(server)
    saved(u, {"darkMode": value, "maxDistance": 40})
    assert settings(u) == {"darkMode": dark, "maxDistance": 40}


def test_absent_dark_mode_is_false_and_absent_max_distance_is_33(server):
    u = users(server)
    saved(u, {"darkMode": True, "maxDistance": 99})
    saved(u, {})
    assert settings(u) == {"darkMode": False, "maxDistance": 33}


@pytest.mark.parametrize("value,stored", [(0, 0), (100000, 100000), ("250", 250), (7.0, 7),
                                          (1, 1)])
def test_max_distance_lax_int(server, value, stored):
    u = users(server)
    saved(u, {"darkMode": True, "maxDistance": value})
    assert settings(u) == {"darkMode": True, "maxDistance": stored}


@pytest.mark.parametrize("value,message", [
    (-1, "Input should be greater than or equal to 0"),
    (100001, "Input should be less than or equal to 100000"),
    (99999999999999999999, "Input should be less than or equal to 100000"),
    (1.5, "Input should be a valid integer, got a number with a fractional part"),
    ("abc", "Input should be a valid integer, unable to parse string as an integer"),
    ("", "Input should be a valid integer, unable to parse string as an integer"),
    ([1], "Input should be a valid integer"),
    ({"v": 1}, "Input should be a valid integer"),
])
def test_max_distance_rejected(server, value, message):
    u = users(server)
    saved(u, {"darkMode": False, "maxDistance": 44})
    assert_422(save(u, {"darkMode": True, "maxDistance": value}), ("maxDistance", message))
    assert settings(u) == {"darkMode": False, "maxDistance": 44}


@pytest.mark.parametrize("value", [1e30, -1e30, 1e300])
def test_max_distance_huge_floats(server, value):
    u = users(server)
    assert_422(save(u, {"maxDistance": value}), ("maxDistance", None))
    assert settings(u) == {"darkMode": True, "maxDistance": 33}


def test_settings_are_per_user(server):
    alice, bob = users(server, 2)
    saved(alice, {"darkMode": False, "maxDistance": 5})
    assert settings(bob) == {"darkMode": True, "maxDistance": 33}


def test_adopted_row_values(server):
    """Rows written by the original: dark_mode any integer, max_distance NULL or large."""
    u = users(server)
    db(server, "UPDATE user_settings SET dark_mode = 7, max_distance = 2147483647 "
               "WHERE user_id = %s", (u.id,))
    assert settings(u) == {"darkMode": True, "maxDistance": 2147483647}
    db(server, "UPDATE user_settings SET dark_mode = 0 WHERE user_id = %s", (u.id,))
    assert settings(u)["darkMode"] is False


def test_body_must_be_an_object(server):
    u = users(server)
    assert_422(u.post("/user/settings", raw=b"{bad"), ("1", "JSON decode error"))
    r = u.post("/user/settings", raw=b"[true, 33]")
    assert_422(r, ("", None))
    assert settings(u) == {"darkMode": True, "maxDistance": 33}
