"""Issue 19, "See the fleet": every replica writes a heartbeat row to PostgreSQL every
HEARTBEAT_SECONDS; GET /admin/replicas on any replica lists the live fleet, its fleet frame
shows it, and `scripts/check-replicas --fleet` prints it.

Three replicas on one database: all three listed by each within two heartbeat intervals; one
SIGKILLed is gone after three of its intervals, judged by the database's clock (the answer's
`time` against its last row), never before; one draining shows as draining in the JSON and the
frame; the counters are /metrics' own counts, and the rate and percentiles are those of two
heartbeat rows. The heartbeat runs on its own thread and connection: a retention DELETE that
waits on a lock does not silence it, an INSERT that waits on a lock holds up neither /health,
/ready nor shutdown. The dashboard in a browser: test_fleet_browser.py.
"""

import base64
import glob
import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import psycopg2
import pytest

import harness
from auth_helpers import ADMIN_SECRET, audit_rows, start
from pg_relay import PgRelay

SCRIPT = harness.REPO + "/scripts/check-replicas"
NAMES = ["fleet-a", "fleet-b", "fleet-c"]
HOSTILE = '<img src=x onerror=alert(1)>"&'


def fleet(droplin, db, beat, extra=None, **env):
    """Three replicas named NAMES on one database with HEARTBEAT_SECONDS=beat; extra[i]: more
    environment for replica i. Ready, in order."""
    reps = []
    for i, name in enumerate(NAMES):
        full = dict(env, HEARTBEAT_SECONDS=str(beat), RAILWAY_REPLICA_ID=name,
                    RAILWAY_REPLICA_REGION="eu-west")
        full.update((extra or {}).get(i, {}))
        reps.append(start(droplin, db=db, **full))
    return reps


def replicas(d):
    r = d.get("/admin/replicas", headers={"secret": ADMIN_SECRET})
    assert r.status == 200, r
    body = r.json()
    # the totals are over what is listed
    assert body["totals"]["replicas"] == len(body["replicas"]), body
    return body


def listed(d):
    return {x["replica"]: x for x in replicas(d)["replicas"]}


def all_ready(d, names=NAMES):
    """Waits until d lists exactly `names`, every one ready; returns the listing."""
    def check():
        shown = listed(d)
        return shown if set(shown) == set(names) and all(x["ready"] for x in shown.values()) \
            else None
    return harness.wait_until(check, 30, interval=0.2, what=f"{names} listed and ready")


def rows(db, name):
    """Every heartbeat row of replica `name`, oldest first, with its times as epoch seconds."""
    return harness.db_query(db, "SELECT extract(epoch FROM at)::float8, extract(epoch FROM "
                                "started_at)::float8, requests, errors, buckets, in_flight, "
                                "pool_in_use, pool_size, ready, draining FROM replica_heartbeats "
                                "WHERE replica = %s ORDER BY at", (name,))


def db_now(db):
    return harness.db_query(db, "SELECT extract(epoch FROM now())::float8")[0][0]


def epoch(iso):
    return harness.parse_iso_utc(iso).timestamp()


def version():
    out = harness.run_cli(["--version"]).stdout
    return out.split("\n", 1)[0].split(" ", 1)[1]


BOUNDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]


def quantile_ms(counts, q):
    """Prometheus' histogram_quantile() over /metrics' buckets (the last slot: above them)."""
    total = sum(counts)
    if total == 0:
        return None
    seen = 0
    for i, bound in enumerate(BOUNDS):
        if counts[i] > 0 and seen + counts[i] >= q * total:
            lo = BOUNDS[i - 1] if i else 0
            return 1000 * (lo + (bound - lo) * (q * total - seen) / counts[i])
        seen += counts[i]
    return 1000 * BOUNDS[-1]


def metrics_totals(d):
    """From /metrics: every request, the 5xx outside the probes, and the histogram's slots
    summed over the routes (not cumulative; the last slot above the largest bound)."""
    text = d.get("/metrics").text
    requests = errors = 0
    for route, status, value in re.findall(
            r'^droplin_http_requests_total\{route="([^"]*)",[^}]*status="([^"]*)"\} (\d+)$',
            text, re.M):
        requests += int(value)
        if status.startswith("5") and route not in ("/health", "/ready", "/livez"):
            errors += int(value)
    cumulative = {}
    for labels, value in re.findall(r'^droplin_http_request_duration_seconds_bucket\{([^}]*)\} '
                                    r'(\d+)$', text, re.M):
        series, le = labels.rsplit(',le=', 1)
        cumulative.setdefault(series, {})[le.strip('"')] = int(value)
    slots = [0] * (len(BOUNDS) + 1)
    for by_le in cumulative.values():
        prev = 0
        for i, le in enumerate([f"{b:g}" for b in BOUNDS] + ["+Inf"]):
            slots[i] += by_le[le] - prev
            prev = by_le[le]
    return requests, errors, slots


# ---------------------------------------------------------------------------- the fleet


def test_each_replica_lists_all_three_within_two_heartbeats(droplin, fresh_db):
    beat = 10
    reps = fleet(droplin, fresh_db, beat)
    for d in reps:  # from the moment all three serve: two intervals at most
        harness.wait_until(lambda: set(listed(d)) == set(NAMES), 2 * beat, interval=0.2,
                           what=f"all three replicas listed by {d.env['RAILWAY_REPLICA_ID']}")
    seen = listed(reps[0])
    assert [(x["region"], x["version"], x["heartbeat_seconds"], x["pool_size"])
            for x in seen.values()] == [("eu-west", version(), 10.0, 4)] * 3, seen
    body = replicas(reps[1])
    assert (body["window_seconds"], body["gone_after_heartbeats"]) == (60, 3), body
    assert [x["replica"] for x in body["replicas"]] == NAMES, body  # ordered by name


def test_a_killed_replica_is_gone_after_three_of_its_intervals_not_before(droplin, fresh_db):
    beat = 2
    a, b, c = fleet(droplin, fresh_db, beat)
    harness.wait_until(lambda: set(listed(a)) == set(NAMES), 30, interval=0.2,
                       what="all three replicas listed")
    c.kill()
    # its last row, read after the kill: a row still on its way only makes it later, so a
    # replica dropped early fails the check below all the same
    last = rows(fresh_db, "fleet-c")[-1][0]

    def gone():
        body = replicas(a)
        shown = {x["replica"]: x for x in body["replicas"]}
        if "fleet-c" in shown:  # still listed: its last heartbeat is at most 3 intervals old
            assert shown["fleet-c"]["heartbeat_age_seconds"] <= 3 * beat, shown["fleet-c"]
            return None
        return body
    body = harness.wait_until(gone, 3 * beat + 30, interval=0.2, what="fleet-c gone")
    # gone by the database's clock: more than three of its intervals after its last row
    assert epoch(body["time"]) - last > 3 * beat, (body["time"], last)


