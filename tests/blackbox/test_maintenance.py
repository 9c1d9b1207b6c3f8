"""Maintenance and shutdown never hold up what a replica owes its operator: a retention
DELETE that waits on a lock leaves /health and /ready at 200, SIGTERM ends within
SHUTDOWN_TIMEOUT_SECONDS whatever mail is still queued, and a second signal ends it at once."""

import signal
import threading
import time

import psycopg2

import harness
from harness import db_exec, db_query
from auth_helpers import Api, sendgrid, sendgrid_ca, start  # noqa: F401  (pytest fixtures)
from pg_relay import PgRelay


def waiting_on_a_lock(db, app="droplin-maintenance"):
    """The backends of droplin's `app` connections that wait for a lock, with what they run."""
    with psycopg2.connect(db) as conn, conn.cursor() as cur:
        cur.execute("SELECT query FROM pg_stat_activity WHERE application_name = %s"
                    " AND wait_event_type = 'Lock'", (app,))
        return [r[0] for r in cur.fetchall()]


def lock_verification_codes(db):
    """A connection that holds verification_codes' lock until it rolls back."""
    locker = psycopg2.connect(db)
    locker.cursor().execute("LOCK TABLE verification_codes IN ACCESS EXCLUSIVE MODE")
    return locker


def schema_and_indexes(droplin, db):
    """A database with droplin's schema and every index built, and no droplin left on it."""
    first = start(droplin, db=db)
    first.wait_log(lambda l: "index api_call_logs_timestamp built" in str(l.get("message")),
                   timeout=harness.scaled(20), what="the last index built")
    first.kill()


def test_retention_blocked_by_a_lock_keeps_health_and_ready_at_200(droplin, fresh_db):
    schema_and_indexes(droplin, fresh_db)
    locker = lock_verification_codes(fresh_db)
    try:
        d = start(droplin, db=fresh_db, RETENTION_INTERVAL_SECONDS="1")
        # the first pruning starts one interval after start-up and waits on the lock
        blocked = harness.wait_until(lambda: waiting_on_a_lock(fresh_db), harness.scaled(15),
                                     what="droplin's retention DELETE waiting on the lock")
        assert any("DELETE FROM verification_codes" in q for q in blocked), blocked
        # /health is 503 once no query succeeded for HEALTH_STALE_MS (0.5 s here): watch both
        # probes for six times that while the DELETE waits, and nothing else uses the database
        answers = []
        until = time.monotonic() + 3.0
        while time.monotonic() < until:
            answers += [(p, d.get(p).status) for p in ("/health", "/ready")]
            time.sleep(0.1)
        assert waiting_on_a_lock(fresh_db), "the DELETE stopped waiting: the test proves nothing"
        bad = [a for a in answers if a[1] != 200]
        assert not bad, f"{len(bad)} of {len(answers)} probe answers not 200: {bad[:6]}"
    finally:
        locker.rollback()
        locker.close()
    # once the lock is gone the pruning finishes, and nothing waits any more
    harness.wait_until(lambda: not waiting_on_a_lock(fresh_db), harness.scaled(10),
                       what="the DELETE finished after the lock was released")
    assert d.get("/ready").status == 200


def maintenance_at_work(db):
    """Backends still running retention's DELETE, and the advisory locks of retention
    (1684172659) anyone holds: what a shutdown must not leave behind. (By what they run, not by
    application_name: behind a bouncer, the test's own connections may get a server connection
    that still carries droplin's name.)"""
    with psycopg2.connect(db) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE state <> 'idle'"
                    " AND query LIKE 'DELETE FROM verification_codes%'")
        active = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND classid = 0 AND objid = 1684172659")
        return active, cur.fetchone()[0]


