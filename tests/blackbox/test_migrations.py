"""R2 and C3: droplin creates the original schema, adopts an existing one additively, and
migrates exactly once when many replicas boot at the same time."""

import re
import threading

import psycopg2
import pytest

import harness
from auth_helpers import Api
from harness import db_exec, db_query

ORIGINAL_TABLES = ["users", "devices", "user_profiles", "user_settings", "privacy_zones",
                   "pinned_contacts", "audit_logs", "verification_codes", "api_call_logs"]

# ORIGINAL_API.md §7 in PostgreSQL types, as the original's init_db created it.
ORIGINAL_SCHEMA = """
CREATE TABLE users (
    id SERIAL PRIMARY KEY,
    username TEXT UNIQUE NOT NULL,
    password_hash TEXT NOT NULL,
    email TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    failed_login_attempts INTEGER DEFAULT 0,
    locked_until TEXT,
    key_version INTEGER DEFAULT 1
);
CREATE TABLE devices (
    id SERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    rssi INTEGER NOT NULL,
    distance_feet DOUBLE PRECISION NOT NULL,
    action TEXT,
    timestamp TEXT,
    phone_number TEXT,
    email TEXT,
    bio TEXT,
    social_media TEXT,
    user_id INTEGER DEFAULT 1
);
CREATE TABLE user_profiles (
    user_id INTEGER PRIMARY KEY,
    name TEXT,
    phone TEXT,
    email TEXT,
    bio TEXT,
    social_media TEXT,
    profile_photo TEXT,
    has_completed_onboarding INTEGER DEFAULT 0
);
CREATE TABLE user_settings (
    user_id INTEGER PRIMARY KEY,
    dark_mode INTEGER DEFAULT 0,
    max_distance INTEGER DEFAULT 50
);
CREATE TABLE privacy_zones (
    id SERIAL PRIMARY KEY,
    user_id INTEGER NOT NULL,
    address TEXT NOT NULL,
    radius DOUBLE PRECISION NOT NULL
);
CREATE TABLE pinned_contacts (
    user_id INTEGER NOT NULL,
    device_id INTEGER NOT NULL,
    PRIMARY KEY (user_id, device_id)
);
CREATE TABLE audit_logs (
    id SERIAL PRIMARY KEY,
    user_id INTEGER,
    action TEXT NOT NULL,
    details TEXT,
    ip_address TEXT,
    user_agent TEXT,
    timestamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE verification_codes (
    id SERIAL PRIMARY KEY,
    email TEXT NOT NULL,
    code TEXT NOT NULL,
    code_type TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE api_call_logs (
    id SERIAL PRIMARY KEY,
    timestamp TIMESTAMP,
    endpoint TEXT,
    method TEXT,
    user_id INTEGER,
    success BOOLEAN,
    status_code INTEGER,
    error TEXT
);
"""

# Rows as the original wrote them (no test_droplink seed account: droplin may disable that one).
ORIGINAL_ROWS = """
INSERT INTO users (username, password_hash, email, failed_login_attempts, locked_until)
VALUES ('alice', '$2b$12$abcdefghijklmnopqrstuuJ0nE5zq1yQ5p0bTgA2dQd3Gd6e0x8a2', 'a@example.com', 0, NULL),
       ('bob', '$2b$12$bcdefghijklmnopqrstuvuJ0nE5zq1yQ5p0bTgA2dQd3Gd6e0x8a3', 'b@example.com', 3,
        '2025-11-22T20:33:01.123456'),
       ('carol', '$2b$12$cdefghijklmnopqrstuvwuJ0nE5zq1yQ5p0bTgA2dQd3Gd6e0x8a4', 'a@example.com', 0, NULL);
INSERT INTO devices (name, rssi, distance_feet, action, timestamp, phone_number, email, bio,
                     social_media, user_id)
VALUES ('Pixel', -60, 12.5, 'drop', '2025-11-22T20:33:01.123456', '5551234567', 'p@example.com',
        'hi', '[{"platform": "x", "handle": "@p"}]', 1),
       ('Please select one', -80, 18.0, NULL, NULL, NULL, NULL, NULL, NULL, 2);
INSERT INTO user_profiles (user_id, name, phone, email, bio, social_media, profile_photo,
                           has_completed_onboarding)
VALUES (1, 'Alice', '5551234567', 'a@example.com', 'bio', '[]', 'https://localhost/p.jpg', 1);
INSERT INTO user_settings (user_id, dark_mode, max_distance) VALUES (1, 1, 33), (2, 0, 50);
INSERT INTO privacy_zones (user_id, address, radius) VALUES (1, 'Home', 100.0);
INSERT INTO pinned_contacts (user_id, device_id) VALUES (1, 1), (1, 2);
INSERT INTO audit_logs (user_id, action, details, ip_address, user_agent)
VALUES (1, 'login_success', '{"username": "alice"}', '127.0.0.9', 'okhttp/4.9');
INSERT INTO verification_codes (email, code, code_type, expires_at)
VALUES ('a@example.com', '123456', 'email_verification', '2099-01-01T00:00:00.000000');
INSERT INTO api_call_logs (timestamp, endpoint, method, user_id, success, status_code, error)
VALUES ('2025-11-22 20:33:01', '/devices', 'GET', 1, true, 200, NULL);
"""


