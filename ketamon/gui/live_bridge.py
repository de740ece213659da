"""The other workstations, live: the core's listener (ketamon.core.live) runs in a
thread of its own; this QObject carries what it hears to the GUI thread (queued
signals) and into the OpRunner, which broadcasts a notice from another workstation
exactly as a local change. It also shows the connection's state: a technical
banner in the status bar while the database cannot be reached, and it tries the
database again (off the GUI thread, waiting longer after each failure) until it
answers, when the banner goes."""
from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QStatusBar

from ketamon.core.live import BACKOFF, UNREACHABLE, Listener, ping
from ketamon.gui.background import Background
from ketamon.gui.runner import OpRunner
from ketamon.gui.theme import set_role


#: how long other workstations' notices are gathered before the screens hear of them
GATHER_MS = 250


class LiveBridge(QObject):
    #: a notice heard by the listener thread (delivered queued, in the GUI thread)
    notice = Signal(object)
    #: the listener's connection: (reachable, sentence)
    status = Signal(bool, str)

    def __init__(self, runner: OpRunner, status_bar: QStatusBar | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.runner = runner
        #: shown only while the database is unreachable
        self.banner = QLabel("")
        self.banner.setObjectName("connectionBanner")
        self.banner.hide()
        if status_bar is not None:
            status_bar.insertWidget(0, self.banner)  # first: before the last save's "✓"
        self.notice.connect(self._gather, Qt.ConnectionType.QueuedConnection)
        #: notices heard within GATHER_MS reach the screens as one (a listener
        #: process storing 16 monitors a second must not become 16 refreshes)
        self._pending = None
        self._gathering = QTimer(self)
        self._gathering.setSingleShot(True)
        self._gathering.setInterval(GATHER_MS)
        self._gathering.timeout.connect(self._deliver)
        self.status.connect(runner.set_reachable, Qt.ConnectionType.QueuedConnection)
        runner.connection.connect(self._show)
        self.listener = Listener(runner.store, self._heard, self._status)
        #: while unreachable: the next try of the database, and how long it waits
        self.retry = QTimer(self)
        self.retry.setSingleShot(True)
        self.retry.timeout.connect(self._try_again)
        self._wait = BACKOFF[0]
        self.background = Background(self)
        # the listener must stop before this object goes (its thread emits on it)
        self.destroyed.connect(self.listener.stop)

    def start(self) -> "LiveBridge":
        self.listener.start()
        return self

    def stop(self) -> None:
        self.listener.stop()
        self.retry.stop()
        self.background.stop()

    def _heard(self, changes) -> None:
        """In the listener's thread: hand over to the GUI thread."""
        self.notice.emit(changes)

    def _gather(self, changes) -> None:
        if changes.origin == self.runner.store.origin:
            return  # this workstation's own: already broadcast by the runner
        self._pending = changes if self._pending is None else self._pending.merge(changes)
        if not self._gathering.isActive():
            self._gathering.start()

    def _deliver(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            self.runner.receive(pending)

    def _status(self, reachable: bool, sentence: str) -> None:
        self.status.emit(reachable, "" if reachable else UNREACHABLE)

    def _show(self, reachable: bool, sentence: str) -> None:
        set_role(self.banner, "ok" if reachable else "technical")
        self.banner.setText(sentence)
        self.banner.setVisible(not reachable)
        if reachable:
            self.retry.stop()
            self._wait = BACKOFF[0]
        elif not self.retry.isActive():
            self.retry.start(int(self._wait * 1000))

    def _try_again(self) -> None:
        store = self.runner.store
        self.background.run("ping", lambda: ping(store), lambda _: self.runner.set_reachable(True),
                            self._still_unreachable)

    def _still_unreachable(self, _exc: BaseException) -> None:
        self._wait = min(self._wait * 2, BACKOFF[1])
        if not self.runner.reachable:
            self.retry.start(int(self._wait * 1000))
