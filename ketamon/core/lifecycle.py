"""The session lifecycle: which state may follow which, and the record of each
step. planned → pre_dose → dosing → monitoring → recovery → discharged → signed;
cancelled (before any dose) or stopped early (after dosing began), with a reason.
A cancelled or stopped session is signed like a discharged one.

Decisions:
- The first dose event moves the session into dosing and is refused, with the
  list of what is missing, unless the pre-dose checklist, the PHQ-9 (and its
  item-9 follow-up when needed) and baseline vital signs are recorded
  (ketamon.core.record.missing_for(record, "dose")). The refused dose is not stored.
- Dosing ends (→ monitoring) when the dose is complete: the last nasal device, the
  infusion stopped, or the injection.
- monitoring → recovery is a nurse's step; discharge needs the recovery state and
  everything `missing_for(record, "discharge")` lists; signing needs discharged,
  stopped or cancelled and everything `missing_for(record, "sign")` lists.
- A signed session never changes again (ops.base.Op.session refuses it); only
  addenda are added.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ketamon.core.errors import InvalidTransition, ValidationError
from ketamon.core.models import StateChange

if TYPE_CHECKING:
    from ketamon.core.models import Session
    from ketamon.core.ops.base import Op

STATE_LABELS = {
    "planned": "Planned",
    "pre_dose": "Pre-dose checks",
    "dosing": "Dosing",
    "monitoring": "Monitoring",
    "recovery": "Recovery",
    "discharged": "Discharged",
    "signed": "Signed",
    "cancelled": "Cancelled",
    "stopped": "Stopped early",
}

TRANSITIONS: dict[str, set[str]] = {
    "planned": {"pre_dose", "cancelled"},
    "pre_dose": {"dosing", "cancelled"},
    "dosing": {"monitoring", "stopped"},
    "monitoring": {"recovery", "stopped"},
    "recovery": {"discharged", "stopped"},
    "discharged": {"signed"},
    "stopped": {"signed"},
    "cancelled": {"signed"},
    "signed": set(),
}

#: states in which clinical entries may be charted
CHARTABLE = {"planned", "pre_dose", "dosing", "monitoring", "recovery", "discharged", "stopped"}
NEED_REASON = {"cancelled", "stopped"}


def transition(op: "Op", session: "Session", to_state: str, reason: str | None = None) -> None:
    """Move the session to `to_state`, refusing steps the lifecycle does not allow."""
    if to_state not in TRANSITIONS.get(session.state, set()):
        raise InvalidTransition(
            f"A session that is {STATE_LABELS[session.state].lower()} cannot become "
            f"{STATE_LABELS.get(to_state, to_state).lower()}."
        )
    if to_state in NEED_REASON and not (reason or "").strip():
        raise ValidationError(f"Say why the session is {STATE_LABELS[to_state].lower()}.", "reason", reason)
    before = session.state
    op.db.add(StateChange(session_id=session.id, from_state=before, to_state=to_state, at=op.now,
                          by_id=op.actor.user_id, reason=reason))
    session.state = to_state
    if reason:
        session.state_reason = reason
    op.audit("transition", entity="session", entity_id=session.id, session_id=session.id,
             before={"state": before}, after={"state": to_state}, detail=reason)
    op.changes.mark(lifecycle=True, session_id=session.id)


def allowed_next(state: str) -> set[str]:
    return set(TRANSITIONS.get(state, set()))


def advance_for_dose(op: "Op", session: "Session", dosing_complete: bool) -> None:
    """Dosing starts with the first dose event and ends when the dose is complete.

    Called by record_dose after the dose row is flushed; the first dose is refused
    (RecordIncomplete, the whole transaction rolls back) while pre-dose entries
    are missing."""
    if session.state in ("planned", "pre_dose"):
        from ketamon.core.record import RecordIncomplete, gather, missing_for

        op.db.flush()
        missing = missing_for(gather(op.db, op.store, session.id, op.now), "dose")
        if missing:
            raise RecordIncomplete("Dosing cannot start yet. Still to record:", missing)
    if session.state == "planned":
        transition(op, session, "pre_dose")
    if session.state == "pre_dose":
        transition(op, session, "dosing")
    if dosing_complete and session.state == "dosing":
        transition(op, session, "monitoring")
