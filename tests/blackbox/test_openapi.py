"""docs/openapi.json against the router (DECISIONS O5): the binary's behaviour is the router's
list, the document is checked to be OpenAPI 3.1 in structure, and /openapi.json serves it
byte for byte."""

import json
import os
import re

import pytest

import harness

DOC_PATH = os.path.join(harness.REPO, "docs", "openapi.json")
SPEC = os.path.join(os.path.dirname(harness.REPO), "shared", "spec", "ORIGINAL_API.md")
# the specification's endpoint index, checked in (a clone elsewhere has no shared/spec)
SPEC_INDEX = os.path.join(harness.TESTS_DIR, "spec", "original_api_endpoint_index.md")
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# ORIGINAL_API.md §2, the 44 application routes (checked against tests/spec's extract of it).
ORIGINAL_44 = [
    ("GET", "/"), ("GET", "/health"), ("GET", "/ready"),
    ("POST", "/auth/check-password-strength"), ("POST", "/auth/register"),
    ("POST", "/auth/login"), ("POST", "/auth/refresh"), ("POST", "/auth/unlock-account"),
    ("POST", "/admin/rotate-keys"), ("POST", "/auth/send-verification-code"),
    ("POST", "/auth/verify-code"), ("POST", "/auth/check-username"),
    ("POST", "/auth/check-email"), ("POST", "/auth/check-phone"),
    ("POST", "/auth/change-username"), ("POST", "/auth/change-password"),
    ("POST", "/auth/send-recovery-code"), ("POST", "/auth/verify-recovery-code"),
    ("POST", "/auth/reset-password"), ("POST", "/devices"), ("GET", "/devices"),
    ("GET", "/devices/{device_id}"), ("DELETE", "/devices/{device_id}"),
    ("GET", "/user/profile"), ("POST", "/user/profile"), ("POST", "/user/profile/photo"),
    ("GET", "/user/profile/photo"), ("DELETE", "/user/profile/photo"),
    ("POST", "/api/log-api-call"), ("DELETE", "/user/delete"), ("GET", "/user/settings"),
    ("POST", "/user/settings"), ("GET", "/user/privacy-zones"),
    ("POST", "/user/privacy-zones"), ("DELETE", "/user/privacy-zones/{zone_id}"),
    ("GET", "/user/pinned"), ("POST", "/user/pinned/{device_id}"),
    ("DELETE", "/user/pinned/{device_id}"), ("GET", "/admin/stats"),
    ("GET", "/admin/audit-logs"), ("POST", "/admin/cleanup-audit-logs"),
    ("POST", "/api/diagnostics/run"), ("GET", "/admin/dashboard"),
    ("DELETE", "/admin/clear-all-data"),
]
# droplin's additions (DECISIONS P Liveness, O3, O5; sessions per login; the fleet, issue 19).
ADDITIONS = [("GET", "/livez"), ("GET", "/metrics"), ("GET", "/openapi.json"), ("GET", "/docs"),
             ("GET", "/docs/app.js"), ("GET", "/docs/app.css"), ("POST", "/auth/logout"),
             ("POST", "/auth/logout-all"), ("GET", "/admin/replicas"),
             ("GET", "/admin/dashboard/fleet")]

# Paths the original never had, or had only in FastAPI's extras, or that routing must not
# invent: all 404 {"detail":"Not Found"}.
NOT_ROUTES = ["/nope", "/auth/google", "/healthz", "/readyz", "/debug/my-ip", "/auth/signup",
              "/api/log-error", "/api/log-ble-error", "/api/log-performance", "/redoc",
              "/docs/oauth2-redirect", "/docs/index.html", "/admin", "/auth", "/user",
              "/devices/1/extra", "/user/profile/photo/1", "/user/pinned", "/admin/stats/x",
              "/openapi.yaml", "/metrics/x", "/docs/app.jsx", "/DEVICES", "/Health"]
NOT_ROUTES.remove("/user/pinned")  # a real route; kept out of the list on purpose


def load_doc():
    with open(DOC_PATH, "rb") as f:
        raw = f.read()
    return raw, json.loads(raw)


def operations(doc):
    return {(m.upper(), p) for p, item in doc["paths"].items() for m in item
            if m in HTTP_METHODS}


def concrete(path):
    """A request path for a template: every {param} becomes an integer."""
    return re.sub(r"\{[^}]+\}", "1", path)


def is_router_404(resp):
    return resp.status == 404 and resp.body and json.loads(resp.body) == {"detail": "Not Found"}


@pytest.fixture(scope="module")
def d(module_droplin):
    d = module_droplin(env={"JWT_SECRET_KEY": "j" * 40, "ADMIN_SECRET": "a" * 40})
    d.wait_ready()
    return d


