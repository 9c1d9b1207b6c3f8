"""Database connection options: no silent plain text, and PgBouncer-compatible queries."""

import pytest

import harness
from auth_helpers import Api, start


def test_sslmode_require_is_refused_at_startup_in_the_default_build(droplin, fresh_db):
    # libpq here has no TLS: refusing is better than failing every connect, or than `prefer`
    # quietly connecting in plain text.
    port = harness.free_port()
    d = droplin(env={"PORT": port, "DATABASE_URL": fresh_db + "?sslmode=require"}, wait=False)
    d.wait_exit(15, expect=2)
    assert "sslmode=require" in d.output() and "no TLS" in d.output(), d.describe()
    assert not harness.connectable(port)


@pytest.mark.parametrize("mode", ["require", "verify-ca", "verify-full"])
def test_pgsslmode_from_the_environment_is_refused_like_sslmode_in_the_url(droplin, fresh_db,
                                                                           mode):
    # libpq takes sslmode from PGSSLMODE when the URL names none: same refusal, naming it
    port = harness.free_port()
    d = droplin(env={"PORT": port, "DATABASE_URL": fresh_db, "PGSSLMODE": mode}, wait=False)
    d.wait_exit(15, expect=2)
    assert f"PGSSLMODE asks for sslmode={mode}" in d.output() and "no TLS" in d.output(), \
        d.describe()
    assert not harness.connectable(port)


def test_sslmode_in_the_url_wins_over_pgsslmode(droplin, fresh_db):
    d = droplin(env={"DATABASE_URL": fresh_db + "?sslmode=disable", "PGSSLMODE": "require"})
    d.wait_ready()
    d = droplin(env={"DATABASE_URL": fresh_db, "PGSSLMODE": "prefer"})
    d.wait_ready()


def test_routes_work_with_db_prepared_statements_0(droplin, fresh_db):
    # the PgBouncer transaction-mode test proper needs a PgBouncer (issue 10); this shows the
    # unnamed-statement path serves register, login and the token check
    d = start(droplin, db=fresh_db, DB_PREPARED_STATEMENTS="0", DB_POOL_SIZE="1")
    api = Api(d)
    assert api.register("bouncer")["user_id"] > 0
    token = api.login_ok("bouncer")["token"]
    assert api.post("/auth/refresh", token=token).status == 200
    assert api.post("/auth/refresh", token="bad.token.here").status == 401


def test_prepared_statements_are_used_by_default(droplin, fresh_db):
    d = start(droplin, db=fresh_db, DB_POOL_SIZE="1", LOG_LEVEL="debug")
    api = Api(d)
    assert api.register("prepared")["user_id"] > 0
    assert api.post("/auth/refresh", token=api.login_ok("prepared")["token"]).status == 200
