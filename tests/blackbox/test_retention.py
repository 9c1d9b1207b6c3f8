"""DECISIONS P, retention: one replica prunes expired codes, stale windows and old log rows."""

import psycopg2

import harness
from auth_helpers import start


def rows(db, sql):
    with psycopg2.connect(db) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def seed(db):
    with psycopg2.connect(db) as conn, conn.cursor() as cur:
        old, fresh = "now() AT TIME ZONE 'UTC' - interval '400 days'", "now() AT TIME ZONE 'UTC'"
        cur.execute(f"INSERT INTO audit_logs (action, details, timestamp) VALUES"
                    f" ('old', '{{}}', {old}), ('new', '{{}}', {fresh})")
        cur.execute(f"INSERT INTO api_call_logs (endpoint, timestamp) VALUES"
                    f" ('/old', {old}), ('/new', {fresh})")
        cur.execute("INSERT INTO verification_codes (email, code, code_type, expires_at) VALUES"
                    " ('a@b.co', '111111', 'registration', '2000-01-01T00:00:00.000000'),"
                    " ('c@d.co', '222222', 'registration', '2999-01-01T00:00:00.000000')")
        cur.execute("INSERT INTO rate_limits (key, window_start, count) VALUES"
                    " ('login:x', 0, 3), ('login:y', extract(epoch FROM now())::bigint, 1)")


def test_old_rows_are_pruned_and_fresh_ones_kept(droplin, fresh_db):
    first = start(droplin, db=fresh_db)  # creates the schema; its own first pruning is an hour away
    seed(fresh_db)
    first.kill()
    start(droplin, db=fresh_db, RETENTION_INTERVAL_SECONDS="1")
    harness.wait_until(lambda: rows(fresh_db, "SELECT count(*) FROM audit_logs WHERE action = 'old'")[0][0] == 0,
                       10, what="old audit rows pruned")
    harness.wait_until(lambda: rows(fresh_db, "SELECT count(*) FROM rate_limits")[0][0] == 1, 10,
                       what="stale rate-limit windows pruned")
    assert [r[0] for r in rows(fresh_db, "SELECT action FROM audit_logs")] == ["new"]
    assert [r[0] for r in rows(fresh_db, "SELECT endpoint FROM api_call_logs")] == ["/new"]
    assert [r[0] for r in rows(fresh_db, "SELECT code FROM verification_codes")] == ["222222"]
    assert [r[0] for r in rows(fresh_db, "SELECT key FROM rate_limits")] == ["login:y"]


def test_nothing_is_pruned_at_start_up(droplin, fresh_db):
    first = start(droplin, db=fresh_db)
    seed(fresh_db)
    first.kill()
    d = start(droplin, db=fresh_db)  # default interval: the first pruning is an hour away
    d.get("/livez")
    assert rows(fresh_db, "SELECT count(*) FROM audit_logs WHERE action = 'old'")[0][0] == 1


def test_retention_periods_are_the_settings(droplin, fresh_db):
    """AUDIT_RETENTION_DAYS and API_CALL_LOG_RETENTION_DAYS at other values than their
    defaults (365 and 30): rows older than the setting go, younger ones stay, also those the
    defaults would have pruned or kept."""
    first = start(droplin, db=fresh_db)
    first.kill()

    def ago(days):
        return f"now() AT TIME ZONE 'UTC' - interval '{days} days'"
    with psycopg2.connect(fresh_db) as conn, conn.cursor() as cur:
        cur.execute(f"INSERT INTO audit_logs (action, details, timestamp) VALUES"
                    f" ('20 days', '{{}}', {ago(20)}), ('5 days', '{{}}', {ago(5)})")
        cur.execute(f"INSERT INTO api_call_logs (endpoint, timestamp) VALUES"
                    f" ('/5 days', {ago(5)}), ('/1 day', {ago(1)})")
    start(droplin, db=fresh_db, RETENTION_INTERVAL_SECONDS="1", AUDIT_RETENTION_DAYS="10",
          API_CALL_LOG_RETENTION_DAYS="3")
    # a retention run has pruned both tables (one run deletes from each): what stays is read
    # after it
    harness.wait_until(lambda: rows(fresh_db, "SELECT count(*) FROM audit_logs "
                                              "WHERE action = '20 days'")[0][0] == 0,
                       10, what="audit rows older than AUDIT_RETENTION_DAYS=10 pruned")
    harness.wait_until(lambda: rows(fresh_db, "SELECT count(*) FROM api_call_logs "
                                              "WHERE endpoint = '/5 days'")[0][0] == 0,
                       10, what="api_call_logs rows older than API_CALL_LOG_RETENTION_DAYS=3 pruned")
    assert [r[0] for r in rows(fresh_db, "SELECT action FROM audit_logs "
                                         "WHERE action LIKE '%days'")] == ["5 days"]
    assert [r[0] for r in rows(fresh_db, "SELECT endpoint FROM api_call_logs "
                                         "WHERE endpoint LIKE '/%day%'")] == ["/1 day"]


def test_a_row_that_cannot_be_judged_stops_only_its_own_tables_pruning(droplin, fresh_db):
    """A code whose expiry has the shape of a date but is none (February 30th: the cast fails)
    makes that DELETE fail on every pass; the other tables are pruned all the same, and the
    failure is logged (before, the pass stopped there and, in one transaction, lost the rest)."""
    first = start(droplin, db=fresh_db)
    seed(fresh_db)
    with psycopg2.connect(fresh_db) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO verification_codes (email, code, code_type, expires_at) VALUES"
                    " ('e@f.co', '333333', 'registration', '2024-02-30 00:00:00')")
    first.kill()
    d = start(droplin, db=fresh_db, RETENTION_INTERVAL_SECONDS="1")
    harness.wait_until(lambda: rows(fresh_db, "SELECT count(*) FROM rate_limits")[0][0] == 1, 10,
                       what="stale rate-limit windows pruned after the failing DELETE")
    assert [r[0] for r in rows(fresh_db, "SELECT action FROM audit_logs")] == ["new"]
    assert [r[0] for r in rows(fresh_db, "SELECT endpoint FROM api_call_logs")] == ["/new"]
    assert sorted(r[0] for r in rows(fresh_db, "SELECT code FROM verification_codes")) == \
        ["111111", "222222", "333333"]  # its DELETE failed as a whole
    assert any(l.get("level") == "error" and "retention" in str(l.get("message"))
               for l in d.logs()), d.describe()