# ------------------------------------------------------------------------- the document itself


def index_section(text):
    return text.split("## 2. Endpoint index", 1)[1].split("\n## ", 1)[0].rstrip("\n")


def test_the_spec_index_is_the_list_above():
    with open(SPEC_INDEX, encoding="utf-8") as f:
        section = index_section(f.read())
    rows = re.findall(r"^\| *(\d+) *\| *([A-Z]+) *\| *`([^`]+)` *\|", section, re.M)
    assert [int(n) for n, _, _ in rows] == list(range(1, 45))
    assert sorted((m, p) for _, m, p in rows) == sorted(ORIGINAL_44)


def test_the_checked_in_index_is_the_specifications():
    """Only where the specification is beside the repository: the extract is still its
    section 2, byte for byte."""
    if not os.path.exists(SPEC):
        pytest.skip("shared/spec/ORIGINAL_API.md is not beside the repository; the checked-in "
                    "extract stands for it")
    with open(SPEC, encoding="utf-8") as f:
        spec = index_section(f.read())
    with open(SPEC_INDEX, encoding="utf-8") as f:
        assert index_section(f.read()) == spec, f"{SPEC_INDEX} is out of date"


def test_document_lists_every_route_of_the_spec_and_droplins_additions():
    _, doc = load_doc()
    ops = operations(doc)
    missing = [r for r in ORIGINAL_44 + ADDITIONS if r not in ops]
    assert not missing, f"routes missing from docs/openapi.json: {missing}"
    extra = ops - set(ORIGINAL_44 + ADDITIONS)
    assert not extra, f"operations in docs/openapi.json that are no route: {sorted(extra)}"


def test_document_is_openapi_3_1_in_structure():
    _, doc = load_doc()
    assert doc["openapi"].startswith("3.1.")
    assert isinstance(doc["info"]["title"], str) and isinstance(doc["info"]["version"], str)
    schemes = doc["components"]["securitySchemes"]
    assert {"bearerAuth", "adminSecret", "adminBasic"} <= set(schemes)
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["adminSecret"]["type"] == "apiKey"
    assert (schemes["adminSecret"]["in"], schemes["adminSecret"]["name"]) == ("header", "secret")
    assert schemes["adminBasic"]["type"] == "http" and schemes["adminBasic"]["scheme"] == "basic"
    tags = {t["name"] for t in doc["tags"]}
    op_ids = []
    for path, item in doc["paths"].items():
        assert path.startswith("/"), path
        assert set(item) <= set(HTTP_METHODS) | {"summary", "description", "parameters",
                                                 "servers"}, (path, set(item))
        template_params = re.findall(r"\{([^}]+)\}", path)
        for method in set(item) & set(HTTP_METHODS):
            op = item[method]
            where = f"{method.upper()} {path}"
            assert op.get("summary"), where
            assert op.get("tags") and set(op["tags"]) <= tags, where
            op_ids.append(op["operationId"])
            params = [resolve(doc, p) for p in op.get("parameters", [])]
            for p in params:
                assert p["in"] in ("query", "header", "path", "cookie"), where
                assert "schema" in p or "content" in p, where
            path_params = {p["name"]: p for p in params if p["in"] == "path"}
            assert set(path_params) == set(template_params), where
            for p in path_params.values():
                assert p["required"] is True and p["schema"]["type"] == "integer", where
            names = [(p["in"], p["name"]) for p in params]
            assert len(names) == len(set(names)), where
            assert op["responses"], where
            for code, r in op["responses"].items():
                assert re.fullmatch(r"[1-5]\d\d|[1-5]XX|default", code), (where, code)
                assert resolve(doc, r).get("description"), (where, code)
            if "requestBody" in op:
                assert resolve(doc, op["requestBody"])["content"], where
            for req in op.get("security", []):
                assert set(req) <= set(schemes), where
    assert len(op_ids) == len(set(op_ids)), "duplicate operationId"
    # every $ref resolves
    for ref in re.findall(r'"\$ref": *"([^"]+)"', json.dumps(doc)):
        resolve(doc, {"$ref": ref})


def resolve(doc, obj):
    while isinstance(obj, dict) and "$ref" in obj:
        ref = obj["$ref"]
        assert ref.startswith("#/"), ref
        target = doc
        for part in ref[2:].split("/"):
            assert part in target, f"unresolved $ref {ref}"
            target = target[part]
        obj = target
    return obj