def test_sigterm_while_maintenance_waits_on_a_lock_exits_0_promptly(droplin, fresh_db):
    """A maintenance statement may wait for minutes: shutdown ends it, in PostgreSQL too (a
    cancel), and still exits cleanly. Nothing of it is left running: no backend still waiting
    with its DELETE, no retention lock held, and the expired row it would have deleted is still
    there once the lock goes (the DELETE did not commit after droplin had gone)."""
    schema_and_indexes(droplin, fresh_db)
    db_exec(fresh_db, "INSERT INTO verification_codes (email, code, code_type, expires_at)"
                      " VALUES ('gone@example.com', '111111', 'verify', '2000-01-01T00:00:00')")
    locker = lock_verification_codes(fresh_db)
    try:
        d = start(droplin, db=fresh_db, RETENTION_INTERVAL_SECONDS="1", DRAIN_SECONDS="0",
                  SHUTDOWN_TIMEOUT_SECONDS="60")
        harness.wait_until(lambda: waiting_on_a_lock(fresh_db), harness.scaled(15),
                           what="droplin's retention DELETE waiting on the lock")
        t0 = time.monotonic()
        d.signal(signal.SIGTERM)
        d.wait_exit(timeout=90)  # exit 0; the old shutdown waited out its 60 s and exited 1
        took = time.monotonic() - t0
        assert took < harness.scaled(10), f"exit after {took:.1f}s"
        # a backend ends its statement when the cancel arrives; the bound is for a busy machine
        harness.wait_until(lambda: maintenance_at_work(fresh_db) == (0, 0), harness.scaled(10),
                           what="no maintenance statement or retention lock left in PostgreSQL")
        assert not [l for l in d.logs() if l.get("level") == "error"], d.describe()
    finally:
        locker.rollback()
        locker.close()
    assert db_query(fresh_db, "SELECT code FROM verification_codes") == [("111111",)]


def test_sigterm_with_stalled_mail_exits_within_the_shutdown_timeout(droplin, sendgrid):
    sendgrid.mode = "stall"  # every send waits for the outbound timeout: 60 s here
    d = start(droplin, DRAIN_SECONDS="0", SHUTDOWN_TIMEOUT_SECONDS="1",
              **sendgrid.env(timeout_ms=60000))
    emails = [f"queued{i}@example.com" for i in range(3)]
    for e in emails:
        r = d.request("POST", "/auth/send-verification-code",
                      headers={"Content-Type": "application/json"},
                      body=('{"email": "%s"}' % e).encode())
        assert r.status == 200, r
    sendgrid.wait_requests(1)  # the first is on the wire, the other two wait behind it
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    rc = d.wait_exit(timeout=30, expect=1)  # mail dropped
    took = time.monotonic() - t0
    # 1 s, plus room for a busy machine; the old shutdown waited 3 x 60 s for the mail
    assert took < 1 + harness.scaled(5), f"exit after {took:.1f}s with SHUTDOWN_TIMEOUT_SECONDS=1"
    assert rc == 1, f"a shutdown that dropped mail exits 1, not {rc}\n" + d.describe()
    dropped = [l["message"] for l in d.logs() if "dropped at shutdown" in str(l.get("message"))]
    # the two queued, and the one on the wire: one line each
    assert sorted(e for e in emails if any(e in m for m in dropped)) == emails, d.describe()
    assert len(dropped) == 3 and sum("while being sent" in m for m in dropped) == 1, dropped
    assert sendgrid.mails == []


def test_second_signal_exits_at_once(droplin):
    d = start(droplin, DRAIN_SECONDS="60", SHUTDOWN_TIMEOUT_SECONDS="120")
    d.signal(signal.SIGTERM)
    d.wait_log(lambda l: "draining" in str(l.get("message", "")), timeout=harness.scaled(5),
               what="the draining log line")
    assert d.get("/ready").status == 503
    t0 = time.monotonic()
    d.signal(signal.SIGINT)
    rc = d.wait_exit(timeout=30, expect=1)  # cut short
    took = time.monotonic() - t0
    assert took < harness.scaled(5), f"the second signal took {took:.1f}s (drain was 60 s)"
    assert rc == 1, d.describe()
    assert any("again" in str(l.get("message", "")) for l in d.logs()), d.describe()


