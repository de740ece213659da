"""The esketamine monitoring form (REMS): exactly the fields the form asks for
(clinical-reference.md section 9), filled from the session record, with every
field that cannot be filled flagged as missing, and the filing deadline (7 days
after the treatment date).

The form's layout (sections, order, labels) is a versioned template in
resources/templates/; this module only knows how to answer each field `key`.
Answers are taken from the record, never guessed: a field without data stays
empty and is listed as missing so staff can complete the record first (or, for a
field ketamon holds no data for, such as REMS enrolment, by hand).

Version 2 follows the REMS update of 31 Dec 2024. A session whose form was already
printed, exported or sent keeps the version of its first filing
(`template_for_session`), so a reprint matches what the REMS received.

Filing is a recorded fact (models.FormFiling, written by ops.record_print /
record_export / mark_form_sent); the status (not printed, printed not sent, sent,
overdue) is read from those rows in a fixed number of queries for any number of
sessions (`form_statuses`, `forms_to_file`). Never infer it from the audit
trail's text: its words may change, a recorded fact does not.

The form applies only to esketamine sessions: `check_form_applies` refuses the
others (FormNotApplicable) wherever the form is printed, exported or built.
"""
from __future__ import annotations

import dataclasses
import functools
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Callable

from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.orm import Session as DbSession

from ketamon.core.errors import KetamonError, NotFound
from ketamon.core.models import DoseEvent, FormFiling, Patient, Session
from ketamon.core.report import (
    EventRow,
    SessionReport,
    VitalRow,
    build_report,
    fmt_date,
    fmt_datetime,
    fmt_time,
)
from ketamon.core.resources import resource, resources_dir
from ketamon.core.store import Store, ids_in

TEMPLATE_PREFIX = "esketamine-monitoring-form-v"
MINIMUM_MINUTES = 120


# ---------------------------------------------------------------- the template


@dataclass(frozen=True)
class TemplateField:
    key: str
    label: str
    required: bool = True


@dataclass(frozen=True)
class TemplateSection:
    title: str
    fields: tuple[TemplateField, ...]


@dataclass(frozen=True)
class FormTemplate:
    form: str
    version: int
    title: str
    subtitle: str
    deadline_days: int
    sections: tuple[TemplateSection, ...]
    source: str = ""
    #: what the version follows, e.g. "REMS update 2024-12-31" (printed with the version)
    revision: str = ""

    @property
    def version_text(self) -> str:
        """E.g. "Form template v2 (REMS update 2024-12-31)", printed on every page."""
        return f"Form template v{self.version}" + (f" ({self.revision})" if self.revision else "")


class TemplateError(ValueError):
    pass


def template_versions() -> list[int]:
    """The monitoring-form template versions shipped (resources/templates), oldest first."""
    return list(_versions_in(resources_dir() / "templates"))


@functools.lru_cache(maxsize=4)
def _versions_in(folder: Path) -> tuple[int, ...]:
    """Read once per folder: the templates ship with the app (the Records page asked
    for every form-required row, a glob of the folder each: a third of a search)."""
    out = []
    for path in folder.glob(f"{TEMPLATE_PREFIX}*.toml"):
        tail = path.stem.removeprefix(TEMPLATE_PREFIX)
        if tail.isdigit():
            out.append(int(tail))
    return tuple(sorted(out))


def load_template(version: int | None = None) -> FormTemplate:
    """The form template of `version` (default: the newest in resources/templates).
    For one session's form use `template_for_session`: a form already filed keeps
    its version."""
    if version is None:
        versions = template_versions()
        if not versions:
            raise TemplateError("No esketamine monitoring form template in resources/templates.")
        version = versions[-1]
    path = resource("templates", f"{TEMPLATE_PREFIX}{version}.toml")
    with open(path, "rb") as fh:
        return parse_template(tomllib.load(fh), str(path))


