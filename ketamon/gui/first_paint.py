"""Doing something once a widget has been painted for the first time.

`after_first_paint(window, f)` runs `f` on the event-loop turn after Qt first paints
`window` (any widget in it: Qt paints a window's widgets in one pass and puts the
result on the screen before the next turn). The app starts this way: the window
with its sessions list is drawn at once, the open session's chart is built next
(ketamon.gui.app). Functions given for the same widget run in the order given.

A window that is shown but never painted (started minimised, on another desktop)
must still work: what must run anyway is given `at_latest_ms`, and runs that long
after the widget is shown if no paint came first (the alarm monitor is started so).
"""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QWidget


class FirstPaint(QObject):
    """An event filter until `widget`'s first paint event, then nothing: on the
    widget alone when it holds no other widget (a plot's viewport: opening a chart
    sends some 1,200 events through the application, each of which would pass this
    Python filter), else application-wide (a window is painted widget by widget).
    A child of `widget`: if the widget goes before it is painted, so do the functions."""

    def __init__(self, widget: QWidget):
        super().__init__(widget)
        self.widget = widget
        #: (function, at the latest this many ms after the widget shows, or None: only after a paint)
        self.waiting: list[tuple[Callable[[], object], int | None]] = []
        self.painted = False
        self.done = False
        self.deadline = QTimer(self)
        self.deadline.setSingleShot(True)
        self.deadline.timeout.connect(self._late)
        #: what the filter is installed on
        self.watched: QObject = widget if widget.findChild(QWidget) is None else QApplication.instance()
        self.watched.installEventFilter(self)

    def add(self, function: Callable[[], object], first: bool, at_latest_ms: int | None) -> None:
        self.waiting.insert(0 if first else len(self.waiting), (function, at_latest_ms))
        if at_latest_ms is not None and self.widget.isVisible():
            self._start_deadline(at_latest_ms)

    def _start_deadline(self, ms: int) -> None:
        if not self.deadline.isActive() or self.deadline.remainingTime() > ms:
            self.deadline.start(ms)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt name)
        kind = event.type()
        if kind == QEvent.Type.Show and obj is self.widget:
            limits = [ms for _f, ms in self.waiting if ms is not None]
            if limits:
                self._start_deadline(min(limits))
        elif kind == QEvent.Type.Paint and not self.painted and isinstance(obj, QWidget) and (
                obj is self.widget or self.widget.isAncestorOf(obj)):
            self.painted = True
            self.deadline.stop()
            self.watched.removeEventFilter(self)
            QTimer.singleShot(0, self, self._run)  # once this paint is done and shown
        return False

    def _run(self) -> None:
        self.done = True
        self.deleteLater()
        waiting, self.waiting = self.waiting, []
        for function, _ms in waiting:
            function()

    def _late(self) -> None:
        """Shown, not painted in time: what may not wait runs now; the rest keeps waiting."""
        if self.painted:
            return
        late = [function for function, ms in self.waiting if ms is not None]
        self.waiting = [(function, ms) for function, ms in self.waiting if ms is None]
        if not self.waiting:
            self.done = True
            self.watched.removeEventFilter(self)
            self.deleteLater()
        for function in late:
            function()


def after_first_paint(widget: QWidget, function: Callable[[], object], *, first: bool = False,
                      at_latest_ms: int | None = None) -> None:
    """Run `function` on the event-loop turn after `widget` is first painted: after
    any function given before it for the same widget, or before them all (`first`);
    with `at_latest_ms`, that long after the widget is shown if it was not painted by then."""
    watch = next((child for child in widget.children()
                  if isinstance(child, FirstPaint) and not child.done), None)
    if watch is None:
        watch = FirstPaint(widget)
    watch.add(function, first, at_latest_ms)
