"""Demo data: users, patients, and a morning's sessions with realistic charts.

Entries are written through the operations layer (ketamon.core.scenario's steps)
with the clock stepped to each moment, so the demo record looks exactly like one
charted live.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from ketamon.core import demo_record, ops
from ketamon.core.clock import Clock
from ketamon.core.models import User
from ketamon.core.passwords import hash_password
from ketamon.core.permissions import Actor
from ketamon.core.scenario import Stepper, predose_checks
from ketamon.core.store import Store

#: (username, display name, role, password) — listed in the README
DEMO_USERS = [
    ("nurse", "Sam Carter RN", "nurse", "nurse-demo"),
    ("doctor", "Dr Priya Shah", "physician", "doctor-demo"),
    ("desk", "Alex Morgan", "staff", "desk-demo"),
    ("admin", "Clinic Admin", "admin", "admin-demo"),
]


def demo_password(username: str) -> str:
    """A demo user's password as listed in the README (the demo signs a record with it)."""
    return next(password for name, _display, _role, password in DEMO_USERS if name == username)


def actor_for(user: User) -> Actor:
    return Actor(user.id, user.username, user.display_name, user.role)


def ensure_demo_users(store: Store) -> dict[str, Actor]:
    with store.transaction() as db:
        existing = {u.username: u for u in db.scalars(select(User))}
        for username, name, role, password in DEMO_USERS:
            if username not in existing:
                u = User(username=username, display_name=name, role=role, password_hash=hash_password(password),
                         active=True, failed_attempts=0, created_at=store.clock.now())
                db.add(u)
                existing[username] = u
        db.flush()
        return {u.username: actor_for(u) for u in existing.values()}


def has_data(store: Store) -> bool:
    from ketamon.core.models import Session

    with store.read() as db:
        return bool(db.scalar(select(func.count()).select_from(Session)))


