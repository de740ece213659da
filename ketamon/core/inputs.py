"""What each operation accepts, declared once per operation (issue 9, point 1).

Every entry operation (ketamon.core.ops) starts with one line,

    inputs.VitalsInput.check(op, locals())

which validates all of its parameters against a pydantic model before anything is
read or written: types (a bool is not a number, text is not a number), finite
numbers inside the hard limits (ketamon.core.hard_limits) and, where a session
and its protocol are known, inside the protocol's absolute ranges; enumerations;
text lengths; and times — never ahead of this workstation's clock by more than
the clinic's tolerance (setting ``future_tolerance_minutes``) and never earlier
than the clinic's window before the session was scheduled or opened (setting
``entry_window_hours``). Cross-field rules live in the model too (diastolic
below systolic, a measured mean between them, ACVPU one letter, scores only for
kinds that have a scale, items only where the scale has items).

A refusal is the project's ``ValidationError(message, field, value)``: the message
names the field, the value and what is allowed, and ops.base audits it. Names,
passwords and free text are never carried in ``value`` (the audit would keep them).

Why pydantic with plain validators rather than pydantic's own coercion: a nurse's
or a device's "120" must not silently become 120, and pydantic's messages ("Input
should be a valid integer") do not say what a clinic allows. The validators here
raise ValidationError directly (pydantic lets non-ValueError exceptions through);
what pydantic itself refuses (a missing or unknown argument) is converted by
`OpInput.check`.

The checks the operations already made stay where they are (state, duplicates,
corrections); this module refuses what no state could make valid. Do not widen a
range here to let a test pass: the ranges come from hard_limits and the protocol.
"""
import math
import re
from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Any, ClassVar

import pydantic
from pydantic import BaseModel, ConfigDict, PlainValidator, ValidationInfo, model_validator

from ketamon.core import hard_limits, settings
from ketamon.core.errors import ValidationError

#: database ids are 32-bit signed on every engine we run on
MAX_ID = 2**31 - 1
#: text lengths: the columns' widths where they have one, else a page of text
SHORT, NAME, LONG = 64, 128, 4000
#: a treatment chair's name (sessions.chair)
CHAIR = 32
#: control characters other than newline and tab are not text a nurse types
#: (PostgreSQL refuses NUL outright)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

#: the words a nurse reads for each parameter name
LABELS: dict[str, str] = {
    "session_id": "Session", "patient_id": "Patient", "alert_id": "Alert", "supersedes_id": "Entry corrected",
    "entry_key": "Entry key", "nurse_id": "Charting nurse", "physician_id": "Supervising physician",
    "mrn": "MRN", "family_name": "Family name", "given_name": "Given name", "birth_date": "Date of birth",
    "sex": "Sex", "weight_kg": "Weight", "allergies": "Allergies", "contraindications": "Contraindications",
    "concomitant_medications": "Concomitant medications", "protocol_id": "Protocol",
    "scheduled_at": "Scheduled time", "planned_dose_mg": "Planned dose", "lot_number": "Lot number",
    "measured_at": "Measured at", "systolic": "Systolic BP", "diastolic": "Diastolic BP",
    "mean_arterial": "Mean BP", "heart_rate": "Heart rate", "spo2": "SpO2", "resp_rate": "Respiratory rate",
    "temperature": "Temperature", "on_oxygen": "On oxygen", "consciousness": "Consciousness (ACVPU)",
    "source": "Source", "comment": "Comment", "correction_reason": "Reason for the correction",
    "retracted": "Entered in error", "retract": "Entered in error", "kind": "Kind", "at": "Time",
    "amount_mg": "Dose", "rate_mg_per_h": "Infusion rate", "site": "Site", "reason": "Reason",
    "observed_at": "Observed at", "scale": "Scale", "score": "Score", "items": "Items", "text": "Text",
    "ready_to_leave_at": "Ready to leave", "parameter": "Parameter", "tier": "Tier", "low": "Low limit",
    "high": "High limit", "changes": "Limit changes", "proceed": "Decision", "enabled": "Alarm sound",
    "alert_ids": "Alerts", "username": "User name", "display_name": "Name", "role": "Role",
    "password": "Password", "new_password": "New password", "current_password": "Current password",
    "must_change": "Must change password", "user": "User", "name": "Setting", "value": "Value",
    "what": "What to print", "fmt": "Export format", "destination": "Destination", "key": "Problem",
    "message": "Message", "priority": "Priority", "session_ids": "Sessions", "purpose": "Purpose",
    "chair": "Chair", "monitor_id": "Monitor", "raw": "Monitor message", "vital_signs_id": "Vital-sign set",
}

#: parameters whose value must never reach a message or the audit trail
PRIVATE = {"family_name", "given_name", "password", "new_password", "current_password", "allergies",
           "text", "comment", "reason", "correction_reason", "display_name", "mrn", "birth_date", "value",
           "message"}


