"""The esketamine monitoring form (REMS): exactly the fields the form asks for
(clinical-reference.md section 9), filled from the session record, with every
field that cannot be filled flagged as missing, and the filing deadline (7 days
after the treatment date).

The form's layout (sections, order, labels) is a versioned template in
resources/templates/; this module only knows how to answer each field `key`.
Answers are taken from the record, never guessed: a field without data stays
empty and is listed as missing so staff can complete the record first.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Callable

from sqlalchemy import select

from ketamon.core.models import AuditEntry, Session
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
from ketamon.core.store import Store

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


class TemplateError(ValueError):
    pass


def template_versions() -> list[int]:
    out = []
    for path in (resources_dir() / "templates").glob(f"{TEMPLATE_PREFIX}*.toml"):
        tail = path.stem.removeprefix(TEMPLATE_PREFIX)
        if tail.isdigit():
            out.append(int(tail))
    return sorted(out)


def load_template(version: int | None = None) -> FormTemplate:
    """The form template of `version` (default: the newest in resources/templates)."""
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
                            int(data.get("deadline_days", 7)), tuple(sections), source)
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
    return [v for v in r.vitals if v.systolic is not None]


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
    sets = [v for v in r.vitals if v.measured_at <= end and (first is None or v.measured_at > first)]
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
    low = [v for v in r.vitals
           if (v.resp_rate is not None and v.resp_rate <= 8) or (v.spo2 is not None and v.spo2 <= 91)]
    if marked:
        return "Yes", f"recorded at {fmt_time(marked[0].at)}", ""
    if low:
        v = low[0]
        return "Yes", f"RR {v.resp_rate if v.resp_rate is not None else '–'}, SpO2 " \
                      f"{v.spo2 if v.spo2 is not None else '–'}% at {fmt_time(v.measured_at)}", ""
    if not any(v.spo2 is not None for v in r.vitals):
        return None, "no SpO2 recorded during the session", ""
    return "No", "none recorded; RR and SpO2 never at or below 8 /min and 91 %", ""


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
}


def form_from_report(report: SessionReport, template: FormTemplate | None = None) -> MonitoringForm:
    template = template or load_template()
    sections = []
    for sec in template.sections:
        filled = []
        for tf in sec.fields:
            value, note, warning = FIELDS[tf.key](report)
            filled.append(FormField(tf.key, tf.label, value, note, warning, tf.required))
        sections.append(FormSection(sec.title, tuple(filled)))
    treatment = _treatment_date(report)
    return MonitoringForm(template, report.session_id, report.clinic, report.patient_name, report.mrn, treatment,
                          deadline_for(treatment, template.deadline_days) if treatment else None, sections,
                          report.printed_by, report.printed_at, report.zone)


def build_form(store: Store, session_id: int, *, printed_by: str = "", now: datetime | None = None,
               template: FormTemplate | None = None) -> MonitoringForm:
    """The monitoring form for one session, filled from its record."""
    return form_from_report(build_report(store, session_id, printed_by=printed_by, now=now), template)


def form_required(store: Store, session_id: int) -> bool:
    """Whether the session's protocol asks for the monitoring form (esketamine)."""
    with store.read() as db:
        s = db.get(Session, session_id)
        if s is None:
            raise KeyError(session_id)
    return store.protocols.get(s.protocol_id, s.protocol_version).rems_form


# ---------------------------------------------------------------- status for the sessions list


@dataclass(frozen=True)
class FormStatus:
    """The monitoring form at a glance, for the staff's sessions list."""

    session_id: int
    required: bool
    treatment_date: date | None = None
    deadline: date | None = None
    missing: tuple[str, ...] = ()  # labels of missing fields
    printed_at: datetime | None = None  # last print or export of the form
    today: date | None = None

    @property
    def days_left(self) -> int | None:
        if self.deadline is None or self.today is None:
            return None
        return (self.deadline - self.today).days

    @property
    def done(self) -> bool:
        """Complete and printed or exported (ketamon cannot see the filing itself)."""
        return not self.missing and self.printed_at is not None

    @property
    def overdue(self) -> bool:
        return not self.done and self.days_left is not None and self.days_left < 0

    @property
    def text(self) -> str:
        """E.g. 'Form due 27 Nov 2026 (6 days) · 3 missing'."""
        if not self.required:
            return ""
        if self.treatment_date is None:
            return "Form after dosing"
        if self.done:
            return f"Form printed {fmt_datetime(self.printed_at)}"
        left = self.days_left
        when = f"due {fmt_date(self.deadline)}"
        if left is not None:
            when += " (OVERDUE)" if left < 0 else " (today)" if left == 0 else f" ({left} day{'s' * (left != 1)})"
        miss = f" · {len(self.missing)} missing" if self.missing else " · ready to print"
        return f"Form {when}{miss}"


def form_status(store: Store, session_id: int, now: datetime | None = None) -> FormStatus:
    """Cheap enough for a day's list (one record read per esketamine session)."""
    from ketamon.core.ops.exports import EXPORTS, PRINTS

    now = now or store.clock.now()
    if not form_required(store, session_id):
        return FormStatus(session_id, False)
    form = build_form(store, session_id, now=now)
    with store.read() as db:
        printed = db.scalar(select(AuditEntry.at).where(
            AuditEntry.session_id == session_id,
            ((AuditEntry.action == "print") & AuditEntry.detail.startswith(PRINTS["form"]))
            | ((AuditEntry.action == "export") & AuditEntry.detail.startswith(EXPORTS["form"])))
            .order_by(AuditEntry.id.desc()).limit(1))
    return FormStatus(session_id, True, form.treatment_date, form.deadline,
                      tuple(f.label for f in form.missing), printed, now.astimezone().date())
