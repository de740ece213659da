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
