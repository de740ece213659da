"""Periodic reads off the GUI thread.

The alert timer's tick and the sessions list's "next vitals due" run queries whose
cost grows with the clinic's data; on the GUI thread they stall typing. `Background`
runs a core callable on a worker thread of its own pool and hands the result back
on the GUI thread through a queued signal.

What must hold:
- The callable gets no widget and touches none: it reads (or runs an operation)
  through the Store, which opens its own database session per call.
- One job per key at a time. Asking again while a job of that key runs does not
  start a second one: the job runs once more when the first ends (a 2-second timer
  never piles ticks up behind a slow database).
- `stop()` (the window closing) waits for running jobs and drops their results: no
  callback runs for a window that is gone.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from ketamon.core.live import is_unreachable

log = logging.getLogger(__name__)


class _Job(QRunnable):
    def __init__(self, key: str, fn: Callable[[], Any], finished: "Signal") -> None:
        super().__init__()
        self.setAutoDelete(False)  # Background keeps it until its result is delivered
        self.key, self.fn, self.finished = key, fn, finished

    def run(self) -> None:  # on a worker thread
        try:
            result, error = self.fn(), None
        except BaseException as exc:  # delivered to the GUI thread, logged there
            result, error = None, exc
        self.finished.emit(self.key, result, error)


class Background(QObject):
    """Runs `fn()` off the GUI thread; `done(result)` (or `failed(exc)`) runs on the GUI thread."""

    #: (key, result, error), emitted on the worker thread, received (queued) on the GUI thread
    _finished = Signal(str, object, object)

    def __init__(self, parent: QObject | None = None, *, threads: int = 1) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(threads)
        self._running: dict[str, tuple[_Job, Callable[[Any], None], Callable[[BaseException], None] | None]] = {}
        self._again: dict[str, tuple[Callable[[], Any], Callable[[Any], None],
                                     Callable[[BaseException], None] | None]] = {}
        self._stopped = False
        #: the thread of the last job run (tests check it is not the GUI thread)
        self.last_thread: int | None = None
        self._finished.connect(self._deliver)

    def run(self, key: str, fn: Callable[[], Any], done: Callable[[Any], None],
            failed: Callable[[BaseException], None] | None = None) -> bool:
        """Start `fn` unless a job of `key` is running (then it runs once more after
        it, with the newest fn/done). True when started now."""
        if self._stopped:
            return False
        if key in self._running:
            self._again[key] = (fn, done, failed)
            return False

        def traced() -> Any:
            self.last_thread = threading.get_ident()
            return fn()

        job = _Job(key, traced, self._finished)
        self._running[key] = (job, done, failed)
        self.pool.start(job)
        return True

    def busy(self, key: str | None = None) -> bool:
        return bool(self._running) if key is None else key in self._running

    def stop(self) -> None:
        """Wait for running jobs and drop what they return; nothing runs after this."""
        self._stopped = True
        self._again.clear()
        self.pool.clear()
        self.pool.waitForDone()
        self._running.clear()

    def _deliver(self, key: str, result: Any, error: BaseException | None) -> None:
        if self._stopped:
            return
        _job, done, failed = self._running.pop(key, (None, None, None))
        try:
            if error is not None:
                if failed is not None:
                    failed(error)
                elif is_unreachable(error):  # the banner says so; the next notice or tick reads again
                    log.warning("background job %s: database unreachable", key)
                else:
                    log.error("background job %s failed", key, exc_info=error)
            elif done is not None:
                done(result)
        finally:
            again = self._again.pop(key, None)
            if again is not None:
                self.run(key, *again)