def test_a_draining_replica_shows_as_draining(droplin, fresh_db):
    a, b, c = fleet(droplin, fresh_db, 1, extra={
        2: {"DRAIN_SECONDS": "60", "SHUTDOWN_TIMEOUT_SECONDS": "120",
            "RAILWAY_REPLICA_REGION": HOSTILE}})
    all_ready(a)
    c.signal(signal.SIGTERM)

    def draining():
        shown = listed(a)
        return shown if shown["fleet-c"]["draining"] else None
    shown = harness.wait_until(draining, 30, interval=0.2, what="fleet-c shown as draining")
    assert [(n, shown[n]["ready"], shown[n]["draining"]) for n in NAMES] == [
        ("fleet-a", True, False), ("fleet-b", True, False), ("fleet-c", False, True)], shown
    assert replicas(b)["totals"]["draining"] == 1
    # the dashboard's fleet frame: a row each, its state, every value escaped
    r = b.get("/admin/dashboard/fleet", headers={"secret": ADMIN_SECRET})
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/html"), r
    page = r.text
    cells = re.findall(r'<tr class="replica"><td>([^<]*)</td><td>([^<]*)</td><td>[^<]*</td>'
                       r'<td>[^<]*</td><td(?: class="\w+")?>([^<]*)</td>', page)
    assert cells == [("fleet-a", "eu-west", "ready"), ("fleet-b", "eu-west", "ready"),
                     ("fleet-c", "&lt;img src=x onerror=alert(1)&gt;&quot;&amp;", "draining")], page
    assert "<img" not in page and "<script" not in page
    assert 'http-equiv="refresh"' in page
    csp = r.headers["Content-Security-Policy"]
    assert "script-src" not in csp and "default-src 'none'" in csp and \
        "frame-ancestors 'self'" in csp, csp
    # framed by the dashboard in older browsers too (they read X-Frame-Options, not the CSP);
    # every other answer, the dashboard's among them, still refuses any frame
    assert r.headers.get_all("X-Frame-Options") == ["SAMEORIGIN"], r
    dash = a.get("/admin/dashboard", headers={"secret": ADMIN_SECRET})
    assert dash.status == 200 and dash.headers.get_all("X-Frame-Options") == ["DENY"], dash
    c.signal(signal.SIGTERM)  # a second signal ends the drain at once: exit 1 (cut short)
    c.wait_exit(timeout=30, expect=1)


def test_counters_are_those_of_metrics_and_rates_those_of_two_heartbeats(droplin, fresh_db):
    reps = fleet(droplin, fresh_db, 1)
    loads = [3, 17, 40]
    before = [metrics_totals(d)[0] for d in reps]  # a scrape is counted after its answer
    for d, n in zip(reps, loads):
        for _ in range(n):
            assert d.get("/livez").status == 200
        r = d.request("POST", "/auth/login", headers={"Content-Type": "application/json"},
                      body=b'{"username": "nobody", "password": "Sunny-Day7!"}')
        assert r.status == 401, r
    counted = [metrics_totals(d) for d in reps]
    # the load sent to each: the scrape before, n GETs and a login
    assert [c[0] - b for c, b in zip(counted, before)] == [1 + n + 1 for n in loads], counted
    since = db_now(fresh_db)

    def two_rows_since():
        return all(len([r for r in rows(fresh_db, n) if r[0] > since]) >= 2 for n in NAMES)
    # the second row after `since` read its counters after the first was written
    harness.wait_until(two_rows_since, 30, interval=0.2, what="two heartbeats of each after "
                       "the scrapes")
    for name, (requests, errors, slots) in zip(NAMES, counted):
        at, started, hb_requests, hb_errors, buckets = rows(fresh_db, name)[-1][:5]
        assert (hb_requests, hb_errors) == (requests + 1, errors), name  # and the scrape
        assert len(buckets) == len(BOUNDS) + 1 and sum(buckets) == hb_requests, buckets
        assert sorted(h - m for h, m in zip(buckets, slots)) == [0] * len(BOUNDS) + [1], \
            (buckets, slots)
    # what /admin/replicas says of a replica is its last row's, over the last minute: from its
    # last row at least a minute older, or from its start (zeros) while it is younger. Asked
    # of fleet-a, about the other two (whose counters the question does not change).
    body = replicas(reps[0])
    for x in body["replicas"][1:]:
        mine = rows(fresh_db, x["replica"])
        last = [r for r in mine if abs(r[0] - epoch(x["last_heartbeat"])) < 1e-6]
        assert len(last) == 1, (x, mine)
        at, started, requests, errors, buckets, in_flight, pool_in_use, pool_size = last[0][:8]
        older = [r for r in mine if r[0] <= at - 60]
        base_at, base = (older[-1][0], older[-1][4]) if older else (started, [0] * len(buckets))
        delta = [n - b for n, b in zip(buckets, base)]
        assert x["window_seconds"] == pytest.approx(at - base_at, abs=0.002), x
        assert (x["requests"], x["errors"]) == (requests, 0), x
        assert x["requests_per_second"] == pytest.approx(sum(delta) / (at - base_at), abs=0.002)
        assert x["p50_ms"] == pytest.approx(quantile_ms(delta, 0.5), abs=0.002), x
        assert x["p99_ms"] == pytest.approx(quantile_ms(delta, 0.99), abs=0.002), x
        assert (x["in_flight"], x["pool_in_use"], x["pool_size"]) == \
            (in_flight, pool_in_use, pool_size), x
    totals = body["totals"]
    assert totals["requests"] == sum(x["requests"] for x in body["replicas"]), body
    assert totals["requests_per_second"] == pytest.approx(
        sum(x["requests_per_second"] for x in body["replicas"]), abs=0.005), body


def test_heartbeat_seconds_0_writes_nothing(droplin, fresh_db):
    a = start(droplin, db=fresh_db, HEARTBEAT_SECONDS="1", RAILWAY_REPLICA_ID="beats")
    quiet = start(droplin, db=fresh_db, HEARTBEAT_SECONDS="0", RAILWAY_REPLICA_ID="quiet")
    assert quiet.get("/ready").status == 200
    since = db_now(fresh_db)
    # the barrier: two heartbeats of the other replica after the quiet one was ready
    harness.wait_until(lambda: len([r for r in rows(fresh_db, "beats") if r[0] > since]) >= 2,
                       30, interval=0.2, what="two heartbeats of the beating replica")
    assert rows(fresh_db, "quiet") == []
    assert set(listed(a)) == {"beats"}


def test_replicas_need_the_secret_and_are_audited_the_frames_reloads_are_not(droplin):
    d = start(droplin, HEARTBEAT_SECONDS="1", RAILWAY_REPLICA_ID="solo")
    r = d.get("/admin/replicas", headers={"secret": ADMIN_SECRET + "x"})
    assert (r.status, r.json()) == (403, {"detail": "Forbidden"}), r
    r = d.get("/admin/dashboard/fleet")
    assert (r.status, r.headers.get_all("WWW-Authenticate")) == (
        401, ['Basic realm="droplin admin", charset="UTF-8"']), r
    basic = "Basic " + base64.b64encode(b"ops:" + ADMIN_SECRET.encode()).decode()
    for _ in range(2):  # as the frame reloads itself
        assert d.get("/admin/dashboard/fleet", headers={"Authorization": basic}).status == 200
    replicas(d)  # its audit row is written before the answer: the barrier for the frame's
    assert [a["action"] for a in audit_rows(d) if a["action"].startswith("admin_")] == \
        ["admin_replicas"]


