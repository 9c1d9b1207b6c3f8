"""Black-box harness for droplin: PostgreSQL clusters, droplin processes, raw HTTP/1.1.

Everything talks to loopback only. Every wait is bounded by a deadline.
"""

import json
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid

import psycopg2

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS_DIR)
PG_SH = os.path.join(TESTS_DIR, "pg.sh")


# make blackbox-asan sets 3: under ASan droplin is slower (bcrypt about five times). The one
# factor stretches every bound the tests assert and every wait deadline (scaled()), not only
# the socket timeout of http_request.
TIMEOUT_SCALE = float(os.environ.get("DROPLIN_TEST_TIMEOUT_SCALE", "1"))


def scaled(seconds):
    """seconds stretched by DROPLIN_TEST_TIMEOUT_SCALE: use it for every upper bound a test
    asserts on elapsed time and for every deadline it waits on; never for a lower bound, and
    for a setting droplin is given only together with the bounds it is compared with (so the
    relation between them holds at every scale)."""
    return seconds * TIMEOUT_SCALE


def droplin_bin():
    return os.environ.get("DROPLIN_BIN", os.path.join(REPO, "droplin"))


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(host="127.0.0.1"):
    """A port that was free a moment ago, chosen below the kernel's ephemeral range, so that
    client sockets and PORT=0 listeners never take it (a stopped cluster can restart on it)."""
    low = _ephemeral_low()
    rng = random.SystemRandom()
    for _ in range(50):
        port = rng.randint(10000, max(10001, low - 1))
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, interval=0.05, what="condition"):
    """Poll predicate() until it returns a truthy value or timeout seconds (scaled()) pass."""
    timeout = scaled(timeout)
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# --------------------------------------------------------------------------------------------
# PostgreSQL


class PgCluster:
    """A throwaway cluster made by tests/pg.sh in a private temp dir (under /tmp, which the
    postgres system user can reach)."""

    def __init__(self, env=None):
        self.env = env  # the server's environment (a fake clock's), else the tests'
        self.dir = tempfile.mkdtemp(prefix="droplin-pg-", dir="/tmp")
        self.port = None
        self.bouncer = None  # a PgBouncer in front (pgbouncer_mode()): url() goes through it

    def start(self, port=None, attempts=3):
        last = None
        for _ in range(attempts if port is None else 1):
            p = port if port is not None else free_port()
            r = subprocess.run(["sh", PG_SH, "start", self.dir, str(p)], env=self.env,
                               capture_output=True, text=True, timeout=120)
            if r.returncode == 0:
                self.port = p
                return self
            last = r.stderr
        raise RuntimeError(f"pg.sh start failed: {last}")

    def stop(self, mode="fast"):
        subprocess.run(["sh", PG_SH, "stop", self.dir, mode],
                       capture_output=True, text=True, timeout=120, check=True)

    def restart_same_port(self):
        return self.start(port=self.port)

    def destroy(self):
        if self.bouncer:
            self.bouncer.destroy()
        try:
            self.stop("immediate")
        except Exception:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def put_bouncer_in_front(self, pool_size=10):
        self.bouncer = PgBouncer(self, pool_size).start()
        return self

    def url(self, dbname="postgres"):
        """droplin's and the tests' URL (through the bouncer if there is one); connect() and
        create_database() always go to PostgreSQL itself."""
        port = self.bouncer.port if self.bouncer else self.port
        return f"postgresql://droplin:droplin@127.0.0.1:{port}/{dbname}"

    def connect(self, dbname="postgres"):
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="droplin",
                                password="droplin", dbname=dbname, connect_timeout=10)
        conn.autocommit = True
        return conn

    def create_database(self):
        """A new empty database; returns its URL (user and password always in it)."""
        name = "t_" + uuid.uuid4().hex[:16]
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return self.url(name)

    def freeze(self):
        """SIGSTOPs the postmaster, then each of its children (none is forked after the first
        stop; one that exits meanwhile, a backend whose client left, needs no stopping).
        Returns the PIDs for thaw()."""
        pids = self.postgres_pids()[:1]
        os.kill(pids[0], signal.SIGSTOP)
        for pid in self.postgres_pids()[1:]:
            try:
                os.kill(pid, signal.SIGSTOP)
                pids.append(pid)
            except ProcessLookupError:
                pass
        return pids

    @staticmethod
    def thaw(pids):
        for pid in pids:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    def postgres_pids(self):
        """PIDs of the postmaster and all its children (for SIGSTOP/SIGCONT tests)."""
        with open(os.path.join(self.dir, "data", "postmaster.pid")) as f:
            master = int(f.readline().strip())
        pids = [master]
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == master:
                pids.append(int(entry))
        return pids