def parse_template(data: dict, source: str = "") -> FormTemplate:
    try:
        sections = []
        for sec in data["section"]:
            fields = []
            for f in sec["fields"]:
                if f["key"] not in FIELDS:
                    raise TemplateError(f"{source}: unknown form field {f['key']!r}; known: {', '.join(FIELDS)}")
                fields.append(TemplateField(f["key"], f["label"], bool(f.get("required", True))))
            sections.append(TemplateSection(sec["title"], tuple(fields)))
        return FormTemplate(data["form"], int(data["version"]), data["title"], data.get("subtitle", ""),
                            int(data.get("deadline_days", 7)), tuple(sections), source, data.get("revision", ""))
    except KeyError as exc:
        raise TemplateError(f"{source or 'form template'}: missing key {exc}") from None


# ---------------------------------------------------------------- the filled form


@dataclass(frozen=True)
class FormField:
    key: str
    label: str
    value: str | None  # None: missing from the record
    note: str = ""  # where the answer came from, or why it is missing
    warning: str = ""  # answered, but something a reviewer must see (e.g. < 120 min)
    required: bool = True

    @property
    def missing(self) -> bool:
        return self.required and self.value is None


@dataclass(frozen=True)
class FormSection:
    title: str
    fields: tuple[FormField, ...]


@dataclass
class MonitoringForm:
    template: FormTemplate
    session_id: int
    clinic: str
    patient_name: str
    mrn: str
    treatment_date: date | None
    deadline: date | None
    sections: list[FormSection]
    printed_by: str = ""
    printed_at: datetime | None = None
    zone: str = ""

    @property
    def fields(self) -> list[FormField]:
        return [f for s in self.sections for f in s.fields]

    @property
    def missing(self) -> list[FormField]:
        return [f for f in self.fields if f.missing]

    @property
    def warnings(self) -> list[FormField]:
        return [f for f in self.fields if f.warning]

    @property
    def complete(self) -> bool:
        return not self.missing

    def field(self, key: str) -> FormField:
        for f in self.fields:
            if f.key == key:
                return f
        raise KeyError(key)

    def as_dict(self) -> dict:
        """The export: exactly the form's fields (value None where missing)."""
        return {
            "form": self.template.form,
            "form_version": self.template.version,
            "form_revision": self.template.revision or None,
            "title": self.template.title,
            "session_id": self.session_id,
            "mrn": self.mrn,
            "treatment_date": self.treatment_date.isoformat() if self.treatment_date else None,
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "complete": self.complete,
            "missing": [f.key for f in self.missing],
            "sections": [
                {"title": s.title,
                 "fields": [{"key": f.key, "label": f.label, "value": f.value, "note": f.note or None,
                             "warning": f.warning or None, "missing": f.missing} for f in s.fields]}
                for s in self.sections
            ],
        }


def deadline_for(treatment_date: date, days: int = 7) -> date:
    """The last day the form may be filed."""
    return treatment_date + timedelta(days=days)


# ---------------------------------------------------------------- answering each field

Answer = tuple[str | None, str, str]  # value, note, warning


def _yes_no(flag: bool) -> str:
    return "Yes" if flag else "No"


def _med(key: str) -> Callable[[SessionReport], Answer]:
    def answer(r: SessionReport) -> Answer:
        from ketamon.core.models import CONCOMITANT_MEDICATIONS

        return _yes_no(CONCOMITANT_MEDICATIONS[key] in r.concomitant_medications), "from the patient record", ""
    return answer


def _devices(r: SessionReport) -> list[EventRow]:
    return [d for d in r.doses if d.kind == "nasal_device"]


def _first_device(r: SessionReport) -> datetime | None:
    devices = _devices(r)
    return min(d.at for d in devices) if devices else None


def _end_of_monitoring(r: SessionReport) -> datetime | None:
    return r.discharge.ended_at


