"""GET/POST /user/privacy-zones and DELETE /user/privacy-zones/{zone_id} (ORIGINAL_API §3.4;
DECISIONS F: they work on PostgreSQL, missing fields are 422 instead of 500, delete answers
404/403 instead of 500)."""

import pytest

from auth_helpers import assert_422, assert_audit_details, assert_detail, body_of
from userdata_helpers import audit_of, db, settle, strict_json, users, wait_audit_of
from userdata_helpers import server  # noqa: F401  (pytest fixture)


def create(user, address="1 Main St", radius=100, **extra):
    body = {"address": address, "radius": radius}
    body.update(extra)
    return user.post("/user/privacy-zones", body)


def created(user, address="1 Main St", radius=100, **extra):
    r = create(user, address, radius, **extra)
    assert r.status == 200, r
    z = body_of(r)
    assert set(z) == {"id", "address", "radius"}, z
    assert isinstance(z["id"], int) and not isinstance(z["id"], bool), z
    assert isinstance(z["radius"], float), z
    return z


def zones(user):
    r = user.get("/user/privacy-zones")
    assert r.status == 200, r
    return body_of(r)


def test_create_and_list(server):
    u = users(server)
    assert zones(u) == []
    z = created(u, "1 Main St", 100)
    assert z["address"] == "1 Main St" and z["radius"] == 100.0
    assert b'"radius":100.0' in u.get("/user/privacy-zones").body
    z2 = created(u, "Café Ñ, 12 Rue 😀", 12.75)
    assert z2["radius"] == 12.75 and z2["id"] != z["id"]
    assert sorted(zones(u), key=lambda x: x["id"]) == [z, z2]
    rows = db(server, "SELECT id, address, radius FROM privacy_zones WHERE user_id = %s "
                      "ORDER BY id", (u.id,))
    assert rows == [(z["id"], "1 Main St", 100.0), (z2["id"], "Café Ñ, 12 Rue 😀", 12.75)]


def test_extra_fields_are_ignored(server):
    u = users(server)
    z = created(u, "Home", 50, latitude=1.5, longitude=2.5, name="home")
    assert z["address"] == "Home"


def test_list_has_only_the_callers_zones(server):
    alice, bob = users(server, 2)
    a = created(alice, "Alice's")
    created(bob, "Bob's")
    assert zones(alice) == [a]


@pytest.mark.parametrize("radius,stored", [(0, 0.0), (0.5, 0.5), ("5", 5.0), (100000, 100000.0)])
def test_radius_values(server, radius, stored):
    u = users(server)
    assert created(u, radius=radius)["radius"] == stored


def test_address_lengths(server):
    u = users(server)
    assert created(u, "a" * 500)["address"] == "a" * 500
    assert created(u, "é" * 500)["address"] == "é" * 500
    assert_422(create(u, "a" * 501), ("address", "Must be at most allowed characters"))
    assert_422(create(u, ""), ("address", "Must be at least required characters"))


@pytest.mark.parametrize("body,errors", [
    ({"radius": 1}, [("address", "Field required")]),
    ({"address": "x"}, [("radius", "Field required")]),
    ({}, [("address", "Field required"), ("radius", "Field required")]),
    ({"address": "x", "radius": -1}, [("radius", "Input should be greater than or equal to 0")]),
    ({"address": "x", "radius": -0.01},
     [("radius", "Input should be greater than or equal to 0")]),
    ({"address": "x", "radius": "far"},
     [("radius", "Input should be a valid number, unable to parse string as a number")]),
    ({"address": "x", "radius": [1]}, [("radius", "Input should be a valid number")]),
    ({"address": 5, "radius": 1}, [("address", "Input should be a valid string")]),
    ({"address": ["x"], "radius": 1}, [("address", "Input should be a valid string")]),
    ({"address": None, "radius": 1}, [("address", None)]),
    ({"address": "x", "radius": None}, [("radius", None)]),
])
def test_rejected(server, body, errors):
    u = users(server)
    assert_422(u.post("/user/privacy-zones", body), *errors)
    assert zones(u) == []
    settle(server)
    assert audit_of(server, u.id, "privacy_zone_created") == []


@pytest.mark.parametrize("radius,message", [
    ("1e300", "Input should be less than or equal to 1e+07"),
    ("1e400", "Input should be less than or equal to 1e+07"),
    ("-1e400", "Input should be greater than or equal to 0"),
])
def test_huge_radius_is_refused(server, radius, message):
    """1e400 is infinity to a JSON reader that makes floats: refused by the range, nothing
    stored, and no inf or nan token in any answer."""
    u = users(server)
    assert_422(u.post("/user/privacy-zones", raw=('{"address":"x","radius":%s}' % radius).encode()),
               ("radius", message))
    listed = u.get("/user/privacy-zones")
    assert listed.status == 200 and strict_json(listed) == [], listed


def test_a_radius_below_the_smallest_double_is_zero(server):
    u = users(server)
    r = u.post("/user/privacy-zones", raw=b'{"address":"x","radius":1e-400}')
    assert r.status == 200, r
    assert strict_json(r)["radius"] == 0.0
    assert [(z["address"], z["radius"]) for z in strict_json(u.get("/user/privacy-zones"))] == \
        [("x", 0.0)]


def test_audit_rows(server):
    u = users(server)
    z = created(u, "1 Main St", 100)
    [row] = wait_audit_of(server, u.id, "privacy_zone_created")
    assert_audit_details(row, {"zone_id": z["id"], "address": "1 Main St", "radius": 100.0})
    assert u.ok("DELETE", f"/user/privacy-zones/{z['id']}") == {"success": True}
    [row] = wait_audit_of(server, u.id, "privacy_zone_deleted")
    assert_audit_details(row, {"zone_id": z["id"]})


def test_delete(server):
    u = users(server)
    z = created(u, "Gone")
    keep = created(u, "Kept")
    r = u.delete(f"/user/privacy-zones/{z['id']}")
    assert r.status == 200 and body_of(r) == {"success": True}, r
    assert zones(u) == [keep]
    assert_detail(u.delete(f"/user/privacy-zones/{z['id']}"), 404, "Privacy zone not found")


def test_delete_missing(server):
    u = users(server)
    assert_detail(u.delete("/user/privacy-zones/987654321"), 404, "Privacy zone not found")
    assert_detail(u.delete("/user/privacy-zones/0"), 404, "Privacy zone not found")
    settle(server)
    assert audit_of(server, u.id, "privacy_zone_deleted") == []


def test_delete_of_another_user(server):
    alice, bob = users(server, 2)
    z = created(alice, "Alice's home")
    assert_detail(bob.delete(f"/user/privacy-zones/{z['id']}"), 403,
                  "Not authorized to delete this privacy zone")
    assert zones(alice) == [z]
    settle(server)
    assert audit_of(server, bob.id, "privacy_zone_deleted") == []


@pytest.mark.parametrize("bad", ["abc", "1.5", "1e2", "x1"])
def test_zone_id_must_be_an_integer(server, bad):
    u = users(server)
    assert_422(u.delete(f"/user/privacy-zones/{bad}"),
               ("zone_id", "Input should be a valid integer, unable to parse string as an "
                           "integer"))


def test_zone_id_out_of_range(server):
    u = users(server)
    u.ok("POST", "/user/privacy-zones", {"address": "kept", "radius": 1})
    assert_422(u.delete("/user/privacy-zones/99999999999999999999"),
               ("zone_id", "Input should be a valid integer, unable to parse string as an "
                           "integer"))
    assert [z["address"] for z in zones(u)] == ["kept"]
