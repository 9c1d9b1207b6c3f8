#!/usr/bin/python3
"""make bench: droplin measured against its ceilings, as ratios taken in the same invocation.

Starts a throwaway PostgreSQL (tests/pg.sh through tests/harness.py), droplin, nginx, and runs
each scenario with wrk (Lua scripts in bench/wrk/), pgbench and a bcrypt timer. Prints one table
of medians and writes it, with the machine, date and command, into docs/performance.md between
its bench markers, plus docs/perf-health.png and docs/perf-mixed.png (gnuplot). Goals print PASS or MISS; a missed goal
never fails the run. See docs/performance.md for what each row measures.

Settings (environment): BENCH_RUNS (3), BENCH_SECONDS (5), BENCH_MIXED_LOAD (0.5),
BENCH_DOCS (1: update docs/performance.md and the plot; 0: print only), BENCH_ONLY (a comma list
of health, reads, login, mixed, memory, startup: run only those, print only; for tuning),
BENCH_MIXED (the mixed workload's classes and connections, "profile_get:48,...,login:1"),
BENCH_DROPLIN_ENV (extra droplin settings, "NAME=value,...", for tuning).
"""

import concurrent.futures
import datetime
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
sys.path.insert(0, os.path.join(REPO, "tests"))
import harness  # noqa: E402  (PgCluster, free_port, http_request)

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
MIXED_LOAD = float(os.environ.get("BENCH_MIXED_LOAD", "0.5"))
MIXED_CURVE = [0.25, 0.75]  # further loads, one run each, for the latency curve
SCENARIOS = ("health", "reads", "login", "mixed", "memory", "startup")
ONLY = [x for x in os.environ.get("BENCH_ONLY", "").split(",") if x]
if any(x not in SCENARIOS for x in ONLY):
    sys.exit(f"BENCH_ONLY: pick from {', '.join(SCENARIOS)}")
WRITE_DOCS = os.environ.get("BENCH_DOCS", "1") == "1" and not ONLY

HEALTH_CONNS = [16, 64, 128, 256]  # the sweep of the plot; 64 and 256 are goal rows
HEALTH_GOAL_CONNS = [64, 256]
READ_CONNS = 64
LOGIN_CONNS = 8  # more than the cores, so the bcrypt threads never wait for work
LOGIN_SECONDS = 10
BCRYPT_BOUND_HASHES = 8  # per core (a few seconds), before and after each login run
MIXED = [("profile_get", 48), ("devices_get", 48), ("profile_post", 16), ("device_post", 15),
         ("login", 1)]  # 128 connections in all
if os.environ.get("BENCH_MIXED"):
    MIXED = [(k, int(v)) for k, v in (x.split(":") for x in os.environ["BENCH_MIXED"].split(","))]
METRICS_TOKEN = secrets.token_urlsafe(32)  # /metrics is private in production
EXTRA_ENV = dict(x.split("=", 1) for x in os.environ.get("BENCH_DROPLIN_ENV", "").split(",") if x)
MIXED_LOGIN_THINK_MS = 1000
N_USERS = 32
N_LOGIN_USERS = 8
DEVICES_PER_USER = 8
IDLE_CONNS = 10000
STARTUPS = 5
BCRYPT_COST = 12
PASSWORD = "Sunny-Day7!"
POOL_SIZE = 4  # droplin's DB_POOL_SIZE default; pgbench gets as many clients
WRK_TIMEOUT = "10s"
READY_TIMEOUT_S = 30
STOP_TIMEOUT_S = 15

GOAL_HEALTH = 0.8
GOAL_READS = 0.7
GOAL_LOGIN = 0.9
GOAL_MIXED_P99_MS = 10.0
GOAL_IDLE_RSS_KB = 6 * 1024
GOAL_CONN_BYTES = 4096

BUILD = os.path.join(REPO, "build", "bench")
DROPLIN = os.environ.get("DROPLIN_BIN", os.path.join(REPO, "droplin"))
PGBIN = os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin")


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


