"""Charting operations: patients, sessions, vital signs, doses, side effects, notes,
and corrections. Each is one transaction (see ops.base)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, select

from ketamon.core import alerts, dosing, lifecycle
from ketamon.core.audit import snapshot
from ketamon.core.clock import as_utc
from ketamon.core.errors import NotFound, ValidationError
from ketamon.core.in_force import current
from ketamon.core.models import (
    CONCOMITANT_MEDICATIONS,
    CONTRAINDICATIONS,
    DOSE_KINDS,
    SCALES,
    SEXES,
    SIDE_EFFECT_KINDS,
    DoseEvent,
    EntryKey,
    Note,
    Patient,
    Session,
    SideEffect,
    User,
    VitalSigns,
)
from ketamon.core import inputs
from ketamon.core.ops.base import ROW_LOCK, Op, local_hm, operation, user_label
from ketamon.core.permissions import Permission
from ketamon.core.store import exclusive
from ketamon.core.record import RecordIncomplete, gather, missing_for
from ketamon.core.validation import (
    LATE_AFTER,
    check_score,
    check_time,
    check_vitals,
    derived_mean,
)

# ---------------------------------------------------------------- patients


def clean_text(text: str | None) -> str:
    return (text or "").strip()


@operation(Permission.REGISTER)
def create_patient(op: Op, *, mrn: str, family_name: str, given_name: str, birth_date: date, sex: str,
                   weight_kg: float | None = None, allergies: str = "",
                   contraindications: list[str] = (), concomitant_medications: list[str] = ()) -> int:
    inputs.CreatePatientInput.check(op, locals())
    mrn, family_name, given_name = clean_text(mrn), clean_text(family_name), clean_text(given_name)
    for label, value in (("MRN", mrn), ("Family name", family_name), ("Given name", given_name)):
        if not value:
            raise ValidationError(f"{label} is required.", label.lower(), value)
    if sex not in SEXES:
        raise ValidationError(f"Sex must be one of {', '.join(SEXES)}.", "sex", sex)
    if birth_date > op.now.date():
        raise ValidationError("Date of birth is in the future.", "birth_date", birth_date)
    if birth_date.year < 1900:
        raise ValidationError("Date of birth before 1900 is not plausible.", "birth_date", birth_date)
    _check_weight(weight_kg)
    _check_keys("contraindication", contraindications, CONTRAINDICATIONS)
    _check_keys("medication category", concomitant_medications, CONCOMITANT_MEDICATIONS)
    if op.db.scalar(select(Patient.id).where(Patient.mrn == mrn)) is not None:
        raise ValidationError(f"A patient with MRN {mrn} already exists.", "mrn", mrn)
    p = Patient(mrn=mrn, family_name=family_name, given_name=given_name, birth_date=birth_date, sex=sex,
                weight_kg=weight_kg, allergies=clean_text(allergies), contraindications=list(contraindications),
                concomitant_medications=list(concomitant_medications), created_at=op.now,
                created_by_id=op.actor.user_id)
    op.db.add(p)
    op.db.flush()
    op.audit("create", entity="patient", entity_id=p.id, after=snapshot(p))
    op.changes.mark(patients=True, patient_id=p.id)
    op.changes.created.append(("patient", p.id))
    op.changes.message = f"Patient {p.display_name} registered"
    return p.id


@operation(Permission.REGISTER)
def update_patient(op: Op, patient_id: int, **fields: Any) -> None:
    """Demographics may be corrected; the audit keeps before and after."""
    inputs.UpdatePatientInput.check(op, locals())
    p = op.db.get(Patient, patient_id)
    if p is None:
        raise NotFound(f"There is no patient {patient_id}.")
    allowed = {"family_name", "given_name", "birth_date", "sex", "weight_kg", "allergies",
               "contraindications", "concomitant_medications"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError(f"Cannot change {', '.join(sorted(unknown))}.")
    if "weight_kg" in fields:
        _check_weight(fields["weight_kg"])
    if "sex" in fields and fields["sex"] not in SEXES:
        raise ValidationError(f"Sex must be one of {', '.join(SEXES)}.", "sex", fields["sex"])
    before = snapshot(p)
    for k, v in fields.items():
        setattr(p, k, v)
    op.audit("update", entity="patient", entity_id=p.id, before=before, after=snapshot(p))
    op.changes.mark(patients=True, patient_id=p.id)
    op.changes.message = f"Patient {p.display_name} updated"


def _check_weight(weight_kg: float | None) -> None:
    if weight_kg is not None and not (2 <= weight_kg <= 400):
        raise ValidationError(f"Weight {weight_kg:g} kg is not possible: allowed 2–400 kg.", "weight_kg", weight_kg)


def _check_keys(label: str, keys, known: dict) -> None:
    bad = [k for k in keys if k not in known]
    if bad:
        raise ValidationError(f"Unknown {label}: {', '.join(bad)}.", label, bad)


# ---------------------------------------------------------------- sessions


@operation(Permission.REGISTER)
def create_session(op: Op, *, patient_id: int, protocol_id: str, scheduled_at: datetime | None = None,
                   planned_dose_mg: float | None = None, weight_kg: float | None = None,
                   lot_number: str | None = None, nurse_id: int | None = None,
                   physician_id: int | None = None, confirm_reason: str | None = None,
                   chair: str | None = None) -> int:
    """Open a session under the newest version of a protocol, at `chair` when
    given (the bedside monitor there then feeds it: ops.device).

    For mg/kg protocols the dose is computed from `weight_kg` (default: the
    patient's weight) and both are stored. For a prescriber-dose protocol (IM) the
    dose must be given; it is never prefilled. A planned dose outside the
    protocol's mg/kg range (rules [dose_check]) needs a physician's
    `confirm_reason`; a dose cut to the protocol's maximum says so.
    """
    inputs.CreateSessionInput.check(op, locals())
    patient = op.db.get(Patient, patient_id)
    if patient is None:
        raise NotFound(f"There is no patient {patient_id}.")
    try:
        protocol = op.store.protocols.get(protocol_id)
    except KeyError:
        raise ValidationError(f"Unknown protocol {protocol_id!r}.", "protocol", protocol_id) from None
    weight = weight_kg if weight_kg is not None else patient.weight_kg
    _check_weight(weight)
    chair = free_chair(op, chair)
    rule = protocol.dose
    notices: list[str] = []
    if rule.kind == "per_kg":
        if weight is None:
            raise ValidationError(f"{protocol.name} is dosed by weight: enter the patient's weight.",
                                  "weight_kg", None)
        computed = rule.planned_mg(weight)
        if planned_dose_mg is None:
            planned_dose_mg = computed
            if rule.max_mg and computed < round(rule.mg_per_kg * weight, 1):
                notices.append(f"dose capped at the protocol's maximum {computed:g} mg "
                               f"({rule.mg_per_kg:g} mg/kg × {weight:g} kg = {rule.mg_per_kg * weight:g} mg)")
    elif rule.kind == "fixed":
        if planned_dose_mg is None:
            planned_dose_mg = rule.mg
    elif planned_dose_mg is None:
        raise ValidationError(f"{protocol.name}: the prescriber's dose (mg) is required.", "planned_dose_mg", None)
    if planned_dose_mg is not None and not (0 < planned_dose_mg <= 500):
        raise ValidationError(f"Planned dose {planned_dose_mg:g} mg is not possible: allowed 0–500 mg.",
                              "planned_dose_mg", planned_dose_mg)
    check = alerts.rules_for(protocol).on("dose_check")
    confirmed = None
    if (rule.kind == "per_kg" and check is not None and planned_dose_mg is not None
            and dosing.mg_per_kg_outside(planned_dose_mg, weight, check.get("mg_per_kg_low"),
                                         check.get("mg_per_kg_high"))):
        what = (f"Planned dose {planned_dose_mg:g} mg ({dosing.mg_per_kg(planned_dose_mg, weight):.2f} mg/kg for "
                f"{weight:g} kg) is outside the protocol's range {check['mg_per_kg_low']:g}–"
                f"{check['mg_per_kg_high']:g} mg/kg")
        confirmed = (f"{what}; confirmed by {op.actor.display_name}: "
                     f"{alerts.require_physician(op, what, confirm_reason)}")
    for uid, role, label in ((nurse_id, "nurse", "Charting nurse"), (physician_id, "physician",
                                                                      "Supervising physician")):
        if uid is not None:
            u = op.db.get(User, uid)
            if u is None or u.role != role or not u.active:
                raise ValidationError(f"{label} must be an active {role}.", f"{role}_id", uid)
    s = Session(patient_id=patient.id, protocol_id=protocol.id, protocol_version=protocol.version,
                route=protocol.route, planned_dose_mg=planned_dose_mg,
                dose_weight_kg=weight if rule.kind == "per_kg" else weight,
                lot_number=clean_text(lot_number) or None,
                nurse_id=nurse_id if nurse_id is not None else (op.actor.user_id if op.actor.role == "nurse" else None),
                physician_id=physician_id, state="planned", scheduled_at=scheduled_at or op.now,
                created_at=op.now, created_by_id=op.actor.user_id, chair=chair)
    op.db.add(s)
    op.db.flush()
    op.audit("create", entity="session", entity_id=s.id, session_id=s.id, after=snapshot(s))
    op.changes.mark(lifecycle=True, session_id=s.id, patient_id=patient.id)
    op.changes.created.append(("session", s.id))
    if confirmed:
        op.db.add(Note(session_id=s.id, at=op.now, entered_at=op.now, entered_by_id=op.actor.user_id,
                       text=confirmed))
        op.audit("confirm", entity="session", entity_id=s.id, session_id=s.id, detail=confirmed)
        notices.append("dose outside the protocol's range, confirmed")
    if warning := alerts.first_esketamine_warning(op.db, protocol, s):
        notices.append(warning)
    op.changes.message = f"Session opened for {patient.display_name}" + "".join(f" — {n}" for n in notices)
    return s.id


@operation(Permission.CHART)
def set_lot_number(op: Op, session_id: int, lot_number: str, *, correction_reason: str | None = None) -> None:
    """The device lot. Once a nasal device is given the lot is part of what was
    given: a plain change is refused (a stray keystroke must change nothing), and
    a change with `correction_reason` is a correction of the session's lot and of
    every device given (each device entry is superseded by one with the new lot),
    so the record shows the corrected lot only."""
    inputs.LotNumberInput.check(op, locals())
    s = chartable_session(op, session_id)
    lot = clean_text(lot_number) or None
    devices = [d for d in _current(op, DoseEvent, s.id) if d.kind == "nasal_device"]
    if lot == s.lot_number and all(d.lot_number == lot for d in devices):
        op.changes.message = "Lot number unchanged"
        return
    reason = clean_text(correction_reason)
    if devices and not reason:
        raise ValidationError(f"The lot number is locked: device 1 was given from lot {s.lot_number or '—'}. "
                              "To change it, correct the lot and give the reason.", "lot_number", lot_number)
    if devices and lot is None:
        raise ValidationError("The corrected lot number cannot be empty: devices were given.", "lot_number",
                              lot_number)
    before = s.lot_number
    s.lot_number = lot
    op.audit("correct" if devices else "update", entity="session", entity_id=s.id, session_id=s.id,
             before={"lot_number": before}, after={"lot_number": lot}, detail=reason or None)
    for d in devices:
        _correct_device_lot(op, d, lot, reason)
    op.changes.mark(session_details=True, session_id=s.id)
    if devices:
        op.changes.mark(doses=True, session_id=s.id)
        op.changes.message = f"Lot number corrected: {before or '—'} → {lot}"
    else:
        op.changes.message = "Lot number saved"


def _correct_device_lot(op: Op, old: DoseEvent, lot: str, reason: str) -> None:
    """Supersede a given device's entry by one with the corrected lot."""
    if old.lot_number == lot:
        return
    e = DoseEvent(session_id=old.session_id, at=old.at, entered_at=op.now, entered_by_id=op.actor.user_id,
                  kind=old.kind, device_number=old.device_number, amount_mg=old.amount_mg,
                  rate_mg_per_h=old.rate_mg_per_h, lot_number=lot, site=old.site, comment=old.comment,
                  supersedes_id=old.id, correction_reason=reason, late=old.late)
    op.db.add(e)
    op.db.flush()
    op.audit("correct", entity="dose_event", entity_id=e.id, session_id=old.session_id, before=snapshot(old),
             after=snapshot(e), detail=reason)


def chair_name(chair: str | None) -> str | None:
    """A chair as stored and as monitors are matched: trimmed, upper case ("chair3" is CHAIR3)."""
    return (chair or "").strip().upper() or None


def free_chair(op: Op, chair: str | None, session_id: int | None = None) -> str | None:
    """The chair's stored name, refused when another session still in progress
    sits there (a monitor's data would go to the wrong patient). Checked under the
    chair's lock, so two workstations cannot place two sessions on it at once."""
    chair = chair_name(chair)
    if chair is None:
        return None
    exclusive(op.db, f"chair {chair}")
    other = op.db.scalar(select(Session).where(Session.chair == chair, Session.state.in_(lifecycle.LIVE),
                                               Session.id != (session_id or 0)).limit(1))
    if other is not None:
        raise ValidationError(f"{chair} already has {other.patient.display_name}'s session "
                              f"({lifecycle.STATE_LABELS[other.state].lower()}); move or end that one first.",
                              "chair", chair)
    return chair


def chartable_session(op: Op, session_id: int) -> Session:
    """A session that may still be charted: not signed (locked), not cancelled."""
    s = op.session(session_id)
    if s.state not in lifecycle.CHARTABLE:
        raise ValidationError(
            f"This session is {lifecycle.STATE_LABELS[s.state].lower()}; entries can no longer be added.",
            "state", s.state)
    return s


def _when(op: Op, when: datetime | None, label: str) -> tuple[datetime, bool]:
    """(time in UTC, late?) for an entry's measured/observed time."""
    at = op.now if when is None else as_utc(when)
    check_time(label, at, op.now)
    return at, (op.now - at) > LATE_AFTER


def _superseded(op: Op, model, supersedes_id: int | None, session_id: int, reason: str | None):
    if supersedes_id is None:
        return None
    # Locked and re-read (its session is locked already): of two workstations correcting
    # the same entry at once, the second sees the first's correction and is refused.
    old = op.db.get(model, supersedes_id, with_for_update=ROW_LOCK, populate_existing=True)
    if old is None or old.session_id != session_id:
        raise NotFound(f"There is no entry {supersedes_id} in this session to correct.")
    newer = op.db.scalar(select(model).where(model.supersedes_id == supersedes_id).order_by(model.id).limit(1))
    if newer is not None:
        who = f"{user_label(op.db, newer.entered_by_id)} at {local_hm(newer.entered_at)}"
        if newer.retracted:
            raise ValidationError(f"That entry has already been marked entered in error by {who}.",
                                  "supersedes_id", supersedes_id)
        raise ValidationError(f"That entry has already been corrected by {who}; review the new value and "
                              "correct that one if needed.", "supersedes_id", supersedes_id)
    if not (reason or "").strip():
        raise ValidationError("A correction needs a reason.", "reason", reason)
    return old


#: read on every entry saved with a key: built once (see ketamon.core.in_force._rows_of_session)
_KEPT_ENTRY = select(EntryKey).where(EntryKey.key == bindparam("key"))


def _already_saved(op: Op, entry_key: str | None, operation: str, session_id: int, flag: str) -> int | None:
    """The id of the entry this key already stored, answered as the first time (its
    message, its kind of change), or None when the key is new. A workstation sends an
    entry again with the same key when it could not know whether the first commit
    went through (the connection dropped during it): the entry is then stored once."""
    if entry_key is None:
        return None
    kept = op.db.scalar(_KEPT_ENTRY, {"key": entry_key.lower()})
    if kept is None:
        return None
    if kept.operation != operation or kept.session_id != session_id:
        raise ValidationError("This entry key belongs to another entry. Nothing was saved.", "entry_key",
                              entry_key)
    op.changes.mark(**{flag: True}, session_id=session_id)
    op.changes.message = kept.message
    return kept.entity_id


def _keep_key(op: Op, entry_key: str | None, operation: str, session_id: int, entity_id: int) -> None:
    """Store the entry's key with it (same transaction), after its message is final.
    Two sends of one key racing on PostgreSQL: the second's insert fails on the key,
    ops.base runs it again, and it then finds the key (`_already_saved`)."""
    if entry_key is not None:
        op.db.add(EntryKey(key=entry_key.lower(), operation=operation, session_id=session_id,
                           entity_id=entity_id, message=op.changes.message, created_at=op.now))


# ---------------------------------------------------------------- vital signs


@operation(Permission.CHART)
def record_vitals(op: Op, session_id: int, *, entry_key: str | None = None,
                  measured_at: datetime | None = None,
                  systolic: int | None = None, diastolic: int | None = None, mean_arterial: int | None = None,
                  heart_rate: int | None = None, spo2: int | None = None, resp_rate: int | None = None,
                  temperature: float | None = None, on_oxygen: bool | None = None,
                  consciousness: str | None = None, source: str = "manual", comment: str | None = None,
                  supersedes_id: int | None = None, correction_reason: str | None = None,
                  retracted: bool = False) -> int:
    """Store one vital-sign set. Any field may be empty; none is invented, except the
    mean BP, which is derived from systolic/diastolic when not measured (and
    marked as derived)."""
    inputs.VitalsInput.check(op, locals())
    if (kept := _already_saved(op, entry_key, "record_vitals", session_id, "vitals")) is not None:
        return kept
    s = chartable_session(op, session_id)
    protocol = op.protocol(s)
    at, late = _when(op, measured_at, "Measured at")
    values = dict(systolic=systolic, diastolic=diastolic, mean_arterial=mean_arterial, heart_rate=heart_rate,
                  spo2=spo2, resp_rate=resp_rate, temperature=temperature)
    if not retracted and all(v is None for v in values.values()) and consciousness is None:
        raise ValidationError("Enter at least one value.", None, None)
    artefacts = _device_artefacts(protocol, values) if source == "device" else []
    systolic, diastolic, mean_arterial, heart_rate, spo2, resp_rate, temperature = values.values()
    check_vitals(protocol, values)
    if artefacts:
        comment = "; ".join(filter(None, (clean_text(comment), "Artefact: " + "; ".join(artefacts))))
    if consciousness is not None and consciousness not in "ACVPU":
        raise ValidationError("Consciousness must be A, C, V, P or U (ACVPU).", "consciousness", consciousness)
    if source not in ("manual", "device"):
        raise ValidationError("Source must be manual or device.", "source", source)
    old = _superseded(op, VitalSigns, supersedes_id, s.id, correction_reason)
    mean_measured = mean_arterial is not None
    if mean_arterial is None:
        mean_arterial = derived_mean(systolic, diastolic)
    v = VitalSigns(session_id=s.id, measured_at=at, entered_at=op.now, entered_by_id=op.actor.user_id,
                   source=source, systolic=systolic, diastolic=diastolic, mean_arterial=mean_arterial,
                   mean_measured=mean_measured, heart_rate=heart_rate, spo2=spo2, resp_rate=resp_rate,
                   temperature=temperature, on_oxygen=on_oxygen, consciousness=consciousness,
                   comment=clean_text(comment) or None, late=late, supersedes_id=supersedes_id,
                   correction_reason=clean_text(correction_reason) or None, retracted=retracted)
    op.db.add(v)
    op.db.flush()
    op.audit("correct" if old else "create", entity="vital_signs", entity_id=v.id, session_id=s.id,
             before=snapshot(old) if old else None, after=snapshot(v))
    op.changes.mark(vitals=True, session_id=s.id)
    op.changes.created.append(("vital_signs", v.id))
    local = at.astimezone().strftime("%H:%M")
    op.changes.message = (f"Correction saved ({local})" if old else
                          f"Vital signs saved ({local}{', late entry' if late else ''})")
    if artefacts:
        op.changes.message += " — artefact not charted: " + "; ".join(artefacts)
    _keep_key(op, entry_key, "record_vitals", s.id, v.id)
    alerts.evaluate(op, s)
    return v.id


def _device_artefacts(protocol, values: dict[str, Any]) -> list[str]:
    """A monitor's set with an impossible value (an HR of 0 from a loose lead)
    keeps its valid values: each impossible one is taken out of `values` (in
    place) and returned as "field value: why", for the set's comment. A BP is a
    pair: an impossible systolic or diastolic, or a diastolic not below the
    systolic, takes the whole BP out. Typed-in sets are refused instead (the
    nurse can correct them); a device set with nothing valid left is refused."""
    out: list[str] = []
    for name, value in list(values.items()):
        if value is None:
            continue
        try:
            check_vitals(protocol, {name: value})
        except ValidationError as exc:
            if exc.field != name:
                continue  # half a BP alone: the pair is checked below
            out.append(f"{name} {value!r}: {str(exc).replace(' Nothing was saved.', '')}")
            values[name] = None
    bp = ("systolic", "diastolic", "mean_arterial")
    sys_, dia = values["systolic"], values["diastolic"]
    if (sys_ is None) != (dia is None) or (sys_ is not None and dia >= sys_):
        both = sys_ is not None and dia is not None
        why = "diastolic not below systolic" if both else "the other BP value was an artefact"
        for name in bp:
            if values[name] is not None:
                out.append(f"{name} {values[name]!r}: {why}")
                values[name] = None
    if out and all(v is None for v in values.values()):
        raise ValidationError("Every value of the device set is impossible (" + "; ".join(out) + "). "
                              "Nothing was saved.", "source", "device")
    return out


# ---------------------------------------------------------------- doses


@operation(Permission.CHART)
def record_dose(op: Op, session_id: int, kind: str, *, entry_key: str | None = None,
                at: datetime | None = None,
                amount_mg: float | None = None, rate_mg_per_h: float | None = None,
                lot_number: str | None = None, site: str | None = None, comment: str | None = None,
                rest_override_reason: str | None = None, confirm_reason: str | None = None) -> int:
    """One dose event. Nasal devices are numbered in order; infusion events must
    follow the infusion's state (start → rate/pause/resume → stop).

    A device within the protocol's rest is refused with the seconds remaining
    unless `rest_override_reason` is given (then recorded with a protocol-deviation
    alert). An infusion rate above the protocol's maximum needs a physician's
    `confirm_reason` (alerts.require_physician)."""
    inputs.DoseInput.check(op, locals())
    if (kept := _already_saved(op, entry_key, "record_dose", session_id, "doses")) is not None:
        return kept
    if kind not in DOSE_KINDS:
        raise ValidationError(f"Unknown dose event {kind!r}.", "kind", kind)
    s = chartable_session(op, session_id)
    protocol = op.protocol(s)
    when, late = _when(op, at, "Dose time")
    events = _current(op, DoseEvent, s.id)
    route_of = {"nasal_device": "nasal", "im_injection": "im"}.get(kind, "iv")
    if route_of != s.route:
        raise ValidationError(f"A {kind.replace('_', ' ')} does not belong to a {s.route.upper()} session.",
                              "kind", kind)
    alerts.check_dose_allowed(op, s)
    device_number = deviation = confirmed = None
    if kind == "nasal_device":
        given = dosing.nasal_devices_given(events)
        planned = protocol.dose.devices or 0
        if planned and len(given) >= planned:
            raise ValidationError(f"All {planned} devices are already recorded.", "device_number", len(given) + 1)
        device_number = len(given) + 1
        if amount_mg is None:
            amount_mg = protocol.dose.mg_per_device
        if given and clean_text(lot_number) not in ("", s.lot_number):
            raise ValidationError(f"The lot number is locked: device 1 was given from lot {s.lot_number}. "
                                  "To change it, correct the lot and give the reason.", "lot_number", lot_number)
        lot_number = clean_text(lot_number) or s.lot_number
        if not lot_number:
            raise ValidationError("Enter the device lot number before recording the device.", "lot_number", None)
        if given and when < given[-1].at:
            raise ValidationError("A device cannot be given before the previous one.", "at", when)
        deviation = alerts.check_nasal_rest(op, s, events, when, rest_override_reason)
    elif kind == "im_injection":
        if any(e.kind == "im_injection" for e in events):
            raise ValidationError("The injection is already recorded.", "kind", kind)
        if amount_mg is None:
            amount_mg = s.planned_dose_mg
        if amount_mg is None or not (0 < amount_mg <= 500):
            raise ValidationError("Enter the injected dose in mg (0–500).", "amount_mg", amount_mg)
    else:
        status = dosing.infusion_status(events, when)
        if kind not in dosing.INFUSION_ALLOWED[status.state]:
            raise ValidationError(f"Cannot {kind.removeprefix('infusion_')} an infusion that is "
                                  f"{status.state.replace('_', ' ')}.", "kind", kind)
        if kind in ("infusion_start", "infusion_rate"):
            if rate_mg_per_h is None or not (0 < rate_mg_per_h <= 600):
                raise ValidationError("Enter the infusion rate in mg/h (0–600).", "rate_mg_per_h", rate_mg_per_h)
            confirmed = _confirm_rate(op, s, protocol, rate_mg_per_h, confirm_reason)
        last = max((e.at for e in events if e.kind.startswith("infusion_")), default=None)
        if last is not None and when < last:
            raise ValidationError("An infusion event cannot be earlier than the one before it.", "at", when)
    e = DoseEvent(session_id=s.id, at=when, entered_at=op.now, entered_by_id=op.actor.user_id, kind=kind,
                  device_number=device_number, amount_mg=amount_mg, rate_mg_per_h=rate_mg_per_h,
                  lot_number=clean_text(lot_number) or None, site=clean_text(site) or None,
                  comment="; ".join(filter(None, (clean_text(comment), deviation, confirmed))) or None, late=late)
    op.db.add(e)
    if kind == "nasal_device" and s.lot_number != e.lot_number:
        # device 1's lot is the session's (the lot is locked from here on)
        before, s.lot_number = s.lot_number, e.lot_number
        op.audit("update", entity="session", entity_id=s.id, session_id=s.id,
                 before={"lot_number": before}, after={"lot_number": s.lot_number})
    op.db.flush()
    op.audit("create", entity="dose_event", entity_id=e.id, session_id=s.id, after=snapshot(e))
    complete = dosing.dose_end_at(events + [e], s.route, protocol.dose.devices) is not None
    advance_for_dose(op, s, complete)
    op.changes.mark(doses=True, session_id=s.id)
    op.changes.created.append(("dose_event", e.id))
    label = f"Device {device_number}" if device_number else kind.replace("_", " ").capitalize()
    op.changes.message = f"{label} recorded ({when.astimezone().strftime('%H:%M')})"
    if deviation:
        op.changes.message += " — protocol deviation recorded"
    if confirmed:
        op.changes.message += f" — {confirmed}"
    alerts.evaluate(op, s)
    if deviation:
        alerts.raise_event(op, s, "protocol_deviation", "protocol_deviation", deviation,
                           source_kind="dose_event", source_id=e.id)
    if device_number == 1 and (warning := alerts.first_esketamine_warning(op.db, protocol, s)):
        op.changes.message += f" — {warning}"
        alerts.raise_event(op, s, "first_session_dose", "dose_check", warning, source_kind="dose_event",
                           source_id=e.id)
    _keep_key(op, entry_key, "record_dose", s.id, e.id)
    return e.id


def _confirm_rate(op: Op, s: Session, protocol, rate: float, confirm_reason: str | None) -> str | None:
    """A rate above the protocol's maximum for the dose weight (rules [dose_check])
    needs a physician's reason; the rate at the maximum does not."""
    rule = alerts.rules_for(protocol).on("dose_check")
    limit = dosing.max_rate_mg_per_h(s.dose_weight_kg, rule.get("max_rate_mg_per_kg_per_h") if rule else None)
    if limit is None or rate <= limit:
        return None
    what = (f"Infusion rate {rate:g} mg/h is above the protocol's maximum {limit:g} mg/h "
            f"({rule['max_rate_mg_per_kg_per_h']:g} mg/kg/h × {s.dose_weight_kg:g} kg)")
    reason = alerts.require_physician(op, what, confirm_reason)
    return f"rate above the maximum {limit:g} mg/h confirmed by {op.actor.display_name}: {reason}"


@operation(Permission.CHART)
def correct_dose(op: Op, session_id: int, supersedes_id: int, *, reason: str, retract: bool = False,
                 at: datetime | None = None, amount_mg: float | None = None,
                 rate_mg_per_h: float | None = None, comment: str | None = None) -> int:
    """Correct a dose event's time/amount/rate, or retract it as entered in error."""
    inputs.CorrectDoseInput.check(op, locals())
    s = chartable_session(op, session_id)
    old = _superseded(op, DoseEvent, supersedes_id, s.id, reason)
    when = old.at if at is None else _when(op, at, "Dose time")[0]
    e = DoseEvent(session_id=s.id, at=when, entered_at=op.now, entered_by_id=op.actor.user_id, kind=old.kind,
                  device_number=old.device_number,
                  amount_mg=old.amount_mg if amount_mg is None else amount_mg,
                  rate_mg_per_h=old.rate_mg_per_h if rate_mg_per_h is None else rate_mg_per_h,
                  lot_number=old.lot_number, site=old.site, comment=clean_text(comment) or old.comment,
                  supersedes_id=old.id, correction_reason=reason.strip(), retracted=retract, late=old.late)
    op.db.add(e)
    op.db.flush()
    op.audit("correct", entity="dose_event", entity_id=e.id, session_id=s.id, before=snapshot(old),
             after=snapshot(e), detail=reason)
    op.changes.mark(doses=True, session_id=s.id)
    op.changes.message = "Dose event retracted" if retract else "Dose event corrected"
    alerts.evaluate(op, s)
    return e.id


# ---------------------------------------------------------------- side effects and notes


@operation(Permission.CHART)
def record_side_effect(op: Op, session_id: int, kind: str, *, entry_key: str | None = None,
                       observed_at: datetime | None = None,
                       scale: str | None = None, score: float | None = None,
                       items: dict[str, int] | None = None, text: str | None = None,
                       supersedes_id: int | None = None, correction_reason: str | None = None,
                       retracted: bool = False) -> int:
    """A side effect or scale score: sedation (MOAA/S 0–5), dissociation (CADSS-6
    items or a 0–4 severity), nausea 0–10, vomiting, … `other` needs text."""
    inputs.SideEffectInput.check(op, locals())
    if (kept := _already_saved(op, entry_key, "record_side_effect", session_id, "side_effects")) is not None:
        return kept
    if kind not in SIDE_EFFECT_KINDS:
        raise ValidationError(f"Unknown side effect {kind!r}.", "kind", kind)
    s = chartable_session(op, session_id)
    at, late = _when(op, observed_at, "Observed at")
    if kind == "sedation" and scale is None:
        scale = "MOAA/S"
    if kind == "nausea" and scale is None and score is not None:
        scale = "NRS-0-10"
    if kind == "dissociation" and items:
        scale = "CADSS-6"
        if set(items) - {"1", "2", "6", "7", "15", "22"}:
            raise ValidationError("CADSS-6 items are 1, 2, 6, 7, 15 and 22.", "items", items)
        for k, v in items.items():
            check_score(f"CADSS item {k}", v, 0, 4)
        score = float(sum(items.values()))
    if kind == "dissociation" and scale is None and score is not None:
        scale = "severity-0-4"
    if kind in ("sedation",) and score is None and not retracted:
        raise ValidationError("Enter the MOAA/S score (0–5).", "score", None)
    if scale is not None:
        if scale not in SCALES:
            raise ValidationError(f"Unknown scale {scale!r}.", "scale", scale)
        check_score(scale, score, *SCALES[scale])
    if kind == "other" and not clean_text(text) and not retracted:
        raise ValidationError("Describe the side effect.", "text", text)
    old = _superseded(op, SideEffect, supersedes_id, s.id, correction_reason)
    e = SideEffect(session_id=s.id, observed_at=at, entered_at=op.now, entered_by_id=op.actor.user_id,
                   kind=kind, scale=scale, score=score, items=items, text=clean_text(text) or None, late=late,
                   supersedes_id=supersedes_id, correction_reason=clean_text(correction_reason) or None,
                   retracted=retracted)
    op.db.add(e)
    op.db.flush()
    op.audit("correct" if old else "create", entity="side_effect", entity_id=e.id, session_id=s.id,
             before=snapshot(old) if old else None, after=snapshot(e))
    op.changes.mark(side_effects=True, session_id=s.id)
    op.changes.created.append(("side_effect", e.id))
    op.changes.message = f"{SIDE_EFFECT_KINDS[kind]} recorded ({at.astimezone().strftime('%H:%M')})"
    _keep_key(op, entry_key, "record_side_effect", s.id, e.id)
    alerts.evaluate(op, s)
    return e.id


@operation(Permission.CHART)
def add_note(op: Op, session_id: int, text: str, *, entry_key: str | None = None,
             at: datetime | None = None,
             supersedes_id: int | None = None, correction_reason: str | None = None,
             retracted: bool = False) -> int:
    """A free-text note. `retracted` with `supersedes_id` marks a note entered in error."""
    inputs.NoteInput.check(op, locals())
    if (kept := _already_saved(op, entry_key, "add_note", session_id, "notes")) is not None:
        return kept
    if retracted and supersedes_id is None:
        raise ValidationError("Say which note was entered in error.", "supersedes_id", None)
    if not clean_text(text) and not retracted:
        raise ValidationError("A note cannot be empty.", "text", text)
    s = chartable_session(op, session_id)
    when, _late = _when(op, at, "Note time")
    old = _superseded(op, Note, supersedes_id, s.id, correction_reason)
    n = Note(session_id=s.id, at=when, entered_at=op.now, entered_by_id=op.actor.user_id, text=clean_text(text),
             supersedes_id=supersedes_id, correction_reason=clean_text(correction_reason) or None,
             retracted=retracted)
    op.db.add(n)
    op.db.flush()
    op.audit("correct" if old else "create", entity="note", entity_id=n.id, session_id=s.id,
             before=snapshot(old) if old else None, after=snapshot(n))
    op.changes.mark(notes=True, session_id=s.id)
    op.changes.message = "Note retracted" if retracted else ("Note corrected" if old else "Note saved")
    _keep_key(op, entry_key, "add_note", s.id, n.id)
    return n.id


# ---------------------------------------------------------------- helpers


def advance_for_dose(op: Op, session: Session, dosing_complete: bool) -> None:
    """Dosing starts with the first dose event and ends when the dose is complete.

    Called by record_dose after the dose row is flushed; the first dose is refused
    (RecordIncomplete, the whole transaction rolls back) while pre-dose entries
    are missing."""
    if session.state in lifecycle.BEFORE_DOSE:
        op.db.flush()
        missing = missing_for(gather(op.db, op.store, session.id, op.now), "dose")
        if missing:
            raise RecordIncomplete("Dosing cannot start yet. Still to record:", missing)
    if session.state == "planned":
        lifecycle.transition(op, session, "pre_dose")
    if session.state == "pre_dose":
        lifecycle.transition(op, session, "dosing")
    if dosing_complete and session.state == "dosing":
        lifecycle.transition(op, session, "monitoring")




def _current(op: Op, model, session_id: int) -> list:
    return current_entries(op.db, model, session_id)


def current_entries(db, model, session_id: int) -> list:
    """Entries in force (ketamon.core.in_force), in the order they were entered."""
    return current(db.scalars(select(model).where(model.session_id == session_id).order_by(model.id)))
