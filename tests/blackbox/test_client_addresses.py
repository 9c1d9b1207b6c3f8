"""Per-address limits count one client once: an IPv6 address in any spelling, and every address
of one /64, share one bucket; and the per-address connection table cannot be filled against
others."""

import resource

import pytest

import harness
from auth_helpers import FAST_ENV, Api, avoid_window_edge, start


def login(api, address):
    return api.post("/auth/login", {"username": "nobody", "password": "Wrong-pass1!"},
                    headers={"X-Forwarded-For": address})


@pytest.mark.parametrize("spellings,other", [
    (["2001:db8::1", "2001:DB8:0:0::1", "2001:db8:0:0:0:0:0:1"], "2001:db8:0:1::1"),  # 3 ways
    (["2001:db8::1", "2001:db8::2", "2001:db8::ffff:ffff:ffff:ffff"], "2001:db8:0:1::1"),  # a /64
    (["192.0.2.9", "::ffff:192.0.2.9", "::FFFF:192.0.2.9"], "192.0.2.10"),  # mapped or not
])
def test_one_client_is_one_rate_limit_bucket(droplin, spellings, other):
    api = Api(start(droplin, TRUST_PROXY="1", RATE_LIMIT_LOGIN="3/600"))
    avoid_window_edge(600)
    for address in spellings:
        assert login(api, address).status == 401, address
    r = login(api, spellings[0])
    assert r.status == 429, r
    assert login(api, other).status == 401  # another /64, another IPv4 address: its own count


def raise_fd_limit(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def test_many_distinct_addresses_cannot_lock_out_a_new_one(droplin):
    # The table held 4,096 addresses: 4,096 idle connections from distinct addresses refused
    # every address after them. It now has more slots than MAX_CONNECTIONS allows connections.
    n = 4200
    assert raise_fd_limit(n + 200) >= n + 200, "not enough file descriptors for the test"
    d = start(droplin, MAX_CONNECTIONS="6000", KEEPALIVE_TIMEOUT_MS="120000",
              HEAD_TIMEOUT_MS="120000")  # the idle connections must all still be there
    conns = []
    try:
        for i in range(n):
            source = f"127.1.{i // 250}.{1 + i % 250}"
            conns.append(harness.RawConn(d.port, source=source, timeout=10))
        assert conns[0].state_after(0.1) == "open", "the first connections were closed"
        fresh = harness.RawConn(d.port, source="127.200.0.1", timeout=10)
        conns.append(fresh)
        fresh.send(f"GET /livez HTTP/1.1\r\nHost: 127.0.0.1:{d.port}\r\n\r\n")
        r = fresh.read_response(timeout=10)
        assert r.status == 200, r
        assert d.get("/livez").status == 200
    finally:
        for c in conns:
            c.close()
