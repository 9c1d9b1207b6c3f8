"""The writes the event loop serves itself (droplin.c "Writes served by the event loop"):
POST /devices runs its session check, BEGIN, the lock and the upsert in one pipeline and ends
the transaction in a second one, COMMIT only once the session row has been judged.

These tests hold that path to the worker path (DB_LOOP_READS=0): the same bodies and rows, a
session that fails its check committing nothing, the worker's order of answers (the token's 401
before the body's 422), the session refresh inside the transaction, and a statement that fails
after the session check rolled back with the connection still usable.
"""

import json

import harness
from auth_helpers import Api, db_of, indexes_built, metric, start

PREPARE = 2  # the first saves prepare the statements on a worker; then the loop takes them
# ONE: a test that counts the loop's writes gives its droplin one pooled connection. With more,
# a save that finds none idle (the probe thread has it a moment: on a busy machine, a long one)
# goes to a worker, which opens the next, and the count is one short.


def loop_writes(d):
    return metric(d, "droplin_loop_writes_total")


def post(d, token, body):
    return Api(d).post("/devices", body, token=token)


def device(name, **kw):
    body = {"name": name, "rssi": -50, "distance": 2.5, "action": "dropped",
            "timestamp": "2026-11-27T08:00:00"}
    body.update(kw)
    return body


def rows(d, uid):
    return harness.db_query(db_of(d), "SELECT name, rssi, distance_feet, action, timestamp,"
                            " phone_number, email, bio, social_media FROM devices"
                            " WHERE user_id = %s ORDER BY name", (uid,))


def ready_user(d, name):
    """A user whose statements are prepared, so that the next saves take the loop."""
    j = Api(d).register(name, email=f"{name}@example.com")
    for i in range(PREPARE):
        assert post(d, j["token"], device(f"warm{i}")).status == 200
    return j["user_id"], j["token"]


def test_same_bodies_and_rows_on_the_loop_and_on_the_workers(droplin, pg):
    db = pg.create_database()
    loop = start(droplin, db=db, DB_POOL_SIZE="1")  # see ONE
    workers = start(droplin, db=db, DB_LOOP_READS="0")
    saves = [device("Phone"), device("Phone", rssi=-7, distance=0, action=None),
             device("Tablet", phoneNumber="555-123-4567", email=" A@Example.COM ",
                    bio="two\nlines é", socialMedia=[{"platform": "x", "handle": "@a"}]),
             device("Tablet", timestamp=None), {"name": "Watch", "rssi": -1, "distanceFeet": 9}]
    a_uid, a_tok = ready_user(loop, "loopwriter")
    b_uid, b_tok = ready_user(workers, "workerwriter")
    before = loop_writes(loop)
    for body in saves:
        a, b = post(loop, a_tok, body), post(workers, b_tok, body)
        assert a.status == b.status == 200, (body, a, b)
        ja, jb = json.loads(a.body), json.loads(b.body)
        for j in (ja, jb):
            j.pop("id")
            if "timestamp" not in body:
                j.pop("timestamp")
        assert ja == jb, body
    assert loop_writes(loop) == before + len(saves)
    assert loop_writes(workers) == 0
    ra, rb = rows(loop, a_uid), rows(loop, b_uid)
    assert [r[:4] + r[5:] for r in ra] == [r[:4] + r[5:] for r in rb]
    assert [r[0] for r in ra] == ["Phone", "Tablet", "Watch", "warm0", "warm1"]


def test_a_session_that_fails_its_check_commits_nothing(droplin):
    d = start(droplin)
    uid, tok = ready_user(d, "revoked")
    harness.db_exec(db_of(d), "UPDATE users SET password_changed_at = now() + interval '1 hour'"
                    " WHERE id = %s", (uid,))
    before = loop_writes(d)
    r = post(d, tok, device("Ghost"))
    assert r.status == 401, r
    assert json.loads(r.body)["detail"] == "Token has been invalidated. Please log in again."
    assert [x[0] for x in rows(d, uid)] == ["warm0", "warm1"]
    assert loop_writes(d) == before
    # the connection that rolled back serves the next writer
    uid2, tok2 = ready_user(d, "nextwriter")
    assert post(d, tok2, device("Real")).status == 200
    assert "Real" in [x[0] for x in rows(d, uid2)]


def test_a_deleted_user_writes_nothing(droplin):
    d = start(droplin)
    uid, tok = ready_user(d, "deleted")
    harness.db_exec(db_of(d), "DELETE FROM users WHERE id = %s", (uid,))
    assert post(d, tok, device("Orphan")).status == 401
    assert [x[0] for x in rows(d, uid)] == ["warm0", "warm1"]


def test_the_tokens_401_comes_before_the_bodys_422(droplin):
    d = start(droplin)
    uid, tok = ready_user(d, "ordered")
    bad = {"name": "x", "rssi": "not a number", "distance": 1}
    r = post(d, tok, bad)
    assert r.status == 422, r
    harness.db_exec(db_of(d), "UPDATE users SET password_changed_at = now() + interval '1 hour'"
                    " WHERE id = %s", (uid,))
    assert post(d, tok, bad).status == 401
    assert post(d, tok, device("fine")).status == 401


