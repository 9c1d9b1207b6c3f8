"""A local HTTPS stand-in for Cloudinary's upload API (`image/upload` and `image/destroy`).

Its certificate is for `localhost`, signed by a throwaway CA (https_stub.make_test_ca), so
droplin reaches it only with OUTBOUND_CA_FILE=<ca> and
OUTBOUND_RESOLVE=localhost:PORT:127.0.0.1; CloudinaryStub.env() gives both, plus
CLOUDINARY_URL, CLOUDINARY_API_BASE, CLOUDINARY_SIGNATURE_ALGORITHM and OUTBOUND_TIMEOUT_MS.

It checks what Cloudinary checks and answers like it (errors as {"error":{"message":...}} with an
X-Cld-Error header):
  - POST /v1_1/<cloud>/image/upload or /image/destroy, else 404; another cloud name -> 401
  - parameters from a multipart/form-data or urlencoded body (plus the query string)
  - api_key: missing -> 401 "Must supply api_key"; not the configured one -> 401 "Invalid api_key"
  - timestamp: missing -> 400; older than one hour -> 400 "Stale request - ..."
  - signature: missing -> 400; not hex(SHA-1 or SHA-256) of the sorted `key=value` pairs of every
    non-empty parameter except file, cloud_name, resource_type and api_key, joined by `&`, with
    the API secret appended -> 401 "Invalid Signature <sig>. String to sign - '<to_sign>'."
  - upload: file missing -> 400; not JPEG/PNG/GIF/WebP/HEIC by its first bytes -> 400
    "Invalid image file"
and, with `strict` on (the default), what droplin promises in DECISIONS E on top of that (any
difference -> 400 "stand-in: ..." and an entry in .problems):
  - upload: exactly the parts file (filename "upload"), folder=droplink/profile_photos,
    format=jpg, public_id=user_<id>_<16 hex>, transformation=c_limit,h_2048,q_90,w_2048,
    api_key, timestamp, signature; no parameter twice
  - destroy: exactly public_id (droplink/profile_photos/...), timestamp, api_key, signature

A good upload is stored as an asset (public id with the folder) and answered 200 with
Cloudinary's response shape (secure_url https://127.0.0.1:PORT/<cloud>/image/upload/
v<version>/droplink/profile_photos/<id>.jpg, public_id, version, format, width, height, bytes,
...). A destroy answers {"result":"ok"} and removes the asset, or {"result":"not found"}.

Every request, accepted or not, is appended to .requests (Request: method, path, headers,
params, file bytes, status and JSON answered, arrival time); accepted uploads to .uploads and
every signature-valid destroy to .destroys (Destroy: public_id, result, and whatever the
on_destroy hook returned when it arrived, e.g. a database snapshot).

Modes, settable while it runs; `mode` applies to uploads, `destroy_mode` to destroys:
  "ok"               check and answer as Cloudinary does
  "reject"           read the request, answer 401 "Invalid Signature ..." whatever was sent
  "fail"             read the request, answer 500 {"error":{"message":"Internal Server Error"}}
  "no_url"           check, store, answer 200 without secure_url (uploads only)
  "stall"            read the request, never answer (until release_stalls() or stop())
  "store_then_stall" check and store the asset like "ok", then never answer
                     (the case DECISIONS E names: stored at Cloudinary, answer lost)

Standalone: /usr/bin/python3 tests/cloudinary_stub.py [--port N] [--mode M] prints droplin's
environment for it as JSON, then serves (at most --seconds, default 600).
"""

import hashlib
import json
import os
import re
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import https_stub  # noqa: E402

# DROPLIN_TEST_TIMEOUT_SCALE (3 in make blackbox-asan) stretches the stand-in's wait deadlines,
# as harness.scaled() does the harness's
TIMEOUT_SCALE = float(os.environ.get("DROPLIN_TEST_TIMEOUT_SCALE", "1"))

HOST_NAME = "localhost"  # loopback only: tests never name an outside host
FOLDER = "droplink/profile_photos"
TRANSFORMATION = "c_limit,h_2048,q_90,w_2048"
PUBLIC_ID_RE = re.compile(r"^user_(\d+)_([0-9a-f]{16})$")
UPLOAD_FIELDS = {"file", "folder", "format", "public_id", "transformation", "api_key",
                 "timestamp", "signature"}