def test_a_drain_with_nothing_left_exits_0_and_promptly(droplin, sendgrid):
    """The bound is not a wait: with the mail sent, a drain ends as soon as it is done."""
    d = start(droplin, DRAIN_SECONDS="0", SHUTDOWN_TIMEOUT_SECONDS="60", **sendgrid.env())
    r = d.request("POST", "/auth/send-verification-code",
                  headers={"Content-Type": "application/json"}, body=b'{"email": "a@example.com"}')
    assert r.status == 200, r
    sendgrid.wait_mails(1, to="a@example.com")
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    rc = d.wait_exit(timeout=30)
    assert rc == 0, d.describe()
    assert time.monotonic() - t0 < harness.scaled(10)


def test_a_second_signal_after_the_drain_exits_at_once(droplin, sendgrid):
    """The drain is over and shutdown waits for a stalled mail: a second signal still ends it."""
    sendgrid.mode = "stall"
    d = start(droplin, DRAIN_SECONDS="0", SHUTDOWN_TIMEOUT_SECONDS="60",
              **sendgrid.env(timeout_ms=60000))
    r = d.request("POST", "/auth/send-verification-code",
                  headers={"Content-Type": "application/json"}, body=b'{"email": "s@example.com"}')
    assert r.status == 200, r
    sendgrid.wait_requests(1)
    d.signal(signal.SIGTERM)
    d.wait_log(lambda l: "connections drained" in str(l.get("message", "")),
               timeout=harness.scaled(10), what="the drained line")
    t0 = time.monotonic()
    d.signal(signal.SIGINT)
    rc = d.wait_exit(timeout=30, expect=1)
    took = time.monotonic() - t0
    assert took < harness.scaled(5), f"the second signal took {took:.1f}s (shutdown timeout 60 s)"
    assert rc == 1, d.describe()



def test_sigterm_while_maintenance_names_a_link_of_an_unreachable_database_exits_0(droplin, pg,
                                                                                   fresh_db):
    """The maintenance thread names idle pool links (prepares their statements) on a later pass
    when a lock kept that from happening at open. With the database unreachable such a try waits
    DB_QUERY_TIMEOUT_MS for an answer, and so does the probe: shutdown sends the cancel, and
    when that cannot arrive either, cuts both waits (after PG_CANCEL_GRACE_MS, 2 s) and
    exits 0, instead of waiting out the query timeout and exiting 1."""
    schema_and_indexes(droplin, fresh_db)
    locker = psycopg2.connect(fresh_db)  # naming needs every table: this keeps the links unnamed
    locker.cursor().execute("LOCK TABLE pinned_contacts IN ACCESS EXCLUSIVE MODE")
    relay = PgRelay(pg.port)
    try:
        d = start(droplin, db=relay.url(fresh_db.rsplit("/", 1)[1]), DB_QUERY_TIMEOUT_MS="60000",
                  DB_PREPARED_STATEMENTS="1",  # PostgreSQL itself, also in the PgBouncer pass
                  DRAIN_SECONDS="0", SHUTDOWN_TIMEOUT_SECONDS="10")
        r = Api(d).post("/auth/check-username", {"username": "naming"})  # a link, unnamed
        assert r.status == 200, r
        relay.dark_after(b"DEALLOCATE ALL")  # the next naming try goes out, its answer never back
        harness.wait_until(relay.dead.is_set, harness.scaled(15),
                           what="the maintenance thread trying to name the link again")
        t0 = time.monotonic()
        d.signal(signal.SIGTERM)
        d.wait_exit(timeout=90)  # 0: the old shutdown waited on the naming past its 10 s: exit 1
        took = time.monotonic() - t0
        assert took < harness.scaled(9), f"exit after {took:.1f} s"  # 2 s, and room
    finally:
        relay.stop()
        locker.rollback()
        locker.close()
