"""Failover (issue 10): DATABASE_URL names two hosts with target_session_attrs=read-write.
A primary and a streaming standby made with pg_basebackup; under a steady load of writes
(registrations) and reads the primary is stopped and the standby promoted. Requests in flight
when the primary goes fail with 503 (never a 500, never a hang), and once the standby accepts
writes new requests succeed on it, from the same droplin process (no restart).
"""

import os
import shutil
import subprocess
import threading
import time
import uuid

import pytest

import harness
from auth_helpers import FAST_ENV, Api

PGBIN = "/usr/lib/postgresql/15/bin"


def as_postgres(argv):
    return (["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []) + argv


@pytest.fixture
def primary_and_standby():
    primary = harness.PgCluster().start()
    standby = harness.PgCluster()
    try:
        # replication over the primary's unix socket (trusted, as local connections are)
        with open(os.path.join(primary.dir, "data", "pg_hba.conf"), "a") as f:
            f.write("local replication all trust\n")
        conn = primary.connect()
        with conn.cursor() as cur:
            cur.execute("SELECT pg_reload_conf()")
        conn.close()
        db = primary.create_database()
        data = os.path.join(standby.dir, "data")
        if os.getuid() == 0:
            shutil.chown(standby.dir, "postgres")
        subprocess.run(as_postgres([f"{PGBIN}/pg_basebackup", "-h", primary.dir, "-p",
                                    str(primary.port), "-U", "droplin", "-D", data, "-R",
                                    "-X", "stream", "-c", "fast"]),
                       check=True, capture_output=True, timeout=120)
        standby.start()
        harness.wait_until(lambda: in_recovery(standby), 10, what="standby in recovery")
        yield primary, standby, db.rsplit("/", 1)[1]
    finally:
        standby.destroy()
        primary.destroy()


def in_recovery(cluster):
    conn = cluster.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_is_in_recovery()")
            return cur.fetchone()[0]
    finally:
        conn.close()


def promote(cluster):
    subprocess.run(as_postgres([f"{PGBIN}/pg_ctl", "-D", os.path.join(cluster.dir, "data"),
                                "-w", "-t", "30", "promote"]),
                   check=True, capture_output=True, timeout=60)


def test_failover_to_the_promoted_standby_without_restarting(droplin, primary_and_standby):
    primary, standby, dbname = primary_and_standby
    url = (f"postgresql://droplin:droplin@127.0.0.1:{primary.port},127.0.0.1:{standby.port}/"
           f"{dbname}?target_session_attrs=read-write")
    env = dict(FAST_ENV)
    env.update({"DB_POOL_SIZE": "4", "DB_QUERY_TIMEOUT_MS": "2000"})
    d = droplin(env=env, db=url)
    d.wait_ready()
    pid = d.proc.pid
    api = Api(d)
    assert api.register("before")["user_id"] > 0

    results, stop = [], threading.Event()
    lock = threading.Lock()

    def load(n):
        while not stop.is_set():
            name = f"f{n}{uuid.uuid4().hex[:10]}"
            t0 = time.monotonic()
            try:
                r = api.post("/auth/register", {"username": name, "password": "Sunny-Day7!"},
                             timeout=15)
                status, body = r.status, r.json() if r.status != 200 else None
            except (OSError, harness.ProtocolError) as e:
                status, body = "error", repr(e)
            with lock:
                results.append((time.monotonic(), status, body, name, time.monotonic() - t0))
            time.sleep(0.01)

    threads = [threading.Thread(target=load, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        t_stop = time.monotonic()
        primary.stop("immediate")  # the primary disappears under load
        time.sleep(1.0)            # requests meanwhile: 503
        promote(standby)
        t_promoted = time.monotonic()
        # new requests succeed on the promoted standby, same process
        harness.wait_until(lambda: any(s == 200 and at > t_promoted for at, s, *_ in results),
                           20, what="a successful registration after the promotion")
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join(30)

    statuses = [s for _, s, *_ in results]
    during = [(s, b) for at, s, b, *_ in results if t_stop <= at <= t_promoted]
    summary = (f"{len(results)} requests; statuses {sorted(set(map(str, statuses)))}; "
               f"{statuses.count(503)} x 503; during the outage {len(during)}")
    print(summary)
    assert set(statuses) <= {200, 503}, summary + f" {[r for r in results if r[1] not in (200, 503)][:3]}"
    for at, s, b, _, took in results:
        if s == 503:
            assert b == {"detail": "Database unavailable"}, b
        assert took < harness.scaled(10), f"a request took {took:.1f}s"
    assert statuses.count(503) >= 1, summary  # the outage was seen
    assert d.proc.poll() is None and d.proc.pid == pid, d.describe()
    d.wait_ready(timeout=10)
    # every acknowledged registration after the promotion is on the new primary
    after = [name for at, s, _, name, _ in results if s == 200 and at > t_promoted]
    assert after
    rows = harness.db_query(standby.url(dbname),
                            "SELECT count(*) FROM users WHERE username = ANY(%s)", (after,))
    assert rows == [(len(after),)]
    assert not in_recovery(standby)
