"""The session summary as plain data: what the printed summary, the CSV and the
monitoring form show, assembled once from the stored record.

Pure data, no Qt: `ketamon.gui.printing` lays it out on paper. Parts of the
record that do not exist yet (no discharge score, not signed, no addenda) are
None or empty here and print as "not recorded" / "NOT SIGNED"; nothing is
invented to fill a gap. Times stay aware UTC; `local()` and friends format them
in the clinic's zone for people.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from datetime import date, datetime, timedelta
from typing import Any, Callable, NamedTuple

from sqlalchemy import select

from ketamon.core import dosing, formats
from ketamon.core.alerts import closed_as_void
from ketamon.core.device_sets import device_verdicts
from ketamon.core.chart import Chart, describe_dose, describe_side_effect, describe_vitals, load_chart, score_news2
from ketamon.core.rules import news2_carry_minutes
from ketamon.core.clock import to_local
from ketamon.core.lifecycle import STATE_LABELS
from ketamon.core.models import (
    CONCOMITANT_MEDICATIONS,
    CONTRAINDICATIONS,
    SIDE_EFFECT_KINDS,
    Addendum,
    Assessment,
    DoseEvent,
    Note,
    SideEffect,
    StateChange,
    User,
    VitalSigns,
)
from ketamon.core.permissions import ROLE_LABELS
from ketamon.core.store import Store

DEFAULT_CLINIC_NAME = "Ketamine Treatment Clinic"  # = the declared default of settings "clinic_name"

ROUTE_LABELS = {"nasal": "Intranasal (nasal spray)", "iv": "Intravenous infusion", "im": "Intramuscular injection"}

#: assessment kind -> (label, maximum total or None)
ASSESSMENT_KINDS: dict[str, tuple[str, float | None]] = {
    "phq9": ("PHQ-9", 27),
    "phq9_followup": ("PHQ-9 item 9 follow-up", None),
    "aldrete": ("Modified Aldrete score", 10),
    "padss": ("PADSS", 10),
    "predose_checklist": ("Pre-dose checklist", None),
    "predose_decision": ("Pre-dose decision", None),
    "discharge_checklist": ("Discharge checklist", None),
    "discharge": ("Discharge", None),
}

PHQ9_BANDS = ((4, "minimal"), (9, "mild"), (14, "moderate"), (19, "moderately severe"), (27, "severe"))


def clinic_name(db_or_store=None) -> str:
    """The clinic's name for printed headers (clinic setting "clinic_name"; without a
    database, this workstation's KETAMON_CLINIC_NAME)."""
    from ketamon.core import settings

    return settings.clinic_value(db_or_store, "clinic_name")


# ---------------------------------------------------------------- formatting


def local(when: datetime | None) -> datetime | None:
    return to_local(when)


def fmt_time(when: datetime | None) -> str:
    return formats.clock_time(when) if when else "–"


def fmt_datetime(when: datetime | None) -> str:
    return to_local(when).strftime("%d %b %Y %H:%M") if when else "–"


def fmt_date(day: date | datetime | None) -> str:
    if day is None:
        return "–"
    if isinstance(day, datetime):
        day = to_local(day).date()
    return day.strftime("%d %b %Y")


def zone_label(when: datetime) -> str:
    """E.g. 'CET (UTC+01:00)': printed so a reader knows which clock the times use."""
    lt = to_local(when)
    off = lt.strftime("%z")
    return f"{lt.tzname()} (UTC{off[:3]}:{off[3:]})"


def _num(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:g}"


# ---------------------------------------------------------------- NEWS2 (owned by the alerts work)


def news2_column(vitals: list[VitalSigns], scores: dict[int, Any]) -> list[str | None]:
    """NEWS2 per set as printed ("3", "5*" where the temperature was carried from
    an earlier set, None without a complete set). `scores` is the chart's
    (Chart.news2): scored once, with the session's protocol, as the screen shows them."""
    out: list[str | None] = []
    for v in vitals:
        score = scores.get(v.id)
        out.append(None if score is None else f"{score.total}" + ("*" if score.carried else ""))
    return out


# ---------------------------------------------------------------- the model


@dataclass(frozen=True)
class Item:
    label: str
    value: str