PGBOUNCER_BIN = "/usr/sbin/pgbouncer"


def pgbouncer_mode():
    """DROPLIN_TEST_PGBOUNCER=1: every cluster the fixtures start is reached through a
    PgBouncer in transaction mode, and droplin runs with DB_PREPARED_STATEMENTS=0."""
    return os.environ.get("DROPLIN_TEST_PGBOUNCER") == "1"


class PgBouncer:
    """Debian's pgbouncer in transaction mode in front of a PgCluster: 127.0.0.1, a free port,
    every database (`*`), SCRAM with the harness's droplin/droplin. It refuses to run as root,
    so as root it runs as the postgres system user, as the cluster does."""

    # every test has its own database, so its own pool: idle server connections go after 2 s and
    # all pools together stay under the cluster's max_connections (300)
    def __init__(self, cluster, pool_size=10):
        self.cluster = cluster
        self.pool_size = pool_size
        self.dir = tempfile.mkdtemp(prefix="droplin-pgbouncer-", dir="/tmp")
        self.port = None
        self.proc = None

    def _write_config(self, port):
        with open(os.path.join(self.dir, "users.txt"), "w") as f:
            f.write('"droplin" "droplin"\n')
        with open(os.path.join(self.dir, "pgbouncer.ini"), "w") as f:
            f.write(f"""[databases]
* = host=127.0.0.1 port={self.cluster.port}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {self.dir}/users.txt
pool_mode = transaction
default_pool_size = {self.pool_size}
max_client_conn = 4000
max_user_connections = 200
server_idle_timeout = 2
server_reset_query =
server_connect_timeout = 5
server_login_retry = 1
logfile = {self.dir}/pgbouncer.log
""")

    def start(self, attempts=3):
        if os.getuid() == 0:
            shutil.chown(self.dir, "postgres")
        last = None
        for _ in range(attempts):
            port = free_port()
            self._write_config(port)
            prefix = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
            self.proc = subprocess.Popen(prefix + [PGBOUNCER_BIN, os.path.join(self.dir, "pgbouncer.ini")],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                if connectable(port, timeout=0.5):
                    self.port = port
                    return self
                time.sleep(0.05)
            last = self.log()
            self.stop()
        raise RuntimeError(f"pgbouncer did not start: {last}")

    def log(self):
        try:
            with open(os.path.join(self.dir, "pgbouncer.log")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # runuser forwards it to pgbouncer
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def destroy(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, dbname="postgres"):
        return f"postgresql://droplin:droplin@127.0.0.1:{self.port}/{dbname}"


def db_connect(url):
    conn = psycopg2.connect(url, connect_timeout=10)
    conn.autocommit = True
    return conn


def db_query(url, sql, args=None):
    conn = db_connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def db_exec(url, sql, args=None):
    db_query(url, sql, args)


# --------------------------------------------------------------------------------------------
# Raw HTTP/1.1


class Headers:
    """Response headers: ordered list of (name, value) plus case-insensitive lookups."""

    def __init__(self, items):
        self.items = items

    def get(self, name, default=None):
        name = name.lower()
        for k, v in self.items:
            if k.lower() == name:
                return v
        return default

    def get_all(self, name):
        name = name.lower()
        return [v for k, v in self.items if k.lower() == name]

    def __contains__(self, name):
        return self.get(name) is not None

    def __getitem__(self, name):
        v = self.get(name)
        if v is None:
            raise KeyError(name)
        return v

    def __repr__(self):
        return repr(self.items)


class Response:
    def __init__(self, version, status, reason, headers, body):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def wants_close(self):
        conn = (self.headers.get("Connection") or "").lower()
        return "close" in [t.strip() for t in conn.split(",")]

    def __repr__(self):
        return f"<Response {self.status} {self.headers!r} {self.body[:300]!r}>"


class ProtocolError(AssertionError):
    pass


class RawConn:
    """One TCP connection to droplin with a read buffer (for pipelining)."""

    def __init__(self, port, host="127.0.0.1", source=None, timeout=5.0):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if source:
            self.sock.bind((source, 0))
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.buf = b""
        self.eof = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def try_send(self, data):
        """Send, but report instead of raising when the server already closed (EPIPE/RST)."""
        try:
            self.send(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def _fill(self, deadline):
        """Read more bytes into the buffer; False on EOF."""
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("read deadline passed")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _read_until(self, marker, deadline, limit=1 << 20):
        while marker not in self.buf:
            if len(self.buf) > limit:
                raise ProtocolError("response head too long")
            if not self._fill(deadline):
                raise ProtocolError(f"connection closed before {marker!r}; got {self.buf[:200]!r}")
        i = self.buf.index(marker)
        out, self.buf = self.buf[:i], self.buf[i + len(marker):]
        return out

    def _read_exact(self, n, deadline):
        while len(self.buf) < n:
            if not self._fill(deadline):
                raise ProtocolError(f"connection closed after {len(self.buf)} of {n} body bytes")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, timeout=5.0, head_request=False):
        """Read one full HTTP/1.x response (body by Content-Length, chunked, or until EOF)."""
        deadline = time.monotonic() + timeout
        while True:
            head = self._read_until(b"\r\n\r\n", deadline)
            lines = head.split(b"\r\n")
            m = re.match(rb"^(HTTP/1\.[01]) (\d{3})(?: (.*))?$", lines[0])
            if not m:
                raise ProtocolError(f"bad status line {lines[0]!r}")
            version = m.group(1).decode()
            status = int(m.group(2))
            reason = (m.group(3) or b"").decode("latin-1")
            items = []
            for line in lines[1:]:
                if b":" not in line:
                    raise ProtocolError(f"bad header line {line!r}")
                k, v = line.split(b":", 1)
                items.append((k.decode("latin-1"), v.strip().decode("latin-1")))
            headers = Headers(items)
            if 100 <= status < 200:
                continue  # interim response
            break
        te = headers.get("Transfer-Encoding")
        cl = headers.get_all("Content-Length")
        if head_request or status in (204, 304):
            body = b""
        elif te is not None:
            if te.lower() != "chunked":
                raise ProtocolError(f"unexpected Transfer-Encoding {te!r}")
            body = b""
            while True:
                size_line = self._read_until(b"\r\n", deadline)
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self._read_until(b"\r\n", deadline) != b"":
                        pass  # trailers
                    break
                body += self._read_exact(size, deadline)
                if self._read_exact(2, deadline) != b"\r\n":
                    raise ProtocolError("bad chunk terminator")
        elif cl:
            if len(cl) != 1 or not cl[0].isdigit():
                raise ProtocolError(f"bad Content-Length in response: {cl!r}")
            body = self._read_exact(int(cl[0]), deadline)
        else:
            while self._fill(deadline):
                pass
            body, self.buf = self.buf, b""
        return Response(version, status, reason, headers, body)

    def state_after(self, timeout=2.0):
        """What the server does next, within timeout: 'closed' (EOF/RST), 'data' (more bytes
        arrived or were already buffered) or 'open' (nothing happened)."""
        if self.buf:
            return "data"
        if self.eof:
            return "closed"
        deadline = time.monotonic() + timeout
        try:
            return "data" if self._fill(deadline) else "closed"
        except (socket.timeout, TimeoutError):
            return "open"

    def is_closed_by_peer(self, timeout=2.0):
        return self.state_after(timeout) == "closed"

    def readable(self, timeout=0.0):
        if self.buf or self.eof:
            return True
        r, _, _ = select.select([self.sock], [], [], timeout)
        return bool(r)


def logged_ms(d, request_id, timeout=10):
    """duration_ms that droplin d logged for the request with this X-Request-ID: the time droplin
    itself spent on it, head to response, whatever the client's machine was doing."""
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        for line in d.logs():
            if line.get("request_id") == request_id and "duration_ms" in line:
                return line["duration_ms"]
        time.sleep(0.05)
    raise AssertionError(f"no log line for {request_id}\n{d.describe()}")


def rss_kib(pid):
    """A process's resident memory (VmRSS), in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def http_request(port, method, path, headers=None, body=b"", host="127.0.0.1",
                 version="HTTP/1.1", timeout=5.0, source=None):
    """One request on a new connection (Connection: close unless the caller sets it)."""
    host_hdr = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    hdrs = {"Host": host_hdr, "Connection": "close"}
    hdrs.update(headers or {})
    if isinstance(body, str):
        body = body.encode("utf-8")
    if body and "Content-Length" not in hdrs and "Transfer-Encoding" not in hdrs:
        hdrs["Content-Length"] = str(len(body))
    head = f"{method} {path} {version}\r\n"
    for k, v in hdrs.items():
        if v is not None:
            head += f"{k}: {v}\r\n"
    timeout *= TIMEOUT_SCALE
    with RawConn(port, host=host, source=source, timeout=timeout) as c:
        c.send(head.encode("latin-1") + b"\r\n" + body)
        return c.read_response(timeout=timeout, head_request=(method == "HEAD"))


def build_request(method, path, headers=(), body=b"", version="HTTP/1.1"):
    """Raw request bytes from an ordered header list (no defaults added)."""
    head = f"{method} {path} {version}\r\n"
    for k, v in headers:
        head += f"{k}: {v}\r\n"
    if isinstance(body, str):
        body = body.encode()
    return head.encode("latin-1") + b"\r\n" + body


SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "X-XSS-Protection": "1; mode=block",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


def assert_security_headers(resp):
    """ORIGINAL_API §8 headers, and a JSON Content-Type on every JSON body."""
    for name, value in SECURITY_HEADERS.items():
        assert resp.headers.get(name) == value, \
            f"{name}: expected {value!r}, got {resp.headers.get(name)!r} in {resp!r}"
    try:
        is_json = isinstance(json.loads(resp.body.decode("utf-8")), (dict, list))
    except ValueError:
        is_json = False
    if is_json:
        assert_json(resp)


def assert_json(resp):
    ctype = resp.headers.get("Content-Type") or ""
    assert ctype.split(";")[0].strip().lower() == "application/json", \
        f"Content-Type {ctype!r} for a JSON body: {resp!r}"
    return resp.json()


ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")


def parse_iso_utc(text):
    import datetime
    assert ISO_UTC.match(text), f"not ISO-8601 UTC with Z: {text!r}"
    base = text[:-1]
    fmt = "%Y-%m-%dT%H:%M:%S.%f" if "." in base else "%Y-%m-%dT%H:%M:%S"
    return datetime.datetime.strptime(base, fmt).replace(tzinfo=datetime.timezone.utc)


# --------------------------------------------------------------------------------------------
# droplin processes

DEFAULT_ENV = {
    "PORT": "0",
    "HOST": "127.0.0.1",
    "DROPLIN_ENV": "development",
    # test-shortened timings
    "DB_PROBE_INTERVAL_MS": "100",
    "HEALTH_STALE_MS": "500",
    "DB_CONNECT_TIMEOUT_MS": "1000",
    "DB_ACQUIRE_TIMEOUT_MS": "1000",
    "SHUTDOWN_TIMEOUT_SECONDS": "5",
    # cleanup() stops every droplin with SIGTERM: no drain before the listener closes
    "DRAIN_SECONDS": "0",
}
if pgbouncer_mode():
    DEFAULT_ENV["DB_PREPARED_STATEMENTS"] = "0"

BASE_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}

# Options of a sanitizer build (make test's ASan run) reach every droplin it starts.
SANITIZER_ENV = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "ASAN_SYMBOLIZER_PATH")


def make_env(overrides=None, base=None):
    env = dict(BASE_ENV if base is None else base)
    env.update({k: os.environ[k] for k in SANITIZER_ENV if k in os.environ})
    for k, v in (overrides or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    return env


class Droplin:
    """A running droplin process; stdout (JSON lines) and stderr are collected by threads."""

    def __init__(self, argv, env, cwd=None):
        self.argv = argv
        self.env = env
        self.port = None
        self.url = None
        self._lines = []
        self._stderr = []
        self._lock = threading.Lock()
        self._listening = threading.Event()
        # how the test took the process's end upon itself: "killed" (kill(): SIGKILL, the
        # status is not looked at), "waited" (wait_exit() checked the status), else None and
        # DroplinFactory.cleanup() stops it with SIGTERM and requires exit status
        # self.clean_exit (0 unless the test said otherwise with expect_exit())
        self.ended_by = None
        self.clean_exit = 0
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._t_out = threading.Thread(target=self._read_stdout, daemon=True)
        self._t_err = threading.Thread(target=self._read_stderr, daemon=True)
        self._t_out.start()
        self._t_err.start()

    def _read_stdout(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._lock:
                self._lines.append(line)
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict) and obj.get("message") == "listening" and self.port is None:
                port = obj.get("port")
                if isinstance(port, int):
                    self.port = port
                    self.url = f"http://127.0.0.1:{port}"
                    self._listening.set()

    def _read_stderr(self):
        for raw in self.proc.stderr:
            with self._lock:
                self._stderr.append(raw.decode("utf-8", "replace").rstrip("\n"))

    # -- output

    def stdout_lines(self):
        with self._lock:
            return list(self._lines)

    def stderr_lines(self):
        with self._lock:
            return list(self._stderr)

    def logs(self):
        """All stdout lines so far that parse as JSON objects."""
        out = []
        for line in self.stdout_lines():
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                out.append(obj)
        return out

    def output(self):
        """stdout and stderr together, for messages and assertion texts."""
        return "\n".join(self.stdout_lines() + self.stderr_lines())

    def describe(self, tail=40):
        out = self.stdout_lines()[-tail:]
        err = self.stderr_lines()[-tail:]
        return (f"argv={self.argv} rc={self.proc.poll()}\n--- stdout (tail) ---\n"
                + "\n".join(out) + "\n--- stderr (tail) ---\n" + "\n".join(err))

    def wait_log(self, predicate, timeout=5.0, what="log line"):
        return wait_until(lambda: next((l for l in self.logs() if predicate(l)), None),
                          timeout, what=what)

    def log_barrier(self, timeout=10.0):
        """A barrier before asserting that something is NOT in the log: a request with a fresh
        X-Request-ID, and its request line waited for. Every line of the requests answered
        before it is in the log (and read) by then. Needs request lines (LOG_LEVEL info)."""
        rid = "barrier-" + uuid.uuid4().hex[:16]
        r = self.get("/", headers={"X-Request-ID": rid})
        assert r.status == 200, r
        return self.wait_log(lambda l: l.get("request_id") == rid and "status" in l, timeout,
                             what="the barrier request's log line")

    # -- lifecycle

    def wait_listening(self, timeout=15.0):
        timeout = scaled(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._listening.wait(0.05):
                return self
            if self.proc.poll() is not None:
                self._t_out.join(2)
                if self._listening.is_set():
                    return self
                raise AssertionError("droplin exited before listening\n" + self.describe())
        raise AssertionError(f"droplin not listening after {timeout}s\n" + self.describe())

    def wait_ready(self, timeout=15.0):
        if self.port is None:  # started with wait=False: its port comes with "listening"
            self.wait_listening(timeout)
        timeout = scaled(timeout)
        last = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("droplin exited while waiting for /ready\n" + self.describe())
            try:
                last = self.get("/ready", timeout=2)
                if last.status == 200:
                    return last
            except (OSError, ProtocolError) as e:
                last = e
            time.sleep(0.05)
        raise AssertionError(f"/ready not 200 after {timeout}s: {last!r}\n" + self.describe())

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=10.0, expect=0):
        """Waits for the exit and returns its status, which must be expect (None: a test that
        states the status is not specified, and says why)."""
        timeout = scaled(timeout)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"droplin still running after {timeout}s\n" + self.describe())
        self._t_out.join(2)
        self._t_err.join(2)
        self.ended_by = "waited"
        if expect is not None:
            assert rc == expect, f"exit status {rc}, expected {expect}\n" + self.describe()
        return rc

    def kill(self):
        """SIGKILL, deliberately: cleanup() does not look at how the process ended."""
        self.ended_by = "killed"
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass

    def expect_exit(self, status, why):
        """The status cleanup()'s SIGTERM must end this process with, when a test leaves it in
        a state that is not a clean exit on purpose (say mail stalled in a stand-in: exit 1,
        the mail logged as dropped). why is for the reader."""
        assert why
        self.clean_exit = status

    def stop(self, timeout=None):
        """SIGTERM, then exit status 0 within the shutdown timeout (a drain that overruns
        exits 1)."""
        if timeout is None:
            timeout = self.shutdown_bound()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait_exit(timeout / TIMEOUT_SCALE, expect=0)

    def shutdown_bound(self):
        """How long a SIGTERM-to-exit may take (scaled): DRAIN_SECONDS plus
        SHUTDOWN_TIMEOUT_SECONDS as this process has them, and room to stop its threads."""
        def setting(name, default):
            try:
                return float(self.env.get(name, default))
            except ValueError:
                return float(default)
        return scaled(setting("DRAIN_SECONDS", 3) + setting("SHUTDOWN_TIMEOUT_SECONDS", 10) + 10)

    def sanitizer_reports(self):
        """Reports of ASan, LSan or UBSan about this process: in its stderr, or in the files
        named by log_path= of ASAN_OPTIONS/UBSAN_OPTIONS (log_path.PID)."""
        out = [l for l in self.stderr_lines()
               if re.search(r"ERROR: (Address|Leak)Sanitizer|runtime error:|Sanitizer:", l)]
        paths = set()
        for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            m = re.search(r"(?:^|:)log_path=([^:]+)", self.env.get(var, ""))
            if m:
                paths.add(f"{m.group(1)}.{self.proc.pid}")
        for path in sorted(paths):
            try:
                with open(path, errors="replace") as f:
                    out.append(f"--- {path} ---\n" + f.read()[-4000:])
            except OSError:
                pass
        return out

    # -- HTTP

    def get(self, path, headers=None, timeout=5.0):
        return http_request(self.port, "GET", path, headers=headers, timeout=timeout)

    def request(self, method, path, headers=None, body=b"", timeout=5.0, **kw):
        return http_request(self.port, method, path, headers=headers, body=body,
                            timeout=timeout, **kw)

    def conn(self, source=None, timeout=5.0):
        return RawConn(self.port, source=source, timeout=timeout)


class DroplinFactory:
    """droplin(env=..., db=...) starts a binary; cleanup() stops all of them and checks how
    each ended."""

    def __init__(self, make_db):
        self._make_db = make_db
        self.procs = []

    def __call__(self, env=None, db=None, args=(), wait=True, binary=None, prefix=(),
                 base_env=None):
        if db is None:
            db = self._make_db()
        full = dict(DEFAULT_ENV)
        full["DATABASE_URL"] = db
        full.update(env or {})
        argv = list(prefix) + [binary or droplin_bin()] + list(args)
        d = Droplin(argv, make_env(full, base_env))
        self.procs.append(d)
        if wait:
            d.wait_listening()
        return d

    def cleanup(self):
        """Stops every droplin the test left running with SIGTERM and requires exit status 0
        within its shutdown bound, and no sanitizer report from any of them. A droplin the
        test ended itself is exempt from the status check only when it said so: kill()
        (a deliberate SIGKILL) or wait_exit() (which checked the status). A droplin that
        ended on its own (a crash after the test's last request) fails the test. A process
        still running after its bound is SIGKILLed and fails the test."""
        procs, self.procs = self.procs, []
        problems = []
        for d in procs:
            if d.ended_by is None:
                rc = d.proc.poll()
                if rc is not None:
                    problems.append((d, f"exited by itself with status {rc} during the test"))
                    d.ended_by = "crashed"
                else:
                    d.proc.send_signal(signal.SIGTERM)
        for d in procs:
            if d.ended_by is None:
                try:
                    rc = d.proc.wait(d.shutdown_bound())
                except subprocess.TimeoutExpired:
                    d.kill()
                    problems.append((d, f"still running {d.shutdown_bound():.0f} s after "
                                        f"SIGTERM (SIGKILLed)"))
                    continue
                d._t_out.join(2)
                d._t_err.join(2)
                if rc != d.clean_exit:
                    problems.append((d, f"exit status {rc} after SIGTERM, expected "
                                        f"{d.clean_exit}"))
        for d in procs:
            d._t_err.join(2)
            reports = d.sanitizer_reports()
            if reports:
                problems.append((d, "sanitizer report:\n" + "\n".join(reports)))
        if problems:
            raise AssertionError("droplin did not end cleanly:\n" + "\n\n".join(
                f"pid {d.proc.pid}: {what}\n{d.describe()}" for d, what in problems))


def run_cli(args, env=None, timeout=30.0, binary=None, prefix=()):
    """Run droplin as a command (--help, --healthcheck, ...); returns CompletedProcess."""
    argv = list(prefix) + [binary or droplin_bin()] + list(args)
    return subprocess.run(argv, env=make_env(env), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def strong_secrets():
    return {"JWT_SECRET_KEY": "k" + uuid.uuid4().hex + uuid.uuid4().hex,
            "ADMIN_SECRET": "a" + uuid.uuid4().hex}


def production_env(**extra):
    env = {"DROPLIN_ENV": "production"}
    env.update(strong_secrets())
    env.update(extra)
    return env


def connectable(port, host="127.0.0.1", timeout=1.0):
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False