def seed(store: Store, now: datetime | None = None) -> dict[str, int]:
    """Fill an empty database with the demo; returns ids by name."""
    now = now or store.clock.now()
    actors = ensure_demo_users(store)
    nurse, doctor = actors["nurse"], actors["doctor"]
    ids: dict[str, int] = {}
    with Stepper(store) as t:
        t.at(now - timedelta(hours=3))
        p = {}
        for key, mrn, fam, giv, born, sex, kg, ci, meds in [
            ("lan", "MRN-100231", "Nguyen", "Thi Lan", date(1984, 3, 12), "female", 61.0, [], ["benzodiazepines"]),
            ("daniel", "MRN-100457", "Okafor", "Daniel", date(1977, 9, 2), "male", 82.0, [], []),
            ("maria", "MRN-100512", "Rossi", "Maria", date(1992, 6, 25), "female", 58.5, [], ["psychostimulants"]),
            ("tom", "MRN-100688", "Berg", "Tom", date(1969, 1, 30), "male", 90.0, [], []),
        ]:
            p[key] = ops.create_patient(store, nurse, mrn=mrn, family_name=fam, given_name=giv, birth_date=born,
                                        sex=sex, weight_kg=kg, contraindications=ci,
                                        concomitant_medications=meds).result

        # 1. Esketamine 56 mg, 55 minutes in: BP peaks near 40 minutes.
        start = now - timedelta(minutes=65)
        t.at(start)
        s1 = ops.create_session(store, nurse, patient_id=p["lan"], protocol_id="esketamine-56",
                                scheduled_at=start, lot_number="24K118", physician_id=actors["doctor"].user_id,
                                nurse_id=nurse.user_id, chair="CHAIR1").result
        ids["esketamine"] = s1
        t.at(start + timedelta(minutes=2))
        ops.record_vitals(store, nurse, s1, systolic=128, diastolic=82, heart_rate=74, spo2=98, resp_rate=14,
                          consciousness="A", on_oxygen=False)
        t.at(start + timedelta(minutes=4))
        predose_checks(store, nurse, s1, [2, 3, 2, 2, 1, 2, 1, 1, 0])
        t.at(start + timedelta(minutes=10))
        ops.record_dose(store, nurse, s1, "nasal_device")
        t.at(start + timedelta(minutes=15))
        ops.record_dose(store, nurse, s1, "nasal_device")
        series = [(20, 136, 86, 78, 97, 15), (30, 146, 90, 82, 97, 14), (40, 154, 94, 84, 96, 14),
                  (50, 166, 99, 88, 96, 13), (60, 163, 96, 86, 96, 14)]
        for minute, sy, di, hr, sp, rr in series:
            t.at(start + timedelta(minutes=minute))
            ops.record_vitals(store, nurse, s1, systolic=sy, diastolic=di, heart_rate=hr, spo2=sp, resp_rate=rr,
                              consciousness="A", on_oxygen=False)
            if minute == 50:  # the nurse saw the BP alert at once (seeded in time order: no escalation)
                t.at(start + timedelta(minutes=52))
                ops.acknowledge_alert(store, nurse, session_id=s1)
                ops.add_note(store, nurse, s1, "Patient resting with eyes closed, responds to voice. Music on. "
                             "BP 166/99 reported to Dr Shah; repeat in 10 min.")
        t.at(start + timedelta(minutes=22))
        ops.record_side_effect(store, nurse, s1, "dissociation", score=2)
        t.at(start + timedelta(minutes=27))
        ops.record_side_effect(store, nurse, s1, "sedation", score=4)
        t.at(start + timedelta(minutes=35))
        ops.record_side_effect(store, nurse, s1, "nausea", score=3)

        # 2. IV ketamine 0.5 mg/kg over 40 minutes, 25 minutes in.
        start = now - timedelta(minutes=32)
        t.at(start)
        s2 = ops.create_session(store, nurse, patient_id=p["daniel"], protocol_id="iv-ketamine-0.5",
                                scheduled_at=start, physician_id=doctor.user_id, nurse_id=nurse.user_id,
                                chair="CHAIR3").result  # `make run` simulates the monitor at CHAIR3
        ids["infusion"] = s2
        t.at(start + timedelta(minutes=3))
        ops.record_vitals(store, nurse, s2, systolic=122, diastolic=78, heart_rate=68, spo2=99, resp_rate=12,
                          consciousness="A", on_oxygen=False)
        t.at(start + timedelta(minutes=5))
        predose_checks(store, nurse, s2, [2, 2, 2, 1, 1, 1, 1, 0, 0])
        t.at(start + timedelta(minutes=7))
        ops.record_dose(store, nurse, s2, "infusion_start", rate_mg_per_h=61.5)
        for minute, sy, di, hr in [(17, 131, 83, 72), (27, 138, 86, 75)]:
            t.at(start + timedelta(minutes=minute))
            ops.record_vitals(store, nurse, s2, systolic=sy, diastolic=di, heart_rate=hr, spo2=98, resp_rate=13,
                              consciousness="A", on_oxygen=False)
        t.at(start + timedelta(minutes=20))
        ops.record_side_effect(store, nurse, s2, "dizziness", text="mild, when turning head")

        # 3. IM ketamine, later this morning; the prescriber's dose entered. The day's
        # later sessions stay on today's list however late the demo is made (not past midnight).
        last = datetime.combine(now.astimezone().date() + timedelta(days=1), datetime.min.time()).astimezone() \
            - timedelta(minutes=1)
        t.at(now - timedelta(minutes=5))
        ids["im"] = ops.create_session(store, nurse, patient_id=p["maria"], protocol_id="im-ketamine",
                                       scheduled_at=min(now + timedelta(minutes=40), last), planned_dose_mg=30,
                                       physician_id=doctor.user_id).result
        # 4. Esketamine 84 mg this afternoon.
        ids["planned"] = ops.create_session(store, nurse, patient_id=p["tom"], protocol_id="esketamine-84",
                                            scheduled_at=min(now + timedelta(hours=2), last),
                                            physician_id=doctor.user_id).result
        # 5. Last week: a finished, signed record with an addendum (for the records screen).
        ids["signed"] = demo_record.seed_signed_session(t, store, nurse, doctor, p["lan"],
                                                        now - timedelta(days=7, hours=1), demo_password("doctor"))
        ids["to_sign"] = demo_record.seed_unsigned_session(t, store, nurse, doctor, p["daniel"],
                                                           now - timedelta(days=1, hours=2))
    return ids


def open_demo(url: str, fresh: bool = False, clock: Clock | None = None) -> Store:
    """The demo database (seeded once; `fresh` starts it over)."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from ketamon.core.store import normalise_url

    url = normalise_url(url)
    u = make_url(url)
    if fresh and u.get_backend_name() == "sqlite" and u.database:
        for suffix in ("", "-wal", "-shm"):
            Path(u.database + suffix).unlink(missing_ok=True)
    store = Store(url, clock=clock)
    if not has_data(store):
        seed(store)
    return store
