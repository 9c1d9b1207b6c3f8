"""PgBouncer in transaction mode (issue 10): two droplin replicas with DB_PREPARED_STATEMENTS=0
share Debian's pgbouncer, whose pool of 2 server connections is smaller than the replicas'
pools together (2 x 4), so consecutive transactions of one droplin connection land on different
server connections. Anything droplin kept in a session (a named statement, a session advisory
lock) would show up here as an error or as a lock left behind.

The whole black-box suite also runs through a PgBouncer (DROPLIN_TEST_PGBOUNCER=1, the second
pytest run of `make test`); this file is the multi-replica part of it.
"""

import threading
import uuid

import harness
from auth_helpers import FAST_ENV, Api

BOUNCER_POOL = 2


def replica_env(**extra):
    env = dict(FAST_ENV)
    env.update({"DB_PREPARED_STATEMENTS": "0", "DB_POOL_SIZE": "4",
                "RETENTION_INTERVAL_SECONDS": "1"})
    env.update(extra)
    return env


def bouncer_cluster(private_pg):
    if private_pg.bouncer:  # DROPLIN_TEST_PGBOUNCER=1 put one with a larger pool there
        private_pg.bouncer.destroy()
    return private_pg.put_bouncer_in_front(pool_size=BOUNCER_POOL)


def advisory_locks(cluster, dbname):
    conn = cluster.connect()  # PostgreSQL itself, not the bouncer
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                        "WHERE l.locktype = 'advisory' AND d.datname = %s", (dbname,))
            return cur.fetchone()[0]
    finally:
        conn.close()


def server_connections(cluster, dbname):
    conn = cluster.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (dbname,))
            return cur.fetchone()[0]
    finally:
        conn.close()


def test_two_replicas_behind_pgbouncer_transaction_mode(droplin, private_pg):
    cluster = bouncer_cluster(private_pg)
    db = cluster.create_database()
    dbname = db.rsplit("/", 1)[1]
    # both boot at once: their migrations race through the bouncer
    # LOG_LEVEL=debug: each retention run logs a line, even when it prunes nothing
    reps = [droplin(env=replica_env(LOG_LEVEL="debug"), db=db) for _ in range(2)]
    for d in reps:
        d.wait_ready(timeout=30)
    assert harness.db_query(db, "SELECT count(*) FROM schema_migrations") == [(4,)]

    errors, done = [], []
    lock = threading.Lock()

    def worker(n):
        try:
            for i in range(8):
                name = f"pgb{n}x{i}{uuid.uuid4().hex[:6]}"
                a, b = Api(reps[(n + i) % 2]), Api(reps[(n + i + 1) % 2])
                uid = a.register(name)["user_id"]
                token = b.login_ok(name)["token"]  # the other replica
                for api in (a, b):
                    r = api.post("/auth/refresh", token=token)
                    assert r.status == 200, r
                    p = harness.http_request(api.d.port, "GET", "/user/profile",
                                             headers={"Authorization": "Bearer " + token})
                    assert p.status == 200, p
                    s = harness.http_request(api.d.port, "GET", "/user/settings",
                                             headers={"Authorization": "Bearer " + token})
                    assert s.status == 200, s
                r = a.post("/auth/check-username", {"username": name})
                assert r.status == 200 and r.json()["available"] is False, r
                with lock:
                    done.append(uid)
        except Exception as e:  # noqa: BLE001  (collected, asserted below)
            with lock:
                errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    assert len(done) == 6 * 8
    assert harness.db_query(db, "SELECT count(*) FROM users") == [(48,)]

    # retention ran (RETENTION_INTERVAL_SECONDS=1) and, like the migrations, left no advisory
    # lock on a server connection; the server never saw more than the bouncer's pool. A run of
    # each replica that began after the load is waited for (its log line), not slept for.
    for d in reps:
        seen = len(d.logs())
        harness.wait_until(lambda: any(str(l.get("message", "")).startswith("retention: ")
                                       for l in d.logs()[seen:]), 10,
                           what="a retention run after the load")
    assert advisory_locks(cluster, dbname) == 0
    assert server_connections(cluster, dbname) <= BOUNCER_POOL
    for d in reps:
        assert not [l for l in d.logs() if l.get("level") == "error"], d.describe()
        assert "prepared statement" not in d.output()


def test_named_prepared_statements_break_behind_transaction_mode(droplin, private_pg):
    """The control: the default (DB_PREPARED_STATEMENTS=1) through the same bouncer fails
    (a statement prepared on one server connection is missing or already there on the next),
    which is why the setting exists (docs/configuration.md)."""
    cluster = bouncer_cluster(private_pg)
    db = cluster.create_database()
    reps = [droplin(env=replica_env(DB_PREPARED_STATEMENTS="1"), db=db) for _ in range(2)]
    statuses = []

    def worker(n):
        for i in range(20):
            r = Api(reps[(n + i) % 2]).post("/auth/check-username", {"username": f"u{n}{i}"})
            statuses.append(r.status)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    # droplin's log thread writes the error lines a moment after the answers went out
    output = lambda: reps[0].output() + reps[1].output()  # noqa: E731
    try:
        harness.wait_until(lambda: "prepared statement" in output(), harness.scaled(10),
                           what="a prepared-statement error in the log")
    except AssertionError:
        raise AssertionError((statuses, output()[-2000:]))
