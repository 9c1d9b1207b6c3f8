"""The reads the event loop serves itself (DB_LOOP_READS, droplin.c "Reads served by the event
loop") and the cache of verified tokens (TOKEN_CACHE).

GET /user/profile, /user/settings, /devices, /user/privacy-zones and /user/pinned run their
session check and their query in one pipeline on a pooled connection that the loop watches.
These tests hold that path to the worker path's behaviour: the same bodies with
DB_LOOP_READS=0 and 1, no answer crossing users when many clients share the four pooled
connections, the session refresh that still happens, a query stuck behind a lock answered
503 and cancelled on the server, and a cached token that still expires and still stops working
when its user is deleted.
"""

import concurrent.futures
import json
import time

import pytest

import harness
from auth_helpers import (JWT_SECRET, Api, db_of, indexes_built, make_token, metric, start)

READS = ["/user/profile", "/user/settings", "/devices", "/user/privacy-zones", "/user/pinned"]


def loop_reads(d):
    return metric(d, "droplin_loop_reads_total")


def get(d, path, token, timeout=10.0):
    return harness.http_request(d.port, "GET", path, headers={"Authorization": "Bearer " + token},
                                timeout=timeout)


def user_with_data(api, name):
    j = api.register(name, email=f"{name}@example.com")
    tok = j["token"]
    assert api.post("/user/profile", {"name": f"Name of {name}", "bio": "bio é \u2603"},
                    token=tok).status == 200
    for i in range(3):
        r = api.post("/devices", {"name": f"{name}-dev{i}", "rssi": -40 - i, "distance": 1.5 * i,
                                  "action": "dropped"}, token=tok)
        assert r.status == 200, r
    assert api.post("/user/privacy-zones", {"address": f"{name} street", "radius": 12.25},
                    token=tok).status == 200
    return j["user_id"], tok


def test_same_bodies_on_the_loop_and_on_the_workers(droplin, pg):
    db = pg.create_database()
    loop = start(droplin, db=db)
    workers = start(droplin, db=db, DB_LOOP_READS="0")
    uid, tok = user_with_data(Api(loop), "loopalice")
    for path in READS:
        for _ in range(3):  # the first read prepares the statements on a worker; then the loop
            a, b = get(loop, path, tok), get(workers, path, tok)
            assert a.status == b.status == 200, (path, a, b)
            assert a.body == b.body, path
    assert json.loads(get(loop, "/user/profile", tok).body)["username"] == "loopalice"
    devices = json.loads(get(loop, "/devices", tok).body)
    assert sorted(d["distanceFeet"] for d in devices) == [0.0, 1.5, 3.0]
    assert loop_reads(loop) >= 10  # most reads took the loop's path
    assert loop_reads(workers) == 0


def test_many_clients_never_get_another_users_rows(droplin):
    d = start(droplin, DB_POOL_SIZE="2")
    api = Api(d)
    users = [user_with_data(api, f"crowd{i}") for i in range(6)]
    names = {tok: f"crowd{i}" for i, (_, tok) in enumerate(users)}
    errors = []

    def client(tok):
        for _ in range(40):
            r = get(d, "/user/profile", tok)
            if r.status != 200 or json.loads(r.body)["username"] != names[tok]:
                errors.append((names[tok], r.status, r.body[:200]))
            r = get(d, "/devices", tok)
            if r.status != 200 or any(not x["name"].startswith(names[tok] + "-")
                                      for x in json.loads(r.body)):
                errors.append((names[tok], r.status, r.body[:200]))

    before = loop_reads(d)
    with concurrent.futures.ThreadPoolExecutor(12) as ex:
        list(ex.map(client, [tok for _, tok in users] * 2))
    assert errors == []
    assert loop_reads(d) - before > 500  # of 960: the loop's path, with its wait queue


def test_session_refresh_still_happens_on_loop_reads(droplin):
    # A token of a login refreshes its session's activity; a token without a session (the
    # original backend's) refreshes the user's.
    d = start(droplin, SESSION_TOUCH_SECONDS="1")
    api = Api(d)
    uid, tok = user_with_data(api, "toucher")
    legacy = make_token(uid, "toucher")
    for _ in range(3):
        assert get(d, "/user/profile", tok).status == 200
        assert get(d, "/user/profile", legacy).status == 200
    harness.db_exec(db_of(d), "UPDATE users SET last_seen_at = now() - interval '10 minutes'"
                    " WHERE id = %s", (uid,))
    harness.db_exec(db_of(d), "UPDATE sessions SET last_seen_at = now() - interval '10 minutes'"
                    " WHERE user_id = %s", (uid,))
    assert get(d, "/user/profile", tok).status == 200
    [(age,)] = harness.db_query(db_of(d), "SELECT extract(epoch FROM now() - last_seen_at)"
                                " FROM sessions WHERE user_id = %s", (uid,))
    assert float(age) < 5, f"the session's last_seen_at was not refreshed: {age} s old"
    assert get(d, "/user/profile", legacy).status == 200
    age = harness.db_query(db_of(d), "SELECT extract(epoch FROM now() - last_seen_at)"
                           " FROM users WHERE id = %s", (uid,))[0][0]
    assert float(age) < 5, f"last_seen_at was not refreshed: {age} s old"


