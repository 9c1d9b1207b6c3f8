"""GET /user/pinned and POST/DELETE /user/pinned/{device_id} (ORIGINAL_API §3.4; DECISIONS F:
pins work on PostgreSQL)."""

import pytest

from auth_helpers import assert_422, body_of, parallel
from userdata_helpers import db, device, users
from userdata_helpers import server  # noqa: F401  (pytest fixture)


def pinned(user):
    r = user.get("/user/pinned")
    assert r.status == 200, r
    ids = body_of(r)
    assert isinstance(ids, list), ids
    assert all(isinstance(i, int) and not isinstance(i, bool) for i in ids), ids
    return ids


def pin(user, device_id):
    return user.ok("POST", f"/user/pinned/{device_id}")


def unpin(user, device_id):
    return user.ok("DELETE", f"/user/pinned/{device_id}")


def new_device(user, name):
    return user.ok("POST", "/devices", device(name))["id"]


def test_empty(server):
    u = users(server)
    assert pinned(u) == []


def test_pin_and_unpin(server):
    u = users(server)
    a, b = new_device(u, "A"), new_device(u, "B")
    assert pin(u, a) == {"success": True}
    assert pinned(u) == [a]
    assert pin(u, b) == {"success": True}
    assert sorted(pinned(u)) == sorted([a, b])
    assert unpin(u, a) == {"success": True}
    assert pinned(u) == [b]
    rows = db(server, "SELECT device_id FROM pinned_contacts WHERE user_id = %s", (u.id,))
    assert rows == [(b,)]


def test_pin_is_idempotent(server):
    u = users(server)
    a = new_device(u, "A")
    for _ in range(3):
        assert pin(u, a) == {"success": True}
    assert pinned(u) == [a]
    [(n,)] = db(server, "SELECT count(*) FROM pinned_contacts WHERE user_id = %s", (u.id,))
    assert n == 1


def test_unpin_is_idempotent(server):
    u = users(server)
    assert unpin(u, 12345) == {"success": True}
    a = new_device(u, "A")
    pin(u, a)
    assert unpin(u, a) == {"success": True}
    assert unpin(u, a) == {"success": True}
    assert pinned(u) == []


def test_parallel_pins_of_one_device(server):
    u = users(server)
    a = new_device(u, "A")
    results = parallel(lambda: u.post(f"/user/pinned/{a}"), [()] * 10)
    assert all(r.status == 200 and body_of(r) == {"success": True} for r in results), results
    assert pinned(u) == [a]


def test_device_existence_is_not_checked(server):
    """As the original: the app pins ids it has; unknown ids are stored and listed."""
    u = users(server)
    assert pin(u, 424242) == {"success": True}
    assert pinned(u) == [424242]


def test_pins_are_per_user(server):
    alice, bob = users(server, 2)
    a = new_device(alice, "A")
    pin(alice, a)
    assert pinned(bob) == []
    unpin(bob, a)
    assert pinned(alice) == [a]


@pytest.mark.parametrize("method", ["POST", "DELETE"])
@pytest.mark.parametrize("bad", ["abc", "1.5", "1e3", "-", "x1"])
def test_device_id_must_be_an_integer(server, method, bad):
    u = users(server)
    assert_422(u.call(method, f"/user/pinned/{bad}"),
               ("device_id", "Input should be a valid integer, unable to parse string as an "
                             "integer"))
    assert pinned(u) == []


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_device_id_out_of_range(server, method):
    u = users(server)
    # an id no integer column holds is no integer: 422, as for any other non-integer
    assert_422(u.call(method, "/user/pinned/99999999999999999999"),
               ("device_id", "Input should be a valid integer, unable to parse string as an "
                             "integer"))
    assert pinned(u) == []