# ------------------------------------------------------------------------------------------
# Processes


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class RssPeak(threading.Thread):
    """Samples a process's RSS every 100 ms; `peak` is the largest value while `active`."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.active, self.stop = pid, 0, False, False

    def run(self):
        while not self.stop:
            if self.active:
                self.peak = max(self.peak, rss_kb(self.pid) or 0)
            time.sleep(0.1)


def http_status(port, path, timeout=1.0):
    try:
        return harness.http_request(port, "GET", path, timeout=timeout).status
    except (OSError, AssertionError):
        return None


def start_droplin(env, port, out_path):
    """Starts droplin; returns (process, seconds from exec to the first /ready 200)."""
    e = dict(env, PORT=str(port))
    out = open(out_path, "ab")
    t0 = time.monotonic()
    p = subprocess.Popen([DROPLIN], env=e, stdout=out, stderr=subprocess.STDOUT)
    deadline = t0 + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if http_status(port, "/ready", timeout=0.5) == 200:
            return p, time.monotonic() - t0
        if p.poll() is not None:
            break
        time.sleep(0.002)
    stop_process(p)
    raise RuntimeError(f"droplin did not become ready; see {out_path}")


def stop_process(p, sig=signal.SIGTERM):
    """Stops a process this script started (never anyone else's)."""
    if p.poll() is not None:
        return
    p.send_signal(sig)
    try:
        p.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=STOP_TIMEOUT_S)


def start_nginx(tmp, port, body, headers):
    """nginx with one worker (droplin serves from one thread) answering /health with `body`."""
    assert "'" not in body and "\\" not in body and "$" not in body
    adds = "".join(f"            add_header {k} \"{v}\" always;\n" for k, v in headers)
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 20000; }}
http {{
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 75s;
    server_tokens off;
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location = /health {{
            default_type application/json;
{adds}            return 200 '{body}';
        }}
    }}
}}
""")
    p = subprocess.Popen(["nginx", "-p", tmp, "-c", conf, "-e", f"{tmp}/nginx-error.log"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    harness.wait_until(lambda: http_status(port, "/health") == 200, 10, what="nginx")
    return p


# ------------------------------------------------------------------------------------------
# Load generators


def wrk(port, conns, seconds, script="plain.lua", path="/", threads=2, env=None):
    """One wrk run; returns rps, latency percentiles (ms) and the error count."""
    e = dict(os.environ, BENCH_DIR=BENCH_DIR, BENCH_HOST=f"127.0.0.1:{port}", **(env or {}))
    cmd = ["wrk", f"-t{min(threads, conns)}", f"-c{conns}", f"-d{seconds}s", "--timeout",
           WRK_TIMEOUT, "-s", os.path.join(BENCH_DIR, "wrk", script),
           f"http://127.0.0.1:{port}{path}"]
    r = subprocess.run(cmd, env=e, capture_output=True, text=True, timeout=seconds + 60)
    m = re.search(r"^BENCH_JSON (\{.*\})$", r.stdout, re.M)
    if not m:
        raise RuntimeError(f"wrk failed: {r.stdout[-500:]} {r.stderr[-500:]}")
    j = json.loads(m.group(1))
    return {"rps": j["requests"] / (j["duration_us"] / 1e6), "p50": j["p50"] / 1000,
            "p99": j["p99"] / 1000, "p999": j["p999"] / 1000, "requests": j["requests"],
            "errors": sum(j[k] for k in ("connect", "read", "write", "status", "timeout"))}


def pgbench(pg, db, script, clients, seconds):
    e = dict(os.environ, PGPASSWORD="droplin")
    cmd = [os.path.join(PGBIN, "pgbench"), "-n", "-M", "prepared", "-c", str(clients), "-j", "2", "-T", str(seconds),
           "-f", script, "-h", "127.0.0.1", "-p", str(pg.port), "-U", "droplin", db]
    r = subprocess.run(cmd, env=e, capture_output=True, text=True, timeout=seconds + 60)
    m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", r.stdout)
    if not m:
        raise RuntimeError(f"pgbench failed: {r.stdout[-500:]} {r.stderr[-500:]}")
    return float(m.group(1))


def bcrypt_bound():
    """Cost-12 hashes per second with every core hashing at once (musl's crypt_r, droplin's
    own), and the median time of one of those hashes."""
    out = subprocess.run([os.path.join(BUILD, "bcrypt_time"), str(BCRYPT_COST), str(os.cpu_count()),
                          str(BCRYPT_BOUND_HASHES)], capture_output=True, text=True, check=True, timeout=120).stdout
    rate, one = map(float, out.split())
    return rate, one


# ------------------------------------------------------------------------------------------
# droplin's SQL, read from droplin.c so the pgbench scripts follow the code


def c_string_constant(src, name):
    """The value of `static const char NAME[] = "..." MACRO "...";` with #define'd pieces."""
    m = re.search(r"static const char " + name + r"\[\]\s*=\s*(.*?);\s*\n", src, re.S)
    if not m:
        raise RuntimeError(f"{name} not found in droplin.c")
    out = []
    for lit, ident in re.findall(r'"((?:[^"\\]|\\.)*)"|([A-Za-z_]\w*)', m.group(1)):
        if ident:
            d = re.search(r"#define\s+" + ident + r"\s+((?:[^\n]*\\\n)*[^\n]*)", src)
            if not d:
                raise RuntimeError(f"macro {ident} not found in droplin.c")
            out += [bytes(x, "ascii").decode("unicode_escape")
                    for x in re.findall(r'"((?:[^"\\]|\\.)*)"', d.group(1))]
        else:
            out.append(bytes(lit, "ascii").decode("unicode_escape"))
    return "".join(out)


