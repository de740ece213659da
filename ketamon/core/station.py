"""The central station's read model: one tile per session of today, every chair at
once, as a bedside monitor's central station shows every bed.

`station_tiles` answers in one statement for all of today's sessions (each
tile's newest BP, HR and SpO2, its highest active alert and its first dose are
correlated "newest row" subqueries answered from the sessions' indexes), plus the
next-due computation the sessions list already batches (alert_views). The wall
screen refreshes it on every notice, from any workstation: it must stay cheap
however many chairs there are.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import case, null, select

from ketamon.core import formats, schedule
from ketamon.core.alert_views import next_due_for_sessions
from ketamon.core.chart import of_the_day
from ketamon.core.in_force import in_force_clause
from ketamon.core.lifecycle import STATE_LABELS
from ketamon.core.models import Alert, DoseEvent, Patient, Session, VitalSigns
from ketamon.core.rules import PRIORITY_MARK

if TYPE_CHECKING:
    from ketamon.core.store import Store

#: the dose events that start the clock of a session's monitoring
FIRST_DOSE_KINDS = ("nasal_device", "im_injection", "infusion_start")


@dataclass(frozen=True)
class Reading:
    """A value and when it was measured."""

    text: str
    at: datetime

    def age(self, now: datetime) -> str:
        """'45 s ago' for a fresh value, then whole minutes: '3 min ago'."""
        delta = now - self.at
        return f"{formats.countdown(delta) if delta.total_seconds() < 60 else formats.duration(delta)} ago"


@dataclass(frozen=True)
class Tile:
    """One chair's session as the central station shows it."""

    session_id: int
    #: the chair's name, when sessions have chairs (None: not assigned)
    chair: str | None
    patient: str
    protocol: str
    state: str
    state_label: str
    #: since the first dose (None before it)
    first_dose_at: datetime | None
    bp: Reading | None
    hr: Reading | None
    spo2: Reading | None
    #: the highest active alert: priority (high/medium/low/info) and its message
    alert_priority: str | None
    alert_message: str | None
    #: the highest alert was acknowledged (it then stops flashing)
    alert_acknowledged: bool
    due: schedule.DueItem | None

    @property
    def alert_mark(self) -> str:
        return PRIORITY_MARK.get(self.alert_priority or "", "")

    def due_text(self, now: datetime) -> str:
        return schedule.short_due_text(self.due, now)


def _newest_vital(*columns, where):
    """The newest in-force vital-sign set of the outer session with `where`: its columns."""
    v = VitalSigns
    return [select(c).where(v.session_id == Session.id, in_force_clause(v), where)
            .order_by(v.measured_at.desc(), v.id.desc()).limit(1).correlate(Session).scalar_subquery()
            for c in columns]


def _highest_alert(*columns):
    rank = case({"high": 0, "medium": 1, "low": 2}, value=Alert.priority, else_=3)
    return [select(c).where(Alert.session_id == Session.id, Alert.cleared_at.is_(None))
            .order_by(rank, Alert.raised_at.desc(), Alert.id.desc()).limit(1).correlate(Session).scalar_subquery()
            for c in columns]


def station_tiles(store: "Store", day: date | None = None, now: datetime | None = None) -> list[Tile]:
    """Every session of a local calendar day's list (default today: chart.of_the_day), by chair then time."""
    now = now or store.clock.now()
    day = day or now.astimezone().date()
    v = VitalSigns
    chair = getattr(Session, "chair", None)  # sessions gain a chair with the device feed
    first_dose = (select(DoseEvent.at).where(DoseEvent.session_id == Session.id,
                                             DoseEvent.kind.in_(FIRST_DOSE_KINDS), DoseEvent.retracted.is_(False),
                                             in_force_clause(DoseEvent))
                  .order_by(DoseEvent.at).limit(1).correlate(Session).scalar_subquery())
    query = select(
        Session.id, Session.protocol_id, Session.protocol_version, Session.state,
        chair if chair is not None else null(), Patient,
        first_dose,
        *_newest_vital(v.systolic, v.diastolic, v.measured_at, where=v.systolic.is_not(None)),
        *_newest_vital(v.heart_rate, v.measured_at, where=v.heart_rate.is_not(None)),
        *_newest_vital(v.spo2, v.measured_at, where=v.spo2.is_not(None)),
        *_highest_alert(Alert.priority, Alert.message, Alert.acknowledged_at),
    ).join(Patient, Patient.id == Session.patient_id).where(of_the_day(day)).order_by(Session.scheduled_at, Session.id)
    with store.read() as db:
        rows = db.execute(query).all()
    due = next_due_for_sessions(store, [r[0] for r in rows], now)
    tiles = [_tile(store, row, due.get(row[0])) for row in rows]
    return sorted(tiles, key=lambda t: (t.chair is None, t.chair or ""))


def _tile(store: "Store", row, due: schedule.DueItem | None) -> Tile:
    (sid, protocol_id, version, state, chair, patient, first, sys_, dia, bp_at, hr, hr_at, spo2, spo2_at,
     priority, message, acknowledged_at) = row
    return Tile(
        session_id=sid, chair=None if chair is None else str(chair), patient=patient.display_name,
        protocol=store.protocols.get(protocol_id, version).name, state=state, state_label=STATE_LABELS[state],
        first_dose_at=first,
        bp=Reading(f"{sys_}/{dia if dia is not None else '–'}", bp_at) if bp_at is not None else None,
        hr=Reading(f"{hr}", hr_at) if hr_at is not None else None,
        spo2=Reading(f"{spo2}%", spo2_at) if spo2_at is not None else None,
        alert_priority=priority, alert_message=message,
        alert_acknowledged=acknowledged_at is not None, due=due)
