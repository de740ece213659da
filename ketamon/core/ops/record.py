"""Session-record operations: pre-dose checks, PHQ-9, discharge, ending a session
early, signing and addenda. Each is one transaction (see ops.base).

The same `missing_for` lists that the record panel shows decide whether dosing,
discharge and signing are allowed (ketamon.core.record). Checklists and scores
are Assessment rows and append-only like every clinical entry: updating a
checklist writes a new row that supersedes the old one; taking a tick away or
changing a recorded time needs a reason.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from ketamon.core import lifecycle, scores
from ketamon.core.audit import snapshot
from ketamon.core.clock import as_utc
from ketamon.core.errors import NotFound, PermissionDenied, ValidationError
from ketamon.core.lifecycle import AFTER_DOSING, BEFORE_DOSE
from ketamon.core.models import CONTRAINDICATIONS, Addendum, Assessment, Session
from ketamon.core import inputs
from ketamon.core.ops.base import Op, operation
from ketamon.core.ops.charting import chartable_session as _open_session
from ketamon.core.ops.charting import clean_text as _clean
from ketamon.core.ops.charting import current_entries
from ketamon.core.ops.users import check_password_again
from ketamon.core.permissions import Permission
from ketamon.core.record import RecordIncomplete, gather, local_hm, missing_for
from ketamon.core.validation import check_time

PREDOSE_STATES = BEFORE_DOSE
AFTER_DOSE_STATES = AFTER_DOSING


def _latest(op: Op, session_id: int, kind: str) -> Assessment | None:
    rows = [a for a in current_entries(op.db, Assessment, session_id) if a.kind == kind]
    return max(rows, key=lambda a: (a.at, a.id)) if rows else None


def _add_assessment(op: Op, s: Session, kind: str, items: dict[str, Any], *, total: float | None = None,
                    at: datetime | None = None, comment: str | None = None, supersedes: Assessment | None = None,
                    reason: str | None = None) -> Assessment:
    a = Assessment(session_id=s.id, at=at or op.now, entered_at=op.now, entered_by_id=op.actor.user_id, kind=kind,
                   items=items, total=total, comment=_clean(comment) or None,
                   supersedes_id=supersedes.id if supersedes else None,
                   correction_reason=_clean(reason) or None)
    op.db.add(a)
    op.db.flush()
    op.audit("correct" if supersedes else "create", entity="assessment", entity_id=a.id, session_id=s.id,
             before=snapshot(supersedes) if supersedes else None, after=snapshot(a), detail=kind)
    op.changes.mark(assessments=True, session_id=s.id)
    op.changes.created.append(("assessment", a.id))
    return a


def _supersede_reason(old: Assessment | None, new_items: dict[str, Any], keys: tuple[str, ...],
                      reason: str | None, late: bool) -> str | None:
    """A checklist update only adding ticks is an update; removing a tick, changing
    a recorded value or correcting after the step needs the user's reason."""
    if old is None:
        return None
    taken_back = [k for k in keys if (old.items or {}).get(k) and new_items.get(k) != old.items.get(k)]
    if (taken_back or late) and not _clean(reason):
        why = "changes what was already confirmed" if taken_back else "is made after the step it belongs to"
        raise ValidationError(f"This update {why}: give a reason.", "reason", reason)
    return _clean(reason) or "Checklist updated"


# ---------------------------------------------------------------- pre-dose checks


@operation(Permission.CHART)
def start_predose_checks(op: Op, session_id: int) -> None:
    inputs.SessionOnlyInput.check(op, locals())
    s = op.session(session_id)
    lifecycle.transition(op, s, "pre_dose")
    op.changes.message = "Pre-dose checks started"


def _enter_predose(op: Op, s: Session) -> None:
    if s.state == "planned":
        lifecycle.transition(op, s, "pre_dose")