def _bp(v: VitalRow, first: datetime | None) -> str:
    text = f"{v.systolic}/{v.diastolic} mmHg at {fmt_time(v.measured_at)}"
    if first is not None:
        minutes = round((v.measured_at - first) / timedelta(minutes=1))
        if minutes >= 0:
            text += f" ({minutes} min after first device)"
    return text


def _bp_sets(r: SessionReport) -> list[VitalRow]:
    return [v for v in r.clinical_vitals if v.systolic is not None]


def _baseline(r: SessionReport) -> VitalRow | None:
    first = _first_device(r)
    if first is None:
        return None
    pre = [v for v in _bp_sets(r) if v.measured_at <= first]
    return pre[-1] if pre else None


def _forty(r: SessionReport) -> VitalRow | None:
    """The BP closest to 40 minutes after the first device, within the protocol's
    early window before and 15 minutes after."""
    first = _first_device(r)
    if first is None:
        return None
    target = first + timedelta(minutes=40)
    early = r.chart.protocol.schedule.early_window_minutes if r.chart else 5
    lo, hi = target - timedelta(minutes=early), target + timedelta(minutes=15)
    near = [v for v in _bp_sets(r) if lo <= v.measured_at <= hi]
    return min(near, key=lambda v: abs(v.measured_at - target)) if near else None


def _completion(r: SessionReport) -> VitalRow | None:
    end, forty = _end_of_monitoring(r), _forty(r)
    if end is None:
        return None
    sets = [v for v in _bp_sets(r) if v.measured_at <= end and (forty is None or v.measured_at > forty.measured_at)]
    return sets[-1] if sets else None


def _outside(r: SessionReport, v: VitalRow) -> list[str]:
    """Values of a set outside the protocol's abnormal ranges, in words."""
    if r.chart is None:
        return []
    out = []
    for name, value in (("systolic", v.systolic), ("diastolic", v.diastolic), ("heart_rate", v.heart_rate),
                        ("spo2", v.spo2), ("resp_rate", v.resp_rate), ("temperature", v.temperature)):
        ranges = r.chart.protocol.ranges.get(name)
        if value is not None and ranges is not None and not ranges.abnormal.contains(value):
            out.append(f"{ranges.label} {value:g} (expected {ranges.abnormal.describe(ranges.unit)})")
    return out


def _acceptable_before(r: SessionReport) -> Answer:
    v = _baseline(r)
    if v is None:
        return None, "no vital signs recorded before the first device", ""
    problems = _outside(r, v)
    gate = (r.chart.protocol.rules.get("predose_gate") if r.chart else None) or {}
    if gate and v.systolic is not None and (v.systolic > gate.get("systolic", 999)
                                            or v.diastolic > gate.get("diastolic", 999)):
        problems.append(f"BP {v.bp} above {gate.get('systolic')}/{gate.get('diastolic')}")
    decisions = r.assessments_of("predose_decision")
    if not problems:
        return "Yes", f"set of {fmt_time(v.measured_at)} within the protocol's ranges", ""
    note = "; ".join(dict.fromkeys(problems))
    if decisions:
        d = decisions[-1]
        note += f"; decision to proceed recorded by {d.who} at {fmt_time(d.at)}" + (
            f" ({d.comment})" if d.comment else "")
    return "No", note, ""


def _acceptable_before_completion(r: SessionReport) -> Answer:
    end = _end_of_monitoring(r)
    if end is None:
        return None, "monitoring not completed (not discharged yet)", ""
    first = _first_device(r)
    sets = [v for v in r.clinical_vitals if v.measured_at <= end and (first is None or v.measured_at > first)]
    if not sets:
        return None, "no vital signs recorded before the end of monitoring", ""
    v = sets[-1]
    problems = _outside(r, v)
    if problems:
        return "No", f"set of {fmt_time(v.measured_at)}: " + "; ".join(problems), ""
    return "Yes", f"set of {fmt_time(v.measured_at)} within the protocol's ranges", ""


