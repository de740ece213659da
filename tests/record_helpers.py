"""Walk a session through the record's steps headless (test set-up shared by the
record, lock and audit tests). Everything goes through the operations."""
from __future__ import annotations

from datetime import timedelta

from ketamon.core import ops

ALL_ZERO_PHQ9 = {str(i): 0 for i in range(1, 10)}
FULL_ALDRETE = {"activity": 2, "respiration": 2, "circulation": 2, "consciousness": 2, "spo2": 2}


def predose(store, nurse, sid) -> None:
    ops.record_predose_checklist(store, nurse, sid, consent=True, fasting=True, contraindications_reviewed=True,
                                 medications_reviewed=True)
    ops.record_phq9(store, nurse, sid, ALL_ZERO_PHQ9)
    ops.record_vitals(store, nurse, sid, systolic=124, diastolic=80, heart_rate=72, spo2=98, resp_rate=14)


def to_recovery(store, nurse, sid, clock):
    """An esketamine 56 mg session dosed and 100 min into monitoring, in recovery.
    Returns the first device's time."""
    predose(store, nurse, sid)
    ops.record_dose(store, nurse, sid, "nasal_device")
    first = clock.now()
    clock.advance(minutes=5)
    ops.record_dose(store, nurse, sid, "nasal_device")
    clock.set(first + timedelta(minutes=40))
    ops.record_vitals(store, nurse, sid, systolic=140, diastolic=88, heart_rate=80, spo2=97, resp_rate=14)
    clock.set(first + timedelta(minutes=100))
    ops.move_to_recovery(store, nurse, sid)
    return first


def to_discharged(store, nurse, sid, clock):
    first = to_recovery(store, nurse, sid, clock)
    ops.record_vitals(store, nurse, sid, systolic=126, diastolic=80, heart_rate=72, spo2=98, resp_rate=14)
    ops.record_discharge_assessment(store, nurse, sid, FULL_ALDRETE)
    ops.record_discharge_checklist(store, nurse, sid, effects_resolved=True, escort_present=True,
                                   instructions_given=True, ready_to_leave_at=first + timedelta(minutes=95))
    clock.set(first + timedelta(minutes=125))
    ops.discharge(store, nurse, sid)
    return first


def make_user(store, username: str, role: str, name: str):
    """A user on any store (set-up, as tests/conftest.py's add_user; importing
    `conftest` by name is ambiguous once tests/gui has its own)."""
    from ketamon.core.models import User
    from ketamon.core.permissions import Actor

    with store.transaction() as db:
        u = User(username=username, display_name=name, role=role, password_hash=None, active=True,
                 failed_attempts=0, created_at=store.clock.now())
        db.add(u)
        db.flush()
        return Actor(u.id, u.username, u.display_name, u.role)
