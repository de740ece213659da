"""The session lifecycle: which state may follow which, and the record of each
step. planned → pre_dose → dosing → monitoring → recovery → discharged → signed;
cancelled (before any dose) or stopped early (after dosing began), with a reason.
A cancelled or stopped session is signed like a discharged one.

The state machine itself (TRANSITIONS, the named state groups, `check_transition`,
`available_steps`) is pure; `transition` records a step inside an operation.
Moving the session with a dose (`advance_for_dose`) is in ops.charting: it needs
the session record, and this module must not import the read models.

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

STATES = frozenset(STATE_LABELS)

# Named groups of states. Screens, rules and queries use these names; never spell
# the states out again (a new state would then be missed in some places).
#: before any dose: the pre-dose checks are open and the session may be cancelled
BEFORE_DOSE = frozenset({"planned", "pre_dose"})
#: the patient is in the chair: alerts are watched, the session may still end early
LIVE = frozenset({"planned", "pre_dose", "dosing", "monitoring", "recovery"})
#: checks or treatment under way (the Records screen's "in progress")
IN_PROGRESS = frozenset({"pre_dose", "dosing", "monitoring", "recovery"})
#: dosing has begun and the session is not over (the clock since the first dose runs)
AFTER_FIRST_DOSE = frozenset({"dosing", "monitoring", "recovery"})
#: dosing is complete and the patient is still watched (discharge scores, checklist)
AFTER_DOSING = frozenset({"monitoring", "recovery"})
#: the session is over and waits for a signature; its alerts are cleared
ENDED = frozenset({"discharged", "cancelled", "stopped"})
#: ended early, with a reason
ENDED_EARLY = frozenset({"cancelled", "stopped"})
#: not signed yet
UNSIGNED = STATES - {"signed"}
#: no more vital signs are due
NOTHING_DUE = ENDED | {"signed"}
#: states in which clinical entries may be charted
CHARTABLE = frozenset({"planned", "pre_dose", "dosing", "monitoring", "recovery", "discharged", "stopped"})
NEED_REASON = ENDED_EARLY

#: the steps a person takes (besides charting a dose, which starts and ends dosing)
STEP_TARGETS = {"start_checks": "pre_dose", "recovery": "recovery", "discharge": "discharged",
                "sign": "signed", "cancel": "cancelled", "stop": "stopped"}


def check_transition(state: str, to_state: str, reason: str | None = None) -> None:
    """Refuse a step the lifecycle does not allow (InvalidTransition), or an early
    end without a reason (ValidationError). Pure: no database."""
    if to_state not in TRANSITIONS.get(state, set()):
        raise InvalidTransition(
            f"A session that is {STATE_LABELS[state].lower()} cannot become "
            f"{STATE_LABELS.get(to_state, to_state).lower()}."
        )
    if to_state in NEED_REASON and not (reason or "").strip():
        raise ValidationError(f"Say why the session is {STATE_LABELS[to_state].lower()}.", "reason", reason)


def transition(op: "Op", session: "Session", to_state: str, reason: str | None = None) -> None:
    """Move the session to `to_state`, refusing steps the lifecycle does not allow."""
    check_transition(session.state, to_state, reason)
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


def available_steps(state: str) -> set[str]:
    """The steps (keys of STEP_TARGETS, plus "dose" while dosing may start or go
    on) the lifecycle allows from `state` now. Whether the record is complete
    enough for the step is `record.missing_for`; this says only what may follow."""
    nxt = allowed_next(state)
    steps = {step for step, target in STEP_TARGETS.items() if target in nxt}
    if state in BEFORE_DOSE or state == "dosing":
        steps.add("dose")
    return steps


def may_end_early(state: str) -> bool:
    """The session can still be cancelled (before a dose) or stopped (after)."""
    return state in LIVE


def end_early_state(state: str) -> str:
    """What ending early makes of a live session: cancelled before any dose, stopped after."""
    return "cancelled" if state in BEFORE_DOSE else "stopped"