def _answer_bp(pick: Callable[[SessionReport], VitalRow | None], why_missing: str) -> Callable[[SessionReport], Answer]:
    def answer(r: SessionReport) -> Answer:
        if pick is _completion and _end_of_monitoring(r) is None:
            return None, "monitoring not completed (not discharged yet)", ""
        v = pick(r)
        return (_bp(v, _first_device(r)), "", "") if v else (None, why_missing, "")
    return answer


def _treatment_date(r: SessionReport) -> date | None:
    first = _first_device(r)
    return first.astimezone().date() if first else None


def _dose(r: SessionReport) -> Answer:
    devices = _devices(r)
    if not devices:
        return None, "no device recorded", ""
    total = sum(d_amount(r, d) for d in devices)
    planned = r.chart.protocol.dose.devices if r.chart else None
    warn = ""
    if planned and len(devices) < planned:
        warn = f"only {len(devices)} of {planned} devices recorded"
    value = f"{total:g} mg" if total in (56, 84) else f"Other: {total:g} mg"
    return value, f"{len(devices)} device(s) × 28 mg", warn


def d_amount(r: SessionReport, d: EventRow) -> float:
    if r.chart is not None:
        for e in r.chart.doses:
            if e.id == d.entry_id:
                return e.amount_mg or 0
    return 0


def _lot(r: SessionReport) -> Answer:
    lots = []
    if r.chart is not None:
        for e in r.chart.doses:
            if e.kind == "nasal_device" and e.lot_number and e.lot_number not in lots:
                lots.append(e.lot_number)
    if not lots:
        lots = list(r.lot_numbers)
    return (", ".join(lots), "", "") if lots else (None, "no lot number recorded", "")


def _monitoring_minutes(r: SessionReport) -> Answer:
    first, end = _first_device(r), _end_of_monitoring(r)
    if first is None:
        return None, "no device recorded", ""
    if end is None:
        return None, "monitoring not completed (not discharged yet)", ""
    minutes = int((end - first) / timedelta(minutes=1))
    warn = f"less than {MINIMUM_MINUTES} minutes" if minutes < MINIMUM_MINUTES else ""
    return str(minutes), f"{fmt_time(first)} to {fmt_time(end)}", warn


def _ready(r: SessionReport) -> Answer:
    at, first = r.discharge.ready_to_leave_at, _first_device(r)
    if at is None:
        return None, "not recorded at discharge", ""
    text = fmt_time(at)
    if first is not None:
        text += f" ({int((at - first) / timedelta(minutes=1))} min after first device)"
    return text, "", ""


def _sedation(r: SessionReport) -> Answer:
    scores = [e for e in r.side_effects if e.kind == "sedation" and e.score is not None]
    low = [e for e in scores if e.score <= 4]
    if low:
        worst = min(low, key=lambda e: e.score)
        return "Yes", f"lowest MOAA/S {worst.score:g} at {fmt_time(worst.at)}", ""
    if scores:
        return "No", "MOAA/S 5 at every check", ""
    return "No", "none recorded", ""


def _dissociation(r: SessionReport) -> Answer:
    rows = [e for e in r.side_effects if e.kind == "dissociation"]
    seen = [e for e in rows if e.score is None or e.score > 0]
    if seen:
        worst = max(seen, key=lambda e: e.score or 0)
        return "Yes", f"{worst.text} at {fmt_time(worst.at)}", ""
    if rows:
        return "No", "scored 0 at every check", ""
    return "No", "none recorded", ""


def _resp_depression(r: SessionReport) -> Answer:
    marked = [e for e in r.side_effects if e.kind == "respiratory_depression"]
    low = [v for v in r.clinical_vitals
           if (v.resp_rate is not None and v.resp_rate <= 8) or (v.spo2 is not None and v.spo2 <= 91)]
    if marked:
        return "Yes", f"recorded at {fmt_time(marked[0].at)}", ""
    if low:
        v = low[0]
        return "Yes", f"RR {v.resp_rate if v.resp_rate is not None else '–'}, SpO2 " \
                      f"{v.spo2 if v.spo2 is not None else '–'}% at {fmt_time(v.measured_at)}", ""
    if not any(v.spo2 is not None for v in r.clinical_vitals):
        return None, "no SpO2 recorded during the session", ""
    return "No", "none recorded; RR and SpO2 never at or below 8 /min and 91 %", ""


