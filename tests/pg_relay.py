"""A TCP relay between droplin and PostgreSQL on loopback that can misbehave on demand:

- slow: it reads what droplin sends a little at a time through a tiny receive buffer, so
  droplin's writes to the database fill up (a pipeline bigger than the socket buffer);
- blackhole: every connection stops forwarding, and new ones are accepted and never answered,
  as a database host whose packets are dropped (a cancel request connects and waits forever);
- dark_after(marker): forwards droplin's next message that holds `marker`, then blackholes,
  so the statement it carries waits for an answer that never comes;
- heal: new connections are forwarded again (the old ones stay dead).

Threads and sockets end with stop(); every loop is bounded by the sockets closing.
"""

import socket
import threading
import time


class PgRelay:
    def __init__(self, pg_port, slow=False):
        self.pg_port = pg_port
        self.slow = slow
        self.dead = threading.Event()  # blackhole: forward nothing
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.socks = []
        self.clients = []  # droplin's side of each connection
        self.marker = None  # dark_after
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if slow:  # inherited by accepted sockets: droplin's sends fill the window at once
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def url(self, db):
        return f"postgresql://droplin:droplin@127.0.0.1:{self.port}/{db}"

    def _keep(self, s):
        with self.lock:
            self.socks.append(s)

    def _accept(self):
        while not self.stopping.is_set():
            try:
                client, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self._keep(client)
            with self.lock:
                self.clients.append(client)
            if self.dead.is_set():
                continue  # accepted, never answered, never closed (until stop)
            try:
                upstream = socket.create_connection(("127.0.0.1", self.pg_port), timeout=5)
            except OSError:
                client.close()
                continue
            self._keep(upstream)
            conn_dead = threading.Event()
            for src, dst, slow in ((client, upstream, self.slow), (upstream, client, False)):
                threading.Thread(target=self._pump, args=(src, dst, slow, conn_dead),
                                 daemon=True).start()

    def _pump(self, src, dst, slow, conn_dead):
        try:
            src.settimeout(0.2)
        except OSError:  # stop() closed it first
            return
        while not self.stopping.is_set():
            if self.dead.is_set():
                conn_dead.set()
            if conn_dead.is_set():  # this connection forwards nothing any more
                time.sleep(0.05)
                continue
            try:
                data = src.recv(512 if slow else 65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not data:
                break
            with self.lock:  # dark before the marked message goes: its answer is never passed
                marked = bool(self.marker and src in self.clients and self.marker in data)
                if marked:
                    self.marker = None
                    self.dead.set()
            if self.dead.is_set() and not marked:  # it went dark while this was on its way
                conn_dead.set()
                continue
            try:
                dst.sendall(data)
            except OSError:
                break
            if slow:  # a reader that falls behind: the window closes for a while
                slow_bytes = getattr(self, "_slow_bytes", 0) + len(data)
                self._slow_bytes = slow_bytes
                if slow_bytes // 16384 != (slow_bytes - len(data)) // 16384:
                    time.sleep(0.05)
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def dark_after(self, marker):
        self.marker = marker

    def blackhole(self):
        self.dead.set()

    def heal(self):
        """New connections are forwarded again; the ones the blackhole took stay dead."""
        self.dead.clear()

    def stop(self):
        self.stopping.set()
        self.dead.set()
        try:
            self.listener.close()
        except OSError:
            pass
        with self.lock:
            for s in self.socks:
                try:
                    s.close()
                except OSError:
                    pass
        self.thread.join(5)
