"""Pooled connections that went stale: after PostgreSQL restarts, a replica whose pool was
full answers every read once the database is back (a connection the server closed is never
lent out), and a connection to a server that turned read-only is dropped, not kept."""

import concurrent.futures

import psycopg2

import harness
from auth_helpers import indexes_built, metric, start
from userdata_helpers import UserApi, signup

# The probe must not be the one that finds the stale connections: it runs rarely here.
QUIET_PROBE = {"DB_POOL_SIZE": "4", "DB_PROBE_INTERVAL_MS": "60000", "HEALTH_STALE_MS": "120000"}
READS = ("/user/profile", "/devices", "/user/settings", "/user/privacy-zones", "/user/pinned")


def terminate_droplins_links(url):
    """Ends every backend droplin has now, and waits until they are gone."""
    mine = "SELECT pid FROM pg_stat_activity WHERE application_name = 'droplin'"
    old = {pid for (pid,) in harness.db_query(url, mine)}
    for pid in old:
        harness.db_query(url, "SELECT pg_terminate_backend(%s)", (pid,))
    harness.wait_until(lambda: not old & {pid for (pid,) in harness.db_query(url, mine)},
                       harness.scaled(10), what="droplin's old connections gone")


def fill_pool(d, user):
    """Parallel reads until all DB_POOL_SIZE connections are open and idle."""
    def read(path):
        return user.get(path).status
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        for _ in range(20):
            assert set(ex.map(read, READS * 4)) == {200}
            if metric(d, "droplin_db_pool_idle") == 4:
                return
    raise AssertionError(f"pool never full: {metric(d, 'droplin_db_pool_idle')} idle")


def test_no_read_fails_once_a_restarted_database_is_back(droplin, private_pg):
    d = start(droplin, db=private_pg.create_database(), **QUIET_PROBE)
    user = signup(UserApi(d))
    fill_pool(d, user)
    private_pg.stop("fast")  # every pooled connection is now closed by the server
    private_pg.restart_same_port()
    # the database is back: each read, on the loop and on workers, answers 200
    got = [(p, user.get(p).status) for _ in range(4) for p in READS]
    assert [g for g in got if g[1] != 200] == [], got
    # and the writes too, with the stale links gone
    assert user.call("POST", "/devices", {"name": "after", "rssi": -40, "distance": 2.0}).status == 200


def test_a_primary_turned_read_only_loses_its_connections(droplin, private_pg):
    """The database turns read-only (what a former primary does after a failover) while the
    pool is full of connections to it: a write on each gets 503 and the connection is closed,
    so once the database takes writes again, at most one 503 per such connection is seen."""
    # straight to PostgreSQL in the PgBouncer pass too: behind a pooler the server links are
    # the pooler's, and what droplin does with its own links changes nothing there
    dbname = private_pg.create_database().rsplit("/", 1)[1]
    url = f"postgresql://droplin:droplin@127.0.0.1:{private_pg.port}/{dbname}"
    d = start(droplin, db=url, **QUIET_PROBE)
    user = signup(UserApi(d))
    harness.db_exec(url, f"ALTER DATABASE {dbname} SET default_transaction_read_only = on")
    terminate_droplins_links(url)  # the ones opened before the change
    fill_pool(d, user)  # four read-only connections: reads are fine on them
    write = {"name": "w", "rssi": -40, "distance": 2.0}
    assert user.call("POST", "/devices", write).status == 503
    harness.db_exec(url, "SET TRANSACTION READ WRITE;"
                    f" ALTER DATABASE {dbname} SET default_transaction_read_only = off")
    got = [user.call("POST", "/devices", write).status for _ in range(8)]
    # each of the (at most three) read-only connections left costs one 503, then none
    assert got.count(503) <= 3 and got[-4:] == [200] * 4 and set(got) <= {200, 503}, got


def test_a_lock_on_another_table_delays_no_request_on_a_new_connection(droplin, private_pg):
    """Preparing droplin's statements on a new connection needs every table; a session that
    holds a lock on one (a VACUUM FULL, a waiting ALTER TABLE) must not make requests that do
    not touch it wait: they are served unnamed meanwhile."""
    dbname = private_pg.create_database().rsplit("/", 1)[1]
    url = f"postgresql://droplin:droplin@127.0.0.1:{private_pg.port}/{dbname}"
    d = start(droplin, db=url, DB_QUERY_TIMEOUT_MS="10000")
    user = signup(UserApi(d))
    terminate_droplins_links(url)  # every link droplin lends from now on is a new one
    indexes_built(d)
    locker = psycopg2.connect(url)
    try:
        locker.cursor().execute("LOCK TABLE api_call_logs IN ACCESS EXCLUSIVE MODE")
        for path in READS:
            r = user.get(path, timeout=30)
            assert r.status == 200, (path, r)  # before: 503 after twice DB_QUERY_TIMEOUT_MS
    finally:
        locker.rollback()
        locker.close()
