#!/usr/bin/python3
"""Time GET /admin/audit-logs?action=login_failed&limit=100 on one million audit rows.

    /usr/bin/python3 tests/measure_audit_logs.py [ROWS] [REQUESTS]

A throwaway cluster (tests/pg.sh) and database: droplin creates the schema, is stopped, the
audit indexes are dropped and ROWS rows (default 1,000,000; a realistic mix of actions, users,
addresses and JSON details over a year) are inserted with generate_series; droplin is started
again and builds its indexes CONCURRENTLY in the background, and the script waits until
pg_index.indisvalid for audit_logs_action_id. Then REQUESTS (default 21) requests each of the
filtered listing, the unfiltered listing, a user_id filter and /health, on one keep-alive-free
connection each, and prints the median and the spread. Everything is removed at the end.
Prints numbers; asserts nothing.
"""

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

ADMIN = "measure-admin-secret-0123456789abcdef"
ENV = {"JWT_SECRET_KEY": "m" * 48, "ADMIN_SECRET": ADMIN, "DB_ACQUIRE_TIMEOUT_MS": "10000"}
INSERT = """
INSERT INTO audit_logs (user_id, action, details, ip_address, user_agent, timestamp)
SELECT CASE WHEN a.action = 'login_failed' AND g % 3 = 0 THEN NULL ELSE 1 + (g * 7919) % 50000 END,
       a.action,
       '{"username": "user' || ((g * 7919) % 50000) || '", "reason": "' || a.action || '"}',
       '10.' || (g % 256) || '.' || ((g / 256) % 256) || '.' || ((g * 31) % 250 + 1),
       'DropLink/1.0 (iOS ' || (14 + g % 4) || ')',
       (now() AT TIME ZONE 'UTC') - make_interval(secs => ({N} - g) * 31.536)
  FROM generate_series(1::bigint, {N}) g
  CROSS JOIN LATERAL (SELECT CASE
       WHEN g % 100 < 45 THEN 'login_success'
       WHEN g % 100 < 60 THEN 'login_failed'
       WHEN g % 100 < 75 THEN 'profile_update'
       WHEN g % 100 < 83 THEN 'user_registration'
       WHEN g % 100 < 88 THEN 'privacy_zone_created'
       WHEN g % 100 < 92 THEN 'privacy_zone_deleted'
       WHEN g % 100 < 95 THEN 'registration_failed'
       WHEN g % 100 < 97 THEN 'account_locked'
       WHEN g % 100 < 99 THEN 'account_deletion'
       ELSE 'admin_stats' END AS action) a
"""
INDEXES = ["audit_logs_action_id", "audit_logs_user_id_id", "audit_logs_ip_id",
           "audit_logs_timestamp"]


def timed(d, path, headers=None, n=21):
    times, status = [], None
    for _ in range(n):
        t0 = time.perf_counter()
        r = d.get(path, headers=headers, timeout=60)
        times.append(time.perf_counter() - t0)
        status = r.status
        assert r.status == 200, r
    return statistics.median(times), min(times), max(times), status, r


def main():
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 21
    cluster = harness.PgCluster()
    factory = None
    try:
        cluster.start()
        db = cluster.create_database()
        factory = harness.DroplinFactory(cluster.create_database)
        d = factory(env=ENV, db=db)
        d.wait_ready()
        d.kill()
        for name in INDEXES:
            harness.db_exec(db, f"DROP INDEX IF EXISTS {name}")
        t0 = time.monotonic()
        harness.db_exec(db, INSERT.replace("{N}", str(rows)))
        print(f"inserted {rows} rows in {time.monotonic() - t0:.1f} s")
        t0 = time.monotonic()
        d = factory(env=ENV, db=db)
        d.wait_ready(timeout=60)
        harness.wait_until(lambda: harness.db_query(
            db, "SELECT i.indisvalid FROM pg_index i "
            "WHERE i.indexrelid = to_regclass('audit_logs_action_id')") == [(True,)],
            600, interval=0.2, what="audit_logs_action_id valid")
        print(f"droplin built audit_logs_action_id in {time.monotonic() - t0:.1f} s "
              "(after start-up, CONCURRENTLY)")
        count = harness.db_query(db, "SELECT count(*) FROM audit_logs "
                                 "WHERE action = 'login_failed'")[0][0]
        print(f"rows with action=login_failed: {count}")
        hdr = {"secret": ADMIN}
        cases = [("GET /admin/audit-logs?action=login_failed&limit=100",
                  "/admin/audit-logs?action=login_failed&limit=100", hdr),
                 ("GET /admin/audit-logs?limit=100 (no filter)", "/admin/audit-logs?limit=100", hdr),
                 ("GET /admin/audit-logs?user_id=4242&limit=100",
                  "/admin/audit-logs?user_id=4242&limit=100", hdr),
                 ("GET /admin/audit-logs?action=login_failed&limit=100&offset=100000",
                  "/admin/audit-logs?action=login_failed&limit=100&offset=100000", hdr),
                 ("GET /health", "/health", None)]
        timed(d, cases[0][1], hdr, 3)  # warm the pool and the cache
        for label, path, headers in cases:
            med, lo, hi, status, r = timed(d, path, headers, n)
            extra = ""
            if path.startswith("/admin"):
                body = r.json()
                extra = f", total_count {body['total_count']}, {len(body['logs'])} rows"
            print(f"{label}: median {med * 1000:.1f} ms (min {lo * 1000:.1f}, "
                  f"max {hi * 1000:.1f}, n={n}, status {status}{extra})")
    finally:
        if factory:
            factory.cleanup()
        cluster.destroy()


if __name__ == "__main__":
    main()
