"""The app's own bedside monitor listener, when the clinic turns it on
(Settings: "Listen for bedside monitors", read at start).

The listener (ketamon.core.feed.mllp) runs on a thread of its own and stores
each message on its worker pool as the system; this object only carries what
was stored to the screens, on the GUI thread, a few times a second at most: 16
chairs at 1 Hz must not become 16 refreshes a second.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from ketamon.core import settings
from ketamon.core.changes import OpChanges
from ketamon.core.feed.mllp import Listener
from ketamon.core.ops.device import FeedService
from ketamon.gui.runner import OpRunner

#: how long stored messages are gathered before the screens hear of them
COALESCE_MS = 250


class FeedListener(QObject):
    #: from the listener's worker threads; delivered queued on the GUI thread
    _stored = Signal(object)

    def __init__(self, runner: OpRunner, parent: QObject | None = None):
        super().__init__(parent)
        self.runner = runner
        self.listener: Listener | None = None
        self.problem = ""
        self._pending: OpChanges | None = None
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(COALESCE_MS)
        self._flush_timer.timeout.connect(self._flush)
        self._stored.connect(self._gather)

    def start(self, *, port: int | None = None) -> bool:
        """Listen when the clinic says so; False (and `problem` says why) when the
        port cannot be opened. `port` overrides the setting (tests: 0, any free port)."""
        store = self.runner.store
        if port is None and not settings.clinic_value(store, "feed_listen"):
            return False
        service = FeedService(store, on_stored=self._stored.emit)
        host = settings.clinic_value(store, "feed_host")
        port = settings.clinic_value(store, "feed_port") if port is None else port
        listener = Listener(service.handle, host, port, on_lost=service.lost, tick=service.tick, workers=2)
        try:
            self.listener = listener.start()
        except OSError as exc:
            self.problem = f"Monitor listener not started: {host}:{port} {exc.strerror or exc}"
            return False
        return True

    def stop(self) -> None:
        if self.listener is not None:
            self.listener.stop()
            self.listener = None

    def _gather(self, changes: OpChanges) -> None:
        self._pending = changes if self._pending is None else self._pending.merge(changes)
        if not self._flush_timer.isActive():
            self._flush_timer.start()

    def _flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.message = ""  # device data is not a message for the status bar
            self.runner.changed.emit(pending)
