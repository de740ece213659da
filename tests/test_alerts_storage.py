"""The alert engine's queries on SQLite and on PostgreSQL (any_store): the
scripted session, a correction that clears an alert, a late entry, and the
physician's queue — the same answers on both databases."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from ketamon.core import alert_views, alerts, ops
from ketamon.core.permissions import Actor

from test_alerts_scenario import T0, at, play, summary

pytestmark = pytest.mark.usefixtures("any_store")


def _user(store, username, role, name) -> Actor:
    from ketamon.core.models import User

    with store.transaction() as db:
        u = User(username=username, display_name=name, role=role, password_hash=None, active=True,
                 failed_attempts=0, created_at=store.clock.now())
        db.add(u)
        db.flush()
        return Actor(u.id, u.username, u.display_name, u.role)


@pytest.fixture
def people(any_store):
    return {"nurse": _user(any_store, "nurse", "nurse", "Sam Carter RN"),
            "doctor": _user(any_store, "doctor", "physician", "Dr Priya Shah")}


@pytest.fixture
def session_id(any_store, people):
    nurse = people["nurse"]
    pid = ops.create_patient(any_store, nurse, mrn="A-1", family_name="Nguyen", given_name="Lan",
                             birth_date=date(1984, 3, 12), sex="female", weight_kg=61).result
    return ops.create_session(any_store, nurse, patient_id=pid, protocol_id="esketamine-56", lot_number="L1",
                              physician_id=people["doctor"].user_id).result


def _ready(store, nurse):
    def ready(sid):
        ops.record_predose_checklist(store, nurse, sid, consent=True, fasting=True, contraindications_reviewed=True,
                                     medications_reviewed=True)
        ops.record_phq9(store, nurse, sid, {str(i): 0 for i in range(1, 10)})
    return ready


def test_the_scripted_session_on_both_databases(any_store, people, session_id, clock):
    assert clock.now() == T0
    play(any_store, people["nurse"], session_id, clock, _ready(any_store, people["nurse"]))
    assert [(key, rule, prio, raised, cleared) for key, rule, prio, raised, _esc, cleared
            in summary(any_store, session_id)] == [
        ("bp_high", "bp_sustained", "high", at(20), at(36)),
        ("sedation", "moaas_1", "high", at(26), at(38)),
        ("news2", "news2_single_three", "low", at(30), at(55)),
        ("overdue:first_dose+40", "overdue", "high", at(47), at(55)),
    ]
    queue = alert_views.review_queue(any_store)
    ops.review_alerts(any_store, people["doctor"], [a.id for a in queue], "Reviewed with the nurse at 10:00")
    assert alert_views.review_queue(any_store) == []


def test_a_correction_and_a_late_entry_on_both_databases(any_store, people, session_id, clock):
    nurse = people["nurse"]
    first = ops.record_vitals(any_store, nurse, session_id, systolic=210, diastolic=90).result
    ops.record_vitals(any_store, nurse, session_id, systolic=120, diastolic=80, supersedes_id=first,
                      correction_reason="typed 210 for 120")
    clock.advance(minutes=10)
    ops.record_vitals(any_store, nurse, session_id, systolic=125, diastolic=80)
    ops.record_vitals(any_store, nurse, session_id, systolic=171, diastolic=80,
                      measured_at=clock.now() - timedelta(minutes=6))
    rows = sorted(alert_views.session_alerts(any_store, session_id), key=lambda a: a.id)
    # the typo raised BP > 200 and (before dosing) the esketamine pre-dose gate; the correction cleared both
    assert [(a.rule, a.active) for a in rows] == [("bp_single", False), ("predose_gate", False),
                                                   ("range_abnormal", False)]
    assert rows[0].cleared_at == rows[1].cleared_at == T0
    assert rows[2].message.startswith("Late entry (measured")
