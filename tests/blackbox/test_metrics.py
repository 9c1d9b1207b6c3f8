"""GET /metrics (DECISIONS O3, P): checked by a parser of the Prometheus text exposition
format 0.0.4 written here; route labels are templates, never raw paths or query strings;
METRICS_TOKEN is enforced."""

import json
import math
import os
import re

import pytest

import harness
from auth_helpers import Api, start

NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
QUERY_SECRET = "qs-secret-4f1d"
REPLICA = 'replica "one" \\ west'


class ParseError(AssertionError):
    pass


def parse_float(text, where):
    if text in ("+Inf", "Inf"):
        return math.inf
    if text == "-Inf":
        return -math.inf
    if text == "NaN":
        return math.nan
    if not re.fullmatch(r"[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?)", text):
        raise ParseError(f"{where}: not a float: {text!r}")
    return float(text)


def parse_labels(text, i, where):
    """Parses `{name="value",...}` from text[i] == "{"; returns (labels, index after "}")."""
    assert text[i] == "{"
    i += 1
    labels = {}
    while True:
        if i < len(text) and text[i] == "}":
            return labels, i + 1
        m = LABEL_NAME_RE.match(text, i)
        if not m:
            raise ParseError(f"{where}: bad label name at {text[i:]!r}")
        name = m.group(0)
        i = m.end()
        if text[i:i + 2] != '="':
            raise ParseError(f"{where}: expected =\" after {name}")
        i += 2
        value = []
        while True:
            if i >= len(text):
                raise ParseError(f"{where}: unterminated value of {name}")
            ch = text[i]
            if ch == "\\":
                nxt = text[i + 1:i + 2]
                if nxt not in ("\\", '"', "n"):
                    raise ParseError(f"{where}: bad escape \\{nxt} in {name}")
                value.append("\n" if nxt == "n" else nxt)
                i += 2
            elif ch == '"':
                i += 1
                break
            elif ch == "\n":
                raise ParseError(f"{where}: raw newline in {name}")
            else:
                value.append(ch)
                i += 1
        if name in labels:
            raise ParseError(f"{where}: label {name} twice")
        labels[name] = "".join(value)
        if text[i:i + 1] == ",":
            i += 1
        elif text[i:i + 1] != "}":
            raise ParseError(f"{where}: expected , or }} after {name}")


def family_of(name, types):
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)] if name.endswith(suffix) else None
        if base and types.get(base) in ("histogram", "summary"):
            return base
    return name


def parse(text):
    """The exposition text as {family: {"type", "help", "samples": [(name, labels, value)]}};
    raises ParseError on anything malformed."""
    if not text.endswith("\n"):
        raise ParseError("the text does not end with a newline")
    families, types, helps, seen, order = {}, {}, {}, set(), []
    for n, line in enumerate(text[:-1].split("\n"), 1):
        where = f"line {n} {line!r}"
        if line == "":
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not NAME_RE.fullmatch(name):
                    raise ParseError(f"{where}: bad metric name")
                if parts[1] == "TYPE":
                    if len(parts) != 4 or parts[3] not in TYPES:
                        raise ParseError(f"{where}: bad type")
                    if name in types:
                        raise ParseError(f"{where}: second TYPE for {name}")
                    if name in families:
                        raise ParseError(f"{where}: TYPE after samples of {name}")
                    types[name] = parts[3]
                else:
                    if name in helps:
                        raise ParseError(f"{where}: second HELP for {name}")
                    doc = parts[3] if len(parts) == 4 else ""
                    if re.search(r"\\[^\\n]", doc.replace("\\\\", "")):
                        raise ParseError(f"{where}: bad escape in HELP")
                    helps[name] = doc
            continue
        m = NAME_RE.match(line)
        if not m:
            raise ParseError(f"{where}: no metric name")
        name, i = m.group(0), m.end()
        labels = {}
        if line[i:i + 1] == "{":
            labels, i = parse_labels(line, i, where)
        rest = line[i:]
        if not rest.startswith(" "):
            raise ParseError(f"{where}: no space before the value")
        fields = rest.strip(" ").split(" ")
        if len(fields) not in (1, 2):
            raise ParseError(f"{where}: expected a value and an optional timestamp")
        value = parse_float(fields[0], where)
        if len(fields) == 2 and not re.fullmatch(r"-?\d+", fields[1]):
            raise ParseError(f"{where}: bad timestamp")
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            raise ParseError(f"{where}: duplicate sample")
        seen.add(key)
        fam = family_of(name, types)
        if fam not in families:
            if fam in order:
                raise ParseError(f"{where}: samples of {fam} are not together")
            families[fam] = {"type": types.get(fam, "untyped"), "help": helps.get(fam),
                             "samples": []}
            order.append(fam)
        elif order[-1] != fam:
            raise ParseError(f"{where}: samples of {fam} are not together")
        if families[fam]["type"] == "counter" and value < 0:
            raise ParseError(f"{where}: negative counter")
        families[fam]["samples"].append((name, labels, value))
    for name in list(types) + list(helps):
        if name not in families:
            raise ParseError(f"HELP/TYPE for {name} without samples")
    for fam, f in families.items():
        f["help"] = helps.get(fam)
        if f["type"] == "histogram":
            check_histogram(fam, f["samples"])
    return families