def label(field: str | None) -> str:
    return LABELS.get(field or "", (field or "value").replace("_", " ").capitalize())


def _fmt(x: Any) -> str:
    if isinstance(x, float) and math.isfinite(x):
        return str(int(x)) if x.is_integer() else f"{x:g}"
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return str(x)
    text = repr(x)
    return text if len(text) <= 40 else text[:37] + "…"


def refuse(field: str | None, value: Any, message: str) -> ValidationError:
    """The project's refusal; `value` is dropped for private fields."""
    return ValidationError(message, field, None if field in PRIVATE else value)


def _u(unit: str) -> str:
    return f" {unit}" if unit else ""


# ---------------------------------------------------------------- field types
# Each factory returns an Annotated type whose validator raises ValidationError.


def _not_number(field: str, value: Any, whole: bool) -> ValidationError:
    kind = "a number without decimals" if whole else "a number"
    shown = "a yes/no value" if isinstance(value, bool) else _fmt(value)
    return refuse(field, value, f"{label(field)} must be {kind}, not {shown}. Nothing was saved.")


def _range_error(field: str, value: Any, low: float, high: float, unit: str) -> ValidationError:
    return refuse(field, value, f"{label(field)} {_fmt(value)}{_u(unit)} is not possible: allowed "
                                f"{_fmt(low)}–{_fmt(high)}{_u(unit)}. Nothing was saved.")


def Number(low: float, high: float, unit: str = "", *, whole: bool = False, optional: bool = True,
           above_low: bool = False):
    """A finite number in [low, high] (or (low, high] with `above_low`); `whole`
    also refuses fractions (120.0 is accepted as 120: devices send floats)."""

    def check(value: Any, info: ValidationInfo) -> Any:
        field = info.field_name
        if value is None:
            if optional:
                return None
            raise refuse(field, None, f"{label(field)} is required. Nothing was saved.")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _not_number(field, value, whole)
        if isinstance(value, float) and not math.isfinite(value):
            raise _range_error(field, value, low, high, unit)
        if whole and isinstance(value, float) and not value.is_integer():
            raise _not_number(field, value, whole)
        if not (low <= value <= high) or (above_low and value == low):
            raise _range_error(field, value, low, high, unit)
        return value

    return Annotated[Any, PlainValidator(check)]


def Id(optional: bool = False):
    def check(value: Any, info: ValidationInfo) -> Any:
        field = info.field_name
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not (1 <= value <= MAX_ID):
            raise refuse(field, value, f"{label(field)} {_fmt(value)} is not a record number. Nothing was saved.")
        return value

    return Annotated[Any, PlainValidator(check)]


def Text(max_length: int = LONG, *, required: bool = False, optional: bool = True):
    """Text of at most `max_length` characters once trimmed; `required`: not empty."""

    def check(value: Any, info: ValidationInfo) -> Any:
        field = info.field_name
        if value is None:
            if required or not optional:
                raise refuse(field, None, f"{label(field)} is required.")
            return None
        if not isinstance(value, str):
            raise refuse(field, value, f"{label(field)} must be text. Nothing was saved.")
        if _CONTROL.search(value):
            raise refuse(field, value, f"{label(field)} contains control characters; type plain text. "
                                       "Nothing was saved.")
        if len(value.strip()) > max_length:
            raise refuse(field, value, f"{label(field)} has {len(value.strip())} characters: at most "
                                       f"{max_length} are allowed. Nothing was saved.")
        if required and not value.strip():
            raise refuse(field, value, f"{label(field)} is required.")
        return value

    return Annotated[Any, PlainValidator(check)]