DESTROY_FIELDS = {"public_id", "timestamp", "api_key", "signature"}
NOT_SIGNED = {"file", "cloud_name", "resource_type", "api_key", "signature"}
STALE_SECONDS = 3600
MAX_BODY = 100 * 1024 * 1024  # Cloudinary's largest plan limit for images
MAX_SIZE = 2048  # the incoming transformation's c_limit box


def make_ca(directory):
    """A throwaway CA and a leaf certificate for HOST_NAME (paths: ca, ca_key, cert, key)."""
    return https_stub.make_test_ca(directory, host=HOST_NAME)


# --------------------------------------------------------------------------------------------
# signatures and images


def string_to_sign(params):
    """Cloudinary's string to sign: sorted key=value of the signed, non-empty parameters."""
    return "&".join(f"{k}={v}" for k, v in sorted(params.items())
                    if k not in NOT_SIGNED and v != "")


def sign(params, secret, algorithm="sha1"):
    """hex digest of string_to_sign(params) + secret (what a Cloudinary SDK sends)."""
    h = hashlib.sha256 if algorithm == "sha256" else hashlib.sha1
    return h((string_to_sign(params) + secret).encode("utf-8")).hexdigest()


def image_kind(data):
    """'jpeg', 'png', 'gif', 'webp', 'heic' by the first bytes, or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if len(data) >= 12 and data[4:8] == b"ftyp" and data[8:12] in (
            b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"):
        return "heic"
    return None


def image_size(data):
    """(width, height) read from the header, or (0, 0) when it cannot be read."""
    try:
        kind = image_kind(data)
        if kind == "png" and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        if kind == "gif":
            return struct.unpack("<HH", data[6:10])
        if kind == "jpeg":
            i = 2
            while i + 9 < len(data):
                if data[i] != 0xFF:
                    return 0, 0
                marker = data[i + 1]
                seg = struct.unpack(">H", data[i + 2:i + 4])[0]
                if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB,
                              0xCD, 0xCE, 0xCF):
                    h, w = struct.unpack(">HH", data[i + 5:i + 9])
                    return w, h
                i += 2 + seg
        if kind == "webp":
            chunk = data[12:16]
            if chunk == b"VP8X":
                w = int.from_bytes(data[24:27], "little") + 1
                h = int.from_bytes(data[27:30], "little") + 1
                return w, h
            if chunk == b"VP8L":
                bits = int.from_bytes(data[21:25], "little")
                return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
            if chunk == b"VP8 ":
                w, h = struct.unpack("<HH", data[26:30])
                return w & 0x3FFF, h & 0x3FFF
    except (struct.error, IndexError):
        pass
    return 0, 0


def limited(w, h, box=MAX_SIZE):
    """What c_limit,w_2048,h_2048 makes of a w x h image (never enlarged, aspect kept)."""
    if w <= 0 or h <= 0 or (w <= box and h <= box):
        return w, h
    scale = min(box / w, box / h)
    return max(1, round(w * scale)), max(1, round(h * scale))


# --------------------------------------------------------------------------------------------
# request parsing


def parse_content_type(value):
    """(media type lower-cased, {param: value}) of a Content-Type header."""
    parts = value.split(";")
    params = {}
    for p in parts[1:]:
        if "=" in p:
            k, v = p.split("=", 1)
            v = v.strip()
            if len(v) >= 2 and v[0] == v[-1] == '"':
                v = v[1:-1]
            params[k.strip().lower()] = v
    return parts[0].strip().lower(), params


def parse_multipart(body, boundary):
    """[(headers dict, name, filename or None, data)] of a multipart body; ValueError when
    it is not well formed (no opening or closing delimiter, a part without a blank line)."""
    delim = b"\r\n--" + boundary.encode("latin-1")
    data = b"\r\n" + body
    if not data.startswith(delim):
        raise ValueError("body does not start with the boundary")
    pieces = data.split(delim)
    # pieces[0] is b"" (the preamble), the last starts with b"--" (the close delimiter)
    if len(pieces) < 2 or not pieces[-1].startswith(b"--"):
        raise ValueError("no closing delimiter")
    parts = []
    for raw in pieces[1:-1]:
        # after the delimiter: optional whitespace, CRLF, headers, CRLF CRLF, content
        line_end = raw.find(b"\r\n")
        if line_end < 0 or raw[:line_end].strip(b" \t"):
            raise ValueError("garbage after a delimiter")
        raw = raw[line_end + 2:]
        head, sep, content = raw.partition(b"\r\n\r\n")
        if not sep:
            if raw.startswith(b"\r\n"):
                head, content = b"", raw[2:]
            else:
                raise ValueError("part without a blank line after its headers")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            if not line:
                continue
            if ":" not in line:
                raise ValueError(f"bad part header {line!r}")
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        disp = headers.get("content-disposition", "")
        kind, params = parse_content_type(disp)
        if kind != "form-data" or "name" not in params:
            raise ValueError(f"bad Content-Disposition {disp!r}")
        parts.append((headers, params["name"], params.get("filename"), content))
    return parts


class Request:
    """One request seen by the stand-in."""

    def __init__(self, method, target, headers, body):
        self.method = method
        self.target = target
        self.path = target.split("?", 1)[0]
        self.headers = headers  # lower-cased names
        self.body = body
        self.time = time.time()
        self.params = {}  # name -> text value (last one wins, as duplicates are flagged)
        self.names = []  # every parameter name in order, duplicates included
        self.file = None  # the file part's bytes
        self.file_name = None  # its filename parameter
        self.file_type = None  # its Content-Type
        self.parse_error = None
        self.action = None  # "upload", "destroy" or None
        self.status = None
        self.answer = None  # JSON answered, or None (stalled, or not JSON)
        self.problems = []  # strict-contract differences found in this request

    @property
    def request_id(self):
        return self.headers.get("x-request-id")

    def __repr__(self):
        return (f"<Request {self.method} {self.path} {self.action} -> {self.status} "
                f"{self.answer!r} params={self.params!r}>")


class Upload:
    """An asset the stand-in stored."""

    def __init__(self, req, public_id, version, width, height):
        self.request = req
        self.fields = dict(req.params)
        self.data = req.file
        self.public_id = public_id  # with the folder
        self.version = version
        self.width = width
        self.height = height
        self.url = None
        self.secure_url = None

    def __repr__(self):
        return f"<Upload {self.public_id} v{self.version} {len(self.data)} bytes>"


class Destroy:
    def __init__(self, req, public_id, result, seen):
        self.request = req
        self.public_id = public_id
        self.result = result
        self.seen = seen  # what on_destroy returned when it arrived

    def __repr__(self):
        return f"<Destroy {self.public_id} -> {self.result} seen={self.seen!r}>"


def _err(message):
    return {"error": {"message": message}}


class CloudinaryStub:
    MAX_STALL_SECONDS = 60

    def __init__(self, pki, cloud="droplin-test", api_key="123456789012345",
                 api_secret=None, algorithm="sha1", mode="ok", host="127.0.0.1", port=0,
                 strict=True):
        self.pki = pki
        self.cloud = cloud
        self.api_key = api_key
        self.api_secret = api_secret or "stub-secret-" + uuid.uuid4().hex[:20]
        self.algorithm = algorithm
        self.mode = mode
        self.destroy_mode = "ok"
        self.strict = strict
        self.on_destroy = None  # called with the public id before a destroy is answered
        self.requests = []
        self.uploads = []  # accepted uploads, in order
        self.destroys = []  # signature-valid destroys, in order
        self.assets = {}  # public id (with folder) -> Upload still stored
        self.problems = []  # (request, text) for every strict-contract difference
        self._version = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._release = threading.Event()
        self._stalled = 0
        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ctx.load_cert_chain(pki["cert"], pki["key"])
        self._lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._lsock.bind((host, port))
        self._lsock.listen(128)
        self._lsock.settimeout(0.2)
        self.port = self._lsock.getsockname()[1]
        self._threads = []
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._accept_thread.start()

    # -- for tests

    @property
    def base(self):
        return f"https://{HOST_NAME}:{self.port}"

    def resolve(self):
        return f"{HOST_NAME}:{self.port}:127.0.0.1"

    def cloudinary_url(self, key=None, secret=None, cloud=None):
        return (f"cloudinary://{key or self.api_key}:{secret or self.api_secret}"
                f"@{cloud or self.cloud}")

    def env(self, timeout_ms=30000, algorithm=None, **override):
        """droplin's environment for this stand-in (CLOUDINARY_URL form); the
        outbound timeout is long unless a test about it passes a short one."""
        env = {"CLOUDINARY_URL": self.cloudinary_url(), "CLOUDINARY_API_BASE": self.base,
               "CLOUDINARY_SIGNATURE_ALGORITHM": algorithm or self.algorithm,
               "OUTBOUND_CA_FILE": self.pki["ca"], "OUTBOUND_RESOLVE": self.resolve(),
               "OUTBOUND_TIMEOUT_MS": str(timeout_ms)}
        env.update(override)
        return env

    def secure_url(self, public_id, version):
        return (f"https://127.0.0.1:{self.port}/{self.cloud}/image/upload/v{version}/"
                f"{public_id}.jpg")

    def add_asset(self, public_id, data=b"\xff\xd8\xff", version=1700000000):
        """Pretend an asset already exists (e.g. one the original backend uploaded)."""
        req = Request("POST", "(seeded)", {}, b"")
        req.file = data
        up = Upload(req, public_id, version, 0, 0)
        up.secure_url = self.secure_url(public_id, version)
        with self._lock:
            self.assets[public_id] = up
        return up

    def upload_requests(self):
        with self._lock:
            return [r for r in self.requests if r.action == "upload"]

    def destroy_requests(self):
        with self._lock:
            return [r for r in self.requests if r.action == "destroy"]

    def _wait(self, what, get, count, timeout):
        timeout *= TIMEOUT_SCALE
        deadline = time.monotonic() + timeout
        while True:
            got = get()
            if len(got) >= count:
                return got
            if time.monotonic() >= deadline:
                raise AssertionError(f"{len(got)} {what} after {timeout}s, expected {count}; "
                                     f"requests seen: {self.requests!r}")
            time.sleep(0.02)

    def wait_upload_requests(self, count=1, timeout=10.0):
        return self._wait("upload request(s)", self.upload_requests, count, timeout)

    def wait_destroys(self, count=1, timeout=10.0):
        def get():
            with self._lock:
                return list(self.destroys)
        return self._wait("destroy(s)", get, count, timeout)

    def stalled(self):
        """How many requests are being held without an answer right now."""
        with self._lock:
            return self._stalled

    def release_stalls(self):
        """End every stall in progress: those connections close without an answer."""
        with self._lock:
            old, self._release = self._release, threading.Event()
        old.set()

    def stop(self):
        self._stop.set()
        self.release_stalls()
        self._accept_thread.join(5)
        for t in self._threads:
            t.join(5)
        self._lsock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- server

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _stall(self):
        with self._lock:
            release = self._release
            self._stalled += 1
        try:
            deadline = time.monotonic() + self.MAX_STALL_SECONDS
            while not self._stop.is_set() and not release.is_set():
                if time.monotonic() >= deadline:
                    break
                release.wait(0.05)
        finally:
            with self._lock:
                self._stalled -= 1

    def _serve(self, conn):
        try:
            conn.settimeout(30)
            try:
                tls = self._ctx.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError):
                return
            with tls:
                req = self._read_request(tls)
                if req is None:
                    return
                with self._lock:
                    self.requests.append(req)
                status, body, stall = self._answer(req)
                if stall:
                    self._stall()
                    return
                req.status = int(status.split()[0])
                req.answer = body
                payload = json.dumps(body, separators=(",", ":")).encode()
                head = (f"HTTP/1.1 {status}\r\nServer: cloudinary\r\nConnection: close\r\n"
                        f"Content-Type: application/json; charset=utf-8\r\n"
                        f"Content-Length: {len(payload)}\r\n")
                if req.status >= 400 and isinstance(body, dict) and "error" in body:
                    head += "X-Cld-Error: " + body["error"]["message"][:200] + "\r\n"
                tls.sendall(head.encode("latin-1", "replace") + b"\r\n" + payload)
                try:
                    tls.unwrap()
                except (ssl.SSLError, OSError):
                    pass
        except (OSError, ssl.SSLError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _read_request(self, tls):
        got = https_stub.read_request(tls, MAX_BODY)
        if got is None:
            return None
        req = Request(*got)
        self._parse_params(req)
        return req

    def _parse_params(self, req):
        pairs = []
        if "?" in req.target:
            pairs += urllib.parse.parse_qsl(req.target.split("?", 1)[1], keep_blank_values=True)
        mtype, cparams = parse_content_type(req.headers.get("content-type", ""))
        try:
            if mtype == "multipart/form-data":
                if not cparams.get("boundary"):
                    raise ValueError("no boundary")
                for headers, name, filename, content in parse_multipart(req.body,
                                                                        cparams["boundary"]):
                    if name == "file":
                        req.file = content
                        req.file_name = filename
                        req.file_type = headers.get("content-type")
                        req.names.append(name)
                    else:
                        pairs.append((name, content.decode("utf-8")))
            elif mtype == "application/x-www-form-urlencoded":
                pairs += urllib.parse.parse_qsl(req.body.decode("utf-8"),
                                                keep_blank_values=True)
        except (ValueError, UnicodeDecodeError) as e:
            req.parse_error = str(e)
        for k, v in pairs:
            req.names.append(k)
            req.params[k] = v

    def _problem(self, req, text):
        req.problems.append(text)
        with self._lock:
            self.problems.append((req, text))

    def _check_contract(self, req, action):
        """DECISIONS E's promises about what droplin sends (strict mode)."""
        expected = UPLOAD_FIELDS if action == "upload" else DESTROY_FIELDS
        names = req.names
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            self._problem(req, f"parameters sent twice: {dup}")
        got = set(names)
        if got != expected:
            self._problem(req, f"parameters {sorted(got)}, expected {sorted(expected)}")
        p = req.params
        if action == "upload":
            for k, v in (("folder", FOLDER), ("format", "jpg"), ("transformation", TRANSFORMATION)):
                if p.get(k) != v:
                    self._problem(req, f"{k}={p.get(k)!r}, expected {v!r}")
            if not PUBLIC_ID_RE.match(p.get("public_id", "")):
                self._problem(req, f"public_id={p.get('public_id')!r}, expected "
                                   f"user_<id>_<16 hex>")
            if req.file is not None and req.file_name != "upload":
                self._problem(req, f"file part filename={req.file_name!r}, expected 'upload'")
        else:
            pid = p.get("public_id", "")
            if not pid.startswith(FOLDER + "/") or "/" in pid[len(FOLDER) + 1:]:
                self._problem(req, f"destroy public_id={pid!r} is not in {FOLDER}/")
        if not re.fullmatch(r"\d{9,11}", p.get("timestamp", "")):
            self._problem(req, f"timestamp={p.get('timestamp')!r} is not unix seconds")
        return not req.problems

    def _authenticate(self, req):
        """Cloudinary's checks of a signed call: None when they pass, else (status, body)."""
        p = req.params
        key = p.get("api_key")
        if not key:
            return "401 Unauthorized", _err("Must supply api_key")
        if key != self.api_key:
            return "401 Unauthorized", _err(f"Invalid api_key {key}")
        ts = p.get("timestamp")
        if not ts:
            return "400 Bad Request", _err("Missing required parameter - timestamp")
        try:
            t = int(ts)
        except ValueError:
            return "400 Bad Request", _err(f"Invalid timestamp {ts}")
        now = time.time()
        if now - t > STALE_SECONDS:
            when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))
            return "400 Bad Request", _err(f"Stale request - reported time is {when} which is "
                                           f"more than 1 hour ago")
        sig = p.get("signature")
        if not sig:
            return "400 Bad Request", _err("Missing required parameter - signature")
        expected = sign(p, self.api_secret, self.algorithm)
        if sig != expected:
            return "401 Unauthorized", _err(f"Invalid Signature {sig}. String to sign - "
                                            f"'{string_to_sign(p)}'.")
        return None

    def _answer(self, req):
        """(status line, JSON body, stall?) for a request."""
        m = re.fullmatch(r"/v1_1/([^/]+)/image/(upload|destroy)", req.path)
        if req.method != "POST" or not m:
            return "404 Not Found", _err("Resource not found"), False
        cloud, action = m.groups()
        req.action = action
        mode = self.mode if action == "upload" else self.destroy_mode
        if mode == "stall":
            return None, None, True
        if mode == "fail":
            return "500 Internal Server Error", _err("Internal Server Error"), False
        if mode == "reject":
            return "401 Unauthorized", _err(
                f"Invalid Signature {req.params.get('signature', '')}. String to sign - "
                f"'{string_to_sign(req.params)}'."), False
        if cloud != self.cloud:
            return "401 Unauthorized", _err(f"Invalid cloud_name {cloud}"), False
        if req.parse_error:
            return "400 Bad Request", _err(f"Invalid request body: {req.parse_error}"), False
        refused = self._authenticate(req)
        if refused:
            return refused + (False,)
        if self.strict and not self._check_contract(req, action):
            return "400 Bad Request", _err("stand-in: " + "; ".join(req.problems)), False
        if action == "destroy":
            return self._destroy(req) + (False,)
        if req.file is None:
            return "400 Bad Request", _err("Missing required parameter - file"), False
        if image_kind(req.file) is None:
            return "400 Bad Request", _err("Invalid image file"), False
        body = self._store(req)
        if mode == "store_then_stall":
            return None, None, True
        if mode == "no_url":
            body.pop("secure_url")
            body.pop("url")
        return "200 OK", body, False

    def _store(self, req):
        p = req.params
        public_id = f"{p['folder']}/{p['public_id']}" if p.get("folder") else p["public_id"]
        w, h = limited(*image_size(req.file))
        with self._lock:
            self._version = max(self._version + 1, int(time.time()))
            version = self._version
        up = Upload(req, public_id, version, w, h)
        up.secure_url = self.secure_url(public_id, version)
        up.url = "http" + up.secure_url[len("https"):]
        with self._lock:
            self.assets[public_id] = up
            self.uploads.append(up)
        return {
            "asset_id": hashlib.md5(public_id.encode()).hexdigest(),
            "public_id": public_id,
            "version": version,
            "version_id": uuid.uuid4().hex,
            "signature": hashlib.sha1(req.file).hexdigest(),
            "width": w,
            "height": h,
            "format": "jpg",
            "resource_type": "image",
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "tags": [],
            "bytes": len(req.file),
            "type": "upload",
            "etag": hashlib.md5(req.file).hexdigest(),
            "placeholder": False,
            "url": up.url,
            "secure_url": up.secure_url,
            "folder": p.get("folder", ""),
            "original_filename": req.file_name or "file",
            "api_key": self.api_key,
        }

    def _destroy(self, req):
        public_id = req.params.get("public_id", "")
        seen = None
        hook = self.on_destroy
        if hook is not None:
            seen = hook(public_id)
        with self._lock:
            found = self.assets.pop(public_id, None)
            result = "ok" if found else "not found"
            self.destroys.append(Destroy(req, public_id, result, seen))
        return "200 OK", {"result": result}