def check_histogram(fam, samples):
    series = {}
    for name, labels, value in samples:
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        s = series.setdefault(rest, {"buckets": [], "sum": None, "count": None})
        if name == fam + "_bucket":
            if "le" not in labels:
                raise ParseError(f"{fam}: bucket without le {labels}")
            s["buckets"].append((parse_float(labels["le"], fam), value))
        elif name == fam + "_sum":
            s["sum"] = value
        elif name == fam + "_count":
            s["count"] = value
        else:
            raise ParseError(f"{fam}: unexpected sample {name}")
    for rest, s in series.items():
        where = f"{fam}{dict(rest)}"
        b = s["buckets"]
        if not b or s["sum"] is None or s["count"] is None:
            raise ParseError(f"{where}: buckets, _sum and _count are all needed")
        les = [le for le, _ in b]
        if les != sorted(les) or len(set(les)) != len(les):
            raise ParseError(f"{where}: le not increasing: {les}")
        if les[-1] != math.inf:
            raise ParseError(f"{where}: last bucket is not +Inf")
        counts = [c for _, c in b]
        if any(later < earlier for earlier, later in zip(counts, counts[1:])):
            raise ParseError(f"{where}: buckets not cumulative: {counts}")
        if counts[-1] != s["count"]:
            raise ParseError(f"{where}: +Inf bucket {counts[-1]} != _count {s['count']}")
        if s["sum"] < 0:
            raise ParseError(f"{where}: negative _sum")


# ------------------------------------------------------------------------------- the parser


@pytest.mark.parametrize("bad", [
    'a{x="1"} 1',                                   # no final newline
    'a{x="1} 1\n', 'a{x=1} 1\n', 'a{1x="1"} 1\n', 'a{x="\\q"} 1\n', 'a 1 2 3\n',
    'a one\n', '1a 1\n', 'a{x="1",x="2"} 1\n', 'a 1\na 1\n', '# TYPE a counter\na -1\n',
    '# TYPE a foo\na 1\n', 'a 1\nb 1\na{x="1"} 1\n', 'a 1\n# TYPE a counter\n',
    '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
    '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n',
    '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n',
    '# TYPE h histogram\nh_bucket{le="2"} 1\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 1\n'
    'h_sum 1\nh_count 1\n',
])
def test_parser_rejects(bad):
    with pytest.raises(ParseError):
        parse(bad)


def test_parser_accepts():
    fams = parse('# HELP h Lat\\\\ency.\n# TYPE h histogram\nh_bucket{a="x\\"y\\\\z\\n",le="0.5"} 1\n'
                 'h_bucket{a="x\\"y\\\\z\\n",le="+Inf"} 2\nh_sum{a="x\\"y\\\\z\\n"} 0.7\n'
                 'h_count{a="x\\"y\\\\z\\n"} 2\n# TYPE g gauge\ng NaN\nu{} 1e-3 1700000000\n')
    assert fams["h"]["samples"][0][1]["a"] == 'x"y\\z\n'
    assert set(fams) == {"h", "g", "u"}


# ------------------------------------------------------------------------------- droplin


def traffic(api):
    """Requests on parametrised routes, with query strings, unknown paths and errors."""
    d = api.d
    token = api.register("alice")["token"]
    r = api.post("/devices", {"name": "Phone", "rssi": -40, "distance": 2}, token=token)
    dev = r.json()["id"]
    for path in (f"/devices/{dev}", "/devices/42", "/devices/43?x=1", f"/devices/{dev}?q=2"):
        d.get(path, headers={"Authorization": "Bearer " + token})
    d.get("/devices/not-a-number", headers={"Authorization": "Bearer " + token})
    d.request("DELETE", "/user/privacy-zones/9?secret=" + QUERY_SECRET,
              headers={"Authorization": "Bearer " + token})
    api.post("/user/pinned/77", token=token, query={"token": QUERY_SECRET})
    d.get("/health?probe=" + QUERY_SECRET)
    d.get("/nope/" + QUERY_SECRET)
    d.get("/admin/stats?secret=" + QUERY_SECRET)
    d.request("PUT", "/devices")
    d.get("/devices/")  # 307
    return dev


@pytest.fixture
def api(droplin):
    return Api(start(droplin, RAILWAY_REPLICA_ID=REPLICA))


def scrape(d, **headers):
    r = d.get("/metrics", headers=headers or None)
    assert r.status == 200, r
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r
    return r.text


