"""Rate limits kept in PostgreSQL (DECISIONS S5, R1, P "Client IP", "Tests and limits"): each
default once, the 429 body and headers, windows, client address behind proxies, and two
replicas sharing one count."""

import time

import pytest

import harness
from auth_helpers import Api, assert_429, audit_rows, start, user_row, wait_audit
from auth_helpers import avoid_window_edge, sendgrid, sendgrid_ca  # noqa: F401  (fixtures)


def register(api, name, headers=None):
    return api.post("/auth/register", {"username": name, "password": "Sunny-Day7!"},
                    headers=headers)


def send(api, email, headers=None, route="/auth/send-verification-code", type_=None):
    body = {"email": email}
    if type_:
        body["type"] = type_
    return api.post(route, body, headers=headers)


def xff(value):
    return {"X-Forwarded-For": value}


# ---------------------------------------------------------------------------------- the defaults


def test_register_default_10_per_hour(droplin):
    api = Api(start(droplin, RATE_LIMIT_REGISTER=None))
    avoid_window_edge(3600, 30)
    for i in range(10):
        assert register(api, f"user{i}").status == 200
    r = register(api, "user10")
    body = assert_429(r, 10)
    harness.assert_security_headers(r)
    assert 1 <= body["retry_after"] <= 3600
    assert 1 <= int(r.headers["Retry-After"]) <= 3600
    assert user_row(api.d, "user10") is None


def test_login_default_60_per_minute(droplin):
    api = Api(start(droplin, RATE_LIMIT_LOGIN=None))
    api.register("alice")
    avoid_window_edge(60, 20)
    for _ in range(60):
        assert api.login("nobody").status == 401
    body = assert_429(api.login("nobody"), 60)
    assert 1 <= body["retry_after"] <= 60
    # per address: the right password from the same address is limited too
    assert_429(api.login("alice"), 60)


def test_code_email_default_5_per_hour(droplin, sendgrid):
    api = Api(start(droplin, RATE_LIMIT_CODE_EMAIL=None, **sendgrid.env()))
    avoid_window_edge(3600, 30)
    for _ in range(5):
        assert send(api, "alice@example.com").status == 200
    assert_429(send(api, "ALICE@example.com "), 5)
    assert send(api, "bob@example.com").status == 200
    sendgrid.wait_mails(5, to="alice@example.com")
    # one mail thread, first queued first sent: once bob's mail (asked for after the refused
    # request) is there, a mail the refused request had queued would be there too
    sendgrid.wait_mails(1, to="bob@example.com")
    assert len(sendgrid.mails_to("alice@example.com")) == 5


def test_code_ip_default_20_per_hour(droplin):
    api = Api(start(droplin, RATE_LIMIT_CODE_IP=None))
    avoid_window_edge(3600, 30)
    for i in range(20):
        assert send(api, f"user{i}@example.com").status == 200
    assert_429(send(api, "user20@example.com"), 20)


def test_log_api_call_default_120_per_minute(droplin):
    api = Api(start(droplin, RATE_LIMIT_LOG_API_CALL=None))
    body = {"timestamp": "2025-01-01T00:00:00Z", "endpoint": "/devices", "method": "GET",
            "user_id": None, "success": True, "status_code": 200, "error": None}
    avoid_window_edge(60, 20)
    for _ in range(120):
        r = api.post("/api/log-api-call", body)
        assert r.status == 200, r
    assert_429(api.post("/api/log-api-call", body), 120)


# ---------------------------------------------------------------------------------- shared counts


def test_recovery_and_verification_share_the_email_count(droplin, sendgrid):
    api = Api(start(droplin, RATE_LIMIT_CODE_EMAIL="3/3600", **sendgrid.env()))
    api.register("alice", email="alice@example.com")
    avoid_window_edge(3600, 30)
    assert send(api, "alice@example.com").status == 200
    assert send(api, "alice@example.com", route="/auth/send-recovery-code",
                type_="password").status == 200
    assert send(api, "alice@example.com").status == 200
    assert_429(send(api, "alice@example.com", route="/auth/send-recovery-code",
                    type_="username"), 3)


def test_window_ends(droplin):
    # fixed windows aligned to the epoch: 6 s, and the three requests start with at least 3 s
    # of the window left (they take milliseconds)
    api = Api(start(droplin, RATE_LIMIT_REGISTER="2/6"))
    avoid_window_edge(6, 3)
    assert register(api, "a_one").status == 200
    assert register(api, "a_two").status == 200
    r = register(api, "a_three")
    if r.status == 200:  # the window turned over in between all the same: one more try
        r = register(api, "a_four")
    body = assert_429(r, 2)
    assert 1 <= body["retry_after"] <= 6
    time.sleep(body["retry_after"] + 0.3)  # a lower bound: past the window's end
    assert register(api, "a_five").status == 200


