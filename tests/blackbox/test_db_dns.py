"""DATABASE_URL names its host: droplin looks the name up within DB_CONNECT_TIMEOUT_MS.

Each droplin here runs in a mount namespace of its own whose /etc/resolv.conf names a name
server of the test's on a loopback address of its own (port 53, as the C library asks): one that
answers with PostgreSQL's address, or one that reads every query and answers none. The host
name ends in .invalid, so no /etc/hosts line and no other server can answer for it.
"""

import json
import os
import random
import socket
import struct
import threading
import time
import urllib.parse

import pytest

import harness
from auth_helpers import start

NAME = "db.droplin-test.invalid"
RESOLVER_TIMEOUT = 60  # the C library's longest: a lookup that no server answers takes this long


class NameServer:
    """UDP on 127.x.y.z:53. answer: the IPv4 address given for NAME's A question (other
    questions get no records), None: read queries and answer none."""

    def __init__(self, answer):
        self.answer = answer
        self.queries = 0
        self.addr = None
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(20):
            addr = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
            try:
                self.sock.bind((addr, 53))
                self.addr = addr
                break
            except OSError:
                continue
        assert self.addr, "no loopback address with port 53 free"
        self.sock.settimeout(0.2)
        self.stopped = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stopped:
            try:
                q, peer = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            except OSError:
                return
            self.queries += 1
            if self.answer is None or len(q) < 12:
                continue
            qid, = struct.unpack(">H", q[:2])
            i, labels = 12, []
            while i < len(q) and q[i]:
                labels.append(q[i + 1:i + 1 + q[i]].decode(errors="replace"))
                i += 1 + q[i]
            question = q[12:i + 5]
            qtype, = struct.unpack(">H", q[i + 1:i + 3])
            ours = ".".join(labels).lower() == NAME and qtype == 1
            addrs = ([self.answer] if isinstance(self.answer, str) else self.answer) if ours \
                else []
            # a response (QR, RD, RA), no error; an answer per address, each a pointer to the
            # question's name
            head = struct.pack(">HHHHHH", qid, 0x8180, 1, len(addrs), 0, 0)
            rr = b"".join(struct.pack(">HHHIH", 0xC00C, 1, 1, 30, 4) + socket.inet_aton(a)
                          for a in addrs)
            self.sock.sendto(head + question + rr, peer)

    def close(self):
        self.stopped = True
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def name_server(tmp_path):
    servers = []

    def make(answer):
        ns = NameServer(answer)
        servers.append(ns)
        conf = tmp_path / f"resolv-{len(servers)}.conf"
        conf.write_text(f"nameserver {ns.addr}\noptions timeout:{RESOLVER_TIMEOUT} attempts:1\n")
        ns.prefix = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                     'mount --bind "$0" /etc/resolv.conf && exec "$@"', str(conf)]
        return ns
    yield make
    for ns in servers:
        ns.close()


def by_name(url):
    """The URL with its host replaced by NAME."""
    u = urllib.parse.urlsplit(url)
    return u._replace(netloc=f"{u.username}:{u.password}@{NAME}:{u.port}").geturl()


def test_a_host_name_is_looked_up_and_its_address_used(droplin, fresh_db, name_server):
    ns = name_server("127.0.0.1")
    d = droplin(env={"DATABASE_URL": by_name(fresh_db)}, db=fresh_db, prefix=ns.prefix)
    d.wait_ready()
    r = d.request("POST", "/auth/register", body=json.dumps(
        {"username": "dnsuser", "email": "dns@example.com", "password": "Secret!Pass123"}),
        headers={"Content-Type": "application/json"})
    assert r.status == 200, r
    assert ns.queries >= 1
    assert harness.db_query(fresh_db, "SELECT count(*) FROM users WHERE username = 'dnsuser'") \
        == [(1,)]