def test_metrics_parse_and_have_the_families(api):
    traffic(api)
    text = scrape(api.d)
    fams = parse(text)
    want = {"droplin_build_info": "gauge", "droplin_http_requests_total": "counter",
            "droplin_http_request_duration_seconds": "histogram",
            "droplin_db_pool_in_use": "gauge", "droplin_db_pool_waiting": "gauge",
            "droplin_db_errors_total": "counter", "droplin_connections_open": "gauge"}
    for name, type_ in want.items():
        assert name in fams, name
        assert fams[name]["type"] == type_, name
        assert fams[name]["help"], name
    for fam in fams.values():
        for name, labels, _ in fam["samples"]:
            assert labels.get("replica") == REPLICA, (name, labels)  # escaped and read back
    build = fams["droplin_build_info"]["samples"]
    assert len(build) == 1 and build[0][2] == 1 and build[0][1]["version"]
    for name, fam in fams.items():
        if fam["type"] == "counter":
            assert name.endswith("_total"), name


def test_route_labels_are_templates_without_query_strings(api, tmp_path):
    dev = traffic(api)
    text = scrape(api.d)
    assert QUERY_SECRET not in text
    fams = parse(text)
    with open(os.path.join(harness.REPO, "docs", "openapi.json")) as f:
        templates = set(json.load(f)["paths"])
    routes = set()
    for fam in ("droplin_http_requests_total", "droplin_http_request_duration_seconds"):
        for name, labels, _ in fams[fam]["samples"]:
            route = labels["route"]
            routes.add(route)
            assert "?" not in route and "=" not in route, route
            assert route == "unmatched" or route in templates, route
            assert not re.search(r"/\d+(/|$)", route), route
            assert str(dev) not in route.split("/"), route
    assert {"/devices/{device_id}", "/user/privacy-zones/{zone_id}",
            "/user/pinned/{device_id}", "/health", "/devices", "unmatched"} <= routes, routes
    counts = {(l["route"], l["method"], l["status"]): v
              for _, l, v in fams["droplin_http_requests_total"]["samples"]}
    # GET /devices/{id}: 200 (own), 404 twice (42, 43), 200 again (own with a query) ...
    assert counts[("/devices/{device_id}", "GET", "200")] == 2, counts
    assert counts[("/devices/{device_id}", "GET", "404")] == 2, counts
    assert counts[("/devices/{device_id}", "GET", "422")] == 1, counts
    assert counts[("/admin/stats", "GET", "403")] == 1, counts
    assert counts[("/devices", "POST", "200")] == 1, counts
    assert sum(v for (r, m, s), v in counts.items() if r == "unmatched") >= 1


def test_histogram_counts_match_the_request_counters(api):
    traffic(api)
    fams = parse(scrape(api.d))
    per_route = {}
    for _, l, v in fams["droplin_http_requests_total"]["samples"]:
        key = (l["route"], l["method"])
        per_route[key] = per_route.get(key, 0) + v
    hist = {(l["route"], l["method"]): v for n, l, v in
            fams["droplin_http_request_duration_seconds"]["samples"] if n.endswith("_count")}
    for key, n in per_route.items():
        if key[0] == "/metrics":
            continue  # the scrape itself may be in one and not yet the other
        assert hist.get(key) == n, (key, hist.get(key), n)


def test_metrics_token(droplin):
    token = "metrics-token-" + "x" * 20
    d = start(droplin, METRICS_TOKEN=token)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer " + token + "x"},
                    {"Authorization": "bearer " + token}, {"Authorization": token},
                    {"Authorization": "Basic " + token}, {"secret": token}):
        r = d.get("/metrics", headers=headers or None)
        assert r.status == 401, (headers, r)
        assert "droplin_" not in r.text
    parse(scrape(d, Authorization="Bearer " + token))
    # other routes do not need it
    assert d.get("/health").status == 200


def test_metrics_without_a_token_are_open(api):
    parse(scrape(api.d))


def test_metrics_are_private_by_default_in_production(droplin):
    d = start(droplin, DROPLIN_ENV="production", BCRYPT_COST="12")
    for headers in (None, {"Authorization": "Bearer "}, {"Authorization": "Bearer x"}):
        r = d.get("/metrics", headers=headers)
        assert r.status == 401, (headers, r)
        assert "droplin_" not in r.text


def test_metrics_public_opens_them_in_production(droplin):
    d = start(droplin, DROPLIN_ENV="production", BCRYPT_COST="12", METRICS_PUBLIC="1")
    parse(scrape(d))


def test_metrics_token_in_production(droplin):
    token = "metrics-token-" + "y" * 20
    d = start(droplin, DROPLIN_ENV="production", BCRYPT_COST="12", METRICS_TOKEN=token,
              METRICS_PUBLIC="1")  # the token still rules when both are set
    assert d.get("/metrics").status == 401
    parse(scrape(d, Authorization="Bearer " + token))