class VitalRow(NamedTuple):
    """One vital-sign set in force as the report lists it. A named tuple, not a
    frozen dataclass: a 12-hour 1 Hz session makes 43 200 of them, and a frozen
    dataclass sets each of its 20 fields through object.__setattr__ (~4 µs a row)."""

    entry_id: int
    measured_at: datetime
    entered_at: datetime
    who: str
    systolic: int | None
    diastolic: int | None
    mean_arterial: int | None
    mean_measured: bool
    heart_rate: int | None
    spo2: int | None
    resp_rate: int | None
    temperature: float | None
    on_oxygen: bool | None
    consciousness: str | None
    source: str
    comment: str | None
    late: bool
    corrected: bool
    correction_reason: str | None
    news2: str | None = None  # e.g. "3", "3*" (temperature carried), None
    #: a device set's verdict: "validated" or "artefact" (None: not validated, or typed), and who said it when
    verdict: str | None = None
    verdict_note: str | None = None

    @property
    def bp(self) -> str:
        return f"{self.systolic}/{self.diastolic}" if self.systolic is not None else "–"

    @property
    def marks(self) -> str:
        """Short marks for the table: L late, C corrected, D device (V validated, A artefact)."""
        return "".join(m for m, on in (("L", self.late), ("C", self.corrected), ("D", self.source == "device"),
                                       ("V", self.verdict == "validated"), ("A", self.verdict == "artefact")) if on)


@dataclass(frozen=True)
class EventRow:
    """A dose event, side effect or note as it is in force."""

    entity: str
    entry_id: int
    at: datetime
    entered_at: datetime
    who: str
    kind: str
    text: str
    late: bool = False
    corrected: bool = False
    correction_reason: str | None = None
    scale: str | None = None
    score: float | None = None


@dataclass(frozen=True)
class CorrectionRow:
    """One correction or retraction: what was replaced, by what, why, by whom."""

    entity: str
    at: datetime  # when the original happened
    entered_at: datetime  # when the correction was typed
    who: str
    original: str
    replacement: str  # "Entered in error" for a retraction
    reason: str


@dataclass(frozen=True)
class AlertRow:
    alert_id: int
    raised_at: datetime
    priority: str
    category: str
    message: str
    cleared_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    escalated_at: datetime | None
    reviewed_at: datetime | None
    reviewed_by: str | None
    review_comment: str | None
    source_kind: str | None = None
    source_id: int | None = None

    @property
    def mark(self) -> str:
        return {"high": "***", "medium": "**", "low": "*"}.get(self.priority, "")

    @property
    def entered_in_error(self) -> bool:
        """Closed because the reading it quoted was entered in error, or was a device
        set marked artefact (core.alerts.VOID_CLOSURES: review_comment says which)."""
        return closed_as_void(self.review_comment)

    @property
    def acknowledgement(self) -> str:
        if self.acknowledged_at is None:
            return self.review_comment if self.entered_in_error else "Not acknowledged"
        return f"Acknowledged {fmt_time(self.acknowledged_at)} by {self.acknowledged_by or '–'}"

    @property
    def review(self) -> str:
        if self.reviewed_at is None:
            return "Not reviewed"
        if self.entered_in_error:
            return f"{self.review_comment} ({self.reviewed_by or '–'}, {fmt_time(self.reviewed_at)})"
        text = f"Reviewed {fmt_time(self.reviewed_at)} by {self.reviewed_by or '–'}"
        return text + (f": {self.review_comment}" if self.review_comment else "")


@dataclass(frozen=True)
class AssessmentRow:
    entry_id: int
    kind: str
    label: str
    at: datetime
    who: str
    total: float | None
    maximum: float | None
    items: tuple[Item, ...]
    comment: str | None
    corrected: bool = False
    raw_items: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def total_text(self) -> str:
        if self.total is None:
            return "–"
        text = f"{self.total:g}" + (f" / {self.maximum:g}" if self.maximum else "")
        if self.kind == "phq9":
            text += f" ({phq9_band(self.total)})"
        return text

    @property
    def flags(self) -> list[str]:
        """Findings that need someone's attention, in words."""
        out = []
        if self.kind == "phq9":
            item9 = phq9_item(self.raw_items, 9)
            if item9:
                out.append(f"PHQ-9 item 9 (self-harm) answered {item9}: needs follow-up")
        return out


@dataclass(frozen=True)
class StateRow:
    at: datetime
    from_state: str
    to_state: str
    who: str
    reason: str | None

    @property
    def text(self) -> str:
        label = lambda state: STATE_LABELS.get(state, state)  # noqa: E731
        return f"{label(self.from_state)} → {label(self.to_state)}"


@dataclass(frozen=True)
class AddendumRow:
    at: datetime
    author: str
    reason: str
    text: str


