"""The TLS build variant (`make DB_TLS=openssl`, issue 10) against a PostgreSQL with ssl = on
and a test CA made here with the openssl CLI; the server accepts TLS only (hostnossl rejected),
so every ready droplin below reached it over TLS.

The certificate names DNS:localhost only, so verify-full passes with host=localhost and fails
with host=127.0.0.1, while verify-ca passes with either. The root certificate comes the usual
libpq ways: sslrootcert in DATABASE_URL, or PGSSLROOTCERT in the environment (a file the
operator mounts). The default build's refusal of sslmode=require is in test_db_options.py.

DROPLIN_TLS_BIN names the variant (default ./droplin-openssl); without it the module skips,
unless DROPLIN_TLS_BIN is set (as `make test` does), when a missing binary fails.
"""

import os
import re
import shutil

import pytest

import harness
import https_stub
from auth_helpers import FAST_ENV, Api

TLS_BIN = os.environ.get("DROPLIN_TLS_BIN", os.path.join(harness.REPO, "droplin-openssl"))
if not os.path.exists(TLS_BIN):
    if os.environ.get("DROPLIN_TLS_BIN"):
        raise RuntimeError(f"DROPLIN_TLS_BIN={TLS_BIN} does not exist")
    pytest.skip(f"no TLS variant at {TLS_BIN} (make DB_TLS=openssl)", allow_module_level=True)


@pytest.fixture(scope="module")
def tls_pg(tmp_path_factory):
    """A cluster of the module's own with ssl = on, a server certificate for localhost signed by
    a fresh test CA, and TLS required for every TCP connection."""
    cluster = harness.PgCluster()
    try:
        cluster.start()
        ca = https_stub.make_test_ca(os.path.join(cluster.dir, "ca"), host="localhost")
        other = https_stub.make_test_ca(os.path.join(cluster.dir, "other"), host="localhost")
        data = os.path.join(cluster.dir, "data")
        shutil.copy(ca["cert"], os.path.join(data, "server.crt"))
        shutil.copy(ca["key"], os.path.join(data, "server.key"))
        if os.getuid() == 0:
            for f in ("server.crt", "server.key"):
                shutil.chown(os.path.join(data, f), "postgres")
        os.chmod(os.path.join(data, "server.key"), 0o600)
        with open(os.path.join(data, "pg_hba.conf"), "w") as f:
            f.write("local all all trust\n"
                    "hostnossl all all 127.0.0.1/32 reject\n"
                    "hostssl all all 127.0.0.1/32 scram-sha-256\n")
        # ssl is reloadable; the files are world-readable copies for the tests' side
        for name in ("ca", "other"):
            src = (ca if name == "ca" else other)["ca"]
            dst = os.path.join(cluster.dir, f"{name}-root.pem")
            shutil.copy(src, dst)
            os.chmod(dst, 0o644)
        conn = psycopg2_direct(cluster)
        with conn.cursor() as cur:
            cur.execute("ALTER SYSTEM SET ssl = on")
            cur.execute("SELECT pg_reload_conf()")
        conn.close()
        harness.wait_until(lambda: ssl_on(cluster), 10, what="ssl = on after reload")
        cluster.root = os.path.join(cluster.dir, "ca-root.pem")
        cluster.other_root = os.path.join(cluster.dir, "other-root.pem")
        yield cluster
    finally:
        cluster.destroy()


def psycopg2_direct(cluster):
    """Over the unix socket (trusted), which needs no TLS."""
    import psycopg2
    conn = psycopg2.connect(host=cluster.dir, port=cluster.port, user="droplin", dbname="postgres")
    conn.autocommit = True
    return conn


def ssl_on(cluster):
    conn = psycopg2_direct(cluster)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW ssl")
            return cur.fetchone()[0] == "on"
    finally:
        conn.close()


def new_db(cluster):
    conn = psycopg2_direct(cluster)
    name = "t_" + os.urandom(8).hex()
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return name


def url(cluster, db, host="127.0.0.1", **params):
    q = "&".join(f"{k}={v}" for k, v in params.items())
    return f"postgresql://droplin:droplin@{host}:{cluster.port}/{db}" + (f"?{q}" if q else "")


def start_tls(droplin, db_url, **env):
    full = dict(FAST_ENV)
    full.update(env)
    return droplin(env=full, db=db_url, binary=TLS_BIN)


