"""Demo data for the session record: pre-dose checks for the demo's live sessions,
and last week's session taken all the way to a signed record with an addendum (so
the staff screen, the printed summary and the exports have a finished record).

Called from ketamon.core.demo.seed with its clock stepper (`t.at(when)`,
ketamon.core.scenario.Stepper); the steps are ketamon.core.scenario's.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from ketamon.core import ops
from ketamon.core.permissions import Actor
from ketamon.core.scenario import predose_checks
from ketamon.core.store import Store


def seed_signed_session(t, store: Store, nurse: Actor, doctor: Actor, patient_id: int, start: datetime,
                        doctor_password: str) -> int:
    """An esketamine 56 mg session from `start`, discharged after 2 h 5 min and
    signed by the supervising physician (who confirms with `doctor_password`); an
    addendum the next morning."""
    t.at(start)
    sid = ops.create_session(store, nurse, patient_id=patient_id, protocol_id="esketamine-56",
                             scheduled_at=start, lot_number="24K097", physician_id=doctor.user_id,
                             nurse_id=nurse.user_id).result
    t.at(start + timedelta(minutes=2))
    predose_checks(store, nurse, sid, [2, 2, 1, 2, 1, 1, 1, 0, 0], start=True)
    t.at(start + timedelta(minutes=5))
    ops.record_vitals(store, nurse, sid, systolic=124, diastolic=80, heart_rate=72, spo2=98, resp_rate=14,
                      consciousness="A", on_oxygen=False)
    t.at(start + timedelta(minutes=10))
    ops.record_dose(store, nurse, sid, "nasal_device")
    t.at(start + timedelta(minutes=15))
    ops.record_dose(store, nurse, sid, "nasal_device")
    first = start + timedelta(minutes=10)
    for minute, sy, di, hr, sp, rr in [(20, 132, 84, 76, 97, 14), (40, 144, 90, 80, 97, 14),
                                       (60, 138, 86, 78, 98, 14), (90, 130, 82, 74, 98, 14)]:
        t.at(first + timedelta(minutes=minute))
        ops.record_vitals(store, nurse, sid, systolic=sy, diastolic=di, heart_rate=hr, spo2=sp, resp_rate=rr,
                          consciousness="A", on_oxygen=False)
    t.at(first + timedelta(minutes=12))
    ops.record_side_effect(store, nurse, sid, "dissociation", score=1)
    t.at(first + timedelta(minutes=25))
    ops.record_side_effect(store, nurse, sid, "sedation", score=4)
    t.at(first + timedelta(minutes=90))
    ops.record_side_effect(store, nurse, sid, "sedation", score=5)  # resolved: discharge needs it
    t.at(first + timedelta(minutes=100))
    ops.move_to_recovery(store, nurse, sid)
    t.at(first + timedelta(minutes=105))
    ops.record_vitals(store, nurse, sid, systolic=126, diastolic=80, heart_rate=72, spo2=98, resp_rate=14,
                      consciousness="A", on_oxygen=False)
    t.at(first + timedelta(minutes=108))
    ops.record_discharge_assessment(store, nurse, sid, {"activity": 2, "respiration": 2, "circulation": 2,
                                                        "consciousness": 2, "spo2": 2})
    ops.record_discharge_checklist(store, nurse, sid, effects_resolved=True, escort_present=True,
                                   instructions_given=True, ready_to_leave_at=first + timedelta(minutes=95))
    t.at(first + timedelta(minutes=125))
    ops.discharge(store, nurse, sid)
    t.at(first + timedelta(minutes=140))
    ops.sign_session(store, doctor, sid, doctor_password)
    t.at(start + timedelta(hours=24))
    ops.add_addendum(store, nurse, sid, "Patient phoned: mild headache in the evening, gone by the morning. "
                                        "No other effects.", reason="Follow-up call the next day")
    return sid


def seed_unsigned_session(t, store: Store, nurse: Actor, doctor: Actor, patient_id: int, start: datetime) -> int:
    """An IV ketamine session from `start`, discharged and waiting for the
    supervising physician's signature (the records screen's "waiting" list)."""
    t.at(start)
    sid = ops.create_session(store, nurse, patient_id=patient_id, protocol_id="iv-ketamine-0.5",
                             scheduled_at=start, physician_id=doctor.user_id, nurse_id=nurse.user_id).result
    t.at(start + timedelta(minutes=3))
    predose_checks(store, nurse, sid, [2, 2, 1, 1, 1, 1, 1, 0, 0])
    ops.record_vitals(store, nurse, sid, systolic=122, diastolic=78, heart_rate=68, spo2=99, resp_rate=12,
                      consciousness="A", on_oxygen=False)
    begin = start + timedelta(minutes=8)
    t.at(begin)
    ops.record_dose(store, nurse, sid, "infusion_start", rate_mg_per_h=61.5)
    for minute, sy, di, hr in [(10, 130, 82, 72), (20, 136, 86, 75), (30, 138, 86, 76), (40, 134, 84, 74)]:
        t.at(begin + timedelta(minutes=minute))
        if minute == 40:  # stopped as the planned dose is reached (no "stop the infusion" alert)
            ops.record_dose(store, nurse, sid, "infusion_stop")
        ops.record_vitals(store, nurse, sid, systolic=sy, diastolic=di, heart_rate=hr, spo2=98, resp_rate=13,
                          consciousness="A", on_oxygen=False)
    for minute, sy, di, hr in [(55, 128, 80, 70), (70, 124, 78, 68)]:
        t.at(begin + timedelta(minutes=minute))
        ops.record_vitals(store, nurse, sid, systolic=sy, diastolic=di, heart_rate=hr, spo2=98, resp_rate=13,
                          consciousness="A", on_oxygen=False)
    t.at(begin + timedelta(minutes=60))
    ops.move_to_recovery(store, nurse, sid)
    t.at(begin + timedelta(minutes=72))
    ops.record_vitals(store, nurse, sid, systolic=122, diastolic=78, heart_rate=68, spo2=99, resp_rate=12,
                      consciousness="A", on_oxygen=False)
    ops.record_discharge_assessment(store, nurse, sid, {"vital_signs": 2, "activity": 2, "nausea_vomiting": 2,
                                                        "pain": 2, "bleeding": 2})
    ops.record_discharge_checklist(store, nurse, sid, effects_resolved=True, escort_present=True,
                                   instructions_given=True, ready_to_leave_at=begin + timedelta(minutes=70))
    for minute in (85, 100):
        t.at(begin + timedelta(minutes=minute))
        ops.record_vitals(store, nurse, sid, systolic=120, diastolic=78, heart_rate=66, spo2=99, resp_rate=12,
                          consciousness="A", on_oxygen=False)
    t.at(begin + timedelta(minutes=105))
    ops.discharge(store, nurse, sid)
    return sid
