"""The app's own bedside monitor listener, when the clinic turns it on
(Settings: "Listen for bedside monitors"). Turning the setting on or off, or
changing the listener's address or port, starts, stops or restarts the child at
once (the settings change notice), without restarting the app.

Receiving and storing run in a child process (`python -m ketamon.core.feed_process`),
never in the window's: 16 chairs at 1 Hz cost the interpreter lock ~1 s of
Python a second, which in-process stalled the window for hundreds of
milliseconds. The window hears the stored sets as it hears another workstation:
through the live notices (ketamon.core.live, gui.live_bridge), gathered there.
This object starts the child, stops it with the window (its standard input
closes, so it also stops if the window dies), starts it again when it dies, and
raises a technical alert when it cannot start or stopped unexpectedly.
"""
from __future__ import annotations

import logging
import sys

from PySide6.QtCore import QObject, QProcess, QTimer, Signal

from ketamon.core import settings
from ketamon.core.changes import OpChanges as Changes
from ketamon.core.feed_process import PROBLEM, READY
from ketamon.core.ops.device import LISTENER, listener_back, report_feed_problem
from ketamon.gui.runner import OpRunner

log = logging.getLogger(__name__)

#: restart waits: first, longest (doubling after each failure in a row)
RESTART_MS = (1000, 30_000)


class FeedListener(QObject):
    #: the child listens (its port): tests and the benchmark wait for it
    ready = Signal(int)

    def __init__(self, runner: OpRunner, parent: QObject | None = None, *, port: int | None = None):
        """`port`: listen there instead of the clinic's setting (tests: 0, any free
        port); whether to listen still follows the setting."""
        super().__init__(parent)
        self.runner = runner
        self.port_override = port
        #: started with an explicit port (start(port=…)): the setting does not stop it
        self._forced = False
        self.problem = ""
        #: the port the child listens on, once it says so
        self.port: int | None = None
        self.process: QProcess | None = None
        self._args: list[str] = []
        self._stopping = False
        self._wait = RESTART_MS[0]
        self._restart = QTimer(self)
        self._restart.setSingleShot(True)
        self._restart.timeout.connect(self._launch)
        runner.changed.connect(self._on_changed)

    def start(self, *, port: int | None = None) -> bool:
        """Start the listener process when the clinic says so; False (and `problem`
        says why) when it cannot be started. `port` overrides the setting (tests: 0,
        any free port); `wait_ready` waits until it listens."""
        self._forced = port is not None
        args = self._wanted() if port is None else self._command(settings.clinic_value(self.runner.store,
                                                                                        "feed_host"), port)
        if args is None:
            return False
        self._args = args
        self._stopping = False
        return self._launch()

    def _command(self, host: str, port: int) -> list[str]:
        return ["-m", "ketamon.core.feed_process", "--host", host, "--port", str(port)]

    def _wanted(self) -> list[str] | None:
        """The child's arguments as the clinic's settings say, None when it should not listen."""
        store = self.runner.store
        if not settings.clinic_value(store, "feed_listen"):
            return None
        port = settings.clinic_value(store, "feed_port") if self.port_override is None else self.port_override
        return self._command(settings.clinic_value(store, "feed_host"), port)

    @property
    def running(self) -> bool:
        """A child is up, or about to be started again after dying."""
        return self.process is not None or self._restart.isActive()

    def _on_changed(self, changes: Changes) -> None:
        if getattr(changes, "settings", False):
            self.follow_settings()

    def follow_settings(self) -> None:
        """The clinic turned "Listen for bedside monitors" on or off, or moved the
        listener: start, stop or restart the child to match (a child started with
        an explicit port is left alone)."""
        if self._forced:
            return
        try:
            wanted = self._wanted()
        except Exception as exc:  # the database away: the next settings notice tries again
            log.warning("monitor listener setting not read: %s", type(exc).__name__)
            return
        if wanted is None:
            if self.running:
                self.stop()
                self.problem = ""
                self._resolved()  # turned off: nothing is wrong with a listener nobody wants
            return
        if self.running and wanted == self._args:
            return
        if self.running:
            self.stop()
        self._args, self._stopping, self._wait = wanted, False, RESTART_MS[0]
        self._launch()

    def wait_ready(self, timeout_ms: int = 20_000) -> bool:
        """Block until the child listens (tests, the benchmark); True when it does."""
        while self.port is None and self.process is not None and self.process.waitForReadyRead(timeout_ms):
            pass
        return self.port is not None

    def stop(self) -> None:
        """Close the child's standard input (it stops), then wait for it briefly."""
        self._stopping = True
        self._restart.stop()
        process, self.process = self.process, None
        if process is None:
            return
        process.closeWriteChannel()
        if not process.waitForFinished(5000):
            process.kill()
            process.waitForFinished(1000)
        self.port = None

    def _launch(self) -> bool:
        process = QProcess(self)
        process.setProcessChannelMode(QProcess.ProcessChannelMode.ForwardedErrorChannel)
        process.readyReadStandardOutput.connect(lambda: self._read(process))
        process.finished.connect(lambda code, _status: self._ended(process, code))
        process.start(sys.executable, self._args)
        if not process.waitForStarted(10_000):
            self._alert(f"Monitor listener not started: {process.errorString()}")
            return False
        process.write((self.runner.store.url + "\n").encode())
        self.process = process
        return True

    def _read(self, process: QProcess) -> None:
        while process.canReadLine():
            word, _, rest = bytes(process.readLine()).decode(errors="replace").strip().partition(" ")
            if word == READY:
                self.port, self.problem, self._wait = int(rest), "", RESTART_MS[0]
                self._resolved()
                self.ready.emit(self.port)
            elif word == PROBLEM:
                self._alert(rest)

    def _ended(self, process: QProcess, code: int) -> None:
        """The child ended: expected when stopping; otherwise alert and start it again."""
        if self._stopping or process is not self.process:
            return
        self.process, self.port = None, None
        if not self.problem:
            self._alert(f"The monitor listener stopped unexpectedly (status {code}); starting it again.")
        self._restart.start(self._wait)
        self._wait = min(self._wait * 2, RESTART_MS[1])

    def _alert(self, sentence: str) -> None:
        self.problem = sentence
        changes = report_feed_problem(self.runner.store, LISTENER, sentence)
        if changes:
            self.runner.changed.emit(changes)

    def _resolved(self) -> None:
        changes = listener_back(self.runner.store)
        if changes:
            self.runner.changed.emit(changes)
