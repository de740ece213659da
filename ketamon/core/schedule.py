"""When the next vital-sign set is due, from the protocol's schedule and the dose
events. Pure functions: the same answer for the chart, the sessions list and the
overdue alarm, which fires on time from a timer even when nobody types.

A set counts when it has a blood pressure (the schedules are BP schedules:
clinical-reference.md section 2). Only the newest such set matters: a due time
is met by any BP set measured at or after (due time - early window), so a set
taken late still meets it (and clears the overdue alert).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Sequence

from ketamon.core import dosing
from ketamon.core.lifecycle import NOTHING_DUE
from ketamon.core.protocols import Protocol

#: states in which nothing is due any more
ENDED = NOTHING_DUE


@dataclass(frozen=True)
class DueItem:
    """One set that is due. `due_at` None means "before the first dose" (no clock
    time yet). `overdue_at` None means it is shown but never alarms."""

    key: str
    label: str
    due_at: datetime | None
    overdue_at: datetime | None

    def is_overdue(self, now: datetime) -> bool:
        return self.overdue_at is not None and now >= self.overdue_at


def due_items(protocol: Protocol, state: str, doses: Sequence, last_bp_at: datetime | None,
              now: datetime) -> list[DueItem]:
    """The sets still due, earliest first. `doses` are the session's dose events
    in force; `last_bp_at` when the newest BP set in force was measured."""
    if state in ENDED:
        return []
    sched = protocol.schedule
    early = timedelta(minutes=sched.early_window_minutes)
    grace = timedelta(minutes=sched.grace_minutes)
    first = dosing.first_dose_at(doses)
    end = dosing.dose_end_at(doses, protocol.route, protocol.dose.devices)
    met = lambda due: last_bp_at is not None and last_bp_at >= due - early  # noqa: E731
    items: list[DueItem] = []
    for cp in sched.checkpoints:
        if cp.anchor == "before_dose":
            if last_bp_at is not None:
                continue
            if first is None:
                items.append(DueItem("before_dose", cp.label, None, None))
            else:  # dosed without a pre-dose set: the next set is due now
                items.append(DueItem("before_dose", cp.label, first, first + grace))
            continue
        anchor = {"first_dose": first, "dose_end": end}.get(cp.anchor)
        if cp.anchor == "before_discharge":
            start = first if protocol.monitoring_from == "first_dose" else end
            if start is None:
                continue
            due = start + timedelta(minutes=protocol.minimum_monitoring_minutes)
            if not met(due):
                items.append(DueItem("before_discharge", cp.label, due, None))
            continue
        if anchor is None:
            continue
        due = anchor + timedelta(minutes=cp.minutes)
        if not met(due):
            items.append(DueItem(f"{cp.anchor}+{cp.minutes:g}", cp.label, due, due + grace))
    infusion = dosing.infusion_status(doses, now)
    if sched.during_infusion_every and infusion.state in ("running", "paused"):
        every = timedelta(minutes=sched.during_infusion_every)
        since = max(infusion.started_at, last_bp_at) if last_bp_at else infusion.started_at
        due = since + every
        items.append(DueItem("during_infusion", f"Every {sched.during_infusion_every:g} min during the infusion",
                             due, due + grace))
    if sched.after_dose_every and end is not None:
        every = timedelta(minutes=sched.after_dose_every)
        until = end + timedelta(minutes=sched.after_dose_for or 0)
        since = max(end, last_bp_at) if last_bp_at else end
        due = since + every
        if due <= until:
            items.append(DueItem("after_dose", f"Every {sched.after_dose_every:g} min after dosing", due,
                                 due + grace))
    items.sort(key=lambda i: (i.due_at is None, i.due_at or now))
    return items


def last_bp_at(vitals: Sequence) -> datetime | None:
    """`vitals` in measured order (as Chart.vitals is): walked back from the newest,
    so a 12-hour 1 Hz session is not scanned on every refresh."""
    for v in reversed(vitals):
        if v.systolic is not None:
            return v.measured_at
    return None


def chart_due_items(chart) -> list[DueItem]:
    """Due items for a loaded Chart (ketamon.core.chart)."""
    return due_items(chart.protocol, chart.session.state, chart.doses, last_bp_at(chart.vitals), chart.now)


def next_due_item(chart) -> DueItem | None:
    items = chart_due_items(chart)
    return items[0] if items else None


def next_due(chart) -> tuple[str, datetime | None] | None:
    """(label, due time) of the next set due, or None when nothing is due. The due
    time is None for the set due before the first dose."""
    item = next_due_item(chart)
    return (item.label, item.due_at) if item else None


def countdown(delta: timedelta) -> str:
    """'4:05' under an hour, '1 h 05' above; never negative."""
    secs = max(int(delta.total_seconds()), 0)
    if secs >= 3600:
        return f"{secs // 3600} h {(secs % 3600) // 60:02d}"
    return f"{secs // 60}:{secs % 60:02d}"


def due_text(item: DueItem | None, now: datetime) -> str:
    """What the nurse reads: 'Vitals due in 4:05 — 40 min after first device'."""
    if item is None:
        return "No vitals due"
    if item.due_at is None:
        return f"Vitals due: {item.label.lower()}"
    if now < item.due_at:
        return f"Vitals due in {countdown(item.due_at - now)} — {item.label}"
    if item.is_overdue(now):
        late = int((now - item.due_at).total_seconds() // 60)
        return f"Vitals OVERDUE {late} min — {item.label}"
    return f"Vitals due now — {item.label}"


def short_due_text(item: DueItem | None, now: datetime) -> str:
    """For a column in the sessions list: 'in 4:05', 'now', 'overdue 3 min', 'before dose'."""
    if item is None:
        return "—"
    if item.due_at is None:
        return "before dose"
    if now < item.due_at:
        return f"in {countdown(item.due_at - now)}"
    if item.is_overdue(now):
        return f"overdue {int((now - item.due_at).total_seconds() // 60)} min"
    return "now"