def assert_serves_over_tls(d, cluster, dbname):
    d.wait_ready(timeout=20)
    api = Api(d)
    assert api.register("tlsuser")["user_id"] > 0
    assert api.post("/auth/refresh", token=api.login_ok("tlsuser")["token"]).status == 200
    conn = psycopg2_direct(cluster)
    with conn.cursor() as cur:  # droplin's own sessions, seen from the server
        cur.execute("SELECT bool_and(s.ssl), count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a "
                    "USING (pid) WHERE a.application_name LIKE 'droplin%%' AND a.datname = %s",
                    (dbname,))
        all_tls, n = cur.fetchone()
    conn.close()
    assert n >= 1 and all_tls is True, (n, all_tls)


def assert_never_ready(d, what):
    """The database stays unreachable: /ready 503, /livez 200, the reason in the log."""
    harness.wait_until(lambda: d.get("/ready").status == 503, 10, what="/ready 503")
    harness.wait_until(lambda: what in d.output(), 10, what=f"{what!r} in the log")
    assert d.get("/ready").status == 503
    assert d.get("/livez").status == 200
    assert d.proc.poll() is None, d.describe()


def test_variant_says_it_has_tls_and_still_works_in_plain_text(pg):
    r = harness.run_cli(["--version"], binary=TLS_BIN)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^OpenSSL 3\.\S+ \(Debian ", r.stdout, re.M), r.stdout
    # a plain-text server stays reachable with the default sslmode (prefer)
    d = harness.DroplinFactory(pg.create_database)
    try:
        p = d(env=dict(FAST_ENV), binary=TLS_BIN)
        p.wait_ready()
    finally:
        d.cleanup()


def test_sslmode_require(droplin, tls_pg):
    db = new_db(tls_pg)
    d = start_tls(droplin, url(tls_pg, db, sslmode="require"))
    assert_serves_over_tls(d, tls_pg, db)


def test_sslmode_disable_is_rejected_by_the_server(droplin, tls_pg):
    # the control: this server refuses plain text, so the passes above were TLS
    d = start_tls(droplin, url(tls_pg, new_db(tls_pg), sslmode="disable"))
    assert_never_ready(d, "no encryption")


def test_sslmode_verify_ca_with_sslrootcert_in_the_url(droplin, tls_pg):
    db = new_db(tls_pg)
    d = start_tls(droplin, url(tls_pg, db, sslmode="verify-ca", sslrootcert=tls_pg.root))
    assert_serves_over_tls(d, tls_pg, db)


def test_sslmode_verify_ca_with_pgsslrootcert(droplin, tls_pg):
    db = new_db(tls_pg)
    d = start_tls(droplin, url(tls_pg, db, sslmode="verify-ca"), PGSSLROOTCERT=tls_pg.root)
    assert_serves_over_tls(d, tls_pg, db)


def test_sslmode_verify_ca_refuses_a_server_of_another_ca(droplin, tls_pg):
    d = start_tls(droplin, url(tls_pg, new_db(tls_pg), sslmode="verify-ca"),
                  PGSSLROOTCERT=tls_pg.other_root)
    assert_never_ready(d, "certificate verify failed")


def test_sslmode_verify_full_with_the_certificates_name(droplin, tls_pg):
    db = new_db(tls_pg)
    d = start_tls(droplin, url(tls_pg, db, host="localhost", sslmode="verify-full"),
                  PGSSLROOTCERT=tls_pg.root)
    assert_serves_over_tls(d, tls_pg, db)


def test_sslmode_verify_full_refuses_a_name_not_in_the_certificate(droplin, tls_pg):
    d = start_tls(droplin, url(tls_pg, new_db(tls_pg), host="127.0.0.1", sslmode="verify-full"),
                  PGSSLROOTCERT=tls_pg.root)
    assert_never_ready(d, "does not match host name")


def test_verify_modes_without_a_root_certificate_fail_clearly(droplin, tls_pg):
    # libpq's default ~/.postgresql/root.crt does not exist for droplin (HOME is unset here)
    d = start_tls(droplin, url(tls_pg, new_db(tls_pg), sslmode="verify-full", host="localhost"))
    assert_never_ready(d, "root certificate file")


def test_outbound_https_is_still_bearssl(https_stub_server, test_ca):
    # the variant changes libpq only: --check-outbound trusts the extra CA as before
    r = harness.run_cli(["--check-outbound", https_stub_server.url + "/ok"], binary=TLS_BIN,
                        env={"DROPLIN_ENV": "development", "OUTBOUND_CA_FILE": test_ca["ca"],
                             "OUTBOUND_RESOLVE": https_stub_server.resolve()})
    assert r.returncode == 0, (r.stdout, r.stderr)
