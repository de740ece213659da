"""Small pieces the screens share: the message line next to a control, time
formatting in local time, and parsing what a nurse types."""
from __future__ import annotations

import re
import weakref
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from ketamon.core import formats
from ketamon.core.clock import as_utc
from ketamon.core.ops.base import Changes
from ketamon.gui.elided import ElidedLabel
from ketamon.gui.runner import OpRunner
from ketamon.gui.theme import set_role


#: one format for clock times and durations everywhere (ketamon.core.formats)
local_hm = formats.clock_time
format_elapsed = formats.duration
format_countdown = formats.countdown


_TIME = re.compile(r"^\s*(\d{1,2})\s*[:.h]?\s*(\d{2})\s*$")


def parse_time_of_day(text: str, now: datetime, label: str = "Time", *, today: bool = False,
                      ahead: timedelta = timedelta(minutes=2)) -> datetime | None:
    """What a nurse types as a clock time ('14:32', '1432', '9.05') → aware UTC.

    Empty means "now" (None). The time is always today's: it is never moved to
    another day (at 02:11, "02:14" moved to yesterday 02:14 stretched the chart
    over 24 hours). A time more than `ahead` past the clock (the clinic's
    ``future_tolerance_minutes``; the operation checks it again) is refused with
    a sentence; with `today`, a time still to come is meant (a planned start).
    Raises ValueError with a message fit to show."""
    text = text.strip()
    if not text:
        return None
    m = _TIME.match(text)
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ValueError(f"{label} “{text}” is not a time: type it as HH:MM, e.g. 14:05.")
    local_now = now.astimezone()
    when = local_now.replace(hour=int(m.group(1)), minute=int(m.group(2)), second=0, microsecond=0)
    if not today and when > local_now + ahead:
        minutes = int(ahead.total_seconds() // 60)
        raise ValueError(f"{label} {when.strftime('%H:%M')} is ahead of this workstation's clock "
                         f"({local_now.strftime('%H:%M')}): type the time it was measured, now or earlier "
                         f"(at most {minutes} min ahead).")
    return as_utc(when)


def future_tolerance(store) -> timedelta:
    """How far ahead of the clock a typed time may be: the clinic's setting (this
    workstation's value while the database is unreachable: the entry is then
    refused as not saved, with its values kept, instead of failing here)."""
    from ketamon.core import settings
    from ketamon.core.live import is_unreachable

    try:
        return timedelta(minutes=settings.clinic_value(store, "future_tolerance_minutes"))
    except Exception as exc:
        if not is_unreachable(exc):
            raise
        return timedelta(minutes=settings.clinic_value(None, "future_tolerance_minutes"))


def parse_number(text: str, label: str, *, decimal: bool = False) -> int | float | None:
    """A typed number (',' accepted as the decimal mark); empty → None."""
    text = text.strip().replace(",", ".")
    if not text:
        return None
    try:
        return float(text) if decimal else int(text)
    except ValueError:
        kind = "a number" if decimal else "a whole number"
        raise ValueError(f"{label} “{text}” is not {kind}.") from None


class MessageLine(ElidedLabel):
    """One line beside a control saying what just happened: saved (calm green)
    or refused (muted brick, with the reason). Empty until something happens.
    It wraps; on a crowded screen `set_one_line()` keeps it to one elided line.
    Every line is cleared when the user changes (`clear_all_messages`): the next
    user must not read "✓ Vital signs saved" as their own."""

    _all: "weakref.WeakSet[MessageLine]" = weakref.WeakSet()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent=parent, one_line=False)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.clear_message()
        MessageLine._all.add(self)

    def show_ok(self, text: str) -> None:
        set_role(self, "ok")
        self.setText(f"✓ {text}")
        self.setVisible(True)

    def show_refusal(self, text: str) -> None:
        set_role(self, "refusal")
        self.setText(f"Not saved: {text}" if not text.startswith("Not saved") else text)
        self.setVisible(True)

    def clear_message(self) -> None:
        set_role(self, "message")
        self.setText("")
        self.setVisible(False)

    @property
    def is_refusal(self) -> bool:
        return self.property("role") == "refusal"


def clear_all_messages() -> None:
    """Empty every message line (called when another user signs in)."""
    for line in list(MessageLine._all):
        if shiboken6.isValid(line):
            line.clear_message()


def run_here(runner: OpRunner, line: MessageLine, operation: Callable[..., Changes], *args: Any,
             **kwargs: Any) -> Changes | None:
    """Run an operation and say the outcome on `line` (the reason when refused)."""
    changes = runner.run(operation, *args, **kwargs)
    if changes is None:
        line.show_refusal(runner.last_refusal or "the entry was refused.")
    else:
        line.show_ok(changes.message or "Saved")
    return changes
