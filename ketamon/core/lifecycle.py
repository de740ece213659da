"""The session lifecycle: which state may follow which, and the record of each
step. planned → pre_dose → dosing → monitoring → recovery → discharged → signed;
cancelled or stopped early, with a reason."""
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
    op.changes.touch("session", session.id)


def advance_for_dose(op: "Op", session: "Session", dosing_complete: bool) -> None:
    """Dosing starts with the first dose event and ends when the dose is complete."""
    if session.state == "planned":
        transition(op, session, "pre_dose")
    if session.state == "pre_dose":
        transition(op, session, "dosing")
    if dosing_complete and session.state == "dosing":
        transition(op, session, "monitoring")