@pytest.mark.parametrize("limit_var,make", [
    ("RATE_LIMIT_LOGIN", lambda api, i: api.login("nobody")),
    ("RATE_LIMIT_REGISTER", lambda api, i: register(api, f"rep{i}")),
    ("RATE_LIMIT_CODE_EMAIL", lambda api, i: send(api, "alice@example.com")),
    ("RATE_LIMIT_CODE_IP", lambda api, i: send(api, f"u{i}@example.com")),
], ids=["login", "register", "code-email", "code-ip"])
def test_two_replicas_share_the_count(droplin, fresh_db, limit_var, make):
    env = {limit_var: "6/3600"}
    a = Api(start(droplin, db=fresh_db, **env))
    b = Api(start(droplin, db=fresh_db, **env))
    avoid_window_edge(3600, 30)
    for i in range(6):
        r = make(a if i % 2 == 0 else b, i)
        assert r.status != 429, f"request {i + 1} of 6 was limited: {r!r}"
    assert_429(make(a, 6), 6)
    assert_429(make(b, 7), 6)


# ---------------------------------------------------------------------------------- client address


def test_trust_proxy_uses_the_last_forwarded_address(droplin):
    api = Api(start(droplin, TRUST_PROXY="1", RATE_LIMIT_REGISTER="2/3600"))
    avoid_window_edge(3600, 30)
    # addresses left of the proxy's entry were written by the client: never trusted
    assert register(api, "p_one", xff("1.2.3.4, 10.0.0.1")).status == 200
    assert register(api, "p_two", xff("5.6.7.8, 10.0.0.1")).status == 200
    assert_429(register(api, "p_three", xff("9.9.9.9, 10.0.0.1")), 2)
    assert register(api, "p_four", xff("1.2.3.4, 10.0.0.2")).status == 200
    rows = wait_audit(api.d, "user_registration", count=3)
    assert [r["ip_address"] for r in rows] == ["10.0.0.1", "10.0.0.1", "10.0.0.2"]


def test_forwarded_header_is_ignored_without_trust_proxy(droplin):
    api = Api(start(droplin, RATE_LIMIT_REGISTER="2/3600"))
    avoid_window_edge(3600, 30)
    assert register(api, "q_one", xff("10.0.0.1")).status == 200
    assert register(api, "q_two", xff("10.0.0.2")).status == 200
    assert_429(register(api, "q_three", xff("10.0.0.3")), 2)
    assert {r["ip_address"] for r in audit_rows(api.d, "user_registration")} == {"127.0.0.1"}


def test_trust_proxy_two_hops(droplin):
    api = Api(start(droplin, TRUST_PROXY="2"))
    register(api, "hops", xff("6.6.6.6, 10.0.0.9, 172.16.0.1"))
    [row] = wait_audit(api.d, "user_registration")
    assert row["ip_address"] == "10.0.0.9"


def test_x_real_ip_only_without_forwarded_for(droplin):
    api = Api(start(droplin, TRUST_PROXY="1"))
    register(api, "real_one", {"X-Real-IP": "10.0.0.7"})
    register(api, "real_two", {"X-Real-IP": "10.0.0.7", "X-Forwarded-For": "10.0.0.8"})
    rows = wait_audit(api.d, "user_registration", count=2)
    assert [r["ip_address"] for r in rows] == ["10.0.0.7", "10.0.0.8"]


def test_email_limit_holds_across_addresses(droplin, sendgrid):
    api = Api(start(droplin, TRUST_PROXY="1", RATE_LIMIT_CODE_EMAIL="2/3600",
                    **sendgrid.env()))
    avoid_window_edge(3600, 30)
    assert send(api, "alice@example.com", xff("10.0.0.1")).status == 200
    assert send(api, "alice@example.com", xff("10.0.0.2")).status == 200
    assert_429(send(api, "alice@example.com", xff("10.0.0.3")), 2)


def test_ip_limit_is_per_address(droplin):
    api = Api(start(droplin, TRUST_PROXY="1", RATE_LIMIT_LOGIN="2/3600"))
    avoid_window_edge(3600, 30)
    for _ in range(2):
        assert api.post("/auth/login", {"username": "nobody", "password": "x"},
                        headers=xff("10.0.0.1")).status == 401
    assert_429(api.post("/auth/login", {"username": "nobody", "password": "x"},
                        headers=xff("10.0.0.1")), 2)
    assert api.post("/auth/login", {"username": "nobody", "password": "x"},
                    headers=xff("10.0.0.2")).status == 401
