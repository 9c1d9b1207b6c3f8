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

import psycopg2

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


def advisory_locks(cluster, dbname, left=False):
    """Advisory locks held in dbname; left: only those of a server connection that is in no
    transaction (a session lock left behind: a transaction's own lock, as a retention run
    holds it, ends with its transaction)."""
    conn = cluster.connect()  # PostgreSQL itself, not the bouncer
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
                        " JOIN pg_stat_activity a ON a.pid = l.pid"
                        " WHERE l.locktype = 'advisory' AND d.datname = %s"
                        " AND (NOT %s OR a.state = 'idle')", (dbname, left))
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
    # a lock left behind shows in every look (until the bouncer closes its idle server
    # connection, after 2 s); a transaction's own lock, caught in the instant its transaction
    # ends (state and locks are read apart), in one look at most
    looks = [advisory_locks(cluster, dbname, left=True) for _ in range(5)]
    assert looks.count(0) >= 3, looks
    assert server_connections(cluster, dbname) <= BOUNCER_POOL
    for d in reps:
        assert not [l for l in d.logs() if l.get("level") == "error"], d.describe()
        assert "prepared statement" not in d.output()


def forget_prepared_statements(db_url):
    """DEALLOCATE ALL on every server connection of the bouncer's pool for the database (its
    URL through the bouncer): one transaction per pool slot, held open together, so each lands
    on a server connection of its own (one the bouncer opens afresh has none to begin with)."""
    conns = [psycopg2.connect(db_url, connect_timeout=10)
             for _ in range(BOUNCER_POOL)]
    try:
        for conn in conns:  # not autocommit: each stays in its transaction until commit()
            conn.cursor().execute("DEALLOCATE ALL")
        for conn in conns:
            conn.commit()
    finally:
        for conn in conns:
            conn.close()


def test_named_prepared_statements_break_behind_transaction_mode(droplin, private_pg):
    """The control: the default (DB_PREPARED_STATEMENTS=1) through the same bouncer fails
    (a statement prepared on one server connection is missing or already there on the next),
    which is why the setting exists (docs/configuration.md). Deterministic: both replicas are
    ready (the schema is current, so a link is named when it opens), their links are opened by
    a first round of requests, then every server connection forgets the names; the next round
    sends named statements to server connections that do not have them (measured: the first
    round after forgetting failed all 120 requests, five runs of five). Before, the load could
    meet links opened while the two replicas' migrations collided (a session advisory lock does
    not hold behind the bouncer), unnamed, and pass without an error to show."""
    cluster = bouncer_cluster(private_pg)
    db = cluster.create_database()
    reps = [droplin(env=replica_env(DB_PREPARED_STATEMENTS="1"), db=db) for _ in range(2)]
    for rep in reps:
        rep.wait_ready()
    statuses = []

    def worker(n, rnd):
        for i in range(20):
            r = Api(reps[(n + i) % 2]).post("/auth/check-username", {"username": f"u{rnd}x{n}x{i}"})
            statuses.append(r.status)

    def round_of_load(rnd):
        threads = [threading.Thread(target=worker, args=(n, rnd)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)

    output = lambda: reps[0].output() + reps[1].output()  # noqa: E731
    round_of_load(0)  # opens the replicas' links, each named as it opens
    # A link named meanwhile (by its own open or the maintenance thread) puts the names back
    # on one server connection; a few rounds, each after forgetting, find one without them.
    for rnd in range(1, 6):
        forget_prepared_statements(db)
        round_of_load(rnd)
        for rep in reps:  # every line of the answers before it is in the log by then
            rep.log_barrier()
        if "prepared statement" in output():
            break
    else:
        raise AssertionError((statuses, output()[-2000:]))
    assert 500 in statuses, statuses
