"""When the next vital-sign set is due, from the protocol's schedule and the dose
events. Pure functions: the same answer for the chart, the sessions list and the
overdue alarm, which fires on time from a timer even when nobody types.

A set counts when it has a blood pressure (the schedules are BP schedules:
clinical-reference.md section 2). Only the newest such set matters: a due time
is met by any BP set measured at or after (due time - early window), so a set
taken late still meets it (and clears the overdue alert).

Close monitoring: after MOAA/S at or below the sedation rule's limit (2), an SpO2
below the protocol's critical limit or observed respiratory depression, a set is
due every 5 minutes (rules [close_monitoring]) until it has resolved: the REMS
asks for monitoring until sedation and respiratory depression have resolved
(clinical-reference.md section 2). `close_monitoring_since` says whether (and
since when) that holds; every caller of `due_items` passes it, so the chart, the
sessions list and the overdue alarm agree.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Sequence

from ketamon.core import dosing, formats
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


def close_monitoring_since(protocol: Protocol, side_effects: Sequence, newest_spo2) -> datetime | None:
    """Since when the patient needs close monitoring, or None when nothing calls
    for it (or it has resolved). `side_effects`: the session's side effects in
    force, in observed order; `newest_spo2`: the newest set in force with an SpO2
    (VitalSigns-like), or None.

    - sedation: the newest MOAA/S is at or below the sedation rule's limit (2);
      resolved by a newer, higher MOAA/S;
    - SpO2: the newest SpO2 is below the protocol's critical lower limit;
      resolved by a newer SpO2 at or above it;
    - observed respiratory depression: resolved by a set measured after it with
      SpO2 at or above the critical limit and, if charted, a respiratory rate at
      or above its critical lower limit.
    The earliest of those still holding (a set is then due 5 min after it, or
    after the newest BP set, whichever is later)."""
    from ketamon.core.rules import rules_for

    rules = rules_for(protocol)
    if rules.on("close_monitoring") is None:
        return None
    sedation = rules.on("sedation")
    moaas_limit = sedation["moaas_at_or_below"] if sedation is not None else 2
    spo2_range, rr_range = protocol.ranges.get("spo2"), protocol.ranges.get("resp_rate")
    spo2_low = spo2_range.critical.low if spo2_range is not None else None
    rr_low = rr_range.critical.low if rr_range is not None else None
    since: list[datetime] = []
    last_moaas = last_depression = None
    for e in side_effects:
        if e.kind == "sedation" and e.score is not None:
            last_moaas = e
        elif e.kind == "respiratory_depression":
            last_depression = e
    if last_moaas is not None and last_moaas.score <= moaas_limit:
        since.append(last_moaas.observed_at)
    if newest_spo2 is not None and spo2_low is not None and newest_spo2.spo2 < spo2_low:
        since.append(newest_spo2.measured_at)
    if last_depression is not None:
        v = newest_spo2
        resolved = (v is not None and v.measured_at > last_depression.observed_at
                    and (spo2_low is None or v.spo2 >= spo2_low)
                    and (rr_low is None or v.resp_rate is None or v.resp_rate >= rr_low))
        if not resolved:
            since.append(last_depression.observed_at)
    return min(since) if since else None


def due_items(protocol: Protocol, state: str, doses: Sequence, last_bp_at: datetime | None,
              now: datetime, close_since: datetime | None = None) -> list[DueItem]:
    """The sets still due, earliest first. `doses` are the session's dose events
    in force; `last_bp_at` when the newest BP set in force was measured;
    `close_since` what close_monitoring_since says."""
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
    if close_since is not None:
        from ketamon.core.rules import rules_for

        rule = rules_for(protocol).on("close_monitoring")
        if rule is not None:
            every = timedelta(minutes=rule["every_minutes"])
            since = max(close_since, last_bp_at) if last_bp_at else close_since
            due = since + every
            items.append(DueItem("close_monitoring", f"Every {rule['every_minutes']:g} min until sedation and "
                                 "breathing have resolved", due, due + grace))
    items.sort(key=lambda i: (i.due_at is None, i.due_at or now))
    return items


def last_bp_at(vitals: Sequence) -> datetime | None:
    """`vitals` in measured order (as Chart.vitals is): walked back from the newest,
    so a 12-hour 1 Hz session is not scanned on every refresh."""
    for v in reversed(vitals):
        if v.systolic is not None:
            return v.measured_at
    return None


def newest_spo2(vitals: Sequence):
    """The newest set with an SpO2 in `vitals` (measured order), walked back."""
    for v in reversed(vitals):
        if v.spo2 is not None:
            return v
    return None


def chart_due_items(chart) -> list[DueItem]:
    """Due items for a loaded Chart (ketamon.core.chart)."""
    close = close_monitoring_since(chart.protocol, chart.side_effects, newest_spo2(chart.vitals))
    return due_items(chart.protocol, chart.session.state, chart.doses, last_bp_at(chart.vitals), chart.now, close)


def next_due_item(chart) -> DueItem | None:
    items = chart_due_items(chart)
    return items[0] if items else None


def next_due(chart) -> tuple[str, datetime | None] | None:
    """(label, due time) of the next set due, or None when nothing is due. The due
    time is None for the set due before the first dose."""
    item = next_due_item(chart)
    return (item.label, item.due_at) if item else None


def countdown(delta: timedelta) -> str:
    """'4 min 05 s' under an hour, '1 h 05 min' above (ketamon.core.formats)."""
    return formats.countdown(delta)


def due_text(item: DueItem | None, now: datetime) -> str:
    """What the nurse reads: 'Vitals due in 4:05 — 40 min after first device'."""
    if item is None:
        return "No vitals due"
    if item.due_at is None:
        return f"Vitals due: {item.label.lower()}"
    if now < item.due_at:
        return f"Vitals due in {countdown(item.due_at - now)} — {item.label}"
    if item.is_overdue(now):
        return f"Vitals OVERDUE {formats.duration(now - item.due_at)} — {item.label}"
    return f"Vitals due now — {item.label}"


def short_due_text(item: DueItem | None, now: datetime) -> str:
    """For a column in the sessions list: 'in 4 min 05 s', 'now', 'overdue 3 min', 'before dose'."""
    if item is None:
        return "—"
    if item.due_at is None:
        return "before dose"
    if now < item.due_at:
        return f"in {countdown(item.due_at - now)}"
    if item.is_overdue(now):
        return f"overdue {formats.duration(now - item.due_at)}"
    return "now"