def test_a_read_stuck_behind_a_lock_is_answered_503_and_cancelled(droplin):
    d = start(droplin, DB_QUERY_TIMEOUT_MS="600")
    api = Api(d)
    uid, tok = user_with_data(api, "blocked")
    for _ in range(3):  # statements prepared: the next reads go through the loop
        assert get(d, "/devices", tok).status == 200
    # a read finds no idle connection while the probe has it (a long moment on a busy
    # machine) and goes to a worker: the next ones come back to the loop
    before = loop_reads(d)
    harness.wait_until(lambda: get(d, "/devices", tok).status == 200 and loop_reads(d) > before,
                       10, what="a read on the loop's path")
    indexes_built(d)
    conn = harness.db_connect(db_of(d))
    try:
        cur = conn.cursor()
        cur.execute("BEGIN")
        cur.execute("LOCK TABLE devices IN ACCESS EXCLUSIVE MODE")
        t0 = time.monotonic()
        r = get(d, "/devices", tok, timeout=30)
        assert r.status == 503, r
        assert time.monotonic() - t0 < harness.scaled(15)
        assert get(d, "/health", tok).status == 200  # the loop kept serving meanwhile

        def waiting():
            rows = harness.db_query(db_of(d), "SELECT count(*) FROM pg_stat_activity"
                                    " WHERE application_name = 'droplin'"
                                    " AND wait_event_type = 'Lock'")
            return rows[0][0] == 0
        harness.wait_until(waiting, 10, what="the cancelled query to leave its lock queue")
        cur.execute("ROLLBACK")
    finally:
        conn.close()
    r = get(d, "/devices", tok)
    assert r.status == 200 and len(json.loads(r.body)) == 3


def test_a_cached_token_still_expires(droplin):
    d = start(droplin, JWT_LEEWAY_SECONDS="0")
    api = Api(d)
    uid, _ = user_with_data(api, "expiring")
    exp = int(time.time()) + 5  # room for the two reads before it on a busy machine
    tok = make_token(uid, "expiring", exp=exp)
    assert get(d, "/user/profile", tok).status == 200  # verified, now cached
    assert get(d, "/user/profile", tok).status == 200
    time.sleep(max(0.0, exp + 1 - time.time()))  # a lower bound: past exp
    r = get(d, "/user/profile", tok)
    assert r.status == 401 and json.loads(r.body)["detail"] == "Token has expired"


def test_a_cached_token_of_a_deleted_user_stops_working(droplin):
    d = start(droplin)
    api = Api(d)
    uid, tok = user_with_data(api, "leaver")
    assert get(d, "/user/settings", tok).status == 200
    r = harness.http_request(d.port, "DELETE", "/user/delete",
                             headers={"Authorization": "Bearer " + tok})
    assert r.status == 200, r
    r = get(d, "/user/settings", tok)
    assert r.status == 401 and json.loads(r.body)["detail"] == "Invalid token"


def test_a_token_differing_in_its_signature_is_not_taken_from_the_cache(droplin):
    d = start(droplin)
    api = Api(d)
    uid, tok = user_with_data(api, "forger")
    assert get(d, "/user/pinned", tok).status == 200
    head, body, sig = tok.split(".")
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    for bad in (f"{head}.{body}.{flipped}", f"{head}.{body}.{sig}x", f"{head}.{body}.",
                make_token(uid, "forger", secret="not-" + JWT_SECRET)):
        r = get(d, "/user/pinned", bad)
        assert r.status == 401, (bad, r)
    assert get(d, "/user/pinned", tok).status == 200


def test_reads_alone_grow_the_pool_to_its_size(droplin):
    d = start(droplin, DB_POOL_SIZE="3")
    api = Api(d)
    users = [user_with_data(api, f"grower{i}")[1] for i in range(3)]

    def backends():
        return harness.db_query(db_of(d), "SELECT count(*) FROM pg_stat_activity"
                                " WHERE application_name = 'droplin'")[0][0]

    def client(tok):
        for _ in range(60):
            assert get(d, "/devices", tok).status == 200

    deadline = time.monotonic() + 30
    while backends() < 3 and time.monotonic() < deadline:
        with concurrent.futures.ThreadPoolExecutor(9) as ex:
            list(ex.map(client, users * 3))
    assert backends() == 3  # opened by workers when the loop found none idle, never more


def test_reads_and_writes_sharing_a_small_pool_all_get_their_turn(droplin):
    """Loop reads and workers wait for a connection first come, first served; a woken worker
    whose turn it is not must not swallow the wake-up of the one whose turn it is (that
    stalled requests until DB_ACQUIRE_TIMEOUT_MS)."""
    d = start(droplin, DB_POOL_SIZE="2", DB_ACQUIRE_TIMEOUT_MS="5000", WORKER_THREADS="6")
    api = Api(d)
    users = [user_with_data(api, f"sharer{i}")[1] for i in range(4)]
    statuses, slowest = [], [0.0]

    def reader(tok):
        for _ in range(80):
            t0 = time.monotonic()
            statuses.append(get(d, "/devices", tok).status)
            slowest[0] = max(slowest[0], time.monotonic() - t0)

    def writer(tok):  # device saves run on the loop too, profile saves on a worker
        for i in range(40):
            t0 = time.monotonic()
            if i % 2:
                r = api.post("/user/profile", {"bio": f"bio {i}"}, token=tok)
            else:
                r = api.post("/devices", {"name": f"w{i % 3}", "rssi": -50, "distance": 1.0,
                                          "action": "dropped"}, token=tok)
            statuses.append(r.status)
            slowest[0] = max(slowest[0], time.monotonic() - t0)

    with concurrent.futures.ThreadPoolExecutor(18) as ex:
        futures = [ex.submit(reader, t) for t in users * 3] + [ex.submit(writer, t) for t in users + users[:2]]
        for f in futures:
            f.result()
    assert statuses.count(200) == len(statuses), {s: statuses.count(s) for s in set(statuses)}
    assert slowest[0] < 4.5, f"a request waited {slowest[0]:.1f} s for its turn"