def pgbench_script(path, lo, hi, names, pipeline=True):
    """A pgbench transaction running droplin's statements `names` for a random user; in one
    pipeline (one round trip), as droplin's loop sends them, unless pipeline is False."""
    src = open(os.path.join(REPO, "droplin.c")).read()
    with open(path, "w") as f:
        f.write(f"\\set uid random({lo}, {hi})\n")
        if pipeline:
            f.write("\\startpipeline\n")
        for n in names:
            # $2 of the session check is the token's session id: the reference takes the path
            # of a token without one (the same join, found empty)
            sql = re.sub(r"\$2\b", "''", re.sub(r"\$1\b", ":uid", c_string_constant(src, n)))
            # pgbench takes every ":name", even inside a literal, for a variable: spell the
            # colons of literals as Unicode escapes (the same constant, no function call);
            # literals are matched left to right, so '' is one (empty) literal
            sql = re.sub(r"'[^']*'", lambda m: m.group(0) if ":" not in m.group(0) else
                         "U&" + m.group(0).replace(":", "\\003A"), sql)
            f.write(" ".join(sql.split()) + ";\n")
        if pipeline:
            f.write("\\endpipeline\n")
    return path


# ------------------------------------------------------------------------------------------
# Data through droplin's API


def api(port, method, path, body=None, token=None):
    h = {"Content-Type": "application/json"}
    if token:
        h["Authorization"] = "Bearer " + token
    r = harness.http_request(port, method, path, headers=h,
                             body=json.dumps(body) if body is not None else b"", timeout=30)
    if r.status != 200:
        raise RuntimeError(f"{method} {path}: {r.status} {r.body[:200]!r}")
    return r.json()


def make_users(port, tmp):
    def one(i):
        name = f"bench{i:04d}"
        j = api(port, "POST", "/auth/register",
                {"username": name, "password": PASSWORD, "email": f"{name}@example.com"})
        tok = j["token"]
        api(port, "POST", "/user/profile", {"name": f"Bench User {i}", "bio": "bench"}, tok)
        for d in range(1, DEVICES_PER_USER + 1):
            api(port, "POST", "/devices", {"name": f"bench-dev-{d}", "rssi": -50, "distance": 2.5,
                                           "action": "dropped", "bio": "a device bio"}, tok)
        return j["user_id"], tok, name

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        users = list(ex.map(one, range(N_USERS)))
    tokens = os.path.join(tmp, "tokens.txt")
    with open(tokens, "w") as f:
        f.writelines(f"{uid} {tok}\n" for uid, tok, _ in users)
    logins = os.path.join(tmp, "logins.txt")
    with open(logins, "w") as f:
        f.writelines(f"{name} {PASSWORD}\n" for _, _, name in users[:N_LOGIN_USERS])
    ids = sorted(u[0] for u in users)
    if ids != list(range(ids[0], ids[0] + len(ids))):
        raise RuntimeError(f"user ids are not contiguous: {ids}")
    return tokens, logins, ids[0], ids[-1]


# ------------------------------------------------------------------------------------------
# Scenarios


def scenario_health(dport, nport):
    """The sweep: per connection count, RUNS alternating pairs (droplin, nginx)."""
    res = {}
    for c in HEALTH_CONNS:
        pairs = []
        for i in range(RUNS):
            first, second = (dport, nport) if i % 2 == 0 else (nport, dport)
            a = wrk(first, c, SECONDS, path="/health")
            b = wrk(second, c, SECONDS, path="/health")
            pairs.append((a, b) if first == dport else (b, a))
        res[c] = pairs
        log(f"/health c={c}: droplin {median([p[0]['rps'] for p in pairs]):.0f} req/s, "
            f"nginx {median([p[1]['rps'] for p in pairs]):.0f} req/s")
    return res