@operation(Permission.CHART)
def record_predose_checklist(op: Op, session_id: int, *, consent: bool = False, fasting: bool = False,
                             contraindications_reviewed: bool = False, medications_reviewed: bool = False,
                             comment: str | None = None, correction_reason: str | None = None) -> int:
    """Save the pre-dose checklist (what is ticked so far). Confirming the review of
    a patient who has a contraindication is a physician's decision and needs its
    reason in the comment. The patient's flags at that moment are kept with it."""
    inputs.PredoseChecklistInput.check(op, locals())
    s = _open_session(op, session_id)
    patient = s.patient
    if contraindications_reviewed and patient.contraindications:
        names = ", ".join(CONTRAINDICATIONS.get(k, k) for k in patient.contraindications)
        op.require(Permission.DECIDE, f"confirm treatment despite a contraindication ({names})")
        if not _clean(comment):
            raise ValidationError(f"The patient has a contraindication ({names}): write the decision and its "
                                  "reason in the comment.", "comment", comment)
    items: dict[str, Any] = {
        "consent": bool(consent),
        "fasting": bool(fasting),
        "contraindications_reviewed": bool(contraindications_reviewed),
        "medications_reviewed": bool(medications_reviewed),
        "contraindications": list(patient.contraindications or []),
        "medications": list(patient.concomitant_medications or []),
    }
    old = _latest(op, s.id, "predose_checklist")
    reason = _supersede_reason(old, items, ("consent", "fasting", "contraindications_reviewed",
                                            "medications_reviewed"), correction_reason,
                               late=s.state not in PREDOSE_STATES)
    _enter_predose(op, s)
    a = _add_assessment(op, s, "predose_checklist", items,
                        total=sum(bool(items[k]) for k in ("consent", "fasting", "contraindications_reviewed",
                                                          "medications_reviewed")),
                        comment=comment, supersedes=old, reason=reason)
    op.changes.message = f"Pre-dose checklist saved ({local_hm(op.now)})"
    return a.id


@operation(Permission.CHART)
def record_phq9(op: Op, session_id: int, items: dict[str, int], *, at: datetime | None = None,
                supersedes_id: int | None = None, correction_reason: str | None = None) -> int:
    """PHQ-9 from its nine answers (0–3 each). A non-zero item 9 flags the
    session: dosing waits for a recorded follow-up."""
    inputs.Phq9Input.check(op, locals())
    s = _open_session(op, session_id)
    answers = scores.PHQ9.check({str(k): v for k, v in items.items()})
    total = sum(answers.values())
    when = op.now if at is None else as_utc(at)
    check_time("PHQ-9 time", when, op.now)
    old = None
    if supersedes_id is not None:
        old = op.db.get(Assessment, supersedes_id)
        if old is None or old.session_id != s.id or old.kind != "phq9":
            raise NotFound(f"There is no PHQ-9 {supersedes_id} in this session to correct.")
        if _latest(op, s.id, "phq9") is not old:
            raise ValidationError("That PHQ-9 has already been corrected; correct the newest version.")
        if not _clean(correction_reason):
            raise ValidationError("A correction needs a reason.", "reason", correction_reason)
    elif _latest(op, s.id, "phq9") is not None:
        raise ValidationError("A PHQ-9 is already recorded for this session; correct it instead.", "phq9", None)
    _enter_predose(op, s)
    a = _add_assessment(op, s, "phq9", answers, total=total, at=when, supersedes=old, reason=correction_reason)
    flag = " — item 9 needs follow-up" if scores.phq9_needs_followup(answers) else ""
    op.changes.message = f"PHQ-9 saved: {total} ({scores.phq9_band(total)}){flag}"
    return a.id


@operation(Permission.CHART)
def record_phq9_followup(op: Op, session_id: int, text: str) -> int:
    """The follow-up of a non-zero PHQ-9 item 9: who assessed the patient and what
    was decided, in words."""
    inputs.TextInput.check(op, locals())
    s = _open_session(op, session_id)
    phq9 = _latest(op, s.id, "phq9")
    if phq9 is None or not scores.phq9_needs_followup(phq9.items or {}):
        raise ValidationError("PHQ-9 item 9 does not need a follow-up in this session.", "phq9", None)
    if not _clean(text):
        raise ValidationError("Describe the follow-up (who assessed the patient and what was decided).",
                              "text", text)
    old = _latest(op, s.id, "phq9_followup")
    a = _add_assessment(op, s, "phq9_followup", {"item9": phq9.items.get(scores.PHQ9_SELF_HARM_ITEM),
                                                 "phq9_id": phq9.id},
                        comment=text, supersedes=old, reason="Follow-up updated" if old else None)
    op.changes.message = "PHQ-9 item 9 follow-up saved"
    return a.id


