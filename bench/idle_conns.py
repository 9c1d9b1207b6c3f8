"""Hold N idle keep-alive connections to a server, for droplin's per-connection memory.

    idle_conns.py PORT N

Each connection sends one `GET /livez` and reads its response, so it is a real keep-alive
connection that finished a request. Then prints `READY opened=N failed=F` and holds them until
stdin closes (or 120 s pass), then closes them and exits. Loopback only; every wait is bounded.
"""

import resource
import socket
import sys
import select

BATCH = 200
IO_TIMEOUT_S = 5.0
HOLD_MAX_S = 120


def read_response(s):
    """Read one response with a Content-Length body; False on anything else."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            return False
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = s.recv(4096)
        if not chunk:
            return False
        body += chunk
    return head.startswith(b"HTTP/1.1 200")


def main():
    port, n = int(sys.argv[1]), int(sys.argv[2])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    request = f"GET /livez HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    socks, failed = [], 0
    for start in range(0, n, BATCH):
        batch = []
        for _ in range(min(BATCH, n - start)):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(IO_TIMEOUT_S)
            try:
                s.connect(("127.0.0.1", port))
                s.sendall(request)
                batch.append(s)
            except OSError:
                failed += 1
                s.close()
        for s in batch:
            try:
                ok = read_response(s)
            except OSError:
                ok = False
            if ok:
                socks.append(s)
            else:
                failed += 1
                s.close()
    print(f"READY opened={len(socks)} failed={failed}", flush=True)
    select.select([sys.stdin], [], [], HOLD_MAX_S)
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