def _pulse_oximetry(r: SessionReport) -> Answer:
    readings = [v for v in r.clinical_vitals if v.spo2 is not None]
    if not readings:
        return None, "no SpO2 recorded during the session", ""
    lowest = min(readings, key=lambda v: v.spo2)
    return (f"Yes: {len(readings)} reading{'s' * (len(readings) != 1)}, {fmt_time(readings[0].measured_at)} "
            f"to {fmt_time(readings[-1].measured_at)}; lowest {lowest.spo2} % at {fmt_time(lowest.measured_at)}",
            "from the recorded vital signs", "")


def _not_held(why: str) -> Callable[[SessionReport], Answer]:
    """A field ketamon holds no data for: always MISSING, for the staff to complete."""
    return lambda r: (None, why, "")


#: answers that need more than the session's report (filled by `form_facts`)
FACT_FIELDS = ("first_treatment",)


FIELDS: dict[str, Callable[[SessionReport], Answer]] = {
    "patient_name": lambda r: (r.patient_name, "", ""),
    "birth_date": lambda r: (fmt_date(r.birth_date), "", ""),
    "sex": lambda r: ((r.sex.capitalize(), "", "") if r.sex and r.sex != "unknown" else (None, "not recorded", "")),
    "benzodiazepines": _med("benzodiazepines"),
    "sedative_hypnotics": _med("sedative_hypnotics"),
    "psychostimulants": _med("psychostimulants"),
    "maois": _med("maois"),
    "opioids": _med("opioids"),
    "monitoring_provider": lambda r: ((r.physician, "supervising physician", "") if r.physician
                                      else (None, "no supervising physician recorded", "")),
    "clinic": lambda r: (r.clinic, "", ""),
    "treatment_date": lambda r: ((fmt_date(_treatment_date(r)), "date of the first device", "")
                                 if _treatment_date(r) else (None, "no device recorded", "")),
    "dose": _dose,
    "lot_number": _lot,
    "monitoring_minutes": _monitoring_minutes,
    "ready_to_leave": _ready,
    "vitals_acceptable_before_dosing": _acceptable_before,
    "vitals_acceptable_before_completion": _acceptable_before_completion,
    "bp_before_dosing": _answer_bp(_baseline, "no blood pressure recorded before the first device"),
    "bp_40_minutes": _answer_bp(_forty, "no blood pressure recorded 35–55 minutes after the first device"),
    "bp_before_completion": _answer_bp(_completion, "no blood pressure recorded after the 40-minute reading"),
    "sedation": _sedation,
    "dissociation": _dissociation,
    "respiratory_depression": _resp_depression,
    # since the REMS update of 31 Dec 2024 (template v2)
    "rems_enrolment": _not_held("ketamon does not hold REMS enrolment: complete by hand"),
    "first_treatment": _not_held("earlier treatments not looked up"),  # answered by form_facts
    "pulse_oximetry": _pulse_oximetry,
    "serious_adverse_event": _not_held("ketamon does not classify serious adverse events: "
                                       "the monitoring provider completes this"),
}


