"""The Cloudinary stand-in itself (no droplin): it checks what Cloudinary checks, answers in its
shape, records uploads and destroys, and rejects, fails or stalls on demand."""

import json
import re
import socket
import ssl
import subprocess
import time
import uuid

import pytest

import cloudinary_stub
from cloudinary_stub import FOLDER, HOST_NAME, TRANSFORMATION, sign
from cloudinary_stub import cloudinary, cloudinary_ca  # noqa: F401  (pytest fixtures)

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x0b\xb8\x00\x00\x07\xd0\x08\x02\x00\x00"
       b"\x00\x00\x00\x00\x00")  # a 3000x2000 header is enough for the stand-in


def upload_params(stub, user_id=7, ts=None, **override):
    p = {"folder": FOLDER, "format": "jpg", "public_id": f"user_{user_id}_{uuid.uuid4().hex[:16]}",
         "transformation": TRANSFORMATION, "timestamp": str(int(time.time()) if ts is None else ts)}
    p.update(override)
    p = {k: v for k, v in p.items() if v is not None}
    p["api_key"] = stub.api_key
    p["signature"] = sign(p, stub.api_secret, stub.algorithm)
    return p


def multipart(params, file=None, filename="upload", boundary="stubtestboundary0123"):
    out = b""
    if file is not None:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                ).encode() + file + b"\r\n"
    for k, v in params.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                ).encode()
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


