"""Time sources. All stored times are timezone-aware UTC.

Operations and rules take their "now" from a Clock so that tests can drive time
(overdue vitals, rest countdowns) without sleeping.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime | None = None):
        self._now = start or datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)

    def now(self) -> datetime:
        return self._now

    def advance(self, **kwargs: float) -> datetime:
        self._now += timedelta(**kwargs)
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when


def as_utc(when: datetime) -> datetime:
    """A naive datetime is taken as local wall time (what a nurse types)."""
    if when.tzinfo is None:
        when = when.astimezone()  # interpret as local time
    return when.astimezone(timezone.utc)


def to_local(when: datetime | None) -> datetime | None:
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone()