def form_from_report(report: SessionReport, template: FormTemplate | None = None, *,
                     store: Store | None = None, facts: dict[str, Answer] | None = None) -> MonitoringForm:
    """The form filled from a report. Given `store`, the template is the one the
    session's form was filed with (`template_for_session`) and the answers that
    need more than the report (`FACT_FIELDS`) are looked up."""
    if store is not None:
        template = template or template_for_session(store, report.session_id)
        facts = facts if facts is not None else form_facts(store, report.session_id)
    template = template or load_template()
    facts = facts or {}
    sections = []
    for sec in template.sections:
        filled = []
        for tf in sec.fields:
            value, note, warning = facts[tf.key] if tf.key in facts else FIELDS[tf.key](report)
            filled.append(FormField(tf.key, tf.label, value, note, warning, tf.required))
        sections.append(FormSection(sec.title, tuple(filled)))
    treatment = _treatment_date(report)
    return MonitoringForm(template, report.session_id, report.clinic, report.patient_name, report.mrn, treatment,
                          deadline_for(treatment, template.deadline_days) if treatment else None, sections,
                          report.printed_by, report.printed_at, report.zone)


def build_form(store: Store, session_id: int, *, printed_by: str = "", now: datetime | None = None,
               template: FormTemplate | None = None) -> MonitoringForm:
    """The monitoring form for one esketamine session, filled from its record, in
    the version it was filed with (the newest if not filed yet). Refused with
    `FormNotApplicable` for a session that is not esketamine."""
    require_form(store, session_id)
    return form_from_report(build_report(store, session_id, printed_by=printed_by, now=now), template,
                            store=store)


# ---------------------------------------------------------------- where the form applies


class FormNotApplicable(KetamonError):
    """The monitoring form was asked for a session that is not esketamine."""


def form_required(store: Store, session_id: int) -> bool:
    """Whether the session's protocol asks for the monitoring form (esketamine)."""
    with store.read() as db:
        s = db.get(Session, session_id)
        if s is None:
            raise KeyError(session_id)
    return store.protocols.get(s.protocol_id, s.protocol_version).rems_form


def not_applicable_text(session_id: int, drug: str, route: str) -> str:
    return (f"Session {session_id} is {route.upper()} {drug}; the SPRAVATO® REMS monitoring form applies only "
            "to esketamine sessions.")


def check_form_applies(store: Store, session: Session) -> None:
    """Refuse (FormNotApplicable) the form for a session whose protocol does not ask
    for it. Called by the print and export operations and by `build_form`, so no
    caller (GUI, CLI, script) can print a REMS form for an IV ketamine session."""
    protocol = store.protocols.get(session.protocol_id, session.protocol_version)
    if not protocol.rems_form:
        raise FormNotApplicable(not_applicable_text(session.id, protocol.drug, protocol.route))


def require_form(store: Store, session_id: int) -> None:
    with store.read() as db:
        s = db.get(Session, session_id)
        if s is None:
            raise NotFound(f"There is no session {session_id}.")
        check_form_applies(store, s)


# ---------------------------------------------------------------- the version a session's form follows


@functools.lru_cache(maxsize=16)
def _template_cached(version: int) -> FormTemplate:
    return load_template(version)


def filed_version(db: DbSession, session_id: int) -> int | None:
    """The template version of the session's first filing (None: never filed)."""
    return db.scalar(select(FormFiling.template_version).where(FormFiling.session_id == session_id)
                     .order_by(FormFiling.at, FormFiling.id).limit(1))


def version_for_filing(db: DbSession, session_id: int) -> int:
    """The version a new print/export/sending of the session's form follows: the
    one it was first filed with, else the newest template."""
    version = filed_version(db, session_id)
    return version if version is not None else template_versions()[-1]


def template_for_session(store: Store, session_id: int) -> FormTemplate:
    with store.read() as db:
        version = filed_version(db, session_id)
    return load_template(version) if version is not None else load_template()