def scenario_reads(dport, pg, db, tmp, tokens, lo, hi):
    res = {}
    for cls, names in (("profile_get", ["SQL_USER_SESSION", "SQL_PROFILE_GET"]),
                       ("devices_get", ["SQL_USER_SESSION", "SQL_DEVICES_LIST"])):
        script = pgbench_script(os.path.join(tmp, f"{cls}.sql"), lo, hi, names, pipeline=False)
        piped = pgbench_script(os.path.join(tmp, f"{cls}.pipe.sql"), lo, hi, names)
        pairs = []
        for _ in range(RUNS):
            a = wrk(dport, READ_CONNS, SECONDS, script="api.lua",
                    env={"BENCH_CLASS": cls, "BENCH_TOKENS": tokens})
            b = pgbench(pg, db, script, POOL_SIZE, SECONDS)
            c = pgbench(pg, db, piped, POOL_SIZE, SECONDS)
            pairs.append((a, b, c))
        res[cls] = pairs
        log(f"{cls}: droplin {median([p[0]['rps'] for p in pairs]):.0f} req/s, "
            f"pgbench {median([p[1] for p in pairs]):.0f} tps, "
            f"pipelined {median([p[2] for p in pairs]):.0f} tps")
    return res


def scenario_login(dport, logins):
    """Each run is framed by two measurements of the bound; the run's bound is their mean."""
    pairs = []
    before = bcrypt_bound()
    for _ in range(RUNS):
        musl = before[1]
        a = wrk(dport, LOGIN_CONNS, LOGIN_SECONDS, script="api.lua",
                env={"BENCH_CLASS": "login", "BENCH_LOGINS": logins})
        after = bcrypt_bound()
        pairs.append((a, (before[0] + after[0]) / 2, musl))
        before = after
    log(f"login: droplin {median([p[0]['rps'] for p in pairs]):.2f} req/s, "
        f"bound {median([p[1] for p in pairs]):.2f}/s")
    return pairs


MIXED_ROUTES = {"profile_get": ("GET", "/user/profile"), "devices_get": ("GET", "/devices"),
                "profile_post": ("POST", "/user/profile"), "device_post": ("POST", "/devices"),
                "login": ("POST", "/auth/login")}


def server_histograms(port):
    """droplin's own latency histograms from /metrics (request head to response):
    {(method, route): {le: cumulative count}}."""
    text = harness.http_request(port, "GET", "/metrics", timeout=5.0,
                                headers={"Authorization": "Bearer " + METRICS_TOKEN}).body.decode()
    out = {}
    for m in re.finditer(r'^droplin_http_request_duration_seconds_bucket\{route="([^"]*)",'
                         r'method="([^"]*)",[^}]*le="([^"]+)"\} (\d+)$', text, re.M):
        out.setdefault((m.group(2), m.group(1)), {})[m.group(3)] = int(m.group(4))
    return out


def server_share_over(before, after, key, le="0.01"):
    """Of the requests between two histograms, the share that droplin took longer than le."""
    a, b = after.get(key, {}), before.get(key, {})
    n = a.get("+Inf", 0) - b.get("+Inf", 0)
    if n <= 0:
        return None
    return 1 - (a.get(le, 0) - b.get(le, 0)) / n


def mixed_round(dport, tokens, logins, think_ms, seconds):
    """All classes at once, one wrk per class (so each has its own latency histogram); every
    connection but the login's waits think_ms (0.5x to 1.5x) between its requests."""
    with concurrent.futures.ThreadPoolExecutor(len(MIXED)) as ex:
        futs = {cls: ex.submit(wrk, dport, c, seconds, "api.lua", "/", 1,
                               {"BENCH_CLASS": cls, "BENCH_TOKENS": tokens, "BENCH_LOGINS": logins,
                                "BENCH_THINK_MS": str(MIXED_LOGIN_THINK_MS if cls == "login"
                                                      else think_ms)})
                for cls, c in MIXED}
        return {cls: f.result() for cls, f in futs.items()}


def scenario_mixed(dport, tokens, logins):
    """The mix's own capacity first (no think time, 128 connections), then the goal runs paced
    to offer MIXED_LOAD of it, then one run at each of MIXED_CURVE for the latency curve."""
    paced = sum(c for cls, c in MIXED if cls != "login")
    cap_run = mixed_round(dport, tokens, logins, 0, SECONDS)
    capacity = sum(x["rps"] for cls, x in cap_run.items() if cls != "login")
    think = lambda load: 1000.0 * paced / (load * capacity)  # noqa: E731
    log(f"mixed: capacity {capacity:.0f} req/s unpaced; goal runs at {MIXED_LOAD:.0%}: think "
        f"{think(MIXED_LOAD):.1f} ms per connection")
    before = server_histograms(dport)
    runs = [mixed_round(dport, tokens, logins, think(MIXED_LOAD), SECONDS * 2) for _ in range(RUNS)]
    after = server_histograms(dport)
    over = {cls: server_share_over(before, after, MIXED_ROUTES[cls]) for cls, _ in MIXED}
    log("mixed: share of requests droplin itself took over 10 ms (head to response, /metrics): "
        + mixed_over(over))
    curve = [(load, mixed_round(dport, tokens, logins, think(load), SECONDS * 2))
             for load in MIXED_CURVE]
    curve.append((1.0, cap_run))
    return {"runs": runs, "think": think(MIXED_LOAD), "over": over, "capacity": capacity,
            "curve": sorted(curve, key=lambda x: x[0])}


