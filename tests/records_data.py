"""A charted esketamine session for the report, form and export tests, built
through the operations with the FakeClock, the way a nurse and a physician
would chart it: pre-dose checks, baseline, two devices, vital signs (one late,
one corrected), side effects, a note, recovery, Aldrete, discharge checklist,
discharge, signature and an addendum.

The BP peak at 40 minutes (166/102) is above the protocol's abnormal range, so
the alert engine raises alerts there; the nurse acknowledges them and the
physician reviews every alert before signing.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from ketamon.core import ops, scenario
from ketamon.core.models import Alert
from record_helpers import TEST_PASSWORD

#: (minutes after the first device, systolic, diastolic, heart rate, SpO2, RR)
AFTER_DOSE = [(20, 136, 86, 78, 97, 15), (40, 166, 102, 84, 96, 14), (60, 149, 92, 80, 97, 14),
              (90, 138, 86, 76, 98, 14), (118, 131, 83, 74, 98, 14)]
BASELINE = (128, 82, 74, 98, 14)
PHQ9 = {str(n): v for n, v in enumerate([2, 2, 1, 2, 1, 1, 1, 0, 0], start=1)}
ALDRETE = scenario.FULL_ALDRETE


def predose(store, clock, nurse, session_id):
    scenario.predose_checks(store, nurse, session_id, PHQ9)
    clock.advance(minutes=2)
    sy, di, hr, sp, rr = BASELINE
    ops.record_vitals(store, nurse, session_id, systolic=sy, diastolic=di, heart_rate=hr, spo2=sp, resp_rate=rr,
                      temperature=36.7, consciousness="A", on_oxygen=False)


def chart_esketamine(store, clock, nurse, session_id):
    """Pre-dose checks and everything up to 121 minutes after the first device.
    Returns the time of the first device."""
    predose(store, clock, nurse, session_id)
    clock.advance(minutes=8)
    first = clock.now()
    ops.record_dose(store, nurse, session_id, "nasal_device")
    clock.advance(minutes=5)
    ops.record_dose(store, nurse, session_id, "nasal_device")
    events = [(m, "vitals", row) for m, *row in AFTER_DOSE] + [
        (12, "dissociation", None), (17, "sedation", None), (25, "nausea", None), (42, "note", None),
        (95, "awake", None), (100, "recovery", None)]
    for minute, what, row in sorted(events, key=lambda e: e[0]):
        at = first + timedelta(minutes=minute)
        if what == "vitals":
            sy, di, hr, sp, rr = row
            values = dict(systolic=sy, diastolic=di, heart_rate=hr, spo2=sp, resp_rate=rr, consciousness="A",
                          on_oxygen=False)
            if minute == 60:  # typed 15 minutes after it was measured: a late entry
                clock.set(at + timedelta(minutes=15))
                ops.record_vitals(store, nurse, session_id, measured_at=at, **values)
                continue
            clock.set(at)
            vid = ops.record_vitals(store, nurse, session_id, **{**values, "heart_rate": 87 if minute == 20 else hr}
                                    ).result
            if minute == 40:  # the nurse acknowledges what the BP peak raised
                clock.advance(minutes=1)
                acknowledge_all(store, clock, nurse, session_id)
            if minute == 20:  # typed wrong, corrected a minute later
                clock.advance(minutes=1)
                ops.record_vitals(store, nurse, session_id, measured_at=at, **values, supersedes_id=vid,
                                  correction_reason="heart rate typed as 87")
            continue
        clock.set(at)
        if what == "dissociation":
            ops.record_side_effect(store, nurse, session_id, "dissociation",
                                   items={"1": 1, "2": 2, "6": 0, "7": 1, "15": 0, "22": 1})
        elif what == "sedation":
            ops.record_side_effect(store, nurse, session_id, "sedation", score=4)
        elif what == "awake":  # sedation resolved: discharge needs the last MOAA/S at 5
            ops.record_side_effect(store, nurse, session_id, "sedation", score=5)
        elif what == "nausea":
            ops.record_side_effect(store, nurse, session_id, "nausea", score=3)
        elif what == "note":
            ops.add_note(store, nurse, session_id, "Resting with eyes closed, responds to voice. Music on.")
        elif what == "recovery":
            ops.move_to_recovery(store, nurse, session_id)
    clock.set(first + timedelta(minutes=119))
    ops.record_discharge_assessment(store, nurse, session_id, ALDRETE)
    ops.record_discharge_checklist(store, nurse, session_id, effects_resolved=True, escort_present=True,
                                   instructions_given=True, ready_to_leave_at=first + timedelta(minutes=85))
    return first


def alerts_of(store, session_id) -> list[Alert]:
    with store.read() as db:
        return list(db.scalars(select(Alert).where(Alert.session_id == session_id).order_by(Alert.id)))


def acknowledge_all(store, clock, nurse, session_id):
    if any(a.cleared_at is None for a in alerts_of(store, session_id)):
        ops.acknowledge_alert(store, nurse, session_id=session_id)


def review_all(store, physician, session_id, comment="Expected BP peak at 40 min; settled by 60 min"):
    todo = [a.id for a in alerts_of(store, session_id) if a.reviewed_at is None]
    if todo:
        ops.review_alerts(store, physician, todo, comment)


def finish_session(store, clock, session_id, first, physician, *, sign=True, addendum_by=None):
    """Discharge at 121 min, sign at 150 min, an addendum the next day."""
    clock.set(first + timedelta(minutes=121))
    ops.discharge(store, physician, session_id)
    if sign:
        clock.set(first + timedelta(minutes=150))
        review_all(store, physician, session_id)
        ops.sign_session(store, physician, session_id, TEST_PASSWORD)
    if addendum_by is not None:
        clock.set(first + timedelta(hours=26))
        ops.add_addendum(store, addendum_by, session_id,
                         "Patient called the next morning: slept well, no nausea, mood brighter. Reminded not to "
                         "drive until the next day after each treatment.", "Phone follow-up next day")


def full_session(store, clock, actors, session_id):
    """The whole demo record: returns the first device time."""
    nurse, doctor = actors["nurse"], actors["physician"]
    first = chart_esketamine(store, clock, nurse, session_id)
    finish_session(store, clock, session_id, first, doctor, addendum_by=nurse)
    return first