def form_facts(store: Store, session_id: int) -> dict[str, Answer]:
    """Answers the report alone cannot give: whether an earlier esketamine
    treatment of the patient is recorded (a device given in an earlier session).
    None found is not "first treatment": the patient may have been treated
    elsewhere, so the field stays MISSING with a note for the staff."""
    with store.read() as db:
        s = db.get(Session, session_id)
        first_here = db.scalar(select(func.min(DoseEvent.at)).where(
            DoseEvent.session_id == session_id, DoseEvent.kind == "nasal_device"))
        before = first_here or s.scheduled_at
        earlier = db.scalar(
            select(func.min(DoseEvent.at)).join(Session, Session.id == DoseEvent.session_id)
            .where(Session.patient_id == s.patient_id, Session.id != session_id,
                   DoseEvent.kind == "nasal_device", DoseEvent.retracted.is_(False), DoseEvent.at < before))
    if earlier is not None:
        return {"first_treatment": ("No", f"earlier treatment on {fmt_date(earlier.astimezone().date())}", "")}
    return {"first_treatment": (None, "no earlier treatment recorded in ketamon: confirm with the patient", "")}


# ---------------------------------------------------------------- status for the sessions list


@dataclass(frozen=True)
class FormStatus:
    """The monitoring form at a glance, for the staff's sessions list and the
    queue of forms to file. Computed from the filing rows (FormFiling), never from
    the audit trail's text."""

    session_id: int
    required: bool
    treatment_date: date | None = None
    deadline: date | None = None
    #: labels of missing fields; None where not worked out (the list's batch query)
    missing: tuple[str, ...] | None = None
    printed_at: datetime | None = None  # last print or export of the form
    today: date | None = None
    sent_at: datetime | None = None
    sent_how: str = ""
    sent_reference: str = ""
    version: int | None = None  # the template version filed (None: not filed yet)
    patient_name: str = ""
    mrn: str = ""

    @property
    def days_left(self) -> int | None:
        if self.deadline is None or self.today is None:
            return None
        return (self.deadline - self.today).days

    @property
    def state(self) -> str:
        """"not printed", "printed, not sent" or "sent"."""
        if self.sent_at is not None:
            return "sent"
        return "printed, not sent" if self.printed_at is not None else "not printed"

    @property
    def done(self) -> bool:
        """Sent to the REMS (recorded with `ops.mark_form_sent`)."""
        return self.sent_at is not None

    @property
    def overdue(self) -> bool:
        return not self.done and self.days_left is not None and self.days_left < 0

    @property
    def due_text(self) -> str:
        """E.g. "due 27 Nov 2026 (6 days)", "due 20 Nov 2026 (OVERDUE)"."""
        left = self.days_left
        when = f"due {fmt_date(self.deadline)}"
        if left is not None:
            when += " (OVERDUE)" if left < 0 else " (today)" if left == 0 else f" ({left} day{'s' * (left != 1)})"
        return when

    @property
    def text(self) -> str:
        """E.g. 'Form due 27 Nov 2026 (6 days) · not printed · 3 missing'."""
        if not self.required:
            return ""
        if self.treatment_date is None:
            return "Form after dosing"
        if self.done:
            return f"Form sent {fmt_datetime(self.sent_at)}" + (f" by {self.sent_how}" if self.sent_how else "")
        if self.printed_at is not None:
            text = f"Form printed {fmt_date(self.printed_at)}, not sent · {self.due_text}"
        else:
            text = f"Form {self.due_text} · not printed"
        if self.missing:
            text += f" · {len(self.missing)} missing"
        elif self.missing is not None and self.printed_at is None:
            text += " · ready to print"
        return text


def _current_devices(sessions) -> Select:
    """First nasal device per session, of entries still in force (not retracted,
    not superseded by a correction); `sessions` says which (a clause on
    DoseEvent.session_id)."""
    superseded = select(DoseEvent.supersedes_id).where(DoseEvent.supersedes_id.is_not(None))
    return (select(DoseEvent.session_id, func.min(DoseEvent.at).label("first"))
            .where(DoseEvent.kind == "nasal_device", DoseEvent.retracted.is_(False),
                   DoseEvent.id.not_in(superseded), sessions)
            .group_by(DoseEvent.session_id))