def scenario_idle_conns(dport, pid):
    time.sleep(1)
    before = rss_kb(pid)
    p = subprocess.Popen(["/usr/bin/python3", os.path.join(BENCH_DIR, "idle_conns.py"),
                          str(dport), str(IDLE_CONNS)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    m = re.match(r"READY opened=(\d+) failed=(\d+)", line)
    time.sleep(1)
    after = rss_kb(pid)
    p.stdin.close()
    p.wait(timeout=60)
    if not m:
        raise RuntimeError(f"idle_conns.py: {line!r}")
    opened, failed = int(m.group(1)), int(m.group(2))
    return before, after, opened, failed


def scenario_startup(env, tmp):
    """Fresh processes on the migrated database: exec to /ready 200, then idle RSS 1 s later."""
    times, rss = [], []
    for i in range(STARTUPS):
        p, t = start_droplin(dict(env, DRAIN_SECONDS="0", SHUTDOWN_TIMEOUT_SECONDS="5"),
                             harness.free_port(), os.path.join(tmp, f"droplin-start{i}.log"))
        time.sleep(1)
        rss.append(rss_kb(p.pid))
        stop_process(p)
        times.append(t)
    return times, rss


# ------------------------------------------------------------------------------------------
# Report


def verdict(ok):
    return "PASS" if ok else "MISS"


def fmt(x, spec=".0f"):
    return "-" if x is None else format(x, spec)


def build_rows(R):
    rows = []  # scenario, droplin, reference, ratio, p50, p99, p99.9, errors, goal, result
    R = dict({"health": {}, "reads": {}, "login": [], "mixed": None, "startup": ([], []),
              "rss_peak": 0, "idle_conns": None}, **R)

    def ratio_row(name, pairs, ref_of, ref_name, goal, unit="req/s"):
        d = [p[0] for p in pairs]
        ratios = [p[0]["rps"] / ref_of(p) for p in pairs]
        r = median(ratios)
        rows.append([name, f"{median([x['rps'] for x in d]):.0f} {unit}",
                     f"{median([ref_of(p) for p in pairs]):.0f} {ref_name}", f"{r:.2f}",
                     fmt(median([x["p50"] for x in d]), ".2f"),
                     fmt(median([x["p99"] for x in d]), ".2f"),
                     fmt(median([x["p999"] for x in d]), ".2f"),
                     str(sum(x["errors"] for x in d)), f"ratio >= {goal}" if goal else "-",
                     verdict(r >= goal) if goal else "-"])

    for c in HEALTH_GOAL_CONNS if R["health"] else []:
        ratio_row(f"GET /health, {c} conns", R["health"][c], lambda p: p[1]["rps"], "req/s nginx",
                  GOAL_HEALTH)
    for cls, name in (("profile_get", "GET /user/profile"), ("devices_get", "GET /devices")):
        if cls in R["reads"]:
            ratio_row(f"{name}, {READ_CONNS} conns", R["reads"][cls], lambda p: p[1],
                      f"tps pgbench -c{POOL_SIZE}", GOAL_READS)
    for cls, name in (("profile_get", "GET /user/profile"), ("devices_get", "GET /devices")):
        if cls in R["reads"]:  # no goal: where droplin stands against its own round trips
            ratio_row(f"{name}, {READ_CONNS} conns", R["reads"][cls], lambda p: p[2],
                      f"tps pgbench -c{POOL_SIZE} pipelined", None)
    lp = R["login"]
    if lp:
        login_row(rows, lp)
    mixed_rows(rows, R["mixed"]["runs"] if R["mixed"] else [])
    if R["startup"][1]:
        memory_rows(rows, R)
    return rows


def login_row(rows, lp):
    d = [p[0] for p in lp]
    r = median([p[0]["rps"] / p[1] for p in lp])
    rows.append([f"POST /auth/login, {LOGIN_CONNS} conns", f"{median([x['rps'] for x in d]):.2f} req/s",
                 f"{median([p[1] for p in lp]):.2f}/s bcrypt bound", f"{r:.2f}",
                 fmt(median([x["p50"] for x in d]), ".0f"), fmt(median([x["p99"] for x in d]), ".0f"),
                 fmt(median([x["p999"] for x in d]), ".0f"), str(sum(x["errors"] for x in d)),
                 f"ratio >= {GOAL_LOGIN}", verdict(r >= GOAL_LOGIN)])


def mixed_over(over):
    return ", ".join(f"{cls} {v:.2%}" for cls, v in over.items()
                     if v is not None and cls != "login") or "-"


def mixed_curve(M):
    classes = [cls for cls, _ in MIXED]
    lines = ["| offered | req/s (logins aside) | " + " | ".join(f"{c} p99" for c in classes) + " |",
             "|---" * (len(classes) + 2) + "|"]
    for load, rps, p99 in mixed_points(M):
        label = "unpaced (capacity)" if load >= 1.0 else f"{load:.0%}"
        lines.append(f"| {label} | {rps:.0f} | " + " | ".join(f"{p99[c]:.1f}" for c in classes) + " |")
    return "\n".join(lines)


def mixed_rows(rows, runs):
    for cls, c in MIXED if runs else []:
        xs = [run[cls] for run in runs]
        p99 = median([x["p99"] for x in xs])
        errs = sum(x["errors"] for x in xs)
        goal = "(bcrypt ratio)" if cls == "login" else f"p99 < {GOAL_MIXED_P99_MS:.0f} ms, 0 errors"
        ok = errs == 0 and (cls == "login" or p99 < GOAL_MIXED_P99_MS)
        rows.append([f"mixed: {cls}, {c} conns", f"{median([x['rps'] for x in xs]):.1f} req/s", "-",
                     "-", fmt(median([x["p50"] for x in xs]), ".2f"), fmt(p99, ".2f"),
                     fmt(median([x["p999"] for x in xs]), ".2f"), str(errs), goal, verdict(ok)])


def memory_rows(rows, R):
    times, rss = R["startup"]
    idle = median(rss)
    rows.append(["RSS idle (fresh, ready)", f"{idle / 1024:.2f} MB", "-", "-", "-", "-", "-", "-",
                 "< 6 MB", verdict(idle < GOAL_IDLE_RSS_KB)])
    rows.append(["RSS peak under load", f"{R['rss_peak'] / 1024:.2f} MB", "-", "-", "-", "-", "-",
                 "-", "-", "-"])
    if R["idle_conns"] is None:
        return
    before, after, opened, failed = R["idle_conns"]
    per = (after - before) * 1024 / opened if opened else None
    rows.append([f"RSS with {opened} idle keep-alive conns", f"{after / 1024:.2f} MB",
                 f"{before / 1024:.2f} MB before", "-", "-", "-", "-", str(failed),
                 "< 4 KB/conn", f"{verdict(per is not None and per < GOAL_CONN_BYTES and not failed)}"
                 f" ({fmt(per)} B/conn)"])
    rows.append(["start-up, exec to /ready 200", f"{median(times) * 1000:.0f} ms", "-", "-", "-",
                 "-", "-", "-", "-", "-"])
    rows.append(["binary size (stripped)", f"{R['size'] / 1024:.0f} KiB", "-", "-", "-", "-", "-",
                 "-", "-", "-"])


HEAD = ["scenario", "droplin", "reference", "ratio", "p50 ms", "p99 ms", "p99.9 ms", "errors",
        "goal", "result"]


def text_table(rows):
    w = [max(len(str(r[i])) for r in [HEAD] + rows) for i in range(len(HEAD))]
    line = lambda r: "  ".join(str(c).ljust(w[i]) for i, c in enumerate(r))  # noqa: E731
    return "\n".join([line(HEAD), "  ".join("-" * x for x in w)] + [line(r) for r in rows])


def md_table(rows):
    out = ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores (nproc), {model}"


def plot(R, tmp):
    dat = os.path.join(tmp, "health.dat")
    with open(dat, "w") as f:
        f.write("# conns droplin_rps nginx_rps droplin_p99_ms nginx_p99_ms\n")
        for c in HEALTH_CONNS:
            pairs = R["health"][c]
            f.write(f"{c} {median([p[0]['rps'] for p in pairs]):.0f} "
                    f"{median([p[1]['rps'] for p in pairs]):.0f} "
                    f"{median([p[0]['p99'] for p in pairs]):.3f} "
                    f"{median([p[1]['p99'] for p in pairs]):.3f}\n")
    png = os.path.join(REPO, "docs", "perf-health.png")
    gp = f"""set terminal pngcairo size 900,420 font ",10"
set output "{png}"
set multiplot layout 1,2 title "GET /health: droplin vs nginx (1 worker), wrk -t2, medians of {RUNS}"
set xlabel "connections"; set logscale x 2; set xrange [12:340]; set xtics ({", ".join(map(str, HEALTH_CONNS))})
set grid; set key top left
set ylabel "requests/s"; set yrange [0:*]
plot "{dat}" using 1:2 with linespoints title "droplin", "" using 1:3 with linespoints title "nginx"
set ylabel "p99 latency (ms)"
plot "{dat}" using 1:4 with linespoints title "droplin", "" using 1:5 with linespoints title "nginx"
unset multiplot
"""
    subprocess.run(["gnuplot"], input=gp, text=True, check=True, timeout=60)
    return png


def mixed_points(M):
    """(offered load, throughput logins aside, {class: p99 ms}) of the mixed curve, the goal
    load as the median of its runs."""
    classes = [cls for cls, _ in MIXED]
    points = list(M["curve"]) + [(MIXED_LOAD, None)]
    out = []
    for load, run in sorted(points, key=lambda x: x[0]):
        if run is None:
            run = {c: {k: median([r[c][k] for r in M["runs"]]) for k in ("rps", "p99")}
                   for c in classes}
        rps = sum(run[c]["rps"] for c in classes if c != "login")
        out.append((load, rps, {c: run[c]["p99"] for c in classes}))
    return out


def plot_mixed(M, tmp):
    """docs/perf-mixed.png: each class's p99 against the throughput the mix was offered."""
    classes = [cls for cls, _ in MIXED if cls != "login"]
    dat = os.path.join(tmp, "mixed.dat")
    with open(dat, "w") as f:
        f.write("# req/s " + " ".join(classes) + "\n")
        for _, rps, p99 in mixed_points(M):
            f.write(f"{rps:.0f} " + " ".join(f"{p99[c]:.3f}" for c in classes) + "\n")
    png = os.path.join(REPO, "docs", "perf-mixed.png")
    lines = ", ".join(f'"{dat}" using 1:{i + 2} with linespoints title "{c}"'
                      for i, c in enumerate(classes))
    gp = f"""set terminal pngcairo size 900,420 font ",10" noenhanced
set output "{png}"
set title "Mixed workload, 128 connections: p99 against offered load (25, 50, 75 % of capacity, unpaced)"
set xlabel "requests/s, logins aside"; set ylabel "p99 latency (ms)"; set logscale y
set grid; set key top left; set xrange [0:*]
plot {lines}, {GOAL_MIXED_P99_MS} with lines dashtype 2 title "goal"
"""
    subprocess.run(["gnuplot"], input=gp, text=True, check=True, timeout=60)
    return png


def write_docs(R, table, command):
    path = os.path.join(REPO, "docs", "performance.md")
    start, end = "<!-- bench:results -->", "<!-- end of bench:results -->"
    text = open(path).read() if os.path.exists(path) else f"# Performance\n\n{start}\n{end}\n"
    sweep = ["| connections | droplin req/s | nginx req/s | droplin p99 ms | nginx p99 ms |",
             "|---|---|---|---|---|"]
    for c in HEALTH_CONNS:
        pairs = R["health"][c]
        sweep.append(f"| {c} | {median([p[0]['rps'] for p in pairs]):.0f} | "
                     f"{median([p[1]['rps'] for p in pairs]):.0f} | "
                     f"{median([p[0]['p99'] for p in pairs]):.2f} | "
                     f"{median([p[1]['p99'] for p in pairs]):.2f} |")
    musl = median([p[2] for p in R["login"]])
    M = R["mixed"]
    block = f"""{start}
Generated by `{command}` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC,
{R['version']}, on {machine()}; medians of {RUNS} runs of {SECONDS} s each
(mixed: {SECONDS * 2} s, login: {LOGIN_SECONDS} s).

{table}

The bcrypt bound was measured with {os.cpu_count()} threads of musl's `crypt_r` (droplin's
own) hashing at once before and after each login run; one of those hashes took
{musl * 1000:.0f} ms (median). Mixed
workload: its capacity, measured first with no think time on its 128 connections, was
{M['capacity']:.0f} req/s (logins aside); the goal runs pace each connection with a think time of
{M['think']:.1f} ms (±50 %), offering about {MIXED_LOAD:.0%} of that. Share of the goal runs'
requests that droplin itself took over 10 ms (request head to response, from its /metrics
histogram): {mixed_over(M['over'])}. The mixed workload's p99 (ms) against the load it was
offered (one run each, the goal load the median of its runs):

{mixed_curve(M)}

![Mixed workload: p99 of each class against the offered load](perf-mixed.png)

![GET /health throughput and p99 against connections](perf-health.png)

| /health sweep | | | | |
{chr(10).join(sweep[1:2])}
{chr(10).join(sweep[2:])}
{end}"""
    block = block.replace("| /health sweep | | | | |\n", sweep[0] + "\n")
    if start in text and end in text:
        text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text += "\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)


# ------------------------------------------------------------------------------------------


def main():
    os.makedirs(BUILD, exist_ok=True)
    subprocess.run(["musl-gcc", "-O2", "-static", "-Wall", "-Wextra", "-isystem",
                    os.path.join(REPO, "build/deps/musl/include"), "-o",
                    os.path.join(BUILD, "bcrypt_time"), os.path.join(BENCH_DIR, "bcrypt_time.c"),
                    "-L" + os.path.join(REPO, "build/deps/musl/lib"), "-ldcrypt", "-lpthread"], check=True)
    tmp = tempfile.mkdtemp(prefix="droplin-bench-", dir="/tmp")
    pg = harness.PgCluster()
    procs = []
    R = {}
    t_start = time.monotonic()
    try:
        pg.start()
        url = pg.create_database()
        db = url.rsplit("/", 1)[1]
        env = {"PATH": "/usr/bin:/bin", "DROPLIN_ENV": "production", "DATABASE_URL": url,
               "HOST": "127.0.0.1", "JWT_SECRET_KEY": secrets.token_urlsafe(48),
               "ADMIN_SECRET": secrets.token_urlsafe(48), "BCRYPT_COST": str(BCRYPT_COST),
               "METRICS_TOKEN": METRICS_TOKEN,
               "LOG_LEVEL": "warn", "RAILWAY_REPLICA_ID": "bench",
               "RATE_LIMIT_REGISTER": "1000000/60", "RATE_LIMIT_LOGIN": "1000000/60",
               "BCRYPT_SHARE_MAX": "100000",
               "MAX_CONNECTIONS": "20000", "MAX_CONNECTIONS_PER_IP": "20000"}
        env.update(EXTRA_ENV)
        dport, nport = harness.free_port(), harness.free_port()
        dp, _ = start_droplin(env, dport, os.path.join(tmp, "droplin.log"))
        procs.append(dp)
        R["version"] = subprocess.run([DROPLIN, "--version"], capture_output=True,
                                      text=True).stdout.strip()
        sampler = RssPeak(dp.pid)
        sampler.start()
        log(f"droplin pid {dp.pid} on :{dport}, PostgreSQL on :{pg.port}, work dir {tmp}")

        h = harness.http_request(dport, "GET", "/health")
        skip = {"date", "content-length", "content-type", "connection", "server", "keep-alive"}
        headers = [(k, v) for k, v in h.headers.items if k.lower() not in skip]
        procs.append(start_nginx(tmp, nport, h.body.decode(), headers))

        log("creating users, profiles and devices through the API")
        tokens, logins, lo, hi = make_users(dport, tmp)

        run = lambda name: not ONLY or name in ONLY  # noqa: E731
        sampler.active = True
        if run("health"):
            R["health"] = scenario_health(dport, nport)
        if run("reads"):
            R["reads"] = scenario_reads(dport, pg, db, tmp, tokens, lo, hi)
        if run("login"):
            R["login"] = scenario_login(dport, logins)
        if run("mixed"):
            R["mixed"] = scenario_mixed(dport, tokens, logins)
        sampler.active = False
        R["rss_peak"] = sampler.peak
        if run("memory"):
            R["idle_conns"] = scenario_idle_conns(dport, dp.pid)
        if run("startup") or run("memory"):
            R["startup"] = scenario_startup(env, tmp)
        stripped = os.path.join(BUILD, "droplin.stripped")
        subprocess.run(["strip", "-o", stripped, DROPLIN], check=True)
        R["size"] = os.path.getsize(stripped)
        sampler.stop = True
    finally:
        for p in reversed(procs):
            stop_process(p, signal.SIGQUIT if p.args[0] == "nginx" else signal.SIGTERM)
        pg.destroy()

    rows = build_rows(R)
    table = text_table(rows)
    print()
    print(f"droplin bench: {machine()}; medians of {RUNS} runs; "
          f"{time.monotonic() - t_start:.0f} s in all")
    print(table)
    if WRITE_DOCS:
        plot(R, tmp)
        plot_mixed(R["mixed"], tmp)
        write_docs(R, md_table(rows), "make bench" if os.environ.get("MAKELEVEL")
                   else "/usr/bin/python3 bench/bench.py")
        log("updated docs/performance.md, docs/perf-health.png and docs/perf-mixed.png")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