@dataclass(frozen=True)
class Discharge:
    score_kind: str  # aldrete | padss
    score_label: str
    threshold: int
    assessment: AssessmentRow | None
    checklist: AssessmentRow | None
    discharged_at: datetime | None
    stopped_at: datetime | None  # stopped early: monitoring ended here
    ready_to_leave_at: datetime | None
    monitoring_from: datetime | None
    minimum_minutes: float

    @property
    def ended_at(self) -> datetime | None:
        """End of monitoring: discharge, or the early stop."""
        return self.discharged_at or self.stopped_at

    @property
    def monitored_minutes(self) -> int | None:
        if self.monitoring_from is None or self.ended_at is None:
            return None
        return int((self.ended_at - self.monitoring_from) / timedelta(minutes=1))

    @property
    def minimum_met(self) -> bool | None:
        m = self.monitored_minutes
        return None if m is None else m >= self.minimum_minutes

    @property
    def score_passed(self) -> bool | None:
        if self.assessment is None or self.assessment.total is None:
            return None
        return self.assessment.total >= self.threshold


@dataclass(frozen=True)
class Signature:
    signed_at: datetime | None
    signed_by: str | None

    @property
    def signed(self) -> bool:
        return self.signed_at is not None

    @property
    def text(self) -> str:
        if not self.signed:
            return "NOT SIGNED"
        return f"Signed by {self.signed_by or '–'} at {fmt_datetime(self.signed_at)}"


@dataclass(frozen=True)
class ChartMark:
    """A dose event or side effect drawn on the BP/HR chart."""

    at: datetime
    label: str
    kind: str  # dose | side_effect


