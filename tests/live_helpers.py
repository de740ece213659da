"""Another workstation for the live tests: a process of its own that runs one
operation on the clinic database when told to (a line on its standard input),
then prints its origin and the moment its commit returned."""
from __future__ import annotations

import json
import subprocess
import sys

WRITER = """
import json, sys, time
from datetime import datetime, timezone
from ketamon.core import ops
from ketamon.core.clock import FakeClock
from ketamon.core.permissions import Actor
from ketamon.core.store import Store
url, user_id, name, args, kwargs = sys.argv[1], int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4]), json.loads(sys.argv[5])
store = Store(url, clock=FakeClock(datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)), run_migrations=False)
print("ready", flush=True)
sys.stdin.readline()
getattr(ops, name)(store, Actor(user_id, "nurse", "Sam Carter RN", "nurse"), *args, **kwargs)
print(store.origin, time.time(), flush=True)
store.dispose()
"""


class Writer:
    """`Writer(url, user_id, "add_note", session_id, "text")`; `.go()` runs it and
    returns (origin, time the commit returned); `.finish()` waits for the process to end."""

    def __init__(self, url: str, user_id: int, name: str, *args, **kwargs):
        self.proc = subprocess.Popen([sys.executable, "-c", WRITER, url, str(user_id), name, json.dumps(args),
                                      json.dumps(kwargs)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def go(self) -> tuple[str, float]:
        """Run the operation; returns once it committed (the process then exits by itself)."""
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        origin, committed = self.proc.stdout.readline().split()
        return origin, float(committed)

    def finish(self) -> None:
        assert self.proc.wait(timeout=30) == 0


class Relay:
    """A TCP relay in front of the PostgreSQL server that the test can cut (the
    clinic's server or network goes away: every connection through it dies and new
    ones are dropped) and restore."""

    def __init__(self, host: str = "127.0.0.1", port: int = 5432):
        import socket
        import threading

        self.target = (host, port)
        self.up = True
        self._pairs: list = []
        self._lock = threading.Lock()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, database_url: str) -> str:
        from sqlalchemy.engine import make_url

        return make_url(database_url).set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._pairs.append((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        Relay._close(src, dst)

    @staticmethod
    def _close(*sockets) -> None:
        for s in sockets:
            try:
                s.close()
            except OSError:
                pass

    def cut(self) -> None:
        import socket

        self.up = False
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for s in pair:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.server.close()
