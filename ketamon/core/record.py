"""The session record as a whole: what has been recorded for the pre-dose checks,
discharge and signing, and exactly what is still missing before each step.

`load_record(store, id)` is the read model the record panel, the staff screen and
the printed summary use (state history, signature and addenda included).
`gather(db, …)` builds the same from an open database session: operations use it
inside their own transaction (on SQLite a second connection would wait for the
operation's write lock). Both are built on the chart (ketamon.core.chart), whose
vital signs are kept between loads: never read the session a second way here.

`missing_for(record, step)` returns human messages, one per missing thing, in the
order a nurse would fix them. The operations refuse a step while the list is not
empty and the panel shows the same list, so the two can never disagree.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import SimpleNamespace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from ketamon.core import dosing, formats, scores
from ketamon.core.chart import Chart, chart_in, load_chart
from ketamon.core.errors import ValidationError
from ketamon.core.lifecycle import BEFORE_DOSE, ENDED, ENDED_EARLY, IN_PROGRESS, STATE_LABELS, UNSIGNED
from ketamon.core.models import (
    Addendum,
    Patient,
    Alert,
    Assessment,
    DoseEvent,
    Session,
    StateChange,
    User,
)
from ketamon.core.protocols import Protocol, _fmt
from ketamon.core.store import Store, ids_in

#: steps `missing_for` knows
STEPS = ("dose", "discharge", "sign")

#: pre-dose checklist items: key -> what the nurse confirms
PREDOSE_ITEMS = {
    "consent": "Consent to treatment confirmed",
    "fasting": "Fasting as the protocol requires",
    "contraindications_reviewed": "Contraindications reviewed",
    "medications_reviewed": "Concomitant medicines reviewed",
}

#: discharge checklist items (besides the time ready to leave)
DISCHARGE_ITEMS = {
    "effects_resolved": "Sedation, dissociation and any breathing problem have resolved",
    "escort_present": "Escort (responsible adult) present",
    "instructions_given": "Written discharge instructions given (no driving until the next day)",
}

#: alerts a physician must review before signing
REVIEW_PRIORITIES = ("high", "medium")
PRIORITY_MARKS = {"high": "***", "medium": "**", "low": "*", "info": ""}


class RecordIncomplete(ValidationError):
    """A step was refused because required entries are missing; `missing` lists them."""

    def __init__(self, heading: str, missing: list[str]):
        super().__init__(heading + "\n" + "\n".join(f"• {m}" for m in missing), "record", missing)
        self.heading = heading
        self.missing = missing


def local_hm(when: datetime) -> str:
    return formats.clock_time(when)


def fasting_text(protocol: Protocol) -> str | None:
    """The protocol's fasting rule in words, or None when it has none."""
    parts = []
    if protocol.fasting_food_hours:
        parts.append(f"no food for {_fmt(protocol.fasting_food_hours)} h")
    if protocol.fasting_liquid_minutes:
        parts.append(f"no liquids for {_fmt(protocol.fasting_liquid_minutes)} min")
    return ", ".join(parts) or None


