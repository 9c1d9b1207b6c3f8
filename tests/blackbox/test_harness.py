"""The harness itself: PostgreSQL clusters, databases and the HTTPS stand-in work without droplin."""

import subprocess

import psycopg2
import pytest

import harness


def test_fresh_db_is_empty_and_needs_the_password(pg, fresh_db):
    assert fresh_db.startswith(pg.url(""))
    rows = harness.db_query(fresh_db, "SELECT count(*) FROM information_schema.tables "
                                      "WHERE table_schema = 'public'")
    assert rows == [(0,)]
    assert harness.db_query(fresh_db, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user") == [(True,)]
    dbname = fresh_db.rsplit("/", 1)[1]
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(host="127.0.0.1", port=pg.port, user="droplin", password="wrong",
                         dbname=dbname, connect_timeout=5)


def test_each_test_gets_its_own_database(pg):
    assert pg.create_database() != pg.create_database()


def test_private_cluster_stops_and_starts_on_the_same_port(private_pg):
    # PostgreSQL's own port (DROPLIN_TEST_PGBOUNCER=1 puts a bouncer behind private_pg.url())
    name = private_pg.create_database().rsplit("/", 1)[1]
    url = f"postgresql://droplin:droplin@127.0.0.1:{private_pg.port}/{name}"
    harness.db_exec(url, "CREATE TABLE t (x int)")
    port = private_pg.port
    private_pg.stop()
    with pytest.raises(psycopg2.OperationalError):
        harness.db_connect(url)
    private_pg.restart_same_port()
    assert private_pg.port == port
    assert harness.db_query(url, "SELECT count(*) FROM t") == [(0,)]


def _curl(stub, ca=None, path="/ok", max_time=10):
    args = ["curl", "-sS", "--max-time", str(max_time), "--resolve", stub.resolve()]
    if ca:
        args += ["--cacert", ca]
    return subprocess.run(args + [stub.url + path], capture_output=True, text=True, timeout=30)


def test_https_stub_is_trusted_only_with_the_test_ca(https_stub_server, test_ca):
    ok = _curl(https_stub_server, test_ca["ca"])
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == '{"ok":true}'
    untrusted = _curl(https_stub_server)
    assert untrusted.returncode == 60, untrusted.stderr  # peer certificate cannot be verified


def test_https_stub_fails_and_stalls_on_request(https_stub_server, test_ca):
    https_stub_server.mode = "fail"
    r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--resolve",
                        https_stub_server.resolve(), "--cacert", test_ca["ca"],
                        https_stub_server.url + "/ok"], capture_output=True, text=True, timeout=30)
    assert r.stdout == "500"
    https_stub_server.mode = "stall"
    r = _curl(https_stub_server, test_ca["ca"], max_time=1)
    assert r.returncode == 28  # curl: operation timed out