@dataclass
class SessionReport:
    clinic: str
    session_id: int
    printed_by: str
    printed_at: datetime
    # patient
    patient_name: str
    mrn: str
    birth_date: date
    sex: str
    age: int
    weight_kg: float | None
    allergies: str
    contraindications: list[str]
    concomitant_medications: list[str]
    # session
    session_start: datetime  # first dose, else scheduled time
    scheduled_at: datetime
    protocol_name: str
    protocol_key: str
    drug: str
    route: str
    route_label: str
    planned_dose_mg: float | None
    dose_weight_kg: float | None
    dose_text: str
    given_mg: float
    lot_numbers: list[str]
    nurse: str | None
    physician: str | None
    state: str
    state_label: str
    state_reason: str | None
    first_dose_at: datetime | None
    dose_end_at: datetime | None
    # record (the vital-sign sets: `vitals`, below: every set in force, device sets
    # marked artefact included, listed, marked "A", NEWS2 blank; the figures use
    # `clinical_vitals`)
    doses: list[EventRow]
    side_effects: list[EventRow]
    notes: list[EventRow]
    assessments: list[AssessmentRow]
    alerts: list[AlertRow]
    corrections: list[CorrectionRow]
    states: list[StateRow]
    discharge: Discharge
    signature: Signature
    addenda: list[AddendumRow]
    chart_marks: list[ChartMark]
    news2_available: bool = False
    #: the loaded chart, for exports that need the ORM rows (not for printing)
    chart: Chart | None = field(default=None, repr=False, compare=False)
    #: every stored row by entity but the vital-sign sets, superseded and retractions included (exports)
    entity_rows: dict[str, list] = field(default_factory=dict, repr=False, compare=False)
    #: the stored vital-sign sets, as read (`vitals`, `all_rows` and `vitals_for_print` make rows of them)
    sets: _StoredSets | None = field(default=None, repr=False, compare=False)
    #: state changes and addenda as stored (exports)
    state_changes: list[StateChange] = field(default_factory=list, repr=False, compare=False)
    users: dict[int, User] = field(default_factory=dict, repr=False, compare=False)

    @cached_property
    def vitals(self) -> list[VitalRow]:
        """Every vital-sign set in force, in (measured, entered, id) order, with its NEWS2."""
        return self.sets.vital_rows() if self.sets is not None else []

    @cached_property
    def all_rows(self) -> dict[str, list]:
        """Every stored row by entity, superseded and retractions included (exports)."""
        return {"vital_signs": self.sets.stored() if self.sets is not None else [], **self.entity_rows}

    @property
    def session_date(self) -> date:
        return to_local(self.session_start).date()

    @property
    def zone(self) -> str:
        return zone_label(self.session_start)

    @property
    def header(self) -> list[Item]:
        """The summary's header block, in print order."""
        return [
            Item("Patient", self.patient_name),
            Item("MRN", self.mrn),
            Item("Date of birth", f"{fmt_date(self.birth_date)} (age {self.age})"),
            Item("Sex", self.sex.capitalize()),
            Item("Session date", fmt_date(self.session_date)),
            Item("Session", f"#{self.session_id} · {self.state_label}"
                 + (f" ({self.state_reason})" if self.state_reason and self.state in ("cancelled", "stopped") else "")),
            Item("Protocol", self.protocol_name),
            Item("Route", self.route_label),
            Item("Dose", self.dose_text),
            Item("Given", f"{self.given_mg:g} mg" if self.first_dose_at else "nothing given"),
            Item("Lot", ", ".join(self.lot_numbers) or "not recorded"),
            Item("Weight", f"{self.weight_kg:g} kg" if self.weight_kg else "not recorded"),
            Item("Charting nurse", self.nurse or "not recorded"),
            Item("Supervising physician", self.physician or "not recorded"),
            Item("Allergies", self.allergies or "none recorded"),
            Item("Concomitant medicines", ", ".join(self.concomitant_medications) or "none recorded"),
        ]

    @property
    def clinical_vitals(self) -> list[VitalRow]:
        """The sets the patient's figures use: `vitals` without the device sets a
        nurse marked artefact (ketamon.core.in_force)."""
        return [v for v in self.vitals if v.verdict != "artefact"]

    def vitals_for_print(self, every_minutes: int = 5, max_rows: int = 200) -> tuple[list[VitalRow], str | None]:
        """The sets a printed summary lists, and a note when device readings were
        thinned. Every manual, corrected or commented set prints, and every device
        set a nurse validated or marked artefact, and every NIBP measurement (while
        they fit in `max_rows`); the rest of a device feed (e.g. 1 Hz for hours)
        prints one reading per `every_minutes` once the table would exceed
        `max_rows`. The exports always hold every reading.

        Thinned first, then made into rows and scored: only the printed sets (and
        the temperatures their NEWS2 carries) are converted, and each printed
        NEWS2 is the one the chart shows for that set."""
        key = (every_minutes, max_rows)
        cache = self.__dict__.setdefault("_printed", {})
        if key not in cache:
            cache[key] = self._vitals_for_print(every_minutes, max_rows)
        rows, note = cache[key]
        return list(rows), note

    def _vitals_for_print(self, every_minutes: int, max_rows: int) -> tuple[list[VitalRow], str | None]:
        sets = self.sets
        if sets is None or len(sets.in_force) <= max_rows:
            return list(self.vitals), None
        keep, scored, device = sets.thin(every_minutes, max_rows)
        shown = sum(1 for r in keep if r[_SOURCE] == "device" and r[_SUPERSEDES] is None and not r[_COMMENT])
        rows = sets.vital_rows(keep, scored)
        if shown == device:
            return rows, None
        return rows, (f"{device} device readings were recorded; those validated or marked artefact, the NIBP "
                      f"measurements and one per {every_minutes} min ({shown}) are printed. "
                      "Every reading is in the CSV and FHIR exports.")

    def assessments_of(self, kind: str) -> list[AssessmentRow]:
        return [a for a in self.assessments if a.kind == kind]


def phq9_band(total: float) -> str:
    for upper, label in PHQ9_BANDS:
        if total <= upper:
            return label
    return PHQ9_BANDS[-1][1]


def phq9_item(items: dict[str, Any], number: int) -> Any:
    """An item's answer whatever the key style ("9", "item9", "q9", "phq9_9")."""
    for key, value in (items or {}).items():
        digits = "".join(ch for ch in str(key).rsplit("_", 1)[-1] if ch.isdigit())
        if digits and int(digits) == number:
            return value
    return None


def _item_value(value: Any) -> str:
    if value is True:
        return "Yes"
    if value is False:
        return "No"
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_item_value(v) for v in value) or "–"
    if isinstance(value, dict):
        return "; ".join(f"{_item_label(k)}: {_item_value(v)}" for k, v in value.items())
    return str(value)


def _item_label(key: str) -> str:
    text = str(key).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _split(rows: list) -> tuple[list, dict[int, Any]]:
    """(rows in force, {superseded id: the row that replaced it})."""
    replaced_by = {r.supersedes_id: r for r in rows if r.supersedes_id is not None}
    return [r for r in rows if r.id not in replaced_by and not r.retracted], replaced_by


def verdict_words(verdict) -> tuple[str | None, str | None]:
    """(kind, "validated by Sam Carter RN 09:12") of a device set's verdict, or (None, None)."""
    if verdict is None:
        return None, None
    said = "validated" if verdict.verdict == "validated" else f"artefact ({verdict.reason})"
    return verdict.verdict, f"{said} by {verdict.by} {fmt_time(verdict.at)}"


