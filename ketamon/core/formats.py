"""The one way times and durations are written, on screens and on paper.

A nurse read "1 h 04", "4:48" and "39:51" on one screen and could not tell a
clock time from a countdown. Here a clock time is always "14:05" (local wall
time) and a duration always says its units: "39 min", "1 h 04 min", and, where
seconds matter (the rest between nasal devices), "4 min 48 s" or "45 s".
Screens (`ketamon.gui.widgets`), the schedule and the printed documents all call
these functions.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from ketamon.core.clock import to_local

NONE = "—"


def clock_time(when: datetime | None) -> str:
    """Local wall time as HH:MM ('—' when there is none)."""
    local = to_local(when)
    return local.strftime("%H:%M") if local else NONE


def duration(delta: timedelta | None) -> str:
    """Whole minutes: '0 min', '39 min', '1 h 04 min' (never negative)."""
    if delta is None:
        return NONE
    minutes = max(int(delta.total_seconds()), 0) // 60
    if minutes >= 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    return f"{minutes} min"


def countdown(delta: timedelta) -> str:
    """A duration where the seconds count: '4 min 48 s', '45 s'; from an hour on
    as `duration`. Rounded to the second, never negative."""
    secs = max(int(round(delta.total_seconds())), 0)
    if secs >= 3600:
        return duration(timedelta(seconds=secs))
    minutes, secs = divmod(secs, 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"