def test_a_first_address_that_answers_nothing_is_passed_over(droplin, fresh_db, name_server):
    """The name has two addresses; the first accepts connections and never says a word (a
    server that hangs, a half-dead load balancer). A connect there times out after
    DB_CONNECT_TIMEOUT_MS, and the next connect starts at the second address: droplin gets
    ready. Before, every connect started at the first address again and never got past it."""
    port = urllib.parse.urlsplit(fresh_db).port
    mute = None
    for _ in range(20):
        addr = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
        try:
            mute = socket.create_server((addr, port), backlog=64)
            break
        except OSError:
            continue
    assert mute, "no loopback address with PostgreSQL's port free"
    try:
        ns = name_server([addr, "127.0.0.1"])
        d = droplin(env={"DATABASE_URL": by_name(fresh_db), "DB_CONNECT_TIMEOUT_MS": "2000"},
                    db=fresh_db, prefix=ns.prefix)
        d.wait_ready(timeout=30)
        # the pool's own connects get past it too (on a busy machine a connect to the working
        # address can itself outlast the timeout: the next one then starts at the mute one,
        # and the one after that at the working one again)
        harness.wait_until(lambda: d.request(
            "POST", "/auth/check-username", body=b'{"username": "mute"}',
            headers={"Content-Type": "application/json"}).status == 200, 30,
            what="a request served through the working address")
    finally:
        mute.close()


def test_pghostaddr_is_still_libpqs(droplin, fresh_db, name_server):
    """PGHOSTADDR (or a service file) gives the address of the URL's host name: nothing is
    looked up (here the name server answers nothing) and the address is used, as by psql."""
    ns = name_server(None)
    d = droplin(env={"DATABASE_URL": by_name(fresh_db), "PGHOSTADDR": "127.0.0.1"},
                db=fresh_db, prefix=ns.prefix)
    d.wait_ready()
    assert ns.queries == 0


def test_a_name_server_that_never_answers_costs_the_connect_timeout_not_the_resolvers(
        droplin, fresh_db, name_server):
    """The name server reads the queries and answers none (the C library would wait 60 s):
    requests that need the database answer 503 within DB_CONNECT_TIMEOUT_MS (1 s) and a
    generous margin, without a thread left behind for each, /ready says 503, and SIGTERM ends droplin in its shutdown time, exit 0, "drained, exiting" its last line.
    libpq's own lookup held each request, the probe and shutdown for the resolver's 60 s."""
    ns = name_server(None)
    env = {"DATABASE_URL": by_name(fresh_db), "DB_CONNECT_TIMEOUT_MS": "1000",
           "SHUTDOWN_TIMEOUT_SECONDS": "3", "DRAIN_SECONDS": "0", "LOG_LEVEL": "debug"}
    d = droplin(env=env, db=fresh_db, prefix=ns.prefix)
    bound = min(harness.scaled(8), RESOLVER_TIMEOUT / 2)
    for _ in range(2):
        t0 = time.monotonic()
        r = d.request("POST", "/auth/login", body=b'{"username": "a", "password": "b"}',
                      headers={"Content-Type": "application/json"}, timeout=RESOLVER_TIMEOUT + 10)
        took = time.monotonic() - t0
        assert r.status == 503 and took < bound, (r, took)
    assert d.get("/ready").status == 503
    # connects that start while a lookup is in flight wait for that one: with the 60 s
    # lookups of every timed-out connect left running, the threads would pile up
    threads = lambda: len(os.listdir(f"/proc/{d.proc.pid}/task"))  # noqa: E731
    before = threads()
    for _ in range(5):  # a second apart: each a connect of its own (and the probe's)
        time.sleep(1)
        r = d.request("POST", "/auth/login", body=b'{"username": "a", "password": "b"}',
                      headers={"Content-Type": "application/json"}, timeout=RESOLVER_TIMEOUT + 10)
        assert r.status == 503, r
    assert threads() <= before + 1, (before, threads())
    d.wait_log(lambda l: "timed out resolving the database's host name" in l.get("message", ""),
               what="the lookup's timeout logged")
    assert ns.queries >= 1
    t0 = time.monotonic()
    d.signal(15)
    d.wait_exit(timeout=3 + 10, expect=0)
    assert time.monotonic() - t0 < harness.scaled(3 + 5)
    # the lookups shutdown cut off are not connects that failed: nothing after the last line
    last = json.loads(d.stdout_lines()[-1])
    assert last["message"] == "drained, exiting", d.output()[-1500:]
