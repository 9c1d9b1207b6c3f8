"""Fixtures for droplin's black-box tests (see README.md).

Each pytest process (each xdist worker) runs its own PostgreSQL cluster; every test gets its own
database, so tests never share state and can run in parallel.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import https_stub  # noqa: E402


@pytest.fixture(scope="session")
def pg():
    """The worker's PostgreSQL cluster (127.0.0.1, free port), removed at the end."""
    cluster = harness.PgCluster()
    try:
        cluster.start()
        if harness.pgbouncer_mode():
            cluster.put_bouncer_in_front()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def private_pg():
    """A cluster of the test's own, for tests that stop or freeze PostgreSQL."""
    cluster = harness.PgCluster()
    try:
        cluster.start()
        if harness.pgbouncer_mode():
            cluster.put_bouncer_in_front()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def fresh_db(pg):
    """URL of a new empty database: postgresql://droplin:droplin@127.0.0.1:PORT/NAME."""
    return pg.create_database()


@pytest.fixture
def droplin(pg):
    """Factory: droplin(env={...}, db=url) starts the binary and waits for "listening"."""
    factory = harness.DroplinFactory(pg.create_database)
    yield factory
    factory.cleanup()


@pytest.fixture(scope="module")
def module_droplin(pg):
    """Factory whose processes live for the whole module (for read-only tests)."""
    factory = harness.DroplinFactory(pg.create_database)
    yield factory
    factory.cleanup()


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory):
    """A throwaway CA and a certificate for outbound.test signed by it (openssl CLI)."""
    return https_stub.make_test_ca(str(tmp_path_factory.mktemp("ca")))


@pytest.fixture
def https_stub_server(test_ca):
    """The HTTPS stand-in (mode "ok"; set .mode to "fail", "stall" or "stall_handshake")."""
    stub = https_stub.HttpsStub(test_ca)
    yield stub
    stub.stop()
