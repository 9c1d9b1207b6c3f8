"""The original seeded test_droplink / TestPass123! in every environment; droplin disables that
account on an adopted database while its password is still the published one."""

import bcrypt
import pytest

import harness
from auth_helpers import FAST_ENV, Api, assert_detail, make_token
from harness import db_exec, db_query
from test_migrations import ORIGINAL_SCHEMA

SEED_USER, SEED_PASSWORD, SEED_EMAIL = "test_droplink", "TestPass123!", "test@droplink.com"
PRODUCTION = {"DROPLIN_ENV": "production", "BCRYPT_COST": "12"}


def original_db(url, password=SEED_PASSWORD):
    """A database as the original left it: its schema, a user, and its seeded account."""
    db_exec(url, ORIGINAL_SCHEMA)
    db_exec(url, "INSERT INTO users (username, password_hash, email) VALUES (%s, %s, %s)",
            ("alice", bcrypt.hashpw(b"Alice123!x", bcrypt.gensalt(4)).decode(), "a@example.com"))
    seed_hash = bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
    db_exec(url, "INSERT INTO users (username, password_hash, email) VALUES (%s, %s, %s)",
            (SEED_USER, seed_hash, SEED_EMAIL))
    return seed_hash


def seed_row(url):
    return db_query(url, "SELECT id, password_hash FROM users WHERE username = %s",
                    (SEED_USER,))[0]


def login(api, username, password):
    return api.post("/auth/login", {"username": username, "password": password})


def test_published_seed_password_no_longer_logs_in(droplin, fresh_db):
    old_hash = original_db(fresh_db)
    uid = seed_row(fresh_db)[0]
    token = make_token(uid, SEED_USER)  # a token the original issued to the seeded account
    d = droplin(db=fresh_db, env=dict(FAST_ENV, **PRODUCTION))
    d.wait_ready()
    api = Api(d)
    assert_detail(login(api, SEED_USER, SEED_PASSWORD), 401, "Invalid username or password")
    new_hash = seed_row(fresh_db)[1]
    assert new_hash != old_hash
    assert db_query(fresh_db, "SELECT password_changed_at IS NOT NULL FROM users WHERE id = %s",
                    (uid,))[0][0]
    # still a well-formed bcrypt hash, so the original backend's checkpw answers "wrong password"
    assert new_hash.startswith("$2b$") and len(new_hash) == 60, new_hash
    assert not bcrypt.checkpw(SEED_PASSWORD.encode(), new_hash.encode())
    assert_detail(api.authorized(token), 401,
                  "Token has been invalidated. Please log in again.")
    rows = db_query(fresh_db, "SELECT user_id, action FROM audit_logs "
                              "WHERE action = 'seeded_account_disabled'")
    assert rows == [(uid, "seeded_account_disabled")], rows
    assert any(l.get("level") == "warn" and SEED_USER in l.get("message", "")
               for l in d.logs()), d.describe()
    assert SEED_PASSWORD not in d.output()
    # other accounts are untouched
    assert login(api, "alice", "Alice123!x").status == 200


def test_a_changed_seed_password_is_left_alone(droplin, fresh_db):
    old_hash = original_db(fresh_db, password="Changed-by-the-owner-1")
    d = droplin(db=fresh_db, env=dict(FAST_ENV, **PRODUCTION))
    d.wait_ready()
    api = Api(d)
    assert login(api, SEED_USER, "Changed-by-the-owner-1").status == 200
    assert seed_row(fresh_db)[1] == old_hash
    assert not db_query(fresh_db, "SELECT 1 FROM audit_logs WHERE action = 'seeded_account_disabled'")


def test_a_seed_added_later_is_disabled_at_the_next_start(droplin, fresh_db):
    # droplin created the schema first; an original replica then seeded its account.
    d = droplin(db=fresh_db, env=dict(FAST_ENV, **PRODUCTION))
    d.wait_ready()
    seed_hash = bcrypt.hashpw(SEED_PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    db_exec(fresh_db, "INSERT INTO users (username, password_hash, email) VALUES (%s, %s, %s)",
            (SEED_USER, seed_hash, SEED_EMAIL))
    # the running replica refuses the published pair at once, before any restart
    assert_detail(login(Api(d), SEED_USER, SEED_PASSWORD), 401, "Invalid username or password")
    d2 = droplin(db=fresh_db, env=dict(FAST_ENV, **PRODUCTION))
    d2.wait_ready()
    assert_detail(login(Api(d2), SEED_USER, SEED_PASSWORD), 401, "Invalid username or password")
    assert seed_row(fresh_db)[1] != seed_hash


def test_replicas_booting_together_disable_it_once(droplin, fresh_db):
    original_db(fresh_db)
    ds = [droplin(db=fresh_db, env=dict(FAST_ENV, **PRODUCTION), wait=False) for _ in range(4)]
    for d in ds:
        d.wait_ready()
    rows = db_query(fresh_db, "SELECT count(*) FROM audit_logs WHERE action = 'seeded_account_disabled'")
    assert rows[0][0] == 1, rows


@pytest.mark.parametrize("stored_name", ["TEST_DROPLINK", "Test_Droplink"])
def test_the_name_in_any_case_is_disabled(droplin, fresh_db, stored_name):
    # logins fold the name's case, so TEST_DROPLINK opens with "test_droplink" too
    db_exec(fresh_db, ORIGINAL_SCHEMA)
    seed_hash = bcrypt.hashpw(SEED_PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    db_exec(fresh_db, "INSERT INTO users (username, password_hash, email) VALUES (%s, %s, %s)",
            (stored_name, seed_hash, SEED_EMAIL))
    d = droplin(db=fresh_db, env=dict(FAST_ENV, **PRODUCTION))
    d.wait_ready()
    for name in (SEED_USER, stored_name):
        assert_detail(login(Api(d), name, SEED_PASSWORD), 401, "Invalid username or password")
    assert db_query(fresh_db, "SELECT password_hash FROM users")[0][0] != seed_hash
