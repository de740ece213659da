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

Messages that arrive together (16 monitors at the same instant) are stored
several at a time (group commit, `BatchWriter`): each in an operation and a
savepoint of its own, all with one commit (`ops.base.one_commit`), so a burst
costs a few fsyncs, not sixteen, and never waits in SQLite's busy handler behind
itself; a message that comes alone is stored at once. Each acknowledgement is
sent only after that commit; if the commit fails, every message of the batch is
answered "not stored, send it again".
"""
from __future__ import annotations

import argparse
import logging
import sys
import threading

from ketamon.core import settings
from ketamon.core.feed import ack, pcd01
from ketamon.core.feed.mllp import Listener
from ketamon.core.ops.base import one_commit, safe_error_text
from ketamon.core.ops.device import FeedService
from ketamon.core.store import Store

log = logging.getLogger(__name__)

#: the first word of each line the parent reads
READY, PROBLEM = "listening", "problem"
#: at most this many messages share one commit: the first of a batch waits for
#: the last, so a bigger batch saves fsyncs but delays its first answers
BATCH = 4
#: the listener's threads: each connection's message waits in one for its answer
#: (a monitor sends its next message only after the answer to the last)
WAITING_THREADS = 64
#: what a message whose batch could not be committed is answered
NOT_STORED = "ketamon could not store the message now; send it again."


class BatchWriter:
    """`handle(raw, peer)` for the listener's threads (group commit). The thread
    that finds nobody storing stores what is waiting, its own message first in
    line (up to `batch` messages, in arrival order) in one transaction, answers
    them after the commit, and wakes the others: a message that comes alone is
    stored at once by its own thread, a burst waits at most one batch."""

    def __init__(self, store: Store, service: FeedService, *, batch: int = BATCH):
        self.store, self.service, self.batch = store, service, batch
        self._turn = threading.Condition()
        self._waiting: list[list] = []  # [raw, peer, reply or None], in arrival order
        self._storing = False

    def handle(self, raw: bytes, peer: str) -> bytes:
        mine = [raw, peer, None]
        with self._turn:
            self._waiting.append(mine)
            while mine[2] is None:
                if self._storing:
                    self._turn.wait()
                    continue
                self._storing = True
                batch, self._waiting = self._waiting[:self.batch], self._waiting[self.batch:]
                replies: list[bytes] = []
                self._turn.release()
                try:
                    replies = self.store_batch([(r, p) for r, p, _reply in batch])
                finally:
                    self._turn.acquire()
                    self._storing = False
                    for item, reply in zip(batch, replies or [not_stored(r, self.store) for r, _p, _x in batch]):
                        item[2] = reply
                    self._turn.notify_all()
        return mine[2]

    def stop(self) -> None:
        """Nothing runs between messages (kept for symmetry with the listener)."""

    def store_batch(self, messages: list[tuple[bytes, str]]) -> list[bytes]:
        """Each message's acknowledgement, all after one commit (or all "not stored")."""
        try:
            with one_commit(self.store):
                return [self.service.handle(raw, peer) for raw, peer in messages]
        except Exception as exc:  # the commit (or the database) failed: nothing of the batch is stored
            log.error("device messages not stored: %s", safe_error_text(exc))
            return [not_stored(raw, self.store) for raw, _peer in messages]


def not_stored(raw: bytes, store: Store) -> bytes:
    """The refusal a message gets when its batch could not be committed."""
    try:
        header = pcd01.parse(raw).header
    except pcd01.Refused as exc:
        header = exc.header
    now = store.clock.now()
    return ack.build(header, ack.REJECT, [(pcd01.INTERNAL_ERROR, NOT_STORED)], now, f"K{now:%Y%m%d%H%M%S%f}"[:20])


def serve(url: str, host: str | None, port: int | None, *, batch: int = BATCH) -> int:
    """Listen until standard input closes; the exit status."""
    store = Store(url, run_migrations=False)
    writer = None
    try:
        service = FeedService(store)
        writer = BatchWriter(store, service, batch=batch)
        host = host or settings.clinic_value(store, "feed_host")
        port = settings.clinic_value(store, "feed_port") if port is None else port
        listener = Listener(writer.handle, host, port, on_lost=service.lost, tick=service.tick,
                            workers=WAITING_THREADS)
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
        if writer is not None:
            writer.stop()
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
