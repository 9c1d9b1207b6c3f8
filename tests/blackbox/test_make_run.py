"""`make run` (tests/run-local.sh), the README's first command: a throwaway PostgreSQL in a
temporary folder and droplin in development mode against it, ready on the printed URL, and
both gone with the folder when it is stopped. Run as root here, as on a fresh machine, where
the folder must stay reachable for the postgres user."""

import os
import re
import signal
import subprocess
import time

import harness

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_make_run_serves_and_cleans_up():
    port, pgport = harness.free_port(), harness.free_port()
    p = subprocess.Popen(["sh", os.path.join(REPO, "tests", "run-local.sh")],
                         env=dict(harness.BASE_ENV, PORT=str(port), PGPORT_RUN=str(pgport)),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
    lines = []
    try:
        for line in p.stdout:
            lines.append(line)
            if line.startswith("droplin:"):
                break
        out = "".join(lines)
        assert f"http://127.0.0.1:{port}" in out, out
        folder = re.search(r"data in (\S+)\)", out).group(1)
        harness.wait_until(lambda: _status(port) == 200, 60, what="/ready of make run")
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGINT)  # what Ctrl-C sends the foreground group
        p.wait(timeout=30)
    assert not os.path.exists(folder), "the temporary folder was left behind"
    deadline = time.monotonic() + 10
    while _status(port) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _status(port) is None, "droplin still answers after make run stopped"


def _status(port):
    try:
        return harness.http_request(port, "GET", "/ready", timeout=1).status
    except (OSError, AssertionError):
        return None
