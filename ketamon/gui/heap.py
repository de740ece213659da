"""The window's long-lived objects kept out of the garbage collector's way.

Python's oldest-generation collection walks every object the process keeps: with
the window built and a chart of 600 sets open that is ~190 000 objects and
130–160 ms on the GUI thread (far more with a 12-hour chart), at a moment nobody
chooses: the 16-chair benchmark saw it as an unexplained stall in mid-run.
What the window builds to keep (widgets, the ORM mapping, a chart's sets) is
moved to the permanent generation (`gc.freeze`) once built, and again every few
minutes, after a young collection; the collector then walks only what is new.
When the window closes a chart (it keeps a few: ketamon.gui.main_window), the
chart's frozen cycles are collected in full once, a moment later (`collect_all_soon`).

A frozen object is still freed by reference counting when its last reference
goes; only a reference cycle among frozen objects stays until the process ends.
So freezing follows a young collection (gen 0 and 1 garbage is gone first) and
happens after building what is meant to stay, or rarely (SETTLE_EVERY_S): what
may leak is the cyclic garbage that lived long enough to reach generation 2.
"""
from __future__ import annotations

import gc
import time

from PySide6.QtCore import QTimer

#: how often the objects that became old since are frozen too (while a chart ticks)
SETTLE_EVERY_S = 300.0

#: how long after the last chart closed everything is collected (collect_all_soon):
#: past the turns that draw the chart opened in its place and build the next one
COLLECT_AFTER_MS = 2000

_last = [0.0]
_pending = [False]
_collect_timer: list[QTimer | None] = [None]


def settle() -> None:
    """Collect the young generations, then freeze everything alive."""
    _pending[0] = False
    gc.collect(1)
    gc.freeze()
    _last[0] = time.monotonic()


def settle_soon() -> None:
    """Settle on the event loop's next turn: after whatever is being built now
    (the window and its first chart at start-up, a chart opened) is complete."""
    if not _pending[0]:
        _pending[0] = True
        QTimer.singleShot(0, settle)


def settle_if_due() -> None:
    """Called each second by the shown chart: settle every SETTLE_EVERY_S."""
    if time.monotonic() - _last[0] >= SETTLE_EVERY_S:
        settle()


def collect_all() -> None:
    """Collect every generation, the frozen objects too, then freeze what is alive.
    A closed chart's widgets were frozen while it was open: the reference cycles
    among them (pyqtgraph's items, the chart's sets) are freed only so. It walks
    everything the process keeps (~0.1–0.3 s): only after a chart is closed."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    _last[0] = time.monotonic()


def collect_all_soon() -> None:
    """collect_all once COLLECT_AFTER_MS pass without another chart closed: going
    through several charts, one after the other, meets one pause, after the last."""
    if _collect_timer[0] is None:
        _collect_timer[0] = QTimer(singleShot=True, timeout=collect_all)
    _collect_timer[0].start(COLLECT_AFTER_MS)