# ---------------------------------------------------------------- after the dose


@operation(Permission.CHART)
def move_to_recovery(op: Op, session_id: int) -> None:
    inputs.SessionOnlyInput.check(op, locals())
    s = op.session(session_id)
    lifecycle.transition(op, s, "recovery")
    op.changes.message = f"Recovery started ({local_hm(op.now)})"


@operation(Permission.CHART)
def record_discharge_assessment(op: Op, session_id: int, items: dict[str, int], *, at: datetime | None = None,
                                comment: str | None = None) -> int:
    """The discharge score the protocol names (modified Aldrete or PADSS), totalled
    from its items. Each assessment is kept; the latest one counts."""
    inputs.DischargeAssessmentInput.check(op, locals())
    s = _open_session(op, session_id)
    if s.state not in AFTER_DOSE_STATES:
        raise ValidationError("The discharge score is taken after dosing, in monitoring or recovery.",
                              "state", s.state)
    scale = scores.discharge_scale(op.protocol(s).discharge_score)
    answers = scale.check({str(k): v for k, v in items.items()})
    when = op.now if at is None else as_utc(at)
    check_time(f"{scale.name} time", when, op.now)
    total = sum(answers.values())
    a = _add_assessment(op, s, scale.kind, answers, total=total, at=when, comment=comment)
    op.changes.message = f"{scale.name} saved: {total}/{scale.maximum}"
    return a.id


@operation(Permission.CHART)
def record_discharge_checklist(op: Op, session_id: int, *, effects_resolved: bool = False,
                               escort_present: bool = False, instructions_given: bool = False,
                               ready_to_leave_at: datetime | None = None, comment: str | None = None,
                               correction_reason: str | None = None) -> int:
    """Escort, written instructions, effects resolved, and the time the patient
    would have been ready to leave without the minimum monitoring time (kept on
    the session for the esketamine monitoring form)."""
    inputs.DischargeChecklistInput.check(op, locals())
    s = _open_session(op, session_id)
    if s.state not in AFTER_DOSE_STATES:
        raise ValidationError("The discharge checklist is completed after dosing, in monitoring or recovery.",
                              "state", s.state)
    ready = None
    if ready_to_leave_at is not None:
        ready = as_utc(ready_to_leave_at)
        check_time("Ready to leave", ready, op.now)
        record = gather(op.db, op.store, s.id, op.now)
        if record.first_dose_at and ready < record.first_dose_at:
            raise ValidationError(f"Ready to leave {local_hm(ready)} is before the first dose "
                                  f"({local_hm(record.first_dose_at)}).", "ready_to_leave_at", ready)
    items: dict[str, Any] = {
        "effects_resolved": bool(effects_resolved),
        "escort_present": bool(escort_present),
        "instructions_given": bool(instructions_given),
        "ready_to_leave_at": ready.isoformat() if ready else None,
    }
    old = _latest(op, s.id, "discharge_checklist")
    reason = _supersede_reason(old, items, ("effects_resolved", "escort_present", "instructions_given",
                                            "ready_to_leave_at"), correction_reason, late=False)
    before = s.ready_to_leave_at
    if ready != before:
        s.ready_to_leave_at = ready
        op.audit("update", entity="session", entity_id=s.id, session_id=s.id,
                 before={"ready_to_leave_at": before}, after={"ready_to_leave_at": ready})
    a = _add_assessment(op, s, "discharge_checklist", items,
                        total=sum(bool(items[k]) for k in ("effects_resolved", "escort_present",
                                                          "instructions_given")),
                        comment=comment, supersedes=old, reason=reason)
    op.changes.mark(session_details=True, session_id=s.id)
    op.changes.message = f"Discharge checklist saved ({local_hm(op.now)})"
    return a.id


