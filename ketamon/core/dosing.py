"""What the dose events of a session add up to. Pure functions, no database.

The delivered total of an infusion is derived from its events (start with a
rate, rate changes, pauses, resumes, stop); it is never typed in.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol as _P, Sequence


class DoseLike(_P):
    kind: str
    at: datetime
    amount_mg: float | None
    rate_mg_per_h: float | None
    device_number: int | None


@dataclass(frozen=True)
class InfusionStatus:
    state: str  # "not_started" | "running" | "paused" | "stopped"
    rate_mg_per_h: float | None
    delivered_mg: float
    started_at: datetime | None
    stopped_at: datetime | None


#: which infusion events may follow which state
INFUSION_ALLOWED = {
    "not_started": {"infusion_start"},
    "running": {"infusion_rate", "infusion_pause", "infusion_stop"},
    "paused": {"infusion_resume", "infusion_stop", "infusion_rate"},
    "stopped": set(),
}


def infusion_status(events: Sequence[DoseLike], now: datetime) -> InfusionStatus:
    """Integrate the rate over the running intervals up to `now` (or the stop)."""
    state, rate, delivered = "not_started", None, 0.0
    started = stopped = None
    running_since: datetime | None = None
    for e in sorted((e for e in events if e.kind.startswith("infusion_")), key=lambda e: e.at):
        if running_since is not None and rate:
            delivered += rate * (e.at - running_since) / timedelta(hours=1)
            running_since = e.at
        if e.kind == "infusion_start":
            state, rate, started, running_since = "running", e.rate_mg_per_h, e.at, e.at
        elif e.kind == "infusion_rate":
            rate = e.rate_mg_per_h
        elif e.kind == "infusion_pause":
            state, running_since = "paused", None
        elif e.kind == "infusion_resume":
            state, running_since = "running", e.at
        elif e.kind == "infusion_stop":
            state, running_since, stopped = "stopped", None, e.at
    if running_since is not None and rate and now > running_since:
        delivered += rate * (now - running_since) / timedelta(hours=1)
    return InfusionStatus(state, rate, round(delivered, 2), started, stopped)


def nasal_devices_given(events: Sequence[DoseLike]) -> list[DoseLike]:
    return sorted((e for e in events if e.kind == "nasal_device"), key=lambda e: e.at)


def rest_remaining(events: Sequence[DoseLike], rest_minutes: float, now: datetime) -> timedelta:
    """Time left in the rest after the last nasal device (zero when none)."""
    given = nasal_devices_given(events)
    if not given or not rest_minutes:
        return timedelta(0)
    left = given[-1].at + timedelta(minutes=rest_minutes) - now
    return max(left, timedelta(0))


def total_given_mg(events: Sequence[DoseLike], now: datetime) -> float:
    """Everything given so far by any route."""
    bolus = sum(e.amount_mg or 0 for e in events if e.kind in ("nasal_device", "im_injection"))
    return round(bolus + infusion_status(events, now).delivered_mg, 2)


def first_dose_at(events: Sequence[DoseLike]) -> datetime | None:
    times = [e.at for e in events if e.kind in ("nasal_device", "im_injection", "infusion_start")]
    return min(times) if times else None


def dose_end_at(events: Sequence[DoseLike], route: str, devices_planned: int | None) -> datetime | None:
    """When dosing finished: last device given, infusion stopped, or the injection."""
    if route == "nasal":
        given = nasal_devices_given(events)
        if devices_planned and len(given) >= devices_planned:
            return given[-1].at
        return None
    if route == "iv":
        stops = [e.at for e in events if e.kind == "infusion_stop"]
        return max(stops) if stops else None
    inj = [e.at for e in events if e.kind == "im_injection"]
    return min(inj) if inj else None


# ---------------------------------------------------------------- rules on a dose (pure)


def rest_seconds_left(events: Sequence[DoseLike], rest_minutes: float, when: datetime) -> int:
    """Whole seconds (rounded up) of the rest still to run at `when`, the time a
    new device is given: 0 once the rest is over. 5 minutes after each device
    (clinical-reference.md section 1): a device at 4:59 has 1 s left, at 5:00 none."""
    given = [e for e in nasal_devices_given(events) if e.at <= when]
    if not given or not rest_minutes:
        return 0
    left = (given[-1].at + timedelta(minutes=rest_minutes) - when).total_seconds()
    return max(int(-(-left // 1)), 0)


def max_rate_mg_per_h(weight_kg: float | None, max_mg_per_kg_per_h: float | None) -> float | None:
    """The fastest infusion rate the protocol allows for this weight (None: no
    limit known, e.g. no weight). Default 0.75 mg/kg over 40 min = 1.125 mg/kg/h
    (clinical-reference.md section 1; resources/alarms/defaults.toml [dose_check])."""
    if weight_kg is None or not max_mg_per_kg_per_h:
        return None
    return round(weight_kg * max_mg_per_kg_per_h, 1)


def mg_per_kg(planned_mg: float, weight_kg: float) -> float:
    return planned_mg / weight_kg


def mg_per_kg_outside(planned_mg: float | None, weight_kg: float | None, low: float | None,
                      high: float | None) -> bool:
    """A planned weight-based dose outside the protocol's mg/kg range (rounded to
    the 0.1 mg the planned dose is computed to, so the protocol's own dose is
    never outside its range)."""
    if planned_mg is None or not weight_kg:
        return False
    if low is not None and planned_mg < round(low * weight_kg, 1):
        return True
    return high is not None and planned_mg > round(high * weight_kg, 1)