#: an entry key: a UUID in its usual text form (36 characters, lower or upper case)
_ENTRY_KEY = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def EntryKey():
    """The key a workstation gives an entry when the nurse presses Enter, so the same
    entry sent again (after a connection lost during its commit) is stored once."""

    def check(value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        if not isinstance(value, str) or not _ENTRY_KEY.match(value):
            raise refuse(info.field_name, value, f"{label(info.field_name)} {_fmt(value)} is not an entry key "
                                                 "(a UUID). Nothing was saved.")
        return value

    return Annotated[Any, PlainValidator(check)]


def Choice(options, *, optional: bool = False):
    options = tuple(options)

    def check(value: Any, info: ValidationInfo) -> Any:
        field = info.field_name
        if value is None and optional:
            return None
        if not isinstance(value, str) or value not in options:
            raise refuse(field, value, f"{label(field)} {_fmt(value)} is not allowed: choose one of "
                                       f"{', '.join(options)}. Nothing was saved.")
        return value

    return Annotated[Any, PlainValidator(check)]


def Flag(optional: bool = False):
    def check(value: Any, info: ValidationInfo) -> Any:
        if value is None and optional:
            return None
        if not isinstance(value, bool):
            raise refuse(info.field_name, value, f"{label(info.field_name)} must be yes or no, not "
                                                 f"{_fmt(value)}. Nothing was saved.")
        return value

    return Annotated[Any, PlainValidator(check)]


def Keys(known):
    def check(value: Any, info: ValidationInfo) -> Any:
        field = info.field_name
        if not isinstance(value, (list, tuple)) or not all(isinstance(k, str) for k in value):
            raise refuse(field, value, f"{label(field)} must be a list of names. Nothing was saved.")
        bad = [k for k in value if k not in known]
        if bad:
            raise refuse(field, bad, f"Unknown {label(field).lower()}: {', '.join(map(repr, bad))}; allowed: "
                                     f"{', '.join(known)}. Nothing was saved.")
        return value

    return Annotated[Any, PlainValidator(check)]


def Answers(max_points: int = 10, keys: tuple[str, ...] | None = None, *, optional: bool = False):
    """{item: points}: a dict of whole points from 0 to `max_points` (the scale
    itself then checks each item's allowed values); `keys`: the only items there are."""

    def check(value: Any, info: ValidationInfo) -> Any:
        field = info.field_name
        if value is None and optional:
            return None
        if not isinstance(value, dict) or len(value) > 50:
            raise refuse(field, value, f"{label(field)} must be the answers, item by item. Nothing was saved.")
        for k, v in value.items():
            if isinstance(k, bool) or not isinstance(k, (str, int)):
                raise refuse(field, value, f"{label(field)}: {_fmt(k)} is not an item. Nothing was saved.")
            if keys is not None and str(k) not in keys:
                raise refuse(field, value, f"{label(field)}: item {_fmt(k)} is not allowed; the items are "
                                           f"{', '.join(keys)}. Nothing was saved.")
            if isinstance(v, bool) or not isinstance(v, (int, float)) or isinstance(v, float) and (
                    not math.isfinite(v) or not v.is_integer()) or not 0 <= v <= max_points:
                raise refuse(field, value, f"{label(field)}: item {k} {_fmt(v)} is not allowed: whole points "
                                           f"from 0 to {max_points}. Nothing was saved.")
        return value

    return Annotated[Any, PlainValidator(check)]


def Day(optional: bool = False):
    """A calendar date from 1900 to today."""

    def check(value: Any, info: ValidationInfo) -> Any:
        field = info.field_name
        if value is None and optional:
            return None
        if isinstance(value, datetime) or not isinstance(value, date):
            raise refuse(field, None, f"{label(field)} must be a date. Nothing was saved.")
        op = (info.context or {}).get("op")
        today = op.now.astimezone().date() if op is not None else date.today()
        if value > today:
            raise refuse(field, None, f"{label(field)} is in the future. Nothing was saved.")
        if value.year < 1900:
            raise refuse(field, None, f"{label(field)} before 1900 is not plausible. Nothing was saved.")
        return value

    return Annotated[Any, PlainValidator(check)]


# ---------------------------------------------------------------- times


def _utc(when: datetime) -> datetime:
    """A stored time (naive means UTC, as the database returns it on some engines)."""
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


def _local(when: datetime, with_day: bool = False) -> str:
    return when.astimezone().strftime("%d %b %Y %H:%M" if with_day else "%H:%M")


def future_tolerance(op) -> timedelta:
    return timedelta(minutes=settings.clinic_value(op.db, "future_tolerance_minutes"))


def entry_window(op) -> timedelta:
    return timedelta(hours=settings.clinic_value(op.db, "entry_window_hours"))


def session_start(op, session_id: Any):
    """When a session was scheduled or opened, whichever is earlier; None when
    there is no such session (the operation then says so)."""
    from ketamon.core.models import Session  # models import pydantic-free code only; keep the import local

    if isinstance(session_id, bool) or not isinstance(session_id, int) or not 1 <= session_id <= MAX_ID:
        return None
    s = op.db.get(Session, session_id)
    if s is None:
        return None
    times = [_utc(t) for t in (s.scheduled_at, s.created_at) if t is not None]
    return min(times) if times else None


def check_entry_time(op, field: str, when: datetime, start: datetime | None, *,
                     planned: bool = False) -> datetime:
    """An entry's time in UTC, or a refusal: ahead of the clock beyond the clinic's
    tolerance, or earlier than the clinic's window before the session's start
    (before now when there is no session). `planned` (a session's scheduled
    time) may lie ahead, up to a year. Never moved to another day."""
    now = op.now
    tolerance, window = future_tolerance(op), entry_window(op)
    if planned:
        latest = now + timedelta(days=366)
        if when > latest:
            raise refuse(field, when, f"{label(field)} {_local(when, True)} is more than a year ahead. "
                                      "Nothing was saved.")
    elif when > now + tolerance:
        minutes = int(tolerance.total_seconds() // 60)
        raise refuse(field, when, f"{label(field)} {_local(when)} is in the future (this workstation's clock "
                                  f"says {_local(now)}); it must be now or earlier, at most {minutes} min "
                                  "ahead. Nothing was saved.")
    base = start if start is not None and start < now else now
    earliest = base - window
    if when < earliest:
        hours = int(window.total_seconds() // 3600)
        since = "the session was scheduled or opened" if start is not None else "now"
        raise refuse(field, when, f"{label(field)} {_local(when, True)} is more than {hours} h before "
                                  f"{since} ({_local(base, True)}); check the date and time. Nothing was saved.")
    return when


def When(*, planned: bool = False):
    """An optional time (None: now). Aware, or naive local wall time."""

    def check(value: Any, info: ValidationInfo) -> Any:
        field = info.field_name
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise refuse(field, value, f"{label(field)} must be a date and time, not {_fmt(value)}. "
                                       "Nothing was saved.")
        try:
            when = value.astimezone(timezone.utc) if value.tzinfo else value.astimezone().astimezone(timezone.utc)
        except (OverflowError, ValueError, OSError):
            raise refuse(field, value, f"{label(field)} {_fmt(value)} is not a time this clinic can chart. "
                                       "Nothing was saved.") from None
        op = (info.context or {}).get("op")
        if op is not None:
            start = session_start(op, info.data.get("session_id"))
            check_entry_time(op, field, when, start, planned=planned)
        return value

    return Annotated[Any, PlainValidator(check)]


# ---------------------------------------------------------------- the base model


class OpInput(BaseModel):
    """One operation's parameters. `check(op, locals())` as the op's first line."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: parameters of the op that are not input (never validated)
    skip: ClassVar[tuple[str, ...]] = ("op",)

    @classmethod
    def check(cls, op, fields: dict[str, Any]):
        data = {k: v for k, v in fields.items() if k not in cls.skip}
        try:
            return cls.model_validate(data, context={"op": op})
        except pydantic.ValidationError as exc:
            raise _converted(exc) from None

    def context_op(self, info: ValidationInfo):
        return (info.context or {}).get("op")


def _converted(exc: pydantic.ValidationError) -> ValidationError:
    """Pydantic's own refusals (a missing or unknown argument) in the project's words."""
    err = exc.errors()[0]
    field = str(err["loc"][0]) if err.get("loc") else None
    if err["type"] == "missing":
        return refuse(field, None, f"{label(field)} is required. Nothing was saved.")
    if err["type"] == "extra_forbidden":
        return refuse(field, None, f"{label(field)} cannot be set here. Nothing was saved.")
    return refuse(field, err.get("input"), f"{label(field)} {_fmt(err.get('input'))} is not allowed: "
                                           f"{err['msg'].lower()}. Nothing was saved.")


def _session_protocol(op, session_id: Any):
    if op is None or isinstance(session_id, bool) or not isinstance(session_id, int) \
            or not 1 <= session_id <= MAX_ID:
        return None
    # the row the operation then checks and writes under its lock: read (and locked) once
    s = op.session_row(session_id)
    if s is None:
        return None
    try:
        return op.protocol(s)
    except Exception:  # noqa: BLE001 - an unknown protocol is the operation's refusal, not ours
        return None


W = hard_limits.WEIGHT
_DOSE_MAX = max(d.max_mg for d in hard_limits.DOSES.values())


# ---------------------------------------------------------------- patients and sessions


_CONTRAINDICATIONS = Keys(("aneurysmal_vascular_disease", "arteriovenous_malformation",
                          "intracerebral_haemorrhage", "ketamine_hypersensitivity"))
_MEDICATIONS = Keys(("benzodiazepines", "sedative_hypnotics", "psychostimulants", "maois", "opioids"))


class CreatePatientInput(OpInput):
    mrn: Text(SHORT, required=True)
    family_name: Text(NAME, required=True)
    given_name: Text(NAME, required=True)
    birth_date: Day()
    sex: Choice(("female", "male", "other", "unknown"))
    weight_kg: Number(W.low, W.high, W.unit)
    allergies: Text(LONG, optional=False)
    contraindications: _CONTRAINDICATIONS
    concomitant_medications: _MEDICATIONS


class _PatientFields(OpInput):
    family_name: Text(NAME, required=True) = None
    given_name: Text(NAME, required=True) = None
    birth_date: Day() = None
    sex: Choice(("female", "male", "other", "unknown")) = None
    weight_kg: Number(W.low, W.high, W.unit) = None
    allergies: Text(LONG, optional=False) = None
    contraindications: _CONTRAINDICATIONS = None
    concomitant_medications: _MEDICATIONS = None


class UpdatePatientInput(OpInput):
    """The same checks as registration for every field that is changed."""

    patient_id: Id()
    fields: dict

    @classmethod
    def check(cls, op, fields: dict[str, Any]):
        super().check(op, {"patient_id": fields.get("patient_id"), "fields": {}})
        changes = dict(fields.get("fields") or {})
        allowed = set(_PatientFields.model_fields)
        unknown = set(changes) - allowed
        if unknown:
            raise refuse(None, None, f"Cannot change {', '.join(sorted(map(str, unknown)))}.")
        for name, value in changes.items():
            if value is None and name in ("family_name", "given_name", "birth_date", "sex", "allergies",
                                          "contraindications", "concomitant_medications"):
                raise refuse(name, None, f"{label(name)} cannot be emptied. Nothing was saved.")
        _PatientFields.check(op, changes)
        return None


class CreateSessionInput(OpInput):
    patient_id: Id()
    protocol_id: Text(SHORT, required=True)
    scheduled_at: When(planned=True) = None
    planned_dose_mg: Number(0, _DOSE_MAX, "mg", above_low=True) = None
    weight_kg: Number(W.low, W.high, W.unit) = None
    lot_number: Text(SHORT) = None
    nurse_id: Id(optional=True) = None
    physician_id: Id(optional=True) = None
    confirm_reason: Text() = None
    chair: Text(CHAIR) = None

    @model_validator(mode="after")
    def _dose(self, info: ValidationInfo):
        """A planned dose never above the drug's per-session maximum (84 mg esketamine)."""
        op = self.context_op(info)
        if op is None or self.planned_dose_mg is None:
            return self
        try:
            protocol = op.store.protocols.get(self.protocol_id)
        except KeyError:
            return self  # the operation names the unknown protocol
        limit = hard_limits.DOSES.get((protocol.drug, protocol.route))
        if limit is not None and self.planned_dose_mg > limit.max_mg:
            raise refuse("planned_dose_mg", self.planned_dose_mg,
                         f"Planned dose {_fmt(self.planned_dose_mg)} mg is not possible: allowed up to "
                         f"{_fmt(limit.max_mg)} mg for {protocol.drug} {protocol.route}. Nothing was saved.")
        return self


class LotNumberInput(OpInput):
    session_id: Id()
    lot_number: Text(SHORT, optional=False)
    correction_reason: Text() = None


# ---------------------------------------------------------------- vital signs


def _vital(name: str, *, whole: bool = True):
    """Type only here: the range (the protocol's absolute range, then the hard
    limit) is said by validation.check_vitals in the model's cross-field check,
    with the protocol's words."""
    return Number(-math.inf, math.inf, hard_limits.VITALS[name].unit, whole=whole)


class VitalsInput(OpInput):
    session_id: Id()
    entry_key: EntryKey() = None
    measured_at: When() = None
    systolic: _vital("systolic") = None
    diastolic: _vital("diastolic") = None
    mean_arterial: _vital("mean_arterial") = None
    heart_rate: _vital("heart_rate") = None
    spo2: _vital("spo2") = None
    resp_rate: _vital("resp_rate") = None
    temperature: _vital("temperature", whole=False) = None
    on_oxygen: Flag(optional=True) = None
    consciousness: Choice(tuple("ACVPU"), optional=True) = None
    source: Choice(("manual", "device")) = "manual"
    comment: Text() = None
    supersedes_id: Id(optional=True) = None
    correction_reason: Text() = None
    retracted: Flag() = False

    @model_validator(mode="after")
    def _together(self, info: ValidationInfo):
        from ketamon.core.validation import check_vitals

        values = {k: getattr(self, k) for k in ("systolic", "diastolic", "mean_arterial", "heart_rate", "spo2",
                                                "resp_rate", "temperature")}
        if not self.retracted and all(v is None for v in values.values()) and self.consciousness is None:
            raise ValidationError("Enter at least one value.", None, None)
        if self.source == "device":
            # a monitor's impossible value is kept out as an artefact and the valid
            # ones stored (ops.charting._device_artefacts), then checked there
            return self
        check_vitals(_session_protocol(self.context_op(info), self.session_id), values)
        m, s, d = self.mean_arterial, self.systolic, self.diastolic
        if m is not None and s is not None and d is not None and not d <= m <= s:
            raise refuse("mean_arterial", m, f"Mean BP {_fmt(m)} mmHg must lie between diastolic {_fmt(d)} and "
                                             f"systolic {_fmt(s)}. Nothing was saved.")
        return self


# ---------------------------------------------------------------- doses


_RATE = hard_limits.INFUSION_RATE


class DoseInput(OpInput):
    session_id: Id()
    entry_key: EntryKey() = None
    kind: Choice(("nasal_device", "infusion_start", "infusion_rate", "infusion_pause", "infusion_resume",
                  "infusion_stop", "im_injection"))
    at: When() = None
    amount_mg: Number(0, _DOSE_MAX, "mg", above_low=True) = None
    rate_mg_per_h: Number(_RATE.low, _RATE.high, _RATE.unit, above_low=True) = None
    lot_number: Text(SHORT) = None
    site: Text(SHORT) = None
    comment: Text() = None
    rest_override_reason: Text() = None
    confirm_reason: Text() = None

    @model_validator(mode="after")
    def _device(self, info: ValidationInfo):
        _check_amount(self.context_op(info), self.session_id, self.kind, self.amount_mg)
        return self


def _check_amount(op, session_id, kind: str | None, amount: float | None) -> None:
    """A nasal device holds one strength only; a dose never exceeds the per-session
    maximum for its drug and route (hard_limits.DOSES)."""
    if amount is None:
        return
    protocol = _session_protocol(op, session_id)
    if protocol is None:
        return
    limit = hard_limits.DOSES.get((protocol.drug, protocol.route)) if hasattr(protocol, "drug") else None
    if kind == "nasal_device" and limit is not None and limit.mg_per_device is not None \
            and amount != limit.mg_per_device:
        raise refuse("amount_mg", amount, f"A nasal device holds {_fmt(limit.mg_per_device)} mg, not "
                                          f"{_fmt(amount)} mg. Nothing was saved.")
    if limit is not None and amount > limit.max_mg:
        raise refuse("amount_mg", amount, f"Dose {_fmt(amount)} mg is not possible: allowed up to "
                                          f"{_fmt(limit.max_mg)} mg for {protocol.drug} {protocol.route}. "
                                          "Nothing was saved.")


class CorrectDoseInput(OpInput):
    session_id: Id()
    supersedes_id: Id()
    reason: Text(required=True)
    retract: Flag() = False
    at: When() = None
    amount_mg: Number(0, _DOSE_MAX, "mg", above_low=True) = None
    rate_mg_per_h: Number(_RATE.low, _RATE.high, _RATE.unit, above_low=True) = None
    comment: Text() = None

    @model_validator(mode="after")
    def _amount(self, info: ValidationInfo):
        op = self.context_op(info)
        kind = None
        if op is not None and self.amount_mg is not None:
            from ketamon.core.models import DoseEvent

            old = op.db.get(DoseEvent, self.supersedes_id)
            kind = old.kind if old is not None else None
        _check_amount(op, self.session_id, kind, self.amount_mg)
        return self


# ---------------------------------------------------------------- side effects, notes


#: the scales each kind of side effect may be scored on; other kinds have no score
KIND_SCALES: dict[str, tuple[str, ...]] = {
    "sedation": ("MOAA/S",),
    "nausea": ("NRS-0-10",),
    "dissociation": ("CADSS-6", "severity-0-4"),
}
#: scales whose score may be given item by item, and their items
SCALE_ITEMS: dict[str, tuple[str, ...]] = {"CADSS-6": ("1", "2", "6", "7", "15", "22")}
_SIDE_EFFECT_KINDS = ("dissociation", "sedation", "nausea", "vomiting", "dizziness", "headache", "anxiety",
                      "hallucinations", "respiratory_depression", "other")
_SCALES = {"MOAA/S": (0, 5), "CADSS-6": (0, 24), "severity-0-4": (0, 4), "NRS-0-10": (0, 10)}


class SideEffectInput(OpInput):
    session_id: Id()
    entry_key: EntryKey() = None
    kind: Choice(_SIDE_EFFECT_KINDS)
    observed_at: When() = None
    scale: Choice(tuple(_SCALES), optional=True) = None
    score: Number(0, 24, whole=False) = None
    items: Answers(4, SCALE_ITEMS["CADSS-6"], optional=True) = None
    text: Text() = None
    supersedes_id: Id(optional=True) = None
    correction_reason: Text() = None
    retracted: Flag() = False

    @model_validator(mode="after")
    def _scale(self):
        scales = KIND_SCALES.get(self.kind, ())
        if (self.score is not None or self.scale is not None) and not scales:
            raise refuse("score", self.score, f"{_SIDE_EFFECT_KINDS_LABEL(self.kind)} has no score; record it "
                                              "without one. Nothing was saved.")
        if self.scale is not None and self.scale not in scales:
            raise refuse("scale", self.scale, f"{_SIDE_EFFECT_KINDS_LABEL(self.kind)} is scored on "
                                              f"{' or '.join(scales)}, not {self.scale}. Nothing was saved.")
        if self.items:
            if self.kind != "dissociation" or self.scale not in (None, "CADSS-6"):
                raise refuse("items", None, f"{_SIDE_EFFECT_KINDS_LABEL(self.kind)} has no items to score. "
                                            "Nothing was saved.")
        elif self.score is not None:
            scale = self.scale or scales[-1] if self.kind == "dissociation" else self.scale or scales[0]
            low, high = _SCALES[scale]
            if not low <= self.score <= high:
                raise refuse("score", self.score, f"{scale} {_fmt(self.score)} is outside its scale "
                                                  f"{low}–{high}. Nothing was saved.")
        return self


def _SIDE_EFFECT_KINDS_LABEL(kind: str) -> str:
    return kind.replace("_", " ").capitalize()


class NoteInput(OpInput):
    session_id: Id()
    entry_key: EntryKey() = None
    text: Text(LONG, optional=False)
    at: When() = None
    supersedes_id: Id(optional=True) = None
    correction_reason: Text() = None
    retracted: Flag() = False


# ---------------------------------------------------------------- the record


class SessionOnlyInput(OpInput):
    """Operations that take only a session (move to recovery, discharge, sign)."""

    session_id: Id()


class SignSessionInput(OpInput):
    """Signing a record: the session and the signer's password, typed again."""

    session_id: Id()
    password: Text(1024, optional=False)


class ReasonInput(OpInput):
    """Cancel, stop early: a session and the reason in words."""

    session_id: Id()
    reason: Text(LONG, optional=False)


class TextInput(OpInput):
    """The PHQ-9 follow-up: a session and what was decided, in words."""

    session_id: Id()
    text: Text(LONG, optional=False)


class AddendumInput(OpInput):
    session_id: Id()
    text: Text(LONG, optional=False)
    reason: Text(LONG, optional=False)


class PredoseChecklistInput(OpInput):
    session_id: Id()
    consent: Flag() = False
    fasting: Flag() = False
    contraindications_reviewed: Flag() = False
    medications_reviewed: Flag() = False
    comment: Text() = None
    correction_reason: Text() = None


class Phq9Input(OpInput):
    session_id: Id()
    items: Answers(3, tuple(str(i) for i in range(1, 10)))
    at: When() = None
    supersedes_id: Id(optional=True) = None
    correction_reason: Text() = None


class DischargeAssessmentInput(OpInput):
    session_id: Id()
    items: Answers(2)
    at: When() = None
    comment: Text() = None


class DischargeChecklistInput(OpInput):
    session_id: Id()
    effects_resolved: Flag() = False
    escort_present: Flag() = False
    instructions_given: Flag() = False
    ready_to_leave_at: When() = None
    comment: Text() = None
    correction_reason: Text() = None


# ---------------------------------------------------------------- alerts and limits


_PARAMETERS = tuple(hard_limits.VITALS) + ("consciousness",)


def _check_limits(parameter: Any, tier: Any, low: Any, high: Any) -> None:
    if not isinstance(parameter, str) or parameter not in _PARAMETERS:
        raise refuse("parameter", parameter, f"Unknown parameter {_fmt(parameter)}: choose one of "
                                             f"{', '.join(_PARAMETERS)}. Nothing was saved.")
    if not isinstance(tier, str) or tier not in ("critical", "abnormal"):
        raise refuse("tier", tier, "The tier must be critical or abnormal.")
    hard = hard_limits.vital_limit(parameter)
    for field, value in (("low", low), ("high", high)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _not_number(field, value, False)
        if hard is not None and not hard.contains(value):
            raise refuse(field, value, f"{hard.label} limit {_fmt(value)} {hard.unit} is not possible: allowed "
                                       f"{hard.describe()}. Nothing was saved.")
        if hard is None and not (isinstance(value, (int, float)) and math.isfinite(value)):
            raise _range_error(field, value, 0, 0, "")


class PatientLimitsInput(OpInput):
    patient_id: Id()
    parameter: Any
    tier: Any
    low: Any
    high: Any
    reason: Text(LONG, optional=False)
    session_id: Id(optional=True) = None

    @model_validator(mode="after")
    def _limits(self):
        _check_limits(self.parameter, self.tier, self.low, self.high)
        return self


class PatientLimitChangesInput(OpInput):
    patient_id: Id()
    changes: Any
    reason: Text(LONG, optional=False)
    session_id: Id(optional=True) = None

    @model_validator(mode="after")
    def _limits(self):
        if not isinstance(self.changes, (list, tuple)) or len(self.changes) > 50:
            raise refuse("changes", None, "Limit changes must be a list of (parameter, tier, low, high). "
                                          "Nothing was saved.")
        for change in self.changes:
            if not isinstance(change, (list, tuple)) or len(change) != 4:
                raise refuse("changes", None, "Each limit change is (parameter, tier, low, high). "
                                              "Nothing was saved.")
            _check_limits(*change)
        return self


class AcknowledgeInput(OpInput):
    alert_id: Id(optional=True) = None
    session_id: Id(optional=True) = None


class ReviewInput(OpInput):
    alert_id: Id()
    comment: Text(LONG, optional=False)


class ReviewManyInput(OpInput):
    alert_ids: Any
    comment: Text(LONG, optional=False)

    @model_validator(mode="after")
    def _ids(self):
        ids = self.alert_ids
        if not isinstance(ids, (list, tuple)) or len(ids) > 1000 or any(
                isinstance(i, bool) or not isinstance(i, int) or not 1 <= i <= MAX_ID for i in ids):
            raise refuse("alert_ids", None, "Choose the alerts to review by their numbers. Nothing was saved.")
        return self


class PredoseDecisionInput(OpInput):
    session_id: Id()
    proceed: Flag()
    reason: Text(LONG, optional=False)


class AlarmSoundInput(OpInput):
    enabled: Flag()
    reason: Text(LONG, optional=False)


class TechnicalProblemInput(OpInput):
    key: Text(NAME, required=True)
    message: Text(LONG, required=True)
    priority: Choice(("high", "medium", "low", "info")) = "medium"
    session_id: Id(optional=True) = None
    replace_message: Flag() = False


class TechnicalResolvedInput(OpInput):
    key: Text(NAME, required=True)
    session_id: Id(optional=True) = None


class EvaluateInput(OpInput):
    session_ids: Any

    @model_validator(mode="after")
    def _ids(self):
        ids = self.session_ids
        if not isinstance(ids, (list, tuple)) or any(
                isinstance(i, bool) or not isinstance(i, int) or not 1 <= i <= MAX_ID for i in ids):
            raise refuse("session_ids", None, "Sessions are given by their numbers. Nothing was saved.")
        return self


# ---------------------------------------------------------------- users, settings, exports


def _UserRef():
    def check(value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool) or not (isinstance(value, int) and 1 <= value <= MAX_ID
                                           or isinstance(value, str) and 0 < len(value) <= SHORT
                                           and not _CONTROL.search(value)):
            raise refuse("user", value, f"{_fmt(value)} is not a user name or number. Nothing was saved.")
        return value

    return Annotated[Any, PlainValidator(check)]


class AddUserInput(OpInput):
    # emptiness and length are said by ketamon.core.auth's own checks (check_username, …)
    username: Text(1024, optional=False)
    display_name: Text(1024, optional=False)
    role: Text(SHORT, optional=False)
    password: Text(1024, optional=False)
    must_change_password: Flag() = False


class UserInput(OpInput):
    user: _UserRef()
    reason: Text() = None


class ResetPasswordInput(OpInput):
    user: _UserRef()
    new_password: Text(1024, optional=False)
    must_change: Flag() = True


class ChangePasswordInput(OpInput):
    current_password: Text(1024, optional=False)
    new_password: Text(1024, optional=False)


class SignOutInput(OpInput):
    reason: Text(NAME, optional=False) = "signed out"


class ClinicSettingInput(OpInput):
    name: Text(SHORT, required=True)
    value: Any
    reason: Text(LONG, optional=False)


class PrintInput(OpInput):
    session_id: Id()
    what: Text(SHORT, optional=False) = "summary"
    destination: Text(1000) = None


class ExportInput(OpInput):
    session_id: Id()
    fmt: Text(SHORT, optional=False)
    destination: Text(1000) = None


class MarkFormSentInput(OpInput):
    session_id: Id()
    how: Text(SHORT) = None  # the operation asks for it in words when empty
    reference: Text(SHORT) = None


# ---------------------------------------------------------------- bedside monitors


def Bytes(max_length: int):
    """A message as received: bytes, at most `max_length` of them."""

    def check(value: Any, info: ValidationInfo) -> Any:
        field = info.field_name
        if not isinstance(value, (bytes, bytearray)):
            raise refuse(field, None, f"{label(field)} must be bytes as received. Nothing was saved.")
        if len(value) > max_length:
            raise refuse(field, None, f"{label(field)} is {len(value)} bytes: allowed up to {max_length}. "
                                      "Nothing was saved.")
        return bytes(value)

    return Annotated[Any, PlainValidator(check)]


class DeviceMessageInput(OpInput):
    raw: Bytes(64 * 1024)


class PlaceSessionInput(OpInput):
    session_id: Id()
    chair: Text(CHAIR) = None


class RegisterMonitorInput(OpInput):
    monitor_id: Text(SHORT, required=True)
    chair: Text(CHAIR, required=True)


class CheckFeedsInput(OpInput):
    pass


class DeviceSetInput(OpInput):
    vital_signs_id: Id()


class DeviceArtefactInput(OpInput):
    vital_signs_id: Id()
    reason: Text(LONG, required=True)