def call(stub, action, params, file=None, cloud=None, timeout=10, body=None, ctype=None):
    """POST /v1_1/<cloud>/image/<action> over TLS, verifying HOST_NAME with the test CA."""
    if body is None:
        body, ctype = multipart(params, file)
    ctx = ssl.create_default_context(cafile=stub.pki["ca"])
    head = (f"POST /v1_1/{cloud or stub.cloud}/image/{action} HTTP/1.1\r\n"
            f"Host: {HOST_NAME}:{stub.port}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    with socket.create_connection(("127.0.0.1", stub.port), timeout=timeout) as s:
        with ctx.wrap_socket(s, server_hostname=HOST_NAME) as tls:
            tls.sendall(head.encode() + body)
            data = b""
            while True:
                try:
                    chunk = tls.recv(65536)
                except ssl.SSLError:
                    break
                if not chunk:
                    break
                data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    return status, json.loads(payload)


def test_signed_upload_is_stored_and_answered_in_cloudinarys_shape(cloudinary):
    p = upload_params(cloudinary)
    t0 = int(time.time())
    status, body = call(cloudinary, "upload", p, PNG)
    assert status == 200, body
    pid = f"{FOLDER}/{p['public_id']}"
    assert body["public_id"] == pid
    assert body["secure_url"] == (f"https://127.0.0.1:{cloudinary.port}/{cloudinary.cloud}/image/upload/"
                                  f"v{body['version']}/{pid}.jpg")
    assert body["url"] == "http" + body["secure_url"][5:]
    assert (body["format"], body["resource_type"], body["type"]) == ("jpg", "image", "upload")
    assert (body["width"], body["height"], body["bytes"]) == (2048, 1365, len(PNG))
    # the version is the upload's time (Cloudinary's): not before the call began
    assert isinstance(body["version"], int) and t0 <= body["version"] <= int(time.time()) + 1
    [up] = cloudinary.uploads
    assert up.data == PNG and up.public_id == pid and cloudinary.assets[pid] is up
    assert cloudinary.problems == []


def test_sha256_signatures(cloudinary_ca):  # noqa: F811
    with cloudinary_stub.CloudinaryStub(cloudinary_ca, algorithm="sha256") as stub:
        p = upload_params(stub)
        assert len(p["signature"]) == 64
        assert call(stub, "upload", p, PNG)[0] == 200
        p["signature"] = cloudinary_stub.sign(p, stub.api_secret, "sha1")
        status, body = call(stub, "upload", p, PNG)
        assert status == 401 and body["error"]["message"].startswith("Invalid Signature")


def test_string_to_sign_is_cloudinarys():
    p = {"timestamp": "1700000000", "public_id": "a", "folder": "f", "api_key": "k",
         "file": "x", "resource_type": "image", "signature": "s", "empty": ""}
    assert cloudinary_stub.string_to_sign(p) == "folder=f&public_id=a&timestamp=1700000000"
    # Cloudinary's documented example
    assert sign({"eager": "w_400,h_300,c_pad|w_260,h_200,c_crop", "public_id": "sample_image",
                 "timestamp": "1315060510"}, "abcd") == "bfd09f95f331f558cbd1320e67aa8d488770583e"


@pytest.mark.parametrize("case", ["signature", "secret", "api_key", "no_api_key", "stale",
                                  "no_timestamp", "no_signature", "cloud"])
def test_refuses_what_cloudinary_refuses(cloudinary, case):
    p = upload_params(cloudinary)
    cloud = None
    if case == "signature":
        p["signature"] = "0" * 40
    elif case == "secret":
        p["signature"] = sign({k: v for k, v in p.items() if k != "signature"}, "wrong-secret")
    elif case == "api_key":
        p["api_key"] = "999"
    elif case == "no_api_key":
        del p["api_key"]
    elif case == "stale":
        p = upload_params(cloudinary, ts=int(time.time()) - 3700)
    elif case == "no_timestamp":
        del p["timestamp"]
    elif case == "no_signature":
        del p["signature"]
    elif case == "cloud":
        cloud = "someone-else"
    status, body = call(cloudinary, "upload", p, PNG, cloud=cloud)
    expected = {"signature": (401, "Invalid Signature 0000"), "secret": (401, "Invalid Signature"),
                "api_key": (401, "Invalid api_key 999"), "no_api_key": (401, "Must supply api_key"),
                "stale": (400, "Stale request - reported time is "),
                "no_timestamp": (400, "Missing required parameter - timestamp"),
                "no_signature": (400, "Missing required parameter - signature"),
                "cloud": (401, "Invalid cloud_name someone-else")}[case]
    assert status == expected[0], body
    assert body["error"]["message"].startswith(expected[1]), body
    assert cloudinary.uploads == [] and cloudinary.assets == {}
    assert cloudinary.requests[-1].status == expected[0]


def test_an_hour_old_timestamp_is_still_fresh(cloudinary):
    p = upload_params(cloudinary, ts=int(time.time()) - 3500)
    assert call(cloudinary, "upload", p, PNG)[0] == 200


@pytest.mark.parametrize("change,problem", [
    ({"folder": "elsewhere"}, "folder='elsewhere'"),
    ({"format": "png"}, "format='png'"),
    ({"transformation": "c_fill,w_100"}, "transformation="),
    ({"public_id": "user_7"}, "public_id='user_7'"),
    ({"public_id": "user_7_0123456789ABCDEF"}, "public_id="),
    ({"overwrite": "true"}, "parameters"),
    ({"folder": None}, "parameters"),
])
def test_strict_contract_of_droplins_uploads(cloudinary, change, problem):
    p = upload_params(cloudinary, **change)
    status, body = call(cloudinary, "upload", p, PNG)
    assert status == 400, body
    assert body["error"]["message"].startswith("stand-in: ")
    assert problem in body["error"]["message"]
    assert cloudinary.problems and cloudinary.uploads == []


def test_file_checks(cloudinary):
    status, body = call(cloudinary, "upload", upload_params(cloudinary), b"just text")
    assert (status, body) == (400, {"error": {"message": "Invalid image file"}})
    status, body = call(cloudinary, "upload", upload_params(cloudinary), PNG)
    assert status == 200
    body_bytes, ctype = multipart(upload_params(cloudinary), PNG)
    status, body = call(cloudinary, "upload", None, body=body_bytes[:-10], ctype=ctype)
    assert status == 400 and "Invalid request body" in body["error"]["message"]


def test_destroy_removes_the_asset_once(cloudinary):
    p = upload_params(cloudinary)
    _, up = call(cloudinary, "upload", p, PNG)
    seen = []
    cloudinary.on_destroy = lambda pid: seen.append(pid) or "hook ran"
    d = {"public_id": up["public_id"], "timestamp": str(int(time.time()))}
    d["api_key"] = cloudinary.api_key
    d["signature"] = sign(d, cloudinary.api_secret)
    assert call(cloudinary, "destroy", d) == (200, {"result": "ok"})
    assert call(cloudinary, "destroy", d) == (200, {"result": "not found"})
    assert [x.result for x in cloudinary.destroys] == ["ok", "not found"]
    assert cloudinary.destroys[0].seen == "hook ran" and seen == [up["public_id"]] * 2
    assert cloudinary.assets == {}
    d["signature"] = "f" * 40
    status, body = call(cloudinary, "destroy", d)
    assert status == 401 and body["error"]["message"].startswith("Invalid Signature")
    assert len(cloudinary.destroys) == 2


def test_modes(cloudinary):
    cloudinary.mode = "reject"
    status, body = call(cloudinary, "upload", upload_params(cloudinary), PNG)
    assert status == 401 and body["error"]["message"].startswith("Invalid Signature")
    cloudinary.mode = "fail"
    assert call(cloudinary, "upload", upload_params(cloudinary), PNG)[0] == 500
    cloudinary.mode = "no_url"
    status, body = call(cloudinary, "upload", upload_params(cloudinary), PNG)
    assert status == 200 and "secure_url" not in body and body["public_id"]
    assert len(cloudinary.assets) == 1
    for mode, stored in (("stall", 1), ("store_then_stall", 2)):
        cloudinary.mode = mode
        with pytest.raises((socket.timeout, TimeoutError)):
            call(cloudinary, "upload", upload_params(cloudinary), PNG, timeout=0.7)
        assert len(cloudinary.assets) == stored, mode
    assert cloudinary.stalled() >= 1
    cloudinary.release_stalls()
    cloudinary_stub_wait = time.monotonic() + 5
    while cloudinary.stalled() and time.monotonic() < cloudinary_stub_wait:
        time.sleep(0.02)
    assert cloudinary.stalled() == 0


def test_curl_form_upload_with_the_test_ca(cloudinary):
    """What libcurl's mime API sends (droplin's path) passes the stand-in."""
    p = upload_params(cloudinary)
    args = ["curl", "-sS", "--max-time", "10", "--resolve", cloudinary.resolve(),
            "--cacert", cloudinary.pki["ca"], "-F", "file=@-;filename=upload"]
    for k, v in p.items():
        args += ["--form-string", f"{k}={v}"]
    r = subprocess.run(args + [f"{cloudinary.base}/v1_1/{cloudinary.cloud}/image/upload"],
                       input=PNG, capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert re.fullmatch(r"https://127\.0\.0\.1:\d+/droplin-test/image/upload/v\d+/"
                        r"droplink/profile_photos/user_7_[0-9a-f]{16}\.jpg", body["secure_url"])
    assert cloudinary.uploads[0].data == PNG
    untrusted = subprocess.run(args[:6] + [f"{cloudinary.base}/v1_1/x/image/upload"],
                               capture_output=True, timeout=30)
    assert untrusted.returncode == 60
