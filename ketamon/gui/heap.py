"""The window's long-lived objects kept out of the garbage collector's way.

Python's oldest-generation collection walks every object the process keeps: with
the window built and a chart of 600 sets open that is ~190 000 objects and
130–160 ms on the GUI thread (far more with a 12-hour chart), at a moment nobody
chooses: the 16-chair benchmark saw it as an unexplained stall in mid-run.
What the window builds to keep (widgets, the ORM mapping, a chart's sets) is
moved to the permanent generation (`gc.freeze`) once built, and again every few
minutes, after a young collection; the collector then walks only what is new.

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

_last = [0.0]
_pending = [False]


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
