"""The mobile app's profile-photo call (ORIGINAL_API §11), replayed against droplin and the
Cloudinary stand-in: log in, POST /user/profile/photo as React Native's FormData sends it on iOS
and on Android (OkHttp), read `url` (or `detail` on failure), report the call to
/api/log-api-call as secureFetch does, and read the photo back from GET /user/profile under the
key the app uses (`profile_photo`) as well as `profilePhoto` (DECISIONS C2).

(Written as its own file because tests/blackbox/test_app_replay.py did not exist yet.)
"""

import random
import time
import uuid

import pytest

import harness
from auth_helpers import Api, body_of, db_of, start
from cloudinary_stub import cloudinary, cloudinary_ca  # noqa: F401  (pytest fixtures)

APP_UA = "DropLink/1.0 CFNetwork/1490.0.4 Darwin/23.2.0"
JPEG = (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        b"\xff\xc0\x00\x11\x08\x01\x00\x00\xc0\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
        + bytes(random.Random(3).randbytes(4000)) + b"\xff\xd9")


def rn_ios_body(data):
    """RN on iOS: a 70-character boundary, lower-case part header names."""
    alphabet = "-_1234567890abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    boundary = "".join(random.Random(1).choice(alphabet) for _ in range(70))
    body = (f"--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; "
            f"filename=\"photo.jpg\"\r\ncontent-type: image/jpeg\r\n\r\n").encode()
    body += data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def rn_android_body(data):
    """RN on Android (OkHttp): a UUID boundary and a Content-Length in the part's headers."""
    boundary = str(uuid.uuid4())
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"photo.jpg\"\r\nContent-Type: image/jpeg\r\n"
            f"Content-Length: {len(data)}\r\n\r\n").encode()
    body += data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def log_api_call(api, d, token, user_id, path, method, status, error=None):
    """secureFetch's report after every call. droplin records the user of the bearer token
    the report carries (the body's user_id is only the caller's word), so it sends the token."""
    r = api.post("/api/log-api-call", token=token, body={
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "endpoint": f"http://127.0.0.1:{d.port}{path}", "method": method, "user_id": user_id,
        "success": 200 <= status < 300, "status_code": status, "error": error})
    assert r.status == 200 and body_of(r) == {"success": True}, r


@pytest.mark.parametrize("platform", ["ios", "android"])
def test_app_uploads_a_profile_photo_and_reads_it_back(droplin, cloudinary, platform):
    d = start(droplin, **cloudinary.env())
    api = Api(d, user_agent=APP_UA)
    username = "app_" + uuid.uuid4().hex[:10]
    api.register(username, email=f"{username}@example.com")
    login = body_of(api.login(username))
    token, user_id = login["token"], login["user_id"]

    body, ctype = (rn_ios_body if platform == "ios" else rn_android_body)(JPEG)
    r = d.request("POST", "/user/profile/photo", body=body, timeout=20, headers={
        "Authorization": "Bearer " + token, "Content-Type": ctype, "Accept": "application/json",
        "User-Agent": APP_UA})
    assert r.status == 200, r
    url = body_of(r)["url"]  # what ProfilePhoto screens read
    assert url == cloudinary.uploads[-1].secure_url and cloudinary.uploads[-1].data == JPEG
    log_api_call(api, d, token, user_id, "/user/profile/photo", "POST", r.status)

    prof = d.get("/user/profile", headers={"Authorization": "Bearer " + token})
    assert prof.status == 200, prof
    p = body_of(prof)
    assert p["profile_photo"] == url and p["profilePhoto"] == url, p
    log_api_call(api, d, token, user_id, "/user/profile", "GET", prof.status)
    rows = harness.db_query(db_of(d), "SELECT endpoint, method, status_code FROM api_call_logs "
                            "WHERE user_id = %s ORDER BY id", (user_id,))
    assert [(m, s) for _, m, s in rows] == [("POST", 200), ("GET", 200)], rows


def test_app_shows_the_detail_of_a_refused_photo(droplin, cloudinary):
    d = start(droplin, **cloudinary.env())
    api = Api(d, user_agent=APP_UA)
    username = "app_" + uuid.uuid4().hex[:10]
    token = api.register(username)["token"]
    body, ctype = rn_ios_body(b"%PDF-1.4 not a photo")
    r = d.request("POST", "/user/profile/photo", body=body, timeout=20, headers={
        "Authorization": "Bearer " + token, "Content-Type": ctype})
    assert r.status == 400, r
    assert body_of(r) == {"detail": "Invalid or corrupted image file: cannot identify image file"}
    assert cloudinary.requests == []