def test_schemas_are_json_schema_2020_12():
    jsonschema = pytest.importorskip("jsonschema")
    _, doc = load_doc()
    for name, schema in doc["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(schema)


def test_documented_bodies_and_error_shapes():
    _, doc = load_doc()
    paths = doc["paths"]

    def body_fields(path, method, ctype="application/json"):
        schema = resolve(doc, resolve(doc, paths[path][method]["requestBody"])["content"][ctype]
                         ["schema"])
        return set(schema["properties"])

    assert body_fields("/auth/register", "post") == {"username", "password", "email"}
    assert {"username", "password", "remember_me"} <= body_fields("/auth/login", "post")
    assert {"name", "rssi", "distance", "distanceFeet", "phoneNumber", "socialMedia"} <= \
        body_fields("/devices", "post")
    assert body_fields("/user/profile/photo", "post", "multipart/form-data") == {"file"}
    assert {"darkMode", "maxDistance"} <= body_fields("/user/settings", "post")
    assert {"address", "radius"} <= body_fields("/user/privacy-zones", "post")
    for path, names in [("/auth/change-username", {"new_username"}),
                        ("/auth/change-password", {"current_password", "new_password"}),
                        ("/auth/reset-password", {"email", "code", "new_password"}),
                        ("/api/diagnostics/run", {"diagnostic_type"}),
                        ("/admin/audit-logs", {"user_id", "action", "ip_address", "limit",
                                               "offset"}),
                        ("/admin/cleanup-audit-logs", {"days"})]:
        method = next(iter(paths[path]))
        query = {p["name"] for p in paths[path][method]["parameters"] if p["in"] == "query"}
        assert query == names, path
    schemas = doc["components"]["schemas"]
    assert set(schemas["ValidationError"]["required"]) == {"error", "message", "details",
                                                           "detail"}
    assert set(schemas["TooManyRequests"]["required"]) >= {"error", "message", "limit",
                                                           "retry_after", "detail"}
    assert schemas["Detail"]["required"] == ["detail"]
    assert paths["/admin/stats"]["get"]["security"] == [{"adminSecret": []}]
    assert {"adminBasic": []} in paths["/admin/dashboard"]["get"]["security"]
    assert paths["/devices"]["get"]["security"] == [{"bearerAuth": []}]
    assert "401" in paths["/admin/dashboard"]["get"]["responses"]
    assert "422" in paths["/auth/register"]["post"]["responses"]
    assert "429" in paths["/auth/register"]["post"]["responses"]


# ------------------------------------------------------------------------- against the binary


def test_served_document_is_docs_openapi_json_byte_for_byte(d):
    raw, _ = load_doc()
    r = d.get("/openapi.json")
    assert r.status == 200, r
    assert r.headers["Content-Type"].startswith("application/json"), r
    assert r.body == raw, "the binary embeds another docs/openapi.json: run `make droplin`"


def test_every_documented_operation_is_routed(d):
    """No documented method+path answers the router's 404 or 405 (requests without
    credentials or body: 401, 403, 422 and friends are fine)."""
    _, doc = load_doc()
    wrong = []
    for method, path in sorted(operations(doc)):
        r = d.request(method, concrete(path), headers={"Content-Length": "0"}
                      if method in ("POST", "PUT", "PATCH") else None)
        if r.status == 405 or is_router_404(r):
            wrong.append((method, path, r.status))
    assert not wrong, f"documented but not routed: {wrong}"


def test_undocumented_methods_on_documented_paths_are_405(d):
    """The router has no method on a documented path that the document leaves out."""
    _, doc = load_doc()
    wrong = []
    for path, item in sorted(doc["paths"].items()):
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            if method.lower() in item:
                continue
            r = d.request(method, concrete(path), headers={"Content-Length": "0"})
            if r.status != 405:
                wrong.append((method, path, r.status))
    assert not wrong, f"answered but not documented (expected 405): {wrong}"


@pytest.mark.parametrize("path", NOT_ROUTES)
def test_paths_outside_the_document_are_404(d, path):
    _, doc = load_doc()
    assert path not in doc["paths"]
    for method in ("GET", "POST"):
        r = d.request(method, path, headers={"Content-Length": "0"})
        assert is_router_404(r), f"{method} {path}: {r!r}"


def test_metrics_know_only_documented_routes(d):
    """After a request to every documented operation, the route labels the binary reports
    (its route table's templates) are exactly the documented operations."""
    _, doc = load_doc()
    ops = operations(doc)
    for method, path in sorted(ops):
        d.request(method, concrete(path), headers={"Content-Length": "0"}
                  if method != "GET" else None)
    text = d.get("/metrics").text
    seen = set(re.findall(r'^droplin_http_requests_total\{route="([^"]*)",method="([^"]*)"',
                          text, re.M))
    seen = {(m, r) for r, m in seen if r != "unmatched"}
    assert seen == ops, (f"routed, not documented: {sorted(seen - ops)}; "
                         f"documented, not seen: {sorted(ops - seen)}")
