"""A tiny HTTPS server standing in for an outbound service (Cloudinary, SendGrid, ...).

Its certificate is for the host name `outbound.test`, signed by a throwaway CA that the openssl
CLI makes in a temp dir at test time, so droplin only trusts it through OUTBOUND_CA_FILE and finds
it only through OUTBOUND_RESOLVE=outbound.test:PORT:127.0.0.1.

Modes (settable while it runs):
  "ok"              GET /ok -> 200 {"ok":true}; other paths -> 404 {"ok":false}
  "fail"            every request -> 500 {"ok":false}
  "stall"           TLS handshake completes, the request is read, no response is ever sent
  "stall_handshake" TCP is accepted, the TLS handshake never starts on the server side

Standalone: /usr/bin/python3 tests/https_stub.py [--port N] [--mode M] prints the port and the
CA file, then serves until interrupted (at most --seconds, default 600).
"""

import json
import os
import socket
import ssl
import subprocess
import tempfile
import threading
import time

HOST_NAME = "outbound.test"


def _openssl(args, cwd):
    subprocess.run(["openssl"] + args, cwd=cwd, check=True, capture_output=True, timeout=60)


def make_test_ca(directory, host=HOST_NAME):
    """Create ca.pem (a self-signed test CA) and leaf.pem/leaf.key for `host` in directory.
    Returns dict with paths: ca, ca_key, cert, key."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "leaf.ext"), "w") as f:
        f.write(
            "basicConstraints = critical, CA:FALSE\n"
            "keyUsage = critical, digitalSignature, keyEncipherment\n"
            "extendedKeyUsage = serverAuth\n"
            f"subjectAltName = DNS:{host}\n"
        )
    _openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "3",
              "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=droplin test CA",
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign"], directory)
    _openssl(["req", "-newkey", "rsa:2048", "-nodes", "-sha256",
              "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", f"/CN={host}"], directory)
    _openssl(["x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
              "-CAcreateserial", "-sha256", "-days", "2", "-extfile", "leaf.ext",
              "-out", "leaf.pem"], directory)
    return {name: os.path.join(directory, f) for name, f in
            (("ca", "ca.pem"), ("ca_key", "ca.key"), ("cert", "leaf.pem"), ("key", "leaf.key"))}


def read_request(tls, max_body):
    """Reads one HTTP/1.1 request from a TLS socket: (method, target, headers with lower-case
    names, body), Content-Length or chunked, answering Expect: 100-continue; None when the
    peer closes early or the body passes max_body. Shared by the HTTPS stand-ins."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        if len(buf) > 65536:
            return None
        chunk = tls.recv(65536)
        if not chunk:
            return None
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    method, target = (lines[0].split(" ") + ["", ""])[:2]
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    if headers.get("expect", "").lower() == "100-continue":
        tls.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")

    def more(data):
        chunk = tls.recv(65536)
        if not chunk:
            raise EOFError
        return data + chunk

    try:
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body, data, total = [], rest, 0
            while True:
                while b"\r\n" not in data:
                    data = more(data)
                size_line, data = data.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                while len(data) < size + 2:
                    data = more(data)
                if size == 0:
                    break
                body.append(data[:size])
                total += size
                data = data[size + 2:]
                if total > max_body:
                    return None
            return method, target, headers, b"".join(body)
        length = int(headers.get("content-length", "0") or "0")
        if length > max_body:
            return None
        body = rest
        while len(body) < length:
            body = more(body)
        return method, target, headers, body[:length]
    except EOFError:
        return None


class HttpsStub:
    MAX_STALL_SECONDS = 60

    def __init__(self, pki, mode="ok", host="127.0.0.1", port=0):
        self.pki = pki
        self.mode = mode
        self.requests = []  # (method, path, headers dict) seen
        self.connections = 0
        self._stop = threading.Event()
        self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ctx.load_cert_chain(pki["cert"], pki["key"])
        self._lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._lsock.bind((host, port))
        self._lsock.listen(64)
        self._lsock.settimeout(0.2)
        self.port = self._lsock.getsockname()[1]
        self._threads = []
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._accept_thread.start()

    @property
    def url(self):
        return f"https://{HOST_NAME}:{self.port}"

    def resolve(self):
        """The OUTBOUND_RESOLVE / curl --resolve entry for this stub."""
        return f"{HOST_NAME}:{self.port}:127.0.0.1"

    def stop(self):
        self._stop.set()
        self._accept_thread.join(5)
        for t in self._threads:
            t.join(5)
        self._lsock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _stall(self):
        self._stop.wait(self.MAX_STALL_SECONDS)

    def _serve(self, conn):
        try:
            conn.settimeout(10)
            if self.mode == "stall_handshake":
                self._stall()
                return
            try:
                tls = self._ctx.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError):
                return  # e.g. the client rejected our certificate
            with tls:
                head = b""
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    chunk = tls.recv(4096)
                    if not chunk:
                        return
                    head += chunk
                lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
                method, path = (lines[0].split(" ") + ["", ""])[:2]
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                self.requests.append((method, path, headers))
                if self.mode == "stall":
                    self._stall()
                    return
                if self.mode == "fail":
                    status, body = "500 Internal Server Error", {"ok": False}
                elif path == "/ok":
                    status, body = "200 OK", {"ok": True}
                else:
                    status, body = "404 Not Found", {"ok": False}
                payload = json.dumps(body, separators=(",", ":")).encode()
                tls.sendall(f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
                            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
                            .encode() + payload)
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


def main():
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--mode", default="ok")
    ap.add_argument("--dir", default=None, help="where to write the CA (default: a temp dir)")
    ap.add_argument("--seconds", type=float, default=600)
    a = ap.parse_args()
    directory = a.dir or tempfile.mkdtemp(prefix="droplin-ca-")
    pki = make_test_ca(directory)
    stub = HttpsStub(pki, mode=a.mode, port=a.port)
    print(json.dumps({"port": stub.port, "ca": pki["ca"], "resolve": stub.resolve(),
                      "url": stub.url + "/ok"}), flush=True)
    try:
        time.sleep(a.seconds)
    except KeyboardInterrupt:
        pass
    stub.stop()


if __name__ == "__main__":
    main()