# ---------------------------------------------------- its own thread, connection and time


def waiting_on_a_lock(db, app):
    with psycopg2.connect(db) as conn, conn.cursor() as cur:
        cur.execute("SELECT query FROM pg_stat_activity WHERE application_name = %s"
                    " AND wait_event_type = 'Lock'", (app,))
        return [r[0] for r in cur.fetchall()]


def test_a_retention_delete_waiting_on_a_lock_does_not_silence_the_heartbeat(droplin, fresh_db):
    first = start(droplin, db=fresh_db)  # the schema, then no replica
    first.wait_log(lambda l: "index api_call_logs_timestamp built" in str(l.get("message")),
                   timeout=20, what="the last index built")
    first.kill()
    locker = psycopg2.connect(fresh_db)
    try:
        locker.cursor().execute("LOCK TABLE verification_codes IN ACCESS EXCLUSIVE MODE")
        start(droplin, db=fresh_db, RETENTION_INTERVAL_SECONDS="1", HEARTBEAT_SECONDS="1",
              RAILWAY_REPLICA_ID="held")
        blocked = harness.wait_until(lambda: waiting_on_a_lock(fresh_db, "droplin-maintenance"),
                                     15, what="the retention DELETE waiting on the lock")
        assert any("DELETE FROM verification_codes" in q for q in blocked), blocked
        since = db_now(fresh_db)
        harness.wait_until(lambda: len([r for r in rows(fresh_db, "held") if r[0] > since]) >= 2,
                           30, interval=0.2, what="two heartbeats while the DELETE waits")
        assert waiting_on_a_lock(fresh_db, "droplin-maintenance"), "the DELETE stopped waiting"
    finally:
        locker.rollback()
        locker.close()


def test_a_heartbeat_waiting_on_a_lock_holds_up_neither_probes_nor_shutdown(droplin, fresh_db):
    d = start(droplin, db=fresh_db, HEARTBEAT_SECONDS="1", DRAIN_SECONDS="0",
              SHUTDOWN_TIMEOUT_SECONDS="60", DB_QUERY_TIMEOUT_MS="60000",
              RAILWAY_REPLICA_ID="locked")
    harness.wait_until(lambda: rows(fresh_db, "locked"), 30, interval=0.2,
                       what="a first heartbeat")
    locker = psycopg2.connect(fresh_db)
    try:
        locker.cursor().execute("LOCK TABLE replica_heartbeats IN ACCESS EXCLUSIVE MODE")
        blocked = harness.wait_until(lambda: waiting_on_a_lock(fresh_db, "droplin-heartbeat"),
                                     15, what="the heartbeat INSERT waiting on the lock")
        assert any("INSERT INTO replica_heartbeats" in q for q in blocked), blocked
        # the probes answer from the probe thread's state: a request's query, then both probes
        assert [d.get(p).status for p in ("/health", "/ready")] == [200, 200]
        d.signal(signal.SIGTERM)
        d.wait_exit(timeout=30)  # exit 0: cut off, not waited for (SHUTDOWN_TIMEOUT 60 s)
    finally:
        locker.rollback()
        locker.close()


# ---------------------------------------------------------------- check-replicas --fleet


def run_script(url, *args, env=None):
    return subprocess.run(["sh", SCRIPT, "--fleet", *args, url], env=harness.make_env(env),
                          capture_output=True, text=True, timeout=120)


def test_check_replicas_fleet_prints_the_live_replicas(droplin, fresh_db):
    reps = fleet(droplin, fresh_db, 1)
    all_ready(reps[1])
    r = run_script(reps[1].url, "-e", "3", env={"ADMIN_SECRET": ADMIN_SECRET})
    lines = r.stdout.splitlines()
    assert r.returncode == 0, r.stdout + r.stderr
    assert lines[0].split() == ["REPLICA", "REGION", "VERSION", "UPTIME", "STATE", "REQ/S",
                                "P50_MS", "P99_MS", "ERRORS", "IN_FLIGHT", "POOL", "HEARTBEAT"]
    assert [l.split()[:5:4] for l in lines[1:4]] == [[n, "ready"] for n in NAMES], r.stdout
    assert [l.split()[1:3] for l in lines[1:4]] == [["eu-west", version()]] * 3, r.stdout
    assert lines[4].startswith("TOTAL  3 replicas (3 ready, 0 draining), "), r.stdout
    assert lines[5] == "PASS fleet: 3 replicas listed, 3 ready (at least 3 expected)", r.stdout


FLEET_JSON = {
    "time": "2030-01-02T03:04:05.000006Z", "window_seconds": 60, "gone_after_heartbeats": 3,
    "replicas": [
        {"replica": "r1", "region": 'eu "x", {y} [z]', "version": "1.2.3", "started_at": "s",
         "uptime_seconds": 3725.4, "last_heartbeat": "l", "heartbeat_age_seconds": 0.93,
         "heartbeat_seconds": 5.0, "ready": True, "draining": False, "in_flight": 1,
         "pool_in_use": 2, "pool_size": 4, "requests": 120, "errors": 3,
         "requests_per_second": 2.5, "p50_ms": 1.25, "p99_ms": 9.9, "window_seconds": 60.0},
        {"replica": "evil\x1b[31m\tname", "region": "", "version": "1.2.3", "started_at": "s",
         "uptime_seconds": 7.0, "last_heartbeat": "l", "heartbeat_age_seconds": 1.5,
         "heartbeat_seconds": 5.0, "ready": False, "draining": True, "in_flight": 0,
         "pool_in_use": 0, "pool_size": 4, "requests": 0, "errors": 0,
         "requests_per_second": None, "p50_ms": None, "p99_ms": None, "window_seconds": 7.0}],
    "totals": {"replicas": 2, "ready": 1, "draining": 1, "in_flight": 1, "pool_in_use": 2,
               "pool_size": 8, "requests": 120, "errors": 3, "requests_per_second": 2.5,
               "p50_ms": 1.25, "p99_ms": 9.9}}


@pytest.fixture
def fleet_front():
    """A stand-in for /admin/replicas: FLEET_JSON for the secret "s3cret", else 403."""
    calls = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            calls.append((self.path, self.headers.get("secret")))
            ok = self.headers.get("secret") == "s3cret"
            body = srv.body if ok and srv.body else \
                json.dumps(FLEET_JSON if ok else {"detail": "Forbidden"}).encode()
            self.send_response(200 if ok else 403)
            self.send_header("Content-Length", str(len(body) + srv.short))
            self.end_headers()
            self.wfile.write(body)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    srv.calls = calls
    srv.body = None  # else this, as it is
    srv.short = 0  # bytes the answer says it has and never sends (then it closes)
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