def form_statuses(store: Store, session_ids, now: datetime | None = None) -> dict[int, FormStatus]:
    """The form status of many sessions in three queries whatever their number
    (sessions, first devices, filings): for a page of the Records list. Missing
    fields are not worked out here (that takes a full report per session): see
    `form_status` for one session."""
    now = now or store.clock.now()
    today = now.astimezone().date()
    ids = sorted(set(session_ids))
    if not ids:
        return {}
    with store.read() as db:
        sessions = db.execute(select(Session.id, Session.protocol_id, Session.protocol_version,
                                     Patient.family_name, Patient.given_name, Patient.mrn)
                              .join(Patient, Patient.id == Session.patient_id)
                              .where(ids_in(db, Session.id, ids))).all()
        rems = {s.id for s in sessions if store.protocols.get(s.protocol_id, s.protocol_version).rems_form}
        firsts = dict(db.execute(_current_devices(ids_in(db, DoseEvent.session_id, sorted(rems)))).all()) \
            if rems else {}
        filings = db.scalars(select(FormFiling).where(ids_in(db, FormFiling.session_id, sorted(rems)))
                             .order_by(FormFiling.at, FormFiling.id)).all() if rems else []
    newest = (template_versions() or [None])[-1] if rems else None
    by_session: dict[int, list[FormFiling]] = {}
    for f in filings:
        by_session.setdefault(f.session_id, []).append(f)
    out = {}
    for s in sessions:
        if s.id not in rems:
            out[s.id] = FormStatus(s.id, False)
            continue
        rows = by_session.get(s.id, [])
        version = rows[0].template_version if rows else None
        first = firsts.get(s.id)
        treatment = first.astimezone().date() if first else None
        days = _template_cached(version if version is not None else newest).deadline_days
        printed = [f.at for f in rows if f.action in ("printed", "exported")]
        sent = [f for f in rows if f.action == "sent"]
        out[s.id] = FormStatus(
            s.id, True, treatment, deadline_for(treatment, days) if treatment else None, None,
            printed[-1] if printed else None, today,
            sent[-1].at if sent else None, sent[-1].how if sent else "", sent[-1].reference if sent else "",
            version, f"{s.family_name.upper()}, {s.given_name}", s.mrn)
    return out


def form_status(store: Store, session_id: int, now: datetime | None = None) -> FormStatus:
    """One session's form status, with its missing fields (one record read)."""
    now = now or store.clock.now()
    status = form_statuses(store, [session_id], now).get(session_id)
    if status is None:
        raise KeyError(session_id)
    if not status.required:
        return status
    form = build_form(store, session_id, now=now)
    return dataclasses.replace(status, missing=tuple(f.label for f in form.missing))


#: at most this many forms in the queue (the oldest overdue first)
QUEUE_LIMIT = 200


def forms_to_file(store: Store, now: datetime | None = None, limit: int = QUEUE_LIMIT) -> list[FormStatus]:
    """Every esketamine form still to send, across all sessions (a device given,
    no "sent" filing), due soonest first: overdue ones at the top. A fixed number
    of queries, whatever the number of sessions."""
    rems_keys = [(p.id, p.version) for p in _all_protocols(store) if p.rems_form]
    if not rems_keys:
        return []
    with store.read() as db:
        firsts = _current_devices(DoseEvent.session_id.in_(select(Session.id).where(
            tuple_(Session.protocol_id, Session.protocol_version).in_(rems_keys)))).subquery()
        sent = select(FormFiling.session_id).where(FormFiling.action == "sent")
        ids = db.scalars(select(firsts.c.session_id).where(firsts.c.session_id.not_in(sent))
                         .order_by(firsts.c.first, firsts.c.session_id).limit(limit)).all()
    statuses = form_statuses(store, ids, now)
    return sorted(statuses.values(), key=lambda st: (st.deadline or date.max, st.session_id))


def _all_protocols(store: Store):
    """Every protocol version the registry knows (a session keeps its version)."""
    return list(store.protocols._by_key.values())  # noqa: SLF001 (no public listing of all versions)