def test_session_refresh_happens_inside_the_write(droplin):
    d = start(droplin, SESSION_TOUCH_SECONDS="1", DB_POOL_SIZE="1")  # see ONE
    uid, tok = ready_user(d, "touchwriter")
    harness.db_exec(db_of(d), "UPDATE sessions SET last_seen_at = now() - interval '10 minutes'"
                    " WHERE user_id = %s", (uid,))
    before = loop_writes(d)
    assert post(d, tok, device("Fresh")).status == 200
    assert loop_writes(d) == before + 1
    age = harness.db_query(db_of(d), "SELECT extract(epoch FROM now() - last_seen_at)"
                           " FROM sessions WHERE user_id = %s", (uid,))[0][0]
    assert float(age) < 5, f"the session's last_seen_at was not refreshed: {age} s old"
    assert "Fresh" in [x[0] for x in rows(d, uid)]


def test_a_statement_failing_after_the_session_check_rolls_back(droplin):
    d = start(droplin, DB_POOL_SIZE="1")
    uid, tok = ready_user(d, "refused")
    indexes_built(d)
    harness.db_exec(db_of(d), "ALTER TABLE devices ADD CONSTRAINT no_far CHECK (rssi > -1000)"
                    " NOT VALID")
    before = loop_writes(d)
    r = post(d, tok, device("Far", rssi=-5000))
    assert r.status == 500, r
    assert [x[0] for x in rows(d, uid)] == ["warm0", "warm1"]
    # the one pooled connection was rolled back, not left in a failed transaction
    for i in range(3):
        assert post(d, tok, device(f"Near{i}", rssi=-5)).status == 200
    assert loop_writes(d) == before + 3
    assert [x[0] for x in rows(d, uid)] == ["Near0", "Near1", "Near2", "warm0", "warm1"]
    d.log_barrier()  # droplin's log thread writes a moment after the answer went out
    assert "device_save" in d.output()


def profile_row(d, uid):
    return harness.db_query(db_of(d), "SELECT name, email, phone, bio, social_media,"
                            " has_completed_onboarding FROM user_profiles WHERE user_id = %s",
                            (uid,))


def test_profile_saves_on_the_loop_match_the_workers(droplin, pg):
    """Saves without a new phone or e-mail take the loop; those with one go to a worker,
    which checks that no one else has it before it sends the change."""
    db = pg.create_database()
    loop = start(droplin, db=db, DB_POOL_SIZE="1")  # see ONE
    workers = start(droplin, db=db, DB_LOOP_READS="0")
    a_uid, a_tok = ready_user(loop, "loopprofile")
    b_uid, b_tok = ready_user(workers, "workerprofile")
    saves = [{"name": "N", "bio": "Add bio"}, {"socialMedia": [{"platform": "x"}]},
             {"hasCompletedOnboarding": True, "bio": None}, {"name": None, "zzz": 1}]
    for body in saves * 2:  # the first of each may prepare its statements on a worker
        a = Api(loop).post("/user/profile", body, token=a_tok)
        b = Api(workers).post("/user/profile", body, token=b_tok)
        assert a.status == b.status == 200 and a.body == b.body, (body, a, b)
    assert profile_row(loop, a_uid) == profile_row(loop, b_uid)
    before = loop_writes(loop)
    for body in saves:
        assert Api(loop).post("/user/profile", body, token=a_tok).status == 200
    assert loop_writes(loop) == before + len(saves)
    r = Api(loop).post("/user/profile", {"phone": "5550101234"}, token=a_tok)
    assert r.status == 200 and loop_writes(loop) == before + len(saves)  # the worker's
    details = [json.loads(r[0]) for r in harness.db_query(
        db_of(loop), "SELECT details FROM audit_logs WHERE user_id = %s AND action ="
        " 'profile_update' ORDER BY id", (a_uid,))]
    assert [x["fields_updated"] for x in details[-2:]] == [["name", "zzz"], ["phone"]]


def test_a_failed_audit_insert_on_the_loop_keeps_the_change(droplin):
    d = start(droplin, DB_POOL_SIZE="1")  # one connection: prepared once, then the loop's
    uid, tok = ready_user(d, "loopaudit")
    for i in range(3):  # prepare the profile statements wherever they run
        assert Api(d).post("/user/profile", {"bio": f"warm {i}"}, token=tok).status == 200
    indexes_built(d)
    harness.db_exec(db_of(d), "ALTER TABLE audit_logs ADD CONSTRAINT refuse_all"
                    " CHECK (action = 'never') NOT VALID")
    before = loop_writes(d)
    for i in range(3):
        r = Api(d).post("/user/profile", {"name": f"Kept {i}"}, token=tok)
        assert r.status == 200, r
    assert loop_writes(d) == before + 3
    assert profile_row(d, uid)[0][0] == "Kept 2"
    d.log_barrier()  # every line of the answered requests is in the log after it
    logged = [json.loads(line) for line in d.output().splitlines()
              if "audit write failed" in line]
    assert len(logged) == 3 and all(e["action"] == "profile_update" for e in logged), logged