@operation(Permission.CHART)
def discharge(op: Op, session_id: int) -> None:
    """Discharge the patient; refused with the list of what is missing."""
    inputs.SessionOnlyInput.check(op, locals())
    s = op.session(session_id)
    missing = missing_for(gather(op.db, op.store, s.id, op.now), "discharge")
    if missing:
        raise RecordIncomplete("The patient cannot be discharged yet. Still to do:", missing)
    lifecycle.transition(op, s, "discharged")
    op.changes.message = f"Patient discharged ({local_hm(op.now)})"


# ---------------------------------------------------------------- ending early


@operation(Permission.CHART)
def cancel_session(op: Op, session_id: int, reason: str) -> None:
    """Cancel a session before any dose was given."""
    inputs.ReasonInput.check(op, locals())
    s = op.session(session_id)
    if s.state not in BEFORE_DOSE:
        raise ValidationError("Dosing has started: stop the session early instead of cancelling it.",
                              "state", s.state)
    lifecycle.transition(op, s, "cancelled", _clean(reason))
    op.changes.message = "Session cancelled"


@operation(Permission.CHART)
def stop_early(op: Op, session_id: int, reason: str) -> None:
    """Stop a session after dosing began (e.g. the patient asked, or a reaction)."""
    inputs.ReasonInput.check(op, locals())
    s = op.session(session_id)
    if s.state in BEFORE_DOSE:
        raise ValidationError("No dose has been given: cancel the session instead of stopping it.",
                              "state", s.state)
    lifecycle.transition(op, s, "stopped", _clean(reason))
    op.changes.message = "Session stopped early"


# ---------------------------------------------------------------- signing and addenda


@operation(Permission.SIGN)
def sign_session(op: Op, session_id: int, password: str) -> None:
    """The supervising physician signs; from then on the record is locked and only
    addenda are added. A session without a supervising physician gets the signer.

    The signer types their password again: a signature is an act of the person,
    not of whoever left the workstation signed in (a wrong one counts toward the
    account's lock-out, as at sign-in)."""
    inputs.SignSessionInput.check(op, locals())
    s = op.session(session_id)
    if s.physician_id is not None and s.physician_id != op.actor.user_id:
        name = s.physician.display_name if s.physician else f"user {s.physician_id}"
        raise PermissionDenied(f"Only the supervising physician, {name}, can sign this record.")
    check_password_again(op, "signing the record", password)
    missing = missing_for(gather(op.db, op.store, s.id, op.now), "sign")
    if missing:
        raise RecordIncomplete("The record cannot be signed yet. Still to do:", missing)
    before = {"physician_id": s.physician_id, "signed_at": None, "signed_by_id": None}
    lifecycle.transition(op, s, "signed")
    s.physician_id = s.physician_id or op.actor.user_id
    s.signed_at = op.now
    s.signed_by_id = op.actor.user_id
    op.audit("sign", entity="session", entity_id=s.id, session_id=s.id, before=before,
             after={"physician_id": s.physician_id, "signed_at": s.signed_at, "signed_by_id": s.signed_by_id})
    op.changes.mark(record=True, session_id=s.id)
    op.changes.message = f"Record signed by {op.actor.display_name} ({local_hm(op.now)})"


@operation(Permission.ADDENDUM)
def add_addendum(op: Op, session_id: int, text: str, reason: str) -> int:
    """Text added to a signed record, with its reason; printed as an addendum."""
    inputs.AddendumInput.check(op, locals())
    s = op.session(session_id, for_change=False)
    if not s.locked:
        raise ValidationError("The record is not signed yet: add a note or a correction instead of an addendum.",
                              "state", s.state)
    if not _clean(text):
        raise ValidationError("The addendum is empty.", "text", text)
    if not _clean(reason):
        raise ValidationError("Give the reason for the addendum.", "reason", reason)
    a = Addendum(session_id=s.id, at=op.now, author_id=op.actor.user_id, reason=_clean(reason), text=text.strip())
    op.db.add(a)
    op.db.flush()
    op.audit("create", entity="addendum", entity_id=a.id, session_id=s.id, after=snapshot(a))
    op.changes.mark(record=True, session_id=s.id)
    op.changes.created.append(("addendum", a.id))
    op.changes.message = f"Addendum added ({local_hm(op.now)})"
    return a.id