# --------------------------------------------------------------------------------------------
# pytest fixtures (import them by name in a test module)

try:
    import pytest
except ImportError:  # standalone use without pytest
    pytest = None

if pytest is not None:
    @pytest.fixture(scope="session")
    def cloudinary_ca(tmp_path_factory):
        """A throwaway CA and a certificate for HOST_NAME."""
        return make_ca(str(tmp_path_factory.mktemp("cloudinary-ca")))

    @pytest.fixture
    def cloudinary(cloudinary_ca):
        """The Cloudinary stand-in (mode "ok"); .env() is what droplin needs to use it."""
        stub = CloudinaryStub(cloudinary_ca)
        yield stub
        stub.stop()


def main():
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--mode", default="ok")
    ap.add_argument("--algorithm", default="sha1", choices=("sha1", "sha256"))
    ap.add_argument("--dir", default=None, help="where to write the CA (default: a temp dir)")
    ap.add_argument("--seconds", type=float, default=600)
    a = ap.parse_args()
    pki = make_ca(a.dir or tempfile.mkdtemp(prefix="droplin-cloudinary-ca-"))
    stub = CloudinaryStub(pki, mode=a.mode, port=a.port, algorithm=a.algorithm)
    print(json.dumps(stub.env()), flush=True)
    try:
        time.sleep(a.seconds)
    except KeyboardInterrupt:
        pass
    stub.stop()


if __name__ == "__main__":
    main()
