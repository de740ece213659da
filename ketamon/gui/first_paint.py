"""Doing something once a widget has been painted for the first time.

`after_first_paint(window, f)` runs `f` on the event-loop turn after Qt first paints
`window` (any widget in it: Qt paints a window's widgets in one pass and puts the
result on the screen before the next turn). The app starts this way: the window
with its sessions list is drawn at once, the open session's chart is built next
(ketamon.gui.app). Functions given for the same widget run in the order given.
"""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QWidget


class FirstPaint(QObject):
    """An application-wide event filter until `widget`'s first paint event, then
    nothing. A child of `widget`: if the widget goes before it is painted, so do
    the functions."""

    def __init__(self, widget: QWidget):
        super().__init__(widget)
        self.widget = widget
        self.waiting: list[Callable[[], object]] = []
        self.painted = False
        self.done = False
        QApplication.instance().installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.Paint and not self.painted and isinstance(obj, QWidget) and (
                obj is self.widget or self.widget.isAncestorOf(obj)):
            self.painted = True
            QApplication.instance().removeEventFilter(self)
            QTimer.singleShot(0, self, self._run)  # once this paint is done and shown
        return False

    def _run(self) -> None:
        self.done = True
        self.deleteLater()
        for function in self.waiting:
            function()


def after_first_paint(widget: QWidget, function: Callable[[], object], *, first: bool = False) -> None:
    """Run `function` on the event-loop turn after `widget` is first painted: after
    any function given before it for the same widget, or before them all (`first`)."""
    watch = next((child for child in widget.children()
                  if isinstance(child, FirstPaint) and not child.done), None)
    if watch is None:
        watch = FirstPaint(widget)
    if first:
        watch.waiting.insert(0, function)
    else:
        watch.waiting.append(function)
