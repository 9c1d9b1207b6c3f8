"""S1: no default secrets. Production refuses to start without strong secrets."""

import socket

import pytest

import harness

ORIGINAL_DEFAULT = "your-secret-key-change-in-production-12345"
STRONG_JWT = "j" * 40
STRONG_ADMIN = "admin-secret-for-tests-0123456789"


def start_expecting_exit(droplin, env):
    """Start droplin on a known port; it must exit 2 without ever listening."""
    port = harness.free_port()
    d = droplin(env=dict(env, PORT=port), wait=False)
    rc = d.wait_exit(15, expect=2)
    return d, rc, port


def assert_refused(d, rc, port, var):
    assert rc == 2, f"exit status {rc}, expected 2\n{d.describe()}"
    lines = [l for l in d.output().splitlines() if var in l]
    assert lines, f"no output line names {var}\n{d.describe()}"
    assert not any(l.get("message") == "listening" for l in d.logs()), d.describe()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


@pytest.mark.parametrize("droplin_env", [None, "production"], ids=["env-unset", "production"])
@pytest.mark.parametrize("case,var", [
    ({"JWT_SECRET_KEY": None, "ADMIN_SECRET": STRONG_ADMIN}, "JWT_SECRET_KEY"),
    ({"JWT_SECRET_KEY": "short-secret-31-bytes-long-xxxx", "ADMIN_SECRET": STRONG_ADMIN},
     "JWT_SECRET_KEY"),
    ({"JWT_SECRET_KEY": ORIGINAL_DEFAULT, "ADMIN_SECRET": STRONG_ADMIN}, "JWT_SECRET_KEY"),
    ({"JWT_SECRET_KEY": "", "ADMIN_SECRET": STRONG_ADMIN}, "JWT_SECRET_KEY"),
    ({"JWT_SECRET_KEY": STRONG_JWT, "ADMIN_SECRET": None}, "ADMIN_SECRET"),
    ({"JWT_SECRET_KEY": STRONG_JWT, "ADMIN_SECRET": ""}, "ADMIN_SECRET"),
    ({"JWT_SECRET_KEY": ORIGINAL_DEFAULT + "\n", "ADMIN_SECRET": STRONG_ADMIN}, "JWT_SECRET_KEY"),
], ids=["jwt-missing", "jwt-31-bytes", "jwt-original-default", "jwt-empty",
        "admin-missing", "admin-empty", "jwt-default-newline"])
def test_weak_or_missing_secret_stops_startup(droplin, droplin_env, case, var):
    assert len("short-secret-31-bytes-long-xxxx") == 31
    env = dict(case, DROPLIN_ENV=droplin_env)
    d, rc, port = start_expecting_exit(droplin, env)
    assert_refused(d, rc, port, var)


# Every key that verifies tokens meets the signing key's rule: a published or short previous or
# next key would let anyone sign tokens for any user (and the original's default is public).
@pytest.mark.parametrize("droplin_env", [None, "production"], ids=["env-unset", "production"])
@pytest.mark.parametrize("var", ["PREVIOUS_JWT_SECRET_KEY", "NEXT_JWT_SECRET_KEY"])
@pytest.mark.parametrize("value", [ORIGINAL_DEFAULT, "x", "short-secret-31-bytes-long-xxxx",
                                   "delete-all-profiles-2024", " " + ORIGINAL_DEFAULT,
                                   ORIGINAL_DEFAULT + "\n", ORIGINAL_DEFAULT.upper(),
                                   "\t" + ORIGINAL_DEFAULT + "  "],
                         ids=["original-default", "one-byte", "31-bytes", "original-admin",
                              "default-space", "default-newline", "default-upper", "default-padded"])
def test_weak_verifying_key_stops_startup(droplin, droplin_env, var, value):
    env = {"DROPLIN_ENV": droplin_env, "JWT_SECRET_KEY": STRONG_JWT, "ADMIN_SECRET": STRONG_ADMIN,
           "JWT_KEY_VERSION": "2", var: value}
    d, rc, port = start_expecting_exit(droplin, env)
    assert_refused(d, rc, port, var)
    assert value not in d.output(), "the rejected key was printed"


def test_32_byte_secret_is_enough(droplin):
    d = droplin(env={"DROPLIN_ENV": "production", "JWT_SECRET_KEY": "x" * 32,
                     "ADMIN_SECRET": STRONG_ADMIN})
    d.wait_ready()


def test_strong_secrets_start_in_production(droplin):
    d = droplin(env={"DROPLIN_ENV": None, "JWT_SECRET_KEY": STRONG_JWT,
                     "ADMIN_SECRET": STRONG_ADMIN})
    d.wait_ready()
    assert d.get("/health").json()["environment"] == "production"


def test_development_without_secrets_starts_and_warns(droplin):
    d = droplin(env={"DROPLIN_ENV": "development", "JWT_SECRET_KEY": None,
                     "ADMIN_SECRET": None})
    d.wait_ready()
    warns = [l for l in d.logs() if l.get("level") == "warn"]
    assert warns, d.describe()
    text = " ".join(str(l) for l in warns)
    assert "JWT_SECRET_KEY" in text and "ADMIN_SECRET" in text, \
        f"the warnings do not name the missing secrets: {warns}"


def test_secrets_never_appear_in_logs(droplin):
    d = droplin(env={"DROPLIN_ENV": "production", "JWT_SECRET_KEY": STRONG_JWT,
                     "ADMIN_SECRET": STRONG_ADMIN})
    d.wait_ready()
    d.get("/health")
    out = d.output()
    assert STRONG_JWT not in out and STRONG_ADMIN not in out
    assert "droplin:droplin@" not in out, "DATABASE_URL with its password was logged"


@pytest.mark.parametrize("url", [None, "", "  "], ids=["unset", "empty", "blank"])
def test_production_refuses_an_empty_database_url(droplin, url):
    """A forgotten DATABASE_URL (or a platform reference that resolved to nothing) stops start-up
    like a missing secret, instead of a replica that is never ready."""
    env = {"DROPLIN_ENV": "production", "JWT_SECRET_KEY": STRONG_JWT,
           "ADMIN_SECRET": STRONG_ADMIN, "DATABASE_URL": url}
    d, rc, port = start_expecting_exit(droplin, env)
    assert_refused(d, rc, port, "DATABASE_URL")


def test_development_starts_without_database_url(droplin):
    # libpq's PG* variables alone may name the database there; droplin listens, unready
    d = droplin(env={"DROPLIN_ENV": "development", "DATABASE_URL": None})
    assert d.get("/livez").status == 200