#: where each column is in a stored set's row (`stored_vitals` order)
_COLUMN = {c.key: i for i, c in enumerate(VitalSigns.__table__.c)}
_ID, _MEASURED, _SOURCE = _COLUMN["id"], _COLUMN["measured_at"], _COLUMN["source"]
_SUPERSEDES, _RETRACTED, _COMMENT = _COLUMN["supersedes_id"], _COLUMN["retracted"], _COLUMN["comment"]
_SYSTOLIC, _TEMPERATURE = _COLUMN["systolic"], _COLUMN["temperature"]


class _StoredSets:
    """A session's stored vital-sign sets as the database gave them (see
    `stored_vitals.stored_vitals_raw`: on SQLite, times still text), read once
    when the report is built. Rows with typed values, names, verdicts and NEWS2
    are made only for the sets asked for: a 12-hour 1 Hz session has 43 200 sets
    and its printout lists a few hundred."""

    def __init__(self, rows: list[tuple], parse: Callable[[tuple], Any], named: dict[int, str],
                 verdicts: dict[int, Any], carry_minutes: float):
        self.rows, self.parse, self.named, self.verdicts = rows, parse, named, verdicts
        self.carry_minutes = carry_minutes
        #: the device sets a nurse marked artefact: listed, neither scored nor carried from
        self.artefacts = {vid for vid, verdict in verdicts.items() if verdict.verdict == "artefact"}
        #: {superseded id: the row that replaced it}, as stored
        self.replaced = {r[_SUPERSEDES]: r for r in rows if r[_SUPERSEDES] is not None}
        replaced = self.replaced
        #: the sets in force, as stored, in (measured, entered, id) order
        self.in_force = [r for r in rows if not r[_RETRACTED] and r[_ID] not in replaced]

    def stored(self) -> list:
        """Every stored set (corrections and retractions included) as typed rows."""
        return list(map(self.parse, self.rows))

    def vital_rows(self, wanted: list[tuple] | None = None, scored: list[tuple] | None = None) -> list[VitalRow]:
        """`wanted` (default every set in force) as the report's rows. NEWS2 is
        scored over `scored` (default `wanted`): sets in force, in order, holding
        each wanted set and the last set with a temperature before it, so a set
        scores as it does among all the sets (`chart.score_news2`)."""
        wanted = self.in_force if wanted is None else wanted
        parse = self.parse
        typed = list(map(parse, wanted))
        scoring = typed if scored is None else list(map(parse, scored))
        if self.artefacts:  # out of the clinical figures (ketamon.core.in_force): NEWS2 blank
            scoring = [v for v in scoring if v.id not in self.artefacts]
        news2 = score_news2(scoring, self.carry_minutes)
        named, verdicts = self.named, self.verdicts
        out = []
        for v in typed:
            score = news2.get(v.id)
            out.append(VitalRow(
                v.id, v.measured_at, v.entered_at, named.get(v.entered_by_id, "–"), v.systolic, v.diastolic,
                v.mean_arterial, v.mean_measured, v.heart_rate, v.spo2, v.resp_rate, v.temperature, v.on_oxygen,
                v.consciousness, v.source, v.comment, v.late, v.supersedes_id is not None, v.correction_reason,
                None if score is None else f"{score.total}" + ("*" if score.carried else ""),
                *verdict_words(verdicts.get(v.id))))
        return out

    def thin(self, every_minutes: int, max_rows: int) -> tuple[list[tuple], list[tuple], int]:
        """(the sets in force a printout lists, as stored; the sets to score them
        over; how many routine device sets there were): see
        `SessionReport.vitals_for_print`."""
        in_force, verdicts, artefacts = self.in_force, self.verdicts, self.artefacts
        nibp = sum(1 for r in in_force if r[_SOURCE] == "device" and r[_SYSTOLIC] is not None) <= max_rows // 2
        bucket_of = _bucket_key(in_force[0][_MEASURED], every_minutes) if in_force else None
        keep: list[tuple] = []
        scored: list[tuple] = []
        buckets: set = set()
        device = 0
        last_temp, last_temp_scored = None, True
        for r in in_force:
            if (r[_SOURCE] != "device" or r[_SUPERSEDES] is not None or r[_COMMENT] or r[_ID] in verdicts
                    or (nibp and r[_SYSTOLIC] is not None)):
                pass
            else:
                device += 1
                bucket = bucket_of(r[_MEASURED])
                if bucket in buckets:
                    if r[_TEMPERATURE] is not None and r[_ID] not in artefacts:
                        last_temp, last_temp_scored = r, False
                    continue
                buckets.add(bucket)
            keep.append(r)
            if r[_TEMPERATURE] is not None and r[_ID] not in artefacts:
                last_temp, last_temp_scored = r, True
            elif not last_temp_scored:  # its NEWS2 may carry that temperature
                scored.append(last_temp)
                last_temp_scored = True
            scored.append(r)
        return keep, scored, device


