"""Faults between droplin and PostgreSQL, through a relay (tests/pg_relay.py) that misbehaves on
demand: a pipeline larger than the socket's send buffer is still sent, on the loop and on the
workers; and a query past DB_QUERY_TIMEOUT_MS on an unreachable database answers 503 in time
and leaves no thread waiting on its cancel."""

import json
import time

import pytest

import harness
from auth_helpers import Api, metric, start
from pg_relay import PgRelay

PREPARE = 2  # saves on workers before the loop takes them (its statements are prepared)


@pytest.fixture
def relay_factory(pg):
    relays = []

    def make(**kw):
        r = PgRelay(pg.port, **kw)
        relays.append(r)
        return r
    yield make
    for r in relays:
        r.stop()


def big_device(name, kb):
    """A device save of about `kb` KB: socialMedia carries the bulk."""
    handles = [{"platform": "x", "handle": f"@{i:06d}" + "h" * 40} for i in range(kb * 1000 // 70)]
    return {"name": name, "rssi": -40, "distance": 1.5, "socialMedia": handles}


def post(d, token, body):
    return harness.http_request(d.port, "POST", "/devices", body=json.dumps(body), timeout=30,
                                headers={"Authorization": "Bearer " + token,
                                         "Content-Type": "application/json"})


@pytest.mark.parametrize("loop_reads", ["1", "0"], ids=["loop", "workers"])
@pytest.mark.parametrize("kb,body_max", [(49, None), (1000, str(4 << 20))], ids=["49KB", "1MB"])
def test_a_pipeline_larger_than_the_socket_buffer_is_sent(droplin, pg, relay_factory, loop_reads,
                                                          kb, body_max):
    relay = relay_factory(slow=True)
    db = pg.create_database().rsplit("/", 1)[1]
    env = {"DB_LOOP_READS": loop_reads, "DB_QUERY_TIMEOUT_MS": "20000"}
    if body_max:
        env["MAX_JSON_BODY"] = body_max
    d = start(droplin, db=relay.url(db), **env)
    j = Api(d).register("bulky")
    for i in range(PREPARE):
        assert post(d, j["token"], {"name": f"warm{i}", "rssi": -1, "distance": 1}).status == 200
    # A save goes to a worker when the loop finds no idle link (the probe may hold the only
    # one for a moment on a slow machine): the loop's case sends until one took the loop's path.
    for attempt in range(5):
        before = metric(d, "droplin_loop_writes_total")
        t0 = time.monotonic()
        r = post(d, j["token"], big_device(f"Bulky{attempt}", kb))
        assert r.status == 200, r
        assert len(json.loads(r.body)["socialMedia"]) == kb * 1000 // 70
        took = time.monotonic() - t0
        assert took < 15 * harness.TIMEOUT_SCALE, f"{took:.1f} s: it waited for the query timeout"
        if not (loop_reads == "1" and kb < 64):
            break
        if metric(d, "droplin_loop_writes_total") == before + 1:  # it took the loop's path
            break
    else:
        raise AssertionError("five saves, none on the loop's path")


@pytest.mark.parametrize("loop_reads", ["1", "0"], ids=["loop", "workers"])
def test_an_unreachable_database_times_out_and_leaves_no_thread_waiting(droplin, pg,
                                                                         relay_factory,
                                                                         loop_reads):
    # One worker: a worker stuck in a cancel (libpq's PQcancel has no timeout and waits for
    # the server to close) would leave nobody to serve the next request.
    relay = relay_factory()
    db = pg.create_database().rsplit("/", 1)[1]
    d = start(droplin, db=relay.url(db), WORKER_THREADS="1", DB_POOL_SIZE="2",
              DB_QUERY_TIMEOUT_MS="800", DB_LOOP_READS=loop_reads, DB_ACQUIRE_TIMEOUT_MS="3000")
    token = Api(d).register("cut")["token"]
    relay.blackhole()
    for path in ("/user/settings", "/user/profile", "/user/settings"):
        t0 = time.monotonic()
        r = d.get(path, headers={"Authorization": "Bearer " + token}, timeout=30)
        took = time.monotonic() - t0
        assert r.status == 503, r
        assert took < 6 * harness.TIMEOUT_SCALE, f"{path}: 503 after {took:.1f} s"
    relay.heal()  # the database answers again, on new connections
    deadline = time.monotonic() + 20 * harness.TIMEOUT_SCALE
    status = None
    while time.monotonic() < deadline:
        status = d.get("/user/settings", headers={"Authorization": "Bearer " + token},
                       timeout=30).status
        if status == 200:
            break
        time.sleep(0.1)
    assert status == 200, "no request was served after the database came back"
