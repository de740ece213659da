"""Read models for the screens and reports: one query pass per refresh, plain
objects out. Screens never query the database themselves."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ketamon.core import dosing
from ketamon.core.lifecycle import STATE_LABELS
from ketamon.core.models import (
    SIDE_EFFECT_KINDS,
    Alert,
    Assessment,
    DoseEvent,
    Note,
    Patient,
    Session,
    SideEffect,
    User,
    VitalSigns,
)
from ketamon.core.protocols import Protocol
from ketamon.core.store import Store


@dataclass(frozen=True)
class LogLine:
    """One line of the event log: every entry, corrections included."""

    at: datetime  # when it happened (measured/observed)
    entered_at: datetime
    who: str
    kind: str  # vitals | dose | side_effect | note | assessment | state
    text: str
    entity: str
    entity_id: int
    superseded: bool = False
    correction: bool = False
    late: bool = False


@dataclass
class Chart:
    session: Session
    patient: Patient
    protocol: Protocol
    now: datetime
    vitals: list[VitalSigns]  # in force, by measured time
    doses: list[DoseEvent]
    side_effects: list[SideEffect]
    notes: list[Note]
    assessments: list[Assessment]
    alerts: list[Alert]
    log: list[LogLine]
    users: dict[int, User] = field(default_factory=dict)

    @property
    def first_dose_at(self) -> datetime | None:
        return dosing.first_dose_at(self.doses)

    @property
    def elapsed(self) -> timedelta | None:
        """Time since the first dose (the clock the nurse watches)."""
        start = self.first_dose_at
        return (self.now - start) if start else None

    @property
    def infusion(self) -> dosing.InfusionStatus:
        return dosing.infusion_status(self.doses, self.now)

    @property
    def given_mg(self) -> float:
        return dosing.total_given_mg(self.doses, self.now)

    @property
    def devices_given(self) -> int:
        return len(dosing.nasal_devices_given(self.doses))

    @property
    def rest_remaining(self) -> timedelta:
        return dosing.rest_remaining(self.doses, self.protocol.dose.rest_minutes, self.now)

    @property
    def baseline(self) -> VitalSigns | None:
        """The last BP set measured before the first dose."""
        first = self.first_dose_at
        pre = [v for v in self.vitals if v.systolic is not None and (first is None or v.measured_at <= first)]
        return pre[-1] if pre else None

    def who(self, user_id: int | None) -> str:
        u = self.users.get(user_id) if user_id else None
        return u.display_name if u else "—"


def _split(rows: list) -> tuple[list, set[int]]:
    superseded = {r.supersedes_id for r in rows if r.supersedes_id is not None}
    return [r for r in rows if r.id not in superseded and not r.retracted], superseded


def load_chart(store: Store, session_id: int, now: datetime | None = None) -> Chart:
    now = now or store.clock.now()
    with store.read() as db:
        s = db.get(Session, session_id, options=[joinedload(Session.patient)])
        if s is None:
            raise KeyError(session_id)
        by_session = lambda m, order: list(db.scalars(select(m).where(m.session_id == session_id).order_by(order)))
        vit_all = by_session(VitalSigns, VitalSigns.measured_at)
        dose_all = by_session(DoseEvent, DoseEvent.at)
        se_all = by_session(SideEffect, SideEffect.observed_at)
        note_all = by_session(Note, Note.at)
        ass_all = by_session(Assessment, Assessment.at)
        alerts = list(db.scalars(select(Alert).where(Alert.session_id == session_id).order_by(Alert.raised_at)))
        users = {u.id: u for u in db.scalars(select(User))}
    vitals, vs = _split(vit_all)
    doses, ds = _split(dose_all)
    ses, ss = _split(se_all)
    notes, ns = _split(note_all)
    assessments, as_ = _split(ass_all)
    name = lambda uid: users[uid].display_name if uid in users else "—"
    log: list[LogLine] = []
    for v in vit_all:
        log.append(LogLine(v.measured_at, v.entered_at, name(v.entered_by_id), "vitals",
                           "Entered in error" if v.retracted else describe_vitals(v), "vital_signs", v.id,
                           v.id in vs, v.supersedes_id is not None, v.late))
    for d in dose_all:
        log.append(LogLine(d.at, d.entered_at, name(d.entered_by_id), "dose",
                           "Entered in error" if d.retracted else describe_dose(d), "dose_event", d.id,
                           d.id in ds, d.supersedes_id is not None, d.late))
    for e in se_all:
        log.append(LogLine(e.observed_at, e.entered_at, name(e.entered_by_id), "side_effect",
                           "Entered in error" if e.retracted else describe_side_effect(e), "side_effect", e.id,
                           e.id in ss, e.supersedes_id is not None, e.late))
    for n in note_all:
        log.append(LogLine(n.at, n.entered_at, name(n.entered_by_id), "note", f"Note: {n.text}", "note", n.id,
                           n.id in ns, n.supersedes_id is not None))
    for a in ass_all:
        log.append(LogLine(a.at, a.entered_at, name(a.entered_by_id), "assessment",
                           f"{a.kind.replace('_', ' ').capitalize()}"
                           + (f": {a.total:g}" if a.total is not None else ""), "assessment", a.id,
                           a.id in as_, a.supersedes_id is not None))
    log.sort(key=lambda line: (line.at, line.entered_at))
    return Chart(s, s.patient, store.protocols.get(s.protocol_id, s.protocol_version), now, vitals, doses,
                 ses, notes, assessments, alerts, log, users)


def describe_vitals(v: VitalSigns) -> str:
    parts = []
    if v.systolic is not None:
        parts.append(f"BP {v.systolic}/{v.diastolic}" + (f" ({v.mean_arterial})" if v.mean_arterial else ""))
    if v.heart_rate is not None:
        parts.append(f"HR {v.heart_rate}")
    if v.spo2 is not None:
        parts.append(f"SpO2 {v.spo2}%" + (" on O2" if v.on_oxygen else ""))
    if v.resp_rate is not None:
        parts.append(f"RR {v.resp_rate}")
    if v.temperature is not None:
        parts.append(f"T {v.temperature:.1f}°C")
    if v.consciousness:
        parts.append(f"ACVPU {v.consciousness}")
    text = ", ".join(parts) or "Vital signs"
    if v.source == "device":
        text += " [device]"
    if v.comment:
        text += f" — {v.comment}"
    return text


def describe_dose(d: DoseEvent) -> str:
    if d.kind == "nasal_device":
        return f"Nasal device {d.device_number} given ({d.amount_mg:g} mg, lot {d.lot_number or '—'})"
    if d.kind == "im_injection":
        return f"IM injection {d.amount_mg:g} mg" + (f" ({d.site})" if d.site else "")
    labels = {"infusion_start": "Infusion started", "infusion_rate": "Infusion rate changed",
              "infusion_pause": "Infusion paused", "infusion_resume": "Infusion resumed",
              "infusion_stop": "Infusion stopped"}
    text = labels[d.kind]
    if d.rate_mg_per_h is not None and d.kind in ("infusion_start", "infusion_rate"):
        text += f" at {d.rate_mg_per_h:g} mg/h"
    return text + (f" — {d.comment}" if d.comment else "")


def describe_side_effect(e: SideEffect) -> str:
    text = SIDE_EFFECT_KINDS.get(e.kind, e.kind)
    if e.kind == "sedation" and e.score is not None:
        text = f"Sedation: MOAA/S {e.score:g}"
    elif e.score is not None:
        text += f" {e.score:g}" + {"NRS-0-10": "/10", "severity-0-4": "/4", "CADSS-6": "/24 (CADSS-6)"}.get(
            e.scale or "", "")
    if e.text:
        text += f": {e.text}"
    return text


@dataclass(frozen=True)
class SessionRow:
    session_id: int
    patient_name: str
    mrn: str
    protocol_name: str
    route: str
    state: str
    state_label: str
    scheduled_at: datetime
    first_dose_at: datetime | None
    elapsed: timedelta | None


def sessions_on(store: Store, day: date | None = None, now: datetime | None = None) -> list[SessionRow]:
    """Sessions scheduled on a local calendar day (default today)."""
    now = now or store.clock.now()
    day = day or now.astimezone().date()
    start = datetime.combine(day, datetime.min.time()).astimezone()
    end = start + timedelta(days=1)
    with store.read() as db:
        sessions = list(db.scalars(select(Session).options(joinedload(Session.patient))
                                   .where(Session.scheduled_at >= start, Session.scheduled_at < end)
                                   .order_by(Session.scheduled_at)))
        ids = [s.id for s in sessions]
        firsts: dict[int, datetime] = {}
        if ids:
            for d in db.scalars(select(DoseEvent).where(DoseEvent.session_id.in_(ids))):
                if d.kind in ("nasal_device", "im_injection", "infusion_start") and not d.retracted:
                    firsts[d.session_id] = min(firsts.get(d.session_id, d.at), d.at)
    rows = []
    for s in sessions:
        first = firsts.get(s.id)
        rows.append(SessionRow(s.id, s.patient.display_name, s.patient.mrn,
                               store.protocols.get(s.protocol_id, s.protocol_version).name, s.route, s.state,
                               STATE_LABELS[s.state], s.scheduled_at, first, (now - first) if first else None))
    return rows