@dataclass
class SessionRecord:
    """Everything recorded for one session, entries in force only (corrections
    applied), on the session's chart (`chart`: vital signs, doses, NEWS2, baseline,
    first dose). From `load_record` the chart is load_chart's, event log included;
    from `gather` (inside an operation) its log is empty."""

    chart: Chart
    state_changes: list[StateChange]
    addenda: list[Addendum]
    #: every assessment row, superseded ones included (for the printed history)
    all_assessments: list[Assessment] = field(default_factory=list)

    # -------------------------------------------------- plain facts

    @property
    def session(self) -> Session:
        return self.chart.session

    @property
    def protocol(self) -> Protocol:
        return self.chart.protocol

    @property
    def now(self) -> datetime:
        return self.chart.now

    @property
    def state(self) -> str:
        return self.session.state

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.state]

    @property
    def signed(self) -> bool:
        return self.session.locked

    @property
    def outcome(self) -> str:
        """How the session ended, also after signing: discharged, stopped,
        cancelled, or the current state while it is still open."""
        if self.state != "signed":
            return self.state
        for change in reversed(self.state_changes):
            if change.to_state == "signed":
                return change.from_state
        return "signed"

    def who(self, user_id: int | None) -> str:
        return self.chart.who(user_id)

    def entered_state_at(self, state: str) -> datetime | None:
        """When the session last entered `state` (None if it never did)."""
        times = [c.at for c in self.state_changes if c.to_state == state]
        return times[-1] if times else None

    def _latest(self, kind: str) -> Assessment | None:
        rows = [a for a in self.chart.assessments if a.kind == kind]
        return max(rows, key=lambda a: (a.at, a.id)) if rows else None

    @property
    def predose_checklist(self) -> Assessment | None:
        return self._latest("predose_checklist")

    @property
    def phq9(self) -> Assessment | None:
        return self._latest("phq9")

    @property
    def phq9_followup(self) -> Assessment | None:
        return self._latest("phq9_followup")

    @property
    def phq9_band(self) -> str | None:
        a = self.phq9
        return scores.phq9_band(int(a.total)) if a and a.total is not None else None

    @property
    def phq9_needs_followup(self) -> bool:
        a = self.phq9
        return bool(a and scores.phq9_needs_followup(a.items or {}))

    @property
    def discharge_scale(self) -> scores.Scale:
        return scores.discharge_scale(self.protocol.discharge_score)

    @property
    def discharge_assessment(self) -> Assessment | None:
        """The latest discharge score of the kind the protocol asks for."""
        return self._latest(self.discharge_scale.kind)

    @property
    def discharge_assessments(self) -> list[Assessment]:
        kind = self.discharge_scale.kind
        return sorted((a for a in self.chart.assessments if a.kind == kind), key=lambda a: (a.at, a.id))

    @property
    def discharge_checklist(self) -> Assessment | None:
        return self._latest("discharge_checklist")

    @property
    def first_dose_at(self) -> datetime | None:
        return dosing.first_dose_at(self.chart.doses)

    @property
    def dose_end_at(self) -> datetime | None:
        return dosing.dose_end_at(self.chart.doses, self.session.route, self.protocol.dose.devices)

    @property
    def monitoring_anchor(self) -> str:
        """What the minimum monitoring time counts from, in words."""
        route, start = self.session.route, self.protocol.monitoring_from
        if route == "im":
            return "the injection"
        if start == "first_dose":
            return "the first device" if route == "nasal" else "the start of the infusion"
        return "the last device" if route == "nasal" else "the end of the infusion"

    @property
    def monitoring_started_at(self) -> datetime | None:
        if self.protocol.monitoring_from == "dose_end":
            return self.dose_end_at
        return self.first_dose_at

    @property
    def discharge_not_before(self) -> datetime | None:
        start = self.monitoring_started_at
        if start is None:
            return None
        return start + timedelta(minutes=self.protocol.minimum_monitoring_minutes)

    @property
    def minutes_to_discharge(self) -> int | None:
        """Whole minutes (rounded up) until the minimum monitoring time is reached;
        None before it has started or once it is reached."""
        not_before = self.discharge_not_before
        if not_before is None or self.now >= not_before:
            return None
        return int(-(-(not_before - self.now).total_seconds() // 60))

    @property
    def ready_to_leave_at(self) -> datetime | None:
        return self.session.ready_to_leave_at

    @property
    def discharged_at(self) -> datetime | None:
        return self.entered_state_at("discharged")

    @property
    def monitoring_minutes(self) -> float | None:
        """Minutes from the first dose to the end of monitoring (discharge, or the
        early stop); what the esketamine monitoring form asks for."""
        start = self.first_dose_at
        end = self.discharged_at or self.entered_state_at("stopped")
        if start is None or end is None:
            return None
        return (end - start) / timedelta(minutes=1)

    @property
    def signed_at(self) -> datetime | None:
        return self.session.signed_at

    @property
    def signed_by(self) -> str | None:
        return self.who(self.session.signed_by_id) if self.session.signed_by_id else None

    @property
    def alerts_to_review(self) -> list[Alert]:
        return [a for a in self.chart.alerts
                if a.category == "patient" and a.priority in REVIEW_PRIORITIES and a.reviewed_at is None]

    def missing(self, step: str) -> list[str]:
        return missing_for(self, step)


# ---------------------------------------------------------------- loading


def _record(db: DbSession, chart: Chart) -> SessionRecord:
    """The record around a chart: what the chart does not hold (state history,
    addenda, every assessment row for the printed history). Three statements."""
    session_id = chart.session.id

    def rows(model, order):
        return list(db.scalars(select(model).where(model.session_id == session_id).order_by(order, model.id)))

    return SessionRecord(chart=chart, state_changes=rows(StateChange, StateChange.at),
                         addenda=rows(Addendum, Addendum.at), all_assessments=rows(Assessment, Assessment.at))


def gather(db: DbSession, store: Store, session_id: int, now: datetime | None = None) -> SessionRecord:
    """Build the record from an open database session (an operation's own): the
    chart as that transaction sees it (chart.chart_in, on the kept vital signs)."""
    return _record(db, chart_in(db, store, session_id, now))


#: change flags that may touch what a record holds besides its chart (state
#: history: lifecycle; addenda: record; every assessment row: assessments)
RECORD_ROW_FLAGS = ("lifecycle", "record", "assessments")


def record_around(store: Store, chart: Chart, previous: SessionRecord | None = None,
                  changes=None) -> SessionRecord:
    """The record around a chart a screen has just loaded (no second load_chart).
    With `previous` (the record before `changes`, an OpChanges), its state
    history, addenda and assessments are kept unless the change may have touched
    them: a vital-sign save then costs no statement here."""
    if previous is not None and changes is not None and previous.chart.session.id == chart.session.id \
            and not changes.any_of(*RECORD_ROW_FLAGS):
        return SessionRecord(chart=chart, state_changes=previous.state_changes, addenda=previous.addenda,
                             all_assessments=previous.all_assessments)
    with store.read() as db:
        return _record(db, chart)


def load_record(store: Store, session_id: int, now: datetime | None = None) -> SessionRecord:
    """The record for the screens and the printout, built on the cached chart
    (chart.load_chart): a save on a 12-hour 1 Hz session costs milliseconds."""
    from ketamon.core.errors import NotFound

    try:
        chart = load_chart(store, session_id, now)
    except KeyError:
        raise NotFound(f"There is no session {session_id}.") from None
    with store.read() as db:
        return _record(db, chart)


# ---------------------------------------------------------------- what is missing


def missing_for(record: SessionRecord, step: str) -> list[str]:
    """What must still be recorded before `step` ("dose", "discharge", "sign")."""
    if step == "dose":
        return _missing_before_dose(record)
    if step == "discharge":
        return _missing_before_discharge(record)
    if step == "sign":
        return _missing_before_sign(record)
    raise ValueError(f"unknown step {step!r}; known: {', '.join(STEPS)}")


def _missing_before_dose(r: SessionRecord) -> list[str]:
    missing: list[str] = []
    checklist: dict[str, Any] = (r.predose_checklist.items if r.predose_checklist else {}) or {}
    if not checklist.get("consent"):
        missing.append("Consent to treatment not confirmed")
    fasting = fasting_text(r.protocol)
    if fasting and not checklist.get("fasting"):
        missing.append(f"Fasting not confirmed ({fasting})")
    if not checklist.get("contraindications_reviewed"):
        missing.append("Contraindications not reviewed")
    if not checklist.get("medications_reviewed"):
        missing.append("Concomitant medicines not reviewed")
    missing += _missing_phq9(r)
    missing += _missing_baseline(r)
    return missing


def _missing_phq9(r: SessionRecord) -> list[str]:
    phq9 = r.phq9
    if phq9 is None:
        return ["PHQ-9 not recorded"]
    if r.phq9_needs_followup and r.phq9_followup is None:
        answer = int((phq9.items or {}).get(scores.PHQ9_SELF_HARM_ITEM, 0))
        return [f"PHQ-9 item 9 (self-harm) answered {answer}: follow-up not recorded"]
    return []


_BASELINE_PARTS = (("blood pressure", "systolic"), ("heart rate", "heart_rate"), ("SpO2", "spo2"))


def _absent_parts(vitals: Iterable, keep: Callable[[Any], bool] | None = None) -> list[str]:
    """The baseline parts (blood pressure, heart rate, SpO2) no set of `vitals`
    that `keep` accepts has. It stops at the first set that completes them, so the
    record bar's check, after every save and each second, does not walk the 43 200
    sets of a 12-hour 1 Hz session (their order does not matter to the answer)."""
    absent = list(_BASELINE_PARTS)
    for v in vitals:
        if keep is not None and not keep(v):
            continue
        absent = [(name, attr) for name, attr in absent if getattr(v, attr) is None]
        if not absent:
            break
    return [name for name, _attr in absent]


def _missing_baseline(r: SessionRecord) -> list[str]:
    first = r.first_dose_at
    absent = _absent_parts(r.chart.vitals, None if first is None else (lambda v: v.measured_at <= first))
    if len(absent) == len(_BASELINE_PARTS):
        return ["Baseline vital signs not recorded (blood pressure, heart rate and SpO2 before dosing)"]
    if absent:
        return [f"Baseline vital signs incomplete: {_and(absent)} not recorded"]
    return []


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _missing_before_discharge(r: SessionRecord) -> list[str]:
    missing: list[str] = []
    state = r.state
    if state in BEFORE_DOSE or state == "dosing":
        missing.append("Dosing is not complete")
    elif state == "monitoring":
        missing.append("Session is still in monitoring: move it to recovery")
    elif state != "recovery":
        return [f"Session is {r.state_label.lower()}: it cannot be discharged"]
    not_before = r.discharge_not_before
    minimum = _fmt(r.protocol.minimum_monitoring_minutes)
    if not_before is None:
        if not (state in BEFORE_DOSE or state == "dosing"):
            missing.append(f"Minimum monitoring time ({minimum} min from {r.monitoring_anchor}) has not started")
    elif r.now < not_before:
        left = r.minutes_to_discharge
        missing.append(f"Minimum monitoring time not reached: {minimum} min from {r.monitoring_anchor} "
                       f"ends at {local_hm(not_before)} ({formats.duration(timedelta(minutes=left))} to go)")
    missing += _missing_discharge_vitals(r)
    scale = r.discharge_scale
    assessment = r.discharge_assessment
    threshold = r.protocol.discharge_threshold
    if assessment is None:
        missing.append(f"{scale.name} not recorded (needs {threshold} or more)")
    elif not fit_for_discharge(assessment.total, threshold):
        missing.append(f"{scale.name} {_fmt(assessment.total or 0)} at {local_hm(assessment.at)} is below "
                       f"{threshold}: assess again")
    checklist = (r.discharge_checklist.items if r.discharge_checklist else {}) or {}
    for key, label in (("effects_resolved", "Sedation, dissociation and breathing not confirmed resolved"),
                       ("escort_present", "Escort (responsible adult) not confirmed present"),
                       ("instructions_given", "Written discharge instructions not confirmed given")):
        if not checklist.get(key):
            missing.append(label)
    if r.ready_to_leave_at is None:
        missing.append("Time the patient was ready to leave not recorded")
    missing += _clinical_discharge_blockers(r)
    return missing


#: the patient is not fit to leave while the last MOAA/S is below this (5: responds
#: readily to name, clinical-reference.md section 3) ...
DISCHARGE_MOAAS_AT_LEAST = 5
#: ... or the last nausea score is this or more (0-10; the nausea alarm's default
#: threshold, resources/alarms/defaults.toml [nausea]; RCEM "minimal nausea",
#: clinical-reference.md section 5)
DISCHARGE_NAUSEA_BELOW = 7


def _clinical_discharge_blockers(r: SessionRecord) -> list[str]:
    """What about the patient (not the paperwork) stops discharge: a high or
    medium patient alert still sounding unacknowledged, sedation not resolved
    (last MOAA/S below 5) or marked nausea (last score 7 or more). Checked from
    the entries themselves, never from a checklist tick, so a ticked "effects
    resolved" cannot discharge a drowsy patient."""
    out: list[str] = []
    for a in r.chart.alerts:
        if (a.category == "patient" and a.cleared_at is None and a.acknowledged_at is None
                and a.priority in REVIEW_PRIORITIES):
            mark = PRIORITY_MARKS.get(a.priority, "")
            out.append(f"Alert not acknowledged: {mark} {a.message} ({local_hm(a.raised_at)})")
    latest: dict[str, Any] = {}
    for e in r.chart.side_effects:  # in observed order: the last one of each kind wins
        if e.score is not None:
            latest[e.kind] = e
    sed = latest.get("sedation")
    if sed is not None and sed.score < DISCHARGE_MOAAS_AT_LEAST:
        out.append(f"Last MOAA/S {_fmt(sed.score)} at {local_hm(sed.observed_at)} is below "
                   f"{DISCHARGE_MOAAS_AT_LEAST}: sedation has not resolved")
    nausea = latest.get("nausea")
    if nausea is not None and nausea.score >= DISCHARGE_NAUSEA_BELOW:
        out.append(f"Last nausea score {_fmt(nausea.score)}/10 at {local_hm(nausea.observed_at)} is "
                   f"{DISCHARGE_NAUSEA_BELOW} or more: assess again")
    return out


def _missing_discharge_vitals(r: SessionRecord) -> list[str]:
    since = r.entered_state_at("recovery")
    if since is None:
        return []  # covered by "move it to recovery"
    absent = _absent_parts(reversed(r.chart.vitals), lambda v: v.measured_at >= since)  # the newest first
    if len(absent) == len(_BASELINE_PARTS):
        return [f"Vital signs before discharge not recorded (blood pressure, heart rate and SpO2 since "
                f"recovery began at {local_hm(since)})"]
    if absent:
        return [f"Vital signs before discharge incomplete: {_and(absent)} not recorded since recovery began "
                f"at {local_hm(since)}"]
    return []


def _missing_before_sign(r: SessionRecord) -> list[str]:
    if r.state == "signed":
        return [f"Already signed by {r.signed_by} at {local_hm(r.signed_at)}"] if r.signed_at else ["Already signed"]
    missing: list[str] = []
    if r.state not in ENDED:
        missing.append("The patient has not been discharged (or the session stopped early or cancelled)")
    if r.phq9 is not None:
        missing += [m for m in _missing_phq9(r) if "item 9" in m]
    for a in r.alerts_to_review:
        mark = PRIORITY_MARKS.get(a.priority, "")
        missing.append(f"Alert not reviewed: {mark} {a.message} ({local_hm(a.raised_at)})".replace("  ", " "))
    return missing


def fit_for_discharge(total: float | None, threshold: float) -> bool:
    """A discharge score (Aldrete or PADSS, as the protocol asks) reaches the
    protocol's threshold (Protocol.discharge_threshold). The record panel's
    verdict and `missing_for(record, "discharge")` both ask this."""
    return (total or 0) >= threshold


def describe_items(scale: scores.Scale, items: dict[str, int] | None) -> list[tuple[str, int | None, str]]:
    """(item label, points, answer text) for printing an assessment."""
    items = items or {}
    out = []
    for item in scale.items:
        points = items.get(item.key)
        out.append((item.label, points, item.text_for(points) if points is not None else "—"))
    return out



# ---------------------------------------------------------------- finding records (staff screen)

#: state filters the records screen offers: key -> (label, states or None for any)
STATE_FILTERS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "any": ("Any state", None),
    "unsigned": ("Not signed yet", tuple(sorted(UNSIGNED))),
    "to_sign": ("Finished, waiting for signature", tuple(sorted(ENDED))),
    "signed": ("Signed", ("signed",)),
    "in_progress": ("In progress", tuple(sorted(IN_PROGRESS))),
    "planned": ("Planned", ("planned",)),
    "cancelled_stopped": ("Cancelled or stopped early", tuple(sorted(ENDED_EARLY))),
}

#: at most this many rows per search (the screen says when there were more)
SEARCH_LIMIT = 500


@dataclass(frozen=True)
class RecordRow:
    """One session as the records screen lists it."""

    session_id: int
    scheduled_at: datetime
    patient_name: str
    mrn: str
    birth_date: Any
    protocol_name: str
    route: str
    state: str
    state_label: str
    signed_at: datetime | None
    signed_by: str | None
    #: the protocol needs the esketamine monitoring form
    form_required: bool
    #: when the session began: the first dose in force, else the start of the
    #: pre-dose checks (check-in); None while it has not begun
    began_at: datetime | None = None

    @property
    def signed(self) -> bool:
        return self.state == "signed"


def began_at(db: DbSession, session_ids: list[int]) -> dict[int, datetime]:
    """When each session began (RecordRow.began_at), in two grouped queries."""
    from sqlalchemy import func

    from ketamon.core.in_force import in_force_clause

    if not session_ids:
        return {}
    began = dict(db.execute(select(StateChange.session_id, func.min(StateChange.at))
                            .where(ids_in(db, StateChange.session_id, session_ids),
                                   StateChange.to_state == "pre_dose")
                            .group_by(StateChange.session_id)).all())
    began.update(db.execute(select(DoseEvent.session_id, func.min(DoseEvent.at))
                            .where(ids_in(db, DoseEvent.session_id, session_ids),
                                   DoseEvent.kind.in_(("nasal_device", "im_injection", "infusion_start")), in_force_clause(DoseEvent))
                            .group_by(DoseEvent.session_id)).all())
    return began


def _patient_name(family_name: str, given_name: str) -> str:
    """The Patient model's display name from plain columns (no object per row)."""
    return Patient.display_name.fget(SimpleNamespace(family_name=family_name, given_name=given_name))


#: up to this many patients matching a search, their sessions are found by patient
FEW_PATIENTS = 1000


def find_sessions(store: Store, text: str = "", date_from: Any = None, date_to: Any = None,
                  state_filter: str = "any", limit: int = SEARCH_LIMIT) -> tuple[list[RecordRow], bool]:
    """Sessions matching a patient name or MRN (every word must match the family
    name, given name or MRN), scheduled between two local calendar days
    (inclusive; None = open), in the states of `state_filter` (STATE_FILTERS).
    Newest first. Returns (rows, more) where `more` says the limit cut the list."""
    from sqlalchemy import or_

    if state_filter not in STATE_FILTERS:
        raise ValueError(f"unknown state filter {state_filter!r}")
    # plain columns, not ORM objects: 500 rows of objects cost more than the query
    q = (select(Session.id, Session.scheduled_at, Patient.family_name, Patient.given_name, Patient.mrn,
                Patient.birth_date, Session.protocol_id, Session.protocol_version, Session.route, Session.state,
                Session.signed_at, Session.signed_by_id).join(Patient, Patient.id == Session.patient_id))
    patterns = [f"%{word}%" for word in text.replace(",", " ").split()]
    who = [or_(Patient.family_name.ilike(p), Patient.given_name.ilike(p), Patient.mrn.ilike(p)) for p in patterns]
    if date_from is not None:
        q = q.where(Session.scheduled_at >= datetime.combine(date_from, datetime.min.time()).astimezone())
    if date_to is not None:
        end = datetime.combine(date_to, datetime.min.time()).astimezone() + timedelta(days=1)
        q = q.where(Session.scheduled_at < end)
    states = STATE_FILTERS[state_filter][1]
    if states is not None:
        q = q.where(Session.state.in_(states))
    q = q.order_by(Session.scheduled_at.desc(), Session.id.desc()).limit(limit + 1)
    with store.read() as db:
        # a few patients (one MRN, one name): their sessions by the patient index;
        # walking two years of sessions newest first, testing each one's patient,
        # took 150-180 ms on SQLite to find one patient. Many (a letter): that walk,
        # which stops at the limit.
        if who:
            few = db.scalars(select(Patient.id).where(*who).limit(FEW_PATIENTS + 1)).all()
            q = q.where(ids_in(db, Session.patient_id, few)) if len(few) <= FEW_PATIENTS else q.where(*who)
        sessions = db.execute(q).all()
        users = dict(db.execute(select(User.id, User.display_name)).all())
        began = began_at(db, [row[0] for row in sessions[:limit]])
    rows = []
    for (sid, scheduled_at, family, given, mrn, birth_date, protocol_id, version, route, state, signed_at,
         signed_by_id) in sessions[:limit]:
        protocol = store.protocols.get(protocol_id, version)
        rows.append(RecordRow(sid, scheduled_at, _patient_name(family, given), mrn,
                              birth_date, protocol.name, route, state, STATE_LABELS[state], signed_at,
                              users.get(signed_by_id) if signed_by_id else None, protocol.rems_form,
                              began.get(sid)))
    return rows, len(sessions) > limit