def norm_default(d):
    if d is None:
        return None
    if d.startswith("nextval("):
        return "serial"
    if d in ("CURRENT_TIMESTAMP", "now()", "LOCALTIMESTAMP") or "now()" in d or "CURRENT_TIMESTAMP" in d:
        return "now"
    return re.sub(r"::[a-z ]+$", "", d).strip("()'")


def columns(url, tables):
    rows = db_query(url, """
        SELECT table_name, column_name, data_type, is_nullable, column_default
        FROM information_schema.columns
        WHERE table_schema = 'public' AND table_name = ANY(%s)""", (tables,))
    return {(t, c): (typ, nullable, norm_default(dflt)) for t, c, typ, nullable, dflt in rows}


def unique_indexes(url, tables):
    """{(table, (col, ...), is_primary)} for every unique index (primary keys included)."""
    rows = db_query(url, """
        SELECT t.relname, i.indisprimary,
               array(SELECT a.attname FROM unnest(i.indkey) k
                     JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k ORDER BY a.attname)
        FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE n.nspname = 'public' AND i.indisunique AND t.relname = ANY(%s)""", (tables,))
    return {(t, tuple(cols), prim) for t, prim, cols in rows}


def table_rows(url, original_cols):
    out = {}
    for table in ORIGINAL_TABLES:
        cols = sorted(c for t, c in original_cols if t == table)
        sel = ", ".join(f'"{c}"' for c in cols)
        out[table] = db_query(url, f'SELECT {sel} FROM "{table}" ORDER BY {sel}')
    return out


@pytest.fixture(scope="module")
def reference(pg):
    """The original schema, created from ORIGINAL_SCHEMA in a database of its own."""
    url = pg.create_database()
    db_exec(url, ORIGINAL_SCHEMA)
    return {"columns": columns(url, ORIGINAL_TABLES),
            "unique": unique_indexes(url, ORIGINAL_TABLES)}


def assert_additive(url, reference):
    """Every original column is there unchanged; every other column on the original tables is
    nullable or has a default; no original unique index is lost and none is added on original
    columns (the data may hold duplicate e-mails and phones)."""
    now = columns(url, ORIGINAL_TABLES)
    for key, spec in reference["columns"].items():
        assert key in now, f"column {key} missing"
        assert now[key] == spec, f"column {key}: expected {spec} (type, nullable, default), got {now[key]}"
    for key, (typ, nullable, dflt) in now.items():
        if key not in reference["columns"]:
            assert nullable == "YES" or dflt is not None, \
                f"added column {key} is NOT NULL without a default: original replicas cannot insert"
    uniq = unique_indexes(url, ORIGINAL_TABLES)
    orig_cols = set(reference["columns"])
    assert reference["unique"] <= uniq, f"lost unique/primary keys: {reference['unique'] - uniq}"
    added = {u for u in uniq - reference["unique"]
             if all((u[0], c) in orig_cols for c in u[1])}
    assert not added, f"new unique indexes on original columns: {added}"


def migrations(url):
    return db_query(url, "SELECT version FROM schema_migrations ORDER BY version")


def test_empty_database_gets_the_original_schema(droplin, fresh_db, reference):
    d = droplin(db=fresh_db)
    d.wait_ready()
    tables = {r[0] for r in db_query(fresh_db, "SELECT table_name FROM information_schema.tables "
                                               "WHERE table_schema = 'public'")}
    assert set(ORIGINAL_TABLES) | {"schema_migrations"} <= tables, tables
    assert_additive(fresh_db, reference)
    cols = [r[0] for r in db_query(fresh_db, "SELECT column_name FROM information_schema.columns "
                                             "WHERE table_name = 'schema_migrations'")]
    assert "version" in cols
    versions = migrations(fresh_db)
    assert versions and len(versions) == len(set(versions))


def test_no_seeded_user(droplin, fresh_db):
    droplin(db=fresh_db).wait_ready()
    assert db_query(fresh_db, "SELECT username FROM users") == []


@pytest.mark.parametrize("start", ["empty", "original"])
def test_ten_replicas_boot_at_once_and_migrate_once(droplin, fresh_db, reference, start):
    if start == "original":
        db_exec(fresh_db, ORIGINAL_SCHEMA)
        db_exec(fresh_db, ORIGINAL_ROWS)
    procs = [None] * 10
    errors = []

    def boot(i):
        try:
            procs[i] = droplin(db=fresh_db, env={"DB_POOL_SIZE": "2"})
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=boot, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    for d in procs:
        d.wait_ready(timeout=30)
    versions = [r[0] for r in migrations(fresh_db)]
    assert versions
    dupes = {v for v in versions if versions.count(v) > 1}
    assert not dupes, f"migrations applied more than once: {dupes}"
    assert_additive(fresh_db, reference)
    for d in procs:
        assert d.proc.poll() is None, d.describe()


