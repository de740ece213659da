"""A clinic's worth of past sessions, bulk-inserted (not through the operations,
which would take as long as the clinic did): for the tests that count SQL
statements and the scratch timings of the screens at clinic scale.

Each past session is signed, with a baseline and a few sets after the dose (one
corrected), its nasal devices, about three alerts (some never reviewed) and its
state changes. `today` sessions are live, scheduled on the store clock's day."""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta

from sqlalchemy import insert, select

from ketamon.core.models import Alert, DoseEvent, Patient, Session, StateChange, User, VitalSigns

PRIORITIES = ("high", "medium", "low", "info")
LIVE = ("planned", "pre_dose", "dosing", "monitoring", "recovery")


def _batched(db, model, rows: list[dict], size: int = 5000) -> None:
    for k in range(0, len(rows), size):
        db.execute(insert(model), rows[k:k + size])


def fill_clinic(store, *, sessions: int = 2000, today: int = 10, days: int = 730, seed: int = 8,
                protocol_id: str = "esketamine-56") -> dict[str, list[int]]:
    """Insert `sessions` past sessions spread over `days` before the store's clock
    and `today` live ones. Returns the new ids: {"past": [...], "today": [...]}."""
    rnd = random.Random(seed)
    protocol = store.protocols.get(protocol_id)
    now = store.clock.now()
    with store.transaction() as db:
        user_id = db.scalar(select(User.id).limit(1))
        first_session = (db.scalar(select(Session.id).order_by(Session.id.desc()).limit(1)) or 0) + 1
        first_patient = (db.scalar(select(Patient.id).order_by(Patient.id.desc()).limit(1)) or 0) + 1
        first_vitals = (db.scalar(select(VitalSigns.id).order_by(VitalSigns.id.desc()).limit(1)) or 0) + 1
        n_patients = max(1, (sessions + today) // 6)
        _batched(db, Patient, [dict(id=first_patient + i, mrn=f"CLINIC-{first_patient + i:07d}",
                                    family_name=rnd.choice(("Smith", "Jones", "Brown", "Taylor", "Wilson", "Evans"))
                                    + str(i), given_name=rnd.choice(("Ann", "Bob", "Cy", "Di", "Ed")),
                                    birth_date=date(1950 + i % 50, 1 + i % 12, 1 + i % 28), sex="unknown",
                                    weight_kg=70.0, allergies="", contraindications=[],
                                    concomitant_medications=[], created_at=now - timedelta(days=days + 1))
                               for i in range(n_patients)])
        srows, vrows, drows, arows, crows = [], [], [], [], []
        vid = first_vitals
        today_start = now.astimezone().replace(hour=7, minute=0, second=0, microsecond=0)
        ids: dict[str, list[int]] = {"past": [], "today": []}
        for i in range(sessions + today):
            sid = first_session + i
            past = i < sessions
            if past:
                at = now - timedelta(days=1 + (i * days) // max(1, sessions), minutes=rnd.randint(0, 600))
                state = "signed"
            else:
                at = today_start + timedelta(minutes=20 * (i - sessions))
                state = LIVE[(i - sessions) % len(LIVE)]
            ids["past" if past else "today"].append(sid)
            srows.append(dict(id=sid, patient_id=first_patient + rnd.randrange(n_patients), protocol_id=protocol.id,
                              protocol_version=protocol.version, route=protocol.route, state=state,
                              scheduled_at=at, created_at=at - timedelta(days=1), created_by_id=user_id,
                              signed_at=at + timedelta(hours=3) if past else None,
                              signed_by_id=user_id if past else None))
            dosed = past or state in ("dosing", "monitoring", "recovery")
            first_dose = at + timedelta(minutes=15)
            for k, minutes in enumerate((5, 20, 40, 60, 90, 118) if dosed else (5,)):
                m = at + timedelta(minutes=minutes)
                vrows.append(dict(id=vid, session_id=sid, measured_at=m, entered_at=m, entered_by_id=user_id,
                                  source="manual", systolic=120 + rnd.randint(0, 40), diastolic=80,
                                  mean_arterial=93, mean_measured=False, heart_rate=72, spo2=97, resp_rate=14,
                                  late=False, retracted=False))
                vid += 1
                if k == 1:  # corrected a minute later
                    vrows.append(dict(id=vid, session_id=sid, measured_at=m, entered_at=m + timedelta(minutes=1),
                                      entered_by_id=user_id, source="manual", systolic=128, diastolic=82,
                                      mean_arterial=97, mean_measured=False, heart_rate=74, spo2=97, resp_rate=14,
                                      late=False, retracted=False, supersedes_id=vid - 1,
                                      correction_reason="typed wrong"))
                    vid += 1
            if dosed:
                for d in range(protocol.dose.devices or 1):
                    t = first_dose + timedelta(minutes=5 * d)
                    drows.append(dict(session_id=sid, at=t, entered_at=t, entered_by_id=user_id, kind="nasal_device",
                                      device_number=d + 1, amount_mg=protocol.dose.mg_per_device, lot_number="L1",
                                      late=False, retracted=False))
            for k in range(rnd.choice((2, 3, 4)) if dosed else 0):
                t = at + timedelta(minutes=30 + 10 * k)
                reviewed = past and rnd.random() < 0.8
                arows.append(dict(session_id=sid, category="patient", condition_key=f"bp_high{k}",
                                  rule="range_abnormal", priority=rnd.choice(PRIORITIES), message="BP above the limit",
                                  raised_at=t, cleared_at=t + timedelta(minutes=5) if past else None,
                                  reviewed_at=t + timedelta(hours=2) if reviewed else None,
                                  reviewed_by_id=user_id if reviewed else None))
            if past:
                crows += [dict(session_id=sid, from_state=a, to_state=b, at=at + timedelta(minutes=m), by_id=user_id)
                          for a, b, m in (("planned", "pre_dose", 1), ("pre_dose", "dosing", 15),
                                          ("dosing", "monitoring", 25), ("monitoring", "recovery", 100),
                                          ("recovery", "discharged", 125), ("discharged", "signed", 180))]
        _batched(db, Session, srows)
        _batched(db, VitalSigns, vrows)
        _batched(db, DoseEvent, drows)
        _batched(db, Alert, arows)
        _batched(db, StateChange, crows)
    return ids
