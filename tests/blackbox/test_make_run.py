"""`make run` (tests/run-local.sh), the README's first command: a throwaway PostgreSQL in a
temporary folder and droplin in development mode against it on 127.0.0.1 only, ready when it
prints the URL, the admin secret and a three-line curl tour that works as printed; both gone with
the folder when it is stopped. Run as root here, as on a fresh machine, where the folder must stay
reachable for the postgres user. `make run` installs only the run set of tests/install.sh."""

import os
import re
import signal
import subprocess
import threading
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
    # a script that never prints the tour is stopped rather than waited for
    watchdog = threading.Timer(harness.scaled(60), os.killpg, (p.pid, signal.SIGINT))
    watchdog.start()
    try:
        for line in p.stdout:
            lines.append(line)
            if line.startswith("  curl -s") and "/health" in line:
                break
        out = "".join(lines)
        assert f"droplin:    http://127.0.0.1:{port}" in out, out
        folder = re.search(r"data in (\S+)\)", out).group(1)
        assert _status(port) == 200, "the banner came before /ready"
        assert _listening_addresses(port) == {"127.0.0.1"}, _listening_addresses(port)
        # the admin secret as printed opens the admin routes
        secret = re.search(r"secret: ([0-9a-f]{32,})", out).group(1)
        r = harness.http_request(port, "GET", "/admin/stats", headers={"secret": secret})
        assert r.status == 200, r
        # the tour, as printed, in one shell: register, profile, health
        tour = [l.strip() for l in lines if l.startswith("  TOKEN=") or l.startswith("  curl -s")]
        assert len(tour) == 3, out
        r = subprocess.run(["sh", "-c", "\n".join(tour[:2]) + "\necho\n" + tour[2]],
                           capture_output=True, text=True, timeout=30)
        profile, health = r.stdout.splitlines()[:2]
        assert '"username":"alice"' in profile, r.stdout + r.stderr
        assert '"status":"healthy"' in health, r.stdout + r.stderr
    finally:
        watchdog.cancel()
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGINT)  # what Ctrl-C sends the foreground group
        p.wait(timeout=30)
    assert not os.path.exists(folder), "the temporary folder was left behind"
    deadline = time.monotonic() + 10
    while _status(port) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _status(port) is None, "droplin still answers after make run stopped"


def test_make_run_installs_only_what_it_needs():
    with open(os.path.join(REPO, "Makefile")) as f:
        recipe = re.search(r"^run:.*\n((?:\t.*\n)+)", f.read(), re.M).group(1)
    assert "tests/install.sh run" in recipe, recipe
    script = os.path.join(REPO, "tests", "install.sh")
    run = subprocess.run(["sh", script, "--print", "run"], capture_output=True, text=True,
                         check=True).stdout.split()
    test = subprocess.run(["sh", script, "--print"], capture_output=True, text=True,
                          check=True).stdout.split()
    assert {"postgresql-15", "curl"} <= set(run), run
    assert not {"chromium", "haproxy", "pgbouncer", "python3-pytest"} & set(run), run
    assert set(run) < set(test) and {"chromium", "haproxy", "pgbouncer"} <= set(test), test


def _listening_addresses(port):
    """Local addresses of the listening TCP sockets on port (IPv4 and IPv6)."""
    found = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(name) as f:
            for row in f.read().splitlines()[1:]:
                local, state = row.split()[1], row.split()[3]
                addr, p = local.split(":")
                if state != "0A" or int(p, 16) != port:
                    continue
                if len(addr) == 8:
                    found.add(".".join(str(b) for b in bytes.fromhex(addr)[::-1]))
                else:
                    found.add("ipv6:" + addr)
    return found


def _status(port):
    try:
        return harness.http_request(port, "GET", "/ready", timeout=1).status
    except (OSError, AssertionError):
        return None
