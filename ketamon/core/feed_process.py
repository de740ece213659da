"""The app's bedside monitor listener as a process of its own.

    python -m ketamon.core.feed_process [--host 127.0.0.1] [--port 2575]   (the database URL: stdin's first line)

Started by the window (ketamon.gui.feed_listener) when the clinic turns the
listener on, so that receiving and storing 16 chairs at 1 Hz never competes with
the window for the Python interpreter lock: the window only hears the stored
sets through the live notices every operation publishes (ketamon.core.live).
It stores as the system, like the in-app listener always did, and speaks to its
parent on standard output, one line each:
  `listening PORT`   the port is open (PORT: the one given, or the free one chosen for 0);
  `problem SENTENCE` it could not listen (then it exits with status 2).
The database URL is the first line of its standard input (never an argument: a
password would show in the process list); it stops when its standard input
closes: the window closed, or died.

Messages that arrive together are stored with one commit per batch, each
answered only after it, as `ketamon feed listen` stores them (`ops.device.feed_listener`).
"""
from __future__ import annotations

import argparse
import sys
import threading

from ketamon.core import settings
from ketamon.core.feed.mllp import Listener
from ketamon.core.ops.device import BATCH, FeedService, feed_listener
from ketamon.core.store import Store

#: the first word of each line the parent reads
READY, PROBLEM = "listening", "problem"


def serve(url: str, host: str | None, port: int | None, *, batch: int = BATCH) -> int:
    """Listen until standard input closes; the exit status."""
    store = Store(url, run_migrations=False)
    try:
        host = host or settings.clinic_value(store, "feed_host")
        port = settings.clinic_value(store, "feed_port") if port is None else port
        listener = feed_listener(FeedService(store), host, port, batch=batch)
        try:
            listener.start()
        except OSError as exc:
            print(f"{PROBLEM} Monitor listener not started: {host}:{port} {exc.strerror or exc}", flush=True)
            return 2
        print(f"{READY} {listener.port}", flush=True)
        watch = threading.Thread(target=_until_stdin_closes, args=(listener,), name="ketamon-feed-parent",
                                 daemon=True)
        watch.start()
        listener.wait()
        return 0
    finally:
        store.dispose()


def _until_stdin_closes(listener: Listener) -> None:
    """The parent holds our standard input open while it wants us: EOF stops the listener."""
    while sys.stdin.buffer.read(4096):
        pass
    listener.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ketamon.core.feed_process", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=None)
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    url = sys.stdin.readline().strip()
    if not url:
        print(f"{PROBLEM} Monitor listener not started: no database named", flush=True)
        return 2
    return serve(url, args.host, args.port)


if __name__ == "__main__":
    raise SystemExit(main())