def _bucket_key(sample: Any, every_minutes: int) -> Callable[[Any], Any]:
    """The function giving a stored set's measured time its `every_minutes` slot
    (slots counted from the epoch, UTC, as int(timestamp // (every_minutes*60))
    counts them). SQLite's text "YYYY-MM-DD HH:MM:SS.ffffff" is cut, not parsed,
    when the slots divide an hour."""
    if isinstance(sample, str) and 60 % every_minutes == 0:
        return lambda text: (text[:14], int(text[14:16]) // every_minutes)
    seconds = every_minutes * 60
    if isinstance(sample, str):
        return lambda text: int(datetime.fromisoformat(text + "+00:00").timestamp() // seconds)
    return lambda when: int(when.timestamp() // seconds)


def build_report(store: Store, session_id: int, *, printed_by: str = "", now: datetime | None = None,
                 vitals: bool = True) -> SessionReport:
    """Everything the summary prints, read in one pass. `printed_by` is a display
    name for the footer (e.g. the acting user). `vitals=False`: without the vital-sign
    sets (exports stream those: `ketamon.core.stored_vitals.stored_vitals`)."""
    now = now or store.clock.now()
    chart = load_chart(store, session_id, now, vitals=False)  # the sets: read below as plain rows
    s, p, protocol = chart.session, chart.patient, chart.protocol
    with store.read() as db:
        users = {u.id: u for u in db.scalars(select(User))}
        by_id = lambda m: list(db.scalars(select(m).where(m.session_id == session_id).order_by(m.id)))
        all_doses, all_ses = by_id(DoseEvent), by_id(SideEffect)
        all_notes, all_ass = by_id(Note), by_id(Assessment)
        states = list(db.scalars(select(StateChange).where(StateChange.session_id == session_id)
                                 .order_by(StateChange.at, StateChange.id)))
        addenda = list(db.scalars(select(Addendum).where(Addendum.session_id == session_id)
                                  .order_by(Addendum.at, Addendum.id)))
    # plain rows, not ORM objects nor the chart's log lines: a 12-hour 1 Hz session has 43 200 sets
    # (as the database gives them: typed only when asked for, see _StoredSets)
    from ketamon.core.stored_vitals import stored_vitals_raw
    # in (measured_at, entered_at, id) order, as the table lists them: no sort of 43 200 sets here
    raw_vitals, parse_vitals = stored_vitals_raw(store, session_id) if vitals else ([], None)
    who = lambda uid: users[uid].display_name if uid in users else None
    name = lambda uid: who(uid) or "–"
    named = {uid: name(uid) for uid in users}  # one dict read per set, not two calls
    sets = _StoredSets(raw_vitals, parse_vitals, named, device_verdicts(store, session_id) if vitals else {},
                       news2_carry_minutes(protocol))  # scored as the screen scores them (chart.score_news2)

    # corrections (every kind of entry), paired original -> replacement
    corrections: list[CorrectionRow] = []
    replaced_sets = sets.replaced
    corrected_sets = [parse_vitals(r) for r in raw_vitals if r[_ID] in replaced_sets or r[_SUPERSEDES] is not None]
    describers: list[tuple[str, list, Callable[[Any], str], Callable[[Any], datetime]]] = [
        ("Vital signs", corrected_sets, describe_vitals, lambda r: r.measured_at),
        ("Dose", all_doses, describe_dose, lambda r: r.at),
        ("Side effect", all_ses, describe_side_effect, lambda r: r.observed_at),
        ("Note", all_notes, lambda n: n.text, lambda r: r.at),
        ("Assessment", all_ass, lambda a: _assessment_text(a), lambda r: r.at),
    ]
    for label, rows, describe, when in describers:
        _, replaced_by = _split(rows)
        by_row = {r.id: r for r in rows}
        for old_id, new in replaced_by.items():
            old = by_row.get(old_id)
            if old is None:
                continue
            corrections.append(CorrectionRow(
                label, when(old), new.entered_at, name(new.entered_by_id), describe(old),
                "Entered in error" if new.retracted else describe(new), new.correction_reason or "–"))
    corrections.sort(key=lambda c: (c.entered_at, c.at))

    doses = [EventRow("dose_event", d.id, d.at, d.entered_at, name(d.entered_by_id), d.kind, describe_dose(d),
                      d.late, d.supersedes_id is not None, d.correction_reason) for d in chart.doses]
    side_effects = [EventRow("side_effect", e.id, e.observed_at, e.entered_at, name(e.entered_by_id), e.kind,
                             describe_side_effect(e), e.late, e.supersedes_id is not None, e.correction_reason,
                             e.scale, e.score) for e in chart.side_effects]
    notes = [EventRow("note", n.id, n.at, n.entered_at, name(n.entered_by_id), "note", n.text, False,
                      n.supersedes_id is not None, n.correction_reason) for n in chart.notes]
    assessments = [_assessment_row(a, name) for a in chart.assessments]
    alerts = [AlertRow(a.id, a.raised_at, a.priority, a.category, a.message, a.cleared_at, a.acknowledged_at,
                       who(a.acknowledged_by_id), a.escalated_at, a.reviewed_at, who(a.reviewed_by_id),
                       a.review_comment, a.source_kind, a.source_id) for a in chart.alerts]
    state_rows = [StateRow(c.at, c.from_state, c.to_state, name(c.by_id), c.reason) for c in states]

    first = chart.first_dose_at
    dose_end = dosing.dose_end_at(chart.doses, s.route, protocol.dose.devices)
    discharged_at = max((c.at for c in states if c.to_state == "discharged"), default=None)
    stopped_at = max((c.at for c in states if c.to_state == "stopped"), default=None)
    score_kind = protocol.discharge_score
    latest = lambda kind: ([a for a in assessments if a.kind == kind] or [None])[-1]
    discharge = Discharge(
        score_kind, ASSESSMENT_KINDS.get(score_kind, (score_kind.upper(), None))[0], protocol.discharge_threshold,
        latest(score_kind), latest("discharge_checklist") or latest("discharge"), discharged_at, stopped_at,
        s.ready_to_leave_at, dose_end if protocol.monitoring_from == "dose_end" else first,
        protocol.minimum_monitoring_minutes)

    lots = []
    for lot in [s.lot_number] + [d.lot_number for d in chart.doses]:
        if lot and lot not in lots:
            lots.append(lot)

    marks = [ChartMark(d.at, _dose_mark(d), "dose") for d in chart.doses]
    marks += [ChartMark(e.observed_at, _side_effect_mark(e), "side_effect") for e in chart.side_effects]

    return SessionReport(
        clinic=clinic_name(store), session_id=s.id, printed_by=printed_by, printed_at=now,
        patient_name=p.display_name, mrn=p.mrn, birth_date=p.birth_date, sex=p.sex,
        age=p.age_on(to_local(first or s.scheduled_at).date()), weight_kg=s.dose_weight_kg or p.weight_kg,
        allergies=p.allergies or "",
        contraindications=[CONTRAINDICATIONS.get(k, k) for k in p.contraindications or []],
        concomitant_medications=[CONCOMITANT_MEDICATIONS.get(k, k) for k in p.concomitant_medications or []],
        session_start=first or s.scheduled_at, scheduled_at=s.scheduled_at, protocol_name=protocol.name,
        protocol_key=protocol.key, drug=protocol.drug, route=s.route, route_label=ROUTE_LABELS.get(s.route, s.route),
        planned_dose_mg=s.planned_dose_mg, dose_weight_kg=s.dose_weight_kg,
        dose_text=_dose_text(s.planned_dose_mg, s.dose_weight_kg, protocol),
        given_mg=chart.given_mg, lot_numbers=lots, nurse=who(s.nurse_id), physician=who(s.physician_id),
        state=s.state, state_label=STATE_LABELS.get(s.state, s.state), state_reason=s.state_reason,
        first_dose_at=first, dose_end_at=dose_end,
        doses=doses, side_effects=side_effects, notes=notes, assessments=assessments,
        alerts=alerts, corrections=corrections, states=state_rows, discharge=discharge,
        signature=Signature(s.signed_at, who(s.signed_by_id)),
        addenda=[AddendumRow(a.at, name(a.author_id), a.reason, a.text) for a in addenda],
        chart_marks=sorted(marks, key=lambda m: m.at), news2_available=True, chart=chart,
        sets=sets, entity_rows={"dose_event": all_doses, "side_effect": all_ses, "note": all_notes,
                  "assessment": all_ass, "addendum": addenda},
        state_changes=states, users=users,
    )


def printed_by_label(display_name: str, role: str) -> str:
    return f"{display_name} ({ROLE_LABELS.get(role, role)})"


def _dose_text(planned: float | None, weight: float | None, protocol) -> str:
    rule = protocol.dose
    if planned is None:
        return "not recorded"
    if rule.kind == "fixed" and rule.devices:
        return f"{planned:g} mg ({rule.devices} devices × {rule.mg_per_device:g} mg)"
    if rule.kind == "per_kg" and weight:
        over = f" over {rule.infusion_minutes:g} min" if rule.infusion_minutes else ""
        return f"{planned:g} mg ({rule.mg_per_kg:g} mg/kg × {weight:g} kg{over})"
    if rule.kind == "prescriber":
        return f"{planned:g} mg (prescriber's dose)"
    return f"{planned:g} mg"


def _dose_mark(d: DoseEvent) -> str:
    if d.kind == "nasal_device":
        return f"D{d.device_number}"
    if d.kind == "im_injection":
        return "IM"
    return {"infusion_start": "Start", "infusion_rate": "Rate", "infusion_pause": "Pause",
            "infusion_resume": "Resume", "infusion_stop": "Stop"}.get(d.kind, d.kind)


_SE_SHORT = {"dissociation": "Diss", "sedation": "MOAA/S", "nausea": "Naus", "vomiting": "Vom", "dizziness": "Dizzy",
             "headache": "Head", "anxiety": "Anx", "hallucinations": "Hall", "respiratory_depression": "Resp",
             "other": "Other"}


def _side_effect_mark(e: SideEffect) -> str:
    short = _SE_SHORT.get(e.kind, e.kind[:5])
    return f"{short} {e.score:g}" if e.score is not None else short


def _assessment_text(a: Assessment) -> str:
    label = ASSESSMENT_KINDS.get(a.kind, (_item_label(a.kind), None))[0]
    return label + (f": {a.total:g}" if a.total is not None else "")


def _assessment_items(kind: str, items: dict[str, Any]) -> tuple[Item, ...]:
    """Item answers in words: scored scales with their item texts, checklists with
    the labels the record uses."""
    from ketamon.core import scores

    scale = scores.SCALES_BY_KIND.get(kind)
    if scale is not None:
        prefix = kind == "phq9"
        out = []
        for n, it in enumerate(scale.items, start=1):
            pts = items.get(it.key)
            label = f"{n}. {it.label}" if prefix else it.label
            out.append(Item(label, "–" if pts is None else f"{pts} — {it.text_for(pts)}"))
        return tuple(out)
    try:
        from ketamon.core.record import DISCHARGE_ITEMS, PREDOSE_ITEMS

        labels = {**PREDOSE_ITEMS, **DISCHARGE_ITEMS}
    except ImportError:
        labels = {}
    out = []
    for key, value in items.items():
        if key.endswith("_id"):
            continue  # internal links (e.g. the PHQ-9 a follow-up belongs to)
        if key == "contraindications":
            text = ", ".join(CONTRAINDICATIONS.get(k, k) for k in value or []) or "none"
            out.append(Item("Contraindications on record", text))
        elif key == "medications":
            text = ", ".join(CONCOMITANT_MEDICATIONS.get(k, k) for k in value or []) or "none"
            out.append(Item("Concomitant medicines on record", text))
        elif key.endswith("_at") and isinstance(value, str):
            try:
                out.append(Item(_item_label(key), fmt_time(datetime.fromisoformat(value))))
            except ValueError:
                out.append(Item(_item_label(key), value))
        else:
            out.append(Item(labels.get(key, _item_label(key)), _item_value(value)))
    return tuple(out)


def _assessment_row(a: Assessment, name: Callable[[int | None], str]) -> AssessmentRow:
    label, maximum = ASSESSMENT_KINDS.get(a.kind, (_item_label(a.kind), None))
    if a.kind in ("predose_checklist", "discharge_checklist", "phq9_followup"):
        total = None  # a count of ticks, not a score
    else:
        total = a.total
    return AssessmentRow(a.id, a.kind, label, a.at, name(a.entered_by_id), total, maximum,
                         _assessment_items(a.kind, dict(a.items or {})), a.comment, a.supersedes_id is not None,
                         dict(a.items or {}))


def side_effect_label(kind: str) -> str:
    return SIDE_EFFECT_KINDS.get(kind, kind)