def test_check_replicas_fleet_table_and_verdict(fleet_front):
    r = run_script(fleet_front.url, "-e", "1", env={"ADMIN_SECRET": "s3cret"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert fleet_front.calls == [("/admin/replicas", "s3cret")]
    # quotes, commas and brackets in a value survive; control characters print as '?'
    assert r.stdout.splitlines() == [
        "REPLICA         REGION           VERSION  UPTIME  STATE     REQ/S  P50_MS  P99_MS  "
        "ERRORS  IN_FLIGHT  POOL  HEARTBEAT",
        "r1              eu \"x\", {y} [z]  1.2.3    1h2m    ready     2.5    1.25    9.9     "
        "3       1          2/4   0.9s ago",
        "evil?[31m?name  -                1.2.3    7s      draining  -      -       -       "
        "0       0          0/4   1.5s ago",
        "TOTAL  2 replicas (1 ready, 1 draining), 2.5 requests/s, p50 1.25 ms, p99 9.9 ms, "
        "3 errors, 1 in flight (as of 2030-01-02T03:04:05.000006Z, rates over 60 s)",
        "PASS fleet: 2 replicas listed, 1 ready (at least 1 expected)"], r.stdout
    # fewer ready than expected fails; a refused secret fails with the answer; none is a usage error
    r = run_script(fleet_front.url, env={"ADMIN_SECRET": "s3cret"})
    assert (r.returncode, r.stdout.splitlines()[-1]) == (
        1, "FAIL fleet: 2 replicas listed, 1 ready (at least 2 expected)"), r.stdout
    r = run_script(fleet_front.url, env={"ADMIN_SECRET": "wrong"})
    assert (r.returncode, r.stdout) == (
        1, 'FAIL fleet: GET /admin/replicas: 403 {"detail": "Forbidden"}\n'), r.stdout
    r = run_script(fleet_front.url)
    assert (r.returncode, r.stderr) == (2, "check-replicas: --fleet needs ADMIN_SECRET\n"), r


def test_check_replicas_fleet_bounds_what_a_front_sends(fleet_front):
    """Values as a hostile front (not droplin, which refuses such names) could send them: raw
    UTF-8 with a C1 control (the terminal's CSI, U+009B), a raw escape, and a 10,000-byte name
    (mawk stops at 8 KiB in a printf: no table at all). Each prints as '?' or cut to 200 bytes
    on a character's edge with '...', and the verdict still comes."""
    fleet = json.loads(json.dumps(FLEET_JSON))
    fleet["replicas"][0]["replica"] = "a" + "é" * 5000  # byte 200 is the first of an é
    fleet["replicas"][1]["replica"] = "csi\u009b31m\x1bname"
    # raw, as JSON forbids and json.dumps never writes: the escape byte itself
    fleet_front.body = json.dumps(fleet, ensure_ascii=False).encode().replace(b"\\u001b", b"\x1b")
    assert b"\x1b" in fleet_front.body
    r = run_script(fleet_front.url, "-e", "1", env={"ADMIN_SECRET": "s3cret"})
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[1].startswith("a" + "é" * 99 + "...  eu "), lines
    assert lines[2].startswith("csi?31m?name "), lines
    assert lines[-1] == "PASS fleet: 2 replicas listed, 1 ready (at least 1 expected)", lines


def test_check_replicas_fleet_shows_no_invisible_character_nor_a_stray_byte(fleet_front):
    """Text a terminal would reorder or hide (a right-to-left override, a zero width space, a
    bidi isolate, a BOM) and a byte that is no part of well-formed UTF-8 (a lone 0x9B: CSI to a
    terminal reading 8-bit controls; an overlong form) each print as '?'; the UTF-8 around them
    stays."""
    fleet = json.loads(json.dumps(FLEET_JSON))
    fleet["replicas"][0]["replica"] = "r1\u202egnp.exe\u200b\u2066\ufeffé"
    fleet["replicas"][1]["replica"] = "csi\u00e9PLACEHOLDER"
    body = json.dumps(fleet, ensure_ascii=False).encode()
    # a lone 0x9B, then U+009B in an overlong three-byte form (a lax decoder's CSI)
    fleet_front.body = body.replace(b"PLACEHOLDER", b"\x9b31m\xe0\x82\x9bx")
    r = run_script(fleet_front.url, "-e", "1", env={"ADMIN_SECRET": "s3cret"})
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[1].startswith("r1?gnp.exe???é "), lines
    assert lines[2].startswith("csié?31m???x "), lines
    assert "\x9b" not in r.stdout and "\u202e" not in r.stdout, lines


def test_check_replicas_fleet_reads_a_value_of_megabytes_in_linear_time(fleet_front):
    """A front that answers a name of 2 MB (droplin refuses such names; a row written by hand
    is not checked): the parser built each value a byte at a time, which awk makes quadratic
    (1.6 MB took 55 s); it keeps the first 1,000 bytes, all that can show, and goes on."""
    fleet = json.loads(json.dumps(FLEET_JSON))
    fleet["replicas"][0]["replica"] = "r1" + "é" * 1000000
    fleet_front.body = json.dumps(fleet, ensure_ascii=False).encode()
    t = time.monotonic()
    r = run_script(fleet_front.url, "-e", "1", env={"ADMIN_SECRET": "s3cret"})
    took = time.monotonic() - t
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[1].startswith("r1" + "é" * 99 + "...  eu "), r.stdout[:400]
    assert took < harness.scaled(20), took


def test_a_restarted_replica_is_listed_once_at_once(droplin, fresh_db):
    """A replica that dies and starts again under its name is a new run (its counters start
    again); the run that stopped beating before the new one started is over, not listed beside
    it until it counts as gone (here 15 s: its interval is 5 s)."""
    d = start(droplin, db=fresh_db, HEARTBEAT_SECONDS="5", RAILWAY_REPLICA_ID="phoenix")
    first = harness.wait_until(lambda: listed(d).get("phoenix"), 15, what="phoenix listed")
    d.signal(signal.SIGKILL)
    d.wait_exit(timeout=15, expect=-signal.SIGKILL)
    again = start(droplin, db=fresh_db, HEARTBEAT_SECONDS="5", RAILWAY_REPLICA_ID="phoenix")
    harness.wait_until(lambda: any(x["started_at"] != first["started_at"] for x in
                                   replicas(again)["replicas"]), 15, what="the new run listed")
    shown = replicas(again)["replicas"]
    assert [x["replica"] for x in shown] == ["phoenix"], shown
    assert shown[0]["started_at"] != first["started_at"] and shown[0]["heartbeat_age_seconds"] < 15


def test_uptime_is_on_one_clock_when_the_databases_is_two_hours_ahead(droplin):
    """PostgreSQL's clock two hours ahead of droplin's (a fake clock for the server only): the
    start time is the database's now() less the replica's own uptime, so the uptime shown is
    this replica's, seconds, and its rate over its first minute is that of the requests sent;
    a start time on droplin's clock showed an uptime of two hours and a rate 700 times too low."""
    lib = glob.glob("/usr/lib/*/faketime/libfaketime.so.1")
    assert lib, "libfaketime is missing (tests/install.sh installs it)"
    pg = harness.PgCluster(env=dict(os.environ, LD_PRELOAD=lib[0], FAKETIME="+2h",
                                    FAKETIME_DONT_RESET="1")).start()
    try:
        db = pg.create_database()
        assert 7100 < harness.db_query(db, "SELECT extract(epoch FROM now())::float8")[0][0] \
            - time.time() < 7300
        t0 = time.monotonic()
        d = start(droplin, db=db, HEARTBEAT_SECONDS="1", RAILWAY_REPLICA_ID="skewed")
        for _ in range(200):
            assert d.get("/livez").status == 200
        shown = harness.wait_until(lambda: (x := listed(d).get("skewed")) and x["requests"] >= 200
                                   and x, 30, interval=0.2, what="the load in a heartbeat")
        assert 0 <= shown["uptime_seconds"] <= time.monotonic() - t0 + 1, shown
        # its first minute: every request since it started over its uptime at that heartbeat
        assert shown["requests_per_second"] >= shown["requests"] / (time.monotonic() - t0 + 1), shown
        d.stop()
    finally:
        pg.destroy()


def test_a_first_heartbeat_whose_answer_is_lost_leaves_one_run(droplin, pg, fresh_db):
    """The first heartbeat's INSERT commits and its answer never comes back (the relay goes
    dark after passing it on): the beats after it, on a new connection, are still of the same
    run, under the one start time. When that INSERT computed the start time and only its answer
    carried it, the next beat computed another: a second run of one row, listed beside the
    real one (and counted ready twice) until it was gone."""
    relay = PgRelay(pg.port)
    try:
        relay.dark_after(b"INSERT INTO replica_heartbeats")
        d = start(droplin, db=relay.url(fresh_db.rsplit("/", 1)[1]), HEARTBEAT_SECONDS="1",
                  DB_QUERY_TIMEOUT_MS="1500", RAILWAY_REPLICA_ID="lost-answer")
        harness.wait_until(relay.dead.is_set, 15, what="the first heartbeat sent")
        relay.heal()
        harness.wait_until(lambda: len(rows(fresh_db, "lost-answer")) >= 3, 30, interval=0.2,
                           what="three heartbeats written")
        starts = {r[1] for r in rows(fresh_db, "lost-answer")}
        assert len(starts) == 1, rows(fresh_db, "lost-answer")
        d.stop()
    finally:
        relay.stop()


def test_check_replicas_fleet_fails_an_answer_cut_short_or_totals_that_lie(fleet_front):
    """The verdict counts the rows listed: totals that claim more (or junk such as nan, which
    awk reads as a number) fail, and so does an answer cut short (curl's error shown), which
    used to pass on whatever part of it had come."""
    fleet = json.loads(json.dumps(FLEET_JSON))
    fleet["totals"]["ready"] = 3
    fleet_front.body = json.dumps(fleet).encode()
    r = run_script(fleet_front.url, "-e", "1", env={"ADMIN_SECRET": "s3cret"})
    assert (r.returncode, r.stdout.splitlines()[-1]) == (
        1, "FAIL fleet: 2 replicas listed, 1 ready (at least 1 expected); the totals say 2 "
           "and 3"), r.stdout
    fleet["totals"]["ready"] = "nan"
    fleet_front.body = json.dumps(fleet).encode()
    r = run_script(fleet_front.url, "-e", "1", env={"ADMIN_SECRET": "s3cret"})
    assert r.returncode == 1 and "the totals say 2 and nan" in r.stdout, r.stdout
    fleet_front.body, fleet_front.short = json.dumps(FLEET_JSON).encode(), 100
    r = run_script(fleet_front.url, "-e", "1", env={"ADMIN_SECRET": "s3cret"})
    assert r.returncode == 1 and r.stdout.startswith(
        "FAIL fleet: GET /admin/replicas: 000 no answer: (18)"), r.stdout


@pytest.mark.parametrize("value", ["0.001", "0.5"])
def test_heartbeat_seconds_under_1_is_refused(droplin, value):
    """A fraction of a second would write hundreds of rows a second, or a row whose replica is
    gone before anyone reads it: refused at start (exit 2), the setting named."""
    d = droplin(env={"HEARTBEAT_SECONDS": value}, wait=False)
    d.wait_exit(15, expect=2)
    assert "HEARTBEAT_SECONDS must be 0 or from 1 to 60" in d.output(), d.describe()


@pytest.mark.parametrize("name,value", [("RAILWAY_REPLICA_ID", "caf\udce9"),  # the byte 0xE9
                                        ("RAILWAY_REPLICA_REGION", "eu\x1b[2Jwest"),
                                        ("RAILWAY_REPLICA_REGION", "eu\u009b2Jwest"),  # C1 CSI
                                        ("RAILWAY_REPLICA_ID", "admin\u202egnp.exe"),  # RTL mark
                                        ("RAILWAY_REPLICA_ID", "a\u200bb"),  # zero width space
                                        ("RAILWAY_REPLICA_REGION", "eu\u2066west"),  # bidi isolate
                                        ("RAILWAY_REPLICA_REGION", "eu\u3164west"),  # blank filler
                                        ("RAILWAY_REPLICA_ID", "web-1 "),  # looks like web-1
                                        ("RAILWAY_REPLICA_ID", "\u2800"),  # braille blank
                                        ("RAILWAY_REPLICA_REGION", "eu\u00a0west"),  # NBSP
                                        ("RAILWAY_REPLICA_REGION", "\u0600eu"),  # number sign
                                        ("RAILWAY_REPLICA_ID", "web  1"),  # as "web 1" in HTML
                                        ("RAILWAY_REPLICA_ID", "web\ue000"),  # private use
                                        ("RAILWAY_REPLICA_REGION", "eu\uffff"),  # noncharacter
                                        ("RAILWAY_REPLICA_REGION", "x" * 201)])
def test_a_replica_name_that_is_no_text_is_refused(droplin, name, value):
    """The name and region go into every heartbeat row, log line and page: a name that is not
    UTF-8 was a replica PostgreSQL refused every heartbeat of (never listed, an error every
    interval); refused at start (exit 2), the setting named. A name of 200 bytes is fine."""
    d = droplin(env={name: value}, wait=False)
    d.wait_exit(15, expect=2)
    assert f"{name} must be UTF-8 text of at most 200 bytes" in d.output(), d.describe()


def test_a_host_name_that_is_no_replica_name_is_refused_unless_one_is_set(droplin, fresh_db):
    """Without RAILWAY_REPLICA_ID the host name is the replica's name, held to the same rule: a
    host name with an escape sequence (here set in a UTS namespace of droplin's own) stops the
    start (exit 2, saying what to set); with RAILWAY_REPLICA_ID set it is not used at all."""
    prefix = ["unshare", "--uts", sys.executable, "-c",
              "import os, socket, sys; socket.sethostname(b'a\\x1b[31mb');"
              " os.execv(sys.argv[1], sys.argv[1:])"]
    d = droplin(env={"RAILWAY_REPLICA_ID": None}, db=fresh_db, prefix=prefix, wait=False)
    d.wait_exit(15, expect=2)
    assert "the host name is no replica name" in d.output() and \
        "set RAILWAY_REPLICA_ID" in d.output(), d.describe()
    ok = droplin(env={"RAILWAY_REPLICA_ID": "named"}, db=fresh_db, prefix=prefix)
    ok.wait_ready()


def test_an_empty_host_name_is_no_replica_name(droplin, fresh_db):
    """Without RAILWAY_REPLICA_ID, an empty host name (set in a UTS namespace of droplin's own)
    stops the start: a replica with no name in every log line and heartbeat row."""
    prefix = ["unshare", "--uts", sys.executable, "-c",
              "import os, socket, sys; socket.sethostname(b'');"
              " os.execv(sys.argv[1], sys.argv[1:])"]
    d = droplin(env={"RAILWAY_REPLICA_ID": None}, db=fresh_db, prefix=prefix, wait=False)
    d.wait_exit(15, expect=2)
    assert "the host name is no replica name" in d.output(), d.describe()


def test_a_replica_name_of_200_bytes_of_any_script_is_listed(droplin, fresh_db):
    """Any script, and the joiners that scripts and emoji need (U+200C, U+200D), are names."""
    name = "é" * 100
    d = start(droplin, db=fresh_db, HEARTBEAT_SECONDS="1", RAILWAY_REPLICA_ID=name,
              RAILWAY_REPLICA_REGION="東京")
    shown = harness.wait_until(lambda: listed(d).get(name), 15, what="the replica listed")
    assert shown["region"] == "東京", shown
    joined = "\U0001F469\u200d\U0001F4BB-\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"
    j = start(droplin, db=fresh_db, HEARTBEAT_SECONDS="1", RAILWAY_REPLICA_ID=joined)
    harness.wait_until(lambda: joined in listed(j), 15, what="the joined name listed")


def test_the_fleet_frame_without_its_history_still_lists_and_reloads(droplin, pg, fresh_db):
    """The hour's history is the frame's costly query; when it fails (here its answer never
    comes: the relay to PostgreSQL goes dark once it has passed the query on, and the query
    times out), the frame still answers 200 with the live replicas, says the history is
    missing, and keeps reloading itself (an error page would have stopped the reloads for
    good)."""
    relay = PgRelay(pg.port)
    try:
        d = start(droplin, db=relay.url(fresh_db.rsplit("/", 1)[1]), HEARTBEAT_SECONDS="1",
                  RAILWAY_REPLICA_ID="live", DB_QUERY_TIMEOUT_MS="1500",
                  DB_PREPARED_STATEMENTS="0")  # the query's text goes with every run of it
        harness.wait_until(lambda: "live" in listed(d), 15, what="the live replica listed")
        relay.dark_after(b"lead(floor")
        r = d.get("/admin/dashboard/fleet", headers={"secret": ADMIN_SECRET},
                  timeout=harness.scaled(30))
        assert relay.dead.is_set(), "the history query never went out"
        assert r.status == 200, r
        page = r.body.decode()
        assert 'id="no-history"' in page and '<meta http-equiv="refresh"' in page, \
            d.output()[-1500:]
        assert ">live<" in page, page
        relay.heal()
        d.stop()
    finally:
        relay.stop()


def test_an_hour_of_a_hundred_replicas_is_plotted_at_the_cost_of_a_scan(droplin, fresh_db):
    """The fleet frame's hour of history for 100 replicas beating every 5 s (72,000 rows): its
    plots are drawn, with the rate the rows say, and the frame costs a small multiple of one
    plain scan of those rows, measured in the same test (it subtracted every slot of every
    heartbeat from its predecessor: 25 times the work, seconds, and past the query timeout the
    plots were missing)."""
    d = start(droplin, db=fresh_db, HEARTBEAT_SECONDS="0")
    # each replica: 50 requests every 5 s, all in the third latency slot: 10/s, 1,000/s in all;
    # its last slot holds its number, which never changes (no requests), so no two rows'
    # histograms are alike (as in life: nothing for the database to reuse). Beats every 5 s but
    # an interval of 60 s: live for 180 s, however slow this machine is.
    harness.db_exec(fresh_db, "INSERT INTO replica_heartbeats (replica, started_at, at, region,"
                    " version, interval_ms, ready, draining, in_flight, pool_in_use, pool_size,"
                    " requests, errors, buckets) SELECT 'seeded-' || r, now() - interval '2 hours',"
                    " now() - k * interval '5 seconds', 'eu', 'x', 60000, true, false, 0, 0, 10,"
                    " (719 - k) * 50, 0, ARRAY[0, 0, (719 - k) * 50, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,"
                    " r]::bigint[] FROM generate_series(1, 100) r,"
                    " generate_series(0, 719) k")
    harness.db_exec(fresh_db, "ANALYZE replica_heartbeats")
    conn = harness.db_connect(fresh_db)
    try:
        with conn.cursor() as cur:
            scans = []
            for _ in range(5):
                t = time.monotonic()
                cur.execute("SELECT count(*), sum(cardinality(buckets)) FROM replica_heartbeats"
                            " WHERE at > now() - interval '1 hour'")
                assert cur.fetchone()[0] == 72000
                scans.append(time.monotonic() - t)
    finally:
        conn.close()
    frames = []
    for _ in range(5):
        t = time.monotonic()
        r = d.get("/admin/dashboard/fleet", headers={"secret": ADMIN_SECRET})
        frames.append(time.monotonic() - t)
        assert r.status == 200, r
        page = r.body.decode()
        assert 'id="no-history"' not in page, d.output()[-1500:]
    assert "100 replicas: 100 ready" in page, page[:600]
    rate = re.search(r'<figure id="plot-rate">.*?</figure>', page, re.S).group(0)
    values = [float(v) for v in re.findall(r"<title>([0-9.]+)</title>", rate)]
    # every full bin of the hour but the oldest (no heartbeat before it) and the current one
    assert len(values) >= 115 and values.count(1000.0) >= 115, values
    assert min(frames) < 30 * min(scans), (frames, scans)


def seed(db, replica, started_ago, beats, rate=10, interval_ms=60000, draining=False, base=None):
    """Heartbeat rows of one run of `replica` started `started_ago` seconds before now: at each
    of `beats` (seconds before now, oldest first) its counters at `rate` requests a second since
    its start, all in the third latency slot. `base`: the time "now" is (the statement's now())."""
    harness.db_exec(db, "INSERT INTO replica_heartbeats (replica, started_at, at, region, version,"
                    " interval_ms, ready, draining, in_flight, pool_in_use, pool_size, requests,"
                    " errors, buckets) SELECT %s, t.now - %s * interval '1 second',"
                    " t.now - ago * interval '1 second', 'eu', 'x', %s, true, %s, 0, 0, 10,"
                    " n, 0, ARRAY[0, 0, n, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]::bigint[]"
                    " FROM (SELECT coalesce(%s::timestamptz, now()) AS now) t,"
                    " unnest(%s::float8[]) AS ago,"
                    " LATERAL (SELECT round((%s - ago) * %s)::bigint AS n) c",
                    (replica, started_ago, interval_ms, draining, base, list(beats), started_ago,
                     rate))


def plotted_rates(d):
    r = d.get("/admin/dashboard/fleet", headers={"secret": ADMIN_SECRET})
    assert r.status == 200, r
    page = r.body.decode()
    assert 'id="no-history"' not in page, d.output()[-1500:]
    rate = re.search(r'<figure id="plot-rate">.*?</figure>', page, re.S).group(0)
    return [float(v) for v in re.findall(r"<title>([0-9.]+)</title>", rate)]


def test_the_rate_plot_counts_a_restart_once_and_has_no_gaps_between_slow_heartbeats(
        droplin, fresh_db):
    """Five replicas at 10 requests a second each, over the hour: one restarted half an hour ago
    (its first run's last heartbeat 10 s before its second run began, within one 30-s bin), one
    beating every 45 s, two runs of one name alive at once (two containers with one host name),
    and one replaced by a replica of another name (as Railway names a new one) within a bin.
    The plot says 50/s in every bin: the restart's and the handoff's bins counted both runs, a
    replica beating less often than once a bin was missing from every bin its heartbeats
    skipped (a sawtooth), and two runs at once must add up, not average (as the fleet's table
    adds them). Rows of runs started at an infinity (200/s) count nowhere. A first frame reads
    the rows the oldest bin needs (it was a part of a bin short)."""
    d = start(droplin, db=fresh_db, HEARTBEAT_SECONDS="0")
    # one "now" for every row: each statement's own now() moved the gaps by its delay
    now, base = harness.db_query(fresh_db, "SELECT extract(epoch FROM now())::float8,"
                                           " now()::text")[0]
    restart = (now // 30 - 60) * 30  # a bin's start half an hour ago, on the database's clock
    end, begin = now - (restart + 10), now - (restart + 20)  # seconds ago, within that bin
    # from 3,740 s ago: the oldest bin drawn needs the rows of the 150 s before it
    seed(fresh_db, "restarted", 4000, [end + 5 * k for k in range(int((3740 - end) // 5), -1, -1)],
         base=base)
    seed(fresh_db, "restarted", begin, [begin - 5 * k for k in range(int(begin // 5) + 1)],
         base=base)
    seed(fresh_db, "slow", 4000, range(3740, -1, -45), base=base)
    seed(fresh_db, "twice", 4000, range(3740, -1, -5), base=base)  # two runs of a name at once
    seed(fresh_db, "twice", 3800, range(3740, -1, -7), base=base)
    # a replica replaced by one of another name within a bin, 10 minutes after the restart
    handoff = restart + 600
    end, begin = now - (handoff + 10), now - (handoff + 12)
    seed(fresh_db, "old-name", 4000, [end + 5 * k for k in range(int((3740 - end) // 5), -1, -1)],
         base=base)
    seed(fresh_db, "new-name", begin, [begin - 5 * k for k in range(int(begin // 5) + 1)],
         base=base)
    # runs that started at an infinity are no replica's, in the plots as in the list
    harness.db_exec(fresh_db, "INSERT INTO replica_heartbeats (replica, started_at, at, region,"
                    " version, interval_ms, ready, draining, in_flight, pool_in_use, pool_size,"
                    " requests, errors, buckets) SELECT 'inf' || s, s::timestamptz,"
                    " now() - k * interval '5 seconds', '', 'x', 60000, true, false, 0, 0, 1,"
                    " (719 - k) * 1000, 0, ARRAY[0, 0, (719 - k) * 1000, 0, 0, 0, 0, 0, 0, 0, 0,"
                    " 0, 0, 0]::bigint[] FROM unnest(ARRAY['infinity', '-infinity']) s,"
                    " generate_series(0, 719) k")
    values = plotted_rates(d)
    # every bin of the hour, the oldest and the current one too, but the two with a gap of 10 s
    # and 2 s (a third and a fifteenth of a replica's rate less)
    assert len(values) == 120 and values.count(50.0) == 118, values
    assert sorted(values)[:2] == [46.7, 49.3], values


def test_rows_no_replica_wrote_break_no_read_of_the_fleet_and_are_pruned(droplin, fresh_db):
    """Rows written by hand: one dated 'infinity' (every read of the fleet answered 500, and
    retention never pruned it), one an hour in the future (a ghost replica for an hour), one
    that started at '-infinity', one of the live replica's name that starts in a year (the live
    one was hidden as restarted), two replicas whose counters sum past a bigint (the totals
    overflowed), an interval of 715,827,883 ms (500 for both reads: three of them overflow an
    integer) and counters that fell (a negative rate). The fleet lists the live replicas once
    each, with their totals held at the bigint's end and no negative rate, the frame draws its
    plots, and retention prunes the rows from the future."""
    d = start(droplin, db=fresh_db, HEARTBEAT_SECONDS="1", RAILWAY_REPLICA_ID="live",
              RETENTION_INTERVAL_SECONDS="1")
    harness.wait_until(lambda: "live" in listed(d), 15, what="the live replica listed")
    most = 2 ** 63 - 1
    hour = "'%s'::timestamptz" % harness.db_query(  # one start, however many statements
        fresh_db, "SELECT (now() - interval '1 hour')::text")[0][0]
    for name, started, at, n, every, slot in (
            ("ghost-inf", "now()", "'infinity'", 1, 60000, 1),
            ("ghost-future", "now()", "now() + interval '1 hour'", 1, 60000, 1),
            ("ghost-start", "'-infinity'", "now()", 1, 60000, 1),
            ("live", "now() + interval '1 year'", "now()", 1, 60000, 1),  # hid the real one
            ("big-1", hour, "now()", most, 60000, 0),
            ("big-2", hour, "now()", most, 60000, 0),
            ("long", hour, "now()", 0, 715827883, 0),  # times 3 overflowed an integer
            ("negative", hour, "now()", 0, -715827883, 0),  # so did this one
            ("negative-old", hour, "now() - interval '10 minutes'", 0, -715827883, 0),
            ("shrinking", hour, "now() - interval '70 seconds'", 0, 60000, 7000),
            ("shrinking", hour, "now()", 0, 60000, 0)):
        harness.db_exec(fresh_db, "INSERT INTO replica_heartbeats (replica, started_at, at, region,"
                        " version, interval_ms, ready, draining, in_flight, pool_in_use,"
                        " pool_size, requests, errors, buckets) VALUES"
                        f" ('{name}', {started}, {at}, '', 'x', {every}, true, false, 0, 0, 1,"
                        f" {n}, {n}, ARRAY[0,0,{slot},0,0,0,0,0,0,0,0,0,0,0]::bigint[])")
    body = replicas(d)
    assert sorted(x["replica"] for x in body["replicas"]) == \
        ["big-1", "big-2", "live", "long", "shrinking"], body
    assert body["totals"]["requests"] == most and body["totals"]["errors"] == most, body["totals"]
    # counters that fell (a run's only grow) are no negative rate
    shrinking = next(x for x in body["replicas"] if x["replica"] == "shrinking")
    assert shrinking["requests_per_second"] == 0 and body["totals"]["requests_per_second"] >= 0, \
        body
    plotted_rates(d)  # the frame answers, its history too
    harness.wait_until(lambda: harness.db_query(
        fresh_db, "SELECT count(*) FROM replica_heartbeats WHERE at > now()")[0][0] == 0,
        30, interval=0.2, what="the rows from the future pruned")


def test_a_frame_reads_the_last_minutes_and_keeps_the_final_bins_it_drew(droplin, fresh_db):
    """The hour's plots cost a few minutes of heartbeats per frame, not the hour's rows: a bin
    older than the longest segment (two 60-s intervals) and a margin is final, and the replica
    that drew it keeps it. Shown by a replica whose rate is different in every bin (the bin's
    age in minutes, plus one): the frame after its rows older than ten minutes were deleted
    still plots every bin of the hour as before, in its place; the bins of the last minutes
    still come from the rows."""
    d = start(droplin, db=fresh_db, HEARTBEAT_SECONDS="0")
    # counters at rate 1 + (age in whole minutes) per second, every 5 s over the hour
    harness.db_exec(fresh_db, "INSERT INTO replica_heartbeats (replica, started_at, at, region,"
                    " version, interval_ms, ready, draining, in_flight, pool_in_use, pool_size,"
                    " requests, errors, buckets) SELECT 'steps', t.now - interval '2 hours',"
                    " t.now - k * interval '5 seconds', 'eu', 'x', 60000, true, false, 0, 0, 1,"
                    " n, 0, ARRAY[0, 0, n, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]::bigint[]"
                    " FROM (SELECT now() AS now) t, generate_series(0, 719) k, LATERAL"
                    " (SELECT sum(5 * (1 + j * 5 / 60))::bigint AS n"
                    "  FROM generate_series(k, 719) j) c")

    def frame_pair(between=None):
        """The rate plot before and after `between`, drawn within one bin."""
        for _ in range(5):
            bin0 = db_now(fresh_db) // 30
            before = plotted_rates(d)
            if between:
                between()
            after = plotted_rates(d)
            if db_now(fresh_db) // 30 == bin0:
                return before, after
        raise AssertionError("five tries each crossed a bin's edge")

    def forget():
        harness.db_exec(fresh_db, "DELETE FROM replica_heartbeats"
                        " WHERE at < now() - interval '10 minutes'")
        assert harness.db_query(fresh_db, "SELECT count(*) FROM replica_heartbeats")[0][0] < 130

    before, after = frame_pair(forget)
    assert len(before) >= 115 and len(set(before)) >= 55, before  # a step a minute
    assert after == before, (before, after)
    # a fresh replica, with nothing kept, sees only the last ten minutes
    fresh = start(droplin, db=fresh_db, HEARTBEAT_SECONDS="0")
    assert 18 <= len(plotted_rates(fresh)) <= 21, plotted_rates(fresh)


def test_thousands_of_runs_of_one_name_answer_at_once(droplin, fresh_db):
    """6,000 runs of one name with a heartbeat each in the last 3 minutes (written by hand, or a
    name restarting in a loop): the check that a later run replaced an earlier one compared
    every run of the name with every other, 6,000 x 6,000 (seconds: both reads answered 503 at
    the query timeout). Now a window over the runs: both reads answer 200 within a margin of
    what one replica's listing takes, measured in the same test."""
    d = start(droplin, db=fresh_db, HEARTBEAT_SECONDS="1", RAILWAY_REPLICA_ID="one",
              DB_QUERY_TIMEOUT_MS="3000")
    harness.wait_until(lambda: "one" in listed(d), 15, what="the replica listed")
    t = time.monotonic()
    replicas(d)
    alone = time.monotonic() - t
    harness.db_exec(fresh_db, "INSERT INTO replica_heartbeats (replica, started_at, at, region,"
                    " version, interval_ms, ready, draining, in_flight, pool_in_use, pool_size,"
                    " requests, errors, buckets) SELECT 'x', t.now - interval '1 hour'"
                    " + k * interval '1 ms', t.now - interval '170 seconds' + k * interval '20 ms',"
                    " '', 'x', 60000, true, false, 0, 0, 1, 0, 0,"
                    " ARRAY[0,0,0,0,0,0,0,0,0,0,0,0,0,0]::bigint[]"
                    " FROM (SELECT now() AS now) t, generate_series(1, 6000) k")
    t = time.monotonic()
    body = replicas(d)
    took = time.monotonic() - t
    # every run of "x" started before the others' last heartbeats: all are alive at once
    assert sum(x["replica"] == "x" for x in body["replicas"]) == 6000, body["totals"]
    r = d.get("/admin/dashboard/fleet", headers={"secret": ADMIN_SECRET})
    assert r.status == 200, r
    assert took < harness.scaled(2) + 50 * alone, (took, alone)


def test_the_current_bin_counts_each_live_replica_at_its_rate(droplin, fresh_db):
    """In the bin under way: a and b at 10/s, a's last heartbeat now and b's halfway since the
    bin began; c at 20/s beating every minute, its last heartbeat just before the bin began; d
    replaced by a new run of its name (idle), and e draining, both at 10/s until halfway. The
    current point is 10 + 10 + 20 + 5 + 5: each live replica counts at its last rate on to the
    fleet's latest heartbeat (b counted for half the bin's time, c not at all), and a run that
    was replaced or drained counts for the time it ran (they counted as live). The bin before
    it, complete, is 60."""
    d = start(droplin, db=fresh_db, HEARTBEAT_SECONDS="0")
    for _ in range(5):
        # the time every row is dated from, and the bin's age then, from one reading
        now, base = harness.db_query(fresh_db, "SELECT extract(epoch FROM now())::float8,"
                                               " now()::text")[0]
        elapsed = now % 30
        if elapsed < 4 or elapsed > 25:  # room on both sides of this bin's edges
            time.sleep(3)
            continue
        half = elapsed / 2
        seed(fresh_db, "a", 700, [5 * k for k in range(120, -1, -1)], base=base)
        seed(fresh_db, "b", 700, [half + 5 * k for k in range(120, -1, -1)], base=base)
        seed(fresh_db, "c", 700, [elapsed + 1 + 60 * k for k in range(10, -1, -1)], rate=20,
             base=base)
        seed(fresh_db, "d", 700, [half + 5 * k for k in range(120, -1, -1)], base=base)
        seed(fresh_db, "d", half - 0.5, [half - 0.5, half - 1], rate=0,  # its next run, idle
             base=base)
        seed(fresh_db, "e", 700, [half + 5 * k for k in range(120, -1, -1)], draining=True,
             base=base)
        r = d.get("/admin/dashboard/fleet", headers={"secret": ADMIN_SECRET})
        if db_now(fresh_db) // 30 != now // 30:  # the bin ended meanwhile: again
            harness.db_exec(fresh_db, "DELETE FROM replica_heartbeats")
            continue
        rate = re.search(r'<figure id="plot-rate">.*?</figure>', r.body.decode(), re.S).group(0)
        points = re.findall(r'<circle class="pt" cx="([0-9.]+)"[^>]*><title>([0-9.]+)</title>',
                            rate)
        assert points and float(points[-1][0]) == 597.5, points[-3:]  # the last of 120 bins
        assert [float(v) for _, v in points[-3:]] == [60.0, 60.0, 50.0], points[-3:]
        return
    raise AssertionError("no bin had room for the test in five tries")
