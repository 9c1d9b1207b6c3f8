"""An empty root file system: the binary alone in a directory is enough (static, embedded CA
bundle, no /etc files)."""

import os
import shutil

import pytest

import harness
from harness import run_cli


@pytest.fixture
def empty_root(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy2(harness.droplin_bin(), root / "droplin")
    assert sorted(os.listdir(root)) == ["droplin"]
    return root


def test_serves_from_an_empty_root(droplin, empty_root, fresh_db):
    assert "127.0.0.1" in fresh_db and "droplin:droplin@" in fresh_db  # SCRAM, no socket
    d = droplin(prefix=["chroot", str(empty_root)], binary="/droplin", db=fresh_db)
    d.wait_ready()
    body = d.get("/health").json()
    assert body["status"] == "healthy"
    assert d.get("/ready").json()["checks"]["migrations"] is True
    assert sorted(os.listdir(empty_root)) == ["droplin"], "droplin wrote files into its root"


def test_healthcheck_from_an_empty_root(droplin, empty_root):
    d = droplin()
    d.wait_ready()
    r = run_cli(["--healthcheck"], env={"PORT": d.port}, prefix=["chroot", str(empty_root)],
                binary="/droplin")
    assert r.returncode == 0, (r.stdout, r.stderr)


def test_check_outbound_from_an_empty_root(empty_root, https_stub_server, test_ca):
    shutil.copy(test_ca["ca"], empty_root / "ca.pem")
    env = {"DROPLIN_ENV": "development", "OUTBOUND_CA_FILE": "/ca.pem",
           "OUTBOUND_RESOLVE": https_stub_server.resolve()}
    r = run_cli(["--check-outbound", https_stub_server.url + "/ok"], env=env,
                prefix=["chroot", str(empty_root)], binary="/droplin")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "200" in r.stdout
