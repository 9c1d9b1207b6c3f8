"""Command line: --help, --version, --healthcheck (R6, O1)."""

import re
import time

import harness
from harness import run_cli

DOCUMENTED = [
    "PORT", "HOST", "DATABASE_URL", "DROPLIN_ENV", "JWT_SECRET_KEY", "ADMIN_SECRET",
    "DB_POOL_SIZE", "DB_ACQUIRE_TIMEOUT_MS", "DRAIN_SECONDS", "SHUTDOWN_TIMEOUT_SECONDS",
    "MAX_CONNECTIONS", "MAX_CONNECTIONS_PER_IP", "CORS_ORIGINS", "TRUST_PROXY", "LOG_LEVEL",
    "OUTBOUND_CA_FILE", "OUTBOUND_RESOLVE",
    # also used by the tests
    "DB_CONNECT_TIMEOUT_MS", "DB_PROBE_INTERVAL_MS", "HEALTH_STALE_MS", "HEAD_TIMEOUT_MS",
    "IDLE_TIMEOUT_MS", "KEEPALIVE_TIMEOUT_MS", "OUTBOUND_TIMEOUT_MS", "RAILWAY_REPLICA_ID",
    "RAILWAY_REPLICA_REGION",
]

# Defaults that DECISIONS.md fixes; --help must state them next to the variable.
DOCUMENTED_DEFAULTS = {
    "DB_POOL_SIZE": "4",
    "DRAIN_SECONDS": "3",
    "MAX_CONNECTIONS": "10000",
    "MAX_CONNECTIONS_PER_IP": "256",
    "TRUST_PROXY": "0",
    "DROPLIN_ENV": "production",
    "BODY_TIMEOUT_MS": "60000",
    "BODY_MIN_BYTES_PER_SECOND": "8192",
    "MAX_BUFFERED_BODY_BYTES": "134217728",
}


def help_line(text, var):
    """The --help text documenting var: the first line naming it (preferably at the start of the
    line) plus the more-indented lines that follow it."""
    lines = text.splitlines()
    named = re.compile(rf"(^|[^A-Z0-9_]){var}([^A-Z0-9_]|$)")
    starts = [i for i, l in enumerate(lines) if re.match(rf"^\s*-*{var}([^A-Z0-9_]|$)", l)]
    anywhere = [i for i, l in enumerate(lines) if named.search(l)]
    if not (starts or anywhere):
        return None
    i = (starts or anywhere)[0]
    indent = len(lines[i]) - len(lines[i].lstrip())
    block = [lines[i]]
    for nxt in lines[i + 1:]:
        if nxt.strip() and len(nxt) - len(nxt.lstrip()) > indent:
            block.append(nxt)
        else:
            break
    return " ".join(block)


def test_help_lists_every_variable_with_default_and_meaning():
    r = run_cli(["--help"])
    assert r.returncode == 0, r.stderr
    for var in DOCUMENTED:
        doc = help_line(r.stdout, var)
        assert doc is not None, f"--help does not mention {var}:\n{r.stdout}"
        words = re.sub(rf"\b{var}\b", "", doc)
        assert len(re.findall(r"[a-z]{3,}", words)) >= 2, f"{var} has no explanation: {doc!r}"
    for var, default in DOCUMENTED_DEFAULTS.items():
        doc = help_line(r.stdout, var).replace(",", "").replace("_", "")
        assert re.search(rf"(^|\D){default}(\D|$)", doc), \
            f"--help does not give {var}'s default {default}: {doc!r}"


def test_help_needs_no_configuration():
    # No secrets, no DATABASE_URL, production by default: --help still works.
    r = run_cli(["--help"], env={})
    assert r.returncode == 0
    assert "DATABASE_URL" in r.stdout


LINKED = ("BearSSL", "jsmn", "jansson", "libjwt", "libcurl", "libpq", "Mozilla")


def test_version():
    # droplin's version, then one line per library linked in, from what the build used
    # (vendor/sbom.sh): "name version (Debian version[; note]), licence".
    r = run_cli(["--version"], env={})
    assert r.returncode == 0, r.stderr
    first, *libs = r.stdout.splitlines()
    assert re.fullmatch(r"droplin \S+", first), repr(r.stdout)
    for line in libs:
        assert re.fullmatch(r"\S.* \S+ \(Debian \S+(; [^)]*)?\), \S+", line), line
    names = [line.split(" ")[0] for line in libs]
    assert "musl" in names, r.stdout  # the C library, or only crypt in the glibc debug build
    for name in LINKED:
        assert name in names, r.stdout


def test_unknown_option_fails():
    r = run_cli(["--no-such-option"], env={})
    assert r.returncode != 0


def test_healthcheck_against_a_running_instance(droplin):
    d = droplin()
    d.wait_ready()
    r = run_cli(["--healthcheck"], env={"PORT": d.port})
    assert r.returncode == 0, (r.stdout, r.stderr)


def test_healthcheck_with_nothing_listening():
    port = harness.free_port()
    t0 = time.monotonic()
    r = run_cli(["--healthcheck"], env={"PORT": port}, timeout=30)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert time.monotonic() - t0 < harness.scaled(15)


def test_healthcheck_probes_livez_by_default_and_a_chosen_path():
    """/livez by default (a database outage must not mark a container unhealthy); /health and
    /ready on request. A stand-in server records the path asked for."""
    import http.server
    import threading
    paths = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            paths.append(self.path)
            code = 503 if self.path == "/ready" else 200
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        env = {"PORT": srv.server_address[1], "HOST": "127.0.0.1"}
        assert run_cli(["--healthcheck"], env=env).returncode == 0
        assert run_cli(["--healthcheck", "/health"], env=env).returncode == 0
        r = run_cli(["--healthcheck", "/ready"], env=env)
        assert r.returncode == 1 and "503" in r.stderr, (r.stdout, r.stderr)
        assert paths == ["/livez", "/health", "/ready"], paths
    finally:
        srv.shutdown()


def test_healthcheck_exits_only_0_or_1():
    """Docker reserves exit status 2: a bad argument or a bad configuration is 1 as well."""
    port = harness.free_port()
    for args, env in ((["--healthcheck", "/nope"], {"PORT": port}),
                      (["--healthcheck", "/livez", "extra"], {"PORT": port}),
                      (["--healthcheck"], {"PORT": "not-a-port"}),
                      (["--healthcheck"], {"PORT": port, "DATABASE_URL": "host=x sslmode=bogus"})):
        r = run_cli(args, env=env)
        assert r.returncode == 1, (args, env, r.returncode, r.stderr)
        assert r.stderr.strip(), (args, r.stderr)