def test_restart_applies_nothing_twice(droplin, fresh_db):
    first = droplin(db=fresh_db)
    first.wait_ready()
    before = migrations(fresh_db)
    first.kill()
    droplin(db=fresh_db).wait_ready()
    assert migrations(fresh_db) == before


def test_adopts_the_original_database_additively(droplin, fresh_db, reference):
    db_exec(fresh_db, ORIGINAL_SCHEMA)
    db_exec(fresh_db, ORIGINAL_ROWS)
    before_rows = table_rows(fresh_db, reference["columns"])
    assert before_rows["users"] and before_rows["devices"]

    d = droplin(db=fresh_db)
    d.wait_ready()
    assert_additive(fresh_db, reference)
    assert table_rows(fresh_db, reference["columns"]) == before_rows
    assert migrations(fresh_db)
    # The original can still insert a user the way it did.
    db_exec(fresh_db, "INSERT INTO users (username, password_hash, email) VALUES (%s, %s, %s)",
            ("dave", "$2b$12$x", "d@example.com"))
    db_exec(fresh_db, "INSERT INTO devices (name, rssi, distance_feet, user_id) VALUES ('n', -1, 1.0, 4)")
    assert d.get("/ready").status == 200


def test_adopts_original_without_api_call_logs(droplin, fresh_db, reference):
    # The original created api_call_logs lazily: many of its databases lack it.
    db_exec(fresh_db, ORIGINAL_SCHEMA)
    db_exec(fresh_db, "DROP TABLE api_call_logs")
    droplin(db=fresh_db).wait_ready()
    assert_additive(fresh_db, reference)


def test_starts_on_a_schema_with_newer_migrations(droplin, fresh_db):
    first = droplin(db=fresh_db)
    first.wait_ready()
    first.kill()
    cols = db_query(fresh_db, """
        SELECT column_name, data_type, is_nullable, column_default
        FROM information_schema.columns WHERE table_name = 'schema_migrations'""")
    values = {}
    for name, typ, nullable, dflt in cols:
        if name == "version":
            values[name] = 999999 if typ in ("integer", "bigint", "smallint", "numeric") \
                else "zzzz_999999_future"
        elif nullable == "NO" and dflt is None:
            values[name] = {"boolean": True, "integer": 0, "bigint": 0}.get(
                typ, "now" if "timestamp" in typ else "future")
    names = ", ".join(values)
    marks = ", ".join("%s" for _ in values)
    db_exec(fresh_db, f"INSERT INTO schema_migrations ({names}) VALUES ({marks})",
            tuple(values.values()))
    droplin(db=fresh_db).wait_ready()


def test_a_request_before_the_schema_is_there_is_503_not_500(droplin, fresh_db):
    """A replica that cannot migrate yet (the migration lock held elsewhere, on an empty
    database) answers a database route 503, as its /ready says, rather than the 500 of a
    failed statement; once the lock goes, it migrates and the same request is 200."""
    # the lock of the holder's transaction (behind a bouncer too: one server connection keeps
    # the transaction, and rollback releases it, where a session lock would stay with the
    # server connection)
    holder = psycopg2.connect(fresh_db, connect_timeout=10)
    try:
        holder.cursor().execute("SELECT pg_advisory_xact_lock(1684172656)")
        d = droplin(db=fresh_db)
        r = Api(d).post("/auth/check-username", {"username": "early"})
        assert (r.status, r.json()) == (503, {"detail": "Database unavailable"}), r
        assert d.get("/ready").status == 503
        assert db_query(fresh_db, "SELECT to_regclass('users')") == [(None,)]
    finally:
        holder.rollback()
        holder.close()
    d.wait_ready(timeout=30)
    r = Api(d).post("/auth/check-username", {"username": "early"})
    assert (r.status, r.json()) == (200, {"available": True, "message": "Username available"}), r


def test_adopting_a_database_in_use_does_not_hold_its_tables_while_waiting(droplin, fresh_db):
    """An original database still in use: a report's transaction holds verification_codes,
    which a later migration must alter. Each migration commits on its own, so the tables the
    earlier ones changed (user_profiles) are free while that one waits: the original backend's
    reads go on. (One transaction for all of them held user_profiles until it gave up.)"""
    db_exec(fresh_db, ORIGINAL_SCHEMA)
    db_exec(fresh_db, ORIGINAL_ROWS)
    report = psycopg2.connect(fresh_db)
    report.cursor().execute("SELECT count(*) FROM verification_codes")  # idle in transaction
    try:
        droplin(db=fresh_db)
        harness.wait_until(lambda: db_query(
            fresh_db, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                      " AND query LIKE '%verification_codes%'")[0][0] > 0, 30,
            what="a migration waiting for verification_codes")
        reader = psycopg2.connect(fresh_db)
        try:
            cur = reader.cursor()
            cur.execute("SET statement_timeout = '10s'")  # blocked: cancelled, the test fails
            cur.execute("SELECT count(*) FROM user_profiles")
            assert cur.fetchone()[0] == 1
        finally:
            reader.close()
    finally:
        report.rollback()
        report.close()
